"""The batched G1 (:class:`~robot_learning.sim.batch.BatchedG1`) on NVIDIA Isaac Gym (PhysX on a GPU),
for users coming from legged_gym. NOT RUN HERE: this machine has no GPU and no Isaac Gym; the module
is type-checked against ``isaacgym-stubs`` (``make typecheck``) and its pure-torch parts (kinematics,
sensors, terrain layout) are tested against MuJoCo (``tests/test_isaacgym_backend.py``).

Isaac Gym Preview 4 ships bindings for Python 3.6-3.8 only, and this package needs 3.11: the
official binaries refuse to import here ("No gym module found for the active version of Python").
It also refuses to import after torch: import this module (or ``isaacgym``) before anything that
imports torch. Either failure makes :class:`G1IsaacGymBatch` refuse in one line, and importing this
module never fails.

How it maps the interface onto Isaac Gym (legged_gym's layout)
--------------------------------------------------------------
- Robot: the 23-DoF G1 URDF converted from Menagerie's ``g1.xml`` (:mod:`robot_learning.robots.g1_urdf`;
  the only G1 converted to URDF, so both ``variant`` values collide with g1.xml's meshes as convex
  hulls here), fixed joints collapsed (the welded hands become part of the elbow links), one actor per
  environment, each environment its own collision group (robots never touch each other), self-collision
  on for ``variant="mesh"`` and off for ``"primitive"`` (whose MuJoCo model has robot-floor pairs only).
  ``G1IsaacGymBatch.model`` is the MuJoCo model of the same config: sites, sensor offsets,
  armature and joint friction are read from it.
- Actuation, ``drive="pd"`` (default; what legged_gym does): DOFs in effort mode, the PD law
  ``clip(kp (target - q) - kd qd, +-effort)`` computed on the device before every physics step from the
  refreshed DOF state, so the torque is MuJoCo's explicit actuator exactly and ``actuator_force`` is it.
  ``drive="position"``: PhysX's implicit DOF position drive with stiffness kp, damping kd and the
  effort limit; ``actuator_force`` is then the DOF force tensor (PhysX's reported joint force).
- State: ``acquire_actor_root_state_tensor``, ``acquire_dof_state_tensor``,
  ``acquire_rigid_body_state_tensor`` and ``acquire_net_contact_force_tensor`` wrapped once with
  ``gymtorch.wrap_tensor`` and refreshed after every physics step. Quaternions are converted from Isaac
  Gym's (x, y, z, w) to MuJoCo's (w, x, y, z); the pelvis angular velocity from world to pelvis frame.
- Resets write the root and DOF state tensors, a push adds to the root linear velocity; before the
  next physics step the changed environments go to Isaac Gym in one
  ``set_actor_root_state_tensor_indexed`` and one ``set_dof_state_tensor_indexed`` call.
- Ground: a plane when every environment is flat; otherwise one height field holding a square tile per
  distinct ground side by side along x (legged_gym's sample layout), each environment's robot over its
  tile's centre. Positions (``qpos``, sensors, ``height_above_ground``'s input) are relative to that
  centre, as in MuJoCo where every world's ground is at the origin. Tiles have ``half_size_m`` of the
  largest terrain (a slope is finite here, infinite in MuJoCo).
- Randomisation per environment through the actor APIs: friction of every rigid shape, pelvis mass
  (inertia scaled with it) and centre of mass (rigid body properties), gains (on the device in ``pd``
  mode, DOF stiffness/damping in ``position`` mode), joint damping and friction (DOF properties).

Sensors (:data:`~robot_learning.sim.g1_batch_model.SENSORS`), from the tensors after each physics step
---------------------------------------------------------------------------------------------------
Exact functions of the state (same frames and offsets as MuJoCo's sensors): ``imu_quat``, ``imu_gyro``,
``head_pos``, ``pelvis_pos``, ``torso_zaxis``, ``pelvis_zaxis``, ``left/right_foot_pos``,
``left/right_hand_pos``; ``actuator_force`` in ``pd`` mode. Approximations, because Isaac Gym reports no
accelerations and only a net contact force per body:

- ``imu_acc``: finite difference of the IMU site's world velocity over the last physics step, minus
  gravity, in the IMU frame (MuJoCo's accelerometer uses the acceleration of the step itself);
- ``left/right_foot_force``: the magnitude of the net contact force on the ankle roll link (MuJoCo: the
  normal forces of the contacts inside the sole box; tangential forces and contacts outside the sole
  are included here). legged_gym documents the net contact force tensor as unreliable on the GPU
  pipeline with a triangle-mesh terrain; this backend uses height fields.

Timing differs from MuJoCo's by one physics step: values here are those of the state after the step
(MuJoCo's sensordata is computed at the start of the last substep). After :meth:`G1IsaacGymBatch.reset`
the link poses come from forward kinematics of the MuJoCo model on the device (Isaac Gym updates them
only when it simulates), contact forces read 0 and ``imu_acc`` the at-rest value until the next step.

Not verified anywhere: anything at run time (Isaac Gym's behaviour, speed, contacts); how PhysX
combines the robot's friction with the ground's 1.0 (the coefficient of a contact is the robot's value
if it multiplies or takes the maximum); the height-field orientation (taken from legged_gym); whether
PhysX reads a DOF's ``friction`` in N m as MuJoCo's ``frictionloss``. Isaac Gym documents that a
changed centre of mass has no effect on the GPU pipeline (a warning says so once).
"""
from __future__ import annotations

try:  # before torch: Isaac Gym refuses to import after it
    from isaacgym import gymapi, gymtorch
except (ImportError, RuntimeError, OSError) as _exc:  # not installed, torch first, or no binding for this Python
    _IMPORT_ERROR: str | None = f"{type(_exc).__name__}: {_exc}"
else:
    _IMPORT_ERROR = None

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

import mujoco
import numpy as np
import torch

from robot_learning.core.config import ConfigError
from robot_learning.robots import g1 as g1_desc
from robot_learning.sim.batch import G1StateViews
from robot_learning.sim.g1_batch_model import (
    HAND_POS,
    SENSORS,
    SOLE_POS,
    build_batch_model,
)
from robot_learning.sim.mujoco_batch import G1BatchConfig, RandomizationRanges
from robot_learning.sim.terrain import TerrainConfig

GRAVITY = 9.81
SENSOR_DIM = sum(dim for dim, _ in SENSORS.values())
_IMU_SITE = "imu_in_pelvis"
_SIDES = ("left", "right")


# ----------------------------------------------------------------------------- quaternions (w, x, y, z)
def quat_mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product of (..., 4) quaternions in (w, x, y, z) order."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack((aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                        aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw), dim=-1)


def quat_rotate(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate vectors ``v`` (..., 3) by unit quaternions ``q`` (..., 4; w, x, y, z)."""
    w, u = q[..., :1], q[..., 1:]
    t = 2.0 * torch.cross(u, v, dim=-1)
    return v + w * t + torch.cross(u, t, dim=-1)


def quat_rotate_inverse(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate vectors ``v`` by the inverse of unit quaternions ``q`` (world -> body frame)."""
    return quat_rotate(torch.cat((q[..., :1], -q[..., 1:]), dim=-1), v)


def quat_from_axis_angle(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """(..., 4) rotations by ``angle`` (...) about unit ``axis`` (..., 3)."""
    half = 0.5 * angle.unsqueeze(-1)
    return torch.cat((torch.cos(half), torch.sin(half) * axis), dim=-1)


def xyzw_to_wxyz(q: torch.Tensor) -> torch.Tensor:
    return torch.cat((q[..., 3:4], q[..., 0:3]), dim=-1)


def wxyz_to_xyzw(q: torch.Tensor) -> torch.Tensor:
    return torch.cat((q[..., 1:4], q[..., 0:1]), dim=-1)


# ----------------------------------------------------------------------------- frames and kinematics from MuJoCo
@dataclass(frozen=True)
class G1Frames:
    """Where each sensor sits, in the frame of the body Isaac Gym reports (from the MuJoCo model).

    Attributes:
        imu_pos, imu_quat: the IMU site in the pelvis frame (quat w, x, y, z).
        head: the head point in ``torso_link``.
        sole: the sole centre in each ``*_ankle_roll_link``.
        hand_body: the body carrying each hand after fixed joints are collapsed (``*_elbow_link``).
        hand: the palm point in ``hand_body``'s frame.
    """

    imu_pos: tuple[float, float, float]
    imu_quat: tuple[float, float, float, float]
    head: tuple[float, float, float]
    sole: tuple[float, float, float]
    hand_body: tuple[str, str]
    hand: tuple[tuple[float, float, float], tuple[float, float, float]]


def _vec3(a: Any) -> tuple[float, float, float]:
    return (float(a[0]), float(a[1]), float(a[2]))


def g1_frames(model: mujoco.MjModel, hand_body: str = "elbow_link") -> G1Frames:
    """The sensor frames of :data:`SENSORS` for a batch model; the palm point is expressed in
    ``<side>_<hand_body>`` (the wrist links are welded, so the transform is fixed)."""
    site = model.site(_IMU_SITE)
    if model.site_bodyid[site.id] != model.body("pelvis").id:
        raise RuntimeError(f"the {_IMU_SITE} site is not on the pelvis")
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    hands = []
    for side in _SIDES:
        carrier, wrist = data.body(f"{side}_{hand_body}"), data.body(f"{side}_wrist_yaw_link")
        world = wrist.xpos + wrist.xmat.reshape(3, 3) @ np.asarray(HAND_POS)
        hands.append(_vec3(carrier.xmat.reshape(3, 3).T @ (world - carrier.xpos)))
    q = site.quat
    return G1Frames(
        imu_pos=_vec3(site.pos), imu_quat=(float(q[0]), float(q[1]), float(q[2]), float(q[3])),
        head=_vec3(g1_desc.G1_HEAD_OFFSET), sole=_vec3(SOLE_POS),
        hand_body=(f"left_{hand_body}", f"right_{hand_body}"), hand=(hands[0], hands[1]),
    )


class G1Kinematics:
    """Forward kinematics of the G1's bodies in torch (batched, on any device), from the MuJoCo model:
    every hinge sits at its body's origin, so a body's pose is its parent's, then its fixed offset,
    then the rotation about its joint axis."""

    def __init__(self, model: mujoco.MjModel, device: torch.device | str = "cpu") -> None:
        self.names = [model.body(b).name for b in range(model.nbody)]
        self.parent = [int(p) for p in model.body_parentid]
        jq0 = 7 if model.nq == model.nu + 7 else 0
        self.free_body = -1
        self.hinge: list[int | None] = [None] * model.nbody  # spec joint index of each body's hinge
        for b in range(1, model.nbody):
            if model.body_jntnum[b] > 1:
                raise RuntimeError(f"body {self.names[b]} has more than one joint")
            if model.body_jntnum[b] == 1:
                j = int(model.body_jntadr[b])
                if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE:
                    self.free_body = b
                elif model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE:
                    if not np.allclose(model.jnt_pos[j], 0.0):
                        raise RuntimeError(f"joint of {self.names[b]} is not at its body origin")
                    self.hinge[b] = int(model.jnt_qposadr[j]) - jq0
        self.pos = torch.tensor(model.body_pos, dtype=torch.float64, device=device)
        self.quat = torch.tensor(model.body_quat, dtype=torch.float64, device=device)
        axes = np.zeros((model.nbody, 3))
        for b in range(1, model.nbody):
            if self.hinge[b] is not None:
                axes[b] = model.jnt_axis[model.body_jntadr[b]]
        self.axis = torch.tensor(axes, dtype=torch.float64, device=device)

    def forward(self, root_pos: torch.Tensor, root_quat: torch.Tensor,
                joint_pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """World positions (n, nbody, 3) and quaternions (n, nbody, 4; w, x, y, z) of every body for
        free-joint poses ``root_pos`` (n, 3), ``root_quat`` (n, 4) (ignored with a fixed base) and joint
        angles ``joint_pos`` (n, 23, spec order). Body 0 is the world."""
        n, dtype, dev = joint_pos.shape[0], joint_pos.dtype, joint_pos.device
        pos = [torch.zeros(n, 3, dtype=dtype, device=dev)]
        quat = [torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=dtype, device=dev).expand(n, 4)]
        for b in range(1, len(self.names)):
            if b == self.free_body:
                pos.append(root_pos.to(dtype))
                quat.append(root_quat.to(dtype))
                continue
            p = self.parent[b]
            offset = self.pos[b].to(dtype).expand(n, 3)
            x = pos[p] + quat_rotate(quat[p], offset)
            q = quat_mul(quat[p], self.quat[b].to(dtype).expand(n, 4))
            hinge = self.hinge[b]
            if hinge is not None:
                q = quat_mul(q, quat_from_axis_angle(self.axis[b].to(dtype).expand(n, 3), joint_pos[:, hinge]))
            pos.append(x)
            quat.append(q)
        return torch.stack(pos, dim=1), torch.stack(quat, dim=1)


# ----------------------------------------------------------------------------- sensors from body poses
def _const(values: tuple[float, ...], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device)


def imu_site_velocity(frames: G1Frames, pelvis_quat: torch.Tensor, lin_vel: torch.Tensor,
                      ang_vel_world: torch.Tensor) -> torch.Tensor:
    """(n, 3) world velocity of the IMU site on a pelvis moving with ``lin_vel`` and ``ang_vel_world``."""
    r = quat_rotate(pelvis_quat, _const(frames.imu_pos, pelvis_quat).expand_as(lin_vel))
    return lin_vel + torch.cross(ang_vel_world, r, dim=-1)


def compute_sensors(
    frames: G1Frames, pelvis_pos: torch.Tensor, pelvis_quat: torch.Tensor, ang_vel_world: torch.Tensor,
    torso: tuple[torch.Tensor, torch.Tensor], feet: tuple[torch.Tensor, torch.Tensor],
    hands: tuple[torch.Tensor, torch.Tensor], foot_contact: torch.Tensor, actuator_force: torch.Tensor,
    imu_lin_acc: torch.Tensor,
) -> torch.Tensor:
    """(n, SENSOR_DIM) values of :data:`SENSORS`, in its order, from body poses in a common frame.

    Args:
        pelvis_pos, pelvis_quat: (n, 3), (n, 4; w, x, y, z) pelvis pose.
        ang_vel_world: (n, 3) pelvis angular velocity, world frame.
        torso: torso_link (position (n, 3), quaternion (n, 4)).
        feet: the ankle roll links, (n, 2, 3) positions and (n, 2, 4) quaternions, left then right.
        hands: the hand-carrying bodies of ``frames.hand_body``, same shapes.
        foot_contact: (n, 2, 3) net contact force on each ankle roll link (world, N).
        actuator_force: (n, 23) applied joint torques.
        imu_lin_acc: (n, 3) world linear acceleration of the IMU site (gravity not included).
    """
    imu_q = quat_mul(pelvis_quat, _const(frames.imu_quat, pelvis_quat).expand_as(pelvis_quat))
    ez = _const((0.0, 0.0, 1.0), pelvis_pos).expand_as(pelvis_pos)
    gravity = _const((0.0, 0.0, -GRAVITY), pelvis_pos).expand_as(pelvis_pos)

    def point(pose: tuple[torch.Tensor, torch.Tensor], local: tuple[float, float, float]) -> torch.Tensor:
        return pose[0] + quat_rotate(pose[1], _const(local, pose[0]).expand_as(pose[0]))

    values = {
        "imu_quat": imu_q,
        "imu_gyro": quat_rotate_inverse(imu_q, ang_vel_world),
        "imu_acc": quat_rotate_inverse(imu_q, imu_lin_acc - gravity),
        "head_pos": point(torso, frames.head),
        "pelvis_pos": pelvis_pos,
        "torso_zaxis": quat_rotate(torso[1], ez),
        "pelvis_zaxis": quat_rotate(pelvis_quat, ez),
        "left_foot_pos": point((feet[0][:, 0], feet[1][:, 0]), frames.sole),
        "right_foot_pos": point((feet[0][:, 1], feet[1][:, 1]), frames.sole),
        "left_foot_force": torch.linalg.vector_norm(foot_contact[:, 0], dim=-1, keepdim=True),
        "right_foot_force": torch.linalg.vector_norm(foot_contact[:, 1], dim=-1, keepdim=True),
        "left_hand_pos": point((hands[0][:, 0], hands[1][:, 0]), frames.hand[0]),
        "right_hand_pos": point((hands[0][:, 1], hands[1][:, 1]), frames.hand[1]),
        "actuator_force": actuator_force,
    }
    if list(values) != list(SENSORS):
        raise RuntimeError("compute_sensors is out of step with SENSORS")
    return torch.cat([values[name] for name in SENSORS], dim=-1)


# ----------------------------------------------------------------------------- ground
@dataclass(frozen=True)
class HeightfieldLayout:
    """One height field holding a square tile per distinct ground, side by side along x.

    Attributes:
        heights: (nx, ny) ground height (m) at sample [i, j] = (x0 + i cell, y0 + j cell) (legged_gym's
            sample layout: first index along x).
        cell: sample spacing (m).
        x0, y0: world position of sample [0, 0].
        centres: (tiles, 3) world position of each tile's centre (z = 0), in the order of ``grounds``.
        grounds: the ground of each tile (None: flat).
    """

    heights: np.ndarray
    cell: float
    x0: float
    y0: float
    centres: np.ndarray
    grounds: tuple[TerrainConfig | None, ...]

    def samples(self) -> tuple[np.ndarray, float]:
        """The int16 samples and the vertical scale (m per unit) that encode ``heights``."""
        top = float(np.abs(self.heights).max())
        scale = top / 32000.0 if top > 0 else 1e-3
        return np.round(self.heights / scale).astype(np.int16), scale


def heightfield_layout(grounds: list[TerrainConfig | None]) -> HeightfieldLayout:
    """Tiles for ``grounds`` (distinct, in order): half size and spacing of the finest terrain, heights
    from :meth:`TerrainConfig.ground_height` (so the height field and ``height_above_ground`` agree)."""
    real = [g for g in grounds if g is not None]
    half = max((g.half_size_m for g in real), default=5.0)
    cell = min((g.cell_m for g in real), default=0.1)
    m = round(2 * half / cell) + 1
    local = -half + cell * np.arange(m)
    gx, gy = np.meshgrid(local, local, indexing="ij")
    tiles = []
    for g in grounds:
        h = np.zeros((m, m)) if g is None else g.ground_height(np.stack((gx.ravel(), gy.ravel()), axis=1)).reshape(m, m)
        tiles.append(h)
    centres = np.array([[k * m * cell, 0.0, 0.0] for k in range(len(grounds))])
    return HeightfieldLayout(np.concatenate(tiles, axis=0), cell, -half, -half, centres, tuple(grounds))


# ----------------------------------------------------------------------------- the batch
def _cuda_index(device: str) -> int:
    if device == "cuda":
        return 0
    if device.startswith("cuda:") and device[5:].isdigit():
        return int(device[5:])
    raise ConfigError(f"the isaacgym backend needs a CUDA device (cuda or cuda:N), got {device!r}")


class G1IsaacGymBatch(G1StateViews):
    """N G1 environments on Isaac Gym; see the module docstring. Same public surface as
    :class:`~robot_learning.sim.mujoco_batch.G1Batch` (host arrays are float64 copies of the device
    state made on first access after a step; :meth:`torch_state` gives the device tensors)."""

    def __init__(self, config: G1BatchConfig | None = None, device: str = "cuda:0",
                 drive: Literal["pd", "position"] = "pd") -> None:
        if _IMPORT_ERROR is not None:
            hint = ("Isaac Gym Preview 4 has bindings for Python 3.6-3.8 only" if "No gym module" in _IMPORT_ERROR else
                    "import isaacgym before torch" if "before isaacgym" in _IMPORT_ERROR else
                    "install NVIDIA's isaacgym/python package (Preview 4) on a CUDA machine")
            raise ConfigError(f"the isaacgym backend cannot start ({_IMPORT_ERROR.splitlines()[0]}): {hint}")
        if drive not in ("pd", "position"):
            raise ConfigError(f"drive must be 'pd' or 'position', got {drive!r}")
        self.config = cfg = config or G1BatchConfig()
        if cfg.num_envs < 1 or cfg.decimation < 1:
            raise ConfigError("num_envs and decimation must be >= 1")
        gpu = _cuda_index(device)
        self.device = torch.device(f"cuda:{gpu}")
        self.drive = drive
        self.rng = np.random.default_rng(cfg.seed)
        grounds = [g if g is not None and g.kind != "flat" else None for g in (cfg.terrains or (cfg.terrain,))]
        self.terrains: list[TerrainConfig | None] = [grounds[i % len(grounds)] for i in range(cfg.num_envs)]
        self.model = build_batch_model(cfg.variant, cfg.physics_dt, cfg.strip_visual, cfg.fix_base, self.terrains[0])
        self.desc = g1_desc.G1_SPEC
        self.floating = not cfg.fix_base
        self.num_envs = n = cfg.num_envs
        self.nq, self.nv, self.nu = self.model.nq, self.model.nv, self.desc.num_joints
        self.decimation = cfg.decimation
        self.dt = cfg.decimation * cfg.physics_dt
        self._jq0 = 7 if self.floating else 0
        self._jv0 = 6 if self.floating else 0
        self.kp = np.tile(self.desc.array("kp"), (n, 1))
        self.kd = np.tile(self.desc.array("kd"), (n, 1))
        self.effort_limit = self.desc.array("effort_limit")
        jv = [int(self.model.jnt_dofadr[self.model.joint(j).id]) for j in self.desc.joint_names]
        self._armature0 = self.model.dof_armature[jv].copy()
        self._frictionloss0 = self.model.dof_frictionloss[jv].copy()
        self._damping0 = self.model.dof_damping[jv].copy()
        self._jdamp = np.tile(self._damping0, (n, 1))  # joint viscous damping per env (N m s/rad)
        self._jfric = np.tile(self._frictionloss0, (n, 1))  # joint dry friction per env (N m)
        self._com_warned = False
        self._host: dict[str, np.ndarray] = {}

        self.gym = gymapi.acquire_gym()
        self.sim: gymapi.Sim | None = self.gym.create_sim(gpu, -1, gymapi.SIM_PHYSX, self._sim_params())
        if self.sim is None:
            raise RuntimeError(f"Isaac Gym could not create a PhysX simulation on cuda:{gpu}")
        self._origins = self._add_ground()
        asset = self._load_asset()
        self._create_envs(asset)
        if not self.gym.prepare_sim(self.sim):
            raise RuntimeError("Isaac Gym's prepare_sim failed")
        self._acquire_tensors()
        self.reset(np.arange(n), np.tile(self.default_qpos(), (n, 1)))

    # ------------------------------------------------------------------ construction
    def _sim_params(self) -> gymapi.SimParams:
        """PhysX on the GPU with the GPU pipeline (legged_gym's solver settings)."""
        p = gymapi.SimParams()
        p.dt = self.config.physics_dt
        p.substeps = 1
        p.up_axis = gymapi.UP_AXIS_Z
        p.gravity = gymapi.Vec3(0.0, 0.0, -GRAVITY)
        p.use_gpu_pipeline = True
        p.physx.use_gpu = True
        p.physx.solver_type = 1  # TGS
        p.physx.num_position_iterations = 4
        p.physx.num_velocity_iterations = 0
        p.physx.contact_offset = 0.01
        p.physx.rest_offset = 0.0
        p.physx.bounce_threshold_velocity = 0.5
        p.physx.max_depenetration_velocity = 1.0
        p.physx.max_gpu_contact_pairs = 2 ** 23
        p.physx.default_buffer_size_multiplier = 5.0
        p.physx.contact_collection = gymapi.CC_ALL_SUBSTEPS
        return p

    def _add_ground(self) -> np.ndarray:
        """The ground (see the module docstring); returns each environment's origin (N, 3)."""
        assert self.sim is not None
        distinct = list(dict.fromkeys(self.terrains))
        if distinct == [None]:
            plane = gymapi.PlaneParams()
            plane.normal = gymapi.Vec3(0.0, 0.0, 1.0)
            plane.distance = 0.0
            plane.static_friction = plane.dynamic_friction = 1.0
            plane.restitution = 0.0
            self.gym.add_ground(self.sim, plane)
            return np.zeros((self.num_envs, 3))
        layout = heightfield_layout(distinct)
        samples, scale = layout.samples()
        hf = gymapi.HeightFieldParams()
        hf.column_scale = hf.row_scale = layout.cell
        hf.vertical_scale = scale
        hf.nbRows, hf.nbColumns = samples.shape[1], samples.shape[0]  # as legged_gym: rows count along y
        hf.transform.p.x, hf.transform.p.y, hf.transform.p.z = layout.x0, layout.y0, 0.0
        hf.static_friction = hf.dynamic_friction = 1.0
        hf.restitution = 0.0
        self.gym.add_heightfield(self.sim, samples, hf)
        tile = {g: k for k, g in enumerate(distinct)}
        return np.stack([layout.centres[tile[g]] for g in self.terrains])

    def _load_asset(self) -> gymapi.Asset:
        from robot_learning.robots.g1_urdf import g1_urdf_path

        assert self.sim is not None
        urdf = Path(g1_urdf_path().urdf_path).resolve()
        opts = gymapi.AssetOptions()
        mode = gymapi.DOF_MODE_EFFORT if self.drive == "pd" else gymapi.DOF_MODE_POS
        opts.default_dof_drive_mode = int(mode)
        opts.collapse_fixed_joints = True
        opts.replace_cylinder_with_capsule = False
        opts.flip_visual_attachments = False
        opts.fix_base_link = self.config.fix_base
        opts.density = 0.001  # every link has an explicit inertial
        opts.angular_damping = opts.linear_damping = 0.0
        opts.max_angular_velocity = opts.max_linear_velocity = 1000.0
        opts.armature = 0.0  # joint armature goes to the DOF properties
        opts.thickness = 0.01
        opts.disable_gravity = False
        return self.gym.load_asset(self.sim, str(urdf.parent), urdf.name, opts)

    def _create_envs(self, asset: gymapi.Asset) -> None:
        assert self.sim is not None
        gym, n = self.gym, self.num_envs
        dofs = gym.get_asset_dof_dict(asset)
        if sorted(dofs) != sorted(self.desc.joint_names):
            raise RuntimeError(f"the URDF's DOFs {sorted(dofs)} are not the G1's 23 joints")
        self.num_dofs = gym.get_asset_dof_count(asset)
        #: Isaac Gym DOF index of each spec joint
        self._perm_list = [dofs[j] for j in self.desc.joint_names]
        self._perm = torch.tensor(self._perm_list, dtype=torch.long, device=self.device)
        bodies = gym.get_asset_rigid_body_dict(asset)
        self.num_bodies = gym.get_asset_rigid_body_count(asset)
        carrier = "wrist_yaw_link" if "left_wrist_yaw_link" in bodies else "elbow_link"
        self.frames = g1_frames(self.model, carrier)
        self._kin = G1Kinematics(self.model, self.device)
        need = ["pelvis", "torso_link", *(f"{s}_ankle_roll_link" for s in _SIDES), *self.frames.hand_body]
        missing = [b for b in need if b not in bodies]
        if missing:
            raise RuntimeError(f"the G1 asset has no bodies {missing}")
        self._pelvis, self._torso = bodies["pelvis"], bodies["torso_link"]
        self._feet = torch.tensor([bodies[f"{s}_ankle_roll_link"] for s in _SIDES], device=self.device)
        self._hands = torch.tensor([bodies[b] for b in self.frames.hand_body], device=self.device)
        self._kin_torso = self._kin.names.index("torso_link")
        self._kin_feet = [self._kin.names.index(f"{s}_ankle_roll_link") for s in _SIDES]
        self._kin_hands = [self._kin.names.index(b) for b in self.frames.hand_body]

        shapes = gym.get_asset_rigid_shape_properties(asset)
        for s in shapes:  # MuJoCo's contacts take the larger friction, and its floor's is 1.0
            s.friction = 1.0
        gym.set_asset_rigid_shape_properties(asset, shapes)
        props = gym.get_asset_dof_properties(asset)
        perm = self._perm_list
        props["driveMode"][perm] = int(gymapi.DOF_MODE_EFFORT if self.drive == "pd" else gymapi.DOF_MODE_POS)
        props["effort"][perm] = self.effort_limit
        props["velocity"][perm] = self.desc.array("velocity_limit")
        props["armature"][perm] = self._armature0
        self._dof_props: list[Any] = []
        self._envs: list[gymapi.Env] = []
        self._actors: list[int] = []
        index = []
        h0 = g1_desc.G1_STAND_BASE_HEIGHT + (0.1 if self.config.fix_base else 0.0)
        lower = upper = gymapi.Vec3(0.0, 0.0, 0.0)  # every environment at the world origin (legged_gym)
        per_row = max(1, int(math.sqrt(n)))
        self_collide = self.config.variant == "mesh"
        for i in range(n):
            env = gym.create_env(self.sim, lower, upper, per_row)
            pose = gymapi.Transform()
            pose.p = gymapi.Vec3(float(self._origins[i, 0]), float(self._origins[i, 1]), h0)
            actor = gym.create_actor(env, asset, pose, "g1", i, 0 if self_collide else 1, 0)
            env_props = props.copy()
            self._dof_props.append(env_props)
            self._write_dof_props(i, env, actor)
            if self.drive == "position":
                gym.enable_actor_dof_force_sensors(env, actor)
            self._envs.append(env)
            self._actors.append(actor)
            index.append(gym.get_actor_index(env, actor, gymapi.DOMAIN_SIM))
        self._actor_ids = torch.tensor(index, dtype=torch.int32, device=self.device)
        body = gym.get_actor_rigid_body_properties(self._envs[0], self._actors[0])[self._pelvis]
        inertia = body.inertia
        self._pelvis0 = (body.mass, _vec3((body.com.x, body.com.y, body.com.z)),
                         tuple(_vec3((r.x, r.y, r.z)) for r in (inertia.x, inertia.y, inertia.z)))

    def _write_dof_props(self, i: int, env: gymapi.Env | None = None, actor: int | None = None) -> None:
        """Environment ``i``'s gains, joint damping and friction into its DOF properties."""
        props, perm = self._dof_props[i], self._perm_list
        props["friction"][perm] = self._jfric[i]
        if self.drive == "position":
            props["stiffness"][perm] = self.kp[i]
            props["damping"][perm] = self.kd[i] + self._jdamp[i]  # joint damping = a drive damping towards zero velocity
        else:
            props["stiffness"][perm] = 0.0
            props["damping"][perm] = 0.0  # the PD and the joint damping are applied as torques
        self.gym.set_actor_dof_properties(self._envs[i] if env is None else env,
                                          self._actors[i] if actor is None else actor, props)

    def _zeros(self, *shape: int) -> torch.Tensor:
        return torch.zeros(shape, dtype=torch.float32, device=self.device)

    def _f32(self, a: np.ndarray) -> torch.Tensor:
        return torch.tensor(a, dtype=torch.float32, device=self.device)

    def _acquire_tensors(self) -> None:
        assert self.sim is not None
        gym, sim, n = self.gym, self.sim, self.num_envs
        self._root = gymtorch.wrap_tensor(gym.acquire_actor_root_state_tensor(sim))  # (N, 13): pos, quat xyzw, lin, ang (world)
        self._dof_flat = gymtorch.wrap_tensor(gym.acquire_dof_state_tensor(sim))  # (N * dofs, 2): pos, vel
        self._dof = self._dof_flat.view(n, self.num_dofs, 2)
        self._bodies = gymtorch.wrap_tensor(gym.acquire_rigid_body_state_tensor(sim)).view(n, self.num_bodies, 13)
        self._contact = gymtorch.wrap_tensor(gym.acquire_net_contact_force_tensor(sim)).view(n, self.num_bodies, 3)
        self._dof_force: torch.Tensor | None = None
        if self.drive == "position":
            self._dof_force = gymtorch.wrap_tensor(gym.acquire_dof_force_tensor(sim)).view(n, self.num_dofs)
        self._refresh()
        self._origin_t = self._f32(self._origins)
        self._kp_t, self._kd_t, self._effort_t = self._f32(self.kp), self._f32(self.kd), self._f32(self.effort_limit)
        self._joint_damping = self._f32(self._jdamp)
        self._command = self._zeros(n, self.num_dofs)  # torque or position target per DOF, Isaac Gym order
        self._targets_t, self._applied = self._zeros(n, self.nu), self._zeros(n, self.nu)
        self._targets_sub_t = self._zeros(n, self.decimation, self.nu)
        self._time_t, self._imu_vel = self._zeros(n), self._zeros(n, 3)
        self._sens_t, self._sens_sub_t = self._zeros(n, SENSOR_DIM), self._zeros(n, self.decimation, SENSOR_DIM)
        self._qpos_t, self._qvel_t = self._zeros(n, self.nq), self._zeros(n, self.nv)
        self._pending_root: list[torch.Tensor] = []  # env ids whose root / DOF state awaits the next step
        self._pending_dof: list[torch.Tensor] = []
        offsets, start = {}, 0
        for name, (dim, _) in SENSORS.items():
            offsets[name] = slice(start, start + dim)
            start += dim
        self._sensor_sl = offsets

    # ------------------------------------------------------------------ life cycle
    def close(self) -> None:
        """Destroy the simulation (the batch cannot step afterwards)."""
        if self.sim is not None:
            self.gym.destroy_sim(self.sim)
            self.sim = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _live(self) -> gymapi.Sim:
        if self.sim is None:
            raise RuntimeError("the batch is closed")
        return self.sim

    # ------------------------------------------------------------------ poses, reset, step
    def default_qpos(self, joint_pos: np.ndarray | None = None, base_height: float = g1_desc.G1_STAND_BASE_HEIGHT,
                     base_quat: np.ndarray | None = None) -> np.ndarray:
        """A full ``qpos`` (nq,) as :meth:`G1Batch.default_qpos <robot_learning.sim.mujoco_batch.G1Batch.default_qpos>`."""
        q = np.zeros(self.nq)
        if self.floating:
            q[2] = base_height
            q[3:7] = (1.0, 0.0, 0.0, 0.0) if base_quat is None else np.asarray(base_quat, float)
        q[self._jq0:] = self.desc.array("default_positions") if joint_pos is None else joint_pos
        return q

    def _ids(self, env_ids: np.ndarray | torch.Tensor) -> torch.Tensor:
        ids = torch.as_tensor(np.asarray(env_ids.cpu() if isinstance(env_ids, torch.Tensor) else env_ids, dtype=np.int64).reshape(-1))
        if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= self.num_envs):
            raise ValueError(f"env_ids must be in [0, {self.num_envs})")
        return ids.to(self.device)

    def _id_list(self, env_ids: np.ndarray | torch.Tensor) -> list[int]:
        return [int(i) for i in self._ids(env_ids).cpu()]

    def _tensor(self, a: np.ndarray | torch.Tensor, shape: tuple[int, ...], what: str) -> torch.Tensor:
        t = torch.as_tensor(a, dtype=torch.float32, device=self.device)
        if tuple(t.shape) != shape:
            t = t.reshape(shape) if t.numel() == math.prod(shape) else t
        if tuple(t.shape) != shape:
            raise ValueError(f"{what} must have shape {shape}, got {tuple(t.shape)}")
        return t

    def reset(self, env_ids: np.ndarray, qpos: np.ndarray | torch.Tensor, qvel: np.ndarray | torch.Tensor | None = None) -> None:
        """Put environments ``env_ids`` at ``qpos`` (k, nq) and ``qvel`` (k, nv; None: at rest), time 0,
        the base quaternion normalised; the PD targets become the reset joint positions."""
        self._live()
        ids = self._ids(env_ids)
        k = len(ids)
        if k == 0:
            return
        q = self._tensor(qpos, (k, self.nq), "qpos")
        v = torch.zeros(k, self.nv, device=self.device) if qvel is None else self._tensor(qvel, (k, self.nv), "qvel")
        if self.floating:
            quat = q[:, 3:7] / torch.linalg.vector_norm(q[:, 3:7], dim=-1, keepdim=True)
            q = torch.cat((q[:, :3], quat, q[:, 7:]), dim=-1)
            self._root[ids, 0:3] = q[:, 0:3] + self._origin_t[ids]
            self._root[ids, 3:7] = wxyz_to_xyzw(quat)
            self._root[ids, 7:10] = v[:, 0:3]
            self._root[ids, 10:13] = quat_rotate(quat, v[:, 3:6])
            self._pending_root.append(ids)
        jp, jv = q[:, self._jq0:], v[:, self._jv0:]
        rows, cols = ids.unsqueeze(1), self._perm.unsqueeze(0)
        self._dof[rows, cols, 0] = jp
        self._dof[rows, cols, 1] = jv
        self._pending_dof.append(ids)
        self._targets_t[ids] = jp
        self._time_t[ids] = 0.0
        self._qpos_t[ids], self._qvel_t[ids] = q, v
        self._sens_t[ids] = self._reset_sensors(ids, q, v)
        self._host.clear()

    def _reset_sensors(self, ids: torch.Tensor, q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Sensors at reset states: link poses by forward kinematics, no contact, at-rest acceleration."""
        k = len(ids)
        if self.floating:
            root_pos, root_quat, ang = q[:, 0:3], q[:, 3:7], quat_rotate(q[:, 3:7], v[:, 3:6])
        else:
            root_pos = torch.zeros(k, 3, device=self.device)
            root_quat = torch.tensor([1.0, 0.0, 0.0, 0.0], device=self.device).expand(k, 4)
            ang = torch.zeros(k, 3, device=self.device)
        xpos, xquat = self._kin.forward(root_pos, root_quat, q[:, self._jq0:])
        pelvis = self._kin.names.index("pelvis")
        jv = v[:, self._jv0:]
        torque = torch.clamp(-self._kd_t[ids] * jv, -self._effort_t, self._effort_t)
        self._applied[ids] = torque
        lin = v[:, 0:3] if self.floating else torch.zeros(k, 3, device=self.device)
        self._imu_vel[ids] = imu_site_velocity(self.frames, xquat[:, pelvis], lin, ang)
        return compute_sensors(
            self.frames, xpos[:, pelvis], xquat[:, pelvis], ang,
            (xpos[:, self._kin_torso], xquat[:, self._kin_torso]),
            (xpos[:, self._kin_feet], xquat[:, self._kin_feet]),
            (xpos[:, self._kin_hands], xquat[:, self._kin_hands]),
            torch.zeros(k, 2, 3, device=self.device), torque, torch.zeros(k, 3, device=self.device),
        )

    def push(self, env_ids: np.ndarray, velocity: np.ndarray | torch.Tensor) -> None:
        """Add ``velocity`` (k, 3) m/s (world) to the pelvis's linear velocity of ``env_ids``."""
        self._floating("push")
        self._live()
        ids = self._ids(env_ids)
        if len(ids) == 0:
            return
        self._root[ids, 7:10] += self._tensor(velocity, (len(ids), 3), "velocity")
        self._pending_root.append(ids)
        self._update_state()

    def height_above_ground(self, pos: np.ndarray) -> np.ndarray:
        """(N,) height of points ``pos`` (N, 3; each environment's frame) above its ground."""
        pos = np.asarray(pos, dtype=np.float64)
        if pos.shape != (self.num_envs, 3):
            raise ValueError(f"pos must have shape ({self.num_envs}, 3), got {pos.shape}")
        out = pos[:, 2].copy()
        for g in dict.fromkeys(t for t in self.terrains if t is not None):
            ids = np.array([i for i, t in enumerate(self.terrains) if t == g])
            out[ids] -= g.ground_height(pos[ids, :2])
        return out

    def step(self, targets: np.ndarray | torch.Tensor) -> None:
        """Hold joint position targets ``targets`` (N, 23; spec order) for one policy period."""
        t = self._tensor(targets, (self.num_envs, self.nu), "targets")
        self.step_substeps(t.unsqueeze(1).expand(self.num_envs, self.decimation, self.nu))

    def step_substeps(self, targets: np.ndarray | torch.Tensor) -> None:
        """One policy period with a target per physics step: ``targets`` (N, decimation, 23)."""
        sim = self._live()
        t = self._tensor(targets, (self.num_envs, self.decimation, self.nu), "targets")
        if not bool(torch.isfinite(t).all()):
            raise ValueError("targets contain NaN or inf")
        self._flush()
        perm = self._perm
        for k in range(self.decimation):
            tk = t[:, k]
            if self.drive == "pd":
                q, qd = self._dof[:, perm, 0], self._dof[:, perm, 1]
                torque = torch.clamp(self._kp_t * (tk - q) - self._kd_t * qd, -self._effort_t, self._effort_t)
                self._applied = torque
                self._command[:, perm] = torque - self._joint_damping * qd
                self.gym.set_dof_actuation_force_tensor(sim, gymtorch.unwrap_tensor(self._command))
            else:
                self._command[:, perm] = tk
                self.gym.set_dof_position_target_tensor(sim, gymtorch.unwrap_tensor(self._command))
            self.gym.simulate(sim)
            self._refresh()
            if self._dof_force is not None:
                self._applied = self._dof_force[:, perm].clone()
            self._sens_sub_t[:, k] = self._step_sensors()
        self._sens_t = self._sens_sub_t[:, -1].clone()
        self._targets_sub_t = t.clone()
        self._targets_t = self._targets_sub_t[:, -1]
        self._time_t += self.dt
        self._update_state()

    def _flush(self) -> None:
        """Send the root and DOF states written by reset/push since the last step, one indexed call each
        (on the GPU pipeline, several indexed calls of one kind before a simulate need not all apply)."""
        sim = self._live()
        for pending, setter, tensor in ((self._pending_root, self.gym.set_actor_root_state_tensor_indexed, self._root),
                                        (self._pending_dof, self.gym.set_dof_state_tensor_indexed, self._dof_flat)):
            if pending:
                actors = self._actor_ids[torch.unique(torch.cat(pending))].contiguous()
                setter(sim, gymtorch.unwrap_tensor(tensor), gymtorch.unwrap_tensor(actors), len(actors))
                pending.clear()

    def _refresh(self) -> None:
        sim = self._live()
        self.gym.refresh_dof_state_tensor(sim)
        self.gym.refresh_actor_root_state_tensor(sim)
        self.gym.refresh_rigid_body_state_tensor(sim)
        self.gym.refresh_net_contact_force_tensor(sim)
        if self.drive == "position":
            self.gym.refresh_dof_force_tensor(sim)

    def _step_sensors(self) -> torch.Tensor:
        """Sensors from the refreshed tensors (after a physics step), positions in each env's frame."""
        b, o = self._bodies, self._origin_t
        pelvis_pos = b[:, self._pelvis, 0:3] - o
        pelvis_quat = xyzw_to_wxyz(b[:, self._pelvis, 3:7])
        lin, ang = b[:, self._pelvis, 7:10], b[:, self._pelvis, 10:13]
        vel = imu_site_velocity(self.frames, pelvis_quat, lin, ang)
        acc = (vel - self._imu_vel) / self.config.physics_dt
        self._imu_vel = vel

        def poses(idx: torch.Tensor | int) -> tuple[torch.Tensor, torch.Tensor]:
            sel = b[:, idx]
            return sel[..., 0:3] - (o.unsqueeze(1) if sel.dim() == 3 else o), xyzw_to_wxyz(sel[..., 3:7])

        return compute_sensors(self.frames, pelvis_pos, pelvis_quat, ang, poses(self._torso), poses(self._feet),
                               poses(self._hands), self._contact[:, self._feet], self._applied, acc)

    def _update_state(self) -> None:
        """qpos / qvel (MuJoCo layout, each env's frame) from the root and DOF tensors."""
        jp, jv = self._dof[:, self._perm, 0], self._dof[:, self._perm, 1]
        if self.floating:
            quat = xyzw_to_wxyz(self._root[:, 3:7])
            self._qpos_t = torch.cat((self._root[:, 0:3] - self._origin_t, quat, jp), dim=-1)
            self._qvel_t = torch.cat((self._root[:, 7:10], quat_rotate_inverse(quat, self._root[:, 10:13]), jv), dim=-1)
        else:
            self._qpos_t, self._qvel_t = jp.clone(), jv.clone()
        self._host.clear()

    def torch_state(self) -> dict[str, torch.Tensor]:
        """The state on the device, float32, no host copy (valid until the next step/reset), with the keys
        of :meth:`G1WarpBatch.torch_state <robot_learning.sim.warp_batch.G1WarpBatch.torch_state>`: ``qpos``
        (N, nq), ``qvel`` (N, nv), ``sensordata`` (N, SENSOR_DIM; slice with :meth:`sensor_slice`),
        ``sensordata_substeps`` (N, decimation, SENSOR_DIM), ``targets_substeps`` (N, decimation, 23), ``ctrl``
        (N, 23, the last substep's targets); and ``actuator_force`` (N, 23), ``time`` (N,)."""
        return {"qpos": self._qpos_t, "qvel": self._qvel_t, "sensordata": self._sens_t,
                "sensordata_substeps": self._sens_sub_t, "targets_substeps": self._targets_sub_t,
                "ctrl": self._targets_t, "actuator_force": self._applied, "time": self._time_t}

    def sensor_slice(self, name: str) -> slice:
        """Columns of sensor ``name`` in ``torch_state()["sensordata"]``."""
        if name not in self._sensor_sl:
            raise KeyError(f"unknown sensor {name!r}; known: {sorted(SENSORS)}")
        return self._sensor_sl[name]

    # ------------------------------------------------------------------ host views
    def _cached(self, name: str, tensor: torch.Tensor) -> np.ndarray:
        a = self._host.get(name)
        if a is None:
            a = tensor.detach().to("cpu", torch.float64).numpy()
            a.flags.writeable = False
            self._host[name] = a
        return a

    @property
    def time(self) -> np.ndarray:
        return self._cached("time", self._time_t)

    @property
    def qpos(self) -> np.ndarray:
        return self._cached("qpos", self._qpos_t)

    @property
    def qvel(self) -> np.ndarray:
        return self._cached("qvel", self._qvel_t)

    @property
    def targets(self) -> np.ndarray:
        return self._cached("targets", self._targets_t)

    @property
    def actuator_force(self) -> np.ndarray:
        return self.sensor("actuator_force")

    def sensor(self, name: str) -> np.ndarray:
        """(N, dim) values of sensor ``name``, one of :data:`SENSORS`."""
        return self._cached("sensordata", self._sens_t)[:, self.sensor_slice(name)]

    def sensor_substeps(self, name: str) -> np.ndarray:
        """(N, decimation, dim) sensor ``name`` after every physics step of the last :meth:`step`."""
        return self._cached("sensor_substeps", self._sens_sub_t)[:, :, self.sensor_slice(name)]

    # ------------------------------------------------------------------ domain randomisation
    def randomize(self, env_ids: np.ndarray, friction: np.ndarray | None = None, mass_delta: np.ndarray | None = None,
                  com_offset: np.ndarray | None = None, motor_strength: np.ndarray | None = None) -> None:
        """Per-environment physics relative to nominal, as :meth:`G1Batch.randomize
        <robot_learning.sim.mujoco_batch.G1Batch.randomize>` (None returns a parameter to nominal)."""
        self._live()
        ids = self._id_list(env_ids)
        k = len(ids)
        strength = np.ones((k, self.nu))
        if motor_strength is not None:
            strength[:] = np.asarray(motor_strength, dtype=np.float64).reshape(k, -1)
        mass0, com0, inertia0 = self._pelvis0
        if com_offset is not None and np.any(com_offset) and not self._com_warned:
            warnings.warn("Isaac Gym does not apply centre-of-mass changes on the GPU pipeline; com_offset has no effect",
                          stacklevel=2)
            self._com_warned = True
        for j, i in enumerate(ids):
            env, actor = self._envs[i], self._actors[i]
            shapes = self.gym.get_actor_rigid_shape_properties(env, actor)
            for s in shapes:
                s.friction = 1.0 if friction is None else float(friction[j])
            self.gym.set_actor_rigid_shape_properties(env, actor, shapes)
            bodies = self.gym.get_actor_rigid_body_properties(env, actor)
            body = bodies[self._pelvis]
            mass = mass0 + (0.0 if mass_delta is None else float(mass_delta[j]))
            if mass <= 0:
                raise ValueError(f"pelvis mass would be {mass} kg")
            scale = mass / mass0
            offset = (0.0, 0.0, 0.0) if com_offset is None else _vec3(com_offset[j])
            body.mass = mass
            body.com = gymapi.Vec3(*(c + d for c, d in zip(com0, offset)))
            inertia = body.inertia
            inertia.x, inertia.y, inertia.z = (gymapi.Vec3(*(scale * e for e in row)) for row in inertia0)
            body.inertia = inertia
            self.gym.set_actor_rigid_body_properties(env, actor, bodies, False)
        self._apply_gains(ids, self.desc.array("kp") * strength, self.desc.array("kd") * strength)

    def set_gains(self, env_ids: np.ndarray, kp: np.ndarray, kd: np.ndarray) -> None:
        """PD gains ``kp``, ``kd`` ((23,) or (k, 23)) for ``env_ids``; the effort limits stay."""
        ids = self._id_list(env_ids)
        kp = np.broadcast_to(np.asarray(kp, dtype=np.float64), (len(ids), self.nu))
        kd = np.broadcast_to(np.asarray(kd, dtype=np.float64), (len(ids), self.nu))
        if np.any(kp <= 0) or np.any(kd < 0):
            raise ValueError("kp must be > 0 and kd >= 0")
        self._apply_gains(ids, kp, kd)

    def _apply_gains(self, ids: list[int], kp: np.ndarray, kd: np.ndarray) -> None:
        self.kp[ids], self.kd[ids] = kp, kd
        rows = torch.tensor(ids, dtype=torch.long, device=self.device)
        self._kp_t[rows] = torch.as_tensor(kp, dtype=torch.float32, device=self.device)
        self._kd_t[rows] = torch.as_tensor(kd, dtype=torch.float32, device=self.device)
        if self.drive == "position":
            for i in ids:
                self._write_dof_props(i)

    def set_joint_friction(self, env_ids: np.ndarray, damping: np.ndarray, frictionloss: np.ndarray) -> None:
        """Viscous damping (N m s/rad) and dry friction (N m) on every joint of ``env_ids``, on top of the
        nominal model's ((k,) or (k, 23) each)."""
        ids = self._id_list(env_ids)
        k = len(ids)
        damping = np.broadcast_to(np.asarray(damping, dtype=np.float64).reshape(k, -1), (k, self.nu))
        frictionloss = np.broadcast_to(np.asarray(frictionloss, dtype=np.float64).reshape(k, -1), (k, self.nu))
        if np.any(damping < 0) or np.any(frictionloss < 0):
            raise ValueError("joint damping and friction must be >= 0")
        self._jdamp[ids] = self._damping0 + damping
        self._jfric[ids] = self._frictionloss0 + frictionloss
        self._joint_damping[torch.tensor(ids, dtype=torch.long, device=self.device)] = self._f32(self._jdamp[ids])
        for i in ids:
            self._write_dof_props(i)

    def sample_randomization(self, env_ids: np.ndarray, ranges: RandomizationRanges | None = None) -> None:
        """:meth:`randomize` ``env_ids`` with values drawn uniformly from ``ranges`` by ``self.rng``."""
        r = ranges or RandomizationRanges()
        ids = np.asarray(env_ids, dtype=np.int64).reshape(-1)
        k, u = len(ids), self.rng.uniform
        self.randomize(ids, friction=u(*r.friction, size=k), mass_delta=u(*r.mass_delta, size=k),
                       com_offset=u(*r.com_offset, size=(k, 3)), motor_strength=u(*r.motor_strength, size=(k, self.nu)))
