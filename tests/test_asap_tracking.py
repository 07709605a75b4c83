"""ASAP's tracking side: motions, the tracking environment and its simulators, the exported policy
through the runtime in a target world, the metrics, and that PPO improves tracking."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from robot_learning.robots.g1 import G1_SPEC
from robot_learning.tasks.asap.delta import DEFAULT, load_recordings
from robot_learning.tasks.asap.motions import G1_29DOF_NAMES, MotionFormatError, load_motion_file
from robot_learning.tasks.asap.tracking import (
    SHIPPED_MOTIONS,
    SimSetup,
    TrackingConfig,
    TrackingEnv,
    TrackingResult,
    evaluate_in_sim,
    export_tracking,
    load_routine,
    train_tracking,
)

torch = pytest.importorskip("torch")


class ZeroResidual:
    """A tracking model whose residual is 0: the targets are the reference's next frame."""

    def __init__(self) -> None:
        from robot_learning.algos.ppo import ActorCritic, PPOConfig

        self.ac = ActorCritic(116, 116, 23, PPOConfig(actor_hidden=(16,), critic_hidden=(16,)))
        with torch.no_grad():
            self.ac.actor.net[-1].weight.zero_()
            self.ac.actor.net[-1].bias.zero_()


def segment_of(rec, steps: int):  # noqa: ANN001, ANN201 (a Recording's first ``steps`` steps)
    from robot_learning.tasks.asap.deploy import segment

    return segment(rec, 0, steps + 1, rec.name)


# ----------------------------------------------------------------------------- motions
def test_shipped_routine_is_contiguous_and_inside_the_limits() -> None:
    r = load_routine(SHIPPED_MOTIONS)
    spans = list(r.segments.values())
    assert spans[0][0] == 0 and spans[-1][1] == r.num_frames
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert np.all(r.joint_pos >= np.asarray(G1_SPEC.position_lower) - 1e-9)
    assert np.all(r.joint_pos <= np.asarray(G1_SPEC.position_upper) + 1e-9)
    np.testing.assert_allclose(r.joint_pos[0], DEFAULT, atol=1e-9)  # starts where the soft start ends
    # every motion moves: the routine is not a held pose
    for name, (a, b) in r.segments.items():
        assert np.abs(r.joint_pos[a:b] - DEFAULT).max() > 0.2, name


def test_retargeted_formats_load_in_spec_order(tmp_path) -> None:
    T = 31
    q29 = np.zeros((T, 29))
    knee = G1_29DOF_NAMES.index("left_knee_joint")
    q29[:, knee] = np.linspace(0.0, 1.5, T)
    q29[:, G1_29DOF_NAMES.index("left_wrist_roll_joint")] = 9.0  # dropped: the G1 here has fixed wrists
    # 30 fps CSV (root xyz, quaternion xyzw, 29 joints) -> 50 fps
    rows = np.concatenate([np.zeros((T, 3)), np.tile([0, 0, 0, 1.0], (T, 1)), q29], 1)
    np.savetxt(tmp_path / "m.csv", rows, delimiter=",")
    q = load_motion_file(tmp_path / "m.csv", fps=50.0)
    assert q.shape == (51, 23)
    j = G1_SPEC.joint_names.index("left_knee_joint")
    np.testing.assert_allclose(q[:, j], np.linspace(0.0, 1.5, 51), atol=1e-9)
    # npz with the ASAP/PHC key names and no joint names (29 columns)
    np.savez(tmp_path / "m.npz", dof=q29, fps=30.0, root_trans_offset=np.zeros((T, 3)))
    np.testing.assert_allclose(load_motion_file(tmp_path / "m.npz"), q, atol=1e-9)
    # npz with names in any order
    names = list(reversed(G1_SPEC.joint_names))
    np.savez(tmp_path / "n.npz", joint_pos=q[:, ::-1], joint_names=np.array(names), fps=50.0)
    np.testing.assert_allclose(load_motion_file(tmp_path / "n.npz"), q)


def test_bad_motion_files_name_the_problem(tmp_path) -> None:
    np.savetxt(tmp_path / "short.csv", np.zeros((5, 20)), delimiter=",")
    with pytest.raises(MotionFormatError, match="short.csv: 20 columns"):
        load_motion_file(tmp_path / "short.csv")
    np.savez(tmp_path / "nokey.npz", positions=np.zeros((5, 23)))
    with pytest.raises(MotionFormatError, match="needs 'fps'"):
        load_motion_file(tmp_path / "nokey.npz")
    names = list(G1_SPEC.joint_names)
    names[3] = "left_knee"
    np.savez(tmp_path / "names.npz", joint_pos=np.zeros((5, 23)), joint_names=np.array(names), fps=50.0)
    with pytest.raises(MotionFormatError, match="left_knee_joint"):
        load_motion_file(tmp_path / "names.npz")
    bad = np.zeros((5, 23))
    bad[2, 0] = np.nan
    np.savez(tmp_path / "nan.npz", joint_pos=bad, fps=50.0)
    with pytest.raises(MotionFormatError, match="NaN"):
        load_motion_file(tmp_path / "nan.npz")
    with pytest.raises(FileNotFoundError, match="shipped"):
        load_routine(["moonwalk"])


# ----------------------------------------------------------------------------- the environment
def test_latency_applies_the_previous_command_for_one_period() -> None:
    """SysID's and DR's latency: with 0.02 s (one period) the robot follows the command one step late."""
    from robot_learning.sim.mujoco_batch import G1Batch, G1BatchConfig

    cfg = TrackingConfig(motions=("kick",), num_envs=1, threads=1, init_noise_rad=0.0)
    routine = load_routine(cfg.motions)
    env = TrackingEnv(routine, cfg, SimSetup(latency_s=0.02))
    env.reset(np.array([0]), frames=np.array([40]), noise=False)
    rng = np.random.default_rng(0)
    residuals = [rng.normal(0, 0.5, (1, 23)) for _ in range(3)]
    targets = [routine.joint_pos[41 + k] + cfg.action_scale * residuals[k][0] for k in range(3)]
    for r in residuals:
        env.step(r)
    with G1Batch(G1BatchConfig(num_envs=1, threads=1, fix_base=True)) as b:
        b.reset(np.array([0]), routine.joint_pos[40][None], routine.joint_vel()[40][None])
        for t in [routine.joint_pos[40], targets[0], targets[1]]:  # the reset pose, then each command one step late
            b.step(t[None])
        np.testing.assert_allclose(env.batch.joint_pos, b.joint_pos, atol=1e-9)
    env.close()


def test_joint_friction_and_gain_setups_change_the_simulator() -> None:
    from robot_learning.sim.mujoco_batch import G1Batch, G1BatchConfig

    with G1Batch(G1BatchConfig(num_envs=2, threads=1, fix_base=True)) as b:
        b.set_joint_friction(np.array([1]), np.full(23, 2.0), np.full(23, 1.0))
        b.reset(np.arange(2), np.tile(DEFAULT, (2, 1)))
        b.step(np.tile(DEFAULT + 0.3, (2, 1)))
        moved = np.abs(b.joint_pos - DEFAULT).mean(1)
        assert moved[1] < 0.9 * moved[0]  # the damped, rubbing joints lag
        with pytest.raises(ValueError, match=">= 0"):
            b.set_joint_friction(np.array([0]), np.full(23, -1.0), np.zeros(23))
    # SysID's fitted friction reaches the fine-tuning simulator
    routine = load_routine(("arm_swing",))
    env = TrackingEnv(routine, TrackingConfig(num_envs=2, threads=1), SimSetup("sysid", kp_scale=0.8, joint_damping=0.3, joint_friction=0.5))
    try:
        jv = env.batch._jv
        for m in env.batch.models:
            np.testing.assert_allclose(m.dof_damping[jv] - env.batch.model.dof_damping[jv], 0.3)
            np.testing.assert_allclose(m.dof_frictionloss[jv] - env.batch.model.dof_frictionloss[jv], 0.5)
    finally:
        env.batch.close()


def test_exported_policy_acts_as_the_training_env_does(tmp_path) -> None:
    """The ONNX (reference inside) gives, from the runtime's observation, the PD targets the
    training environment applies: default + scale * action == ref(t + dt) + scale * residual."""
    import onnxruntime as ort

    cfg = TrackingConfig(motions=("kick", "arm_swing"), num_envs=4, threads=1)
    routine = load_routine(cfg.motions)
    model = ZeroResidual().ac
    torch.manual_seed(1)
    with torch.no_grad():
        model.actor.net[-1].weight.normal_(0, 0.05)  # a non-trivial residual
    result = TrackingResult(model, routine, cfg)
    export_tracking(result, tmp_path / "p.onnx")
    sess = ort.InferenceSession(str(tmp_path / "p.onnx"))
    env = TrackingEnv(routine, cfg)
    env.reset(np.arange(4), frames=np.array([0, 57, 150, 240]))
    for _ in range(3):
        obs = env.observe()
        with torch.no_grad():
            residual = model.actor(torch.from_numpy(env.policy_input(obs))).numpy().astype(np.float64)
        nxt = np.minimum(env.frame + 1, routine.num_frames - 1)
        expected = routine.joint_pos[nxt] + cfg.action_scale * residual
        action = sess.run(None, {"obs": obs})[0]
        np.testing.assert_allclose(DEFAULT + cfg.action_scale * action, expected, atol=1e-4)
        env.step(residual)
    env.close()


# ----------------------------------------------------------------------------- deployment and metrics
def test_tracking_metrics_known_answers() -> None:
    from robot_learning.tasks.asap.deploy import tracking_metrics

    ref = load_routine(["kick"]).joint_pos[:60]
    same = tracking_metrics(ref, ref)
    assert same["mpjpe_mm"] == 0.0 and same["joint_pos_error_rad"] == 0.0 and same["success"]
    off = ref.copy()
    off[:, G1_SPEC.joint_names.index("right_knee_joint")] += 0.23
    m = tracking_metrics(off, ref)
    assert m["joint_pos_error_rad"] == pytest.approx(0.01)
    jitter = ref.copy()
    jitter[::2, G1_SPEC.joint_names.index("right_knee_joint")] += 0.23  # the same size of offset, every other frame
    mj = tracking_metrics(jitter, ref)
    assert 0.0 < m["mpjpe_mm"] and m["vel_error_mm_per_frame"] < 0.1 * mj["vel_error_mm_per_frame"]
    assert mj["acc_error_mm_per_frame2"] > 10 * m["acc_error_mm_per_frame2"]
    far = tracking_metrics(ref - 0.5, ref)  # every joint 0.5 rad off
    assert far["mpjpe_mm"] > 100.0 and not far["success"]


def test_deployment_through_the_runtime_records_what_it_sent(tmp_path) -> None:
    """A zero-residual policy in the worn_actuators world: the runtime sends exactly the reference's
    next frame each tick (the training contract), the session is written as MCAP and reads back."""
    from robot_learning.tasks.asap.deploy import deploy
    from robot_learning.tasks.asap.target_world import load_target_world

    cfg = TrackingConfig(motions=("kick",))
    routine = load_routine(cfg.motions)
    export_tracking(TrackingResult(ZeroResidual().ac, routine, cfg), tmp_path / "zero.onnx")
    out = deploy(tmp_path / "zero.onnx", load_target_world("worn_actuators"), record_dir=tmp_path / "logs", session="kick0")
    assert out["completed"] and out["faults"] == {}
    rec = out["recording"]
    assert rec.num_steps == routine.num_frames - 1
    np.testing.assert_allclose(rec.targets, routine.joint_pos[1:], atol=1e-5)
    back = load_recordings(tmp_path / "logs")[0]  # as from a robot: each command with the state it was issued in
    assert back.num_steps == rec.num_steps - 1  # (the last command's outcome is not in the log)
    np.testing.assert_allclose(back.joint_pos, rec.joint_pos[:-1], atol=1e-9)
    np.testing.assert_allclose(back.targets, rec.targets[:-1], atol=1e-9)
    m = out["overall"]
    assert 0.0 < m["mpjpe_mm"] < 100.0 and m["success"]  # the worn world lags the reference, but stays near it
    from robot_learning.tasks.asap.deploy import split_by_motion

    parts = split_by_motion(back, routine.segments, ["kick"])  # the last motion, one frame short in the log
    assert len(parts) == 1 and parts[0].num_steps == back.num_steps
    assert split_by_motion(segment_of(back, 40), routine.segments, ["kick"]) == []  # a stopped session: not whole


def test_deploy_refuses_other_policies_and_worlds(tmp_path) -> None:
    from pathlib import Path

    from robot_learning.tasks.asap.delta import SessionError
    from robot_learning.tasks.asap.deploy import deploy
    from robot_learning.tasks.asap.target_world import load_target_world

    hold = Path(__file__).resolve().parents[1] / "assets" / "policies" / "g1_hold.onnx"
    with pytest.raises(SessionError, match="not an ASAP tracking policy"):
        deploy(hold, load_target_world("worn_actuators"))
    cfg = TrackingConfig(motions=("kick",))
    export_tracking(TrackingResult(ZeroResidual().ac, load_routine(cfg.motions), cfg), tmp_path / "zero.onnx")
    with pytest.raises(SessionError, match="PyBullet"):
        deploy(tmp_path / "zero.onnx", load_target_world("kp065_mujoco"))


def test_asap_run_refuses_a_checkpoint_of_another_routine(tmp_path, capsys) -> None:
    from robot_learning.cli import main

    ckpt = tmp_path / "pretrained.pt"
    torch.save({"model": ZeroResidual().ac, "motions": ["kick"]}, ckpt)
    assert main(["asap", "run", "--target-world", "worn_actuators", "--pretrained", str(ckpt), "--out", str(tmp_path / "r")]) == 2
    assert "was trained on the routine ['kick']" in capsys.readouterr().err
    assert main(["asap", "run", "--target-world", "no_such_world", "--out", str(tmp_path / "r2")]) == 2


# ----------------------------------------------------------------------------- learning
def test_short_training_run_updates_the_policy() -> None:
    cfg = TrackingConfig(motions=("kick",), num_envs=16, threads=1, max_env_steps=2 * 24 * 16, seed=0)
    result = train_tracking(cfg)
    assert [row["env_steps"] for row in result.curve] == [384, 768]
    first = result.model.actor.net[-1].weight.detach().clone()
    tuned = train_tracking(replace(cfg, critic_warmup_iterations=1), sim=SimSetup("asap-like", kp_scale=0.8), init=result.model)
    assert not torch.equal(tuned.model.actor.net[-1].weight, first)  # fine-tuning changed a copy...
    assert torch.equal(result.model.actor.net[-1].weight, first)  # ...not the pre-trained policy


@pytest.mark.slow
def test_ppo_improves_tracking_over_the_reference_feedforward() -> None:
    """Pre-training beats playing the reference open loop (zero residual), measured deterministically
    over the whole routine in the nominal simulator (measured: 0.065 -> 0.046 rad in 300 k steps)."""
    cfg = TrackingConfig(max_seconds=1800.0, max_env_steps=300_000, seed=0)
    routine = load_routine(cfg.motions)
    baseline = evaluate_in_sim(TrackingResult(ZeroResidual().ac, routine, cfg))
    result = train_tracking(cfg)
    assert evaluate_in_sim(result) < 0.8 * baseline


@pytest.mark.slow
def test_asap_run_goes_through_the_whole_loop(tmp_path) -> None:
    """`asap run` with small budgets: every stage runs and the table has every method (a few minutes)."""
    import json

    from robot_learning.cli import main

    out = tmp_path / "run"
    assert main(["asap", "run", "--target-world", "worn_actuators", "--out", str(out), "--pretrain-seconds", "60",
                 "--finetune-seconds", "10", "--delta-seconds", "10", "--num-envs", "64"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert set(rep["closed_loop"]) == {"pretrained", "sysid", "dr", "delta_dynamics", "asap"}
    assert set(rep["open_loop"]["raw"]) == {"0.25s", "0.5s", "1s"} and rep["open_loop_motions"] == ["side_step", "reach_twist"]
    for name in ("pretrained", "sysid", "dr", "delta_dynamics", "asap"):
        assert (out / f"{name}.onnx").is_file() and (out / "sessions" / f"worn_actuators_{name}.mcap").is_file()
    assert (out / "delta_action.onnx").is_file() and (out / "table.md").read_text().count("|") > 40
