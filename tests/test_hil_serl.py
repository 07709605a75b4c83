"""HIL-SERL: the task, the scripted human, the algorithm's pieces, and a short real run (learner and
actor as two processes over ZeroMQ) that must show learning, export an ONNX policy with the
metadata contract and evaluate it through the runtime in both engines."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from robot_learning.algos.reward_classifier import ClassifierConfig, RewardClassifier
from robot_learning.algos.sac import ReplayBuffer, SACAgent, SACConfig
from robot_learning.core.config import ConfigError, merge
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.tasks.hil_serl.actor import collect_demos, record_placed_scene
from robot_learning.tasks.hil_serl.config import HilSerlConfig
from robot_learning.tasks.hil_serl.env import PandaPickPlace
from robot_learning.tasks.hil_serl.expert import ExpertConfig, expert_action
from robot_learning.tasks.hil_serl.human import Human, ScriptedHuman, ScriptedHumanConfig
from robot_learning.tasks.hil_serl.module import load_config
from robot_learning.tasks.hil_serl.scene import OBS_LAYOUT, PickPlaceConfig

ROOT = Path(__file__).resolve().parents[1]


def test_scripted_expert_solves_the_task_and_random_motion_does_not() -> None:
    env = PandaPickPlace(PickPlaceConfig())
    rng = np.random.default_rng(0)
    wins = 0
    for ep in range(4):
        env.reset(seed=ep)
        for _ in range(env.config.episode_steps):
            _, info = env.step(*expert_action(env, ExpertConfig(noise=0.0, fumble=0.0), rng))
            if info["success"]:
                wins += 1
                break
    assert wins == 4
    env.reset(seed=0)
    for _ in range(60):
        _, info = env.step(rng.uniform(-1, 1, 3), int(rng.integers(0, 3)))
    assert not info["success"]


def test_task_randomises_cube_and_bin_apart_and_observation_matches_layout() -> None:
    env = PandaPickPlace(PickPlaceConfig())
    seen = []
    for s in range(12):
        obs = env.reset(seed=s)
        assert obs.shape == (OBS_LAYOUT.size,) and obs.dtype == np.float32
        cube, goal = env.object_pos(), env.goal
        assert np.linalg.norm(cube[:2] - goal[:2]) >= env.config.min_separation
        seen.append(np.r_[cube[:2], goal[:2]])
    spread = np.ptp(np.array(seen), axis=0)
    assert np.all(spread > 0.15), f"cube/bin positions hardly vary: {spread}"


def test_impedance_reference_stays_in_the_workspace_box() -> None:
    env = PandaPickPlace(PickPlaceConfig())
    env.reset(seed=3)
    for _ in range(40):  # push down and sideways at full action: the reference is clipped to the box
        env.step(np.array([1.0, 1.0, 1.0]), 1)
        assert np.all(env.tcp_ref >= env.lo - 1e-9) and np.all(env.tcp_ref <= env.hi + 1e-9)
    assert env.tcp_pos()[2] > env.config.workspace_min[2] - 0.01  # the hand is not driven into the table


def test_scripted_human_steps_in_when_the_policy_stalls_and_hands_back() -> None:
    env = PandaPickPlace(PickPlaceConfig())
    human = ScriptedHuman(ScriptedHumanConfig(start_prob=1.0, end_prob=1.0, patience=5), seed=0)
    obs = env.reset(seed=1)
    human.reset(env, 0)
    took_over = []
    for _ in range(60):
        act = human.act(env, obs, (np.zeros(3, np.float32), 1))  # a policy that does nothing
        took_over.append(act is not None)
        a, g = act if act is not None else (np.zeros(3), 1)
        obs, info = env.step(a, g)
    assert not any(took_over[:5]), "stepped in before the patience ran out"
    assert any(took_over), "never stepped in on a policy that does nothing"
    assert not all(took_over[5:]), "never handed back"
    never = ScriptedHuman(ScriptedHumanConfig(start_prob=0.0, end_prob=0.0), seed=0)
    never.reset(env, 0)
    assert all(never.act(env, obs, (np.zeros(3), 1)) is None for _ in range(30))
    assert Human().act(env, obs, (np.zeros(3), 1)) is None


def test_scripted_human_willingness_decays_over_training() -> None:
    h = ScriptedHuman(ScriptedHumanConfig(start_prob=1.0, end_prob=0.1, decay_steps=1000))
    assert h.probability(0) == pytest.approx(1.0)
    assert h.probability(500) == pytest.approx(0.55)
    assert h.probability(5000) == pytest.approx(0.1)


def test_reward_classifier_learns_a_separable_rule_with_balanced_batches() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1200, 5)).astype(np.float32)
    y = (x[:, 0] > 1.3)  # about 10 % positives, as success frames are rare
    clf = RewardClassifier((5,))
    clf.config.steps = 400
    clf.fit(x[:1000], y[:1000])
    assert clf.accuracy(x[1000:], y[1000:]) > 0.93
    with pytest.raises(ValueError, match="positive and negative"):
        RewardClassifier((5,)).fit(x[:10], np.zeros(10, bool))


def test_image_classifier_runs_on_small_frames() -> None:
    clf = RewardClassifier((3, 32, 32))
    clf.config.steps = 20
    frames = np.random.default_rng(0).uniform(size=(40, 3, 32, 32)).astype(np.float32)
    labels = np.arange(40) % 4 == 0
    frames[labels, 0] += 1.0  # positives are redder
    clf.fit(frames, labels)
    assert clf.prob(frames).shape == (40,)


def test_image_classifier_with_proprioception_needs_both() -> None:
    """Proprioception and a frame: success needs the gripper open (a proprioceptive value) and the
    red cube in the left half of the frame; neither alone tells."""
    rng = np.random.default_rng(0)
    n, state_dim, shape = 1000, 3, (3, 16, 16)
    state = rng.normal(size=(n, state_dim)).astype(np.float32)
    frames = np.full((n,) + shape, 0.3, np.float32)
    left = rng.random(n) < 0.5
    for i in range(n):
        x, y = int(rng.integers(1, 6)) + (0 if left[i] else 9), int(rng.integers(2, 13))
        frames[i, 0, y:y + 2, x:x + 2] = 1.0
    labels = left & (state[:, 0] > 0)
    obs = np.concatenate([state, frames.reshape(n, -1)], 1)
    clf = RewardClassifier((obs.shape[1],), ClassifierConfig(steps=300, batch_size=64, seed=0), image_shape=shape)
    clf.fit(obs[:800], labels[:800])
    assert clf.accuracy(obs[800:], labels[800:]) > 0.9
    with pytest.raises(ValueError, match="cannot hold"):
        RewardClassifier((10,), image_shape=shape)


def test_sac_batches_are_half_prior_and_the_critic_fits_a_known_value() -> None:
    """With reward 1 and a terminal on every transition the critic must approach 1; the gripper critic
    must approach 1 + penalty where the gripper changed."""
    cfg = SACConfig(hidden=(64, 64), batch_size=64)
    agent = SACAgent(4, 3, cfg, seed=0)
    buf = ReplayBuffer(4, 3, 1000)
    rng = np.random.default_rng(0)
    n = 500
    buf.add({"obs": rng.normal(size=(n, 4)).astype(np.float32), "action": rng.uniform(-1, 1, (n, 3)).astype(np.float32),
             "grasp": np.full(n, 1), "reward": np.ones(n, np.float32), "done": np.ones(n, np.float32),
             "next_obs": rng.normal(size=(n, 4)).astype(np.float32), "grasp_changed": np.zeros(n, np.float32)})
    for _ in range(400):
        agent.update(buf.sample(64, rng))
    b = buf.sample(200, rng)
    with torch.no_grad():
        q = agent.critic(torch.as_tensor(b["obs"]), torch.as_tensor(b["action"]))
        gq = agent.grasp(torch.as_tensor(b["obs"]))[:, 1]
    assert abs(float(q.mean()) - 1.0) < 0.1
    assert abs(float(gq.mean()) - 1.0) < 0.1


@pytest.mark.parametrize("hold", ["lift", "wander"])
def test_recorded_positives_follow_the_hold_motion(hold: str) -> None:
    """After each demonstration's success the hand lifts away ("lift") or stays low near where it let
    go ("wander"); every hold frame with the cube in the bin is a positive either way."""
    n = 12
    cfg = merge(HilSerlConfig(), {"demos": 2, "near_miss_episodes": 0, "negative_random_steps": 0,
                                  "positive_hold_steps": n, "positive_hold": hold})
    env = PandaPickPlace(cfg.env)
    demos, frames, labels = collect_demos(env, cfg, None, seed=3)
    ends = np.cumsum([len(d) + 1 + n for d in demos])  # each demo: its first frame, its steps, the hold frames
    assert len(demos) == 2 and len(frames) == len(labels) == ends[-1]
    tcp_z = frames[:, OBS_LAYOUT.slices()["tcp_pos"]][:, 2]
    for end in ends:
        release_z, hold_z = tcp_z[end - n - 1], tcp_z[end - n:end]
        assert labels[end - n:end].mean() > 0.8
        rise = hold_z.max() - release_z
        assert (rise > 0.03) if hold == "lift" else (abs(rise) < 0.03), (hold, release_z, hold_z)


def test_placed_scenes_give_positives_in_the_bin_then_hard_negatives_beside_it() -> None:
    env = PandaPickPlace(PickPlaceConfig())
    rng = np.random.default_rng(0)
    for scene in range(3):
        frames: list[np.ndarray] = []
        labels: list[bool] = []
        record_placed_scene(env, 8, scene, rng, frames, labels)
        assert len(frames) == len(labels) == 16
        assert all(labels[:8]) and not any(labels[8:]), labels
        cube = frames[-1][OBS_LAYOUT.slices()["object_pos"]]
        assert 0.02 < np.abs(cube[:2] - env.goal[:2]).max() - env.config.bin_inner_half < 0.12


def test_config_errors_name_the_problem(tmp_path: Path) -> None:
    jump = tmp_path / "jump.yaml"
    jump.write_text("positive_hold: jump\n")
    with pytest.raises(ConfigError, match="positive_hold must be one of"):
        load_config(jump)
    with pytest.raises(ConfigError, match="human must be one of"):
        load_config(None, human="robot")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sac:\n  batch_sise: 3\n")
    with pytest.raises(ConfigError, match="batch_sise"):
        load_config(bad)
    r = subprocess.run([sys.executable, "-m", "robot_learning", "hil-serl", "actor", "--learner", "nohost", "--out", str(tmp_path / "a")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "HOST:PORT" in r.stderr, r.stderr


def test_short_run_learns_exports_and_evaluates_through_the_runtime(tmp_path: Path) -> None:
    """A few thousand steps through `robot-learning train hil_serl` (learner and actor are two
    processes on ZeroMQ). Learning must show: the critic values the last steps of demonstrations
    (which reach the goal) above the states the online policy visits, and the Q-values rise."""
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text("demos: 8\nnear_miss_episodes: 10\nnegative_random_steps: 200\neval_every: 1000\neval_episodes: 3\nclassifier:\n  steps: 400\n")
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "robot_learning", "train", "hil_serl", "--config", str(cfg_path), "--steps", "1500",
                        "--episodes", "3", "--out", str(out), "--quiet"], capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    s = report["summary"]
    assert s["env_steps"] >= 1500 and s["learner_updates"] >= 1000
    assert s["classifier_heldout_accuracy"] > 0.9
    assert 0.0 < s["intervention_rate"] < 1.0
    assert set(report["eval"]) == {"mujoco", "pybullet"}

    # learning: Q of the demonstrations' last steps against Q of what the online policy did
    final = torch.load(out / "learner" / "final.pt", weights_only=False)
    agent = SACAgent(OBS_LAYOUT.size, 3, final["sac_config"])
    agent.critic.load_state_dict(final["critic"])
    demos = np.load(out / "actor" / "demos.npz")
    ends = np.flatnonzero(demos["done"] > 0)
    near_goal = np.concatenate([ends - k for k in range(3)])
    episodes = json.loads((out / "episodes.json").read_text())
    assert episodes, "no online episodes were recorded"
    with torch.no_grad():
        q_goal = agent.critic(torch.as_tensor(demos["obs"][near_goal]), torch.as_tensor(demos["action"][near_goal])).mean()
        start = torch.as_tensor(demos["obs"][np.r_[0, ends[:-1] + 1]])
        q_start = agent.critic(start, torch.zeros(len(start), 3)).mean()
    assert float(q_goal) > float(q_start) + 0.2, (float(q_goal), float(q_start))
    metrics = [json.loads(x) for x in (out / "learner" / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["q_mean"] > metrics[0]["q_mean"]

    # the exported actor: contract and runtime
    runner = PolicyRunner(out / "policy.onnx")
    md = runner.metadata
    assert md.robot == "franka_panda" and md.task == "hil_serl_pick_place" and md.action["type"] == "ee_delta"
    assert md.control_rate_hz == 10.0 and md.safety_limits["workspace_min"] == [0.25, -0.4, 0.005]
    a = runner(np.zeros(OBS_LAYOUT.size, np.float32))
    assert a.shape == (4,) and np.all(np.abs(a[:3]) <= 1.0) and a[3] in (0.0, 1.0, 2.0)


@pytest.mark.slow
def test_learner_and_actor_run_as_two_commands(tmp_path: Path) -> None:
    """The documented two-machine commands, on loopback: `hil-serl learner` and `hil-serl actor`
    (about a minute; the default suite's short run already has the two processes talk over ZeroMQ)."""
    from robot_learning.tasks.hil_serl.train import free_port_pair

    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text("demos: 3\nnear_miss_episodes: 3\nnegative_random_steps: 100\nenv_steps: 300\nlearning_starts: 100\n"
                        "eval_every: 100000\nclassifier:\n  steps: 100\n")
    port = free_port_pair(seed=1)
    learner = subprocess.Popen([sys.executable, "-m", "robot_learning", "hil-serl", "learner", "--port", str(port), "--host", "127.0.0.1",
                                "--out", str(tmp_path / "learner"), "--config", str(cfg_path)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        actor = subprocess.run([sys.executable, "-m", "robot_learning", "hil-serl", "actor", "--learner", f"127.0.0.1:{port}",
                                "--out", str(tmp_path / "actor"), "--config", str(cfg_path)], cwd=ROOT, capture_output=True, text=True,
                               timeout=600)
        out, err = learner.communicate(timeout=120)
    finally:
        if learner.poll() is None:
            learner.kill()
    assert actor.returncode == 0, actor.stderr[-2000:]
    assert learner.returncode == 0, err[-2000:]
    learned = json.loads(out.strip().splitlines()[-1])
    acted = json.loads(actor.stdout.strip().splitlines()[-1])
    assert acted["env_steps"] >= 300 and learned["env_steps"] == acted["env_steps"]
    assert learned["updates"] > 0 and learned["prior_transitions"] > 0
    assert (tmp_path / "learner" / "final.pt").is_file() and (tmp_path / "actor" / "report.json").is_file()
