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

With --peer (or --peer-only, which skips the figures above): the paper's own trainer (RLtools' L2F
environment and TD3 loop, built here from the PyPI package rltools, benchmarks/peers/l2f/) and ours,
--peer-seeds seeds each, interleaved, each timed to >= 95 % hover success by the same criterion; their
medians and ratio; the peer's final actors flown in our simulator as a cross-check; and simulator steps
per second beside the PyPI l2f simulator. If the peer cannot be built or l2f is missing, the JSON says why.
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


def _l2f_peer_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("l2f_peer", ROOT / "benchmarks" / "peers" / "l2f" / "peer.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _ours_to_success(seed: int, seconds: float, episodes: int, out: Path) -> dict:
    """Our trainer (whatever `train quadrotor` runs) for one seed, timed to 95 % as the main figure is."""
    report = quad.train_command(out=out, config=None, seconds=seconds, seed=seed, episodes=episodes, gate=False, force=True,
                                progress=False)
    t = report["train"]
    row = {"seed": seed, "seconds_to_success": t["seconds_to_success"], "env_steps_to_success": t["env_steps_to_success"],
           "wall_seconds_to_success": t.get("wall_seconds_to_success"), "train_wall_seconds": t["wall_seconds"], "env_steps": t["env_steps"],
           "final_success_rate": report["eval_torch"]["success_rate"]}
    row.update(_l2f_peer_module().thresholds(t.get("curve") or []))
    return row


def peer_section(seeds: int, seconds: float, episodes: int, out: Path, ours_simulator: dict | None = None) -> dict:
    """The paper's C++ trainer beside ours in this run (issue 24, item 3) and our simulator beside the l2f package."""
    peer = _l2f_peer_module()
    built = peer.build(out / "peer-build")
    section: dict = {"peer": {"trainer": "RLtools L2F environment + TD3 loop (PyPI rltools), benchmarks/peers/l2f/l2f_td3.cpp",
                              "build": built,
                              "criterion": ">= 95 % of 256 episodes from the paper's initial states (rotors at hover) never leave the 0.6 m "
                                           "box and stay within 0.1 m over the last 100 of 500 steps; evaluated every 10k steps in the "
                                           "peer's own simulator, evaluation time excluded (ours: every eval_every_seconds, excluded)",
                              "cores": "the peer is single-threaded (one environment, OpenBLAS 1 thread); ours uses torch_threads"}}
    ours_runs, peer_runs = [], []
    for seed in range(seeds):
        ours_runs.append(_ours_to_success(seed, seconds, episodes, out / f"ours-seed{seed}"))
        if built["available"]:
            actor = out / f"peer-actor-seed{seed}.json"
            r = peer.train_peer(built["binary"], seed, max_seconds=seconds, export=actor)
            if r.get("ok") and r.get("exported"):
                r["final_actor_in_our_simulator"] = peer.cross_evaluate(actor, episodes=256)
            peer_runs.append(r)
    ours_median = peer.median_or_none([r["seconds_to_success"] for r in ours_runs])
    section["ours"] = {"seeds": ours_runs, "seconds_to_95pct_median": ours_median}
    if built["available"]:
        peer_median = peer.median_or_none([r.get("seconds_to_success") for r in peer_runs])
        section["peer"].update({"seeds": peer_runs, "seconds_to_95pct_median": peer_median})
        section["ratio_ours_over_peer"] = (round(ours_median / peer_median, 3) if ours_median is not None and peer_median else None)
    else:
        section["ratio_ours_over_peer"] = None
    ours_sim = ours_simulator or sim_throughput()
    l2f = peer.l2f_sim_throughput()
    cmp: dict = {"ours": ours_sim, "l2f": l2f}
    if l2f.get("available"):
        common = [k for k in l2f["steps_per_second"] if k in ours_sim["steps_per_second"]]
        cmp["ratio_ours_over_l2f"] = {k: round(ours_sim["steps_per_second"][k] / l2f["steps_per_second"][k], 3) for k in common}
        cmp["best_ratio_ours_over_l2f"] = round(ours_sim["best_steps_per_second"] / l2f["best_steps_per_second"], 3)
    if built["available"]:
        cpp = peer.cpp_sim_throughput(built["binary"])
        cmp["l2f_cpp_direct"] = cpp
        if cpp.get("available"):
            cmp["best_ratio_ours_over_l2f_cpp_direct"] = round(ours_sim["best_steps_per_second"] / cpp["best_steps_per_second"], 3)
    section["simulator_vs_l2f"] = cmp
    return section


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=900.0, help="training time bound")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-quadrotor")
    ap.add_argument("--peer", action="store_true", help="also the paper's C++ trainer beside ours, and the l2f simulator")
    ap.add_argument("--peer-only", action="store_true", help="only the --peer section")
    ap.add_argument("--peer-seeds", type=int, default=3)
    args = ap.parse_args()
    if args.peer_seeds < 1:
        ap.error(f"--peer-seeds must be >= 1, got {args.peer_seeds}")
    if args.peer_only:
        result = {"benchmark": "quadrotor", "machine": quad._machine()}
        result.update(peer_section(args.peer_seeds, args.seconds, args.episodes, args.out / "peer"))
        print(dumps(result, indent=2))
        return
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
    if args.peer:
        result.update(peer_section(args.peer_seeds, args.seconds, args.episodes, args.out / "peer", result["simulator"]))
    print(dumps(result, indent=2))


if __name__ == "__main__":
    main()
