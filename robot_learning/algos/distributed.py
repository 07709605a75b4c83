"""Data-parallel training across processes (torch.distributed, launched by ``torchrun``), as rsl_rl and
mjlab run PPO on several GPUs or nodes: every rank steps its own environments, the ranks start from
rank 0's parameters, average their gradients before clipping, and agree on everything else that
steers the update, so the networks stay identical without ever being sent again.

With ``WORLD_SIZE`` unset or 1 nothing here touches torch.distributed: every method is the identity
and the single-process path is the one that ran before.

API (what a training loop wires; :class:`~robot_learning.algos.ppo.PPO` does 3 and 5 itself given ``dist``,
:func:`~robot_learning.algos.ppo.rollout_and_update` also 4 and 6)::

    ctx = Distributed.from_env(device="cpu")        # reads torchrun's RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT
    torch.manual_seed(ctx.seed(cfg.seed))           # 1. per-rank seeds: rank r uses seed + r (rank 0 = the 1-process run)
    env = make_env(..., seed=ctx.seed(cfg.seed))    #    so the ranks' environments and action noise differ
    model = ActorCritic(...).to(ctx.device)         # 2. the device of this rank (cuda:LOCAL_RANK, or the CPU)
    ppo = PPO(model, cfg, seed=cfg.seed, dist=ctx)  # 3. broadcasts rank 0's parameters and buffers
    buf = RolloutBuffer(..., device=ctx.device)
    ...collect...
    buf.compute_returns(last_v, gamma, lam, dist=ctx)   # 4. advantages normalised by the statistics of all ranks
    stats = ppo.update(buf)                             # 5. gradients averaged before clipping; the KL of the
                                                        #    adaptive learning rate averaged over the ranks
    model.actor.norm.update(buf.obs[:buf.t], dist=ctx)  # 6. the observation normalisers' statistics of all ranks
    model.critic_norm.update(buf.critic_obs[:buf.t], dist=ctx)
    stop = ctx.agree(time_is_up or solved)          # 7. any decision that ends the loop: rank 0's, for everyone
    if ctx.is_main: log(row); save(checkpoint)      # 8. logs, evaluations, checkpoints and exports on rank 0 only
    ctx.close()

Every rank must call the collective steps (3-7) the same number of times in the same order; a rank
that skips one blocks the others (torchrun then stops the job). ``num_envs`` is per rank, as in
rsl_rl and mjlab: N ranks collect N times the samples per iteration; for the same total batch give
each rank ``num_envs / N``.

Backends: gloo on the CPU, NCCL on CUDA. On one machine over loopback set ``GLOO_SOCKET_IFNAME=lo``
with ``--master-addr 127.0.0.1`` so that gloo binds to 127.0.0.1.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, TypeVar

import torch
from torch import nn

from robot_learning.core.config import ConfigError

T = TypeVar("T")


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "")
    if text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"environment variable {name} must be an integer, got {text!r}") from None


@dataclass(frozen=True)
class Distributed:
    """This process's place in a data-parallel job. ``Distributed()`` is a single process (no
    torch.distributed); :meth:`from_env` builds it from torchrun's variables and joins the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str | None = None  # "gloo" | "nccl" when world_size > 1

    # ------------------------------------------------------------------------------ setup
    @classmethod
    def from_env(cls, device: str | torch.device | None = None) -> Distributed:
        """Read ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (and ``MASTER_ADDR``/``MASTER_PORT`` for the
        rendezvous); with more than one rank, ``init_process_group`` (gloo on the CPU, NCCL on CUDA).
        ``device``: ``"cpu"``, ``"cuda"`` (-> ``cuda:LOCAL_RANK``) or ``"cuda:N"`` (N must be the local
        rank); None: ``cuda:LOCAL_RANK`` when CUDA is available, else the CPU."""
        env = os.environ
        world = _env_int(env, "WORLD_SIZE", 1)
        rank, local = _env_int(env, "RANK", 0), _env_int(env, "LOCAL_RANK", 0)
        if world < 1:
            raise ConfigError(f"WORLD_SIZE must be at least 1, got {world}")
        if not 0 <= rank < world:
            raise ConfigError(f"RANK must be in [0, WORLD_SIZE={world}), got {rank}")
        if not 0 <= local < world:
            raise ConfigError(f"LOCAL_RANK must be in [0, WORLD_SIZE={world}), got {local}")
        dev = _device(device, local, world)
        if world == 1:
            return cls(0, 1, 0, dev, None)
        missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if not env.get(k)]
        if missing:
            raise ConfigError(f"WORLD_SIZE={world} needs {' and '.join(missing)} (launch with torchrun)")
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist = torch.distributed
        if not dist.is_available():
            raise ConfigError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        if dist.is_initialized():  # the caller joined already: it must be the same job
            if (dist.get_rank(), dist.get_world_size()) != (rank, world):
                raise ConfigError(f"torch.distributed is initialised as rank {dist.get_rank()} of {dist.get_world_size()}, "
                                  f"the environment says {rank} of {world}")
        else:
            # env://: under torchrun the workers join the launcher's store at MASTER_ADDR:MASTER_PORT
            dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world)
        return cls(rank, world, local, dev, backend)

    def close(self) -> None:
        """Leave the job (every rank calls it once, after its last collective)."""
        if self.enabled and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    # -------------------------------------------------------------------------- identity
    @property
    def enabled(self) -> bool:
        """More than one rank: the collectives below talk to the others."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that logs, evaluates and writes checkpoints and exports."""
        return self.rank == 0

    def seed(self, base: int) -> int:
        """This rank's seed for its environments and action noise: ``base + rank`` (rank 0 keeps ``base``)."""
        return base + self.rank

    def main_only(self, fn: Callable[..., T] | None) -> Callable[..., T] | None:
        """``fn`` on rank 0, None elsewhere (for ``log=`` callbacks)."""
        return fn if self.is_main else None

    # ------------------------------------------------------------------------ collectives
    @torch.no_grad()
    def broadcast_module(self, module: nn.Module) -> None:
        """Rank 0's parameters and buffers (e.g. the observation normalisers) into every rank's ``module``."""
        if not self.enabled:
            return
        tensors = [t.data for t in [*module.parameters(), *module.buffers()]]
        for dtype in sorted({t.dtype for t in tensors}, key=str):  # one flat broadcast per dtype
            group = [t for t in tensors if t.dtype == dtype]
            flat = torch.cat([t.reshape(-1) for t in group])
            torch.distributed.broadcast(flat, src=0)
            offset = 0
            for t in group:
                t.copy_(flat[offset:offset + t.numel()].view_as(t))
                offset += t.numel()

    @torch.no_grad()
    def average_gradients(self, parameters: Iterable[nn.Parameter]) -> None:
        """Replace each gradient by its mean over the ranks (one flat all-reduce); call it between
        ``backward()`` and gradient clipping. Parameters without a gradient are skipped (the same on every
        rank, since every rank runs the same loss)."""
        if not self.enabled:
            return
        params = [p for p in parameters if p.grad is not None]
        if not params:
            return
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        torch.distributed.all_reduce(flat, op=torch.distributed.ReduceOp.SUM)
        flat /= self.world_size
        offset = 0
        for p in params:
            n = p.grad.numel()
            p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
            offset += n

    @torch.no_grad()
    def mean(self, x: torch.Tensor) -> torch.Tensor:
        """The mean of a tensor over the ranks (each rank's value weighted equally), a new tensor."""
        if not self.enabled:
            return x
        y = x.detach().clone()
        torch.distributed.all_reduce(y, op=torch.distributed.ReduceOp.SUM)
        return y / self.world_size

    @torch.no_grad()
    def mean_std(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and unbiased standard deviation of all elements of ``x`` on all ranks (one all-reduce,
        sums in float64): what ``x.mean()`` and ``x.std()`` give on the ranks' data put together."""
        if not self.enabled:
            return x.mean(), x.std()
        count, mean, sq = self._moments(x.reshape(-1, 1))
        return mean[0].to(x.dtype), torch.sqrt(sq[0] / (count - 1)).to(x.dtype)

    @torch.no_grad()
    def moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rows of ``x`` (..., D) on all ranks: their count, per-column mean and biased variance (what
        ``x.shape[0]``, ``x.mean(0)`` and ``x.var(0, unbiased=False)`` give on the ranks' rows put together)."""
        x = x.reshape(-1, x.shape[-1])
        if not self.enabled:
            return torch.tensor(float(x.shape[0]), device=x.device), x.mean(0), x.var(0, unbiased=False)
        count, mean, sq = self._moments(x)
        return count.to(x.dtype), mean.to(x.dtype), (sq / count).to(x.dtype)

    def _moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Count, column means and column sums of squared deviations, from one all-reduce of the
        count, sums and sums of squares in float64 (the variance's relative error is about
        1e-16 * (mean / std)^2)."""
        x64 = x.to(torch.float64)
        count = torch.full((1,), float(x.shape[0]), dtype=torch.float64, device=x.device)
        sums = torch.cat([count, x64.sum(0), (x64 * x64).sum(0)])
        torch.distributed.all_reduce(sums, op=torch.distributed.ReduceOp.SUM)
        d = x.shape[1]
        count, total, total_sq = sums[0], sums[1:1 + d], sums[1 + d:]
        mean = total / count
        return count, mean, torch.clamp(total_sq - count * mean * mean, min=0.0)

    def agree(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (stop decisions from a wall clock or an evaluation that
        only rank 0 ran): one small broadcast."""
        if not self.enabled:
            return flag
        t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=self.device)
        torch.distributed.broadcast(t, src=0)
        return bool(t.item())

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()


def _device(device: str | torch.device | None, local_rank: int, world: int) -> torch.device:
    if device is None:
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device {device!r} is not a torch device (cpu, cuda, cuda:N)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r}: CUDA is not available in this torch build or machine")
        if dev.index is None:
            dev = torch.device(f"cuda:{local_rank}")
        elif world > 1 and dev.index != local_rank:
            raise ConfigError(f"device {device!r} does not match this rank's LOCAL_RANK={local_rank} (use 'cuda')")
    return dev
