"""The rollout harness: an exported policy through the on-robot runtime against a simulated robot,
episode by episode. Every task's ``eval`` and sim-to-sim gate runs its episodes here.

For each episode the harness asks the task's callbacks (:class:`EpisodeMetrics`) to put the
simulated robot at the episode's start state (through the simulator's public reset API), builds the
controller the policy's declared action type calls for (:func:`~robot_learning.runtime.control.make_controller`,
with the deployment profile's settings) over the in-process transport of that controller kind,
starts it (soft start, dry run of the policy) and ticks it; after every tick the task measures what
it needs and may end the episode. What the harness records of every episode is the same for every
task: whether the controller started (and why not), the final mode, the faults by monitor, and
whether the policy produced a non-finite action (``policy_output_nan``), so that a policy that
outputs NaN is reported as such instead of as a failed start or a silent 0 % success.

Torch-free; the simulators are the caller's.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from robot_learning.robots.registry import RobotDescription, load_robot
from robot_learning.runtime.control import ControlSettings, Controller, action_kind, make_controller
from robot_learning.runtime.joint_transport import InProcessJointTransport
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.runtime.transport import InProcessEndEffectorTransport, InProcessTransport
from robot_learning.types import PolicyMetadata, Transport


class EpisodeMetrics(Protocol):
    """A task's callbacks: where each episode starts, what it measures, when it ends. It may also
    define ``on_start(episode, controller)``, called once the controller has started, before the
    first tick."""

    def on_reset(self, episode: int) -> Any:
        """Put the simulated robot at episode ``episode``'s start state; return that start (recorded)."""

    def on_tick(self, episode: int, t: int, controller: Controller) -> bool | None:
        """After tick ``t`` (0-based) of the episode: measure; True ends the episode now."""

    def on_episode_end(self, episode: int, controller: Controller) -> dict[str, Any]:
        """The episode's figures (called only for an episode whose controller started)."""


class WatchedPolicy:
    """The policy, counting the calls whose action is not finite (the controller's dry run included)."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.metadata: PolicyMetadata = policy.metadata
        self.nonfinite = 0

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        action = self.policy(obs)
        if not np.all(np.isfinite(np.asarray(action, dtype=np.float64))):
            self.nonfinite += 1
        return action

    def __getattr__(self, name: str) -> Any:
        return getattr(self.policy, name)


@dataclass
class EpisodeResult:
    """One episode: the task's figures (``metrics``, None when the controller did not start) and the
    harness's own record."""

    episode: int
    start: Any
    metrics: dict[str, Any] | None
    started: bool
    start_error: str | None
    policy_output_nan: bool
    mode: str
    ticks: int
    faults: dict[str, int]
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class RolloutResult:
    """Every episode's result, the controllers' policy compute times, and the aggregate."""

    episodes: list[EpisodeResult]
    policy_seconds: list[float]

    def aggregate(self) -> dict[str, Any]:
        """JSON-ready: episodes, started, start failures (with the first error), the number of
        episodes whose policy produced a non-finite action, the faults summed by monitor, final modes."""
        eps = self.episodes
        faults: Counter[str] = Counter()
        for e in eps:
            faults.update(e.faults)
        failed = [e for e in eps if not e.started]
        out: dict[str, Any] = {
            "episodes": len(eps),
            "started": len(eps) - len(failed),
            "start_failures": len(failed),
            "policy_output_nan": sum(e.policy_output_nan for e in eps),
            "faults": dict(sorted(faults.items())),
            "final_modes": dict(sorted(Counter(e.mode for e in eps).items())),
        }
        if failed:
            out["start_error"] = failed[0].start_error
        return out


def load_policy(policy: str | Path | Any) -> Any:
    """A policy file -> its :class:`~robot_learning.runtime.policy.PolicyRunner`; a runner (anything
    with ``metadata`` that maps an observation to an action) as it is."""
    return PolicyRunner(policy) if isinstance(policy, (str, Path)) else policy


def in_process_transport(kind: str, sim: Any, joint_names: list[str]) -> Transport:
    """The lock-step transport of a controller ``kind`` (joint | rotor | end_effector) around ``sim``."""
    if kind == "joint":
        return InProcessJointTransport(sim, joint_names)
    if kind == "rotor":
        return InProcessTransport(sim)
    return InProcessEndEffectorTransport(sim)


def rollout(policy: str | Path | Any, sim: Any, episodes: int, steps: int, metrics: EpisodeMetrics,
            settings: ControlSettings | None = None, robot: RobotDescription | None = None,
            transport: Callable[[Any], Transport] | None = None, setpoint: Callable[[float], Any] | None = None,
            on_transition: Callable[[str], None] | None = None) -> RolloutResult:
    """Run ``episodes`` episodes of at most ``steps`` ticks of ``policy`` (an ONNX file or a runner)
    on the simulated robot ``sim``.

    Args:
        settings: the deployment profile's controller settings (default :class:`ControlSettings`).
        robot: the robot's description (default: the one the policy's metadata names).
        transport: ``sim -> transport`` (default: the in-process transport of the policy's controller
            kind, made after each reset), e.g. one that injects faults.
        setpoint: the rotor controller's set point over time (default: from ``settings``).
        on_transition: receives the controllers' mode transitions as text.
    """
    if episodes < 1 or steps < 1:
        raise ValueError(f"a rollout needs at least one episode of one tick, got {episodes} episodes of {steps} ticks")
    watched = WatchedPolicy(load_policy(policy))
    meta = watched.metadata
    kind = action_kind(meta)
    desc = robot if robot is not None else load_robot(meta.robot)
    on_start = getattr(metrics, "on_start", None)
    results: list[EpisodeResult] = []
    compute: list[float] = []
    for ep in range(episodes):
        start = metrics.on_reset(ep)
        tr = transport(sim) if transport is not None else in_process_transport(kind, sim, list(meta.joint_names))
        nonfinite = watched.nonfinite
        ctrl = make_controller(watched, tr, desc, settings, on_transition=on_transition, setpoint=setpoint)
        try:
            ctrl.start()
        except RuntimeError as e:  # the controller refused to start (a bad state, or the dry run's action is not finite)
            results.append(EpisodeResult(ep, start, None, False, str(e), watched.nonfinite > nonfinite, ctrl.mode.name, ctrl.ticks,
                                         dict(ctrl.fault_counts), ctrl.summary()))
            continue
        if on_start is not None:
            on_start(ep, ctrl)
        for t in range(steps):
            ctrl.tick()
            if metrics.on_tick(ep, t, ctrl):
                break
        figures = metrics.on_episode_end(ep, ctrl)
        compute.extend(ctrl.policy_seconds)
        results.append(EpisodeResult(ep, start, figures, True, None, watched.nonfinite > nonfinite, ctrl.mode.name, ctrl.ticks,
                                     dict(ctrl.fault_counts), ctrl.summary()))
    return RolloutResult(results, compute)
