"""A robot's state, the transport protocol that carries it, and the joint command and limits."""
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


@dataclass
class JointCommand:
    """Joint position targets with their PD gains, in the policy's joint order.

    The robot applies ``tau = kp * (position - q) + kd * (velocity - qd) + effort``.
    """

    names: list[str]
    position: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    velocity: np.ndarray | None = None
    effort: np.ndarray | None = None

    def copy(self) -> "JointCommand":
        return JointCommand(list(self.names), self.position.copy(), self.kp.copy(), self.kd.copy(),
                            None if self.velocity is None else self.velocity.copy(), None if self.effort is None else self.effort.copy())

    def is_finite(self) -> bool:
        return bool(np.all(np.isfinite(self.position)) and np.all(np.isfinite(self.kp)) and np.all(np.isfinite(self.kd)))


@dataclass
class JointLimits:
    """The limits a joint-robot pipeline enforces, in the policy's joint order (from the robot's spec)."""

    names: list[str]
    lower: np.ndarray
    upper: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.names)
        for key in ("lower", "upper", "velocity", "effort"):
            a = np.asarray(getattr(self, key), dtype=np.float64)
            if a.shape != (n,):
                raise ValueError(f"joint limit '{key}' has shape {a.shape}, expected ({n},) for joints {self.names}")
            setattr(self, key, a)
        bad = np.flatnonzero(self.lower >= self.upper)
        if bad.size:
            raise ValueError(f"joint '{self.names[bad[0]]}': lower limit {self.lower[bad[0]]} is not below upper {self.upper[bad[0]]}")
