"""The control pipeline for joint-controlled robots (the G1 humanoid, the Panda arm), every tick:

    input monitors -> observation -> policy -> targets = default + scale * action
    -> output monitors (soft joint limits, torque estimate, workspace) -> command

State machine (see :class:`~robot_learning.runtime.safety.SafetyStateMachine`) and what each mode sends:

- IDLE: nothing (the robot's own firmware keeps its motors passive until we start).
- DAMPING: the robot's terminal action. ``damping`` (the G1): kp = 0 and a damping kd, so the
  robot sinks softly (targets stay at the last command: with kp = 0 they do not act); ``hold`` (the arm): hold the position measured on entering, with the
  policy's gains.
- SOFT_START: targets interpolated from the pose measured at start to the policy's default pose
  (or held at the measured pose, for getting-up policies that start lying) over ``soft_start_s``,
  gains ramped up from the damping gains (or fixed per joint: ``soft_start_kp``/``kd``); output
  monitors apply. With ``hold_until_go`` the goal is held until :meth:`JointController.go` (the
  vendor's reference sequence: the G1's remote, ``A``).
- POLICY: the policy's targets through the output monitors.
- ESTOP: the terminal action, latched until reset.

A fault of severity FALLBACK or ESTOP raised during a tick replaces that tick's command by the
terminal action: the safe command goes out within the tick that saw the fault. Joints are matched
by name: the policy's order is the pipeline's order; transports map their own orders onto it.
Torch-free: numpy and onnxruntime only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from robot_learning.core.checks import check
from robot_learning.core.config import FieldError
from robot_learning.robots.registry import ALIASES
from robot_learning.runtime.monitors import Monitor, MonitorContext, build_monitors
from robot_learning.runtime.pipeline import SafetyPipeline
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.types import (
    Fault,
    JointCommand,
    JointLimits,
    PolicyMetadata,
    PolicyMetadataError,
    RobotMode,
    RobotState,
    Severity,
    Transport,
)

BASE_FIELDS = ("base_angular_velocity", "projected_gravity", "roll_pitch", "joint_position", "joint_velocity", "last_action")


class JointMappingError(PolicyMetadataError):
    """The policy's joints and the robot's (or a message's) cannot be matched by name."""


def match_joints(wanted: Sequence[str], available: Sequence[str], what: str = "robot") -> np.ndarray:
    """Indices into ``available`` of every name in ``wanted``; a clear error names any missing joint."""
    index = {n: i for i, n in enumerate(available)}
    missing = [n for n in wanted if n not in index]
    if missing:
        raise JointMappingError(f"joint(s) {missing} of the policy are missing from the {what} (it has {list(available)})")
    return np.array([index[n] for n in wanted], dtype=np.intp)


def projected_gravity(quat_wxyz: np.ndarray) -> np.ndarray:
    """World gravity direction (0, 0, -1) expressed in the body frame: -(third row of R). A quaternion
    (4,) (w, x, y, z) gives (3,); a batch (N, 4) gives (N, 3)."""
    w, x, y, z = np.asarray(quat_wxyz, dtype=np.float64).T
    return -np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1)


def roll_pitch(quat_wxyz: np.ndarray) -> np.ndarray:
    w, x, y, z = quat_wxyz
    roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x))))
    return np.array([roll, pitch])


class JointObservation:
    """Observation fields of a joint robot, with the histories the layout asks for.

    Fields: ``base_angular_velocity`` (IMU gyro, body frame), ``projected_gravity``, ``roll_pitch``,
    ``joint_position`` (minus the default pose), ``joint_velocity``, ``last_action`` (the policy's
    previous action after clipping), ``policy_time`` (seconds since the policy took over: 0 at its
    first tick after :meth:`reset`, then ``dt`` per tick); ``<field>_history`` gives the last ``k``
    values of a field, oldest first, where ``k`` = term size / field size.
    """

    def __init__(self, layout_terms: Sequence[Any], n_joints: int, default: np.ndarray, dt: float = 0.02) -> None:
        self.n, self.default, self.dt = n_joints, default, dt
        self._ticks = 0
        sizes = {"base_angular_velocity": 3, "projected_gravity": 3, "roll_pitch": 2, "joint_position": n_joints,
                 "joint_velocity": n_joints, "last_action": n_joints, "policy_time": 1}
        self.histories: dict[str, np.ndarray] = {}
        for t in layout_terms:
            if t.name.endswith("_history"):
                base = t.name[: -len("_history")]
                if base not in sizes or t.size % sizes[base]:
                    raise PolicyMetadataError(f"observation term '{t.name}': no field '{base}' of a size dividing {t.size}")
                self.histories[base] = np.zeros((t.size // sizes[base], sizes[base]))
            elif t.name not in sizes:
                raise PolicyMetadataError(f"observation term '{t.name}' is not one the joint-robot runtime provides ({sorted(sizes)} and their _history)")
        self.last_action = np.zeros(n_joints)
        self._primed = False

    def reset(self) -> None:
        self.last_action[:] = 0.0
        self._primed = False
        self._ticks = 0

    def current(self, state: RobotState) -> dict[str, np.ndarray]:
        quat = state.values.get("imu_orientation", np.array([1.0, 0.0, 0.0, 0.0]))
        return {
            "base_angular_velocity": np.asarray(state.values.get("imu_angular_velocity", np.zeros(3))),
            "projected_gravity": projected_gravity(quat),
            "roll_pitch": roll_pitch(quat),
            "joint_position": np.asarray(state["joint_position"]) - self.default,
            "joint_velocity": np.asarray(state["joint_velocity"]),
            "last_action": self.last_action,
            "policy_time": np.array([self._ticks * self.dt]),
        }

    def fields(self, state: RobotState) -> dict[str, np.ndarray]:
        """The fields of this tick (advances ``policy_time`` and the histories)."""
        f = self.current(state)
        self._ticks += 1
        for base, h in self.histories.items():
            if not self._primed:
                h[:] = f[base]
            h[:-1] = h[1:].copy()
            h[-1] = f[base]
            f[base + "_history"] = h
        self._primed = True
        return f


@dataclass
class JointControllerConfig:
    """How the pipeline behaves around the policy; the robot's YAML fills it."""

    terminal_action: str = "damping"  # "damping" (humanoid) | "hold" (arm)
    damping_kd: float = 5.0  # Nm s/rad in damping mode
    soft_start_s: float = 2.0
    soft_start_target: str = "default"  # "default" | "measured" (getting-up policies start lying)
    action_clip: float = 100.0  # |action| bound before scaling (the training clip)
    policy_budget: float = 0.9  # fraction of the control period the observation + inference may take ...
    policy_overruns: int = 2  # ... before this many overruns in a row hand over to the terminal action
    monitors: list[dict[str, Any]] = field(default_factory=lambda: [
        {"type": "range"}, {"type": "stale", "timeout_s": 0.1}, {"type": "joint_velocity", "factor": 1.5},
        {"type": "torque_limits"}, {"type": "soft_joint_limits", "margin": 0.05}])
    # The vendor's reference sequence (the Unitree G1 on its low-level protocol): the move to the start
    # pose with fixed gains per joint name (empty: the gains ramp from damping to the policy's), and a
    # hold at that pose until go() (the remote's A) instead of handing over when the move ends.
    soft_start_kp: dict[str, float] = field(default_factory=dict)
    soft_start_kd: dict[str, float] = field(default_factory=dict)
    hold_until_go: bool = False

    def __post_init__(self) -> None:
        check(self, non_negative=("damping_kd", "soft_start_s"), positive=("action_clip", "policy_budget", "policy_overruns"))
        if self.terminal_action not in ("damping", "hold"):
            raise FieldError("terminal_action", f"must be 'damping' or 'hold', got {self.terminal_action!r}")
        if self.soft_start_target not in ("default", "measured"):
            raise FieldError("soft_start_target", f"must be 'default' or 'measured', got {self.soft_start_target!r}")


class JointController(SafetyPipeline):
    """Runs one exported joint-space policy against a transport with the whole safety pipeline
    (:class:`~robot_learning.runtime.pipeline.SafetyPipeline`); this class is the joint PD-target strategy."""

    def __init__(self, runner: PolicyRunner, transport: Transport, robot: str, limits: JointLimits,
                 cfg: JointControllerConfig | None = None, forward_kinematics: Callable[[np.ndarray], np.ndarray] | None = None,
                 on_transition: Callable[[str], None] | None = None, clock: Callable[[], float] | None = None) -> None:
        self.cfg = cfg or JointControllerConfig()
        meta: PolicyMetadata = runner.metadata
        if ALIASES.get(meta.robot, meta.robot) != ALIASES.get(robot, robot):  # 'g1' names the 'unitree_g1'
            raise PolicyMetadataError(f"policy metadata field 'robot' is '{meta.robot}' but the runtime was started for '{robot}'")
        self.names = list(meta.joint_names)
        n = len(self.names)
        if meta.action_size != n:
            raise PolicyMetadataError(f"policy metadata field 'action' has size {meta.action_size} but 'joint_names' lists {n} joints")
        # the robot's limits, re-ordered into the policy's joint order by name
        idx = match_joints(self.names, limits.names, f"robot '{robot}'")
        self.limits = JointLimits(self.names, limits.lower[idx], limits.upper[idx], limits.velocity[idx], limits.effort[idx])
        if meta.default_joint_positions is None or meta.pd_gains is None:
            raise PolicyMetadataError("policy metadata needs 'default_joint_positions' and 'pd_gains' for a joint-space policy")
        self.default = np.asarray(meta.default_joint_positions, dtype=np.float64)
        self.kp = np.asarray(meta.pd_gains.get("kp"), dtype=np.float64)
        self.kd = np.asarray(meta.pd_gains.get("kd"), dtype=np.float64)
        for key, arr in (("default_joint_positions", self.default), ("pd_gains.kp", self.kp), ("pd_gains.kd", self.kd)):
            if arr.shape != (n,):
                raise PolicyMetadataError(f"policy metadata field '{key}' has {arr.size} values for {n} joints")
        outside = np.flatnonzero((self.default < self.limits.lower) | (self.default > self.limits.upper))
        if outside.size:
            j = int(outside[0])
            raise PolicyMetadataError(f"policy default position of joint '{self.names[j]}' ({self.default[j]:.3f}) is outside the robot's limits")
        self.action_scale = float(meta.action.get("scale", 1.0))
        self.action_clip = float(meta.action.get("clip", self.cfg.action_clip))
        self.robot = robot
        self.dt = 1.0 / meta.control_rate_hz
        ctx = MonitorContext(self.limits, self.dt, task=meta.task, forward_kinematics=forward_kinematics, extra=dict(meta.safety_limits))
        self.monitors: list[Monitor] = build_monitors(self.cfg.monitors, ctx)
        self.obs_fields = JointObservation(meta.observation_layout.terms, n, self.default, dt=self.dt)
        self._init_pipeline(runner, transport, meta.observation_layout, on_transition, clock=clock, period_s=self.dt,
                            policy_budget=self.cfg.policy_budget, policy_overruns=self.cfg.policy_overruns)
        self.hold_position: np.ndarray | None = None
        self.soft_from: np.ndarray | None = None
        self.soft_tick = 0
        self.soft_ticks = max(1, int(round(self.cfg.soft_start_s / self.dt)))
        self.soft_gains = self._soft_start_gains()
        self.soft_done = False
        self.last_command: JointCommand | None = None

    def _soft_start_gains(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Fixed soft-start gains in the policy's order (None: ramp to the policy's gains)."""
        c = self.cfg
        if not c.soft_start_kp and not c.soft_start_kd:
            return None
        out = []
        for key, table in (("soft_start_kp", c.soft_start_kp), ("soft_start_kd", c.soft_start_kd)):
            missing = [n for n in self.names if n not in table]
            if missing:
                raise FieldError(key, f"has no gain for joint(s) {missing} of the policy")
            out.append(np.array([float(table[n]) for n in self.names]))
        return out[0], out[1]

    def go(self) -> None:
        """Hand over to the policy after a soft start held by ``hold_until_go`` (the remote's A)."""
        if self.mode == RobotMode.POLICY:
            return
        if self.mode != RobotMode.SOFT_START:
            raise RuntimeError(f"go: nothing to hand over in {self.mode.name} (start first)")
        if not self.soft_done:
            raise RuntimeError(f"go: the move to the start pose is not finished ({self.soft_tick}/{self.soft_ticks} ticks)")
        self.sm.request(RobotMode.POLICY, "go: policy in control")
        self.obs_fields.reset()

    # ------------------------------------------------------------------------------ modes
    def entered(self, mode: RobotMode) -> None:
        if mode in (RobotMode.DAMPING, RobotMode.ESTOP):
            self.hold_position = None  # captured on the next state

    def start(self) -> None:
        """Arm: DAMPING, then SOFT_START from the measured pose. Needs a fresh, valid state.

        Before anything is commanded the policy runs once on the current state (a dry run): it checks
        the observation and action sizes end to end and warms ONNX Runtime up.
        """
        if self.mode in (RobotMode.SOFT_START, RobotMode.POLICY):
            return  # already running: a second start must not restart the soft start (the targets would jump)
        state = self.transport.read_state()
        if state is None:
            raise RuntimeError("cannot start: no robot state received yet")
        for m in self.monitors:
            f = m.check_state(state, self.transport.now())
            if f is not None and f.severity != Severity.WARN:
                raise RuntimeError(f"cannot start: {f.monitor}: {f.message}")
        self.obs_fields.reset()
        for _ in range(3):
            action = self._policy(state)
            if action is None:
                raise RuntimeError("cannot start: the policy's dry run produced a non-finite action")
        self.obs_fields.reset()
        self.policy_seconds.clear()
        if self.mode == RobotMode.IDLE:
            self.sm.request(RobotMode.DAMPING, "start requested")
        self.soft_from = np.asarray(state["joint_position"], dtype=np.float64).copy()
        self.soft_tick = 0
        self.soft_done = False
        first = JointCommand(self.names, self.soft_from.copy(), self._damping_kp(), self._damping_kd())
        for m in self.monitors:
            m.reset(state, first)
        self.sm.request(RobotMode.SOFT_START, "soft start from the measured pose")

    # ------------------------------------------------------------------------- commands
    def _damping_kp(self) -> np.ndarray:
        return np.zeros(len(self.names)) if self.cfg.terminal_action == "damping" else self.kp.copy()

    def _damping_kd(self) -> np.ndarray:
        return np.full(len(self.names), self.cfg.damping_kd) if self.cfg.terminal_action == "damping" else self.kd.copy()

    def _terminal(self, state: RobotState | None) -> JointCommand:
        if self.cfg.terminal_action == "damping":
            # kp = 0: the target does not act; keep the last one so nothing from a faulty reading goes out
            if self.last_command is not None and np.all(np.isfinite(self.last_command.position)):
                q = self.last_command.position.copy()
            else:
                q = self._safe_position(state)
            return JointCommand(self.names, q, np.zeros(len(self.names)), np.full(len(self.names), self.cfg.damping_kd))
        if self.hold_position is None:
            self.hold_position = self._safe_position(state)
        return JointCommand(self.names, self.hold_position.copy(), self.kp.copy(), self.kd.copy())

    def _safe_position(self, state: RobotState | None) -> np.ndarray:
        """A finite position to aim at: the measurement when it is usable, else the last command, else the default."""
        if state is not None and "joint_position" in state.values and np.all(np.isfinite(state["joint_position"])):
            return np.clip(np.asarray(state["joint_position"], dtype=np.float64), self.limits.lower, self.limits.upper)
        if self.last_command is not None and np.all(np.isfinite(self.last_command.position)):
            return self.last_command.position.copy()
        return self.default.copy()

    # ------------------------------------------------------------------ the strategy's hooks
    def check_input(self, state: RobotState | None, now: float) -> list[Fault]:
        return [f for m in self.monitors for f in [m.check_state(state, now)] if f is not None]

    def tick(self) -> JointCommand | None:
        """One pass of the pipeline; returns the command that was sent (None in IDLE: nothing is sent)."""
        return super().tick()

    def check_output(self, state: RobotState, command: JointCommand) -> JointCommand:
        for m in self.monitors:
            f = m.check_command(state, command)
            if f is not None:
                self._fault(f)
        if not command.is_finite():
            self._fault(Fault("command", Severity.ESTOP, "command is not finite after the output checks"))
        return command

    def terminal_command(self, state: RobotState | None) -> JointCommand:
        """Damping (kp = 0, target = measured) or hold (the position measured on entering)."""
        return self._terminal(state if state is not None and self._usable(state) else None)

    @staticmethod
    def _usable(state: RobotState) -> bool:
        q = state.values.get("joint_position")
        return q is not None and bool(np.all(np.isfinite(q)))

    def active_command(self, state: RobotState, mode: RobotMode) -> JointCommand | None:
        if mode == RobotMode.SOFT_START:
            self.soft_tick += 1
            a = min(1.0, self.soft_tick / self.soft_ticks)
            goal = self.default if self.cfg.soft_start_target == "default" else self.soft_from
            target = (1.0 - a) * self.soft_from + a * goal
            if self.soft_gains is not None:  # the reference sequence: fixed gains while moving and holding
                kp, kd = self.soft_gains[0].copy(), self.soft_gains[1].copy()
            else:
                kp = (1.0 - a) * self._damping_kp() + a * self.kp
                kd = (1.0 - a) * self._damping_kd() + a * self.kd
            if a >= 1.0 and not self.soft_done:
                self.soft_done = True
                if not self.cfg.hold_until_go:
                    self.sm.request(RobotMode.POLICY, "soft start complete")
                    self.obs_fields.reset()
            return JointCommand(self.names, target, kp, kd)
        action = self._policy(state)
        if action is None:
            return None
        return JointCommand(self.names, self.default + self.action_scale * action, self.kp.copy(), self.kd.copy())

    def _policy(self, state: RobotState) -> np.ndarray | None:
        raw = self._policy_action(self.obs_fields.fields(state))
        if raw is None:
            return None
        action = np.clip(raw, -self.action_clip, self.action_clip)
        self.obs_fields.last_action[:] = action
        return action

    def diagnostics(self) -> dict[str, Any]:
        """A flat summary for the diagnostics topic."""
        return {
            "mode": self.mode.name,
            "ticks": self.ticks,
            "faults": dict(self.fault_counts),
            "last_fault": None if self.last_fault is None else f"{self.last_fault.severity.name} {self.last_fault.monitor}: {self.last_fault.message}",
            "last_transition": None if not self.sm.transitions else f"{self.sm.transitions[-1].source.name}->{self.sm.transitions[-1].target.name}: {self.sm.transitions[-1].reason}",
        }
