"""A closed-loop privileged teacher for getting up: sampling-based model-predictive control on MuJoCo.

:class:`GetupMPC` plans *corrections around* the open-loop teacher (:class:`~robot_learning.tasks.getup.teacher.GetupTeacher`:
its time-indexed table of PD targets plus its tilt and COM feedback). Every ``replan_s`` of
simulated time, from the robot's true state and with the episode's own model (friction, masses,
COM, motor strength, action delay and ground: privileged), it rolls out ``samples`` candidate plans
over ``horizon_s``; a plan is a piecewise-linear spline of PD-target offsets with ``knots`` knots
added to the teacher's closed-loop targets (the teacher's feedback runs inside every rollout, one
policy step at a time). The cheapest plan (predictive sampling, ``iterations`` rounds of resampling
around the best so far, and up to ``rescue_iterations`` more with ``rescue_noise_rad`` for the robots
whose best plan still predicts a fall, cost above ``rescue_cost``) is executed until the next
replan. The candidates always include the previous plan shifted in time (warm start) and the
teacher alone (zero offsets), and a plan replaces the teacher alone only when it is predicted
cheaper by ``min_gain``: where the teacher is on course the MPC is the teacher (in the nominal
simulator random offsets almost never pay; an MPC that took any predicted gain and kept its offsets
drifted off the teacher's course and fell in the squat or after standing: see the README), and it acts when a
rollout of the teacher alone predicts trouble (a push, high friction, a slope).

The cost is HumanUP's task and regularisation terms as named functions (:func:`head_deficit_cost`,
:func:`upright_deficit_cost`, :func:`height_reward`, :func:`com_over_feet_cost`,
:func:`torque_cost`, :func:`torque_limit_cost`, :func:`joint_limit_cost`, :func:`energy_cost`,
:func:`action_rate_cost`, :func:`joint_tracking_cost`, :func:`gravity_tracking_cost`,
:func:`offset_cost`), weighted by :class:`MPCCostWeights`. The height and uprightness terms are
one-sided deficits against the teacher's nominal course (the median head height and torso
uprightness of the teacher's own successful get-ups in the nominal simulator, per policy step):
Stage II's head and body tracking, where being ahead of schedule costs nothing; the joints and the
pelvis's attitude track that course too (Stage II's joint tracking), and while the teacher rises
the capture point is kept over the feet (with each robot's own mass and COM).

Rollouts run on a :class:`~robot_learning.sim.mujoco_batch.G1Batch` of ``robots x samples``
environments (``mujoco.rollout`` on a thread pool over all cores) whose per-environment models are
the robots' own.

    python -m robot_learning.tasks.getup.mpc --posture supine --episodes 10 --dr all [--terrain slope] [--out benchmarks/results/getup_mpc.json]

runs the open-loop teacher and the MPC side by side on the same held-out poses and randomisation
(the training environment's Stage II machinery, :mod:`robot_learning.tasks.getup.env`) and prints
JSON; the figures are in the README's getup section and ``benchmarks/results/getup_mpc.json``.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import mujoco
import numpy as np

from robot_learning.core.checks import check
from robot_learning.core.config import FieldError
from robot_learning.robots.g1 import G1_SPEC
from robot_learning.runtime.joint_controller import projected_gravity
from robot_learning.sim.mujoco_batch import G1Batch, G1BatchConfig
from robot_learning.sim.terrain import TerrainConfig
from robot_learning.tasks.getup.balance import ComBalance
from robot_learning.tasks.getup.poses import fallen_pose_dataset
from robot_learning.tasks.getup.teacher import GetupTeacher, TeacherConfig
from robot_learning.tasks.getup.trajopt import load_feasible_reference

N_JOINTS = len(G1_SPEC.joint_names)
LOWER = G1_SPEC.array("position_lower")
UPPER = G1_SPEC.array("position_upper")
EFFORT = G1_SPEC.array("effort_limit")


# ------------------------------------------------------------------ cost terms (HumanUP's, as costs)
def head_deficit_cost(head: np.ndarray, nominal: np.ndarray) -> np.ndarray:
    """Squared metres of head height below the nominal course (Stage II's head tracking, one-sided)."""
    return np.clip(nominal - head, 0.0, None) ** 2


def upright_deficit_cost(up: np.ndarray, nominal: np.ndarray) -> np.ndarray:
    """Squared shortfall of the torso's uprightness (z of its z axis) below the nominal course
    (Stage II's body-up tracking, one-sided)."""
    return np.clip(nominal - up, 0.0, None) ** 2


def joint_tracking_cost(q: np.ndarray, nominal: np.ndarray) -> np.ndarray:
    """Squared joint error (rad^2) to the nominal course's joints (Stage II's joint tracking)."""
    return np.sum((q - nominal) ** 2, -1)


def gravity_tracking_cost(gravity: np.ndarray, nominal: np.ndarray) -> np.ndarray:
    """Squared error of the gravity direction in the pelvis frame to the nominal course's (the
    attitude part of tracking the teacher's motion)."""
    return np.sum((gravity - nominal) ** 2, -1)


def height_reward(height: np.ndarray, cap: float) -> np.ndarray:
    """Stage I's head/base height term: exp(clip(h, 0, cap)) - 1 (a reward: subtract it)."""
    return np.exp(np.clip(height, 0.0, cap)) - 1.0


def com_over_feet_cost(offset: np.ndarray, velocity: np.ndarray, time_constant: float = 0.3) -> np.ndarray:
    """Squared metres of the horizontal capture point's offset from the soles' centre: the COM's
    offset plus its velocity times ``time_constant`` (about sqrt(h / g) of a standing G1), (N, 2)
    each in the feet's frame (HumanUP's feet-under-the-body terms, as one)."""
    return np.sum((offset + time_constant * velocity) ** 2, -1)


def torque_cost(tau: np.ndarray) -> np.ndarray:
    return np.sum(tau**2, -1)


def torque_limit_cost(tau: np.ndarray) -> np.ndarray:
    """N m over 90 % of the effort limits."""
    return np.sum(np.clip(np.abs(tau) - 0.9 * EFFORT, 0.0, None), -1)


def joint_limit_cost(q: np.ndarray) -> np.ndarray:
    """rad outside the joint ranges."""
    return np.sum(np.clip(LOWER - q, 0.0, None) + np.clip(q - UPPER, 0.0, None), -1)


def energy_cost(tau: np.ndarray, qd: np.ndarray) -> np.ndarray:
    return np.sum(np.abs(tau * qd), -1)


def offset_cost(offsets: np.ndarray) -> np.ndarray:
    """Squared PD-target offsets from the teacher (rad^2): the teacher is the prior, a deviation must
    pay for itself."""
    return np.sum(offsets**2, -1)


def action_rate_cost(targets: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Squared change of the PD targets from one policy step to the next (rad^2)."""
    return np.sum((targets - previous) ** 2, -1)


@dataclass
class MPCCostWeights:
    """Weights of the cost terms (per policy step; the last step of the horizon counts ``terminal``
    times for the task terms). Regulariser weights follow ``RewardWeightsStage2``'s scale."""

    head_deficit: float = 50.0  # per m^2 below the nominal head course
    upright_deficit: float = 10.0
    joint_tracking: float = 2.0  # per rad^2 of joint error to the nominal course
    gravity_tracking: float = 10.0  # per unit^2 of gravity-direction error (pelvis frame) to the nominal course
    head_height: float = 0.5  # Stage I's exp height terms, as rewards
    base_height: float = 0.5
    com_over_feet: float = 1000.0  # per m^2 of capture-point offset, while the teacher is rising
    torques: float = 3e-6
    torque_limits: float = 0.2
    joint_limits: float = 5.0
    energy: float = 1e-4
    action_rate: float = 0.2  # per rad^2 of PD-target change (Stage II: 0.05 per action unit^2 = 0.5 rad)
    offset: float = 0.5  # per rad^2 of offset from the teacher's targets
    terminal: float = 5.0

    def __post_init__(self) -> None:
        check(self, non_negative=tuple(f for f in self.__dataclass_fields__))


@dataclass
class MPCConfig:
    """The sampler. ``samples`` candidate plans per robot and iteration (two of them are the warm
    start and the teacher alone), ``knots`` spline knots over ``horizon_s``, a new plan every
    ``replan_s``; offsets are drawn with std ``noise_rad`` around the best plan so far."""

    samples: int = 8
    knots: int = 3
    horizon_s: float = 0.6
    replan_s: float = 0.1
    noise_rad: float = 0.15
    iterations: int = 1
    max_offset_rad: float = 0.6  # offsets are clipped to +- this
    # while the best plan is predicted to cost more than rescue_cost (a fall ahead), up to
    # rescue_iterations more rounds with rescue_noise_rad around the best so far
    rescue_cost: float = 100.0
    rescue_iterations: int = 3
    rescue_noise_rad: float = 0.3
    min_gain: float = 5.0  # a plan replaces the teacher alone only if it is predicted cheaper by this much
    nominal_poses: int = 8  # training fallen poses whose teacher get-ups make the nominal course
    nominal_s: float = 20.0  # length of the nominal course (held at its last value after)
    threads: int = 0  # rollout threads; 0: all cores
    seed: int = 0
    weights: MPCCostWeights = field(default_factory=MPCCostWeights)

    def __post_init__(self) -> None:
        check(self, positive=("horizon_s", "replan_s", "noise_rad", "iterations", "max_offset_rad", "nominal_poses",
                              "nominal_s"), non_negative=("threads", "seed", "min_gain", "rescue_cost", "rescue_iterations",
                                                                          "rescue_noise_rad"), at_least={"samples": 2, "knots": 2})
        if self.replan_s > self.horizon_s:
            raise FieldError("replan_s", f"must be <= horizon_s ({self.horizon_s}), got {self.replan_s}")


def _teacher_targets(teacher: GetupTeacher, step: np.ndarray, qpos: np.ndarray, qvel: np.ndarray,
                     offsets: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The teacher's targets for robots at policy steps ``step`` (any number of robots)."""
    teacher.step = np.asarray(step, dtype=np.int64).copy()
    return teacher.targets(qpos, qvel, offsets)


def nominal_course(posture: str, teacher_cfg: TeacherConfig, variant: str = "primitive", poses: int = 8,
                   seconds: float = 20.0, physics_dt: float = 0.002, decimation: int = 10, seed: int = 0
                   ) -> dict[str, np.ndarray]:
    """Per policy step: head height ``head`` (steps,), torso uprightness ``up`` (steps,), joints
    ``joints`` (steps, 23) and gravity direction in the pelvis frame ``gravity`` (steps, 3); the median over the
    teacher's successful get-ups (head >= 1.1 m at the end; all if none) from ``poses`` training
    fallen poses in the nominal simulator on flat ground."""
    starts = fallen_pose_dataset(seed=seed)[posture]["train"][:poses]
    ref = load_feasible_reference(posture, teacher_cfg.reference_model)
    with G1Batch(G1BatchConfig(num_envs=len(starts), variant=variant, physics_dt=physics_dt, decimation=decimation,
                               seed=seed)) as b:
        teacher = GetupTeacher(b.model, ref, posture, len(starts), b.dt, teacher_cfg)
        b.reset(np.arange(len(starts)), starts)
        steps = int(round(seconds / b.dt))
        head, up = np.zeros((steps, len(starts))), np.zeros((steps, len(starts)))
        joints, gravity = np.zeros((steps, len(starts), N_JOINTS)), np.zeros((steps, len(starts), 3))
        for k in range(steps):
            b.step(teacher.targets(b.qpos, b.qvel))
            head[k], up[k] = b.sensor("head_pos")[:, 2], b.sensor("torso_zaxis")[:, 2]
            joints[k], gravity[k] = b.joint_pos, projected_gravity(b.base_quat)
    ok = head[int(round(10.0 / b.dt)) - 1] >= 1.1
    ok = ok if ok.any() else np.ones_like(ok)
    return {"head": np.median(head[:, ok], 1), "up": np.median(up[:, ok], 1), "joints": np.median(joints[:, ok], 1),
            "gravity": np.median(gravity[:, ok], 1)}


class GetupMPC:
    """The closed-loop teacher for ``n`` robots of one posture (see the module docstring).

    :meth:`reset` gives robots their models (each episode's own, randomised one), action delay and
    a fresh plan; :meth:`act` returns their PD targets for the state ``(qpos, qvel)`` at ``t``
    seconds since their episode started, replanning where ``replan_s`` has passed since the last
    plan (or the state's time is not where the plan expects it: any visited state can be labelled)."""

    def __init__(self, model: mujoco.MjModel, posture: str, n: int, cfg: MPCConfig | None = None,
                 teacher_cfg: TeacherConfig | None = None, variant: str = "primitive", physics_dt: float = 0.002,
                 decimation: int = 10, terrain: TerrainConfig | None | Sequence[TerrainConfig | None] = None) -> None:
        """``model``: the nominal compiled model (the teacher's kinematics); ``terrain``: the ground of
        every robot, or one per robot (None: flat), for heights above it (the physics of the ground
        is in each robot's model, :meth:`reset`)."""
        self.cfg = c = cfg or MPCConfig()
        self.n, self.posture = n, posture
        self.teacher_cfg = tc = teacher_cfg or TeacherConfig.for_references(variant)
        self.dt = physics_dt * decimation
        self.decimation = decimation
        ref = load_feasible_reference(posture, tc.reference_model)
        self.teacher = GetupTeacher(model, ref, posture, n, self.dt, tc)
        self.horizon = max(1, int(round(c.horizon_s / self.dt)))
        self.replan_steps = max(1, int(round(c.replan_s / self.dt)))
        # piecewise-linear interpolation of the knots at every policy step of the horizon
        knot_t = np.linspace(0.0, self.horizon - 1, c.knots)
        self.spline = np.stack([np.interp(np.arange(self.horizon), knot_t, np.eye(c.knots)[j]) for j in range(c.knots)], 1)
        self.knot_t = knot_t
        #: the teacher's nominal course (see :func:`nominal_course`)
        self.nominal = nominal_course(posture, tc, variant, c.nominal_poses, c.nominal_s, physics_dt, decimation, c.seed)
        self.rng = np.random.default_rng(c.seed)
        self._batch_cfg = G1BatchConfig(num_envs=n * c.samples, variant=variant, physics_dt=physics_dt,
                                        decimation=decimation, threads=c.threads or None)
        grounds = list(terrain) if isinstance(terrain, (list, tuple)) else [terrain] * n
        if len(grounds) != n:
            raise ValueError(f"one terrain per robot: {n} robots, {len(grounds)} terrains")
        self.grounds = [g if g is not None and g.kind != "flat" else None for g in grounds]
        # rollout batches by number of environments (robots x samples; rescues plan a subset of robots)
        self._batches: dict[int, G1Batch] = {}
        self.models: list[mujoco.MjModel] = [model] * n
        # the teacher's COM feedback with each robot's own model (privileged: its mass and COM)
        self.balances: list[ComBalance] = [self.teacher.balance] * n
        self.delay = np.zeros(n, dtype=np.int64)
        self.plan = np.zeros((n, c.knots, N_JOINTS))  # knot offsets of each robot's current plan
        self.plan_step = np.full(n, -10**9, dtype=np.int64)  # the policy step each plan starts at
        self.prev_targets = np.tile(G1_SPEC.array("default_positions"), (n, 1))
        self.replans = np.zeros(n, dtype=np.int64)
        self.iterations = np.zeros(n, dtype=np.int64)  # sampling rounds run (rescues included)
        self.last_costs: np.ndarray = np.zeros((n, c.samples))

    def close(self) -> None:
        for b in self._batches.values():
            b.close()
        self._batches.clear()

    def _batch(self, num_envs: int) -> G1Batch:
        if num_envs not in self._batches:
            self._batches[num_envs] = G1Batch(dataclasses.replace(self._batch_cfg, num_envs=num_envs))
        return self._batches[num_envs]

    def __enter__(self) -> "GetupMPC":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self, ids: np.ndarray | None = None, models: list[mujoco.MjModel] | None = None,
              delay_substeps: np.ndarray | None = None, joint_pos: np.ndarray | None = None) -> None:
        """Start robots ``ids`` (None: all) over with ``models`` (one per id; None: keep), actuator
        delay ``delay_substeps`` (physics steps the previous targets still act; None: 0) and the
        previous targets of the first step ``joint_pos`` (None: the default pose)."""
        ids = np.arange(self.n) if ids is None else np.asarray(ids, dtype=np.int64).reshape(-1)
        if models is not None:
            if len(models) != len(ids):
                raise ValueError(f"one model per robot: {len(ids)} ids, {len(models)} models")
            for i, m in zip(ids, models):
                self.models[i] = m
                self.balances[i] = ComBalance(m, self.teacher_cfg.balance)
        self.delay[ids] = 0 if delay_substeps is None else np.asarray(delay_substeps)
        if np.any(self.delay >= self.decimation):
            raise ValueError(f"delay_substeps must be < decimation ({self.decimation})")
        self.plan[ids] = 0.0
        self.plan_step[ids] = -10**9
        self.replans[ids] = 0
        self.iterations[ids] = 0
        self.prev_targets[ids] = G1_SPEC.array("default_positions") if joint_pos is None else joint_pos

    # ------------------------------------------------------------------ planning
    def _offsets(self, knots: np.ndarray, h: np.ndarray | int) -> np.ndarray:
        """Offsets at horizon step(s) ``h`` of plans ``knots`` (..., knots, 23)."""
        w = self.spline[np.minimum(h, self.horizon - 1)]
        return np.einsum("...k,...kj->...j", w, knots) if np.ndim(h) else np.einsum("k,...kj->...j", w, knots)

    def _shifted(self, ids: np.ndarray, step: np.ndarray) -> np.ndarray:
        """The current plans of ``ids`` moved to start at ``step`` (beyond their end: zero, the teacher)."""
        out = np.zeros((len(ids), self.cfg.knots, N_JOINTS))
        for j, i in enumerate(ids):
            t = self.knot_t + (step[j] - self.plan_step[i])
            if self.plan_step[i] < 0 or t[0] >= self.horizon:
                continue
            for d in range(N_JOINTS):
                out[j, :, d] = np.interp(t, self.knot_t, self.plan[i, :, d], right=0.0)
        return out

    def _com_offsets(self, robot: np.ndarray, rising: np.ndarray, qpos: np.ndarray, qvel: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, 2) COM offsets from the feet and COM velocities (feet frame) of rows of robots
        ``robot`` (rows,), each with its own model; zero where not ``rising``."""
        e, ev = np.zeros((len(qpos), 2)), np.zeros((len(qpos), 2))
        for i in np.unique(robot[rising]):
            rows = rising & (robot == i)
            e[rows], ev[rows] = self.balances[i].offsets(qpos[rows], qvel[rows])
        return e, ev

    def _height(self, pos: np.ndarray, robot: np.ndarray) -> np.ndarray:
        """(rows,) heights of world points ``pos`` (rows, 3) above the ground of robots ``robot``."""
        out = pos[:, 2].copy()
        for i in np.unique(robot):
            g = self.grounds[i]
            if g is not None:
                rows = robot == i
                out[rows] -= g.ground_height(pos[rows, :2])
        return out

    def rollout_costs(self, ids: np.ndarray, qpos: np.ndarray, qvel: np.ndarray, step: np.ndarray,
                      candidates: np.ndarray) -> np.ndarray:
        """(len(ids), samples) cost of each candidate plan (len(ids), samples, knots, 23) from the
        robots' states at policy steps ``step``, simulated with their own models."""
        c, w = self.cfg, self.cfg.weights
        S, R = c.samples, len(ids)
        b = self._batch(R * S)
        for r, i in enumerate(ids):
            b.models[r * S:(r + 1) * S] = [self.models[i]] * S
        b.reset(np.arange(R * S), np.repeat(qpos, S, 0), np.repeat(qvel, S, 0))
        k = np.repeat(step, S)
        robot = np.repeat(ids, S)
        delay = np.repeat(self.delay[ids], S)
        prev = np.repeat(self.prev_targets[ids], S, 0)
        flat = candidates.reshape(R * S, c.knots, N_JOINTS)
        cost = np.zeros(R * S)
        late = np.arange(self.decimation)[None, :] < delay[:, None]
        for h in range(self.horizon):
            kk = k + h
            q, v = b.qpos.copy(), b.qvel.copy()
            self.teacher.step = kk
            rising = self.teacher.rising
            com = self._com_offsets(robot, rising, q, v)
            cost += w.com_over_feet * com_over_feet_cost(com[0], com[1]) * rising
            off = self._offsets(flat, h)
            cost += w.offset * offset_cost(off)
            targets = np.clip(_teacher_targets(self.teacher, kk, q, v, com) + off, LOWER, UPPER)
            sub = np.repeat(targets[:, None], self.decimation, 1)
            if late.any():
                sub[late] = np.repeat(prev[:, None], self.decimation, 1)[late]
            b.step_substeps(sub)
            tau, jq, jv = b.actuator_force, b.joint_pos, b.joint_vel
            cost += (w.torques * torque_cost(tau) + w.torque_limits * torque_limit_cost(tau) + w.joint_limits * joint_limit_cost(jq)
                     + w.energy * energy_cost(tau, jv) + w.action_rate * action_rate_cost(targets, prev))
            prev = targets
            head = self._height(b.sensor("head_pos"), robot)
            base = self._height(b.base_pos, robot)
            up = b.sensor("torso_zaxis")[:, 2]
            nom = {name: v[np.minimum(kk, len(v) - 1)] for name, v in self.nominal.items()}
            task = (w.head_deficit * head_deficit_cost(head, nom["head"]) + w.upright_deficit * upright_deficit_cost(up, nom["up"])
                    + w.joint_tracking * joint_tracking_cost(jq, nom["joints"])
                    + w.gravity_tracking * gravity_tracking_cost(projected_gravity(b.base_quat), nom["gravity"])
                    - w.head_height * height_reward(head, 1.2) - w.base_height * height_reward(base, 0.75))
            cost += task * (w.terminal if h == self.horizon - 1 else 1.0)
        cost = np.where(np.isfinite(cost), cost, np.inf)
        return cost.reshape(R, S)

    def replan(self, ids: np.ndarray, qpos: np.ndarray, qvel: np.ndarray, step: np.ndarray) -> None:
        """New plans for robots ``ids`` from their states at policy steps ``step``."""
        c = self.cfg
        best = self._shifted(ids, step)
        best_cost = np.full(len(ids), np.inf)
        teacher_cost = np.full(len(ids), np.inf)
        for it in range(c.iterations + c.rescue_iterations):
            # the first rounds for every robot, the rescue rounds for those with a fall ahead
            todo = np.arange(len(ids)) if it < c.iterations else np.flatnonzero(best_cost > c.rescue_cost)
            if todo.size == 0:
                break
            scale = c.noise_rad if it < c.iterations else c.rescue_noise_rad
            noise = self.rng.normal(0.0, scale, (todo.size, c.samples, c.knots, N_JOINTS))
            cand = np.clip(best[todo][:, None] + noise, -c.max_offset_rad, c.max_offset_rad)
            cand[:, 0] = best[todo]  # the warm start (the best so far)
            if it == 0:
                cand[:, 1] = 0.0  # the teacher alone
            costs = self.rollout_costs(ids[todo], qpos[todo], qvel[todo], step[todo], cand)
            j = np.argmin(costs, 1)
            pick, pick_cost = cand[np.arange(todo.size), j], costs[np.arange(todo.size), j]
            better = pick_cost < best_cost[todo]
            best[todo[better]] = pick[better]
            best_cost[todo] = np.minimum(pick_cost, best_cost[todo])
            if it == 0:
                teacher_cost = costs[:, 1]
            self.last_costs[ids[todo]] = costs
            self.iterations[ids[todo]] += 1
        # the teacher alone unless a plan is predicted cheaper by min_gain
        keep = best_cost > teacher_cost - c.min_gain
        best[keep] = 0.0
        self.plan[ids] = best
        self.plan_step[ids] = step
        self.replans[ids] += 1

    def act(self, qpos: np.ndarray, qvel: np.ndarray, t: np.ndarray | float) -> np.ndarray:
        """(n, 23) PD targets for the robots' states ``qpos`` (n, nq), ``qvel`` (n, nv) at ``t``
        seconds since their episodes started (replanning all robots when any is due)."""
        qpos, qvel = np.atleast_2d(qpos), np.atleast_2d(qvel)
        step = np.broadcast_to(np.round(np.asarray(t, dtype=np.float64) / self.dt).astype(np.int64), (self.n,)).copy()
        since = step - self.plan_step
        if np.any((since >= self.replan_steps) | (since < 0)):
            self.replan(np.arange(self.n), qpos, qvel, step)
            since = step - self.plan_step
        offsets = self._offsets(self.plan, since)
        self.teacher.step = step
        com = self._com_offsets(np.arange(self.n), self.teacher.rising, qpos, qvel)
        out = np.clip(_teacher_targets(self.teacher, step, qpos, qvel, com) + offsets, LOWER, UPPER)
        self.prev_targets[:] = out
        return out


# ------------------------------------------------------------------ evaluation: MPC beside the open-loop teacher
#: --dr: the DomainRandomization fields each choice keeps at the config's (HumanUP Stage II) range;
#: every other factor is set to nominal
DR_FACTORS: dict[str, tuple[str, ...]] = {
    "none": (), "friction": ("friction",), "mass": ("base_mass_delta_kg",), "com": ("com_offset_m",),
    "motor": ("motor_strength",), "delay": ("action_delay_s",), "push": ("push_max_speed",),
    "all": ("friction", "base_mass_delta_kg", "com_offset_m", "motor_strength", "action_delay_s", "push_max_speed", "obs_noise"),
}
_NOMINAL_DR = dict(friction=(1.0, 1.0), base_mass_delta_kg=(0.0, 0.0), com_offset_m=0.0, motor_strength=(1.0, 1.0),
                   action_delay_s=0.0, push_max_speed=0.0, obs_noise=0.0)


def make_eval_env(posture: str, episodes: int, dr: str, terrain: str, model: str, seed: int) -> Any:
    """The training environment (held-out fallen poses, fallen starts only) with ``dr``'s factors."""
    from robot_learning.tasks.getup.dagger import _fallen_starts_only
    from robot_learning.tasks.getup.module import load_config
    from robot_learning.tasks.getup.train import make_env

    cfg = load_config(None, num_envs=episodes, posture=posture, seed=seed, model=model, terrain=terrain)
    cfg.env.dr.enabled = dr != "none"
    for key, value in _NOMINAL_DR.items():
        if key not in DR_FACTORS[dr]:
            setattr(cfg.env.dr, key, value)
    env, _ = make_env(cfg, num_envs=episodes, held_out=True)
    _fallen_starts_only(env)
    return env


def run_teacher(posture: str, episodes: int, dr: str, terrain: str, model: str, seed: int) -> dict[str, Any]:
    """The open-loop teacher (``TeacherForEnv``) on the episodes :func:`run_mpc` runs."""
    from robot_learning.tasks.getup.dagger import TeacherForEnv, collect

    env = make_eval_env(posture, episodes, dr, terrain, model, seed)
    t0 = time.perf_counter()
    try:
        success = collect(env, TeacherForEnv(env), None, 1.0, np.random.default_rng(seed))[2]
    finally:
        env.batch.close()
    return {"success_rate": success, "wall_s": round(time.perf_counter() - t0, 1)}


def run_mpc(posture: str, episodes: int, dr: str, terrain: str, model: str, seed: int, cfg: MPCConfig) -> dict[str, Any]:
    """The MPC on ``episodes`` held-out poses: success (head >= 1.1 m at the end of the 10 s episode),
    wall time, replans."""
    env = make_eval_env(posture, episodes, dr, terrain, model, seed)
    b = env.batch
    try:
        with GetupMPC(b.model, posture, env.n, cfg, TeacherConfig.for_references(env.cfg.reference_model), env.cfg.variant,
                      env.cfg.physics_dt, env.cfg.decimation, b.terrains) as mpc:
            t0 = time.perf_counter()
            env.reset()
            mpc.reset(models=list(b.models), delay_substeps=env.delay if env.randomizing else None, joint_pos=b.joint_pos.copy())
            success = np.zeros(env.n, dtype=bool)
            head = np.zeros(env.n)
            for k in range(env.max_steps):
                targets = mpc.act(b.qpos, b.qvel, k * env.dt)
                _, _, _, done, info = env.step(env.action_for_targets(targets))
                if "episodes" in info:
                    success[info["done_ids"]] = info["episodes"].success
                    head[info["done_ids"]] = info["episodes"].head_height
            wall = time.perf_counter() - t0
            replans = int(mpc.replans.max())
            iterations = float(mpc.iterations.mean())
    finally:
        b.close()
    sim_s = env.max_steps * env.dt
    return {"success_rate": float(success.mean()), "median_final_head_m": round(float(np.median(head)), 3),
            "wall_s": round(wall, 1), "wall_s_per_episode": round(wall / env.n, 2),
            "wall_s_per_simulated_s": round(wall / sim_s, 2), "wall_s_per_robot_simulated_s": round(wall / (sim_s * env.n), 3),
            "replans_per_episode": replans, "sampling_rounds_per_episode": round(iterations, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="The MPC teacher beside the open-loop teacher on held-out fallen poses (JSON)")
    p.add_argument("--posture", choices=["supine", "prone"], default="supine")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--dr", choices=sorted(DR_FACTORS), default="none")
    p.add_argument("--terrain", choices=["flat", "slope", "rough"], default="flat")
    p.add_argument("--model", choices=["primitive", "mesh"], default="primitive")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=int, default=None)
    p.add_argument("--horizon-s", type=float, default=None)
    p.add_argument("--iterations", type=int, default=None)
    p.add_argument("--out", type=Path, default=None, help="add this run to a JSON file of runs (keyed by condition)")
    a = p.parse_args(argv)
    if a.episodes < 1:
        p.error("--episodes must be >= 1")
    over = {k: v for k, v in (("samples", a.samples), ("horizon_s", a.horizon_s), ("iterations", a.iterations)) if v is not None}
    cfg = MPCConfig(seed=a.seed, **over)
    key = f"{a.posture} {a.model} dr={a.dr} terrain={a.terrain}"
    teacher = run_teacher(a.posture, a.episodes, a.dr, a.terrain, a.model, a.seed)
    mpc = run_mpc(a.posture, a.episodes, a.dr, a.terrain, a.model, a.seed, cfg)
    cfg_dict = {k: v for k, v in vars(copy.deepcopy(cfg)).items() if k != "weights"}
    out = {"condition": key, "posture": a.posture, "model": a.model, "dr": a.dr, "terrain": a.terrain, "episodes": a.episodes,
           "seed": a.seed, "open_loop_teacher": teacher, "mpc_teacher": mpc, "mpc_config": cfg_dict,
           "command": "python -m robot_learning.tasks.getup.mpc " + " ".join(argv if argv is not None else __import__("sys").argv[1:])}
    print(json.dumps(out), flush=True)
    if a.out:
        runs = json.loads(a.out.read_text()) if a.out.exists() else {}
        runs[key] = out
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(runs, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
