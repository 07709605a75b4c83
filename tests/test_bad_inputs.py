"""Every bad input listed in issue 21 ends the command with exit status 2 and one line naming the
problem: no traceback, no result computed from nonsense, nothing written."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from robot_learning import cli
from robot_learning.core.config import ConfigError, FieldError, from_dict, load_yaml
from robot_learning.tasks.asap.target_world import TargetWorldConfig, load_target_world
from robot_learning.tasks.getup.config import DaggerConfig, GetupTrainConfig
from robot_learning.tasks.quadrotor.config import QuadrotorTrainConfig, TD3Config

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "assets" / "policies"


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``robot-learning argv`` in-process: (exit status, stdout, stderr)."""
    try:
        code = cli.main(argv)
    except SystemExit as e:  # argparse's own errors
        code = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(code: int, err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, f"exit {code}, stderr: {err}"
    assert "Traceback" not in err
    assert len(lines) == 1, f"expected one line, got: {err}"
    for w in words:
        assert w in lines[0], f"{w!r} not in {lines[0]!r}"


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_eval_hil_serl_refuses_a_negative_episode_count(cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["eval", "hil_serl", "--policy", str(POLICIES / "panda_pick_place.onnx"), "--episodes", "-1"], capsys)
    assert_refused(code, err, "--episodes", "-1")
    assert "success_rate" not in out


def test_eval_getup_refuses_zero_episodes(cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["eval", "getup", "--policy", str(POLICIES / "g1_getup_supine.onnx"), "--episodes", "0"], capsys)
    assert_refused(code, err, "--episodes", "0")
    assert out == ""


def test_eval_hil_serl_names_the_engines(cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["eval", "hil_serl", "--policy", str(POLICIES / "panda_pick_place.onnx"), "--sim", "isaac"], capsys)
    assert_refused(code, err, "isaac", "mujoco", "pybullet")


def test_a_directory_as_policy_is_called_a_directory(cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["eval", "quadrotor", "--policy", str(POLICIES), "--episodes", "1"], capsys)
    assert_refused(code, err, "directory")
    assert "not found" not in err


@pytest.mark.parametrize("yaml_text, field", [("dagger:\n  iterations: -1\n", "dagger.iterations"),
                                              ("env:\n  physics_dt: .nan\n", "env.physics_dt")])
def test_train_getup_refuses_a_bad_config_before_writing(cwd: Path, capsys: pytest.CaptureFixture[str], yaml_text: str, field: str) -> None:
    (cwd / "bad.yaml").write_text(yaml_text)
    code, _, err = run_cli(["train", "getup", "--config", "bad.yaml", "--out", "run"], capsys)
    assert_refused(code, err, field, "bad.yaml")
    assert not (cwd / "run").exists() and not (cwd / "runs").exists()


@pytest.mark.parametrize("yaml_text, field", [("env:\n  num_envs: 0\n", "env.num_envs"), ("td3:\n  lr: -0.001\n", "td3.lr"),
                                              ("max_seconds: .inf\n", "max_seconds")])
def test_train_quadrotor_refuses_a_bad_config_before_writing(cwd: Path, capsys: pytest.CaptureFixture[str], yaml_text: str, field: str) -> None:
    (cwd / "bad.yaml").write_text(yaml_text)
    code, _, err = run_cli(["train", "quadrotor", "--config", "bad.yaml"], capsys)
    assert_refused(code, err, field)
    assert not (cwd / "runs").exists()


@pytest.mark.parametrize("line, field", [("physics_dt: 0", "physics_dt"), ("control_rate_hz: 0", "control_rate_hz"),
                                         ("latency_s: .nan", "latency_s"), ("ground_friction: -3", "ground_friction"),
                                         ("physics_dt: 0.003", "physics_dt")])
def test_asap_record_refuses_a_bad_target_world(cwd: Path, capsys: pytest.CaptureFixture[str], line: str, field: str) -> None:
    (cwd / "world.yaml").write_text(f"name: bad\n{line}\n")
    code, _, err = run_cli(["asap", "record", "--target-world", "world.yaml", "--out", "sessions", "--sessions", "1", "--seconds", "0.1"], capsys)
    assert_refused(code, err, field, "world.yaml")
    assert not (cwd / "sessions").exists()


def test_deploy_refuses_a_fault_after_the_run(cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["deploy", "--policy", str(POLICIES / "crazyflie_hover.onnx"), "--robot", "crazyflie", "--fault", "nan",
                              "--fault-at", "100", "--seconds", "1"], capsys)
    assert_refused(code, err, "--fault-at")
    assert "fault" not in out


@pytest.mark.parametrize("content", [None, b"not an onnx model", "dir"])
def test_c_export_refuses_a_missing_or_corrupt_file(tmp_path: Path, content: bytes | str | None) -> None:
    policy = tmp_path / "policy.onnx"
    if content == "dir":
        policy.mkdir()
    elif content is not None:
        policy.write_bytes(content)
    r = subprocess.run([sys.executable, "-m", "robot_learning.export.c_export", str(policy), str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=120)
    assert_refused(r.returncode, r.stderr, str(policy))
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- the same checks, programmatically
def test_config_checks_apply_to_the_constructor_too() -> None:
    with pytest.raises(FieldError, match="iterations must be > 0, got -1"):
        DaggerConfig(iterations=-1)
    with pytest.raises(FieldError, match="lr must be a number, got nan"):
        TD3Config(lr=math.nan)
    with pytest.raises(FieldError, match="ground_friction must be >= 0"):
        TargetWorldConfig(ground_friction=-3.0)
    with pytest.raises(FieldError, match="physics_dt must divide the control period"):
        TargetWorldConfig(physics_dt=0.003)


def test_the_loader_keeps_the_nested_field_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^td3\.lr must be > 0, got -0\.001$"):
        from_dict(QuadrotorTrainConfig, {"td3": {"lr": -0.001}})
    with pytest.raises(ConfigError, match=r"env\.dr\.friction must be a \(low, high\) pair"):
        from_dict(GetupTrainConfig, {"env": {"dr": {"friction": [3.0, 1.0]}}})
    (tmp_path / "w.yaml").write_text("kp_scale: [1.0, .nan]\n")
    with pytest.raises(ConfigError, match=r"w\.yaml: kp_scale\[1\]: expected a number, got NaN"):
        load_target_world(tmp_path / "w.yaml")


def test_shipped_configs_and_worlds_pass_their_checks() -> None:
    for f in sorted((ROOT / "sim" / "configs").glob("quadrotor*.yaml")):
        load_yaml(QuadrotorTrainConfig, f)
    for f in sorted((ROOT / "sim" / "configs").glob("getup*.yaml")):
        load_yaml(GetupTrainConfig, f)
    worlds = sorted((ROOT / "assets" / "target_worlds").glob("*.yaml"))
    assert worlds
    for f in worlds:
        load_target_world(f)


# ----------------------------------------------------------------------------- more of the same kind, found by trying
@pytest.mark.parametrize("argv, words", [
    (["deploy", "--policy", str(POLICIES / "g1_getup_supine.onnx"), "--robot", "g1", "--config", "node.yaml", "--seconds", "1"],
     ("node.yaml", "control_rate_hz")),  # was a ValueError traceback from the loop
    (["eval", "getup", "--policy", str(POLICIES / "g1_getup_supine.onnx"), "--episodes", "1", "--render", "node.yaml/x.gif"],
     ("--render", "node.yaml")),  # a directory that cannot be made: was refused only after running the episodes
    (["asap", "run", "--target-world", "worn_actuators", "--motions", "nothing", "--out", "run"], ("motions", "nothing")),  # blamed held_out
    (["asap", "fit-delta", "--logs", "missing"], ("not found", "missing")),
    (["hil-serl", "actor", "--learner", "localhost:99999", "--out", "actor"], ("port", "99999")),  # ran the demonstrations first
    (["train", "quadrotor", "--config", "adir"], ("adir", "directory")),  # was "not found"
])
def test_more_bad_inputs(cwd: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: tuple[str, ...]) -> None:
    (cwd / "node.yaml").write_text("control_rate_hz: -5\n")
    (cwd / "adir").mkdir()
    code, _, err = run_cli(argv, capsys)
    assert_refused(code, err, *words)
    assert sorted(p.name for p in cwd.iterdir()) == ["adir", "node.yaml"]


@pytest.mark.parametrize("argv, flag", [(["--rate", "0"], "--rate"), (["--seconds", "nan"], "--seconds"), (["--delay", "-1"], "--delay"),
                                        (["--domain-id", "999"], "--domain-id")])
def test_the_simulated_robot_bridge_refuses_bad_numbers(capsys: pytest.CaptureFixture[str], argv: list[str], flag: str) -> None:
    from robot_learning.bridges.sim_bridge import main as bridge_main

    code = bridge_main(argv)
    assert_refused(code, capsys.readouterr().err, flag)
