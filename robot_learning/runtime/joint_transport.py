"""In-process transport for a simulated joint robot: the runtime drives a MuJoCo robot in lock-step.

The controller works in the policy's joint order; the simulator in the robot spec's order. This
transport maps the two by name (as the topic transport does with message names), applies the
command's gains and targets, advances one control period, and can corrupt what the runtime reads
(``inject``) for fault rehearsals and property tests.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from robot_learning.runtime.joint_controller import match_joints
from robot_learning.types import JointCommand, RobotState

StateFilter = Callable[[RobotState], RobotState | None]


class InProcessJointTransport:
    """Lock-step transport around a simulated joint robot (e.g. :class:`~robot_learning.sim.mujoco_robot.MujocoJointRobot`)."""

    def __init__(self, robot, joint_names: Sequence[str]) -> None:  # noqa: ANN001 (MujocoJointRobot)
        self.robot = robot
        self.idx = match_joints(list(joint_names), list(robot.spec.joint_names), f"simulated robot '{robot.spec.name}'")
        self.kp = robot.spec.array("kp").copy()
        self.kd = robot.spec.array("kd").copy()
        self.target = robot.state()["joint_position"].copy()
        self.inject: StateFilter | None = None
        self.commands: list[JointCommand] = []
        self.keep_commands = False

    def read_state(self) -> RobotState | None:
        s = self.robot.state()
        values = dict(s.values)
        values["joint_position"] = np.asarray(s["joint_position"])[self.idx]
        values["joint_velocity"] = np.asarray(s["joint_velocity"])[self.idx]
        state = RobotState(s.stamp, values, {"joint_states": s.stamp, "imu": s.stamp})
        return self.inject(state) if self.inject is not None else state

    def send_command(self, command: JointCommand) -> None:
        self.kp[self.idx], self.kd[self.idx] = command.kp, command.kd
        self.target[self.idx] = command.position
        self.robot.set_gains(self.kp, self.kd)
        self.robot.step(self.target)
        if self.keep_commands:
            self.commands.append(command.copy())

    def now(self) -> float:
        return self.robot.time
