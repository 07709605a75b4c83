"""The hover task of "Learning to Fly in Seconds" on the batched torch simulator.

Every environment holds one Crazyflie that must return to and hover at the origin from a random
state (up to 90 degrees of tilt, 1 m/s, 1 rad/s) under a random constant disturbance held for the
episode. Actions are normalised rotor RPMs. The actor observes position error, rotation matrix,
linear and angular velocity (with noise) and its last 32 actions; the critic additionally sees the
noise-free values, rotor speeds and the disturbance (asymmetric actor-critic).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from robot_learning.robots.crazyflie import CrazyflieParams
from robot_learning.runtime.observation import ObservationBuilder, push_history, quat_to_rotmat
from robot_learning.sim.torch_quadrotor import ANGVEL, POS, QUAT, RPM, VEL, BatchedQuadrotor
from robot_learning.tasks.quadrotor.config import QuadrotorEnvConfig, RewardConfig
from robot_learning.types import ObsLayout, ObsTerm

ACTION_DIM = 4


def actor_layout(history: int) -> ObsLayout:
    """The policy's observation: the same layout goes into the ONNX metadata and drives the runtime."""
    return ObsLayout(
        (
            ObsTerm("position_error", 3),
            ObsTerm("rotation_matrix", 9),
            ObsTerm("linear_velocity", 3),
            ObsTerm("angular_velocity", 3),
            ObsTerm("action_history", history * ACTION_DIM),
        )
    )


def critic_layout() -> ObsLayout:
    """Privileged critic input, as the paper's code has it: noise-free state, the disturbance and the
    rotor speeds. No action history: rotor speeds already make the state Markov, and a 28-wide input
    instead of 160 makes every critic update several times cheaper."""
    return ObsLayout(
        actor_layout(0).terms[:4]
        + (ObsTerm("disturbance_force", 3, 1.0 / 0.0132), ObsTerm("disturbance_torque", 3, 1.0 / 2.65e-5), ObsTerm("rpm_normalised", 4))
    )


@dataclass
class RewardWeights:
    """The weights the curriculum changes; rewards are recomputed from stored cost terms with them."""

    position: float
    linear_velocity: float
    action: float

    @classmethod
    def initial(cls, r: RewardConfig) -> "RewardWeights":
        return cls(r.position, r.linear_velocity, r.action)


def reward_from_costs(costs: torch.Tensor, terminated: torch.Tensor, r: RewardConfig, w: RewardWeights) -> torch.Tensor:
    """costs: (N, 4) = |p|^2, 1 - q_w^2, |v|^2, |a - baseline|^2."""
    weighted = w.position * costs[:, 0] + r.orientation * costs[:, 1] + w.linear_velocity * costs[:, 2] + w.action * costs[:, 3]
    reward = r.constant - r.scale * weighted
    return torch.where(terminated, torch.full_like(reward, r.termination), reward)


def random_quaternions(n: int, max_angle: float, gen: torch.Generator) -> torch.Tensor:
    """Rotations about a uniformly random axis by an angle uniform in [0, max_angle] (w, x, y, z)."""
    axis = torch.randn(n, 3, generator=gen)
    axis = axis / axis.norm(dim=1, keepdim=True).clamp_min(1e-9)
    angle = torch.rand(n, generator=gen) * max_angle
    return torch.cat([torch.cos(angle / 2).unsqueeze(1), axis * torch.sin(angle / 2).unsqueeze(1)], dim=1)


class QuadrotorHoverEnv:
    """N hover episodes stepped together; finished ones reset automatically."""

    def __init__(self, cfg: QuadrotorEnvConfig, params: CrazyflieParams, seed: int = 0) -> None:
        self.cfg = cfg
        self.params = params
        self.n = cfg.num_envs
        self.sim = BatchedQuadrotor(params)
        self.gen = torch.Generator().manual_seed(seed)
        self.actor_layout = actor_layout(cfg.action_history)
        self.critic_layout = critic_layout()
        self.actor_builder = ObservationBuilder(self.actor_layout)
        self.critic_builder = ObservationBuilder(self.critic_layout)
        self.weights = RewardWeights.initial(cfg.reward)
        n = self.n
        self.state = self.sim.hover_state(n)
        self.history = torch.zeros(n, cfg.action_history, ACTION_DIM)
        self.force = torch.zeros(n, 3)
        self.torque = torch.zeros(n, 3)
        self.steps = torch.zeros(n, dtype=torch.long)
        self._rot = torch.zeros(n, 9)
        self.total_steps = 0
        self.reset(torch.ones(n, dtype=torch.bool))

    # ----------------------------------------------------------------------------------- reset
    def sample_states(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Initial states and disturbances from the paper's distribution."""
        c, g = self.cfg.init, self.gen
        x = self.sim.hover_state(n)
        u = lambda k, m: (torch.rand(n, k, generator=g) * 2 - 1) * m  # noqa: E731
        x[:, POS] = u(3, c.max_position)
        x[:, QUAT] = random_quaternions(n, math.radians(c.max_angle_deg), g)
        x[:, VEL] = u(3, c.max_linear_velocity)
        x[:, ANGVEL] = u(3, c.max_angular_velocity)
        guided = torch.rand(n, generator=g) < c.guidance
        x[guided] = self.sim.hover_state(int(guided.sum()))
        force = torch.randn(n, 3, generator=g) * c.disturbance_force_std
        torque = torch.randn(n, 3, generator=g) * c.disturbance_torque_std
        return x, force, torque

    def reset(self, mask: torch.Tensor) -> None:
        k = int(mask.sum())
        if k == 0:
            return
        x, f, t = self.sample_states(k)
        self.state[mask] = x
        self.force[mask] = f
        self.torque[mask] = t
        self.history[mask] = self.params.hover_action
        self.steps[mask] = 0

    # ------------------------------------------------------------------------------ observation
    def fields(self, noise: bool) -> dict[str, torch.Tensor]:
        c, x = self.cfg, self.state
        quat_to_rotmat(x[:, QUAT], self._rot)
        f = {
            "position_error": x[:, POS],
            "rotation_matrix": self._rot,
            "linear_velocity": x[:, VEL],
            "angular_velocity": x[:, ANGVEL],
            "action_history": self.history,
        }
        if noise:
            g = self.gen
            for key, std in (("position_error", c.noise_position), ("rotation_matrix", c.noise_orientation),
                             ("linear_velocity", c.noise_linear_velocity), ("angular_velocity", c.noise_angular_velocity)):
                if std > 0:
                    f[key] = f[key] + torch.randn(f[key].shape, generator=g) * std
        return f

    def observe(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(actor observation with noise, privileged critic observation)."""
        obs = self.actor_builder.build(self.fields(noise=True), torch.empty(self.n, self.actor_layout.size))
        priv = self.fields(noise=False)
        priv["rpm_normalised"] = self.params.rpm_to_action(self.state[:, RPM])
        priv["disturbance_force"] = self.force
        priv["disturbance_torque"] = self.torque
        cobs = self.critic_builder.build(priv, torch.empty(self.n, self.critic_layout.size))
        return obs, cobs

    # ------------------------------------------------------------------------------------- step
    def step(self, action: torch.Tensor) -> dict[str, torch.Tensor]:
        """Advance all envs; returns the transition's next observations (before any reset), cost terms,
        reward and flags. Finished envs are then reset, so :meth:`observe` gives the next start."""
        c = self.cfg
        action = action.clamp(-1.0, 1.0)
        self.state = self.sim.step(self.state, action, self.force, self.torque)
        push_history(self.history, action)
        self.steps += 1
        self.total_steps += self.n
        x = self.state
        p, v, w = x[:, POS], x[:, VEL], x[:, ANGVEL]
        finite = torch.isfinite(x).all(dim=1)
        terminated = (
            ~finite
            | (p.abs() > c.termination_position).any(dim=1)
            | (v.abs() > c.termination_linear_velocity).any(dim=1)
            | (w.abs() > c.termination_angular_velocity).any(dim=1)
        )
        truncated = (self.steps >= c.episode_steps) & ~terminated
        costs = torch.stack(
            [(p * p).sum(1), 1 - x[:, 3] ** 2, (v * v).sum(1), ((action - c.reward.action_baseline) ** 2).sum(1)], dim=1
        )
        costs = torch.nan_to_num(costs, nan=0.0, posinf=0.0)
        next_obs, next_cobs = self.observe()
        reward = reward_from_costs(costs, terminated, c.reward, self.weights)
        out = {
            "next_obs": next_obs,
            "next_critic_obs": next_cobs,
            "costs": costs,
            "reward": reward,
            "terminated": terminated,
            "truncated": truncated,
            "position_error": p.norm(dim=1),
        }
        self.reset(terminated | truncated)
        return out

    def advance_curriculum(self) -> bool:
        """Apply the paper's multiplicative curriculum once; True if any weight changed."""
        cc, w = self.cfg.curriculum, self.weights
        if not cc.enabled:
            return False
        old = (w.position, w.linear_velocity, w.action)
        w.position = min(w.position * cc.position_factor, cc.position_cap)
        w.linear_velocity = min(w.linear_velocity * cc.linear_velocity_factor, cc.linear_velocity_cap)
        w.action = min(w.action * cc.action_factor, cc.action_cap)
        return old != (w.position, w.linear_velocity, w.action)
