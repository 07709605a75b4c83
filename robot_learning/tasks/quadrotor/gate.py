"""The sim-to-sim gate: fly the exported ONNX policy in PyBullet through the on-robot runtime.

PyBullet integrates a rigid body with per-motor forces and adds rotor drag and ground effect that
the training simulator does not model. The policy is run by the same controller (safety pipeline,
state machine, observation builder) that runs on the robot, through the transport interface.
An episode succeeds if the runtime never had to intervene (no fault, the policy kept control) and
the vehicle stayed within the success radius of the set point over the last second.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any

import numpy as np

from robot_learning.robots.crazyflie import DEFAULT_PARAMS
from robot_learning.runtime.controller import ControllerConfig, QuadrotorController
from robot_learning.runtime.loop import FixedRateLoop
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.runtime.quadrotor import FigureEight, Hover
from robot_learning.runtime.transport import InProcessTransport
from robot_learning.sim.pybullet_quadrotor import PyBulletQuadrotor, PyBulletQuadrotorConfig
from robot_learning.sim.torch_quadrotor import ANGVEL, POS, QUAT, VEL
from robot_learning.tasks.quadrotor.config import QuadrotorTrainConfig
from robot_learning.tasks.quadrotor.env import QuadrotorHoverEnv
from robot_learning.tasks.quadrotor.tracking import TrackingCriterion, tracking_figures
from robot_learning.types import RobotMode, RobotState

CENTER = (0.0, 0.0, 1.0)  # hover set point in the PyBullet world: 1 m above the ground


def _percentiles(values: list[float], prefix: str) -> dict[str, float]:
    if not values:
        return {}
    a = np.asarray(values)
    return {f"{prefix}_p50_us": round(float(np.percentile(a, 50)) * 1e6, 1), f"{prefix}_p99_us": round(float(np.percentile(a, 99)) * 1e6, 1)}


def gate_pybullet(runner: PolicyRunner, cfg: QuadrotorTrainConfig, episodes: int = 100, seed: int = 0) -> dict[str, Any]:
    """Hover from the paper's initial-state distribution in PyBullet; same keys as the torch evaluation."""
    params = DEFAULT_PARAMS
    env = QuadrotorHoverEnv(dataclasses.replace(cfg.env, num_envs=1), params, seed=seed)
    x, force, torque = env.sample_states(episodes)
    x, force, torque = x.double().numpy(), force.double().numpy(), torque.double().numpy()
    steps, window, radius = cfg.env.episode_steps, cfg.eval.success_window_steps, cfg.eval.success_radius
    center = np.asarray(CENTER)
    successes, kept_control, errors, faults = 0, 0, [], {}
    compute: list[float] = []
    t0 = time.perf_counter()
    from tqdm import tqdm

    with PyBulletQuadrotor(PyBulletQuadrotorConfig(params=params, seed=seed)) as vehicle:
        for ep in tqdm(range(episodes), desc="pybullet gate", unit="episode", leave=False, disable=not sys.stderr.isatty()):
            vehicle.reset(center + x[ep, POS], x[ep, QUAT], x[ep, VEL], x[ep, ANGVEL])
            vehicle.set_disturbance(force[ep], torque[ep])
            ctrl = QuadrotorController(runner, InProcessTransport(vehicle), Hover(CENTER), params,
                                       ControllerConfig(soft_start_ticks=0))
            ctrl.start()
            err = np.zeros(steps)
            for t in range(steps):
                ctrl.tick()
                err[t] = np.linalg.norm(vehicle.state()["position"] - center)
            ok_control = ctrl.mode == RobotMode.POLICY and not ctrl.fault_counts
            kept_control += ok_control
            tail = err[-window:]
            if ok_control:
                errors.append(float(tail.mean()))
            successes += bool(ok_control and tail.max() < radius)
            for k, v in ctrl.fault_counts.items():
                faults[k] = faults.get(k, 0) + v
            compute.extend(ctrl.policy_seconds)
    out: dict[str, Any] = {
        "engine": "pybullet",
        "trajectory": "hover",
        "episodes": episodes,
        "success_rate": successes / episodes,
        "termination_rate": 1.0 - kept_control / episodes,
        "hover_error_m": float(np.mean(errors)) if errors else float("nan"),
        "hover_error_p95_m": float(np.percentile(errors, 95)) if errors else float("nan"),
        "faults": faults,
        "wall_seconds": round(time.perf_counter() - t0, 2),
    }
    out.update(_percentiles(compute, "policy_latency"))
    return out


def fly_figure8(runner: PolicyRunner, seconds: float = 16.0, figure: FigureEight | None = None, settle: float = 2.0,
                criterion: TrackingCriterion | None = None) -> dict[str, Any]:
    """Track a figure-eight with the hover policy (the set point moves; the policy sees the error).

    The flight succeeds if the runtime never intervened and the path tracked the figure by
    :func:`~robot_learning.tasks.quadrotor.tracking.tracking_figures` (which hovering in place fails)."""
    params = DEFAULT_PARAMS
    figure = figure or FigureEight(center=CENTER)
    steps = int(round(seconds / params.dt))
    if steps * params.dt <= settle + params.dt:
        raise ValueError(f"a figure-eight flight of {seconds} s leaves nothing to measure after the {settle} s settling time")
    with PyBulletQuadrotor(PyBulletQuadrotorConfig(params=params)) as vehicle:
        vehicle.reset(figure(0.0), (1.0, 0.0, 0.0, 0.0))
        ctrl = QuadrotorController(runner, InProcessTransport(vehicle), figure, params, ControllerConfig(soft_start_ticks=0))
        ctrl.start()
        flown, reference = [], []
        for t in range(steps):
            ctrl.tick()
            s = vehicle.state()
            if s.stamp >= settle:
                flown.append(np.array(s["position"], dtype=np.float64))
                reference.append(figure(s.stamp))
    ok = ctrl.mode == RobotMode.POLICY and not ctrl.fault_counts
    figures = tracking_figures(np.asarray(flown), np.asarray(reference), np.asarray(figure.center), criterion or TrackingCriterion())
    return {
        "engine": "pybullet",
        "trajectory": "figure8",
        "episodes": 1,
        "success_rate": float(ok and figures["tracks_reference"]),
        **figures,
        "figure8": dataclasses.asdict(figure),
        "faults": dict(ctrl.fault_counts),
    }


FAULTS = ("none", "nan", "stale", "push")


class FaultInjection(InProcessTransport):
    """In-process transport that breaks something at ``at`` seconds, to rehearse the safety pipeline:

    - ``nan``: the state estimate turns to NaN (a broken estimator or link) -> ESTOP, motors off;
    - ``stale``: the state stops arriving (the last one is repeated) -> DAMPING; the fallback acts
      on the last state for ``stale_cutoff_s``, then motors off;
    - ``push``: a 0.4 N sideways gust (1.5 g) for 0.4 s shoves the vehicle out of its training box ->
      DAMPING: level, descend, motors off on the ground.
    """

    def __init__(self, vehicle: PyBulletQuadrotor, kind: str, at: float) -> None:
        if kind not in FAULTS:
            raise ValueError(f"unknown fault '{kind}'; choose one of {', '.join(FAULTS)}")
        super().__init__(vehicle)
        self.kind, self.at = kind, at
        self._frozen: RobotState | None = None

    def read_state(self) -> RobotState:
        s = self.vehicle.state()
        if self.kind == "nan" and s.stamp >= self.at:
            s.values["position"] = np.full(3, np.nan)
        if self.kind == "stale":
            if s.stamp < self.at or self._frozen is None:
                self._frozen = s
            return self._frozen
        return s

    def send_command(self, command: np.ndarray) -> None:
        if self.kind == "push":
            t = self.vehicle.state().stamp
            gust = self.at <= t < self.at + 0.4
            self.vehicle.set_disturbance(np.array([0.4, 0.0, 0.0]) if gust else np.zeros(3), np.zeros(3))
        super().send_command(command)


def deploy_sim(runner: PolicyRunner, seconds: float = 10.0, trajectory: str = "figure8", realtime: bool = True,
               fault: str = "none", fault_at: float = 5.0) -> dict[str, Any]:
    """The runtime at the policy's control rate against a PyBullet Crazyflie; timing and safety summary.

    ``fault`` rehearses a failure at ``fault_at`` seconds (see :class:`FaultInjection`)."""
    params = DEFAULT_PARAMS
    setpoint = FigureEight(center=CENTER) if trajectory == "figure8" else Hover(CENTER)
    rate = runner.metadata.control_rate_hz
    with PyBulletQuadrotor(PyBulletQuadrotorConfig(params=params)) as vehicle:
        vehicle.reset(setpoint(0.0), (1.0, 0.0, 0.0, 0.0))
        transitions: list[str] = []
        transport = FaultInjection(vehicle, fault, fault_at)
        ctrl = QuadrotorController(runner, transport, setpoint, params, on_transition=transitions.append)
        ctrl.start()
        err: list[float] = []
        last_command = np.zeros(4)

        def tick(i: int) -> bool:
            nonlocal last_command
            last_command = ctrl.tick()
            s = vehicle.state()
            if ctrl.mode == RobotMode.POLICY:
                err.append(float(np.linalg.norm(s["position"] - setpoint(s.stamp))))
            return True


        stats = FixedRateLoop(rate, realtime=realtime).run(tick, max_ticks=int(round(seconds * rate)))
        final = vehicle.state()
    e = np.asarray(err[int(rate):]) if len(err) > rate else np.asarray(err)
    return {
        "robot": runner.metadata.robot,
        "policy": str(runner.path),
        "trajectory": trajectory,
        "realtime": realtime,
        "fault_injected": fault if fault == "none" else f"{fault} at {fault_at} s",
        "final_mode": ctrl.mode.name,
        "final_command": np.round(last_command, 4).tolist(),
        "final_height_m": round(float(final["position"][2]), 3),
        "transitions": transitions,
        "faults": dict(ctrl.fault_counts),
        "tracking_rmse_m": float(np.sqrt(np.mean(e**2))) if len(e) else float("nan"),
        "timing": stats.summary(),
        **_percentiles(ctrl.policy_seconds, "policy_latency"),
    }
