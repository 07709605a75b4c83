"""The image policies' second engine: the wrist and front cameras rendered by PyBullet (tiny renderer)
with MuJoCo's intrinsics and extrinsics, so a world point lands on the same pixel in both renderers,
frames in the observation layout, and an image policy's gate run through the runtime on PyBullet frames."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import mujoco
import numpy as np
import pytest
import torch

from robot_learning.tasks.hil_serl.env import PandaPickPlace
from robot_learning.tasks.hil_serl.pybullet_cameras import (
    MUJOCO_FAR_M,
    MUJOCO_NEAR_M,
    camera_world_pose,
    checker_texels,
    project,
)
from robot_learning.tasks.hil_serl.pybullet_env import PyBulletPandaPickPlace
from robot_learning.tasks.hil_serl.scene import (
    CameraConfig,
    PickPlaceConfig,
    obs_layout,
)

# a non-square front frame (80 x 48) checks the aspect ratio too; both engines get the same config
CFG = PickPlaceConfig(observation="image", episode_steps=4,
                      front_camera=replace(PickPlaceConfig().front_camera, width=80, height=48))


@pytest.fixture(scope="module")
def engines() -> tuple[PandaPickPlace, PyBulletPandaPickPlace]:
    mj, pb = PandaPickPlace(CFG), PyBulletPandaPickPlace(CFG)
    yield mj, pb
    mj.close()
    pb.close()


def _sync(mj: PandaPickPlace, pb: PyBulletPandaPickPlace) -> None:
    """PyBullet in MuJoCo's state: the arm's and fingers' joint angles, the cube, the bin."""
    q = mj.data.qpos
    pb.set_state(q[mj._qadr], q[mj._fingers], q[mj._cube_q:mj._cube_q + 3], q[mj._cube_q + 3:mj._cube_q + 7], mj.goal)


def _mujoco_mask(mj: PandaPickPlace, camera: str, geom: str) -> np.ndarray:
    c = mj.config.cameras()[camera]
    r = mujoco.Renderer(mj.model, c.height, c.width)
    try:
        r.enable_segmentation_rendering()
        r.update_scene(mj.data, camera=f"{camera}_cam")
        seg = r.render()
    finally:
        r.close()
    return (seg[..., 0] == mj.model.geom(geom).id) & (seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM))


def _centroid(mask: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(mask)
    return np.array([cols.mean() + 0.5, rows.mean() + 0.5])  # pixel i covers [i, i + 1): u right, v down


def test_pybullet_hand_link_frame_is_mujocos_hand_body_frame(engines: tuple[PandaPickPlace, PyBulletPandaPickPlace]) -> None:
    """The wrist camera is configured in MuJoCo's 'hand' frame (x forward, y along the fingers' motion,
    z towards the fingertips); PyBullet's panda_hand link gives the same frame for the same joint angles."""
    mj, pb = engines
    rng = np.random.default_rng(0)
    hand = mj.model.body("hand").id
    for k in range(3):
        mj.reset(seed=k)
        mj.data.qpos[mj._qadr] += rng.uniform(-0.4, 0.4, 7)
        mujoco.mj_forward(mj.model, mj.data)
        pb.set_state(mj.data.qpos[mj._qadr])
        pos, rot = pb.cameras.hand_pose()
        np.testing.assert_allclose(pos, mj.data.xpos[hand], atol=1e-6)
        np.testing.assert_allclose(rot, mj.data.xmat[hand].reshape(3, 3), atol=1e-5)


def test_clipping_planes_are_mujocos(engines: tuple[PandaPickPlace, PyBulletPandaPickPlace]) -> None:
    m = engines[0].model
    assert MUJOCO_NEAR_M == pytest.approx(m.vis.map.znear * m.stat.extent, rel=1e-3)
    assert MUJOCO_FAR_M == pytest.approx(m.vis.map.zfar * m.stat.extent, rel=1e-3)


@pytest.mark.parametrize("camera", ["front", "wrist"])
def test_the_cube_lands_on_the_same_pixel_in_both_renderers(engines: tuple[PandaPickPlace, PyBulletPandaPickPlace], camera: str) -> None:
    """Same state in both engines; the cube's silhouette (segmentation) centroid agrees within 1 px between
    MuJoCo and PyBullet, and with the pinhole projection of the cube's centre within 1 px; the silhouettes
    overlap (IoU >= 0.8), over scenes with the cube at different places in the frame."""
    mj, pb = engines
    cam = CFG.cameras()[camera]
    for seed in range(3):
        mj.reset(seed=seed)
        if camera == "wrist":  # put the cube where the wrist camera looks, off the frame's centre by a seeded amount
            eye, target, _ = camera_world_pose(cam, mj.data.xpos[mj.model.body("hand").id], mj.data.xmat[mj.model.body("hand").id].reshape(3, 3))
            s = (eye[2] - CFG.cube_half) / (eye[2] - target[2])
            xy = eye[:2] + s * (target - eye)[:2] + np.random.default_rng(seed).uniform(-0.04, 0.04, 2)
            mj.place_object(xy, yaw=0.3 * seed)
        _sync(mj, pb)
        m_mask = _mujoco_mask(mj, camera, "cube_geom")
        rgb, seg = pb.cameras.render(camera, segmentation=True)
        b_mask = (seg & ((1 << 24) - 1)) == pb.cube
        assert m_mask.sum() >= 6 and b_mask.sum() >= 6, (seed, m_mask.sum(), b_mask.sum())
        iou = (m_mask & b_mask).sum() / (m_mask | b_mask).sum()
        c_mj, c_pb = _centroid(m_mask), _centroid(b_mask)
        centre = pb.cameras.project(camera, pb.object_pos())[0]
        assert np.abs(c_mj - c_pb).max() <= 1.0, (seed, c_mj, c_pb)  # measured: the same pixels (IoU 1)
        assert np.abs(c_mj - centre).max() <= 1.0 and np.abs(c_pb - centre).max() <= 1.0, (seed, c_mj, c_pb, centre)
        assert iou >= 0.8, (seed, iou)
        assert rgb.shape == (cam.height, cam.width, 3) and rgb.dtype == np.uint8


def test_pinhole_projection_matches_the_config_intrinsics() -> None:
    cam = CameraConfig(pos=(1.0, 0.0, 0.5), target=(0.0, 0.0, 0.5), up=(0.0, 0.0, 1.0), fovy_deg=90.0, width=80, height=48)
    eye, target, up = camera_world_pose(cam)
    # straight ahead: the frame's centre; 0.5 m up at 1 m: the top edge (fovy 90: tan 45 = 1, half height 24 px)
    np.testing.assert_allclose(project(np.array([[0.0, 0.0, 0.5], [0.0, 0.0, 1.5], [0.0, 1.0, 0.5]]), cam, eye, target, up),
                               [[40.0, 24.0], [40.0, 0.0], [64.0, 24.0]], atol=1e-9)  # +y is the image's right (looking along -x)
    with pytest.raises(ValueError, match="behind the camera"):
        project(np.array([2.0, 0.0, 0.5]), cam, eye, target, up)


def test_frames_are_uint8_in_the_observation_layout(engines: tuple[PandaPickPlace, PyBulletPandaPickPlace]) -> None:
    mj, pb = engines
    obs = pb.reset(seed=7)
    layout = obs_layout(CFG)
    assert pb.layout == layout == mj.layout and obs.shape == (layout.size,) and obs.dtype == np.float32
    fields = pb.obs_fields()
    for name, c in CFG.cameras().items():
        f = fields[f"{name}_image"]
        assert f.shape == (c.height, c.width, 3) and f.dtype == np.uint8 and f.std() > 5
        sl = layout.slices()[f"{name}_image"]
        np.testing.assert_allclose(obs[sl], f.reshape(-1) / 255.0, atol=1e-6)  # the builder's flattening: row-major HWC, / 255
    np.testing.assert_allclose(obs[:3], pb.tcp_pos(), atol=1e-6)
    # the floor is drawn with MuJoCo's checker colours (the two most common colours of the front frame)
    front = fields["front_image"].reshape(-1, 3).astype(int)
    colours, counts = np.unique(front, axis=0, return_counts=True)
    top = colours[np.argsort(counts)[-2:]]
    for checker in ([51, 76, 102], [25, 51, 76]):
        assert (np.abs(top - checker).max(axis=1) <= 2).sum() == 1, top
    # the floor's texture is MuJoCo's checker (its two colours, the edge marks averaged in, lighter at the border)
    tex = checker_texels().astype(int)
    assert tex.shape == (30, 30, 3)
    assert np.abs(tex[1:14, 1:14] - [51, 76, 102]).max() <= 1 and np.abs(tex[1:14, 16:29] - [25, 51, 76]).max() <= 1
    assert (tex[0, 1:14] > tex[1, 1:14]).all()


def test_the_frame_option_is_refused_by_the_twin() -> None:
    with pytest.raises(ValueError, match="frame option"):
        PyBulletPandaPickPlace(PickPlaceConfig(observation="frame"))
    with PyBulletPandaPickPlace(PickPlaceConfig()) as pb:  # state: no cameras, no textures
        assert pb.cameras is None and "front_image" not in pb.obs_fields()
        with pytest.raises(ValueError, match="no cameras"):
            pb.camera_frames()


def test_a_tiny_image_policy_runs_its_pybullet_gate_through_the_runtime(tmp_path: Path) -> None:
    """A freshly exported image policy (a random tiny encoder in its graph): `eval --sim pybullet` runs its
    episodes through the runtime on PyBullet's wrist and front frames (success is not asserted)."""
    from robot_learning.algos.sac import ActingPolicy, SACConfig
    from robot_learning.export.onnx_export import export_policy
    from robot_learning.runtime.policy import PolicyRunner
    from robot_learning.tasks.hil_serl.encoder import VisualEncoder, image_policy
    from robot_learning.tasks.hil_serl.evaluate import evaluate_policy
    from robot_learning.tasks.hil_serl.scene import policy_metadata

    cfg = PickPlaceConfig(observation="image", episode_steps=3)
    torch.manual_seed(0)
    enc = VisualEncoder(2, 8, 64, 64)
    torch.save({"arch": {"cameras": 2, "features": 8, "width": 64, "height": 64}, "encoder": enc.state_dict()}, tmp_path / "enc.pt")
    module = image_policy(ActingPolicy(7 + 16, 3, SACConfig(hidden=(16, 16)), seed=0).exported(), cfg, tmp_path / "enc.pt")
    with PyBulletPandaPickPlace(cfg) as pb:
        obs = np.stack([pb.reset(seed=1), pb.reset(seed=2)])
    export_policy(module, policy_metadata(cfg), tmp_path / "img.onnx", parity_obs=obs, atol=1e-4)
    assert [t.name for t in PolicyRunner(tmp_path / "img.onnx").metadata.observation_layout.shaped_terms()] == ["wrist_image", "front_image"]
    res = evaluate_policy(tmp_path / "img.onnx", sim="pybullet", episodes=1, config=cfg)
    rt = res["runtime"]
    assert res["sim"] == "pybullet" and res["episodes"] == 1 and res["policy_output_nan"] == 0
    assert rt["policy_ticks"] >= 1 and rt["input_faults"] == 0 and rt["policy_faults"] == 0, rt


def test_the_evaluation_renders_the_cameras_the_policy_was_trained_with() -> None:
    """The metadata's cameras (mount, field of view, frame size), not the task's current defaults."""
    from robot_learning.tasks.hil_serl.evaluate import camera_task_config
    from robot_learning.tasks.hil_serl.scene import policy_metadata
    from robot_learning.types import PolicyMetadata, PolicyMetadataError

    front = CameraConfig(pos=(1.2, 0.1, 0.9), target=(0.4, 0.0, 0.05), fovy_deg=60.0, width=48, height=40)
    meta = PolicyMetadata.from_props(policy_metadata(PickPlaceConfig(observation="image", front_camera=front)).to_props())
    cfg = camera_task_config(PickPlaceConfig(), meta)
    assert cfg.observation == "image" and cfg.front_camera == front and cfg.wrist_camera == PickPlaceConfig().wrist_camera
    meta.robot_params["cameras"]["front"]["fovy_deg"] = 1.0
    with pytest.raises(PolicyMetadataError, match=r"'robot_params.cameras.front' is not a camera.*fovy_deg"):
        camera_task_config(PickPlaceConfig(), meta)


def test_mujoco_eyes_draw_the_twins_state_as_mujoco_draws_its_own(engines: tuple[PandaPickPlace, PyBulletPandaPickPlace]) -> None:
    """The gate's physics-only variant (renderer "mujoco"): MuJoCo's cameras drawing PyBullet's state give
    MuJoCo's own frames of that state (a held cube off the table, the arm away from home), and they follow
    the twin when it moves; PyBullet's own frames of the same state differ (another renderer)."""
    from robot_learning.tasks.hil_serl.evaluate import MuJoCoEyes

    mj, pb = engines
    eyes = MuJoCoEyes(pb, CFG)
    try:
        mj.reset(seed=5)
        mj.place_object(mj.tcp_pos()[:2] + 0.03, yaw=0.4, z=0.08)
        _sync(mj, pb)
        ours, theirs, own = eyes.frames(), mj.camera_frames(), pb.camera_frames()
        for k in theirs:
            diff = np.abs(ours[k].astype(int) - theirs[k].astype(int))
            assert diff.mean() < 0.5 and np.mean(diff > 8) < 0.005, (k, diff.mean())
            assert np.abs(own[k].astype(int) - theirs[k].astype(int)).mean() > 2.0, k  # PyBullet's renderer is not MuJoCo's
        before = ours["front_image"]
        pb.set_state(pb.arm_q() + np.array([0.3, 0.2, 0.0, -0.2, 0.0, 0.2, 0.0]))
        assert np.abs(eyes.frames()["front_image"].astype(int) - before.astype(int)).mean() > 1.0
    finally:
        eyes.close()
    wrist_only, both = MuJoCoEyes(pb, CFG, only="wrist"), MuJoCoEyes(pb, CFG)  # MuJoCo draws the wrist, the twin its own front
    try:
        mixed, own, full = wrist_only.frames(), pb.camera_frames(), both.frames()
        assert np.array_equal(mixed["front_image"], own["front_image"]) and np.abs(mixed["wrist_image"].astype(int) - full["wrist_image"]).mean() < 0.5
    finally:
        wrist_only.close()
        both.close()
    with pytest.raises(ValueError, match="no camera 'side'"):
        MuJoCoEyes(pb, CFG, only="side")


def test_the_mujoco_renderer_is_refused_for_a_state_policy() -> None:
    from robot_learning.tasks.hil_serl.evaluate import make_env

    with pytest.raises(ValueError, match="renderer 'mujoco' draws camera frames"):
        make_env("pybullet", PickPlaceConfig(), renderer="mujoco")
    with pytest.raises(ValueError, match="unknown renderer 'blender'"):
        make_env("pybullet", CFG, renderer="blender")
