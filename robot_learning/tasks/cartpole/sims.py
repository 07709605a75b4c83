"""One cart-pole, stepped one control period at a time, in MuJoCo (the training engine) and in
PyBullet (the second engine): what `eval` runs the runtime against and what the DDS bridge serves.

Both follow what :class:`~robot_learning.runtime.joint_transport.InProcessJointTransport` drives
(``spec``, ``state()``, ``set_gains``, ``step(targets)``, ``time``) and apply the same PD law at every
physics step: force = kp (target - x) - kd xd, clipped to the effort limit. The PyBullet twin is built
with ``createMultiBody`` from the numbers of :mod:`robot_learning.tasks.cartpole.robot` (same masses,
inertias, joint axes), with PyBullet's default damping and joint motors switched off.
"""
from __future__ import annotations

import mujoco
import numpy as np

from robot_learning.tasks.cartpole.robot import CART_MASS, POLE_LENGTH, POLE_MASS, RAIL, SPEC, mjcf
from robot_learning.types import RobotState


class MujocoCartPole:
    """The cart-pole in MuJoCo; the IMU is read from the model's sensors on the pole."""

    spec = SPEC

    def __init__(self, control_rate_hz: float = 50.0, physics_dt: float = 0.002) -> None:
        self.model = mujoco.MjModel.from_xml_string(mjcf(physics_dt))
        self.data = mujoco.MjData(self.model)
        self.dt = 1.0 / control_rate_hz
        self.substeps = int(round(self.dt / physics_dt))
        self.kp, self.kd = SPEC.array("kp"), SPEC.array("kd")
        self._sensor = {name: slice(self.model.sensor(name).adr[0], self.model.sensor(name).adr[0] + self.model.sensor(name).dim[0])
                        for name in ("imu_quat", "imu_gyro", "imu_acc")}
        mujoco.mj_forward(self.model, self.data)

    @property
    def time(self) -> float:
        return float(self.data.time)

    def set_state(self, position: float, angle: float, velocity: float = 0.0, angular_velocity: float = 0.0) -> None:
        """Place the cart and the pole (the servo's target follows the cart: it holds where it is)."""
        d = self.data
        d.qpos[:] = (position, angle)
        d.qvel[:] = (velocity, angular_velocity)
        d.ctrl[0] = position
        mujoco.mj_forward(self.model, d)

    def set_gains(self, kp: np.ndarray | float, kd: np.ndarray | float) -> None:
        self.kp = np.broadcast_to(np.asarray(kp, dtype=np.float64), (1,)).copy()
        self.kd = np.broadcast_to(np.asarray(kd, dtype=np.float64), (1,)).copy()
        self.model.actuator_gainprm[0, 0] = self.kp[0]
        self.model.actuator_biasprm[0, 1:3] = (-self.kp[0], -self.kd[0])

    def step(self, target: np.ndarray) -> None:
        self.data.ctrl[0] = float(np.asarray(target, dtype=np.float64).reshape(-1)[0])
        mujoco.mj_step(self.model, self.data, self.substeps)
        mujoco.mj_forward(self.model, self.data)  # sensors at the current instant

    def pole(self) -> tuple[float, float]:
        """Ground truth: cart position (m) and pole angle (rad)."""
        return float(self.data.qpos[0]), float(self.data.qpos[1])

    def state(self) -> RobotState:
        d, s = self.data, self._sensor
        return RobotState(self.time, {
            "joint_position": d.qpos[:1].copy(), "joint_velocity": d.qvel[:1].copy(), "joint_effort": d.actuator_force[:1].copy(),
            "imu_orientation": d.sensordata[s["imu_quat"]].copy(), "imu_angular_velocity": d.sensordata[s["imu_gyro"]].copy(),
            "imu_linear_acceleration": d.sensordata[s["imu_acc"]].copy()})

    def close(self) -> None:
        pass


class PyBulletCartPole:
    """The same cart-pole in PyBullet (its own physics client, no GUI)."""

    spec = SPEC

    def __init__(self, control_rate_hz: float = 50.0, physics_dt: float = 0.002) -> None:
        import pybullet as p
        import pybullet_utils.bullet_client as bc

        self.p = bc.BulletClient(connection_mode=p.DIRECT)
        self.p.setGravity(0.0, 0.0, -9.81)
        self.p.setPhysicsEngineParameter(fixedTimeStep=physics_dt, numSubSteps=0)
        identity = [0.0, 0.0, 0.0, 1.0]
        self.body = self.p.createMultiBody(
            baseMass=0.0, basePosition=[0.0, 0.0, 0.0],
            linkMasses=[CART_MASS, POLE_MASS], linkCollisionShapeIndices=[-1, -1], linkVisualShapeIndices=[-1, -1],
            linkPositions=[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], linkOrientations=[identity, identity],
            linkInertialFramePositions=[[0.0, 0.0, 0.0], [0.0, 0.0, POLE_LENGTH / 2]], linkInertialFrameOrientations=[identity, identity],
            linkParentIndices=[0, 1], linkJointTypes=[p.JOINT_PRISMATIC, p.JOINT_REVOLUTE], linkJointAxis=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        rod = POLE_MASS * POLE_LENGTH**2 / 12.0
        self.p.changeDynamics(self.body, 0, localInertiaDiagonal=[0.01, 0.01, 0.01], linearDamping=0.0, angularDamping=0.0,
                              jointDamping=0.0, jointLowerLimit=-RAIL, jointUpperLimit=RAIL)
        self.p.changeDynamics(self.body, 1, localInertiaDiagonal=[rod, rod, 1e-5], linearDamping=0.0, angularDamping=0.0, jointDamping=0.0)
        for j in (0, 1):  # PyBullet's default velocity motors would hold the joints
            self.p.setJointMotorControl2(self.body, j, p.VELOCITY_CONTROL, force=0.0)
        self._torque = p.TORQUE_CONTROL
        self.dt = 1.0 / control_rate_hz
        self.substeps = int(round(self.dt / physics_dt))
        self.kp, self.kd = SPEC.array("kp"), SPEC.array("kd")
        self.target = 0.0
        self.force = 0.0
        self.steps = 0
        self.physics_dt = physics_dt

    @property
    def time(self) -> float:
        return self.steps * self.physics_dt

    def set_state(self, position: float, angle: float, velocity: float = 0.0, angular_velocity: float = 0.0) -> None:
        self.p.resetJointState(self.body, 0, position, velocity)
        self.p.resetJointState(self.body, 1, angle, angular_velocity)
        self.target = position

    def set_gains(self, kp: np.ndarray | float, kd: np.ndarray | float) -> None:
        self.kp = np.broadcast_to(np.asarray(kp, dtype=np.float64), (1,)).copy()
        self.kd = np.broadcast_to(np.asarray(kd, dtype=np.float64), (1,)).copy()

    def step(self, target: np.ndarray) -> None:
        self.target = float(np.asarray(target, dtype=np.float64).reshape(-1)[0])
        limit = SPEC.effort_limit[0]
        for _ in range(self.substeps):
            x, xd = self.p.getJointState(self.body, 0)[:2]
            self.force = float(np.clip(self.kp[0] * (self.target - x) - self.kd[0] * xd, -limit, limit))
            self.p.setJointMotorControl2(self.body, 0, self._torque, force=self.force)
            self.p.stepSimulation()
            self.steps += 1

    def pole(self) -> tuple[float, float]:
        return float(self.p.getJointState(self.body, 0)[0]), float(self.p.getJointState(self.body, 1)[0])

    def state(self) -> RobotState:
        x, xd = self.p.getJointState(self.body, 0)[:2]
        link = self.p.getLinkState(self.body, 1, computeLinkVelocity=1, computeForwardKinematics=1)
        qx, qy, qz, qw = link[5]  # the pole's link frame (at the hinge; the IMU's orientation)
        rot = np.asarray(self.p.getMatrixFromQuaternion(link[5])).reshape(3, 3)
        return RobotState(self.time, {
            "joint_position": np.array([x]), "joint_velocity": np.array([xd]), "joint_effort": np.array([self.force]),
            "imu_orientation": np.array([qw, qx, qy, qz]), "imu_angular_velocity": rot.T @ np.asarray(link[7])})

    def close(self) -> None:
        self.p.disconnect()
