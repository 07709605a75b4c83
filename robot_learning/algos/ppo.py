"""PPO with an asymmetric actor-critic, as the legged-robot literature runs it (HumanUP, ASAP).

Clipped surrogate, clipped value loss, GAE(lambda), several epochs of minibatches over a rollout of
``steps_per_env`` steps from every environment, and the adaptive learning rate that keeps the KL
divergence between successive policies near ``desired_kl``. Observations are normalised by running
statistics that live inside the networks, so the exported actor takes raw observations. The critic
may see privileged observations the actor does not (``critic_obs``).

Torch, CPU or GPU; one implementation shared by every module that uses PPO. On a device the
rollout storage, GAE and the minibatch updates stay there: an update reads nothing back to the host
until its statistics, in one transfer at the end, and the adaptive learning rate is computed on the
device too (see :class:`PPO`). Data-parallel training over processes (torchrun) goes through
:class:`~robot_learning.algos.distributed.Distributed`, which PPO takes optionally.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from robot_learning.algos.distributed import Distributed


@dataclass
class PPOConfig:
    actor_hidden: tuple[int, ...] = (512, 256, 128)  # HumanUP's sizes
    critic_hidden: tuple[int, ...] = (512, 256, 128)
    activation: str = "elu"
    init_std: float = 1.0
    learning_rate: float = 2e-4
    schedule: str = "adaptive"  # "adaptive" (KL-driven) | "fixed"
    desired_kl: float = 0.01
    steps_per_env: int = 24
    epochs: int = 5
    minibatches: int = 4
    gamma: float = 0.99
    lam: float = 0.95
    clip: float = 0.2
    value_coef: float = 1.0
    entropy_coef: float = 0.0
    max_grad_norm: float = 1.0
    normalize_obs: bool = True


def mlp(sizes: list[int], activation: str) -> nn.Sequential:
    act = {"elu": nn.ELU, "tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


class RunningNorm(nn.Module):
    """Running mean and variance of observations; ``forward`` standardises and clips to +-clip."""

    def __init__(self, size: int, clip: float = 10.0, eps: float = 1e-4) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("var", torch.ones(size))
        self.register_buffer("count", torch.tensor(eps))
        self.clip = clip
        self.frozen = False

    @torch.no_grad()
    def update(self, x: torch.Tensor, dist: Distributed | None = None) -> None:
        """Merge the rows of ``x`` into the statistics; ``dist``: the rows of every rank (the same
        statistics on all ranks)."""
        if self.frozen:
            return
        x = x.reshape(-1, x.shape[-1])
        if dist is not None and dist.enabled:
            n, mean, var = dist.moments(x)
        else:
            n = x.shape[0]
            mean, var = x.mean(0), x.var(0, unbiased=False)
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.var = (self.var * self.count + var * n + delta**2 * self.count * n / total) / total
        self.count = total

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp((x - self.mean) / torch.sqrt(self.var + 1e-8), -self.clip, self.clip)


class Actor(nn.Module):
    """Normaliser + MLP: raw observation -> mean action. This is what gets exported."""

    def __init__(self, obs_size: int, action_size: int, hidden: tuple[int, ...], activation: str, normalize: bool) -> None:
        super().__init__()
        self.norm = RunningNorm(obs_size) if normalize else nn.Identity()
        self.net = mlp([obs_size, *hidden, action_size], activation)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm(obs))


class TimedFeedforward(nn.Module):
    """A time-indexed action table added to an actor's output (residual policy learning): the
    action at observation time ``t`` is ``table[round(t * fps)]`` (clamped to the table), where
    ``t = obs[..., time_index] / time_scale``. Exported with the actor (an ONNX Gather)."""

    def __init__(self, table: torch.Tensor, fps: float, time_index: int, time_scale: float) -> None:
        super().__init__()
        self.register_buffer("table", table.float())
        self.fps, self.time_index, self.time_scale = float(fps), int(time_index), float(time_scale)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        t = obs[..., self.time_index] / self.time_scale
        idx = torch.clamp(torch.round(t * self.fps), 0, self.table.shape[0] - 1).long()
        return self.table[idx]


class ResidualActor(nn.Module):
    """An :class:`Actor` whose output is added to a :class:`TimedFeedforward` (exported as one).
    ``gate``: a second time-indexed table (same length, values in [0, 1]) that scales the actor's
    output per time and action: the residual acts only where the gate is open."""

    def __init__(self, actor: Actor, feedforward: TimedFeedforward, gate: TimedFeedforward | None = None) -> None:
        super().__init__()
        self.norm, self.net, self.feedforward, self.gate = actor.norm, actor.net, feedforward, gate

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        residual = self.net(self.norm(obs))
        if self.gate is not None:
            residual = residual * self.gate(obs)
        return residual + self.feedforward(obs)


class ActorCritic(nn.Module):
    def __init__(self, obs_size: int, critic_obs_size: int, action_size: int, cfg: PPOConfig, actor: nn.Module | None = None) -> None:
        """``actor``: another network with the :class:`Actor` layout (``norm``, and ``net`` ending in a
        Linear layer) instead of the MLP of ``cfg.actor_hidden``."""
        super().__init__()
        self.actor = actor if actor is not None else Actor(obs_size, action_size, cfg.actor_hidden, cfg.activation, cfg.normalize_obs)
        self.critic_norm = RunningNorm(critic_obs_size) if cfg.normalize_obs else nn.Identity()
        self.critic = mlp([critic_obs_size, *cfg.critic_hidden, 1], cfg.activation)
        self.log_std = nn.Parameter(torch.full((action_size,), float(torch.log(torch.tensor(cfg.init_std)))))
        with torch.no_grad():  # small initial actions: the robot starts near the reference / default
            self.actor.net[-1].weight.mul_(0.01)
            self.actor.net[-1].bias.zero_()

    def distribution(self, obs: torch.Tensor) -> torch.distributions.Normal:
        mu = self.actor(obs)  # no argument validation: its checks read the device's values back to the host
        return torch.distributions.Normal(mu, self.log_std.exp().expand_as(mu), validate_args=False)

    def value(self, critic_obs: torch.Tensor) -> torch.Tensor:
        return self.critic(self.critic_norm(critic_obs)).squeeze(-1)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, critic_obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        d = self.distribution(obs)
        a = d.sample()
        return a, d.log_prob(a).sum(-1), self.value(critic_obs), d.mean


class RolloutBuffer:
    """``steps`` x ``num_envs`` transitions on ``device``, then GAE returns and advantages."""

    def __init__(self, steps: int, num_envs: int, obs_size: int, critic_obs_size: int, action_size: int,
                 device: str | torch.device = "cpu") -> None:
        T, N = steps, num_envs
        self.device = dev = torch.device(device)
        self.obs = torch.zeros(T, N, obs_size, device=dev)
        self.critic_obs = torch.zeros(T, N, critic_obs_size, device=dev)
        self.actions = torch.zeros(T, N, action_size, device=dev)
        self.mu = torch.zeros(T, N, action_size, device=dev)
        self.logp = torch.zeros(T, N, device=dev)
        self.values = torch.zeros(T, N, device=dev)
        self.rewards = torch.zeros(T, N, device=dev)
        self.dones = torch.zeros(T, N, device=dev)
        self.returns = torch.zeros(T, N, device=dev)
        self.advantages = torch.zeros(T, N, device=dev)
        self.sigma = torch.ones(action_size, device=dev)  # the policy's std when the rollout was collected
        self.teacher: torch.Tensor | None = None  # optional teacher actions (T, N, A) for an imitation term
        self.t = 0
        self.normalized_over = 0  # ranks whose advantages entered the normalisation (set by compute_returns)

    def add(self, obs, critic_obs, actions, logp, values, mu, rewards, dones, teacher=None) -> None:  # noqa: ANN001 (tensors)
        t = self.t
        self.obs[t], self.critic_obs[t], self.actions[t], self.logp[t] = obs, critic_obs, actions, logp
        self.values[t], self.mu[t], self.rewards[t], self.dones[t] = values, mu, rewards, dones
        if teacher is not None:
            if self.teacher is None:
                self.teacher = torch.zeros_like(self.actions)
            self.teacher[t] = teacher
        self.t += 1

    def compute_returns(self, last_values: torch.Tensor, gamma: float, lam: float, dist: Distributed | None = None) -> None:
        """GAE(lambda) and the returns; the advantages standardised by their mean and std, over every
        rank's buffer when ``dist`` is given (so that all ranks scale them alike)."""
        adv = torch.zeros_like(last_values)
        T = self.t
        for t in reversed(range(T)):
            next_v = last_values if t == T - 1 else self.values[t + 1]
            not_done = 1.0 - self.dones[t]
            delta = self.rewards[t] + gamma * next_v * not_done - self.values[t]
            adv = delta + gamma * lam * not_done * adv
            self.advantages[t] = adv
        self.returns[:T] = self.advantages[:T] + self.values[:T]
        a = self.advantages[:T]
        if dist is not None and dist.enabled:
            mean, std = dist.mean_std(a)
            self.advantages[:T] = (a - mean) / (std + 1e-8)
        else:
            self.advantages[:T] = (a - a.mean()) / (a.std() + 1e-8)
        self.normalized_over = dist.world_size if dist is not None else 1

    def minibatches(self, n: int, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
        T, N = self.t, self.obs.shape[1]
        total = T * N
        perm = torch.randperm(total, generator=generator, device=generator.device).to(self.device)
        fields = [self.obs, self.critic_obs, self.actions, self.logp, self.values, self.returns, self.advantages, self.mu]
        fields.append(self.teacher if self.teacher is not None else self.mu)  # last: teacher actions (or a stand-in)
        flat = [x[:T].reshape(total, *x.shape[2:]) for x in fields]
        size = total // n
        for i in range(n):
            idx = perm[i * size:(i + 1) * size]
            yield tuple(x[idx] for x in flat)

    def clear(self) -> None:
        self.t = 0


class PPO:
    """The learner: ``update(buf)`` runs the epochs and returns the losses and the KL.

    The device is the model's. ``dist``: data-parallel training (see
    :mod:`robot_learning.algos.distributed`): rank 0's parameters are broadcast here, gradients are
    averaged over the ranks before clipping and the KL that drives the adaptive learning rate is
    averaged over them, so every rank takes the same step.

    The adaptive learning rate reads the KL of every minibatch, as rsl_rl's does. ``device_lr``
    (default: on any device but the CPU) keeps that decision on the device: the rate is a 0-d tensor
    updated by ``torch.where`` and handed to a fused Adam as a tensor, so no minibatch waits for the
    host; on the CPU (default) it is a Python float compared with the KL, which there costs no
    transfer, and the numbers are those of the float path exactly."""

    def __init__(self, model: ActorCritic, cfg: PPOConfig, seed: int = 0, dist: Distributed | None = None,
                 device_lr: bool | None = None) -> None:
        self.model, self.cfg, self.dist = model, cfg, dist
        self.device = next(model.parameters()).device
        if dist is not None:
            dist.broadcast_module(model)
        self.device_lr = self.device.type != "cpu" if device_lr is None else device_lr
        self._lr: float | torch.Tensor
        if self.device_lr:
            self._lr = torch.tensor(cfg.learning_rate, dtype=torch.float32, device=self.device)
            self.opt = torch.optim.Adam(model.parameters(), lr=self._lr, fused=True)
        else:
            self._lr = cfg.learning_rate
            self.opt = torch.optim.Adam(model.parameters(), lr=self._lr)
        self.gen = torch.Generator(device=self.device).manual_seed(seed)

    @property
    def lr(self) -> float:
        """The current learning rate (a host read when it lives on the device)."""
        return float(self._lr)

    def _adapt_lr(self, kl: torch.Tensor) -> None:
        d = self.cfg.desired_kl
        if isinstance(self._lr, torch.Tensor):  # on the device; the optimiser holds this same tensor
            lr = self._lr
            down = torch.clamp(lr / 1.5, min=1e-5)
            up = torch.clamp(lr * 1.5, max=1e-2)
            lr.copy_(torch.where(kl > 2 * d, down, torch.where((kl > 0.0) & (kl < d / 2), up, lr)))
            return
        if kl > 2 * d:
            self._lr = max(1e-5, self._lr / 1.5)
        elif 0.0 < kl < d / 2:
            self._lr = min(1e-2, self._lr * 1.5)
        for g in self.opt.param_groups:
            g["lr"] = self._lr

    def update(self, buf: RolloutBuffer, critic_only: bool = False, imitation_coef: float = 0.0) -> dict[str, float]:
        """The epochs over ``buf``. ``critic_only``: fit the value function only (the actor and its
        std stay as they are), e.g. while a critic catches up with a pre-trained actor.
        ``imitation_coef``: add ``coef * mean((mean action - teacher)^2)`` (needs ``buf.teacher``), the
        demonstration-augmented policy gradient's way of keeping a cloned policy near its teacher."""
        cfg, model, dist = self.cfg, self.model, self.dist
        if imitation_coef > 0.0 and buf.teacher is None:
            raise ValueError("imitation_coef > 0 needs teacher actions in the rollout buffer")
        world = dist.world_size if dist is not None else 1
        if buf.normalized_over not in (0, world):
            raise ValueError(f"the buffer's advantages were normalised over {buf.normalized_over} rank(s), the update runs on {world}: "
                             "pass dist= to compute_returns")
        imitate = imitation_coef > 0.0 and not critic_only
        # value loss, surrogate, entropy, KL, imitation: summed on the device in float64 (as Python floats would be)
        acc = torch.zeros(5, dtype=torch.float64, device=self.device)
        zero = torch.zeros((), device=self.device)
        n = 0
        for _ in range(cfg.epochs):
            for obs, cobs, act, old_logp, old_v, ret, adv, old_mu, teacher in buf.minibatches(cfg.minibatches, self.gen):
                d = model.distribution(obs)
                logp = d.log_prob(act).sum(-1)
                entropy = d.entropy().sum(-1).mean()
                with torch.no_grad():  # KL(old || new) of diagonal Gaussians, for the adaptive learning rate
                    std, old_std = d.stddev, buf.sigma
                    kl = (torch.log(std / old_std) + (old_std**2 + (old_mu - d.mean) ** 2) / (2 * std**2) - 0.5).sum(-1).mean()
                    if dist is not None:
                        kl = dist.mean(kl)
                if cfg.schedule == "adaptive" and not critic_only:
                    self._adapt_lr(kl)
                ratio = torch.exp(logp - old_logp)
                surr = -torch.min(ratio * adv, torch.clamp(ratio, 1 - cfg.clip, 1 + cfg.clip) * adv).mean()
                v = model.value(cobs)
                v_clipped = old_v + torch.clamp(v - old_v, -cfg.clip, cfg.clip)
                v_loss = torch.max((v - ret) ** 2, (v_clipped - ret) ** 2).mean()
                loss = cfg.value_coef * v_loss if critic_only else surr + cfg.value_coef * v_loss - cfg.entropy_coef * entropy
                imitation = zero
                if imitate:
                    imitation = torch.mean((d.mean - teacher) ** 2)
                    loss = loss + imitation_coef * imitation
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                if dist is not None:
                    dist.average_gradients(model.parameters())
                nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                self.opt.step()
                acc += torch.stack([v_loss.detach(), surr.detach(), entropy.detach(), kl, imitation.detach()]).to(torch.float64)
                n += 1
        tail = torch.stack([torch.as_tensor(self._lr, dtype=torch.float64, device=self.device),
                            model.log_std.detach().exp().mean().to(torch.float64)])
        values = torch.cat([acc, tail]).tolist()  # the update's one transfer to the host
        out = {k: v / max(1, n) for k, v in zip(("value_loss", "surrogate", "entropy", "kl", "imitation"), values[:5])}
        out["learning_rate"] = self._lr if isinstance(self._lr, float) else values[5]
        out["action_std"] = values[6]
        return out


StepFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]]
TensorStepFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]]


def rollout_and_update(model: ActorCritic, ppo: PPO, buf: RolloutBuffer, obs: np.ndarray | torch.Tensor, step: StepFn | TensorStepFn,
                       critic_only: bool = False) -> tuple[np.ndarray | torch.Tensor, dict[str, float], list[dict[str, Any]]]:
    """One PPO iteration on an environment whose actor and critic see the same observation:
    ``steps_per_env`` steps of ``step(action) -> (obs, reward, done, info)`` from ``obs``, GAE, the
    update, and the observation normalisers' update. Returns the next observation, the update's
    statistics (with ``mean_reward``, this rank's) and the steps' infos.

    A numpy environment (``obs`` an array) gets float64 actions and its arrays cross to ``buf.device``
    once per step; a torch environment (``obs`` a tensor, e.g. simulated on the same device) gets the
    action tensor and nothing leaves the device. With ``ppo.dist`` the advantages and the normalisers'
    statistics are those of all ranks."""
    cfg, dev, dist = ppo.cfg, buf.device, ppo.dist
    on_device = isinstance(obs, torch.Tensor)

    def tensor(x: Any, dtype: torch.dtype | None = None) -> torch.Tensor:
        t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
        return t.to(device=dev, dtype=dtype)

    buf.clear()
    buf.sigma = model.log_std.detach().exp().clone()
    infos = []
    for _ in range(cfg.steps_per_env):
        o = tensor(obs)
        a, logp, v, mu = model.act(o, o)
        obs, r, done, info = step(a) if on_device else step(a.cpu().numpy().astype(np.float64))  # type: ignore[arg-type]
        infos.append(info)
        buf.add(o, o, a, logp, v, mu, tensor(r), tensor(done, torch.float32))
    with torch.no_grad():
        last = model.value(tensor(obs))
    buf.compute_returns(last, cfg.gamma, cfg.lam, dist=dist)
    stats = ppo.update(buf, critic_only=critic_only)
    model.actor.norm.update(buf.obs[: buf.t], dist=dist)
    model.critic_norm.update(buf.critic_obs[: buf.t], dist=dist)
    stats["mean_reward"] = float(buf.rewards[: buf.t].mean())
    return obs, stats, infos


def progress_row(env_steps: int, t0: float, stats: dict[str, float], infos: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """One learning-curve row after :func:`rollout_and_update`: steps, wall-clock since ``t0``
    (``time.monotonic()``), mean reward, the mean of every info value, the action std, ``extra``."""
    import time

    row: dict[str, Any] = {"env_steps": env_steps, "seconds": round(time.monotonic() - t0, 1), "mean_reward": stats["mean_reward"]}
    row.update(extra)
    row.update({k: float(np.mean([i[k] for i in infos])) for k in infos[0]} if infos else {})
    row["action_std"] = stats["action_std"]
    return row
