"""RLPD-style SAC with a discrete gripper critic, as HIL-SERL trains it.

- Every batch is half prior data (demonstrations and human interventions) and half online data
  (RLPD's symmetric sampling).
- Critics: an ensemble of LayerNorm MLPs (256x256); the target takes the minimum over a random
  subset (HIL-SERL: 2 critics, both used; RLPD: 10, min over a random 2).
- The continuous arm action has a tanh-Gaussian actor with an automatically tuned temperature
  (initial 1e-2, target entropy -|A|/2). Several critic updates per actor update.
- The gripper has its own critic over {close, stay, open} (DQN with a target network, double-Q
  action selection); its reward carries a small penalty for changing the gripper. The policy's
  gripper command is that critic's argmax.

With images (``image_shape``), the observation is proprioception followed by a flattened frame: a
small CNN trained from scratch (DrQ's recipe, as HIL-SERL's image encoder minus the pretrained
ResNet, which cannot be downloaded here) turns the frame into features. The critic's loss trains it;
the actor and the gripper critic read its features without moving it; frames are augmented with
random shifts in every update.

Torch only; the replay buffers are numpy. Nothing here knows about the robot.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from robot_learning.core.checks import check
from robot_learning.core.config import FieldError


@dataclass
class SACConfig:
    hidden: tuple[int, ...] = (256, 256)
    lr: float = 3e-4
    tau: float = 0.005
    gamma: float = 0.97
    init_temperature: float = 1e-2
    target_entropy: float | None = None  # None: -|A| / 2
    critic_ensemble: int = 2
    critic_subsample: int = 2  # min over a random subset of this size (RLPD: 10 critics, subset 2)
    batch_size: int = 256  # the papers'; the hil_serl module uses 128 on CPU (sim/configs/hil_serl.yaml)
    prior_fraction: float = 0.5  # of each batch from the demonstration/intervention buffer
    critic_actor_ratio: int = 2  # critic updates per actor (and temperature) update
    grasp_penalty: float = -0.02  # reward of the gripper critic for each change of the gripper
    n_grasp: int = 3
    # Imitation of the prior data (demonstrations and interventions) on the prior half of each batch,
    # not in HIL-SERL (0 = off): the arm actor adds bc_weight * |tanh(mean) - a_human|^2 to its loss and
    # the gripper critic DQfD's large-margin term (margin 0.1) with the same weight
    bc_weight: float = 0.0
    # with images: the imitation term also trains the encoder (on the prior half of each batch), so the
    # features learn where the cube is from the demonstrations, not only from the sparse reward's critic
    bc_trains_encoder: bool = True
    grasp_epsilon: float = 0.02  # the acting gripper command is random this often (a random "open" while carrying drops the object)
    log_std_range: tuple[float, float] = (-5.0, 2.0)

    def __post_init__(self) -> None:
        check(self, positive=("hidden", "lr", "tau", "init_temperature", "critic_ensemble", "critic_subsample", "batch_size", "critic_actor_ratio",
                              "n_grasp"),
              fraction=("tau", "gamma", "prior_fraction", "grasp_epsilon"), non_negative=("bc_weight",), ordered=("log_std_range",))
        if self.critic_subsample > self.critic_ensemble:
            raise FieldError("critic_subsample", f"must be at most critic_ensemble ({self.critic_ensemble}), got {self.critic_subsample}")


def mlp(inp: int, hidden: tuple[int, ...], out: int, layer_norm: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(inp, h)] + ([nn.LayerNorm(h)] if layer_norm else []) + [nn.ReLU()]
        inp = h
    layers.append(nn.Linear(inp, out))
    return nn.Sequential(*layers)


class PixelEncoder(nn.Module):
    """``obs = [state (state_dim), image (C*H*W, in 0..1)] -> [state, features]``: three stride-2
    convolutions and a linear layer with LayerNorm and tanh on the image; the state passes through.
    Small on purpose: one update (two encodings of a batch of 128, one backward) must fit a CPU core."""

    def __init__(self, state_dim: int, image_shape: tuple[int, int, int], features: int = 64) -> None:
        super().__init__()
        c, h, w = image_shape
        self.state_dim, self.image_shape = state_dim, tuple(image_shape)
        self.conv = nn.Sequential(nn.Conv2d(c, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
                                  nn.Conv2d(32, 32, 3, 2, 1), nn.ReLU(), nn.Flatten())
        with torch.no_grad():
            n = self.conv(torch.zeros(1, c, h, w)).shape[-1]
        self.head = nn.Sequential(nn.Linear(n, features), nn.LayerNorm(features), nn.Tanh())
        self.out_dim = state_dim + features

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        image = obs[..., self.state_dim:].reshape((-1,) + self.image_shape)
        return torch.cat([obs[..., :self.state_dim], self.head(self.conv(image))], -1)


def random_shift(obs: torch.Tensor, state_dim: int, image_shape: tuple[int, int, int], pad: int, gen: torch.Generator) -> torch.Tensor:
    """DrQ's augmentation: every frame in the batch shifted by up to ``pad`` pixels (edges replicated)."""
    c, h, w = image_shape
    img = obs[:, state_dim:].reshape(-1, c, h, w)
    padded = F.pad(img, (pad, pad, pad, pad), mode="replicate")
    dx = torch.randint(0, 2 * pad + 1, (len(obs),), generator=gen)
    dy = torch.randint(0, 2 * pad + 1, (len(obs),), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None])[:, None, :, None].expand(-1, c, -1, w + 2 * pad)
    shifted = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None])[:, None, None, :].expand(-1, c, h, -1)
    shifted = shifted.gather(3, cols)
    return torch.cat([obs[:, :state_dim], shifted.reshape(len(obs), -1)], -1)


def make_encoder(obs_dim: int, image_shape: tuple[int, int, int] | None) -> nn.Module:
    """The identity for state observations, a :class:`PixelEncoder` when the observation ends with a frame."""
    if image_shape is None:
        return nn.Identity()
    state_dim = obs_dim - int(np.prod(image_shape))
    if state_dim < 0:
        raise ValueError(f"an observation of {obs_dim} values cannot hold a {image_shape} frame")
    return PixelEncoder(state_dim, image_shape)


def feature_dim(encoder: nn.Module, obs_dim: int) -> int:
    return int(getattr(encoder, "out_dim", obs_dim))


class TanhGaussianActor(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...], log_std_range: tuple[float, float]) -> None:
        super().__init__()
        self.net = mlp(obs_dim, hidden, 2 * act_dim)
        self.act_dim = act_dim
        self.log_std_range = log_std_range

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        lo, hi = self.log_std_range
        log_std = lo + 0.5 * (hi - lo) * (torch.tanh(log_std) + 1.0)
        return mean, log_std

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised sample in [-1, 1] and its log-probability (with the tanh correction)."""
        mean, log_std = self(obs)
        std = log_std.exp()
        u = mean + std * torch.randn_like(mean)
        a = torch.tanh(u)
        logp = (-0.5 * ((u - mean) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        logp = logp - (2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(-1)
        return a, logp

    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self(obs)[0])


class CriticEnsemble(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...], n: int) -> None:
        super().__init__()
        self.qs = nn.ModuleList([mlp(obs_dim + act_dim, hidden, 1, layer_norm=True) for _ in range(n)])

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, act], -1)
        return torch.stack([q(x).squeeze(-1) for q in self.qs])  # (n, batch)


class ExportedPolicy(nn.Module):
    """What the robot runs: the deterministic arm action and the gripper critic's argmax, as one vector
    (after the image encoder, when there is one)."""

    def __init__(self, actor: TanhGaussianActor, grasp: nn.Module, encoder: nn.Module | None = None) -> None:
        super().__init__()
        self.actor, self.grasp = actor, grasp
        self.encoder = encoder if encoder is not None else nn.Identity()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        f = self.encoder(obs)
        arm = self.actor.deterministic(f)
        g = torch.argmax(self.grasp(f), dim=-1, keepdim=True).to(arm.dtype)
        return torch.cat([arm, g], -1)


class ReplayBuffer:
    """A ring buffer of transitions: obs, arm action, gripper command, reward, terminal, next obs, gripper changed."""

    FIELDS = ("obs", "action", "grasp", "reward", "done", "next_obs", "grasp_changed")

    def __init__(self, obs_dim: int, act_dim: int, capacity: int) -> None:
        self.capacity = capacity
        self.size = 0
        self._i = 0
        self.data = {
            "obs": np.zeros((capacity, obs_dim), np.float32), "action": np.zeros((capacity, act_dim), np.float32),
            "grasp": np.zeros(capacity, np.int64), "reward": np.zeros(capacity, np.float32), "done": np.zeros(capacity, np.float32),
            "next_obs": np.zeros((capacity, obs_dim), np.float32), "grasp_changed": np.zeros(capacity, np.float32),
        }

    def add(self, batch: dict[str, np.ndarray]) -> None:
        n = len(batch["obs"])
        for k in self.FIELDS:
            v = np.asarray(batch[k])
            idx = (self._i + np.arange(n)) % self.capacity
            self.data[k][idx] = v
        self._i = (self._i + n) % self.capacity
        self.size = min(self.capacity, self.size + n)

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        idx = rng.integers(0, self.size, n)
        return {k: v[idx] for k, v in self.data.items()}


def concat_batches(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([a[k], b[k]]) for k in a}


@dataclass
class SACAgent:
    """The learner's state: networks, targets, optimisers, temperature. ``update`` does one critic step."""

    obs_dim: int
    act_dim: int
    config: SACConfig = field(default_factory=SACConfig)
    seed: int = 0
    image_shape: tuple[int, int, int] | None = None  # (C, H, W) of the frame that ends each observation, if any
    image_pad: int = 4  # random-shift augmentation of frames, in pixels

    def __post_init__(self) -> None:
        c = self.config
        torch.manual_seed(self.seed)
        enc = make_encoder(self.obs_dim, self.image_shape)  # (no parameters for state: the state path is unchanged)
        fd = feature_dim(enc, self.obs_dim)
        self.actor = TanhGaussianActor(fd, self.act_dim, c.hidden, c.log_std_range)
        self.critic = CriticEnsemble(fd, self.act_dim, c.hidden, c.critic_ensemble)
        self.critic_target = CriticEnsemble(fd, self.act_dim, c.hidden, c.critic_ensemble)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.grasp = mlp(fd, c.hidden, c.n_grasp, layer_norm=True)
        self.grasp_target = mlp(fd, c.hidden, c.n_grasp, layer_norm=True)
        self.grasp_target.load_state_dict(self.grasp.state_dict())
        self.encoder = enc
        self.encoder_target = make_encoder(self.obs_dim, self.image_shape)
        self.encoder_target.load_state_dict(self.encoder.state_dict())
        self.log_alpha = torch.tensor(math.log(c.init_temperature), requires_grad=True)
        self.target_entropy = c.target_entropy if c.target_entropy is not None else -self.act_dim / 2.0
        self._bc_encoder = self.image_shape is not None and c.bc_weight > 0 and c.bc_trains_encoder
        self.actor_opt = torch.optim.Adam(list(self.actor.parameters()) + (list(self.encoder.parameters()) if self._bc_encoder else []), lr=c.lr)
        self.critic_opt = torch.optim.Adam(list(self.critic.parameters()) + list(self.encoder.parameters()), lr=c.lr)
        self.grasp_opt = torch.optim.Adam(self.grasp.parameters(), lr=c.lr)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=c.lr)
        self.updates = 0
        self._gen = torch.Generator().manual_seed(self.seed + 1)

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.exp()

    def update(self, batch: dict[str, np.ndarray], n_prior: int = 0) -> dict[str, float]:
        """One critic (and gripper-critic) update; an actor and temperature update every ``critic_actor_ratio``.
        The first ``n_prior`` rows of the batch are prior data (used by ``bc_weight``)."""
        c = self.config
        t = {k: torch.as_tensor(v) for k, v in batch.items()}
        obs, act, rew, done, nobs = t["obs"], t["action"], t["reward"], t["done"], t["next_obs"]
        if self.image_shape is not None:  # features of augmented frames; the critic's loss trains the encoder
            sd = self.encoder.state_dim
            with torch.no_grad():  # the next frames through the target encoder only, for both uses (one encoding saved)
                nobs = nobs_t = self.encoder_target(random_shift(nobs, sd, self.image_shape, self.image_pad, self._gen))
            obs_feat = self.encoder(random_shift(obs, sd, self.image_shape, self.image_pad, self._gen))
        else:
            nobs_t, obs_feat = nobs, obs
        with torch.no_grad():
            na, nlogp = self.actor.sample(nobs)
            tq = self.critic_target(nobs_t, na)
            if c.critic_subsample < c.critic_ensemble:
                idx = torch.randperm(c.critic_ensemble, generator=self._gen)[: c.critic_subsample]
                tq = tq[idx]
            target = rew + c.gamma * (1.0 - done) * (tq.min(0).values - self.alpha * nlogp)
        q = self.critic(obs_feat, act)
        critic_loss = ((q - target.unsqueeze(0)) ** 2).mean()
        self.critic_opt.zero_grad()
        critic_loss.backward()
        self.critic_opt.step()
        obs = obs_feat.detach()  # from here on, features (the observation itself without images)

        # the gripper critic: double DQN, its reward with the penalty for changing the gripper
        with torch.no_grad():
            best = self.grasp(nobs).argmax(-1, keepdim=True)
            gq_next = self.grasp_target(nobs_t).gather(-1, best).squeeze(-1)
            g_target = rew + c.grasp_penalty * t["grasp_changed"] + c.gamma * (1.0 - done) * gq_next
        gq_all = self.grasp(obs)
        gq = gq_all.gather(-1, t["grasp"].long().unsqueeze(-1)).squeeze(-1)
        grasp_loss = F.mse_loss(gq, g_target)
        if c.bc_weight > 0 and n_prior > 0:
            margin = 0.1 * (torch.arange(c.n_grasp) != t["grasp"][:n_prior].long().unsqueeze(-1)).float()
            grasp_loss = grasp_loss + c.bc_weight * ((gq_all[:n_prior] + margin).max(-1).values - gq[:n_prior]).mean()
        self.grasp_opt.zero_grad()
        grasp_loss.backward()
        self.grasp_opt.step()

        out = {"critic_loss": critic_loss.item(), "grasp_loss": grasp_loss.item(), "q_mean": q.mean().item()}
        self.updates += 1
        if self.updates % c.critic_actor_ratio == 0:
            a, logp = self.actor.sample(obs)
            qa = self.critic(obs, a).mean(0)
            actor_loss = (self.alpha.detach() * logp - qa).mean()
            if c.bc_weight > 0 and n_prior > 0:
                bc_feat = obs[:n_prior]
                if self._bc_encoder:  # encoded again, with the encoder's gradient this time
                    bc_feat = self.encoder(random_shift(t["obs"][:n_prior], self.encoder.state_dim, self.image_shape, self.image_pad, self._gen))
                actor_loss = actor_loss + c.bc_weight * ((self.actor.deterministic(bc_feat) - act[:n_prior]) ** 2).sum(-1).mean()
            self.actor_opt.zero_grad()
            actor_loss.backward()
            self.actor_opt.step()
            alpha_loss = -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()
            self.alpha_opt.zero_grad()
            alpha_loss.backward()
            self.alpha_opt.step()
            out.update(actor_loss=actor_loss.item(), alpha=self.alpha.item(), entropy=-logp.mean().item())
        with torch.no_grad():
            for net, tgt in ((self.critic, self.critic_target), (self.grasp, self.grasp_target), (self.encoder, self.encoder_target)):
                for p, tp in zip(net.parameters(), tgt.parameters()):
                    tp.mul_(1.0 - c.tau).add_(p, alpha=c.tau)
        return out

    # --------------------------------------------------------------- weights for the actor process
    def policy_state(self) -> dict[str, dict[str, np.ndarray]]:
        """The acting networks' weights as numpy arrays (what the learner sends to the actor)."""
        return {name: {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
                for name, net in (("actor", self.actor), ("grasp", self.grasp), ("encoder", self.encoder))}

    def state_dict(self) -> dict[str, Any]:
        return {"actor": self.actor.state_dict(), "critic": self.critic.state_dict(), "critic_target": self.critic_target.state_dict(),
                "grasp": self.grasp.state_dict(), "grasp_target": self.grasp_target.state_dict(), "log_alpha": self.log_alpha.detach(),
                "encoder": self.encoder.state_dict(), "encoder_target": self.encoder_target.state_dict(),
                "updates": self.updates, "obs_dim": self.obs_dim, "act_dim": self.act_dim, "image_shape": self.image_shape}


class ActingPolicy:
    """The actor process's copy of the policy: samples arm actions, picks the gripper by its critic."""

    def __init__(self, obs_dim: int, act_dim: int, config: SACConfig, seed: int = 0,
                 image_shape: tuple[int, int, int] | None = None) -> None:
        torch.manual_seed(seed)
        self.encoder = make_encoder(obs_dim, image_shape)
        fd = feature_dim(self.encoder, obs_dim)
        self.actor = TanhGaussianActor(fd, act_dim, config.hidden, config.log_std_range)
        self.grasp = mlp(fd, config.hidden, config.n_grasp, layer_norm=True)
        self.version = -1
        self.gen = torch.Generator().manual_seed(seed)
        self.grasp_eps = config.grasp_epsilon
        self.rng = np.random.default_rng(seed)

    def load(self, state: dict[str, dict[str, Any]], version: int) -> None:
        """Weights by network name (numpy arrays from the learner, or tensors from a saved ``policy.pt``)."""
        self.actor.load_state_dict({k: torch.as_tensor(v) for k, v in state["actor"].items()})
        self.grasp.load_state_dict({k: torch.as_tensor(v) for k, v in state["grasp"].items()})
        self.encoder.load_state_dict({k: torch.as_tensor(v) for k, v in state.get("encoder", {}).items()})
        self.version = version

    def exported(self) -> ExportedPolicy:
        """The deterministic policy as one module (what is exported to ONNX)."""
        return ExportedPolicy(self.actor, self.grasp, self.encoder).eval()

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> tuple[np.ndarray, int]:
        o = self.encoder(torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0))
        if deterministic:
            arm = self.actor.deterministic(o)[0]
        else:
            mean, log_std = self.actor(o)
            arm = torch.tanh(mean + log_std.exp() * torch.randn(mean.shape, generator=self.gen))[0]
        g = int(self.grasp(o).argmax(-1))
        if not deterministic and self.rng.random() < self.grasp_eps:
            g = int(self.rng.integers(0, 3))
        return arm.numpy().astype(np.float32), g
