"""Cart-pole benchmark (the template task): prints one JSON object, every figure measured in this run.

    python benchmarks/cartpole.py [--seeds 0 1 2] [--episodes 100] [--out benchmarks/results/cartpole.json]

Per seed: `train cartpole` (PPO until the success check in the training simulator reaches the
config's target; wall-clock and env steps to success), then the exported policy through the runtime
in MuJoCo and in PyBullet (success rate over ``--episodes`` tilted starts), beside a do-nothing
policy (the cart held at the centre) in both engines.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robot_learning.core.runs import dumps, write_json  # noqa: E402
from robot_learning.export.onnx_export import export_policy  # noqa: E402
from robot_learning.tasks.cartpole.config import CartPoleConfig  # noqa: E402
from robot_learning.tasks.cartpole.evaluate import ENGINES, evaluate  # noqa: E402
from robot_learning.tasks.cartpole.module import make_metadata, train_command  # noqa: E402


class Zero(torch.nn.Module):
    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs[:, :1] * 0.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    a = p.parse_args()
    cfg = CartPoleConfig()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        zero = Path(tmp) / "zero.onnx"
        export_policy(Zero(), make_metadata(cfg, {"algorithm": "none"}), zero)
        baseline = {e: evaluate(str(zero), e, cfg.eval, cfg.env, a.episodes, seed=12345)["success_rate"] for e in ENGINES}
        for seed in a.seeds:
            rep = train_command(out=Path(tmp) / f"seed{seed}", seed=seed, gate=False)
            policy = str(Path(tmp) / f"seed{seed}" / "policy.onnx")
            row = {"seed": seed, "seconds_to_success": rep["train"]["seconds_to_success"],
                   "env_steps_to_success": rep["train"]["env_steps_to_success"], "train_seconds": rep["train"]["wall_seconds"],
                   "parity_max_abs_diff": rep["export"]["parity_max_abs_diff"]}
            for e in ENGINES:
                row[f"success_rate_{e}"] = evaluate(policy, e, cfg.eval, cfg.env, a.episodes, seed=12345)["success_rate"]
            runs.append(row)
            print(dumps(row), file=sys.stderr, flush=True)
    to_success = [r["seconds_to_success"] for r in runs if r["seconds_to_success"] is not None]
    out = {"benchmark": "cartpole", "episodes": a.episodes, "seeds": a.seeds, "runs": runs,
           "reached_success": f"{len(to_success)}/{len(runs)}",
           "seconds_to_success_median": float(np.median(to_success)) if to_success else None,
           **{f"success_rate_{e}_mean": round(float(np.mean([r[f'success_rate_{e}'] for r in runs])), 4) for e in ENGINES},
           **{f"do_nothing_success_rate_{e}": baseline[e] for e in ENGINES}}
    if a.out is not None:
        write_json(a.out, out)
    print(dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
