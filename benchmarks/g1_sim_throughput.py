"""G1 simulation throughput for getting-up training: G1Batch (mujoco.rollout on threads) against raw
``mj_step`` on one MjData in a Python loop, side by side in one run.

    python benchmarks/g1_sim_throughput.py [--steps 40] [--out benchmarks/results/g1_sim_throughput.json]

Workload (as in HumanUP): lying robots in contact with the floor. 16 distinct fallen poses (8 face up,
8 face down; joints randomised around the default pose, dropped from 0.5 m and settled 1.5 s) are
tiled over the environments; each policy step holds targets = the fallen pose + uniform noise of
+-0.3 rad (seeded), so the robots move and contacts change.

Figures ("env steps" = policy steps of 0.02 s, one environment):

- ``raw``: one MjData on the batch's model, the 16 poses one after the other, per env step
  ``d.ctrl[:] = target; mj_step(m, d, nstep=decimation)``: the single-core reference, measured
  alternately with each batch row (``raw_env_steps_per_s_alongside``; ratios use it) because the
  machine may be shared; ``raw_env_steps_per_s`` is the best of these;
- ``batch``: G1Batch.step for num_envs in (64, 256) and threads in (1, 2);
  ``overhead_vs_raw`` = raw rate / batch rate at 1 thread - 1 (what batching costs on one core),
  ``speedup_vs_raw`` = batch rate / raw rate;
- ``physics_1khz_vs_500hz``: the same at physics_dt 0.001 / decimation 20 against 0.002 / 10;
- ``domain_randomisation``: bytes and time per MjModel copy, time of ``randomize`` per env, and the
  step rate with one randomised model per environment against the shared model.

Absolute numbers depend on the machine and its load (reported); compare within one run.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time
from pathlib import Path

import mujoco
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robot_learning.sim.mujoco_batch import G1Batch, G1BatchConfig, quat_from_pitch

N_POSES = 16


def fallen_poses(batch: G1Batch, seed: int = 0) -> np.ndarray:
    """(16, nq) settled fallen states: 8 face up, 8 face down, joints randomised around default."""
    rng = np.random.default_rng(seed)
    default = batch.desc.array("default_positions")
    lo, hi = batch.desc.array("position_lower"), batch.desc.array("position_upper")
    drops = []
    for i in range(N_POSES):
        joints = np.clip(default + rng.uniform(-0.5, 0.5, batch.nu), lo, hi)
        pitch = -np.pi / 2 if i % 2 == 0 else np.pi / 2
        drops.append(batch.default_qpos(joints, base_height=0.5, base_quat=quat_from_pitch(pitch)))
    qpos, _ = batch.settle(np.stack(drops), seconds=1.5)
    return qpos


def target_sequence(poses: np.ndarray, steps: int, seed: int = 1) -> np.ndarray:
    """(steps, 16, 23) targets: each pose's joints + uniform noise of +-0.3 rad."""
    rng = np.random.default_rng(seed)
    return poses[None, :, 7:] + rng.uniform(-0.3, 0.3, (steps, len(poses), poses.shape[1] - 7))


def time_raw(batch: G1Batch, poses: np.ndarray, targets: np.ndarray) -> float:
    """Env steps per second of one MjData stepping the 16 poses one after the other."""
    m = batch.model
    d = mujoco.MjData(m)
    steps = targets.shape[0]
    elapsed = 0.0
    for i in range(len(poses)):
        mujoco.mj_resetData(m, d)
        d.qpos[:] = poses[i]
        mujoco.mj_forward(m, d)
        t0 = time.perf_counter()
        for t in range(steps):
            d.ctrl[:] = targets[t, i]
            mujoco.mj_step(m, d, nstep=batch.decimation)
        elapsed += time.perf_counter() - t0
    return len(poses) * steps / elapsed


def time_batch(batch: G1Batch, poses: np.ndarray, targets: np.ndarray) -> float:
    """Env steps per second of G1Batch.step (poses tiled over the environments)."""
    n = batch.num_envs
    tile = np.arange(n) % len(poses)
    batch.reset(np.arange(n), poses[tile])
    batch.step(targets[0][tile])  # warm-up (thread pool start)
    batch.reset(np.arange(n), poses[tile])
    steps = targets.shape[0]
    t0 = time.perf_counter()
    for t in range(steps):
        batch.step(targets[t][tile])
    return n * steps / (time.perf_counter() - t0)


def run_variant(variant: str, steps: int, repeats: int) -> dict[str, object]:
    out: dict[str, object] = {}
    for physics_dt, decimation in ((0.002, 10), (0.001, 20)):
        hz = f"{round(1 / physics_dt)}hz"
        probe = G1Batch(G1BatchConfig(num_envs=1, variant=variant, physics_dt=physics_dt,
                                      decimation=decimation, threads=1))
        poses = fallen_poses(probe)
        targets = target_sequence(poses, steps)
        raw_rates = []
        rows = []
        env_counts = (64, 256) if physics_dt == 0.002 else (64,)
        for num_envs in env_counts:
            for threads in (1, 2):
                with G1Batch(G1BatchConfig(num_envs=num_envs, variant=variant, physics_dt=physics_dt,
                                           decimation=decimation, threads=threads)) as batch:
                    # raw and batch alternate, so that both see the same machine load
                    rate, raw = 0.0, 0.0
                    for _ in range(repeats):
                        raw = max(raw, time_raw(probe, poses, targets))
                        rate = max(rate, time_batch(batch, poses, targets))
                raw_rates.append(raw)
                rows.append({
                    "num_envs": num_envs, "threads": threads,
                    "env_steps_per_s": round(rate, 1),
                    "physics_steps_per_s": round(rate * decimation, 1),
                    "raw_env_steps_per_s_alongside": round(raw, 1),
                    "speedup_vs_raw": round(rate / raw, 3),
                    **({"overhead_vs_raw": round(raw / rate - 1.0, 4)} if threads == 1 else {}),
                })
        probe.close()
        raw = max(raw_rates)
        out[hz] = {
            "physics_dt": physics_dt, "decimation": decimation,
            "raw_env_steps_per_s": round(raw, 1), "raw_physics_steps_per_s": round(raw * decimation, 1),
            "batch": rows,
        }
    r500, r1k = out["500hz"], out["1000hz"]  # type: ignore[index]
    out["physics_1khz_vs_500hz"] = {
        "raw_cost_ratio": round(r500["raw_env_steps_per_s"] / r1k["raw_env_steps_per_s"], 3),
        "batch_64env_2thread_cost_ratio": round(
            next(r["env_steps_per_s"] for r in r500["batch"] if r["num_envs"] == 64 and r["threads"] == 2)
            / next(r["env_steps_per_s"] for r in r1k["batch"] if r["threads"] == 2), 3),
    }
    out["domain_randomisation"] = measure_dr(variant, steps)
    return out


def measure_dr(variant: str, steps: int) -> dict[str, float]:
    """Cost of per-environment model copies for domain randomisation."""
    num_envs = 64 if variant == "primitive" else 16  # a mesh model copy is ~44 MB
    with G1Batch(G1BatchConfig(num_envs=num_envs, variant=variant, threads=2)) as batch:
        m = batch.model
        t0 = time.perf_counter()
        copies = [copy.copy(m) for _ in range(8)]
        copy_ms = (time.perf_counter() - t0) / len(copies) * 1e3
        del copies
        poses = fallen_poses(batch)
        targets = target_sequence(poses, steps)
        shared = time_batch(batch, poses, targets)
        t0 = time.perf_counter()
        batch.sample_randomization(np.arange(num_envs))  # first call: copies
        first_ms = (time.perf_counter() - t0) / num_envs * 1e3
        t0 = time.perf_counter()
        batch.sample_randomization(np.arange(num_envs))  # later calls: in place
        again_ms = (time.perf_counter() - t0) / num_envs * 1e3
        own = time_batch(batch, poses, targets)
    return {
        "num_envs": num_envs,
        "model_bytes": int(m.nbuffer),
        "model_copy_ms": round(copy_ms, 3),
        "randomize_first_call_ms_per_env": round(first_ms, 3),
        "randomize_again_ms_per_env": round(again_ms, 4),
        "step_rate_own_models_vs_shared": round(own / shared, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="policy steps per environment and run")
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs")
    parser.add_argument("--variants", default="primitive,mesh")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    t0 = time.perf_counter()
    result: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "mujoco": mujoco.__version__,
                    "loadavg_start": [round(x, 2) for x in os.getloadavg()]},
        "workload": f"{N_POSES} settled fallen poses tiled over the envs, targets = pose + U(-0.3, 0.3) rad",
        "steps_per_env": args.steps,
    }
    for variant in args.variants.split(","):
        result[variant] = run_variant(variant, args.steps, args.repeats)
    result["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]  # type: ignore[index]
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
