"""The safety pipeline's parts: the staleness watchdog, a rate limiter, the quadrotor's monitors and
fallback command, and the state machine. Torch-free. (Faults, severities and robot modes are
:mod:`robot_learning.types.safety`; the monitors :mod:`robot_learning.runtime.monitors`.)

Severity decides what a failed check does: WARN is logged only; FALLBACK hands control to the
robot's safe command (DAMPING) until an operator restarts; ESTOP cuts to the terminal action and
latches until an explicit reset. A non-finite or physically impossible input is ESTOP: it means
the estimator or the link is broken, and nothing computed from it can be trusted.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from robot_learning.core.checks import check
from robot_learning.core.config import FieldError
from robot_learning.robots.crazyflie import CrazyflieParams
from robot_learning.runtime.monitors import BodyRate, Geofence, QuadrotorTilt, Speed, check_finite, check_ranges
from robot_learning.types import Fault, RobotMode, RobotState, Severity, Transition


class StalenessWatchdog:
    """Fault when no state has arrived, the newest is older than ``timeout_s``, or time runs backwards."""

    def __init__(self, timeout_s: float, name: str = "state") -> None:
        self.timeout_s = timeout_s
        self.name = name
        self.last_stamp: float | None = None

    def check(self, stamp: float | None, now: float) -> Fault | None:
        if stamp is None:
            return Fault("stale", Severity.FALLBACK, f"no {self.name} received yet")
        if self.last_stamp is not None and stamp < self.last_stamp:
            return Fault("stale", Severity.FALLBACK, f"{self.name} stamp went backwards ({stamp:.4f} < {self.last_stamp:.4f})")
        self.last_stamp = stamp
        age = now - stamp
        if age > self.timeout_s:
            return Fault("stale", Severity.FALLBACK, f"{self.name} is {age * 1e3:.1f} ms old (limit {self.timeout_s * 1e3:.1f} ms)")
        return None


class RateLimiter:
    """Bounds a command by the previous one +- ``max_delta_per_tick`` and by [low, high]."""

    def __init__(self, max_delta_per_tick: float, low: float, high: float) -> None:
        self.max_delta = max_delta_per_tick
        self.low, self.high = low, high
        self.previous: np.ndarray | None = None
        self.clipped_ticks = 0

    def reset(self, command: np.ndarray) -> None:
        self.previous = np.clip(np.asarray(command, dtype=np.float64), self.low, self.high)

    def apply(self, command: np.ndarray) -> np.ndarray:
        c = np.clip(np.asarray(command, dtype=np.float64), self.low, self.high)
        if self.previous is not None:
            c = np.clip(c, self.previous - self.max_delta, self.previous + self.max_delta)
        if not np.array_equal(c, command):
            self.clipped_ticks += 1
        self.previous = c
        return c


# ---------------------------------------------------------------------------- the quadrotor
@dataclass(frozen=True)
class QuadrotorLimits:
    max_tilt_deg: float = 120.0  # the policy is trained to recover from 90 degrees
    max_body_rate: float = 25.0  # rad/s
    geofence_min: tuple[float, float, float] = (-2.0, -2.0, 0.0)
    geofence_max: tuple[float, float, float] = (2.0, 2.0, 2.5)
    max_speed: float = 3.0  # m/s
    stale_timeout_s: float = 0.05  # state older than this: FALLBACK
    stale_cutoff_s: float = 0.5  # ... older than this: the fallback cannot fly blind, motors off
    action_low: float = -1.0
    action_high: float = 1.0
    max_action_delta: float = 1.0  # per 0.01 s tick: bounds a full-scale jump to two ticks
    ground_height: float = 0.1  # m: below this, sinking slowly, the fallback cuts the motors (ground effect would hold it up)
    position_range: float = 100.0  # m: beyond this the estimate is broken
    max_physical_speed: float = 50.0
    max_physical_rate: float = 100.0
    quaternion_norm: tuple[float, float] = (0.9, 1.1)

    def __post_init__(self) -> None:
        check(self, positive=("max_tilt_deg", "max_body_rate", "max_speed", "stale_timeout_s", "stale_cutoff_s", "max_action_delta",
                              "position_range", "max_physical_speed", "max_physical_rate", "quaternion_norm"),
              non_negative=("ground_height",), ordered=("quaternion_norm",))
        if any(lo >= hi for lo, hi in zip(self.geofence_min, self.geofence_max)):
            raise FieldError("geofence_min", f"must be below geofence_max {list(self.geofence_max)} on every axis, got {list(self.geofence_min)}")
        if self.action_low >= self.action_high:
            raise FieldError("action_low", f"must be below action_high ({self.action_high}), got {self.action_low}")
        if self.stale_cutoff_s < self.stale_timeout_s:
            raise FieldError("stale_cutoff_s", f"must be at least stale_timeout_s ({self.stale_timeout_s}), got {self.stale_cutoff_s}")


class QuadrotorMonitors:
    """Input checks (ESTOP on impossible data, FALLBACK on stale data) and flight checks (FALLBACK)."""

    def __init__(self, limits: QuadrotorLimits) -> None:
        self.limits = limits
        self.watchdog = StalenessWatchdog(limits.stale_timeout_s)
        L = limits
        self.ranges = {"position": (-L.position_range, L.position_range), "linear_velocity": (-L.max_physical_speed, L.max_physical_speed),
                       "angular_velocity": (-L.max_physical_rate, L.max_physical_rate)}
        # the flight checks are monitors of the common interface (runtime/monitors.py)
        self.flight = [QuadrotorTilt(max_tilt_deg=L.max_tilt_deg), BodyRate(max_body_rate=L.max_body_rate),
                       Geofence(low=L.geofence_min, high=L.geofence_max), Speed(max_speed=L.max_speed)]

    def check_input(self, state: RobotState | None, now: float) -> list[Fault]:
        faults: list[Fault] = []
        stale = self.watchdog.check(None if state is None else state.stamp, now)
        if state is not None:
            bad = check_finite(state.values) or check_ranges(state.values, self.ranges)
            if bad is None and "quaternion" in state.values:
                n = float(np.linalg.norm(state["quaternion"]))
                lo, hi = self.limits.quaternion_norm
                if not lo <= n <= hi:
                    bad = Fault("range", Severity.ESTOP, f"quaternion norm {n:.3f} is outside [{lo}, {hi}]")
            if bad is not None:
                faults.append(bad)
        if stale is not None:
            faults.append(stale)
        return faults

    def check_flight(self, state: RobotState) -> list[Fault]:
        """Every flight monitor's fault (tilt, body rate, geofence, speed), in that order."""
        return [f for m in self.flight for f in [m.check_state(state, 0.0)] if f is not None]


class QuadrotorFallback:
    """The quadrotor's safe command: motors off on the ground, otherwise level and descend.

    The Crazyflie's policy commands motor speeds directly, so there is no stock controller under it
    to fall back to; this is a small attitude controller: PD on the tilt (from the body z axis) and
    the body rates, a collective thrust holding a gentle descent (``descent_speed``) with
    feed-forward hover thrust divided by the cosine of the tilt, mixed to the four rotors through
    the rotor geometry. Yaw is only damped. The gains are low on purpose: the motors lag by 0.15 s,
    and stiffer attitude gains (e.g. 60/8) end in a limit cycle in PyBullet (see tests/test_runtime.py). When the state is unusable the only safe command is
    motors off, which :class:`~robot_learning.runtime.controller.QuadrotorController` sends.
    """

    def __init__(self, params: CrazyflieParams, limits: QuadrotorLimits, kp_att: float = 15.0, kd_att: float = 6.0,
                 kd_yaw: float = 2.0, descent_speed: float = 0.3, k_vz: float = 2.0) -> None:
        self.p, self.limits = params, limits
        self.kp, self.kd, self.kd_yaw, self.descent, self.k_vz = kp_att, kd_att, kd_yaw, descent_speed, k_vz
        pos = np.asarray(params.rotor_positions)
        yaw = np.asarray(params.yaw_directions)
        mix = np.stack([np.ones(4), pos[:, 1], -pos[:, 0], yaw * params.yaw_coefficient])  # wrench = mix @ thrusts
        self.unmix = np.linalg.inv(mix)
        self.inertia = np.asarray(params.inertia)
        self.max_thrust = params.thrust_coefficient * params.rpm_max**2

    def on_ground(self, state: RobotState) -> bool:
        return bool(state["position"][2] < self.limits.ground_height and abs(float(state["linear_velocity"][2])) < 0.5)

    def command(self, state: RobotState | None) -> np.ndarray:
        if state is None or self.on_ground(state) or check_finite(state.values) is not None:
            return np.full(4, -1.0)
        p = self.p
        w, x, y, z = state["quaternion"]
        body_z_world = np.array([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)])
        # world up expressed in the body frame: R^T e_z = third row of R
        up_body = np.array([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)])
        err = np.cross(up_body, [0.0, 0.0, 1.0])  # rotation (body frame) taking world-up onto body z
        err = -err  # rotate body z towards world up
        if up_body[2] < 0:  # upside down: the cross product vanishes at 180 deg; pick a roll axis
            err = err + np.array([1.0, 0.0, 0.0]) * (1.0 - up_body[2])
        rates = np.asarray(state["angular_velocity"])
        alpha = np.array([self.kp * err[0] - self.kd * rates[0], self.kp * err[1] - self.kd * rates[1], -self.kd_yaw * rates[2]])
        torque = self.inertia * alpha
        cos_tilt = float(body_z_world[2])
        vz = float(state["linear_velocity"][2])
        acc = p.gravity + self.k_vz * (-self.descent - vz)
        if cos_tilt > 0.5:
            thrust = np.clip(p.mass * acc / cos_tilt, 0.0, 0.9 * 4 * self.max_thrust)
        else:  # beyond 60 degrees thrust would push sideways or down: right the vehicle first on low thrust
            thrust = 0.3 * p.mass * p.gravity
        f = self.unmix @ np.array([thrust, *torque])
        f = np.clip(f, 0.0, self.max_thrust)
        rpm = np.sqrt(f / p.thrust_coefficient)
        return np.asarray(p.rpm_to_action(rpm), dtype=np.float64)


# --------------------------------------------------------------------------- state machine
ALLOWED = {
    (RobotMode.IDLE, RobotMode.DAMPING),
    (RobotMode.DAMPING, RobotMode.SOFT_START),
    (RobotMode.SOFT_START, RobotMode.POLICY),
    (RobotMode.SOFT_START, RobotMode.DAMPING),
    (RobotMode.POLICY, RobotMode.DAMPING),
    (RobotMode.DAMPING, RobotMode.IDLE),
}


class SafetyStateMachine:
    """IDLE -> DAMPING -> SOFT_START -> POLICY, DAMPING on a FALLBACK fault, ESTOP (latched) on an
    ESTOP fault or request; only :meth:`reset` leaves ESTOP (to IDLE). Every transition is recorded."""

    def __init__(self, on_transition: Callable[[Transition], None] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.mode = RobotMode.IDLE
        self.transitions: list[Transition] = []
        self._on_transition = on_transition
        self._clock = clock

    def _go(self, target: RobotMode, reason: str) -> None:
        tr = Transition(self._clock(), self.mode, target, reason)
        self.mode = target
        if len(self.transitions) < 10_000:
            self.transitions.append(tr)
        if self._on_transition is not None:
            self._on_transition(tr)

    def request(self, target: RobotMode, reason: str) -> None:
        if self.mode == target:
            return
        if self.mode == RobotMode.ESTOP:
            raise ValueError(f"cannot go from ESTOP to {target.name}: e-stop is latched until reset()")
        if target == RobotMode.ESTOP:
            self._go(target, reason)
            return
        if (self.mode, target) not in ALLOWED:
            raise ValueError(f"transition {self.mode.name} -> {target.name} is not allowed")
        self._go(target, reason)

    def on_fault(self, fault: Fault) -> None:
        if self.mode == RobotMode.ESTOP or fault.severity == Severity.WARN:
            return
        if fault.severity == Severity.ESTOP:
            self._go(RobotMode.ESTOP, f"{fault.monitor}: {fault.message}")
        elif self.mode in (RobotMode.SOFT_START, RobotMode.POLICY):
            self._go(RobotMode.DAMPING, f"{fault.monitor}: {fault.message}")

    def estop(self, reason: str) -> None:
        if self.mode != RobotMode.ESTOP:
            self._go(RobotMode.ESTOP, reason)

    def reset(self, reason: str) -> None:
        if self.mode == RobotMode.ESTOP:
            self._go(RobotMode.IDLE, reason)
