"""The cart-pole task's configuration: one dataclass per part, every number checked where it is read.

The defaults are the task's default config (there is no YAML file to keep in step with them):
``robot-learning train cartpole`` writes them to ``<run>/config.yaml``, which ``--config`` takes
back; ``--set ppo.learning_rate=1e-3`` changes one field.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from robot_learning.algos.ppo import PPOConfig
from robot_learning.core.checks import check, divides
from robot_learning.core.config import FieldError
from robot_learning.tasks.cartpole.robot import MAX_TILT_DEG


@dataclass
class RewardWeights:
    """The reward: each field is a term of :mod:`robot_learning.tasks.cartpole.rewards` (same name) and its weight."""

    alive: float = 1.0
    upright: float = 1.0
    centred: float = -1.0
    pole_velocity: float = -0.02
    action_rate: float = -0.1
    fall: float = -10.0

    def __post_init__(self) -> None:
        check(self)


@dataclass
class EnvConfig:
    """The batched training environment (MuJoCo) and the episodes' initial states."""

    num_envs: int = 64  # per rank under torchrun (N ranks step N x num_envs)
    control_rate_hz: float = 50.0
    physics_dt: float = 0.002
    episode_s: float = 5.0
    action_scale: float = 0.5  # m of cart target per unit of action
    init_angle: float = 0.3  # rad: the pole starts tilted uniformly within +-this
    init_angular_velocity: float = 0.5  # rad/s
    init_position: float = 0.3  # m
    init_velocity: float = 0.3  # m/s

    def __post_init__(self) -> None:
        check(self, positive=("num_envs", "control_rate_hz", "physics_dt", "episode_s", "action_scale"),
              non_negative=("init_angle", "init_angular_velocity", "init_position", "init_velocity"))
        divides(self, "control_rate_hz", "physics_dt", 1.0 / self.control_rate_hz, self.physics_dt)
        if self.init_angle >= math.radians(MAX_TILT_DEG):
            raise FieldError("init_angle", f"must be below the fall angle {math.radians(MAX_TILT_DEG):.3f} rad, got {self.init_angle}")
        if self.episode_s * self.control_rate_hz < 1:
            raise FieldError("episode_s", f"must last at least one control period, got {self.episode_s}")


@dataclass
class EvalConfig:
    """What counts as success, in training's checks and in `eval` alike: the pole never falls, and over
    the episode's last ``settle_s`` it stays within ``success_angle_deg`` of upright with the cart
    within ``success_position_m`` of the rail's centre."""

    episodes: int = 50
    episode_s: float = 10.0
    settle_s: float = 2.0
    success_angle_deg: float = 5.0
    success_position_m: float = 0.2

    def __post_init__(self) -> None:
        check(self, positive=("episodes", "episode_s", "settle_s", "success_angle_deg", "success_position_m"))
        if self.settle_s > self.episode_s:
            raise FieldError("settle_s", f"must not exceed episode_s ({self.episode_s}), got {self.settle_s}")


@dataclass
class CartPolePPOConfig(PPOConfig):
    """The shared PPO's settings (robot_learning/algos/ppo.py), sized for a 9-number observation."""

    actor_hidden: tuple[int, ...] = (64, 64)
    critic_hidden: tuple[int, ...] = (64, 64)
    init_std: float = 0.5
    learning_rate: float = 1e-3
    steps_per_env: int = 32
    epochs: int = 5
    minibatches: int = 4

    def __post_init__(self) -> None:
        check(self, positive=("actor_hidden", "critic_hidden", "init_std", "learning_rate", "desired_kl", "steps_per_env", "epochs",
                              "minibatches", "clip", "max_grad_norm"),
              non_negative=("value_coef", "entropy_coef"), fraction=("gamma", "lam"))
        if self.schedule not in ("adaptive", "fixed"):
            raise FieldError("schedule", f"must be 'adaptive' or 'fixed', got {self.schedule!r}")
        if self.activation not in ("elu", "tanh", "relu"):
            raise FieldError("activation", f"must be one of elu, tanh, relu, got {self.activation!r}")


@dataclass
class CartPoleConfig:
    """``robot-learning train cartpole``: PPO until the policy succeeds (or ``max_seconds`` pass)."""

    seed: int = 0
    max_seconds: float = 180.0  # wall-clock bound on training
    max_env_steps: int = 1_000_000_000  # bound on environment steps (all ranks together)
    check_every: int = 5  # PPO iterations between success checks (deterministic episodes in the training env)
    target_success: float = 0.95  # training stops once a check reaches this success rate
    torch_threads: int = 1
    env: EnvConfig = field(default_factory=EnvConfig)
    rewards: RewardWeights = field(default_factory=RewardWeights)
    ppo: CartPolePPOConfig = field(default_factory=CartPolePPOConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        check(self, positive=("max_seconds", "max_env_steps", "check_every", "torch_threads"), non_negative=("seed",),
              fraction=("target_success",))
