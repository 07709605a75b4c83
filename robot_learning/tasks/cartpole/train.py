"""Training: the shared PPO (robot_learning/algos/ppo.py) on the batched cart-poles, until a check
of deterministic episodes reaches the target success rate or the wall-clock or env-step bound passes.

Data-parallel over ranks when given a :class:`~robot_learning.algos.distributed.Distributed` (torchrun):
each rank steps ``env.num_envs`` cart-poles of its own seed, PPO keeps the networks identical, and
rank 0 alone runs the success checks and decides (for everyone) when to stop."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from robot_learning.algos.distributed import Distributed
from robot_learning.algos.ppo import PPO, ActorCritic, RolloutBuffer, progress_row, rollout_and_update
from robot_learning.tasks.cartpole.config import CartPoleConfig
from robot_learning.tasks.cartpole.env import OBS_LAYOUT, CartPoleBatch, episode_success, sample_initial


@dataclass
class TrainResult:
    model: ActorCritic
    env_steps: int
    wall_seconds: float
    seconds_to_success: float | None
    env_steps_to_success: int | None
    success_rate: float  # of the last check
    curve: list[dict[str, Any]] = field(default_factory=list)


def check_policy(actor: Callable[[np.ndarray], np.ndarray], cfg: CartPoleConfig, episodes: int, seed: int) -> dict[str, float]:
    """``episodes`` deterministic episodes of ``cfg.eval`` in the training simulator (batched): success rate and mean |angle|."""
    env = CartPoleBatch(cfg.env, cfg.rewards, seed=seed, num_envs=episodes)
    obs = env.reset(sample_initial(np.random.default_rng(seed), episodes, cfg.env))
    steps = int(round(cfg.eval.episode_s * cfg.env.control_rate_hz))
    angles, positions = np.zeros((steps, episodes)), np.zeros((steps, episodes))
    for k in range(steps):
        env.last_action = env.apply(actor(obs))
        angles[k], positions[k] = env.qpos[:, 1], env.qpos[:, 0]
        obs = env.observe()
    ok = [episode_success(angles[:, i], positions[:, i], env.dt, cfg.eval) for i in range(episodes)]
    return {"success_rate": float(np.mean(ok)), "abs_angle_deg": float(np.degrees(np.abs(angles)).mean())}


def train(cfg: CartPoleConfig, log: Callable[[dict[str, Any]], None] | None = None, dist: Distributed | None = None) -> TrainResult:
    """PPO until success or a bound. ``dist``: this rank of a data-parallel run (``log`` is called on
    rank 0 only; ``env_steps`` counts every rank's steps); None: one process."""
    ctx = dist if dist is not None else Distributed()
    torch.manual_seed(ctx.seed(cfg.seed))
    torch.set_num_threads(cfg.torch_threads)
    env = CartPoleBatch(cfg.env, cfg.rewards, seed=ctx.seed(cfg.seed))
    obs = env.reset()
    model = ActorCritic(OBS_LAYOUT.size, OBS_LAYOUT.size, 1, cfg.ppo).to(ctx.device)
    ppo = PPO(model, cfg.ppo, seed=cfg.seed, dist=ctx)
    buf = RolloutBuffer(cfg.ppo.steps_per_env, env.n, OBS_LAYOUT.size, OBS_LAYOUT.size, 1, device=ctx.device)

    def deterministic(o: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model.actor(torch.from_numpy(o).to(ctx.device)).cpu().numpy()

    t0 = time.monotonic()
    steps, iteration = 0, 0
    curve: list[dict[str, Any]] = []
    to_success: tuple[float, int] | None = None
    success = 0.0
    while not ctx.agree(time.monotonic() - t0 >= cfg.max_seconds or steps >= cfg.max_env_steps):  # rank 0's clock
        obs, stats, infos = rollout_and_update(model, ppo, buf, obs, env.step)
        steps += cfg.ppo.steps_per_env * env.n * ctx.world_size
        iteration += 1
        if iteration % cfg.check_every == 0:
            solved = False
            if ctx.is_main:
                check = check_policy(deterministic, cfg, episodes=min(cfg.eval.episodes, 64), seed=cfg.seed + 1)
                success = check["success_rate"]
                row = progress_row(steps, t0, stats, infos, success_rate=success, check_abs_angle_deg=check["abs_angle_deg"])
                curve.append(row)
                if log is not None:
                    log(row)
                solved = success >= cfg.target_success
            if ctx.agree(solved):
                to_success = (time.monotonic() - t0, steps)
                break
    return TrainResult(model, steps, time.monotonic() - t0, None if to_success is None else to_success[0],
                       None if to_success is None else to_success[1], success, curve)
