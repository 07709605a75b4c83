"""Getting-up benchmark: train on the CPU path, then the paper's Table I figures on held-out poses.

    python benchmarks/getup.py [--minutes 60] [--episodes 100] [--stage1-minutes 5] [--out benchmarks/results/getup.json]
    python benchmarks/getup.py --skip-train --policy assets/policies/g1_getup_supine.onnx assets/policies/g1_getup_prone.onnx
    python benchmarks/getup.py --stage1-only --stage1-minutes 5 --out benchmarks/results/getup.json   # refresh the Stage I curve only
    python benchmarks/getup.py --skip-train --policy P1 P2 --episodes 30 --dr-episodes 30 --terrain-episodes 30 \
        --stay-episodes 30 --pybullet-episodes 20 --khz-episodes 30 --throughput-seconds 0 --stage1-minutes 0   # the held-out table

Steps, all in one run so the figures sit side by side:
1. simulation throughput: env steps/s of the batched G1 against raw mj_step on the same model;
2. Stage II training on the CPU path (DAgger of the privileged teacher, one policy per posture) for
   at most --minutes, the run written to runs/bench-getup;
3. each exported policy through the runtime from --episodes held-out poses of its posture: MuJoCo
   primitive collisions (the training model), MuJoCo meshes (the second gate), PyBullet (second
   engine), and MuJoCo at 1 kHz physics (the paper's rate) against 500 Hz (ours); with
   --dr-episodes, the training model under each of Stage II's randomisation factors at the training
   config's range and under all of them (``eval getup --dr``); with --terrain-episodes, the 10 deg
   slope (success by heading: head uphill, across, head downhill) and the +-3 cm rough ground; with
   --stay-episodes, still up at 15 s; ``summary.table`` is the whole held-out table, each cell with
   its episode count;
4. a short Stage I (discovery) run: its learning curve (mean base and head height against steps).
The paper's Table I numbers are printed beside ours.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robot_learning.core.runs import dumps, write_json  # noqa: E402

PAPER = {"supine_success_rate": 0.9534, "prone_success_rate": 0.921, "rollover_success_rate": 0.944, "action_jitter": 0.56, "dof_pos_jitter": 0.10, "energy": 91.7,
         "real_robot_success_rate": 0.783, "real_robot_time_to_stand_s": 6.0,
         "note": "HumanUP Table I, simulation, held-out poses; trained with ~5e9 steps on a GPU"}


def throughput(seconds: float = 5.0) -> dict:
    import mujoco
    import numpy as np

    from robot_learning.sim.mujoco_batch import G1Batch, G1BatchConfig
    from robot_learning.tasks.getup.poses import fallen_pose_dataset

    data = fallen_pose_dataset(seed=0)
    poses = data["supine"]["train"][:32]
    out = {}
    for n in (128,):
        b = G1Batch(G1BatchConfig(num_envs=n, variant="primitive"))
        b.reset(np.arange(n), poses[np.arange(n) % len(poses)], None)
        tgt = b.joint_pos.copy()
        steps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            b.step(tgt)
            steps += n
        batch_rate = steps / (time.perf_counter() - t0)
        m = b.models[0]
        d = mujoco.MjData(m)
        d.qpos[:] = poses[0]
        d.ctrl[:] = poses[0][7:]
        k, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            for _ in range(b.decimation):
                mujoco.mj_step(m, d)
            k += 1
        raw_rate = k / (time.perf_counter() - t0)
        b.close()
        out[f"num_envs_{n}"] = {"batch_env_steps_per_s": round(batch_rate, 1), "raw_mj_step_env_steps_per_s_one_thread": round(raw_rate, 1),
                                "threads": os.cpu_count(), "overhead_per_thread": round(raw_rate / (batch_rate / max(1, os.cpu_count())) - 1, 3)}
    return out


def stage1_curve(minutes: float) -> dict:
    from robot_learning.tasks.getup.module import load_config
    from robot_learning.tasks.getup.train import train

    cfg = load_config(None, seconds=minutes * 60, stage="discovery", num_envs=128)
    cfg.eval_every_seconds = 1e9
    cfg.eval_episodes = 8
    rows: list[dict] = []
    train(cfg, log=lambda r: rows.append(r) if "eval" not in r else None)
    pick = rows[:: max(1, len(rows) // 20)] + rows[-1:]
    # mean base and head height of all robots at the row's time (standing starts included: their share
    # anneals 0.2 -> 0.1), and the head height at the end of the last 200 episodes
    keys = ("env_steps", "seconds", "mean_base_height_m", "mean_head_height_m", "mean_end_head_height_m", "mean_reward")
    return {"minutes": minutes, "curve": [{k: r[k] for k in keys} for r in pick]}


#: the rows of the held-out table (issue 22), from the evaluation names (``{model}`` = the training model)
TABLE_ROWS = (("nominal", "mujoco_{model}_500hz"), ("mesh collisions", "mujoco_mesh_500hz"),
              ("friction 1-3", "mujoco_{model}_dr_friction"), ("pelvis mass +-3 kg", "mujoco_{model}_dr_mass"),
              ("pelvis COM +-5 cm", "mujoco_{model}_dr_com"), ("motor strength 0.8-1.2", "mujoco_{model}_dr_motor"),
              ("action delay 0-8 ms", "mujoco_{model}_dr_delay"), ("pushes 1 m/s every 4 s", "mujoco_{model}_dr_push"),
              ("observation noise 0.02", "mujoco_{model}_dr_noise"), ("all Stage II factors", "mujoco_{model}_dr_all"),
              ("10 deg slope", "mujoco_{model}_slope"), ("+-3 cm rough", "mujoco_{model}_rough"),
              ("PyBullet", "pybullet"), ("1 kHz physics", "mujoco_{model}_1khz"), ("still up at 15 s", "mujoco_{model}_15s"))


def held_out_table(ours: dict) -> dict:
    """``{posture: {row: {success_rate, episodes, ...}}}`` in :data:`TABLE_ROWS`' order, for the cells that ran."""
    out: dict = {}
    for posture, by_model in ours.items():
        for key, cells in by_model.items():
            model = key.removeprefix("trained_on_")
            rows = {}
            for row, name in TABLE_ROWS:
                cell = cells.get(name.format(model=model))
                if cell is not None:
                    rows[row] = {k: cell[k] for k in ("success_rate", "episodes", "action_jitter", "dof_pos_jitter", "energy_J", "by_heading")
                                 if k in cell}
            out.setdefault(posture, {})[f"trained_on_{model}"] = rows
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--episodes", type=int, default=100, help="held-out poses per posture")
    p.add_argument("--pybullet-episodes", type=int, default=20, help="held-out poses per posture in PyBullet (one at a time, ~7 s each here, against a batch in MuJoCo)")
    p.add_argument("--khz-episodes", type=int, default=100, help="held-out poses per posture at 1 kHz physics")
    p.add_argument("--terrain-episodes", type=int, default=0,
                   help="held-out poses per posture on the 10 deg slope and on the rough ground (made there), each")
    p.add_argument("--stay-episodes", type=int, default=0,
                   help="held-out poses per posture run for 15 s instead of 10 (does the robot stay up?)")
    p.add_argument("--dr-episodes", type=int, default=0,
                   help="held-out poses per posture under each randomisation factor (eval getup --dr) and all together, each")
    p.add_argument("--throughput-seconds", type=float, default=5.0, help="0: skip the simulation throughput figures")
    p.add_argument("--stage1-minutes", type=float, default=5.0)
    p.add_argument("--policy", type=Path, nargs="+", default=None, help="exported policies (each evaluated on its postures)")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--stage1-only", action="store_true",
                   help="only the Stage I curve (--stage1-minutes), written into the --out file's 'stage1' (the rest kept)")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--posture", choices=("supine", "prone", "both"), default="both", help="held-out poses to evaluate")
    p.add_argument("--model", choices=("primitive", "mesh"), default=None,
                   help="collision model to train on (default: the config's, primitive)")
    p.add_argument("--prone", choices=("direct", "roll"), default=None,
                   help="from prone: roll onto the back first (HumanUP's way) or push up directly (default: the model's)")
    a = p.parse_args()
    from robot_learning.tasks.getup.module import DR_CHOICES, eval_command, train_command

    if a.stage1_only:
        import json

        if a.out is None or not a.out.is_file() or a.stage1_minutes <= 0:
            raise SystemExit("--stage1-only needs --out with an earlier result of this benchmark and --stage1-minutes > 0")
        result = json.loads(a.out.read_text())
        result["stage1"] = stage1_curve(a.stage1_minutes)
        write_json(a.out, result)
        print(dumps(result["stage1"]))
        return 0
    result: dict = {"paper": PAPER, "machine": {"cpus": os.cpu_count()}}
    if a.throughput_seconds > 0:
        result["throughput"] = throughput(a.throughput_seconds)
    policies = list(a.policy or [])
    if not a.skip_train:
        rep = train_command(ROOT / "runs" / "bench-getup", None, a.minutes * 60, 0, force=True, progress=True,
                            posture=None if a.posture == "both" else a.posture, model=a.model, prone=a.prone)
        result["training"] = {"minutes": a.minutes, "command": rep["command"], "method": rep.get("method", "ppo"),
                              "env_steps": rep["train"]["env_steps"], "wall_clock_s": rep["train"]["wall_clock_s"],
                              "best_eval_in_training": rep["best_eval"], "run": rep["run"]}
        policies = [Path(v["policy"]) for v in rep["policies"].values()] if "policies" in rep else [Path(rep["run"]) / "policy.onnx"]
    if not policies:
        raise SystemExit("--skip-train needs --policy")
    from robot_learning.runtime.policy import PolicyRunner

    ev: dict = {}
    for pol in policies:
        # the paper's 1 kHz on the collision model the policy was trained on
        trained_on = PolicyRunner(pol).metadata.training.get("collision_model", "primitive")
        runs = {"mujoco_primitive_500hz": dict(sim="mujoco", model="primitive", episodes=a.episodes),
                "mujoco_mesh_500hz": dict(sim="mujoco", model="mesh", episodes=a.episodes),
                f"mujoco_{trained_on}_1khz": dict(sim="mujoco", model=trained_on, episodes=a.khz_episodes, physics_dt=0.001),
                "pybullet": dict(sim="pybullet", episodes=a.pybullet_episodes),
                f"mujoco_{trained_on}_slope": dict(sim="mujoco", model=trained_on, episodes=a.terrain_episodes, terrain="slope"),
                f"mujoco_{trained_on}_rough": dict(sim="mujoco", model=trained_on, episodes=a.terrain_episodes, terrain="rough"),
                f"mujoco_{trained_on}_15s": dict(sim="mujoco", model=trained_on, episodes=a.stay_episodes, seconds=15.0)}
        runs.update({f"mujoco_{trained_on}_dr_{f}": dict(sim="mujoco", model=trained_on, episodes=a.dr_episodes, dr=f)
                     for f in DR_CHOICES if f != "none"})
        for name, kw in runs.items():
            if kw["episodes"] > 0:
                ev.setdefault(name, []).append(  # each result names its policy and the model it was trained on
                    eval_command(pol, posture=None if len(policies) > 1 or a.posture == "both" else a.posture, **kw))
    result["evaluation"] = ev
    # the headline: success per posture and engine, beside the paper's
    table = {}
    for name, results in ev.items():
        for r in results:
            for posture in ("supine", "prone"):
                if posture in r:  # per posture, the collision model the policy was trained on, and engine
                    table.setdefault(posture, {}).setdefault(f"trained_on_{r['trained_on']}", {})[name] = {
                        k: r[posture][k] for k in ("episodes", "success_rate", "time_to_stand_s", "action_jitter", "dof_pos_jitter", "energy_J",
                                                   "rolled_over", "by_heading") if k in r[posture]}
    result["summary"] = {"ours": table, "table": held_out_table(table), "paper_success": {"supine": PAPER["supine_success_rate"], "prone": PAPER["prone_success_rate"],
                                                          "rollover": PAPER["rollover_success_rate"]}}
    if a.stage1_minutes > 0:
        result["stage1"] = stage1_curve(a.stage1_minutes)
    elif a.out and a.out.is_file():  # skipped this time: keep the previous run's curve, marked as such
        import json

        old = json.loads(a.out.read_text()).get("stage1")
        if old:
            result["stage1"] = {**old, "note": "kept from an earlier run of this benchmark (--stage1-minutes 0)"}
    if a.out:
        write_json(a.out, result)
    print(dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
