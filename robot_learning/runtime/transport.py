"""The in-process transport: the runtime's window on a simulated robot.

A transport (the protocol is :class:`robot_learning.types.robot.Transport`) hands the runtime the
latest robot state and takes its commands. The real robot's transports (ROS 2 through rclpy, ROS 2
on the wire through Cyclone DDS) live in the deployment layer; here is the in-process one that
drives a simulated vehicle in lock-step, used by tests, evaluation and the sim-to-sim gate, and its
end-effector counterpart that drives a simulated arm's scene.
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from robot_learning.types import RobotState, SimulatedVehicle


class InProcessTransport:
    """Lock-step transport around a :class:`SimulatedVehicle`: each command advances the physics by
    one control period, and the clock is simulation time, so runs are deterministic and as fast as
    the machine allows."""

    def __init__(self, vehicle: SimulatedVehicle) -> None:
        self.vehicle = vehicle
        self.commands_sent = 0

    def read_state(self) -> RobotState | None:
        return self.vehicle.state()

    def send_command(self, command: np.ndarray) -> None:
        self.vehicle.step(np.asarray(command, dtype=np.float64))
        self.commands_sent += 1

    def now(self) -> float:
        return self.vehicle.time


class EndEffectorScene(Protocol):
    """A simulated arm in a scene, stepped one control period per end-effector command (the HIL-SERL
    pick-and-place task in MuJoCo or PyBullet is one)."""

    dt: float
    tcp_ref: np.ndarray

    def obs_fields(self) -> dict[str, np.ndarray]: ...

    def tcp_rot(self) -> np.ndarray: ...

    def apply_command(self, tcp_target: np.ndarray, close: bool | None, stiffness_scale: float = 1.0) -> tuple[Any, dict]: ...


class InProcessEndEffectorTransport:
    """Lock-step transport around an :class:`EndEffectorScene`: the state is the scene's measured
    values by name plus ``tcp_rot``; each command (an ``EndEffectorCommand``: TCP target, gripper,
    stiffness) steps the scene one control period, a command without a target keeps the current
    reference. The clock counts control periods; ``last_info`` is the scene's answer to the last command."""

    def __init__(self, scene: EndEffectorScene) -> None:
        self.scene = scene
        self.dt = float(scene.dt)
        self.commands_sent = 0
        self.last_info: dict[str, Any] = {}

    def read_state(self) -> RobotState | None:
        values = dict(self.scene.obs_fields())
        values["tcp_rot"] = self.scene.tcp_rot()
        return RobotState(self.now(), values)

    def send_command(self, command: Any) -> None:
        target = self.scene.tcp_ref if command.tcp_target is None else command.tcp_target
        _, self.last_info = self.scene.apply_command(target, command.gripper, command.stiffness_scale)
        self.commands_sent += 1

    def now(self) -> float:
        return self.commands_sent * self.dt
