"""The getting-up module: the training observation is the runtime's, rewards and terminations
behave, a short training run writes everything, the exported policy runs through the runtime in
MuJoCo (mesh) and PyBullet."""
from __future__ import annotations

import json
from pathlib import Path

import mujoco
import numpy as np
import pytest

from robot_learning.robots.g1 import G1_SPEC
from robot_learning.runtime.joint_controller import JointObservation
from robot_learning.runtime.observation import ObservationBuilder
from robot_learning.tasks.getup.module import load_config
from robot_learning.tasks.getup.train import make_env
from robot_learning.types import RobotState


@pytest.fixture(scope="module")
def env():
    cfg = load_config(None, num_envs=4)
    e, _ = make_env(cfg)
    return e


def test_training_observation_is_the_runtime_observation(env) -> None:
    """Same states and actions into the env's builder and the runtime's JointObservation: same vector."""
    rng = np.random.default_rng(0)
    # a fallen start, as on the robot: the time input counts from 0 (a reference-state start would
    # begin at the reference's time)
    saved, env.cfg.reference_init_fraction = env.cfg.reference_init_fraction, 0.0
    env.reset()
    env.cfg.reference_init_fraction = saved
    obs, _ = env.observe()
    runtime = JointObservation(env.layout.terms, 23, np.asarray(G1_SPEC.default_positions), dt=env.dt)
    builder = ObservationBuilder(env.layout)
    out = np.zeros(env.layout.size, dtype=np.float32)

    def state(i: int) -> RobotState:
        b = env.batch
        return RobotState(0.0, {"joint_position": b.joint_pos[i].copy(), "joint_velocity": b.joint_vel[i].copy(),
                                "imu_orientation": b.sensor("imu_quat")[i].copy(), "imu_angular_velocity": b.sensor("imu_gyro")[i].copy()})

    builder.build(runtime.fields(state(0)), out)
    np.testing.assert_allclose(out, obs[0], atol=1e-5)
    for _ in range(12):
        a = rng.normal(0, 1, (env.n, 23))
        obs, _, _, done, _ = env.step(a)
        if done[0]:
            break
        runtime.last_action[:] = np.clip(a[0], -5, 5)
        builder.build(runtime.fields(state(0)), out)
        np.testing.assert_allclose(out, obs[0], atol=1e-5)
    assert env.layout.size == 741  # the paper: 74 per step, 10 steps; and the time since the policy took over


def test_tracking_terminates_when_the_head_leaves_the_reference(env) -> None:
    env.reset()
    # a policy that does nothing from the reference start: the reference rises, the robot does not
    done_any = False
    for _ in range(200):
        _, _, r, done, info = env.step(np.zeros((env.n, 23)))
        assert np.all(np.isfinite(r))
        if "episodes" in info:
            done_any = True
            assert not np.any(info["episodes"].success)
    assert done_any


def test_discovery_rewards_prefer_standing_to_lying() -> None:
    cfg = load_config(None, num_envs=2, stage="discovery")
    e, starts = make_env(cfg)
    from robot_learning.tasks.getup.env import DEFAULT, make_qpos

    stand = make_qpos(np.array([0.0, 0.0, 0.7914]), np.array([1.0, 0.0, 0.0, 0.0]), DEFAULT)
    e.batch.reset(np.array([0, 1]), np.stack([stand, starts["supine"][0]]), None)
    e.steps[:] = 0
    _, _, r, _, info = e.step(np.zeros((2, 23)))
    assert r[0] > r[1] + 5.0, r


def test_short_training_run_writes_everything(tmp_path: Path) -> None:
    from robot_learning.tasks.getup.module import eval_command, train_command

    cfg = tmp_path / "c.yaml"
    # bounded by steps, not by the clock (a loaded machine must not change what the test sees):
    # 400 cloning samples, then three PPO iterations of 8 x 8 steps
    cfg.write_text("method: ppo\nmax_seconds: 600\nmax_env_steps: 592\neval_every_seconds: 1000\neval_episodes: 4\nbc_samples: 400\nbc_epochs: 2\n"
                   "env:\n  num_envs: 8\nppo:\n  steps_per_env: 8\n")
    report = train_command(tmp_path / "run", cfg, None, None, progress=False)
    run = Path(report["run"])
    for f in ("config.yaml", "policy.onnx", "report.json", "learning_curve.csv", "checkpoints/final.pt"):
        assert (run / f).is_file(), f
    rep = json.loads((run / "report.json").read_text())
    bc = rep["train"]["behaviour_cloning"]
    assert bc["samples"] == 400 and bc["mse_last_epoch"] < bc["mse_first_epoch"]
    assert rep["train"]["env_steps"] > 0 and rep["export"]["parity_max_abs_diff"] < 1e-4
    assert len((run / "learning_curve.csv").read_text().splitlines()) == 1 + 3  # header + three iterations
    # the exported policy through the runtime, in the second engine and on the mesh model
    res = eval_command(run / "policy.onnx", sim="mujoco", model="mesh", episodes=1, posture="supine")
    assert res["episodes"] == 1 and 0.0 <= res["success_rate"] <= 1.0 and "supine" in res
    res = eval_command(run / "policy.onnx", sim="pybullet", episodes=1, posture="prone")
    assert res["engine"] == "pybullet" and res["prone"]["episodes"] == 1


def test_dagger_training_run_exports_a_policy_per_posture(tmp_path: Path) -> None:
    """The nominal clone (method: dagger, the shipped policies' recipe), cut to two iterations of four
    robots: the policy is the teacher's table plus a residual, exported with its posture; eval runs it
    on that posture."""
    from robot_learning.core.config import ConfigError
    from robot_learning.tasks.getup.module import eval_command, train_command

    cfg = tmp_path / "c.yaml"
    cfg.write_text("method: dagger\ndagger:\n  iterations: 2\n  num_envs: 4\n  eval_episodes: 4\n  first_epochs: 2\n  epochs: 1\n")
    report = train_command(tmp_path / "run", cfg, None, None, progress=False, posture="supine")
    run = Path(report["run"])
    assert (run / "policy_supine.onnx").is_file() and not (run / "policy_prone.onnx").exists()
    rep = json.loads((run / "report.json").read_text())
    assert rep["method"] == "dagger" and list(rep["policies"]) == ["supine"]
    sup = rep["policies"]["supine"]
    assert [r["iteration"] for r in sup["iterations"]] == [1, 2] and sup["iterations"][1]["samples"] == 2 * 4 * 800  # 16 s episodes at 50 Hz
    assert sup["export"]["parity_max_abs_diff"] < 1e-4
    res = eval_command(run / "policy_supine.onnx", sim="mujoco", model="primitive", episodes=1)
    assert res["episodes"] == 1 and "supine" in res and "prone" not in res
    with pytest.raises(ConfigError, match="trained for supine"):
        eval_command(run / "policy_supine.onnx", sim="mujoco", model="primitive", episodes=1, posture="prone")


def test_residual_on_reference_needs_one_posture() -> None:
    from robot_learning.tasks.getup.config import GetupEnvConfig

    with pytest.raises(ValueError, match="one posture"):
        GetupEnvConfig(residual_on_reference=True, posture="both")
    GetupEnvConfig(residual_on_reference=True, posture="supine")


def test_training_environments_stand_on_their_terrain() -> None:
    """`--terrain flat,slope,rough` (HumanUP's Stage II grounds): environment i on the i-th, each with
    its own compiled model, starting from fallen poses made on that ground, with every height (rewards,
    critic, success) measured above the ground under the point."""
    from robot_learning.tasks.getup.poses import FallenPoseConfig, fallen_pose_dataset

    cfg = load_config(None, num_envs=3, terrain="flat,slope,rough")
    assert cfg.env.terrain == ("flat", "slope", "rough")
    e, _ = make_env(cfg)
    b = e.batch
    assert e.ground == ["flat", "slope", "rough"]
    floor = [m.geom("floor") for m in b.models]
    assert floor[2].type[0] == mujoco.mjtGeom.mjGEOM_HFIELD and floor[0].type[0] == mujoco.mjtGeom.mjGEOM_PLANE
    assert abs(floor[1].quat[2]) > 0.05 and floor[0].quat[2] == 0.0  # the tilted plane
    for _ in range(3):  # tracking episodes on a slope or rough ground start from poses made there
        e.reset()
        for i, kind in ((1, "slope"), (2, "rough")):
            made = fallen_pose_dataset(seed=cfg.seed, config=FallenPoseConfig(terrain=b.terrains[i]))
            p = e.postures[e.posture[i]]
            assert np.any(np.all(np.isclose(made[p]["train"], b.qpos[i]), axis=1)), kind
    # heights above the ground under the point: the head 1 m above x = 1 m
    pos = np.array([[1.0, 0.0, 1.0]] * 3)
    h = b.height_above_ground(pos)
    assert h[0] == 1.0 and h[1] == pytest.approx(1.0 - np.tan(np.radians(10.0)))
    assert h[2] == pytest.approx(1.0 - b.terrains[2].ground_height(pos[2:, :2])[0])
    np.testing.assert_allclose(e.height("head"), b.height_above_ground(b.sensor("head_pos")))
    _, _, reward, _, _ = e.step(np.zeros((3, len(G1_SPEC.joint_names))))
    assert np.isfinite(reward).all()
    # domain randomisation copies each environment's own ground
    b.randomize(np.arange(3), friction=np.full(3, 2.0))
    assert b.models[2].geom("floor").type[0] == mujoco.mjtGeom.mjGEOM_HFIELD and b.models[2].geom("floor").friction[0] == 2.0


def test_terrain_names_are_checked() -> None:
    from robot_learning.core.config import ConfigError
    from robot_learning.tasks.getup.config import GetupEnvConfig

    with pytest.raises(ConfigError, match="terrain must list flat, slope or rough, got .*hills"):
        load_config(None, terrain="flat,hills")
    with pytest.raises(ValueError, match="terrain must list"):
        GetupEnvConfig(terrain=("ice",))
    assert GetupEnvConfig(terrain="slope").terrain == ("slope",)


def test_the_shipped_mesh_prone_recipe_is_the_default_with_more_dagger_iterations() -> None:
    """sim/configs/getup_mesh_prone.yaml (the shipped mesh prone policy's config) replaces getup.yaml when
    given: it must stay getup.yaml with 16 DAgger iterations (and the nominal clone, method: dagger,
    where the default is now the pipeline)."""
    from robot_learning.core.config import to_dict

    root = Path(__file__).resolve().parents[1] / "sim" / "configs"
    default, recipe = to_dict(load_config(None)), to_dict(load_config(root / "getup_mesh_prone.yaml"))
    assert recipe["dagger"].pop("iterations") == 16 and default["dagger"].pop("iterations") == 10
    assert recipe.pop("method") == "dagger" and default.pop("method") == "pipeline"
    assert recipe == default
