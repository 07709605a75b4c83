"""One controller protocol, and the factory that picks the controller from the policy's declared action.

Every controller runs the same safety pipeline (:class:`~robot_learning.runtime.pipeline.SafetyPipeline`)
against a :class:`~robot_learning.types.Transport`; what differs with the action the policy declares in
its ONNX metadata (``action.type``) is a small strategy:

==========================  ==============  ===========================================================
``action.type``             kind            controller
==========================  ==============  ===========================================================
``joint_position_offset``   ``joint``       :class:`~robot_learning.runtime.joint_controller.JointController` (PD targets + gains)
``normalised_rpm``          ``rotor``       :class:`~robot_learning.runtime.controller.QuadrotorController` (rotor speeds)
``ee_delta``                ``end_effector`` :class:`~robot_learning.runtime.manipulation.EndEffectorController` (TCP target + gripper)
==========================  ==============  ===========================================================

The policy node, the rollout harness and the tests build controllers only through :func:`make_controller`.
Torch-free.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from robot_learning.robots.registry import ALIASES
from robot_learning.runtime.controller import ControllerConfig as QuadrotorControllerConfig
from robot_learning.runtime.controller import QuadrotorController
from robot_learning.runtime.joint_controller import JointController, JointControllerConfig
from robot_learning.runtime.manipulation import EndEffectorController, EndEffectorControllerConfig
from robot_learning.runtime.quadrotor import FigureEight, Hover
from robot_learning.runtime.safety import SafetyStateMachine
from robot_learning.types import PolicyMetadata, PolicyMetadataError, RobotMode, Transport

ACTION_KINDS = {"joint_position_offset": "joint", "normalised_rpm": "rotor", "ee_delta": "end_effector"}
ROBOT_KINDS = {"joint": "joint", "rotor": "quadrotor", "end_effector": "joint"}  # the robot description's kind each needs


class Controller(Protocol):
    """What the node, the rollout harness and the tests use of a controller."""

    sm: SafetyStateMachine
    fault_counts: Counter[str]
    fault_log: list[str]
    policy_seconds: list[float]
    ticks: int
    last_command: Any

    @property
    def mode(self) -> RobotMode: ...

    def start(self) -> None: ...

    def tick(self) -> Any: ...

    def stop(self, reason: str = "stop requested") -> None: ...

    def estop(self, reason: str = "e-stop requested") -> None: ...

    def reset(self, reason: str = "reset requested") -> None: ...

    def summary(self) -> dict[str, Any]: ...


@dataclass
class EndEffectorNodeConfig:
    """The end-effector pipeline's settings on a robot (the arm's profile)."""

    soft_start_s: float = 1.0  # hold the measured TCP this long before the policy acts
    stale_timeout_s: float = 0.3  # per state topic (the arm's state comes at the policy's 10 Hz)
    max_step_m: float = 0.0  # the robot's own bound on a TCP step (0: the policy's metadata bound only)

    def __post_init__(self) -> None:
        for name in ("soft_start_s", "stale_timeout_s", "max_step_m"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v >= 0 and v == v and v != float("inf")):
                raise ValueError(f"end_effector.{name} must be a finite number >= 0, got {v!r}")


@dataclass
class ControlSettings:
    """Everything the factory may need besides the policy, the robot and the transport; each
    controller kind reads its own part."""

    joint: JointControllerConfig = field(default_factory=JointControllerConfig)
    quadrotor: QuadrotorControllerConfig = field(default_factory=QuadrotorControllerConfig)
    end_effector: EndEffectorNodeConfig = field(default_factory=EndEffectorNodeConfig)
    setpoint: tuple[float, float, float] = (0.0, 0.0, 1.0)  # rotor: the hover point / figure centre
    trajectory: str = "hover"  # rotor: hover | figure8


def action_kind(meta: PolicyMetadata) -> str:
    """The controller kind for a policy's declared ``action.type``; an unknown one names the field."""
    t = meta.action.get("type")
    if t not in ACTION_KINDS:
        raise PolicyMetadataError(f"policy metadata field 'action.type' is {t!r}; this runtime runs {sorted(ACTION_KINDS)}")
    return ACTION_KINDS[t]


def check_policy_robot(meta: PolicyMetadata, robot: Any) -> None:
    """The policy's metadata field 'robot' must name ``robot`` (a description; aliases such as 'g1'
    count): checked before the action type, so a policy for another robot is told so first."""
    if ALIASES.get(meta.robot, meta.robot) != ALIASES.get(robot.name, robot.name):
        raise PolicyMetadataError(f"policy metadata field 'robot' is '{meta.robot}' but the runtime was started for '{robot.name}'")


def make_controller(runner: Any, transport: Transport, robot: Any, settings: ControlSettings | None = None,
                    on_transition: Callable[[str], None] | None = None, setpoint: Callable[[float], Any] | None = None,
                    clock: Callable[[], float] | None = None) -> Controller:
    """The controller for ``runner``'s policy on ``robot`` (a :class:`~robot_learning.robots.registry.RobotDescription`),
    chosen by the policy's ``action.type``. ``setpoint`` (rotor) overrides ``settings.setpoint``/``trajectory``."""
    s = settings or ControlSettings()
    meta: PolicyMetadata = runner.metadata
    check_policy_robot(meta, robot)
    kind = action_kind(meta)
    if robot.kind != ROBOT_KINDS[kind]:
        raise PolicyMetadataError(f"policy metadata field 'action.type' is {meta.action.get('type')!r}, which robot '{robot.name}' "
                                  f"({robot.kind}) does not take")
    if kind == "rotor":
        if setpoint is None:
            setpoint = FigureEight(center=tuple(s.setpoint)) if s.trajectory == "figure8" else Hover(tuple(s.setpoint))
        return QuadrotorController(runner, transport, setpoint, params=robot.params, cfg=s.quadrotor, on_transition=on_transition)
    if kind == "joint":
        return JointController(runner, transport, robot.name, robot.limits(), s.joint, forward_kinematics=robot.forward_kinematics,
                               on_transition=on_transition, clock=clock)
    e = s.end_effector
    cfg = EndEffectorControllerConfig(robot=robot.name, soft_start_s=e.soft_start_s, stale_timeout_s=e.stale_timeout_s,
                                      max_step_m=e.max_step_m or None)
    return EndEffectorController(runner, cfg, transport=transport, on_transition=on_transition)
