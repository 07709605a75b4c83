"""A privileged feedback teacher for getting up: time-varying LQR along a feasible reference.

The feasible references (``trajopt``) get the robot up open loop only from their own start; the
G1's ankle gains (20 N m/rad) cannot hold it standing without feedback. This teacher adds full-state
feedback: MuJoCo's dynamics are linearised (finite differences, contacts included) at every state of
the reference over one policy period (``decimation`` physics steps with a held target), and a
discrete Riccati recursion gives the gains ``K_t``; past the reference's end an infinite-horizon
regulator holds the final standing state. The command is ``u_ref[t] + K_t (x_ref[t] - x)``, in the
reference's heading (the yaw and the horizontal position of the robot do not matter).

It sees what the policy does not (base position, linear velocity); the policy learns from it by
DAgger (``train.dagger``), seeing only its own observations.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from robot_learning.tasks.getup.trajopt import FeasibleReference


@dataclass
class TeacherConfig:
    """Weights of the Riccati recursion (tangent state: base position 3, base rotation 3, 23 joints,
    then the same 29 velocities; inputs: the 23 PD targets)."""

    q_base_z: float = 20.0
    q_base_rot: float = 50.0
    q_joint: float = 5.0
    q_base_vel: float = 2.0
    q_joint_vel: float = 0.05
    r_target: float = 0.5
    fd_eps: float = 1e-6
    terminal_iterations: int = 400
    max_correction: float = 1.0  # rad: |K dx| per joint is clipped to this
    ignore_base_z: bool = True
    feedback_from_s: float = 0.0  # before this reference time the teacher plays the reference's targets


def _yaw_align(quat: np.ndarray, quat_ref: np.ndarray) -> np.ndarray:
    """(N,) yaw angles psi with R_z(psi) R(quat) closest to R(quat_ref) (least squares)."""
    out = np.empty(len(quat))
    r, rr = np.empty(9), np.empty(9)
    for i in range(len(quat)):
        mujoco.mju_quat2Mat(r, quat[i])
        mujoco.mju_quat2Mat(rr, quat_ref[i])
        m = rr.reshape(3, 3) @ r.reshape(3, 3).T
        out[i] = np.arctan2(m[1, 0] - m[0, 1], m[0, 0] + m[1, 1])
    return out


class LqrTeacher:
    """Gains along one feasible reference; :meth:`action` for a batch of robots at reference times."""

    def __init__(self, model: mujoco.MjModel, ref: FeasibleReference, decimation: int, kp: np.ndarray,
                 cfg: TeacherConfig | None = None) -> None:
        self.cfg = cfg or TeacherConfig()
        self.model, self.ref, self.decimation = model, ref, decimation
        self.nv, self.nu = model.nv, model.nu
        self.kp = kp
        self.A, self.B = self._linearise()
        self.K = self._riccati()

    # ------------------------------------------------------------------ set-up
    def _linearise(self) -> tuple[np.ndarray, np.ndarray]:
        m, nv, nu = self.model, self.nv, self.nu
        d = mujoco.MjData(m)
        T = len(self.ref.targets)
        A = np.zeros((T, 2 * nv, 2 * nv))
        B = np.zeros((T, 2 * nv, nu))
        a, b = np.zeros((2 * nv, 2 * nv)), np.zeros((2 * nv, nu))
        for t in range(T):
            mujoco.mj_resetData(m, d)
            d.qpos[:] = self.ref.qpos[t]
            d.qvel[:] = self.ref.qvel[t]
            d.ctrl[:] = self.ref.targets[t]
            mujoco.mj_forward(m, d)
            At, Bt = np.eye(2 * nv), np.zeros((2 * nv, nu))
            for _ in range(self.decimation):
                mujoco.mjd_transitionFD(m, d, self.cfg.fd_eps, True, a, b, None, None)
                At = a @ At
                Bt = a @ Bt + b
                mujoco.mj_step(m, d)
            A[t], B[t] = At, Bt
        return A, B

    def _weights(self) -> tuple[np.ndarray, np.ndarray]:
        c, nv = self.cfg, self.nv
        q = np.zeros(2 * nv)
        q[2] = c.q_base_z
        q[3:6] = c.q_base_rot
        q[6:nv] = c.q_joint
        q[nv:nv + 6] = c.q_base_vel
        q[nv + 6:] = c.q_joint_vel
        r = np.full(self.nu, c.r_target) * (self.kp / self.kp.mean()) ** 2
        return np.diag(q), np.diag(r)

    def _riccati(self) -> np.ndarray:
        Q, R = self._weights()
        A, B = self.A, self.B
        T = len(A)
        P = Q.copy()
        for _ in range(self.cfg.terminal_iterations):  # the standing regulator at the last state
            K = np.linalg.solve(R + B[-1].T @ P @ B[-1], B[-1].T @ P @ A[-1])
            P = Q + A[-1].T @ P @ (A[-1] - B[-1] @ K)
            P = 0.5 * (P + P.T)
        self.K_stand = K
        Ks = np.zeros((T, self.nu, 2 * self.nv))
        first = int(round(self.cfg.feedback_from_s * self.ref.fps))
        for t in range(T - 1, first - 1, -1):
            K = np.linalg.solve(R + B[t].T @ P @ B[t], B[t].T @ P @ A[t])
            Ks[t] = K
            P = Q + A[t].T @ P @ (A[t] - B[t] @ K)
            P = 0.5 * (P + P.T)
        return Ks

    # ------------------------------------------------------------------ use
    def deviation(self, qpos: np.ndarray, qvel: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """(N, 2 nv) tangent-space state minus the reference's at frames ``idx``, in the reference's
        heading, horizontal position ignored."""
        n, nv = len(qpos), self.nv
        rq, rv = self.ref.qpos[idx], self.ref.qvel[idx]
        psi = _yaw_align(qpos[:, 3:7], rq[:, 3:7])
        c, s = np.cos(psi), np.sin(psi)
        q = qpos.copy()
        v = qvel.copy()
        zq = np.stack([np.cos(psi / 2), np.zeros(n), np.zeros(n), np.sin(psi / 2)], 1)
        for i in range(n):
            mujoco.mju_mulQuat(q[i, 3:7], zq[i], qpos[i, 3:7])
        v[:, 0] = c * qvel[:, 0] - s * qvel[:, 1]
        v[:, 1] = s * qvel[:, 0] + c * qvel[:, 1]
        q[:, 0:2] = rq[:, 0:2]
        dx = np.zeros((n, 2 * nv))
        dq = np.zeros(nv)
        for i in range(n):
            mujoco.mj_differentiatePos(self.model, dq, 1.0, rq[i], q[i])
            dx[i, :nv] = dq
        dx[:, nv:] = v - rv
        if self.cfg.ignore_base_z:  # set by the contacts: the linearisation's gain on it is the contact stiffness's
            dx[:, 2] = 0.0
        return dx

    def action(self, qpos: np.ndarray, qvel: np.ndarray, frame: np.ndarray) -> np.ndarray:
        """(N, 23) PD targets for robots at reference frames ``frame`` (past the end: standing)."""
        T = len(self.ref.targets)
        idx = np.minimum(frame, T - 1)
        dx = self.deviation(qpos, qvel, idx)
        K = np.where((frame >= T)[:, None, None], self.K_stand[None], self.K[idx])
        corr = -np.einsum("nij,nj->ni", K, dx)
        corr = np.clip(corr, -self.cfg.max_correction, self.cfg.max_correction)
        return self.ref.targets[idx] + corr
