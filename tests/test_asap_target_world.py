"""ASAP target worlds: the configuration files and the actuator gaps they describe."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robot_learning.robots.g1 import G1_SPEC
from robot_learning.tasks.asap.target_world import (
    WORLDS_DIR,
    TargetWorldConfig,
    load_target_world,
    make_target_robot,
    transmitted_torque,
)

KP, KD = G1_SPEC.array("kp"), G1_SPEC.array("kd")
EFFORT, VLIM = G1_SPEC.array("effort_limit"), G1_SPEC.array("velocity_limit")


def test_shipped_worlds_load_and_differ() -> None:
    worlds = {p.stem: load_target_world(p) for p in sorted(WORLDS_DIR.glob("*.yaml"))}
    assert {"worn_actuators", "loaded_fast", "kp065_mujoco"} <= set(worlds)
    pyb = [w for w in worlds.values() if w.engine == "pybullet"]
    assert len(pyb) >= 2
    # each PyBullet world has at least one gap SysID cannot represent
    assert all(w.backlash_rad > 0 or w.torque_speed_scale > 0 for w in pyb)
    assert load_target_world("worn_actuators").kp_scale == 0.75  # by name


def test_bad_world_files_name_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "w.yaml"
    bad.write_text("kp_scal: 0.5\n")
    with pytest.raises(ValueError, match="unknown key.*kp_scal"):
        load_target_world(bad)
    bad.write_text("kp_scale: -1\n")
    with pytest.raises(ValueError, match="kp_scale must be > 0"):
        load_target_world(bad)
    bad.write_text("engine: mujoco\nbacklash_rad: 0.01\n")
    with pytest.raises(ValueError, match="need engine: pybullet"):
        load_target_world(bad)
    with pytest.raises(FileNotFoundError, match="worn_actuators"):
        load_target_world("no_such_world")


def test_actuator_gaps_have_the_configured_effect() -> None:
    q = np.zeros(G1_SPEC.num_joints)
    target = np.full_like(q, 0.05)
    plain = transmitted_torque(TargetWorldConfig(), KP, KD, EFFORT, VLIM, target, q, np.zeros_like(q))
    np.testing.assert_allclose(plain, np.clip(KP * 0.05, -EFFORT, EFFORT))
    # backlash: the error shrinks by half the play
    bl = transmitted_torque(TargetWorldConfig(backlash_rad=0.02), KP, KD, EFFORT, VLIM, target, q, np.zeros_like(q))
    np.testing.assert_allclose(bl, np.clip(KP * 0.04, -EFFORT, EFFORT))
    small = transmitted_torque(TargetWorldConfig(backlash_rad=0.2), KP, KD, EFFORT, VLIM, target, q, np.zeros_like(q))
    np.testing.assert_allclose(small, 0.0)  # inside the play: nothing transmitted
    # torque-speed: driving at the speed limit with scale 1 leaves no torque; braking keeps the limit
    qd = VLIM.copy()
    far = np.full_like(q, 10.0)
    drive = transmitted_torque(TargetWorldConfig(torque_speed_scale=1.0), KP, np.zeros_like(KD), EFFORT, VLIM, far, q, qd)
    np.testing.assert_allclose(drive, 0.0, atol=1e-9)
    brake = transmitted_torque(TargetWorldConfig(torque_speed_scale=1.0), KP, np.zeros_like(KD), EFFORT, VLIM, -far, q, qd)
    np.testing.assert_allclose(brake, -EFFORT)
    # friction opposes motion
    fr = transmitted_torque(TargetWorldConfig(joint_damping=0.5, joint_friction=0.3), KP, KD, EFFORT, VLIM, q, q, np.ones_like(q))
    np.testing.assert_allclose(fr, -KD - 0.5 - 0.3 * np.tanh(50.0), rtol=1e-9)


def test_friction_on_a_light_joint_cannot_reverse_its_motion() -> None:
    """With the joint's inertia, friction and extra damping are integrated stably: within one step
    they can at most stop the joint (an ankle roll of 3e-4 kg m^2 chattered at ~100 rad/s before)."""
    world = TargetWorldConfig(joint_damping=0.2, joint_friction=0.3)
    m, dt = np.full(G1_SPEC.num_joints, 3e-4), 0.002
    zero = np.zeros(G1_SPEC.num_joints)
    for v in (0.01, 0.5, 5.0):
        qd = np.full(G1_SPEC.num_joints, v)
        tau = transmitted_torque(world, zero, zero, EFFORT, VLIM, zero, zero, qd, inertia=m, dt=dt)
        qd_next = qd + dt * tau / m
        assert np.all(qd_next >= -1e-12) and np.all(qd_next < qd)  # slowed down, never reversed
    far = np.full(G1_SPEC.num_joints, 100.0)  # a heavy joint: the plain model
    fr = transmitted_torque(world, zero, zero, EFFORT, VLIM, zero, zero, np.ones_like(m), inertia=far, dt=dt)
    np.testing.assert_allclose(fr, -0.2 * 100 / (100 + dt * 0.2) - 0.3 * np.tanh(50.0), rtol=1e-9)


def test_pybullet_world_latency_delays_the_response() -> None:
    knee = list(G1_SPEC.joint_names).index("left_knee_joint")
    moved = {}
    for latency in (0.0, 0.04):
        robot = make_target_robot(TargetWorldConfig(latency_s=latency))
        try:
            robot.reset()
            cmd = robot.default_pose().copy()
            cmd[knee] += 0.5
            robot.step(cmd)  # 20 ms
            moved[latency] = abs(robot.state().values["joint_position"][knee] - robot.default_pose()[knee])
        finally:
            robot.close()
    assert moved[0.0] > 0.01  # the knee has started to move
    assert moved[0.04] < 1e-3  # the command has not reached the motor yet


def test_mujoco_world_scales_the_gains() -> None:
    knee = list(G1_SPEC.joint_names).index("left_knee_joint")
    robot = make_target_robot(load_target_world("kp065_mujoco"))
    try:
        robot.reset()
        np.testing.assert_allclose(robot.batch.kp[0], 0.65 * KP)
        np.testing.assert_allclose(robot.batch.kd[0], KD)
        cmd = robot.batch.default_qpos().copy()
        cmd[knee] += 0.3
        for _ in range(25):
            robot.step(cmd)
        assert abs(robot.joint_pos[knee] - cmd[knee]) < 0.05
    finally:
        robot.close()
