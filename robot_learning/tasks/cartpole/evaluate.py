"""`eval`: an exported policy through the runtime (the controller the policy node runs, with the
deployment profile's monitors) against the cart-pole in MuJoCo or PyBullet, episode by episode.

Each episode starts the controller as the node does (``start()``: dry run, one tick of soft start),
then ticks it in lock-step with the simulator until the episode ends or the pipeline leaves POLICY
(the tilt monitor saw the pole fall, or a fault). The verdict is
:func:`~robot_learning.tasks.cartpole.env.episode_success` on the simulator's ground truth.
(This loop is what the platform's one rollout harness will take over; it is short on purpose.)
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from robot_learning.runtime.control import ControlSettings, make_controller
from robot_learning.runtime.joint_transport import InProcessJointTransport
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.tasks.cartpole.config import EnvConfig, EvalConfig
from robot_learning.tasks.cartpole.env import episode_success, sample_initial
from robot_learning.tasks.cartpole.robot import CONTROLLER, SPEC, describe
from robot_learning.tasks.cartpole.sims import MujocoCartPole, PyBulletCartPole
from robot_learning.types import RobotMode

ENGINES = ("mujoco", "pybullet")


def make_sim(engine: str, control_rate_hz: float) -> Any:
    return {"mujoco": MujocoCartPole, "pybullet": PyBulletCartPole}[engine](control_rate_hz)


def run_episode(runner: PolicyRunner, sim: Any, initial: np.ndarray, cfg: EvalConfig) -> dict[str, Any]:
    """One episode from ``initial`` (cart position, pole angle, their velocities); the runtime drives ``sim``."""
    sim.set_state(*(float(v) for v in initial))
    sim.set_gains(SPEC.array("kp"), SPEC.array("kd"))
    transport = InProcessJointTransport(sim, runner.metadata.joint_names)
    controller = make_controller(runner, transport, describe(), ControlSettings(joint=CONTROLLER))
    controller.start()
    steps = int(round(cfg.episode_s / sim.dt))
    angles, positions = [], []
    for _ in range(steps):
        controller.tick()
        if controller.mode not in (RobotMode.SOFT_START, RobotMode.POLICY):
            break
        x, angle = sim.pole()
        positions.append(x)
        angles.append(angle)
    ok = episode_success(np.array(angles), np.array(positions), sim.dt, cfg)
    return {"success": ok, "seconds": round(len(angles) * sim.dt, 3), "final_mode": controller.mode.name,
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
    results = []
    try:
        for i, s in enumerate(initial):
            results.append(run_episode(runner, sim, s, cfg))
            if progress is not None and (i + 1) % 10 == 0:
                progress(f"{engine}: {i + 1}/{episodes} episodes, success so far {np.mean([r['success'] for r in results]):.0%}")
    finally:
        sim.close()
    faults: dict[str, int] = {}
    for r in results:
        for k, v in r["faults"].items():
            faults[k] = faults.get(k, 0) + v
    nonfinite = sum(1 for r in results if r["final_mode"] == "ESTOP" and "policy_output" in r["faults"])
    out = {"engine": engine, "episodes": episodes, "seed": seed, "success_rate": round(float(np.mean([r["success"] for r in results])), 4),
           "mean_max_tilt_deg": round(float(np.mean([r["max_tilt_deg"] for r in results])), 3),
           "fell_or_faulted": sum(1 for r in results if r["final_mode"] != "POLICY"), "faults": faults, "per_episode": results}
    if nonfinite:
        out["policy_output_not_finite_episodes"] = nonfinite  # the policy itself produced NaN/inf: the runtime stopped it
    return out
