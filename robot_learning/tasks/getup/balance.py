"""Balance feedback for the G1 on its feet: keep the centre of mass over the feet with the ankles.

With the ankle gains of HumanUP (20 N m/rad), the G1's PD controllers cannot hold it standing: the
body's gravity stiffness about the ankles (m g h, about 250 N m/rad) is six times the two ankles'.
Feedback on the joint angles alone does not help either: the reference's standing pose is not an
exact equilibrium, and holding it harder only makes the robot fall more slowly (measured: from the
reference's standing state, ankle stiffening by 3-10 x fell within 2 s; above that it oscillated).

What works is the ankle strategy on the centre of mass (COM): the ankle pitch and roll targets move
by ``k_com`` rad per metre of horizontal COM offset from the centre of the soles (and ``k_com_vel``
per m/s of COM velocity; 40 and 4, see :class:`BalanceConfig`), in the feet's frame, plus a mild ankle stiffening towards the reference.
From the supine reference's standing state with joint noise of 0.03 rad and 0.3 rad/s it keeps the
robot standing every time (``tests/test_getup_balance.py``). Through the reference's rise it helps
less: from the supine squat (6 s) with the same noise 4 of 8 stand at 11 s, from the prone one at 8 s
2 of 8; the feasible rises are dynamic (the COM up to 7 cm off the feet, moments with no foot
loaded), so the feet's centre is the wrong set point there, and the reference's own COM offset as
set point did no better (3 of 8, 0 of 8).

This is privileged (the COM and the feet's positions are simulator quantities); it makes the teacher
of behaviour cloning and of the imitation term (``GetupEnvConfig.balance``). The policy sees only its
observations and has to infer the COM offset from its joint angles and attitude.
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from robot_learning.core.checks import check

ANKLE_PITCH = np.array([4, 10])  # left, right (spec order)
ANKLE_ROLL = np.array([5, 11])


@dataclass
class BalanceConfig:
    """Gains of the COM feedback on the ankles; ``enabled`` adds it to the getting-up teacher."""

    enabled: bool = False
    # rad per m of COM offset from the soles' centre. With 20 the loop barely beat gravity: 1 cm of
    # offset moved the ankle targets by 0.2 rad, 4 N m at the ankles' 20 N m/rad, against about 3.4 N m
    # of gravity torque, so with weaker motors (Stage II's motor strength 0.8-1.2) or a heavier pelvis
    # (+-3 kg) the standing robot drifted over and fell 2-3 s after reaching full height (64 held-out
    # supine poses, teacher: motor strength 36 %, mass 42 %); with 40 (and 4 on the velocity) every
    # robot that reached full height stayed up (64 %, 73 %: the rest fail earlier), and the nominal
    # figures did not change (100 held-out poses: supine 84 %, prone 96 %; at 1 kHz 91 %, 97 %)
    k_com: float = 40.0
    k_com_vel: float = 4.0  # rad per m/s of COM velocity
    k_ankle: float = 5.0  # ankle targets also move by -k (q - q_ref): 6x the ankle stiffness
    from_pelvis_height_m: float = 0.45  # active where the reference's pelvis is at least this high (on the feet)

    def __post_init__(self) -> None:
        check(self, non_negative=("k_com", "k_com_vel", "k_ankle", "from_pelvis_height_m"))


class ComBalance:
    """The feedback for a batch of robots (one scratch ``MjData``; a loop of kinematics per robot)."""

    def __init__(self, model: mujoco.MjModel, cfg: BalanceConfig | None = None) -> None:
        self.model, self.cfg = model, cfg or BalanceConfig()
        self.data = mujoco.MjData(model)
        self.root = model.body("pelvis").id
        self.soles = [model.site(f"rl_{side}_sole").id for side in ("left", "right")]
        self._jac = np.zeros((3, model.nv))

    def offsets(self, qpos: np.ndarray, qvel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 2) horizontal COM offset from the soles' centre and (N, 2) COM velocity, both in the
        feet's frame (x forward, y from the right foot to the left)."""
        m, d = self.model, self.data
        com, vel = np.empty((len(qpos), 3)), np.empty((len(qpos), 3))
        left, right = np.empty((len(qpos), 3)), np.empty((len(qpos), 3))
        for i in range(len(qpos)):
            d.qpos[:] = qpos[i]
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            mujoco.mj_jacSubtreeCom(m, d, self._jac, self.root)
            com[i] = d.subtree_com[self.root]
            vel[i] = self._jac @ qvel[i]
            left[i], right[i] = d.site_xpos[self.soles[0]], d.site_xpos[self.soles[1]]
        return self.offset_in_feet_frame(com, vel, left, right)

    @staticmethod
    def offset_in_feet_frame(com: np.ndarray, com_vel: np.ndarray, left_foot: np.ndarray,
                             right_foot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The COM's offset from the feet's centre and its velocity, in the feet's frame (see
        :meth:`offsets`), from world-frame positions."""
        side = left_foot[:, :2] - right_foot[:, :2]
        side /= np.maximum(np.linalg.norm(side, axis=1, keepdims=True), 1e-6)
        fwd = np.stack([side[:, 1], -side[:, 0]], 1)
        e = com[:, :2] - 0.5 * (left_foot[:, :2] + right_foot[:, :2])
        frame = np.stack([fwd, side], 1)  # (N, 2, 2): rows are the feet frame's axes
        return np.einsum("nij,nj->ni", frame, e), np.einsum("nij,nj->ni", frame, com_vel[:, :2])

    def correction(self, qpos: np.ndarray, qvel: np.ndarray, ref_joint_pos: np.ndarray,
                   offsets: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """(N, 23) PD-target offsets (rad) that bring the COM over the feet's centre, at rest, and
        stiffen the ankles towards ``ref_joint_pos`` (N, 23). ``offsets``: :meth:`offsets` of this
        state, if the caller has them already."""
        c = self.cfg
        e, v = self.offsets(qpos, qvel) if offsets is None else offsets
        out = np.zeros((len(qpos), ref_joint_pos.shape[1]))
        joints = qpos[:, 7:7 + out.shape[1]]
        out[:, ANKLE_PITCH] = (c.k_com * e[:, 0] + c.k_com_vel * v[:, 0])[:, None]
        out[:, ANKLE_ROLL] = (c.k_com * e[:, 1] + c.k_com_vel * v[:, 1])[:, None]
        ankles = np.concatenate([ANKLE_PITCH, ANKLE_ROLL])
        out[:, ankles] -= c.k_ankle * (joints[:, ankles] - ref_joint_pos[:, ankles])
        return out


# ------------------------------------------------------------------ a statically balanced rise
def _sole_pitch_and_com_offset(model: mujoco.MjModel, data: mujoco.MjData, joints: np.ndarray, pitch: float,
                               soles: list[int], root: int) -> tuple[float, float]:
    """With the pelvis pitched by ``pitch``: the left sole's pitch and the COM's forward offset from
    the soles' centre (world x)."""
    data.qpos[:] = 0.0
    data.qpos[2] = 1.0
    data.qpos[3:7] = (np.cos(pitch / 2), 0.0, np.sin(pitch / 2), 0.0)
    data.qpos[7:7 + len(joints)] = joints
    mujoco.mj_kinematics(model, data)
    mujoco.mj_comPos(model, data)
    r = data.site_xmat[soles[0]].reshape(3, 3)
    feet = 0.5 * (data.site_xpos[soles[0]] + data.site_xpos[soles[1]])
    return float(np.arctan2(-r[2, 0], r[2, 2])), float(data.subtree_com[root][0] - feet[0])


def balanced_posture(model: mujoco.MjModel, joints: np.ndarray, iterations: int = 30) -> tuple[np.ndarray, float]:
    """``joints`` (23,) with both ankle pitches shifted so that, standing on flat soles, the COM is
    over the soles' centre; and the pelvis pitch that makes the soles flat. Raises ValueError when no
    ankle shift within +-0.8 rad does it."""
    data = mujoco.MjData(model)
    soles = [model.site("rl_left_sole").id, model.site("rl_right_sole").id]
    root = model.body("pelvis").id

    def flat(j: np.ndarray) -> float:
        pitch = 0.0
        for _ in range(20):  # rotate the body until the sole is flat (a fixed point: the sole turns with it)
            pitch -= _sole_pitch_and_com_offset(model, data, j, pitch, soles, root)[0]
        return pitch

    def offset(shift: float) -> float:
        j = joints.copy()
        j[ANKLE_PITCH] += shift
        return _sole_pitch_and_com_offset(model, data, j, flat(j), soles, root)[1]

    lo, hi = -0.8, 0.8
    f_lo = offset(lo)
    if np.sign(f_lo) == np.sign(offset(hi)):
        raise ValueError("no ankle pitch within +-0.8 rad puts the COM over the feet for this posture")
    for _ in range(iterations):  # bisection on the ankle shift
        mid = 0.5 * (lo + hi)
        f_mid = offset(mid)
        if np.sign(f_mid) == np.sign(f_lo):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    out = joints.copy()
    out[ANKLE_PITCH] += 0.5 * (lo + hi)
    return out, flat(out)


def balanced_rise(model: mujoco.MjModel, squat: np.ndarray, stand: np.ndarray, knots: int = 21) -> np.ndarray:
    """(knots, 23) postures from ``squat`` to ``stand`` (joint-space interpolation), each made
    statically balanced by :func:`balanced_posture`: a rise to follow slowly with :class:`ComBalance`."""
    return np.array([balanced_posture(model, (1 - s) * squat + s * stand)[0] for s in np.linspace(0.0, 1.0, knots)])
