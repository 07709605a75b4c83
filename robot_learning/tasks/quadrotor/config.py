"""Configuration of the quadrotor module (Learning to Fly in Seconds). Defaults are the paper's."""
from __future__ import annotations

from dataclasses import dataclass, field

from robot_learning.core.checks import check
from robot_learning.core.config import FieldError

ACTIVATIONS = ("tanh", "relu", "elu")  # algos/td3.py's
LEARNERS = ("jax", "torch")


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


def _range(name: str, r: tuple[float, float], low: float = 0.0) -> None:
    if len(r) != 2 or not low <= r[0] <= r[1]:
        raise FieldError(name, f"must be [low, high] with {low:g} <= low <= high, got {list(r)}")


@dataclass
class DomainRandomizationConfig:
    """A new Crazyflie for every episode (the JAX learner): each parameter uniform in its range.

    Thrust per rotor is T_max (constant_share + linear_share u + (1 - constant_share - linear_share) u^2)
    with u = rpm / rpm_max and T_max = thrust_to_weight * m g / 4, so the curve's shape and the
    thrust-to-weight ratio vary independently. Inertia scales are drawn per axis (roll, pitch, yaw).
    """

    enabled: bool = False
    mass_scale: tuple[float, float] = (0.8, 1.2)
    thrust_to_weight: tuple[float, float] = (1.5, 2.5)
    inertia_scale: tuple[float, float] = (0.5, 2.5)
    motor_time_constant: tuple[float, float] = (0.05, 0.25)  # s
    thrust_constant_share: tuple[float, float] = (0.0, 0.05)  # of T_max
    thrust_linear_share: tuple[float, float] = (0.0, 0.4)  # of T_max
    random_initial_rpm: bool = True  # rotor speeds at the start uniform in [rpm_min, rpm_max]

    def __post_init__(self) -> None:
        for name in ("mass_scale", "thrust_to_weight", "inertia_scale", "motor_time_constant", "thrust_constant_share",
                     "thrust_linear_share"):
            setattr(self, name, tuple(float(v) for v in getattr(self, name)))
            _range(name, getattr(self, name))
        if self.mass_scale[0] <= 0 or self.inertia_scale[0] <= 0 or self.motor_time_constant[0] <= 0:
            raise FieldError("mass_scale", "mass, inertia scales and motor time constants must be positive")
        if self.thrust_to_weight[0] <= 1.0:
            raise FieldError("thrust_to_weight", f"must stay above 1 (the vehicle must lift itself), got {list(self.thrust_to_weight)}")
        if self.thrust_constant_share[1] + self.thrust_linear_share[1] > 1.0:
            raise FieldError("thrust_linear_share", "constant and linear shares must leave a quadratic term (sum of the highs <= 1)")


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
    randomization: DomainRandomizationConfig = field(default_factory=DomainRandomizationConfig)

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
    critic_updates_per_iteration: int = 4  # per update turn (every ``update_every`` batched env steps)
    actor_every: int = 2  # actor and targets every this many critic updates
    update_every: int = 1  # batched env steps between update turns (the paper: 10, with one env)
    lr_decay_env_steps: int = 0  # jax learner: lr falls linearly to lr * lr_final_fraction by then (0: constant, the paper's)
    lr_final_fraction: float = 0.1

    def __post_init__(self) -> None:
        check(self, positive=("actor_hidden", "critic_hidden", "lr", "batch_size", "buffer_size", "critic_updates_per_iteration",
                              "actor_every", "update_every"),
              fraction=("gamma", "polyak", "lr_final_fraction"),
              non_negative=("weight_decay", "target_noise", "target_noise_clip", "exploration_noise", "critic_warmup_steps",
                            "actor_warmup_steps", "lr_decay_env_steps"))
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
    learner: str = "jax"  # jax: the whole iteration compiled (jit over lax.scan); torch: the eager reference
    total_env_steps: int = 3_000_000
    max_seconds: float = 120.0  # wall-clock bound on what the user waits: training, evaluations, export and gates
    eval_every_seconds: float = 5.0
    stop_at_success_rate: float = 0.97  # stop early once the periodic evaluation reaches this (0 disables)
    torch_threads: int = 2
    env: QuadrotorEnvConfig = field(default_factory=QuadrotorEnvConfig)
    td3: TD3Config = field(default_factory=TD3Config)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        check(self, positive=("total_env_steps", "max_seconds", "eval_every_seconds", "torch_threads"), non_negative=("seed",),
              fraction=("stop_at_success_rate",))
        if self.learner not in LEARNERS:
            raise FieldError("learner", f"must be one of {', '.join(LEARNERS)}, got {self.learner!r}")
        if self.learner == "torch" and self.env.randomization.enabled:
            raise FieldError("env.randomization.enabled", "domain randomisation is trained by the jax learner; set learner: jax")
        if self.eval.success_window_steps > self.env.episode_steps:
            raise FieldError("eval.success_window_steps", f"must be at most env.episode_steps ({self.env.episode_steps}), "
                                                          f"got {self.eval.success_window_steps}")
