"""G1Batch: a batch equals sequential MjData runs, threads do not change results, partial resets leave
other environments alone, the reward sensors read what a standing / lying G1 should, the applied
torque is the PD law (and MuJoCo's), and domain randomisation acts only where asked."""
from __future__ import annotations

from collections.abc import Iterator

import mujoco
import numpy as np
import pytest

from robot_learning.sim.g1_batch_model import SENSORS, build_batch_model
from robot_learning.sim.g1_model import build_g1_model
from robot_learning.sim.mujoco_batch import G1Batch, G1BatchConfig, quat_from_pitch
from robot_learning.sim.mujoco_robot import MujocoJointRobot, MujocoRobotConfig

GRAVITY = 9.81
REST_HEIGHT = 0.7914  # m, pelvis height of the default pose after settling (feet just loaded)


@pytest.fixture(scope="module")
def batch() -> Iterator[G1Batch]:
    with G1Batch(G1BatchConfig(num_envs=4, threads=2)) as b:
        yield b


@pytest.fixture(scope="module")
def lying_qpos(batch: G1Batch) -> np.ndarray:
    """Face-up and face-down G1s after a 0.5 m drop and 1.5 s of settling (HumanUP's recipe)."""
    drops = np.stack(
        [batch.default_qpos(base_height=0.5, base_quat=quat_from_pitch(a)) for a in (-np.pi / 2, np.pi / 2)]
    )
    qpos, _ = batch.settle(drops, seconds=1.5)
    return qpos


def mixed_start(batch: G1Batch, lying_qpos: np.ndarray) -> np.ndarray:
    """4 starts: standing, face up, face down, and a tilted drop (contacts changing)."""
    tilted = batch.default_qpos(base_height=0.6, base_quat=np.array([0.95, 0.2, 0.2, 0.0]))
    return np.stack([batch.default_qpos(), lying_qpos[0], lying_qpos[1], tilted])


def random_targets(batch: G1Batch, steps: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = batch.desc.array("default_positions")
    return base + 0.5 * rng.uniform(-1, 1, (steps, batch.num_envs, batch.nu))


def test_model_builder_matches_the_single_robot_and_stripping_keeps_the_dynamics() -> None:
    single = MujocoJointRobot(MujocoRobotConfig(robot="g1", variant="primitive")).model
    ours = build_g1_model("primitive")
    stripped = build_batch_model("primitive")
    assert (ours.nq, ours.nv, ours.nu) == (single.nq, single.nv, single.nu) == (30, 29, 23)
    np.testing.assert_array_equal(ours.actuator_gainprm, single.actuator_gainprm)
    np.testing.assert_array_equal(ours.actuator_biasprm, single.actuator_biasprm)
    np.testing.assert_array_equal(ours.actuator_forcerange, single.actuator_forcerange)
    for field in ("body_mass", "body_inertia", "body_ipos", "body_iquat"):
        np.testing.assert_array_equal(getattr(stripped, field), getattr(single, field))
    assert stripped.nmesh == 0 and stripped.ntex == 0  # primitive: no mesh is needed for physics
    # same trajectory from the same state (the stripped model to solver precision)
    finals = []
    for m in (single, ours, stripped):
        d = mujoco.MjData(m)
        d.qpos[2], d.qpos[3] = 0.6, 1.0
        d.ctrl[:] = 0.3
        mujoco.mj_step(m, d, nstep=300)
        finals.append(d.qpos.copy())
    np.testing.assert_array_equal(finals[0], finals[1])
    np.testing.assert_allclose(finals[2], finals[0], atol=1e-6)


def test_batch_equals_sequential_mjdata_and_threads_do_not_matter(
    batch: G1Batch, lying_qpos: np.ndarray
) -> None:
    start = mixed_start(batch, lying_qpos)
    steps = 20
    targets = random_targets(batch, steps)
    runs = {}
    for threads in (2, 1):
        with G1Batch(G1BatchConfig(num_envs=4, threads=threads)) as b:
            b.reset(np.arange(4), start)
            for t in range(steps):
                b.step(targets[t])
            runs[threads] = (b.qpos.copy(), b.sensordata.copy(), b.actuator_force.copy(), b.time.copy())
    qpos_batch, sens_batch, force_batch, time_batch = runs[2]
    for a, b_ in zip(runs[1], runs[2]):
        np.testing.assert_array_equal(a, b_)  # threads do not change results

    # the reference: one MjData per env, its solver warm start zeroed before each policy step as
    # rollout does (a plain MjData loop differs chaotically, see the module docstring)
    m = batch.model
    for i in range(4):
        d = mujoco.MjData(m)
        d.qpos[:] = start[i]
        for t in range(steps):
            d.qacc_warmstart[:] = 0.0
            d.ctrl[:] = targets[t, i]
            mujoco.mj_step(m, d, nstep=batch.decimation)
        np.testing.assert_allclose(qpos_batch[i], d.qpos, rtol=0, atol=1e-9)
        np.testing.assert_allclose(sens_batch[i], d.sensordata, rtol=0, atol=1e-9)
        np.testing.assert_allclose(force_batch[i], d.actuator_force, rtol=0, atol=1e-9)
        assert time_batch[i] == pytest.approx(d.time)


def test_reset_of_a_subset_leaves_the_others_untouched(batch: G1Batch, lying_qpos: np.ndarray) -> None:
    batch.reset(np.arange(4), mixed_start(batch, lying_qpos))
    targets = random_targets(batch, 5, seed=1)
    for t in range(5):
        batch.step(targets[t])
    before_state, before_sens = batch.state.copy(), batch.sensordata.copy()
    new = np.stack([batch.default_qpos(base_height=REST_HEIGHT)] * 2)
    batch.reset(np.array([1, 3]), new, qvel=np.zeros((2, batch.nv)))
    np.testing.assert_array_equal(batch.state[[0, 2]], before_state[[0, 2]])
    np.testing.assert_array_equal(batch.sensordata[[0, 2]], before_sens[[0, 2]])
    np.testing.assert_array_equal(batch.qpos[[1, 3]], new)
    assert np.all(batch.time[[1, 3]] == 0.0) and np.all(batch.time[[0, 2]] > 0.0)
    np.testing.assert_array_equal(batch.qvel[[1, 3]], 0.0)


def test_sensors_of_a_standing_g1(batch: G1Batch) -> None:
    assert set(SENSORS) <= set(batch._sensor_sl)
    weight = batch.model.body_subtreemass[1] * GRAVITY  # 33.34 kg -> 327 N
    batch.reset(np.arange(4), np.tile(batch.default_qpos(base_height=REST_HEIGHT), (4, 1)))
    hold = np.tile(batch.desc.array("default_positions"), (4, 1))
    batch.step(hold)  # the first step
    head = batch.sensor("head_pos")
    assert np.all((head[:, 2] > 1.2) & (head[:, 2] < 1.3))  # 1.266 m
    feet = batch.sensor("left_foot_force") + batch.sensor("right_foot_force")
    np.testing.assert_allclose(feet[:, 0], weight, rtol=0.15)  # 303 N (primitive)
    for _ in range(25):
        batch.step(hold)
    feet = batch.sensor("left_foot_force") + batch.sensor("right_foot_force")
    np.testing.assert_allclose(feet[:, 0], weight, rtol=0.02)
    np.testing.assert_allclose(batch.sensor("left_foot_force"), batch.sensor("right_foot_force"), rtol=0.05)
    np.testing.assert_allclose(batch.sensor("left_foot_pos")[:, 2], 0.0, atol=0.01)
    assert np.all(batch.sensor("left_foot_pos")[:, 1] > 0.05) and np.all(batch.sensor("right_foot_pos")[:, 1] < -0.05)
    np.testing.assert_allclose(batch.sensor("torso_zaxis")[:, 2], 1.0, atol=0.01)
    np.testing.assert_allclose(batch.sensor("pelvis_zaxis")[:, 2], 1.0, atol=0.01)
    np.testing.assert_allclose(batch.sensor("pelvis_pos"), batch.base_pos, atol=1e-3)  # one substep apart
    np.testing.assert_allclose(batch.sensor("imu_quat"), batch.base_quat, atol=1e-3)
    np.testing.assert_allclose(batch.sensor("imu_acc")[:, 2], GRAVITY, atol=0.3)
    assert np.all(batch.sensor("left_hand_pos")[:, 2] > 0.5) and np.all(batch.sensor("left_hand_pos")[:, 2] < 0.8)
    assert batch.sensor_substeps("head_pos").shape == (4, batch.decimation, 3)


def test_sensors_of_a_lying_g1(batch: G1Batch, lying_qpos: np.ndarray) -> None:
    batch.reset(np.arange(4), np.stack([lying_qpos[0], lying_qpos[1]] * 2))
    for _ in range(3):
        batch.step(np.tile(batch.desc.array("default_positions"), (4, 1)))
    head = batch.sensor("head_pos")[:, 2]
    assert np.all(head < 0.3)  # 0.10 m face up
    assert np.all(np.abs(batch.sensor("torso_zaxis")[:, 2]) < 0.2)  # nearly horizontal
    assert np.all(batch.base_pos[:, 2] < 0.25)  # HumanUP's fallen base heights: 0.06-0.21 m
    # face up: the torso's front (x axis) points up, i.e. its z axis points backwards (-x world)
    assert batch.sensor("torso_zaxis")[0, 0] < -0.9 and batch.sensor("torso_zaxis")[1, 0] > 0.9
    feet = batch.sensor("left_foot_force") + batch.sensor("right_foot_force")
    weight = batch.model.body_subtreemass[1] * GRAVITY
    assert np.all(feet[:, 0] < 0.5 * weight)


def test_applied_torque_is_the_pd_law_and_mujocos(batch: G1Batch, lying_qpos: np.ndarray) -> None:
    batch.reset(np.arange(4), mixed_start(batch, lying_qpos))
    far = batch.desc.array("default_positions") + np.linspace(-2.0, 2.0, batch.nu)  # many clipped
    targets = np.tile(far, (4, 1))
    batch.step(targets)
    mine = batch.pd_torque()  # the torque the next physics step applies, vectorised
    d = mujoco.MjData(batch.model)
    clipped = 0
    for i in range(4):
        mujoco.mj_setState(batch.model, d, batch.state[i], mujoco.mjtState.mjSTATE_FULLPHYSICS)
        d.ctrl[:] = targets[i]
        mujoco.mj_forward(batch.model, d)
        np.testing.assert_allclose(mine[i], d.actuator_force, rtol=0, atol=1e-9)
        clipped += int(np.sum(np.isclose(np.abs(d.actuator_force), batch.effort_limit)))
    assert clipped > 0
    assert np.all(np.abs(batch.actuator_force) <= batch.effort_limit + 1e-9)


def test_randomize_changes_only_the_chosen_envs() -> None:
    with G1Batch(G1BatchConfig(num_envs=4, threads=2)) as b:
        start = np.tile(b.default_qpos(base_height=REST_HEIGHT), (4, 1))
        hold = np.tile(b.desc.array("default_positions"), (4, 1))
        # env 1: heavier pelvis, more friction; env 2: weak motors; env 3: its own copy, nominal values
        b.randomize(np.array([1, 2, 3]), friction=np.array([2.0, 1.0, 1.0]), mass_delta=np.array([3.0, 0.0, 0.0]),
                    com_offset=np.array([[0.01, 0, 0], [0, 0, 0], [0, 0, 0]]),
                    motor_strength=np.array([1.0, 0.5, 1.0]))
        assert b.models[0] is b.model and len({id(m) for m in b.models[1:]}) == 3
        pelvis = b.model.body("pelvis").id
        assert b.models[1].body_mass[pelvis] == pytest.approx(b.model.body_mass[pelvis] + 3.0)
        assert b.models[1].body_subtreemass[0] == pytest.approx(b.model.body_subtreemass[0] + 3.0)  # setConst
        assert np.all(b.models[1].pair_friction[:, :2] == 2.0) and np.all(b.models[1].geom_friction[:, 0] == 2.0)
        np.testing.assert_allclose(b.kp[2], 0.5 * b.desc.array("kp"))
        b.reset(np.arange(4), start)
        for _ in range(40):
            b.step(hold)
        np.testing.assert_array_equal(b.qpos[3], b.qpos[0])  # nominal values in a copy: same trajectory
        feet = (b.sensor("left_foot_force") + b.sensor("right_foot_force"))[:, 0]
        assert feet[1] - feet[0] == pytest.approx(3.0 * GRAVITY, rel=0.2)  # 3 kg more on env 1's feet
        assert not np.allclose(b.qpos[2], b.qpos[0])  # weak motors sag
        # the weaker motors are what MuJoCo applies, and pd_torque knows it
        d = mujoco.MjData(b.models[2])
        mujoco.mj_setState(b.models[2], d, b.state[2], mujoco.mjtState.mjSTATE_FULLPHYSICS)
        d.ctrl[:] = hold[2]
        mujoco.mj_forward(b.models[2], d)
        np.testing.assert_allclose(b.pd_torque()[2], d.actuator_force, rtol=0, atol=1e-9)
        b.sample_randomization(np.array([0]))
        assert b.models[0] is not b.model and 0.8 <= b.kp[0, 0] / b.desc.kp[0] <= 1.2


def test_one_kilohertz_physics_and_input_checks() -> None:
    with G1Batch(G1BatchConfig(num_envs=2, threads=1, physics_dt=0.001, decimation=20)) as b:
        assert b.model.opt.timestep == 0.001 and b.dt == pytest.approx(0.02)
        b.step(np.tile(b.desc.array("default_positions"), (2, 1)))
        np.testing.assert_allclose(b.time, 0.02)
        assert b.sensor_substeps("head_pos").shape == (2, 20, 3)
        with pytest.raises(ValueError):
            b.step(np.zeros((3, 23)))
        with pytest.raises(ValueError):
            b.step(np.full((2, 23), np.nan))
        with pytest.raises(KeyError):
            b.sensor("nose_pos")
        with pytest.raises(ValueError):
            b.qpos[0, 0] = 1.0  # read-only views


def test_fixed_base_batch_swings_the_legs_with_the_pelvis_in_place() -> None:
    with G1Batch(G1BatchConfig(num_envs=3, fix_base=True, threads=1)) as b:
        assert (b.nq, b.nv) == (23, 23)
        targets = np.tile(b.default_qpos(), (3, 1))
        knee = list(b.desc.joint_names).index("left_knee_joint")
        targets[:, knee] += np.array([0.2, 0.5, 0.8])
        for _ in range(50):  # 1 s
            b.step(targets)
        np.testing.assert_allclose(b.sensor("pelvis_pos")[:, 2], 0.89, atol=1e-6)  # welded 0.1 m above standing height
        np.testing.assert_allclose(b.joint_pos[:, knee], targets[:, knee], atol=0.03)  # PD holds the knee (swinging freely)
        with pytest.raises(ValueError, match="free-floating"):
            _ = b.base_lin_vel
