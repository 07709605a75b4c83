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

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from robot_learning.robots import crazyflie
from robot_learning.robots.crazyflie import CrazyflieParams
from robot_learning.runtime.observation import ObservationBuilder
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.runtime.quadrotor import QuadrotorObservation, QuadrotorObservationConfig
from robot_learning.runtime.safety import QuadrotorFallback, QuadrotorLimits, QuadrotorMonitors, RateLimiter, SafetyStateMachine
from robot_learning.types import Fault, RobotMode, RobotState, Severity, Transport

Setpoint = Callable[[float], np.ndarray]


@dataclass
class ControllerConfig:
    soft_start_ticks: int = 20  # 0.2 s at 100 Hz
    limits: QuadrotorLimits = field(default_factory=QuadrotorLimits)


class QuadrotorController:
    """Runs one exported quadrotor policy against a transport with the whole safety pipeline."""

    def __init__(self, runner: PolicyRunner, transport: Transport, setpoint: Setpoint, params: CrazyflieParams = crazyflie.DEFAULT_PARAMS,
                 cfg: ControllerConfig | None = None, on_transition: Callable[[str], None] | None = None) -> None:
        self.cfg = cfg or ControllerConfig()
        meta = runner.metadata
        meta.check_robot(crazyflie.NAME, crazyflie.MOTOR_NAMES)
        self.runner, self.transport, self.setpoint, self.params = runner, transport, setpoint, params
        history = sum(t.size for t in meta.observation_layout.terms if t.name == "action_history") // 4
        lm = meta.safety_limits
        self.obs_fields = QuadrotorObservation(
            QuadrotorObservationConfig(history=history, max_position_error=float(lm.get("max_position_error_m", 0.5)),
                                       max_velocity=float(lm.get("max_velocity_m_s", 2.0))), params.hover_action)
        self.training_box = float(lm.get("training_box_m", np.inf))
        self.builder = ObservationBuilder(meta.observation_layout)
        self.obs = np.zeros(meta.observation_layout.size, dtype=np.float32)
        lim = self.cfg.limits
        self.monitors = QuadrotorMonitors(lim)
        self.fallback = QuadrotorFallback(params, lim)
        self.limiter = RateLimiter(lim.max_action_delta, lim.action_low, lim.action_high)
        self._log_transition = on_transition
        self.sm = SafetyStateMachine(on_transition=self._on_transition)
        self.motors_off = np.full(4, -1.0)
        self.fault_counts: Counter[str] = Counter()
        self.fault_log: list[str] = []
        self.policy_seconds: list[float] = []
        self.soft_tick = 0
        self.last_command = self.motors_off.copy()

    # ------------------------------------------------------------------------------ modes
    @property
    def mode(self) -> RobotMode:
        return self.sm.mode

    def _on_transition(self, tr) -> None:  # noqa: ANN001 (the state machine's Transition)
        if self._log_transition is not None:
            self._log_transition(f"{tr.source.name}->{tr.target.name}: {tr.reason}")

    def start(self) -> None:
        """Arm and hand over to the policy (through SOFT_START when ``soft_start_ticks`` > 0)."""
        self.sm.request(RobotMode.DAMPING, "start requested")
        self.sm.request(RobotMode.SOFT_START, "soft start")
        self.soft_tick = 0
        self.obs_fields.reset()
        state = self.transport.read_state()
        self.limiter.reset(self.fallback.command(state) if state is not None else self.motors_off)
        if state is not None:
            # Dry run: one policy step on the current state, not commanded. It checks the sizes end to
            # end and warms ONNX Runtime up, so the first real tick does not miss its deadline.
            self._policy(state, self.setpoint(state.stamp))
            self.policy_seconds.clear()
        if self.cfg.soft_start_ticks <= 0:
            self.sm.request(RobotMode.POLICY, "policy in control")

    def stop(self, reason: str = "stop requested") -> None:
        self.sm.request(RobotMode.DAMPING, reason)

    def estop(self, reason: str = "e-stop requested") -> None:
        self.sm.estop(reason)

    def reset(self, reason: str = "reset requested") -> None:
        self.sm.reset(reason)

    # ------------------------------------------------------------------------------- tick
    def _fault(self, fault: Fault) -> None:
        self.fault_counts[fault.monitor] += 1
        if len(self.fault_log) < 1000:
            self.fault_log.append(f"{fault.severity.name} {fault.monitor}: {fault.message}")
        self.sm.on_fault(fault)

    def tick(self) -> np.ndarray:
        """One pass of the pipeline; returns the command that was sent."""
        state = self.transport.read_state()
        now = self.transport.now()
        for f in self.monitors.check_input(state, now):
            self._fault(f)
        usable = state is not None and self.mode not in (RobotMode.ESTOP, RobotMode.IDLE)
        target = self.setpoint(state.stamp) if state is not None else None
        if usable:
            for f in self.monitors.check_flight(state):
                self._fault(f)
            err = np.abs(state["position"] - target)
            if self.mode in (RobotMode.POLICY, RobotMode.SOFT_START) and err.max() > self.training_box:
                self._fault(Fault("training_box", Severity.FALLBACK,
                                  f"position error {err.max():.2f} m is outside the training box of {self.training_box} m"))
        mode = self.mode
        if mode in (RobotMode.IDLE, RobotMode.ESTOP) or state is None:
            command = self.motors_off
        elif mode == RobotMode.DAMPING:
            # The fallback closes its loop on the state; on a stale one it may act for a short grace
            # (a dropped packet or two), after that only motors off is safe.
            stale_for = now - state.stamp
            command = self.motors_off if stale_for > self.cfg.limits.stale_cutoff_s else self.fallback.command(state)
        else:
            action = self._policy(state, target)
            if action is None:  # the policy produced a non-finite action: ESTOP was raised
                command = self.motors_off
            elif mode == RobotMode.SOFT_START:
                self.soft_tick += 1
                alpha = min(1.0, self.soft_tick / max(1, self.cfg.soft_start_ticks))
                command = (1 - alpha) * self.fallback.command(state) + alpha * action
                if alpha >= 1.0:
                    self.sm.request(RobotMode.POLICY, "soft start complete")
            else:
                command = action
            if self.mode in (RobotMode.POLICY, RobotMode.SOFT_START):
                command = self.limiter.apply(np.clip(command, -1.0, 1.0))
            elif self.mode == RobotMode.ESTOP:
                command = self.motors_off
            else:
                command = self.fallback.command(state)
        command = np.asarray(command, dtype=np.float64)
        self.transport.send_command(command)
        self.obs_fields.push(command)
        self.last_command = command
        return command

    def _policy(self, state: RobotState, target: np.ndarray) -> np.ndarray | None:
        t0 = time.perf_counter()
        self.builder.build(self.obs_fields.fields(state, target), self.obs)
        action = self.runner(self.obs)
        self.policy_seconds.append(time.perf_counter() - t0)
        if len(self.policy_seconds) > 100_000:
            del self.policy_seconds[:50_000]
        if not np.all(np.isfinite(action)):
            self._fault(Fault("policy_output", Severity.ESTOP, f"policy action {action.tolist()} is not finite"))
            return None
        return action.astype(np.float64)
