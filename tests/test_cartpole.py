"""The fifth task, end to end through the platform's commands: train (a short real PPO run) ->
export (parity) -> eval in a second engine (PyBullet, through the CLI) -> deploy through the policy
node over Cyclone DDS against the simulated cart-pole in a second process. And the proof that the
task is one folder: nothing outside robot_learning/tasks/cartpole/ names it but the registry line."""
from __future__ import annotations

import ast
import json
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from robot_learning import cli
from robot_learning.export.onnx_export import export_policy
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.tasks.cartpole.config import CartPoleConfig
from robot_learning.tasks.cartpole.evaluate import evaluate
from robot_learning.tasks.cartpole.module import make_metadata
from robot_learning.tasks.cartpole.sims import MujocoCartPole

ROOT = Path(__file__).resolve().parents[1]
TASK_DIR = ROOT / "robot_learning" / "tasks" / "cartpole"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short training run through the CLI (it stops as soon as the policy balances)."""
    out = tmp_path_factory.mktemp("cartpole") / "run"
    assert cli.main(["train", "cartpole", "--out", str(out), "--seconds", "150", "--no-gate", "--quiet"]) == 0
    return out


def _zero_policy(path: Path) -> Path:
    """A do-nothing policy with the task's metadata: the cart's target stays at the rail's centre."""
    class Zero(torch.nn.Module):
        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            return obs[:, :1] * 0.0

    export_policy(Zero(), make_metadata(CartPoleConfig(), {"algorithm": "none"}), path)
    return path


def test_training_reaches_success_and_beats_doing_nothing_in_mujoco(run: Path, tmp_path: Path) -> None:
    report = json.loads((run / "report.json").read_text())
    assert report["status"] == "completed" and report["task"] == "cartpole"
    assert report["train"]["seconds_to_success"] is not None, report["train"]["curve"][-3:]
    cfg = CartPoleConfig()
    trained = evaluate(str(run / "policy.onnx"), "mujoco", cfg.eval, cfg.env, episodes=20, seed=5)
    nothing = evaluate(str(_zero_policy(tmp_path / "zero.onnx")), "mujoco", cfg.eval, cfg.env, episodes=20, seed=5)
    assert trained["success_rate"] >= 0.8, trained["per_episode"][:3]
    assert nothing["success_rate"] <= 0.1 and nothing["fell_or_faulted"] >= 15  # without control the pole falls ...
    assert any("tilt" in (e["last_fault"] or "") for e in nothing["per_episode"])  # ... and the runtime's tilt monitor says so
    assert trained["success_rate"] - nothing["success_rate"] >= 0.7


def test_export_from_the_checkpoint_matches_the_trained_policy(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "exported"
    # the task is read from the run record next to the checkpoint
    assert cli.main(["export", "--checkpoint", str(run / "checkpoints" / "final.pt"), "--out", str(out)]) == 0
    a, b = PolicyRunner(run / "policy.onnx"), PolicyRunner(out / "policy.onnx")
    assert b.metadata.task == "cartpole_balance" and b.metadata.robot == "cartpole" and b.metadata.action["type"] == "joint_position_offset"
    obs = np.random.default_rng(0).normal(size=(64, a.obs_size)).astype(np.float32)
    assert np.abs(a(obs) - b(obs)).max() < 1e-5
    assert cli.main(["export", "--checkpoint", str(run / "checkpoints" / "final.pt"), "--out", str(out)]) == 2  # never overwritten


def test_eval_in_pybullet_through_the_cli(run: Path) -> None:
    # `eval` with no task: the task is read from the policy's metadata
    proc = subprocess.run([sys.executable, "-m", "robot_learning", "eval", "--policy", str(run / "policy.onnx"), "--sim", "pybullet",
                           "--episodes", "20", "--seed", "3", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["engine"] == "pybullet" and result["episodes"] == 20
    assert result["success_rate"] >= 0.8, result


def test_the_release_needs_control() -> None:
    """The deploy rehearsal's start (the pole let go at 0.1 rad) falls within 3 s when nothing acts."""
    sim = MujocoCartPole(control_rate_hz=100.0)
    sim.set_state(0.0, 0.1)
    for _ in range(300):
        sim.step(np.zeros(1))
    assert abs(sim.pole()[1]) > math.radians(60)


def test_deploy_over_dds_keeps_the_pole_up(run: Path) -> None:
    from robot_learning.runtime.ros2 import dds, msgs

    dds.ensure_dds_config()  # loopback only; the CLI's processes inherit it
    domain = 1 + (os.getpid() * 13 + 5) % 200
    truth: list[list[float]] = []
    lock = threading.Lock()

    def keep(m: msgs.Float64MultiArray) -> None:
        with lock:
            truth.append(list(m.data))

    observer = dds.DdsNode("observer", domain_id=domain)  # a third party on the wire: the bridge's ground truth
    observer.create_subscription(msgs.Float64MultiArray, "sim/ground_truth", keep, dds.SENSOR_QOS)
    try:
        proc = subprocess.run([sys.executable, "-m", "robot_learning", "deploy", "--policy", str(run / "policy.onnx"), "--robot", "cartpole",
                               "--transport", "dds", "--sim", "bridge", "--seconds", "6", "--domain-id", str(domain), "--json"],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        observer.close()
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    node = json.loads(lines[-1])
    assert node["robot"] == "cartpole" and node["final_mode"] == "POLICY", node["fault_log"][-5:]
    assert node["commands_published"] > 150 and not node["mapping_error"]
    bridge = json.loads(next(x for x in lines if x.startswith("[sim_bridge] summary")).split("summary", 1)[1])
    assert bridge["released"] and bridge["seconds_after_release"] > 3.0 and bridge["fell_after_s"] is None, bridge
    with lock:
        after = np.array([t for t in truth if t[3] == 1.0])
    assert len(after) > 200  # released and watched for more than 2 s at 100 Hz
    last = after[after[:, 0] > after[-1, 0] - 2.0]
    assert np.degrees(np.abs(last[:, 2])).max() < 10.0, "the pole did not stay up over the last 2 s"
    assert np.abs(last[:, 1]).max() < 0.5  # and the cart stayed on the rail, away from its ends


def _mentions(path: Path, word: str) -> list[int]:
    return [i for i, line in enumerate(path.read_text(errors="ignore").splitlines(), 1) if word in line.lower()]


def test_the_task_is_one_folder_and_one_registry_line() -> None:
    registry = ROOT / "robot_learning" / "tasks" / "registry.py"
    offenders = []
    for base in ("robot_learning", "deploy", "sim", "docker"):
        for f in sorted((ROOT / base).rglob("*")):
            if not f.is_file() or f.suffix not in (".py", ".yaml", ".yml", ".xml", ".toml", ".cfg", ".txt", ".launch") or TASK_DIR in f.parents:
                continue
            lines = _mentions(f, "cartpole")
            if f == registry:
                text = f.read_text().splitlines()
                lines = [i for i in lines if "TASK_PACKAGES" not in text[i - 1] and "copy ``tasks/cartpole/``" not in text[i - 1]]
            offenders += [f"{f.relative_to(ROOT)}:{i}" for i in lines]
    assert not offenders, f"outside its folder the task is named in {offenders}"
    setup = (ROOT / "setup.py").read_text().lower()
    assert "cartpole" not in setup
    # and the folder imports no other task (tasks are siblings; what they share lives below them)
    others = {p.name for p in (ROOT / "robot_learning" / "tasks").iterdir() if p.is_dir() and p.name not in ("cartpole", "__pycache__")}
    for f in TASK_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for n in names:
                parts = n.split(".")
                assert not (len(parts) > 2 and parts[:2] == ["robot_learning", "tasks"] and parts[2] in others), f"{f.name} imports {n}"


def _numeric_fields(cls: type, prefix: str = "") -> list[str]:
    import dataclasses
    import typing

    out = []
    for f in dataclasses.fields(cls):
        tp = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(tp):
            out += _numeric_fields(tp, f"{prefix}{f.name}.")
        elif tp in (int, float) or typing.get_origin(tp) is tuple:
            out.append(prefix + f.name)
    return out


@pytest.mark.parametrize("value", ["-1", ".nan"])
def test_every_bad_number_in_the_config_is_refused_naming_its_field(value: str, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    fields = _numeric_fields(CartPoleConfig)
    assert "ppo.learning_rate" in fields and "env.init_angle" in fields and "eval.settle_s" in fields
    for path in fields:
        if value == "-1" and path.startswith("rewards."):
            continue  # a reward weight's sign is its meaning
        out = tmp_path / path
        given = f"[{value}]" if path.endswith("_hidden") else value
        assert cli.main(["train", "cartpole", "--out", str(out), "--set", f"{path}={given}"]) == 2, path
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and path in err, (path, err)
        assert not out.exists(), f"{path}={value}: a run directory was written"
