"""ASAP's baselines for aligning the simulator to recorded sessions, each a real implementation.

- :func:`fit_sysid`: system identification by grid search (as ASAP's SysID baseline: replay the
  recorded actions from recorded states in the simulator for every candidate and keep the candidate
  with the smallest open-loop error). Parameters: Kp and Kd scales and the action latency in control
  steps (one grid), then joint damping and dry friction at the best of those (a second grid). Gear
  play and a speed-dependent torque limit are not among them, as on a real robot.
- :class:`DeltaDynamics`: a learned residual on the state transition, ``s' = f_sim(s, a) + g(s, a)``
  (ASAP's DeltaDynamics baseline: an MLP on the difference between recorded and simulated next
  states). Trained here on one-step differences (the paper grows a K-step autoregressive horizon);
  its corrections are clipped to the largest residual of its training data, without which an
  open-loop replay on unseen motions diverged to NaN within 0.5 s (measured).

Both plug into :func:`~robot_learning.tasks.asap.replay.replay_error`, the open-loop replay used for
every method's figures.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from robot_learning.tasks.asap.delta import DEFAULT, N_JOINTS, Recording
from robot_learning.tasks.asap.replay import SimParams, replay_error


def fit_sysid(recordings: Sequence[Recording], horizon_s: float = 1.0,
              kp_scales: Sequence[float] = (0.5, 0.6, 0.65, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3),
              kd_scales: Sequence[float] = (0.6, 0.8, 1.0, 1.2, 1.4), latencies: Sequence[int] = (0, 1, 2),
              dampings: Sequence[float] = (0.0, 0.2, 0.4, 0.8), frictions: Sequence[float] = (0.0, 0.2, 0.4, 0.8, 1.2),
              seed: int = 0) -> tuple[SimParams, dict[str, Any]]:
    """Grid search: the :class:`SimParams` whose open-loop replays match the recordings best (gains
    and latency first, then joint damping and friction at the best gains and latency)."""

    def search(grid: list[SimParams]) -> np.ndarray:
        return np.concatenate([replay_error(recordings, horizon_s, grid[i:i + 30], per_recording=4, seed=seed)
                               for i in range(0, len(grid), 30)])

    grid = [SimParams(kp, kd, lat) for kp, kd, lat in itertools.product(kp_scales, kd_scales, latencies)]
    errors = search(grid)
    best = grid[int(np.argmin(errors))]
    info = {"candidates": len(grid), "gains_error_rad": float(errors.min())}
    if SimParams() in grid:
        info["nominal_error_rad"] = float(errors[grid.index(SimParams())])
    grid = [SimParams(best.kp_scale, best.kd_scale, best.latency_steps, c, f) for c, f in itertools.product(dampings, frictions)]
    errors = search(grid)
    info["candidates"] += len(grid)
    info["best_error_rad"] = float(errors.min())
    return grid[int(np.argmin(errors))], info


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
        self.y_bound = np.full(2 * N_JOINTS, np.inf)  # corrections are kept within the largest residual seen in training

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
        a_prev = np.concatenate([r.prev_targets for r in recordings])
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
        self.y_bound = np.abs(y).max(0)
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
            y = np.clip(self.net(x).numpy() * self.y_std, -self.y_bound, self.y_bound)
        return q_next + y[:, :N_JOINTS], qd_next + y[:, N_JOINTS:]
