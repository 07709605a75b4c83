"""Crazyflie 2.x description: the physical parameters both simulators and the runtime share.

Source of every figure: the Crazyflie model of "Learning to Fly in Seconds" (Eschmann et al., 2024),
as published in its public code (arplaboratory/learning-to-fly, simulator/parameters/dynamics/crazy_flie.h):
mass 0.027 kg, rotors at (+-0.028, +-0.028) m, inertia diag(3.85e-6, 3.85e-6, 5.9675e-6) kg m^2,
thrust = 3.16e-10 rpm^2 N, yaw torque = 0.005964552 x thrust, first-order motor lag with a 0.15 s
time constant, RPM in [0, 21702] (thrust-to-weight ratio 2.25, hover at about 14,476 RPM).

Conventions (used everywhere in this project):
- world frame z up, body frame x forward, y left, z up (FLU);
- quaternion (w, x, y, z), body -> world;
- linear velocity in the world frame, angular velocity (body rates) in the body frame;
- rotor i sits at ROTOR_POSITIONS[i] and spins so that its reaction torque about body z is
  YAW_DIRECTIONS[i] * yaw_coefficient * thrust_i;
- an action is the normalised RPM command of each rotor in [-1, 1], mapped linearly to [0, rpm_max].
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_learning.core.checks import check

NAME = "crazyflie"
MOTOR_NAMES = ("motor_front_right", "motor_back_right", "motor_back_left", "motor_front_left")


@dataclass(frozen=True)
class CrazyflieParams:
    """Physical parameters of a Crazyflie 2.x (see the module docstring for their source)."""

    mass: float = 0.027  # kg
    gravity: float = 9.81  # m/s^2
    rotor_positions: tuple[tuple[float, float, float], ...] = (
        (0.028, -0.028, 0.0),
        (-0.028, -0.028, 0.0),
        (-0.028, 0.028, 0.0),
        (0.028, 0.028, 0.0),
    )
    yaw_directions: tuple[float, float, float, float] = (-1.0, 1.0, -1.0, 1.0)
    inertia: tuple[float, float, float] = (3.85e-6, 3.85e-6, 5.9675e-6)  # kg m^2, diagonal
    thrust_coefficient: float = 3.16e-10  # N / rpm^2
    # A thrust curve thrust_constant + thrust_linear rpm + thrust_coefficient rpm^2 per rotor (N). The
    # paper's Crazyflie is purely quadratic (both 0); domain randomisation varies them.
    thrust_linear: float = 0.0  # N / rpm
    thrust_constant: float = 0.0  # N
    yaw_coefficient: float = 0.005964552  # N m per N of thrust
    motor_time_constant: float = 0.15  # s, first-order lag
    rpm_min: float = 0.0
    rpm_max: float = 21702.0
    dt: float = 0.01  # s, control and integration step (100 Hz, RK4)

    def __post_init__(self) -> None:
        check(self, positive=("mass", "gravity", "inertia", "thrust_coefficient", "rpm_max", "dt"),
              non_negative=("yaw_coefficient", "motor_time_constant", "rpm_min"))
        if self.rpm_min >= self.rpm_max:
            raise ValueError(f"rpm_min must be below rpm_max ({self.rpm_max}), got {self.rpm_min}")

    @property
    def arm_length(self) -> float:
        """Distance from the centre to a rotor (m)."""
        x, y, _ = self.rotor_positions[0]
        return float(np.hypot(x, y))

    def thrust(self, rpm: np.ndarray | float) -> np.ndarray | float:
        """One rotor's thrust (N) at ``rpm``."""
        return self.thrust_constant + self.thrust_linear * rpm + self.thrust_coefficient * rpm * rpm

    @property
    def hover_rpm(self) -> float:
        share = self.mass * self.gravity / 4.0
        if self.thrust_linear == 0.0 and self.thrust_constant == 0.0:
            return float(np.sqrt(share / self.thrust_coefficient))
        a, b, c = self.thrust_coefficient, self.thrust_linear, self.thrust_constant - share
        return float((-b + np.sqrt(b * b - 4.0 * a * c)) / (2.0 * a))

    @property
    def hover_action(self) -> float:
        """Normalised action in [-1, 1] that hovers (about 0.334)."""
        return self.rpm_to_action(self.hover_rpm)

    @property
    def thrust_to_weight(self) -> float:
        return 4.0 * float(self.thrust(self.rpm_max)) / (self.mass * self.gravity)

    def action_to_rpm(self, action: np.ndarray | float) -> np.ndarray | float:
        """Normalised action in [-1, 1] -> commanded RPM in [rpm_min, rpm_max]."""
        return self.rpm_min + (np.clip(action, -1.0, 1.0) + 1.0) * 0.5 * (self.rpm_max - self.rpm_min)

    def rpm_to_action(self, rpm: np.ndarray | float) -> np.ndarray | float:
        return 2.0 * (rpm - self.rpm_min) / (self.rpm_max - self.rpm_min) - 1.0


DEFAULT_PARAMS = CrazyflieParams()
