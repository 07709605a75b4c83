"""A joint-space robot description: joint order, default pose, PD gains and limits, in one frozen record.

The same record is read by the simulators (robot_learning/sim/mujoco_robot.py), the training tasks,
the ONNX metadata and the runtime's safety checks, so there is exactly one place where, say, the G1's
knee gain or the Panda's joint-4 limit is written down.

Conventions: angles in rad, velocities in rad/s, efforts in N m; every per-joint array is in the
order of ``joint_names``, which is the order policies read observations and write actions in.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class JointNameError(KeyError):
    """One or more joint names are not part of a robot description."""

    def __init__(self, robot: str, unknown: list[str], known: tuple[str, ...]) -> None:
        self.robot = robot
        self.unknown = unknown
        self.known = known
        super().__init__(f"unknown joint name(s) for robot '{robot}': {unknown}; known joints: {list(known)}")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


_PER_JOINT_FIELDS = (
    "default_positions",
    "kp",
    "kd",
    "position_lower",
    "position_upper",
    "velocity_limit",
    "effort_limit",
)


@dataclass(frozen=True)
class JointRobotSpec:
    """Joint-space description of a robot (see the module docstring for units and order).

    Attributes:
        name: robot name (as written in policy metadata).
        joint_names: actuated joints, in the order policies use.
        default_positions: default pose (rad), e.g. standing or "ready".
        kp, kd: joint PD gains (N m/rad, N m s/rad) for ``tau = kp (q_target - q) - kd qd``.
        position_lower, position_upper: joint position limits (rad).
        velocity_limit: joint speed limits (rad/s).
        effort_limit: joint torque limits (N m), symmetric.
        floating_base: the robot has a free-floating base (humanoid) rather than a fixed one (arm).
        imu_body: body whose orientation and angular velocity the IMU reports, or None if none.
        imu_site: MJCF site of the IMU on ``imu_body`` (None: the body origin).
        source: where every number comes from.
    """

    name: str
    joint_names: tuple[str, ...]
    default_positions: tuple[float, ...]
    kp: tuple[float, ...]
    kd: tuple[float, ...]
    position_lower: tuple[float, ...]
    position_upper: tuple[float, ...]
    velocity_limit: tuple[float, ...]
    effort_limit: tuple[float, ...]
    floating_base: bool
    imu_body: str | None = None
    imu_site: str | None = None
    source: str = ""
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        if len(set(self.joint_names)) != n:
            raise ValueError(f"{self.name}: duplicate joint names")
        for name in _PER_JOINT_FIELDS:
            values = tuple(float(v) for v in getattr(self, name))
            if len(values) != n:
                raise ValueError(f"{self.name}: {name} has {len(values)} entries, expected {n}")
            object.__setattr__(self, name, values)
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        lower, upper = np.array(self.position_lower), np.array(self.position_upper)
        for name in _PER_JOINT_FIELDS:
            v = np.array(getattr(self, name))
            if not np.all(np.isfinite(v)):
                raise ValueError(f"{self.name}: {name} must be finite numbers")
            if name in ("kp", "kd") and np.any(v < 0) or name in ("velocity_limit", "effort_limit") and np.any(v <= 0):
                raise ValueError(f"{self.name}: {name} must be {'>= 0' if name in ('kp', 'kd') else '> 0'} for every joint")
        if np.any(lower >= upper):
            raise ValueError(f"{self.name}: position_lower must be below position_upper")
        object.__setattr__(self, "_index", {j: i for i, j in enumerate(self.joint_names)})

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def array(self, name: str) -> np.ndarray:
        """A per-joint field as a float64 array (a fresh copy), e.g. ``spec.array("kp")``."""
        if name not in _PER_JOINT_FIELDS:
            raise KeyError(f"{name!r} is not a per-joint field; expected one of {_PER_JOINT_FIELDS}")
        return np.array(getattr(self, name), dtype=np.float64)

    def index_of(self, names: Iterable[str] | str) -> np.ndarray:
        """Indices (int64 array) of ``names`` in ``joint_names``.

        Raises:
            JointNameError: naming every unknown name (a :class:`KeyError`).
        """
        names = [names] if isinstance(names, str) else list(names)
        unknown = [n for n in names if n not in self._index]
        if unknown:
            raise JointNameError(self.name, unknown, self.joint_names)
        return np.array([self._index[n] for n in names], dtype=np.int64)

    def within_limits(self, q: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Boolean mask: which entries of ``q`` lie within [lower + margin, upper - margin]."""
        q = np.asarray(q, dtype=np.float64)
        return (q >= self.array("position_lower") + margin) & (q <= self.array("position_upper") - margin)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dictionary (lists, floats, strings), suitable for JSON/YAML/ONNX metadata."""
        out: dict[str, Any] = {"name": self.name, "joint_names": list(self.joint_names)}
        for name in _PER_JOINT_FIELDS:
            out[name] = list(getattr(self, name))
        out.update(
            floating_base=self.floating_base, imu_body=self.imu_body, imu_site=self.imu_site, source=self.source
        )
        return out
