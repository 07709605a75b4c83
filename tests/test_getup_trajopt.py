"""The feasible get-up references: the optimiser's output is what the simulator does with its
targets, the shipped references really get the G1 up in MuJoCo, bad files are refused clearly."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from robot_learning.sim.mujoco_batch import G1Batch, G1BatchConfig
from robot_learning.tasks.getup.reference import load_reference
from robot_learning.tasks.getup.trajopt import (FeasibleReference, TrajOptConfig, load_feasible_reference, optimise,
                                                symmetrise)


def _replay_segments(ref: FeasibleReference, every: int) -> float:
    """Largest joint-angle difference when each ``every``-step segment of the targets is replayed from
    the stored state at its start."""
    starts = np.arange(0, ref.num_frames - every, every)
    b = G1Batch(G1BatchConfig(num_envs=len(starts), seed=0))
    b.reset(np.arange(len(starts)), ref.qpos[starts], ref.qvel[starts])
    for s in range(every):
        b.step(ref.targets[starts + s])
    err = float(np.abs(b.joint_pos - ref.joint_pos[starts + every]).max())
    b.close()
    return err


def test_optimiser_output_is_what_the_targets_do(tmp_path: Path) -> None:
    full = load_reference("supine")
    short = replace(full, joint_pos=full.joint_pos[:31], root_pos=full.root_pos[:31], root_quat=full.root_quat[:31],
                    head_height=full.head_height[:31])
    cfg = TrajOptConfig(samples=8, perturbations=2, elites=2, iterations=2, window_knots=2, hold_s=0.0, seed=0)
    feas = optimise(short, cfg, log=None)
    assert feas.num_frames == 31 and feas.targets.shape == (31, 23) and feas.qvel.shape == (31, 29)
    # symmetric targets: the right side mirrors the left
    np.testing.assert_allclose(feas.targets, symmetrise(feas.targets), atol=1e-12)
    path = feas.save_npz(tmp_path / "f.npz")
    back = FeasibleReference.load_npz(path)
    assert _replay_segments(back, 10) < 5e-3


@pytest.mark.parametrize("posture", ["supine", "prone"])
def test_shipped_feasible_reference_gets_up(posture: str) -> None:
    ref = load_feasible_reference(posture)
    assert ref.fps == 50.0
    assert ref.head_height[0] < 0.3  # starts lying
    assert ref.head_height[-1] >= 1.1 and ref.up[-1] > 0.9  # ends standing upright
    assert _replay_segments(ref, 10) < 2e-2  # float32 storage; contacts amplify it a little


def test_bad_feasible_reference_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_feasible_reference(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, fps=50.0, qpos=np.zeros((3, 30)))
    with pytest.raises(ValueError, match="missing"):
        load_feasible_reference(bad)


def test_open_loop_check_counts_robots_on_track() -> None:
    from robot_learning.tasks.getup.trajopt import open_loop_check

    ref = load_feasible_reference("supine")
    # from the reference's own start its targets reproduce it: both robots on track
    assert open_loop_check(ref, np.concatenate([ref.qpos[:1], ref.qpos[:1]]), times_s=(1.0, 2.0)) == {"1s": 1.0, "2s": 1.0}
    # a robot that starts standing and gets the lying-down targets collapses: off track at 2 s
    res = open_loop_check(ref, np.concatenate([ref.qpos[:1], ref.qpos[-1:]]), times_s=(2.0,))
    assert res["2s"] == 0.5, res


@pytest.mark.parametrize("posture", ["supine", "prone"])
def test_shipped_mesh_references_reach_the_squat_on_the_mesh_model(posture: str) -> None:
    ref = load_feasible_reference(posture, "mesh")
    assert ref.meta is not None and ref.meta["config"]["variant"] == "mesh"
    assert ref.head_height[0] < 0.3 and 0.55 < ref.head_height[-1] < 0.9  # lying -> squatting (the rise is the teacher's)
    assert ref.qpos[-1, 2] > 0.14  # the pelvis is off the ground


def test_reference_model_is_validated() -> None:
    from robot_learning.tasks.getup.config import GetupEnvConfig
    from robot_learning.tasks.getup.module import load_config

    with pytest.raises(ValueError, match="model"):
        load_feasible_reference("supine", "capsules")
    with pytest.raises(ValueError, match="reference_model"):
        GetupEnvConfig(reference_model="capsules")
    cfg = load_config(None, model="mesh")
    assert cfg.env.variant == "mesh" and cfg.env.reference_model == "mesh"
