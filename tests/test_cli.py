"""The command line: help, a short real training run with all its outputs, eval JSON, clear errors."""
from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """The real entry point, in a new process."""
    return subprocess.run([sys.executable, "-m", "robot_learning", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def cli_here(*args: str) -> subprocess.CompletedProcess:
    """The same command line in this process (``robot_learning.cli.main``): for the many quick refusals."""
    from robot_learning.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as e:  # argparse: --help (0) and usage errors (2)
            code = int(e.code or 0)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def test_the_installed_entry_point_answers() -> None:
    r = cli("--help")
    assert r.returncode == 0 and "usage: robot-learning" in r.stdout


def test_help_on_every_command() -> None:
    from robot_learning.tasks.registry import load_tasks

    cmds: list[list[str]] = [[], ["tasks"], ["train"], ["eval"], ["export"], ["deploy"]]
    for spec in load_tasks().values():
        for c in spec.commands:
            if c.cli:
                cmds.append([c.name, spec.name] if c.name in ("train", "eval", "export") else [spec.group, c.name])
    for cmd in cmds:
        r = cli_here(*cmd, "--help")
        assert r.returncode == 0, (cmd, r.stderr)
        assert "usage:" in r.stdout


def test_each_task_shows_and_takes_only_its_own_flags(tmp_path: Path) -> None:
    getup, hil = cli_here("train", "getup", "--help").stdout, cli_here("train", "hil_serl", "--help").stdout
    assert "--posture" in getup and "--human" not in getup and "--observation" not in getup
    assert "--human" in hil and "--posture" not in hil and "--stage" not in hil
    for common in ("--out", "--config", "--set", "--seconds", "--seed", "--force"):
        assert common in getup and common in hil
    r = cli_here("train", "quadrotor", "--stage", "I", "--out", str(tmp_path / "q"))  # a getup flag on another task: refused, not ignored
    assert r.returncode == 2 and "unrecognized arguments: --stage" in r.stderr and not (tmp_path / "q").exists()
    r = cli_here("eval", "quadrotor", "--terrain", "slope")
    assert r.returncode == 2 and "unrecognized arguments: --terrain" in r.stderr


def test_set_overrides_go_through_the_strict_loader(tmp_path: Path) -> None:
    out = tmp_path / "run"
    for item, message in (("td3.lr=-0.001", "td3.lr"), ("td3.lrr=1", "unknown key(s) 'lrr'"), ("env.num_envs=0", "env.num_envs"),
                          ("td3.lr=fast", "td3.lr: expected float"), ("td3", "expected key.path=value"), ("seed=.nan", "seed")):
        r = cli_here("train", "quadrotor", "--set", item, "--out", str(out))
        assert r.returncode == 2, (item, r.stderr)
        assert message in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, (item, r.stderr)
        assert not out.exists(), item  # refused before the run directory is made


def test_eval_and_export_find_the_task_themselves(tmp_path: Path) -> None:
    r = cli_here("eval")
    assert r.returncode == 2 and "name the task" in r.stderr
    r = cli_here("eval", "--policy", str(ROOT / "assets" / "policies" / "g1_hold.onnx"))
    assert r.returncode == 2 and "'hold' policy, which no registered task evaluates" in r.stderr
    ckpt = tmp_path / "final.pt"
    ckpt.write_bytes(b"not a checkpoint")
    r = cli_here("export", "--checkpoint", str(ckpt))
    assert r.returncode == 2 and "cannot tell which task wrote" in r.stderr


def test_eval_json_last_line(hover_policy: Path) -> None:
    for engine in ("torch", "pybullet"):
        r = cli("eval", "--policy", str(hover_policy), "--sim", engine, "--episodes", "3", "--json")
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout.strip().splitlines()[-1])
        assert res["engine"] == engine and res["episodes"] == 3
        assert 0.0 <= res["success_rate"] <= 1.0 and "hover_error_m" in res
    r = cli("eval", "quadrotor", "--policy", str(hover_policy), "--trajectory", "figure8", "--json")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["trajectory"] == "figure8" and res["tracking_rmse_m"] > 0


def test_clear_errors(tmp_path: Path, hover_policy: Path) -> None:
    r = cli("eval", "--policy", str(tmp_path / "missing.onnx"), "--json")
    assert r.returncode == 2 and "policy file not found" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.onnx"
    bad.write_text("not onnx")
    r = cli("eval", "--policy", str(bad))
    assert r.returncode == 2 and "not a valid ONNX model" in r.stderr
    r = cli("deploy", "--policy", str(hover_policy), "--robot", "g1", "--sim", "pybullet")
    assert r.returncode == 2 and "'bridge'" in r.stderr and "Traceback" not in r.stderr
    r = cli("deploy", "--policy", str(hover_policy), "--robot", "g1", "--seconds", "1")
    assert r.returncode == 2 and "'robot' is 'crazyflie' but the runtime was started for 'unitree_g1'" in r.stderr
    r = cli("deploy", "--policy", str(hover_policy), "--robot", "r2d2")
    assert r.returncode == 2 and "unknown robot 'r2d2'" in r.stderr
    r = cli("train", "pong")
    assert r.returncode == 2 and "invalid choice: 'pong'" in r.stderr and "Traceback" not in r.stderr
    r = cli("train", "getup", "--stage", "III", "--out", str(tmp_path / "g"))
    assert r.returncode == 2 and "--stage: must be one of" in r.stderr and not (tmp_path / "g").exists()
    cfg = tmp_path / "c.yaml"
    cfg.write_text("td3:\n  lr: fast\n")
    r = cli("train", "quadrotor", "--config", str(cfg), "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and "td3.lr: expected float" in r.stderr and "Traceback" not in r.stderr


def test_train_writes_everything_and_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = tmp_path / "c.yaml"
    cfg.write_text("eval_every_seconds: 2.0\neval:\n  episodes: 16\ntd3:\n  critic_warmup_steps: 500\n  actor_warmup_steps: 1000\n")
    r = cli("train", "quadrotor", "--out", str(out), "--config", str(cfg), "--seconds", "4", "--episodes", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    for name in ("config.yaml", "policy.onnx", "policy.c", "policy.h", "report.json", "checkpoints/final.pt"):
        assert (out / name).is_file(), name
    assert any((out / "tensorboard").iterdir())
    report = json.loads((out / "report.json").read_text())
    assert report["export"]["parity_max_abs_diff"] < 1e-5
    assert report["eval_pybullet"]["engine"] == "pybullet" and report["eval_torch"]["engine"] == "torch"
    assert report["train"]["env_steps"] > 0
    before = (out / "policy.onnx").read_bytes()
    r = cli("train", "quadrotor", "--out", str(out), "--seconds", "1")
    assert r.returncode == 2 and "--force" in r.stderr
    assert (out / "policy.onnx").read_bytes() == before
    r = cli("export", "--checkpoint", str(out / "checkpoints" / "final.pt"))
    assert r.returncode == 2 and "--force" in r.stderr
    r = cli("export", "--checkpoint", str(out / "checkpoints" / "final.pt"), "--out", str(tmp_path / "re"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "re" / "policy.onnx").is_file() and (tmp_path / "re" / "policy.c").is_file()


def test_deploy_prints_timing_and_safety(hover_policy: Path) -> None:
    r = cli("deploy", "--policy", str(hover_policy), "--robot", "crazyflie", "--sim", "pybullet", "--seconds", "1", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout.strip().splitlines()[-1])
    assert s["timing"]["count"] == 100 and "compute_p99_ms" in s["timing"] and "deadline_misses" in s["timing"]
    assert s["final_mode"] in ("POLICY", "DAMPING") and isinstance(s["transitions"], list)
