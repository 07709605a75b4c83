"""`eval`: an exported policy through the runtime (the controller the policy node runs, with the
deployment profile's monitors) against the cart-pole in MuJoCo or PyBullet, episode by episode.

Each episode starts the controller as the node does (``start()``: dry run, one tick of soft start),
then ticks it in lock-step with the simulator until the episode ends or the pipeline leaves POLICY
(the tilt monitor saw the pole fall, or a fault). The verdict is
:func:`~robot_learning.tasks.cartpole.env.episode_success` on the simulator's ground truth.
The episodes run in the platform's rollout harness; this file holds only the task's callbacks.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from robot_learning.export.rollout import rollout
from robot_learning.runtime.control import ControlSettings
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.tasks.cartpole.config import EnvConfig, EvalConfig
from robot_learning.tasks.cartpole.env import episode_success, sample_initial
from robot_learning.tasks.cartpole.robot import CONTROLLER, SPEC, describe
from robot_learning.tasks.cartpole.sims import MujocoCartPole, PyBulletCartPole
from robot_learning.types import RobotMode

ENGINES = ("mujoco", "pybullet")


def make_sim(engine: str, control_rate_hz: float) -> Any:
    return {"mujoco": MujocoCartPole, "pybullet": PyBulletCartPole}[engine](control_rate_hz)


class Episodes:
    """The evaluation's callbacks for the platform's rollout harness
    (:func:`~robot_learning.export.rollout.rollout`): episode ``i`` starts from ``initial[i]``; it
    ends when the pipeline leaves POLICY (the tilt monitor saw the pole fall, or a fault)."""

    def __init__(self, sim: Any, initial: np.ndarray, cfg: EvalConfig, progress: Callable[[str], None] | None = None,
                 engine: str = "") -> None:
        self.sim, self.initial, self.cfg, self.progress, self.engine = sim, initial, cfg, progress, engine
        self.wins: list[bool] = []

    def on_reset(self, i: int) -> np.ndarray:
        self.sim.set_state(*(float(v) for v in self.initial[i]))
        self.sim.set_gains(SPEC.array("kp"), SPEC.array("kd"))
        self.angles: list[float] = []
        self.positions: list[float] = []
        return self.initial[i]

    def on_tick(self, i: int, t: int, controller: Any) -> bool:
        if controller.mode not in (RobotMode.SOFT_START, RobotMode.POLICY):
            return True
        x, angle = self.sim.pole()
        self.positions.append(x)
        self.angles.append(angle)
        return False

    def on_episode_end(self, i: int, controller: Any) -> dict[str, Any]:
        angles, positions, dt = self.angles, self.positions, self.sim.dt
        ok = episode_success(np.array(angles), np.array(positions), dt, self.cfg)
        self.wins.append(bool(ok))
        if self.progress is not None and (i + 1) % 10 == 0:
            self.progress(f"{self.engine}: {i + 1}/{len(self.initial)} episodes, success so far {np.mean(self.wins):.0%}")
        return {"success": ok, "seconds": round(len(angles) * dt, 3), "final_mode": controller.mode.name,
                "max_tilt_deg": round(float(np.degrees(np.max(np.abs(angles)))) if angles else 0.0, 2),
                "final_position_m": round(positions[-1], 4) if positions else None,
                "faults": dict(controller.fault_counts), "last_fault": controller.fault_log[-1] if controller.fault_log else None}


def evaluate(policy: str, engine: str, cfg: EvalConfig, env: EnvConfig, episodes: int, seed: int,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``episodes`` episodes from initial states drawn as in training (seed ``seed``): success rate and the episodes."""
    runner = PolicyRunner(policy)
    runner.metadata.check_robot(SPEC.name, SPEC.joint_names)
    sim = make_sim(engine, runner.metadata.control_rate_hz)
    initial = sample_initial(np.random.default_rng(seed), episodes, env)
    episodes_ = Episodes(sim, initial, cfg, progress, engine)
    try:
        run = rollout(runner, sim, episodes, int(round(cfg.episode_s / sim.dt)), episodes_, ControlSettings(joint=CONTROLLER),
                      robot=describe())
    finally:
        sim.close()
    results = [e.metrics if e.metrics is not None else
               {"success": False, "seconds": 0.0, "final_mode": e.mode, "max_tilt_deg": None, "final_position_m": None,
                "faults": e.faults, "last_fault": e.start_error} for e in run.episodes]
    agg = run.aggregate()
    faults = agg["faults"]
    tilts = [r["max_tilt_deg"] for r in results if r["max_tilt_deg"] is not None]
    out = {"engine": engine, "episodes": episodes, "seed": seed, "success_rate": round(float(np.mean([r["success"] for r in results])), 4),
           "mean_max_tilt_deg": round(float(np.mean(tilts)), 3) if tilts else None,
           "fell_or_faulted": sum(1 for r in results if r["final_mode"] != "POLICY"), "faults": faults,
           "policy_output_nan": agg["policy_output_nan"],  # episodes in which the policy itself produced NaN/inf
           "per_episode": results}
    return out
