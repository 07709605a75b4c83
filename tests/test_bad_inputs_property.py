"""Property: a bad number anywhere a user gives one (a task's config file, a ``--set`` override, a
target world, a command's flag) either runs or ends the command with exit status 2 and one line
naming the field, never a traceback, and nothing is written.

Every numeric field of each task's config is walked. NaN and infinities are refused everywhere; a
negative or zero value is refused unless the field is listed below as one where it means something
(a reward weight's sign, a seed, a noise of 0, ...). Training takes minutes, so for ``train`` the
property is the refusal itself, checked before anything is written; target worlds are checked by
``asap record`` (a fast command), which runs when the value is accepted.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import tempfile
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robot_learning import cli
from robot_learning.core.config import ConfigError, from_dict
from robot_learning.tasks.asap.target_world import TargetWorldConfig
from robot_learning.tasks.getup.config import GetupTrainConfig
from robot_learning.tasks.registry import load_tasks

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "assets" / "policies"
# every registered task's config (a new task joins this test by registering)
TASKS: dict[str, type] = {name: spec.config_class() for name, spec in load_tasks().items() if spec.config}

_GETUP_REWARDS = [f"env.rewards1.{f.name}" for f in dataclasses.fields(GetupTrainConfig().env.rewards1)] + [
    f"env.rewards2.{f.name}" for f in dataclasses.fields(GetupTrainConfig().env.rewards2) if not f.name.endswith("_sigma")]
# fields where a negative value means something (reward weights and offsets)
NEGATIVE_OK = {
    "quadrotor": {"env.reward.constant", "env.reward.action_baseline", "env.reward.termination"},
    "getup": {*_GETUP_REWARDS, "refine.energy", "refine.dof_acc"},
    "hil_serl": {"sac.grasp_penalty", "sac.target_entropy"},
    "asap": set(),
    "cartpole": {"rewards.alive", "rewards.upright", "rewards.centred", "rewards.pole_velocity", "rewards.action_rate", "rewards.fall"},
    "world": set(),
}
# fields where 0 means something: seeds, thread counts (0: all cores), "off", noise-free, a probability
ZERO_OK = {
    "quadrotor": {"seed", "stop_at_success_rate", "env.action_history", "env.noise_position", "env.noise_orientation",
                  "env.noise_linear_velocity", "env.noise_angular_velocity", "env.reward.constant", "env.reward.scale",
                  "env.reward.position", "env.reward.orientation", "env.reward.linear_velocity", "env.reward.action",
                  "env.reward.action_baseline", "env.reward.termination", "env.curriculum.position_cap",
                  "env.curriculum.linear_velocity_cap", "env.curriculum.action_cap", "env.init.guidance", "env.init.max_position",
                  "env.init.max_angle_deg", "env.init.max_linear_velocity", "env.init.max_angular_velocity",
                  "env.init.disturbance_force_std", "env.init.disturbance_torque_std", "td3.gamma", "td3.weight_decay", "td3.polyak",
                  "td3.target_noise", "td3.target_noise_clip", "td3.exploration_noise", "td3.critic_warmup_steps", "td3.actor_warmup_steps",
                  "td3.lr_decay_env_steps", "td3.lr_final_fraction"},  # 0 steps: a constant learning rate (the paper's); 0 fraction: decay to 0
    "getup": {*_GETUP_REWARDS, "env.reference_init_fraction", "env.threads", "env.seed", "env.dr.com_offset_m", "env.dr.action_delay_s",
              "env.dr.push_max_speed", "env.dr.obs_noise", "env.balance.k_com", "env.balance.k_com_vel", "env.balance.k_ankle",
              "env.balance.from_pelvis_height_m", "dagger.beta", "dagger.beta_decay", "dagger.noise", "ppo.gamma", "ppo.lam",
              "ppo.entropy_coef", "max_env_steps", "bc_samples", "bc_noise", "bc_epochs", "critic_warmup_iterations",
              "imitation_until_head_m", "seed", "pipeline.beta", "pipeline.eval_episodes", "refine.iterations",
              "refine.critic_warmup_iterations", "refine.imitation_coef", "refine.head_height", "refine.upright", "refine.energy",
              "refine.dof_acc"},
    "hil_serl": {"env.object_yaw", "env.min_separation", "env.nullspace_stiffness", "env.start_noise_m", "env.seed", "sac.gamma",
                 "sac.prior_fraction", "sac.grasp_penalty", "sac.target_entropy", "sac.bc_weight", "sac.grasp_epsilon", "classifier.threshold",
                 "classifier.shift_pad", "classifier.seed", "scripted.start_prob", "scripted.end_prob", "scripted.expert.noise",
                 "scripted.expert.fumble", "scripted.expert.hover_m", "scripted.expert.carry_z", "scripted.expert.release_z", "demo_noise",
                 "positive_hold_steps", "placed_scenes", "placed_steps", "near_miss_episodes", "negative_random_steps", "learning_starts",
                 "min_utd", "seed"},
    "asap": {"init_noise_rad", "w_joint_pos", "w_joint_vel", "w_action_rate", "threads", "seed", "gamma", "critic_warmup_iterations",
             # the floating base's (0: the term off, no history, torch's own thread count, any touch is contact, no clearance)
             "entropy_coef", "history", "torch_threads", "w_upright", "w_pelvis_height", "w_feet_contact", "w_feet_slip", "w_torque",
             "w_termination", "contact_force_n", "reset_clearance_m"},
    "cartpole": {"seed", "target_success", "env.init_angle", "env.init_angular_velocity", "env.init_position", "env.init_velocity",
                 "rewards.alive", "rewards.upright", "rewards.centred", "rewards.pole_velocity", "rewards.action_rate", "rewards.fall",
                 "ppo.gamma", "ppo.lam", "ppo.value_coef", "ppo.entropy_coef"},
    "world": {"latency_s", "joint_damping", "joint_friction", "backlash_rad", "torque_speed_scale", "payload_kg", "ground_friction"},
}


def numeric_fields(cls: type, prefix: str = "") -> list[tuple[str, type]]:
    """(dotted path, int or float) of every scalar number field of a config dataclass, nested ones included."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp, path = hints[f.name], f"{prefix}{f.name}"
        if typing.get_origin(tp) in (typing.Union, types.UnionType):  # float | list[float] (a world's gain scales)
            tp = float if float in typing.get_args(tp) else tp
        if dataclasses.is_dataclass(tp):
            out += numeric_fields(tp, f"{path}.")
        elif tp in (int, float):
            out.append((path, tp))
    return out


FIELDS = [(task, path, tp) for task, cls in TASKS.items() for path, tp in numeric_fields(cls)]
WORLD_FIELDS = numeric_fields(TargetWorldConfig)
BAD_FLOATS = [math.nan, math.inf, -math.inf, -1.0, -1e-3, 0.0]
BAD_INTS = [-1, -1000, 0]


def nested(path: str, value: Any) -> dict[str, Any]:
    out: Any = value
    for key in reversed(path.split(".")):
        out = {key: out}
    return out


def yaml_scalar(value: float | int) -> str:
    if isinstance(value, float) and math.isnan(value):
        return ".nan"
    if isinstance(value, float) and math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    return repr(value)


def must_refuse(kind: str, path: str, value: float | int) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return True
    if value < 0:
        return path not in NEGATIVE_OK[kind]
    return value == 0 and path not in ZERO_OK[kind]


@contextlib.contextmanager
def in_fresh_dir() -> Any:
    old = os.getcwd()
    with tempfile.TemporaryDirectory() as d:
        os.chdir(d)
        try:
            yield Path(d)
        finally:
            os.chdir(old)


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as e:  # argparse's own errors
        code = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def assert_one_line_naming(code: int, err: str, name: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, f"exit {code}: {err}"
    assert len(lines) == 1 and name in lines[0], f"expected one line naming {name!r}, got: {err!r}"


def test_every_registered_task_says_which_of_its_fields_take_zero_or_negative_values() -> None:
    missing = sorted(t for t in TASKS if t not in NEGATIVE_OK or t not in ZERO_OK)
    assert not missing, f"add the fields where 0 or a negative value means something for: {missing}"


# ----------------------------------------------------------------------------- every field, directly (fast)
@pytest.mark.parametrize("task", [*TASKS, "world"])
def test_every_numeric_field_refuses_nan_and_infinity(task: str) -> None:
    cls = TargetWorldConfig if task == "world" else TASKS[task]
    fields = numeric_fields(cls)
    assert len(fields) > 10
    for path, tp in fields:
        for value in ([math.nan, math.inf, -math.inf] if tp is float else []) + [-1, 0]:
            refused = True
            try:
                from_dict(cls, nested(path, tp(value) if tp is float else value))
                refused = False
            except ConfigError as e:
                assert path in str(e), f"{path}={value}: the message does not name the field: {e}"
            assert refused == must_refuse(task, path, value), f"{task} {path}={value}: {'refused' if refused else 'accepted'}"


# ----------------------------------------------------------------------------- through the command line
@st.composite
def config_cases(draw: st.DrawFn) -> tuple[str, str, float | int, str]:
    task, path, tp = draw(st.sampled_from(FIELDS))
    value = draw(st.sampled_from(BAD_FLOATS if tp is float else BAD_INTS))
    return task, path, value, draw(st.sampled_from(["config", "set"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=config_cases())
def test_train_refuses_a_bad_config_value_before_writing_anything(case: tuple[str, str, float | int, str],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    task, path, value, how = case
    if not must_refuse(task, path, value):  # a value that means something: training would start (minutes)
        from_dict(TASKS[task], nested(path, value))
        return
    with in_fresh_dir() as d:
        if how == "config":
            (d / "bad.yaml").write_text(yaml.safe_dump(nested(path, value)))
            argv = ["train", task, "--config", "bad.yaml", "--out", "run"]
        else:
            argv = ["train", task, "--set", f"{path}={yaml_scalar(value)}", "--out", "run"]
        code, _, err = run_cli(argv, capsys)
        assert_one_line_naming(code, err, path)
        assert sorted(p.name for p in d.iterdir()) == (["bad.yaml"] if how == "config" else []), "something was written"


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(WORLD_FIELDS), data=st.data())
def test_asap_record_runs_or_refuses_a_bad_target_world(field: tuple[str, type], data: st.DataObject,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path, tp = field
    value = data.draw(st.sampled_from(BAD_FLOATS if tp is float else BAD_INTS))
    with in_fresh_dir() as d:
        (d / "world.yaml").write_text(f"name: probe\n{path}: {yaml_scalar(value)}\n")
        code, out, err = run_cli(["asap", "record", "--target-world", "world.yaml", "--out", "sessions", "--sessions", "1",
                                  "--seconds", "0.04"], capsys)
        if must_refuse("world", path, value):
            assert_one_line_naming(code, err, path)
            assert not (d / "sessions").exists()
        else:
            assert code == 0, err
            assert len(list((d / "sessions").glob("*.mcap"))) == 1


def _flag_cases() -> list[tuple[list[str], str]]:
    quad, getup, panda = (str(POLICIES / n) for n in ("crazyflie_hover.onnx", "g1_getup_supine.onnx", "panda_pick_place.onnx"))
    seconds = ["0", "-1", "nan", "inf"]
    cases: list[tuple[list[str], str]] = []
    for task in TASKS:
        cases += [(["train", task, "--out", "run", "--seconds", v], "--seconds") for v in seconds]
        cases += [(["train", task, "--out", "run", "--seed", "-1"], "--seed")]
    cases += [(["train", "getup", "--out", "run", "--num-envs", v], "num_envs") for v in ("0", "-4")]
    cases += [(["train", "hil_serl", "--out", "run", "--steps", v], "--steps") for v in ("0", "-5")]
    for task, policy in (("quadrotor", quad), ("getup", getup), ("hil_serl", panda)):
        cases += [(["eval", task, "--policy", policy, "--episodes", v], "--episodes") for v in ("0", "-1")]
    cases += [(["eval", "getup", "--policy", getup, "--seconds", v], "--seconds") for v in seconds]
    cases += [(["eval", "quadrotor", "--policy", quad, "--seed", "-3"], "--seed")]
    deploy = ["deploy", "--policy", quad, "--robot", "crazyflie", "--no-realtime"]
    cases += [([*deploy, "--seconds", v], "--seconds") for v in seconds]
    cases += [([*deploy, "--fault", "nan", "--fault-at", v, "--seconds", "1"], "--fault-at") for v in ("-1", "nan", "inf", "100")]
    record = ["asap", "record", "--target-world", "nominal", "--out", "sessions"]
    cases += [([*record, "--sessions", v], "--sessions") for v in ("0", "-2")]
    cases += [([*record, "--seconds", v], "--seconds") for v in seconds]
    cases += [(["asap", "fit-delta", "--logs", "logs", "--seconds", v], "--seconds") for v in seconds]
    cases += [(["asap", "fit-delta", "--logs", "logs", "--holdout", "-1"], "--holdout")]
    cases += [(["asap", "run", "--target-world", "nominal", "--out", "run", f"--{k}", v], f"--{k}")
              for k in ("pretrain-seconds", "finetune-seconds", "delta-seconds") for v in ("0", "nan")]
    cases += [(["asap", "run", "--target-world", "nominal", "--out", "run", "--num-envs", "0"], "--num-envs")]
    cases += [(["hil-serl", "learner", "--port", v, "--out", "learner"], "--port") for v in ("-1", "0", "65535", "70000")]
    cases += [(["hil-serl", "actor", "--learner", "localhost:99999", "--out", "actor"], "port")]
    return cases


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.sampled_from(_flag_cases()))
def test_a_bad_flag_value_is_refused_before_anything_is_written(case: tuple[list[str], str], capsys: pytest.CaptureFixture[str]) -> None:
    argv, name = case
    with in_fresh_dir() as d:
        (d / "logs").mkdir()  # fit-delta's --logs: present, so the flag is what is wrong
        code, out, err = run_cli(argv, capsys)
        assert_one_line_naming(code, err, name)
        assert sorted(p.name for p in d.iterdir()) == ["logs"], "something was written"
