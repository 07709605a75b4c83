"""What the policy node is started with: its topics and its configuration (the launch file's
parameters, a robot's deployment profile, ``deploy/config/*.yaml``)."""
from __future__ import annotations

from dataclasses import dataclass, field

from robot_learning.core.checks import check
from robot_learning.core.config import FieldError
from robot_learning.runtime.control import EndEffectorNodeConfig
from robot_learning.runtime.controller import ControllerConfig as QuadrotorControllerConfig
from robot_learning.runtime.joint_controller import JointControllerConfig

@dataclass
class TopicConfig:
    joint_states: str = "joint_states"
    imu: str = "imu"
    odom: str = "odom"
    joint_command: str = "joint_command"
    joint_gains: str = "joint_gains"
    motor_command: str = "motor_command"
    # end-effector policies (the arm's TCP): state in, target and gripper out
    tcp_pose: str = "tcp_pose"
    tcp_twist: str = "tcp_twist"
    gripper_state: str = "gripper_state"
    object_pose: str = "object_pose"
    goal_pose: str = "goal_pose"
    tcp_target: str = "tcp_target"
    gripper_command: str = "gripper_command"
    diagnostics: str = "/diagnostics"
    # an image policy's cameras: term <camera>_image <- <camera_prefix>/<camera>/image_raw (sensor_msgs/Image),
    # or <...>/image_raw/compressed (sensor_msgs/CompressedImage, decoded with Pillow) with image_transport "compressed"
    camera_prefix: str = "camera"
    image_transport: str = "raw"


@dataclass
class NodeConfig:
    """Everything the node is started with (the launch file's parameters / the robot's YAML)."""

    robot: str = "crazyflie"
    policy: str = ""
    control_rate_hz: float = 0.0  # 0: the policy's own rate
    use_imu: bool = True
    topics: TopicConfig = field(default_factory=TopicConfig)
    controller: JointControllerConfig = field(default_factory=JointControllerConfig)  # joint robots (G1, Panda)
    quadrotor: QuadrotorControllerConfig = field(default_factory=QuadrotorControllerConfig)  # the quadrotor's soft start and limits
    end_effector: EndEffectorNodeConfig = field(default_factory=EndEffectorNodeConfig)  # end-effector policies (the arm's TCP)
    setpoint: list[float] = field(default_factory=lambda: [0.0, 0.0, 1.0])  # quadrotor hover point
    trajectory: str = "hover"  # quadrotor: hover | figure8
    record_dir: str = ""  # "" = no in-node recording
    autostart: bool = False
    use_header_stamps: bool = True  # count message latency (header stamp vs our clock) as staleness; needs synchronised clocks
    realtime: bool = False  # ask for SCHED_FIFO and locked memory
    tick_log: int = 0  # keep the last N ticks (mode, fault, command) for tests and post-mortems

    def __post_init__(self) -> None:
        check(self, non_negative=("control_rate_hz", "tick_log"))
        if self.topics.image_transport not in ("raw", "compressed"):
            raise FieldError("topics.image_transport", f"must be 'raw' or 'compressed', got {self.topics.image_transport!r}")
        if len(self.setpoint) != 3:
            raise FieldError("setpoint", f"must be 3 numbers (x, y, z in m), got {list(self.setpoint)}")
        if self.trajectory not in ("hover", "figure8"):
            raise FieldError("trajectory", f"must be 'hover' or 'figure8', got {self.trajectory!r}")


