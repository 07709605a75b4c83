"""Balance feedback for the G1 on its feet: keep the centre of mass over the feet with the ankles.

With the ankle gains of HumanUP (20 N m/rad), the G1's PD controllers cannot hold it standing: the
body's gravity stiffness about the ankles (m g h, about 250 N m/rad) is six times the two ankles'.
Feedback on the joint angles alone does not help either: the reference's standing pose is not an
exact equilibrium, and holding it harder only makes the robot fall more slowly (measured: from the
reference's standing state, ankle stiffening by 3-10 x fell within 2 s; above that it oscillated).

What works is the ankle strategy on the centre of mass (COM): the ankle pitch and roll targets move
by ``k_com`` rad per metre of horizontal COM offset from the centre of the soles (and ``k_com_vel``
per m/s of COM velocity), in the feet's frame, plus a mild ankle stiffening towards the reference.
From the supine reference's squat (6 s) and standing states with joint noise of 0.03 rad and
0.3 rad/s it stands 2 of 2 and 6 of 6 tries (``tests/test_getup_balance.py`` checks it).

This is privileged (the COM and the feet's positions are simulator quantities); it makes the teacher
of behaviour cloning and of the imitation term (``GetupEnvConfig.balance``). The policy sees only its
observations and has to infer the COM offset from its joint angles and attitude.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

ANKLE_PITCH = np.array([4, 10])  # left, right (spec order)
ANKLE_ROLL = np.array([5, 11])


@dataclass
class BalanceConfig:
    """Gains of the COM feedback on the ankles; ``enabled`` adds it to the getting-up teacher."""

    enabled: bool = False
    k_com: float = 20.0  # rad per m of COM offset from the soles' centre
    k_com_vel: float = 2.0  # rad per m/s of COM velocity
    k_ankle: float = 5.0  # ankle targets also move by -k (q - q_ref): 6x the ankle stiffness
    from_pelvis_height_m: float = 0.45  # active where the reference's pelvis is at least this high (on the feet)


class ComBalance:
    """The feedback for a batch of robots (one scratch ``MjData``; a loop of kinematics per robot)."""

    def __init__(self, model: mujoco.MjModel, cfg: BalanceConfig | None = None) -> None:
        self.model, self.cfg = model, cfg or BalanceConfig()
        self.data = mujoco.MjData(model)
        self.root = model.body("pelvis").id
        self._jac = np.zeros((3, model.nv))

    def com(self, qpos: np.ndarray, qvel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) centre of mass and (N, 3) its velocity, world frame."""
        m, d = self.model, self.data
        pos, vel = np.empty((len(qpos), 3)), np.empty((len(qpos), 3))
        for i in range(len(qpos)):
            d.qpos[:] = qpos[i]
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            mujoco.mj_jacSubtreeCom(m, d, self._jac, self.root)
            pos[i] = d.subtree_com[self.root]
            vel[i] = self._jac @ qvel[i]
        return pos, vel

    @staticmethod
    def offset_in_feet_frame(com: np.ndarray, com_vel: np.ndarray, left_foot: np.ndarray,
                             right_foot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 2) horizontal COM offset from the soles' centre and (N, 2) COM velocity, both in the
        feet's frame (x forward, y from the right foot to the left)."""
        side = left_foot[:, :2] - right_foot[:, :2]
        side /= np.maximum(np.linalg.norm(side, axis=1, keepdims=True), 1e-6)
        fwd = np.stack([side[:, 1], -side[:, 0]], 1)
        e = com[:, :2] - 0.5 * (left_foot[:, :2] + right_foot[:, :2])
        frame = np.stack([fwd, side], 1)  # (N, 2, 2): rows are the feet frame's axes
        return np.einsum("nij,nj->ni", frame, e), np.einsum("nij,nj->ni", frame, com_vel[:, :2])

    def correction(self, qpos: np.ndarray, qvel: np.ndarray, left_foot: np.ndarray, right_foot: np.ndarray,
                   ref_joint_pos: np.ndarray) -> np.ndarray:
        """(N, 23) PD-target offsets (rad) that keep the COM over the feet."""
        c = self.cfg
        com, vel = self.com(qpos, qvel)
        e, v = self.offset_in_feet_frame(com, vel, left_foot, right_foot)
        out = np.zeros((len(qpos), ref_joint_pos.shape[1]))
        joints = qpos[:, 7:7 + out.shape[1]]
        out[:, ANKLE_PITCH] = (c.k_com * e[:, 0] + c.k_com_vel * v[:, 0])[:, None]
        out[:, ANKLE_ROLL] = (c.k_com * e[:, 1] + c.k_com_vel * v[:, 1])[:, None]
        ankles = np.concatenate([ANKLE_PITCH, ANKLE_ROLL])
        out[:, ankles] -= c.k_ankle * (joints[:, ankles] - ref_joint_pos[:, ankles])
        return out
