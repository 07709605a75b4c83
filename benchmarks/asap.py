"""ASAP open-loop alignment benchmark: how well does each aligned simulator reproduce the target
world's held-out sessions when replaying their recorded actions open loop?

    python benchmarks/asap.py --logs runs/asap-worn/logs --delta runs/asap-worn/fit/delta_action.onnx \
        [--holdout 2] [--out benchmarks/results/asap_openloop.json]

Rows: the raw simulator, SysID (grid search over Kp and Kd scales and latency), DeltaDynamics (a
learned residual on the transition), ASAP (the delta-action model from `asap fit-delta`, trained on
the same non-held-out sessions). Columns: mean absolute joint-position error (rad) over 0.25, 0.5 and
1 s horizons. Prints JSON and a Markdown table. (The closed-loop comparison with fine-tuned tracking
policies is not built yet.)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from robot_learning.tasks.asap.baselines import DeltaDynamics, fit_sysid  # noqa: E402
from robot_learning.tasks.asap.delta import OnnxDeltaModel, load_recordings  # noqa: E402
from robot_learning.tasks.asap.replay import SimParams, replay_error  # noqa: E402

HORIZONS = (0.25, 0.5, 1.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--logs", required=True, type=Path, help="directory of target-world sessions (*.mcap)")
    ap.add_argument("--delta", type=Path, default=None, help="delta_action.onnx from `asap fit-delta` on the same logs (same --holdout)")
    ap.add_argument("--holdout", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=None, help="PNG: per-joint open-loop error at 1 s before and after alignment")
    args = ap.parse_args(argv)
    recs = load_recordings(args.logs)
    if len(recs) <= args.holdout:
        raise SystemExit(f"need more than {args.holdout} sessions in {args.logs}")
    train, held = recs[:-args.holdout], recs[-args.holdout:]
    t0 = time.time()
    sysid, sysid_info = fit_sysid(train, seed=args.seed)
    dyn = DeltaDynamics(seed=args.seed)
    dyn_info = dyn.fit(train)
    rows: dict[str, dict[str, float]] = {"raw": {}, "sysid": {}, "delta_dynamics": {}}
    delta = OnnxDeltaModel(args.delta) if args.delta else None
    if delta is not None:
        rows["asap_delta_action"] = {}
    for h in HORIZONS:
        raw, fitted = replay_error(held, h, [SimParams(), sysid], seed=args.seed)
        rows["raw"][f"{h:g}s"], rows["sysid"][f"{h:g}s"] = float(raw), float(fitted)
        rows["delta_dynamics"][f"{h:g}s"] = float(replay_error(held, h, dynamics=dyn, seed=args.seed)[0])
        if delta is not None:
            rows["asap_delta_action"][f"{h:g}s"] = float(replay_error(held, h, delta=delta, seed=args.seed)[0])
    result = {"benchmark": "asap_open_loop", "logs": str(args.logs), "train_sessions": len(train), "held_out_sessions": len(held),
              "metric": "mean absolute joint-position error (rad) of open-loop replays from recorded states",
              "rows": rows, "sysid": {**sysid.__dict__, **sysid_info}, "delta_dynamics_fit": dyn_info,
              "seconds": round(time.time() - t0, 1)}
    text = json.dumps(result, indent=2)
    print(text)
    print("\n| method | " + " | ".join(f"{h:g} s" for h in HORIZONS) + " |\n|---|" + "---|" * len(HORIZONS))
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(f"{r[f'{h:g}s']:.4f}" for h in HORIZONS) + " |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    if args.plot:
        per = {"raw": replay_error(held, 1.0, seed=args.seed, per_joint=True)[0],
               "sysid": replay_error(held, 1.0, [sysid], seed=args.seed, per_joint=True)[0],
               "delta_dynamics": replay_error(held, 1.0, dynamics=dyn, seed=args.seed, per_joint=True)[0]}
        if delta is not None:
            per["asap_delta_action"] = replay_error(held, 1.0, delta=delta, seed=args.seed, per_joint=True)[0]
        plot_per_joint(per, args.plot, title=f"open-loop joint error at 1 s, held-out sessions of {args.logs}")
        print(f"wrote {args.plot}")
    return 0


def plot_per_joint(per: dict[str, np.ndarray], path: Path, title: str) -> None:
    """Grouped bars: per-joint mean absolute error (rad) of each method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from robot_learning.robots.g1 import G1_SPEC

    names = [n.replace("_joint", "") for n in G1_SPEC.joint_names]
    x = np.arange(len(names))
    w = 0.8 / len(per)
    fig, ax = plt.subplots(figsize=(14, 4.5))
    for i, (label, values) in enumerate(per.items()):
        ax.bar(x + (i - (len(per) - 1) / 2) * w, values, w, label=label)
    ax.set_xticks(x, names, rotation=70, ha="right", fontsize=8)
    ax.set_ylabel("mean |joint error| (rad)")
    ax.set_title(title, fontsize=10)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
