"""Configuration of the getting-up module (HumanUP on the Unitree G1).

Two stages, as in the paper. Stage I ("discovery") learns to get up from dense task rewards with no
domain randomisation; Stage II ("tracking") tracks a slow get-up trajectory from randomised fallen
poses with strong regularisation and domain randomisation. On a CPU machine the default is Stage II
tracking of the keyframed reference motions shipped in assets/motions (see the README), with
reference-state initialisation; Stage I runs too (short runs show its learning curve).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from robot_learning.core.checks import check
from robot_learning.core.config import FieldError
from robot_learning.tasks.getup.balance import BalanceConfig
from robot_learning.sim.batch import BACKENDS


@dataclass
class RewardWeightsStage1:
    """Stage I (discovery) reward weights (HumanUP, ANCHORS.md)."""

    base_height_exp: float = 5.0
    head_height_exp: float = 5.0
    delta_base_height: float = 1.0
    feet_contact_forces_increase: float = 1.0
    stand_on_feet: float = 2.5
    feet_height: float = 2.5
    feet_distance: float = 2.0
    body_up_exp: float = 0.25
    soft_symmetry_body: float = -1.0
    soft_symmetry_waist: float = -1.0
    termination: float = -500.0
    dof_pos_limits: float = -5.0
    torque_limits: float = -0.1
    action_rate: float = -0.1
    ang_vel: float = -0.1
    base_lin_vel: float = -0.1
    dof_vel: float = -1e-4
    energy: float = -1e-4
    dof_acc: float = -1e-7
    feet_orientation: float = -0.5
    foot_slip: float = -1.0

    def __post_init__(self) -> None:
        check(self)


@dataclass
class RewardWeightsStage2:
    """Stage II (tracking). The paper's joint tracking exp(-sum (q - q_ref)^2 / 4) weight 8 and its
    regularisers; the head-height and uprightness tracking terms are this project's additions for
    the CPU budget (they shape the early learning; see the README)."""

    joint_tracking: float = 8.0
    joint_tracking_sigma: float = 4.0
    head_height_tracking: float = 3.0
    head_height_sigma: float = 0.05  # m^2
    body_up_tracking: float = 2.0
    alive: float = 0.5
    torques: float = -3e-6  # per Nm^2 (the paper's -0.003 is on a different torque scale; see the README)
    dof_vel: float = -1e-3
    torque_limits: float = -0.2  # per Nm over 90 % of the limit (-5 in the first runs: the feasible get-ups saturate the motors while rocking, and that weight taught PPO to lie still)
    dof_pos_limits: float = -5.0
    action_rate: float = -0.05
    termination: float = -50.0

    def __post_init__(self) -> None:
        check(self, positive=("joint_tracking_sigma", "head_height_sigma"))


@dataclass
class DomainRandomization:
    """Stage II's randomisation (HumanUP), applied by :class:`~robot_learning.tasks.getup.env.GetupEnv`
    to training episodes (evaluation episodes run the nominal robot). Drawn per episode: friction,
    pelvis mass and centre of mass, motor strength (kp and kd per joint), action delay; during it:
    pushes and observation noise."""

    enabled: bool = False
    friction: tuple[float, float] = (1.0, 3.0)
    base_mass_delta_kg: tuple[float, float] = (-3.0, 3.0)
    com_offset_m: float = 0.05  # per axis, +-
    motor_strength: tuple[float, float] = (0.8, 1.2)
    # s, drawn in [0, this], whole physics steps: the new targets reach the motors this late within
    # the policy period (HumanUP: up to 8 steps of its 1 kHz physics)
    action_delay_s: float = 0.008
    push_interval_s: float = 4.0  # each robot's pelvis gets a horizontal velocity kick this often
    push_max_speed: float = 1.0  # m/s, uniform in a disc of this radius
    obs_noise: float = 0.02  # std of Gaussian noise on the observed (scaled) angular velocity, attitude and joints

    def __post_init__(self) -> None:
        check(self, positive=("friction", "motor_strength", "push_interval_s"), ordered=("friction", "base_mass_delta_kg", "motor_strength"),
              non_negative=("com_offset_m", "action_delay_s", "push_max_speed", "obs_noise"))


@dataclass
class GetupEnvConfig:
    num_envs: int = 128
    variant: str = "primitive"  # collision model for training; evaluation also runs "mesh"
    physics_dt: float = 0.002  # 500 Hz (the paper: 1 kHz; compare with physics_dt 0.001, decimation 20)
    decimation: int = 10  # policy at 50 Hz
    episode_s: float = 10.0
    history: int = 10  # observation history (the paper: 10 steps)
    time_input: bool = True  # the actor also sees the time since it took over (not in the paper; see the README)
    action_scale: float = 0.5
    action_clip: float = 7.0  # wide enough for a target to reach every joint limit (max |limit - default| / 0.5 = 6.58)
    stage: str = "tracking"  # "discovery" (Stage I) | "tracking" (Stage II)
    posture: str = "both"  # "supine" | "prone" | "both"
    # the policy's action = the feasible reference's target at the policy's time (a table inside the
    # exported actor) + a learned residual; one posture per policy (a table per posture)
    residual_on_reference: bool = False
    reference: str = "feasible"  # "feasible" (the CEM-optimised simulated get-ups) | "keyframed" (kinematic)
    reference_model: str = "primitive"  # feasible references optimised on this collision model: "primitive" | "mesh"
    reference_init_fraction: float = 0.5  # tracking: episodes started at a random point of the reference
    reference_slowdown: float = 1.0  # the shipped references are already slow (8 s); the paper slows Stage I's by 8x
    head_off_reference_m: float = 0.2  # tracking: terminate when the head is this far off the reference height
    standing_start_fraction: tuple[float, float] = (0.2, 0.1)  # discovery: annealed over training
    success_head_height: float = 1.1
    # the ground of each training environment: environment i on terrain[i % len(terrain)] (flat, slope:
    # 10 deg, rough: +-3 cm bumps on 0.1 m cells; robot_learning/sim/terrain.py), starting from fallen
    # poses made on that ground; heights (rewards, success) are measured above it. HumanUP's Stage II
    # trains on all three; on a slope or rough ground episodes start from fallen poses only (the
    # references and standing starts are flat-ground states)
    terrain: tuple[str, ...] = ("flat",)
    threads: int = 0  # 0: all cores
    # the physics backend (robot_learning/sim/backends.py): "mujoco" (MuJoCo's C engine on CPU threads, the
    # default), "warp" (MuJoCo Warp: cpu for development, cuda:N for the papers' scale) or "isaacgym" (CUDA)
    backend: str = "mujoco"
    device: str = "cpu"
    seed: int = 0
    rewards1: RewardWeightsStage1 = field(default_factory=RewardWeightsStage1)
    rewards2: RewardWeightsStage2 = field(default_factory=RewardWeightsStage2)
    dr: DomainRandomization = field(default_factory=DomainRandomization)
    # the teacher (behaviour cloning, imitation term) also keeps the COM over the feet once the
    # reference is on its feet (privileged; see balance.py)
    balance: BalanceConfig = field(default_factory=BalanceConfig)

    def __post_init__(self) -> None:
        check(self, positive=("num_envs", "physics_dt", "decimation", "episode_s", "history", "action_scale", "action_clip",
                              "reference_slowdown", "head_off_reference_m", "success_head_height"),
              fraction=("reference_init_fraction", "standing_start_fraction"), non_negative=("threads", "seed"))
        if self.episode_s < self.physics_dt * self.decimation:
            raise FieldError("episode_s", f"must be at least one policy period (physics_dt x decimation = "
                                          f"{self.physics_dt * self.decimation:g} s), got {self.episode_s}")
        if self.backend not in BACKENDS:
            raise FieldError("backend", f"must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if not (self.device == "cpu" or self.device == "cuda" or self.device.startswith("cuda:")):
            raise FieldError("device", f"must be cpu, cuda or cuda:N, got {self.device!r}")
        if self.stage not in ("discovery", "tracking"):
            raise FieldError("stage", f"must be 'discovery' or 'tracking', got {self.stage!r}")
        if self.reference not in ("feasible", "keyframed"):
            raise FieldError("reference", f"must be 'feasible' or 'keyframed', got {self.reference!r}")
        if self.residual_on_reference and (self.posture == "both" or self.reference != "feasible" or not self.time_input):
            raise FieldError("residual_on_reference", "needs one posture (supine or prone), reference: feasible and time_input: true")
        if self.reference_model not in ("primitive", "mesh"):
            raise FieldError("reference_model", f"must be 'primitive' or 'mesh', got {self.reference_model!r}")
        if self.posture not in ("supine", "prone", "both"):
            raise FieldError("posture", f"must be 'supine', 'prone' or 'both', got {self.posture!r}")
        self.terrain = (self.terrain,) if isinstance(self.terrain, str) else tuple(self.terrain)
        unknown = [t for t in self.terrain if t not in ("flat", "slope", "rough")]
        if not self.terrain or unknown:
            raise FieldError("terrain", f"must list flat, slope or rough, got {list(self.terrain)!r}")


@dataclass
class GetupPPOConfig:
    actor_hidden: tuple[int, ...] = (256, 128, 64)  # the paper: 512-256-128 (set it on a bigger machine)
    critic_hidden: tuple[int, ...] = (256, 128, 64)
    init_std: float = 0.5
    learning_rate: float = 5e-4
    # "adaptive" (KL-driven, legged_gym's) or "fixed". The adaptive rule keeps the KL between updates
    # near desired_kl, and that KL scales with (mean change / std)^2: with the small std of a cloned
    # or residual policy (0.15) it drives the rate to its floor (1e-5) and learning stops (measured)
    schedule: str = "adaptive"
    desired_kl: float = 0.01
    steps_per_env: int = 24
    epochs: int = 5
    minibatches: int = 4
    gamma: float = 0.99
    lam: float = 0.95
    entropy_coef: float = 0.0

    def __post_init__(self) -> None:
        check(self, positive=("actor_hidden", "critic_hidden", "init_std", "learning_rate", "desired_kl", "steps_per_env", "epochs",
                              "minibatches"),
              fraction=("gamma", "lam"), non_negative=("entropy_coef",))
        if self.schedule not in ("adaptive", "fixed"):
            raise FieldError("schedule", f"must be 'adaptive' or 'fixed', got {self.schedule!r}")


@dataclass
class DaggerConfig:
    """Cloning the privileged teacher (``teacher.py``) into the observation policy (``dagger.py``)."""

    iterations: int = 10
    num_envs: int = 64  # one 10 s episode each per iteration
    beta: float = 0.5  # probability that the teacher drives an episode, multiplied by beta_decay each iteration (1 at first)
    beta_decay: float = 0.7
    epochs: int = 4  # over all data gathered so far, per iteration
    first_epochs: int = 30  # the first fit (the teacher's own states only) is behaviour cloning: fit it well
    batch_size: int = 1024
    learning_rate: float = 1e-3
    eval_episodes: int = 64  # training fallen poses, for choosing the iteration to export
    noise: float = 0.0  # DART noise on the teacher's executed actions (action units)
    # the policy = the teacher's feedforward table (indexed by the time input, exported inside the
    # actor) + a learned residual, which starts at zero; one policy per posture
    residual: bool = True
    # from prone: "roll" (HumanUP's way: roll onto the back, then the supine get-up; the roll-over of
    # rollover.py) or "direct" (push up onto all fours); None: the teacher's choice for the collision
    # model (roll on the primitive one, direct on the mesh one; see teacher.TeacherConfig.prone_strategy)
    prone_strategy: str | None = None
    # s per training episode (collection and the choice of iteration), past the paper's 10 s: the
    # teacher's table ends at 10 s (the time input saturates there) and the robot must stay up after
    # it. The prone clone, which rolls over first and stands from about 8.3 s, on 100 held-out poses
    # at 10 s / 50 at 15 s: 10 s episodes 96 % / none (at 13 s), 12 s 96 % / 48 %, 16 s 96 % / 94 %
    # (its teacher stays up: 96 % at 10 and 13 s)
    episode_s: float = 16.0

    # the residual acts only where the teacher's feedback does (``GetupTeacher.feedback_mask``, a
    # time-indexed 0/1 table exported with the actor): elsewhere the policy is the table exactly
    gate_residual: bool = True
    # who labels the visited states (``dagger.Labeller``): "scripted" (teacher.py's privileged teacher,
    # ``TeacherForEnv``) or "mpc" (the sampling MPC teacher of mpc.py, where that module provides one)
    teacher: str = "scripted"

    def __post_init__(self) -> None:
        check(self, positive=("iterations", "num_envs", "epochs", "first_epochs", "batch_size", "learning_rate", "eval_episodes",
                              "episode_s"),
              fraction=("beta", "beta_decay"), non_negative=("noise",))
        if self.prone_strategy not in (None, "direct", "roll"):
            raise FieldError("prone_strategy", f"must be 'direct' or 'roll', got {self.prone_strategy!r}")
        if self.teacher not in ("scripted", "mpc"):
            raise FieldError("teacher", f"must be 'scripted' or 'mpc', got {self.teacher!r}")


@dataclass
class RefineConfig:
    """The pipeline's last stage (``train.refine``): PPO from the distilled policy under the same
    randomisation and grounds, HumanUP's Stage II regularisers (``RewardWeightsStage2``: torques,
    joint velocity and limits, action rate) plus its energy and joint-acceleration terms, a task term
    (head height above the ground, torso upright) in place of the reference tracking (the teacher
    leaves the reference at its hand-over), and an annealed imitation term toward the teacher's label
    at every visited state."""

    num_envs: int = 32
    iterations: int = 0  # PPO iterations; 0: until the stage's share of the time budget is spent
    learning_rate: float = 1e-4
    # fixed: the adaptive rule drives the rate to its floor with a distilled policy's small std (GetupPPOConfig)
    schedule: str = "fixed"
    init_std: float = 0.1  # the action std that PPO explores with around the distilled policy
    critic_warmup_iterations: int = 5  # iterations that fit only the critic (the actor comes trained)
    imitation_coef: tuple[float, float] = (1.0, 0.1)  # + coef * |mean action - teacher label|^2, linear from the first to the second
    head_height: float = 2.0  # per step: weight * min(head height, success height) / success height
    upright: float = 1.0  # per step: weight * (z of the torso's z axis, clipped at 0)
    energy: float = -1e-4  # per step: weight * sum |torque x joint velocity| (W)
    dof_acc: float = -1e-7  # per step: weight * sum joint acceleration^2
    eval_every_iterations: int = 10
    # the policy kept: "best" (highest success under the randomisation on training poses, evaluated
    # every eval_every_iterations; the distilled policy competes) or "last"
    select: str = "best"

    def __post_init__(self) -> None:
        check(self, positive=("num_envs", "learning_rate", "init_std", "eval_every_iterations"),
              non_negative=("iterations", "critic_warmup_iterations", "imitation_coef", "head_height", "upright"))
        for name in ("energy", "dof_acc"):  # penalties
            if getattr(self, name) > 0:
                raise FieldError(name, f"must be <= 0 (a penalty), got {getattr(self, name)!r}")
        if self.schedule not in ("adaptive", "fixed"):
            raise FieldError("schedule", f"must be 'adaptive' or 'fixed', got {self.schedule!r}")
        if self.select not in ("best", "last"):
            raise FieldError("select", f"must be 'best' or 'last', got {self.select!r}")


PIPELINE_STAGES = ("dagger", "refine")


@dataclass
class PipelineConfig:
    """``method: pipeline`` (the default of ``train getup``): per posture, the teacher labels the
    states that the student visits (DAgger) under HumanUP's Stage II randomisation on its three
    grounds, then PPO refines the distilled policy there. Each stage writes a checkpoint and a
    record (``stages/<posture>-<stage>.json``); a failed or interrupted run rerun into the same
    directory resumes after its last completed stage."""

    stages: tuple[str, ...] = PIPELINE_STAGES  # in this order; a prefix or both
    dr: bool = True  # env.dr in every stage's training episodes (the evaluations that choose a policy: nominal and DR)
    terrain: tuple[str, ...] = ("flat", "slope", "rough")  # every stage's grounds: environment i on the i-th
    # the probability that the teacher drives an episode, per DAgger iteration (0 after the list): the
    # teacher's own states first, then the student drives (its mistakes are what the teacher labels)
    beta: tuple[float, ...] = (1.0, 0.2)
    dagger_share: float = 0.5  # of each posture's time budget; refinement gets the rest
    # dagger.gate_residual in the pipeline: on, the residual (and PPO's changes) act only where the
    # scripted teacher has feedback; off lets them act in every phase (the open-loop sit-up is where
    # the teacher fails under the randomisation), but after one DAgger iteration (64 x 16 s
    # randomised episodes) the ungated student stood 0 of 6 nominal flat poses (its teacher 8 of 8)
    gate_residual: bool = True
    # the held-out table at the end (eval getup through the runtime): poses per posture, nominal and
    # under all of Stage II's randomisation; 0: none
    eval_episodes: int = 24

    def __post_init__(self) -> None:
        check(self, positive=("dagger_share",), fraction=("beta", "dagger_share"), non_negative=("eval_episodes",))
        self.stages = (self.stages,) if isinstance(self.stages, str) else tuple(self.stages)
        self.terrain = (self.terrain,) if isinstance(self.terrain, str) else tuple(self.terrain)
        if not self.stages or list(self.stages) != list(PIPELINE_STAGES[:len(self.stages)]):
            raise FieldError("stages", f"must be {list(PIPELINE_STAGES)} or a prefix of it, got {list(self.stages)!r}")
        unknown = [t for t in self.terrain if t not in ("flat", "slope", "rough")]
        if not self.terrain or unknown:
            raise FieldError("terrain", f"must list flat, slope or rough, got {list(self.terrain)!r}")


@dataclass
class GetupTrainConfig:
    env: GetupEnvConfig = field(default_factory=GetupEnvConfig)
    # Stage II on the CPU path: "pipeline" (the default) labels the student's states by the teacher
    # under Stage II's randomisation and grounds (DAgger), then refines by PPO (``pipeline``,
    # ``refine``), one policy per posture; "dagger" clones the privileged teacher (reference + balance
    # feedback) on the nominal flat-ground robot, one policy per posture (the shipped policies);
    # "ppo" is Stage II as the paper trains it (PPO tracking). Stage I (env.stage: discovery) is always PPO.
    method: str = "pipeline"
    dagger: DaggerConfig = field(default_factory=DaggerConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    refine: RefineConfig = field(default_factory=RefineConfig)
    ppo: GetupPPOConfig = field(default_factory=GetupPPOConfig)
    max_seconds: float = 3600.0
    max_env_steps: int = 0  # 0: no limit
    # behaviour cloning of the feasible reference's open-loop targets before PPO (tracking stage;
    # 0 samples: off): DART-style noisy roll-outs, labels = the reference's targets at each state's time
    bc_samples: int = 60000
    bc_noise: float = 0.3
    bc_epochs: int = 30
    bc_init_std: float = 0.15  # the policy's action std when PPO starts from the cloned actor
    critic_warmup_iterations: int = 10  # PPO iterations that train only the critic after cloning
    # during PPO: + coef * |mean action - teacher|^2 on the rollout's states (the teacher's targets at
    # each state's reference time), the coefficient decaying linearly from the first value to the
    # second over the run; keeps PPO's exploration from drifting off the motion into "sit and wait"
    imitation_coef: tuple[float, float] = (3.0, 0.3)
    imitation_until_head_m: float = 0.9  # no imitation where the reference's head is this high (rising and standing)
    eval_every_seconds: float = 300.0
    eval_episodes: int = 32
    seed: int = 0
    torch_threads: int = 2

    def __post_init__(self) -> None:
        check(self, positive=("max_seconds", "bc_init_std", "eval_every_seconds", "eval_episodes", "torch_threads"),
              non_negative=("max_env_steps", "bc_samples", "bc_noise", "bc_epochs", "critic_warmup_iterations", "imitation_coef", "seed",
                            "imitation_until_head_m"))
        if self.method not in ("pipeline", "dagger", "ppo"):
            raise FieldError("method", f"must be 'pipeline', 'dagger' or 'ppo', got {self.method!r}")
