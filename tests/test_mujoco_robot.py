"""MujocoJointRobot: the spec's PD is what is applied (and clipped), poses are held, steps are
followed, damping mode lets go slowly, the wrists are gone, the IMU reads like one, the G1 lies down
face up / face down, the Panda holds 'home' and moves, and the class is a SimulatedVehicle."""
from __future__ import annotations

import numpy as np
import pytest

from robot_learning.robots.g1 import G1_SPEC, G1_WRIST_JOINTS
from robot_learning.robots.panda import PANDA_SPEC, panda_fk
from robot_learning.runtime.transport import InProcessTransport
from robot_learning.sim.mujoco_robot import (
    MujocoJointRobot,
    MujocoRobotConfig,
    measure_speed,
)

GRAVITY = 9.81


def make(**overrides: object) -> MujocoJointRobot:
    return MujocoJointRobot(MujocoRobotConfig(**overrides))  # type: ignore[arg-type]


def run(robot: MujocoJointRobot, command: np.ndarray, seconds: float) -> None:
    for _ in range(round(seconds / robot.dt)):
        robot.step(command)


def up_component(quat_wxyz: np.ndarray) -> float:
    """World-z component of the body's z axis (1 = upright)."""
    _, x, y, _ = quat_wxyz
    return 1.0 - 2.0 * (x * x + y * y)


def forward_up_component(quat_wxyz: np.ndarray) -> float:
    """World-z component of the body's x (forward) axis."""
    w, x, y, z = quat_wxyz
    return 2.0 * (x * z - w * y)


@pytest.fixture(scope="module")
def hanging_g1() -> MujocoJointRobot:
    return make(robot="g1", fix_base=True)


# ----------------------------------------------------------------------------- model construction


def test_wrists_are_removed_and_the_base_is_free_or_welded(hanging_g1: MujocoJointRobot) -> None:
    free = make(robot="g1", variant="primitive")
    model_joints = {free.model.joint(i).name for i in range(free.model.njnt)}
    assert not model_joints & set(G1_WRIST_JOINTS)
    assert free.model.nv == 6 + 23 and free.model.nu == 23
    assert hanging_g1.model.nv == 23 and hanging_g1.model.nu == 23
    assert free.dt == pytest.approx(0.02) and free.n_substeps == 10
    assert free.model.opt.timestep == pytest.approx(0.002)


def test_applied_torque_is_the_spec_pd_clipped_to_the_effort_limit(hanging_g1: MujocoJointRobot) -> None:
    robot = hanging_g1
    q0 = robot.default_pose()
    robot.reset(pose=q0)
    target = q0 + np.linspace(-0.05, 0.05, robot.num_joints)  # small errors: no clipping
    robot.step(target)
    s = robot.state()
    expected = G1_SPEC.array("kp") * (target - s["joint_position"]) - G1_SPEC.array("kd") * s["joint_velocity"]
    np.testing.assert_allclose(s["joint_effort"], expected, rtol=1e-9, atol=1e-9)

    # one physics step per control step, so the joints have not moved yet: 300 / 60 N m wanted
    fast = make(robot="g1", fix_base=True, control_rate_hz=500.0)
    far = q0.copy()
    far[G1_SPEC.index_of(["left_knee_joint", "left_shoulder_pitch_joint"])] += 1.5
    fast.step(far)
    s = fast.state()
    limits = G1_SPEC.array("effort_limit")
    assert np.all(np.abs(s["joint_effort"]) <= limits + 1e-9)
    k = G1_SPEC.index_of(["left_knee_joint", "left_shoulder_pitch_joint"])
    np.testing.assert_allclose(s["joint_effort"][k], limits[k])


# ----------------------------------------------------------------------------- G1, base fixed


def test_hanging_g1_holds_its_default_pose(hanging_g1: MujocoJointRobot) -> None:
    robot = hanging_g1
    q0 = robot.reset()["joint_position"]
    np.testing.assert_allclose(q0, G1_SPEC.array("default_positions"))
    run(robot, q0, 2.0)
    s = robot.state()
    assert s.stamp == pytest.approx(2.0)
    # gravity against PD alone: the largest sag is an arm joint (kp 40) at ~0.03 rad
    assert np.max(np.abs(s["joint_position"] - q0)) < 0.05
    assert np.max(np.abs(s["joint_velocity"])) < 0.01
    # a welded, still pelvis: the IMU reads identity, no rotation, and gravity as +g along z
    np.testing.assert_allclose(s["imu_orientation"], [1.0, 0.0, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(s["imu_angular_velocity"], 0.0, atol=1e-9)
    np.testing.assert_allclose(s["imu_linear_acceleration"], [0.0, 0.0, GRAVITY], atol=1e-6)
    assert s["base_position"][2] == pytest.approx(0.89)
    assert s["head_height"][0] == pytest.approx(0.89 + 0.044 + 0.43, abs=0.01)


def test_knee_step_response_reaches_its_target(hanging_g1: MujocoJointRobot) -> None:
    robot = hanging_g1
    q0 = robot.reset()["joint_position"]
    k = int(G1_SPEC.index_of("left_knee_joint")[0])
    target = q0.copy()
    target[k] = 0.8
    trace = []
    for _ in range(75):  # 1.5 s
        robot.step(target)
        trace.append(robot.state()["joint_position"][k])
    trace = np.array(trace)
    assert abs(trace[4] - 0.8) < 0.06  # within 0.1 s
    assert np.all(np.abs(trace[10:] - 0.8) < 0.04)  # from 0.2 s on (the hip swing couples back)
    assert np.all(np.abs(trace[-15:] - 0.8) < 0.02)  # settled (gravity on the shank: ~0.015 rad)
    assert trace.max() < 0.8 + 0.05  # modest overshoot
    others = np.delete(np.arange(robot.num_joints), k)
    assert np.max(np.abs(robot.state()["joint_position"][others] - q0[others])) < 0.05


def test_damping_mode_lets_a_raised_arm_fall_slowly(hanging_g1: MujocoJointRobot) -> None:
    robot = hanging_g1
    i = int(G1_SPEC.index_of("left_shoulder_pitch_joint")[0])
    e = int(G1_SPEC.index_of("left_elbow_joint")[0])
    raised = robot.default_pose()
    raised[i], raised[e] = -1.4, 0.0  # straight arm held forward
    kp, kd = G1_SPEC.array("kp"), G1_SPEC.array("kd")

    def fall(kd_damping: np.ndarray) -> tuple[float, float]:
        robot.set_gains(kp, kd)
        robot.reset(pose=raised)
        run(robot, raised, 0.5)
        start = robot.state()["joint_position"][i]
        robot.set_gains(0.0, kd_damping)
        peak = 0.0
        for _ in range(25):  # 0.5 s
            robot.step(raised)  # targets are ignored with kp = 0
            peak = max(peak, abs(robot.state()["joint_velocity"][i]))
        moved = robot.state()["joint_position"][i] - start
        robot.set_gains(kp, kd)
        return moved, peak

    moved, peak = fall(kd)
    assert moved > 0.1  # it does fall (towards hanging down, +pitch)
    assert peak < 2.0  # ... slowly
    _moved_free, peak_free = fall(np.zeros_like(kd))
    assert peak_free > 2.5 * peak  # without damping it swings much faster


# ----------------------------------------------------------------------------- G1, free


@pytest.mark.xfail(
    strict=True,
    reason="measured: with HumanUP's ankle gains (kp 20) the open-loop PD is softer than the inverted "
    "pendulum's gravity stiffness (m g h ~ 240 N m/rad over two ankles), so the free G1 slowly tips "
    "forward: tilt > 10 deg at ~1.6 s, pelvis below 0.6 m at ~2.1 s. Standing needs a policy.",
)
def test_free_g1_stays_upright_for_2_s_with_humanup_gains() -> None:
    robot = make(robot="g1", variant="mesh")
    q0 = robot.reset()["joint_position"]
    for _ in range(100):
        robot.step(q0)
        assert up_component(robot.state()["imu_orientation"]) > np.cos(np.radians(10.0))


@pytest.mark.parametrize("variant", ["mesh", "primitive"])
def test_free_g1_stands_for_1_s_and_tips_only_slowly(variant: str) -> None:
    robot = make(robot="g1", variant=variant)
    q0 = robot.reset()["joint_position"]
    for n in range(100):
        robot.step(q0)
        s = robot.state()
        if n < 50:  # first second: upright, feet on the ground
            assert up_component(s["imu_orientation"]) > np.cos(np.radians(5.0))
            assert s["base_position"][2] > 0.75
        if 10 <= n < 50:  # after the 0.2 s touch-down transient the accelerometer reads about +g
            assert abs(s["imu_linear_acceleration"][2] - GRAVITY) < 0.5
    assert s["base_position"][2] > 0.5  # still not down at 2 s


def test_free_g1_with_stiff_ankles_stands_for_2_s() -> None:
    """The standing failure is the ankle gain, not the simulation: above m g h it stands."""
    robot = make(robot="g1", variant="mesh")
    kp = G1_SPEC.array("kp")
    kp[[i for i, j in enumerate(G1_SPEC.joint_names) if "ankle" in j]] = 200.0
    robot.set_gains(kp, G1_SPEC.array("kd"))
    q0 = robot.reset()["joint_position"]
    run(robot, q0, 2.0)
    s = robot.state()
    assert up_component(s["imu_orientation"]) > np.cos(np.radians(3.0))
    assert s["base_position"][2] == pytest.approx(0.79, abs=0.02)
    assert s["head_height"][0] > 1.2


@pytest.mark.parametrize("face_up", [True, False])
def test_lying_puts_the_g1_on_its_back_or_front(face_up: bool) -> None:
    robot = make(robot="g1", variant="primitive")
    s = robot.lying(face_up=face_up)
    assert s.stamp == 0.0 and robot.time == 0.0
    forward = forward_up_component(s["imu_orientation"])
    assert (forward > 0.9) if face_up else (forward < -0.9)
    assert s["head_height"][0] < 0.25 and s["base_position"][2] < 0.25
    assert np.max(np.abs(s["joint_velocity"])) < 0.5  # settled
    # the accelerometer sees gravity along +x (face up) or -x (face down) of the pelvis
    assert s["imu_linear_acceleration"][0] == pytest.approx(GRAVITY if face_up else -GRAVITY, abs=1.0)
    with pytest.raises(ValueError):
        make(robot="g1", fix_base=True).lying()


# ----------------------------------------------------------------------------- Panda


def test_panda_holds_home_and_moves_to_a_target() -> None:
    robot = make(robot="panda")
    home = robot.reset()["joint_position"]
    np.testing.assert_allclose(home, PANDA_SPEC.array("default_positions"))
    run(robot, home, 2.0)
    s = robot.state()
    assert np.max(np.abs(s["joint_position"] - home)) < 0.01
    assert np.max(np.abs(s["joint_velocity"])) < 0.01
    assert "imu_orientation" not in s.values

    target = home + np.array([0.3, 0.2, -0.2, 0.3, 0.2, -0.3, 0.3])
    run(robot, target, 2.0)
    s = robot.state()
    assert np.max(np.abs(s["joint_position"] - target)) < 0.02
    assert np.all(np.abs(s["joint_effort"]) <= PANDA_SPEC.array("effort_limit") + 1e-9)
    np.testing.assert_allclose(s["ee_position"], panda_fk(s["joint_position"], frame="tcp")[0], atol=1e-9)
    assert robot.data.qpos[7] == pytest.approx(0.04, abs=1e-3)  # gripper held open


# ----------------------------------------------------------------------------- protocol and checks


def test_is_a_simulated_vehicle_and_deterministic() -> None:
    a, b = make(robot="g1", variant="primitive"), make(robot="g1", variant="primitive")
    transport = InProcessTransport(a)
    rng = np.random.default_rng(0)
    q0 = a.default_pose()
    for _ in range(10):
        command = q0 + rng.normal(0.0, 0.05, q0.shape)
        transport.send_command(command)
        b.step(command)
    sa, sb = transport.read_state(), b.state()
    assert sa is not None and transport.now() == pytest.approx(0.2) and sa.stamp == pytest.approx(0.2)
    for key in sa.values:
        np.testing.assert_array_equal(sa[key], sb[key])
    expected = {
        "joint_position", "joint_velocity", "joint_effort", "imu_orientation", "imu_angular_velocity",
        "imu_linear_acceleration", "base_position", "base_orientation", "base_linear_velocity", "head_height",
    }
    assert expected <= set(sa.values)


def test_initial_pose_noise_is_seeded() -> None:
    q_a = make(robot="g1", variant="primitive", initial_pose_noise=0.05, seed=3).state()["joint_position"]
    q_b = make(robot="g1", variant="primitive", initial_pose_noise=0.05, seed=3).state()["joint_position"]
    q_c = make(robot="g1", variant="primitive", initial_pose_noise=0.05, seed=4).state()["joint_position"]
    np.testing.assert_array_equal(q_a, q_b)
    assert not np.array_equal(q_a, q_c)
    assert np.max(np.abs(q_a - G1_SPEC.array("default_positions"))) <= 0.05


def test_bad_inputs_are_rejected(hanging_g1: MujocoJointRobot) -> None:
    q0 = hanging_g1.default_pose()
    with pytest.raises(ValueError, match="shape"):
        hanging_g1.step(q0[:5])
    bad = q0.copy()
    bad[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        hanging_g1.step(bad)
    with pytest.raises(ValueError):
        hanging_g1.set_gains(-1.0, 1.0)
    with pytest.raises(ValueError):
        hanging_g1.reset(base_height=1.0)  # welded base
    with pytest.raises(ValueError, match="multiple"):
        make(robot="g1", control_rate_hz=30.0)
    with pytest.raises(ValueError):
        make(robot="panda", initial_pose="knees_bent")


def test_measure_speed_reports_figures() -> None:
    """Measured, not asserted (the machine is shared): printed with ``pytest -s``."""
    figures = measure_speed(MujocoRobotConfig(robot="g1", variant="mesh"), control_steps=100, repeats=1)
    print({k: round(v, 3) for k, v in figures.items()})
    assert all(v > 0 for v in figures.values())
