"""The quadrotor's side of the runtime: observation fields from a state, and set-point trajectories.

Torch-free. The training simulator builds its observation with the same ObservationBuilder and the
same ``quat_to_rotmat``; this module adds what only the robot has: a moving set point, and the
clipping of position and velocity errors into the training distribution (as the paper's firmware
does: +-0.5 m and +-2 m/s), so a far-away waypoint never feeds the policy an input it never saw.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from robot_learning.runtime.observation import quat_to_rotmat
from robot_learning.types import RobotState

ACTION_DIM = 4


@dataclass(frozen=True)
class QuadrotorObservationConfig:
    history: int = 32
    max_position_error: float = 0.5  # m, per axis
    max_velocity: float = 2.0  # m/s, per axis


class QuadrotorObservation:
    """Keeps the action history and turns (state, set point) into the policy's observation fields."""

    def __init__(self, cfg: QuadrotorObservationConfig, hover_action: float) -> None:
        self.cfg = cfg
        self.hover_action = hover_action
        self.history = np.full((cfg.history, ACTION_DIM), hover_action, dtype=np.float64)
        self._rot = np.zeros(9)

    def reset(self) -> None:
        self.history[:] = self.hover_action

    def push(self, action: np.ndarray) -> None:
        """Record the command actually sent to the motors (newest last)."""
        self.history[:-1] = self.history[1:].copy()
        self.history[-1] = action

    def fields(self, state: RobotState, setpoint: np.ndarray) -> dict[str, np.ndarray]:
        c = self.cfg
        err = np.clip(state["position"] - setpoint, -c.max_position_error, c.max_position_error)
        quat_to_rotmat(np.asarray(state["quaternion"], dtype=np.float64), self._rot)
        return {
            "position_error": err,
            "rotation_matrix": self._rot,
            "linear_velocity": np.clip(state["linear_velocity"], -c.max_velocity, c.max_velocity),
            "angular_velocity": np.asarray(state["angular_velocity"]),
            "action_history": self.history,
        }


@dataclass(frozen=True)
class Hover:
    """A fixed set point."""

    position: tuple[float, float, float] = (0.0, 0.0, 1.0)

    def __call__(self, t: float) -> np.ndarray:
        return np.asarray(self.position, dtype=np.float64)


@dataclass(frozen=True)
class FigureEight:
    """A horizontal figure-eight (lemniscate of Gerono) around ``center``: x = a sin(wt), y = b sin(2wt)."""

    center: tuple[float, float, float] = (0.0, 0.0, 1.0)
    width: float = 0.6  # m, x amplitude
    height: float = 0.3  # m, y amplitude
    period: float = 8.0  # s per loop

    def __call__(self, t: float) -> np.ndarray:
        w = 2.0 * math.pi / self.period
        cx, cy, cz = self.center
        return np.array([cx + self.width * math.sin(w * t), cy + self.height * math.sin(2 * w * t), cz])
