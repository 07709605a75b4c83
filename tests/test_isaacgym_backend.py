"""The Isaac Gym backend (robot_learning/sim/isaacgym_batch.py) where Isaac Gym cannot run: no GPU, no
isaacgym package (its Preview 4 binaries stop at Python 3.8). What is checked here: the refusals, the
import without Isaac Gym, mypy against isaacgym-stubs (and that the check fails on a wrong gymapi call),
and the backend's pure-torch parts (forward kinematics, the sensors computed from body poses, the
height-field layout) against MuJoCo. The backend's run-time behaviour is not tested anywhere."""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import mujoco
import numpy as np
import pytest
import torch

from robot_learning.core.config import ConfigError
from robot_learning.robots.g1 import G1_SPEC
from robot_learning.sim import isaacgym_batch as igb
from robot_learning.sim.backends import backend_available, make_batch
from robot_learning.sim.g1_batch_model import (
    INTERNAL_SENSOR_NAMES,
    SENSORS,
    build_batch_model,
)
from robot_learning.sim.mujoco_batch import G1BatchConfig
from robot_learning.sim.terrain import TerrainConfig

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(backend_available("isaacgym") is None, reason="Isaac Gym is installed: these tests cover its absence")


def test_make_batch_refuses_isaacgym_in_one_line_naming_the_missing_package() -> None:
    with pytest.raises(ConfigError) as err:
        make_batch(G1BatchConfig(num_envs=2), "isaacgym", "cuda:0")
    message = str(err.value)
    assert "\n" not in message and "'isaacgym'" in message and "not installed" in message


def test_isaacgym_module_imports_without_isaacgym_and_its_batch_refuses_in_one_line() -> None:
    assert igb._IMPORT_ERROR is not None and "isaacgym" in igb._IMPORT_ERROR
    with pytest.raises(ConfigError) as err:
        igb.G1IsaacGymBatch(G1BatchConfig(num_envs=1), device="cuda:0")
    assert "\n" not in str(err.value) and "isaacgym backend cannot start" in str(err.value)
    # and importing the module in a fresh interpreter (torch not yet imported) does not fail either
    out = subprocess.run([sys.executable, "-c", "import robot_learning.sim.isaacgym_batch as m; print(m._IMPORT_ERROR is not None)"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr[-2000:]


def _typecheck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "robot_learning.sim.typecheck", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def test_mypy_passes_on_the_backends_against_isaacgym_stubs() -> None:
    out = _typecheck()
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "Success" in out.stdout


def test_mypy_fails_on_a_wrong_gymapi_call(tmp_path: Path) -> None:
    """The negative control: the same check refuses calls that do not match Isaac Gym's signatures."""
    bad = tmp_path / "bad_gym_calls.py"
    bad.write_text(
        "from isaacgym import gymapi, gymtorch\n"
        "gym = gymapi.acquire_gym()\n"
        "sim = gym.create_sim('cuda:0', -1, gymapi.SIM_PHYSX, gymapi.SimParams())\n"  # device index is an int
        "gym.simulate(sim, True)\n"  # simulate takes the sim only
        "root = gymtorch.wrap_tensor(gym.acquire_actor_root_state_tensor(sim))\n"
        "gym.set_actor_root_state_tensor_indexed(sim, root, root, 1)\n"  # torch tensors must be unwrapped
    )
    out = _typecheck(str(bad))
    assert out.returncode == 1, out.stdout
    for line in (3, 4, 6):
        assert f"bad_gym_calls.py:{line}: error" in out.stdout, out.stdout


# ----------------------------------------------------------------------------- the pure-torch parts against MuJoCo
@pytest.fixture(scope="module")
def model() -> mujoco.MjModel:
    return build_batch_model("primitive")


def _random_state(model: mujoco.MjModel, rng: np.random.Generator, height: float = 0.8) -> mujoco.MjData:
    d = mujoco.MjData(model)
    quat = rng.normal(size=4)
    d.qpos[0:3] = (rng.uniform(-1, 1), rng.uniform(-1, 1), height)
    d.qpos[3:7] = quat / np.linalg.norm(quat)
    lo, hi = model.jnt_range[1:, 0], model.jnt_range[1:, 1]
    d.qpos[7:] = rng.uniform(lo, hi)
    d.qvel[:] = rng.normal(scale=0.5, size=model.nv)
    mujoco.mj_forward(model, d)
    return d


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.asarray(a), dtype=torch.float64)


def test_forward_kinematics_matches_mujoco_body_poses(model: mujoco.MjModel) -> None:
    kin = igb.G1Kinematics(model)
    rng = np.random.default_rng(0)
    datas = [_random_state(model, rng) for _ in range(8)]
    qpos = _t(np.stack([d.qpos for d in datas]))
    xpos, xquat = kin.forward(qpos[:, 0:3], qpos[:, 3:7], qpos[:, 7:])
    want_pos = np.stack([d.xpos for d in datas])
    want_mat = np.stack([d.xmat for d in datas]).reshape(8, model.nbody, 3, 3)
    np.testing.assert_allclose(xpos.numpy(), want_pos, atol=1e-9)
    got_mat = np.zeros((8, model.nbody, 9))
    for i in range(8):
        for b in range(model.nbody):
            mujoco.mju_quat2Mat(got_mat[i, b], xquat[i, b].numpy())
    np.testing.assert_allclose(got_mat.reshape(want_mat.shape), want_mat, atol=1e-9)


def _sensors_from_mujoco(model: mujoco.MjModel, d: mujoco.MjData, frames: igb.G1Frames, acc: np.ndarray) -> torch.Tensor:
    """compute_sensors fed with MuJoCo's body poses, as the backend feeds it Isaac Gym's rigid body states."""
    def pose(*names: str) -> tuple[torch.Tensor, torch.Tensor]:
        ids = [model.body(n).id for n in names]
        return _t(d.xpos[ids])[None], _t(d.xquat[ids])[None]

    pelvis = model.body("pelvis").id
    quat = _t(d.xquat[pelvis])[None]
    ang_world = igb.quat_rotate(quat, _t(d.qvel[3:6])[None])
    torso = pose("torso_link")
    return igb.compute_sensors(
        frames, _t(d.xpos[pelvis])[None], quat, ang_world, (torso[0][:, 0], torso[1][:, 0]),
        pose("left_ankle_roll_link", "right_ankle_roll_link"), pose(*frames.hand_body),
        torch.zeros(1, 2, 3, dtype=torch.float64), _t(d.actuator_force)[None], _t(acc)[None],
    )[0]


def _mujoco_sensor(model: mujoco.MjModel, d: mujoco.MjData, name: str) -> np.ndarray:
    """MuJoCo's value of public sensor ``name`` (its MuJoCo sensors as G1Batch finds them)."""
    if name == "actuator_force":
        return np.concatenate([d.sensor(f"rl_actuator_force_{j}").data for j in G1_SPEC.joint_names])
    return d.sensor(INTERNAL_SENSOR_NAMES.get(name, f"rl_{name}")).data.copy()


def test_sensors_from_body_poses_match_mujocos_sensors(model: mujoco.MjModel) -> None:
    """Every sensor the backend computes exactly equals MuJoCo's at random states; the hands are read
    from the elbow links, as after Isaac Gym collapses the welded wrists."""
    frames = igb.g1_frames(model)
    rng = np.random.default_rng(1)
    exact = [n for n in SENSORS if n not in ("imu_acc", "left_foot_force", "right_foot_force")]
    ours, start = {}, 0
    for name, (dim, _) in SENSORS.items():
        ours[name] = slice(start, start + dim)
        start += dim
    assert igb.SENSOR_DIM == start
    for _ in range(5):
        d = _random_state(model, rng)
        got = _sensors_from_mujoco(model, d, frames, np.zeros(3)).numpy()
        for name in exact:
            want = _mujoco_sensor(model, d, name)
            if name == "imu_quat" and np.dot(want, got[ours[name]]) < 0:
                want = -want
            np.testing.assert_allclose(got[ours[name]], want, atol=1e-9, err_msg=name)


def _imu_site_velocity(frames: igb.G1Frames, d: mujoco.MjData) -> torch.Tensor:
    quat = _t(d.qpos[3:7])[None]
    return igb.imu_site_velocity(frames, quat, _t(d.qvel[0:3])[None], igb.quat_rotate(quat, _t(d.qvel[3:6])[None]))


def test_imu_acc_by_finite_difference_is_close_to_mujocos_accelerometer(model: mujoco.MjModel) -> None:
    """In the air (no contact), the IMU site's velocity change over one physics step, minus gravity, in
    the IMU frame, against MuJoCo's accelerometer for that step: the approximation the backend uses.
    With MuJoCo's explicit (Euler) integrator, where the velocity change is the acceleration the
    accelerometer reads; the batch model's implicitfast integrator damps the PD implicitly, and there
    the two differ by tens of per cent while the joints move."""
    frames = igb.g1_frames(model)
    model = copy.copy(model)
    model.opt.integrator = mujoco.mjtIntegrator.mjINT_EULER
    rng = np.random.default_rng(2)
    for _ in range(3):
        d = _random_state(model, rng, height=3.0)
        d.qvel[:] *= 0.2
        d.ctrl[:] = d.qpos[7:]
        mujoco.mj_forward(model, d)
        want = _mujoco_sensor(model, d, "imu_acc")

        v0 = _imu_site_velocity(frames, d)
        before = mujoco.MjData(model)
        before.qpos[:], before.qvel[:] = d.qpos, d.qvel
        mujoco.mj_step(model, d)
        acc = ((_imu_site_velocity(frames, d) - v0) / model.opt.timestep)[0].numpy()
        mujoco.mj_forward(model, before)
        got = _sensors_from_mujoco(model, before, frames, acc).numpy()[7:10]
        assert list(SENSORS)[2] == "imu_acc"
        np.testing.assert_allclose(got, want, atol=0.01 * max(1.0, np.linalg.norm(want)))


def test_heightfield_layout_encodes_each_ground_on_its_own_tile() -> None:
    rough, slope = TerrainConfig("rough", half_size_m=2.0), TerrainConfig("slope", slope_deg=10.0, half_size_m=2.0)
    layout = igb.heightfield_layout([None, rough, slope])
    samples, scale = layout.samples()
    assert samples.dtype == np.int16 and layout.cell == rough.cell_m
    m = rough.cells
    assert samples.shape == (3 * m, m)
    np.testing.assert_allclose(np.diff(layout.centres[:, 0]), m * layout.cell)
    local = layout.x0 + layout.cell * np.arange(m)
    gx, gy = np.meshgrid(local, local, indexing="ij")
    xy = np.stack((gx.ravel(), gy.ravel()), axis=1)
    for k, ground in enumerate([None, rough, slope]):
        tile = samples[k * m:(k + 1) * m] * scale
        want = np.zeros(m * m) if ground is None else ground.ground_height(xy)
        np.testing.assert_allclose(tile.ravel(), want, atol=scale)
        # sample [i, j] lies at world (x0 + i cell, y0 + j cell): each tile's centre is its ground's origin
        np.testing.assert_allclose(layout.x0 + (k * m + (m - 1) / 2) * layout.cell, layout.centres[k, 0])
    np.testing.assert_allclose(samples[2 * m:, 0] * scale, np.tan(np.deg2rad(10.0)) * local, atol=scale)
