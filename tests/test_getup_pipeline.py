"""`train getup`'s default pipeline (tasks/getup/pipeline.py): DAgger with the student driving under
Stage II's randomisation on three grounds, PPO refinement from the distilled policy, resumable stages,
the held-out table at the end. Tiny sizes: this checks the plumbing, not the figures."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from robot_learning.tasks.getup.module import load_config

TINY = """
dagger:
  iterations: 3
  num_envs: 3
  eval_episodes: 3
  first_epochs: 2
  epochs: 1
  episode_s: 2.0
refine:
  num_envs: 3
  iterations: 3
  critic_warmup_iterations: 1
  eval_every_iterations: 2
  select: last
ppo:
  steps_per_env: 8
pipeline:
  eval_episodes: 1
  gate_residual: false  # the supine teacher has no feedback in the first 2 s: with the gate PPO could not change it there
"""


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    f = tmp_path / "tiny.yaml"
    f.write_text(TINY)
    return f


def test_the_default_is_the_pipeline_under_randomisation_on_three_grounds() -> None:
    cfg = load_config(None)
    assert cfg.method == "pipeline" and cfg.pipeline.stages == ("dagger", "refine")
    assert cfg.pipeline.dr and cfg.pipeline.terrain == ("flat", "slope", "rough")
    assert cfg.pipeline.beta[0] == 1.0 and len(cfg.pipeline.beta) <= 2  # the student drives from the third iteration at the latest


def test_dagger_episodes_are_randomised(tiny: Path) -> None:
    """Every episode draws its own friction and pelvis mass per robot, pushes happen, the robots lie on
    flat, sloped and rough ground, and the slope's fallen poses face every heading."""
    from robot_learning.tasks.getup.dagger import TeacherForEnv, _fallen_starts_only, collect
    from robot_learning.tasks.getup.pipeline import stage_config
    from robot_learning.tasks.getup.poses import FallenPoseConfig, fallen_pose_dataset
    from robot_learning.tasks.getup.teacher import heading_on_slope
    from robot_learning.tasks.getup.train import make_env

    cfg = stage_config(load_config(tiny), "supine")
    cfg.env.episode_s = 1.0
    cfg.env.dr.push_interval_s = 0.5  # a push within the short episode
    env, _ = make_env(cfg, num_envs=3)
    _fallen_starts_only(env)
    assert env.ground == ["flat", "slope", "rough"] and env.cfg.dr.enabled
    pushes: list[int] = []
    push = env.batch.push
    env.batch.push = lambda ids, v: (pushes.append(len(ids)), push(ids, v))[1]  # type: ignore[method-assign]
    teacher = TeacherForEnv(env)
    pelvis = env.batch.models[0].body("pelvis").id
    draws = []
    for _ in range(2):
        collect(env, teacher, None, 1.0, np.random.default_rng(0))
        draws.append([(m.geom("floor").friction[0], m.body_mass[pelvis]) for m in env.batch.models])
    draws_ = np.array(draws)  # (episodes, envs, 2)
    for k in range(2):
        assert len(set(np.round(draws_[0, :, k], 6))) == 3, "per robot"
        assert not np.allclose(draws_[0, :, k], draws_[1, :, k]), "per episode"
    assert 1.0 <= draws_[..., 0].min() and draws_[..., 0].max() <= 3.0
    assert sum(pushes) > 0
    slope = fallen_pose_dataset(seed=0, config=FallenPoseConfig(terrain=env.batch.terrains[1]))
    for p in ("supine", "prone"):  # head uphill, downhill and across: every quadrant
        quadrant = np.floor((heading_on_slope(slope[p]["train"]) + 180.0) / 90.0).astype(int) % 4
        assert set(quadrant) == {0, 1, 2, 3}


def test_the_student_drives_after_the_first_iteration(tiny: Path) -> None:
    from robot_learning.tasks.getup.dagger import dagger
    from robot_learning.tasks.getup.pipeline import stage_config

    cfg = stage_config(load_config(tiny), "supine")
    _, rows, _ = dagger(cfg, log=lambda row: None, beta_schedule=(1.0,))
    assert [r["teacher_driven"] for r in rows] == [1.0, 0.0, 0.0]
    assert rows[1]["samples"] == 2 * rows[0]["samples"]  # the student's states are labelled too


def _state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["actor"]


def test_pipeline_resumes_refines_and_keeps_the_metadata_contract(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An interrupted run (here: refinement fails) rerun into the same directory without --force takes
    DAgger's stage back and runs only refinement; refinement changes the policy; the export keeps
    the contract (parity, PolicyRunner, the runtime's robot and action checks); the table is written."""
    from robot_learning.robots.registry import load_robot
    from robot_learning.runtime.control import action_kind, check_policy_robot
    from robot_learning.runtime.policy import PolicyRunner
    from robot_learning.tasks.getup import pipeline
    from robot_learning.tasks.getup.module import train_command

    run = tmp_path / "run"

    def interrupted(*a: object, **k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "refine", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_command(run, tiny, None, None, progress=False, posture="supine")
    assert json.loads((run / "run.json").read_text())["status"] == "failed"
    assert (run / "stages" / "supine-dagger.json").is_file() and not (run / "stages" / "supine-refine.json").exists()
    monkeypatch.undo()

    def no_dagger(*a: object, **k: object) -> None:
        raise AssertionError("the completed DAgger stage was trained again")

    monkeypatch.setattr(pipeline, "dagger", no_dagger)
    report = train_command(run, tiny, None, None, progress=False, posture="supine")
    rep = json.loads((run / "report.json").read_text())
    assert rep["status"] == "completed" and rep["resumed_stages"] == ["supine-dagger"] and report["run"] == str(run)
    assert rep["policies"]["supine"]["stages"]["dagger"]["resumed"] is True
    assert rep["policies"]["supine"]["stages"]["refine"]["iterations"] == 3
    assert any(p.name.startswith("failed-") for p in run.iterdir())

    # refinement changed the policy: parameters and actions
    distilled, refined = _state(run / "dagger_supine.pt"), _state(run / "refine_supine.pt")
    assert any(not torch.equal(distilled[k], refined[k]) for k in distilled if k.startswith("net."))
    cfg = pipeline.stage_config(load_config(tiny), "supine")
    nets = []
    for state in (distilled, refined):
        net = pipeline._student_network(cfg)
        net.load_state_dict(state)
        nets.append(net.eval())
    obs = torch.randn(64, nets[0].norm.mean.shape[0])
    with torch.no_grad():
        assert (nets[0](obs) - nets[1](obs)).abs().max() > 1e-5
    assert torch.equal(_state(run / "actor_supine.pt")["net.0.weight"], refined["net.0.weight"])

    # the metadata contract
    sup = rep["policies"]["supine"]
    assert sup["export"]["parity_max_abs_diff"] < 1e-4
    runner = PolicyRunner(run / "policy_supine.onnx")
    meta = runner.metadata
    check_policy_robot(meta, load_robot("g1"))
    assert action_kind(meta) == "joint" and meta.task == "getup"
    assert meta.training["method"] == "pipeline" and meta.training["postures"] == ["supine"] and meta.training["dr"] is True
    with torch.no_grad():
        expect = nets[1](obs[:1]).numpy()[0]
    np.testing.assert_allclose(runner(obs[0].numpy()), expect, atol=1e-4)
    # `export getup` rebuilds the same policy from the run's checkpoint
    from robot_learning.cli import main

    assert main(["export", "getup", "--checkpoint", str(run / "actor_supine.pt"), "--out", str(tmp_path / "exported")]) == 0
    again = PolicyRunner(tmp_path / "exported" / "policy_supine.onnx")
    np.testing.assert_allclose(again(obs[0].numpy()), runner(obs[0].numpy()), atol=1e-6)
    # the held-out table through the runtime: nominal and all of Stage II's randomisation
    table = rep["held_out"]["supine"]
    assert table["nominal"]["episodes"] == 1 and table["all_dr"]["episodes"] == 1


def test_an_interrupted_dagger_stage_resumes_from_its_labelled_states(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DAgger interrupted in its second iteration, rerun into the same directory: the first iteration's
    labels and student are taken back (not labelled again), and DAgger goes on from the second."""
    from robot_learning.tasks.getup import dagger as dagger_mod
    from robot_learning.tasks.getup.module import train_command

    run = tmp_path / "run"
    real_eval, real_collect = dagger_mod.evaluate_actor, dagger_mod.collect
    calls = {"eval": 0, "collect": 0}

    def eval_then_interrupt(*a: object, **k: object) -> dict:
        calls["eval"] += 1
        if calls["eval"] == 2:
            raise KeyboardInterrupt
        return real_eval(*a, **k)

    monkeypatch.setattr(dagger_mod, "evaluate_actor", eval_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        train_command(run, tiny, None, None, progress=False, posture="supine", stages="dagger")
    labels = run / "dagger_supine_labels"
    first = torch.load(labels / "state.pt", weights_only=False)
    assert [r["iteration"] for r in first["rows"]] == [1] and (labels / "iter_001.npz").is_file()
    with np.load(labels / "iter_001.npz") as d:
        first_x = d["X"].copy()
    monkeypatch.setattr(dagger_mod, "evaluate_actor", real_eval)

    def counting_collect(*a: object, **k: object):
        calls["collect"] += 1
        return real_collect(*a, **k)

    monkeypatch.setattr(dagger_mod, "collect", counting_collect)
    train_command(run, tiny, None, None, progress=False, posture="supine", stages="dagger")
    rep = json.loads((run / "report.json").read_text())
    rows = rep["policies"]["supine"]["stages"]["dagger"]["iterations"]
    assert calls["collect"] == 2  # iterations 2 and 3 only
    assert [r["iteration"] for r in rows] == [1, 2, 3] and rows[0] == first["rows"][0]
    assert rows[-1]["samples"] == 3 * len(first_x)  # the first iteration's states are in the fit
    with np.load(run / "dagger_supine_labels" / "iter_001.npz") as d:
        np.testing.assert_array_equal(d["X"], first_x)


@pytest.mark.parametrize("args", [["--stages", "refine"], ["--set", "pipeline.stages=[refine, dagger]"], ["--set", "pipeline.beta=[1.5]"],
                                  ["--set", "refine.energy=0.1"], ["--set", "refine.select=first"], ["--set", "method=bc"]])
def test_bad_pipeline_config_exits_2(args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from robot_learning.cli import main

    assert main(["train", "getup", "--out", str(tmp_path / "run"), *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_an_unavailable_mpc_teacher_is_refused_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from robot_learning.cli import main
    from robot_learning.tasks.getup import dagger

    monkeypatch.setattr(dagger, "MPC_MODULE", "robot_learning.tasks.getup.no_such_mpc")
    assert main(["train", "getup", "--teacher", "mpc", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "mpc is not available" in err and "no_such_mpc" in err and not (tmp_path / "run").exists()


def test_the_mpc_teacher_labels_dagger_states_through_the_labeller_protocol(tiny: Path) -> None:
    """dagger.teacher: mpc wires mpc.py's GetupMPC in as a Labeller: each robot's randomised episode
    model goes to the planner at its reset, and every visited state gets a finite label."""
    from robot_learning.tasks.getup.dagger import Labeller, MpcLabeller, _fallen_starts_only, collect, mpc_planner_class
    from robot_learning.tasks.getup.mpc import MPCConfig
    from robot_learning.tasks.getup.pipeline import stage_config
    from robot_learning.tasks.getup.train import make_env

    cfg = stage_config(load_config(tiny, teacher="mpc"), "supine")
    cfg.env.episode_s = 0.3
    env, _ = make_env(cfg, num_envs=2)
    _fallen_starts_only(env)
    labeller = MpcLabeller(env, mpc_planner_class(), cfg=MPCConfig(samples=4, horizon_s=0.2, replan_s=0.1, nominal_poses=1, nominal_s=12.0))
    assert isinstance(labeller, Labeller)
    replans: list[int] = []
    replan = labeller.mpc.replan
    labeller.mpc.replan = lambda ids, *a: (replans.append(len(ids)), replan(ids, *a))[1]  # type: ignore[method-assign]
    X, Y, _ = collect(env, labeller, None, 1.0, np.random.default_rng(0))
    assert Y.shape == (env.max_steps * 2, 23) and np.isfinite(Y).all()
    assert labeller.mpc.models[1] is env.batch.models[1] and len(replans) >= 2  # from the states it is shown
