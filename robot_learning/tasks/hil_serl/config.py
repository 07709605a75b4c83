"""Configuration of the HIL-SERL module (one YAML: sim/configs/hil_serl.yaml)."""
from __future__ import annotations

from dataclasses import dataclass, field

from robot_learning.algos.reward_classifier import ClassifierConfig
from robot_learning.core.checks import check
from robot_learning.core.config import FieldError
from robot_learning.algos.sac import SACConfig
from robot_learning.tasks.hil_serl.devices import HUMANS
from robot_learning.tasks.hil_serl.human import ScriptedHumanConfig
from robot_learning.tasks.hil_serl.scene import PickPlaceConfig
from robot_learning.tasks.hil_serl.transport import LinkConfig


POSITIVE_HOLDS = ("lift", "wander")


@dataclass
class HilSerlConfig:
    env: PickPlaceConfig = field(default_factory=PickPlaceConfig)
    # HIL-SERL's SAC, with two changes for a 2-core CPU (see the README): batches of 128 (the paper: 256)
    # and imitation of the prior data (bc_weight 1; the paper: 0), without which nothing was learned in 8 k steps
    sac: SACConfig = field(default_factory=lambda: SACConfig(batch_size=128, bc_weight=1.0))
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    # image option: the classifier sees the proprioception (where the hand is, how open the gripper is)
    # beside the frame; False: the frame alone, as HIL-SERL's, whose wrist cameras show the gripper
    classifier_proprio: bool = True
    # image option (env.observation "image"): the pretrained visual encoder, frozen during RL; the learner, the
    # replay buffers and the reward classifier see its features, the exported policy carries it in its graph
    encoder: str = "assets/encoders/panda_pick_place_encoder.pt"
    human: str = "scripted"  # who may take over: scripted | none (no interventions) | keyboard | gamepad | spacemouse
    scripted: ScriptedHumanConfig = field(default_factory=ScriptedHumanConfig)
    demos: int = 20  # successful demonstrations before training (HIL-SERL: 20-30 by teleoperation)
    demo_noise: float = 0.3  # the scripted demonstrator's arm-action noise
    positive_hold_steps: int = 10  # after a demo's success, this many more frames are recorded as positives
    # how the hand moves in those frames: "lift" (the expert moves it up out of the way) or "wander" (random
    # moves around the release pose, gripper open, as a policy's hand is when the cube lands: for image classifiers)
    positive_hold: str = "lift"
    # scenes where the cube is put in the bin by hand (and then just beside it) while the hand roams over
    # the bin: positives and hard negatives at many bin positions, which a frame classifier needs (HIL-SERL
    # records its classifier's frames by moving the robot around the goal); 0 for the state classifier
    placed_scenes: int = 0
    placed_steps: int = 10  # frames per scene, each way
    near_miss_episodes: int = 40  # the demonstrator drops the cube just beside the bin: hard negatives for the classifier
    negative_random_steps: int = 500  # frames of random motion recorded for the classifier (mostly negatives, labelled by the truth)
    env_steps: int = 20000  # training budget in environment steps (evaluation episodes not counted)
    max_seconds: float = 1800.0  # and in wall-clock
    learning_starts: int = 300  # online steps before the learner starts updating
    utd_ratio: float = 2.0  # the learner makes at most this many critic updates per environment step
    # and the actor waits for the learner when it falls below this many (0: never wait). In simulation the
    # actor outruns the learner (the real robot runs at 10 Hz); waiting keeps the steps budget meaningful
    min_utd: float = 2.0
    publish_every: int = 50  # learner updates between two weight messages to the actor
    eval_every: int = 2000  # environment steps between evaluations (deterministic policy, no human)
    eval_episodes: int = 10
    final_eval_episodes: int = 50
    buffer_capacity: int = 200_000
    torch_threads: int = 1  # per process: the actor and the learner each take one core
    # the actor <-> learner link: message size bound and, off by default, CURVE keys (see transport.py)
    link: LinkConfig = field(default_factory=LinkConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        check(self, positive=("demos", "env_steps", "max_seconds", "utd_ratio", "publish_every", "eval_every", "eval_episodes",
                              "final_eval_episodes", "buffer_capacity", "torch_threads"),
              non_negative=("demo_noise", "positive_hold_steps", "placed_scenes", "placed_steps", "near_miss_episodes",
                            "negative_random_steps", "learning_starts", "min_utd", "seed"))
        if self.min_utd > self.utd_ratio:
            raise FieldError("min_utd", f"must be at most utd_ratio ({self.utd_ratio}), got {self.min_utd}")
        if self.buffer_capacity < self.sac.batch_size:
            raise FieldError("buffer_capacity", f"must hold at least one batch (sac.batch_size {self.sac.batch_size}), got {self.buffer_capacity}")
        if self.human not in HUMANS:
            raise FieldError("human", f"must be one of {', '.join(HUMANS)}; got {self.human!r}")
        if not 0.0 <= self.sac.prior_fraction <= 1.0:
            raise FieldError("sac.prior_fraction", f"must be in [0, 1], got {self.sac.prior_fraction}")
        if self.positive_hold not in POSITIVE_HOLDS:
            raise FieldError("positive_hold", f"must be one of {', '.join(POSITIVE_HOLDS)}; got {self.positive_hold!r}")
        if self.demos < 1:
            raise FieldError("demos", "must be at least 1: RLPD samples half of every batch from the demonstrations")
