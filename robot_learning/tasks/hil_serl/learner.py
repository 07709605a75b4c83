"""The learner process: replay buffers, RLPD-style SAC updates, weights out to the actor.

    python -m robot_learning.tasks.hil_serl.learner --port 5555 --out runs/hil/learner [--config cfg.yaml]

It waits for the actor's demonstrations, then updates whenever it may: at most ``utd_ratio`` critic
updates per environment step the actor has reported (so a slow actor does not make the learner
overfit a few episodes). Every transition goes to the online buffer; transitions the human made
(demonstrations and interventions) also go to the prior buffer. It stops when the actor says so,
writes ``final.pt`` and ``learner.json`` and publishes the final weights.

A message that does not decode, or does not fit (a batch of another size, NaNs, an unknown gripper
command), is refused, counted (``refused`` in ``learner.json``) and logged; the learner goes on.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robot_learning.algos.sac import ReplayBuffer, SACAgent, concat_batches
from robot_learning.core.config import load_yaml
from robot_learning.core.runs import write_json
from robot_learning.tasks.hil_serl.config import HilSerlConfig
from robot_learning.tasks.hil_serl.encoder import learner_layout
from robot_learning.tasks.hil_serl.scene import image_shape
from robot_learning.tasks.hil_serl.transport import LearnerEndpoint
from robot_learning.tasks.hil_serl.wire import BatchSpec, check_actor_message

ACT_DIM = 3
LOG = logging.getLogger("robot_learning.hil_serl.learner")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _split(batch: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in batch.items()}


def run_learner(cfg: HilSerlConfig, port: int, out: str | Path, host: str = "*", idle_timeout_s: float = 600.0) -> dict[str, Any]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.torch_threads)
    rng = np.random.default_rng(cfg.seed + 7)
    layout = learner_layout(cfg.env, cfg.encoder)  # the image option: proprioception and the frozen encoder's features
    obs_dim = layout.size
    agent = SACAgent(obs_dim, ACT_DIM, cfg.sac, seed=cfg.seed, image_shape=image_shape(layout))
    # no bigger than the run can fill (frames make transitions large: 55 kB at 48 x 48)
    capacity = min(cfg.buffer_capacity, cfg.env_steps + (cfg.demos + 1) * cfg.env.episode_steps)
    online = ReplayBuffer(obs_dim, ACT_DIM, capacity)
    prior = ReplayBuffer(obs_dim, ACT_DIM, capacity)
    spec = BatchSpec(obs_dim, ACT_DIM, cfg.sac.n_grasp)
    if not cfg.link.curve and host not in _LOOPBACK:
        LOG.warning("the learner listens on %s:%d without link.curve: anyone who reaches it can send it transitions "
                    "(nothing they send can run code); turn link.curve on for a network you do not trust", host, port)
    ep = LearnerEndpoint(port, host, cfg.link, check=lambda m: check_actor_message(m, spec))
    env_steps, version, last_msg, last_pub = 0, 0, time.time(), 0.0
    metrics_log = (out / "metrics.jsonl").open("w")
    t0, t_first_update, done = time.time(), None, False
    n_prior = int(round(cfg.sac.batch_size * cfg.sac.prior_fraction))
    last: dict[str, float] = {}
    try:
        while not done:
            msg = ep.receive(timeout_ms=0 if t_first_update is not None else 50)
            while msg is not None:
                last_msg = time.time()
                kind = msg["kind"]
                if kind == "demos":
                    prior.add(msg["batch"])
                elif kind == "episode":
                    b = msg["batch"]
                    online.add(b)
                    human = np.asarray(b["intervened"], bool)
                    if human.any():
                        prior.add(_split(b, human))
                    env_steps = max(env_steps, int(msg["env_steps"]))
                elif kind == "progress":  # steps of the episode in progress: the learner may keep updating meanwhile
                    env_steps = max(env_steps, int(msg["env_steps"]))
                elif kind == "done":
                    done = True
                    break
                msg = ep.receive(timeout_ms=0)
            if done:
                break
            ready = prior.size > 0 and online.size >= cfg.learning_starts
            if not ready or agent.updates >= cfg.utd_ratio * env_steps:
                if time.time() - last_msg > idle_timeout_s:
                    raise TimeoutError(f"no message from the actor for {idle_timeout_s:.0f} s")
                if prior.size > 0 and time.time() - last_pub > 0.5:  # (re)publish while idle: PUB drops messages to late subscribers
                    ep.publish({"kind": "weights", "version": version, "state": agent.policy_state(), "updates": agent.updates})
                    last_pub = time.time()
                time.sleep(0.002)
                continue
            if t_first_update is None:
                t_first_update = time.time()
            batch = concat_batches(prior.sample(n_prior, rng), online.sample(cfg.sac.batch_size - n_prior, rng))
            last.update(agent.update(batch, n_prior))
            if agent.updates % cfg.publish_every == 0:
                version += 1
                ep.publish({"kind": "weights", "version": version, "state": agent.policy_state(), "updates": agent.updates})
                last_pub = time.time()
            if agent.updates % 200 == 0:
                rate = agent.updates / max(1e-6, time.time() - t_first_update)
                rec = {"updates": agent.updates, "env_steps": env_steps, "updates_per_s": rate, "online": online.size,
                       "prior": prior.size, "wall_s": time.time() - t0, **last}
                metrics_log.write(json.dumps(rec) + "\n")
                metrics_log.flush()
        wall = time.time() - t0
        update_s = time.time() - t_first_update if t_first_update else 0.0
        torch.save({**agent.state_dict(), "sac_config": cfg.sac}, out / "final.pt")
        report = {"updates": agent.updates, "env_steps": env_steps, "updates_per_s": agent.updates / update_s if update_s else 0.0,
                  "wall_clock_s": wall, "online_transitions": online.size, "prior_transitions": prior.size, "last": last,
                  "messages": ep.received, "refused": dict(ep.refused)}
        write_json(out / "learner.json", report)
        for _ in range(5):  # PUB drops messages to slow joiners: repeat the final one
            ep.publish({"kind": "final", "version": version, "state": agent.policy_state(), "updates": agent.updates, "report": report})
            time.sleep(0.1)
        return report
    finally:
        metrics_log.close()
        ep.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m robot_learning.tasks.hil_serl.learner", description="HIL-SERL learner process")
    p.add_argument("--port", type=int, default=5555, help="transitions arrive on this port; weights leave on port + 1")
    p.add_argument("--host", default="*", help="interface to listen on (default all)")
    p.add_argument("--out", type=Path, required=True, help="directory for final.pt, learner.json, metrics.jsonl")
    p.add_argument("--config", type=Path, default=None, help="the run's YAML config (the actor's run directory has it)")
    p.add_argument("--seed", type=int, default=None)
    a = p.parse_args(argv)
    cfg = load_yaml(HilSerlConfig, a.config) if a.config else HilSerlConfig()
    if a.seed is not None:
        cfg.seed = a.seed
    report = run_learner(cfg, a.port, a.out, a.host)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
