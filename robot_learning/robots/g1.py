"""Unitree G1 description as used by the getup (HumanUP) and asap (ASAP) modules.

The model is MuJoCo Menagerie's ``unitree_g1`` (``g1.xml``, "g1_29dof_rev_1_0": 29 hinge joints and
a free-floating pelvis). Like HumanUP and ASAP we use the G1 with its six wrist joints fixed, leaving
23 actuated joints: legs 6 + 6, waist 3 (yaw, roll, pitch), arms 4 + 4 (shoulder pitch, roll, yaw and
elbow). Joint order is Menagerie's (= Unitree's motor order) with the wrists left out.

Where each number comes from:

- position limits: the ``range`` of each joint in Menagerie ``g1.xml`` (identical in ``g1_mjx.xml``);
- effort limits: the ``actuatorfrcrange`` of each joint in ``g1.xml``: 88 N m (hip pitch, hip yaw,
  waist yaw; Unitree 7520-14 motor), 139 N m (hip roll, knee; 7520-22), 50 N m (ankles, waist roll
  and pitch: two 5020 motors through a linkage), 25 N m (shoulders, elbows; 5020);
- velocity limits: not in the MJCF. Unitree's official URDF (unitree_ros ``g1_29dof.urdf``,
  ``<limit velocity=...>``) per motor: 7520-14 -> 32 rad/s, 7520-22 -> 20 rad/s, 5020 (and the
  2 x 5020 linkages) -> 37 rad/s. Confirmed in a public reference that quotes that URDF (waist yaw
  88 N m / 32 rad/s; ankles and waist roll/pitch 50 N m / 37 rad/s; shoulders 25 N m / 37 rad/s); the
  20 rad/s of the 7520-22 is the value of Unitree's motor table as used by unitree_rl_lab-style
  configs and was not re-confirmed from the URDF text itself;
- PD gains: HumanUP (Learning Getting-Up Policies for Real-World Humanoid Robots), G1 setup: hip yaw
  and hip roll kp 150 / kd 5, hip pitch and knee 200 / 5, ankles 20 / 4, shoulders and elbows 40 / 10,
  waist 200 / 5;
- default pose: Menagerie ``g1.xml`` keyframe ``"stand"`` (legs and waist straight at 0, shoulder
  pitch 0.2, shoulder roll +-0.2 (outwards), shoulder yaw 0, elbow 1.28), pelvis at 0.79 m
  (``G1_STAND_BASE_HEIGHT``). Menagerie's ``scene_mjx.xml`` also has a knee-bent ``"home"`` keyframe
  (hip pitch -0.1, knee 0.3, ankle pitch -0.2, pelvis at 0.783675 m): ``G1_KNEES_BENT_POSE``;
- IMU: Menagerie puts IMU sites in the pelvis (``imu_in_pelvis``) and the torso (``imu_in_torso``);
  the G1's low-level state reports the pelvis IMU, so ``imu_body = "pelvis"``, ``imu_site = "imu_in_pelvis"``;
- head: Menagerie's primitive model has a ``head_collision`` sphere of radius 0.06 m centred at
  (0, 0, 0.43) in ``torso_link`` (the mesh model's head mesh spans the same place): ``G1_HEAD_OFFSET``.
"""
from __future__ import annotations

from robot_learning.robots.joint_robot import JointRobotSpec

NAME = "unitree_g1"

_LEG = ("hip_pitch", "hip_roll", "hip_yaw", "knee", "ankle_pitch", "ankle_roll")
_ARM = ("shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow")
_WRIST = ("wrist_roll", "wrist_pitch", "wrist_yaw")

#: All 29 hinge joints of Menagerie's G1 (rev 1.0) in model order (= Unitree motor order).
G1_29DOF_JOINTS: tuple[str, ...] = (
    *(f"left_{j}_joint" for j in _LEG),
    *(f"right_{j}_joint" for j in _LEG),
    "waist_yaw_joint",
    "waist_roll_joint",
    "waist_pitch_joint",
    *(f"left_{j}_joint" for j in (*_ARM, *_WRIST)),
    *(f"right_{j}_joint" for j in (*_ARM, *_WRIST)),
)
#: The six wrist joints that HumanUP/ASAP's 23-DoF G1 keeps fixed (at 0).
G1_WRIST_JOINTS: tuple[str, ...] = tuple(j for j in G1_29DOF_JOINTS if "wrist" in j)
#: The 23 actuated joints, in policy order.
G1_23DOF_JOINTS: tuple[str, ...] = tuple(j for j in G1_29DOF_JOINTS if j not in G1_WRIST_JOINTS)

G1_STAND_BASE_HEIGHT = 0.79  # m, pelvis height of Menagerie's "stand" keyframe
G1_KNEES_BENT_BASE_HEIGHT = 0.783675  # m, pelvis height of scene_mjx.xml's "home" keyframe
G1_HEAD_OFFSET = (0.0, 0.0, 0.43)  # m, head centre in the torso_link frame
G1_HEAD_RADIUS = 0.06  # m

# Per-joint tables keyed by the joint name without side prefix and "_joint" suffix.
# name: (lower, upper, effort, velocity, kp, kd)
_LIMITS_AND_GAINS: dict[str, tuple[float, float, float, float, float, float]] = {
    "left_hip_pitch": (-2.5307, 2.8798, 88.0, 32.0, 200.0, 5.0),
    "left_hip_roll": (-0.5236, 2.9671, 139.0, 20.0, 150.0, 5.0),
    "left_hip_yaw": (-2.7576, 2.7576, 88.0, 32.0, 150.0, 5.0),
    "left_knee": (-0.087267, 2.8798, 139.0, 20.0, 200.0, 5.0),
    "left_ankle_pitch": (-0.87267, 0.5236, 50.0, 37.0, 20.0, 4.0),
    "left_ankle_roll": (-0.2618, 0.2618, 50.0, 37.0, 20.0, 4.0),
    "right_hip_pitch": (-2.5307, 2.8798, 88.0, 32.0, 200.0, 5.0),
    "right_hip_roll": (-2.9671, 0.5236, 139.0, 20.0, 150.0, 5.0),
    "right_hip_yaw": (-2.7576, 2.7576, 88.0, 32.0, 150.0, 5.0),
    "right_knee": (-0.087267, 2.8798, 139.0, 20.0, 200.0, 5.0),
    "right_ankle_pitch": (-0.87267, 0.5236, 50.0, 37.0, 20.0, 4.0),
    "right_ankle_roll": (-0.2618, 0.2618, 50.0, 37.0, 20.0, 4.0),
    "waist_yaw": (-2.618, 2.618, 88.0, 32.0, 200.0, 5.0),
    "waist_roll": (-0.52, 0.52, 50.0, 37.0, 200.0, 5.0),
    "waist_pitch": (-0.52, 0.52, 50.0, 37.0, 200.0, 5.0),
    "left_shoulder_pitch": (-3.0892, 2.6704, 25.0, 37.0, 40.0, 10.0),
    "left_shoulder_roll": (-1.5882, 2.2515, 25.0, 37.0, 40.0, 10.0),
    "left_shoulder_yaw": (-2.618, 2.618, 25.0, 37.0, 40.0, 10.0),
    "left_elbow": (-1.0472, 2.0944, 25.0, 37.0, 40.0, 10.0),
    "right_shoulder_pitch": (-3.0892, 2.6704, 25.0, 37.0, 40.0, 10.0),
    "right_shoulder_roll": (-2.2515, 1.5882, 25.0, 37.0, 40.0, 10.0),
    "right_shoulder_yaw": (-2.618, 2.618, 25.0, 37.0, 40.0, 10.0),
    "right_elbow": (-1.0472, 2.0944, 25.0, 37.0, 40.0, 10.0),
}

# Menagerie g1.xml keyframe "stand" (joint part of qpos, wrists dropped).
_STAND: dict[str, float] = {
    "left_shoulder_pitch": 0.2,
    "left_shoulder_roll": 0.2,
    "left_elbow": 1.28,
    "right_shoulder_pitch": 0.2,
    "right_shoulder_roll": -0.2,
    "right_elbow": 1.28,
}
# Menagerie scene_mjx.xml keyframe "home": the stand arms with mildly bent legs.
_KNEES_BENT: dict[str, float] = {
    **_STAND,
    "left_hip_pitch": -0.1,
    "left_knee": 0.3,
    "left_ankle_pitch": -0.2,
    "right_hip_pitch": -0.1,
    "right_knee": 0.3,
    "right_ankle_pitch": -0.2,
}


def _short(joint: str) -> str:
    return joint[: -len("_joint")]


def _column(i: int) -> tuple[float, ...]:
    return tuple(_LIMITS_AND_GAINS[_short(j)][i] for j in G1_23DOF_JOINTS)


#: Knee-bent standing pose (Menagerie scene_mjx.xml "home"), in G1_23DOF_JOINTS order.
G1_KNEES_BENT_POSE: tuple[float, ...] = tuple(_KNEES_BENT.get(_short(j), 0.0) for j in G1_23DOF_JOINTS)

G1_SPEC = JointRobotSpec(
    name=NAME,
    joint_names=G1_23DOF_JOINTS,
    default_positions=tuple(_STAND.get(_short(j), 0.0) for j in G1_23DOF_JOINTS),
    kp=_column(4),
    kd=_column(5),
    position_lower=_column(0),
    position_upper=_column(1),
    velocity_limit=_column(3),
    effort_limit=_column(2),
    floating_base=True,
    imu_body="pelvis",
    imu_site="imu_in_pelvis",
    source=(
        "MuJoCo Menagerie unitree_g1/g1.xml (joint range, actuatorfrcrange, keyframe 'stand', imu_in_pelvis); "
        "velocity limits from Unitree's g1_29dof URDF per motor (7520-14: 32, 7520-22: 20, 5020: 37 rad/s); "
        "PD gains from HumanUP (hip yaw/roll 150/5, hip pitch & knee 200/5, ankle 20/4, shoulder & elbow 40/10, "
        "waist 200/5); wrists fixed (23 DoF) as in HumanUP/ASAP. See robot_learning/robots/g1.py."
    ),
)
