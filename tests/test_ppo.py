"""PPO learns a small continuous-control problem with a known optimum (fast, CPU)."""
from __future__ import annotations

import pytest
import torch

from robot_learning.algos.ppo import PPO, ActorCritic, PPOConfig, RolloutBuffer


def test_ppo_learns_to_drive_point_masses_to_the_origin() -> None:
    torch.manual_seed(0)
    n, T = 64, 24
    cfg = PPOConfig(actor_hidden=(32, 32), critic_hidden=(32, 32), init_std=0.5, learning_rate=1e-3, steps_per_env=T, epochs=4,
                    minibatches=4, gamma=0.9)
    model = ActorCritic(2, 2, 1, cfg)
    ppo = PPO(model, cfg, seed=0)
    buf = RolloutBuffer(T, n, 2, 2, 1)
    x = torch.rand(n) * 4 - 2
    v = torch.zeros(n)

    def obs() -> torch.Tensor:
        return torch.stack([x, v], -1)

    first = None
    for it in range(40):
        buf.clear()
        buf.sigma = model.log_std.detach().exp().clone()
        model.actor.norm.update(obs())
        model.critic_norm.update(obs())
        costs = []
        for t in range(T):
            o = obs()
            a, logp, val, mu = model.act(o, o)
            v = 0.8 * v + 0.2 * a.squeeze(-1).clamp(-1, 1)
            x = (x + 0.1 * v).clamp(-3, 3)
            r = -x.abs()
            done = torch.zeros(n)
            if t == T - 1:  # new start states each iteration
                done = torch.ones(n)
            buf.add(o, o, a, logp, val, mu, r, done)
            costs.append(float(x.abs().mean()))
        buf.compute_returns(model.value(obs()).detach(), cfg.gamma, cfg.lam)
        stats = ppo.update(buf)
        first = first if first is not None else sum(costs) / T
        x = torch.rand(n) * 4 - 2
        v = torch.zeros(n)
    last = sum(costs) / T
    assert last < 0.6 * first, (first, last, stats)


def test_imitation_term_pulls_the_mean_action_to_the_teacher() -> None:
    """With zero advantages the only actor signal is the imitation term: the mean action moves to
    the teacher's; without teacher actions the term is refused."""
    torch.manual_seed(0)
    cfg = PPOConfig(actor_hidden=(32,), critic_hidden=(32,), init_std=0.5, learning_rate=1e-2, schedule="fixed", epochs=20, minibatches=2)
    model = ActorCritic(4, 4, 2, cfg)
    ppo = PPO(model, cfg, seed=0)
    T, N = 8, 16
    buf = RolloutBuffer(T, N, 4, 4, 2)
    obs = torch.randn(T, N, 4)
    teacher = torch.tensor([0.7, -0.4])
    for t in range(T):
        with torch.no_grad():
            a, logp, v, mu = model.act(obs[t], obs[t])
        buf.add(obs[t], obs[t], mu, logp, v, mu, torch.zeros(N), torch.zeros(N), teacher.expand(N, 2))
    buf.compute_returns(torch.zeros(N), 0.99, 0.95)
    buf.advantages.zero_()
    before = float(((model.actor(obs.reshape(-1, 4)) - teacher) ** 2).mean())
    stats = ppo.update(buf, imitation_coef=5.0)
    after = float(((model.actor(obs.reshape(-1, 4)) - teacher) ** 2).mean())
    assert after < 0.1 * before and stats["imitation"] > 0.0
    buf.teacher = None
    import pytest

    with pytest.raises(ValueError, match="teacher"):
        ppo.update(buf, imitation_coef=1.0)


def test_timed_feedforward_indexes_by_the_observed_time_and_exports(tmp_path) -> None:  # noqa: ANN001
    """The residual actor adds table[round(t * fps)] (t read from the observation, clamped to the
    table) to the network's output; ONNX Runtime gives the same numbers."""
    import numpy as np
    import onnxruntime as ort

    from robot_learning.algos.ppo import Actor, ResidualActor, TimedFeedforward

    table = torch.arange(10, dtype=torch.float32)[:, None].repeat(1, 2)  # row i = (i, i)
    actor = Actor(3, 2, (8,), "elu", True)
    with torch.no_grad():
        actor.net[-1].weight.zero_()
        actor.net[-1].bias.zero_()
    res = ResidualActor(actor, TimedFeedforward(table, fps=50.0, time_index=2, time_scale=0.1))
    obs = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.01], [0.0, 0.0, 0.005], [0.0, 0.0, 1.0]])  # t = 0, 0.1, 0.05 s, 10 s
    out = res(obs)
    np.testing.assert_allclose(out[:, 0].detach().numpy(), [0.0, 5.0, 2.0, 9.0])  # 0.05 s * 50 = 2.5 rounds to 2; clamped at 9
    path = tmp_path / "r.onnx"
    torch.onnx.export(res, (obs,), str(path), input_names=["obs"], output_names=["action"],
                      dynamic_axes={"obs": {0: "batch"}, "action": {0: "batch"}}, dynamo=False)
    sess = ort.InferenceSession(str(path))
    np.testing.assert_allclose(sess.run(None, {"obs": obs.numpy()})[0], out.detach().numpy(), atol=1e-6)


def test_gated_residual_acts_only_where_the_gate_is_open_and_exports(tmp_path) -> None:  # noqa: ANN001
    """With a gate table the network's output is scaled per time and action: where the gate is 0 the
    policy is the feedforward table exactly, whatever the network says; ONNX Runtime agrees."""
    import numpy as np
    import onnxruntime as ort

    from robot_learning.algos.ppo import Actor, ResidualActor, TimedFeedforward

    torch.manual_seed(0)
    table = torch.arange(10, dtype=torch.float32)[:, None].repeat(1, 2)
    gate = torch.zeros(10, 2)
    gate[5:, 1] = 1.0  # the second action's residual acts from t = 0.1 s on
    actor = Actor(3, 2, (8,), "elu", True)
    with torch.no_grad():
        actor.net[-1].bias.fill_(0.5)  # a network that is far from zero
    res = ResidualActor(actor, TimedFeedforward(table, 50.0, 2, 0.1), TimedFeedforward(gate, 50.0, 2, 0.1))
    obs = torch.tensor([[0.3, -0.2, 0.0], [0.3, -0.2, 0.01], [1.0, 2.0, 0.019]])  # t = 0, 0.1, 0.19 s
    out = res(obs).detach().numpy()
    free = (actor(obs) - torch.zeros(3, 2)).detach().numpy()
    np.testing.assert_allclose(out[:, 0], [0.0, 5.0, 9.0])  # gate closed: the table alone
    np.testing.assert_allclose(out[0, 1], 0.0)
    np.testing.assert_allclose(out[1:, 1], np.array([5.0, 9.0]) + free[1:, 1], rtol=1e-6)
    assert np.all(np.abs(free[1:, 1]) > 0.1)  # the open entries really carry the network's output
    path = tmp_path / "g.onnx"
    torch.onnx.export(res, (obs,), str(path), input_names=["obs"], output_names=["action"],
                      dynamic_axes={"obs": {0: "batch"}, "action": {0: "batch"}}, dynamo=False)
    np.testing.assert_allclose(ort.InferenceSession(str(path)).run(None, {"obs": obs.numpy()})[0], out, atol=1e-6)


def test_the_learning_rate_kept_on_the_device_follows_the_host_rule() -> None:
    """``device_lr`` (the default on a GPU: the KL-driven rate as a tensor, no host read per minibatch)
    takes the same decisions as the float rate and lands on the same networks, here on the CPU."""
    cfg = PPOConfig(actor_hidden=(16,), critic_hidden=(16,), init_std=0.5, learning_rate=3e-3, desired_kl=0.002, epochs=2, minibatches=4)
    T, N = 8, 16
    runs = []
    for device_lr in (False, True):
        torch.manual_seed(0)
        model = ActorCritic(3, 3, 2, cfg)
        ppo = PPO(model, cfg, seed=0, device_lr=device_lr)
        buf = RolloutBuffer(T, N, 3, 3, 2)
        g = torch.Generator().manual_seed(1)
        rates = []
        for _ in range(3):
            buf.clear()
            buf.sigma = model.log_std.detach().exp().clone()
            for _t in range(T):
                o = torch.randn(N, 3, generator=g)
                a, logp, v, mu = model.act(o, o)
                buf.add(o, o, a, logp, v, mu, torch.randn(N, generator=g), torch.zeros(N))
            buf.compute_returns(torch.zeros(N), 0.99, 0.95)
            rates.append(ppo.update(buf)["learning_rate"])
        runs.append((rates, model.state_dict()))
    (host_rates, host), (dev_rates, dev) = runs
    assert dev_rates == pytest.approx(host_rates, rel=1e-6) and len(set(host_rates)) > 1
    for k in host:
        torch.testing.assert_close(dev[k], host[k], rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none here): the claim is about host-device synchronisation")
def test_an_update_on_cuda_synchronises_with_the_host_once() -> None:
    """Rollout storage, GAE and the minibatch updates on the GPU: the update's only read-back is its
    statistics at the end (CUDA's sync debug mode counts every synchronising call)."""
    import warnings

    dev = torch.device("cuda")
    cfg = PPOConfig(actor_hidden=(32,), critic_hidden=(32,), epochs=2, minibatches=4)
    model = ActorCritic(3, 3, 2, cfg).to(dev)
    ppo = PPO(model, cfg, seed=0)
    T, N = 8, 64
    buf = RolloutBuffer(T, N, 3, 3, 2, device=dev)
    buf.sigma = model.log_std.detach().exp().clone()
    for _ in range(T):
        o = torch.randn(N, 3, device=dev)
        a, logp, v, mu = model.act(o, o)
        buf.add(o, o, a, logp, v, mu, torch.randn(N, device=dev), torch.zeros(N, device=dev))
    buf.compute_returns(torch.zeros(N, device=dev), 0.99, 0.95)
    ppo.update(buf)  # the first update builds the optimiser's state
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            stats = ppo.update(buf)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message).lower()]
    assert len(syncs) <= 1, [str(w.message) for w in syncs]
    assert ppo.device_lr and stats["learning_rate"] > 0.0


def test_rollout_and_update_takes_a_torch_environment_as_it_takes_a_numpy_one() -> None:
    """The same point masses stepped in numpy and in torch (as a device simulator would return them):
    one PPO iteration each from the same networks gives the same statistics and networks."""
    import numpy as np

    from robot_learning.algos.ppo import rollout_and_update

    cfg = PPOConfig(actor_hidden=(16,), critic_hidden=(16,), init_std=0.5, steps_per_env=6, epochs=2, minibatches=2)
    n = 8

    def run(use_torch: bool) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
        torch.manual_seed(0)
        model = ActorCritic(2, 2, 1, cfg)
        ppo = PPO(model, cfg, seed=0)
        buf = RolloutBuffer(cfg.steps_per_env, n, 2, 2, 1)
        x0 = np.linspace(-1, 1, n, dtype=np.float32)
        state = {"x": torch.from_numpy(x0.copy()) if use_torch else x0.copy()}

        def step(a):  # noqa: ANN001, ANN202
            a = a[:, 0] if use_torch else a[:, 0].astype(np.float32)
            state["x"] = state["x"] + 0.1 * a
            x = state["x"]
            obs = torch.stack([x, 0 * x], -1) if use_torch else np.stack([x, 0 * x], -1)
            return obs, -abs(x), (x * 0 > 1), {"x": float(abs(x).mean())}

        obs = torch.stack([state["x"], 0 * state["x"]], -1) if use_torch else np.stack([x0, 0 * x0], -1)
        _, stats, _ = rollout_and_update(model, ppo, buf, obs, step)
        return stats, model.state_dict()

    (s_np, p_np), (s_t, p_t) = run(False), run(True)
    assert s_t == pytest.approx(s_np, rel=1e-5, abs=1e-7)
    for k in p_np:
        torch.testing.assert_close(p_t[k], p_np[k])
