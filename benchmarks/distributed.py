"""Data-parallel PPO: does a 2-rank run learn what a 1-rank run learns with the same total batch?

    python benchmarks/distributed.py [--seeds 0 1 2] [--env-steps 163840] [--num-envs 64] [--ranks 2]
                                     [--episodes 64] [--until budget|success] [--out benchmarks/results/distributed.json]

Per seed, the cart-pole task trained through the CLI for the same number of environment steps:
once as one process (``num_envs`` cart-poles), once under ``torchrun --nproc-per-node R`` (gloo on
127.0.0.1, ``num_envs / R`` cart-poles per rank, so each PPO iteration sees the same total batch and
the same number of gradient steps). ``--until budget`` (default): the success checks are off, so
every run uses its whole budget; ``--until success``: the task's own rule (rank 0's check every
``check_every`` iterations stops the run at the target success rate; the budget caps it), which
adds the environment steps to success. Each final actor (``checkpoints/final.pt``) then runs deterministic episodes in the training
simulator from the same starts: the mean return of the task's 5 s episodes and the success rate of
its 10 s checks. Wall-clock is reported but is noise here (the ranks share the machine's cores).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robot_learning.algos.ppo import Actor  # noqa: E402
from robot_learning.core.config import from_dict  # noqa: E402
from robot_learning.core.runs import dumps, write_json  # noqa: E402
from robot_learning.tasks.cartpole.config import CartPoleConfig  # noqa: E402
from robot_learning.tasks.cartpole.env import OBS_LAYOUT, CartPoleBatch, sample_initial  # noqa: E402
from robot_learning.tasks.cartpole.train import check_policy  # noqa: E402

EVAL_SEED = 4242  # the evaluation's starts, the same for every run


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train_run(out: Path, seed: int, ranks: int, num_envs: int, env_steps: int, until: str) -> dict[str, Any]:
    """One training run through the CLI; ``ranks`` > 1 under torchrun (loopback only)."""
    args = ["train", "cartpole", "--out", str(out), "--seed", str(seed), "--seconds", "100000", "--no-gate", "--quiet",
            "--set", f"env.num_envs={num_envs // ranks}", "--set", f"max_env_steps={env_steps}"]
    if until == "budget":
        args += ["--set", "check_every=1000000"]
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo"}
    if ranks == 1:
        cmd = [sys.executable, "-m", "robot_learning", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(ranks), "--master-addr", "127.0.0.1",
               "--master-port", str(_free_port()), "-m", "robot_learning", *args]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    report = json.loads((out / "report.json").read_text())
    train = report["details"]["train"] if "details" in report else report["train"]
    return {"process_seconds": round(time.monotonic() - t0, 1), "train_seconds": train["wall_seconds"], "env_steps": train["env_steps"],
            "env_steps_to_success": train["env_steps_to_success"], "ranks": train.get("ranks")}


def final_policy(run: Path) -> tuple[Actor, CartPoleConfig]:
    ckpt = torch.load(run / "checkpoints" / "final.pt", map_location="cpu", weights_only=True)
    cfg = from_dict(CartPoleConfig, ckpt["config"])
    actor = Actor(OBS_LAYOUT.size, 1, cfg.ppo.actor_hidden, cfg.ppo.activation, cfg.ppo.normalize_obs)
    actor.load_state_dict(ckpt["actor"])
    return actor, cfg


def evaluate_return(actor: Actor, cfg: CartPoleConfig, episodes: int) -> float:
    """Mean undiscounted return of one training episode (``cfg.env.episode_s``) per start, deterministic actions."""
    env = CartPoleBatch(cfg.env, cfg.rewards, seed=EVAL_SEED, num_envs=episodes)
    obs = env.reset(sample_initial(np.random.default_rng(EVAL_SEED), episodes, cfg.env))
    total, alive = np.zeros(episodes), np.ones(episodes, dtype=bool)
    for _ in range(env.max_steps):
        with torch.no_grad():
            a = actor(torch.from_numpy(obs)).numpy()
        obs, r, done, _ = env.step(a)
        total += np.where(alive, r, 0.0)
        alive &= ~done
        if not alive.any():
            break
    return float(total.mean())


def _summary(values: list[float]) -> dict[str, float]:
    return {"mean": round(statistics.mean(values), 3), "sd": round(statistics.stdev(values), 3) if len(values) > 1 else 0.0}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--env-steps", type=int, default=163840, help="training budget of every run (all ranks together)")
    p.add_argument("--num-envs", type=int, default=64, help="cart-poles in all (split over the ranks)")
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--episodes", type=int, default=64, help="evaluation episodes per final policy")
    p.add_argument("--until", choices=("budget", "success"), default="budget",
                   help="budget: every run trains for --env-steps; success: the task's success check stops it (capped by --env-steps)")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    a = p.parse_args()
    if a.ranks < 2 or a.num_envs % a.ranks:
        p.error(f"--ranks must be at least 2 and divide --num-envs ({a.num_envs}), got {a.ranks}")
    torch.set_num_threads(1)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in a.seeds:
            for ranks in (1, a.ranks):
                out = Path(tmp) / f"seed{seed}_ranks{ranks}"
                row: dict[str, Any] = {"seed": seed, "ranks": ranks, "envs_per_rank": a.num_envs // ranks}
                row.update(train_run(out, seed, ranks, a.num_envs, a.env_steps, a.until))
                actor, cfg = final_policy(out)
                row["final_return"] = round(evaluate_return(actor, cfg, a.episodes), 2)
                check = check_policy(lambda o, actor=actor: actor(torch.from_numpy(o)).detach().numpy(), cfg, a.episodes, seed=EVAL_SEED)
                row["final_success_rate"] = check["success_rate"]
                row["final_abs_angle_deg"] = round(check["abs_angle_deg"], 3)
                runs.append(row)
                print(dumps(row), file=sys.stderr, flush=True)
    by = {r: [x for x in runs if x["ranks"] == r] for r in (1, a.ranks)}
    ret = {r: [x["final_return"] for x in rows] for r, rows in by.items()}
    result: dict[str, Any] = {
        "benchmark": "distributed", "task": "cartpole", "backend": "gloo (CPU, 127.0.0.1)", "seeds": a.seeds,
        "until": a.until, "env_steps_per_run": a.env_steps, "total_envs": a.num_envs, "ranks": [1, a.ranks], "eval_episodes": a.episodes,
        "episode_s": CartPoleConfig().env.episode_s, "runs": runs,
        "final_return": {str(r): _summary(v) for r, v in ret.items()},
        "final_success_rate": {str(r): _summary([x["final_success_rate"] for x in rows]) for r, rows in by.items()},
        "return_difference_mean": round(statistics.mean(ret[a.ranks]) - statistics.mean(ret[1]), 3),
        "reached_success": {str(r): f"{sum(x['env_steps_to_success'] is not None for x in rows)}/{len(rows)}" for r, rows in by.items()},
        "env_steps_to_success": {str(r): [x["env_steps_to_success"] for x in rows] for r, rows in by.items()},
        "command": "python benchmarks/distributed.py " + " ".join(sys.argv[1:]),
    }
    print(dumps(result, indent=2))
    if a.out is not None:
        write_json(a.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
