"""The runtime of end-effector policies (the Panda's HIL-SERL actor): one checked command per 10 Hz tick.

Every tick runs the pipeline of DESIGN.md ("Safety is a pipeline, every tick"):

    input checks (NaN/inf in any field or in the TCP rotation, a TCP rotation that is no rotation)
    -> observation (the runtime's ObservationBuilder, with the layout from the policy's metadata)
    -> policy
    -> output checks: action clipped to [-clip, clip], target = tcp + R_tcp (a * scale_m),
       target clipped to the workspace box, step length bounded by max_step_m
    -> command (TCP target, gripper close/open/keep)

It keeps HIL-SERL's "bounded impedance reference": the target handed to the arm's impedance
controller is never further than ``max_step_m`` from the *measured* TCP, so however wrong the policy,
the spring can pull at most that far. A failed input check or a non-finite policy output is a
FALLBACK fault: that tick's command is a hold (target = the measured TCP, gripper unchanged) and it
is counted; clipping is a WARN, counted too. The faults of a tick travel with its command; what a
FALLBACK means beyond the tick (stop, ask the operator) is the caller's decision, as the state
machine lives with the transport. Timing (period, compute time, deadline misses against the control
period) is recorded on every tick with :class:`~robot_learning.runtime.loop.TimingStats`.

Between episodes :class:`ResetMotion` brings the arm back to its start pose without the policy, as
HIL-SERL's robot does: lift to a clearance height, move over, descend, every target inside the box
and at most ``max_step_m`` from the measured TCP, with a stiffer impedance than the compliant one
the policy acts with (``stiffness_scale`` travels with each command; the spring's error bound still
caps the force).

Torch-free: numpy and onnxruntime only.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np

from robot_learning.runtime.loop import TimingStats
from robot_learning.runtime.monitors import check_finite
from robot_learning.runtime.pipeline import POLICY_OUTPUT, SafetyPipeline
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.types import Fault, PolicyMetadata, PolicyMetadataError, RobotMode, RobotState, Severity, Transport

ROBOT = "franka_panda"
ACTION_TYPE = "ee_delta"
GRIPPER_CLOSE, GRIPPER_STAY, GRIPPER_OPEN = 0, 1, 2


class Policy(Protocol):
    """What the controller needs of a policy: its metadata and ``obs (n,) -> action (m,)``
    (:class:`~robot_learning.runtime.policy.PolicyRunner` is one)."""

    metadata: PolicyMetadata

    def __call__(self, obs: np.ndarray) -> np.ndarray: ...


@dataclass
class EndEffectorControllerConfig:
    """The robot side of the contract; the policy's metadata must agree with it.

    Attributes:
        robot: the robot this runtime drives; a policy for another robot is refused.
        joint_names: the robot's arm joints, checked against the metadata when given.
        robot_params: robot parameters checked against the metadata's ``robot_params`` when given
            (e.g. ``tcp_offset_m``).
        tcp_field: the observation field that holds the measured TCP position (base frame, m).
        max_step_m: the robot's own bound on the step (m); the tighter of it and the metadata's counts.
        rotation_tolerance: how far ``R^T R`` may be from the identity before the TCP rotation is
            treated as a broken reading.
    """

    robot: str = ROBOT
    joint_names: Sequence[str] | None = None
    robot_params: Mapping[str, Any] = field(default_factory=dict)
    tcp_field: str = "tcp_pos"
    max_step_m: float | None = None
    rotation_tolerance: float = 1e-2
    soft_start_s: float = 0.0  # the pipeline's SOFT_START: hold the measured TCP this long before the policy acts
    stale_timeout_s: float = 0.0  # the pipeline's staleness watchdog per state topic (0: off, e.g. a lock-step simulator)


@dataclass
class EndEffectorCommand:
    """One tick's command. ``tcp_target``: the new impedance reference (base frame, m); None only on a
    hold whose measured TCP is itself unusable: then no new reference is sent and the arm keeps its
    current one. ``gripper``: True close, False open, None keep. ``action``: the policy's clipped arm
    action (None on a hold). ``faults``: what the checks found in this tick."""

    tcp_target: np.ndarray | None
    gripper: bool | None
    held: bool
    action: np.ndarray | None = None
    faults: list[Fault] = field(default_factory=list)
    stiffness_scale: float = 1.0  # the arm's impedance stiffness relative to the policy's (the reset motion's is higher)


def ee_fields(values: Mapping[str, np.ndarray], layout: Any) -> dict[str, np.ndarray]:
    """The observation fields of an end-effector policy from measured values by name: a field the
    values hold is taken as it is; a term ``<a>_rel_<b>`` the values lack is ``<a>_pos - <b>_pos``
    (e.g. ``object_rel_tcp`` = ``object_pos - tcp_pos``). A missing field is a KeyError naming it."""
    out: dict[str, np.ndarray] = {}
    for t in layout.terms:
        if t.name in values:
            out[t.name] = np.asarray(values[t.name])
        elif "_rel_" in t.name:
            a, b = t.name.split("_rel_", 1)
            out[t.name] = np.asarray(values[a + "_pos"], dtype=np.float64) - np.asarray(values[b + "_pos"], dtype=np.float64)
        else:
            raise KeyError(t.name)
    return out


def _limit(meta: PolicyMetadata, key: str, size: int | None = None) -> np.ndarray:
    """A numeric safety limit from the metadata; a missing or malformed one names its field."""
    if key not in meta.safety_limits:
        raise PolicyMetadataError(f"policy metadata field 'safety_limits.{key}' is missing; an end-effector policy needs it")
    try:
        value = np.asarray(meta.safety_limits[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise PolicyMetadataError(f"policy metadata field 'safety_limits.{key}' is not numeric: {meta.safety_limits[key]!r}") from None
    if (size is not None and value.shape != (size,)) or (size is None and value.shape != ()) or not np.all(np.isfinite(value)):
        raise PolicyMetadataError(f"policy metadata field 'safety_limits.{key}' must be {size or 1} finite number(s), got {meta.safety_limits[key]!r}")
    return value


class EndEffectorController(SafetyPipeline):
    """Turns one exported end-effector policy into bounded TCP targets, one tick per control period.

    With a ``transport`` it is a full controller of the shared pipeline
    (:class:`~robot_learning.runtime.pipeline.SafetyPipeline`: ``start()``, ``tick()``, the state
    machine; this class is the end-effector strategy): the transport's state carries the measured
    values by name (``tcp_pos``, ``tcp_vel``, ``gripper_opening``, ``object_pos``, ``goal_pos``, ...,
    and ``tcp_rot``, the TCP rotation), and it takes :class:`EndEffectorCommand`. Observation terms
    named ``<a>_rel_<b>`` are ``<a>_pos - <b>_pos`` (:func:`ee_fields`). :meth:`step` is one tick's
    bounded command from given fields without the state machine (what the reset motion uses).
    """

    def __init__(self, policy: str | Path | Policy, cfg: EndEffectorControllerConfig | None = None,
                 clock: Callable[[], float] = time.perf_counter, transport: Transport | None = None,
                 on_transition: Callable[[str], None] | None = None) -> None:
        self.cfg = cfg = cfg or EndEffectorControllerConfig()
        self.policy: Policy = PolicyRunner(policy) if isinstance(policy, (str, Path)) else policy
        meta = self.metadata = self.policy.metadata
        meta.check_robot(cfg.robot, meta.joint_names if cfg.joint_names is None else cfg.joint_names, cfg.robot_params)
        act = meta.action
        if act.get("type") != ACTION_TYPE:
            raise PolicyMetadataError(f"policy metadata field 'action.type' is {act.get('type')!r} but this runtime runs {ACTION_TYPE!r} policies")
        if act.get("frame", "tcp") != "tcp":
            raise PolicyMetadataError(f"policy metadata field 'action.frame' is {act.get('frame')!r}; only 'tcp' (deltas in the TCP frame) is supported")
        gripper = act.get("gripper")
        self.gripper_index = int(gripper["index"]) if isinstance(gripper, Mapping) and "index" in gripper else None
        if meta.action_size < 3 or (self.gripper_index is not None and not 3 <= self.gripper_index < meta.action_size):
            raise PolicyMetadataError(f"policy metadata field 'action' (size {meta.action_size}, gripper {gripper!r}) needs 3 arm values and a gripper index past them")
        try:
            self.scale_m = float(act["scale_m"])
            self.action_clip = float(act.get("clip", 1.0))
        except (KeyError, TypeError, ValueError):
            raise PolicyMetadataError(f"policy metadata field 'action.scale_m' must be a number (m per unit action), got {act.get('scale_m')!r}") from None
        if not (self.scale_m > 0 and self.action_clip > 0):
            raise PolicyMetadataError(f"policy metadata fields 'action.scale_m' ({self.scale_m}) and 'action.clip' ({self.action_clip}) must be positive")
        self.lo, self.hi = _limit(meta, "workspace_min", 3), _limit(meta, "workspace_max", 3)
        if np.any(self.lo >= self.hi):
            raise PolicyMetadataError(f"policy metadata field 'safety_limits.workspace_min' {self.lo.tolist()} is not below 'workspace_max' {self.hi.tolist()}")
        step = float(_limit(meta, "max_step_m"))
        self.max_step_m = step if cfg.max_step_m is None else min(step, float(cfg.max_step_m))
        if not self.max_step_m > 0:
            raise PolicyMetadataError(f"policy metadata field 'safety_limits.max_step_m' must be positive, got {step}")
        if cfg.tcp_field not in {t.name for t in meta.observation_layout.terms}:
            raise PolicyMetadataError(f"policy metadata field 'observation_layout' has no '{cfg.tcp_field}' term (the measured TCP position)")
        self.period_s = 1.0 / meta.control_rate_hz
        self._init_pipeline(self.policy, transport, meta.observation_layout, on_transition, period_s=self.period_s)  # type: ignore[arg-type]
        self.clock = clock
        self.timing = TimingStats(self.period_s)
        self.counts: Counter[str] = Counter()
        self.soft_ticks = max(0, int(round(cfg.soft_start_s / self.period_s)))
        self.soft_tick = 0
        self._t0 = 0.0

    # ------------------------------------------------------------------- the pipeline's hooks
    def start(self) -> None:
        """Arm: DAMPING (hold), SOFT_START (hold the measured TCP for ``soft_start_s``), POLICY.
        Needs a valid state; the policy runs once on it first (a dry run: sizes end to end, warm-up)."""
        if self.transport is None:
            raise RuntimeError("cannot start: this controller was made without a transport")
        if self.mode in (RobotMode.SOFT_START, RobotMode.POLICY):
            return
        state = self.transport.read_state()
        if state is None:
            raise RuntimeError("cannot start: no end-effector state received yet")
        bad = self._input_fault(state, self.transport.now())
        if bad is not None:
            raise RuntimeError(f"cannot start: {bad.monitor}: {bad.message}")
        if self._policy_action(ee_fields(state.values, self.metadata.observation_layout)) is None:
            raise RuntimeError("cannot start: the policy's dry run produced a non-finite action")
        self.policy_seconds.clear()
        if self.mode == RobotMode.IDLE:
            self.sm.request(RobotMode.DAMPING, "start requested")
        self.soft_tick = 0
        self.sm.request(RobotMode.SOFT_START, "soft start: holding the measured TCP")
        if self.soft_ticks == 0:
            self.sm.request(RobotMode.POLICY, "policy in control")

    def _input_fault(self, state: RobotState, now: float) -> Fault | None:
        if self.cfg.stale_timeout_s > 0:
            for topic, t in state.topic_stamps.items():
                if now - t > self.cfg.stale_timeout_s:
                    return Fault("stale", Severity.FALLBACK, f"{topic} is {(now - t) * 1e3:.1f} ms old (limit {self.cfg.stale_timeout_s * 1e3:.1f} ms)")
        try:
            fields = {**ee_fields(state.values, self.metadata.observation_layout), "tcp_rot": state["tcp_rot"]}
        except KeyError as e:
            return Fault("range", Severity.FALLBACK, f"the state lacks {e}")
        return self._check_fields(fields, np.asarray(state["tcp_rot"], dtype=np.float64))

    def check_input(self, state: RobotState | None, now: float) -> list[Fault]:
        self._t0 = self.clock()
        self.counts["ticks"] += 1
        if state is None:
            return [Fault("stale", Severity.FALLBACK, "no end-effector state received yet")]
        bad = self._input_fault(state, now)
        if bad is None:
            return []
        self.counts["input_faults"] += 1
        return [bad]

    def active_command(self, state: RobotState, mode: RobotMode) -> EndEffectorCommand | None:
        if mode == RobotMode.SOFT_START:
            self.soft_tick += 1
            if self.soft_tick >= self.soft_ticks:
                self.sm.request(RobotMode.POLICY, "soft start complete")
            return self._hold_at(np.asarray(state[self.cfg.tcp_field], dtype=np.float64))
        raw = self._policy_action(ee_fields(state.values, self.metadata.observation_layout))
        if raw is None:
            self.counts["policy_faults"] += 1
            return None
        if raw.size != self.metadata.action_size:
            self._fault(Fault(POLICY_OUTPUT, Severity.ESTOP, f"policy action has {raw.size} values, not {self.metadata.action_size}"))
            self.counts["policy_faults"] += 1
            return None
        return EndEffectorCommand(None, None, held=False, action=raw)

    def check_output(self, state: RobotState, command: EndEffectorCommand) -> EndEffectorCommand:
        if command.action is None:  # a hold of the soft start: the measured TCP, nothing to bound
            return command
        tcp = np.asarray(state[self.cfg.tcp_field], dtype=np.float64).reshape(3)
        faults: list[Fault] = []
        out = self._bounded(tcp, np.asarray(state["tcp_rot"], dtype=np.float64).reshape(3, 3), command.action, faults, self._fault)
        out.faults = faults
        if out.tcp_target is not None and not np.all(np.isfinite(out.tcp_target)):
            self._fault(Fault("command", Severity.ESTOP, "TCP target is not finite after the output checks"))
        return out

    def terminal_command(self, state: RobotState | None) -> EndEffectorCommand:
        """The arm's hold: the measured TCP (no motion), the gripper left as it is; no new reference
        when the measurement is unusable."""
        self.counts["holds"] += 1
        tcp = None if state is None or self.cfg.tcp_field not in state.values else np.asarray(state[self.cfg.tcp_field], dtype=np.float64).reshape(3)
        return EndEffectorCommand(None, None, held=True) if tcp is None or not np.all(np.isfinite(tcp)) else self._hold_at(tcp)

    @staticmethod
    def _hold_at(tcp: np.ndarray) -> EndEffectorCommand:
        return EndEffectorCommand(tcp.reshape(3).copy(), None, held=True)

    def sent(self, state: RobotState | None, command: EndEffectorCommand | None) -> None:
        compute = self.clock() - self._t0
        self.timing.record(self._t0, compute, 0.0, compute > self.period_s)

    def _check_fields(self, fields: Mapping[str, np.ndarray], rot: np.ndarray) -> Fault | None:
        bad = check_finite({**fields, "tcp_rot": rot})
        if bad is None and (rot.shape != (3, 3) or np.abs(rot.T @ rot - np.eye(3)).max() > self.cfg.rotation_tolerance
                            or np.linalg.det(rot) < 0.0):
            bad = Fault("range", Severity.FALLBACK, f"tcp_rot (shape {rot.shape}) is not a rotation matrix")
        return None if bad is None else Fault(bad.monitor, Severity.FALLBACK, bad.message)

    # ------------------------------------------------------------------------------ step
    def step(self, fields: Mapping[str, np.ndarray], tcp_rot: np.ndarray) -> EndEffectorCommand:
        """One pass of the pipeline on this tick's observation fields and the measured TCP rotation
        (3x3, TCP frame -> base frame)."""
        t0 = self.clock()
        self.counts["ticks"] += 1
        faults: list[Fault] = []
        tcp = np.asarray(fields[self.cfg.tcp_field], dtype=np.float64).reshape(3)
        rot = np.asarray(tcp_rot, dtype=np.float64)
        bad = self._check_fields(fields, rot)
        if bad is not None:
            # nothing may be computed from a broken reading: hold where the arm is
            command = self._hold(tcp, Fault(bad.monitor, Severity.FALLBACK, f"{bad.message}; holding"), faults, "input_faults")
        else:
            self.builder.build(fields, self.obs)
            raw = np.asarray(self.policy(self.obs), dtype=np.float64).reshape(-1)
            if raw.size != self.metadata.action_size or not np.all(np.isfinite(raw)):
                command = self._hold(tcp, Fault("policy_output", Severity.FALLBACK, f"policy action {raw[:6].tolist()} is not {self.metadata.action_size} finite values; holding"),
                                     faults, "policy_faults")
            else:
                command = self._bounded(tcp, rot, raw, faults, self._count)
        compute = self.clock() - t0
        self.timing.record(t0, compute, 0.0, compute > self.period_s)
        command.faults = faults
        return command

    def _note(self, fault: Fault, faults: list[Fault]) -> None:
        """A fault of :meth:`step` (no state machine there: the caller decides what a hold means)."""
        faults.append(fault)
        self._count(fault)

    def _count(self, fault: Fault) -> None:
        self.fault_counts[fault.monitor] += 1
        if len(self.fault_log) < 1000:
            self.fault_log.append(f"{fault.severity.name} {fault.monitor}: {fault.message}")

    def _hold(self, tcp: np.ndarray, fault: Fault, faults: list[Fault], counter: str) -> EndEffectorCommand:
        """The arm's fallback: the target is the measured TCP (no motion), the gripper is left as it is."""
        self._note(fault, faults)
        self.counts[counter] += 1
        self.counts["holds"] += 1
        if not np.all(np.isfinite(tcp)):
            # no usable position to hold at: send no new reference (the arm keeps its current one)
            return EndEffectorCommand(None, None, held=True)
        return EndEffectorCommand(tcp.copy(), None, held=True)

    def _bounded(self, tcp: np.ndarray, rot: np.ndarray, raw: np.ndarray, faults: list[Fault],
                 raise_fault: Callable[[Fault], None]) -> EndEffectorCommand:
        """Output checks: action clip, workspace box, step length (in that order, each counted and
        handed to ``raise_fault``: the pipeline's state machine, or nothing for :meth:`step`)."""

        def note(f: Fault, faults: list[Fault]) -> None:
            faults.append(f)
            raise_fault(f)

        self.counts["policy_ticks"] += 1
        a = np.clip(raw[:3], -self.action_clip, self.action_clip)
        if not np.array_equal(a, raw[:3]):
            self.counts["action_clips"] += 1
            note(Fault("action_clip", Severity.WARN, f"arm action {np.round(raw[:3], 3).tolist()} clipped to +-{self.action_clip}"), faults)
        target = tcp + rot @ (a * self.scale_m)
        boxed = np.clip(target, self.lo, self.hi)
        if not np.array_equal(boxed, target):
            self.counts["workspace_clips"] += 1
            note(Fault("workspace", Severity.WARN, f"TCP target {np.round(target, 3).tolist()} clipped to the box {self.lo.tolist()}..{self.hi.tolist()}"), faults)
        target = boxed
        step = target - tcp
        n = float(np.sqrt(step @ step))
        if n > self.max_step_m + 1e-12:  # the tolerance keeps float rounding of a full diagonal step from counting
            self.counts["step_clips"] += 1
            note(Fault("step", Severity.WARN, f"TCP step {n * 1e3:.1f} mm bounded to {self.max_step_m * 1e3:.1f} mm"), faults)
            target = tcp + step * (self.max_step_m / n)
        gripper: bool | None = None
        if self.gripper_index is not None:
            # the actor outputs the command as a float; the nearest of close (0) / stay (1) / open (2) counts
            g = int(np.rint(np.clip(raw[self.gripper_index], GRIPPER_CLOSE, GRIPPER_OPEN)))
            gripper = {GRIPPER_CLOSE: True, GRIPPER_OPEN: False}.get(g)
        return EndEffectorCommand(target, gripper, held=False, action=a)

    # ------------------------------------------------------------------------- reporting
    def summary(self) -> dict[str, Any]:
        """Counts (ticks, holds, clips, faults by monitor) and timing percentiles, JSON-ready."""
        keys = ("ticks", "policy_ticks", "holds", "input_faults", "policy_faults", "action_clips", "workspace_clips", "step_clips",
                "reset_ticks")
        out: dict[str, Any] = {k: int(self.counts[k]) for k in keys}
        out["faults"] = dict(self.fault_counts)
        out["max_step_m"] = self.max_step_m
        out["timing"] = self.timing.summary()
        return out


@dataclass
class ResetMotionConfig:
    """The scripted motion back to the start pose between episodes.

    Attributes:
        clearance_z: the TCP rises to at least this height (base frame, m) before moving sideways, so
            it does not drag what it holds or the hand through the scene.
        stiffness_scale: impedance stiffness during the reset relative to the policy's (damping scales
            with its square root, keeping the damping ratio). HIL-SERL resets stiffer than it learns.
        tolerance_m: the reset is done when the TCP is this close to the pose.
        max_ticks: a reset that has not arrived after this many ticks is a fault (the arm is blocked).
    """

    clearance_z: float = 0.15
    stiffness_scale: float = 2.0
    tolerance_m: float = 0.005
    max_ticks: int = 150


class ResetMotion:
    """Lift, move over, descend to ``pose``: one bounded target per tick from the measured TCP.

    ``step(tcp)`` returns the tick's command, or None once the TCP is within ``tolerance_m`` of the
    pose. The targets obey the controller's workspace box and step bound; a non-finite TCP reading
    holds (FALLBACK, counted in the controller); a reset that does not arrive within ``max_ticks``
    raises :class:`TimeoutError` naming where the arm stopped.
    """

    def __init__(self, controller: EndEffectorController, pose: Sequence[float], cfg: ResetMotionConfig | None = None) -> None:
        self.ctrl = controller
        self.cfg = cfg = cfg or ResetMotionConfig()
        self.pose = np.asarray(pose, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(self.pose)) or np.any(self.pose < controller.lo) or np.any(self.pose > controller.hi):
            raise ValueError(f"reset pose {self.pose.tolist()} is outside the policy's workspace box "
                             f"{controller.lo.tolist()}..{controller.hi.tolist()}")
        if not cfg.stiffness_scale > 0:
            raise ValueError(f"reset stiffness_scale must be positive, got {cfg.stiffness_scale}")
        self.clear_z = float(np.clip(max(cfg.clearance_z, self.pose[2]), controller.lo[2], controller.hi[2]))
        self.ticks = 0

    def _waypoint(self, tcp: np.ndarray) -> np.ndarray:
        tol = self.cfg.tolerance_m
        if np.linalg.norm(tcp[:2] - self.pose[:2]) > tol:
            if tcp[2] < self.clear_z - tol:  # first up, straight
                return np.array([tcp[0], tcp[1], self.clear_z])
            return np.array([self.pose[0], self.pose[1], self.clear_z])  # then over, at the clearance height
        return self.pose  # then down (or up) onto the pose

    def step(self, tcp: np.ndarray) -> EndEffectorCommand | None:
        tcp = np.asarray(tcp, dtype=np.float64).reshape(3)
        ctrl = self.ctrl
        faults: list[Fault] = []
        if not np.all(np.isfinite(tcp)):
            cmd = ctrl._hold(tcp, Fault("reset", Severity.FALLBACK, f"TCP reading {tcp.tolist()} is not finite during the reset; holding"),
                             faults, "input_faults")
            cmd.faults = faults
            return cmd
        if np.linalg.norm(tcp - self.pose) <= self.cfg.tolerance_m:
            return None
        self.ticks += 1
        if self.ticks > self.cfg.max_ticks:
            raise TimeoutError(f"the reset motion did not reach {np.round(self.pose, 3).tolist()} in {self.cfg.max_ticks} ticks; "
                               f"the TCP stopped at {np.round(tcp, 3).tolist()}")
        target = np.clip(self._waypoint(tcp), ctrl.lo, ctrl.hi)
        step = target - tcp
        n = float(np.sqrt(step @ step))
        if n > ctrl.max_step_m:  # bounded from the measured TCP, and in the box even if the TCP is not
            target = np.clip(tcp + step * (ctrl.max_step_m / n), ctrl.lo, ctrl.hi)
        ctrl.counts["reset_ticks"] += 1
        return EndEffectorCommand(target, None, held=False, faults=faults, stiffness_scale=self.cfg.stiffness_scale)
