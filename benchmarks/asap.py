"""ASAP open-loop alignment benchmark: how well does each aligned simulator reproduce the target
world's held-out sessions when replaying their recorded actions open loop?

    python benchmarks/asap.py --logs runs/asap-worn/logs --delta runs/asap-worn/fit/delta_action.onnx \
        [--holdout 2] [--out benchmarks/results/asap_openloop.json]

Rows: the raw simulator, SysID (grid search over Kp and Kd scales and latency, then joint damping and
friction), DeltaDynamics (a
learned residual on the transition), ASAP (the delta-action model from `asap fit-delta`, trained on
the same non-held-out sessions). Columns: mean absolute joint-position error (rad) over 0.25, 0.5 and
1 s horizons. Prints JSON and a Markdown table.

The whole loop (closed loop: pre-trained and fine-tuned tracking policies deployed in the target
world), from the run directories of `python -m robot_learning asap run` (one per target world), or
running them first with --target-world:

    python benchmarks/asap.py --runs runs/asap-loop-worn runs/asap-loop-heavy runs/asap-loop-loaded \
        [--out benchmarks/results/asap_loop.json] [--plot benchmarks/results/asap_loop_per_joint.png]

Open loop over seeds (every alignment refitted without the held-out motions, per seed, from the
pre-trained policy's session of each run):

    python benchmarks/asap.py --open-loop runs/asap-loop-worn runs/asap-loop-heavy --seeds 0 1 2 \
        [--out benchmarks/results/asap_open_loop_seeds.json]
    python benchmarks/asap.py --target-world worn_actuators --target-world loaded_fast [--pretrained PT]

Prints, per target world, closed-loop MPJPE / joint / velocity / acceleration errors and success of
the pre-trained policy and of the policies fine-tuned with SysID, DR, DeltaDynamics and ASAP, the
open-loop errors on the held-out motions, and the relative reductions beside the paper's.
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
    ap.add_argument("--logs", type=Path, default=None, help="directory of target-world sessions (*.mcap)")
    ap.add_argument("--runs", type=Path, nargs="+", default=None, help="`asap run` directories to tabulate (closed loop)")
    ap.add_argument("--target-world", action="append", default=None, help="run `asap run` for this world first (repeatable)")
    ap.add_argument("--pretrained", type=Path, default=None, help="with --target-world: the pre-trained checkpoint to start from")
    ap.add_argument("--open-loop", type=Path, nargs="+", default=None,
                    help="`asap run` directories: refit the alignments without the held-out motions for every --seeds and replay them")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--delta-seconds", type=float, default=300.0)
    ap.add_argument("--delta", type=Path, default=None, help="delta_action.onnx from `asap fit-delta` on the same logs (same --holdout)")
    ap.add_argument("--holdout", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=None, help="PNG: per-joint open-loop error at 1 s before and after alignment")
    args = ap.parse_args(argv)
    if args.open_loop:
        return open_loop_seeds(args)
    if args.runs or args.target_world:
        return loop_tables(args)
    if args.logs is None:
        ap.error("give --logs (open loop on sessions), or --runs / --target-world (the whole loop)")
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


PAPER = {"open_loop_1s_mpjpe_mm": (80.8, 37.9), "closed_loop_genesis_mpjpe_mm": (169.0, 126.0), "real_g1_kick_mpjpe_mm": (61.2, 50.2)}


def open_loop_seeds(args: argparse.Namespace) -> int:
    """Open loop over several seeds, from the pre-trained policy's session of each `asap run`."""
    from robot_learning.tasks.asap.deploy import split_by_motion
    from robot_learning.tasks.asap.loop import open_loop
    from robot_learning.tasks.asap.tracking import load_routine

    out: dict[str, dict] = {}
    for run in args.open_loop:
        rep = json.loads((run / "report.json").read_text())
        world, held = rep["target_world"], rep["held_out"]
        routine = load_routine(rep["config"]["motions"])
        rec = load_recordings(run / "sessions" / f"{world}_pretrained.mcap")[0]
        stems = [Path(m).stem for m in rep["config"]["motions"]]
        train = split_by_motion(rec, routine.segments, [m for m in stems if m not in held])
        test = split_by_motion(rec, routine.segments, held)
        per_seed = []
        for seed in args.seeds:
            t0 = time.time()
            table, info = open_loop(train, test, args.delta_seconds, seed)
            per_seed.append({"seed": seed, "table": table, "delta_last_reward": info["delta"]["last_reward"],
                             "sysid": info["sysid"], "seconds": round(time.time() - t0, 1)})
            print(f"{world} seed {seed}: " + json.dumps({m: v["1s"] for m, v in table.items()}), file=sys.stderr)
        methods = list(per_seed[0]["table"])
        mean = {m: {h: float(np.mean([p["table"][m][h] for p in per_seed])) for h in per_seed[0]["table"][m]} for m in methods}
        std = {m: {h: float(np.std([p["table"][m][h] for p in per_seed])) for h in per_seed[0]["table"][m]} for m in methods}
        out[world] = {"run": str(run), "held_out": [t.name.split(":")[-1] for t in test], "seeds": args.seeds,
                      "delta_seconds": args.delta_seconds, "mean": mean, "std": std, "per_seed": per_seed,
                      "asap_below_raw_at_every_horizon_every_seed": all(p["table"]["asap"][h] < p["table"]["raw"][h]
                                                                        for p in per_seed for h in p["table"]["raw"])}
    result = {"benchmark": "asap_open_loop_held_out_motions", "metric": "mean absolute joint error (rad), open-loop replays from recorded states",
              "worlds": out, "paper_open_loop_1s_mpjpe_mm": PAPER["open_loop_1s_mpjpe_mm"]}
    text = json.dumps(result, indent=2)
    print(text)
    for world, e in out.items():
        print(f"\n**{world}**, open loop on {e['held_out']} (mean +- std over seeds {e['seeds']}, rad)\n")
        print("| method | " + " | ".join(f"{h:g} s" for h in HORIZONS) + " |\n|---|" + "---|" * len(HORIZONS))
        for m in e["mean"]:
            print(f"| {m} | " + " | ".join(f"{e['mean'][m][f'{h:g}s']:.4f} +- {e['std'][m][f'{h:g}s']:.4f}" for h in HORIZONS) + " |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


def loop_tables(args: argparse.Namespace) -> int:
    """Tabulate (and optionally first run) `asap run` for one or more target worlds."""
    from robot_learning.tasks.asap.loop import LoopConfig, run_loop
    from robot_learning.tasks.asap.tracking import load_routine

    runs = list(args.runs or [])
    for world in args.target_world or []:
        out = Path("runs") / f"asap-bench-{world}-{time.strftime('%Y%m%d-%H%M%S')}"
        run_loop(LoopConfig(target_world=world, out=str(out), pretrained=str(args.pretrained) if args.pretrained else None,
                            seed=args.seed), progress=lambda m: print(m, file=sys.stderr))
        runs.append(out)
    worlds: dict[str, dict] = {}
    per_joint: dict[str, dict[str, np.ndarray]] = {}
    for run in runs:
        rep = json.loads((run / "report.json").read_text())
        closed = {m: {**r["overall"], "completed": r["completed"], "tracked_s": r.get("tracked_s")} for m, r in rep["closed_loop"].items()}
        pre = closed["pretrained"]["mpjpe_mm"]
        best_baseline = min(v["mpjpe_mm"] for m, v in closed.items() if m not in ("pretrained", "asap") and v["completed"])
        entry = {"run": str(run), "closed_loop": closed, "open_loop": rep["open_loop"], "open_loop_motions": rep.get("open_loop_motions"),
                 "asap_vs_pretrained_mpjpe_reduction": 1.0 - closed["asap"]["mpjpe_mm"] / pre,
                 "asap_beats_every_baseline_and_pretrained": bool(closed["asap"]["completed"] and closed["asap"]["mpjpe_mm"] < min(pre, best_baseline)),
                 "sysid_fit": rep.get("fit_all", {}).get("sysid"), "timings_s": rep.get("timings_s")}
        if rep["open_loop"].get("raw"):
            entry["open_loop_1s_reduction"] = {m: 1.0 - v["1s"] / rep["open_loop"]["raw"]["1s"] for m, v in rep["open_loop"].items() if m != "raw"}
        worlds[rep["target_world"]] = entry
        routine = load_routine(rep["config"]["motions"])
        per_joint[rep["target_world"]] = {}
        for m in rep["closed_loop"]:
            rec = load_recordings(run / "sessions" / f"{rep['target_world']}_{m}.mcap")[0]
            n = rec.num_steps + 1
            per_joint[rep["target_world"]][m] = np.abs(rec.joint_pos - routine.joint_pos[:n]).mean(0)
    result = {"benchmark": "asap_loop", "worlds": worlds, "paper_before_after": PAPER,
              "metric": "closed loop: the policy through the runtime in the target world over the whole routine"}
    text = json.dumps(result, indent=2)
    print(text)
    for world, e in worlds.items():
        print(f"\n**{world}** (closed loop)\n\n| method | MPJPE (mm) | joint error (rad) | vel error (mm/frame) | acc error (mm/frame^2) | success | completed |")
        print("|---|---|---|---|---|---|---|")
        for m, v in e["closed_loop"].items():
            print(f"| {m} | {v['mpjpe_mm']:.1f} | {v['joint_pos_error_rad']:.4f} | {v['vel_error_mm_per_frame']:.2f} | "
                  f"{v['acc_error_mm_per_frame2']:.3f} | {'yes' if v['success'] else 'no'} | {'yes' if v['completed'] else 'no'} |")
        if e["open_loop"].get("raw"):
            print(f"\n**{world}** (open loop on {e['open_loop_motions']}, mean joint error, rad)\n")
            print("| method | " + " | ".join(f"{h:g} s" for h in HORIZONS) + " |\n|---|" + "---|" * len(HORIZONS))
            for m, r in e["open_loop"].items():
                print(f"| {m} | " + " | ".join(f"{r[f'{h:g}s']:.4f}" for h in HORIZONS) + " |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    if args.plot:
        for world, per in per_joint.items():
            path = args.plot.with_name(f"{args.plot.stem}_{world}{args.plot.suffix}")
            plot_per_joint(per, path, title=f"closed-loop joint tracking error in {world}, before (pretrained) and after alignment")
            print(f"wrote {path}")
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
