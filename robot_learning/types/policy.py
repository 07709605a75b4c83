"""The metadata contract that travels inside an exported ONNX policy (see DESIGN.md, "Contracts").

The metadata says everything the runtime needs (robot, actuator names and order, observation
layout, action meaning, default pose, PD gains, control rate, the safety limits the policy was
trained under). :meth:`PolicyMetadata.check_robot` refuses a policy whose metadata disagrees with the
robot and says which field differs. Reading the ONNX file itself is the runtime's
(:class:`robot_learning.runtime.policy.PolicyRunner`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from robot_learning.types.observation import ObsLayout

METADATA_VERSION = "1"
REQUIRED_KEYS = ("format_version", "robot", "task", "joint_names", "observation_layout", "action", "control_rate_hz", "safety_limits")


class PolicyLoadError(RuntimeError):
    """The policy file is missing, unreadable or not an ONNX model."""


class PolicyMetadataError(ValueError):
    """The policy's metadata is malformed or disagrees with the robot; the message names the field."""


@dataclass
class PolicyMetadata:
    """The metadata contract (see DESIGN.md, "Contracts")."""

    robot: str
    task: str
    joint_names: list[str]
    observation_layout: ObsLayout
    action: dict[str, Any]
    control_rate_hz: float
    safety_limits: dict[str, Any]
    default_joint_positions: list[float] | None = None
    pd_gains: dict[str, list[float]] | None = None
    robot_params: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    format_version: str = METADATA_VERSION

    @property
    def action_size(self) -> int:
        return int(self.action["size"])

    def to_props(self) -> dict[str, str]:
        """As ONNX ``metadata_props`` (string -> string; structured values as JSON)."""
        d = {
            "format_version": self.format_version,
            "robot": self.robot,
            "task": self.task,
            "joint_names": json.dumps(self.joint_names),
            "observation_layout": json.dumps(self.observation_layout.to_dict()),
            "action": json.dumps(self.action),
            "control_rate_hz": json.dumps(self.control_rate_hz),
            "safety_limits": json.dumps(self.safety_limits),
            "default_joint_positions": json.dumps(self.default_joint_positions),
            "pd_gains": json.dumps(self.pd_gains),
            "robot_params": json.dumps(self.robot_params),
            "training": json.dumps(self.training),
        }
        return d

    @classmethod
    def from_props(cls, props: Mapping[str, str], source: str = "policy") -> "PolicyMetadata":
        missing = [k for k in REQUIRED_KEYS if k not in props]
        if missing:
            raise PolicyMetadataError(f"{source}: metadata is missing field(s) {', '.join(missing)}; was it exported by robot_learning?")

        def js(key: str, default: Any = None) -> Any:
            if key not in props:
                return default
            try:
                return json.loads(props[key])
            except json.JSONDecodeError as e:
                raise PolicyMetadataError(f"{source}: metadata field '{key}' is not valid JSON: {e}") from None

        if props["format_version"] != METADATA_VERSION:
            raise PolicyMetadataError(f"{source}: metadata field 'format_version' is {props['format_version']!r}, this runtime reads {METADATA_VERSION!r}")
        joint_names = js("joint_names")
        if not isinstance(joint_names, list) or not all(isinstance(j, str) for j in joint_names):
            raise PolicyMetadataError(f"{source}: metadata field 'joint_names' must be a list of names, got {joint_names!r}")
        action = js("action")
        if not isinstance(action, dict) or "size" not in action:
            raise PolicyMetadataError(f"{source}: metadata field 'action' must be an object with a 'size', got {action!r}")
        try:
            layout = ObsLayout.from_dict(js("observation_layout"))
        except ValueError as e:
            raise PolicyMetadataError(f"{source}: metadata field 'observation_layout': {e}") from None
        rate = js("control_rate_hz")
        if not isinstance(rate, (int, float)) or rate <= 0:
            raise PolicyMetadataError(f"{source}: metadata field 'control_rate_hz' must be a positive number, got {rate!r}")
        return cls(
            robot=props["robot"], task=props["task"], joint_names=joint_names, observation_layout=layout, action=action,
            control_rate_hz=float(rate), safety_limits=js("safety_limits") or {},
            default_joint_positions=js("default_joint_positions"), pd_gains=js("pd_gains"),
            robot_params=js("robot_params", {}) or {}, training=js("training", {}) or {},
            format_version=props["format_version"],
        )

    def check_robot(self, robot: str, joint_names: Sequence[str], robot_params: Mapping[str, Any] | None = None,
                    rtol: float = 1e-6) -> None:
        """Raise :class:`PolicyMetadataError` naming the first field that disagrees with the robot."""
        if self.robot != robot:
            raise PolicyMetadataError(f"policy metadata field 'robot' is '{self.robot}' but the runtime was started for '{robot}'")
        if list(self.joint_names) != list(joint_names):
            missing = [j for j in self.joint_names if j not in joint_names]
            extra = [j for j in joint_names if j not in self.joint_names]
            detail = f"unknown to the robot: {missing}" if missing else (f"missing from the policy: {extra}" if extra else "same names, different order")
            raise PolicyMetadataError(f"policy metadata field 'joint_names' disagrees with robot '{robot}' ({detail})")
        for key, value in (robot_params or {}).items():
            mine = self.robot_params.get(key)
            if mine is None:
                continue
            if not np.allclose(np.asarray(mine, dtype=float), np.asarray(value, dtype=float), rtol=rtol, atol=0.0):
                raise PolicyMetadataError(f"policy metadata field 'robot_params.{key}' is {mine} but robot '{robot}' has {value}")
