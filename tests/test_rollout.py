"""The rollout harness (robot_learning/export/rollout.py) and what `eval` reports of a policy that outputs NaN.

The NaN policies are real ONNX files: a one-node graph whose action is NaN whatever it sees, carrying
a shipped policy's metadata, so every check of the metadata contract passes and only the action is bad.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from robot_learning.export.rollout import rollout
from robot_learning.runtime.control import ControlSettings
from robot_learning.runtime.joint_controller import JointControllerConfig
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.types import PolicyMetadata, RobotMode

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "assets" / "policies"


def nan_policy(shipped: Path | PolicyMetadata, out: Path) -> Path:
    """An ONNX policy with ``shipped``'s metadata (a policy file's, or given; sizes, robot, task) whose action is always NaN."""
    meta = shipped if isinstance(shipped, PolicyMetadata) else PolicyRunner(shipped).metadata
    n_obs, n_act = meta.observation_layout.size, meta.action_size
    w = helper.make_tensor("W", TensorProto.FLOAT, [n_obs, n_act], np.zeros(n_obs * n_act, dtype=np.float32).tolist())
    b = helper.make_tensor("B", TensorProto.FLOAT, [n_act], [float("nan")] * n_act)
    graph = helper.make_graph([helper.make_node("Gemm", ["obs", "W", "B"], ["action"])], "nan_policy",
                              [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", n_obs])],
                              [helper.make_tensor_value_info("action", TensorProto.FLOAT, ["batch", n_act])], [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in meta.to_props().items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return out


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "robot_learning", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("task, shipped, flags", [
    ("quadrotor", "crazyflie_hover.onnx", ["--sim", "pybullet"]),
    ("quadrotor", "crazyflie_hover.onnx", ["--sim", "torch"]),
    ("quadrotor", "crazyflie_hover.onnx", ["--trajectory", "figure8"]),
    ("getup", "g1_getup_supine.onnx", ["--seconds", "0.5"]),
    ("hil_serl", "panda_pick_place.onnx", []),
])
def test_eval_reports_a_nan_policy(tmp_path: Path, task: str, shipped: str, flags: list[str]) -> None:
    policy = nan_policy(POLICIES / shipped, tmp_path / "nan.onnx")
    episodes = [] if "figure8" in flags else ["--episodes", "2"]
    r = cli("eval", task, "--policy", str(policy), *episodes, *flags, "--json")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["policy_output_nan"] == (1 if "figure8" in flags else 2), report
    assert report["success_rate"] == 0.0


def test_eval_cartpole_reports_a_nan_policy(tmp_path: Path) -> None:
    from robot_learning.tasks.cartpole.config import CartPoleConfig
    from robot_learning.tasks.cartpole.module import make_metadata

    policy = nan_policy(make_metadata(CartPoleConfig(), {"algorithm": "none"}), tmp_path / "nan.onnx")
    r = cli("eval", "cartpole", "--policy", str(policy), "--episodes", "2", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["policy_output_nan"] == 2 and report["success_rate"] == 0.0, report


def test_eval_asap_reports_a_nan_policy(tmp_path: Path) -> None:
    policy = nan_policy(POLICIES / "g1_asap_worn_actuators.onnx", tmp_path / "nan.onnx")
    r = cli("eval", "asap", "--policy", str(policy), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["policy_output_nan"] == 1 and report["success_rate"] == 0.0 and report["mpjpe_mm"] is None, report


class Standing:
    """Callbacks for the harness's test: start standing (the free G1 at its default pose), record
    the head height, end the episode at tick ``stop_at`` (None: run all ticks)."""

    def __init__(self, robot, stop_at: int | None = None) -> None:  # noqa: ANN001 (MujocoJointRobot)
        self.robot, self.stop_at = robot, stop_at
        self.heads: list[list[float]] = []

    def on_reset(self, episode: int) -> np.ndarray:
        q = self.robot.reset()
        qpos = self.robot.qpos()
        self.robot.reset_to(qpos)  # the public reset-to-state API round-trips
        np.testing.assert_array_equal(self.robot.qpos(), qpos)
        self.heads.append([])
        return q["joint_position"]

    def on_tick(self, episode: int, t: int, controller) -> bool:  # noqa: ANN001
        self.heads[-1].append(float(self.robot.state()["head_height"][0]))
        return self.stop_at is not None and t + 1 >= self.stop_at

    def on_episode_end(self, episode: int, controller) -> dict:  # noqa: ANN001
        return {"ticks": len(self.heads[-1]), "final_head_m": self.heads[-1][-1], "mode": controller.mode.name}


@pytest.fixture(scope="module")
def g1():  # noqa: ANN201
    from robot_learning.sim.mujoco_robot import MujocoJointRobot, MujocoRobotConfig

    return MujocoJointRobot(MujocoRobotConfig(robot="g1", variant="primitive", control_rate_hz=50.0))


SETTINGS = ControlSettings(joint=JointControllerConfig(soft_start_s=0.1))


def test_harness_runs_episodes_through_the_runtime(g1) -> None:  # noqa: ANN001
    cb = Standing(g1, stop_at=7)
    run = rollout(POLICIES / "g1_getup_supine.onnx", g1, episodes=2, steps=20, metrics=cb, settings=SETTINGS)
    assert [e.episode for e in run.episodes] == [0, 1]
    for e in run.episodes:
        assert e.started and e.start_error is None and not e.policy_output_nan
        assert e.metrics["ticks"] == 7 and e.ticks == 7  # on_tick ended the episode at its 7th tick
        assert e.metrics["mode"] == e.mode
        assert e.start.shape == (23,)
    # the same start and the same policy: the same episode, tick for tick
    assert cb.heads[0] == cb.heads[1]
    agg = run.aggregate()
    assert agg["episodes"] == 2 and agg["started"] == 2 and agg["start_failures"] == 0 and agg["policy_output_nan"] == 0
    assert len(run.policy_seconds) > 0


def test_harness_counts_a_nan_policy(g1, tmp_path: Path) -> None:  # noqa: ANN001
    policy = nan_policy(POLICIES / "g1_getup_supine.onnx", tmp_path / "nan.onnx")
    run = rollout(policy, g1, episodes=3, steps=5, metrics=Standing(g1), settings=SETTINGS)
    agg = run.aggregate()
    assert agg["policy_output_nan"] == 3 and agg["start_failures"] == 3 and agg["started"] == 0
    assert "non-finite" in agg["start_error"]
    assert all(e.metrics is None and e.mode == RobotMode.ESTOP.name for e in run.episodes)


def test_harness_counts_nan_in_the_middle_of_an_episode(g1) -> None:  # noqa: ANN001
    """A policy that goes bad after a while: the runtime e-stops it (policy_output), the episode
    still ends with its figures, and it is counted as a NaN episode."""
    real = PolicyRunner(POLICIES / "g1_getup_supine.onnx")

    class GoesBad:
        metadata = real.metadata
        calls = 0

        def __call__(self, obs: np.ndarray) -> np.ndarray:
            self.calls += 1
            a = real(obs)
            return np.full_like(a, np.nan) if self.calls > 15 else a

    run = rollout(GoesBad(), g1, episodes=1, steps=20, metrics=Standing(g1), settings=SETTINGS)
    e = run.episodes[0]
    assert e.started and e.policy_output_nan and e.metrics is not None
    assert e.mode == RobotMode.ESTOP.name and e.faults.get("policy_output", 0) >= 1
    assert run.aggregate()["policy_output_nan"] == 1
