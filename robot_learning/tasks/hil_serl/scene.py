"""The HIL-SERL pick-and-place task, whatever the engine: the scene's numbers (:class:`PickPlaceConfig`),
how a scene is drawn from a seed, the success test, the observation layout and the exported
policy's metadata contract.

The MuJoCo environment (:mod:`robot_learning.tasks.hil_serl.env`, the training engine) and the
PyBullet twin (:mod:`robot_learning.tasks.hil_serl.pybullet_env`, the sim-to-sim gate) both build
their scene from these, so a seed gives the same scene in both. No simulator is imported here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from robot_learning.core.checks import check, divides
from robot_learning.core.config import FieldError
from robot_learning.robots import panda as panda_desc
from robot_learning.types import ObsLayout, ObsTerm, PolicyMetadata

ARM_JOINTS = panda_desc.PANDA_ARM_JOINTS
GRIPPER_CLOSE, GRIPPER_STAY, GRIPPER_OPEN = 0, 1, 2

# The observation (state), in the robot's base frame; built by the runtime's ObservationBuilder.
OBS_LAYOUT = ObsLayout((
    ObsTerm("tcp_pos", 3, 1.0),
    ObsTerm("tcp_vel", 3, 2.0),
    ObsTerm("gripper_opening", 1, 10.0),  # m between the fingers, 0..0.08
    ObsTerm("object_pos", 3, 1.0),
    ObsTerm("object_rel_tcp", 3, 5.0),  # object - tcp
    ObsTerm("goal_pos", 3, 1.0),  # the bin's floor centre
    ObsTerm("goal_rel_object", 3, 5.0),  # goal - object
))


# "state": the state above; "image": proprioception and the raw frames of the wrist and front cameras
# (the pretrained frozen encoder is inside the exported policy); "frame": proprioception and one small
# front frame, channels first, for the CNN trained from scratch (the earlier image option)
OBSERVATIONS = ("state", "image", "frame")
PROPRIO_TERMS = OBS_LAYOUT.terms[:3]  # tcp_pos, tcp_vel, gripper_opening: what the robot measures itself
CAMERAS = ("wrist", "front")  # the image option's cameras, in the observation's order


@dataclass
class CameraConfig:
    """A pinhole camera as on the real set-up: intrinsics (``width`` x ``height`` pixels, vertical field
    of view ``fovy_deg``, square pixels, principal point at the centre) and a pose: ``pos``, the point it
    looks at (``target``) and an ``up`` direction, all in the frame of ``body`` ("world", or "hand": the
    Panda's hand, x forward, y along the finger motion, z towards the fingertips)."""

    body: str = "world"
    pos: tuple[float, float, float] = (1.05, 0.0, 0.75)
    target: tuple[float, float, float] = (0.45, 0.0, 0.12)
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)
    fovy_deg: float = 55.0
    width: int = 64
    height: int = 64

    def __post_init__(self) -> None:
        check(self, positive=("fovy_deg", "width", "height"))
        if self.body not in ("world", "hand"):
            raise FieldError("body", f"must be 'world' or 'hand', got {self.body!r}")
        if not 10.0 <= self.fovy_deg <= 150.0:
            raise FieldError("fovy_deg", f"must be between 10 and 150 degrees, got {self.fovy_deg}")
        if not (8 <= self.width <= 256 and 8 <= self.height <= 256):
            raise FieldError("width", f"and height must be between 8 and 256 pixels, got {self.width} x {self.height}")
        f = np.subtract(self.target, self.pos)
        if np.linalg.norm(f) < 1e-6 or np.linalg.norm(np.cross(f, self.up)) < 1e-6 * np.linalg.norm(f):
            raise FieldError("target", f"must differ from pos and not lie along up (pos {list(self.pos)}, target {list(self.target)}, up {list(self.up)})")

    def xyaxes(self) -> list[float]:
        """MuJoCo's camera frame (x right, y up in the image; it looks along -z) from pos/target/up."""
        f = np.subtract(self.target, self.pos).astype(float)
        f /= np.linalg.norm(f)
        x = np.cross(f, self.up)
        x /= np.linalg.norm(x)
        y = np.cross(x, f)
        return [*x.tolist(), *y.tolist()]

    def intrinsics(self) -> dict[str, float]:
        """fx, fy, cx, cy in pixels (MuJoCo's fovy is vertical; pixels are square)."""
        fy = 0.5 * self.height / np.tan(np.radians(self.fovy_deg) / 2)
        return {"fx": float(fy), "fy": float(fy), "cx": self.width / 2.0, "cy": self.height / 2.0}


def wrist_camera_default() -> CameraConfig:
    """On the hand, 7 cm behind the fingers' plane and 3 cm above the flange side, looking past the
    fingertips (as HIL-SERL's wrist cameras), wide angle (a RealSense D405's is about 87 x 58 deg)."""
    return CameraConfig(body="hand", pos=(-0.07, 0.0, 0.02), target=(0.0, 0.0, 0.17), up=(1.0, 0.0, 0.0), fovy_deg=75.0)


def image_layout(size: int) -> ObsLayout:
    """The ``frame`` option's observation: proprioception, then one RGB frame (channels first, row-major,
    0..255 scaled to 0..1) of the fixed ``front`` camera, ``size`` x ``size`` pixels."""
    return ObsLayout(PROPRIO_TERMS + (ObsTerm("image", 3 * size * size, 1.0 / 255.0),))


def camera_layout(cameras: "dict[str, CameraConfig]") -> ObsLayout:
    """The ``image`` option's observation: proprioception, then each camera's raw RGB frame as a named
    term ``<camera>_image`` of shape (height, width, 3) and dtype uint8 (scaled by 1/255 into the vector)."""
    return ObsLayout(PROPRIO_TERMS + tuple(ObsTerm(f"{name}_image", c.height * c.width * 3, 1.0 / 255.0,
                                                   shape=(c.height, c.width, 3), dtype="uint8") for name, c in cameras.items()))


def obs_layout(cfg: "PickPlaceConfig") -> ObsLayout:
    """The policy's observation layout for the task's ``observation`` option."""
    if cfg.observation == "image":
        return camera_layout(cfg.cameras())
    return OBS_LAYOUT if cfg.observation == "state" else image_layout(cfg.image_size)


def image_shape(layout: ObsLayout) -> tuple[int, int, int] | None:
    """(channels, height, width) of a layout's ``image`` term (square frames), None for a state layout."""
    for t in layout.terms:
        if t.name == "image":
            side = int(round(np.sqrt(t.size / 3)))
            if 3 * side * side != t.size:
                raise ValueError(f"observation term 'image' has {t.size} values: not 3 x N x N")
            return (3, side, side)
    return None


def observation_fields(tcp: np.ndarray, tcp_vel: np.ndarray, gripper_opening: float, obj: np.ndarray,
                       goal: np.ndarray) -> dict[str, np.ndarray]:
    """The named fields of :data:`OBS_LAYOUT` from the measured state (every engine, and the robot, use this)."""
    return {"tcp_pos": tcp, "tcp_vel": tcp_vel, "gripper_opening": np.array([gripper_opening]), "object_pos": obj,
            "object_rel_tcp": obj - tcp, "goal_pos": np.array(goal, dtype=np.float64), "goal_rel_object": goal - obj}


@dataclass
class PickPlaceConfig:
    control_rate_hz: float = 10.0
    physics_dt: float = 0.002  # 500 Hz impedance control
    episode_steps: int = 100  # 10 s
    action_scale_m: float = 0.02  # per step at full action (10 Hz -> up to 0.2 m/s)
    # workspace box of the TCP reference (base frame, m): clipped every step
    workspace_min: tuple[float, float, float] = (0.25, -0.4, 0.005)
    workspace_max: tuple[float, float, float] = (0.75, 0.4, 0.35)
    # randomisation of the cube's and the bin's positions (x, y ranges, m) and the cube's yaw (rad)
    object_x: tuple[float, float] = (0.35, 0.65)
    object_y: tuple[float, float] = (-0.3, 0.3)
    object_yaw: float = 0.4
    goal_x: tuple[float, float] = (0.35, 0.65)
    goal_y: tuple[float, float] = (-0.3, 0.3)
    min_separation: float = 0.2
    cube_half: float = 0.02
    cube_mass: float = 0.05
    bin_inner_half: float = 0.07
    bin_height: float = 0.05
    # impedance controller (HIL-SERL's Franka impedance: 2000 N/m, 89 N s/m; 150 N m/rad, 7 N m s/rad)
    stiffness: float = 2000.0
    damping: float = 89.0
    rot_stiffness: float = 150.0
    rot_damping: float = 7.0
    nullspace_stiffness: float = 10.0
    max_spring_error_m: float = 0.03  # bounds the spring force: 2000 N/m x 0.03 m = 60 N
    start_tcp: tuple[float, float, float] = (0.45, 0.0, 0.25)
    start_noise_m: float = 0.05
    observation: str = "state"  # "state", "image" (proprioception, wrist and front frames) or "frame" (see obs_layout)
    image_size: int = 48  # frame side in pixels for observation="frame"
    # the image option's cameras (intrinsics and poses; rendered offscreen at the control rate)
    wrist_camera: CameraConfig = field(default_factory=wrist_camera_default)
    front_camera: CameraConfig = field(default_factory=CameraConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        check(self, positive=("control_rate_hz", "physics_dt", "episode_steps", "action_scale_m", "cube_half", "cube_mass", "bin_inner_half",
                              "bin_height", "stiffness", "damping", "rot_stiffness", "rot_damping", "max_spring_error_m"),
              non_negative=("object_yaw", "min_separation", "nullspace_stiffness", "start_noise_m", "seed"),
              ordered=("object_x", "object_y", "goal_x", "goal_y"))
        divides(self, "control_rate_hz", "physics_dt", 1.0 / self.control_rate_hz, self.physics_dt)
        if any(lo >= hi for lo, hi in zip(self.workspace_min, self.workspace_max)):
            raise FieldError("workspace_min", f"must be below workspace_max {list(self.workspace_max)} on every axis, got {list(self.workspace_min)}")
        if self.observation not in OBSERVATIONS:
            raise FieldError("observation", f"must be one of {', '.join(OBSERVATIONS)}; got {self.observation!r}")
        if not 16 <= self.image_size <= 256:
            raise FieldError("image_size", f"must be between 16 and 256 pixels, got {self.image_size}")

    def cameras(self) -> dict[str, CameraConfig]:
        """The image option's cameras by name, in the observation's order."""
        return {"wrist": self.wrist_camera, "front": self.front_camera}


def cube_in_bin(cube: np.ndarray, goal: np.ndarray, cfg: PickPlaceConfig) -> bool:
    """The task's ground truth in every engine: the cube's centre inside the bin (half a cube from the
    walls) and below the rim."""
    inner = cfg.bin_inner_half - cfg.cube_half * 0.5
    return bool(np.all(np.abs(cube[:2] - goal[:2]) < inner)) and bool(cube[2] < cfg.bin_height + 0.01)


def draw_scene(rng: np.random.Generator, cfg: PickPlaceConfig) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """One episode's random scene, the same draws in the same order in every engine: the cube's and
    the bin's (x, y) at least ``min_separation`` apart (bin edge to cube), the cube's yaw, the TCP start."""
    for _ in range(100):
        obj = np.array([rng.uniform(*cfg.object_x), rng.uniform(*cfg.object_y)])
        goal = np.array([rng.uniform(*cfg.goal_x), rng.uniform(*cfg.goal_y)])
        if np.linalg.norm(obj - goal) >= cfg.min_separation + cfg.bin_inner_half:
            break
    yaw = float(rng.uniform(-cfg.object_yaw, cfg.object_yaw))
    start = np.array(cfg.start_tcp) + rng.uniform(-cfg.start_noise_m, cfg.start_noise_m, 3)
    return obj, goal, yaw, start


TASK = "hil_serl_pick_place"
ACTION_SIZE = 4  # dx, dy, dz (TCP frame, in [-1, 1]), gripper command (0 close, 1 stay, 2 open; a float in the ONNX output)


def camera_metadata(cfg: PickPlaceConfig) -> dict[str, dict]:
    """Each camera's intrinsics and pose as the policy was trained with them (the robot's must match)."""
    return {name: {"term": f"{name}_image", "body": c.body, "width": c.width, "height": c.height, "fovy_deg": c.fovy_deg,
                   **c.intrinsics(), "pos": list(c.pos), "target": list(c.target), "up": list(c.up), "encoding": "rgb8"}
            for name, c in cfg.cameras().items()}


def policy_metadata(cfg: PickPlaceConfig, training: dict | None = None) -> PolicyMetadata:
    """The ONNX metadata contract of this task's exported actor (see DESIGN.md, "Contracts")."""
    return PolicyMetadata(
        robot=panda_desc.NAME,
        task=TASK,
        joint_names=list(ARM_JOINTS),
        observation_layout=obs_layout(cfg),
        action={
            "size": ACTION_SIZE,
            "type": "ee_delta",
            "frame": "tcp",  # the delta is expressed in the TCP frame; target = tcp + R_tcp @ (a * scale)
            "scale_m": cfg.action_scale_m,
            "clip": 1.0,
            "gripper": {"index": 3, "commands": ["close", "stay", "open"]},
            "orientation": "held pointing down (the task's actions have no rotation)",
        },
        control_rate_hz=cfg.control_rate_hz,
        safety_limits={
            "workspace_min": list(cfg.workspace_min),
            "workspace_max": list(cfg.workspace_max),
            "max_step_m": float(np.sqrt(3.0) * cfg.action_scale_m),
            "max_spring_error_m": cfg.max_spring_error_m,
            "stiffness": cfg.stiffness,
        },
        default_joint_positions=list(panda_desc.PANDA_HOME),
        robot_params={"tcp_offset_m": panda_desc.PANDA_TCP_OFFSET, "cube_half_m": cfg.cube_half,
                      "bin_inner_half_m": cfg.bin_inner_half, "bin_height_m": cfg.bin_height,
                      **({"cameras": camera_metadata(cfg)} if cfg.observation == "image" else {})},
        training=training or {},
    )
