"""HIL-SERL's one-frame option (`observation: frame`; the two-camera image option is tests/test_hil_serl_cameras.py): the camera frame in the observation, the pixel encoder and its
augmentation, an image policy's update, ONNX export and evaluation through the runtime; and a short
real run (slow: rendering is in software here)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from robot_learning.algos.sac import ActingPolicy, SACAgent, SACConfig, random_shift
from robot_learning.core.config import ConfigError
from robot_learning.export.onnx_export import export_policy
from robot_learning.tasks.hil_serl.actor import classifier_input
from robot_learning.tasks.hil_serl.env import PandaPickPlace
from robot_learning.tasks.hil_serl.evaluate import evaluate_policy
from robot_learning.tasks.hil_serl.module import load_config
from robot_learning.tasks.hil_serl.scene import PickPlaceConfig, image_shape, obs_layout, policy_metadata
from robot_learning.types import PolicyMetadataError

ROOT = Path(__file__).resolve().parents[1]
SIZE = 32  # small frames keep these tests quick; the default is 48


@pytest.fixture(scope="module")
def image_env() -> PandaPickPlace:
    env = PandaPickPlace(PickPlaceConfig(observation="frame", image_size=SIZE))
    yield env
    env.close()


def _image(env: PandaPickPlace, obs: np.ndarray) -> np.ndarray:
    return classifier_input(env, obs)


def test_image_observation_is_proprioception_and_a_frame_that_shows_the_scene(image_env: PandaPickPlace) -> None:
    layout = obs_layout(image_env.config)
    assert [t.name for t in layout.terms] == ["tcp_pos", "tcp_vel", "gripper_opening", "image"]
    assert image_shape(layout) == (3, SIZE, SIZE)
    a = image_env.reset(seed=0)
    assert a.shape == (layout.size,) and a.dtype == np.float32
    img_a = _image(image_env, a)
    assert img_a.shape == (3, SIZE, SIZE) and 0.0 <= img_a.min() and img_a.max() <= 1.0 and img_a.std() > 0.02
    # no object or goal coordinates leak into the observation: only the pixels say where they are
    assert np.allclose(a[:3], image_env.tcp_pos(), atol=1e-5)
    b = image_env.reset(seed=1)  # another scene: another frame
    assert np.abs(_image(image_env, b) - img_a).mean() > 1e-3
    # the cube is visible: moving only the cube changes the frame
    image_env.reset(seed=0)
    before = image_env.render()
    q = image_env._cube_q
    image_env.data.qpos[q:q + 2] += np.array([0.0, 0.1])
    import mujoco

    mujoco.mj_forward(image_env.model, image_env.data)
    assert np.abs(image_env.render().astype(int) - before.astype(int)).sum() > 0


def test_bad_observation_option_is_named() -> None:
    with pytest.raises(ValueError, match="observation must be one of state, image, frame"):
        PickPlaceConfig(observation="depth")
    with pytest.raises(ValueError, match="image_size"):
        PickPlaceConfig(observation="frame", image_size=4)
    with pytest.raises(ConfigError, match="observation"):
        load_config(None, observation="depth")


def test_random_shift_translates_frames_and_keeps_the_state() -> None:
    gen = torch.Generator().manual_seed(0)
    img = torch.zeros(2, 3, 8, 8)
    img[:, :, 4, 4] = 1.0  # one bright pixel
    obs = torch.cat([torch.tensor([[1.0, 2.0], [3.0, 4.0]]), img.reshape(2, -1)], -1)
    out = random_shift(obs, 2, (3, 8, 8), 2, gen)
    assert out.shape == obs.shape and torch.equal(out[:, :2], obs[:, :2])
    moved = out[:, 2:].reshape(2, 3, 8, 8)
    for k in range(2):  # the bright pixel moved by at most 2 in each direction, and stayed one pixel
        ys, xs = torch.nonzero(moved[k, 0], as_tuple=True)
        assert len(ys) == 1 and abs(int(ys[0]) - 4) <= 2 and abs(int(xs[0]) - 4) <= 2
    assert torch.equal(random_shift(obs, 2, (3, 8, 8), 0, gen), obs)


def test_image_agent_update_trains_the_encoder_through_the_critic_and_the_imitation_term() -> None:
    shape = (3, SIZE, SIZE)
    od = 7 + int(np.prod(shape))
    agent = SACAgent(od, 3, SACConfig(batch_size=16, bc_weight=1.0, critic_actor_ratio=1), seed=0, image_shape=shape)
    rng = np.random.default_rng(0)
    n = 16
    batch = {"obs": rng.random((n, od), dtype=np.float32), "action": rng.uniform(-1, 1, (n, 3)).astype(np.float32),
             "grasp": rng.integers(0, 3, n), "reward": np.ones(n, np.float32), "done": np.ones(n, np.float32),
             "next_obs": rng.random((n, od), dtype=np.float32), "grasp_changed": np.zeros(n, np.float32)}
    enc0 = {k: v.clone() for k, v in agent.encoder.state_dict().items()}
    tgt0 = {k: v.clone() for k, v in agent.encoder_target.state_dict().items()}
    out = agent.update(batch, n_prior=8)
    assert np.isfinite(out["critic_loss"]) and "actor_loss" in out
    assert any(not torch.equal(enc0[k], v) for k, v in agent.encoder.state_dict().items()), "the critic did not train the encoder"
    assert any(not torch.equal(tgt0[k], v) for k, v in agent.encoder_target.state_dict().items()), "the target encoder did not follow"
    # the imitation term (prior rows) trains the encoder too, unless bc_trains_encoder is off; the
    # SAC part of the actor's loss reads detached features either way
    frozen = SACAgent(od, 3, SACConfig(batch_size=16, bc_weight=1.0, critic_actor_ratio=1, bc_trains_encoder=False), seed=0, image_shape=shape)
    actor_params = {id(p) for g in frozen.actor_opt.param_groups for p in g["params"]}
    assert not actor_params & {id(p) for p in frozen.encoder.parameters()}
    frozen.update(batch, n_prior=8)
    moved = [not torch.equal(a, b) for a, b in zip(agent.encoder.state_dict().values(), frozen.encoder.state_dict().values())]
    assert any(moved), "the imitation term did not reach the encoder"
    # the acting copy reproduces the learner's deterministic policy from the published weights
    acting = ActingPolicy(od, 3, agent.config, image_shape=shape)
    acting.load(agent.policy_state(), 1)
    a, _ = acting.act(batch["obs"][0], deterministic=True)
    with torch.no_grad():
        ref = agent.actor.deterministic(agent.encoder(torch.as_tensor(batch["obs"][:1])))[0].numpy()
    np.testing.assert_allclose(a, ref, atol=1e-6)


def test_image_policy_exports_and_runs_through_the_runtime_in_mujoco_only(tmp_path: Path, image_env: PandaPickPlace) -> None:
    cfg = image_env.config
    layout = obs_layout(cfg)
    acting = ActingPolicy(layout.size, 3, SACConfig(), seed=0, image_shape=image_shape(layout))
    obs = np.stack([image_env.reset(seed=500_000 + i) for i in range(4)])
    rep = export_policy(acting.exported(), policy_metadata(cfg), tmp_path / "img.onnx", parity_obs=obs, atol=1e-4)
    assert rep.max_abs_diff < 1e-4
    # the evaluation reads the frame size from the policy's metadata and renders it
    res = evaluate_policy(tmp_path / "img.onnx", sim="mujoco", episodes=1)
    assert res["episodes"] == 1 and res["runtime"]["ticks"] >= 1
    with pytest.raises(PolicyMetadataError, match="camera frames"):
        evaluate_policy(tmp_path / "img.onnx", sim="pybullet", episodes=1)


@pytest.mark.slow
def test_short_image_run_trains_exports_and_evaluates(tmp_path: Path) -> None:
    """A few hundred steps with frames: the whole pipeline runs (learning itself is measured by the benchmark)."""
    from robot_learning.core.config import merge, save_yaml

    cfg = merge(load_config(None, observation="frame"),
                {"demos": 3, "near_miss_episodes": 2, "placed_scenes": 2, "placed_steps": 5, "negative_random_steps": 60,
                 "env_steps": 400, "learning_starts": 100,
                 "eval_every": 400, "eval_episodes": 1, "classifier": {"steps": 100}})
    save_yaml(cfg, tmp_path / "cfg.yaml")
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "robot_learning", "train", "hil_serl", "--config", str(tmp_path / "cfg.yaml"),
                        "--out", str(out), "--episodes", "2", "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["observation"] == "frame" and report["summary"]["success_pybullet"] is None
    assert report["train"]["learner"]["updates"] > 100
    assert (out / "policy.onnx").is_file()


def test_rendering_without_a_headless_gl_is_a_clear_error_not_an_abort() -> None:
    """mujoco imported first with its default (GLFW) and no display: a RuntimeError naming the fix."""
    code = ("import mujoco\n"
            "from robot_learning.tasks.hil_serl.env import PandaPickPlace\n"
            "from robot_learning.tasks.hil_serl.scene import PickPlaceConfig\n"
            "try:\n"
            "    PandaPickPlace(PickPlaceConfig(observation='frame', image_size=32)).reset(seed=0)\n"
            "except RuntimeError as e:\n"
            "    print('ERROR', e)\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "DISPLAY", "PYOPENGL_PLATFORM")}
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "ERROR" in r.stdout and "MUJOCO_GL=egl" in r.stdout
