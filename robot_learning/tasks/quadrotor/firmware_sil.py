"""Software in the loop: the on-board controller's host build flies the PyBullet Crazyflie.

The controller (firmware/crazyflie, `make host`) is the code that runs on the vehicle: its
``controllerOutOfTree`` is called once per 1 kHz stabiliser tick with the state the firmware would
hand it (position, quaternion, world velocity, gyro in deg/s), and the ground's trigger (a position
setpoint stamped with its arrival tick) streamed at ``trigger_hz``. Its normalised motor forces go to
PyBullet, which here integrates 1 ms per tick (``physics_hz`` 1000), so the policy's 500 Hz steps and
the history's 100 Hz windows happen as on board.

The episodes are the sim-to-sim gate's (:func:`~robot_learning.tasks.quadrotor.gate.gate_pybullet`):
the same initial states and disturbances for the same ``episodes`` and ``seed``, the same success
rule (within ``success_radius`` of the set point over the last ``success_window_steps`` training
steps, i.e. the last second) and the same training box (leaving it is a failure, as it stops the
runtime's rehearsal).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from robot_learning.export.crazyflie_firmware import CONTROL_FORCE, HostController
from robot_learning.export.rollout import rollout
from robot_learning.robots import crazyflie
from robot_learning.robots.crazyflie import DEFAULT_PARAMS
from robot_learning.robots.registry import load_robot
from robot_learning.runtime.control import ControlSettings
from robot_learning.runtime.controller import ControllerConfig
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.sim.pybullet_quadrotor import PyBulletQuadrotor, PyBulletQuadrotorConfig
from robot_learning.sim.torch_quadrotor import ANGVEL, POS, QUAT, VEL
from robot_learning.tasks.quadrotor.config import QuadrotorTrainConfig
from robot_learning.tasks.quadrotor.env import QuadrotorHoverEnv
from robot_learning.tasks.quadrotor.gate import CENTER, _HoverEpisodes

TICK_HZ = 1000


def sample_episodes(cfg: QuadrotorTrainConfig, episodes: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The gate's initial states and disturbances (same sampler, same seed, same count)."""
    env = QuadrotorHoverEnv(dataclasses.replace(cfg.env, num_envs=1), DEFAULT_PARAMS, seed=seed)
    x, force, torque = env.sample_states(episodes)
    return x.double().numpy(), force.double().numpy(), torque.double().numpy()


def fly_firmware(controller: HostController, cfg: QuadrotorTrainConfig, episodes: int = 100, seed: int = 0,
                 trigger_hz: float = 100.0) -> dict[str, Any]:
    """Hover episodes with the host-built controller in rlctl.mode 1 at 1 kHz; gate-like figures."""
    params = dataclasses.replace(DEFAULT_PARAMS, dt=1.0 / TICK_HZ)
    x, force, torque = sample_episodes(cfg, episodes, seed)
    ticks_per_step = int(round(DEFAULT_PARAMS.dt * TICK_HZ))
    ticks = cfg.env.episode_steps * ticks_per_step
    window = cfg.eval.success_window_steps * ticks_per_step
    trigger_every = max(1, int(round(TICK_HZ / trigger_hz)))
    center = np.asarray(CENTER)
    box = cfg.env.termination_position
    results = []
    t0 = time.perf_counter()
    with PyBulletQuadrotor(PyBulletQuadrotorConfig(params=params, physics_hz=TICK_HZ, seed=seed)) as vehicle:
        for ep in range(episodes):
            vehicle.reset(center + x[ep, POS], x[ep, QUAT], x[ep, VEL], x[ep, ANGVEL])
            vehicle.set_disturbance(force[ep], torque[ep])
            controller.init()
            controller.set_param("rlctl.mode", 1)
            err = np.zeros(ticks)
            left_box = False
            active = True
            start = 1000 + ep * 100_000  # FreeRTOS tick (ms) at the episode's start; the stabiliser step equals it
            stamp = start
            for i in range(ticks):
                now = start + i
                if i % trigger_every == 0:
                    stamp = now  # the ground's position setpoint arrives
                s = vehicle.state()
                mode, forces = controller.tick(now, now, s["position"], s["quaternion"], s["linear_velocity"],
                                               np.degrees(s["angular_velocity"]), center, stamp)
                if mode != CONTROL_FORCE or not np.all(np.isfinite(forces)):
                    raise RuntimeError(f"episode {ep}: the controller left force mode (control mode {mode}) in rlctl.mode 1")
                active = active and controller.log("rlctl.active") == 1
                vehicle.step(2.0 * forces.astype(np.float64) - 1.0)
                e = vehicle.state()["position"] - center
                err[i] = float(np.linalg.norm(e))
                left_box = left_box or bool(np.abs(e).max() > box)
            tail = err[-window:]
            ok = active and not left_box
            results.append({"kept_control": ok, "tail_error_m": float(tail.mean()), "success": bool(ok and tail.max() < cfg.eval.success_radius)})
    return _summary("firmware host build (controllerOutOfTree at 1 kHz, policy at 500 Hz)", results, t0)


def _summary(controller: str, results: list[dict[str, Any]], t0: float) -> dict[str, Any]:
    """The hover figures of per-episode results (``kept_control``, ``success``, ``tail_error_m``),
    as the sim-to-sim gate reports them, with the per-episode verdicts."""
    episodes = len(results)
    errors = [r["tail_error_m"] for r in results if r["kept_control"]]
    return {
        "engine": "pybullet",
        "controller": controller,
        "trajectory": "hover",
        "episodes": episodes,
        "success_rate": sum(r["success"] for r in results) / episodes,
        "termination_rate": 1.0 - sum(r["kept_control"] for r in results) / episodes,
        "hover_error_m": float(np.mean(errors)) if errors else float("nan"),
        "hover_error_p95_m": float(np.percentile(errors, 95)) if errors else float("nan"),
        "success_per_episode": [bool(r["success"]) for r in results],
        "wall_seconds": round(time.perf_counter() - t0, 2),
    }


class _Bar:
    def update(self, n: int) -> None:
        pass


def rehearse(runner: PolicyRunner, cfg: QuadrotorTrainConfig, episodes: int = 100, seed: int = 0) -> dict[str, Any]:
    """The runtime's in-process rehearsal on the same episodes: the on-robot controller (safety
    pipeline, observation builder, ONNX Runtime) at the policy's 100 Hz in lock-step with PyBullet, as
    the sim-to-sim gate runs it; with the per-episode verdicts the gate does not return."""
    x, force, torque = sample_episodes(cfg, episodes, seed)
    steps, window, radius = cfg.env.episode_steps, cfg.eval.success_window_steps, cfg.eval.success_radius
    settings = ControlSettings(quadrotor=ControllerConfig(soft_start_ticks=0), setpoint=CENTER, trajectory="hover")
    t0 = time.perf_counter()
    with PyBulletQuadrotor(PyBulletQuadrotorConfig(params=DEFAULT_PARAMS, seed=seed)) as vehicle:
        run = rollout(runner, vehicle, episodes, steps, _HoverEpisodes(vehicle, x, force, torque, steps, window, radius, _Bar()), settings,
                      robot=load_robot(crazyflie.NAME))
    figs = [e.metrics if e.metrics is not None else {"kept_control": False, "success": False, "tail_error_m": float("nan")} for e in run.episodes]
    return _summary("runtime in-process rehearsal (QuadrotorController at 100 Hz, ONNX Runtime)", figs, t0)


def compare(controller: HostController, policy: str, cfg: QuadrotorTrainConfig, episodes: int = 100, seed: int = 0) -> dict[str, Any]:
    """Both on the same episodes: success rates, their difference in points, per-episode agreement."""
    fw = fly_firmware(controller, cfg, episodes, seed)
    rt = rehearse(PolicyRunner(policy), cfg, episodes, seed)
    agree = sum(a == b for a, b in zip(fw["success_per_episode"], rt["success_per_episode"]))
    return {
        "episodes": episodes,
        "seed": seed,
        "firmware_sil": fw,
        "runtime_rehearsal": rt,
        "success_difference_points": round(100.0 * (fw["success_rate"] - rt["success_rate"]), 2),
        "episodes_with_the_same_verdict": agree,
    }


def dead_man_cut(controller: HostController, trigger_ms: int = 10, last_trigger: int = 1000, start: int = 500) -> dict[str, Any]:
    """Stream the trigger every ``trigger_ms`` from tick ``start`` to ``last_trigger`` (rlctl.mode 1, a
    hovering state), then stop; the first tick with all motors off, counted from the last trigger."""
    controller.init()
    controller.set_param("rlctl.mode", 1)
    hover = (np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0, 0.0]), np.zeros(3), np.zeros(3))
    stamp, first_on, cut = None, None, None
    for now in range(start, last_trigger + 1000):
        if now <= last_trigger and (now - start) % trigger_ms == 0:
            stamp = now
        _, forces = controller.tick(now, now, *hover, np.array([0.0, 0.0, 1.0]), stamp if stamp is not None else 0)
        on = bool(np.any(forces > 0))
        if on and first_on is None:
            first_on = now
        if not on and first_on is not None and now > last_trigger:
            cut = now
            break
    return {"last_trigger_tick": stamp, "policy_on_from_tick": first_on, "motors_off_at_tick": cut,
            "cut_after_ms": None if cut is None or stamp is None else cut - stamp}
