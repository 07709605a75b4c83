"""Deployment profiles: the node configuration of each robot and skill (monitors, terminal action,
soft start, topics). ``deploy/config/*.yaml`` hold the same settings as editable files; a YAML file
given with ``--config`` (CLI) or the ``config`` parameter (ROS 2) overrides a profile key by key."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml

from robot_learning.core.config import ConfigError, from_dict, merge, read_yaml_mapping, to_dict
from robot_learning.runtime.control import EndEffectorNodeConfig
from robot_learning.runtime.joint_controller import JointControllerConfig
from robot_learning.runtime.node_config import NodeConfig

_G1_INPUT = [
    {"type": "range"},
    {"type": "stale", "timeouts": {"joint_states": 0.05, "imu": 0.05}},
    {"type": "joint_velocity", "factor": 1.5},
]
_JOINT_OUTPUT = [{"type": "torque_limits"}, {"type": "soft_joint_limits", "margin": 0.05, "k_position": 20.0}]

PROFILES: dict[str, NodeConfig] = {
    # Getting up: lying is the start state. Soft start holds the measured pose while the gains ramp up,
    # the tilt monitor arms only once the robot has stood up; damping on any fault.
    "g1_getup": NodeConfig(robot="g1", controller=JointControllerConfig(
        terminal_action="damping", damping_kd=5.0, soft_start_s=1.0, soft_start_target="measured",
        # the get-up uses the joints' full range (a deep squat with knees and ankles at their limits):
        # soft limits 0.01 rad inside the hard ones, not 0.05 (with 0.05 the teacher stood 16 % of
        # supine poses instead of 84 %)
        # The motor drivers saturate the torque at the effort limit (the simulators' actuators too);
        # the runtime's limiter, which estimates the PD torque at 50 Hz from the measured state and
        # pulls the target towards the measured position, acts on commands beyond 1.5x that limit:
        # at 1.0x it took away the torque the get-up needs while the joints move within the 20 ms
        # (a supine policy on 100 held-out poses: 75 % with 1.0x, 88 % with 1.5x, 90 % without it)
        monitors=[*_G1_INPUT, {"type": "tilt", "getup_aware": True, "max_tilt_deg": 60.0},
                  {"type": "torque_limits", "fraction": 1.5}, {"type": "soft_joint_limits", "margin": 0.01, "k_position": 20.0}])),
    # Motion tracking (ASAP): starts standing; a tilt beyond 45 degrees is a fall.
    "g1_motion_tracking": NodeConfig(robot="g1", controller=JointControllerConfig(
        terminal_action="damping", damping_kd=5.0, soft_start_s=2.0, soft_start_target="default",
        monitors=[*_G1_INPUT, {"type": "tilt", "getup_aware": False, "max_tilt_deg": 45.0}, *_JOINT_OUTPUT])),
    # The arm holds on any fault; the end effector stays inside a box in front of the robot.
    # An end-effector policy (the pick-and-place actor) holds the measured TCP for 1 s, then acts at 10 Hz.
    "panda": NodeConfig(robot="panda", use_imu=False, end_effector=EndEffectorNodeConfig(soft_start_s=1.0, stale_timeout_s=0.3),
                        controller=JointControllerConfig(
        terminal_action="hold", soft_start_s=3.0, soft_start_target="default",
        monitors=[{"type": "range"}, {"type": "stale", "timeouts": {"joint_states": 0.05}}, {"type": "joint_velocity", "factor": 1.2},
                  *_JOINT_OUTPUT, {"type": "workspace", "box_min": [0.2, -0.6, 0.02], "box_max": [0.85, 0.6, 0.9]}])),
    # The quadrotor's monitors are its own (runtime/safety.QuadrotorMonitors): attitude, body rate,
    # geofence, speed, training box; stop (motors off) on the ground, level-and-descend in the air.
    "crazyflie": NodeConfig(robot="crazyflie", use_imu=False, setpoint=[0.0, 0.0, 1.0], trajectory="hover"),
}


def profile_for(robot: str, task: str | None = None) -> str:
    """The profile name for a robot (and, for the G1, a task: getup or motion_tracking)."""
    r = {"unitree_g1": "g1", "franka_panda": "panda"}.get(robot, robot)
    if r == "g1":
        t = (task or "getup").replace("-", "_")
        name = "g1_getup" if "getup" in t else "g1_motion_tracking" if ("track" in t or "asap" in t) else None
        if name is None:
            raise ConfigError(f"no G1 deployment profile for task '{task}'; known: getup, motion_tracking")
        return name
    if r not in PROFILES:
        raise ConfigError(f"no deployment profile for robot '{robot}'; known: {sorted(PROFILES)}")
    return r


def load_node_config(profile: str, config: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> NodeConfig:
    """A profile, then the keys of a YAML file, then explicit overrides (policy, record_dir, ...)."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown deployment profile '{profile}'; known: {sorted(PROFILES)}")
    cfg = PROFILES[profile]
    if config:
        path = Path(config)
        data = read_yaml_mapping(path)
        robot = str(data.get("robot", cfg.robot))
        unused = _unused_section(robot)
        if unused in data:
            used = "quadrotor" if unused == "controller" else "controller"
            raise ConfigError(f"{path}: '{unused}' does not apply to robot '{robot}'; its safety settings are under '{used}'")
        try:
            # lists (monitors) replace the profile's, mappings merge key by key
            cfg = merge(cfg, data)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
    if overrides:
        cfg = merge(cfg, {k: v for k, v in overrides.items() if v is not None})
    return from_dict(NodeConfig, to_dict(cfg))


def _unused_section(robot: str) -> str:
    """A quadrotor is configured under ``quadrotor``, a joint robot under ``controller``: the other
    section would be silently ignored, so files must not carry it."""
    return _unused_sections(robot)[0]


def _unused_sections(robot: str) -> list[str]:
    """The sections that do not apply to ``robot`` (``end_effector`` applies to the arm only)."""
    from robot_learning.robots.registry import UnknownRobotError, load_robot

    try:
        desc = load_robot(robot)
    except UnknownRobotError as e:
        raise ConfigError(str(e)) from None
    out = ["controller" if desc.kind == "quadrotor" else "quadrotor"]
    if desc.name != "franka_panda":
        out.append("end_effector")
    return out


def dump_profile(profile: str) -> str:
    """The profile as YAML (what deploy/config/<profile>.yaml holds), without the section that does
    not apply to its robot."""
    cfg = PROFILES[profile]
    data = to_dict(cfg)
    for section in _unused_sections(cfg.robot):
        data.pop(section)
    return yaml.safe_dump(data, sort_keys=False)
