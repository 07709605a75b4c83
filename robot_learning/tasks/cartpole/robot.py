"""The cart-pole robot: its description (joint order, PD gains, limits), its MuJoCo model and the
runtime's settings for it. Plain numpy: the robot's computer imports this module to deploy.

A cart slides on a rail (joint ``cart``, position-controlled by a PD servo: the policy moves its
target); a pole hangs on a free hinge on the cart. The pole's angle is not measured by an encoder
but by an IMU on the pole, so the policy reads it through the runtime's ``projected_gravity`` and
``base_angular_velocity`` observation fields, exactly as a humanoid reads its pelvis.

Frames: world z up; the pole's hinge axis is y, so a positive angle tips the pole towards +x.
"""
from __future__ import annotations

import math

import numpy as np

from robot_learning.robots.joint_robot import JointRobotSpec
from robot_learning.robots.registry import RobotDescription
from robot_learning.runtime.joint_controller import JointControllerConfig

NAME = "cartpole"
POLE_LENGTH = 0.6  # m, hinge to tip
POLE_MASS = 0.2  # kg, a uniform rod
CART_MASS = 1.0  # kg
RAIL = 0.8  # m: the cart's travel is [-RAIL, RAIL]
MAX_TILT_DEG = 35.0  # beyond this the pole has fallen: training ends the episode, the runtime's tilt monitor falls back

SPEC = JointRobotSpec(
    name=NAME,
    joint_names=("cart",),
    default_positions=(0.0,),
    kp=(200.0,),  # N/m: the cart servo's natural frequency sqrt(kp / m) = 14 rad/s, above the pole's 5 rad/s
    kd=(20.0,),  # N s/m: damping ratio ~0.7
    position_lower=(-RAIL,),
    position_upper=(RAIL,),
    velocity_limit=(4.0,),  # m/s
    effort_limit=(40.0,),  # N, the motor driver's saturation
    floating_base=False,
    imu_body="pole",
    imu_site="imu",
    source="a textbook cart-pole (robot_learning/tasks/cartpole/robot.py); every number is defined here",
)

#: The runtime's pipeline around the policy (the deployment profile's controller part, also what `eval` runs):
#: no soft start to speak of (an unstable pole cannot wait for one: one tick holding the measured cart
#: position), hold the cart on a fault, and the pole's tilt as the fall detector.
CONTROLLER = JointControllerConfig(
    terminal_action="hold", soft_start_s=0.02, soft_start_target="measured", action_clip=2.0,
    monitors=[{"type": "range"}, {"type": "stale", "timeouts": {"joint_states": 0.1, "imu": 0.1}},
              {"type": "joint_velocity", "factor": 1.5}, {"type": "tilt", "getup_aware": False, "max_tilt_deg": MAX_TILT_DEG},
              {"type": "soft_joint_limits", "margin": 0.05, "k_position": 20.0}])


def describe() -> RobotDescription:
    """The robot as the runtime sees it (``deploy --robot cartpole`` resolves this through the task registry)."""
    return RobotDescription(NAME, "joint", True, spec=SPEC, joint_names=SPEC.joint_names)


def mjcf(timestep: float = 0.002) -> str:
    """The MuJoCo model. The cart's PD servo is MuJoCo's affine "general" actuator
    (force = kp * ctrl - kp * q - kd * qd, clipped to the effort limit), so ``ctrl`` is the position
    target and the gains can be rewritten at run time; the semi-implicit Euler integrator is what
    PyBullet uses too. Inertias are given explicitly so that the PyBullet twin has the same ones."""
    kp, kd, f = SPEC.kp[0], SPEC.kd[0], SPEC.effort_limit[0]
    rod = POLE_MASS * POLE_LENGTH**2 / 12.0
    return f"""
<mujoco model="{NAME}">
  <option timestep="{timestep}" integrator="Euler" gravity="0 0 -9.81"/>
  <worldbody>
    <body name="cart">
      <joint name="cart" type="slide" axis="1 0 0" range="{-RAIL} {RAIL}" limited="true"/>
      <inertial pos="0 0 0" mass="{CART_MASS}" diaginertia="0.01 0.01 0.01"/>
      <geom type="box" size="0.1 0.05 0.04" contype="0" conaffinity="0" rgba="0.3 0.3 0.8 1"/>
      <body name="pole">
        <joint name="pole" type="hinge" axis="0 1 0"/>
        <inertial pos="0 0 {POLE_LENGTH / 2}" mass="{POLE_MASS}" diaginertia="{rod} {rod} 1e-5"/>
        <geom type="capsule" fromto="0 0 0 0 0 {POLE_LENGTH}" size="0.015" contype="0" conaffinity="0" rgba="0.8 0.4 0.2 1"/>
        <site name="imu" pos="0 0 {POLE_LENGTH / 2}"/>
      </body>
    </body>
  </worldbody>
  <actuator>
    <general name="cart" joint="cart" gainprm="{kp}" biastype="affine" biasprm="0 {-kp} {-kd}" forcelimited="true" forcerange="{-f} {f}"/>
  </actuator>
  <sensor>
    <framequat name="imu_quat" objtype="site" objname="imu"/>
    <gyro name="imu_gyro" site="imu"/>
    <accelerometer name="imu_acc" site="imu"/>
  </sensor>
</mujoco>
"""


def pole_quaternion(angle: np.ndarray) -> np.ndarray:
    """The pole's orientation (w, x, y, z) at hinge ``angle`` (rad): a rotation about y. (..., ) -> (..., 4)."""
    a = np.asarray(angle, dtype=np.float64) / 2.0
    zero = np.zeros_like(a)
    return np.stack([np.cos(a), zero, np.sin(a), zero], axis=-1)


def tilt_deg(angle: float) -> float:
    """The pole's tilt from upright, in degrees (what the runtime's tilt monitor measures)."""
    return abs(math.degrees(math.atan2(math.sin(angle), math.cos(angle))))
