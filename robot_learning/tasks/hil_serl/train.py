"""One command for the whole HIL-SERL run on one machine: the learner in a second process, the actor
in this one, talking over ZeroMQ on loopback exactly as they would across two machines; then the
export of the trained actor to ONNX and its evaluation. Also the behaviour-cloning baseline.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.nn import functional as F

from robot_learning.algos.sac import ActingPolicy, ExportedPolicy
from robot_learning.core.config import save_yaml
from robot_learning.tasks.hil_serl.actor import EVAL_SEED0, collect_demos, run_actor
from robot_learning.tasks.hil_serl.config import HilSerlConfig
from robot_learning.tasks.hil_serl.env import PandaPickPlace
from robot_learning.tasks.hil_serl.evaluate import evaluate_policy
from robot_learning.tasks.hil_serl.human import Human
from robot_learning.tasks.hil_serl.encoder import image_policy, learner_layout, make_env
from robot_learning.tasks.hil_serl.scene import image_shape, policy_metadata


def free_port_pair(start: int = 20000, end: int = 60000, seed: int | None = None) -> int:
    """A port P such that P and P + 1 are both free on this machine."""
    rng = np.random.default_rng(seed)
    for _ in range(200):
        p = int(rng.integers(start, end - 1))
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", p))
                b.bind(("127.0.0.1", p + 1))
            return p
        except OSError:
            continue
    raise OSError("no two consecutive free ports found for the learner")


def train(cfg: HilSerlConfig, out: str | Path, human: Human, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Learner subprocess + actor here; returns the actor's report with the learner's inside it."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_yaml(cfg, out / "config.yaml")
    port = free_port_pair()
    cmd = [sys.executable, "-m", "robot_learning.tasks.hil_serl.learner", "--port", str(port), "--host", "127.0.0.1",
           "--out", str(out / "learner"), "--config", str(out / "config.yaml")]
    log = (out / "learner.log").open("w")
    learner = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        report = run_actor(cfg, "127.0.0.1", port, out / "actor", human, progress)
        learner.wait(timeout=120)
    finally:
        if learner.poll() is None:
            learner.terminate()
            learner.wait(timeout=10)
        log.close()
    if learner.returncode != 0:
        tail = (out / "learner.log").read_text()[-2000:]
        raise RuntimeError(f"the learner process failed (exit {learner.returncode}):\n{tail}")
    return report


def load_exported_module(policy_pt: str | Path, cfg: HilSerlConfig) -> torch.nn.Module:
    """The deterministic policy of an actor checkpoint; for the image option with the frozen encoder in front."""
    state = torch.load(policy_pt, weights_only=False)
    layout = learner_layout(cfg.env, cfg.encoder)
    policy = ActingPolicy(layout.size, 3, cfg.sac, image_shape=image_shape(layout))
    policy.load({k: state.get(k, {}) for k in ("actor", "grasp", "encoder")}, 0)
    return _with_encoder(policy.exported(), cfg)


def _with_encoder(module: ExportedPolicy, cfg: HilSerlConfig) -> torch.nn.Module:
    return image_policy(module, cfg.env, cfg.encoder) if cfg.env.observation == "image" else module


def export(module: torch.nn.Module, cfg: HilSerlConfig, path: str | Path, training: dict[str, Any]) -> dict[str, Any]:
    from robot_learning.export.onnx_export import export_policy

    env = PandaPickPlace(cfg.env)
    obs = np.stack([env.reset(seed=EVAL_SEED0 + i) for i in range(16)])
    env.close()
    rep = export_policy(module, policy_metadata(cfg.env, training), path, parity_obs=obs, atol=1e-4)
    return {"path": rep.path, "parity_max_abs_diff": rep.max_abs_diff}


def behaviour_cloning(cfg: HilSerlConfig, steps: int = 3000, progress: Callable[[str], None] | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The baseline: the same demonstrations, cloned (arm: MSE on the tanh mean; gripper: cross-entropy)."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.torch_threads)  # the frozen encoder runs on every frame: one thread, as the actor
    env = make_env(cfg.env, cfg.encoder)
    demos, _, _ = collect_demos(env, cfg, None, seed=cfg.seed + 1, progress=progress)
    obs = torch.as_tensor(np.concatenate([np.stack(d.obs) for d in demos]))
    act = torch.as_tensor(np.concatenate([np.stack(d.action) for d in demos]))
    grp = torch.as_tensor(np.concatenate([np.array(d.grasp) for d in demos]))
    env.close()
    policy = ActingPolicy(env.layout.size, 3, cfg.sac, seed=cfg.seed, image_shape=env.image_shape)
    module = policy.exported().train()
    opt = torch.optim.Adam(module.parameters(), lr=cfg.sac.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    t0 = time.time()
    for _ in range(steps):
        idx = torch.randint(0, len(obs), (256,), generator=gen)
        f = module.encoder(obs[idx])
        loss = F.mse_loss(module.actor.deterministic(f), act[idx]) + F.cross_entropy(module.grasp(f), grp[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    module.eval()
    return _with_encoder(module, cfg), {"demo_transitions": int(len(obs)), "train_s": time.time() - t0, "final_loss": loss.item()}


def evaluate_module(module: torch.nn.Module, cfg: HilSerlConfig, episodes: int) -> dict[str, Any]:
    """A torch policy through the runtime's controller on the held-out scenes in MuJoCo, as `eval hil_serl` runs an ONNX file."""
    def act(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.as_tensor(obs, dtype=torch.float32).reshape(1, -1))[0].numpy()

    return evaluate_policy(act, sim="mujoco", episodes=episodes, config=cfg.env)
