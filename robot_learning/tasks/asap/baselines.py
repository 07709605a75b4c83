"""ASAP's baselines for aligning the simulator to recorded sessions, each a real implementation.

- :func:`fit_sysid`: system identification by grid search (as ASAP's SysID baseline: replay the
  recorded actions from recorded states in the simulator for every candidate and keep the candidate
  with the smallest open-loop error). Parameters: Kp and Kd scales and the action latency in control
  steps. Gear play and a speed-dependent torque limit are not among them, as on a real robot.
- :class:`DeltaDynamics`: a learned residual on the state transition, ``s' = f_sim(s, a) + g(s, a)``
  (ASAP's DeltaDynamics baseline: an MLP on the difference between recorded and simulated next
  states). Trained here on one-step differences (the paper grows a K-step autoregressive horizon).

Both plug into :func:`replay_error`, the open-loop replay used for every method's figures.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from robot_learning.robots.g1 import G1_SPEC
from robot_learning.tasks.asap.delta import DEFAULT, N_JOINTS, Recording


@dataclass
class SimParams:
    """What SysID may change in the training simulator."""

    kp_scale: float = 1.0
    kd_scale: float = 1.0
    latency_steps: int = 0  # control steps between a command and its effect


def _starts(recordings: Sequence[Recording], horizon: int, per_recording: int, seed: int) -> list[tuple[Recording, int]]:
    rng = np.random.default_rng(seed)
    picks = [(r, int(t)) for r in recordings if r.num_steps >= horizon + 1
             for t in rng.integers(1, r.num_steps - horizon + 1, per_recording)]
    if not picks:
        raise ValueError(f"no recording is longer than {horizon} steps")
    return picks


def replay_error(recordings: Sequence[Recording], horizon_s: float, params: Sequence[SimParams] = (SimParams(),),
                 delta: Any = None, dynamics: Any = None, per_recording: int = 8, seed: int = 0,
                 physics_dt: float = 0.002, decimation: int = 10) -> np.ndarray:
    """Mean absolute joint-position error (rad) of open-loop replays, one value per entry of
    ``params``: from recorded states, the recorded actions (latency-delayed by ``params``; the
    action before the start comes from the recording), optionally corrected by a delta-action model
    (``delta.delta(q, qd, a, a_prev)``) or a residual dynamics model (``dynamics.correct(q, qd, a, a_prev, q', qd')``),
    where ``a_prev`` is the previous recorded action."""
    from robot_learning.sim.mujoco_batch import G1Batch, G1BatchConfig

    H = int(round(horizon_s / (physics_dt * decimation)))
    picks = _starts(recordings, H, per_recording, seed)
    P, S = len(params), len(picks)
    n = P * S
    kp0, kd0 = G1_SPEC.array("kp"), G1_SPEC.array("kd")
    with G1Batch(G1BatchConfig(num_envs=n, physics_dt=physics_dt, decimation=decimation, fix_base=True, seed=seed)) as b:
        for j, prm in enumerate(params):
            b.set_gains(np.arange(j * S, (j + 1) * S), kp0 * prm.kp_scale, kd0 * prm.kd_scale)
        q0 = np.stack([r.joint_pos[t] for r, t in picks])
        v0 = np.stack([r.joint_vel[t] for r, t in picks])
        b.reset(np.arange(n), np.tile(q0, (P, 1)), np.tile(v0, (P, 1)))
        err = np.zeros(n)
        for k in range(H):
            a = np.concatenate([np.stack([r.targets[max(0, t + k - prm.latency_steps)] for r, t in picks]) for prm in params])
            a_prev = np.tile(np.stack([r.targets[max(0, t + k - 1)] for r, t in picks]), (P, 1))
            if delta is not None:
                a = a + delta.delta(b.joint_pos, b.joint_vel, a, a_prev)
            q_before, v_before = b.joint_pos.copy(), b.joint_vel.copy()
            b.step(a)
            if dynamics is not None:
                q_new, v_new = dynamics.correct(q_before, v_before, a, a_prev, b.joint_pos.copy(), b.joint_vel.copy())
                b.reset(np.arange(n), q_new, v_new)
            rec = np.tile(np.stack([r.joint_pos[t + k + 1] for r, t in picks]), (P, 1))
            err += np.abs(b.joint_pos - rec).mean(-1)
    return (err / H).reshape(P, S).mean(1)


def fit_sysid(recordings: Sequence[Recording], horizon_s: float = 1.0,
              kp_scales: Sequence[float] = (0.5, 0.6, 0.65, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3),
              kd_scales: Sequence[float] = (0.6, 0.8, 1.0, 1.2, 1.4), latencies: Sequence[int] = (0, 1, 2),
              seed: int = 0) -> tuple[SimParams, dict[str, Any]]:
    """Grid search: the :class:`SimParams` whose open-loop replays match the recordings best."""
    grid = [SimParams(kp, kd, lat) for kp, kd, lat in itertools.product(kp_scales, kd_scales, latencies)]
    errors = np.concatenate([replay_error(recordings, horizon_s, grid[i:i + 30], per_recording=4, seed=seed)
                             for i in range(0, len(grid), 30)])
    best = int(np.argmin(errors))
    info = {"candidates": len(grid), "best_error_rad": float(errors[best])}
    if SimParams() in grid:
        info["nominal_error_rad"] = float(errors[grid.index(SimParams())])
    return grid[best], info


class DeltaDynamics:
    """``g(q, qd, a, a_prev) -> (dq, dqd)`` added to the simulator's next joint state (an MLP, MSE fit;
    it sees the previous action too, as the delta-action model does)."""

    def __init__(self, hidden: tuple[int, ...] = (256, 256), seed: int = 0) -> None:
        import torch
        from torch import nn

        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        sizes = [4 * N_JOINTS, *hidden, 2 * N_JOINTS]
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(nn.ELU())
        self.net = nn.Sequential(*layers)
        self.x_mean = np.zeros(4 * N_JOINTS)
        self.x_std = np.ones(4 * N_JOINTS)
        self.y_std = np.ones(2 * N_JOINTS)

    @staticmethod
    def features(q: np.ndarray, qd: np.ndarray, a: np.ndarray, a_prev: np.ndarray) -> np.ndarray:
        return np.concatenate([q - DEFAULT, qd, a - q, a_prev - q], -1)

    def fit(self, recordings: Sequence[Recording], epochs: int = 200, physics_dt: float = 0.002, decimation: int = 10) -> dict[str, float]:
        """One-step residuals: recorded next state minus the simulator's from the recorded state and action."""
        import torch

        from robot_learning.sim.mujoco_batch import G1Batch, G1BatchConfig

        q = np.concatenate([r.joint_pos[:-1] for r in recordings])
        v = np.concatenate([r.joint_vel[:-1] for r in recordings])
        a = np.concatenate([r.targets for r in recordings])
        a_prev = np.concatenate([np.concatenate([r.targets[:1], r.targets[:-1]]) for r in recordings])
        q1 = np.concatenate([r.joint_pos[1:] for r in recordings])
        v1 = np.concatenate([r.joint_vel[1:] for r in recordings])
        n = len(q)
        with G1Batch(G1BatchConfig(num_envs=n, physics_dt=physics_dt, decimation=decimation, fix_base=True)) as b:
            b.reset(np.arange(n), q, v)
            b.step(a)
            y = np.concatenate([q1 - b.joint_pos, v1 - b.joint_vel], -1)
        x = self.features(q, v, a, a_prev)
        self.x_mean, self.x_std = x.mean(0), x.std(0) + 1e-6
        self.y_std = y.std(0) + 1e-9
        X = torch.tensor((x - self.x_mean) / self.x_std, dtype=torch.float32)
        Y = torch.tensor(y / self.y_std, dtype=torch.float32)
        opt = torch.optim.Adam(self.net.parameters(), lr=1e-3)
        gen = torch.Generator().manual_seed(0)
        for _ in range(epochs):
            perm = torch.randperm(n, generator=gen)
            for i in range(0, n, 512):
                idx = perm[i:i + 512]
                loss = torch.mean((self.net(X[idx]) - Y[idx]) ** 2)
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():
            final = float(torch.mean((self.net(X) - Y) ** 2))
        return {"samples": n, "normalised_mse": final, "residual_rms_rad": float(np.sqrt(np.mean(y[:, :N_JOINTS] ** 2)))}

    def correct(self, q: np.ndarray, qd: np.ndarray, a: np.ndarray, a_prev: np.ndarray, q_next: np.ndarray,
                qd_next: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        x = torch.tensor((self.features(q, qd, a, a_prev) - self.x_mean) / self.x_std, dtype=torch.float32)
        with torch.no_grad():
            y = self.net(x).numpy() * self.y_std
        return q_next + y[:, :N_JOINTS], qd_next + y[:, N_JOINTS:]
