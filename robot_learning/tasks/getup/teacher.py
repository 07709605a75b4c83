"""A privileged getting-up teacher: the feasible reference until its deep squat, then a balanced rise.

Three phases per robot, each chosen from what the simulator knows (for cloning into a policy):

1. **Reference**: the feasible reference's PD targets at the teacher's reference time, which starts
   after holding the first targets for ``start_hold_s`` (the fallen pose settles into the reference's
   lying pose). For the supine get-up the reference time stops for ``pause_s`` at ``pause_at_s``
   (sitting with the feet tucked in), so that the weight shift onto the feet starts from nearly the
   same state whatever the fallen pose was. For the prone one, the shoulder rolls and hip pitches
   also answer the pelvis's tilt against the reference's (sideways falls from all fours were the
   commonest failure), and during a longer start hold (1.2 s) the shoulder and hip rolls answer the
   sideways tilt more strongly, which levels a robot that lies rolled onto one side before it
   pushes up (of the robots still rolled by more than 0.2 in the gravity direction after the plain
   0.3 s hold, about a third stood; of the level ones 94-99 %).
2. **Hand-over**: at the reference time ``hand_over_s`` (the reference's first deep squat on flat
   feet: 3.9 s supine, 4.9 s prone, the COM within 2 cm of the feet). The references' later parts
   (the optimiser's hops out of the squat) are never used.
3. **Balanced rise**: the PD targets blend over ``hold_s`` into the first of
   :func:`~robot_learning.tasks.getup.balance.balanced_rise`'s statically balanced postures, then
   follow them to standing over ``rise_s`` (timed), with the COM feedback of :class:`~robot_learning.tasks.getup.balance.ComBalance` on the ankles throughout.
   Both postures rise along the supine reference's squat-to-stand path (the prone reference's own
   one falls backwards at the top).

Measured on training fallen poses: every robot handed over in the squat stood; the ones that fail
fall back or sideways while sitting up, tucking the feet in or kneeling (phase 1 is open loop but for
the tilt feedback). From 100 held-out poses per side the teacher stands 84 % (supine) and 93 %
(prone) of the time: ``python -m robot_learning.tasks.getup.teacher --episodes 100`` (10 s per side).
Each change, on 64 held-out poses: the hand-over at the references' later squats (6.5 and 7.6 s)
28 % and 9 %; at the first deep squats, both rising on the supine path, 67 % and 66 %; with the start
hold and the prone tilt feedback 78 % and 81 %. On 128 training poses, the supine pause at 2.9-3.4 s
gave 77-89 % (3.1 s chosen), at 3.5 s 22 %. The prone levelling, on 128 training poses: none 85 %;
shoulder rolls 4 and hip rolls 2 rad per unit of tilt over a 1.2 s hold 98 % (chosen; 100 held-out
poses: 71 -> 93 %); 3 and 3 over 1.2 s 95 %; shoulders alone 5 over 0.8 s 94 %; a longer hold alone
no better. For the supine teacher it changed nothing (89-91 % against 89 %), so it has none. Linear
tilt feedback on the supine sit-up (hip or waist pitch, shoulder roll, from any time), a lead term
on the prone tilt, and re-optimising the table before the hand-over by receding-horizon CEM over 32
training poses with this feedback in the loop all did no better.

In the mesh collision model the teacher follows the references optimised there
(``TeacherConfig.for_references("mesh")``): 80 % (supine) and 82 % (prone) of 100 held-out poses
(``--model mesh --references mesh``; 67 % and 59 % before the levelling start hold); the primitive
references give 0 % and 5 % there, and the mesh ones 50 % and 0 % in the primitive model (both
measured before the levelling).

From prone the default (``TeacherConfig.prone_strategy = "roll"``, HumanUP's way) is to roll onto the
back first: the open-loop roll-over of :mod:`~robot_learning.tasks.getup.rollover` (1.74 s), then
this supine teacher shifted by the roll's length (``offset``). It stands 96 % of 100 held-out prone
poses (97 % at 1 kHz) against 93 % for the direct prone teacher above, and it is the most robust of
the three to Stage II's randomisation (``benchmarks/getup_dr.py``). On the mesh model the mesh
supine teacher after the roll stands 71 % against 82 % direct, so ``for_references("mesh")`` keeps
the direct one.

The hand-over happens at a fixed reference time and the rise is timed, so the teacher is a
feedforward table indexed by time (:attr:`GetupTeacher.table`) plus feedback on the state: what
``dagger.py`` clones as a residual on that table. Handing over on the state instead (both feet
loaded, the COM within 5 cm of the feet and slower than 0.3 m/s) and pausing the rise while the
COM is off did no better on 128 training poses (84 % and 85 % with the timed version).
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np

from robot_learning.robots.g1 import G1_SPEC
from robot_learning.runtime.joint_controller import projected_gravity
from robot_learning.sim.mujoco_batch import G1Batch, G1BatchConfig
from robot_learning.sim.terrain import TerrainConfig, terrain_named
from robot_learning.tasks.getup.balance import BalanceConfig, ComBalance, balanced_rise
from robot_learning.tasks.getup.poses import FallenPoseConfig, fallen_pose_dataset
from robot_learning.tasks.getup.rollover_table import RollOver, load_rollover
from robot_learning.tasks.getup.trajopt import FeasibleReference, load_feasible_reference


HIP_PITCH = np.array([0, 6])  # left, right (spec order)
SHOULDER_ROLL = np.array([16, 20])
HIP_ROLL = np.array([1, 7])  # left, right (spec order)


@dataclass
class PostureTiming:
    """Where the phases sit on one posture's feasible reference (s), and the posture's tilt feedback
    while it follows the reference (rad of PD target per unit of the gravity direction's error in the
    pelvis frame against the reference's at the same reference time; left and right joints alike)."""

    hand_over_s: float  # the reference time of the hand-over to the balanced rise (in its deep squat)
    pause_at_s: float = 0.0
    pause_s: float = 0.0
    start_hold_s: float = 0.3  # the reference's first targets are held this long (the fallen pose settles into them)
    shoulder_roll_per_side_tilt: float = 0.0
    hip_pitch_per_forward_tilt: float = 0.0
    # during the start hold (lying): shoulder and hip rolls per unit of sideways tilt error, which
    # level the robot before it pushes up
    level_shoulder_roll: float = 0.0
    level_hip_roll: float = 0.0


@dataclass
class TeacherConfig:
    """Settings chosen on training fallen poses (see the module's docstring for the figures)."""

    timing: dict[str, PostureTiming] = field(default_factory=lambda: {
        "supine": PostureTiming(hand_over_s=3.9, pause_at_s=3.1, pause_s=0.7),
        "prone": PostureTiming(hand_over_s=4.9, shoulder_roll_per_side_tilt=-1.0, hip_pitch_per_forward_tilt=-1.0,
                               start_hold_s=1.2, level_shoulder_roll=4.0, level_hip_roll=2.0),
    })
    # the balanced rise of both postures: from this reference's posture at rise_squat_s to its last
    # (the prone reference's own squat-to-stand interpolation falls backwards at the top: measured)
    rise_reference: str = "supine"
    # the collision model whose feasible references the teacher follows ("primitive" or "mesh"; see
    # trajopt.load_feasible_reference)
    reference_model: str = "primitive"
    rise_squat_s: float = 4.1
    hold_s: float = 0.5  # blend from the reference's hand-over targets into the rise's first posture
    rise_s: float = 2.0
    knots: int = 21
    episode_s: float = 10.0  # length of the feedforward table (it holds its last targets after)
    # rad: targets stay this far inside the joint limits. The get-up needs the full range (the deep
    # squat has the knees and ankles at their limits): on 100 held-out poses a margin of 0.05 rad
    # gave supine 16 % and prone 50 %, 0.01 rad 83 % and 71 %, none 84 % and 71 %. The runtime's
    # getting-up profile keeps targets 0.01 rad inside the limits (``soft_joint_limits``).
    limit_margin: float = 0.0
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    # from prone: "roll" (HumanUP's way: the open-loop roll-over of rollover.py onto the back, then the
    # supine get-up) or "direct" (the prone reference: push up onto all fours). On 100 held-out prone
    # poses, primitive model: roll 96 %, direct 93 %; mesh model (its own roll-over and references):
    # roll 71 %, direct 82 % (the mesh supine teacher is the weaker one), so the mesh default is direct
    prone_strategy: str = "roll"

    def __post_init__(self) -> None:
        if self.prone_strategy not in ("direct", "roll"):
            raise ValueError(f"prone_strategy must be 'direct' or 'roll', got {self.prone_strategy!r}")

    @classmethod
    def for_references(cls, reference_model: str, prone_strategy: str | None = None) -> "TeacherConfig":
        """The settings chosen for the references optimised on ``reference_model`` (``prone_strategy``:
        "roll" or "direct" instead of that model's default). The mesh
        references (``trajopt --model mesh``, warm-started from the primitive ones, 0-4.6 s supine and
        0-5.6 s prone) reach their squat at nearly the same times; chosen on 32 training poses in the
        mesh model: supine hand-over at 3.8 s without the pause (3.9 s 47 %, 3.8 s 66 %, 3.7 s 34 %;
        with the 0.7 s pause 19 %), prone at 4.9 s (4.7-5.0 s 53-62 %, 5.1 s 0 %; without the tilt
        feedback 47 %), both rising from the supine mesh reference's posture at 3.8 s. Both level the
        robot during the start hold as the primitive prone teacher does (the same gains, not tuned
        again; on 64 training poses supine 67 -> 78 %, prone 67 -> 94 %)."""
        if reference_model == "primitive":
            return cls(prone_strategy=prone_strategy or "roll")
        if reference_model != "mesh":
            raise ValueError(f"reference_model must be 'primitive' or 'mesh', got {reference_model!r}")
        level = {"start_hold_s": 1.2, "level_shoulder_roll": 4.0, "level_hip_roll": 2.0}
        return cls(reference_model="mesh", rise_squat_s=3.8, prone_strategy=prone_strategy or "direct", timing={
            "supine": PostureTiming(hand_over_s=3.8, **level),
            "prone": PostureTiming(hand_over_s=4.9, shoulder_roll_per_side_tilt=-1.0, hip_pitch_per_forward_tilt=-1.0, **level),
        })


class GetupTeacher:
    """The teacher for N robots of one posture: a time-indexed feedforward table (:attr:`table`, one
    row of PD targets per policy step since the episode started) plus feedback on the state (the
    prone tilt feedback before the hand-over, the COM feedback after it). Call :meth:`reset`, then
    :meth:`targets` every policy step with the robots' simulator state."""

    def __init__(self, model: mujoco.MjModel, ref: FeasibleReference, posture: str, n: int, dt: float,
                 cfg: TeacherConfig | None = None, rise_ref: FeasibleReference | None = None,
                 roll: "RollOver | None" = None) -> None:
        self.cfg = c = cfg or TeacherConfig()
        if posture not in c.timing:
            raise ValueError(f"no teacher timing for posture {posture!r}; known: {sorted(c.timing)}")
        # the roll strategy: the roll-over's targets (``roll``, default the shipped one) for the first
        # ``offset`` steps, then the supine teacher, whose every step and phase is shifted by ``offset``
        self.roll_targets = np.zeros((0, len(G1_SPEC.joint_names)))
        if posture == "prone" and c.prone_strategy == "roll":
            self.roll_targets = (roll or load_rollover(c.reference_model)).targets
            posture, ref = "supine", load_feasible_reference("supine", c.reference_model)
        self.offset = len(self.roll_targets)
        self.ref, self.n, self.dt = ref, n, dt
        self.timing = t = c.timing[posture]
        rise_ref = rise_ref or load_feasible_reference(c.rise_reference, c.reference_model)
        squat = rise_ref.joint_pos[int(round(c.rise_squat_s * rise_ref.fps))]
        # standing: the primitive reference's last posture (the mesh references end in the squat)
        full = rise_ref if c.reference_model == "primitive" else load_feasible_reference(c.rise_reference)
        stand = full.joint_pos[-1]
        self.path = balanced_rise(model, squat, stand, c.knots)
        self.balance = ComBalance(model, c.balance)
        # targets within the joint limits less ``limit_margin``
        self.lower = G1_SPEC.array("position_lower") + c.limit_margin
        self.upper = G1_SPEC.array("position_upper") - c.limit_margin
        steps = int(round(c.episode_s / dt))
        self.hold_steps = self.offset + int(round(t.start_hold_s * ref.fps))  # the start hold ends at this step
        self.frames = self._reference_frames(np.arange(steps))
        hand_frame = int(round(t.hand_over_s * ref.fps))
        self.hand_step = int(np.argmax(self.frames >= hand_frame)) if (self.frames >= hand_frame).any() else steps
        self.table = self._feedforward(steps)
        self.table[:self.offset] = self.roll_targets[:steps]
        self.ref_gravity = projected_gravity(ref.qpos[:, 3:7])[self.frames]
        self.step = np.zeros(n, dtype=np.int64)  # policy steps since the robot's episode started

    def _reference_frames(self, k: np.ndarray) -> np.ndarray:
        """The reference frame at policy steps ``k``: the reference time starts after the start hold
        and stops during the pause."""
        t, fps = self.timing, self.ref.fps
        start, length = int(round(t.pause_at_s * fps)), int(round(t.pause_s * fps))
        k = np.maximum(k - self.offset - int(round(t.start_hold_s * fps)), 0)
        frame = np.where(k < start, k, np.where(k < start + length, start, k - length))
        return np.minimum(frame, len(self.ref.targets) - 1)

    def _feedforward(self, steps: int) -> np.ndarray:
        """(steps, 23) the targets without feedback: the reference's until the hand-over, then a blend
        over ``hold_s`` into the rise's first posture and the rise along it over ``rise_s``."""
        c = self.cfg
        out = self.ref.targets[self.frames].copy()
        if self.hand_step < steps:
            k = np.arange(self.hand_step, steps)
            progress = (k - self.hand_step) * self.dt / c.rise_s - c.hold_s / c.rise_s  # < 0 while blending
            s = np.clip(progress, 0.0, 1.0)
            s = s * s * (3 - 2 * s)
            x = s * (len(self.path) - 1)
            i0 = np.minimum(x.astype(int), len(self.path) - 2)
            w = (x - i0)[:, None]
            posture = (1 - w) * self.path[i0] + w * self.path[i0 + 1]
            blend = np.clip(1 + progress * c.rise_s / c.hold_s, 0.0, 1.0)[:, None]
            start = self.ref.targets[self.frames[self.hand_step]]
            out[k] = np.where(progress[:, None] < 0, (1 - blend) * start + blend * self.path[0], posture)
        return np.clip(out, self.lower, self.upper)

    def feedback_mask(self) -> np.ndarray:
        """(steps, 23) 1 where the teacher's targets depend on the state (its feedback acts), 0 where
        they are the table alone: before the hand-over only the joints of the tilt feedback (none
        for the supine teacher), every joint from the hand-over on (the COM feedback, and the clip
        to the joint limits)."""
        t = self.timing
        mask = np.zeros_like(self.table)
        mask[self.hand_step:] = 1.0
        if t.shoulder_roll_per_side_tilt:
            mask[:, SHOULDER_ROLL] = 1.0
        if t.hip_pitch_per_forward_tilt:
            mask[:, HIP_PITCH] = 1.0
        if t.level_shoulder_roll:
            mask[:self.hold_steps, SHOULDER_ROLL] = 1.0
        if t.level_hip_roll:
            mask[:self.hold_steps, HIP_ROLL] = 1.0
        mask[:self.offset] = 0.0  # the roll-over is open loop
        return mask

    @property
    def rising(self) -> np.ndarray:
        """(N,) handed over to the balanced rise."""
        return self.step >= self.hand_step

    def reset(self, ids: np.ndarray | None = None) -> None:
        """Start robots ``ids`` (None: all) over: step 0."""
        self.step[np.arange(self.n) if ids is None else np.asarray(ids)] = 0

    def reference_frame(self) -> np.ndarray:
        """(N,) each robot's reference frame."""
        return self.frames[np.minimum(self.step, len(self.frames) - 1)]

    def targets(self, qpos: np.ndarray, qvel: np.ndarray, offsets: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """(N, 23) PD targets for this step (and advance the step); ``offsets``:
        ``self.balance.offsets(qpos, qvel)`` if the caller has them already."""
        t = self.timing
        k = np.minimum(self.step, len(self.table) - 1)
        out = self.table[k].copy()
        rising = self.rising
        tilt_gains = (t.shoulder_roll_per_side_tilt, t.hip_pitch_per_forward_tilt, t.level_shoulder_roll, t.level_hip_roll)
        if any(tilt_gains) and not rising.all():
            following = ~rising & (k >= self.offset)  # not during the roll-over
            err = np.where(following[:, None], self.ref_gravity[k] - projected_gravity(qpos[:, 3:7]), 0.0)
            side, holding = err[:, 1:2], (k < self.hold_steps)[:, None]
            out[:, SHOULDER_ROLL] += (t.shoulder_roll_per_side_tilt + holding * t.level_shoulder_roll) * side
            out[:, HIP_ROLL] += holding * t.level_hip_roll * side
            out[:, HIP_PITCH] += t.hip_pitch_per_forward_tilt * err[:, 0:1]
        if rising.any():
            corr = self.balance.correction(qpos, qvel, out, offsets)
            out[rising] += corr[rising]
        self.step += 1
        # within the joints' ranges: the COM feedback of a robot that has fallen asks for any angle
        return np.clip(out, self.lower, self.upper)


def heading_on_slope(qpos: np.ndarray) -> np.ndarray:
    """(N,) where a lying robot's head points on the ground, degrees from +x (the slope's uphill
    direction, :mod:`robot_learning.sim.terrain`): 0 head uphill, +-180 head downhill. From the
    pelvis's z axis (along the trunk, towards the head) projected onto the ground."""
    w, x, y, z = np.atleast_2d(qpos)[:, 3:7].T
    return np.degrees(np.arctan2(2 * (y * z - w * x), 2 * (x * z + w * y)))


def evaluate_teacher(posture: str, episodes: int = 64, seed: int = 0, cfg: TeacherConfig | None = None,
                     seconds: float = 10.0, split: str = "test", variant: str = "primitive",
                     physics_dt: float = 0.002, terrain: str | TerrainConfig = "flat") -> dict[str, Any]:
    """Success (head >= 1.1 m above the ground after ``seconds``) of the teacher from fallen poses
    (held-out by default; tune on ``split="train"``) in MuJoCo, ``variant`` collision model at
    ``1/physics_dt`` Hz, on ``terrain`` (flat, slope or rough with their defaults, or a
    :class:`~robot_learning.sim.terrain.TerrainConfig`; the fallen poses are made on it). On a slope
    the result also gives success by the way the robot lay (``by_heading``: head uphill or downhill
    within 30 deg, or across the slope)."""
    cfg = cfg or TeacherConfig()
    ref = load_feasible_reference(posture, cfg.reference_model)
    ground = terrain if isinstance(terrain, TerrainConfig) else terrain_named(terrain)
    if ground is not None and ground.kind == "flat":
        ground = None
    starts = fallen_pose_dataset(seed=seed, config=FallenPoseConfig(terrain=ground))[posture][split][:episodes]
    t0 = time.perf_counter()
    decimation = int(round(0.02 / physics_dt))
    with G1Batch(G1BatchConfig(num_envs=len(starts), seed=seed, variant=variant, physics_dt=physics_dt,
                               decimation=decimation, terrain=ground)) as b:
        teacher = GetupTeacher(b.model, ref, posture, len(starts), b.dt, cfg)
        b.reset(np.arange(len(starts)), starts)
        for _ in range(int(round(seconds / b.dt))):
            b.step(teacher.targets(b.qpos, b.qvel))
        head = b.height_above_ground(b.sensor("head_pos"))
    ok = head >= 1.1
    out: dict[str, Any] = {
        "posture": posture, "variant": variant, "references": cfg.reference_model, "physics_hz": round(1 / physics_dt),
        "terrain": "flat" if ground is None else ground.kind, "episodes": len(starts), "success_rate": float(np.mean(ok)),
        "median_final_head_m": float(np.median(head)), "rising_fraction": float(teacher.rising.mean()),
        "wall_clock_s": round(time.perf_counter() - t0, 1)}
    if ground is not None:
        out["terrain_config"] = {"slope_deg": ground.slope_deg} if ground.kind == "slope" else {
            "roughness_m": ground.roughness_m, "cell_m": ground.cell_m}
    if ground is not None and ground.kind == "slope":
        a = np.abs(heading_on_slope(starts))
        bins = {"head_uphill": a < 30, "across": (a >= 30) & (a <= 150), "head_downhill": a > 150}
        out["by_heading"] = {k: {"episodes": int(m.sum()), "success_rate": float(ok[m].mean()) if m.any() else None}
                             for k, m in bins.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Success of the privileged getting-up teacher on held-out fallen poses")
    p.add_argument("--posture", choices=["supine", "prone"], nargs="+", default=["supine", "prone"])
    p.add_argument("--episodes", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", choices=["primitive", "mesh"], default="primitive", help="collision model")
    p.add_argument("--physics-hz", type=int, choices=[500, 1000], default=500)
    p.add_argument("--split", choices=["train", "test"], default="test")
    p.add_argument("--terrain", choices=["flat", "slope", "rough"], default="flat")
    p.add_argument("--slope-deg", type=float, default=None, help="the slope's angle (default 10)")
    p.add_argument("--roughness-m", type=float, default=None,
                   help="rough ground: heights uniform in +-this (default 0.03; 0 is a flat height field)")
    p.add_argument("--references", choices=["primitive", "mesh"], default="primitive",
                   help="follow the feasible references optimised on this collision model")
    p.add_argument("--prone", choices=["direct", "roll"], default=None,
                   help="from prone: roll onto the back and get up as from supine (HumanUP), or push up directly "
                        "(default: roll with the primitive references, direct with the mesh ones)")
    a = p.parse_args(argv)
    cfg = TeacherConfig.for_references(a.references, a.prone)
    terrain: str | TerrainConfig = a.terrain
    if a.slope_deg is not None or a.roughness_m is not None:
        if a.terrain == "flat":
            p.error("--slope-deg and --roughness-m need --terrain slope or rough")
        try:
            terrain = TerrainConfig(a.terrain, **({"slope_deg": a.slope_deg} if a.slope_deg is not None else {}),
                                    **({"roughness_m": a.roughness_m} if a.roughness_m is not None else {}))
        except ValueError as e:
            p.error(str(e))
    for posture in a.posture:
        print(json.dumps(evaluate_teacher(posture, a.episodes, a.seed, cfg,
                                          split=a.split, variant=a.model, physics_dt=1 / a.physics_hz,
                                          terrain=terrain)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
