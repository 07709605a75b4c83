"""The Panda adapter interface, and the transport that puts any adapter under the end-effector runtime.

Why an adapter and not another transport: the end-effector runtime
(:class:`~robot_learning.runtime.manipulation.EndEffectorController`) already owns every check (NaN,
rotation, workspace box, step bound, staleness, the state machine). What differs between the real
arm (franky) and the simulated one is only how a state is read and a target reached, so that is the
interface (:class:`PandaArm`), and :class:`ArmTransport` turns any adapter into the runtime's
:class:`~robot_learning.types.Transport`.

The policy also observes where the cube and the bin are. The arm does not measure that, so a
:class:`ScenePerception` adds those fields: the simulator's truth for :class:`SimulatedArm`, and on
the real arm :class:`GraspTrackedObject` (positions the operator measured, the cube following the
hand while the gripper holds something of its width) until a camera pipeline replaces it.

Torch-free: numpy only.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from robot_learning.types import RobotState


class ArmError(RuntimeError):
    """The arm cannot do what was asked (no robot at the address, a failed recovery); one line."""


class ArmReflex(ArmError):
    """The robot stopped itself (a reflex: collision threshold, joint limit, torque discontinuity).
    ``recovered``: its error was cleared and the arm holds at its measured pose; False: it could not
    be, and the arm is stopped."""

    def __init__(self, message: str, recovered: bool) -> None:
        super().__init__(message)
        self.recovered = recovered


@dataclass
class ArmState:
    """One reading of the arm, in the robot's base frame.

    Attributes:
        stamp: when it was read, on the adapter's clock (:meth:`PandaArm.now`, s).
        tcp_pos: TCP position (m), between the fingertips.
        tcp_rot: TCP rotation (3 x 3, TCP frame -> base frame).
        tcp_vel: TCP linear velocity (m/s).
        joint_pos / joint_vel: the 7 arm joints (rad, rad/s), ``joint1`` .. ``joint7``.
        gripper_width: distance between the fingers (m; 0.08 fully open).
    """

    stamp: float
    tcp_pos: np.ndarray
    tcp_rot: np.ndarray
    tcp_vel: np.ndarray
    joint_pos: np.ndarray
    joint_vel: np.ndarray
    gripper_width: float


class PandaArm(Protocol):
    """What the runner needs of a Panda, real or simulated.

    ``realtime``: True when the arm moves in wall-clock time (the runner paces the ticks); False for a
    lock-step simulator, where each :meth:`send_ee_target` advances it by one control period.
    """

    realtime: bool

    def connect(self) -> None:
        """Open the connection (or build the simulator); raises :class:`ArmError` naming the reason."""

    def read_state(self) -> ArmState:
        """The newest reading."""

    def send_ee_target(self, tcp_pos: np.ndarray | None, stiffness_scale: float = 1.0) -> None:
        """The impedance reference of the TCP for the coming control period (base frame, m; the hand
        keeps pointing down). None keeps the current reference. ``stiffness_scale`` scales the
        translational stiffness (the reset motion's is higher). Raises :class:`ArmReflex` when the
        robot stopped itself."""

    def gripper(self, close: bool) -> None:
        """Close (True) or open (False) the gripper; a repeated command is ignored."""

    def recover(self) -> bool:
        """Clear the robot's errors (bounded retries); True when it is ready again."""

    def stop(self) -> None:
        """Stop the motion and bring the arm to rest where it is; the gripper is left as it is."""

    def close(self) -> None:
        """Stop and release the connection."""

    def now(self) -> float:
        """The adapter's clock (s)."""


class ScenePerception(Protocol):
    """The observation fields the arm does not measure (``object_pos``, ``goal_pos``)."""

    def fields(self, state: ArmState) -> dict[str, np.ndarray]: ...


class GraspTrackedObject:
    """Cube and bin positions without a camera: the operator measures both (base frame, m) and passes
    them; while the gripper holds something as wide as the cube (``grasp_width`` +- ``tolerance`` for
    ``min_ticks`` readings in a row) the cube is taken to be at the TCP, and where it was released it
    stays. An approximation: a cube knocked aside is not seen."""

    def __init__(self, object_pos: Sequence[float], goal_pos: Sequence[float], grasp_width: float = 0.04,
                 tolerance: float = 0.01, min_ticks: int = 2) -> None:
        self.object_pos = _xyz(object_pos, "object position")
        self.goal_pos = _xyz(goal_pos, "goal position")
        if not (grasp_width > 0 and tolerance > 0 and min_ticks >= 1):
            raise ValueError(f"grasp_width ({grasp_width}) and tolerance ({tolerance}) must be positive and min_ticks ({min_ticks}) at least 1")
        self.grasp_width, self.tolerance, self.min_ticks = grasp_width, tolerance, min_ticks
        self._held_ticks = 0

    @property
    def held(self) -> bool:
        return self._held_ticks >= self.min_ticks

    def fields(self, state: ArmState) -> dict[str, np.ndarray]:
        holding = abs(state.gripper_width - self.grasp_width) <= self.tolerance
        self._held_ticks = self._held_ticks + 1 if holding else 0
        if self.held:
            self.object_pos = np.asarray(state.tcp_pos, dtype=np.float64).copy()
        return {"object_pos": self.object_pos.copy(), "goal_pos": self.goal_pos.copy()}


def _xyz(value: Sequence[float], what: str) -> np.ndarray:
    a = np.asarray(value, dtype=np.float64).reshape(-1)
    if a.shape != (3,) or not np.all(np.isfinite(a)):
        raise ValueError(f"{what} must be 3 finite numbers (x y z in metres, robot base frame), got {list(value)!r}")
    return a


class ArmTransport:
    """A :class:`PandaArm` and a :class:`ScenePerception` as the end-effector runtime's transport.

    The state carries the measured values by name (``tcp_pos``, ``tcp_vel``, ``tcp_rot``,
    ``gripper_opening``, ``joint_position``, ``joint_velocity``, plus the perception's fields), with
    the arm reading's stamp as the ``arm`` topic's arrival time for the staleness watchdog. A command
    (an ``EndEffectorCommand``) moves the gripper first, then sends the TCP target."""

    def __init__(self, arm: PandaArm, perception: ScenePerception) -> None:
        self.arm, self.perception = arm, perception
        self.commands_sent = 0
        self.last_state: ArmState | None = None

    def read_state(self) -> RobotState | None:
        s = self.arm.read_state()
        self.last_state = s
        values: dict[str, Any] = {"tcp_pos": s.tcp_pos, "tcp_vel": s.tcp_vel, "tcp_rot": s.tcp_rot,
                                  "gripper_opening": np.array([s.gripper_width]), "joint_position": s.joint_pos,
                                  "joint_velocity": s.joint_vel}
        values.update(self.perception.fields(s))
        return RobotState(s.stamp, values, {"arm": s.stamp})

    def send_command(self, command: Any) -> None:
        if command.gripper is not None:
            self.arm.gripper(bool(command.gripper))
        self.arm.send_ee_target(command.tcp_target, float(command.stiffness_scale))
        self.commands_sent += 1

    def now(self) -> float:
        return self.arm.now()
