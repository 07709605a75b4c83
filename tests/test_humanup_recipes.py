"""HumanUP's two stages as one command each (sim/configs/humanup_stage{1,2}.yaml): the paper's scale
in the files, and each recipe run here at toy scale on the CPU backend (a few PPO iterations: the
losses move, the export is a valid policy that the runtime runs)."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from robot_learning.tasks.getup.module import eval_command, load_config, train_command

CONFIGS = Path(__file__).resolve().parents[1] / "sim" / "configs"


@pytest.mark.parametrize("name", ["humanup_stage1", "humanup_stage2"])
def test_recipe_is_the_papers_scale_on_the_gpu_backend(name: str) -> None:
    cfg = load_config(CONFIGS / f"{name}.yaml")
    e = cfg.env
    assert (e.num_envs, e.physics_dt, e.decimation, e.episode_s) == (4096, 0.001, 20, 10.0)
    assert (e.backend, e.device, cfg.method) == ("warp", "cuda:0", "ppo")
    assert tuple(cfg.ppo.actor_hidden) == (512, 256, 128) and cfg.ppo.learning_rate == 2e-4
    if name == "humanup_stage1":
        assert e.stage == "discovery" and cfg.max_env_steps == 5_000_000_000
    else:
        assert e.stage == "tracking" and e.variant == "mesh" and e.dr.enabled
        assert e.terrain == ("flat", "slope", "rough") and cfg.bc_samples == 0


@pytest.mark.parametrize("name,num_envs", [("humanup_stage1", 4), ("humanup_stage2", 3)])
def test_recipe_runs_at_toy_scale_on_the_cpu(name: str, num_envs: int, tmp_path: Path) -> None:
    # the recipe's file, shrunk by flags and --set as a user would on a laptop; bounded by steps
    iters, steps = 3, 4
    overrides = {"ppo": {"steps_per_env": steps, "actor_hidden": [64, 32], "critic_hidden": [64, 32]},
                 "max_env_steps": iters * steps * num_envs, "eval_episodes": 2, "eval_every_seconds": 1e6,
                 "env": {"episode_s": 0.4}}
    report = train_command(tmp_path / "run", CONFIGS / f"{name}.yaml", None, None, num_envs=num_envs,
                           progress=False, backend="mujoco", device="cpu", overrides=overrides)
    run = Path(report["run"])
    rows = list(csv.DictReader((run / "learning_curve.csv").open()))
    assert len(rows) == iters
    assert len({r["mean_reward"] for r in rows}) > 1 and float(rows[-1]["env_steps"]) == iters * steps * num_envs
    final = json.loads((run / "report.json").read_text())["train"]["final_row"]
    assert final["kl"] > 0.0 and math.isfinite(final["value_loss"])  # the updates changed the policy
    res = eval_command(run / "policy.onnx", sim="mujoco", episodes=1, seconds=0.4, posture="supine")  # through the runtime
    assert res["episodes"] == 1


def _toy(num_envs: int, steps: int, total: int) -> list[str]:
    return ["--num-envs", str(num_envs), "--set", f"ppo.steps_per_env={steps}", "--set", f"max_env_steps={total}",
            "--set", "eval_episodes=2", "--set", "env.episode_s=0.4", "--set", "ppo.actor_hidden=[64,32]",
            "--set", "ppo.critic_hidden=[64,32]"]


def test_stage1_recipe_trains_data_parallel_on_two_ranks(tmp_path: Path) -> None:
    # torchrun, two real processes, gloo over loopback: rank 0 writes the run, the step count is both ranks'
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(port), "-m", "robot_learning", "train", "getup", "--config", str(CONFIGS / "humanup_stage1.yaml"),
           "--backend", "mujoco", "--device", "cpu", "--out", str(tmp_path / "run"), *_toy(4, 4, 96)]
    env = {**__import__("os").environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert '"rank": 1, "world_size": 2' in out.stdout  # the other rank trained and did not write
    rows = list(csv.DictReader((tmp_path / "run" / "learning_curve.csv").open()))
    assert [int(r["env_steps"]) for r in rows] == [32, 64, 96]  # 4 steps x 4 robots x 2 ranks per iteration
    assert (tmp_path / "run" / "policy.onnx").is_file()


@pytest.mark.slow  # the first Warp step compiles its kernels (~75 s with a cold cache)
def test_stage1_recipe_runs_at_toy_scale_on_warp_cpu(tmp_path: Path) -> None:
    pytest.importorskip("mujoco_warp", reason="the warp backend needs mujoco-warp (the [gpu] extra)")
    from robot_learning.cli import main

    assert main(["train", "getup", "--config", str(CONFIGS / "humanup_stage1.yaml"), "--backend", "warp", "--device", "cpu",
                 "--out", str(tmp_path / "run"), *_toy(4, 4, 48)]) == 0
    rows = list(csv.DictReader((tmp_path / "run" / "learning_curve.csv").open()))
    assert len(rows) == 3 and json.loads((tmp_path / "run" / "report.json").read_text())["config"]["env"]["backend"] == "warp"
