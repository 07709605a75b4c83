"""PPO training of the getting-up policy on N MuJoCo G1s; periodic evaluation on held-out fallen
poses; the best evaluated policy is kept for export."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from robot_learning.algos.distributed import Distributed
from robot_learning.algos.ppo import PPO, ActorCritic, PPOConfig, ResidualActor, RolloutBuffer, TimedFeedforward
from robot_learning.core.seeding import seed_everything
from robot_learning.sim.backends import make_batch
from robot_learning.sim.mujoco_batch import G1BatchConfig
from robot_learning.sim.terrain import terrain_named
from robot_learning.tasks.getup.config import GetupTrainConfig
from robot_learning.tasks.getup.env import N_JOINTS, TIME_TERM, GetupEnv
from robot_learning.tasks.getup.poses import FallenPoseConfig, fallen_pose_dataset
from robot_learning.tasks.getup.reference import load_reference
from robot_learning.tasks.getup.trajopt import load_feasible_reference


@dataclass
class TrainResult:
    model: ActorCritic
    best_actor: torch.nn.Module
    env_steps: int
    seconds: float
    iterations: int
    history: list[dict[str, Any]] = field(default_factory=list)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=dict)
    behaviour_cloning: dict[str, Any] = field(default_factory=dict)


def make_env(cfg: GetupTrainConfig, num_envs: int | None = None, seed_offset: int = 0, held_out: bool = False,
             variant: str | None = None) -> tuple[GetupEnv, dict[str, np.ndarray]]:
    """The environment with its start states (training or held-out fallen poses) and references."""
    e = copy.deepcopy(cfg.env)
    if num_envs is not None:
        e.num_envs = num_envs
    e.seed = cfg.seed + seed_offset
    grounds = tuple(terrain_named(k) for k in e.terrain)  # None for flat
    batch = make_batch(G1BatchConfig(num_envs=e.num_envs, variant=variant or e.variant, physics_dt=e.physics_dt, decimation=e.decimation,
                                     threads=e.threads or None, seed=e.seed, terrains=grounds), e.backend, e.device)
    data = fallen_pose_dataset(seed=cfg.seed)
    split = "test" if held_out else "train"
    starts = {p: data[p][split] for p in ("supine", "prone")}
    terrain_starts = {}
    for g in {g for g in grounds if g is not None}:  # fallen poses made on that ground
        made_there = fallen_pose_dataset(seed=cfg.seed, config=FallenPoseConfig(terrain=g))
        terrain_starts[g.kind] = {p: made_there[p][split] for p in ("supine", "prone")}
    refs = {p: (load_feasible_reference(p, e.reference_model) if e.reference == "feasible" else load_reference(p))
            for p in (("supine", "prone") if e.posture == "both" else (e.posture,))} if e.stage == "tracking" else None
    return GetupEnv(e, batch, starts, refs, terrain_starts), starts


def evaluate_policy(env: GetupEnv, act: Callable[[np.ndarray], np.ndarray], episodes: int) -> dict[str, Any]:
    """Deterministic roll-outs from held-out fallen poses (no reference initialisation): success
    (head >= 1.1 m at the end), time to stand, action and joint-position jitter, energy."""
    cfg = env.cfg
    saved = (cfg.reference_init_fraction, cfg.standing_start_fraction, cfg.head_off_reference_m)
    # the paper's test: from a fallen pose, is the head at 1.1 m or more after 10 s? (no reference termination)
    cfg.reference_init_fraction, cfg.standing_start_fraction, cfg.head_off_reference_m = 0.0, (0.0, 0.0), float("inf")
    env.standing_fraction = 0.0
    env.fixed_starts = True
    try:
        env.reset()
        obs, _ = env.observe()
        n = env.n
        done_eps: list[dict[str, Any]] = []
        steps = env.max_steps
        actions = np.zeros((steps, n, N_JOINTS))
        qs = np.zeros((steps, n, N_JOINTS))
        energy = np.zeros(n)
        heads = np.zeros((steps, n))
        postures = env.posture.copy()
        alive = np.ones(n, dtype=bool)
        for t in range(steps):
            a = act(obs)
            actions[t] = a
            obs, _, _, done, info = env.step(a)
            qs[t] = env.batch.joint_pos
            heads[t] = env.height("head")
            energy += alive * np.sum(np.abs(env.batch.actuator_force * env.batch.joint_vel), -1) * env.dt
            if np.any(done):
                ids = info["done_ids"]
                for k, i in enumerate(ids):
                    if alive[i]:
                        done_eps.append({"env": int(i), "success": bool(info["episodes"].success[k]),
                                         "head": float(info["episodes"].head_height[k]), "steps": t + 1})
                alive[ids] = False
            if not alive.any() or len(done_eps) >= episodes:
                break
        T = t + 1
        # third derivatives (jitter) of actions and joint positions, per step at 50 Hz
        jit_a = np.abs(np.diff(actions[:T], n=3, axis=0)).mean() if T > 3 else float("nan")
        jit_q = np.abs(np.diff(qs[:T], n=3, axis=0) / env.dt**3).mean() * 1e-3 if T > 3 else float("nan")
        succ = [d["success"] for d in done_eps]
        stand_times = []
        for d in done_eps:
            if d["success"]:
                h = heads[: d["steps"], d["env"]]
                above = np.flatnonzero(h >= cfg.success_head_height)
                stand_times.append(float(above[0] * env.dt) if above.size else float("nan"))
        by_posture = {}
        for pi, p in enumerate(env.postures):
            s = [d["success"] for d in done_eps if postures[d["env"]] == pi]
            by_posture[p] = {"episodes": len(s), "success_rate": float(np.mean(s)) if s else float("nan")}
        return {"episodes": len(done_eps), "success_rate": float(np.mean(succ)) if succ else 0.0, "by_posture": by_posture,
                "mean_final_head_height_m": float(np.mean([d["head"] for d in done_eps])) if done_eps else float("nan"),
                "time_to_stand_s": float(np.nanmean(stand_times)) if stand_times else float("nan"),
                "action_jitter": float(jit_a), "dof_pos_jitter_krad_s3": float(jit_q), "energy_J": float(energy.mean())}
    finally:
        cfg.reference_init_fraction, cfg.standing_start_fraction, cfg.head_off_reference_m = saved
        env.fixed_starts = False


def train(cfg: GetupTrainConfig, log: Callable[[dict[str, Any]], None] | None = None, writer: Any = None,
          on_eval: Callable[[ActorCritic, dict[str, Any]], None] | None = None, dist: Distributed | None = None) -> TrainResult:
    """PPO (after behaviour cloning of a feasible reference) for ``cfg.max_seconds``; ``on_eval`` is
    called with the model after every periodic evaluation (e.g. to write a checkpoint).

    ``dist``: this rank of a data-parallel run (``torchrun``; :mod:`robot_learning.algos.distributed`):
    each rank steps ``env.num_envs`` robots of its own seed (``seed + rank``), PPO averages the gradients
    and keeps the networks identical, ``env_steps`` counts every rank's steps, and rank 0 alone
    evaluates, logs and calls ``on_eval`` (its clock and step count end the run for everyone). The
    learner runs on ``dist.device`` (the backend's device, ``env.device``)."""
    ctx = dist if dist is not None else Distributed()
    dev = ctx.device
    seed_everything(ctx.seed(cfg.seed))
    torch.set_num_threads(max(1, cfg.torch_threads))
    env, _ = make_env(cfg, seed_offset=ctx.rank)
    eval_env = make_env(cfg, num_envs=cfg.eval_episodes, seed_offset=1000, held_out=True)[0] if ctx.is_main else None
    if not ctx.is_main:
        log, writer, on_eval = None, None, None
    p = cfg.ppo
    ppo_cfg = PPOConfig(actor_hidden=tuple(p.actor_hidden), critic_hidden=tuple(p.critic_hidden), init_std=p.init_std,
                        learning_rate=p.learning_rate, schedule=p.schedule, desired_kl=p.desired_kl, steps_per_env=p.steps_per_env, epochs=p.epochs,
                        minibatches=p.minibatches, gamma=p.gamma, lam=p.lam, entropy_coef=p.entropy_coef)
    env.reset()
    obs, cobs = env.observe()
    model = ActorCritic(obs.shape[1], cobs.shape[1], N_JOINTS, ppo_cfg)
    t0 = time.monotonic()
    bc: dict[str, Any] = {}
    if cfg.env.residual_on_reference:  # the reference's targets become the actor's feedforward; PPO learns the residual

        ref = env.refs[env.postures[0]]
        table = env.action_for_targets(ref.targets)
        col = env.layout.slices()[TIME_TERM.name].start
        model.actor = ResidualActor(model.actor, TimedFeedforward(torch.from_numpy(table), ref.fps, col, TIME_TERM.scale))
        env.reset()
        model.actor.norm.update(torch.from_numpy(env.observe()[0].copy()))
        model.critic_norm.update(torch.from_numpy(env.observe()[1].copy()))
        with torch.no_grad():
            model.log_std.fill_(float(np.log(cfg.bc_init_std)))
        bc = {"residual_on_reference": True, "env_steps": 0, "samples": 0}
    elif cfg.env.stage == "tracking" and cfg.env.reference == "feasible" and cfg.bc_samples > 0:
        bc = behaviour_cloning(model, env, cfg)
        if log is not None:
            log({"behaviour_cloning": bc})
        env.reset()
        obs, cobs = env.observe()
    model.to(dev)
    ppo = PPO(model, ppo_cfg, seed=cfg.seed, dist=ctx)  # broadcasts rank 0's (cloned) networks
    imitate = bool(bc) and cfg.imitation_coef[0] > 0.0 and not cfg.env.residual_on_reference
    buf = RolloutBuffer(p.steps_per_env, env.n, obs.shape[1], cobs.shape[1], N_JOINTS, device=dev)
    steps, it = int(bc.get("env_steps", 0)), 0
    history: list[dict[str, Any]] = []
    evals: list[dict[str, Any]] = []
    best_actor = copy.deepcopy(model.actor)
    best: dict[str, Any] = {"success_rate": -1.0}
    next_eval = 0.0 if bc else cfg.eval_every_seconds  # after cloning: evaluate the cloned actor first
    ep_success: list[float] = []
    ep_heads: list[float] = []
    while True:
        elapsed = time.monotonic() - t0
        if ctx.agree(elapsed >= cfg.max_seconds or bool(cfg.max_env_steps and steps >= cfg.max_env_steps)):  # rank 0's clock
            break
        buf.clear()
        buf.sigma = model.log_std.detach().exp().clone()
        reward_terms: dict[str, float] = {}
        sim_time = 0.0
        for _ in range(p.steps_per_env):
            o, co = torch.tensor(obs, device=dev), torch.tensor(cobs, device=dev)  # copies: the env writes its next observation in place
            a, logp, v, mu = model.act(o, co)
            teacher = None
            if imitate:  # the teacher's targets while getting up; from standing on, PPO alone (balance needs feedback)
                t_np, teaching = env.expert_action(cfg.imitation_until_head_m)
                t_np = np.where(teaching[:, None], t_np, mu.cpu().numpy()).astype(np.float32)  # no pull where the teacher has nothing to teach
                teacher = torch.from_numpy(t_np).to(dev)
            ts = time.monotonic()
            obs, cobs, r, done, info = env.step(a.cpu().numpy().astype(np.float64))
            sim_time += time.monotonic() - ts
            buf.add(o, co, a, logp, v, mu, torch.from_numpy(r).to(dev), torch.from_numpy(done.astype(np.float32)).to(dev), teacher)
            for k, val in info["reward_terms"].items():
                reward_terms[k] = reward_terms.get(k, 0.0) + val / p.steps_per_env
            if "episodes" in info:
                ep_success += info["episodes"].success.tolist()
                ep_heads += info["episodes"].head_height.tolist()
        steps += p.steps_per_env * env.n * ctx.world_size
        with torch.no_grad():
            last_v = model.value(torch.from_numpy(cobs).to(dev))
        buf.compute_returns(last_v, p.gamma, p.lam, dist=ctx)
        if it == 0 and not bc:  # first statistics before the first update (the first rollout ran on identity statistics)
            model.actor.norm.update(buf.obs[: buf.t], dist=ctx)
            model.critic_norm.update(buf.critic_obs[: buf.t], dist=ctx)
        tl = time.monotonic()
        frac = min(1.0, elapsed / max(1.0, cfg.max_seconds))
        coef = cfg.imitation_coef[0] + (cfg.imitation_coef[1] - cfg.imitation_coef[0]) * frac if imitate else 0.0
        stats = ppo.update(buf, critic_only=bool(bc) and it < cfg.critic_warmup_iterations, imitation_coef=coef)
        # the normalisers change only between updates: the update sees the statistics the rollout was collected with
        model.actor.norm.update(buf.obs[: buf.t], dist=ctx)
        model.critic_norm.update(buf.critic_obs[: buf.t], dist=ctx)
        learn_time = time.monotonic() - tl
        it += 1
        recent_s = ep_success[-200:]
        recent_h = ep_heads[-200:]
        env.update_curricula(min(1.0, elapsed / max(1.0, cfg.max_seconds)), float(np.mean(recent_h)) if recent_h else 0.0)
        row = {"iteration": it, "env_steps": steps, "seconds": round(time.monotonic() - t0, 1),
               "mean_reward": float(buf.rewards[: buf.t].mean()), "train_success_rate": float(np.mean(recent_s)) if recent_s else float("nan"),
               "mean_end_head_height_m": float(np.mean(recent_h)) if recent_h else float("nan"),
               "mean_base_height_m": float(env.height("base").mean()), "mean_head_height_m": float(env.height("head").mean()),
               "env_steps_per_s": round(p.steps_per_env * env.n / max(1e-9, sim_time), 1), "learn_s": round(learn_time, 2),
               "reg_scale": env.reg_scale, **{k: round(v, 5) for k, v in stats.items()}}
        history.append(row)
        if writer is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and np.isfinite(v):
                    writer.add_scalar(f"train/{k}", v, steps)
            for k, v in reward_terms.items():
                writer.add_scalar(f"reward/{k}", v, steps)
        if log is not None:
            log(row)
        if eval_env is not None and time.monotonic() - t0 >= next_eval:
            next_eval += cfg.eval_every_seconds
            ev = _evaluate_model(model, eval_env, cfg.eval_episodes)
            ev.update({"env_steps": steps, "seconds": round(time.monotonic() - t0, 1)})
            evals.append(ev)
            if writer is not None:
                writer.add_scalar("eval/success_rate", ev["success_rate"], steps)
                writer.add_scalar("eval/final_head_height_m", ev["mean_final_head_height_m"], steps)
            if log is not None:
                log({"eval": ev})
            if on_eval is not None:
                on_eval(model, ev)
            if ev["success_rate"] > best["success_rate"] or (ev["success_rate"] == best["success_rate"]
                                                               and ev["mean_final_head_height_m"] > best.get("mean_final_head_height_m", -1)):
                best = ev
                best_actor = copy.deepcopy(model.actor)
    if eval_env is None:  # ranks other than 0: the networks are rank 0's; it evaluates and exports
        return TrainResult(model, model.actor, steps, time.monotonic() - t0, it, history, evals, best, bc)
    ev = _evaluate_model(model, eval_env, cfg.eval_episodes)
    ev.update({"env_steps": steps, "seconds": round(time.monotonic() - t0, 1), "final": True})
    evals.append(ev)
    if ev["success_rate"] >= best["success_rate"]:
        best, best_actor = ev, copy.deepcopy(model.actor)
    return TrainResult(model, best_actor, steps, time.monotonic() - t0, it, history, evals, best, bc)


def behaviour_cloning(model: ActorCritic, env: GetupEnv, cfg: GetupTrainConfig) -> dict[str, Any]:
    """Clone the feasible reference's open-loop PD targets into the actor before PPO.

    The environment runs with its usual starts (reference-state initialisation and fallen poses)
    under the teacher's action plus Gaussian noise (``bc_noise``, DART-style, so that the states
    include the teacher's own mistakes); each state is labelled with the teacher's action at that
    state's reference time. The actor's normaliser takes the statistics of the data, then the
    network is fitted by mean-squared error. The critic's normaliser takes the critic observations'
    statistics; PPO then trains the critic alone for ``critic_warmup_iterations``."""
    t0 = time.monotonic()
    rng = np.random.default_rng(cfg.seed + 17)
    steps = max(1, cfg.bc_samples // env.n)
    obs_buf = np.zeros((steps, env.n, env.layout.size), dtype=np.float32)
    cobs_buf = np.zeros((steps, env.n, env.critic_size), dtype=np.float32)
    labels = np.zeros((steps, env.n, N_JOINTS), dtype=np.float32)
    env.reset()
    obs, cobs = env.observe()
    heads = []
    for t in range(steps):
        teacher, _ = env.expert_action()
        obs_buf[t], cobs_buf[t], labels[t] = obs, cobs, teacher
        obs, cobs, _, _, info = env.step(teacher + cfg.bc_noise * rng.standard_normal(teacher.shape))
        if "episodes" in info:
            heads += info["episodes"].head_height.tolist()
    X = torch.from_numpy(obs_buf.reshape(-1, obs_buf.shape[-1]))
    Y = torch.from_numpy(labels.reshape(-1, N_JOINTS))
    model.actor.norm.update(X)
    model.critic_norm.update(torch.from_numpy(cobs_buf.reshape(-1, cobs_buf.shape[-1])))
    with torch.no_grad():
        model.actor.net[-1].weight.normal_(0.0, 0.01)
    n = X.shape[0]
    loss_first, loss = fit_actor(model.actor, X, Y, cfg.bc_epochs, 512, 1e-3, torch.Generator().manual_seed(cfg.seed))
    with torch.no_grad():
        model.log_std.fill_(float(np.log(cfg.bc_init_std)))
    return {"samples": int(n), "env_steps": int(n), "epochs": cfg.bc_epochs, "mse_first_epoch": round(loss_first, 4),
            "mse_last_epoch": round(loss, 4), "label_var": round(float(Y.var(0).mean()), 4),
            "teacher_end_head_height_m": float(np.mean(heads)) if heads else float("nan"), "seconds": round(time.monotonic() - t0, 1)}


def fit_actor(actor: torch.nn.Module, X: torch.Tensor, Y: torch.Tensor, epochs: int, batch_size: int, lr: float,
              gen: torch.Generator) -> tuple[float, float]:
    """Fit ``actor.net`` (its normaliser stays) to labels ``Y`` by mean-squared error with Adam;
    returns the first and the last epoch's mean loss."""
    opt = torch.optim.Adam(actor.net.parameters(), lr=lr)
    n = X.shape[0]
    losses = []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            l = torch.mean((actor(X[idx]) - Y[idx]) ** 2)
            opt.zero_grad(set_to_none=True)
            l.backward()
            opt.step()
            total += float(l.detach()) * idx.numel()
        losses.append(total / n)
    return (losses[0], losses[-1]) if losses else (float("nan"), float("nan"))


def evaluate_actor(actor: torch.nn.Module, env: GetupEnv, episodes: int) -> dict[str, Any]:
    """:func:`evaluate_policy` of an actor network (its mean action)."""
    device = next(actor.parameters()).device

    def act(o: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return actor(torch.from_numpy(o).to(device)).cpu().numpy().astype(np.float64)

    return evaluate_policy(env, act, episodes)


def _evaluate_model(model: ActorCritic, env: GetupEnv, episodes: int) -> dict[str, Any]:
    return evaluate_actor(model.actor, env, episodes)
