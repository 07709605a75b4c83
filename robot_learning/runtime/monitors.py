"""Safety monitors for every robot (the humanoid, the arm, the quadrotor), behind one small interface.

Every tick the controller runs the pipeline

    input checks (``check_state``)  ->  observation  ->  policy  ->  output checks (``check_command``)  ->  command

A monitor implements one or both hooks. ``check_state`` looks at the newest state and returns a
:class:`Fault` or None. ``check_command`` may bound the command in place (a limiter) and returns a
fault when it had to. The fault's severity decides what happens (see :mod:`.safety`): WARN is
logged, FALLBACK hands over to the robot's terminal action (damping for the G1, hold for the arm),
ESTOP does the same and latches.

Monitors are built from the robot's YAML (a list of ``{type: ..., <parameters>}``) and the limits of
the policy and the robot: to add one, write the class here and add it to :data:`MONITORS`.
Torch-free: numpy only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from robot_learning.types import Fault, JointCommand, JointLimits, RobotState, Severity


# ------------------------------------------------------------------------------ input checks
def check_finite(values: Mapping[str, np.ndarray]) -> Fault | None:
    """ESTOP fault naming the first non-finite entry, e.g. ``position[2]=nan is not finite``."""
    for name, v in values.items():
        a = np.asarray(v, dtype=np.float64).reshape(-1)
        bad = np.flatnonzero(~np.isfinite(a))
        if bad.size:
            i = int(bad[0])
            return Fault("finite", Severity.ESTOP, f"{name}[{i}]={a[i]} is not finite")
    return None


def check_ranges(values: Mapping[str, np.ndarray], ranges: Mapping[str, tuple[float, float]]) -> Fault | None:
    """ESTOP fault naming the first entry outside its physically possible range."""
    for name, (lo, hi) in ranges.items():
        if name not in values:
            continue
        a = np.asarray(values[name], dtype=np.float64).reshape(-1)
        bad = np.flatnonzero((a < lo) | (a > hi))
        if bad.size:
            i = int(bad[0])
            return Fault("range", Severity.ESTOP, f"{name}[{i}]={a[i]:.4g} is outside [{lo}, {hi}]")
    return None


@dataclass
class MonitorContext:
    """What monitors may be configured from: the limits, the control period, the task, kinematics."""

    limits: JointLimits
    dt: float
    task: str = ""
    forward_kinematics: Callable[[np.ndarray], np.ndarray] | None = None  # joint positions -> end-effector position
    extra: dict[str, Any] = field(default_factory=dict)  # the policy's safety_limits (metadata)


class Monitor:
    """Base class: override one or both hooks. ``name`` appears in faults and diagnostics."""

    name = "monitor"

    def check_state(self, state: RobotState | None, now: float) -> Fault | None:
        return None

    def check_command(self, state: RobotState, command: JointCommand) -> Fault | None:
        return None

    def reset(self, state: RobotState | None, command: JointCommand | None) -> None:
        """Called when control (re)starts, with the current state and the first command."""


# ------------------------------------------------------------------------------ input checks
class FiniteInput(Monitor):
    """ESTOP on a NaN or infinite reading: the estimator or the link is broken."""

    name = "finite"

    def check_state(self, state: RobotState | None, now: float) -> Fault | None:
        return None if state is None else check_finite(state.values)


class PlausibleInput(Monitor):
    """ESTOP on physically impossible readings: joints far outside their hard limits, speeds far
    above the motors', an orientation quaternion that is not a unit quaternion."""

    name = "range"

    def __init__(self, ctx: MonitorContext, position_slack: float = 0.3, velocity_factor: float = 3.0,
                 quaternion_norm: tuple[float, float] = (0.9, 1.1)) -> None:
        L = ctx.limits
        self.lo, self.hi = L.lower - position_slack, L.upper + position_slack
        self.vmax = L.velocity * velocity_factor
        self.qn = quaternion_norm
        self.names = L.names

    def check_state(self, state: RobotState | None, now: float) -> Fault | None:
        if state is None:
            return None
        q = state.values.get("joint_position")
        if q is not None:
            bad = np.flatnonzero((q < self.lo) | (q > self.hi))
            if bad.size:
                i = int(bad[0])
                return Fault(self.name, Severity.ESTOP, f"joint '{self.names[i]}' position {q[i]:.3f} rad is outside the possible range [{self.lo[i]:.2f}, {self.hi[i]:.2f}]")
        qd = state.values.get("joint_velocity")
        if qd is not None:
            bad = np.flatnonzero(np.abs(qd) > self.vmax)
            if bad.size:
                i = int(bad[0])
                return Fault(self.name, Severity.ESTOP, f"joint '{self.names[i]}' velocity {qd[i]:.2f} rad/s is beyond any possible ({self.vmax[i]:.1f})")
        quat = state.values.get("imu_orientation")
        if quat is not None:
            n = float(np.linalg.norm(quat))
            if not self.qn[0] <= n <= self.qn[1]:
                return Fault(self.name, Severity.ESTOP, f"IMU orientation quaternion norm {n:.3f} is outside [{self.qn[0]}, {self.qn[1]}]")
        return None


class Staleness(Monitor):
    """A watchdog per topic: FALLBACK when a topic has not arrived for longer than its timeout.

    Ages are measured on the runtime's own clock from the arrival time of each topic's newest
    message (``RobotState.topic_stamps``), so a robot whose clock differs from ours is judged fairly.
    """

    name = "stale"

    def __init__(self, ctx: MonitorContext, timeouts: Mapping[str, float] | None = None, timeout_s: float = 0.1) -> None:
        self.timeouts = dict(timeouts or {})
        self.default = timeout_s

    def check_state(self, state: RobotState | None, now: float) -> Fault | None:
        if state is None:
            return Fault(self.name, Severity.FALLBACK, "no state received yet")
        stamps = state.topic_stamps or {"state": state.stamp}
        for topic in self.timeouts or stamps:
            t = stamps.get(topic)
            limit = self.timeouts.get(topic, self.default)
            if t is None:
                return Fault(self.name, Severity.FALLBACK, f"no message on '{topic}' yet")
            age = now - t
            if age > limit:
                return Fault(self.name, Severity.FALLBACK, f"'{topic}' is {age * 1e3:.1f} ms old (limit {limit * 1e3:.0f} ms)")
        return None


class JointVelocity(Monitor):
    """FALLBACK when a measured joint velocity exceeds ``factor`` x its limit."""

    name = "joint_velocity"

    def __init__(self, ctx: MonitorContext, factor: float = 1.0) -> None:
        self.limit = ctx.limits.velocity * factor
        self.names = ctx.limits.names

    def check_state(self, state: RobotState | None, now: float) -> Fault | None:
        if state is None or "joint_velocity" not in state.values:
            return None
        qd = state["joint_velocity"]
        bad = np.flatnonzero(np.abs(qd) > self.limit)
        if bad.size:
            i = int(bad[0])
            return Fault(self.name, Severity.FALLBACK, f"joint '{self.names[i]}' moves at {qd[i]:.2f} rad/s, limit {self.limit[i]:.2f}")
        return None


def tilt_deg(quat_wxyz: np.ndarray) -> float:
    """Angle between the body z axis and world up, in degrees."""
    w, x, y, z = (float(v) for v in quat_wxyz)
    c = 1.0 - 2.0 * (x * x + y * y)
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


class Tilt(Monitor):
    """Fall detection from the IMU orientation: FALLBACK when the base tilts beyond ``max_tilt_deg``.

    ``getup_aware``: for getting-up policies lying is the start state, not a fault. The detector then
    arms only once the robot has been upright (tilt below ``upright_deg``) for ``upright_s``, and
    reports a fall if it tilts beyond ``max_tilt_deg`` after that.
    """

    name = "tilt"

    def __init__(self, ctx: MonitorContext, max_tilt_deg: float | None = None, getup_aware: bool | None = None,
                 upright_deg: float = 20.0, upright_s: float = 0.5) -> None:
        # the stricter of the robot's setting and the limit the policy was trained under (its metadata)
        limits = [v for v in (max_tilt_deg, ctx.extra.get("max_tilt_deg")) if v is not None]
        self.max_tilt = float(min(limits)) if limits else 60.0
        self.getup_aware = ("getup" in ctx.task) if getup_aware is None else getup_aware
        self.upright_deg, self.upright_ticks = upright_deg, max(1, int(round(upright_s / ctx.dt)))
        self.armed = not self.getup_aware
        self._upright_count = 0

    def reset(self, state: RobotState | None, command: JointCommand | None) -> None:
        self.armed = not self.getup_aware
        self._upright_count = 0

    def check_state(self, state: RobotState | None, now: float) -> Fault | None:
        if state is None or "imu_orientation" not in state.values:
            return None
        tilt = tilt_deg(state["imu_orientation"])
        if not self.armed:
            self._upright_count = self._upright_count + 1 if tilt < self.upright_deg else 0
            if self._upright_count >= self.upright_ticks:
                self.armed = True
            return None
        if tilt > self.max_tilt:
            what = "fell after getting up" if self.getup_aware else "fall detected"
            return Fault(self.name, Severity.FALLBACK, f"{what}: base tilt {tilt:.0f} deg exceeds {self.max_tilt:.0f} deg")
        return None


# ----------------------------------------------------------------------------- output checks
class SoftJointLimits(Monitor):
    """Position targets bounded as ros2_control's soft joint limiter does it.

    Soft limits sit ``margin`` rad inside the hard limits. Inside them, the target may move from the
    previous command by at most ``v * dt`` where ``v`` is the joint's velocity limit, further bounded
    near a soft limit by ``k_position * distance`` (so the target slows down as it approaches). Past a
    soft limit it may not move further out (only a near-zero outward velocity is allowed) and may
    come back at full speed. Finally it is clamped to the hard limits. Clipping is a WARN: it is
    normal near a limit, and is counted in the diagnostics.
    """

    name = "soft_joint_limits"

    def __init__(self, ctx: MonitorContext, margin: float = 0.05, k_position: float = 20.0, zero_velocity: float = 1e-3) -> None:
        L = ctx.limits
        self.hard_lo, self.hard_hi = L.lower, L.upper
        half = (L.upper - L.lower) / 2.0
        m = np.minimum(margin, 0.9 * half)
        self.soft_lo, self.soft_hi = L.lower + m, L.upper - m
        self.vmax, self.dt, self.k, self.eps = L.velocity, ctx.dt, k_position, zero_velocity
        self.names = L.names
        self.previous: np.ndarray | None = None

    def reset(self, state: RobotState | None, command: JointCommand | None) -> None:
        if command is not None:
            self.previous = command.position.copy()
        elif state is not None and "joint_position" in state.values:
            self.previous = np.asarray(state["joint_position"], dtype=np.float64).copy()
        else:
            self.previous = None

    def bounds(self, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The interval the next target must lie in, given the previous target."""
        v_lo = np.clip(-self.k * (previous - self.soft_lo), -self.vmax, self.vmax)
        v_hi = np.clip(-self.k * (previous - self.soft_hi), -self.vmax, self.vmax)
        below, above = previous < self.soft_lo, previous > self.soft_hi
        # outside a soft limit: no further outward motion (near zero), full speed back in
        v_lo = np.where(below, -self.eps, v_lo)
        v_hi = np.where(below, self.vmax, v_hi)
        v_hi = np.where(above, self.eps, v_hi)
        v_lo = np.where(above, -self.vmax, v_lo)
        lo = np.clip(previous + v_lo * self.dt, self.hard_lo, self.hard_hi)
        hi = np.clip(previous + v_hi * self.dt, self.hard_lo, self.hard_hi)
        return lo, hi

    def check_command(self, state: RobotState, command: JointCommand) -> Fault | None:
        target = command.position
        if self.previous is None:
            lo, hi = self.hard_lo, self.hard_hi
        else:
            lo, hi = self.bounds(self.previous)
        bounded = np.minimum(np.maximum(target, lo), hi)
        fault = None
        if not np.array_equal(bounded, target):
            i = int(np.argmax(np.abs(bounded - target)))
            fault = Fault(self.name, Severity.WARN, f"joint '{self.names[i]}' target {target[i]:.3f} bounded to {bounded[i]:.3f}")
            command.position = bounded
        self.previous = command.position.copy()
        return fault


class TorqueLimits(Monitor):
    """Estimated PD torque ``kp (target - q) - kd qd`` kept within ``fraction`` x the effort limit by
    moving the target towards the measured position (WARN when it had to).

    Put it before ``soft_joint_limits`` in the pipeline: the torque is an estimate, the position and
    rate bounds are hard guarantees, so the soft limiter has the last word.
    """

    name = "torque_limits"

    def __init__(self, ctx: MonitorContext, fraction: float = 1.0) -> None:
        self.limit = ctx.limits.effort * fraction
        self.names = ctx.limits.names
        self.lower, self.upper = ctx.limits.lower, ctx.limits.upper

    def check_command(self, state: RobotState, command: JointCommand) -> Fault | None:
        q = state["joint_position"]
        qd = state.values.get("joint_velocity")
        damping = command.kd * qd if qd is not None else 0.0
        tau = command.kp * (command.position - q) - damping
        over = np.abs(tau) > self.limit
        if not np.any(over):
            return None
        clipped = np.clip(tau, -self.limit, self.limit)
        with np.errstate(divide="ignore", invalid="ignore"):
            target = np.where(command.kp > 0, q + (clipped + damping) / np.where(command.kp > 0, command.kp, 1.0), command.position)
        i = int(np.argmax(np.abs(tau) - self.limit))
        command.position = np.clip(np.where(over, target, command.position), self.lower, self.upper)
        return Fault(self.name, Severity.WARN, f"joint '{self.names[i]}' estimated torque {tau[i]:.1f} Nm exceeds {self.limit[i]:.1f} Nm; target moved")


class Workspace(Monitor):
    """The arm's end effector (forward kinematics of the commanded target) must stay inside a box.

    A target outside is not sent: the command is replaced by the previous one and the fault is
    FALLBACK, so the arm holds.
    """

    name = "workspace"

    def __init__(self, ctx: MonitorContext, box_min: tuple[float, float, float] = (0.2, -0.6, 0.02),
                 box_max: tuple[float, float, float] = (0.85, 0.6, 0.9)) -> None:
        if ctx.forward_kinematics is None:
            raise ValueError("monitor 'workspace' needs the robot's forward kinematics (only arms have one)")
        self.fk = ctx.forward_kinematics
        self.lo, self.hi = np.asarray(box_min, dtype=np.float64), np.asarray(box_max, dtype=np.float64)
        self.previous: np.ndarray | None = None

    def reset(self, state: RobotState | None, command: JointCommand | None) -> None:
        self.previous = None if command is None else command.position.copy()

    def check_command(self, state: RobotState, command: JointCommand) -> Fault | None:
        p = np.asarray(self.fk(command.position))
        if np.all(p >= self.lo) and np.all(p <= self.hi):
            self.previous = command.position.copy()
            return None
        if self.previous is not None:
            command.position = self.previous.copy()
        return Fault(self.name, Severity.FALLBACK, f"end-effector target {np.round(p, 3).tolist()} m is outside the workspace box {self.lo.tolist()}..{self.hi.tolist()}")


# ------------------------------------------------------------------------- the quadrotor's
class QuadrotorTilt(Monitor):
    """FALLBACK when the body z axis is more than ``max_tilt_deg`` from world up (state ``quaternion``)."""

    name = "tilt"

    def __init__(self, ctx: MonitorContext | None = None, max_tilt_deg: float = 120.0) -> None:
        self.max_tilt = max_tilt_deg
        self.cos_max = math.cos(math.radians(max_tilt_deg))

    def check_state(self, state: RobotState | None, now: float) -> Fault | None:
        if state is None:
            return None
        w, x, y, z = state["quaternion"]
        c = 1.0 - 2.0 * (x * x + y * y)
        if c < self.cos_max:
            return Fault(self.name, Severity.FALLBACK, f"tilt {math.degrees(math.acos(max(-1.0, min(1.0, c)))):.0f} deg exceeds {self.max_tilt:.0f} deg")
        return None


class BodyRate(Monitor):
    """FALLBACK when any body rate exceeds ``max_body_rate`` (rad/s)."""

    name = "body_rate"

    def __init__(self, ctx: MonitorContext | None = None, max_body_rate: float = 25.0) -> None:
        self.limit = max_body_rate

    def check_state(self, state: RobotState | None, now: float) -> Fault | None:
        if state is None:
            return None
        rate = float(np.abs(state["angular_velocity"]).max())
        if rate > self.limit:
            return Fault(self.name, Severity.FALLBACK, f"body rate {rate:.1f} rad/s exceeds {self.limit} rad/s")
        return None


class Geofence(Monitor):
    """FALLBACK when the position leaves the box ``[low, high]`` (m, world frame)."""

    name = "geofence"

    def __init__(self, ctx: MonitorContext | None = None, low: tuple[float, float, float] = (-2.0, -2.0, 0.0),
                 high: tuple[float, float, float] = (2.0, 2.0, 2.5)) -> None:
        self.low, self.high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)

    def check_state(self, state: RobotState | None, now: float) -> Fault | None:
        if state is None:
            return None
        p = np.asarray(state["position"])
        if np.any(p < self.low) or np.any(p > self.high):
            return Fault(self.name, Severity.FALLBACK, f"position {np.round(p, 2).tolist()} is outside the geofence {self.low.tolist()}..{self.high.tolist()}")
        return None


class Speed(Monitor):
    """FALLBACK when the speed exceeds ``max_speed`` (m/s)."""

    name = "speed"

    def __init__(self, ctx: MonitorContext | None = None, max_speed: float = 3.0) -> None:
        self.limit = max_speed

    def check_state(self, state: RobotState | None, now: float) -> Fault | None:
        if state is None:
            return None
        speed = float(np.linalg.norm(state["linear_velocity"]))
        if speed > self.limit:
            return Fault(self.name, Severity.FALLBACK, f"speed {speed:.2f} m/s exceeds {self.limit} m/s")
        return None


MONITORS: dict[str, type[Monitor]] = {
    "quadrotor_tilt": QuadrotorTilt,
    "body_rate": BodyRate,
    "geofence": Geofence,
    "speed": Speed,
    "finite": FiniteInput,
    "range": PlausibleInput,
    "stale": Staleness,
    "joint_velocity": JointVelocity,
    "tilt": Tilt,
    "soft_joint_limits": SoftJointLimits,
    "torque_limits": TorqueLimits,
    "workspace": Workspace,
}


class MonitorConfigError(ValueError):
    """A monitor entry in a robot's YAML is malformed; the message names it."""


def build_monitors(entries: list[Mapping[str, Any]], ctx: MonitorContext) -> list[Monitor]:
    """Monitors from YAML entries such as ``{type: tilt, max_tilt_deg: 60}``, in pipeline order.

    ``finite`` always runs first, whether listed or not: nothing may be computed from a NaN.
    """
    monitors: list[Monitor] = [FiniteInput()]
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or "type" not in entry:
            raise MonitorConfigError(f"monitors[{i}] must be a mapping with a 'type', got {entry!r}")
        kind = entry["type"]
        if kind == "finite":
            continue
        cls = MONITORS.get(kind)
        if cls is None:
            raise MonitorConfigError(f"monitors[{i}]: unknown monitor type '{kind}'; known: {sorted(MONITORS)}")
        params = {k: v for k, v in entry.items() if k != "type"}
        try:
            monitors.append(cls(ctx, **params) if cls is not FiniteInput else cls())
        except TypeError as e:
            raise MonitorConfigError(f"monitors[{i}] ({kind}): {e}") from None
    return monitors
