"""The batched torch Crazyflie: equilibrium, agreement with PyBullet (a different engine) when drag and
ground effect are off, and the hover task's reward, termination and curriculum."""
from __future__ import annotations

import math

import numpy as np
import torch

from robot_learning.robots.crazyflie import DEFAULT_PARAMS
from robot_learning.sim.pybullet_quadrotor import PyBulletQuadrotor, PyBulletQuadrotorConfig
from robot_learning.sim.torch_quadrotor import BatchedQuadrotor
from robot_learning.tasks.quadrotor.config import QuadrotorEnvConfig
from robot_learning.tasks.quadrotor.env import QuadrotorHoverEnv


def test_params_match_the_paper() -> None:
    p = DEFAULT_PARAMS
    assert abs(p.hover_rpm - 14476) < 1 and abs(p.hover_action - 0.334) < 1e-3
    assert abs(p.thrust_to_weight - 2.25) < 0.01


def test_hover_is_an_equilibrium() -> None:
    sim = BatchedQuadrotor(DEFAULT_PARAMS)
    x = sim.hover_state(8)
    a = torch.full((8, 4), DEFAULT_PARAMS.hover_action)
    for _ in range(200):
        x = sim.step(x, a)
    assert x[:, :3].abs().max() < 1e-3 and (x[:, 3] - 1).abs().max() < 1e-6


def test_agrees_with_pybullet_without_drag() -> None:
    """Same start, same asymmetric commands: two engines, one model."""
    h = math.radians(20) / 2
    q = np.array([math.cos(h), 0.0, math.sin(h), 0.0])
    v0, w0 = np.array([0.3, -0.2, 0.1]), np.array([0.5, -0.3, 0.2])
    rng = np.random.default_rng(0)
    cmds = np.clip(DEFAULT_PARAMS.hover_action + 0.05 * rng.normal(size=(30, 4)), -1, 1)
    sim = BatchedQuadrotor(DEFAULT_PARAMS, dtype=torch.float64)
    x = sim.hover_state(1)
    x[0, 0:3] = torch.tensor([0.0, 0.0, 1.0])
    x[0, 3:7] = torch.from_numpy(q)
    x[0, 7:10] = torch.from_numpy(v0)
    x[0, 10:13] = torch.from_numpy(w0)
    cfg = PyBulletQuadrotorConfig(drag=False, ground_effect=False, physics_hz=1000)
    with PyBulletQuadrotor(cfg) as pb:
        pb.reset((0.0, 0.0, 1.0), q, v0, w0)
        for c in cmds:
            x = sim.step(x, torch.from_numpy(c)[None])
            pb.step(c)
        s = pb.state()
    assert np.abs(x[0, 0:3].numpy() - s["position"]).max() < 5e-3
    assert np.abs(x[0, 10:13].numpy() - s["angular_velocity"]).max() < 0.05 * max(1.0, np.abs(s["angular_velocity"]).max())
    assert np.abs(x[0, 13:17].numpy() - s["rpm"]).max() < 20.0


def test_env_rewards_termination_and_curriculum() -> None:
    env = QuadrotorHoverEnv(QuadrotorEnvConfig(num_envs=64), DEFAULT_PARAMS, seed=0)
    x, _, _ = env.sample_states(4096)
    assert x[:, :3].abs().max() <= 0.2 + 1e-6
    tilt = torch.rad2deg(torch.acos((1 - 2 * (x[:, 4] ** 2 + x[:, 5] ** 2)).clamp(-1, 1)))
    assert tilt.max() <= 90.5 and tilt.max() > 60
    out = env.step(torch.full((64, 4), -1.0))  # motors off
    assert out["reward"].max() <= 2.0 and out["next_obs"].shape == (64, 146) and out["next_critic_obs"].shape == (64, 28)
    for _ in range(100):
        out = env.step(torch.full((64, 4), -1.0))
        if out["terminated"].any():
            break
    assert out["terminated"].any() and (out["reward"][out["terminated"]] == 0).all()
    w0 = env.weights.position
    assert env.advance_curriculum() and math.isclose(env.weights.position, w0 * 1.2)
    for _ in range(30):
        env.advance_curriculum()
    assert env.weights.position == 40.0 and env.weights.action == 1.0 and env.weights.linear_velocity == 1.0
