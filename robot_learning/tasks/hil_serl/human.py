"""The human in the loop: who may take over the robot during training, and how.

Every human answers the same three questions each 10 Hz step, so the actor loop does not care
whether a person or a script is there:

- :meth:`Human.act`: an action ``(arm[3] in [-1, 1], gripper 0/1/2)`` while the human takes over
  (for a device: while a key or button is held), else ``None``;
- :meth:`Human.episode_mark`: ``"success"``, ``"failure"`` or ``"rerecord"`` if the human marked the
  episode (a success ends it as a success, a failure ends it as a failure, a re-record throws the
  episode away and starts it again), else ``None``;
- :meth:`Human.reset` at the start of each episode, :meth:`Human.close` at the end.

:class:`ScriptedHuman` is the headless one: a noisy expert that takes over with a probability that
decays over training (HIL-SERL's operators intervene often early and rarely late). The devices
(keyboard, gamepad, SpaceMouse) are in :mod:`robot_learning.tasks.hil_serl.devices`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from robot_learning.core.checks import check
from robot_learning.tasks.hil_serl.env import PandaPickPlace
from robot_learning.tasks.hil_serl.expert import ExpertConfig, expert_action

Action = tuple[np.ndarray, int]


class Human:
    """Base class: a human who never intervenes (the no-intervention baseline)."""

    name = "none"
    quit_requested = False  # a device sets it when the person asks to stop training

    def reset(self, env: PandaPickPlace, env_steps: int) -> None:
        """A new episode starts; ``env_steps`` is the number of environment steps taken so far in training."""

    def act(self, env: PandaPickPlace, obs: np.ndarray, policy_action: Action) -> Action | None:
        return None

    def episode_mark(self) -> str | None:
        return None

    def close(self) -> None:
        """Release the device."""


@dataclass
class ScriptedHumanConfig:
    """A watchful operator: they step in when the robot makes no progress, and hand back once the
    current stage is done (the cube is grasped, or placed), as HIL-SERL's operators correct the
    policy rather than take turns at random. How willing they are falls over training."""

    start_prob: float = 1.0  # probability that the human watches (and may step in) in an episode, at the start
    end_prob: float = 0.5  # ... falling linearly to this (an operator who still looks in on every other episode late in training)
    decay_steps: int = 15000  # over this many environment steps
    patience: int = 8  # steps without progress (1 cm) before stepping in
    max_len: int = 40  # an intervention lasts at most this many steps
    expert: ExpertConfig = field(default_factory=ExpertConfig)

    def __post_init__(self) -> None:
        check(self, fraction=("start_prob", "end_prob"), positive=("decay_steps", "patience", "max_len"))


def stage_progress(env: PandaPickPlace) -> tuple[bool, float]:
    """(holding the cube?, distance still to go): the TCP to the cube, then the cube to the bin."""
    tcp, obj, goal = env.tcp_pos(), env.object_pos(), env.goal
    rel = obj - tcp
    holding = env.gripper_closed and np.abs(rel[:2]).max() < 0.02 and abs(rel[2]) < 0.03 and env.gripper_opening() > 0.02
    if holding:
        return True, float(np.linalg.norm(goal[:2] - obj[:2]) + abs(obj[2] - goal[2]))
    return False, float(np.linalg.norm(rel) + 0.5)


class ScriptedHuman(Human):
    """A noisy scripted expert that steps in when the policy stalls, less and less often over training."""

    name = "scripted"

    def __init__(self, config: ScriptedHumanConfig | None = None, seed: int = 0) -> None:
        self.config = config or ScriptedHumanConfig()
        self.rng = np.random.default_rng(seed)
        self._watching = False
        self._left = 0
        self._best = np.inf
        self._stalled = 0
        self._stage = False

    def probability(self, env_steps: int) -> float:
        c = self.config
        frac = min(1.0, env_steps / max(1, c.decay_steps))
        return c.start_prob + (c.end_prob - c.start_prob) * frac

    def reset(self, env: PandaPickPlace, env_steps: int) -> None:
        self._watching = self.rng.random() < self.probability(env_steps)
        self._left, self._best, self._stalled, self._stage = 0, np.inf, 0, False

    def act(self, env: PandaPickPlace, obs: np.ndarray, policy_action: Action) -> Action | None:
        if not self._watching:
            return None
        stage, dist = stage_progress(env)
        if stage != self._stage:  # a stage was done (or undone): progress is measured afresh, an intervention ends
            self._stage, self._best, self._stalled, self._left = stage, dist, 0, 0
        if self._left == 0:
            if dist < self._best - 0.01:
                self._best, self._stalled = dist, 0
            else:
                self._stalled += 1
            if self._stalled < self.config.patience:
                return None
            self._left, self._stalled = self.config.max_len, 0
        self._left -= 1
        self._best = min(self._best, dist)
        return expert_action(env, self.config.expert, self.rng)
