"""The compiled learner: TD3 with the asymmetric critic and the curriculum, the whole iteration in XLA.

One iteration is: act with exploration noise, step every environment (jax_env.py, the torch
simulator's twin), insert the transitions into the replay buffer, reset finished episodes, advance
the curriculum's weights, and on update turns run critic updates (rewards recomputed from stored
cost terms with the current weights, so the curriculum applies to the whole buffer) with a delayed
actor update and Polyak targets. ``jit`` over ``lax.scan`` blocks of iterations: Python only looks
at the clock, evaluates and logs between blocks. Networks start from, and end in, the torch TD3
(algos/td3.py), so export, the ONNX contract and the gates are unchanged; ``td3_update`` is held
equal to ``TD3.update_critic`` + ``TD3.update_actor`` by a test.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch

from robot_learning.algos.td3 import TD3
from robot_learning.robots.crazyflie import CrazyflieParams
from robot_learning.tasks.quadrotor.config import (
    QuadrotorEnvConfig,
    QuadrotorTrainConfig,
    TD3Config,
)
from robot_learning.tasks.quadrotor.jax_env import ACTION_DIM, EnvState, HoverTask

Params = Any  # a pytree of arrays


# ------------------------------------------------------------------------------------ networks
def _act(name: str) -> Callable[[jax.Array], jax.Array]:
    return {"tanh": jnp.tanh, "relu": jax.nn.relu, "elu": jax.nn.elu}[name]


def actor_apply(p: Params, x: jax.Array, activation: str = "tanh") -> jax.Array:
    """p: ((W (in, out), b (out,)), ...); tanh output, as algos/td3.py's actor."""
    f = _act(activation)
    for i, (w, b) in enumerate(p):
        x = x @ w + b
        if i < len(p) - 1:
            x = f(x)
    return jnp.tanh(x)


def critics_apply(p: Params, x: jax.Array, activation: str = "tanh") -> jax.Array:
    """p: ((W (k, in, out), b (k, 1, out)), ...); x (B, in) -> (k, B), as algos/td3.EnsembleMLP."""
    f = _act(activation)
    h = x
    for i, (w, b) in enumerate(p):
        h = jnp.matmul(h, w) + b
        if i < len(p) - 1:
            h = f(h)
    return h[..., 0]


class Nets(NamedTuple):
    actor: Params
    critics: Params
    actor_target: Params
    critics_target: Params


class Opt(NamedTuple):
    actor: Any
    critics: Any


def optimizer(cfg: TD3Config) -> optax.GradientTransformation:
    """torch.optim.Adam with (L2) weight_decay: the decay joins the gradient before the moments."""
    return optax.chain(optax.add_decayed_weights(cfg.weight_decay), optax.adam(cfg.lr))


def _linear_layers(seq: torch.nn.Module) -> list[torch.nn.Linear]:
    return [m for m in seq if isinstance(m, torch.nn.Linear)]


def nets_from_torch(agent: TD3) -> Nets:
    def actor(m: torch.nn.Module) -> Params:
        return tuple((jnp.asarray(l.weight.detach().numpy().T), jnp.asarray(l.bias.detach().numpy())) for l in _linear_layers(m))

    def critics(m: torch.nn.Module) -> Params:
        return tuple((jnp.asarray(w.detach().numpy()), jnp.asarray(b.detach().numpy())) for w, b in zip(m.weights, m.biases))

    return Nets(actor(agent.actor), critics(agent.critics), actor(agent.actor_target), critics(agent.critics_target))


def actor_to_torch(p: Params, module: torch.nn.Module) -> torch.nn.Module:
    """Copy JAX actor weights into a torch actor of the same shape (the one export takes)."""
    with torch.no_grad():
        for layer, (w, b) in zip(_linear_layers(module), p):
            layer.weight.copy_(torch.from_numpy(np.asarray(w).T.copy()))
            layer.bias.copy_(torch.from_numpy(np.asarray(b).copy()))
    return module


def nets_to_torch(nets: Nets, agent: TD3) -> TD3:
    actor_to_torch(nets.actor, agent.actor)
    actor_to_torch(nets.actor_target, agent.actor_target)
    with torch.no_grad():
        for m, p in ((agent.critics, nets.critics), (agent.critics_target, nets.critics_target)):
            for w, b, (jw, jb) in zip(m.weights, m.biases, p):
                w.copy_(torch.from_numpy(np.asarray(jw).copy()))
                b.copy_(torch.from_numpy(np.asarray(jb).copy()))
    return agent


# ---------------------------------------------------------------------------------- the update
class Batch(NamedTuple):
    obs: jax.Array
    cobs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array  # bool
    next_obs: jax.Array
    next_cobs: jax.Array


def _polyak(target: Params, source: Params, tau: float) -> Params:
    return jax.tree.map(lambda t, s: t * tau + s * (1.0 - tau), target, source)


def td3_update(nets: Nets, opt: Opt, b: Batch, target_noise: jax.Array, do_actor: jax.Array, cfg: TD3Config,
               tx: optax.GradientTransformation, lr_scale: jax.Array | float = 1.0) -> tuple[Nets, Opt, jax.Array]:
    """One critic update, critic targets, then (if ``do_actor``) one actor update and actor targets.
    ``target_noise`` is the unclipped standard normal draw of the target policy smoothing;
    ``lr_scale`` multiplies the learning rate (Adam's step is linear in it)."""
    act = cfg.activation
    noise = jnp.clip(target_noise * cfg.target_noise, -cfg.target_noise_clip, cfg.target_noise_clip)
    next_a = jnp.clip(actor_apply(nets.actor_target, b.next_obs, act) + noise, -1.0, 1.0)
    q_next = critics_apply(nets.critics_target, jnp.concatenate([b.next_cobs, next_a], axis=1), act).min(axis=0)
    target = jax.lax.stop_gradient(b.reward + cfg.gamma * (1.0 - b.terminated.astype(q_next.dtype)) * q_next)
    x = jnp.concatenate([b.cobs, b.action], axis=1)

    def critic_loss(cp: Params) -> jax.Array:
        q = critics_apply(cp, x, act)
        return ((q - target) ** 2).mean(axis=1).sum()

    loss, g = jax.value_and_grad(critic_loss)(nets.critics)
    upd, copt = tx.update(g, opt.critics, nets.critics)
    critics = optax.apply_updates(nets.critics, jax.tree.map(lambda u: u * lr_scale, upd))
    critics_target = _polyak(nets.critics_target, critics, cfg.polyak)

    def actor_turn(_: Any) -> tuple[Params, Any, Params]:
        def actor_loss(ap: Params) -> jax.Array:
            a = actor_apply(ap, b.obs, act)
            return -critics_apply(critics, jnp.concatenate([b.cobs, a], axis=1), act)[0].mean()

        ga = jax.grad(actor_loss)(nets.actor)
        upd_a, aopt = tx.update(ga, opt.actor, nets.actor)
        actor = optax.apply_updates(nets.actor, jax.tree.map(lambda u: u * lr_scale, upd_a))
        return actor, aopt, _polyak(nets.actor_target, actor, cfg.polyak)

    actor, aopt, actor_target = jax.lax.cond(do_actor, actor_turn, lambda _: (nets.actor, opt.actor, nets.actor_target), None)
    return Nets(actor, critics, actor_target, critics_target), Opt(aopt, copt), loss


# ------------------------------------------------------------------------------ replay buffer
class Buffer(NamedTuple):
    """Transitions in rows. The next observation's action history is the current one shifted by the
    action, so only its first 18 entries are stored (half the memory, the same batch)."""

    obs: jax.Array  # (C, obs_dim)
    cobs: jax.Array  # (C, critic_dim)
    action: jax.Array  # (C, 4)
    costs: jax.Array  # (C, 4)
    terminated: jax.Array  # (C,) bool
    next_head: jax.Array  # (C, 18)
    next_cobs: jax.Array  # (C, critic_dim)


def buffer_init(capacity: int, obs_dim: int, critic_dim: int) -> Buffer:
    z = lambda *s: jnp.zeros(s, jnp.float32)
    return Buffer(z(capacity, obs_dim), z(capacity, critic_dim), z(capacity, ACTION_DIM), z(capacity, 4),
                  jnp.zeros((capacity,), bool), z(capacity, 18), z(capacity, critic_dim))


def buffer_insert(buf: Buffer, pos: jax.Array, rows: Buffer) -> Buffer:
    """Rows at ``pos`` (the capacity is a multiple of the row count, so no wrap inside one insert)."""
    def put(a: jax.Array, r: jax.Array) -> jax.Array:
        return jax.lax.dynamic_update_slice_in_dim(a, r.astype(a.dtype), pos, axis=0)
    return jax.tree.map(put, buf, rows)


def buffer_batch(buf: Buffer, idx: jax.Array, weights: jax.Array, env_cfg: QuadrotorEnvConfig) -> Batch:
    obs = buf.obs[idx]
    action = buf.action[idx]
    next_obs = jnp.concatenate([buf.next_head[idx], obs[:, 18 + ACTION_DIM:], action], axis=1)
    term = buf.terminated[idx]
    return Batch(obs, buf.cobs[idx], action, reward_from_costs(buf.costs[idx], term, weights, env_cfg), term, next_obs,
                 buf.next_cobs[idx])


def reward_from_costs(costs: jax.Array, terminated: jax.Array, w: jax.Array, env_cfg: QuadrotorEnvConfig) -> jax.Array:
    """env.reward_from_costs with w = (position, linear velocity, action) weights."""
    r = env_cfg.reward
    weighted = w[0] * costs[:, 0] + r.orientation * costs[:, 1] + w[1] * costs[:, 2] + w[2] * costs[:, 3]
    return jnp.where(terminated, r.termination, r.constant - r.scale * weighted)


def curriculum_weights(total_steps: jax.Array, env_cfg: QuadrotorEnvConfig) -> jax.Array:
    """The weights after floor(steps / interval) applications of the paper's multiplicative curriculum."""
    r, c = env_cfg.reward, env_cfg.curriculum
    base = jnp.asarray([r.position, r.linear_velocity, r.action], jnp.float32)
    if not c.enabled:
        return base
    k = (total_steps // c.interval).astype(jnp.float32)
    factor = jnp.asarray([c.position_factor, c.linear_velocity_factor, c.action_factor], jnp.float32)
    cap = jnp.asarray([c.position_cap, c.linear_velocity_cap, c.action_cap], jnp.float32)
    return jnp.where(k > 0, jnp.minimum(base * factor**k, cap), base)


def lr_schedule(total_steps: jax.Array, t: TD3Config) -> jax.Array:
    """Learning-rate factor: 1 until the critic warm-up ends, then linear to ``lr_final_fraction`` at
    ``lr_decay_env_steps`` (constant 1 when that is 0). A smaller step late lets TD3's actor settle
    instead of oscillating around the precise hover the success criterion asks for."""
    if t.lr_decay_env_steps <= 0:
        return jnp.asarray(1.0, jnp.float32)
    span = max(t.lr_decay_env_steps - t.critic_warmup_steps, 1)
    frac = jnp.clip((total_steps - t.critic_warmup_steps).astype(jnp.float32) / span, 0.0, 1.0)
    return 1.0 + frac * (t.lr_final_fraction - 1.0)


# ------------------------------------------------------------------------------------- learner
class Carry(NamedTuple):
    env: EnvState
    obs: jax.Array
    cobs: jax.Array
    nets: Nets
    opt: Opt
    buffer: Buffer
    pos: jax.Array
    size: jax.Array
    total_steps: jax.Array  # int32
    iteration: jax.Array
    critic_updates: jax.Array
    actor_updates: jax.Array
    critic_loss: jax.Array
    key: jax.Array
    actor_average: Params  # a slow Polyak average of the actor, evaluated beside it and its target


class Learning(NamedTuple):
    nets: Nets
    opt: Opt
    critic_updates: jax.Array
    actor_updates: jax.Array
    critic_loss: jax.Array
    actor_average: Params


# The slow average's rate per actor update (a time constant of ~2000 actor updates, a few seconds of
# training): TD3's actor and even its 0.995 target move between evaluations; the average moves less.
AVERAGE_RATE = 0.999


class Learner:
    """Builds the compiled block of iterations and the compiled evaluation for one config."""

    def __init__(self, cfg: QuadrotorTrainConfig, params: CrazyflieParams, block_iterations: int | None = None) -> None:
        self.cfg, self.params = cfg, params
        self.task = HoverTask(cfg.env, params)
        # periodic evaluations: the paper's initial states (rotors at hover) on the training vehicles
        # (the nominal one, or randomised ones when training randomises them)
        self.eval_task = HoverTask(dataclasses.replace(cfg.env, randomization=dataclasses.replace(cfg.env.randomization,
                                                                                                 random_initial_rpm=False)), params)
        self.tx = optimizer(cfg.td3)
        n, t = cfg.env.num_envs, cfg.td3
        cap = min(t.buffer_size, cfg.total_env_steps)
        self.capacity = max(n, math.ceil(cap / n) * n)
        # about 100 critic updates per block: Python sees the clock often enough, XLA runs long loops
        per_iter = t.critic_updates_per_iteration / t.update_every
        self.block = block_iterations or max(1, min(2000, round(100 / per_iter)))
        self._block = jax.jit(self._run_block, donate_argnums=0)
        self._eval = jax.jit(self._evaluate, static_argnums=(2,))

    def init(self, agent: TD3, seed: int) -> Carry:
        """The first carry, from the torch agent's initial weights (one compiled program, not many small ones)."""
        return jax.jit(self._init)(nets_from_torch(agent), jax.random.PRNGKey(seed))

    def _init(self, nets: Nets, key: jax.Array) -> Carry:
        key, k_env, k_obs = jax.random.split(key, 3)
        env = self.task.sample(k_env, self.cfg.env.num_envs)
        obs, cobs = self.task.observe(env, k_obs)
        nets = jax.tree.map(jnp.copy, nets)  # no two leaves may share a buffer: the carry is donated
        opt = Opt(self.tx.init(nets.actor), self.tx.init(nets.critics))
        z = lambda: jnp.zeros((), jnp.int32)
        return Carry(env, obs, cobs, nets, opt, buffer_init(self.capacity, self.task.actor_dim, self.task.critic_dim),
                     z(), z(), z(), z(), z(), z(), jnp.zeros((), jnp.float32), key, jax.tree.map(jnp.copy, nets.actor))

    def _iteration(self, c: Carry, _: Any) -> tuple[Carry, None]:
        cfg, t, task = self.cfg, self.cfg.td3, self.task
        n = cfg.env.num_envs
        key, k_act, k_obs, k_reset, k_obs2, k_upd = jax.random.split(c.key, 6)
        a = actor_apply(c.nets.actor, c.obs, t.activation)
        a = jnp.clip(a + jax.random.normal(k_act, a.shape) * t.exploration_noise, -1.0, 1.0)
        env, costs, term, trunc = task.step(c.env, a)
        next_obs, next_cobs = task.observe(env, k_obs)
        buf = buffer_insert(c.buffer, c.pos, Buffer(c.obs, c.cobs, a, costs, term, next_obs[:, :18], next_cobs))
        done = term | trunc

        def reset(args: tuple[EnvState, jax.Array, jax.Array]) -> tuple[EnvState, jax.Array, jax.Array]:
            env, obs, cobs = args
            env = task.reset_where(env, done, k_reset)
            start_obs, start_cobs = task.observe(env, k_obs2)
            return env, jnp.where(done[:, None], start_obs, obs), jnp.where(done[:, None], start_cobs, cobs)

        # with few environments most iterations finish no episode: skip sampling fresh ones then
        env, obs, cobs = jax.lax.cond(done.any(), reset, lambda args: args, (env, next_obs, next_cobs))
        total = c.total_steps + n
        size = jnp.minimum(c.size + n, self.capacity)
        c = c._replace(env=env, obs=obs, cobs=cobs, buffer=buf, pos=(c.pos + n) % self.capacity, size=size, total_steps=total,
                       iteration=c.iteration + 1, key=key)
        turn = (total >= t.critic_warmup_steps) & (c.iteration % t.update_every == 0)
        # The buffer is an operand of the cond, not a result: a result would be copied on every turn.
        learn = Learning(c.nets, c.opt, c.critic_updates, c.actor_updates, c.critic_loss, c.actor_average)
        learn = jax.lax.cond(turn, lambda s: self._updates(s, c.buffer, c.size, total, k_upd), lambda s: s, learn)
        return c._replace(nets=learn.nets, opt=learn.opt, critic_updates=learn.critic_updates, actor_updates=learn.actor_updates,
                          critic_loss=learn.critic_loss, actor_average=learn.actor_average), None

    def _updates(self, s: Learning, buf: Buffer, size: jax.Array, total: jax.Array, key: jax.Array) -> Learning:
        t = self.cfg.td3
        weights = curriculum_weights(total, self.cfg.env)
        lr_scale = lr_schedule(total, t)

        def one(i: jax.Array, s: Learning) -> Learning:
            k_idx, k_noise = jax.random.split(jax.random.fold_in(key, i))
            idx = jax.random.randint(k_idx, (t.batch_size,), 0, size)
            batch = buffer_batch(buf, idx, weights, self.cfg.env)
            updates = s.critic_updates + 1
            do_actor = (total >= t.actor_warmup_steps) & (updates % t.actor_every == 0)
            nets, opt, loss = td3_update(s.nets, s.opt, batch, jax.random.normal(k_noise, batch.action.shape), do_actor, t, self.tx,
                                         lr_scale)
            average = jax.tree.map(lambda a, p: jnp.where(do_actor, a * AVERAGE_RATE + p * (1.0 - AVERAGE_RATE), a),
                                   s.actor_average, nets.actor)
            return Learning(nets, opt, updates, s.actor_updates + do_actor.astype(jnp.int32), loss, average)

        return jax.lax.fori_loop(0, t.critic_updates_per_iteration, one, s)

    def _run_block(self, c: Carry) -> Carry:
        c, _ = jax.lax.scan(self._iteration, c, None, length=self.block)
        return c

    def run_block(self, c: Carry) -> Carry:
        return self._block(c)

    def _evaluate(self, actor: Params, key: jax.Array, episodes: int) -> dict[str, jax.Array]:
        """evaluate.evaluate_torch in XLA: the paper's initial states, the nominal vehicle, noisy observations."""
        task, cfg = self.eval_task, self.cfg
        steps, window = cfg.env.episode_steps, min(cfg.eval.success_window_steps, cfg.env.episode_steps)
        k0, k1 = jax.random.split(key)
        env = task.sample(k0, episodes)
        obs, _ = task.observe(env, k1)

        def step(carry: Any, t: jax.Array) -> tuple[Any, None]:
            env, obs, alive, err_sum, err_max, key = carry
            key, k = jax.random.split(key)
            env, _, term, _ = task.step(env, actor_apply(actor, obs, cfg.td3.activation))
            obs, _ = task.observe(env, k)
            alive = alive & ~term
            e = jnp.linalg.norm(env.x[:, 0:3], axis=1)
            inside = t >= steps - window
            err_sum = err_sum + jnp.where(inside, e, 0.0)
            err_max = jnp.where(inside, jnp.maximum(err_max, e), err_max)
            return (env, obs, alive, err_sum, err_max, key), None

        z = jnp.zeros((episodes,))
        (env, obs, alive, err_sum, err_max, _), _ = jax.lax.scan(step, (env, obs, jnp.ones((episodes,), bool), z, z, k1),
                                                                jnp.arange(steps))
        mean_err = err_sum / window
        success = alive & (err_max < cfg.eval.success_radius)
        n_alive = alive.sum()
        return {"success_rate": success.mean(), "termination_rate": 1.0 - alive.mean(),
                "hover_error_m": jnp.where(n_alive > 0, jnp.where(alive, mean_err, 0.0).sum() / jnp.maximum(n_alive, 1), jnp.nan)}

    def evaluate(self, actor: Params, seed: int, episodes: int) -> dict[str, float]:
        out = self._eval(actor, jax.random.PRNGKey(seed), episodes)
        return {k: float(v) for k, v in out.items()}


@dataclasses.dataclass
class JaxTrainResult:
    policy: torch.nn.Module
    agent: TD3
    env_steps: int
    wall_seconds: float
    seconds_to_success: float | None
    env_steps_to_success: int | None
    wall_seconds_to_success: float | None = None  # compile and evaluations included
    compile_seconds: float = 0.0
    eval_seconds: float = 0.0
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)


def enable_compilation_cache(path: str | Path = Path("runs") / "cache" / "jax") -> None:
    """Keep compiled programs on disk (process-wide JAX setting): a second run with the same shapes
    skips most of the compile time."""
    Path(path).mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def train_jax(cfg: QuadrotorTrainConfig, params: CrazyflieParams, seconds: float | None = None,
              log: Callable[[dict[str, float]], None] | None = None,
              status: Callable[[str], None] | None = None) -> JaxTrainResult:
    """TD3 until ``total_env_steps``, ``seconds`` of wall clock (compile and evaluations included;
    default ``cfg.max_seconds``) or the early-stop success rate. Evaluates the actor, its target and its slow average
    every ``eval_every_seconds`` and returns the best seen (as train.train does)."""
    budget = cfg.max_seconds if seconds is None else seconds
    t_start = time.perf_counter()
    enable_compilation_cache()
    torch.set_num_threads(cfg.torch_threads)
    learner = Learner(cfg, params)
    task = learner.task
    agent = TD3(task.actor_dim, task.critic_dim, ACTION_DIM, cfg.td3, seed=cfg.seed)
    carry = learner.init(agent, cfg.seed)
    if status:
        status(f"compiling the learner ({cfg.env.num_envs} envs, {learner.block} iterations per block)")
    tc = time.perf_counter()
    # The evaluation compiles on the other core while the training block compiles and runs.
    actor0 = jax.tree.map(jnp.copy, carry.nets.actor)  # the carry is donated to the block
    warm = threading.Thread(target=learner.evaluate, args=(actor0, cfg.seed + 1000, cfg.eval.episodes), daemon=True)
    warm.start()
    carry = learner.run_block(carry)
    jax.block_until_ready(carry.total_steps)
    warm.join()
    compile_seconds = time.perf_counter() - tc  # includes one block of training
    eval_seconds = 0.0
    history: list[dict[str, float]] = []
    best: tuple[tuple[float, float], Params] | None = None
    seconds_to_success = wall_to_success = steps_to_success = None
    next_eval = time.perf_counter() - t_start + cfg.eval_every_seconds
    last_eval_cost = 0.5
    while True:
        elapsed = time.perf_counter() - t_start
        total = int(carry.total_steps)
        eval_due = elapsed >= next_eval
        out_of_time = elapsed + 2 * last_eval_cost >= budget
        if eval_due or out_of_time or total >= cfg.total_env_steps:
            te = time.perf_counter()
            evals = {name: learner.evaluate(p, cfg.seed + 1000, cfg.eval.episodes)
                     for name, p in (("actor", carry.nets.actor), ("actor_target", carry.nets.actor_target),
                                     ("actor_average", carry.actor_average))}
            name = max(evals, key=lambda k: _score(evals[k]))
            e = evals[name]
            if best is None or _score(e) > best[0]:
                chosen = {"actor": carry.nets.actor, "actor_target": carry.nets.actor_target, "actor_average": carry.actor_average}[name]
                best = (_score(e), jax.tree.map(np.asarray, chosen))
            last_eval_cost = time.perf_counter() - te
            eval_seconds += last_eval_cost
            wall = time.perf_counter() - t_start
            train_clock = wall - eval_seconds - compile_seconds
            row = {"env_steps": total, "train_seconds": train_clock, "wall_seconds": wall, **e, "evaluated": ("actor", "actor_target", "actor_average").index(name),
                   "critic_loss": float(carry.critic_loss), "critic_updates": int(carry.critic_updates),
                   "actor_updates": int(carry.actor_updates)}
            row.update(zip(("w_position", "w_linear_velocity", "w_action"), map(float, curriculum_weights(carry.total_steps, cfg.env))))
            history.append(row)
            if log is not None:
                log(row)
            if seconds_to_success is None and e["success_rate"] >= 0.95:
                seconds_to_success, wall_to_success, steps_to_success = train_clock, wall, total
            next_eval = wall + cfg.eval_every_seconds
            if (cfg.stop_at_success_rate > 0 and e["success_rate"] >= cfg.stop_at_success_rate) or out_of_time \
                    or total >= cfg.total_env_steps:
                break
        carry = learner.run_block(carry)
        jax.block_until_ready(carry.total_steps)
    wall = time.perf_counter() - t_start
    nets_to_torch(carry.nets, agent)
    agent.stats.critic_updates = int(carry.critic_updates)
    agent.stats.actor_updates = int(carry.actor_updates)
    agent.stats.critic_loss = float(carry.critic_loss)
    chosen = copy.deepcopy(agent.actor)
    if best is not None:
        actor_to_torch(best[1], chosen)
    chosen.requires_grad_(False)
    return JaxTrainResult(chosen, agent, int(carry.total_steps), wall, seconds_to_success, steps_to_success, wall_to_success,
                          compile_seconds, eval_seconds, history)


def _score(e: dict[str, float]) -> tuple[float, float]:
    err = e["hover_error_m"]
    return (e["success_rate"], -(err if math.isfinite(err) else 1e9))  # all crashed (NaN error) ranks last
