"""Train a Crazyflie hover policy with TD3, as "Learning to Fly in Seconds" does, on batched envs."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from robot_learning.algos.td3 import TD3, ReplayBuffer
from robot_learning.robots.crazyflie import CrazyflieParams, DEFAULT_PARAMS
from robot_learning.tasks.quadrotor.config import QuadrotorTrainConfig
from robot_learning.tasks.quadrotor.env import ACTION_DIM, QuadrotorHoverEnv, reward_from_costs
from robot_learning.tasks.quadrotor.evaluate import evaluate_torch


@dataclass
class TrainResult:
    """``policy`` is the actor to export: the best one the periodic evaluations saw (the actor or its
    Polyak-averaged target, whichever scored better), or the last actor if none was evaluated."""

    policy: torch.nn.Module
    agent: TD3
    env: QuadrotorHoverEnv
    env_steps: int
    wall_seconds: float
    seconds_to_success: float | None
    env_steps_to_success: int | None
    history: list[dict[str, float]] = field(default_factory=list)
    final_eval: dict[str, float] = field(default_factory=dict)


def train(cfg: QuadrotorTrainConfig, params: CrazyflieParams = DEFAULT_PARAMS,
          log: Callable[[dict[str, float]], None] | None = None,
          progress: Callable[[int, int], None] | None = None) -> TrainResult:
    """Run TD3 until ``total_env_steps``, ``max_seconds`` or the early-stop success rate.

    ``log`` receives a dict of scalars at every evaluation; ``progress(env_steps, total)`` after
    every iteration (for a progress bar). Evaluation time is excluded from the training clock.
    """
    torch.set_num_threads(cfg.torch_threads)
    env = QuadrotorHoverEnv(cfg.env, params, seed=cfg.seed)
    agent = TD3(env.actor_layout.size, env.critic_layout.size, ACTION_DIM, cfg.td3, seed=cfg.seed)
    buffer = ReplayBuffer(min(cfg.td3.buffer_size, cfg.total_env_steps), env.actor_layout.size,
                          env.critic_layout.size, ACTION_DIM, 4, seed=cfg.seed)
    reward_cfg = cfg.env.reward

    def reward_fn(b: dict[str, torch.Tensor]) -> torch.Tensor:
        return reward_from_costs(b["costs"], b["terminated"], reward_cfg, env.weights)

    def score(e: dict[str, float]) -> tuple[float, float]:
        err = e["hover_error_m"]
        return (e["success_rate"], -(err if err == err else 1e9))  # NaN error (all crashed) ranks last

    best: tuple[tuple[float, float], dict[str, torch.Tensor], str] | None = None

    history: list[dict[str, float]] = []
    train_clock = 0.0
    next_eval = cfg.eval_every_seconds
    next_curriculum = cfg.env.curriculum.interval
    seconds_to_success = steps_to_success = None
    obs, cobs = env.observe()
    critic_updates = 0
    last_eval: dict[str, float] = {}
    episode_returns = torch.zeros(env.n)
    finished_returns: list[float] = []
    t0 = time.perf_counter()
    while env.total_steps < cfg.total_env_steps and train_clock < cfg.max_seconds:
        with torch.inference_mode():
            action = agent.act(obs, cfg.td3.exploration_noise)
            out = env.step(action)
            done = out["terminated"] | out["truncated"]
            # Only finished envs were reset: the others start from the transition's next observation.
            obs_next, cobs_next = env.observe() if done.any() else (out["next_obs"], out["next_critic_obs"])
        buffer.add(obs, cobs, action, out["costs"], out["reward"], out["terminated"], out["next_obs"], out["next_critic_obs"])
        episode_returns += out["reward"]
        if done.any():
            finished_returns.extend(episode_returns[done].tolist())
            episode_returns[done] = 0.0
        obs, cobs = obs_next, cobs_next
        if env.total_steps >= next_curriculum:
            env.advance_curriculum()  # the buffer's rewards follow: they are recomputed at sampling
            next_curriculum += cfg.env.curriculum.interval
        if env.total_steps >= cfg.td3.critic_warmup_steps:
            for _ in range(cfg.td3.critic_updates_per_iteration):
                critic_updates += 1
                actor_turn = env.total_steps >= cfg.td3.actor_warmup_steps and critic_updates % cfg.td3.actor_every == 0
                agent.train_step(buffer, reward_fn, actor_turn)
        train_clock = time.perf_counter() - t0
        if progress is not None:
            progress(env.total_steps, cfg.total_env_steps)
        if train_clock >= next_eval:
            te = time.perf_counter()
            # Evaluate the actor and its Polyak-averaged target (smoother: TD3's actor moves a lot
            # between evaluations); keep the best seen for export.
            evals = {name: evaluate_torch(net, cfg.env, params, cfg.eval, seed=cfg.seed + 1000)
                     for name, net in (("actor", agent.actor), ("actor_target", agent.actor_target))}
            name = max(evals, key=lambda k: score(evals[k]))
            last_eval = evals[name]
            if best is None or score(last_eval) > best[0]:
                net = agent.actor if name == "actor" else agent.actor_target
                best = (score(last_eval), copy.deepcopy(net.state_dict()), name)
            row = {"env_steps": env.total_steps, "train_seconds": train_clock, **last_eval, "evaluated": float(name == "actor_target"),
                   "critic_loss": agent.stats.critic_loss, "q_mean": agent.stats.q_mean,
                   "critic_updates": agent.stats.critic_updates, "actor_updates": agent.stats.actor_updates,
                   "w_position": env.weights.position, "w_action": env.weights.action,
                   "episode_return": sum(finished_returns[-100:]) / max(1, len(finished_returns[-100:]))}
            history.append(row)
            if log is not None:
                log(row)
            if seconds_to_success is None and last_eval["success_rate"] >= 0.95:
                seconds_to_success, steps_to_success = train_clock, env.total_steps
            t0 += time.perf_counter() - te  # evaluation does not count as training time
            next_eval = train_clock + cfg.eval_every_seconds
            if cfg.stop_at_success_rate > 0 and last_eval["success_rate"] >= cfg.stop_at_success_rate:
                break
    wall = time.perf_counter() - t0
    chosen = copy.deepcopy(agent.actor)
    if best is not None:
        chosen.load_state_dict(best[1])
    chosen.requires_grad_(False)
    final = evaluate_torch(chosen, cfg.env, params, cfg.eval, seed=cfg.seed + 2000)
    return TrainResult(chosen, agent, env, env.total_steps, wall, seconds_to_success, steps_to_success, history, final)
