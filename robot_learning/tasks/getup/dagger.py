"""Clone the privileged getting-up teacher (``teacher.py``) into a policy with DAgger: the CPU path
of Stage II (``robot-learning train getup``, ``method: dagger``).

Each iteration runs every environment for one 10 s episode from a training fallen pose, driven by
the teacher (probability ``beta``, per episode) or by the current policy; every state is labelled
with the teacher's action there. The policy is refitted by mean-squared error on everything gathered
so far. It sees only the paper's observation (and the time input); the teacher's COM, feet and
phase are not in it.

The policy is the teacher's feedforward table, looked up by the time input inside the exported
actor, plus the PPO module's actor (observation normaliser and MLP) as a residual that starts at
zero (``DaggerConfig.residual``): the network learns only the teacher's feedback, which the
observation determines (the COM's offset from the feet follows from the joint angles and the
attitude). The residual is gated (``DaggerConfig.gate_residual``) by the teacher's
:meth:`~robot_learning.tasks.getup.teacher.GetupTeacher.feedback_mask`, a second time-indexed table
exported with the actor: where the teacher's targets do not depend on the state (the supine sit-up
before the hand-over, the prone joints without tilt feedback) the policy is the table exactly, and
the network's errors there cannot push a robot off the motion. On the supine posture it made no
measurable difference (100 held-out poses, in the training simulator / through the runtime: gated
84 % / 88 %, not gated 86 % / 83 %; the teacher 84 %): the clone already matched its teacher, and
the gap to the teacher that earlier runs showed came from the runtime's torque limiter (see
``runtime/profiles.py``). A plain MLP clone of the same teacher stood none of the held-out poses: with the last
action in its observation it learnt to repeat it (copying the last action is the best single
predictor of a smooth teacher), and it never sat up.
"""
from __future__ import annotations

import copy
import importlib
import time
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np
import torch

from robot_learning.algos.ppo import Actor, ResidualActor, TimedFeedforward
from robot_learning.core.config import ConfigError
from robot_learning.core.seeding import seed_everything
from robot_learning.tasks.getup.config import DaggerConfig, GetupTrainConfig
from robot_learning.tasks.getup.env import N_JOINTS, TIME_TERM, GetupEnv
from robot_learning.tasks.getup.teacher import GetupTeacher, TeacherConfig
from robot_learning.tasks.getup.train import evaluate_actor, fit_actor, make_env


@runtime_checkable
class Labeller(Protocol):
    """A teacher that labels states for DAgger: the action (``joint_position_offset`` units, (num_envs,
    23)) it would take in each of ``env``'s robots now, from the simulator's full state; ``reset``
    is called with the robots whose episode (re)started."""

    def reset(self, ids: np.ndarray | None = None) -> None: ...

    def label(self, env: GetupEnv) -> np.ndarray: ...


class TeacherForEnv:
    """One :class:`GetupTeacher` per posture over all the environment's robots; kept in step with
    the environment's resets. The ``scripted`` :class:`Labeller`."""

    def __init__(self, env: GetupEnv, cfg: TeacherConfig | None = None, prone_strategy: str | None = None) -> None:
        """``prone_strategy`` (with ``cfg`` None): "roll" or "direct"; None: the default for the model."""
        b = env.batch
        self.env = env
        cfg = cfg or TeacherConfig.for_references(env.cfg.reference_model, prone_strategy)
        self.teachers = {p: GetupTeacher(b.model, env.refs[p], p, env.n, env.dt, cfg) for p in env.postures}

    def reset(self, ids: np.ndarray | None = None) -> None:
        for t in self.teachers.values():
            t.reset(ids)

    def action(self) -> np.ndarray:
        env, b = self.env, self.env.batch
        # the COM offsets (a kinematics pass per robot) only once someone rises, and once for both postures
        rising = any(t.rising.any() for t in self.teachers.values())
        offsets = next(iter(self.teachers.values())).balance.offsets(b.qpos, b.qvel) if rising else None
        targets = np.zeros((env.n, N_JOINTS))
        for pi, p in enumerate(env.postures):
            t = self.teachers[p].targets(b.qpos, b.qvel, offsets)
            mine = env.posture == pi
            targets[mine] = t[mine]
        return env.action_for_targets(targets)

    def label(self, env: GetupEnv) -> np.ndarray:
        """:meth:`action` (the :class:`Labeller` protocol); ``env`` must be the one it was made for."""
        if env is not self.env:
            raise ValueError("this teacher labels the environment it was made for")
        return self.action()

    def feedforward(self) -> np.ndarray:
        """(steps, 23) the single posture's feedforward table as actions."""
        if len(self.teachers) != 1:
            raise ValueError("a residual policy is for one posture: set env.posture to supine or prone")
        return self.env.action_for_targets(next(iter(self.teachers.values())).table)

    def feedback_mask(self) -> np.ndarray:
        """(steps, 23) the single posture's :meth:`GetupTeacher.feedback_mask`."""
        if len(self.teachers) != 1:
            raise ValueError("a residual policy is for one posture: set env.posture to supine or prone")
        return next(iter(self.teachers.values())).feedback_mask()


MPC_MODULE = "robot_learning.tasks.getup.mpc"


def make_labeller(name: str, env: GetupEnv, prone_strategy: str | None = None) -> Labeller:
    """The teacher ``name`` (``DaggerConfig.teacher``) for ``env``: "scripted" (:class:`TeacherForEnv`)
    or "mpc" (:class:`MpcLabeller`; refused with the reason where mpc.py does not provide its planner)."""
    if name == "scripted":
        return TeacherForEnv(env, prone_strategy=prone_strategy)
    return MpcLabeller(env, mpc_planner_class(), prone_strategy)


def mpc_planner_class() -> type:
    """``GetupMPC`` of :mod:`robot_learning.tasks.getup.mpc`; a ConfigError saying why where that
    module does not provide it with ``reset`` and ``act``."""
    try:
        mod = importlib.import_module(MPC_MODULE)
    except ModuleNotFoundError as e:
        if e.name != MPC_MODULE:
            raise
        raise ConfigError(f"dagger.teacher: mpc is not available: {MPC_MODULE} does not exist in this checkout") from None
    cls = getattr(mod, "GetupMPC", None)
    if cls is None or not all(callable(getattr(cls, m, None)) for m in ("reset", "act")):
        raise ConfigError(f"dagger.teacher: mpc is not available: {MPC_MODULE} has no GetupMPC class with reset and act")
    return cls


class MpcLabeller:
    """The sampling MPC teacher (:class:`robot_learning.tasks.getup.mpc.GetupMPC`, its default
    ``MPCConfig`` or ``cfg``) as a :class:`Labeller`: one posture; each robot's episode model
    (randomised friction, masses, COM, motor strength, ground) and action delay are handed to it at
    every reset (privileged), and it replans from each visited state."""

    def __init__(self, env: GetupEnv, planner: type, prone_strategy: str | None = None, cfg: Any = None) -> None:
        if len(env.postures) != 1:
            raise ConfigError("dagger.teacher: mpc labels one posture at a time (set env.posture to supine or prone)")
        b = env.batch
        self.env = env
        self.mpc = planner(b.model, env.postures[0], env.n, cfg, TeacherConfig.for_references(env.cfg.reference_model, prone_strategy),
                           env.cfg.variant, env.cfg.physics_dt, env.cfg.decimation, list(b.terrains))  # each robot's ground

    def reset(self, ids: np.ndarray | None = None) -> None:
        env, b = self.env, self.env.batch
        ids = np.arange(env.n) if ids is None else np.asarray(ids)
        self.mpc.reset(ids, models=[b.models[i] for i in ids], delay_substeps=env.delay[ids] if env.randomizing else None,
                       joint_pos=b.joint_pos[ids].copy())

    def label(self, env: GetupEnv) -> np.ndarray:
        if env is not self.env:
            raise ValueError("this teacher labels the environment it was made for")
        return env.action_for_targets(self.mpc.act(env.batch.qpos, env.batch.qvel, env.steps * env.dt))


def _fallen_starts_only(env: GetupEnv) -> None:
    env.cfg.reference_init_fraction, env.cfg.head_off_reference_m = 0.0, float("inf")
    env.standing_fraction = 0.0


def collect(env: GetupEnv, teacher: Labeller, actor: torch.nn.Module | None, beta: float,
            rng: np.random.Generator, noise: float = 0.0, stats: dict[str, Any] | None = None
            ) -> tuple[np.ndarray, np.ndarray, float]:
    """One episode per environment: (observations, teacher labels, success rate). The teacher's
    episodes execute its action plus Gaussian noise of std ``noise`` (DART; off by default: with 0.3
    the teacher itself stood none of 128 training poses, and the plain clone still failed). Every
    visited state is labelled, whoever drives. ``stats`` (a dict) receives ``teacher_driven``, the
    fraction of episodes the teacher drove."""
    env.reset()
    teacher.reset()
    obs, _ = env.observe()
    driver_is_teacher = rng.random(env.n) < beta
    if actor is None:
        driver_is_teacher[:] = True
    if stats is not None:
        stats["teacher_driven"] = float(driver_is_teacher.mean())
    X = np.zeros((env.max_steps, env.n, obs.shape[1]), dtype=np.float32)
    Y = np.zeros((env.max_steps, env.n, N_JOINTS), dtype=np.float32)
    success = np.zeros(env.n, dtype=bool)
    for t in range(env.max_steps):
        label = teacher.label(env)
        X[t], Y[t] = obs, label
        noisy = label + noise * rng.standard_normal(label.shape) if noise > 0 else label
        if actor is None:
            act = noisy
        else:
            with torch.no_grad():
                act = actor(torch.from_numpy(obs)).numpy().astype(np.float64)
            act = np.where(driver_is_teacher[:, None], noisy, act)
        obs, _, _, done, info = env.step(act)
        if "episodes" in info:
            success[info["done_ids"]] = info["episodes"].success
            teacher.reset(info["done_ids"])
    return X.reshape(-1, X.shape[-1]), Y.reshape(-1, N_JOINTS), float(success.mean())


def fit(actor: torch.nn.Module, X: np.ndarray, Y: np.ndarray, cfg: DaggerConfig, gen: torch.Generator, epochs: int) -> float:
    """Mean-squared-error epochs over all data; returns the last epoch's loss."""
    return fit_actor(actor, torch.from_numpy(X), torch.from_numpy(Y), epochs, cfg.batch_size, cfg.learning_rate, gen)[1]


def make_actor(env: GetupEnv, teacher: TeacherForEnv, cfg: GetupTrainConfig, residual: bool) -> torch.nn.Module:
    """The policy network: the PPO module's actor, or (``residual``) that actor's output added to the
    teacher's feedforward table, its last layer zeroed so that it starts as the table."""
    actor = Actor(env.layout.size, N_JOINTS, tuple(cfg.ppo.actor_hidden), "elu", True)
    if not residual:
        return actor
    if TIME_TERM.name not in env.layout.slices():
        raise ValueError("a residual policy needs the time input (env.time_input: true)")
    with torch.no_grad():
        actor.net[-1].weight.zero_()
        actor.net[-1].bias.zero_()
    table = torch.from_numpy(teacher.feedforward())
    col = env.layout.slices()[TIME_TERM.name].start
    gate = None
    if cfg.dagger.gate_residual:
        gate = TimedFeedforward(torch.from_numpy(teacher.feedback_mask()), 1.0 / env.dt, col, TIME_TERM.scale)
    return ResidualActor(actor, TimedFeedforward(table, 1.0 / env.dt, col, TIME_TERM.scale), gate)


LABELS_STATE = "state.pt"


def _save_labels(data_dir: Path, it: int, X: np.ndarray, Y: np.ndarray, state: dict[str, Any]) -> None:
    """Iteration ``it``'s labelled states (``iter_<it>.npz``) and the loop's state after it, each
    written to a temporary name first: an interruption leaves the previous iteration's files whole."""
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / f"iter_{it:03d}.tmp.npz"
    np.savez(tmp, X=X, Y=Y)
    tmp.replace(data_dir / f"iter_{it:03d}.npz")
    torch.save(state, data_dir / f"{LABELS_STATE}.tmp")
    (data_dir / f"{LABELS_STATE}.tmp").replace(data_dir / LABELS_STATE)


def load_labels(data_dir: Path, key: str) -> tuple[dict[str, Any], list[np.ndarray], list[np.ndarray]] | None:
    """The saved state and labelled states of an earlier DAgger attempt in ``data_dir`` made under
    config ``key``; None if there is none (or it was made under another configuration)."""
    f = data_dir / LABELS_STATE
    if not f.is_file():
        return None
    state = torch.load(f, map_location="cpu", weights_only=False)
    if state.get("key") != key:
        return None
    xs, ys = [], []
    for it in range(1, len(state["rows"]) + 1):
        with np.load(data_dir / f"iter_{it:03d}.npz") as d:
            xs.append(d["X"])
            ys.append(d["Y"])
    return state, xs, ys


def dagger(cfg: GetupTrainConfig, log: Callable[[dict[str, Any]], None] = print, max_seconds: float | None = None,
           beta_schedule: tuple[float, ...] | None = None, labeller: str | None = None,
           data_dir: Path | None = None, key: str = ""
           ) -> tuple[torch.nn.Module, list[dict[str, Any]], dict[str, Any]]:
    """Train; returns the best policy (by success on ``eval_episodes`` training fallen poses, driven by
    the policy alone: the held-out poses are kept for ``eval getup``), the per-iteration rows and its
    evaluation. ``beta_schedule``: the teacher-driving probability per iteration (0 after the list;
    None: 1, then ``dagger.beta`` x ``beta_decay`` per iteration); ``labeller``: the teacher that
    labels (:func:`make_labeller`; None: ``dagger.teacher``). The student is a residual on the
    scripted teacher's table whatever labels it (``dagger.residual``).

    ``data_dir``: every iteration's labelled states and the loop's state (student, best student,
    rows, random generator) are saved there; an attempt that finds an earlier one's under the same
    config ``key`` continues after its last completed iteration instead of labelling again (labels
    from the MPC teacher cost minutes per iteration). The environments' draws after a resume differ
    from an uninterrupted run's."""
    dcfg = cfg.dagger
    seed_everything(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    cfg = copy.deepcopy(cfg)
    cfg.env.episode_s = dcfg.episode_s  # past the paper's 10 s: the clone also learns to stay up
    env, _ = make_env(cfg, num_envs=dcfg.num_envs)
    _fallen_starts_only(env)
    eval_env, _ = make_env(cfg, num_envs=dcfg.eval_episodes, seed_offset=1000)
    teacher = TeacherForEnv(env, prone_strategy=dcfg.prone_strategy)
    name = labeller or dcfg.teacher
    labels: Labeller = teacher if name == "scripted" else make_labeller(name, env, dcfg.prone_strategy)
    actor = make_actor(env, teacher, cfg, dcfg.residual)
    data_x: list[np.ndarray] = []
    data_y: list[np.ndarray] = []
    rows: list[dict[str, Any]] = []
    best: dict[str, Any] = {"success_rate": -1.0}
    best_actor = copy.deepcopy(actor)
    start = 0
    saved = load_labels(data_dir, key) if data_dir is not None else None
    if saved is not None:
        state, data_x, data_y = saved
        actor.load_state_dict(state["actor"])
        best_actor.load_state_dict(state["best_actor"])
        best, rows, start = state["best"], state["rows"], len(state["rows"])
        rng.bit_generator.state = state["rng"]
        gen.set_state(state["gen"])
    t0 = time.monotonic()
    for it in range(start, dcfg.iterations):
        if beta_schedule is not None:
            beta = beta_schedule[it] if it < len(beta_schedule) else 0.0
        else:
            beta = 1.0 if it == 0 else dcfg.beta * dcfg.beta_decay ** (it - 1)
        info: dict[str, Any] = {}
        X, Y, driven_success = collect(env, labels, None if it == 0 else actor, beta, rng, dcfg.noise, info)
        data_x.append(X)
        data_y.append(Y)
        Xa, Ya = np.concatenate(data_x), np.concatenate(data_y)
        if it == 0:
            actor.norm.update(torch.from_numpy(Xa))
        loss = fit(actor, Xa, Ya, dcfg, gen, dcfg.first_epochs if it == 0 else dcfg.epochs)
        ev = evaluate_actor(actor, eval_env, dcfg.eval_episodes)
        row = {"iteration": it + 1, "beta": round(beta, 3), "teacher_driven": info["teacher_driven"], "samples": len(Xa), "mse": round(loss, 4),
               "success_while_collecting": driven_success, "eval_success": ev["success_rate"],
               "by_posture": {p: v["success_rate"] for p, v in ev["by_posture"].items()},
               "final_head_m": round(ev["mean_final_head_height_m"], 3), "seconds": round(time.monotonic() - t0, 1)}
        rows.append(row)
        if ev["success_rate"] > best["success_rate"]:
            best, best_actor = {**ev, "iteration": it + 1}, copy.deepcopy(actor)
        if data_dir is not None:
            _save_labels(data_dir, it + 1, X, Y, {"key": key, "actor": actor.state_dict(), "best_actor": best_actor.state_dict(),
                                                  "best": best, "rows": rows, "rng": rng.bit_generator.state, "gen": gen.get_state()})
        log(row)
        if max_seconds is not None and time.monotonic() - t0 > max_seconds:
            break  # the time budget is spent: stop after this iteration
    return best_actor, rows, best
