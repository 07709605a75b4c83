"""Rolling over from prone to supine (rollover.py) and the teacher's roll strategy."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robot_learning.sim.mujoco_batch import G1Batch, G1BatchConfig
from robot_learning.tasks.getup.rollover import RollOverConfig, optimise_rollover
from robot_learning.tasks.getup.rollover_table import RollOver, load_rollover, supine_cosine
from robot_learning.tasks.getup.trajopt import load_feasible_reference


def test_supine_cosine_is_one_on_the_back_and_minus_one_face_down() -> None:
    sup = load_feasible_reference("supine").qpos[0, 3:7]
    pro = load_feasible_reference("prone").qpos[0, 3:7]
    assert supine_cosine(sup) > 0.95 and supine_cosine(pro) < -0.95
    np.testing.assert_allclose(supine_cosine(np.array([[1.0, 0, 0, 0]])), [0.0], atol=1e-12)  # standing


def test_rollover_table_runs_from_the_prone_start_through_the_knots_to_the_supine_start(tmp_path: Path) -> None:
    roll = load_rollover()
    tg = roll.targets
    assert tg.shape == (len(roll.knots) * roll.knot_steps + roll.settle_steps + roll.hold_steps, 23)
    np.testing.assert_allclose(tg[0], roll.start)
    np.testing.assert_allclose(tg[roll.knot_steps], roll.knots[0])
    np.testing.assert_allclose(tg[-1], roll.end)
    np.testing.assert_allclose(roll.start, load_feasible_reference("prone").targets[0], atol=1e-6)
    np.testing.assert_allclose(roll.end, load_feasible_reference("supine").targets[0], atol=1e-6)
    again = RollOver.load_npz(roll.save_npz(tmp_path / "r.npz"))
    np.testing.assert_array_equal(again.targets, tg)


def test_a_missing_or_wrong_rollover_file_names_the_problem(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="rollover --optimise"):
        load_rollover(tmp_path / "none.npz")
    np.savez(tmp_path / "bad.npz", fps=50.0)
    with pytest.raises(ValueError, match="not a roll-over: missing"):
        load_rollover(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="prone_strategy"):
        from robot_learning.tasks.getup.teacher import TeacherConfig

        TeacherConfig(prone_strategy="cartwheel")


def test_shipped_rollover_turns_held_out_prone_poses_onto_the_back() -> None:
    """Open loop, 12 held-out prone poses: at least 10 end with an orientation cosine >= 0.9 (HumanUP's
    roll-over success; 97 of 100 measured), and the supine teacher then gets most of them up."""
    from robot_learning.tasks.getup.rollover import evaluate_rollover

    r = evaluate_rollover(load_rollover(), episodes=12)
    assert r["episodes"] == 12 and r["rolled_over"] * 12 >= 10, r
    assert r["stood"] * 12 >= 9, r


def test_search_improves_the_rollover_from_its_initial_guess() -> None:
    """Two CEM iterations over 2 training poses: the search's cost history is real and falls below the
    initial guess's (which does not roll the robot over)."""
    from robot_learning.tasks.getup.poses import fallen_pose_dataset

    starts = fallen_pose_dataset(seed=0)["prone"]["train"][:8]
    cfg = RollOverConfig(candidates=8, poses_per_candidate=2, iterations=3, threads=1)
    roll = optimise_rollover(cfg, starts=starts, log=None)
    hist = (roll.meta or {})["history"]
    assert len(hist) == 3 and hist[-1]["best_cost"] < hist[0]["mean_cost"]
    assert roll.knots.shape == (cfg.knots, 23)


def test_roll_strategy_teacher_is_the_rollover_then_the_supine_teacher_shifted() -> None:
    from robot_learning.tasks.getup.teacher import GetupTeacher, TeacherConfig

    cfg = TeacherConfig(prone_strategy="roll")
    roll = load_rollover()
    with G1Batch(G1BatchConfig(num_envs=1, threads=1)) as b:
        sup = GetupTeacher(b.model, load_feasible_reference("supine"), "supine", 1, b.dt)
        pro = GetupTeacher(b.model, load_feasible_reference("prone"), "prone", 1, b.dt, cfg)
    k = pro.offset
    assert k == len(roll.targets) > 0
    np.testing.assert_allclose(pro.table[:k], roll.targets)
    np.testing.assert_allclose(pro.table[k:], sup.table[: len(sup.table) - k])
    assert pro.hand_step == sup.hand_step + k
    mask = pro.feedback_mask()
    assert not mask[:k].any() and mask[pro.hand_step:].all()
    # the supine teacher has no tilt feedback: during the roll the targets are the table whatever the state
    q = np.tile(load_feasible_reference("prone").qpos[0], (1, 1))
    q[0, 3:7] = [0.9, 0.3, 0.3, 0.0]
    np.testing.assert_allclose(pro.targets(q, np.zeros((1, 29))), pro.table[[0]])


def test_train_cli_takes_the_prone_strategy() -> None:
    from robot_learning.core.config import ConfigError
    from robot_learning.tasks.getup.module import load_config, make_metadata

    cfg = load_config(None, posture="prone", prone="roll")
    assert cfg.dagger.prone_strategy == "roll"
    assert make_metadata(cfg, {}).training["prone_strategy"] == "roll"
    with pytest.raises(ConfigError, match="--prone"):
        load_config(None, prone="sideways")


def test_eval_runs_for_the_requested_seconds_and_rejects_a_bad_length() -> None:
    """``eval getup --seconds``: success is judged at the end of the episode (1 s is too short to stand)."""
    from robot_learning.core.config import ConfigError
    from robot_learning.tasks.getup.module import eval_command
    from robot_learning.tasks.getup.trajopt import FEASIBLE_DIR

    policy = FEASIBLE_DIR.parent / "policies" / "g1_getup_prone.onnx"
    res = eval_command(policy, episodes=1, seconds=1.0)
    assert res["seconds"] == 1.0 and res["prone"]["success_rate"] == 0.0
    assert "rolled_over" not in res["prone"]  # the roll (1.74 s) had not ended
    with pytest.raises(ConfigError, match="--seconds"):
        eval_command(policy, episodes=1, seconds=0.0)
