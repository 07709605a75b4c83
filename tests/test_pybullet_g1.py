"""The G1 in PyBullet against the G1 in MuJoCo.

Structure (the URDF converted from Menagerie g1.xml against MuJoCo's compiled model): the same 23
movable joints (wrists fixed), the same joint axes and anchors in the world at the default pose and
at random poses, the same limits, link masses, inertias and total mass, and the same link frames
(forward kinematics to well under 1 mm) at random configurations.

Dynamics: hung by the pelvis the G1 holds its default pose (as in MuJoCo); lying face up it is still
for 2 s; from the same lying state, the same 2 s sit-up-like joint sweep in both engines ends in
nearby states (the divergence is printed, run with -s to see it); several instances coexist; the
control-step rate is measured.
"""
from __future__ import annotations

import time

import mujoco
import numpy as np
import pybullet as p
import pytest

from robot_learning.robots.g1 import G1_SPEC, G1_WRIST_JOINTS
from robot_learning.robots.g1_urdf import g1_urdf_path
from robot_learning.runtime.transport import InProcessTransport
from robot_learning.sim.mujoco_robot import MujocoJointRobot, MujocoRobotConfig
from robot_learning.sim.pybullet_g1 import PyBulletG1, PyBulletG1Config, measure_speed

SEED = 7


# ----------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("g1_urdf"))


@pytest.fixture(scope="module")
def pb(cache_dir: str) -> PyBulletG1:
    robot = PyBulletG1(PyBulletG1Config(cache_dir=cache_dir, seed=SEED))
    yield robot
    robot.close()


@pytest.fixture(scope="module")
def mj() -> MujocoJointRobot:
    return MujocoJointRobot(MujocoRobotConfig(robot="g1", variant="mesh", seed=SEED))


def random_configuration(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Joint angles uniform within the limits, a random base position and orientation (w, x, y, z)."""
    q = rng.uniform(G1_SPEC.array("position_lower"), G1_SPEC.array("position_upper"))
    base = rng.uniform(-0.5, 0.5, 3) + np.array([0.0, 0.0, 1.0])
    quat = rng.normal(size=4)
    return q, base, quat / np.linalg.norm(quat)


def set_both(pb: PyBulletG1, mj: MujocoJointRobot, q: np.ndarray, base: np.ndarray, quat: np.ndarray) -> None:
    pb.set_configuration(q, base, quat)
    d = mj.data
    d.qpos[mj._free_qadr : mj._free_qadr + 3] = base
    d.qpos[mj._free_qadr + 3 : mj._free_qadr + 7] = quat
    d.qpos[mj._qadr] = q
    mujoco.mj_forward(mj.model, d)


def pb_link_frame(pb: PyBulletG1, name: str) -> tuple[np.ndarray, np.ndarray]:
    """World position and rotation matrix of a URDF link frame in PyBullet."""
    index = pb.link_index[name]
    if index == -1:
        pos, orn = pb._pelvis_pose()
    else:
        state = p.getLinkState(pb.body, index, computeForwardKinematics=True, physicsClientId=pb.client)
        pos, orn = state[4], state[5]
    return np.array(pos), np.array(p.getMatrixFromQuaternion(orn)).reshape(3, 3)


def pb_com_frame(pb: PyBulletG1, name: str) -> tuple[np.ndarray, np.ndarray]:
    index = pb.link_index[name]
    if index == -1:
        pos, orn = p.getBasePositionAndOrientation(pb.body, physicsClientId=pb.client)
    else:
        state = p.getLinkState(pb.body, index, computeForwardKinematics=True, physicsClientId=pb.client)
        pos, orn = state[0], state[1]
    return np.array(pos), np.array(p.getMatrixFromQuaternion(orn)).reshape(3, 3)


def world_axes(pb: PyBulletG1, mj: MujocoJointRobot) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(PyBullet axes, MuJoCo axes, PyBullet anchors, MuJoCo anchors) of the 23 joints in the world."""
    pb_axes, pb_anchors, mj_axes, mj_anchors = [], [], [], []
    for name in G1_SPEC.joint_names:
        info = p.getJointInfo(pb.body, pb.joint_index[name], physicsClientId=pb.client)
        child = info[12].decode()
        pos, _ = pb_link_frame(pb, child)  # the URDF joint frame is the child link frame
        _, com_rot = pb_com_frame(pb, child)  # PyBullet reports the axis in the child's inertial frame
        pb_axes.append(com_rot @ np.array(info[13]))
        pb_anchors.append(pos)
        jid = mj.model.joint(name).id
        mj_axes.append(mj.data.xaxis[jid].copy())
        mj_anchors.append(mj.data.xanchor[jid].copy())
    return np.array(pb_axes), np.array(mj_axes), np.array(pb_anchors), np.array(mj_anchors)


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return np.arccos(np.clip(cos, -1.0, 1.0))


# ----------------------------------------------------------------------------- conversion


def test_conversion_is_cached_by_source_hash_with_meshes_next_to_the_urdf(cache_dir: str) -> None:
    first = g1_urdf_path(cache_dir)
    mtime = first.urdf_path.stat().st_mtime_ns
    again = g1_urdf_path(cache_dir)
    assert again.urdf_path == first.urdf_path and again.urdf_path.stat().st_mtime_ns == mtime
    text = first.urdf_path.read_text()
    assert "<collision" in text and 'filename="meshes/' in text
    meshes = list((first.urdf_path.parent / "meshes").glob("*.obj"))
    assert meshes and all(m.stat().st_size > 0 for m in meshes)


def test_same_joint_set_with_the_wrists_fixed(pb: PyBulletG1) -> None:
    c = pb.client
    kinds = {}
    for j in range(p.getNumJoints(pb.body, physicsClientId=c)):
        info = p.getJointInfo(pb.body, j, physicsClientId=c)
        kinds[info[1].decode()] = info[2]
    movable = [n for n, k in kinds.items() if k != p.JOINT_FIXED]
    assert movable == list(G1_SPEC.joint_names)  # same joints, same order
    assert all(kinds[n] == p.JOINT_REVOLUTE for n in movable)
    # the wrists are gone as joints: their links hang on fixed joints
    assert not set(G1_WRIST_JOINTS) & set(kinds)
    for side in ("left", "right"):
        for part in ("wrist_roll", "wrist_pitch", "wrist_yaw"):
            assert f"{side}_{part}_link" in pb.link_index
    assert len(pb.link_index) == 30  # pelvis + 29 bodies, no dummy links


def test_joint_axes_and_anchors_agree_at_default_and_random_poses(pb: PyBulletG1, mj: MujocoJointRobot) -> None:
    rng = np.random.default_rng(SEED)
    poses = [(G1_SPEC.array("default_positions"), np.array([0.0, 0.0, 0.79]), np.array([1.0, 0, 0, 0]))]
    poses += [random_configuration(rng) for _ in range(5)]
    worst_angle, worst_anchor = 0.0, 0.0
    for q, base, quat in poses:
        set_both(pb, mj, q, base, quat)
        pb_axes, mj_axes, pb_anchors, mj_anchors = world_axes(pb, mj)
        worst_angle = max(worst_angle, float(angle_between(pb_axes, mj_axes).max()))
        worst_anchor = max(worst_anchor, float(np.linalg.norm(pb_anchors - mj_anchors, axis=1).max()))
    print(f"\njoint axes: worst angle {worst_angle:.2e} rad; anchors: worst distance {worst_anchor:.2e} m")
    assert worst_angle < 1e-6
    assert worst_anchor < 1e-6


def test_joint_limits_agree(pb: PyBulletG1, mj: MujocoJointRobot) -> None:
    for i, name in enumerate(G1_SPEC.joint_names):
        info = p.getJointInfo(pb.body, pb.joint_index[name], physicsClientId=pb.client)
        lower, upper, effort, velocity = info[8], info[9], info[10], info[11]
        assert (lower, upper) == pytest.approx(tuple(mj.model.jnt_range[mj.model.joint(name).id]), abs=1e-9)
        assert (lower, upper) == pytest.approx((G1_SPEC.position_lower[i], G1_SPEC.position_upper[i]), abs=1e-9)
        assert effort == pytest.approx(G1_SPEC.effort_limit[i])
        assert velocity == pytest.approx(G1_SPEC.velocity_limit[i])


def test_link_masses_inertias_and_total_mass_agree(pb: PyBulletG1, mj: MujocoJointRobot) -> None:
    m = mj.model
    total_pb = 0.0
    rng = np.random.default_rng(SEED)
    set_both(pb, mj, *random_configuration(rng))
    worst_inertia = 0.0
    for name, index in pb.link_index.items():
        mass = p.getDynamicsInfo(pb.body, index, physicsClientId=pb.client)[0]
        total_pb += mass
        body = m.body(name).id
        assert mass == pytest.approx(m.body_mass[body], abs=1e-9), name
        # world inertia tensor at a random configuration (checks the principal axes too)
        local = np.array(p.getDynamicsInfo(pb.body, index, physicsClientId=pb.client)[2])
        _, rot = pb_com_frame(pb, name)
        pb_inertia = rot @ np.diag(local) @ rot.T
        mj_rot = mj.data.ximat[body].reshape(3, 3)
        mj_inertia = mj_rot @ np.diag(m.body_inertia[body]) @ mj_rot.T
        worst_inertia = max(worst_inertia, float(np.abs(pb_inertia - mj_inertia).max()))
    total_mj = float(mujoco.mj_getTotalmass(m))
    print(f"\ntotal mass: PyBullet {total_pb:.6f} kg, MuJoCo {total_mj:.6f} kg; worst inertia entry error {worst_inertia:.2e}")
    assert total_pb == pytest.approx(total_mj, abs=1e-6)
    assert worst_inertia < 1e-8


def test_forward_kinematics_agree_at_random_configurations(pb: PyBulletG1, mj: MujocoJointRobot) -> None:
    rng = np.random.default_rng(SEED + 1)
    worst_pos, worst_rot, worst_com, worst_head = 0.0, 0.0, 0.0, 0.0
    head_site = mj.model.site("rl_head").id
    for _ in range(20):
        set_both(pb, mj, *random_configuration(rng))
        for name in pb.link_index:
            body = mj.model.body(name).id
            pos, rot = pb_link_frame(pb, name)
            worst_pos = max(worst_pos, float(np.linalg.norm(pos - mj.data.xpos[body])))
            worst_rot = max(worst_rot, float(np.abs(rot - mj.data.xmat[body].reshape(3, 3)).max()))
            com, _ = pb_com_frame(pb, name)
            worst_com = max(worst_com, float(np.linalg.norm(com - mj.data.xipos[body])))
        head = pb.state()["head_height"][0]
        worst_head = max(worst_head, abs(head - mj.data.site_xpos[head_site, 2]))
    print(
        f"\nFK over 20 random configurations x 30 links: worst frame position error {worst_pos:.2e} m, "
        f"rotation entry {worst_rot:.2e}, centre of mass {worst_com:.2e} m, head height {worst_head:.2e} m"
    )
    assert worst_pos < 1e-3 and worst_com < 1e-3 and worst_head < 1e-3
    assert worst_rot < 1e-3


def test_state_matches_mujoco_at_rest_in_the_same_pose(pb: PyBulletG1, mj: MujocoJointRobot) -> None:
    """Same keys; base frame, IMU orientation and head height agree for a placed, resting robot."""
    quat = np.array([0.9, 0.1, -0.2, 0.3])
    quat /= np.linalg.norm(quat)
    s_pb = pb.reset(pose=G1_SPEC.array("default_positions"), base_height=1.2, base_quat=quat)
    s_mj = mj.reset(pose=G1_SPEC.array("default_positions"), base_height=1.2, base_quat=quat)
    assert set(s_pb.values) == set(s_mj.values)
    for key in ("base_position", "base_orientation", "imu_orientation", "head_height", "joint_position"):
        np.testing.assert_allclose(s_pb[key], s_mj[key], atol=1e-6, err_msg=key)
    assert s_pb.stamp == 0.0 and pb.time == 0.0
    # MuJoCo's accelerometer reads free fall (0) here; PyBullet's, differenced over the last physics
    # step, has no step yet and reads the at-rest value: +g along the world up axis, in the IMU frame
    rot = np.zeros(9)
    mujoco.mju_quat2Mat(rot, quat)
    np.testing.assert_allclose(s_pb["imu_linear_acceleration"], rot.reshape(3, 3).T @ [0.0, 0.0, 9.81], atol=1e-5)


# ----------------------------------------------------------------------------- dynamics


def test_hanging_g1_holds_its_default_pose(cache_dir: str) -> None:
    q0 = G1_SPEC.array("default_positions")
    with PyBulletG1(PyBulletG1Config(cache_dir=cache_dir, fix_base=True)) as robot:
        mj = MujocoJointRobot(MujocoRobotConfig(robot="g1", fix_base=True))
        for _ in range(100):  # 2 s
            robot.step(q0)
            mj.step(q0)
        s, s_mj = robot.state(), mj.state()
        sag = np.abs(s["joint_position"] - q0)
        print(f"\nhanging 2 s: worst sag PyBullet {sag.max():.4f} rad, MuJoCo {np.abs(s_mj['joint_position'] - q0).max():.4f} rad")
        assert sag.max() < 0.05  # shoulders (kp 40) sag a little under the arms' weight, as in MuJoCo
        np.testing.assert_allclose(s["joint_position"], s_mj["joint_position"], atol=0.01)
        assert np.abs(s["joint_velocity"]).max() < 0.05
        assert np.all(np.abs(s["joint_effort"]) <= G1_SPEC.array("effort_limit") + 1e-9)
        np.testing.assert_allclose(s["base_position"], [0.0, 0.0, 0.89], atol=1e-9)
        assert robot.time == pytest.approx(2.0)


def test_lying_face_up_is_stable(cache_dir: str) -> None:
    with PyBulletG1(PyBulletG1Config(cache_dir=cache_dir)) as robot:
        start = robot.lying(face_up=True)
        assert robot.time == 0.0
        q0 = robot.default_pose()
        heights, speeds = [], []
        for _ in range(100):  # 2 s
            robot.step(q0)
            s = robot.state()
            heights.append(s["base_position"][2])
            speeds.append(np.abs(s["joint_velocity"]).max())
        print(
            f"\nlying 2 s: pelvis height {min(heights):.4f}..{max(heights):.4f} m, max |qd| {max(speeds):.2e} rad/s, "
            f"drift {np.linalg.norm(s['base_position'] - start['base_position']):.2e} m"
        )
        assert max(heights) - min(heights) < 0.005
        assert max(speeds) < 0.1  # no jitter
        assert np.linalg.norm(s["base_position"] - start["base_position"]) < 0.01
        assert np.linalg.norm(s["imu_angular_velocity"]) < 0.05
        # on its back: the pelvis' forward (x) axis points up; the accelerometer reads g along it
        assert s["imu_linear_acceleration"][0] == pytest.approx(9.81, abs=0.2)
        assert 0.03 < s["head_height"][0] < 0.15


def situp_targets(q0: np.ndarray, steps: int) -> list[np.ndarray]:
    """A slow sit-up-like sweep in two halves along smooth (cosine) profiles: first the hips flex,
    the knees bend, the waist pitches forward and the arms reach forward; then the legs straighten
    and rise (hips at -1.5, knees at 0.2), lifting the feet off the ground and loading the pelvis."""
    names = list(G1_SPEC.joint_names)
    fold, raise_legs = q0.copy(), q0.copy()
    for side in ("left", "right"):
        for goal, hip, knee in ((fold, -1.2, 1.6), (raise_legs, -1.5, 0.2)):
            goal[names.index(f"{side}_hip_pitch_joint")] = hip
            goal[names.index(f"{side}_knee_joint")] = knee
            goal[names.index(f"{side}_ankle_pitch_joint")] = -0.4
            goal[names.index(f"{side}_shoulder_pitch_joint")] = -1.2
            goal[names.index(f"{side}_elbow_joint")] = 0.5
    fold[names.index("waist_pitch_joint")] = 0.45
    raise_legs[names.index("waist_pitch_joint")] = 0.45
    half = steps // 2
    out = []
    for start, goal, n in ((q0, fold, half), (fold, raise_legs, steps - half)):
        for k in range(1, n + 1):
            s = 0.5 - 0.5 * np.cos(np.pi * k / n)
            out.append(start + s * (goal - start))
    return out


def test_sim_to_sim_situp_sweep_agrees_with_mujoco(cache_dir: str) -> None:
    with PyBulletG1(PyBulletG1Config(cache_dir=cache_dir)) as robot:
        mj = MujocoJointRobot(MujocoRobotConfig(robot="g1"))
        s_pb, s_mj = robot.lying(face_up=True), mj.lying(face_up=True)
        start_q = float(np.abs(s_pb["joint_position"] - s_mj["joint_position"]).max())
        start_h = float(abs(s_pb["base_position"][2] - s_mj["base_position"][2]))
        # the same initial state: PyBullet starts from MuJoCo's settled lying state
        robot.set_configuration(s_mj["joint_position"], s_mj["base_position"], s_mj["base_orientation"])
        q0 = s_mj["joint_position"].copy()
        targets = situp_targets(q0, round(2.0 / robot.dt))
        dh, dq, dhead, heads = [], [], [], []
        for target in targets:
            robot.step(target)
            mj.step(target)
            a, b = robot.state(), mj.state()
            dh.append(abs(a["base_position"][2] - b["base_position"][2]))
            dq.append(np.sqrt(np.mean((a["joint_position"] - b["joint_position"]) ** 2)))
            dhead.append(abs(a["head_height"][0] - b["head_height"][0]))
            heads.append(b["head_height"][0])
        final_err = np.abs(a["joint_position"] - b["joint_position"])
        worst = G1_SPEC.joint_names[int(np.argmax(final_err))]
        track_pb = np.sqrt(np.mean((a["joint_position"] - targets[-1]) ** 2))
        track_mj = np.sqrt(np.mean((b["joint_position"] - targets[-1]) ** 2))
        print(
            f"\nlying after settling, independently: max joint diff {start_q:.4f} rad, pelvis height diff {start_h:.4f} m"
            f"\nsit-up sweep 2 s from the same state: pelvis height diff max {max(dh):.4f} m (final {dh[-1]:.4f}); "
            f"joint RMS diff max {max(dq):.4f} rad (final {dq[-1]:.4f}); head height diff max {max(dhead):.4f} m; "
            f"worst final joint {worst} {final_err.max():.4f} rad; tracking RMS PyBullet {track_pb:.4f}, MuJoCo {track_mj:.4f} rad"
            f"\nfinal pelvis height PyBullet {a['base_position'][2]:.4f} m, MuJoCo {b['base_position'][2]:.4f} m; "
            f"motion: largest joint travel {np.abs(targets[-1] - q0).max():.2f} rad, MuJoCo head height "
            f"{min(heads):.3f}..{max(heads):.3f} m"
        )
        assert start_q < 0.05 and start_h < 0.01
        assert max(dh) < 0.05
        assert max(dq) < 0.1
        assert max(dhead) < 0.1


def test_instances_coexist_and_are_simulated_vehicles(cache_dir: str) -> None:
    a = PyBulletG1(PyBulletG1Config(cache_dir=cache_dir, fix_base=True))
    b = PyBulletG1(PyBulletG1Config(cache_dir=cache_dir, fix_base=True))
    try:
        assert a.client != b.client
        q0 = G1_SPEC.array("default_positions")
        bent = q0.copy()
        bent[G1_SPEC.joint_names.index("left_elbow_joint")] = 0.3
        transport = InProcessTransport(a)
        for _ in range(25):
            transport.send_command(bent)
            b.step(q0)
        k = G1_SPEC.joint_names.index("left_elbow_joint")
        # 1.28 -> 0.3 rad with the elbow's kp 40, kd 10 and its armature: MuJoCo is at 0.460 rad after 0.5 s
        assert transport.read_state()["joint_position"][k] == pytest.approx(0.46, abs=0.05)
        assert b.state()["joint_position"][k] == pytest.approx(q0[k], abs=0.05)
        assert transport.now() == pytest.approx(0.5)
    finally:
        a.close()
        b.close()
    a.close()  # idempotent


def test_gains_and_commands_are_checked(pb: PyBulletG1) -> None:
    with pytest.raises(ValueError):
        pb.step(np.zeros(5))
    with pytest.raises(ValueError):
        pb.step(np.full(G1_SPEC.num_joints, np.nan))
    with pytest.raises(ValueError):
        pb.set_gains(-1.0, 1.0)
    pb.set_gains(0.0, 1.0)  # damping mode
    assert np.all(pb.kp == 0.0)
    pb.set_gains(G1_SPEC.array("kp"), G1_SPEC.array("kd"))


def test_speed_is_measured(cache_dir: str) -> None:
    t0 = time.perf_counter()
    figures = measure_speed(PyBulletG1Config(cache_dir=cache_dir), control_steps=50, repeats=1)
    print(f"\nPyBullet G1 speed: {figures} (measured in {time.perf_counter() - t0:.1f} s)")
    assert figures["robot_steps_per_s"] > 10.0  # 10 physics steps per control step
