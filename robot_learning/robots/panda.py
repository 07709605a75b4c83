"""Franka Emika Panda description (hil_serl module) and a numpy forward kinematics.

The simulated model is MuJoCo Menagerie's ``franka_emika_panda/panda.xml`` (arm + Franka hand).
The spec covers the 7 arm joints; the hand's two coupled finger slides are described separately in
:data:`PANDA_GRIPPER` (they are driven by Menagerie's own tendon actuator, not by the joint PD).

Where each number comes from:

- position limits: joint ``range`` in Menagerie ``panda.xml``, identical to Franka's datasheet
  (frankaemika.github.io/docs/control_parameters.html: q1,q3,q5,q7 +-2.8973, q2 +-1.7628,
  q4 [-3.0718, -0.0698], q6 [-0.0175, 3.7525]);
- velocity limits: Franka's datasheet, 2.1750 rad/s (joints 1-4) and 2.6100 rad/s (joints 5-7)
  (same values in libfranka-based code and MoveIt's panda_moveit_config joint_limits.yaml);
- effort limits: Franka's datasheet 87 N m (joints 1-4), 12 N m (joints 5-7) = the ``forcerange`` of
  Menagerie's actuators;
- PD gains: Menagerie ``panda.xml``'s own position servos (``gainprm`` / ``biasprm``): kp 4500, 4500,
  3500, 3500, 2000, 2000, 2000 N m/rad and kd 450, 450, 350, 350, 200, 200, 200 N m s/rad. They are stiff
  enough to hold the arm against gravity without a gravity-compensation term (the real Panda
  compensates gravity internally; the simulation does not) and are stable at 500 Hz with MuJoCo's
  implicitfast integrator because the damping term is integrated implicitly. The large kd is
  mostly reflected-inertia damping; torques saturate at the effort limits for large errors;
- default pose: Menagerie keyframe ``"home"``: (0, 0, 0, -1.57079, 0, 1.57079, -0.7853);
- kinematics: Franka's modified (Craig) Denavit-Hartenberg parameters, see :data:`PANDA_DH`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from robot_learning.robots.joint_robot import JointRobotSpec

NAME = "franka_panda"
PANDA_ARM_JOINTS: tuple[str, ...] = tuple(f"joint{i}" for i in range(1, 8))
PANDA_HOME: tuple[float, ...] = (0.0, 0.0, 0.0, -1.57079, 0.0, 1.57079, -0.7853)

PANDA_SPEC = JointRobotSpec(
    name=NAME,
    joint_names=PANDA_ARM_JOINTS,
    default_positions=PANDA_HOME,
    kp=(4500.0, 4500.0, 3500.0, 3500.0, 2000.0, 2000.0, 2000.0),
    kd=(450.0, 450.0, 350.0, 350.0, 200.0, 200.0, 200.0),
    position_lower=(-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973),
    position_upper=(2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973),
    velocity_limit=(2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61),
    effort_limit=(87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0),
    floating_base=False,
    imu_body=None,
    source=(
        "limits: Menagerie franka_emika_panda/panda.xml joint range = Franka datasheet; velocity 2.175/2.61 rad/s "
        "and effort 87/12 N m: Franka datasheet (control_parameters); gains: Menagerie panda.xml position servos; "
        "default: Menagerie keyframe 'home'. See robot_learning/robots/panda.py."
    ),
)


@dataclass(frozen=True)
class GripperSpec:
    """The Franka hand: two mirrored finger slides moved together (opening per finger, m)."""

    joint_names: tuple[str, ...] = ("finger_joint1", "finger_joint2")
    opening_range: tuple[float, float] = (0.0, 0.04)  # m per finger (Menagerie joint range)
    max_force: float = 100.0  # N, Menagerie actuator8 forcerange (Franka hand: 70 N continuous)
    actuator: str = "actuator8"  # Menagerie's tendon actuator; ctrl 0..255 maps to 0..0.04 m


PANDA_GRIPPER = GripperSpec()

# Modified DH parameters (Craig convention) from Franka's documentation, one row per joint i:
# (a_{i-1}, d_i, alpha_{i-1}); frame i = frame i-1 * RotX(alpha) * TransX(a) * RotZ(q_i) * TransZ(d).
PANDA_DH: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.333, 0.0),
    (0.0, 0.0, -np.pi / 2),
    (0.0, 0.316, np.pi / 2),
    (0.0825, 0.0, np.pi / 2),
    (-0.0825, 0.384, -np.pi / 2),
    (0.0, 0.0, np.pi / 2),
    (0.088, 0.0, np.pi / 2),
)
PANDA_FLANGE_D = 0.107  # m, flange along z of frame 7 (a = 0, alpha = 0, theta = 0)
# Franka's hand frame is the flange rotated by -pi/4 about z (Menagerie: body "hand", quat
# (0.9238795, 0, 0, -0.3826834)); the TCP (between the fingertips) is 0.1034 m along the hand's z.
PANDA_HAND_YAW = -np.pi / 4
PANDA_TCP_OFFSET = 0.1034  # m

PandaFrame = Literal["flange", "hand", "tcp"]


def _rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_z(angle: np.ndarray) -> np.ndarray:
    """Rotations about z for an array of angles: shape (..., 3, 3)."""
    c, s = np.cos(angle), np.sin(angle)
    zero, one = np.zeros_like(c), np.ones_like(c)
    return np.stack(
        [np.stack([c, -s, zero], -1), np.stack([s, c, zero], -1), np.stack([zero, zero, one], -1)], -2
    )


def panda_fk(q: np.ndarray, frame: PandaFrame = "flange") -> tuple[np.ndarray, np.ndarray]:
    """Forward kinematics of the Panda arm in the base (``link0``) frame, numpy only.

    Args:
        q: joint angles, shape (7,) or (..., 7).
        frame: ``"flange"`` (Franka's flange frame F), ``"hand"`` (flange rotated by -pi/4 about z:
            Franka's hand frame and MuJoCo Menagerie's ``hand`` body; same origin as the flange) or
            ``"tcp"`` (the hand frame moved 0.1034 m along its z, between the fingertips).

    Returns:
        (position, rotation): shapes (..., 3) and (..., 3, 3); the rotation maps frame vectors to
        base-frame vectors.
    """
    q = np.asarray(q, dtype=np.float64)
    if q.shape[-1] != 7:
        raise ValueError(f"panda_fk expects 7 joint angles in the last axis, got shape {q.shape}")
    batch = q.shape[:-1]
    rot = np.broadcast_to(np.eye(3), (*batch, 3, 3)).copy()
    pos = np.zeros((*batch, 3))
    rz = _rot_z(q)  # (..., 7, 3, 3)
    for i, (a, d, alpha) in enumerate(PANDA_DH):
        # T_i = T_{i-1} RotX(alpha) TransX(a) RotZ(q_i) TransZ(d)
        rx = _rot_x(alpha)
        pos = pos + rot @ np.array([a, 0.0, 0.0])
        rot = rot @ rx @ rz[..., i, :, :]
        pos = pos + rot @ np.array([0.0, 0.0, d])
    pos = pos + rot @ np.array([0.0, 0.0, PANDA_FLANGE_D])
    if frame == "flange":
        return pos, rot
    if frame not in ("hand", "tcp"):
        raise ValueError(f"unknown frame {frame!r}; expected 'flange', 'hand' or 'tcp'")
    rot = rot @ _rot_z(np.asarray(PANDA_HAND_YAW))
    if frame == "tcp":
        pos = pos + rot @ np.array([0.0, 0.0, PANDA_TCP_OFFSET])
    return pos, rot
