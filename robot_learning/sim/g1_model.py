"""The 23-DoF Unitree G1 as a MuJoCo model, built once and shared by the single-robot and batched sims.

:func:`build_g1_spec` returns the editable :class:`mujoco.MjSpec` (so that callers such as
:mod:`robot_learning.sim.g1_batch_model` can add sites and sensors before compiling);
:func:`build_g1_model` compiles it. The PD actuators and IMU sensors come from
:mod:`robot_learning.sim.mjspec_pd`, shared with :class:`robot_learning.sim.mujoco_robot.MujocoJointRobot`
(``tests/test_mujoco_batch.py`` checks that both produce the same dynamics):

- Menagerie's position actuators are deleted and replaced, in spec joint order, by one "general"
  actuator per joint, ``force = kp * ctrl - kp * q - kd * qd`` clipped to the effort limit, so that
  ``ctrl`` is the PD position target (actuator ``i`` = ``G1_SPEC.joint_names[i]``);
- the six wrist joints are deleted (hands welded to the elbows at zero wrist angle): nv = 6 + 23;
- ``fix_base=True`` deletes the free joint (pelvis welded to the world at ``base_height``);
- keyframes are deleted (they no longer fit nq);
- mesh variant: the rubber hands, visual-only in Menagerie's g1.xml, are added as collision meshes
  (:func:`add_hand_collisions`): the real hands push on the ground when the robot gets up, and the
  primitive variant has them as capsules. Without them the mesh model's hands end 15 cm short of the
  primitive's (measured: the primitive's hand capsule reaches 0.39 m beyond the shoulder, the
  mesh's wrist 0.25 m), so a get-up that leans on its hands fell back in the mesh model;
- IMU sensors ``rl_imu_quat`` (framequat), ``rl_imu_gyro``, ``rl_imu_acc`` on the pelvis IMU site, and a
  site ``rl_head`` at :data:`robot_learning.robots.g1.G1_HEAD_OFFSET` in ``torso_link``.
"""
from __future__ import annotations

from typing import Literal

import mujoco

from robot_learning.robots import g1 as g1_desc
from robot_learning.robots.assets import g1_model_path
from robot_learning.robots.g1_mjcf import add_hand_collisions
from robot_learning.sim.mjspec_pd import (  # noqa: F401 (names re-exported for the batched sim)
    ACTUATOR_PREFIX,
    IMU_ACC_SENSOR,
    IMU_GYRO_SENSOR,
    IMU_QUAT_SENSOR,
    add_imu_sensors,
    replace_with_pd_actuators,
)
from robot_learning.sim.terrain import TerrainConfig, apply_terrain

#: Names of what this module adds to the model.
HEAD_SITE = "rl_head"


def build_g1_spec(
    variant: Literal["mesh", "primitive"] = "primitive",
    fix_base: bool = False,
    physics_dt: float = 0.002,
    base_height: float | None = None,
    terrain: TerrainConfig | None = None,
) -> mujoco.MjSpec:
    """The G1 (23 DoF, spec PD actuators, IMU sensors, head site) as an uncompiled ``MjSpec``.

    Args:
        variant: ``"primitive"`` (Menagerie g1_mjx.xml: capsules/boxes/spheres, explicit contact pairs
            with the floor; fast) or ``"mesh"`` (g1.xml: convex mesh collisions).
        fix_base: weld the pelvis to the world (no free joint).
        physics_dt: MuJoCo time step (s).
        base_height: pelvis height for ``fix_base`` (default: standing height + 0.1 m); ignored otherwise.
        terrain: the ground (:mod:`robot_learning.sim.terrain`); None: the flat floor.
    """
    spec_desc = g1_desc.G1_SPEC
    spec = mujoco.MjSpec.from_file(str(g1_model_path(variant)))
    replace_with_pd_actuators(spec, spec_desc, g1_desc.G1_WRIST_JOINTS, delete_free_joint=fix_base, source=str(g1_model_path(variant)))
    add_imu_sensors(spec, spec_desc)
    if variant == "mesh":
        add_hand_collisions(spec)
    spec.body("torso_link").add_site(name=HEAD_SITE, pos=list(g1_desc.G1_HEAD_OFFSET))
    if fix_base:
        pelvis = spec.body("pelvis")
        height = g1_desc.G1_STAND_BASE_HEIGHT + 0.1 if base_height is None else float(base_height)
        pelvis.pos = [0.0, 0.0, height]
        # MuJoCo's parent-child contact filter does not apply to a body welded to the world.
        for child in pelvis.bodies:
            spec.add_exclude(bodyname1="pelvis", bodyname2=child.name)
    spec.option.timestep = physics_dt
    apply_terrain(spec, terrain)
    return spec


def build_g1_model(
    variant: Literal["mesh", "primitive"] = "primitive",
    fix_base: bool = False,
    physics_dt: float = 0.002,
) -> mujoco.MjModel:
    """The compiled G1 of :func:`build_g1_spec`."""
    return build_g1_spec(variant, fix_base=fix_base, physics_dt=physics_dt).compile()
