"""`python -m robot_learning asap ...`: record sessions in a target world, fit a delta-action model
to a directory of sessions (simulated or from a real robot)."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from robot_learning.core.checks import check_flag

HORIZONS_S = (0.25, 0.5, 1.0)


def record_command(target_world: str, out: str, sessions: int = 8, seconds: float = 10.0, seed: int = 0,
                   amplitude: float = 0.6) -> dict[str, Any]:
    """Play ``sessions`` excitation motions (random smooth joint targets) in the target world and
    write each as a runtime session (MCAP: /joint_states and /joint_command, sensor_msgs/JointState)."""
    from robot_learning.tasks.asap.delta import record_in, smooth_random_targets, write_mcap
    from robot_learning.tasks.asap.target_world import load_target_world, make_target_robot

    check_flag("--sessions", sessions, minimum=1)
    check_flag("--seconds", seconds, above=0)
    check_flag("--seed", seed, minimum=0)
    world = load_target_world(target_world)
    robot = make_target_robot(world, seed=seed)
    rng = np.random.default_rng(seed)
    files = []
    try:
        for i in range(sessions):
            rec = record_in(robot, smooth_random_targets(seconds, robot.dt, rng, amplitude=amplitude, periods_s=(0.4, 1.5)))
            files.append(str(write_mcap(rec, out, f"{world.name}_{seed}_{i:03d}")))
    finally:
        robot.close()
    return {"target_world": world.name, "sessions": files, "seconds_each": seconds}


def fit_delta_command(logs: str, out: str | None = None, seconds: float = 300.0, holdout: int = 1, seed: int = 0,
                      progress: Callable[[str], None] | None = print) -> dict[str, Any]:
    """Fit the delta-action model to the sessions in ``logs``; report the open-loop joint error of
    the raw and of the aligned simulator on the held-out sessions at 0.25, 0.5 and 1 s."""
    from robot_learning.core.runs import write_json
    from robot_learning.tasks.asap.delta import DeltaConfig, SessionError, load_recordings, save_delta, train_delta
    from robot_learning.tasks.asap.replay import replay_error

    check_flag("--seconds", seconds, above=0)
    check_flag("--holdout", holdout, minimum=0)
    check_flag("--seed", seed, minimum=0)
    cfg = DeltaConfig(max_seconds=seconds, seed=seed)
    recs = load_recordings(logs)
    if holdout < 0 or (holdout and len(recs) <= holdout):
        raise SessionError(f"{len(recs)} sessions in {logs}: need more than --holdout {holdout} (one at least to train on)")
    train, test = (recs[:-holdout], recs[-holdout:]) if holdout else (recs, recs)
    run = Path(out or f"runs/asap-delta-{time.strftime('%Y%m%d-%H%M%S')}")
    run.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    rows = 0

    def log(row: dict[str, Any]) -> None:
        nonlocal rows
        if progress and rows % 20 == 0:
            progress(f"{row['env_steps']:>9,} steps  {row['seconds']:6.0f} s  reward {row['mean_reward']:.3f}  "
                     f"joint error {row['joint_pos_error_rad']:.4f} rad")
        rows += 1

    model, curve = train_delta(train, cfg, log=log)
    table = {}
    for h in HORIZONS_S:
        raw = float(replay_error(test, h, seed=seed)[0])
        aligned = float(replay_error(test, h, delta=model, seed=seed)[0])
        table[f"{h:g}s"] = {"raw_rad": raw, "aligned_rad": aligned, "reduction": 1.0 - aligned / raw}
    onnx = save_delta(model, run / "delta_action.onnx", meta={"logs": str(logs), "train_sessions": [r.name for r in train]})
    report = {"module": "asap", "command": "fit-delta", "logs": str(logs), "seed": seed, "wall_clock_s": round(time.time() - t0, 1),
              "train_sessions": len(train), "held_out_sessions": [r.name for r in test], "open_loop_joint_error": table,
              "env_steps": curve[-1]["env_steps"] if curve else 0, "model": str(onnx)}
    write_json(run / "report.json", report)
    return {"run": str(run), **report}
