"""Get-up reference motions, fallen poses and GIF rendering (robot_learning.tasks.getup)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robot_learning.motion.reference import Reference, build_reference, lowest_point_heights
from robot_learning.robots.g1 import G1_SPEC
from robot_learning.tasks.getup.poses import fallen_pose_dataset, generate_fallen_poses, is_face_up
from robot_learning.tasks.getup.reference import load_reference, quasi_static_drift
from robot_learning.tasks.getup.render import render_gif

MOTIONS = ("g1_getup_supine", "g1_getup_prone")


@pytest.fixture(scope="module", params=MOTIONS)
def ref(request: pytest.FixtureRequest) -> Reference:
    return build_reference(request.param)


def test_shapes_and_names(ref: Reference) -> None:
    T = ref.num_frames
    assert ref.fps == 50
    assert ref.joint_names == G1_SPEC.joint_names
    assert ref.joint_pos.shape == (T, 23) and ref.root_pos.shape == (T, 3)
    assert ref.root_quat.shape == (T, 4) and ref.head_height.shape == (T,)
    assert np.allclose(np.linalg.norm(ref.root_quat, axis=1), 1.0)
    assert abs(ref.duration_s - ref.keyframe_times[-1]) < 1e-9


def test_joint_limits_everywhere(ref: Reference) -> None:
    assert np.all(ref.joint_pos >= G1_SPEC.array("position_lower") - 1e-9)
    assert np.all(ref.joint_pos <= G1_SPEC.array("position_upper") + 1e-9)


def test_starts_lying_ends_standing(ref: Reference) -> None:
    assert ref.head_height[0] < 0.4
    assert ref.head_height[-1] >= 1.1
    assert np.allclose(ref.joint_pos[-1], G1_SPEC.array("default_positions"))


def test_smooth_below_velocity_limits(ref: Reference) -> None:
    speed = np.abs(ref.joint_velocity()).max(axis=0)
    assert np.all(speed < G1_SPEC.array("velocity_limit"))
    assert speed.max() < 5.0  # a slow motion: far below the motors' limits


def test_root_touches_ground(ref: Reference) -> None:
    low = lowest_point_heights(ref)
    assert np.max(np.abs(low)) < 1e-6


def test_first_and_final_keyframes_quasi_static(ref: Reference) -> None:
    assert quasi_static_drift(ref, ref.keyframe_times[0]) < 0.1
    assert quasi_static_drift(ref, ref.keyframe_times[-1]) < 0.1


def test_npz_roundtrip_and_from_arrays(ref: Reference, tmp_path: Path) -> None:
    loaded = Reference.load_npz(ref.save_npz(tmp_path / "ref.npz"))
    assert np.array_equal(loaded.joint_pos, ref.joint_pos)
    assert loaded.keyframe_labels == ref.keyframe_labels
    assert load_reference(ref.name.replace("g1_getup_", "")).num_frames == ref.num_frames
    user = Reference.from_arrays(ref.fps, ref.joint_pos[::10], ref.root_pos[::10], ref.root_quat[::10])
    assert np.allclose(user.head_height, ref.head_height[::10], atol=1e-9)
    raw = tmp_path / "user.npz"
    np.savez(raw, fps=50.0, joint_pos=ref.joint_pos[:5], root_pos=ref.root_pos[:5], root_quat=ref.root_quat[:5])
    assert Reference.load_npz(raw).num_frames == 5


@pytest.mark.parametrize("face_up", [True, False])
def test_fallen_poses_side_and_height(face_up: bool) -> None:
    qpos, qvel = generate_fallen_poses(4, face_up=face_up, seed=3)
    assert qpos.shape == (4, 30) and qvel.shape == (4, 29)
    assert all(is_face_up(q[3:7]) == face_up for q in qpos)
    assert np.all((qpos[:, 2] > 0.03) & (qpos[:, 2] < 0.3))  # HumanUP: 0.06-0.21 m
    again, _ = generate_fallen_poses(4, face_up=face_up, seed=3)
    assert np.array_equal(qpos, again)


def test_fallen_pose_dataset_cache(tmp_path: Path) -> None:
    first = fallen_pose_dataset(2, 1, seed=0, cache_dir=tmp_path)
    second = fallen_pose_dataset(2, 1, seed=0, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    assert np.array_equal(first.prone_test[0], second.prone_test[0])
    assert first.supine_train[0].shape[0] == 2 and first.supine_test[0].shape[0] == 1
    assert not np.array_equal(first.supine_train[0][0], first.supine_test[0][0])
    assert np.array_equal(first["prone"]["test"], first.prone_test[0])


def test_render_gif_10_frames(tmp_path: Path) -> None:
    ref = build_reference("g1_getup_supine")
    path = tmp_path / "clip.gif"
    backend = render_gif(ref.qpos()[::40][:10], path, fps=25)
    assert backend in ("mujoco", "matplotlib")
    with Image.open(path) as im:
        assert im.format == "GIF"
        assert im.n_frames == 10
