"""How fast a simulated robot steps: one measurement for every engine (a benchmark, nothing asserted).

The robot holds its default pose; ``step`` alone and ``step`` + ``state`` are timed, best of
``repeats``. Given ``raw`` (one control period of the bare engine, e.g. ``mj_step`` on the same
model from the same state), the same is timed for it, and the ratios say what the Python wrapper costs.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def measure_robot_speed(robot: Any, control_steps: int = 200, repeats: int = 3,
                        raw: Callable[[], None] | None = None) -> dict[str, float]:
    """Control steps per second of ``robot`` (``default_pose``, ``reset(pose=)``, ``step``, ``state``,
    ``n_substeps``); with ``raw``, also the bare engine's rate and the ratios."""
    if control_steps < 1 or repeats < 1:
        raise ValueError(f"control_steps and repeats must be at least 1, got {control_steps} and {repeats}")
    q = robot.default_pose()
    best = {"step": 0.0, "step_state": 0.0, "raw": 0.0}

    def rate(body: Callable[[], None]) -> float:
        robot.reset(pose=q)
        t0 = time.perf_counter()
        for _ in range(control_steps):
            body()
        return control_steps / (time.perf_counter() - t0)

    def step_and_state() -> None:
        robot.step(q)
        robot.state()

    for _ in range(repeats):
        best["step"] = max(best["step"], rate(lambda: robot.step(q)))
        best["step_state"] = max(best["step_state"], rate(step_and_state))
        if raw is not None:
            best["raw"] = max(best["raw"], rate(raw))
    out = {"robot_steps_per_s": best["step"], "robot_steps_with_state_per_s": best["step_state"],
           "physics_steps_per_s": best["step"] * robot.n_substeps}
    if raw is not None:
        out.update(raw_control_steps_per_s=best["raw"], raw_physics_steps_per_s=best["raw"] * robot.n_substeps,
                   step_vs_raw=best["step"] / best["raw"], step_state_vs_raw=best["step_state"] / best["raw"])
    return out
