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
    start_prob: float = 0.02  # probability per step of taking over, at the start of training (about 25 % of steps)
    decay_steps: int = 12000  # ... falling linearly to end_prob over this many environment steps
    end_prob: float = 0.0
    min_len: int = 8  # an intervention lasts this many steps at least
    max_len: int = 25
    expert: ExpertConfig = field(default_factory=ExpertConfig)


class ScriptedHuman(Human):
    """A noisy scripted expert that takes over at random, less and less often over training."""

    name = "scripted"

    def __init__(self, config: ScriptedHumanConfig | None = None, seed: int = 0) -> None:
        self.config = config or ScriptedHumanConfig()
        self.rng = np.random.default_rng(seed)
        self._left = 0
        self._prob = self.config.start_prob

    def probability(self, env_steps: int) -> float:
        c = self.config
        frac = min(1.0, env_steps / max(1, c.decay_steps))
        return c.start_prob + (c.end_prob - c.start_prob) * frac

    def reset(self, env: PandaPickPlace, env_steps: int) -> None:
        self._left = 0
        self._prob = self.probability(env_steps)

    def act(self, env: PandaPickPlace, obs: np.ndarray, policy_action: Action) -> Action | None:
        if self._left == 0 and self.rng.random() < self._prob:
            self._left = int(self.rng.integers(self.config.min_len, self.config.max_len + 1))
        if self._left == 0:
            return None
        self._left -= 1
        return expert_action(env, self.config.expert, self.rng)
