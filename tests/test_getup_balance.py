"""The getting-up teacher's balance feedback: the G1 falls from the feasible reference's standing
state on the reference's PD targets alone, and stands with the COM-over-feet feedback added."""
from __future__ import annotations

import numpy as np

from robot_learning.sim.mujoco_batch import G1Batch, G1BatchConfig
from robot_learning.tasks.getup.balance import ComBalance
from robot_learning.tasks.getup.trajopt import load_feasible_reference


def _final_heads(with_balance: bool, start_frame: int, seconds: float = 5.0) -> np.ndarray:
    ref = load_feasible_reference("supine")
    n = 4
    rng = np.random.default_rng(3)
    with G1Batch(G1BatchConfig(num_envs=n, threads=1)) as b:
        qpos = np.tile(ref.qpos[start_frame], (n, 1))
        qvel = np.tile(ref.qvel[start_frame], (n, 1))
        qpos[:, 7:] += rng.uniform(-0.03, 0.03, (n, 23))  # the same perturbations for both controllers
        qvel[:, 6:] += rng.uniform(-0.3, 0.3, (n, 23))
        b.reset(np.arange(n), qpos, qvel)
        balance = ComBalance(b.model)
        last = len(ref.targets) - 1
        for k in range(start_frame, start_frame + int(seconds / b.dt)):
            i = min(k, last)
            targets = np.tile(ref.targets[i], (n, 1))
            if with_balance:
                targets += balance.correction(b.qpos, b.qvel, b.sensor("left_foot_pos"), b.sensor("right_foot_pos"),
                                              np.tile(ref.joint_pos[i], (n, 1)))
            b.step(targets)
        return b.sensor("head_pos")[:, 2].copy()


def test_reference_targets_alone_do_not_hold_the_g1_standing() -> None:
    assert np.all(_final_heads(False, start_frame=450) < 1.1)


def test_com_feedback_holds_the_g1_standing_and_rises_from_the_squat() -> None:
    assert np.all(_final_heads(True, start_frame=450) >= 1.1)  # from standing
    assert np.mean(_final_heads(True, start_frame=300) >= 1.1) >= 0.75  # from the squat (6 s): rises and stands


def test_com_offset_is_expressed_in_the_feet_frame() -> None:
    # feet side by side along world x (left foot at +x): the feet's forward axis is world -y
    left, right = np.array([[0.1, 0.0, 0.0]]), np.array([[-0.1, 0.0, 0.0]])
    e, v = ComBalance.offset_in_feet_frame(np.array([[0.0, -0.05, 0.7]]), np.array([[0.2, 0.0, 0.0]]), left, right)
    np.testing.assert_allclose(e, [[0.05, 0.0]], atol=1e-12)
    np.testing.assert_allclose(v, [[0.0, 0.2]], atol=1e-12)
