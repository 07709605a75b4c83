"""Edits of a Menagerie MJCF shared by every MuJoCo robot of the project (single-robot and batched).

- :func:`replace_with_pd_actuators`: delete the model's own actuators on the controlled joints (and
  the removed joints with theirs, and keyframes, which no longer fit), then add one "general"
  actuator per controlled joint in spec order, ``force = kp * ctrl - kp * q - kd * qd`` clipped to
  the effort limit, so that ``ctrl`` is the PD position target;
- :func:`add_imu_sensors`: orientation, gyro and accelerometer on the robot's IMU site.
"""
from __future__ import annotations

import mujoco
import numpy as np

from robot_learning.robots.joint_robot import JointRobotSpec

IMU_QUAT_SENSOR = "rl_imu_quat"
IMU_GYRO_SENSOR = "rl_imu_gyro"
IMU_ACC_SENSOR = "rl_imu_acc"
ACTUATOR_PREFIX = "rl_pd_"


def replace_with_pd_actuators(spec: mujoco.MjSpec, desc: JointRobotSpec, removed: tuple[str, ...] = (),
                              delete_free_joint: bool = False, source: str = "model") -> None:
    controlled, gone = set(desc.joint_names), set(removed)
    for actuator in list(spec.actuators):
        if actuator.target in controlled or actuator.target in gone:
            spec.delete(actuator)
    for joint in list(spec.joints):
        if joint.name in gone or (delete_free_joint and joint.type == mujoco.mjtJoint.mjJNT_FREE):
            spec.delete(joint)
    for key in list(spec.keys):
        spec.delete(key)
    known = {j.name for j in spec.joints}
    missing = [j for j in desc.joint_names if j not in known]
    if missing:
        raise ValueError(f"{source} has no joint(s) {missing} of robot '{desc.name}'")
    for i, name in enumerate(desc.joint_names):
        act = spec.add_actuator()
        act.name = f"{ACTUATOR_PREFIX}{name}"
        act.target = name
        act.trntype = mujoco.mjtTrn.mjTRN_JOINT
        act.dyntype = mujoco.mjtDyn.mjDYN_NONE
        act.gaintype = mujoco.mjtGain.mjGAIN_FIXED
        act.biastype = mujoco.mjtBias.mjBIAS_AFFINE
        gain = np.zeros(10)
        gain[0] = desc.kp[i]
        bias = np.zeros(10)
        bias[1], bias[2] = -desc.kp[i], -desc.kd[i]
        act.gainprm = gain
        act.biasprm = bias
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_FALSE
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.forcerange = [-desc.effort_limit[i], desc.effort_limit[i]]


def add_imu_sensors(spec: mujoco.MjSpec, desc: JointRobotSpec) -> str:
    """Adds the IMU sensors on ``desc.imu_site`` (created on ``desc.imu_body`` if the model has none); returns the site."""
    site = desc.imu_site or "rl_imu"
    if desc.imu_site is None:
        spec.body(desc.imu_body).add_site(name=site)
    for name, kind in ((IMU_QUAT_SENSOR, mujoco.mjtSensor.mjSENS_FRAMEQUAT), (IMU_GYRO_SENSOR, mujoco.mjtSensor.mjSENS_GYRO),
                       (IMU_ACC_SENSOR, mujoco.mjtSensor.mjSENS_ACCELEROMETER)):
        sensor = spec.add_sensor()
        sensor.name = name
        sensor.type = kind
        sensor.objtype = mujoco.mjtObj.mjOBJ_SITE
        sensor.objname = site
    return site
