"""The runtime's window on hardware: a small transport interface and an in-process implementation.

A transport hands the runtime the latest robot state and takes its commands. The real robot's
transports (ROS 2 through rclpy, ROS 2 on the wire through Cyclone DDS) live in the deployment layer;
here is the in-process one that drives a simulated vehicle in lock-step, used by tests, evaluation
and the sim-to-sim gate.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass
class RobotState:
    """A time-stamped robot state: named arrays (e.g. ``position``, ``quaternion``) and their time.

    ``stamp`` is in seconds on the transport's clock (see :meth:`Transport.now`). A transport that
    assembles the state from several topics also gives each topic's arrival time on that clock in
    ``topic_stamps``, for the per-topic staleness watchdog.
    """

    stamp: float
    values: dict[str, np.ndarray] = field(default_factory=dict)
    topic_stamps: dict[str, float] = field(default_factory=dict)

    def __getitem__(self, key: str) -> np.ndarray:
        return self.values[key]


class Transport(Protocol):
    """What the runtime needs from a robot: read the newest state, send a command, tell the time."""

    def read_state(self) -> RobotState | None:
        """The newest state received, or None if nothing has arrived yet."""

    def send_command(self, command: np.ndarray) -> None:
        """Send one command (its meaning is the policy metadata's ``action`` field)."""

    def now(self) -> float:
        """Current time on the clock that stamps states (seconds)."""


class SimulatedVehicle(Protocol):
    """A simulator stepped one control period at a time (PyBullet, MuJoCo, the torch batch of one)."""

    dt: float

    @property
    def time(self) -> float:
        """Simulation time (s)."""

    def step(self, command: np.ndarray) -> None:
        """Hold ``command`` for one control period and advance the physics."""

    def state(self) -> RobotState:
        """The current state, stamped with simulation time."""


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
