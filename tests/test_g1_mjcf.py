"""The mesh G1's rubber hands collide (Menagerie's g1.xml has them visual-only), in MuJoCo and in the
URDF converted for PyBullet, and reach as far as the primitive model's hand capsules."""
from __future__ import annotations

import mujoco
import numpy as np
import pytest

from robot_learning.robots.assets import g1_model_path
from robot_learning.robots.g1_mjcf import RUBBER_HAND_MESHES, add_hand_collisions
from robot_learning.sim.g1_model import build_g1_model


def _hand_reach(model: mujoco.MjModel) -> float:
    """Farthest x (m) of the left hand's collision geoms with the robot upright, arms at zero
    (pointing forward from the elbow)."""
    d = mujoco.MjData(model)
    d.qpos[2], d.qpos[3] = 1.0, 1.0
    mujoco.mj_forward(model, d)
    body = model.body("left_wrist_yaw_link").id
    reach = -np.inf
    for g in range(model.ngeom):
        paired = g in model.pair_geom1 or g in model.pair_geom2  # the primitive model's explicit pairs
        if model.geom_bodyid[g] != body or not (model.geom_contype[g] or model.geom_conaffinity[g] or paired):
            continue
        centre, half = model.geom_aabb[g][:3], model.geom_aabb[g][3:]
        corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]) * half + centre
        reach = max(reach, float((d.geom_xpos[g] + corners @ d.geom_xmat[g].reshape(3, 3).T)[:, 0].max()))
    return reach


def test_mesh_hands_collide_and_reach_as_far_as_the_primitive_capsules() -> None:
    mesh, primitive = build_g1_model("mesh"), build_g1_model("primitive")
    colliding = [mesh.mesh(mesh.geom_dataid[g]).name for g in range(mesh.ngeom)
                 if mesh.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH and (mesh.geom_contype[g] or mesh.geom_conaffinity[g])]
    assert set(RUBBER_HAND_MESHES) <= set(colliding)
    # measured: primitive capsule 0.394 m, mesh with the rubber hand ~0.39 m, without it 0.247 m
    assert _hand_reach(mesh) == pytest.approx(_hand_reach(primitive), abs=0.03)


def test_add_hand_collisions_adds_once_and_names_a_changed_asset() -> None:
    spec = mujoco.MjSpec.from_file(str(g1_model_path("mesh")))
    assert add_hand_collisions(spec) == 2
    assert add_hand_collisions(spec) == 0  # they collide already
    for geom in list(spec.geoms):
        if geom.meshname == "right_rubber_hand":
            spec.delete(geom)
    with pytest.raises(ValueError, match="right_rubber_hand"):
        add_hand_collisions(spec)


def test_pybullet_urdf_has_the_hand_collisions(tmp_path) -> None:
    from robot_learning.robots.g1_urdf import g1_urdf_path

    text = g1_urdf_path(cache_dir=tmp_path).urdf_path.read_text()
    assert text.count("rubber_hand") >= 4  # a visual and a collision mesh per hand
