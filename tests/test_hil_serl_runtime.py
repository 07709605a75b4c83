"""The Panda's end-effector runtime (bounded references, refusals, holds), the evaluator, and the
PyBullet twin of the pick-and-place task (the sim-to-sim gate)."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from robot_learning.export.onnx_export import export_policy
from robot_learning.runtime.manipulation import EndEffectorController, EndEffectorControllerConfig
from robot_learning.tasks.hil_serl.env import PandaPickPlace
from robot_learning.tasks.hil_serl.evaluate import CallablePolicy, evaluate_policy
from robot_learning.tasks.hil_serl.expert import ExpertConfig, expert_action
from robot_learning.tasks.hil_serl.pybullet_env import PyBulletPandaPickPlace
from robot_learning.tasks.hil_serl.scene import OBS_LAYOUT, PickPlaceConfig, policy_metadata
from robot_learning.types import PolicyMetadataError, Severity


class ConstantPolicy(torch.nn.Module):
    """Outputs ``value`` whatever it sees (kept in the graph through ``obs * 0``)."""

    def __init__(self, value: list[float]) -> None:
        super().__init__()
        self.register_buffer("value", torch.tensor(value, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs[:, :1] * 0.0 + self.value


def _export(tmp_path: Path, value: list[float], name: str = "fake.onnx", **meta_changes) -> Path:
    meta = policy_metadata(PickPlaceConfig())
    for key, v in meta_changes.items():
        setattr(meta, key, v)
    path = tmp_path / name
    export_policy(ConstantPolicy(value), meta, path, samples=8)
    return path


@pytest.fixture(scope="module")
def pushing_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """+3 on every arm axis (beyond the clip; in the world: +x, -y, -z towards the floor), gripper stay."""
    return _export(tmp_path_factory.mktemp("hil"), [3.0, 3.0, 3.0, 1.0], "push.onnx")


# ------------------------------------------------------------------------------ runtime
@pytest.mark.parametrize("max_step_m", [None, 0.01])
def test_targets_stay_in_box_and_step_with_constant_fake_policy(pushing_policy: Path, max_step_m: float | None) -> None:
    """A policy that pushes out of the box on all three axes: every target stays inside the metadata's
    workspace box and within max_step_m of the measured TCP (the metadata's, or a tighter robot value)."""
    ctrl = EndEffectorController(pushing_policy, EndEffectorControllerConfig(max_step_m=max_step_m))
    lo, hi = ctrl.lo, ctrl.hi
    env = PandaPickPlace()
    env.reset(3)
    steps = 40
    for _ in range(steps):
        tcp = env.tcp_pos()
        cmd = ctrl.step(env.obs_fields(), env.tcp_rot())
        assert not cmd.held and cmd.gripper is None
        assert np.all(cmd.tcp_target >= lo) and np.all(cmd.tcp_target <= hi), cmd.tcp_target
        assert np.linalg.norm(cmd.tcp_target - tcp) <= ctrl.max_step_m + 1e-12
        env.apply_command(cmd.tcp_target, cmd.gripper)
    s = ctrl.summary()
    assert s["ticks"] == s["policy_ticks"] == s["action_clips"] == steps  # raw 3.0 is beyond the clip every tick
    assert s["workspace_clips"] > 0  # it did reach the box's faces
    if max_step_m is None:
        assert ctrl.max_step_m == pytest.approx(np.sqrt(3) * 0.02)
        assert s["step_clips"] == 0  # a clipped action can never step further than sqrt(3) * scale
        # it ends pressed towards the box's corner (+x, -y, floor): references on the -y and floor faces,
        # the arm following them (it stalls a little short, fingertips on the floor)
        assert cmd.tcp_target[1] == lo[1] and cmd.tcp_target[2] == lo[2] and cmd.tcp_target[0] > 0.7
        assert np.linalg.norm(env.tcp_pos() - [hi[0], lo[1], lo[2]]) < 0.05
    else:
        assert ctrl.max_step_m == 0.01 and s["step_clips"] > 0
    assert s["timing"]["count"] == steps and s["timing"]["compute_p99_ms"] > 0


@pytest.mark.parametrize("field,value,match", [
    ("robot", "unitree_g1", "'robot' is 'unitree_g1'"),
    ("action", {"size": 4, "type": "joint_position", "scale": 0.25}, "'action.type' is 'joint_position'"),
])
def test_wrong_robot_or_action_type_is_refused_with_constant_fake_policy(tmp_path: Path, field: str, value, match: str) -> None:
    path = _export(tmp_path, [0.0, 0.0, 0.0, 1.0], **{field: value})
    with pytest.raises(PolicyMetadataError, match=match):
        EndEffectorController(path)


def test_missing_workspace_limit_is_refused_with_constant_fake_policy(tmp_path: Path) -> None:
    limits = dict(policy_metadata(PickPlaceConfig()).safety_limits)
    del limits["workspace_max"]
    path = _export(tmp_path, [0.0, 0.0, 0.0, 1.0], safety_limits=limits)
    with pytest.raises(PolicyMetadataError, match="safety_limits.workspace_max"):
        EndEffectorController(path)


def test_nan_field_holds_and_is_counted_with_constant_fake_policy(pushing_policy: Path) -> None:
    ctrl = EndEffectorController(pushing_policy)
    env = PandaPickPlace()
    env.reset(5)
    fields = env.obs_fields()
    tcp = fields["tcp_pos"].copy()
    fields["object_pos"] = np.array([0.5, np.nan, 0.02])
    cmd = ctrl.step(fields, env.tcp_rot())
    assert cmd.held and cmd.gripper is None and cmd.action is None
    np.testing.assert_array_equal(cmd.tcp_target, tcp)  # hold: the measured TCP, nothing from the policy
    assert [f.severity for f in cmd.faults] == [Severity.FALLBACK] and "object_pos[1]" in cmd.faults[0].message
    # an infinite TCP rotation is a broken reading too
    cmd = ctrl.step(env.obs_fields(), np.full((3, 3), np.inf))
    assert cmd.held
    # a valid tick afterwards runs the policy again
    cmd = ctrl.step(env.obs_fields(), env.tcp_rot())
    assert not cmd.held and np.linalg.norm(cmd.tcp_target - tcp) > 0.01
    # no usable TCP position: no new reference at all (the arm keeps its current one)
    fields = env.obs_fields()
    fields["tcp_pos"] = np.array([np.nan, 0.0, 0.2])
    cmd = ctrl.step(fields, env.tcp_rot())
    assert cmd.held and cmd.tcp_target is None
    s = ctrl.summary()
    assert (s["ticks"], s["holds"], s["input_faults"], s["policy_ticks"]) == (4, 3, 3, 1)
    assert s["faults"]["finite"] == 3


def test_nan_policy_output_holds_and_is_counted_with_nan_fake_callable() -> None:
    meta = policy_metadata(PickPlaceConfig())
    ctrl = EndEffectorController(CallablePolicy(lambda obs: np.array([0.5, np.nan, 0.0, 1.0]), meta))
    env = PandaPickPlace()
    env.reset(2)
    cmd = ctrl.step(env.obs_fields(), env.tcp_rot())
    assert cmd.held and np.array_equal(cmd.tcp_target, env.tcp_pos()) and cmd.gripper is None
    assert ctrl.summary()["policy_faults"] == 1 and cmd.faults[0].monitor == "policy_output"


def test_gripper_float_command_maps_to_close_and_open_with_constant_fake_policies(tmp_path: Path) -> None:
    env = PandaPickPlace()
    env.reset(0)
    got = []
    for g in (0.2, 1.3, 2.6):
        ctrl = EndEffectorController(_export(tmp_path, [0.0, 0.0, 0.0, g], f"g{g}.onnx"))
        got.append(ctrl.step(env.obs_fields(), env.tcp_rot()).gripper)
    assert got == [True, None, False]


def test_manipulation_runtime_imports_no_torch() -> None:
    code = ("import sys; import robot_learning.runtime.manipulation; "
            "assert 'torch' not in sys.modules, 'runtime imported torch'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------- evaluator
@pytest.mark.parametrize("sim", ["mujoco", "pybullet"])
def test_evaluate_counts_failures_and_runtime_clips_with_constant_fake_policy(pushing_policy: Path, sim: str) -> None:
    cfg = dataclasses.replace(PickPlaceConfig(), episode_steps=15)
    seen = []
    r = evaluate_policy(pushing_policy, sim=sim, episodes=2, seed=10_000, config=cfg,
                        progress=lambda done, total, rec: seen.append((done, total, rec["seed"])))
    assert r["sim"] == sim and r["success_rate"] == 0.0 and r["mean_steps_to_success"] is None
    assert seen == [(1, 2, 10_000), (2, 2, 10_001)]
    assert r["runtime"]["ticks"] == 30 and r["runtime"]["action_clips"] == 30
    assert r["runtime"]["workspace_clips"] > 0


def _obs_expert() -> callable:
    """A scripted obs -> action fake (the expert's logic on the 19 observation values; it remembers
    its own gripper command), to check that the evaluator counts successes."""
    sl = OBS_LAYOUT.slices()
    scale = {t.name: t.scale for t in OBS_LAYOUT.terms}
    state = {"closed": False}

    def act(obs: np.ndarray) -> np.ndarray:
        f = {k: obs[s] / scale[k] for k, s in sl.items()}
        tcp, obj, goal = f["tcp_pos"], f["object_pos"], f["goal_pos"]
        rel = obj - tcp
        grip = 1.0
        holding = state["closed"] and np.abs(rel[:2]).max() < 0.02 and abs(rel[2]) < 0.03 and f["gripper_opening"][0] > 0.02
        if holding:
            if np.abs(goal[:2] - tcp[:2]).max() > 0.02:
                target = np.array([tcp[0], tcp[1], 0.14]) if tcp[2] < 0.11 else np.array([goal[0], goal[1], 0.14])
            else:
                target = np.array([goal[0], goal[1], 0.085])
                grip = 2.0 if tcp[2] < 0.1 else 1.0
        elif state["closed"]:
            target, grip = tcp + [0.0, 0.0, 0.05], 2.0
        elif np.abs(obj[:2] - goal[:2]).max() < 0.07 and obj[2] < 0.07:
            target = np.array([tcp[0], tcp[1], 0.14])
        elif np.abs(rel[:2]).max() > 0.012:
            z = max(obj[2] + 0.07, tcp[2]) if np.abs(rel[:2]).max() > 0.04 else obj[2] + 0.07
            target = np.array([obj[0], obj[1], z])
        else:
            target = obj - [0.0, 0.0, 0.005]
            grip = 0.0 if tcp[2] - obj[2] < 0.012 else 1.0
        state["closed"] = {0.0: True, 2.0: False}.get(grip, state["closed"])
        world = np.clip((target - tcp) / 0.02, -1.0, 1.0)
        return np.array([world[0], -world[1], -world[2], grip], dtype=np.float32)  # TCP frame: diag(1, -1, -1)

    return act


@pytest.mark.parametrize("sim", ["mujoco", "pybullet"])
def test_evaluate_counts_successes_with_scripted_fake_callable(sim: str) -> None:
    r = evaluate_policy(_obs_expert(), sim=sim, episodes=2, seed=10_000)
    assert r["sim"] == sim and [e["seed"] for e in r["per_episode"]] == [10_000, 10_001]
    assert r["successes"] == 2 and r["success_rate"] == 1.0
    assert 20 < r["mean_steps_to_success"] < 100
    assert r["mean_seconds_to_success"] == pytest.approx(r["mean_steps_to_success"] * 0.1)
    assert r["runtime"]["holds"] == 0


def test_evaluate_unknown_sim_is_named(pushing_policy: Path) -> None:
    with pytest.raises(ValueError, match="'isaac'"):
        evaluate_policy(pushing_policy, sim="isaac", episodes=1)


# ------------------------------------------------------------------------ PyBullet twin
def test_pybullet_twin_start_state_matches_mujoco() -> None:
    mj = PandaPickPlace()
    with PyBulletPandaPickPlace() as pb:
        for seed in (0, 7, 10_003):
            o_mj, o_pb = mj.reset(seed), pb.reset(seed)
            assert o_pb.shape == o_mj.shape == (OBS_LAYOUT.size,) and o_pb.dtype == o_mj.dtype
            f_mj, f_pb = mj.obs_fields(), pb.obs_fields()
            assert list(f_pb) == list(f_mj) and all(f_pb[k].shape == f_mj[k].shape for k in f_mj)
            np.testing.assert_allclose(pb.object_pos(), mj.object_pos(), atol=1e-6)
            np.testing.assert_allclose(pb.goal, mj.goal, atol=1e-12)
            assert np.linalg.norm(pb.tcp_pos() - mj.tcp_pos()) < 0.02
            np.testing.assert_allclose(pb.tcp_rot(), np.diag([1.0, -1.0, -1.0]), atol=0.02)
            assert pb.gripper_opening() == pytest.approx(mj.gripper_opening(), abs=1e-3)
            assert not pb.gripper_closed and pb.steps == 0 and not pb.success()
            # same scaled layout: the goal and object terms agree exactly, the TCP terms within the 2 cm
            sl = OBS_LAYOUT.slices()
            np.testing.assert_allclose(o_pb[sl["goal_pos"]], o_mj[sl["goal_pos"]], atol=1e-5)
            np.testing.assert_allclose(o_pb[sl["object_pos"]], o_mj[sl["object_pos"]], atol=1e-5)


def test_pybullet_twin_step_moves_tcp_in_tcp_frame() -> None:
    """+x in the TCP frame is +x in the world, +y is -y, +z is down (the hand points down)."""
    with PyBulletPandaPickPlace() as pb:
        for axis, world in ((0, [1, 0, 0]), (1, [0, -1, 0]), (2, [0, 0, -1])):
            pb.reset(1)
            start = pb.tcp_pos()
            a = np.zeros(3)
            a[axis] = 1.0
            for _ in range(3):
                _, info = pb.step(a, 1)
            moved = pb.tcp_pos() - start
            assert moved @ np.array(world, dtype=float) > 0.04, (axis, moved)
            assert np.linalg.norm(moved - (moved @ np.array(world)) * np.array(world)) < 0.01, (axis, moved)
        assert set(info) == {"success", "gripper_changed", "grasped", "timeout", "object_off_table"}


def test_pybullet_twin_tcp_velocity_matches_mujoco() -> None:
    """The policy observes the TCP velocity at the 10 Hz sample instants, so the twin's must be in
    MuJoCo's distribution: the same commanded steps from the same seed give the same velocities.

    Both engines run the same impedance law, but the URDF's placeholder inertias and the missing
    rotor armature make the arm's inertia differ, which shows most in the step right after a change
    of command (measured up to 0.34 relative error; 0.45 allowed), and least once a command has been
    held for three steps (measured <= 0.15; 0.25 allowed). IK + position control, which stops the
    TCP at the end of every period, was 0.58-0.75 off at every step, so both bounds catch it."""
    blocks = ([0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-0.5, -0.5, -1.0])  # TCP frame: down, +x, -y, mix
    mj = PandaPickPlace()
    with PyBulletPandaPickPlace() as pb:
        vel = {}
        for name, env in (("mj", mj), ("pb", pb)):
            env.reset(seed=1)
            vel[name] = []
            for a in blocks:
                for _ in range(3):
                    env.step(np.array(a), 1)
                    vel[name].append(env.obs_fields()["tcp_vel"])
    v_mj, v_pb = np.array(vel["mj"]), np.array(vel["pb"])
    rel = np.linalg.norm(v_pb - v_mj, axis=1) / np.linalg.norm(v_mj, axis=1)
    assert np.all(np.linalg.norm(v_mj, axis=1) > 0.1), v_mj  # every step moves: the relative error means something
    assert rel.max() < 0.45, (rel, v_pb, v_mj)
    assert rel[2::3].max() < 0.25, (rel, v_pb, v_mj)
    # three full "down" steps (the figure in the module docstring): about (0.02, 0, -0.15) m/s in MuJoCo
    assert v_pb[2][2] == pytest.approx(v_mj[2][2], rel=0.1) and v_pb[2][2] < -0.12


def test_pybullet_twin_noise_free_expert_succeeds() -> None:
    """The acceptance gate of the twin: the noise-free scripted expert places the cube in >= 8 of 10 scenes."""
    cfg = ExpertConfig(noise=0.0, fumble=0.0)
    wins = 0
    with PyBulletPandaPickPlace() as env:
        for ep in range(10):
            env.reset(ep)
            rng = np.random.default_rng(ep)
            for _ in range(env.config.episode_steps):
                action, gripper = expert_action(env, cfg, rng)
                _, info = env.step(action, gripper)
                if info["success"]:
                    break
            wins += info["success"]
            if info["success"]:
                assert not info["grasped"] and not env.gripper_closed  # it let go of the cube in the bin
    assert wins >= 8, f"the expert succeeded in {wins}/10 PyBullet episodes"


# ------------------------------------------------------------------------------ reset motion
@pytest.fixture(scope="module")
def sweeping_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Down to the table and sideways (world +x, -y, -z), inside the arm's reach."""
    return _export(tmp_path_factory.mktemp("hil"), [0.5, 1.0, 3.0, 1.0], "sweep.onnx")


def _drive_low(env, ctrl: EndEffectorController) -> None:
    """Where an episode may end: the hand low on the table, away from the start pose."""
    env.reset(seed=4)
    for _ in range(12):
        cmd = ctrl.step(env.obs_fields(), env.tcp_rot())
        env.apply_command(cmd.tcp_target, cmd.gripper, cmd.stiffness_scale)


@pytest.mark.parametrize("sim", ["mujoco", "pybullet"])
def test_reset_motion_lifts_moves_over_and_descends_within_bounds_with_constant_fake_policy(sweeping_policy: Path, sim: str) -> None:
    from robot_learning.runtime.manipulation import ResetMotion, ResetMotionConfig
    from robot_learning.tasks.hil_serl.evaluate import make_env

    cfg = PickPlaceConfig()
    env = make_env(sim, cfg)
    try:
        ctrl = EndEffectorController(sweeping_policy)
        _drive_low(env, ctrl)
        start = env.tcp_pos()
        assert start[2] < 0.05, f"the pushing policy should have brought the TCP low, it is at {start}"
        pose = np.array(cfg.start_tcp)
        reset = ResetMotion(ctrl, pose, ResetMotionConfig(clearance_z=0.15, stiffness_scale=2.0))
        ticks = 0
        while (cmd := reset.step(env.tcp_pos())) is not None:
            tcp = env.tcp_pos()
            assert cmd.stiffness_scale == 2.0 and not cmd.held
            assert np.all(cmd.tcp_target >= ctrl.lo - 1e-12) and np.all(cmd.tcp_target <= ctrl.hi + 1e-12)
            assert np.linalg.norm(cmd.tcp_target - tcp) <= ctrl.max_step_m + 1e-9
            if np.linalg.norm(tcp[:2] - pose[:2]) > 0.02 and tcp[2] < 0.14:
                # still low and away from the pose: the reset only goes up, it does not drag sideways
                assert np.linalg.norm(cmd.tcp_target[:2] - tcp[:2]) < 1e-9
            env.apply_command(cmd.tcp_target, cmd.gripper, cmd.stiffness_scale)
            ticks += 1
        assert np.linalg.norm(env.tcp_pos() - pose) <= 0.005 and ticks < 150
        assert ctrl.summary()["reset_ticks"] == ticks
    finally:
        getattr(env, "close", lambda: None)()


def test_reset_motion_is_stiffer_and_refuses_a_pose_outside_the_box(sweeping_policy: Path) -> None:
    from robot_learning.runtime.manipulation import ResetMotion, ResetMotionConfig

    cfg = PickPlaceConfig()
    deflection = {}
    for scale in (1.0, 2.0):  # a steady 10 N push on the hand: a stiffer impedance gives way half as much
        env = PandaPickPlace(cfg)
        env.reset(seed=0)
        hold = env.tcp_pos()
        env.data.xfrc_applied[env.model.body("hand").id, :3] = [10.0, 0.0, 0.0]
        for _ in range(15):
            env.apply_command(hold, None, scale)
        deflection[scale] = float(np.linalg.norm(env.tcp_pos() - hold))
    assert 0.004 < deflection[1.0] < 0.007 and deflection[2.0] == pytest.approx(deflection[1.0] / 2, rel=0.15), deflection
    ctrl = EndEffectorController(sweeping_policy)
    with pytest.raises(ValueError, match="outside the policy's workspace box"):
        ResetMotion(ctrl, [0.1, 0.0, 0.2])
    held = ResetMotion(ctrl, cfg.start_tcp).step(np.array([np.nan, 0.0, 0.2]))
    assert held.held and held.faults[0].severity == Severity.FALLBACK


def test_shipped_panda_policy_picks_and_places_through_the_runtime() -> None:
    """The shipped actor (assets/policies/panda_pick_place.onnx) on 6 of the held-out scenes its report
    was measured on, in MuJoCo through the runtime; its report states what it was measured at."""
    policy = Path(__file__).resolve().parents[1] / "assets" / "policies" / "panda_pick_place.onnx"
    report = json.loads(policy.with_suffix(".report.json").read_text())
    assert report["success_mujoco"] >= 0.9 and report["env_steps"] <= 20000 + 100  # the last episode runs to its end
    res = evaluate_policy(policy, "mujoco", episodes=6, seed=10_000)
    assert res["successes"] >= 5, res["per_episode"]
    assert res["runtime"]["input_faults"] == 0 and res["runtime"]["holds"] == 0, res["runtime"]
