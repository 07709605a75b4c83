"""The hover task in JAX: a compiled twin of the torch simulator and environment (env.py).

The same Crazyflie model, RK4 step, observations, costs, termination and initial-state distribution
as ``sim/torch_quadrotor.py`` and ``env.py``, written as pure functions of arrays so that a whole
training iteration compiles into one XLA program. ``tests/test_quadrotor_jax.py`` holds the step,
the observations and the costs equal to the torch ones on fixed states and actions. Vehicle
parameters are per environment, so domain randomisation is the same code with sampled rows.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from robot_learning.robots.crazyflie import CrazyflieParams
from robot_learning.tasks.quadrotor.config import (
    DomainRandomizationConfig,
    QuadrotorEnvConfig,
)
from robot_learning.tasks.quadrotor.randomization import thrust_curve

ACTION_DIM = 4
STATE_DIM = 17
VEHICLE_FEATURES = 8


class Vehicle(NamedTuple):
    """Per-environment parameters, each with a leading (N,) axis."""

    mass: jax.Array  # (N,)
    inertia: jax.Array  # (N, 3)
    thrust: jax.Array  # (N, 3): constant, linear, quadratic coefficients
    motor_time_constant: jax.Array  # (N,)


class EnvState(NamedTuple):
    x: jax.Array  # (N, 17) as sim/torch_quadrotor.py
    history: jax.Array  # (N, H, 4), oldest first
    force: jax.Array  # (N, 3)
    torque: jax.Array  # (N, 3)
    steps: jax.Array  # (N,) int32
    vehicle: Vehicle


class Constants(NamedTuple):
    """What does not vary between vehicles (geometry, action map), as arrays."""

    torque_map: jax.Array  # (4, 3)
    gravity: jax.Array  # (3,)
    rpm_min: float
    rpm_max: float
    dt: float


def constants(p: CrazyflieParams, dtype: Any = jnp.float32) -> Constants:
    pos = jnp.asarray(p.rotor_positions, dtype)
    yaw = jnp.asarray(p.yaw_directions, dtype)
    torque_map = jnp.stack([pos[:, 1], -pos[:, 0], yaw * p.yaw_coefficient], axis=1)
    return Constants(torque_map, jnp.asarray([0.0, 0.0, -p.gravity], dtype), p.rpm_min, p.rpm_max, p.dt)


def nominal_vehicle(p: CrazyflieParams, n: int, dtype: Any = jnp.float32) -> Vehicle:
    one = jnp.ones((n,), dtype)
    return Vehicle(one * p.mass, jnp.tile(jnp.asarray(p.inertia, dtype), (n, 1)),
                   jnp.tile(jnp.asarray([p.thrust_constant, p.thrust_linear, p.thrust_coefficient], dtype), (n, 1)),
                   one * p.motor_time_constant)


def hover_rpm(v: Vehicle, gravity: float) -> jax.Array:
    """Per-vehicle RPM whose thrust carries the weight (the positive root of the thrust curve)."""
    a, b, c = v.thrust[:, 2], v.thrust[:, 1], v.thrust[:, 0] - v.mass * gravity / 4.0
    return (-b + jnp.sqrt(b * b - 4.0 * a * c)) / (2.0 * a)


# ------------------------------------------------------------------------------------ dynamics
def derivative(x: jax.Array, rpm_cmd: jax.Array, force: jax.Array, torque: jax.Array, v: Vehicle, k: Constants) -> jax.Array:
    q, vel, w, rpm = x[:, 3:7], x[:, 7:10], x[:, 10:13], x[:, 13:17]
    thrust = v.thrust[:, 2:3] * rpm * rpm + v.thrust[:, 1:2] * rpm + v.thrust[:, 0:1]
    qw, qx, qy, qz = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    body_z = jnp.stack([2 * (qx * qz + qw * qy), 2 * (qy * qz - qw * qx), 1 - 2 * (qx * qx + qy * qy)], axis=1)
    m = v.mass[:, None]
    acc = body_z * (thrust.sum(1, keepdims=True) / m) + k.gravity + force / m
    tau = thrust @ k.torque_map + torque
    w_dot = (tau - jnp.cross(w, w * v.inertia)) / v.inertia
    wx, wy, wz = w[:, 0], w[:, 1], w[:, 2]
    q_dot = 0.5 * jnp.stack([-qx * wx - qy * wy - qz * wz, qw * wx + qy * wz - qz * wy, qw * wy - qx * wz + qz * wx,
                             qw * wz + qx * wy - qy * wx], axis=1)
    rpm_dot = (rpm_cmd - rpm) / v.motor_time_constant[:, None]
    return jnp.concatenate([vel, q_dot, acc, w_dot, rpm_dot], axis=1)


def sim_step(x: jax.Array, action: jax.Array, force: jax.Array, torque: jax.Array, v: Vehicle, k: Constants) -> jax.Array:
    """One RK4 step of dt under normalised RPM commands in [-1, 1] (the torch simulator's step)."""
    rpm_cmd = k.rpm_min + (jnp.clip(action, -1.0, 1.0) + 1.0) * (0.5 * (k.rpm_max - k.rpm_min))
    dt = k.dt
    k1 = derivative(x, rpm_cmd, force, torque, v, k)
    k2 = derivative(x + 0.5 * dt * k1, rpm_cmd, force, torque, v, k)
    k3 = derivative(x + 0.5 * dt * k2, rpm_cmd, force, torque, v, k)
    k4 = derivative(x + dt * k3, rpm_cmd, force, torque, v, k)
    nx = x + (dt / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
    quat = nx[:, 3:7] / jnp.linalg.norm(nx[:, 3:7], axis=1, keepdims=True)
    rpm = jnp.clip(nx[:, 13:17], k.rpm_min, k.rpm_max)
    return jnp.concatenate([nx[:, :3], quat, nx[:, 7:13], rpm], axis=1)


def rotmat(q: jax.Array) -> jax.Array:
    """(N, 4) quaternions (w, x, y, z) -> (N, 9) row-major rotation matrices (runtime/observation.py's)."""
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return jnp.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                      2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                      2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=1)


# ----------------------------------------------------------------------------------- the task
class HoverTask:
    """Pure functions of the hover task for one config; jit them or call them inside a scan."""

    def __init__(self, cfg: QuadrotorEnvConfig, params: CrazyflieParams, dtype: Any = jnp.float32) -> None:
        self.cfg, self.params, self.dtype = cfg, params, dtype
        self.k = constants(params, dtype)
        self.hover_action = params.hover_action
        self.dr: DomainRandomizationConfig = cfg.randomization
        self.actor_dim = 18 + cfg.action_history * ACTION_DIM
        # with randomisation the critic also sees the episode's vehicle (privileged, as the disturbance is)
        self.critic_dim = 28 + (VEHICLE_FEATURES if self.dr.enabled else 0)

    # observations: the layouts of env.actor_layout / env.critic_layout
    def observe(self, s: EnvState, key: jax.Array | None) -> tuple[jax.Array, jax.Array]:
        """(actor observation, with noise if ``key``; privileged critic observation)."""
        c, x = self.cfg, s.x
        rot = rotmat(x[:, 3:7])
        parts = [x[:, 0:3], rot, x[:, 7:10], x[:, 10:13]]
        clean = jnp.concatenate(parts, axis=1)
        if key is not None:
            n = x.shape[0]
            std = jnp.concatenate([jnp.full((3,), c.noise_position), jnp.full((9,), c.noise_orientation),
                                   jnp.full((3,), c.noise_linear_velocity), jnp.full((3,), c.noise_angular_velocity)]).astype(self.dtype)
            noisy = clean + jax.random.normal(key, (n, 18), self.dtype) * std
        else:
            noisy = clean
        obs = jnp.concatenate([noisy, s.history.reshape(x.shape[0], -1)], axis=1)
        rpm_n = 2.0 * (x[:, 13:17] - self.k.rpm_min) / (self.k.rpm_max - self.k.rpm_min) - 1.0
        parts = [clean, s.force * (1.0 / 0.0132), s.torque * (1.0 / 2.65e-5), rpm_n]
        if self.dr.enabled:
            parts.append(self.vehicle_features(s.vehicle))
        return obs, jnp.concatenate(parts, axis=1)

    def vehicle_features(self, v: Vehicle) -> jax.Array:
        """(N, 8), about 1 for the paper's vehicle: mass, inertia per axis, motor time constant (relative),
        and the thrust curve's three terms at full speed over the paper's hover thrust per rotor."""
        p = self.params
        share = p.mass * p.gravity / 4.0
        r = p.rpm_max
        return jnp.concatenate([(v.mass / p.mass)[:, None], v.inertia / jnp.asarray(p.inertia, self.dtype),
                                (v.motor_time_constant / p.motor_time_constant)[:, None],
                                v.thrust * jnp.asarray([1.0, r, r * r], self.dtype) / share], axis=1)

    def costs(self, x: jax.Array, action: jax.Array) -> jax.Array:
        p, v = x[:, 0:3], x[:, 7:10]
        c = jnp.stack([(p * p).sum(1), 1 - x[:, 3] ** 2, (v * v).sum(1), ((action - self.cfg.reward.action_baseline) ** 2).sum(1)], axis=1)
        return jnp.nan_to_num(c, nan=0.0, posinf=0.0)

    def terminated(self, x: jax.Array) -> jax.Array:
        c = self.cfg
        return (~jnp.isfinite(x).all(axis=1) | (jnp.abs(x[:, 0:3]) > c.termination_position).any(axis=1)
                | (jnp.abs(x[:, 7:10]) > c.termination_linear_velocity).any(axis=1)
                | (jnp.abs(x[:, 10:13]) > c.termination_angular_velocity).any(axis=1))

    # initial states
    def sample_vehicles(self, key: jax.Array, n: int) -> Vehicle:
        """The randomised vehicles (or the nominal one when randomisation is off)."""
        dr, p = self.dr, self.params
        if not dr.enabled:
            return nominal_vehicle(p, n, self.dtype)
        ks = jax.random.split(key, 6)
        u = lambda k, r, shape=(n,): jax.random.uniform(k, shape, self.dtype, r[0], r[1])
        mass = p.mass * u(ks[0], dr.mass_scale)
        t2w = u(ks[1], dr.thrust_to_weight)
        inertia = jnp.asarray(p.inertia, self.dtype) * u(ks[2], dr.inertia_scale, (n, 3))
        tau = u(ks[3], dr.motor_time_constant)
        c0, c1, c2 = thrust_curve(mass, t2w, u(ks[4], dr.thrust_constant_share), u(ks[5], dr.thrust_linear_share), p)
        return Vehicle(mass, inertia, jnp.stack([c0, c1, c2], axis=1), tau)

    def sample(self, key: jax.Array, n: int) -> EnvState:
        """Fresh episodes from the paper's initial-state distribution (env.QuadrotorHoverEnv.sample_states)."""
        c, p = self.cfg.init, self.params
        kv, kp, ka, kang, kvel, kw, kg, kf, kt, kr = jax.random.split(key, 10)
        vehicle = self.sample_vehicles(kv, n)
        u = lambda k, m: jax.random.uniform(k, (n, 3), self.dtype, -1.0, 1.0) * m
        axis = jax.random.normal(ka, (n, 3), self.dtype)
        axis = axis / jnp.maximum(jnp.linalg.norm(axis, axis=1, keepdims=True), 1e-9)
        angle = jax.random.uniform(kang, (n,), self.dtype) * math.radians(c.max_angle_deg)
        quat = jnp.concatenate([jnp.cos(angle / 2)[:, None], axis * jnp.sin(angle / 2)[:, None]], axis=1)
        if self.dr.enabled and self.dr.random_initial_rpm:
            rpm = jax.random.uniform(kr, (n, 4), self.dtype, p.rpm_min, p.rpm_max)
        else:
            rpm = jnp.tile(hover_rpm(vehicle, p.gravity)[:, None], (1, 4))
        x = jnp.concatenate([u(kp, c.max_position), quat, u(kvel, c.max_linear_velocity), u(kw, c.max_angular_velocity), rpm], axis=1)
        level = jnp.concatenate([jnp.zeros((n, 3), self.dtype), jnp.tile(jnp.asarray([1.0, 0, 0, 0], self.dtype), (n, 1)),
                                 jnp.zeros((n, 6), self.dtype), rpm], axis=1)
        guided = jax.random.uniform(kg, (n,), self.dtype) < c.guidance
        x = jnp.where(guided[:, None], level, x)
        force = jax.random.normal(kf, (n, 3), self.dtype) * c.disturbance_force_std
        torque = jax.random.normal(kt, (n, 3), self.dtype) * c.disturbance_torque_std
        history = jnp.full((n, self.cfg.action_history, ACTION_DIM), self.hover_action, self.dtype)
        return EnvState(x, history, force, torque, jnp.zeros((n,), jnp.int32), vehicle)

    def step(self, s: EnvState, action: jax.Array) -> tuple[EnvState, jax.Array, jax.Array, jax.Array]:
        """Advance every env (no reset): (state, costs, terminated, truncated)."""
        action = jnp.clip(action, -1.0, 1.0)
        x = sim_step(s.x, action, s.force, s.torque, s.vehicle, self.k)
        history = jnp.concatenate([s.history[:, 1:], action[:, None, :]], axis=1)
        steps = s.steps + 1
        term = self.terminated(x)
        trunc = (steps >= self.cfg.episode_steps) & ~term
        return s._replace(x=x, history=history, steps=steps), self.costs(x, action), term, trunc

    def reset_where(self, s: EnvState, done: jax.Array, key: jax.Array) -> EnvState:
        fresh = self.sample(key, s.x.shape[0])
        pick = lambda a, b: jnp.where(done.reshape((-1,) + (1,) * (a.ndim - 1)), b, a)
        return jax.tree.map(pick, s, fresh)
