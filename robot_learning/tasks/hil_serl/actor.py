"""The actor process: the robot (here the MuJoCo task), the human, the reward classifier.

    python -m robot_learning.tasks.hil_serl.actor --learner HOST:PORT --out runs/hil/actor [--config cfg.yaml] [--human keyboard]

In order: record demonstrations (by the human; headless, the scripted one), fit the reward
classifier on their frames, send the demonstrations to the learner, then run episodes with the
newest weights the learner has published. Whenever the human takes over, their action is executed
and stored in its place, and the transition is flagged so the learner also puts it in the prior
buffer. Episodes go to the learner when they end. Every ``eval_every`` steps the deterministic
policy is evaluated without the human on held-out task seeds.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from robot_learning.algos.reward_classifier import RewardClassifier
from robot_learning.algos.sac import ActingPolicy
from robot_learning.core.config import load_yaml
from robot_learning.core.runs import write_json
from robot_learning.tasks.hil_serl.config import HilSerlConfig
from robot_learning.tasks.hil_serl.devices import make_human
from robot_learning.tasks.hil_serl.encoder import make_env
from robot_learning.tasks.hil_serl.env import PandaPickPlace
from robot_learning.tasks.hil_serl.expert import ExpertConfig, expert_action
from robot_learning.tasks.hil_serl.human import Human
from robot_learning.tasks.hil_serl.scene import GRIPPER_OPEN, GRIPPER_STAY
from robot_learning.tasks.hil_serl.transport import ActorEndpoint

EVAL_SEED0 = 500_000  # held-out task seeds: evaluation episodes use EVAL_SEED0 + i; training ones are below


@dataclass
class Episode:
    obs: list[np.ndarray] = field(default_factory=list)
    action: list[np.ndarray] = field(default_factory=list)
    grasp: list[int] = field(default_factory=list)
    next_obs: list[np.ndarray] = field(default_factory=list)
    grasp_changed: list[float] = field(default_factory=list)
    intervened: list[bool] = field(default_factory=list)
    success_gt: list[bool] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.obs)

    def add(self, obs: np.ndarray, action: np.ndarray, grasp: int, next_obs: np.ndarray, info: dict, intervened: bool) -> None:
        self.obs.append(obs)
        self.action.append(np.asarray(action, np.float32))
        self.grasp.append(int(grasp))
        self.next_obs.append(next_obs)
        self.grasp_changed.append(float(info["gripper_changed"]))
        self.intervened.append(bool(intervened))
        self.success_gt.append(bool(info["success"]))

    def batch(self, reward: np.ndarray, done: np.ndarray) -> dict[str, np.ndarray]:
        return {"obs": np.stack(self.obs), "action": np.stack(self.action), "grasp": np.array(self.grasp, np.int64),
                "reward": reward.astype(np.float32), "done": done.astype(np.float32), "next_obs": np.stack(self.next_obs),
                "grasp_changed": np.array(self.grasp_changed, np.float32), "intervened": np.array(self.intervened, bool)}


def collect_demos(env: PandaPickPlace, cfg: HilSerlConfig, human: Human | None, seed: int,
                  progress: Callable[[str], None] | None = None) -> tuple[list[Episode], np.ndarray, np.ndarray]:
    """``cfg.demos`` successful demonstrations, and the classifier's frames and labels.

    Headless (human scripted or none) the scripted expert demonstrates with ``cfg.demo_noise``; with a
    device the person drives every step. After each success ``positive_hold_steps`` more frames are
    recorded as further positives (``positive_hold``: the expert lifts the hand away, or the hand wanders
    around where it let go; the cube stays in the bin), as HIL-SERL records positive frames around the
    goal; ``placed_scenes`` add scenes with the cube put in the bin by hand, then beside it. Labels are
    the ground truth, which stands in for the person's success/failure marks.
    """
    rng = np.random.default_rng(seed)
    demo_cfg = ExpertConfig(noise=cfg.demo_noise)
    use_device = human is not None and human.name not in ("scripted", "none")
    demos: list[Episode] = []
    frames, labels = [], []
    attempt = 0
    while len(demos) < cfg.demos:
        obs = env.reset(seed=seed * 1000 + attempt)
        attempt += 1
        if attempt > 5 * cfg.demos + 20:
            raise RuntimeError(f"only {len(demos)} successful demonstrations in {attempt} attempts")
        ep = Episode()
        episode_frames = [obs]
        if use_device:
            human.reset(env, 0)
        for _ in range(env.config.episode_steps):
            if use_device:
                act = human.act(env, obs, (np.zeros(3, np.float32), 1))
                a, g = act if act is not None else (np.zeros(3, np.float32), 1)
            else:
                a, g = expert_action(env, demo_cfg, rng)
            nobs, info = env.step(a, g)
            ep.add(obs, a, g, nobs, info, intervened=True)
            episode_frames.append(nobs)
            obs = nobs
            if info["success"]:
                break
        if not ep.success_gt or not ep.success_gt[-1]:
            continue
        gt = [False] + ep.success_gt
        for _ in range(cfg.positive_hold_steps):
            if cfg.positive_hold == "wander":  # the hand stays about where it let go, in small random moves
                a, g = rng.uniform(-0.5, 0.5, 3).astype(np.float32), GRIPPER_STAY
            else:
                a, g = expert_action(env, ExpertConfig(noise=0.0), rng)
            nobs, info = env.step(a, g)
            episode_frames.append(nobs)
            gt.append(info["success"])
        frames += episode_frames
        labels += gt
        demos.append(ep)
        if progress:
            progress(f"demonstration {len(demos)}/{cfg.demos}: {len(ep)} steps")
    # near misses: the cube dropped on the rim or just beside the bin, so the classifier learns the boundary
    for k in range(cfg.near_miss_episodes):
        obs = env.reset(seed=seed * 1000 + 990_000 + k)
        angle = rng.uniform(0, 2 * np.pi)
        reach = env.config.bin_inner_half + rng.uniform(-0.01, 0.06)
        miss = env.goal + np.array([reach * np.cos(angle), reach * np.sin(angle), 0.03])
        frames.append(obs)
        labels.append(False)
        for _ in range(env.config.episode_steps):
            obs, info = env.step(*expert_action(env, ExpertConfig(noise=0.0), rng, goal=miss))
            frames.append(obs)
            labels.append(info["success"])
    for k in range(cfg.placed_scenes):
        record_placed_scene(env, cfg.placed_steps, seed * 1000 + 980_000 + k, rng, frames, labels)
    # frames away from the demonstrations' path (HIL-SERL records its negatives by moving the robot around)
    recorded = 0
    while recorded < cfg.negative_random_steps:
        obs = env.reset(seed=seed * 1000 + 999_000 + recorded)
        frames.append(obs)
        labels.append(False)
        for _ in range(min(env.config.episode_steps, cfg.negative_random_steps - recorded)):
            obs, info = env.step(rng.uniform(-1, 1, 3), int(rng.integers(0, 3)))
            frames.append(obs)
            labels.append(info["success"])
            recorded += 1
    return demos, np.stack(frames), np.array(labels)


def record_placed_scene(env: PandaPickPlace, steps: int, scene_seed: int, rng: np.random.Generator,
                        frames: list[np.ndarray], labels: list[bool]) -> None:
    """One scene for the classifier: the cube put inside the bin, then just outside it (2-8 cm beyond a
    wall), ``steps`` frames each while the open hand roams towards random points over the bin. Labels
    are the ground truth (a roaming hand may knock the cube out)."""
    c = env.config
    env.reset(seed=scene_seed)
    inside = c.bin_inner_half - c.cube_half
    for put_in in (True, False):
        if put_in:
            xy = env.goal[:2] + rng.uniform(-inside, inside, 2)
            z = env.goal[2]
        else:
            side = rng.integers(0, 2)
            off = rng.uniform(-c.bin_inner_half, c.bin_inner_half, 2)
            off[side] = rng.choice([-1.0, 1.0]) * (c.bin_inner_half + c.cube_half + rng.uniform(0.02, 0.08))
            xy, z = env.goal[:2] + off, None
        env.place_object(xy, float(rng.uniform(-c.object_yaw, c.object_yaw)), z)
        aim = np.array([*(env.goal[:2] + rng.uniform(-0.06, 0.06, 2)), rng.uniform(0.08, 0.2)])
        for _ in range(steps):
            world = np.clip((aim - env.tcp_pos()) * 25.0, -1.0, 1.0)
            a = np.clip(env.tcp_rot().T @ world + rng.normal(0.0, 0.3, 3), -1.0, 1.0)
            obs, info = env.step(a.astype(np.float32), GRIPPER_OPEN)
            frames.append(obs)
            labels.append(info["success"])


def classifier_input(env: PandaPickPlace, obs: np.ndarray, proprio: bool = False) -> np.ndarray:
    """What the reward classifier sees of (a batch of) observations: the whole state; with images the
    frame alone (as HIL-SERL's classifiers, which look at camera images), or with ``proprio`` the whole
    observation (proprioception and the flattened frame). Through the frozen encoder (the image option):
    the features of both cameras, with ``proprio`` also the proprioception."""
    if getattr(env, "encoded", False):
        return obs if proprio else obs[..., env.layout.slices()["wrist_features"].start:]
    shape = env.image_shape
    if shape is None or proprio:
        return obs
    state_dim = env.layout.size - int(np.prod(shape))
    return obs[..., state_dim:].reshape(obs.shape[:-1] + shape)


def _policy_action(policy: ActingPolicy, obs: np.ndarray, rng: np.random.Generator, random_phase: bool) -> tuple[np.ndarray, int]:
    if random_phase:
        return rng.uniform(-1, 1, 3).astype(np.float32), int(rng.integers(0, 3))
    return policy.act(obs)


def _wait_for_learner(link: ActorEndpoint, policy: ActingPolicy, cfg: HilSerlConfig, sent_steps: int, updates: int) -> int:
    """Block until the learner has made ``min_utd`` updates per online step it has received (beyond
    ``learning_starts``). Counted on the steps already sent: the learner cannot start before it has
    ``learning_starts`` of them, and episodes are sent when they end."""
    need = cfg.min_utd * (sent_steps - cfg.learning_starts) - 2 * cfg.publish_every
    deadline = time.time() + 300.0
    while updates < need:
        msg = link.latest(timeout_ms=1000)
        if msg is not None:
            updates = msg["updates"]
            if msg["version"] != policy.version:
                policy.load(msg["state"], msg["version"])
        if time.time() > deadline:
            raise TimeoutError(f"the learner made no progress for 300 s ({updates} updates, {need:.0f} needed)")
    return updates


def evaluate_acting(policy: ActingPolicy, env: PandaPickPlace, episodes: int, seed0: int = EVAL_SEED0) -> dict[str, float]:
    """Deterministic policy, no human, held-out task seeds; ground-truth success."""
    succ, steps = [], []
    for i in range(episodes):
        obs = env.reset(seed=seed0 + i)
        ok = False
        for k in range(env.config.episode_steps):
            a, g = policy.act(obs, deterministic=True)
            obs, info = env.step(a, g)
            if info["success"]:
                ok = True
                break
        succ.append(ok)
        if ok:
            steps.append(k + 1)
    return {"success_rate": float(np.mean(succ)), "steps_to_success": float(np.mean(steps)) if steps else None,
            "cycle_time_s": float(np.mean(steps)) * env.dt if steps else None}


def run_actor(cfg: HilSerlConfig, host: str, port: int, out: str | Path, human: Human,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda m: None)
    torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    env = make_env(cfg.env, cfg.encoder)  # for the image option: frames through the frozen pretrained encoder
    eval_env = make_env(cfg.env, cfg.encoder)
    t0 = time.time()

    # 1. demonstrations and the reward classifier
    demos, frames, labels = collect_demos(env, cfg, human, seed=cfg.seed + 1, progress=say)
    perm = np.random.default_rng(cfg.seed).permutation(len(frames))
    n_val = len(frames) // 5
    val, tr = perm[:n_val], perm[n_val:]
    def seen(o: np.ndarray) -> np.ndarray:
        return classifier_input(env, o, cfg.classifier_proprio)

    frames = seen(frames)
    clf = RewardClassifier(frames.shape[1:], cfg.classifier, image_shape=env.image_shape if cfg.classifier_proprio else None)
    fit = clf.fit(frames[tr], labels[tr])
    clf_report = {**fit, "heldout_accuracy": clf.accuracy(frames[val], labels[val]), "frames": int(len(frames)),
                  "positives_total": int(labels.sum())}
    torch.save(clf.state_dict(), out / "reward_classifier.pt")
    say(f"reward classifier: {clf_report['positives_total']} positive / {len(labels) - clf_report['positives_total']} negative frames, "
        f"held-out accuracy {clf_report['heldout_accuracy']:.3f}")
    demo_batches = []
    for d in demos:
        r = clf.reward(seen(np.stack(d.next_obs)))
        demo_batches.append(d.batch(r, r))
    demo_batch = {k: np.concatenate([b[k] for b in demo_batches]) for k in demo_batches[0]}
    np.savez_compressed(out / "demos.npz", **demo_batch)  # kept with the run: a later run or another learner can reuse them

    # 2. hand the demonstrations to the learner and wait for its first weights
    link = ActorEndpoint(host, port, cfg.link)
    policy = ActingPolicy(env.layout.size, 3, cfg.sac, seed=cfg.seed, image_shape=env.image_shape)
    link.send_batch("demos", demo_batch)
    msg = link.latest(timeout_ms=60_000)
    if msg is None:
        refused = sum(link.refused.values())
        link.close()
        why = (f" ({refused} of its messages or handshakes were refused: do link.server_public_key and the learner's "
               "allowed keys match?)" if refused else "")
        raise TimeoutError(f"no weights from the learner at {host}:{port + 1} within 60 s: is it running?{why}")
    policy.load(msg["state"], msg["version"])
    say(f"connected to the learner at {host}:{port}; {len(demo_batch['obs'])} demonstration transitions sent")

    # 3. online episodes
    env_steps, episode_i, next_eval, learner_updates, sent_steps = 0, 0, cfg.eval_every, 0, 0
    curve: list[dict[str, Any]] = []
    episodes_log: list[dict[str, Any]] = []
    cls_confusion = np.zeros((2, 2), np.int64)  # [ground truth][classifier]
    t_train = time.time()
    while env_steps < cfg.env_steps and time.time() - t0 < cfg.max_seconds and not human.quit_requested:
        obs = env.reset(seed=cfg.seed * 100_000 + episode_i)
        human.reset(env, env_steps)
        ep = Episode()
        rewards, dones = [], []
        mark = None
        for _ in range(cfg.env.episode_steps):
            msg = link.latest()
            if msg is not None:
                learner_updates = msg["updates"]
                if msg["version"] != policy.version:
                    policy.load(msg["state"], msg["version"])
            pa = _policy_action(policy, obs, rng, random_phase=False)
            ha = human.act(env, obs, pa)
            a, g = ha if ha is not None else pa
            nobs, info = env.step(a, g)
            r = float(clf.reward(seen(nobs)))
            cls_confusion[int(info["success"]), int(r > 0)] += 1
            mark = human.episode_mark()
            if mark == "success":
                r = 1.0
            ep.add(obs, a, g, nobs, info, intervened=ha is not None)
            rewards.append(r)
            dones.append(r > 0 or mark == "failure")
            obs = nobs
            env_steps += 1
            if env_steps % 10 == 0:
                link.send({"kind": "progress", "env_steps": env_steps})
                learner_updates = _wait_for_learner(link, policy, cfg, sent_steps, learner_updates)
            if dones[-1] or mark == "rerecord" or info["object_off_table"] or human.quit_requested:
                break
        if mark == "rerecord":
            say("episode thrown away (re-record)")
            continue
        episode_i += 1
        batch = ep.batch(np.array(rewards), np.array(dones))
        link.send_batch("episode", batch, env_steps=env_steps)
        sent_steps += len(ep)
        episodes_log.append({"env_steps": env_steps, "success": bool(any(ep.success_gt)), "classifier_success": bool(rewards[-1] > 0),
                             "steps": len(ep), "interventions": int(np.sum(ep.intervened))})
        if env_steps >= next_eval or env_steps >= cfg.env_steps:
            next_eval += cfg.eval_every
            ev = evaluate_acting(policy, eval_env, cfg.eval_episodes)
            recent = episodes_log[-20:]
            point = {"env_steps": env_steps, "wall_s": time.time() - t0, "eval_success": ev["success_rate"],
                     "eval_steps_to_success": ev["steps_to_success"], "train_success": float(np.mean([e["success"] for e in recent])),
                     "intervention_rate": float(np.sum([e["interventions"] for e in recent]) / max(1, np.sum([e["steps"] for e in recent]))),
                     "weights_version": policy.version}
            curve.append(point)
            say(f"{env_steps} steps, {point['wall_s']:.0f} s: eval success {ev['success_rate']:.2f}, training success "
                f"{point['train_success']:.2f}, intervention rate {point['intervention_rate']:.3f}")
    train_wall = time.time() - t_train
    link.send({"kind": "done"})
    final = None
    deadline = time.time() + 120.0
    while final is None and time.time() < deadline:
        msg = link.latest(timeout_ms=500)
        if msg is not None and msg["kind"] == "final":
            final = msg
    link.close()
    if final is None:
        raise TimeoutError("the learner did not send its final weights within 120 s")
    policy.load(final["state"], final["version"])
    acc = float(np.trace(cls_confusion) / max(1, cls_confusion.sum()))
    report = {
        "env_steps": env_steps, "episodes": episode_i, "demo_transitions": int(len(demo_batch["obs"])),
        "wall_clock_s": time.time() - t0, "online_wall_s": train_wall,
        "classifier": {**clf_report, "online_accuracy": acc, "online_confusion_gt_by_pred": cls_confusion.tolist()},
        "curve": curve, "episodes_log": episodes_log, "learner": final.get("report", {}),
        "intervention_rate": float(np.sum([e["interventions"] for e in episodes_log]) / max(1, env_steps)),
    }
    write_json(out / "actor.json", report)
    torch.save({"actor": policy.actor.state_dict(), "grasp": policy.grasp.state_dict(), "encoder": policy.encoder.state_dict()},
               out / "policy.pt")
    env.close()
    eval_env.close()
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m robot_learning.tasks.hil_serl.actor", description="HIL-SERL actor process")
    p.add_argument("--learner", required=True, help="HOST:PORT of the learner (it listens on PORT and PORT + 1)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--config", type=Path, default=None)
    p.add_argument("--human", default=None, help="scripted | none | keyboard | gamepad | spacemouse (default: the config's)")
    p.add_argument("--seed", type=int, default=None)
    a = p.parse_args(argv)
    cfg = load_yaml(HilSerlConfig, a.config) if a.config else HilSerlConfig()
    if a.seed is not None:
        cfg.seed = a.seed
    host, _, port = a.learner.rpartition(":")
    human = make_human(a.human or cfg.human, seed=cfg.seed, scripted_config=cfg.scripted)
    try:
        report = run_actor(cfg, host, int(port), a.out, human, progress=lambda m: print(m, file=sys.stderr, flush=True))
    finally:
        human.close()
    print(json.dumps({k: report[k] for k in ("env_steps", "episodes", "wall_clock_s", "intervention_rate")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
