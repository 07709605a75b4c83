"""HIL-SERL from pixels: the wrist and front cameras in the observation layout (uint8 image terms with
their shape), the layout's checks, the frozen visual encoder, and an image policy with the encoder
inside its ONNX graph running through the runtime on both cameras."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from robot_learning.algos.sac import ActingPolicy, SACConfig
from robot_learning.export.onnx_export import export_policy
from robot_learning.runtime.observation import ObservationBuilder
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.tasks.hil_serl.actor import classifier_input
from robot_learning.tasks.hil_serl.encoder import (
    DEFAULT_ENCODER,
    ROOT,
    EncodedEnv,
    Randomiser,
    VisualEncoder,
    VisualRandomisation,
    feature_layout,
    image_policy,
    load_encoder,
)
from robot_learning.tasks.hil_serl.env import PandaPickPlace
from robot_learning.tasks.hil_serl.evaluate import evaluate_policy
from robot_learning.tasks.hil_serl.module import load_config
from robot_learning.tasks.hil_serl.scene import (
    CameraConfig,
    PickPlaceConfig,
    obs_layout,
    policy_metadata,
)
from robot_learning.types import ObsLayout, ObsTerm, PolicyMetadata

CFG = PickPlaceConfig(observation="image", episode_steps=8)


@pytest.fixture(scope="module")
def env() -> PandaPickPlace:
    e = PandaPickPlace(CFG)
    yield e
    e.close()


def _tiny_encoder_file(path: Path) -> Path:
    torch.manual_seed(0)
    enc = VisualEncoder(2, 16, 64, 64)
    torch.save({"arch": {"cameras": 2, "features": 16, "width": 64, "height": 64}, "encoder": enc.state_dict()}, path)
    return path


def test_image_layout_names_both_cameras_as_uint8_frames_with_their_shape_in_the_metadata() -> None:
    layout = obs_layout(CFG)
    assert [t.name for t in layout.terms] == ["tcp_pos", "tcp_vel", "gripper_opening", "wrist_image", "front_image"]
    for t in layout.shaped_terms():
        assert t.shape == (64, 64, 3) and t.dtype == "uint8" and t.size == 64 * 64 * 3
    meta = PolicyMetadata.from_props(policy_metadata(CFG).to_props())
    assert meta.observation_layout == layout
    cams = meta.robot_params["cameras"]
    assert set(cams) == {"wrist", "front"} and cams["wrist"]["body"] == "hand" and cams["front"]["body"] == "world"
    assert cams["front"]["fy"] == pytest.approx(32 / np.tan(np.radians(55.0) / 2))
    # a state layout's serialised form is unchanged (no shape, no dtype keys)
    assert "shape" not in json.dumps(obs_layout(PickPlaceConfig()).to_dict())


def test_a_wrong_frame_shape_or_dtype_is_refused_by_the_term_name() -> None:
    layout = obs_layout(CFG)
    builder = ObservationBuilder(layout)
    good = {"tcp_pos": np.zeros(3), "tcp_vel": np.zeros(3), "gripper_opening": np.zeros(1),
            "wrist_image": np.zeros((64, 64, 3), np.uint8), "front_image": np.full((64, 64, 3), 255, np.uint8)}
    out = builder.build(good, np.zeros(layout.size, np.float32))
    assert out[-1] == pytest.approx(1.0) and out[7] == 0.0
    with pytest.raises(ValueError, match=r"'wrist_image' has shape \[48, 48, 3\], the layout expects \[64, 64, 3\]"):
        builder.build({**good, "wrist_image": np.zeros((48, 48, 3), np.uint8)}, np.zeros(layout.size, np.float32))
    with pytest.raises(ValueError, match=r"'front_image' has shape \[3, 64, 64\]"):  # channels first: same size, wrong shape
        builder.build({**good, "front_image": np.zeros((3, 64, 64), np.uint8)}, np.zeros(layout.size, np.float32))
    with pytest.raises(ValueError, match="'front_image' has dtype float32, the layout expects uint8"):
        builder.build({**good, "front_image": np.zeros((64, 64, 3), np.float32)}, np.zeros(layout.size, np.float32))
    with pytest.raises(ValueError, match="'wrist_image' has shape"):
        ObsTerm("wrist_image", 100, shape=(64, 64, 3), dtype="uint8")
    with pytest.raises(ValueError, match="observation layout.*'front_image' has dtype 'rgb'"):
        ObsLayout.from_dict({"terms": [{"name": "front_image", "size": 12, "shape": [2, 2, 3], "dtype": "rgb"}]})


def test_camera_config_is_checked_and_gives_its_intrinsics() -> None:
    c = CameraConfig(fovy_deg=90.0, width=64, height=48)
    assert c.intrinsics() == pytest.approx({"fx": 24.0, "fy": 24.0, "cx": 32.0, "cy": 24.0})
    with pytest.raises(ValueError, match="fovy_deg"):
        CameraConfig(fovy_deg=5.0)
    with pytest.raises(ValueError, match="body"):
        CameraConfig(body="elbow")
    with pytest.raises(ValueError, match="target"):
        CameraConfig(pos=(0.0, 0.0, 1.0), target=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0))


def test_both_cameras_render_and_the_wrist_camera_moves_with_the_hand(env: PandaPickPlace) -> None:
    m, d = env.model, env.data
    wrist, front, hand = m.camera("wrist_cam").id, m.camera("front_cam").id, m.body("hand").id

    def pose() -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # the wrist camera in the hand's frame, the front camera in the world
        return d.xmat[hand].reshape(3, 3).T @ (d.cam_xpos[wrist] - d.xpos[hand]), d.cam_xpos[front].copy(), d.xpos[hand].copy()

    env.reset(seed=3)
    a, (w0, f0, h0) = env.camera_frames(), pose()
    assert set(a) == {"wrist_image", "front_image"}
    assert all(f.shape == (64, 64, 3) and f.dtype == np.uint8 and f.std() > 5 for f in a.values())
    np.testing.assert_allclose(w0, env.config.wrist_camera.pos, atol=1e-9)
    for _ in range(3):
        env.step(np.array([0.0, 0.0, -1.0]), 1)  # the hand goes down 6 cm
    b, (w1, f1, h1) = env.camera_frames(), pose()
    assert np.linalg.norm(h1 - h0) > 0.04
    np.testing.assert_allclose(w1, w0, atol=1e-9)  # the wrist camera rides on the hand
    np.testing.assert_allclose(f1, f0, atol=1e-12)  # the front camera stays where it is
    assert all(np.abs(a[k].astype(int) - b[k].astype(int)).mean() > 1 for k in a)


def test_visual_randomisation_changes_the_scene_and_restores_it(env: PandaPickPlace) -> None:
    env.reset(seed=4)
    before = env.camera_frames()["front_image"]
    rand = Randomiser(env, VisualRandomisation())
    rng = np.random.default_rng(0)
    rand.episode(rng)
    rand.frame(rng)
    assert not np.allclose(env.model.geom_rgba, rand.nominal["geom_rgba"]) and not np.allclose(env.model.cam_pos, rand.nominal["cam_pos"])
    assert np.abs(env.camera_frames()["front_image"].astype(int) - before.astype(int)).mean() > 3
    rand.restore()
    np.testing.assert_array_equal(env.camera_frames()["front_image"], before)


def test_encoded_env_gives_proprioception_and_frozen_features(env: PandaPickPlace, tmp_path: Path) -> None:
    enc = load_encoder(_tiny_encoder_file(tmp_path / "enc.pt"))
    assert not any(p.requires_grad for p in enc.parameters())
    wrapped = EncodedEnv(env, enc)
    obs = wrapped.reset(seed=5)
    assert obs.shape == (7 + 32,) == (wrapped.layout.size,) and wrapped.image_shape is None
    np.testing.assert_allclose(obs[:3], env.tcp_pos(), atol=1e-5)
    assert np.abs(obs[7:]).max() <= 1.0 and np.abs(obs[7:]).std() > 0.05
    np.testing.assert_allclose(wrapped.observation(), obs, atol=1e-6)  # a frozen encoder: the same frame, the same features
    assert classifier_input(wrapped, obs[None], proprio=False).shape == (1, 32)
    assert classifier_input(wrapped, obs[None], proprio=True).shape == (1, 39)
    assert feature_layout(enc).slices()["front_features"] == slice(23, 39)


def test_image_policy_with_the_encoder_in_its_graph_runs_through_the_runtime_on_both_cameras(env: PandaPickPlace, tmp_path: Path) -> None:
    enc_path = _tiny_encoder_file(tmp_path / "enc.pt")
    acting = ActingPolicy(7 + 32, 3, SACConfig(hidden=(32, 32)), seed=0)
    module = image_policy(acting.exported(), CFG, enc_path)
    obs = np.stack([env.reset(seed=500_000 + i) for i in range(3)])
    rep = export_policy(module, policy_metadata(CFG), tmp_path / "img.onnx", parity_obs=obs, atol=1e-4)
    assert rep.max_abs_diff < 1e-4
    runner = PolicyRunner(tmp_path / "img.onnx")
    assert [t.name for t in runner.metadata.observation_layout.shaped_terms()] == ["wrist_image", "front_image"]
    # the actions depend on the pixels: the encoder is in the graph
    dark = obs[0].copy()
    dark[7:] = 0.0
    assert np.abs(runner(obs[0]) - runner(dark)).max() > 1e-4
    res = evaluate_policy(tmp_path / "img.onnx", sim="mujoco", episodes=1, config=CFG)
    rt = res["runtime"]
    assert res["episodes"] == 1 and rt["policy_ticks"] >= 1 and rt["input_faults"] == 0 and rt["policy_faults"] == 0


def test_observation_image_loads_the_image_configuration() -> None:
    cfg = load_config(None, observation="image")
    assert cfg.env.observation == "image" and cfg.placed_scenes > 0 and cfg.encoder == DEFAULT_ENCODER
    assert cfg.env.wrist_camera.body == "hand" and cfg.env.front_camera.body == "world"
    assert load_config(None).env.observation == "state"


def test_the_shipped_image_policy_runs_through_the_runtime_on_both_cameras_and_places_the_cube() -> None:
    """The shipped image policy (trained with the frozen encoder in its graph) on one held-out scene, raw frames in."""
    policy = ROOT / "assets" / "policies" / "panda_pick_place_image.onnx"
    runner = PolicyRunner(policy)
    assert [t.name for t in runner.metadata.observation_layout.shaped_terms()] == ["wrist_image", "front_image"]
    assert runner.metadata.robot_params["cameras"]["wrist"]["body"] == "hand"
    res = evaluate_policy(policy, sim="mujoco", episodes=1, config=PickPlaceConfig(episode_steps=60))
    rt = res["runtime"]
    assert rt["input_faults"] == 0 and rt["policy_faults"] == 0 and rt["policy_ticks"] >= 1
    assert res["successes"] == 1, res["per_episode"]
    # the policy's own compute is reported per tick, apart from the simulator (its p99 is measured in benchmarks, not asserted)
    assert res["policy_compute_ms"]["count"] == rt["policy_ticks"] and 0 < res["policy_compute_ms"]["p50"] <= res["policy_compute_ms"]["p99"]


@pytest.mark.skipif(not (ROOT / DEFAULT_ENCODER).is_file(), reason="the shipped encoder is made by the pretraining command")
def test_the_shipped_encoder_is_small_and_carries_its_card() -> None:
    path = ROOT / DEFAULT_ENCODER
    assert path.stat().st_size < 2_000_000
    enc = load_encoder(path)
    assert sum(p.numel() for p in enc.parameters()) < 500_000
    card = json.loads(path.with_suffix(".json").read_text())
    for key in ("data", "objective", "command", "heldout_randomised", "heldout_nominal_visuals", "parameters"):
        assert key in card
    assert card["heldout_randomised"]["cube_pos_error_cm_mean"] < 10.0


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / DEFAULT_ENCODER).is_file(), reason="the shipped encoder is made by the pretraining command")
def test_short_two_camera_run_trains_on_frozen_features_exports_and_evaluates(tmp_path: Path) -> None:
    """A few hundred steps of `train hil_serl --observation image`: the whole pipeline (learning is measured by the benchmark)."""
    import subprocess
    import sys

    from robot_learning.core.config import merge, save_yaml

    cfg = merge(load_config(None, observation="image"),
                {"demos": 2, "near_miss_episodes": 1, "placed_scenes": 2, "placed_steps": 5, "negative_random_steps": 40,
                 "env_steps": 300, "learning_starts": 100, "eval_every": 300, "eval_episodes": 1, "classifier": {"steps": 100}})
    save_yaml(cfg, tmp_path / "cfg.yaml")
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "robot_learning", "train", "hil_serl", "--config", str(tmp_path / "cfg.yaml"),
                        "--out", str(out), "--episodes", "1", "--quiet"], check=False, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["observation"] == "image" and report["summary"]["success_pybullet"] is not None  # the PyBullet image gate
    assert report["train"]["learner"]["updates"] > 100
    meta = PolicyRunner(out / "policy.onnx").metadata
    assert [t.name for t in meta.observation_layout.shaped_terms()] == ["wrist_image", "front_image"]
