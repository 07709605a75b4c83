"""Open-loop replay of recorded sessions in the training simulator: the one measure of how well an
(aligned) simulator reproduces a target world, used for every method (raw, SysID, DeltaDynamics,
ASAP's delta-action model)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from robot_learning.robots.g1 import G1_SPEC
from robot_learning.tasks.asap.delta import Recording, SessionError


@dataclass
class SimParams:
    """What SysID may change in the training simulator."""

    kp_scale: float = 1.0
    kd_scale: float = 1.0
    latency_steps: int = 0  # control steps between a command and its effect
    joint_damping: float = 0.0  # N m s/rad of viscous friction added to every joint
    joint_friction: float = 0.0  # N m of dry friction added to every joint


def _starts(recordings: Sequence[Recording], horizon: int, per_recording: int, seed: int) -> list[tuple[Recording, int]]:
    rng = np.random.default_rng(seed)
    picks = [(r, int(t)) for r in recordings if r.num_steps >= horizon + 1
             for t in rng.integers(1, r.num_steps - horizon + 1, per_recording)]
    if not picks:
        raise SessionError(f"no recording is longer than {horizon} steps")
    return picks


def replay_error(recordings: Sequence[Recording], horizon_s: float, params: Sequence[SimParams] = (SimParams(),),
                 delta: Any = None, dynamics: Any = None, per_recording: int = 8, seed: int = 0,
                 physics_dt: float = 0.002, decimation: int = 10, per_joint: bool = False) -> np.ndarray:
    """Mean absolute joint-position error (rad) of open-loop replays, one value per entry of
    ``params``: from recorded states, the recorded actions (latency-delayed by ``params``; the
    action before the start comes from the recording), optionally corrected by a delta-action model
    (``delta.delta(q, qd, a, a_prev)``) or a residual dynamics model (``dynamics.correct(q, qd, a, a_prev, q', qd')``),
    where ``a_prev`` is the previous recorded action. ``per_joint``: (len(params), 23) instead."""
    from robot_learning.sim.mujoco_batch import G1Batch, G1BatchConfig

    H = int(round(horizon_s / (physics_dt * decimation)))
    picks = _starts(recordings, H, per_recording, seed)
    P, S = len(params), len(picks)
    n = P * S
    kp0, kd0 = G1_SPEC.array("kp"), G1_SPEC.array("kd")
    with G1Batch(G1BatchConfig(num_envs=n, physics_dt=physics_dt, decimation=decimation, fix_base=True, seed=seed)) as b:
        for j, prm in enumerate(params):
            ids = np.arange(j * S, (j + 1) * S)
            b.set_gains(ids, kp0 * prm.kp_scale, kd0 * prm.kd_scale)
            if prm.joint_damping or prm.joint_friction:
                b.set_joint_friction(ids, np.full(S, prm.joint_damping), np.full(S, prm.joint_friction))
        q0 = np.stack([r.joint_pos[t] for r, t in picks])
        v0 = np.stack([r.joint_vel[t] for r, t in picks])
        b.reset(np.arange(n), np.tile(q0, (P, 1)), np.tile(v0, (P, 1)))
        err = np.zeros((n, G1_SPEC.num_joints))
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
            err += np.abs(b.joint_pos - rec)
    per = (err / H).reshape(P, S, -1).mean(1)
    return per if per_joint else per.mean(-1)
