"""The ONNX hand-over: metadata contract, parity check, and clear errors for bad policy files."""
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from robot_learning.algos.td3 import mlp
from robot_learning.export.onnx_export import ParityError, check_parity, export_policy
from robot_learning.robots import crazyflie
from robot_learning.robots.crazyflie import DEFAULT_PARAMS
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.tasks.quadrotor.config import QuadrotorTrainConfig
from robot_learning.tasks.quadrotor.module import make_metadata, robot_params_dict
from robot_learning.types import PolicyLoadError, PolicyMetadataError


@pytest.fixture()
def exported(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    cfg = QuadrotorTrainConfig()
    actor = mlp([146, 64, 64, 4], "tanh", torch.nn.Tanh)
    report = export_policy(actor, make_metadata(cfg, DEFAULT_PARAMS, {"seed": 0}), tmp_path / "policy.onnx")
    assert report.max_abs_diff < 1e-5
    return tmp_path / "policy.onnx", actor


def test_metadata_round_trip(exported) -> None:
    path, actor = exported
    runner = PolicyRunner(path)
    m = runner.metadata
    assert m.robot == "crazyflie" and m.joint_names == list(crazyflie.MOTOR_NAMES)
    assert m.observation_layout.size == 146 and m.action_size == 4 and m.control_rate_hz == 100.0
    assert [t.name for t in m.observation_layout.terms] == ["position_error", "rotation_matrix", "linear_velocity", "angular_velocity", "action_history"]
    m.check_robot("crazyflie", crazyflie.MOTOR_NAMES, robot_params_dict(DEFAULT_PARAMS))
    obs = np.random.default_rng(1).normal(size=146).astype(np.float32)
    with torch.no_grad():
        ref = actor(torch.from_numpy(obs)[None])[0].numpy()
    np.testing.assert_allclose(runner(obs), ref, atol=1e-5)


def test_policy_for_another_robot_is_refused(exported) -> None:
    m = PolicyRunner(exported[0]).metadata
    with pytest.raises(PolicyMetadataError, match="field 'robot' is 'crazyflie' but the runtime was started for 'g1'"):
        m.check_robot("g1", crazyflie.MOTOR_NAMES)
    with pytest.raises(PolicyMetadataError, match="'joint_names'.*different order"):
        m.check_robot("crazyflie", list(reversed(crazyflie.MOTOR_NAMES)))
    with pytest.raises(PolicyMetadataError, match="'joint_names'.*unknown to the robot"):
        m.check_robot("crazyflie", ["m1", "m2", "m3", "m4"])
    heavy = dict(robot_params_dict(DEFAULT_PARAMS), mass=0.05)
    with pytest.raises(PolicyMetadataError, match="robot_params.mass"):
        m.check_robot("crazyflie", crazyflie.MOTOR_NAMES, heavy)


def test_missing_and_corrupt_files(tmp_path: Path, exported) -> None:
    with pytest.raises(PolicyLoadError, match="policy file not found: .*nope.onnx"):
        PolicyRunner(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(PolicyLoadError, match="not a valid ONNX model"):
        PolicyRunner(bad)
    truncated = tmp_path / "trunc.onnx"
    truncated.write_bytes(exported[0].read_bytes()[:200])
    with pytest.raises(PolicyLoadError):
        PolicyRunner(truncated)


def test_malformed_metadata_is_named(tmp_path: Path, exported) -> None:
    model = onnx.load(str(exported[0]))
    for p in model.metadata_props:
        if p.key == "observation_layout":
            p.value = '{"terms": [{"name": "x", "size": 3}], "size": 146}'
    onnx.save(model, str(tmp_path / "m.onnx"))
    with pytest.raises(PolicyMetadataError, match="observation_layout"):
        PolicyRunner(tmp_path / "m.onnx")
    del model.metadata_props[:]
    onnx.save(model, str(tmp_path / "none.onnx"))
    with pytest.raises(PolicyMetadataError, match="missing field"):
        PolicyRunner(tmp_path / "none.onnx")


def test_parity_check_fails_loudly(tmp_path: Path, exported) -> None:
    path, actor = exported
    other = mlp([146, 64, 64, 4], "tanh", torch.nn.Tanh)  # different weights than the file
    diff, _ = check_parity(other, path)
    assert diff > 1e-3

    class Drift(torch.nn.Module):  # exports one graph but evaluates differently in torch
        def __init__(self) -> None:
            super().__init__()
            self.net = actor

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.net(x)
            return y if torch.onnx.is_in_onnx_export() else y + 0.01

    with pytest.raises(ParityError, match="max abs diff"):
        export_policy(Drift(), PolicyRunner(path).metadata, tmp_path / "drift.onnx")
    assert not (tmp_path / "drift.onnx").exists()
