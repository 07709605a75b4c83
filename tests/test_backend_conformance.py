"""One conformance suite for every batched-G1 backend (robot_learning.sim.batch.BatchedG1): reset puts
the state, a step advances time by dt, randomisation changes the motion and nominal randomisation does
not, the sensor layout is G1Batch's, foot contact forces and heights above the ground read right on
flat ground and on a slope. Each case runs against every backend installed here and skips, with the
reason, where one is missing (Isaac Gym: not on PyPI, CUDA only).

The MuJoCo Warp cases are slow tests: on a clean machine Warp first compiles its kernels (see the
report in benchmarks/results/backends.json); with a warm kernel cache they take seconds. The Warp vs
MuJoCo C agreement tests (the issue's 1e-5 target) are at the end of the file.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from robot_learning.core.config import ConfigError
from robot_learning.sim.backends import backend_available, make_batch
from robot_learning.sim.batch import BatchedG1
from robot_learning.sim.g1_batch_model import SENSORS
from robot_learning.sim.mujoco_batch import G1Batch, G1BatchConfig, quat_from_pitch
from robot_learning.sim.terrain import TerrainConfig

SLOPE = TerrainConfig("slope", slope_deg=10.0)
DEVICE = {"mujoco": "cpu", "warp": "cpu", "isaacgym": "cuda:0"}
#: float32 backends (Warp) store what they are given rounded to float32
TOL = {"mujoco": 1e-12, "warp": 1e-6, "isaacgym": 1e-6}


def _backend_params() -> list:
    params = []
    for name in ("mujoco", "warp", "isaacgym"):
        reason = backend_available(name)
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        if name != "mujoco":
            marks.append(pytest.mark.slow)  # kernel compilation on a clean machine
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.fixture(scope="module", params=_backend_params())
def batch(request: pytest.FixtureRequest) -> Iterator[BatchedG1]:
    """4 environments: 0 and 2 on flat ground, 1 and 3 on a 10 degree slope."""
    b = make_batch(G1BatchConfig(num_envs=4, threads=1, seed=0, terrains=(None, SLOPE)), request.param, DEVICE[request.param])
    b.backend_name = request.param  # type: ignore[attr-defined]
    yield b
    b.close()


@pytest.fixture(scope="module")
def reference() -> Iterator[G1Batch]:
    with G1Batch(G1BatchConfig(num_envs=4, threads=1, seed=0, terrains=(None, SLOPE))) as b:
        yield b


def _standing(b: BatchedG1) -> np.ndarray:
    """Standing starts, each on its own ground (pelvis raised by the slope's height under it)."""
    return np.tile(b.default_qpos(base_height=0.80), (b.num_envs, 1))


def test_reset_puts_the_state_and_leaves_the_others(batch: BatchedG1) -> None:
    tol = TOL[batch.backend_name]  # type: ignore[attr-defined]
    batch.reset(np.arange(4), _standing(batch))
    batch.step(batch.joint_pos.copy())
    before = batch.qpos.copy()
    rng = np.random.default_rng(1)
    q = batch.default_qpos(base_height=0.5, base_quat=quat_from_pitch(-np.pi / 2))[None].repeat(2, 0)
    q[:, 7:] += rng.uniform(-0.2, 0.2, (2, batch.nu))
    v = rng.normal(0, 0.1, (2, batch.nv))
    batch.reset(np.array([1, 3]), q, v)
    np.testing.assert_allclose(batch.qpos[[1, 3]], q, atol=tol)
    np.testing.assert_allclose(batch.qvel[[1, 3]], v, atol=tol)
    np.testing.assert_allclose(batch.targets[[1, 3]], q[:, 7:], atol=tol)
    np.testing.assert_array_equal(batch.time[[1, 3]], 0.0)
    np.testing.assert_array_equal(batch.qpos[[0, 2]], before[[0, 2]])
    assert batch.time[0] == pytest.approx(batch.dt)
    unnormalised = q[:1].copy()
    unnormalised[0, 3:7] *= 3.0
    batch.reset(np.array([0]), unnormalised)
    np.testing.assert_allclose(np.linalg.norm(batch.base_quat[0]), 1.0, atol=tol)


def test_step_advances_time_by_dt_and_records_every_substep(batch: BatchedG1) -> None:
    batch.reset(np.arange(4), _standing(batch))
    for k in (1, 2):
        batch.step(batch.joint_pos.copy())
        np.testing.assert_allclose(batch.time, k * batch.dt, rtol=1e-12)
    assert batch.sensor_substeps("left_foot_force").shape == (4, batch.decimation, 1)
    # the last substep's record is the sensor value
    np.testing.assert_array_equal(batch.sensor_substeps("head_pos")[:, -1], batch.sensor("head_pos"))
    with pytest.raises(ValueError, match="targets must have shape"):
        batch.step(np.zeros((3, batch.nu)))
    with pytest.raises(ValueError, match="NaN"):
        batch.step(np.full((4, batch.nu), np.nan))


def test_randomisation_changes_the_motion_and_nominal_does_not(batch: BatchedG1) -> None:
    """Environments 0 and 2 stand on flat ground from the same state with the same targets: 0 is
    randomised back to nominal, 2 gets a heavier pelvis, lower friction and weaker motors."""
    tol = TOL[batch.backend_name]  # type: ignore[attr-defined]
    batch.randomize(np.array([0, 1, 3]))  # all None: nominal
    batch.randomize(np.array([2]), friction=np.array([0.3]), mass_delta=np.array([3.0]),
                    com_offset=np.array([[0.04, 0.0, 0.0]]), motor_strength=np.array([0.7]))
    np.testing.assert_allclose(batch.kp[2], 0.7 * batch.desc.array("kp"))
    np.testing.assert_allclose(batch.kp[0], batch.desc.array("kp"))
    batch.reset(np.arange(4), _standing(batch))
    rng = np.random.default_rng(2)
    for _ in range(5):
        targets = batch.desc.array("default_positions") + rng.uniform(-0.3, 0.3, batch.nu)
        batch.step(np.tile(targets, (4, 1)))
    q = batch.qpos
    # nominal: environment 0 is what a fresh, never randomised batch does (the reference backend's env 0)
    assert np.abs(q[2] - q[0]).max() > 1e-3, "randomisation did not change the motion"
    fresh = make_batch(G1BatchConfig(num_envs=4, threads=1, seed=0, terrains=(None, SLOPE)), batch.backend_name,  # type: ignore[attr-defined]
                       DEVICE[batch.backend_name])  # type: ignore[attr-defined]
    try:
        fresh.reset(np.arange(4), _standing(fresh))
        rng = np.random.default_rng(2)
        for _ in range(5):
            targets = fresh.desc.array("default_positions") + rng.uniform(-0.3, 0.3, fresh.nu)
            fresh.step(np.tile(targets, (4, 1)))
        np.testing.assert_allclose(q[0], fresh.qpos[0], atol=tol)
    finally:
        fresh.close()
    batch.randomize(np.arange(4))  # leave the module's batch nominal


def test_sensor_layout_names_and_shapes_equal_g1batch(batch: BatchedG1, reference: G1Batch) -> None:
    assert isinstance(batch, BatchedG1)
    start = _standing(batch)
    batch.reset(np.arange(4), start)
    reference.reset(np.arange(4), start)
    assert (batch.nq, batch.nv, batch.nu, batch.decimation) == (reference.nq, reference.nv, reference.nu, reference.decimation)
    assert batch.dt == reference.dt and batch.floating
    for name, (dim, _) in SENSORS.items():
        got, want = batch.sensor(name), reference.sensor(name)
        assert got.shape == want.shape == (4, dim), name
        assert got.dtype == np.float64, name
        # the same values at the same state (float32 backends to float32 precision of the physics)
        # (accelerations and contact forces come out of the 5-iteration solver: to ~1 %)
        contact = name in ("imu_acc", "left_foot_force", "right_foot_force")
        np.testing.assert_allclose(got, want, rtol=1e-2 if contact else 0, atol=1e-1 if contact else 1e-4, err_msg=name)
    for view in ("qpos", "qvel", "joint_pos", "joint_vel", "base_pos", "base_quat", "base_lin_vel", "base_ang_vel",
                 "targets", "actuator_force"):
        got, want = getattr(batch, view), getattr(reference, view)
        assert got.shape == want.shape and got.dtype == np.float64, view
    assert batch.pd_torque().shape == (4, batch.nu)
    with pytest.raises(KeyError, match="unknown sensor"):
        batch.sensor("no_such_sensor")


def test_foot_contact_and_height_above_ground_on_flat_and_slope(batch: BatchedG1) -> None:
    batch.reset(np.arange(4), _standing(batch))
    for _ in range(3):
        batch.step(np.tile(batch.desc.array("default_positions"), (4, 1)))
    feet = batch.sensor("left_foot_force")[:, 0] + batch.sensor("right_foot_force")[:, 0]
    weight = 9.81 * float(batch.model.body_subtreemass[1])  # type: ignore[attr-defined]
    assert np.all(feet > 0.5 * weight), f"feet should carry the robot: {feet} N (weight {weight:.0f} N)"
    # height above the ground: flat environments read z, sloped ones z - x tan(10 deg)
    pos = np.array([[1.0, 0.0, 0.5]] * 4)
    h = batch.height_above_ground(pos)
    np.testing.assert_allclose(h[[0, 2]], 0.5)
    np.testing.assert_allclose(h[[1, 3]], 0.5 - np.tan(np.deg2rad(10.0)))
    # the soles sit on their ground in both
    for side in ("left", "right"):
        sole = batch.height_above_ground(batch.sensor(f"{side}_foot_pos"))
        assert np.all(np.abs(sole) < 0.03), f"{side} sole heights above the ground: {sole}"
    # lifted off the ground: no contact force
    batch.reset(np.arange(4), np.tile(batch.default_qpos(base_height=2.0), (4, 1)))
    batch.step(np.tile(batch.desc.array("default_positions"), (4, 1)))
    np.testing.assert_array_equal(batch.sensor("left_foot_force"), 0.0)
    with pytest.raises(ValueError, match="pos must have shape"):
        batch.height_above_ground(np.zeros((3, 3)))


def test_push_adds_world_velocity_to_the_pelvis(batch: BatchedG1) -> None:
    tol = TOL[batch.backend_name]  # type: ignore[attr-defined]
    batch.reset(np.arange(4), _standing(batch))
    batch.push(np.array([1]), np.array([[0.5, 0.0, 0.0]]))
    np.testing.assert_allclose(batch.base_lin_vel[1], [0.5, 0.0, 0.0], atol=tol)
    np.testing.assert_array_equal(batch.base_lin_vel[0], 0.0)


@pytest.mark.parametrize("backend", _backend_params())
def test_flat_slope_and_rough_in_one_batch_carry_standing_robots(backend: str) -> None:
    """HumanUP Stage II's three grounds, one per environment: each robot stands on its own ground, and
    the flat one moves as in a batch that is all flat."""
    grounds = (None, SLOPE, TerrainConfig("rough"))
    tol = TOL[backend]
    mixed = make_batch(G1BatchConfig(num_envs=3, threads=1, terrains=grounds), backend, DEVICE[backend])
    flat = make_batch(G1BatchConfig(num_envs=1, threads=1), backend, DEVICE[backend])
    try:
        for b in (mixed, flat):
            b.reset(np.arange(b.num_envs), np.tile(b.default_qpos(base_height=0.81), (b.num_envs, 1)))
            for _ in range(5):
                b.step(np.tile(b.desc.array("default_positions"), (b.num_envs, 1)))
        weight = 9.81 * float(mixed.model.body_subtreemass[1])  # type: ignore[attr-defined]
        feet = mixed.sensor("left_foot_force")[:, 0] + mixed.sensor("right_foot_force")[:, 0]
        assert np.all(feet > 0.5 * weight), feet
        for side in ("left", "right"):
            assert np.all(np.abs(mixed.height_above_ground(mixed.sensor(f"{side}_foot_pos"))) < 0.04)
        np.testing.assert_allclose(mixed.qpos[0], flat.qpos[0], atol=max(tol, 1e-5))
    finally:
        mixed.close()
        flat.close()


# ---------------------------------------------------------------------------------------- warp only
needs_warp = pytest.mark.skipif(backend_available("warp") is not None, reason=str(backend_available("warp")))


@needs_warp
def test_warp_refuses_two_different_height_fields_and_a_bad_device_in_one_line() -> None:
    with pytest.raises(ConfigError, match="one height field per batch"):
        make_batch(G1BatchConfig(num_envs=2, terrains=(TerrainConfig("rough"), TerrainConfig("rough", seed=1))), "warp", "cpu")
    with pytest.raises(ConfigError, match="device 'gpu'"):
        make_batch(G1BatchConfig(num_envs=2), "warp", "gpu")


@needs_warp
@pytest.mark.slow
def test_warp_torch_state_is_the_device_state_without_a_copy(batch: BatchedG1) -> None:
    if batch.backend_name != "warp":  # type: ignore[attr-defined]
        pytest.skip("warp only")
    import warp as wp

    state = batch.torch_state()  # type: ignore[attr-defined]
    wd = batch.warp_data  # type: ignore[attr-defined]
    assert state["qpos"].data_ptr() == wd.qpos.ptr and state["sensordata"].data_ptr() == wd.sensordata.ptr
    assert str(state["qpos"].device) == batch.device  # type: ignore[attr-defined]
    batch.reset(np.arange(4), _standing(batch))
    batch.step(np.tile(batch.desc.array("default_positions"), (4, 1)))
    np.testing.assert_array_equal(state["qpos"].numpy(), wp.to_torch(wd.qpos).numpy())
    np.testing.assert_allclose(state["qpos"].numpy(), batch.qpos, rtol=0, atol=0)
    # a torch tensor of targets steps without going through numpy
    batch.step(state["ctrl"].clone())
    np.testing.assert_allclose(batch.time, 2 * batch.dt)


# ------------------------------------------------- Warp vs MuJoCo C, the issue-25 target (1e-5 after 100 steps)
AGREEMENT_GAP = (
    "not reached on the CPU device (benchmarks/results/backends.json, 'agreement'): after 100 physics steps from "
    "settled lying/standing states the max |qpos difference| is 3e-4 on flat ground with the pose held (1.5e-4 "
    "standing) and 3e-3..3e-2 on the height field. Measured causes: (1) flat: a plane-capsule contact whose "
    "capsule axis is within 60 degrees of the normal (the feet's capsules of a lying G1) gets a fixed tangent in "
    "Warp and the projected axis in MuJoCo C, which turns the pyramidal friction cone; (2) the 5-iteration "
    "Newton solver stops short (constrained accelerations differ by up to 2 % at the start states, 2e-4 with a "
    "converged solver: float32); its iterates differ even from the same start (warm start off in both: 1.3e-3), "
    "and MuJoCo C starts from the cheaper of warm start and unconstrained acceleration, Warp from the warm start; "
    "(3) height field: Warp finds fewer contacts than MuJoCo C (e.g. 6 vs 13), accelerations differ by 3-30 %"
)


@needs_warp
@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=AGREEMENT_GAP)
@pytest.mark.parametrize("terrain", ["flat", "rough"])
def test_warp_agrees_with_mujoco_c_within_1e5_after_100_steps(terrain: str) -> None:
    from robot_learning.sim.backend_agreement import AgreementConfig, batch_agreement

    result = batch_agreement(AgreementConfig(terrain=terrain, num_envs=6, physics_steps=100))
    assert result["max_abs_qpos_diff"] <= 1e-5, result["by_pose"]


@needs_warp
@pytest.mark.slow
def test_warp_and_mujoco_c_find_the_same_contacts_and_differ_in_capsule_tangent_frames() -> None:
    """The first cause above, shown: at settled lying and standing states both engines find the same
    contacts, and the ones whose friction pyramid is turned are plane-capsule contacts."""
    from robot_learning.sim.backend_agreement import AgreementConfig, contact_diagnosis

    d = contact_diagnosis(AgreementConfig(terrain="flat", num_envs=6))
    assert all(c["contacts_warp"] == c["contacts_c"] > 0 for c in d["contacts"]), d["contacts"]
    pairs = d["pairs_with_a_different_tangent_frame"]
    assert pairs and all(p.startswith("floor/") for p in pairs), pairs
    # the constrained accelerations: float32 precision with a converged solver, less with the model's 5 iterations
    assert d["converged_solver"]["max_rel_qacc_diff"] < 1e-3
