"""Rehearsal policies: real exported ONNX networks that hold the robot's default pose.

They exist to rehearse a deployment before a trained policy exists (and to test the pipeline): an
MLP with the standard joint-robot observation layout whose last layer is zero, so its action is 0
and its targets are the default pose. Everything around it is the real thing: the metadata
contract, the soft start, the monitors, the topics. They are named ``*_hold.onnx`` so nobody takes
them for a trained skill.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from robot_learning.export.onnx_export import export_policy
from robot_learning.robots.registry import load_robot
from robot_learning.types import ObsLayout, ObsTerm, PolicyMetadata


def joint_observation_layout(n_joints: int, imu: bool, history: int = 1) -> ObsLayout:
    """The standard layout of the joint-robot runtime (see runtime/joint_controller.JointObservation)."""
    terms = []
    if imu:
        terms += [ObsTerm("base_angular_velocity", 3, 0.25), ObsTerm("projected_gravity", 3)]
    suffix = "_history" if history > 1 else ""
    terms += [ObsTerm("joint_position" + suffix, n_joints * history), ObsTerm("joint_velocity" + suffix, n_joints * history, 0.05),
              ObsTerm("last_action", n_joints)]
    return ObsLayout(tuple(terms))


def hold_metadata(robot: str, task: str = "hold", control_rate_hz: float = 50.0, action_scale: float = 0.5,
                  training: dict[str, Any] | None = None) -> PolicyMetadata:
    desc = load_robot(robot)
    if desc.kind != "joint":
        raise ValueError(f"rehearsal hold policies are for joint robots; '{robot}' is a {desc.kind}")
    s = desc.spec
    n = len(s.joint_names)
    return PolicyMetadata(
        robot=desc.name, task=task, joint_names=list(s.joint_names),
        observation_layout=joint_observation_layout(n, desc.has_imu),
        action={"size": n, "type": "joint_position_offset", "scale": action_scale, "clip": 10.0,
                "meaning": "PD target = default_joint_positions + scale * action"},
        control_rate_hz=control_rate_hz,
        safety_limits={"max_tilt_deg": 60.0},
        default_joint_positions=[float(v) for v in s.default_positions],
        pd_gains={"kp": [float(v) for v in s.kp], "kd": [float(v) for v in s.kd]},
        training=training or {"kind": "rehearsal", "note": "zero last layer: holds the default pose; not a trained skill"},
    )


def export_hold_policy(robot: str, path: str | Path, task: str = "hold", seed: int = 0) -> Path:
    """Export the rehearsal policy of ``robot`` to ``path`` (ONNX with the metadata contract)."""
    meta = hold_metadata(robot, task)
    torch.manual_seed(seed)
    n_obs, n_act = meta.observation_layout.size, meta.action_size
    net = torch.nn.Sequential(torch.nn.Linear(n_obs, 64), torch.nn.ELU(), torch.nn.Linear(64, n_act))
    with torch.no_grad():
        net[-1].weight.zero_()
        net[-1].bias.zero_()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    export_policy(net, meta, path)
    return path
