"""The image option's cameras rendered by PyBullet: the second engine's eyes for the image-policy gate.

The same :class:`~robot_learning.tasks.hil_serl.scene.CameraConfig` cameras as MuJoCo's
(:mod:`robot_learning.tasks.hil_serl.env`), drawn by PyBullet's CPU rasteriser
(``getCameraImage`` with ``ER_TINY_RENDERER``: no GPU or OpenGL context is needed):

- **intrinsics**: a perspective projection from the camera's vertical field of view, the frame's aspect
  ratio and MuJoCo's clipping planes for this scene (:data:`MUJOCO_NEAR_M`, :data:`MUJOCO_FAR_M`:
  ``visual.map.znear`` / ``zfar`` times the model's extent), shifted by half a pixel (the tiny renderer
  samples pixel corners, OpenGL pixel centres), so a world point lands on the same pixel as in MuJoCo
  (:func:`project` is that pinhole model in pixels, for tests and checks);
- **extrinsics**: a ``world`` camera is placed from its ``pos``/``target``/``up`` as given; a ``hand``
  camera from the hand link's pose. PyBullet's ``panda_hand`` link frame (pybullet_data's
  ``franka_panda/panda.urdf``) is MuJoCo Menagerie's ``hand`` body frame (x forward, y along the finger
  motion, z towards the fingertips; tested equal for the same joint angles), so :data:`HAND_FROM_LINK`
  is the identity, kept as the one place to correct a URDF whose link frame differs;
- **frames**: uint8 RGB ``(height, width, 3)``, row 0 at the top, as ``<camera>_image`` (the names and
  the layout of :func:`~robot_learning.tasks.hil_serl.scene.camera_layout`).

The scene's looks are matched where it is cheap: MuJoCo Menagerie's checker floor (:func:`floor_visual`),
the cube's and the bin's colours (set where those bodies are built), MuJoCo's lighting levels
(:class:`PyBulletRenderConfig`), no shadows and no anti-aliasing in either. The rest is left as each
engine draws it: the robot's meshes and materials (Menagerie's white and black vs pybullet_data's
textured meshes), smooth vs flat shading, MuJoCo's specular highlights and its drawing of the TCP site.
``benchmarks/hil_serl_renderers.py`` measures what differs, per region and through the frozen encoder.
"""
from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pybullet as p

from robot_learning.core.checks import check
from robot_learning.tasks.hil_serl.scene import CameraConfig

# MuJoCo's clipping planes for the pick-and-place scene: visual.map.znear (0.01) and zfar (50) times
# the model's extent (1.3255 m); tests/test_hil_serl_pybullet_cameras.py checks them against the model
MUJOCO_NEAR_M = 0.013255
MUJOCO_FAR_M = 66.27
# the camera body "hand" in the frame of PyBullet's hand link: (rotation, offset); identity for panda.urdf
HAND_FROM_LINK: tuple[np.ndarray, np.ndarray] = (np.eye(3), np.zeros(3))
# MuJoCo Menagerie's floor (scene.xml): builtin checker, rgb1 0.2 0.3 0.4, rgb2 0.1 0.2 0.3, edge marks 0.8,
# 300 x 300 texels, one texture period every 0.4 m with its edges at 0.2 + 0.4 k m (measured from MuJoCo's frames)
FLOOR_RGB = ((0.2, 0.3, 0.4), (0.1, 0.2, 0.3))
FLOOR_MARK_RGB = (0.8, 0.8, 0.8)
FLOOR_PERIOD_M = 0.4
FLOOR_TEXELS = 300
FLOOR_TEXTURE_POOL = 10  # texels averaged into one (1.3 cm): MuJoCo's mipmapped look at these distances

HandPose = Callable[[], "tuple[np.ndarray, np.ndarray]"]


@dataclass
class PyBulletRenderConfig:
    """How PyBullet's tiny renderer lights the scene to look like MuJoCo's frames.

    MuJoCo lights this scene with a headlight (ambient 0.3, diffuse 0.6, along the view) and two
    lights from above; their sum passes 1 on faces that look up, and OpenGL clips the lit colour per
    channel: an upward face shows ``min(1, up_gain x colour)`` (measured: 2.0-2.1), a textured one
    (the floor) its texture unchanged (the light is clipped before it multiplies the texture), and a
    side face ``colour x (0.3 + 0.6 cos(angle to the view))``. PyBullet has one directional light and
    flat shading: the light comes from above with diffuse ``up_gain - ambient`` (upward faces: ``up_gain``),
    the ambient is the headlight's level on a vertical face turned to the camera (``headlight_ambient +
    headlight_diffuse x cos(camera pitch)``, per camera), and the floor's texture is divided by ``up_gain``.

    Attributes:
        up_gain: MuJoCo's lit colour over the material colour on an upward face (before clipping).
        headlight_ambient / headlight_diffuse: MuJoCo's headlight (Menagerie's scene.xml).
        specular: PyBullet's specular coefficient (MuJoCo's highlights are small at these sizes: none).
        shadows: PyBullet's shadow map (MuJoCo's frames are rendered without shadows: off).
        floor_half_m: half-size of the textured floor square around the robot's base.
    """

    up_gain: float = 2.05
    headlight_ambient: float = 0.3
    headlight_diffuse: float = 0.6
    specular: float = 0.0
    shadows: bool = False
    floor_half_m: float = 3.0

    def __post_init__(self) -> None:
        check(self, positive=("up_gain", "floor_half_m"), non_negative=("headlight_ambient", "headlight_diffuse", "specular"))

    def lighting(self, eye: np.ndarray, target: np.ndarray) -> dict[str, float]:
        """``getCameraImage``'s light coefficients for a camera looking from ``eye`` at ``target``."""
        f = np.asarray(target, dtype=np.float64) - eye
        cos_pitch = float(np.linalg.norm(f[:2]) / np.linalg.norm(f))
        ambient = min(self.headlight_ambient + self.headlight_diffuse * cos_pitch, self.up_gain)
        return {"lightAmbientCoeff": ambient, "lightDiffuseCoeff": self.up_gain - ambient, "lightSpecularCoeff": self.specular}


def camera_world_pose(cam: CameraConfig, hand_pos: np.ndarray | None = None,
                      hand_rot: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The camera's eye, target and up in the world; a ``hand`` camera needs the hand's pose (position,
    3 x 3 rotation of the MuJoCo-convention hand frame)."""
    pos, target, up = (np.asarray(v, dtype=np.float64) for v in (cam.pos, cam.target, cam.up))
    if cam.body == "world":
        return pos, target, up
    if hand_pos is None or hand_rot is None:
        raise ValueError("a camera on the hand needs the hand's pose")
    r, t = np.asarray(hand_rot, dtype=np.float64), np.asarray(hand_pos, dtype=np.float64)
    return r @ pos + t, r @ target + t, r @ up


def camera_axes(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Columns: the image's right, the image's up, and the camera's back (it looks along -z), as
    MuJoCo's ``xyaxes`` and OpenGL's look-at build them."""
    f = np.asarray(target, dtype=np.float64) - eye
    f /= np.linalg.norm(f)
    x = np.cross(f, up)
    x /= np.linalg.norm(x)
    y = np.cross(x, f)
    return np.stack([x, y, -f], axis=1)


def project(points: np.ndarray, cam: CameraConfig, eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """World points (N, 3) -> pixel coordinates (N, 2): u to the right, v down, pixel ``i`` covering
    ``[i, i + 1)`` (so a pixel's centre is ``i + 0.5``): the pinhole of ``cam.intrinsics()``."""
    k = cam.intrinsics()
    local = (np.atleast_2d(points) - eye) @ camera_axes(eye, target, up)  # camera frame: x right, y up, z back
    depth = -local[:, 2]
    if np.any(depth <= 0):
        raise ValueError("a point behind the camera has no pixel")
    return np.stack([k["cx"] + k["fx"] * local[:, 0] / depth, k["cy"] - k["fy"] * local[:, 1] / depth], axis=1)


def projection_matrix(cam: CameraConfig, near: float = MUJOCO_NEAR_M, far: float = MUJOCO_FAR_M) -> list[float]:
    """PyBullet's (OpenGL, column-major) projection: vertical field of view, the frame's aspect ratio,
    MuJoCo's clipping planes, and a half-pixel shift: the tiny renderer samples a pixel at its corner
    rather than its centre, which puts everything half a pixel right and up of where MuJoCo (OpenGL)
    draws it (measured: +0.5, -0.5 px); this moves it back."""
    m = list(p.computeProjectionMatrixFOV(cam.fovy_deg, cam.width / cam.height, near, far))
    m[8] += 1.0 / cam.width  # x_ndc -= 1 / width (half a pixel left): the (0, 2) entry, column-major
    m[9] += 1.0 / cam.height  # y_ndc -= 1 / height (half a pixel down): the (1, 2) entry
    return m


def view_matrix(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> list[float]:
    """PyBullet's (OpenGL, column-major) view matrix of a look-at camera."""
    return list(p.computeViewMatrix(eye.tolist(), target.tolist(), up.tolist()))


def checker_texels(n: int = FLOOR_TEXELS, pool: int = FLOOR_TEXTURE_POOL, gain: float = 1.0) -> np.ndarray:
    """MuJoCo's builtin ``checker`` texture with ``mark="edge"`` (``n`` x ``n`` texels, ``rgb1`` in the
    top-left and bottom-right quadrants, ``rgb2`` in the other two, a one-texel border in the mark
    colour), averaged over ``pool`` x ``pool`` blocks and divided by ``gain``: uint8 (n / pool, n / pool, 3).

    The averaging is what MuJoCo's mipmaps do at these distances; the tiny renderer samples the nearest
    texel, and at full resolution the thin edge marks would show as dotted white lines."""
    if n % pool or (n // pool) % 2:
        raise ValueError(f"the texture side {n} must be an even multiple of the pooling {pool}")
    a, b = (np.array(c) for c in FLOOR_RGB)
    i = np.arange(n)[:, None] < n // 2
    j = np.arange(n)[None, :] < n // 2
    tex = np.where((i == j)[..., None], a, b)
    tex[[0, -1], :] = FLOOR_MARK_RGB
    tex[:, [0, -1]] = FLOOR_MARK_RGB
    pooled = tex.reshape(n // pool, pool, n // pool, pool, 3).mean(axis=(1, 3))
    out: np.ndarray = np.clip(np.round(pooled * 255.0 / gain), 0, 255).astype(np.uint8)
    return out


def _load_texture(texels: np.ndarray, client: int) -> int:
    """A texture from an RGB array (PyBullet loads textures from files only: an uncompressed TGA, removed after)."""
    h, w, _ = texels.shape
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "texture.tga")
        with open(path, "wb") as f:  # TGA header: uncompressed true-colour, 24 bits, rows from the top
            f.write(struct.pack("<BBBHHBHHHHBB", 0, 0, 2, 0, 0, 0, 0, 0, w, h, 24, 0x20))
            f.write(np.ascontiguousarray(texels[..., ::-1]).tobytes())  # BGR
        tex = int(p.loadTexture(path, physicsClientId=client))
    if tex < 0:
        raise RuntimeError("PyBullet could not load the floor texture")
    return tex


def floor_visual(cfg: PyBulletRenderConfig, client: int) -> tuple[int, int]:
    """MuJoCo's checker floor: a visual shape (one square quad whose texture coordinates repeat the
    texture every 0.4 m with its edges at 0.2 + 0.4 k m, as MuJoCo places it; one quad, because the tiny
    renderer leaves pixel cracks between adjacent triangles) and its texture. Give the shape to the floor
    body itself and set the texture on it (``changeVisualShape``): a second body at z = 0 would fight
    the floor for depth, and a body without a visual shape is drawn from its collision shape, in white."""
    half = cfg.floor_half_m
    corners = [(-half, -half), (half, -half), (half, half), (-half, half)]
    verts = [[x, y, 0.0] for x, y in corners]
    uvs = [[x / FLOOR_PERIOD_M + 0.5, y / FLOOR_PERIOD_M + 0.5] for x, y in corners]  # texture edge (u = 0) at x = -0.2 m
    shape = p.createVisualShape(p.GEOM_MESH, vertices=verts, indices=[0, 1, 2, 0, 2, 3], uvs=uvs,
                                normals=[[0.0, 0.0, 1.0]] * 4, physicsClientId=client)
    return shape, _load_texture(checker_texels(gain=cfg.up_gain), client)


class PyBulletCameras:
    """The task's cameras in one PyBullet client: :meth:`frames` gives ``<camera>_image`` uint8 frames.

    ``hand_pose`` returns the URDF hand link's world position and rotation; :data:`HAND_FROM_LINK`
    takes it to the MuJoCo-convention hand frame the cameras are configured in.
    """

    def __init__(self, client: int, cameras: dict[str, CameraConfig], hand_pose: HandPose,
                 render: PyBulletRenderConfig | None = None) -> None:
        self.client, self.cameras, self._hand_pose = client, dict(cameras), hand_pose
        self.render_config = render or PyBulletRenderConfig()
        self._proj = {name: projection_matrix(c) for name, c in self.cameras.items()}

    def hand_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """The hand frame of the cameras (MuJoCo's ``hand`` body convention) in the world."""
        pos, rot = self._hand_pose()
        r, t = HAND_FROM_LINK
        return pos + rot @ t, rot @ r

    def pose(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Camera ``name``'s eye, target and up in the world now."""
        cam = self.cameras[name]
        return camera_world_pose(cam, *self.hand_pose()) if cam.body == "hand" else camera_world_pose(cam)

    def project(self, name: str, points: np.ndarray) -> np.ndarray:
        """Where world points land in camera ``name``'s frame now (pixels, see :func:`project`)."""
        return project(points, self.cameras[name], *self.pose(name))

    def render(self, name: str, segmentation: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Camera ``name``'s RGB frame, uint8 (height, width, 3); with ``segmentation`` also the body id per pixel."""
        cam, rc = self.cameras[name], self.render_config
        eye, target, up = self.pose(name)
        flags = 0 if segmentation else p.ER_NO_SEGMENTATION_MASK
        _, _, rgba, _, seg = p.getCameraImage(cam.width, cam.height, view_matrix(eye, target, up), self._proj[name],
                                              lightDirection=[0.0, 0.0, 1.0], lightColor=[1.0, 1.0, 1.0], shadow=int(rc.shadows),
                                              **rc.lighting(eye, target), renderer=p.ER_TINY_RENDERER, flags=flags,
                                              physicsClientId=self.client)
        rgb = np.asarray(rgba, dtype=np.uint8).reshape(cam.height, cam.width, 4)[..., :3].copy()
        if segmentation:
            return rgb, np.asarray(seg, dtype=np.int64).reshape(cam.height, cam.width)
        return rgb

    def frames(self) -> dict[str, np.ndarray]:
        """Every camera's RGB frame as ``<camera>_image``, in the cameras' order."""
        return {f"{name}_image": self.render(name) for name in self.cameras}  # type: ignore[misc]
