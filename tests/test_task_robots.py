"""A task can bring its own robot for `deploy` (tasks/registry.py RobotEntry): the CLI resolves the
robot's description and deployment profile from the task registry and hands them to the policy node
(PolicyNode(robot=...)), so neither robots/registry.py nor runtime/profiles.py needs to know it.

The robot here is a one-joint slider defined in this file, named in no platform module."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from robot_learning import cli
from robot_learning.export.onnx_export import export_policy
from robot_learning.robots.joint_robot import JointRobotSpec
from robot_learning.robots.registry import RobotDescription
from robot_learning.runtime.joint_controller import JointControllerConfig
from robot_learning.runtime.node import PolicyNode
from robot_learning.runtime.node_config import NodeConfig
from robot_learning.runtime.ros2 import dds, msgs
from robot_learning.tasks.registry import Command, RobotEntry, TaskSpec, TaskSpecError, check_robots, load_tasks, task_robot
from robot_learning.types import ObsLayout, ObsTerm, PolicyMetadata, RobotMode

dds.ensure_dds_config()  # loopback only, before the first participant of this process
NAME = "test_slider"
SPEC = JointRobotSpec(name=NAME, joint_names=("slide",), default_positions=(0.0,), kp=(50.0,), kd=(5.0,), position_lower=(-1.0,),
                      position_upper=(1.0,), velocity_limit=(2.0,), effort_limit=(20.0,), floating_base=False)
PROFILE = NodeConfig(robot=NAME, use_imu=False, controller=JointControllerConfig(
    terminal_action="hold", soft_start_s=0.04, soft_start_target="measured", monitors=[{"type": "range"}]))


def describe_slider() -> RobotDescription:
    return RobotDescription(NAME, "joint", False, spec=SPEC, joint_names=SPEC.joint_names)


ENTRY = RobotEntry(NAME, description=f"{__name__}:describe_slider", profile=f"{__name__}:PROFILE")
SLIDER_TASK = TaskSpec(name="slider", summary="a test task", robot=NAME, policy_tasks=("slide",), robots=(ENTRY,),
                       commands=(Command("eval", "unused", f"{__name__}:describe_slider"),))


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A policy for the slider: action = -position (it pushes the slide back towards 0)."""
    net = torch.nn.Linear(2, 1)
    with torch.no_grad():
        net.weight[:] = torch.tensor([[-1.0, 0.0]])
        net.bias.zero_()
    meta = PolicyMetadata(robot=NAME, task="slide", joint_names=["slide"],
                          observation_layout=ObsLayout((ObsTerm("joint_position", 1), ObsTerm("joint_velocity", 1))),
                          action={"size": 1, "type": "joint_position_offset", "scale": 0.5, "clip": 1.0}, control_rate_hz=50.0,
                          safety_limits={}, default_joint_positions=[0.0], pd_gains={"kp": [50.0], "kd": [5.0]})
    path = tmp_path_factory.mktemp("slider") / "policy.onnx"
    export_policy(net, meta, path)
    return path


class MemoryBackend:
    """The node's ROS side in memory: publishers keep what they publish, subscriptions are callbacks."""

    def __init__(self) -> None:
        self.published: dict[str, list[Any]] = {}
        self.callbacks: dict[str, Callable[[Any], None]] = {}

    def create_publisher(self, msg_cls: type, topic: str, qos: str) -> Any:
        out = self.published.setdefault(topic, [])

        class Pub:
            def publish(self, msg: Any) -> None:
                out.append(msg)

        return Pub()

    def create_subscription(self, msg_cls: type, topic: str, callback: Callable[[Any], None], qos: str) -> Any:
        self.callbacks[topic] = callback

    def create_trigger_service(self, name: str, handler: Callable[[], tuple[bool, str]]) -> Any:
        return None

    def close(self) -> None:
        pass


def test_the_policy_node_runs_a_robot_given_as_a_description(policy: Path) -> None:
    backend = MemoryBackend()
    cfg = NodeConfig(**{**PROFILE.__dict__, "policy": str(policy)})
    with pytest.raises(Exception, match="unknown robot 'test_slider'"):  # by name, the platform does not know it
        PolicyNode(cfg, MemoryBackend(), log=lambda s: None)
    node = PolicyNode(cfg, backend, log=lambda s: None, robot=describe_slider())
    assert node.robot.name == NAME and node.controller.limits.names == ["slide"]
    backend.callbacks["joint_states"](msgs.JointState(header=msgs.header(time.time()), name=["slide"], position=[0.4], velocity=[0.0], effort=[]))
    ok, text = node.request("start")
    assert ok, text
    for _ in range(5):
        node.tick()
    assert node.controller.mode == RobotMode.POLICY, node.controller.fault_log[-3:]
    last = backend.published["joint_command"][-1]
    assert last.name == ["slide"] and last.position[0] == pytest.approx(-0.2, abs=0.05)  # default + 0.5 * (-0.4): the policy's target
    node.shutdown()


def test_task_robots_are_found_by_name_and_may_not_shadow_each_other_or_the_platform() -> None:
    tasks = {**load_tasks(), "slider": SLIDER_TASK}
    check_robots(tasks)
    assert task_robot(NAME, tasks) is ENTRY and task_robot("g1", tasks) is None
    assert ENTRY.describe().spec is SPEC and ENTRY.node_config() is PROFILE
    clash = TaskSpec(name="other", summary="", robot="g1", policy_tasks=(), commands=(), robots=(RobotEntry("g1", "a:b", "a:c"),))
    with pytest.raises(TaskSpecError, match="platform robot"):
        check_robots({**tasks, "other": clash})
    twin = TaskSpec(name="twin", summary="", robot=NAME, policy_tasks=(), commands=(), robots=(ENTRY,))
    with pytest.raises(TaskSpecError, match="both declare robot"):
        check_robots({**tasks, "twin": twin})


def test_deploy_resolves_a_task_robot_through_the_registry(policy: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    tasks = {**load_tasks(), "slider": SLIDER_TASK}
    monkeypatch.setattr(cli, "load_tasks", lambda *a, **k: tasks)
    domain = 1 + (os.getpid() * 11) % 200
    # no bridge: the node runs on DDS with nobody publishing, so it stays IDLE; what is checked is that
    # the robot, its profile and the policy were resolved from the task's RobotEntry
    assert cli.main(["deploy", "--policy", str(policy), "--robot", NAME, "--seconds", "0.5", "--domain-id", str(domain), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["robot"] == NAME and summary["final_mode"] == "IDLE" and summary["commands_published"] == 0
    assert cli.main(["deploy", "--policy", str(policy), "--robot", NAME, "--transport", "inprocess"]) == 2
    assert "deploys over DDS" in capsys.readouterr().err
    assert cli.main(["deploy", "--policy", str(policy), "--robot", "no_such_robot"]) == 2
    assert NAME in capsys.readouterr().err  # the unknown-robot message lists the tasks' robots too
    assert cli.main(["deploy", "--policy", str(policy), "--robot", NAME, "--sim", "bridge"]) == 2
    assert "has no simulated bridge" in capsys.readouterr().err
