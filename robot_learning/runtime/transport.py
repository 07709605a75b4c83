"""The in-process transport: the runtime's window on a simulated robot.

A transport (the protocol is :class:`robot_learning.types.robot.Transport`) hands the runtime the
latest robot state and takes its commands. The real robot's transports (ROS 2 through rclpy, ROS 2
on the wire through Cyclone DDS) live in the deployment layer; here is the in-process one that
drives a simulated vehicle in lock-step, used by tests, evaluation and the sim-to-sim gate.
"""
from __future__ import annotations

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
