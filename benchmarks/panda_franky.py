"""The Panda adapter against the runtime's own evaluator: the shipped pick-and-place policy on the same
held-out scenes, once through the task's evaluator (the runtime over the in-process transport) and
once through the adapter interface on the simulated arm (SimulatedArm, the runner's extra monitors in
front), per engine.

    python benchmarks/panda_franky.py [--episodes 50] [--sims mujoco pybullet] [--out benchmarks/results/panda_franky.json]

Prints JSON: per engine, both success rates, mean steps to success, faults, stops and wall-clock,
and the difference of the rates with its binomial standard error.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robot_learning.hardware.panda.runner import (
    DEFAULT_POLICY,
    evaluate_on_simulated_arm,
)
from robot_learning.tasks.hil_serl.evaluate import evaluate_policy


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=10_000)
    p.add_argument("--sims", nargs="+", default=["mujoco", "pybullet"], choices=["mujoco", "pybullet"])
    p.add_argument("--policy", type=Path, default=DEFAULT_POLICY)
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args(argv)
    if a.episodes < 1:
        p.error(f"--episodes must be at least 1, got {a.episodes}")
    rows = {}
    for sim in a.sims:
        runtime = evaluate_policy(a.policy, sim, episodes=a.episodes, seed=a.seed)
        adapter = evaluate_on_simulated_arm(a.policy, sim, episodes=a.episodes, seed=a.seed)
        pr, pa = runtime["success_rate"], adapter["success_rate"]
        same = sum(x["success"] == y["success"] for x, y in zip(runtime["per_episode"], adapter["per_episode"]))
        rows[sim] = {
            "runtime": {"success_rate": pr, "mean_steps_to_success": runtime["mean_steps_to_success"],
                        "faults": runtime["runtime"]["faults"], "wall_s": runtime["wall_s"]},
            "adapter": {"success_rate": pa, "mean_steps_to_success": adapter["mean_steps_to_success"], "faults": adapter["faults"],
                        "stops": adapter["stops"], "wall_s": adapter["wall_s"],
                        "compute_p99_ms": adapter["timing"].get("compute_p99_ms")},
            "difference": round(pa - pr, 4),
            "binomial_se": round(float(np.sqrt(max(pr * (1 - pr), 1e-12) / a.episodes)), 4),
            "episodes_with_the_same_outcome": same,
        }
    out = {"command": "python benchmarks/panda_franky.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "policy": str(a.policy.relative_to(ROOT) if a.policy.is_relative_to(ROOT) else a.policy), "episodes": a.episodes,
           "seed": a.seed, "machine": "2-core CPU, no GPU (shared with a training run)", "sims": rows}
    text = json.dumps(out, indent=1)
    print(text)
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
