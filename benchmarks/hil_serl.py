"""HIL-SERL benchmark: the paper's Table 1 comparison on this machine, as JSON.

    python benchmarks/hil_serl.py [--observation state|image] [--seeds 0 1 2] [--steps 20000] [--episodes 50]
                                  [--methods hil_serl rlpd_no_interventions behaviour_cloning] [--reuse] [--out ...json]

Side by side in one run, each method on every seed (method by method, so an interrupted run keeps whole methods):
1. HIL-SERL: RLPD-style SAC with 20 demonstrations and the scripted human's interventions
   (`robot-learning train hil_serl`), its ONNX evaluated through the runtime in MuJoCo and PyBullet;
2. the same budget without interventions (RLPD with the same demonstrations: `--human none`);
3. behaviour cloning on the same demonstrations.
Reported per method: success rate on held-out task seeds, cycle time (steps to success), and for the
RL runs the learning curve, the intervention rate over training, learner updates per second and the
reward classifier's accuracy. The paper's Table 1 figures are printed beside ours.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robot_learning.core.runs import dumps, write_json  # noqa: E402

PAPER = {"table1_average_success_bc_or_hg_dagger": 0.497, "table1_average_success_hil_serl": 1.0,
         "table1_cycle_time_s_bc": 9.6, "table1_cycle_time_s_hil_serl": 5.4, "training_hours": "1-2.5 per task (real robot)",
         "rlpd_without_interventions_success": {"ram_insertion": 0.48, "dashboard": 0.0, "object_flipping": 1.0},
         "classifier_accuracy": "> 0.95"}


METHODS = ("hil_serl", "rlpd_no_interventions", "behaviour_cloning")
RL_RUNS = {"hil_serl": ("scripted", True), "rlpd_no_interventions": ("none", False)}  # method -> (human, PyBullet gate)


def _classifier_online(rep: dict) -> dict:
    """The reward classifier's online precision and recall from the run's confusion (rows: truth, columns: prediction)."""
    conf = rep["train"].get("classifier", {}).get("online_confusion_gt_by_pred")
    if not conf:
        return {"classifier_online_precision": None, "classifier_online_recall": None}
    (_tn, fp), (fn, tp) = conf
    return {"classifier_online_precision": tp / (tp + fp) if tp + fp else None, "classifier_online_recall": tp / (tp + fn) if tp + fn else None}


def run_method(method: str, seed: int, steps: int, episodes: int, out_root: Path, reuse: bool = False, observation: str = "state") -> dict:
    """One method on one seed: an RL run (`train hil_serl`, with or without the scripted human) or BC on the same demos."""
    from robot_learning.tasks.hil_serl import module as hil
    from robot_learning.tasks.hil_serl.train import behaviour_cloning, evaluate_module

    t0 = time.time()
    done = out_root / f"{method}-seed{seed}" / "report.json"
    if method == "behaviour_cloning":
        if reuse and done.is_file():
            print(f"[{method} seed {seed}] reusing {done}", file=sys.stderr, flush=True)
            return json.loads(done.read_text())
        cfg = hil.load_config(None, seed=seed, observation=observation)
        module, info = behaviour_cloning(cfg)
        ev = evaluate_module(module, cfg, episodes)
        row = {**info, "success_mujoco": ev["success_rate"], "cycle_time_s": ev["mean_seconds_to_success"],
               "episodes": episodes, "bench_wall_s": round(time.time() - t0, 1)}
        write_json(done, row)  # so a later --reuse invocation takes it
        return row
    human, gate = RL_RUNS[method]
    if reuse and done.is_file():  # a finished run of an earlier invocation
        rep = json.loads(done.read_text())
        print(f"[{method} seed {seed}] reusing {done}", file=sys.stderr, flush=True)
    else:
        rep = hil.train_command(out=out_root / f"{method}-seed{seed}", steps=steps, seed=seed, human=human, force=True,
                                episodes=episodes, gate=gate, observation=observation,
                                progress=lambda m, n=method: print(f"[{n} seed {seed}] {m}", file=sys.stderr, flush=True))
    s = rep["summary"]
    s["cycle_time_s"] = rep["eval"]["mujoco"].get("mean_seconds_to_success")
    s["policy_compute_ms_p99"] = rep["eval"]["mujoco"].get("policy_compute_ms", {}).get("p99")  # reports from before it was kept: None
    curve = [{k: p[k] for k in ("env_steps", "eval_success", "train_success", "intervention_rate", "wall_s")} for p in rep["train"]["curve"]]
    return {**s, **_classifier_online(rep), "curve": curve, "bench_wall_s": round(time.time() - t0, 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench-hil_serl")
    p.add_argument("--observation", choices=("state", "image"), default="state",
                   help="state (the measured object pose) or image (wrist and front cameras, the frozen pretrained encoder)")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                   help="which methods to run; each runs on every seed before the next method starts")
    p.add_argument("--reuse", action="store_true", help="take the runs (and BC results) that already have a report.json under --runs instead of training again")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "hil_serl.json")
    a = p.parse_args()
    t0 = time.time()
    runs = a.runs / a.observation if a.observation != "state" else a.runs
    seeds = [{"seed": s} for s in a.seeds]
    for method in a.methods:  # method-major: an interrupted run still has every seed of the methods it finished
        for r in seeds:
            r[method] = run_method(method, r["seed"], a.steps, a.episodes, runs, a.reuse, a.observation)

    def agg(method: str, key: str) -> dict:
        import numpy as np

        vals = [r[method][key] for r in seeds if method in r and r[method].get(key) is not None]
        return {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "per_seed": vals} if vals else {"mean": None, "per_seed": []}

    table = {m: {"success_mujoco": agg(m, "success_mujoco"), "cycle_time_s": agg(m, "cycle_time_s")}
             for m in a.methods}
    if "hil_serl" in table:
        table["hil_serl"]["success_pybullet"] = agg("hil_serl", "success_pybullet")
    for m in RL_RUNS:
        if m in table:
            table[m].update({k: agg(m, k) for k in ("first_eval_at_90", "learner_updates_per_s", "intervention_rate", "classifier_online_accuracy",
                                                     "classifier_online_precision", "classifier_online_recall", "wall_clock_s")})
    report = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "observation": a.observation, "steps": a.steps, "episodes": a.episodes,
              "methods": a.methods,
              "table": table, "seeds": seeds, "paper": PAPER, "wall_clock_s": round(time.time() - t0, 1)}
    write_json(a.out, report)
    print(dumps({"table": table, "paper": PAPER}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
