"""Rolling over from face down (prone) to face up (supine) on the G1, as HumanUP gets up from prone:
roll over, then get up as from supine.

HumanUP learns a separate rolling-over task (Stage I with gravity-cosine rewards on the base, torso
and knees, then Stage II tracking of it slowed 4x) and counts a roll-over as a success when the
orientation cosine to lying on the back is 0.9 or more (its Table I: 94.4 %). On the CPU path this
module finds the roll-over directly, as an open-loop table of PD targets:

- the targets are a piecewise-linear spline from the prone reference's first targets through
  ``knots`` free knots (every ``knot_s``), then to the supine reference's first targets (the lying
  pose the supine get-up starts from) and held there for ``hold_s``;
- the free knots are searched by the cross-entropy method (all joints, no symmetry: a roll is
  one-sided), each candidate run from ``poses_per_candidate`` training fallen poses drawn afresh
  every iteration, at the cost ``(1 - orientation cosine) + spin_weight * |pelvis angular velocity|``
  at the end: on its back and at rest;
- the search starts from a guess that rolls over the right side: the left shoulder pitches forward
  (the arm pushes the ground), the left hip flexes and the waist twists.

Measured (seed 0, ``python -m robot_learning.tasks.getup.rollover --optimise``, about 1 min on 2
cores): the roll-over lasts 1.74 s and turns 97 % of 100 held-out prone poses onto the back; the
supine teacher started after it stands 96 % of them within the same 10 s episode (``--check 100``).
The teacher (``TeacherConfig.prone_strategy``) plays this table and then the supine get-up, so the
policy cloned from it (``dagger.py``) rolls over first as well.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from robot_learning.robots.g1 import G1_SPEC
from robot_learning.sim.mujoco_batch import G1Batch, G1BatchConfig
from robot_learning.tasks.getup.poses import fallen_pose_dataset
from robot_learning.tasks.getup.rollover_table import SUCCESS_COSINE, RollOver, load_rollover, rollover_path, supine_cosine
from robot_learning.tasks.getup.teacher import GetupTeacher, TeacherConfig
from robot_learning.tasks.getup.trajopt import load_feasible_reference

LOWER = np.asarray(G1_SPEC.position_lower)
UPPER = np.asarray(G1_SPEC.position_upper)
_J = {n: i for i, n in enumerate(G1_SPEC.joint_names)}


@dataclass
class RollOverConfig:
    """The roll-over's shape and its search (see the module docstring)."""

    knots: int = 5
    knot_s: float = 0.24
    settle_s: float = 0.24  # from the last free knot to the supine reference's first targets
    hold_s: float = 0.3  # those targets held (the supine get-up's own start hold follows)
    fps: float = 50.0
    candidates: int = 32
    poses_per_candidate: int = 4
    elites: int = 6
    iterations: int = 30
    init_std: float = 0.4  # rad
    min_std: float = 0.03
    smoothing: float = 0.3  # new mean = (1 - smoothing) * elite mean + smoothing * old mean
    spin_weight: float = 0.05  # per rad/s of pelvis angular velocity at the end
    variant: str = "primitive"
    threads: int | None = None
    seed: int = 0


def initial_guess(cfg: RollOverConfig, start: np.ndarray) -> np.ndarray:
    """(knots, 23) the search's starting mean: the prone start, with the left arm pushing the ground,
    the left hip flexed and the waist twisted from the second knot on."""
    mean = np.repeat(start[None], cfg.knots, 0)
    mean[1:, _J["left_shoulder_pitch_joint"]] = -1.5
    mean[1:, _J["left_hip_pitch_joint"]] = -1.0
    mean[1:, _J["waist_yaw_joint"]] = 0.5
    return mean


def optimise_rollover(cfg: RollOverConfig | None = None, starts: np.ndarray | None = None,
                      log: Callable[[str], None] | None = print) -> RollOver:
    """Search the roll-over's knots from prone fallen poses ``starts`` (K, nq; default: the training split)."""
    cfg = cfg or RollOverConfig()
    rng = np.random.default_rng(cfg.seed)
    if starts is None:
        starts = fallen_pose_dataset(seed=0)["prone"]["train"]  # made in the primitive model, as for every evaluation
    start = load_feasible_reference("prone", cfg.variant).targets[0]
    end = load_feasible_reference("supine", cfg.variant).targets[0]
    steps = [int(round(s * cfg.fps)) for s in (cfg.knot_s, cfg.settle_s, cfg.hold_s)]
    mean = initial_guess(cfg, start)
    std = np.full_like(mean, cfg.init_std)
    C, P = cfg.candidates, cfg.poses_per_candidate
    t0 = time.perf_counter()
    history = []
    with G1Batch(G1BatchConfig(num_envs=C * P, variant=cfg.variant, threads=cfg.threads, seed=cfg.seed)) as b:  # type: ignore[arg-type]
        for it in range(cfg.iterations):
            poses = starts[rng.choice(len(starts), P, replace=False)]
            cands = np.clip(mean[None] + std[None] * rng.standard_normal((C,) + mean.shape), LOWER, UPPER)
            cands[0] = mean
            tables = np.stack([RollOver(cfg.fps, start, c, end, *steps).targets for c in cands])
            b.reset(np.arange(C * P), np.tile(poses, (C, 1)), np.zeros((C * P, b.nv)))
            for t in range(tables.shape[1]):
                b.step(np.repeat(tables[:, t], P, 0))
            cos = supine_cosine(b.qpos[:, 3:7])
            spin = np.linalg.norm(b.qvel[:, 3:6], axis=1)
            cost = ((1 - cos) + cfg.spin_weight * spin).reshape(C, P).mean(1)
            elite = np.argsort(cost)[: cfg.elites]
            mean = (1 - cfg.smoothing) * cands[elite].mean(0) + cfg.smoothing * mean
            std = np.maximum((1 - cfg.smoothing) * cands[elite].std(0) + cfg.smoothing * std, cfg.min_std)
            rolled = float(np.mean(cos.reshape(C, P)[0] >= SUCCESS_COSINE))
            history.append({"iteration": it + 1, "best_cost": round(float(cost[elite[0]]), 4), "mean_cost": round(float(cost[0]), 4),
                            "mean_rolled": rolled})
            if log:
                log(f"it {it + 1:3d}  best cost {cost[elite[0]]:.3f}  mean's cost {cost[0]:.3f}  mean rolls {rolled:.2f}  "
                    f"{time.perf_counter() - t0:.0f} s")
    meta = {"config": asdict(cfg), "seconds": round(time.perf_counter() - t0, 1), "history": history}
    return RollOver(cfg.fps, start, mean, end, *steps, meta=meta)


def evaluate_rollover(roll: RollOver, episodes: int = 100, split: str = "test", variant: str = "primitive",
                      seed: int = 0, then_get_up: bool = True, seconds: float = 10.0) -> dict[str, Any]:
    """From ``episodes`` prone fallen poses: the fraction on the back (orientation cosine >= 0.9) at the
    roll-over's end and, with ``then_get_up``, the fraction standing (head >= 1.1 m) at ``seconds``
    when the supine teacher takes over after the roll (the getting-up teacher's ``roll`` strategy)."""
    starts = fallen_pose_dataset(seed=seed)["prone"][split][:episodes]
    n = len(starts)
    t0 = time.perf_counter()
    out: dict[str, Any] = {"variant": variant, "episodes": n, "roll_s": round(roll.duration_s, 2)}
    with G1Batch(G1BatchConfig(num_envs=n, seed=seed, variant=variant)) as b:  # type: ignore[arg-type]
        b.reset(np.arange(n), starts, np.zeros((n, b.nv)))
        if then_get_up:
            cfg = TeacherConfig.for_references(variant, "roll")
            teacher = GetupTeacher(b.model, load_feasible_reference("prone", variant), "prone", n, b.dt, cfg, roll=roll)
        targets = roll.targets
        for t in range(int(round(seconds / b.dt)) if then_get_up else len(targets)):
            b.step(teacher.targets(b.qpos, b.qvel) if then_get_up else np.repeat(targets[t][None], n, 0))
            if t + 1 == len(targets):
                rolled = supine_cosine(b.qpos[:, 3:7]) >= SUCCESS_COSINE
        out["rolled_over"] = float(rolled.mean())
        if then_get_up:
            head = b.sensor("head_pos")[:, 2]
            out["stood"] = float(np.mean(head >= 1.1))
            out["stood_given_rolled"] = float(np.mean(head[rolled] >= 1.1)) if rolled.any() else 0.0
    out["wall_clock_s"] = round(time.perf_counter() - t0, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Search (--optimise) or check (--check N) the G1's open-loop roll-over from prone")
    p.add_argument("--optimise", action="store_true", help="search the knots (writes --out)")
    p.add_argument("--check", type=int, default=0, metavar="N", help="roll over (and get up) from N held-out prone poses")
    p.add_argument("--model", choices=["primitive", "mesh"], default="primitive", help="collision model")
    p.add_argument("--iterations", type=int, default=RollOverConfig.iterations)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="output .npz (default: the shipped file of --model)")
    p.add_argument("--roll", type=Path, default=None, help="the roll-over to check (default: the shipped one of --model)")
    a = p.parse_args(argv)
    if not a.optimise and a.check <= 0:
        p.error("give --optimise, --check N or both")
    roll = None
    if a.optimise:
        roll = optimise_rollover(RollOverConfig(iterations=a.iterations, variant=a.model, threads=a.threads, seed=a.seed))
        out = roll.save_npz(a.out or rollover_path(a.model))
        print(f"wrote {out}: {roll.duration_s:.2f} s")
    if a.check > 0:
        roll = roll or load_rollover(a.roll or a.model)
        print(json.dumps(evaluate_rollover(roll, a.check, variant=a.model, seed=a.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
