"""The training environment: a few dozen cart-poles in MuJoCo (one ``MjData`` each, one model),
stepped together one control period per :meth:`CartPoleBatch.step`, numpy in and out.

What the policy sees is built by the runtime's own code, so training and the robot cannot drift
apart: the observation by :class:`~robot_learning.runtime.observation.ObservationBuilder` from the
fields the runtime's joint observation provides (``joint_position`` minus the default pose,
``joint_velocity``, ``projected_gravity`` and ``base_angular_velocity`` from the pole's IMU, the
clipped ``last_action``), the IMU's gravity by the runtime's ``projected_gravity``, and the cart's
target bounded by the deployment profile's soft joint limiter (the same monitor object).
"""
from __future__ import annotations

import math
from typing import Any

import mujoco
import numpy as np

from robot_learning.runtime.joint_controller import projected_gravity
from robot_learning.runtime.monitors import MonitorContext, build_monitors
from robot_learning.runtime.observation import ObservationBuilder
from robot_learning.tasks.cartpole.config import EnvConfig, EvalConfig, RewardWeights
from robot_learning.tasks.cartpole.rewards import Transition, reward
from robot_learning.tasks.cartpole.robot import CONTROLLER, MAX_TILT_DEG, SPEC, describe, mjcf, pole_quaternion
from robot_learning.types import ObsLayout, ObsTerm

OBS_LAYOUT = ObsLayout((ObsTerm("joint_position", 1), ObsTerm("joint_velocity", 1), ObsTerm("projected_gravity", 3),
                        ObsTerm("base_angular_velocity", 3), ObsTerm("last_action", 1)))
ACTION_CLIP = CONTROLLER.action_clip
FALL_RAD = math.radians(MAX_TILT_DEG)


def output_limiter(dt: float) -> Any:
    """The deployment profile's soft joint limiter (runtime/monitors.py), for batched targets."""
    entries = [m for m in CONTROLLER.monitors if m["type"] == "soft_joint_limits"]
    return build_monitors(entries, MonitorContext(describe().limits(), dt))[-1]


def observation_fields(position: np.ndarray, velocity: np.ndarray, angle: np.ndarray, angular_velocity: np.ndarray,
                       last_action: np.ndarray) -> dict[str, np.ndarray]:
    """The runtime's joint-observation fields for a batch of cart-pole states (arrays (N,))."""
    n = angle.shape[0]
    gyro = np.zeros((n, 3))
    gyro[:, 1] = angular_velocity  # the pole turns about its y axis, which is the world's y
    return {"joint_position": (position - SPEC.default_positions[0])[:, None], "joint_velocity": velocity[:, None],
            "projected_gravity": projected_gravity(pole_quaternion(angle)), "base_angular_velocity": gyro,
            "last_action": last_action[:, None]}


def sample_initial(rng: np.random.Generator, n: int, cfg: EnvConfig) -> np.ndarray:
    """(n, 4) initial states: cart position, pole angle, cart velocity, pole angular velocity."""
    scale = np.array([cfg.init_position, cfg.init_angle, cfg.init_velocity, cfg.init_angular_velocity])
    return rng.uniform(-1.0, 1.0, size=(n, 4)) * scale


def episode_success(angle: np.ndarray, position: np.ndarray, dt: float, cfg: EvalConfig) -> bool:
    """One episode's verdict from its pole angles and cart positions, one per control period."""
    angle, position = np.asarray(angle), np.asarray(position)
    if angle.size < round(cfg.episode_s / dt) or np.any(np.abs(angle) > FALL_RAD):
        return False  # fell, or the run ended early (the runtime fell back)
    k = max(1, int(round(cfg.settle_s / dt)))
    return bool(np.all(np.abs(np.degrees(angle[-k:])) <= cfg.success_angle_deg) and np.all(np.abs(position[-k:]) <= cfg.success_position_m))


class CartPoleBatch:
    """``num_envs`` cart-poles; ``step(actions (N, 1))`` -> observations, rewards, dones, info (the rollout
    protocol of :func:`robot_learning.algos.ppo.rollout_and_update`). Ended episodes restart at once."""

    def __init__(self, cfg: EnvConfig, weights: RewardWeights | None = None, seed: int = 0, num_envs: int | None = None) -> None:
        self.cfg, self.weights = cfg, weights or RewardWeights()
        self.n = num_envs or cfg.num_envs
        self.model = mujoco.MjModel.from_xml_string(mjcf(cfg.physics_dt))
        self.data = [mujoco.MjData(self.model) for _ in range(self.n)]
        self.dt = 1.0 / cfg.control_rate_hz
        self.substeps = int(round(self.dt / cfg.physics_dt))
        self.max_steps = int(round(cfg.episode_s * cfg.control_rate_hz))
        self.limiter = output_limiter(self.dt)
        self.builder = ObservationBuilder(OBS_LAYOUT)
        self.rng = np.random.default_rng(seed)
        self.qpos = np.zeros((self.n, 2))
        self.qvel = np.zeros((self.n, 2))
        self.target = np.zeros(self.n)
        self.last_action = np.zeros(self.n)
        self.steps = np.zeros(self.n, dtype=np.int64)

    # ------------------------------------------------------------------------------ state
    def set_state(self, idx: np.ndarray, states: np.ndarray) -> None:
        """Put environments ``idx`` in ``states`` (rows of :func:`sample_initial`), the cart servo holding its position."""
        for i, s in zip(idx, states):
            d = self.data[i]
            mujoco.mj_resetData(self.model, d)
            d.qpos[:] = s[:2]
            d.qvel[:] = s[2:]
            d.ctrl[0] = s[0]
            self.qpos[i], self.qvel[i] = s[:2], s[2:]
        self.target[idx] = states[:, 0]  # the soft start holds the measured cart position
        self.last_action[idx] = 0.0
        self.steps[idx] = 0

    def reset(self, states: np.ndarray | None = None) -> np.ndarray:
        states = sample_initial(self.rng, self.n, self.cfg) if states is None else states
        self.set_state(np.arange(self.n), states)
        return self.observe()

    def observe(self) -> np.ndarray:
        f = observation_fields(self.qpos[:, 0], self.qvel[:, 0], self.qpos[:, 1], self.qvel[:, 1], self.last_action)
        return self.builder.build(f, np.zeros((self.n, OBS_LAYOUT.size), dtype=np.float32))

    # ------------------------------------------------------------------------------- step
    def apply(self, actions: np.ndarray) -> np.ndarray:
        """Actions -> the cart targets the runtime would send: clipped, scaled about the default, bounded
        by the soft joint limiter; then one control period of physics. Returns the clipped actions."""
        a = np.clip(np.asarray(actions, dtype=np.float64).reshape(self.n), -ACTION_CLIP, ACTION_CLIP)
        wanted = SPEC.default_positions[0] + self.cfg.action_scale * a
        lo, hi = self.limiter.bounds(self.target[:, None])
        self.target = np.minimum(np.maximum(wanted, lo[:, 0]), hi[:, 0])
        for i, d in enumerate(self.data):
            d.ctrl[0] = self.target[i]
            mujoco.mj_step(self.model, d, self.substeps)
            self.qpos[i], self.qvel[i] = d.qpos, d.qvel
        return a

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, float]]:
        previous = self.last_action.copy()
        a = self.apply(actions)
        self.last_action = a
        self.steps += 1
        angle = self.qpos[:, 1]
        fell = np.abs(angle) > FALL_RAD
        t = Transition(self.qpos[:, 0].copy(), self.qvel[:, 0].copy(), angle.copy(), self.qvel[:, 1].copy(), a, previous, fell)
        r, parts = reward(t, self.weights)
        done = fell | (self.steps >= self.max_steps)
        info = {"fell": float(fell.mean()), "abs_angle_deg": float(np.degrees(np.abs(angle)).mean()), **parts}
        if np.any(done):
            idx = np.flatnonzero(done)
            self.set_state(idx, sample_initial(self.rng, idx.size, self.cfg))
        return self.observe(), r.astype(np.float32), done, info
