"""The robots the runtime can be started on, by name: what kind of control they take, their limits,
their kinematics. Plain numpy (the robot's computer carries no torch and no simulator)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from robot_learning.robots import crazyflie
from robot_learning.robots.g1 import G1_SPEC
from robot_learning.robots.panda import PANDA_SPEC, panda_fk
from robot_learning.types import JointLimits

ALIASES = {"g1": "unitree_g1", "unitree_g1": "unitree_g1", "panda": "franka_panda", "franka_panda": "franka_panda",
           "crazyflie": "crazyflie", "cf2": "crazyflie"}


class UnknownRobotError(ValueError):
    """No robot of that name."""


@dataclass
class RobotDescription:
    name: str
    kind: str  # "joint" | "quadrotor"
    has_imu: bool
    spec: Any = None  # JointRobotSpec for joint robots
    params: Any = None  # CrazyflieParams for the quadrotor
    forward_kinematics: Callable[[np.ndarray], np.ndarray] | None = None  # joint positions -> end-effector position
    joint_names: tuple[str, ...] = ()

    def limits(self) -> JointLimits:
        s = self.spec
        return JointLimits(list(s.joint_names), np.asarray(s.position_lower), np.asarray(s.position_upper),
                           np.asarray(s.velocity_limit), np.asarray(s.effort_limit))


def load_robot(name: str) -> RobotDescription:
    """``g1``/``unitree_g1``, ``panda``/``franka_panda``, ``crazyflie``."""
    key = ALIASES.get(name)
    if key is None:
        raise UnknownRobotError(f"unknown robot '{name}'; known: {sorted(set(ALIASES))}")
    if key == "crazyflie":
        return RobotDescription(crazyflie.NAME, "quadrotor", False, params=crazyflie.DEFAULT_PARAMS, joint_names=crazyflie.MOTOR_NAMES)
    if key == "unitree_g1":
        return RobotDescription(G1_SPEC.name, "joint", True, spec=G1_SPEC, joint_names=G1_SPEC.joint_names)

    def ee_position(q: np.ndarray) -> np.ndarray:
        return panda_fk(np.asarray(q, dtype=np.float64))[0]

    return RobotDescription(PANDA_SPEC.name, "joint", False, spec=PANDA_SPEC, forward_kinematics=ee_position, joint_names=PANDA_SPEC.joint_names)
