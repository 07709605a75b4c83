"""ASAP's floating-base tracking pre-training: the free G1 on the ground (TrackingConfig.floating), its
fall termination, its IMU observation against the runtime's, and the recipe at toy scale through
`train asap` (a few PPO iterations, the export through the runtime's loader)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robot_learning.core.config import ConfigError
from robot_learning.robots.g1 import G1_SPEC
from robot_learning.sim.mujoco_batch import quat_from_pitch
from robot_learning.tasks.asap.delta import DEFAULT
from robot_learning.tasks.asap.tracking import (
    TrackingConfig,
    TrackingEnv,
    ground_reference,
    load_routine,
)

torch = pytest.importorskip("torch")
RECIPE = Path(__file__).resolve().parents[1] / "sim" / "configs" / "asap_floating.yaml"


def test_floating_env_terminates_a_fallen_robot_and_not_a_standing_one() -> None:
    cfg = TrackingConfig(motions=("arm_swing",), floating=True, num_envs=2, threads=1, init_noise_rad=0.0)
    env = TrackingEnv(load_routine(cfg.motions), cfg)
    try:
        env.reset(np.arange(2), frames=np.zeros(2, dtype=np.int64), noise=False)
        standing = env.batch.base_pos[:, 2].copy()
        assert np.allclose(standing, env.ref_height[0] + cfg.reset_clearance_m)  # on its soles, not in the air
        # environment 1 lies on its back, as a fallen robot does
        b = env.batch
        lying = b.default_qpos(env.routine.joint_pos[0], base_height=0.15, base_quat=quat_from_pitch(-np.pi / 2))
        b.reset(np.array([1]), lying[None])
        _, reward, done, info = env.step(np.zeros((2, 23)))
        assert env.fell.tolist() == [False, True] and done.tolist() == [False, True]
        assert reward[1] < -cfg.w_termination + 5.0 < reward[0]  # the fall penalty, once
        assert info["fell"] == 0.5
        # the fallen one was reset standing; the standing one stays up over half a second
        assert env.batch.base_pos[1, 2] > 0.7
        for _ in range(25):
            env.step(np.zeros((2, 23)))
            assert not env.fell[0]
    finally:
        env.close()


def test_ground_reference_stands_on_the_soles() -> None:
    routine = load_routine(("squat",))
    height, contact = ground_reference(routine)
    assert abs(height[0] - 0.79) < 0.01  # the default standing height (robots/g1.py: 0.79 m)
    assert 0.5 < height.min() < 0.65  # the bottom of the squat
    assert contact.all()  # both feet stay down in a squat


def test_floating_observation_is_the_runtime_observation() -> None:
    """Same states into the env and the runtime's JointObservation (IMU fields, histories, time): same vector.
    The IMU site is the pelvis frame: after a reset its sensors equal the base_* views the env reads."""
    from robot_learning.runtime.joint_controller import JointObservation
    from robot_learning.runtime.observation import ObservationBuilder
    from robot_learning.types import RobotState

    cfg = TrackingConfig(motions=("kick",), floating=True, num_envs=3, threads=1, history=3)
    env = TrackingEnv(load_routine(cfg.motions), cfg)
    try:
        env.reset(np.arange(3), frames=np.zeros(3, dtype=np.int64))
        b = env.batch
        np.testing.assert_allclose(b.sensor("imu_quat"), b.base_quat, atol=1e-12)
        np.testing.assert_allclose(b.sensor("imu_gyro"), b.base_ang_vel, atol=1e-9)
        names = [t.name for t in env.layout.terms]
        assert names[:2] == ["base_angular_velocity", "projected_gravity"] and names[-1] == "policy_time"
        runtime = JointObservation(env.layout.terms, 23, np.asarray(G1_SPEC.default_positions), dt=env.dt)
        builder, out = ObservationBuilder(env.layout), np.zeros(env.layout.size, dtype=np.float32)

        def state() -> RobotState:
            return RobotState(0.0, {"joint_position": b.joint_pos[0].copy(), "joint_velocity": b.joint_vel[0].copy(),
                                    "imu_orientation": b.base_quat[0].copy(), "imu_angular_velocity": b.base_ang_vel[0].copy()})

        rng = np.random.default_rng(0)
        for k in range(6):
            builder.build(runtime.fields(state()), out)
            np.testing.assert_allclose(out, env.observe()[0], atol=1e-5)
            residual = rng.normal(0, 0.5, (3, 23))
            env.step(residual)
            runtime.last_action[:] = env.last_action[0]
        assert np.abs(env.observe()[0, 3:6]).max() > 0  # gravity seen in the pelvis frame
    finally:
        env.close()


def test_recipe_at_toy_scale_trains_floating_and_exports_for_the_runtime(tmp_path) -> None:
    """`train asap --config sim/configs/asap_floating.yaml` with 8 environments, two motions, 3 PPO iterations: the
    reward and the policy move, the robot is the free G1 (its pelvis moves), the ONNX loads in the
    runtime with the floating layout, and the report has falls before/after."""
    from robot_learning.runtime.joint_controller import JointObservation
    from robot_learning.runtime.policy import PolicyRunner
    from robot_learning.tasks.asap.module import train_command

    overrides = {"num_envs": 8, "max_env_steps": 3 * 24 * 8, "hidden": [32, 32], "torch_threads": 1, "threads": 1, "episode_s": 2.0,
                 "motions": ["arm_swing", "kick"]}
    out = train_command(out=tmp_path / "run", config=RECIPE, overrides=overrides)
    figures, curve = out["figures"], out["curve"]
    assert figures["env_steps"] == 3 * 24 * 8
    assert set(figures["fall_rate"]) == {"reference_only", "policy"}
    saved = torch.load(tmp_path / "run" / "model.pt", weights_only=False)
    assert saved["floating"] is True and saved["history"] == 4
    assert len({round(r["mean_reward"], 6) for r in curve}) == 3  # the reward moves
    assert all(r["base_xy_m"] > 0.0 and r["tilt_deg"] > 0.0 for r in curve)  # a free pelvis
    assert curve[0]["action_std"] != curve[-1]["action_std"] or curve[0]["mean_reward"] != curve[-1]["mean_reward"]

    runner = PolicyRunner(tmp_path / "run" / "policy.onnx")
    meta = runner.metadata
    assert meta.robot_params["fix_base"] is False
    names = [t.name for t in meta.observation_layout.terms]
    assert {"base_angular_velocity", "projected_gravity", "projected_gravity_history"} <= set(names)
    obs_fields = JointObservation(meta.observation_layout.terms, 23, DEFAULT)  # the runtime provides every term
    assert len(obs_fields.histories) == 5
    action = runner(np.zeros(runner.obs_size, dtype=np.float32))
    np.testing.assert_allclose(DEFAULT + meta.action["scale"] * action, load_routine(saved["motions"]).joint_pos[1], atol=0.2)
    # the closed-loop target worlds hold the pelvis: a floating policy is refused there, by name
    from robot_learning.tasks.asap.delta import SessionError
    from robot_learning.tasks.asap.module import eval_command

    with pytest.raises(SessionError, match="floating-base"):
        eval_command(tmp_path / "run" / "policy.onnx")


def test_tracking_config_names_a_bad_backend_or_device(tmp_path, capsys) -> None:
    from robot_learning.cli import main

    with pytest.raises(ConfigError, match="backend"):
        TrackingConfig(backend="bullet")
    with pytest.raises(ConfigError, match="runs on the CPU"):
        TrackingConfig(backend="mujoco", device="cuda:0")
    with pytest.raises(ConfigError, match="device"):
        TrackingConfig(device="tpu")
    # through the command line: one line, and no run directory
    assert main(["train", "asap", "--config", str(RECIPE), "--device", "cuda:0", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "runs on the CPU" in err[0] and not (tmp_path / "run").exists()


@pytest.mark.slow
def test_floating_env_runs_the_same_on_warp_as_on_mujoco() -> None:
    """The floating env through make_batch on MuJoCo Warp (CPU device) against the C engine: 25 policy
    steps of the reference from four frames (measured: observations within 3e-4, rewards within 1e-3,
    pelvis positions within 1e-4 m). About 30 s with Warp's kernels cached, minutes on the first run."""
    from robot_learning.sim.backends import backend_available

    reason = backend_available("warp")
    if reason is not None:
        pytest.skip(reason)
    routine = load_routine(("arm_swing",))
    runs = {}
    for backend in ("mujoco", "warp"):
        cfg = TrackingConfig(motions=("arm_swing",), floating=True, num_envs=4, threads=1, backend=backend, init_noise_rad=0.0,
                             history=2)
        env = TrackingEnv(routine, cfg)
        try:
            env.reset(np.arange(4), frames=np.array([0, 50, 100, 150]), noise=False)
            rewards = [env.step(np.zeros((4, 23)))[1].copy() for _ in range(25)]
            runs[backend] = (env.observe(), np.array(rewards), env.batch.base_pos.copy(), env.fell.copy())
        finally:
            env.close()
    (o1, r1, p1, f1), (o2, r2, p2, f2) = runs["mujoco"], runs["warp"]
    assert not f1.any() and not f2.any()
    np.testing.assert_allclose(o2, o1, atol=2e-3)
    np.testing.assert_allclose(r2, r1, atol=1e-2)
    np.testing.assert_allclose(p2, p1, atol=1e-3)


def test_recipe_trains_data_parallel_on_two_ranks(tmp_path) -> None:
    """torchrun, two real processes, gloo over loopback: rank 0 writes the run, the steps are both ranks'."""
    import json
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    toy = ["num_envs=4", "max_env_steps=384", "hidden=[32, 32]", "torch_threads=1", "threads=1", "episode_s=2.0", "motions=[arm_swing]"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port", str(port),
           "-m", "robot_learning", "train", "asap", "--config", str(RECIPE), "--out", str(tmp_path / "run"),
           *[a for kv in toy for a in ("--set", kv)]]
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert '"rank": 1, "world_size": 2' in out.stdout  # the other rank trained and did not write
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert [row["env_steps"] for row in report["curve"]] == [192, 384]  # 24 steps x 4 robots x 2 ranks per iteration
    assert (tmp_path / "run" / "policy.onnx").is_file()
