"""Quadrotor benchmark: prints one JSON object with the module's figures, all measured in this run.

    python benchmarks/quadrotor.py [--seconds 900] [--seed 0] [--episodes 100] [--out runs/bench-quadrotor]

Figures:
- training: wall-clock time to >= 95 % success (periodic evaluation in the training simulator,
  evaluation time excluded), env steps and updates to success, env steps per second while training;
- simulator throughput: batched torch Crazyflie steps per second (1 to 16384 vehicles) and the
  equivalent months of simulated flight per second;
- hover success and error in the training simulator and in PyBullet through the runtime (the
  sim-to-sim gap), and figure-eight tracking error in PyBullet;
- runtime latency: ONNX Runtime policy inference and a whole controller tick, percentiles;
- the real-time loop's period, jitter and deadline misses at the policy's rate.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robot_learning.core.runs import dumps  # noqa: E402
from robot_learning.robots.crazyflie import DEFAULT_PARAMS  # noqa: E402
from robot_learning.sim.torch_quadrotor import BatchedQuadrotor  # noqa: E402
from robot_learning.tasks.quadrotor import module as quad  # noqa: E402


def sim_throughput(sizes: tuple[int, ...] = (1, 64, 1024, 4096, 16384), steps: int = 200) -> dict[str, float]:
    torch.set_num_threads(2)
    sim = BatchedQuadrotor(DEFAULT_PARAMS)
    out = {}
    with torch.inference_mode():
        for n in sizes:
            x = sim.hover_state(n)
            a = torch.full((n, 4), DEFAULT_PARAMS.hover_action)
            for _ in range(5):
                x = sim.step(x, a)
            t = time.perf_counter()
            for _ in range(steps):
                x = sim.step(x, a)
            out[str(n)] = n * steps / (time.perf_counter() - t)
    best = max(out.values())
    return {"steps_per_second": {k: round(v) for k, v in out.items()}, "best_steps_per_second": round(best),
            "months_of_flight_per_second": round(quad.simulated_flight_rate(best), 6)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=900.0, help="training time bound")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-quadrotor")
    args = ap.parse_args()
    report = quad.train_command(out=args.out, config=None, seconds=args.seconds, seed=args.seed, episodes=args.episodes,
                                gate=True, force=True, progress=False)
    deploy = quad.deploy_command(args.out / "policy.onnx", robot="crazyflie", sim="pybullet", seconds=10.0, trajectory="figure8", realtime=True)
    t = report["train"]
    result = {
        "benchmark": "quadrotor",
        "machine": report["machine"],
        "train_seconds_to_95pct_success": t["seconds_to_success"],
        "env_steps_to_95pct_success": t["env_steps_to_success"],
        "train_wall_seconds": t["wall_seconds"],
        "train_env_steps": t["env_steps"],
        "train_env_steps_per_second": t["env_steps_per_second"],
        "critic_updates": t["critic_updates"],
        "actor_updates": t["actor_updates"],
        "critic_updates_per_second": round(t["critic_updates"] / max(t["wall_seconds"], 1e-9), 1),
        "simulator": sim_throughput(),
        "hover_torch": {k: report["eval_torch"][k] for k in ("episodes", "success_rate", "termination_rate", "hover_error_m", "hover_error_p95_m")},
        "hover_pybullet": {k: report["eval_pybullet"][k] for k in ("episodes", "success_rate", "termination_rate", "hover_error_m", "hover_error_p95_m")},
        "figure8_pybullet": {k: report["figure8_pybullet"][k] for k in ("tracking_rmse_m", "tracking_max_m")},
        "onnx_parity_max_abs_diff": report["export"]["parity_max_abs_diff"],
        "runtime_policy_latency_us": {k: report["eval_pybullet"].get(k) for k in ("policy_latency_p50_us", "policy_latency_p99_us")},
        "realtime_loop": deploy["timing"],
        "realtime_tick_latency_us": {k: deploy.get(k) for k in ("policy_latency_p50_us", "policy_latency_p99_us")},
    }
    print(dumps(result, indent=2))


if __name__ == "__main__":
    main()
