"""Animated GIFs of G1 episodes: MuJoCo's offscreen renderer, or a matplotlib stick figure.

:func:`render_gif` takes a sequence of MuJoCo ``qpos`` (T, nq) of the 23-DoF G1 (as produced by
:meth:`Reference.qpos <robot_learning.motion.reference.Reference.qpos>`, by
:func:`~robot_learning.tasks.getup.poses.generate_fallen_poses` or recorded from an environment) and
writes a GIF. Two back-ends, tried in order (``backend="auto"``):

1. ``"mujoco"``: ``mujoco.Renderer`` (offscreen OpenGL). It needs a headless GL: ``MUJOCO_GL=egl``
   (works on this machine with Mesa's libEGL, software rendered) or ``osmesa``. mujoco chooses its GL
   platform when it is imported: if ``MUJOCO_GL`` is unset when this module is imported first it is
   set to ``egl``; if mujoco was imported earlier (without a headless platform) and rendering fails,
   the frames are rendered in a child process started with ``MUJOCO_GL=egl``, then ``osmesa``.
2. ``"matplotlib"``: if the GL renderer fails for any reason, a 3-D stick figure drawn with
   matplotlib's Agg back-end from the body positions (``mj_kinematics``): links as lines from each
   body to its parent, the head as a dot, a ground grid at z = 0. Always available (needs matplotlib).

GIFs are kept small: 256 x 192 frames, no floor reflections, a 32-colour adaptive palette, and ``fps`` frames per second (frames are subsampled from ``source_fps`` when given).
"""
from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # must precede the first GL context

from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Literal  # noqa: E402

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from robot_learning.sim.mujoco_robot import MujocoJointRobot, MujocoRobotConfig  # noqa: E402
from robot_learning.sim.terrain import terrain_named  # noqa: E402

Backend = Literal["auto", "mujoco", "matplotlib"]


@dataclass(frozen=True)
class RenderConfig:
    """Image size and camera of :func:`render_gif`.

    Attributes:
        width, height: frame size in pixels.
        distance: camera distance (m) from the tracked point.
        azimuth, elevation: camera angles (deg), as in MuJoCo's free camera.
        track: follow the pelvis horizontally (the look-at height is fixed at ``lookat_z``).
        lookat_z: look-at height (m).
    """

    width: int = 256
    height: int = 192
    distance: float = 2.8
    azimuth: float = 135.0
    elevation: float = -15.0
    track: bool = True
    lookat_z: float = 0.45


def _model(variant: str, terrain: str = "flat") -> mujoco.MjModel:
    model = MujocoJointRobot(MujocoRobotConfig(robot="g1", variant=variant, terrain=terrain_named(terrain))).model  # type: ignore[arg-type]
    model.mat_reflectance[:] = 0.0  # a fresh model: no mirror floor, fewer colours, smaller GIFs
    return model


def _frames_mujoco(model: mujoco.MjModel, qpos: np.ndarray, cfg: RenderConfig) -> list[Image.Image]:
    data = mujoco.MjData(model)
    renderer = mujoco.Renderer(model, cfg.height, cfg.width)
    try:
        cam = mujoco.MjvCamera()
        cam.distance, cam.azimuth, cam.elevation = cfg.distance, cfg.azimuth, cfg.elevation
        images = []
        for q in qpos:
            data.qpos[:] = q
            mujoco.mj_forward(model, data)
            cam.lookat[:] = (q[0], q[1], cfg.lookat_z) if cfg.track else (0.0, 0.0, cfg.lookat_z)
            renderer.update_scene(data, cam)
            images.append(Image.fromarray(renderer.render()))
        return images
    finally:
        renderer.close()


def _frames_matplotlib(model: mujoco.MjModel, qpos: np.ndarray, cfg: RenderConfig) -> list[Image.Image]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    data = mujoco.MjData(model)
    parent = model.body_parentid
    head = model.site("rl_head").id if "rl_head" in [model.site(i).name for i in range(model.nsite)] else None
    dpi = 64
    fig = plt.figure(figsize=(cfg.width / dpi, cfg.height / dpi), dpi=dpi)
    ax = fig.add_subplot(projection="3d")
    images = []
    try:
        for q in qpos:
            data.qpos[:] = q
            mujoco.mj_kinematics(model, data)
            ax.cla()
            cx, cy = (q[0], q[1]) if cfg.track else (0.0, 0.0)
            grid = np.linspace(-1.0, 1.0, 5)
            for g in grid:  # ground plane as a grid at z = 0
                ax.plot([cx - 1, cx + 1], [cy + g, cy + g], [0, 0], color="0.75", lw=0.6)
                ax.plot([cx + g, cx + g], [cy - 1, cy + 1], [0, 0], color="0.75", lw=0.6)
            for b in range(2, model.nbody):
                p, c = data.xpos[parent[b]], data.xpos[b]
                ax.plot([p[0], c[0]], [p[1], c[1]], [p[2], c[2]], color="tab:blue", lw=3, solid_capstyle="round")
            if head is not None:
                h = data.site_xpos[head]
                ax.scatter([h[0]], [h[1]], [h[2]], color="tab:red", s=40)
            ax.set_xlim(cx - 1, cx + 1)
            ax.set_ylim(cy - 1, cy + 1)
            ax.set_zlim(0, 1.5)
            ax.set_box_aspect((2, 2, 1.5))
            ax.view_init(elev=-cfg.elevation, azim=cfg.azimuth - 180.0)
            ax.set_axis_off()
            fig.canvas.draw()
            buf = np.asarray(fig.canvas.buffer_rgba())[..., :3]
            images.append(Image.fromarray(buf.copy()))
    finally:
        plt.close(fig)
    return images


def _headless_gl_in_process() -> bool:
    """True if mujoco was imported with a headless GL platform (EGL or OSMesa). Rendering through a
    windowing platform (GLFW) without a display fails, and a failed attempt can abort the process on
    the next one, so it is never tried in-process."""
    gl_context = getattr(mujoco, "GLContext", None)
    return getattr(gl_context, "__module__", "") in ("mujoco.egl", "mujoco.osmesa")


def _frames_mujoco_subprocess(variant: str, qpos: np.ndarray, cfg: RenderConfig, gl: str, terrain: str = "flat") -> list[Image.Image]:
    """Render in a child process started with ``MUJOCO_GL=gl``: mujoco fixes its GL platform at
    import time, so a process that imported mujoco without a headless setting cannot switch."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(src, qpos=qpos, variant=np.array(variant), terrain=np.array(terrain), cfg=np.array(list(asdict(cfg).values()), dtype=float))
        env = {**os.environ, "MUJOCO_GL": gl, "PYOPENGL_PLATFORM": gl}
        subprocess.run(
            [sys.executable, "-m", "robot_learning.tasks.getup.render", "--worker", str(src), str(dst)],
            env=env, check=True, capture_output=True, timeout=600,
        )
        with np.load(dst) as z:
            return [Image.fromarray(f) for f in z["frames"]]


def _worker(src: str, dst: str) -> None:
    """Child-process entry of :func:`_frames_mujoco_subprocess`."""
    with np.load(src) as z:
        values = z["cfg"].tolist()
        fields = list(RenderConfig.__dataclass_fields__)
        kwargs = dict(zip(fields, values))
        kwargs["width"], kwargs["height"] = int(kwargs["width"]), int(kwargs["height"])
        kwargs["track"] = bool(kwargs["track"])
        images = _frames_mujoco(_model(str(z["variant"]), str(z["terrain"])), z["qpos"], RenderConfig(**kwargs))
    np.savez(dst, frames=np.stack([np.asarray(im) for im in images]))


def render_frames(
    qpos_sequence: np.ndarray,
    variant: str = "primitive",
    backend: Backend = "auto",
    config: RenderConfig | None = None,
    terrain: str = "flat",
) -> tuple[list[Image.Image], str]:
    """Render each ``qpos`` to an image (on ``terrain``: flat, slope or rough); returns the images
    and the back-end that drew them."""
    cfg = config or RenderConfig()
    qpos = np.atleast_2d(np.asarray(qpos_sequence, dtype=np.float64))
    model = _model(variant, terrain)
    if qpos.shape[1] != model.nq:
        raise ValueError(f"qpos_sequence must have shape (T, {model.nq}), got {qpos.shape}")
    if backend in ("auto", "mujoco"):
        error: Exception | None = None
        if _headless_gl_in_process():
            try:
                return _frames_mujoco(model, qpos, cfg), "mujoco"
            except Exception as exc:  # no usable EGL/OSMesa after all
                error = exc
        for gl in ("egl", "osmesa"):  # a fresh process can pick a headless GL platform
            try:
                return _frames_mujoco_subprocess(variant, qpos, cfg, gl, terrain), "mujoco"
            except Exception as exc:
                error = exc
        if backend == "mujoco":
            raise RuntimeError(f"MuJoCo offscreen rendering failed: {error}") from error
    return _frames_matplotlib(model, qpos, cfg), "matplotlib"


def render_gif(
    qpos_sequence: np.ndarray,
    path: str | Path,
    fps: float = 25.0,
    variant: str = "primitive",
    source_fps: float | None = None,
    backend: Backend = "auto",
    config: RenderConfig | None = None,
    terrain: str = "flat",
) -> str:
    """Write an animated GIF of a G1 episode and return the back-end used ("mujoco" or "matplotlib").

    Args:
        qpos_sequence: (T, nq) MuJoCo positions of the 23-DoF G1 model of ``variant``.
        path: output file (parent folders are created).
        fps: playback rate of the GIF.
        variant: "primitive" or "mesh" G1 model (only what is drawn differs).
        source_fps: rate of ``qpos_sequence``; when given and higher than ``fps``, frames are
            subsampled so the GIF plays in real time (e.g. 50 Hz references at 25 fps).
        backend: "auto" (MuJoCo, else matplotlib), or force one.
        config: image size and camera.
        terrain: the ground drawn under the robot (flat, slope or rough; :mod:`robot_learning.sim.terrain`).
    """
    qpos = np.atleast_2d(np.asarray(qpos_sequence, dtype=np.float64))
    if source_fps is not None and source_fps > fps:
        idx = np.round(np.arange(0, len(qpos) - 1e-9, source_fps / fps)).astype(int)
        qpos = qpos[np.clip(idx, 0, len(qpos) - 1)]
    images, used = render_frames(qpos, variant=variant, backend=backend, config=config, terrain=terrain)
    frames = [im.convert("P", palette=Image.Palette.ADAPTIVE, colors=32) for im in images]
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(
        out, save_all=True, append_images=frames[1:], duration=int(round(1000.0 / fps)), loop=0, optimize=True
    )
    return used


if __name__ == "__main__":  # python -m robot_learning.tasks.getup.render: GIFs of the shipped motions
    import sys

    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        _worker(sys.argv[2], sys.argv[3])
        sys.exit(0)

    from robot_learning.motion.reference import build_reference

    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/getup_gifs")
    for name in ("g1_getup_supine", "g1_getup_prone"):
        ref = build_reference(name)
        for be in ("mujoco", "matplotlib"):
            target = out_dir / f"{name}_{be}.gif"
            try:
                render_gif(ref.qpos(), target, fps=25, source_fps=ref.fps, backend=be)  # type: ignore[arg-type]
                print(f"{target}: {target.stat().st_size / 1e6:.2f} MB ({be})")
            except Exception as exc:  # report and go on with the other back-end
                print(f"{target}: {be} failed: {exc}")
