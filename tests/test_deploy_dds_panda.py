"""The shipped Panda pick-and-place policy deployed through the policy node over real DDS.

Two processes on loopback: the simulated arm in its scene (``robot_learning.tasks.hil_serl.bridge``:
MuJoCo behind the end-effector topics) and the policy node in this process (Cyclone DDS backend,
the controller chosen from the policy's ``ee_delta`` action). The task counts only when the bridge's
own state says the cube is in the bin (its ``sim/ground_truth`` success flag and the summary it
prints at exit), not when commands were published; a policy that holds still must fail that check.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import numpy as np
import torch

from robot_learning.export.onnx_export import export_policy
from robot_learning.runtime.manipulation import EndEffectorController
from robot_learning.runtime.node import PolicyNode
from robot_learning.runtime.ros2.backend import DdsBackend
from robot_learning.runtime.profiles import load_node_config
from robot_learning.runtime.ros2 import dds, msgs
from robot_learning.types import RobotMode
from robot_learning.tasks.hil_serl.scene import PickPlaceConfig, policy_metadata

dds.ensure_dds_config()
ROOT = Path(__file__).resolve().parents[1]
PICK_PLACE = ROOT / "assets" / "policies" / "panda_pick_place.onnx"
SEED = 10_000  # evaluation episode 0's scene (the shipped policy picks and places it in about 5 s in-process)


class Hold(torch.nn.Module):
    """Arm action 0, gripper 'stay': holds the TCP where it is."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs[:, :1] * 0.0 + torch.tensor([0.0, 0.0, 0.0, 1.0])


def _deploy(policy: Path, seconds: float = 14.0) -> tuple[PolicyNode, dict, list[list[float]]]:
    domain = 1 + (os.getpid() * 11 + int(time.monotonic() * 1000)) % 200
    bridge = subprocess.Popen([sys.executable, "-m", "robot_learning.tasks.hil_serl.bridge", "--seed", str(SEED), "--seconds", str(seconds + 8),
                               "--domain-id", str(domain)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    truth: list[list[float]] = []
    lock = threading.Lock()
    observer = dds.DdsNode("observer", domain_id=domain)

    def on_truth(m: msgs.Float64MultiArray) -> None:
        with lock:
            truth.append(list(m.data))

    observer.create_subscription(msgs.Float64MultiArray, "sim/ground_truth", on_truth, dds.SENSOR_QOS)
    node = PolicyNode(load_node_config("panda", overrides={"policy": str(policy)}), DdsBackend("policy_node", domain_id=domain), log=lambda s: None)
    try:
        assert isinstance(node.controller, EndEffectorController), type(node.controller)
        node.start_thread()
        t0 = time.monotonic()
        while node.state.received["tcp_pose"] < 3:
            assert time.monotonic() - t0 < 30, "no end-effector state from the bridge"
            time.sleep(0.05)
        ok, text = node.request("start", timeout_s=2.0)
        assert ok, text
        time.sleep(seconds)
    finally:
        node.shutdown()
        observer.close()
        try:
            out, _ = bridge.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            bridge.kill()
            out, _ = bridge.communicate()
    summary = json.loads(out.strip().splitlines()[-1])
    with lock:
        return node, summary, list(truth)


@pytest.mark.slow  # 23 s; CI keeps the Panda over DDS in test_deploy_package and the policy's success through the adapter in test_panda_franky
def test_shipped_pick_and_place_policy_does_the_task_through_the_node_over_dds() -> None:
    node, summary, truth = _deploy(PICK_PLACE)
    c = node.controller
    assert c.mode == RobotMode.POLICY, c.fault_log[-5:]
    assert c.summary()["policy_ticks"] > 50  # the policy acted, through the pipeline (bounded targets)
    assert summary["commands_received"] > 50
    # the bridge's state: the cube ended in the bin, and its ground truth on the wire said so
    assert summary["success"], summary
    start = np.array(truth[0][1:4])
    flags = [t[4] for t in truth]
    assert max(flags) == 1.0 and flags[-1] == 1.0
    assert np.linalg.norm(np.array(truth[-1][1:4])[:2] - start[:2]) > 0.2  # the cube was carried (bin >= 0.27 m from it)


@pytest.mark.slow  # the negative control of the test above (17 s): in `make test-all`, not CI
def test_a_hold_policy_through_the_same_path_does_not_do_the_task(tmp_path: Path) -> None:
    hold = tmp_path / "panda_ee_hold.onnx"
    export_policy(Hold(), policy_metadata(PickPlaceConfig()), hold, samples=8)
    node, summary, truth = _deploy(hold, seconds=8.0)
    assert node.controller.mode == RobotMode.POLICY and summary["commands_received"] > 30
    assert not summary["success"] and max(t[4] for t in truth) == 0.0
    assert np.linalg.norm(np.array(truth[-1][1:4]) - np.array(truth[0][1:4])) < 0.01  # the cube never moved
