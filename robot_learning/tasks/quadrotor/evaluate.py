"""Evaluation of a hover policy in the training simulator (batched torch), from the paper's
initial-state distribution. The PyBullet gate lives in robot_learning/tasks/quadrotor/gate.py."""
from __future__ import annotations

from typing import Callable

import torch

from robot_learning.robots.crazyflie import CrazyflieParams
from robot_learning.tasks.quadrotor.config import EvalConfig, QuadrotorEnvConfig
from robot_learning.tasks.quadrotor.env import QuadrotorHoverEnv

Policy = Callable[[torch.Tensor], torch.Tensor]


@torch.inference_mode()
def evaluate_torch(policy: Policy, env_cfg: QuadrotorEnvConfig, params: CrazyflieParams, eval_cfg: EvalConfig,
                   episodes: int | None = None, seed: int = 12345) -> dict[str, float]:
    """Fly ``episodes`` episodes at once; an episode succeeds when it never leaves the box and stays
    within ``success_radius`` of the set point over its last ``success_window_steps`` steps."""
    import dataclasses

    n = episodes or eval_cfg.episodes
    cfg = dataclasses.replace(env_cfg, num_envs=n)
    env = QuadrotorHoverEnv(cfg, params, seed=seed)
    alive = torch.ones(n, dtype=torch.bool)
    window = min(eval_cfg.success_window_steps, cfg.episode_steps)
    err_sum = torch.zeros(n)
    err_max = torch.zeros(n)
    steps_alive = torch.zeros(n)
    obs, _ = env.observe()
    for t in range(cfg.episode_steps):
        out = env.step(policy(obs))
        alive &= ~out["terminated"]
        steps_alive += alive.float()
        if t >= cfg.episode_steps - window:
            e = out["position_error"]
            err_sum += e
            err_max = torch.maximum(err_max, e)
        obs = out["next_obs"]  # no reset happens before the final step, so this is the same episode
    mean_err = err_sum / window
    success = alive & (err_max < eval_cfg.success_radius)
    return {
        "episodes": n,
        "success_rate": float(success.float().mean()),
        "termination_rate": float((~alive).float().mean()),
        "mean_steps_before_termination": float(steps_alive.mean()),
        "hover_error_m": float(mean_err[alive].mean()) if alive.any() else float("nan"),
        "hover_error_p95_m": float(mean_err[alive].quantile(0.95)) if alive.any() else float("nan"),
    }
