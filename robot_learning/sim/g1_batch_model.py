"""The batched G1's MuJoCo model: the G1 of :func:`~robot_learning.sim.g1_model.build_g1_spec` with the
sites and sensors every reward reads (:data:`SENSORS`), optionally stripped of everything visual.

:class:`~robot_learning.sim.mujoco_batch.G1Batch` compiles one per ground and steps it; the sensors
come back in rollout's ``sensordata``. Stripping drops visual-only geoms, unused meshes, textures and
materials, so per-environment model copies (domain randomisation) are cheap; bodies carry explicit
inertials, so masses and inertias are unchanged.
"""
from __future__ import annotations

from typing import Literal

import mujoco

from robot_learning.robots import g1 as g1_desc
from robot_learning.sim.g1_model import (
    ACTUATOR_PREFIX,
    HEAD_SITE,
    IMU_ACC_SENSOR,
    IMU_GYRO_SENSOR,
    IMU_QUAT_SENSOR,
    build_g1_spec,
)
from robot_learning.sim.terrain import TerrainConfig

#: Sole box (centre and half sizes, ankle_roll_link frame) covering the foot's contact geoms in both
#: variants: primitive box bottom and mesh contact spheres are at z = -0.035..-0.037 m, x -0.05..0.13 m.
SOLE_POS = (0.04, 0.0, -0.035)
SOLE_HALF_SIZE = (0.1, 0.05, 0.02)
#: Hand point (palm centre) in the wrist_yaw_link frame (the wrists are welded at zero angle).
HAND_POS = (0.11, 0.0, 0.0)

#: Public sensor names -> (dimension, meaning and frame). All positions are in the world frame (m).
SENSORS: dict[str, tuple[int, str]] = {
    "imu_quat": (4, "pelvis IMU site orientation in the world, quaternion (w, x, y, z)"),
    "imu_gyro": (3, "pelvis IMU angular velocity, IMU frame (rad/s)"),
    "imu_acc": (3, "pelvis IMU specific force, IMU frame (m/s^2; +9.81 along up at rest)"),
    "head_pos": (3, "head centre (torso_link + G1_HEAD_OFFSET), world (m)"),
    "pelvis_pos": (3, "pelvis body frame origin, world (m) (= qpos[0:3])"),
    "torso_zaxis": (3, "torso_link z axis in the world (unit vector; z component 1 = torso upright)"),
    "pelvis_zaxis": (3, "pelvis z axis in the world (unit vector)"),
    "left_foot_pos": (3, "centre of the left sole (ankle_roll_link + SOLE_POS), world (m)"),
    "right_foot_pos": (3, "centre of the right sole, world (m)"),
    "left_foot_force": (1, "sum of contact normal forces inside the left sole box (N)"),
    "right_foot_force": (1, "sum of contact normal forces inside the right sole box (N)"),
    "left_hand_pos": (3, "left palm point (wrist_yaw_link + HAND_POS), world (m)"),
    "right_hand_pos": (3, "right palm point, world (m)"),
    "actuator_force": (23, "applied (clipped) PD torque per joint, spec order (N m)"),
}

#: MuJoCo names of the sensors that build_g1_spec adds (the others are ``"rl_" + public name``).
INTERNAL_SENSOR_NAMES = {"imu_quat": IMU_QUAT_SENSOR, "imu_gyro": IMU_GYRO_SENSOR, "imu_acc": IMU_ACC_SENSOR}


def strip_visual(spec: mujoco.MjSpec) -> None:
    """Delete geoms that take part in no collision (contype = conaffinity = 0 and in no explicit pair),
    the meshes no remaining geom uses, and all textures and materials. Bodies of the G1 have explicit
    inertials, so masses and inertias do not change."""
    paired = {name for pair in spec.pairs for name in (pair.geomname1, pair.geomname2)}
    for geom in list(spec.geoms):
        if geom.contype == 0 and geom.conaffinity == 0 and geom.name not in paired:
            spec.delete(geom)
    used = {g.meshname for g in spec.geoms if g.type == mujoco.mjtGeom.mjGEOM_MESH}
    for mesh in list(spec.meshes):
        if mesh.name not in used:
            spec.delete(mesh)
    for geom in spec.geoms:
        geom.material = ""
    for material in list(spec.materials):
        spec.delete(material)
    for texture in list(spec.textures):
        spec.delete(texture)


def add_reward_sensors(spec: mujoco.MjSpec) -> None:
    """Add the sites and sensors of :data:`SENSORS` (except the IMU ones, which
    :func:`~robot_learning.sim.g1_model.build_g1_spec` adds) to a G1 spec. MuJoCo names are
    ``"rl_" + public name`` (``actuator_force`` is 23 sensors ``rl_actuator_force_<joint>``)."""

    def sensor(name: str, kind: mujoco.mjtSensor, objtype: mujoco.mjtObj, objname: str) -> None:
        s = spec.add_sensor()
        s.name, s.type, s.objtype, s.objname = name, kind, objtype, objname

    site, xbody = mujoco.mjtObj.mjOBJ_SITE, mujoco.mjtObj.mjOBJ_XBODY
    for side in ("left", "right"):
        spec.body(f"{side}_ankle_roll_link").add_site(
            name=f"rl_{side}_sole", type=mujoco.mjtGeom.mjGEOM_BOX, pos=list(SOLE_POS), size=list(SOLE_HALF_SIZE)
        )
        spec.body(f"{side}_wrist_yaw_link").add_site(name=f"rl_{side}_hand", pos=list(HAND_POS))
    sensor("rl_head_pos", mujoco.mjtSensor.mjSENS_FRAMEPOS, site, HEAD_SITE)
    sensor("rl_pelvis_pos", mujoco.mjtSensor.mjSENS_FRAMEPOS, xbody, "pelvis")
    sensor("rl_torso_zaxis", mujoco.mjtSensor.mjSENS_FRAMEZAXIS, xbody, "torso_link")
    sensor("rl_pelvis_zaxis", mujoco.mjtSensor.mjSENS_FRAMEZAXIS, xbody, "pelvis")
    for side in ("left", "right"):
        sensor(f"rl_{side}_foot_pos", mujoco.mjtSensor.mjSENS_FRAMEPOS, site, f"rl_{side}_sole")
    for side in ("left", "right"):
        sensor(f"rl_{side}_foot_force", mujoco.mjtSensor.mjSENS_TOUCH, site, f"rl_{side}_sole")
    for side in ("left", "right"):
        sensor(f"rl_{side}_hand_pos", mujoco.mjtSensor.mjSENS_FRAMEPOS, site, f"rl_{side}_hand")
    for joint in g1_desc.G1_SPEC.joint_names:
        sensor(
            f"rl_actuator_force_{joint}", mujoco.mjtSensor.mjSENS_ACTUATORFRC,
            mujoco.mjtObj.mjOBJ_ACTUATOR, f"{ACTUATOR_PREFIX}{joint}",
        )


def build_batch_model(
    variant: Literal["primitive", "mesh"] = "primitive", physics_dt: float = 0.002, strip: bool = True,
    fix_base: bool = False, terrain: TerrainConfig | None = None,
) -> mujoco.MjModel:
    """The G1 (free-floating, or with the pelvis welded to the world) with the reward sensors of
    :data:`SENSORS` (optionally without visuals)."""
    spec = build_g1_spec(variant, fix_base=fix_base, physics_dt=physics_dt, terrain=terrain)
    if strip:
        strip_visual(spec)
    add_reward_sensors(spec)
    return spec.compile()


def sensor_slices(model: mujoco.MjModel, joint_names: tuple[str, ...] | list[str]) -> dict[str, slice]:
    """Where each of :data:`SENSORS` lies in ``model``'s ``sensordata`` (the actuator forces start at the
    first joint's sensor)."""
    out: dict[str, slice] = {}
    for name, (dim, _) in SENSORS.items():
        first = INTERNAL_SENSOR_NAMES.get(name, f"rl_{name}" if name != "actuator_force" else f"rl_actuator_force_{joint_names[0]}")
        adr = int(model.sensor_adr[model.sensor(first).id])
        out[name] = slice(adr, adr + dim)
    return out
