"""Forward kinematics of the G1 for grounding poses (MuJoCo's ``mj_kinematics``, no dynamics)."""
from __future__ import annotations

import mujoco
import numpy as np

from robot_learning.motion.keyframes import Variant
from robot_learning.robots.g1 import G1_SPEC
from robot_learning.sim.mujoco_robot import MujocoJointRobot, MujocoRobotConfig


class GroundKinematics:
    """Forward kinematics of the G1 for grounding poses: lowest points of the floor-touching geoms.

    Uses the same compiled model as the simulator (:class:`MujocoJointRobot`, wrists removed), so the
    reference and the environment agree on every link length.
    """

    def __init__(self, variant: Variant = "primitive") -> None:
        self.robot = MujocoJointRobot(MujocoRobotConfig(robot="g1", variant=variant))
        self.model, self.data = self.robot.model, mujoco.MjData(self.robot.model)
        m = self.model
        self.qadr = np.array([m.jnt_qposadr[m.joint(n).id] for n in G1_SPEC.joint_names], dtype=np.int64)
        free = [j for j in range(m.njnt) if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE]
        self.free_qadr = int(m.jnt_qposadr[free[0]])
        self.head_site = m.site("rl_head").id
        self.geoms = self._floor_geoms()

    def _floor_geoms(self) -> np.ndarray:
        m = self.model
        floor = {g for g in range(m.ngeom) if m.geom_bodyid[g] == 0}
        chosen = set()
        for a, b in zip(m.pair_geom1, m.pair_geom2):
            if a in floor and b not in floor:
                chosen.add(int(b))
            elif b in floor and a not in floor:
                chosen.add(int(a))
        for g in range(m.ngeom):  # geoms colliding by contype/conaffinity (the mesh model)
            if g not in floor and (m.geom_contype[g] or m.geom_conaffinity[g]):
                chosen.add(g)
        return np.array(sorted(chosen), dtype=np.int64)

    def qpos(self, joint_pos: np.ndarray, root_pos: np.ndarray, root_quat_wxyz: np.ndarray) -> np.ndarray:
        """Full MuJoCo ``qpos`` (nq,) for one frame."""
        q = np.zeros(self.model.nq)
        a = self.free_qadr
        q[a : a + 3] = root_pos
        q[a + 3 : a + 7] = root_quat_wxyz / np.linalg.norm(root_quat_wxyz)
        q[self.qadr] = joint_pos
        return q

    def forward(self, qpos: np.ndarray) -> None:
        """``mj_kinematics`` at ``qpos`` (positions of bodies, geoms and sites only; no dynamics)."""
        self.data.qpos[:] = qpos
        mujoco.mj_kinematics(self.model, self.data)

    def lowest_points(self) -> np.ndarray:
        """(n_geoms, 3) world position of each floor-touching geom's lowest point (after :meth:`forward`)."""
        m, d = self.model, self.data
        out = np.empty((len(self.geoms), 3))
        for i, g in enumerate(self.geoms):
            c, R, s = d.geom_xpos[g], d.geom_xmat[g].reshape(3, 3), m.geom_size[g]
            kind = m.geom_type[g]
            if kind == mujoco.mjtGeom.mjGEOM_SPHERE:
                p = c - np.array([0.0, 0.0, s[0]])
            elif kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
                ends = (c + R[:, 2] * s[1], c - R[:, 2] * s[1])
                p = min(ends, key=lambda e: e[2]) - np.array([0.0, 0.0, s[0]])
            elif kind == mujoco.mjtGeom.mjGEOM_BOX:
                p = c - R @ (np.sign(R[2, :]) * s[:3])
            elif kind == mujoco.mjtGeom.mjGEOM_CYLINDER:
                az = R[2, 2]
                p = c - np.array([0.0, 0.0, abs(az) * s[1] + np.sqrt(max(0.0, 1.0 - az * az)) * s[0]])
            elif kind == mujoco.mjtGeom.mjGEOM_MESH:
                mid = m.geom_dataid[g]
                v = m.mesh_vert[m.mesh_vertadr[mid] : m.mesh_vertadr[mid] + m.mesh_vertnum[mid]]
                world = c + v @ R.T
                p = world[np.argmin(world[:, 2])]
            else:  # ellipsoid or anything else: its bounding sphere
                p = c - np.array([0.0, 0.0, m.geom_rbound[g]])
            out[i] = p
        return out

    def head_height(self) -> float:
        return float(self.data.site_xpos[self.head_site, 2])
