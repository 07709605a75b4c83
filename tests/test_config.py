"""Typed configs: unknown keys, wrong types and malformed files are clear errors that name the key."""
from pathlib import Path

import pytest

from robot_learning.core.config import ConfigError, load_yaml, merge, save_yaml
from robot_learning.tasks.quadrotor.config import QuadrotorTrainConfig


def test_round_trip(tmp_path: Path) -> None:
    cfg = merge(QuadrotorTrainConfig(), {"seed": 3, "td3": {"actor_hidden": [32, 32]}, "env": {"reward": {"position": 7.5}}})
    save_yaml(cfg, tmp_path / "c.yaml")
    back = load_yaml(QuadrotorTrainConfig, tmp_path / "c.yaml")
    assert back == cfg
    assert back.td3.actor_hidden == (32, 32)


def test_unknown_key_is_named(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("td3:\n  batchsize: 12\n")
    with pytest.raises(ConfigError, match=r"td3: unknown key\(s\) 'batchsize'.*batch_size"):
        load_yaml(QuadrotorTrainConfig, p)


def test_wrong_type_is_named(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("td3:\n  batch_size: big\n")
    with pytest.raises(ConfigError, match=r"td3.batch_size: expected int, got str \('big'\)"):
        load_yaml(QuadrotorTrainConfig, p)
    p.write_text("env:\n  reward:\n    position: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"env.reward.position: expected float"):
        load_yaml(QuadrotorTrainConfig, p)


def test_malformed_and_missing_files(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("seed: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(QuadrotorTrainConfig, p)
    p.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_yaml(QuadrotorTrainConfig, p)
    with pytest.raises(ConfigError, match="config file not found"):
        load_yaml(QuadrotorTrainConfig, tmp_path / "nope.yaml")


def test_shipped_config_loads() -> None:
    root = Path(__file__).resolve().parents[1]
    cfg = load_yaml(QuadrotorTrainConfig, root / "sim" / "configs" / "quadrotor.yaml")
    assert cfg.env.action_history == 32
