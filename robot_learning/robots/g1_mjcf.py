"""Edits to Menagerie's G1 MJCF (``g1.xml``) that every consumer of the mesh model applies: the MuJoCo
mesh variant (:mod:`robot_learning.sim.g1_model`) and the URDF converted for PyBullet
(:mod:`robot_learning.robots.g1_urdf`)."""
from __future__ import annotations

import mujoco

RUBBER_HAND_MESHES = ("left_rubber_hand", "right_rubber_hand")


def add_hand_collisions(spec: mujoco.MjSpec) -> int:
    """Give each visual-only rubber-hand mesh of ``spec`` a collision twin (group 3, colliding with
    everything, as g1.xml's other collision meshes), unless it has one already. Returns how many were
    added; raises if the model has no rubber hands (a changed asset)."""
    geoms = [g for g in spec.geoms if g.meshname in RUBBER_HAND_MESHES]
    if {g.meshname for g in geoms} != set(RUBBER_HAND_MESHES):
        raise ValueError(f"expected the meshes {RUBBER_HAND_MESHES} in the G1 mesh model, found "
                         f"{sorted({g.meshname for g in geoms})}")
    colliding = {g.meshname for g in geoms if g.contype or g.conaffinity}
    added = 0
    for geom in geoms:
        if geom.meshname in colliding:
            continue
        twin = geom.parent.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=geom.meshname,
                                    pos=list(geom.pos), quat=list(geom.quat), group=3)
        twin.contype, twin.conaffinity, twin.density = 1, 1, 0.0
        colliding.add(geom.meshname)
        added += 1
    return added
