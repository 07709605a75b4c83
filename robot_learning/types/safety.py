"""Faults, their severity, and the robot's modes (the safety state machine's states and transitions).

Severity decides what a failed check does: WARN is logged only; FALLBACK hands control to the
robot's safe command (DAMPING) until an operator restarts; ESTOP cuts to the terminal action and
latches until an explicit reset.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.Enum):
    WARN = 0
    FALLBACK = 1
    ESTOP = 2


@dataclass(frozen=True)
class Fault:
    monitor: str
    severity: Severity
    message: str


class RobotMode(enum.Enum):
    IDLE = 0
    DAMPING = 1
    SOFT_START = 2
    POLICY = 3
    ESTOP = 4


@dataclass(frozen=True)
class Transition:
    time: float
    source: RobotMode
    target: RobotMode
    reason: str
