"""The safety pipeline, written once for every kind of policy (DESIGN.md, "Safety is a pipeline"):

    input checks -> observation -> policy -> output checks -> command

:class:`SafetyPipeline` owns what every controller shares: the state machine (IDLE -> DAMPING ->
SOFT_START -> POLICY -> DAMPING/ESTOP), fault bookkeeping (counts by monitor, a bounded log, the
last fault), the policy call (observation builder, timing, deadline overruns, a non-finite action is
an ESTOP) and the order of one tick. What depends on the policy's action type (joint PD targets,
rotor speeds, end-effector motion) is a small strategy: a subclass fills in the hooks

- :meth:`check_input` (faults of this tick's state),
- :meth:`idle_command` (what goes out in IDLE; None: nothing),
- :meth:`active_command` (SOFT_START and POLICY: the command before the output checks; None when the
  policy could not give one, a fault has then been raised),
- :meth:`check_output` (the output checks: they may bound the command and raise faults),
- :meth:`terminal_command` (DAMPING and ESTOP, and any tick whose checks raised a fallback),
- :meth:`sent` (after a command went out: histories).

A command leaves :meth:`tick` only after the output checks, or it is the terminal command: no
unchecked command goes out. A fault raised during a tick moves the state machine at once, and that
tick's command is already the terminal one. Torch-free.
"""
from __future__ import annotations

import time
from collections import Counter
from typing import Any, Callable, Mapping

import numpy as np

from robot_learning.runtime.observation import ObservationBuilder
from robot_learning.runtime.safety import SafetyStateMachine
from robot_learning.types import Fault, ObsLayout, RobotMode, RobotState, Severity, Transport

ACTIVE = (RobotMode.SOFT_START, RobotMode.POLICY)
POLICY_OUTPUT = "policy_output"  # the monitor name of a non-finite policy action


class SafetyPipeline:
    """The shared pipeline; see the module docstring for the hooks a strategy fills in."""

    runner: Any
    transport: Transport

    def _init_pipeline(self, runner: Any, transport: Transport, layout: ObsLayout, on_transition: Callable[[str], None] | None,
                       clock: Callable[[], float] | None = None, period_s: float | None = None, policy_budget: float | None = None,
                       policy_overruns: int = 2) -> None:
        self.runner, self.transport = runner, transport
        self.builder = ObservationBuilder(layout)
        self.obs = np.zeros(layout.size, dtype=np.float32)
        self._log_transition = on_transition
        self.sm = SafetyStateMachine(on_transition=self._on_transition, **({"clock": clock} if clock else {}))
        self.fault_counts: Counter[str] = Counter()
        self.fault_log: list[str] = []
        self.last_fault: Fault | None = None
        self.policy_seconds: list[float] = []
        self.last_command: Any = None
        self.last_state: RobotState | None = None
        self.ticks = 0
        self._period_s = period_s
        self._budget = policy_budget
        self._max_overruns = policy_overruns
        self._overruns = 0

    # ------------------------------------------------------------------------------ modes
    @property
    def mode(self) -> RobotMode:
        return self.sm.mode

    def _on_transition(self, tr) -> None:  # noqa: ANN001 (the state machine's Transition)
        self.entered(tr.target)
        if self._log_transition is not None:
            self._log_transition(f"{tr.source.name}->{tr.target.name}: {tr.reason}")

    def entered(self, mode: RobotMode) -> None:
        """Called on every transition into ``mode`` (a strategy may capture a hold pose)."""

    def stop(self, reason: str = "stop requested") -> None:
        if self.mode in ACTIVE:
            self.sm.request(RobotMode.DAMPING, reason)

    def estop(self, reason: str = "e-stop requested") -> None:
        self.sm.estop(reason)

    def reset(self, reason: str = "reset requested") -> None:
        self.sm.reset(reason)

    # ------------------------------------------------------------------------------ faults
    def _fault(self, fault: Fault) -> None:
        self.fault_counts[fault.monitor] += 1
        self.last_fault = fault
        if len(self.fault_log) < 1000:
            self.fault_log.append(f"{fault.severity.name} {fault.monitor}: {fault.message}")
        self.sm.on_fault(fault)

    # ------------------------------------------------------------------------------ policy
    def _policy_action(self, fields: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """Observation -> policy, timed. None (after raising the fault) when the action is not finite
        (ESTOP) or the policy keeps missing its deadline (FALLBACK: its actions are for states that are gone)."""
        t0 = time.perf_counter()
        self.builder.build(fields, self.obs)
        raw = np.asarray(self.runner(self.obs))
        elapsed = time.perf_counter() - t0
        self.policy_seconds.append(elapsed)
        if len(self.policy_seconds) > 100_000:
            del self.policy_seconds[:50_000]
        if self._budget is not None and self._period_s is not None and self.mode == RobotMode.POLICY and elapsed > self._budget * self._period_s:
            self._overruns += 1
            if self._overruns >= self._max_overruns:
                self._fault(Fault("deadline", Severity.FALLBACK, f"policy took {elapsed * 1e3:.1f} ms ({self._overruns} overruns in a row), "
                                                                   f"budget {self._budget * self._period_s * 1e3:.1f} ms"))
                return None
        else:
            self._overruns = 0
        if not np.all(np.isfinite(raw)):
            self._fault(Fault(POLICY_OUTPUT, Severity.ESTOP, f"policy action is not finite: {raw.reshape(-1)[:6].tolist()}"))
            return None
        return raw.astype(np.float64).reshape(-1)

    # ------------------------------------------------------------------------------- tick
    def tick(self) -> Any:
        """One pass of the pipeline; returns the command that was sent (None: nothing was sent)."""
        self.ticks += 1
        state = self.transport.read_state()
        now = self.transport.now()
        for f in self.check_input(state, now):
            self._fault(f)
        mode = self.mode
        if mode == RobotMode.IDLE:
            command = self.idle_command(state)
            if command is None:
                return None
        else:
            command = None
            if mode in ACTIVE and state is not None:
                command = self.active_command(state, mode)
                if command is not None and self.mode in ACTIVE:
                    command = self.check_output(state, command)
                if self.mode not in ACTIVE:
                    command = None  # a fault in this tick: the terminal action goes out now
            if command is None:
                command = self.terminal_command(state)
        if command is not None:
            self.transport.send_command(command)
        self.sent(state, command)
        self.last_command = command
        self.last_state = state
        return command

    # ------------------------------------------------------------------------- reporting
    def summary(self) -> dict[str, Any]:
        """Mode, ticks, faults by monitor and the policy's compute time percentiles (JSON-ready)."""
        out: dict[str, Any] = {"mode": self.mode.name, "ticks": self.ticks, "faults": dict(self.fault_counts)}
        if self.policy_seconds:
            a = np.asarray(self.policy_seconds) * 1e3
            out["policy_ms_p50"] = round(float(np.percentile(a, 50)), 4)
            out["policy_ms_p99"] = round(float(np.percentile(a, 99)), 4)
        return out

    # --------------------------------------------------------------------------- the hooks
    def check_input(self, state: RobotState | None, now: float) -> list[Fault]:
        raise NotImplementedError

    def idle_command(self, state: RobotState | None) -> Any:
        return None

    def active_command(self, state: RobotState, mode: RobotMode) -> Any:
        raise NotImplementedError

    def check_output(self, state: RobotState, command: Any) -> Any:
        raise NotImplementedError

    def terminal_command(self, state: RobotState | None) -> Any:
        raise NotImplementedError

    def sent(self, state: RobotState | None, command: Any) -> None:
        """After ``command`` went out (or nothing, in IDLE)."""
