"""Data-parallel PPO over two real processes: torchrun's environment variables, gloo on loopback.

The ranks start from different random networks (rank 0's are broadcast), each holds half of a
fixed synthetic rollout, and they run several PPO iterations (returns, update with the adaptive
learning rate, normaliser update). They must end with identical parameters, equal to one process
updating on the whole rollout with the same total batch; without the gradient all-reduce they must
not (the negative control: the test can fail).

Run as a script (``python tests/test_ppo_distributed.py OUT_DIR``) this file is the worker.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
import torch

from robot_learning.algos.distributed import Distributed
from robot_learning.algos.ppo import PPO, ActorCritic, PPOConfig, RolloutBuffer
from robot_learning.core.config import ConfigError

WORLD = 2
T, N, OBS, COBS, ACT = 8, 32, 4, 5, 2  # N: the environments of the whole (1-process) rollout
ITERATIONS = 3
REPO = Path(__file__).resolve().parent.parent


def _cfg() -> PPOConfig:
    # one minibatch per epoch: each rank's minibatch is its half of the rollout, so the ranks' mean
    # gradient is the gradient of the whole rollout (with several minibatches the ranks would draw
    # other subsets than the single process does); 4 epochs x 3 iterations = 12 optimiser steps
    return PPOConfig(actor_hidden=(16, 16), critic_hidden=(16, 16), init_std=0.6, learning_rate=3e-3, desired_kl=0.002,
                     epochs=4, minibatches=1, steps_per_env=T)


def _rollout(iteration: int) -> dict[str, torch.Tensor]:
    """The whole fixed rollout of one iteration (every process draws the same numbers)."""
    g = torch.Generator().manual_seed(100 + iteration)
    return {"obs": torch.randn(T, N, OBS, generator=g) * 2 + 1, "cobs": torch.randn(T, N, COBS, generator=g),
            "noise": torch.randn(T, N, ACT, generator=g), "rewards": torch.randn(T, N, generator=g),
            "dones": (torch.rand(T, N, generator=g) < 0.1).float(), "last": torch.randn(N, generator=g)}


Trained = tuple[dict[str, torch.Tensor], list[dict[str, float]]]  # final state dict, each update's statistics


def train(dist: Distributed | None, envs: slice, model_seed: int) -> Trained:
    """PPO on environments ``envs`` of the fixed rollouts; the final state dict and each update's statistics."""
    torch.manual_seed(model_seed)
    cfg = _cfg()
    model = ActorCritic(OBS, COBS, ACT, cfg)
    ppo = PPO(model, cfg, seed=0, dist=dist)
    n = len(range(N)[envs])
    buf = RolloutBuffer(T, n, OBS, COBS, ACT)
    stats = []
    for it in range(ITERATIONS):
        data = {k: v[..., envs] if v.dim() == 1 else v[:, envs] for k, v in _rollout(it).items()}
        buf.clear()
        buf.sigma = model.log_std.detach().exp().clone()
        for t in range(T):
            o, co = data["obs"][t], data["cobs"][t]
            with torch.no_grad():
                d = model.distribution(o)
                a = d.mean + d.stddev * data["noise"][t]  # the sampled action, from fixed noise
                buf.add(o, co, a, d.log_prob(a).sum(-1), model.value(co), d.mean, data["rewards"][t], data["dones"][t])
        with torch.no_grad():
            last = model.value(data["cobs"][-1]) + data["last"]
        buf.compute_returns(last, cfg.gamma, cfg.lam, dist=dist)
        stats.append(ppo.update(buf))
        model.actor.norm.update(buf.obs[: buf.t], dist=dist)
        model.critic_norm.update(buf.critic_obs[: buf.t], dist=dist)
    return {k: v.clone() for k, v in model.state_dict().items()}, stats


class _WithoutGradientAverage(Distributed):
    """The negative control: everything else still synchronised, the gradients not."""

    def average_gradients(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        return None


def _worker(out: Path) -> None:
    torch.set_num_threads(1)
    ctx = Distributed.from_env(device="cpu")
    share = N // ctx.world_size
    envs = slice(ctx.rank * share, (ctx.rank + 1) * share)
    torch.save(train(ctx, envs, model_seed=ctx.rank), out / f"synced{ctx.rank}.pt")
    control = _WithoutGradientAverage(ctx.rank, ctx.world_size, ctx.local_rank, ctx.device, ctx.backend)
    torch.save(train(control, envs, model_seed=ctx.rank), out / f"control{ctx.rank}.pt")
    ctx.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(out: Path, world: int = WORLD) -> None:
    """``world`` processes of this file with the variables torchrun sets, gloo bound to loopback."""
    port = _free_port()
    procs = []
    for rank in range(world):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": str(port), "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen([sys.executable, __file__, str(out)], env=env, cwd=REPO, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=120)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for rank, (p, text) in enumerate(zip(procs, outputs)):
        assert p.returncode == 0, f"rank {rank} failed:\n{text[-3000:]}"


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ppo_distributed")
    launch(out)
    return out


@pytest.fixture(scope="module")
def single() -> Trained:
    """One process on the whole rollout (one thread, as the ranks)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train(None, slice(0, N), model_seed=0)
    finally:
        torch.set_num_threads(threads)


def _load(path: Path) -> Trained:
    return torch.load(path, weights_only=True)


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def test_two_gloo_ranks_stay_identical_and_equal_one_process_on_the_whole_batch(ranks: Path, single: Trained) -> None:
    (p0, s0), (p1, s1) = _load(ranks / "synced0.pt"), _load(ranks / "synced1.pt")
    for k in p0:
        assert torch.equal(p0[k], p1[k]), f"ranks differ in {k}"
    assert [s["learning_rate"] for s in s0] == [s["learning_rate"] for s in s1]
    params, stats = single
    for k in params:
        torch.testing.assert_close(p0[k], params[k], rtol=1e-5, atol=1e-6, msg=lambda m, k=k: f"{k}: {m}")
    # the adaptive learning rate took the same decisions, from the KL of the whole batch
    assert [s["learning_rate"] for s in s0] == pytest.approx([s["learning_rate"] for s in stats], rel=1e-12)
    assert [s["kl"] for s in s0] == pytest.approx([s["kl"] for s in stats], rel=1e-4)
    assert len({s["learning_rate"] for s in stats}) > 1, "the learning rate never adapted: the KL path went untested"


def test_without_the_gradient_all_reduce_the_ranks_diverge(ranks: Path, single: Trained) -> None:
    (c0, _), (c1, _), (p0, _) = _load(ranks / "control0.pt"), _load(ranks / "control1.pt"), _load(ranks / "synced0.pt")
    weights = [k for k in c0 if k.startswith(("actor.net", "critic."))]
    diff = {name: _max_diff({k: a[k] for k in weights}, {k: b[k] for k in weights})
            for name, a, b in (("ranks", c0, c1), ("control", c0, single[0]), ("synced", p0, single[0]))}
    assert diff["ranks"] > 1e-3 and diff["control"] > 1e-3, diff
    assert diff["synced"] < 1e-5, diff


def test_world_size_one_is_no_torch_distributed(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    ctx = Distributed.from_env(device="cpu")
    assert (ctx.rank, ctx.world_size, ctx.enabled, ctx.is_main, ctx.backend, ctx.seed(7)) == (0, 1, False, True, None, 7)
    assert not torch.distributed.is_initialized()
    x = torch.randn(10, 3)
    mean, std = ctx.mean_std(x)
    assert torch.equal(mean, x.mean()) and torch.equal(std, x.std())


@pytest.mark.parametrize("env, problem", [
    ({"WORLD_SIZE": "two"}, "WORLD_SIZE must be an integer"),
    ({"WORLD_SIZE": "2", "RANK": "2"}, "RANK must be in"),
    ({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}, "needs MASTER_ADDR and MASTER_PORT"),
])
def test_bad_launch_variables_are_refused_in_one_line(env: dict[str, str], problem: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError, match=problem):
        Distributed.from_env(device="cpu")


def test_a_buffer_normalised_on_one_rank_is_refused_by_a_distributed_update() -> None:
    cfg = _cfg()
    model = ActorCritic(OBS, COBS, ACT, cfg)
    ppo = PPO(model, cfg, dist=None)
    ppo.dist = Distributed(0, 2)  # as if in a 2-rank job (no collective is reached before the check)
    buf = RolloutBuffer(T, 4, OBS, COBS, ACT)
    buf.t = T
    buf.compute_returns(torch.zeros(4), 0.99, 0.95)
    with pytest.raises(ValueError, match="pass dist= to compute_returns"):
        ppo.update(buf)


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
