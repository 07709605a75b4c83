"""The task contract: every registered task declares its commands and config, every shipped policy
belongs to a task that evaluates it, and `export` rebuilds each task's network from its checkpoint."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from robot_learning.cli import main
from robot_learning.core.config import to_dict
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.tasks.registry import POLICY_DIR, TaskSpecError, load_tasks, parse_overrides, task_of_policy

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_FIXTURES = {"g1_hold.onnx", "panda_hold.onnx"}  # the runtime's test policies (task 'hold'): no skill trains them


def test_every_task_declares_train_eval_export_and_a_loadable_config() -> None:
    tasks = load_tasks()
    assert len(tasks) >= 4
    for spec in tasks.values():
        for kind in ("train", "eval", "export"):
            cmd = spec.command(kind)
            assert cmd is not None, (spec.name, kind)
            assert callable(cmd.resolve()), (spec.name, kind)
        cls = spec.config_class()
        assert cls is not None
        if spec.default_config_path is not None:  # the shipped default config loads through the strict loader
            from robot_learning.core.config import load_yaml

            assert isinstance(load_yaml(cls, spec.default_config_path), cls)
        for p in spec.shipped_policies:
            assert (POLICY_DIR / p).is_file(), p


def test_every_shipped_policy_belongs_to_the_task_that_evaluates_it() -> None:
    tasks = load_tasks()
    for path in sorted(POLICY_DIR.glob("*.onnx")):
        if path.name in RUNTIME_FIXTURES:
            continue
        keys = set(ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map)
        if "delta_action" in keys:  # ASAP's delta-action models: evaluated by the task that declares their metadata
            assert any("delta_action" in t.extra.get("model_metadata", ()) for t in tasks.values()), path
            continue
        spec = task_of_policy(PolicyRunner(path).metadata.task, tasks)
        assert spec is not None, path


def test_set_parses_yaml_values_into_nested_overrides() -> None:
    assert parse_overrides(["ppo.learning_rate=3e-4", "ppo.hidden=[64, 64]", "seed=3", "env.dr.enabled=true"]) == {
        "ppo": {"learning_rate": 3e-4, "hidden": [64, 64]}, "seed": 3, "env": {"dr": {"enabled": True}}}
    for bad in ("noequals", "=3", "a..b=1", "a=[1,"):
        with pytest.raises(ValueError, match="--set"):
            parse_overrides([bad])


def test_a_malformed_task_folder_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    with pytest.raises(TaskSpecError, match="robot_learning/tasks/no_such_task/task.py does not exist"):
        load_tasks(("no_such_task",))
    monkeypatch.setitem(sys.modules, "robot_learning.tasks.empty_task", types.ModuleType("robot_learning.tasks.empty_task"))
    monkeypatch.setitem(sys.modules, "robot_learning.tasks.empty_task.task", types.ModuleType("robot_learning.tasks.empty_task.task"))
    with pytest.raises(TaskSpecError, match="must define TASK"):
        load_tasks(("empty_task",))


def test_export_asap_rebuilds_the_tracking_policy_from_its_checkpoint(tmp_path: Path) -> None:
    from robot_learning.algos.ppo import ActorCritic, PPOConfig
    from robot_learning.tasks.asap.tracking import (N_JOINTS, TrackingConfig, TrackingResult, _torch_modules, export_tracking, load_routine,
                                                    observation_layout)

    cfg = TrackingConfig(motions=("warm_up", "squat"))
    torch.manual_seed(0)
    routine = load_routine(cfg.motions)
    Table, _ = _torch_modules()  # the actor's input: the runtime observation with the reference's features (TrackingEnv.policy_input)
    n = Table(routine.joint_pos, routine.fps, cfg.action_scale).features(torch.zeros(1, observation_layout().size)).shape[1]
    model = ActorCritic(n, n, N_JOINTS, PPOConfig(actor_hidden=cfg.hidden, critic_hidden=cfg.hidden))
    with torch.no_grad():
        model.actor.net[-1].weight.normal_(0.0, 0.1)
    torch.save({"model": model, "motions": list(cfg.motions)}, tmp_path / "model.pt")
    direct = tmp_path / "direct.onnx"
    export_tracking(TrackingResult(model, routine, cfg), direct)
    assert main(["export", "asap", "--checkpoint", str(tmp_path / "model.pt"), "--out", str(tmp_path / "out")]) == 0
    _same_outputs(direct, tmp_path / "out" / "policy.onnx")
    assert main(["export", "asap", "--checkpoint", str(tmp_path / "model.pt"), "--out", str(tmp_path / "out")]) == 2  # no overwrite


def test_export_getup_rebuilds_the_residual_dagger_policy_from_its_checkpoint(tmp_path: Path) -> None:
    from robot_learning.tasks.getup.config import GetupTrainConfig
    from robot_learning.tasks.getup.dagger import TeacherForEnv, make_actor
    from robot_learning.tasks.getup.module import export_actor
    from robot_learning.tasks.getup.train import make_env

    cfg = GetupTrainConfig()
    cfg.env.posture = "supine"
    env, _ = make_env(copy.deepcopy(cfg), num_envs=1)
    actor = make_actor(env, TeacherForEnv(env, prone_strategy=cfg.dagger.prone_strategy), cfg, cfg.dagger.residual)
    with torch.no_grad():  # a residual that is not zero, so the weights matter
        actor.net[-1].weight.normal_(0.0, 0.05)
    torch.save({"actor": actor.state_dict(), "config": to_dict(cfg)}, tmp_path / "actor_supine.pt")
    export_actor(actor.eval(), cfg, tmp_path / "direct.onnx", {})
    assert main(["export", "getup", "--checkpoint", str(tmp_path / "actor_supine.pt"), "--out", str(tmp_path / "out")]) == 0
    _same_outputs(tmp_path / "direct.onnx", tmp_path / "out" / "policy_supine.onnx")
    bad = {"actor": {k: v[..., :1] if v.dim() else v for k, v in actor.state_dict().items()}, "config": to_dict(cfg)}
    torch.save(bad, tmp_path / "bad.pt")
    assert main(["export", "getup", "--checkpoint", str(tmp_path / "bad.pt"), "--out", str(tmp_path / "bad")]) == 2


def _same_outputs(a: Path, b: Path) -> None:
    sa, sb = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (a, b))
    x = np.random.default_rng(0).normal(size=(16, sa.get_inputs()[0].shape[1])).astype(np.float32)
    x[:, -1] = np.linspace(0.0, 1.0, 16)  # the time input, where there is one
    ya, yb = sa.run(None, {sa.get_inputs()[0].name: x})[0], sb.run(None, {sb.get_inputs()[0].name: x})[0]
    assert np.abs(ya).max() > 0 and np.allclose(ya, yb, atol=1e-6)
