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

from robot_learning.export.rollout import rollout
from robot_learning.robots import crazyflie
from robot_learning.robots.crazyflie import DEFAULT_PARAMS
from robot_learning.robots.registry import load_robot
from robot_learning.runtime.control import ControlSettings
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


class _HoverEpisodes:
    """The hover gate's callbacks for the rollout harness: episode k starts from the k-th sampled
    state with its disturbance; every tick records the distance to the set point."""

    def __init__(self, vehicle: PyBulletQuadrotor, x: np.ndarray, force: np.ndarray, torque: np.ndarray, steps: int,
                 window: int, radius: float, bar: Any) -> None:
        self.vehicle, self.x, self.force, self.torque = vehicle, x, force, torque
        self.steps, self.window, self.radius, self.bar = steps, window, radius, bar
        self.center = np.asarray(CENTER)

    def on_reset(self, ep: int) -> int:
        x = self.x
        self.vehicle.reset(self.center + x[ep, POS], x[ep, QUAT], x[ep, VEL], x[ep, ANGVEL])
        self.vehicle.set_disturbance(self.force[ep], self.torque[ep])
        self.err = np.zeros(self.steps)
        return ep

    def on_tick(self, ep: int, t: int, ctrl: Any) -> None:
        self.err[t] = np.linalg.norm(self.vehicle.state()["position"] - self.center)

    def on_episode_end(self, ep: int, ctrl: Any) -> dict[str, Any]:
        ok_control = ctrl.mode == RobotMode.POLICY and not ctrl.fault_counts
        tail = self.err[-self.window:]
        self.bar.update(1)
        return {"kept_control": bool(ok_control), "tail_error_m": float(tail.mean()), "success": bool(ok_control and tail.max() < self.radius)}


def gate_pybullet(runner: PolicyRunner, cfg: QuadrotorTrainConfig, episodes: int = 100, seed: int = 0,
                  deadline: float | None = None) -> dict[str, Any]:
    """Hover from the paper's initial-state distribution in PyBullet; same keys as the torch evaluation.
    An episode whose controller does not start (e.g. the policy's action is not finite) failed.
    ``deadline`` (a ``time.perf_counter()`` time): no episode starts after it (at least one is flown);
    ``episodes`` then reports how many were, and ``episodes_requested`` how many were asked for."""
    from tqdm import tqdm

    params = DEFAULT_PARAMS
    env = QuadrotorHoverEnv(dataclasses.replace(cfg.env, num_envs=1), params, seed=seed)
    x, force, torque = env.sample_states(episodes)
    x, force, torque = x.double().numpy(), force.double().numpy(), torque.double().numpy()
    steps, window, radius = cfg.env.episode_steps, cfg.eval.success_window_steps, cfg.eval.success_radius
    settings = ControlSettings(quadrotor=ControllerConfig(soft_start_ticks=0), setpoint=CENTER, trajectory="hover")
    t0 = time.perf_counter()
    with PyBulletQuadrotor(PyBulletQuadrotorConfig(params=params, seed=seed)) as vehicle, \
            tqdm(total=episodes, desc="pybullet gate", unit="episode", leave=False, disable=not sys.stderr.isatty()) as bar:
        chunk = episodes if deadline is None else 5
        runs, done = [], 0
        while done < episodes and (deadline is None or done == 0 or time.perf_counter() < deadline):
            k = min(chunk, episodes - done)
            sl = slice(done, done + k)
            runs.append(rollout(runner, vehicle, k, steps, _HoverEpisodes(vehicle, x[sl], force[sl], torque[sl], steps, window, radius, bar),
                                settings, robot=load_robot(crazyflie.NAME)))
            done += k
    requested, episodes = episodes, done
    run = runs[0]
    for r in runs[1:]:
        run.episodes.extend(r.episodes)
        run.policy_seconds.extend(r.policy_seconds)
    figs = [e.metrics for e in run.episodes if e.metrics is not None]
    errors = [f["tail_error_m"] for f in figs if f["kept_control"]]
    agg = run.aggregate()
    out: dict[str, Any] = {
        "engine": "pybullet",
        "trajectory": "hover",
        "episodes": episodes,
        "episodes_requested": requested,
        "success_rate": sum(f["success"] for f in figs) / episodes,
        "termination_rate": 1.0 - sum(f["kept_control"] for f in figs) / episodes,
        "hover_error_m": float(np.mean(errors)) if errors else float("nan"),
        "hover_error_p95_m": float(np.percentile(errors, 95)) if errors else float("nan"),
        "faults": agg["faults"],
        "policy_output_nan": agg["policy_output_nan"],  # episodes in which the policy's action was not finite
        "wall_seconds": round(time.perf_counter() - t0, 2),
    }
    if agg["start_failures"]:
        out["start_failures"], out["start_error"] = agg["start_failures"], agg["start_error"]
    out.update(_percentiles(run.policy_seconds, "policy_latency"))
    return out


class _FigureEightFlight:
    """The figure-eight flight's callbacks: start on the figure, record the path after ``settle`` s."""

    def __init__(self, vehicle: PyBulletQuadrotor, figure: FigureEight, settle: float) -> None:
        self.vehicle, self.figure, self.settle = vehicle, figure, settle
        self.flown: list[np.ndarray] = []
        self.reference: list[np.ndarray] = []

    def on_reset(self, ep: int) -> None:
        self.vehicle.reset(self.figure(0.0), (1.0, 0.0, 0.0, 0.0))

    def on_tick(self, ep: int, t: int, ctrl: Any) -> None:
        s = self.vehicle.state()
        if s.stamp >= self.settle:
            self.flown.append(np.array(s["position"], dtype=np.float64))
            self.reference.append(self.figure(s.stamp))

    def on_episode_end(self, ep: int, ctrl: Any) -> dict[str, Any]:
        return {}


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
    settings = ControlSettings(quadrotor=ControllerConfig(soft_start_ticks=0))
    with PyBulletQuadrotor(PyBulletQuadrotorConfig(params=params)) as vehicle:
        flight = _FigureEightFlight(vehicle, figure, settle)
        run = rollout(runner, vehicle, 1, steps, flight, settings, robot=load_robot(crazyflie.NAME), setpoint=figure)
    ep = run.episodes[0]
    out: dict[str, Any] = {"engine": "pybullet", "trajectory": "figure8", "episodes": 1}
    if not ep.started:  # nothing was flown
        return {**out, "success_rate": 0.0, "policy_output_nan": int(ep.policy_output_nan), "start_failures": 1,
                "start_error": ep.start_error, "figure8": dataclasses.asdict(figure), "faults": ep.faults}
    ok = ep.mode == RobotMode.POLICY.name and not ep.faults
    figures = tracking_figures(np.asarray(flight.flown), np.asarray(flight.reference), np.asarray(figure.center), criterion or TrackingCriterion())
    return {
        **out,
        "success_rate": float(ok and figures["tracks_reference"]),
        **figures,
        "figure8": dataclasses.asdict(figure),
        "faults": ep.faults,
        "policy_output_nan": int(ep.policy_output_nan),
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
