"""TD3 (Fujimoto et al., 2018) with an asymmetric actor-critic, as "Learning to Fly in Seconds" uses it.

The actor sees the observation the robot will have; the critics see a privileged one (noise-free
state, rotor speeds, disturbances). Rewards may be recomputed at sampling time from stored cost
terms, so a reward curriculum applies to the whole replay buffer at once.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}


def mlp(sizes: list[int], activation: str, output_activation: type[nn.Module] | None = None) -> nn.Sequential:
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{activation}'; choose one of {sorted(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    if output_activation is not None:
        layers.append(output_activation())
    return nn.Sequential(*layers)


class EnsembleMLP(nn.Module):
    """``k`` MLPs of the same shape evaluated together with batched matrix products (TD3's twin critics).

    One baddbmm per layer for all members instead of one addmm per member: half the ops, same maths.
    Members are initialised like ``nn.Linear``.
    """

    def __init__(self, k: int, sizes: list[int], activation: str) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation '{activation}'; choose one of {sorted(ACTIVATIONS)}")
        self.act = ACTIVATIONS[activation]()
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / fan_in**0.5
            self.weights.append(nn.Parameter(torch.empty(k, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(k, 1, fan_out).uniform_(-bound, bound)))
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, in) -> (k, B, out)."""
        h = x.unsqueeze(0).expand(self.k, *x.shape)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = self.act(h)
        return h


class ReplayBuffer:
    """Preallocated ring buffer of transitions (torch, CPU).

    All fields of a transition live in one row of one tensor, so sampling a batch is a single
    gather (small-batch RL on a CPU is bound by per-op overhead, not by arithmetic).
    """

    def __init__(self, capacity: int, obs_dim: int, critic_obs_dim: int, act_dim: int, cost_dim: int, seed: int = 0) -> None:
        self.capacity = capacity
        sizes = {"obs": obs_dim, "cobs": critic_obs_dim, "action": act_dim, "costs": cost_dim, "reward": 1, "terminated": 1,
                 "next_obs": obs_dim, "next_cobs": critic_obs_dim}
        self.slices: dict[str, slice] = {}
        start = 0
        for name, size in sizes.items():
            self.slices[name] = slice(start, start + size)
            start += size
        self.data = torch.empty(capacity, start)
        self.size = 0
        self.pos = 0
        self.gen = torch.Generator().manual_seed(seed)

    def add(self, obs: torch.Tensor, cobs: torch.Tensor, action: torch.Tensor, costs: torch.Tensor, reward: torch.Tensor,
            terminated: torch.Tensor, next_obs: torch.Tensor, next_cobs: torch.Tensor) -> None:
        n = obs.shape[0]
        row = torch.cat([obs, cobs, action, costs, reward.unsqueeze(1), terminated.float().unsqueeze(1), next_obs, next_cobs], dim=1)
        end = self.pos + n
        if end <= self.capacity:
            self.data[self.pos:end] = row
        else:
            first = self.capacity - self.pos
            self.data[self.pos:] = row[:first]
            self.data[: n - first] = row[first:]
        self.pos = end % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch: int) -> dict[str, torch.Tensor]:
        idx = torch.randint(0, self.size, (batch,), generator=self.gen)
        rows = self.data.index_select(0, idx)
        out = {name: rows[:, sl] for name, sl in self.slices.items()}
        out["reward"] = out["reward"].squeeze(1)
        out["terminated"] = out["terminated"].squeeze(1) > 0.5
        return out


@dataclass
class TD3Stats:
    critic_loss: float = 0.0
    actor_loss: float = 0.0
    q_mean: float = 0.0
    critic_updates: int = 0
    actor_updates: int = 0


class TD3:
    """Twin critics, delayed actor and target updates, target policy smoothing."""

    def __init__(self, obs_dim: int, critic_obs_dim: int, act_dim: int, cfg, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.cfg = cfg
        self.actor = mlp([obs_dim, *cfg.actor_hidden, act_dim], cfg.activation, nn.Tanh)
        self.critics = EnsembleMLP(2, [critic_obs_dim + act_dim, *cfg.critic_hidden, 1], cfg.activation)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critics_target = copy.deepcopy(self.critics).requires_grad_(False)
        # fused=True: one kernel for the whole parameter list, several times faster for small nets on CPU.
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
        self.critic_opt = torch.optim.Adam(self.critics.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
        self.gen = torch.Generator().manual_seed(seed + 1)
        self.stats = TD3Stats()
        # As in the paper's code: critic targets follow every critic update, actor targets every actor update.
        self._actor_pair = (list(self.actor_target.parameters()), list(self.actor.parameters()))
        self._critic_pair = (list(self.critics_target.parameters()), list(self.critics.parameters()))

    @torch.no_grad()
    def act(self, obs: torch.Tensor, noise: float = 0.0) -> torch.Tensor:
        a = self.actor(obs)
        if noise > 0:
            a = (a + torch.randn(a.shape, generator=self.gen) * noise).clamp(-1.0, 1.0)
        return a

    def update_critic(self, b: dict[str, torch.Tensor], reward: torch.Tensor) -> None:
        c = self.cfg
        with torch.no_grad():
            noise = (torch.randn(b["action"].shape, generator=self.gen) * c.target_noise).clamp(-c.target_noise_clip, c.target_noise_clip)
            next_a = (self.actor_target(b["next_obs"]) + noise).clamp(-1.0, 1.0)
            nx = torch.cat([b["next_cobs"], next_a], dim=1)
            q_next = self.critics_target(nx).min(dim=0).values.squeeze(1)
            target = reward + c.gamma * (~b["terminated"]).float() * q_next
        x = torch.cat([b["cobs"], b["action"]], dim=1)
        q = self.critics(x).squeeze(2)  # (2, B)
        loss = ((q - target) ** 2).mean(dim=1).sum()
        self.critic_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.critic_opt.step()
        self.stats.critic_loss = float(loss.detach())
        self.stats.q_mean = float(q[0].detach().mean())
        self.stats.critic_updates += 1
        self._polyak(self._critic_pair)

    def update_actor(self, b: dict[str, torch.Tensor]) -> None:
        a = self.actor(b["obs"])
        self.critics.requires_grad_(False)  # the actor's loss needs no critic weight gradients
        q = self.critics(torch.cat([b["cobs"], a], dim=1))[0]  # TD3: the first critic drives the actor
        loss = -q.mean()
        self.actor_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.critics.requires_grad_(True)
        self.actor_opt.step()
        self.stats.actor_loss = float(loss.detach())
        self.stats.actor_updates += 1
        self._polyak(self._actor_pair)

    @torch.no_grad()
    def _polyak(self, pair: tuple[list[torch.Tensor], list[torch.Tensor]]) -> None:
        targets, sources = pair
        torch._foreach_mul_(targets, self.cfg.polyak)
        torch._foreach_add_(targets, sources, alpha=1.0 - self.cfg.polyak)

    def train_step(self, buffer: ReplayBuffer, reward_fn: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None,
                   update_actor: bool) -> None:
        """One critic update (and one actor + target update if ``update_actor``) on a fresh batch."""
        b = buffer.sample(self.cfg.batch_size)
        reward = reward_fn(b) if reward_fn is not None else b["reward"]
        self.update_critic(b, reward)
        if update_actor:
            self.update_actor(b)
