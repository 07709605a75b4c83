"""Shared fixtures."""
from __future__ import annotations

import math
from pathlib import Path

import os

import pytest
import torch
from hypothesis import settings

from robot_learning.algos.td3 import mlp
from robot_learning.export.onnx_export import export_policy
from robot_learning.robots.crazyflie import DEFAULT_PARAMS
from robot_learning.tasks.quadrotor.config import QuadrotorTrainConfig
from robot_learning.tasks.quadrotor.module import make_metadata


# Property tests: the same examples on every CI run (derandomised, so a failure reproduces);
# HYPOTHESIS_PROFILE=explore searches new ones (and keeps any failure in .hypothesis/ to replay).
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def hover_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real exported Crazyflie policy that commands hover RPM whatever it sees (zero last-layer
    weights, bias atanh(hover)): the runtime's behaviour is then the safety pipeline's alone."""
    torch.manual_seed(0)
    actor = mlp([146, 64, 64, 4], "tanh", torch.nn.Tanh)
    with torch.no_grad():
        actor[-2].weight.zero_()
        actor[-2].bias.fill_(math.atanh(DEFAULT_PARAMS.hover_action))
    path = tmp_path_factory.mktemp("policies") / "hover.onnx"
    export_policy(actor, make_metadata(QuadrotorTrainConfig(), DEFAULT_PARAMS, {}), path)
    return path


@pytest.fixture
def dds_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """DDS on loopback only: the shipped Cyclone DDS loopback config, unless the user set CYCLONEDDS_URI
    (theirs wins). DDS test modules use it with ``pytestmark = pytest.mark.usefixtures("dds_loopback")``."""
    from robot_learning.runtime.ros2 import dds

    if not os.environ.get("CYCLONEDDS_URI", "").strip():
        monkeypatch.setenv("CYCLONEDDS_URI", dds.loopback_config_uri())
