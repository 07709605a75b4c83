"""The quadrotor's control pipeline on the robot, every tick:

    input checks (finite, ranges, staleness) -> observation -> policy -> output checks
    (finite, clip, rate limit; tilt, body rate, geofence, training box) -> command

A failed check moves the state machine and is logged with its reason; no unchecked command leaves
this class. What each mode sends:

- IDLE, ESTOP: motors off (action -1, i.e. 0 RPM). E-stop latches until :meth:`reset`.
- DAMPING: the fallback: motors off on the ground, otherwise level and descend slowly
  (:class:`~robot_learning.runtime.safety.QuadrotorFallback`); motors off once the state has been
  stale for longer than ``stale_cutoff_s`` (the fallback cannot fly blind).
- SOFT_START: the fallback command blended into the policy's over ``soft_start_ticks``.
- POLICY: the policy's command, clipped to [-1, 1] and rate limited.

The action history the policy observes holds the commands actually sent to the motors.
Torch-free: numpy and onnxruntime only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from robot_learning.core.checks import check
from robot_learning.robots import crazyflie
from robot_learning.robots.crazyflie import CrazyflieParams
from robot_learning.runtime.pipeline import SafetyPipeline
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.runtime.quadrotor import QuadrotorObservation, QuadrotorObservationConfig
from robot_learning.runtime.safety import QuadrotorFallback, QuadrotorLimits, QuadrotorMonitors, RateLimiter
from robot_learning.types import Fault, RobotMode, RobotState, Severity, Transport

Setpoint = Callable[[float], np.ndarray]


@dataclass
class ControllerConfig:
    soft_start_ticks: int = 20  # 0.2 s at 100 Hz
    limits: QuadrotorLimits = field(default_factory=QuadrotorLimits)

    def __post_init__(self) -> None:
        check(self, non_negative=("soft_start_ticks",))


class QuadrotorController(SafetyPipeline):
    """Runs one exported quadrotor policy against a transport with the whole safety pipeline
    (:class:`~robot_learning.runtime.pipeline.SafetyPipeline`); this class is the rotor-speed strategy."""

    def __init__(self, runner: PolicyRunner, transport: Transport, setpoint: Setpoint, params: CrazyflieParams = crazyflie.DEFAULT_PARAMS,
                 cfg: ControllerConfig | None = None, on_transition: Callable[[str], None] | None = None) -> None:
        self.cfg = cfg or ControllerConfig()
        meta = runner.metadata
        meta.check_robot(crazyflie.NAME, crazyflie.MOTOR_NAMES)
        self.setpoint, self.params = setpoint, params
        history = sum(t.size for t in meta.observation_layout.terms if t.name == "action_history") // 4
        lm = meta.safety_limits
        self.obs_fields = QuadrotorObservation(
            QuadrotorObservationConfig(history=history, max_position_error=float(lm.get("max_position_error_m", 0.5)),
                                       max_velocity=float(lm.get("max_velocity_m_s", 2.0))), params.hover_action)
        self.training_box = float(lm.get("training_box_m", np.inf))
        lim = self.cfg.limits
        self.monitors = QuadrotorMonitors(lim)
        self.fallback = QuadrotorFallback(params, lim)
        self.limiter = RateLimiter(lim.max_action_delta, lim.action_low, lim.action_high)
        self.motors_off = np.full(4, -1.0)
        self._init_pipeline(runner, transport, meta.observation_layout, on_transition)
        self.soft_tick = 0
        self.last_command = self.motors_off.copy()
        self._target: np.ndarray | None = None
        self._now = 0.0

    def start(self) -> None:
        """Arm and hand over to the policy (through SOFT_START when ``soft_start_ticks`` > 0).

        Before anything is commanded the policy runs once on the current state (a dry run): it checks
        the sizes end to end and warms ONNX Runtime up, so the first real tick does not miss its
        deadline. A dry run whose action is not finite refuses the start (the e-stop it raised stays).
        """
        self.sm.request(RobotMode.DAMPING, "start requested")
        self.sm.request(RobotMode.SOFT_START, "soft start")
        self.soft_tick = 0
        self.obs_fields.reset()
        state = self.transport.read_state()
        self.limiter.reset(self.fallback.command(state) if state is not None else self.motors_off)
        if state is not None:
            action = self._policy(state, self.setpoint(state.stamp))
            self.policy_seconds.clear()
            if action is None:
                raise RuntimeError("cannot start: the policy's dry run produced a non-finite action")
        if self.cfg.soft_start_ticks <= 0:
            self.sm.request(RobotMode.POLICY, "policy in control")

    # ------------------------------------------------------------------ the strategy's hooks
    def check_input(self, state: RobotState | None, now: float) -> list[Fault]:
        """Input checks (finite, ranges, staleness), then, on a state they let through, the flight
        checks (tilt, body rate, geofence, speed) and the training box; each fault acts at once."""
        for f in self.monitors.check_input(state, now):
            self._fault(f)
        self._now = now
        self._target = self.setpoint(state.stamp) if state is not None else None
        if state is not None and self.mode not in (RobotMode.ESTOP, RobotMode.IDLE):
            for f in self.monitors.check_flight(state):
                self._fault(f)
            err = np.abs(state["position"] - self._target)
            if self.mode in (RobotMode.POLICY, RobotMode.SOFT_START) and err.max() > self.training_box:
                self._fault(Fault("training_box", Severity.FALLBACK,
                                  f"position error {err.max():.2f} m is outside the training box of {self.training_box} m"))
        return []

    def idle_command(self, state: RobotState | None) -> np.ndarray:
        return self.motors_off

    def active_command(self, state: RobotState, mode: RobotMode) -> np.ndarray | None:
        action = self._policy(state, self._target)
        if action is None:  # the policy produced a non-finite action: ESTOP was raised
            return None
        if mode == RobotMode.SOFT_START:
            self.soft_tick += 1
            alpha = min(1.0, self.soft_tick / max(1, self.cfg.soft_start_ticks))
            command = (1 - alpha) * self.fallback.command(state) + alpha * action
            if alpha >= 1.0:
                self.sm.request(RobotMode.POLICY, "soft start complete")
            return command
        return action

    def check_output(self, state: RobotState, command: np.ndarray) -> np.ndarray:
        return self.limiter.apply(np.clip(command, -1.0, 1.0))

    def terminal_command(self, state: RobotState | None) -> np.ndarray:
        if self.mode in (RobotMode.IDLE, RobotMode.ESTOP) or state is None:
            return self.motors_off
        # DAMPING: the fallback closes its loop on the state; on a stale one it may act for a short
        # grace (a dropped packet or two), after that only motors off is safe.
        stale_for = self._now - state.stamp
        return self.motors_off if stale_for > self.cfg.limits.stale_cutoff_s else self.fallback.command(state)

    def sent(self, state: RobotState | None, command: np.ndarray) -> None:
        self.obs_fields.push(command)

    def _policy(self, state: RobotState, target: np.ndarray) -> np.ndarray | None:
        return self._policy_action(self.obs_fields.fields(state, target))
