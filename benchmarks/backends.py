"""The batched-G1 backends side by side: env steps/s per backend, device and world count, beside raw
``mj_step`` on one MjData and G1Batch (``mujoco.rollout``) on the same model; MuJoCo Warp's kernel
compile time with a cold cache and the time a second process takes to start stepping with the warm
one; and how closely Warp agrees with MuJoCo's C engine.

    python benchmarks/backends.py [--worlds 16,64,256] [--steps 10] [--device cpu|cuda:0]
        [--backends mujoco,warp,isaacgym] [--skip-compile] [--skip-agreement] [--out benchmarks/results/backends.json]

On a GPU machine this is the command that shows the speed-up (``--device cuda:0``); here Warp runs on
its CPU device, which is for development and tests, not speed.

Workload (as benchmarks/g1_sim_throughput.py): 16 settled fallen poses (face up and down) tiled over
the worlds; each policy step (10 physics steps of 2 ms) holds targets = the pose + U(-0.3, 0.3) rad.
"env steps" are policy steps of one environment.

- ``throughput``: ``raw_mj_step`` (one MjData, the 16 poses in turn, single core), ``mujoco``
  (G1Batch, all cores) and ``warp`` (G1WarpBatch on ``--device``; first step, which compiles, not
  timed) per world count; ``isaacgym`` is listed with the reason it cannot run here.
- ``warp_compile``: a child process builds a 16-world batch and steps once with a fresh, empty kernel
  cache (``WARP_CACHE_PATH``; cold), then a second child does the same with that cache (warm): its
  seconds from interpreter start to the first finished step (target < 10 s).
- ``agreement`` (:mod:`robot_learning.sim.backend_agreement`): max |qpos difference| after 100
  physics steps from settled lying/standing states, flat ground and the rough height field: the
  backends as the tasks use them (randomised), then diagnostics on the raw engines (solver
  iterations, friction cone, warm start) and the contacts each engine finds at the start states.

Absolute numbers depend on the machine and its load (reported); compare within one run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.g1_sim_throughput import fallen_poses, target_sequence, time_raw
from robot_learning.core.runs import write_json
from robot_learning.sim.backend_agreement import (
    AgreementConfig,
    batch_agreement,
    contact_diagnosis,
    raw_agreement,
)
from robot_learning.sim.backends import backend_available, make_batch
from robot_learning.sim.batch import BatchedG1
from robot_learning.sim.mujoco_batch import G1Batch, G1BatchConfig

#: what a child process runs to time Warp's start (argv: worlds, device)
_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from robot_learning.sim.mujoco_batch import G1BatchConfig
from robot_learning.sim.warp_batch import G1WarpBatch
t1 = time.perf_counter()
b = G1WarpBatch(G1BatchConfig(num_envs=int(sys.argv[1])), device=sys.argv[2])
t2 = time.perf_counter()
b.step(b.joint_pos.copy())
t3 = time.perf_counter()
b.sample_randomization(np.arange(b.num_envs))
b.step(b.joint_pos.copy())
t4 = time.perf_counter()
print("RESULT " + json.dumps({"import_s": t1 - t0, "construct_s": t2 - t1, "first_step_s": t3 - t2,
                              "randomise_and_step_s": t4 - t3}))
"""


def time_steps(batch: BatchedG1, poses: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """Env steps/s of ``batch.step`` (poses tiled over the worlds); the first step is a warm-up."""
    n = batch.num_envs
    tile = np.arange(n) % len(poses)
    t0 = time.perf_counter()
    batch.reset(np.arange(n), poses[tile])
    batch.step(targets[0][tile])
    first = time.perf_counter() - t0
    batch.reset(np.arange(n), poses[tile])
    t0 = time.perf_counter()
    for t in range(targets.shape[0]):
        batch.step(targets[t][tile])
    elapsed = time.perf_counter() - t0
    rate = n * targets.shape[0] / elapsed
    return {"env_steps_per_s": rate, "physics_steps_per_s": rate * batch.decimation, "first_step_s": first,
            "seconds": elapsed}


def throughput(worlds: list[int], steps: int, device: str, backends: list[str]) -> dict[str, Any]:
    with G1Batch(G1BatchConfig(num_envs=1, threads=1)) as probe:
        poses = fallen_poses(probe)
        targets = target_sequence(poses, steps)
        raw = time_raw(probe, poses, targets)
    out: dict[str, Any] = {"raw_mj_step": {"env_steps_per_s": raw, "physics_steps_per_s": raw * 10, "device": "cpu (1 core)"}}
    for backend in backends:
        reason = backend_available(backend)
        dev = "cpu" if backend == "mujoco" else device
        if reason is None and backend == "isaacgym" and not dev.startswith("cuda"):
            reason = "the isaacgym backend needs a CUDA device"
        if reason is not None:
            out[backend] = {"skipped": reason}
            continue
        rows = {}
        for n in worlds:
            batch = make_batch(G1BatchConfig(num_envs=n, seed=0), backend, dev)
            try:
                row = time_steps(batch, poses, targets)
            finally:
                batch.close()
            row["speedup_vs_raw"] = row["env_steps_per_s"] / raw
            rows[str(n)] = row
            print(f"{backend:8s} {dev:7s} {n:4d} worlds: {row['env_steps_per_s']:9.1f} env steps/s "
                  f"({row['speedup_vs_raw']:.2f} x raw)", flush=True)
        out[backend] = {"device": dev, "threads": os.cpu_count() if backend == "mujoco" else None, "by_worlds": rows}
    return out


def _child(cache: str, worlds: int, device: str) -> dict[str, Any]:
    env = dict(os.environ, WARP_CACHE_PATH=cache, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(worlds), device], check=False, cwd=ROOT, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"the timing child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    result["process_wall_s"] = wall
    result["start_to_first_step_s"] = wall - result["randomise_and_step_s"]  # interpreter start .. first step done
    return result


def warp_compile(device: str, worlds: int = 16) -> dict[str, Any]:
    if backend_available("warp") is not None:
        return {"skipped": backend_available("warp")}
    with tempfile.TemporaryDirectory(prefix="warp-cache-") as cache:
        cold = _child(cache, worlds, device)
        print(f"warp cold cache: {cold['process_wall_s']:.1f} s to the first step", flush=True)
        warm = _child(cache, worlds, device)
        print(f"warp warm cache (second process): {warm['start_to_first_step_s']:.1f} s to the first step", flush=True)
        size = sum(f.stat().st_size for f in Path(cache).rglob("*") if f.is_file())
    return {"worlds": worlds, "device": device, "cold": cold, "warm_second_process": warm,
            "cache_mb": size / 1e6, "target_second_process_s": 10.0,
            "second_process_within_target": warm["start_to_first_step_s"] < 10.0,
            "note": "cold: kernels of the flat primitive model's step, forward and set_const; a height field "
                    "(rough) compiles its collision kernels on first use"}


def agreement(device: str) -> dict[str, Any]:
    out: dict[str, Any] = {"target": "max |qpos difference| <= 1e-5 after 100 physics steps", "batch": [], "raw": [],
                           "contacts": []}
    for terrain in ("flat", "rough"):
        for noise in (0.0, 0.05):
            r = batch_agreement(AgreementConfig(terrain=terrain, target_noise=noise), device)
            out["batch"].append(r)
            print(f"agreement batch {terrain:5s} noise {noise}: {r['max_abs_qpos_diff']:.2e} {r['by_pose']}", flush=True)
        variants: list[dict[str, Any]] = [{}, {"iterations": 100}, {"cone": "elliptic"}, {"cone": "elliptic", "iterations": 100},
                                          {"warmstart": False}]
        for kw in variants:
            for noise in (0.0, 0.05) if kw in ({}, {"cone": "elliptic", "iterations": 100}) else (0.0,):
                r = raw_agreement(AgreementConfig(terrain=terrain, target_noise=noise, **kw), device)
                out["raw"].append(r)
                print(f"agreement raw {terrain:5s} noise {noise} {kw}: {r['max_abs_qpos_diff']:.2e} {r['by_pose']}", flush=True)
        out["contacts"].append(contact_diagnosis(AgreementConfig(terrain=terrain), device))
    out["within_target"] = any(r["within_1e-5"] for r in out["batch"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worlds", default="16,64,256", help="world counts, comma separated")
    parser.add_argument("--steps", type=int, default=10, help="timed policy steps per world count")
    parser.add_argument("--device", default="cpu", help="Warp / Isaac Gym device: cpu or cuda:N")
    parser.add_argument("--backends", default="mujoco,warp,isaacgym")
    parser.add_argument("--skip-compile", action="store_true", help="skip the cold/warm kernel cache children")
    parser.add_argument("--skip-agreement", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    worlds = [int(w) for w in args.worlds.split(",") if w]
    if not worlds or min(worlds) < 1 or args.steps < 1:
        parser.error("--worlds needs positive integers and --steps >= 1")
    backends = [b for b in args.backends.split(",") if b]
    unknown = [b for b in backends if b not in ("mujoco", "warp", "isaacgym")]
    if unknown:
        parser.error(f"unknown backend(s) {unknown}: choose from mujoco, warp, isaacgym")
    t0 = time.perf_counter()
    versions = {"mujoco": mujoco.__version__}
    try:
        import mujoco_warp
        import warp

        versions.update({"mujoco_warp": mujoco_warp.__version__, "warp": warp.__version__})
    except ImportError:
        pass
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), **versions,
                    "loadavg_start": [round(x, 2) for x in os.getloadavg()]},
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "workload": "16 settled fallen poses tiled over the worlds, targets = pose + U(-0.3, 0.3) rad per policy step",
        "steps_per_world_count": args.steps,
        "throughput": throughput(worlds, args.steps, args.device, backends),
    }
    if "warp" in backends and not args.skip_compile:
        result["warp_compile"] = warp_compile(args.device)
    if "warp" in backends and not args.skip_agreement and backend_available("warp") is None:
        result["agreement"] = agreement(args.device)
    result["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    if args.out:
        write_json(args.out, result)
    print(json.dumps({k: result[k] for k in ("machine", "wall_s")}, indent=2))


if __name__ == "__main__":
    main()
