"""A batched quadrotor simulator in torch: thousands of Crazyflies per step on a CPU.

The model of "Learning to Fly in Seconds": rigid body with four rotors, thrust kf rpm^2 along body
z, reaction yaw torque proportional to thrust, first-order motor lag, RK4 at dt = 0.01 s, the
quaternion renormalised and the RPM clamped after every step. No drag, no ground effect (the
PyBullet gate adds those). Parameters: robot_learning/robots/crazyflie.py.

State layout (per vehicle, float32): position 0:3 (world), quaternion 3:7 (w, x, y, z, body->world),
linear velocity 7:10 (world), angular velocity 10:13 (body), rotor RPM 13:17.
"""
from __future__ import annotations

import torch

from robot_learning.robots.crazyflie import CrazyflieParams

POS, QUAT, VEL, ANGVEL, RPM = slice(0, 3), slice(3, 7), slice(7, 10), slice(10, 13), slice(13, 17)
STATE_DIM = 17


class BatchedQuadrotor:
    """Steps ``state`` (N, 17) under normalised RPM commands (N, 4) and optional external wrenches."""

    def __init__(self, params: CrazyflieParams, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> None:
        self.params = params
        self.dt = params.dt
        kw = dict(device=device, dtype=dtype)
        pos = torch.tensor(params.rotor_positions, **kw)
        yaw = torch.tensor(params.yaw_directions, **kw)
        # Torque of rotor i per newton of its thrust: r_i x (0, 0, 1) = (y_i, -x_i, 0), plus yaw reaction.
        self.torque_map = torch.stack([pos[:, 1], -pos[:, 0], yaw * params.yaw_coefficient], dim=1)  # (4, 3)
        self.inertia = torch.tensor(params.inertia, **kw)
        self.inv_inertia = 1.0 / self.inertia
        self.gravity = torch.tensor([0.0, 0.0, -params.gravity], **kw)
        self.kw = kw

    def derivative(self, x: torch.Tensor, rpm_cmd: torch.Tensor, force: torch.Tensor, torque: torch.Tensor) -> torch.Tensor:
        p = self.params
        q = x[:, QUAT]
        v = x[:, VEL]
        w = x[:, ANGVEL]
        rpm = x[:, RPM]
        thrust = p.thrust_coefficient * rpm * rpm  # (N, 4)
        if p.thrust_linear != 0.0 or p.thrust_constant != 0.0:  # a randomised vehicle's thrust curve
            thrust = thrust + p.thrust_linear * rpm + p.thrust_constant
        qw, qx, qy, qz = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
        # Third column of R (body z in world) times total thrust.
        body_z = torch.stack([2 * (qx * qz + qw * qy), 2 * (qy * qz - qw * qx), 1 - 2 * (qx * qx + qy * qy)], dim=1)
        acc = body_z * (thrust.sum(1, keepdim=True) / p.mass) + self.gravity + force / p.mass
        tau = thrust @ self.torque_map + torque
        jw = w * self.inertia
        w_dot = (tau - torch.linalg.cross(w, jw)) * self.inv_inertia
        wx, wy, wz = w[:, 0], w[:, 1], w[:, 2]
        q_dot = 0.5 * torch.stack(
            [-qx * wx - qy * wy - qz * wz, qw * wx + qy * wz - qz * wy, qw * wy - qx * wz + qz * wx, qw * wz + qx * wy - qy * wx], dim=1
        )
        rpm_dot = (rpm_cmd - rpm) / p.motor_time_constant
        return torch.cat([v, q_dot, acc, w_dot, rpm_dot], dim=1)

    def step(self, x: torch.Tensor, action: torch.Tensor, force: torch.Tensor | None = None, torque: torch.Tensor | None = None) -> torch.Tensor:
        """One RK4 step of dt under normalised RPM ``action`` in [-1, 1]; returns the new state."""
        p = self.params
        rpm_cmd = p.rpm_min + (action.clamp(-1.0, 1.0) + 1.0) * (0.5 * (p.rpm_max - p.rpm_min))
        zero = torch.zeros(x.shape[0], 3, **self.kw)
        force = zero if force is None else force
        torque = zero if torque is None else torque
        dt = self.dt
        k1 = self.derivative(x, rpm_cmd, force, torque)
        k2 = self.derivative(x + 0.5 * dt * k1, rpm_cmd, force, torque)
        k3 = self.derivative(x + 0.5 * dt * k2, rpm_cmd, force, torque)
        k4 = self.derivative(x + dt * k3, rpm_cmd, force, torque)
        nx = x + (dt / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
        nx[:, QUAT] = nx[:, QUAT] / nx[:, QUAT].norm(dim=1, keepdim=True)
        nx[:, RPM] = nx[:, RPM].clamp(p.rpm_min, p.rpm_max)
        return nx

    def hover_state(self, n: int) -> torch.Tensor:
        x = torch.zeros(n, STATE_DIM, **self.kw)
        x[:, 3] = 1.0
        x[:, RPM] = self.params.hover_rpm
        return x
