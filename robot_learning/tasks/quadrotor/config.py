"""Configuration of the quadrotor module (Learning to Fly in Seconds). Defaults are the paper's."""
from __future__ import annotations

from dataclasses import dataclass, field

from robot_learning.core.checks import check
from robot_learning.core.config import FieldError

ACTIVATIONS = ("tanh", "relu", "elu")  # algos/td3.py's


@dataclass
class RewardConfig:
    """r = constant - scale * (w_p |p|^2 + w_q (1 - q_w^2) + w_v |v|^2 + w_a |a - baseline|^2); 0 on termination."""

    constant: float = 2.0
    scale: float = 0.5
    position: float = 5.0
    orientation: float = 5.0
    linear_velocity: float = 0.01
    action: float = 0.01
    action_baseline: float = 0.334
    termination: float = 0.0

    def __post_init__(self) -> None:
        check(self, non_negative=("scale", "position", "orientation", "linear_velocity", "action"))


@dataclass
class CurriculumConfig:
    """Every ``interval`` environment steps multiply the weights (capped); the paper's schedule."""

    enabled: bool = True
    interval: int = 100_000
    position_factor: float = 1.2
    position_cap: float = 40.0
    linear_velocity_factor: float = 1.4
    linear_velocity_cap: float = 1.0
    action_factor: float = 1.4
    action_cap: float = 1.0

    def __post_init__(self) -> None:
        check(self, positive=("interval", "position_factor", "linear_velocity_factor", "action_factor"),
              non_negative=("position_cap", "linear_velocity_cap", "action_cap"))


@dataclass
class InitConfig:
    """Initial-state distribution (the paper's): some episodes start level at the set point."""

    guidance: float = 0.1  # probability of starting level at the origin, at rest
    max_position: float = 0.2  # m, uniform per axis
    max_angle_deg: float = 90.0  # uniform random attitude up to this angle
    max_linear_velocity: float = 1.0  # m/s, uniform per axis
    max_angular_velocity: float = 1.0  # rad/s, uniform per axis
    disturbance_force_std: float = 0.0132  # N per axis, held for the episode
    disturbance_torque_std: float = 2.65e-5  # N m per axis

    def __post_init__(self) -> None:
        check(self, fraction=("guidance",), non_negative=("max_position", "max_linear_velocity", "max_angular_velocity",
                                                          "disturbance_force_std", "disturbance_torque_std"))
        if not 0.0 <= self.max_angle_deg <= 180.0:
            raise FieldError("max_angle_deg", f"must be in [0, 180], got {self.max_angle_deg}")


@dataclass
class QuadrotorEnvConfig:
    num_envs: int = 32
    episode_steps: int = 500  # 5 s at 100 Hz
    action_history: int = 32
    termination_position: float = 0.6  # m, any axis
    termination_linear_velocity: float = 1000.0  # m/s (the paper's "fast learning" limits: effectively off)
    termination_angular_velocity: float = 1000.0
    noise_position: float = 0.001
    noise_orientation: float = 0.001
    noise_linear_velocity: float = 0.002
    noise_angular_velocity: float = 0.002
    reward: RewardConfig = field(default_factory=RewardConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    init: InitConfig = field(default_factory=InitConfig)

    def __post_init__(self) -> None:
        check(self, positive=("num_envs", "episode_steps", "termination_position", "termination_linear_velocity",
                              "termination_angular_velocity"),
              non_negative=("action_history", "noise_position", "noise_orientation", "noise_linear_velocity", "noise_angular_velocity"))


@dataclass
class TD3Config:
    """TD3 with an asymmetric actor-critic; the paper's hyper-parameters adapted to batched envs."""

    actor_hidden: tuple[int, ...] = (64, 64)
    critic_hidden: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    gamma: float = 0.99
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    polyak: float = 0.995
    target_noise: float = 0.2
    target_noise_clip: float = 0.5
    exploration_noise: float = 0.1
    buffer_size: int = 1_000_000
    critic_warmup_steps: int = 15_000  # environment steps before the first critic update
    actor_warmup_steps: int = 30_000  # ... before the first actor update
    critic_updates_per_iteration: int = 4  # per batched env step of num_envs transitions
    actor_every: int = 2  # actor and targets every this many critic updates

    def __post_init__(self) -> None:
        check(self, positive=("actor_hidden", "critic_hidden", "lr", "batch_size", "buffer_size", "critic_updates_per_iteration",
                              "actor_every"),
              fraction=("gamma", "polyak"),
              non_negative=("weight_decay", "target_noise", "target_noise_clip", "exploration_noise", "critic_warmup_steps",
                            "actor_warmup_steps"))
        if self.activation not in ACTIVATIONS:
            raise FieldError("activation", f"must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if self.buffer_size < self.batch_size:
            raise FieldError("buffer_size", f"must hold at least one batch (batch_size {self.batch_size}), got {self.buffer_size}")


@dataclass
class EvalConfig:
    episodes: int = 256
    success_radius: float = 0.1  # m: hovering within this of the set point over the last second
    success_window_steps: int = 100

    def __post_init__(self) -> None:
        check(self, positive=("episodes", "success_radius", "success_window_steps"))


@dataclass
class QuadrotorTrainConfig:
    """Everything `robot-learning train quadrotor` needs. Loadable from YAML (sim/configs/quadrotor.yaml)."""

    seed: int = 0
    total_env_steps: int = 3_000_000
    max_seconds: float = 120.0  # wall-clock bound on training
    eval_every_seconds: float = 5.0
    stop_at_success_rate: float = 0.97  # stop early once the periodic evaluation reaches this (0 disables)
    torch_threads: int = 2
    env: QuadrotorEnvConfig = field(default_factory=QuadrotorEnvConfig)
    td3: TD3Config = field(default_factory=TD3Config)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        check(self, positive=("total_env_steps", "max_seconds", "eval_every_seconds", "torch_threads"), non_negative=("seed",),
              fraction=("stop_at_success_rate",))
        if self.eval.success_window_steps > self.env.episode_steps:
            raise FieldError("eval.success_window_steps", f"must be at most env.episode_steps ({self.env.episode_steps}), "
                                                          f"got {self.eval.success_window_steps}")
