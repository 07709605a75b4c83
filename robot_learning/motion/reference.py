"""Reference motions for the Unitree G1: keyframes (YAML) -> dense, grounded trajectories.

The getting-up task and ASAP's motion tracking follow motions authored as a few keyframes
(``assets/motions/*.yaml``); this module turns a keyframe file into a dense :class:`Reference` at the
control rate (50 Hz):

1. **Joint angles.** Each keyframe lists only the joints that differ from a base pose (the G1's
   standing default). Between two keyframes every joint moves with a *smootherstep* profile
   ``s(u) = 6u^5 - 15u^4 + 10u^3``: zero velocity and acceleration at each keyframe (so each keyframe
   is a momentary rest pose, which is what makes the quasi-static check meaningful), and never
   outside the interval spanned by the two keyframes (so joint limits that hold at the keyframes hold
   everywhere).
2. **Root orientation.** Keyframes give the pelvis pitch and roll in degrees (yaw is 0). Sign
   convention: rotation about the world y axis, positive pitch = leaning forward (nose down), so
   ``pitch = -90`` is lying on the back (supine) and ``+90`` lying face down (prone). They are
   interpolated the same way and turned into a quaternion ``q = q_y(pitch) * q_x(roll)`` (w, x, y, z).
3. **Root height.** Solved kinematically: with the joints and orientation of the frame, forward
   kinematics (``mj_kinematics``) gives every collision geom's lowest point, and the pelvis is lifted
   so that the lowest of them touches the ground (z = 0). Only geoms that can touch the floor are
   used: on the primitive model (``g1_mjx.xml``), whose contacts are explicit ``<pair>`` elements,
   the geoms paired with the floor; on the mesh model, every geom with a non-zero contype/conaffinity
   (mesh lowest points from the mesh vertices).
4. **Root horizontal position.** Chosen so that the ground contacts do not slide: from one frame to
   the next the pelvis moves horizontally by the (weighted) mean displacement that keeps the points
   near the ground (within ``contact_band`` m) in place.

The keyframe file format is described in :mod:`robot_learning.motion.keyframes`.

A user can also bring their own trajectory: :meth:`Reference.from_arrays` (joint angles and root pose
at a rate) and :meth:`Reference.save_npz` / :meth:`Reference.load_npz`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robot_learning.motion.keyframes import MotionSpec, Variant, keyframe_pose, load_motion, root_quat, smootherstep
from robot_learning.motion.kinematics import GroundKinematics
from robot_learning.robots.g1 import G1_SPEC


class FrameTiming:
    """Frame count and timing of a trajectory sampled at ``fps`` with a ``joint_pos`` (T, 23)."""

    fps: float
    joint_pos: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.joint_pos.shape[0])

    @property
    def duration_s(self) -> float:
        return (self.num_frames - 1) / self.fps

    @property
    def duration(self) -> float:
        """Alias of :attr:`duration_s` (s)."""
        return self.duration_s

    def frame_index(self, t: float) -> int:
        """Index of the sample nearest to time ``t`` (s), clipped to the trajectory."""
        return int(np.clip(round(t * self.fps), 0, self.num_frames - 1))


@dataclass
class Reference(FrameTiming):
    """A dense reference trajectory for the G1 (23 joints, spec order), sampled at ``fps``.

    Attributes:
        fps: samples per second (the policy rate, 50).
        joint_names: the 23 joint names (``G1_SPEC.joint_names``).
        joint_pos: (T, 23) joint angles, rad.
        root_pos: (T, 3) pelvis position, m (world, z up, ground at z = 0).
        root_quat: (T, 4) pelvis orientation (w, x, y, z).
        head_height: (T,) height of the head centre (the ``rl_head`` site), m.
        name: a label.
        keyframe_times: times (s) of the authored keyframes (empty for user arrays).
        keyframe_labels: their labels.
    """

    fps: float
    joint_names: tuple[str, ...]
    joint_pos: np.ndarray
    root_pos: np.ndarray
    root_quat: np.ndarray
    head_height: np.ndarray
    name: str = "reference"
    keyframe_times: tuple[float, ...] = ()
    keyframe_labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        T = self.joint_pos.shape[0]
        n = len(self.joint_names)
        shapes = {"joint_pos": (T, n), "root_pos": (T, 3), "root_quat": (T, 4), "head_height": (T,)}
        for key, shape in shapes.items():
            if getattr(self, key).shape != shape:
                raise ValueError(f"{key} must have shape {shape}, got {getattr(self, key).shape}")


    def qpos(self, kin: GroundKinematics | None = None, variant: Variant = "primitive") -> np.ndarray:
        """(T, nq) MuJoCo ``qpos`` of the whole trajectory (for rendering or state initialisation)."""
        kin = kin or GroundKinematics(variant)
        return np.stack([kin.qpos(j, p, q) for j, p, q in zip(self.joint_pos, self.root_pos, self.root_quat)])

    def joint_velocity(self) -> np.ndarray:
        """(T, 23) joint velocities by central differences (rad/s)."""
        return np.gradient(self.joint_pos, 1.0 / self.fps, axis=0)

    # -------------------------------------------------------------- user data
    @classmethod
    def from_arrays(
        cls,
        fps: float,
        joint_pos: np.ndarray,
        root_pos: np.ndarray,
        root_quat: np.ndarray,
        joint_names: tuple[str, ...] | None = None,
        name: str = "user",
        variant: Variant = "primitive",
    ) -> "Reference":
        """A reference from user arrays: ``joint_pos`` (T, 23) (in ``joint_names`` order, default the
        spec order; reordered to the spec order), ``root_pos`` (T, 3), ``root_quat`` (T, 4, wxyz).
        The head height is computed by forward kinematics; nothing is re-grounded."""
        joint_pos = np.asarray(joint_pos, dtype=np.float64)
        names = tuple(joint_names or G1_SPEC.joint_names)
        if set(names) != set(G1_SPEC.joint_names) or len(names) != len(G1_SPEC.joint_names):
            raise ValueError("joint_names must be a permutation of the G1's 23 joint names")
        order = [names.index(n) for n in G1_SPEC.joint_names]
        joint_pos = joint_pos[:, order]
        root_pos = np.asarray(root_pos, dtype=np.float64)
        quat = np.asarray(root_quat, dtype=np.float64)
        quat = quat / np.linalg.norm(quat, axis=-1, keepdims=True)
        kin = GroundKinematics(variant)
        head = np.empty(joint_pos.shape[0])
        for i in range(joint_pos.shape[0]):
            kin.forward(kin.qpos(joint_pos[i], root_pos[i], quat[i]))
            head[i] = kin.head_height()
        return cls(float(fps), G1_SPEC.joint_names, joint_pos, root_pos, quat, head, name=name)

    def save_npz(self, path: str | Path) -> Path:
        """Write all fields to an ``.npz`` (readable with :meth:`load_npz` or plain ``numpy.load``)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            p,
            fps=self.fps,
            joint_names=np.array(self.joint_names),
            joint_pos=self.joint_pos,
            root_pos=self.root_pos,
            root_quat=self.root_quat,
            head_height=self.head_height,
            name=np.array(self.name),
            keyframe_times=np.array(self.keyframe_times, dtype=np.float64),
            keyframe_labels=np.array(self.keyframe_labels, dtype=str),
        )
        return p

    @classmethod
    def load_npz(cls, path: str | Path) -> "Reference":
        """Read a file written by :meth:`save_npz`. A file with only ``fps``, ``joint_pos``,
        ``root_pos`` and ``root_quat`` (a user's) goes through :meth:`from_arrays`."""
        with np.load(path, allow_pickle=False) as z:
            if "head_height" not in z:
                names = tuple(str(n) for n in z["joint_names"]) if "joint_names" in z else None
                return cls.from_arrays(float(z["fps"]), z["joint_pos"], z["root_pos"], z["root_quat"], names)
            return cls(
                fps=float(z["fps"]),
                joint_names=tuple(str(n) for n in z["joint_names"]),
                joint_pos=z["joint_pos"],
                root_pos=z["root_pos"],
                root_quat=z["root_quat"],
                head_height=z["head_height"],
                name=str(z["name"]),
                keyframe_times=tuple(float(t) for t in z["keyframe_times"]),
                keyframe_labels=tuple(str(s) for s in z["keyframe_labels"]),
            )


@dataclass
class ReferenceBuildConfig:
    """How :func:`build_reference` grounds a motion.

    Attributes:
        variant: G1 collision model used for the grounding ("primitive": the capsules the CPU training
            path simulates; "mesh": Menagerie's mesh geoms).
        contact_band: points within this height (m) of the ground count as (weighted) contacts for
            the no-slip horizontal root placement.
    """

    variant: Variant = "primitive"
    contact_band: float = 0.03


def build_reference(motion: MotionSpec | str | Path, config: ReferenceBuildConfig | None = None) -> Reference:
    """Dense, grounded :class:`Reference` of a keyframed motion (a spec, a YAML path or a shipped name)."""
    cfg = config or ReferenceBuildConfig()
    spec = motion if isinstance(motion, MotionSpec) else load_motion(motion)
    frames = spec.keyframes
    poses = np.stack([keyframe_pose(k) for k in frames])
    pitch = np.deg2rad([k.root_pitch_deg for k in frames])
    roll = np.deg2rad([k.root_roll_deg for k in frames])
    times = np.array([k.t for k in frames])

    T = int(round(spec.duration_s * spec.fps)) + 1
    t = np.arange(T) / spec.fps
    seg = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(frames) - 2)
    u = smootherstep((t - times[seg]) / (times[seg + 1] - times[seg]))
    joint_pos = poses[seg] + (poses[seg + 1] - poses[seg]) * u[:, None]
    pitch_t = pitch[seg] + (pitch[seg + 1] - pitch[seg]) * u
    roll_t = roll[seg] + (roll[seg + 1] - roll[seg]) * u
    quat = root_quat(pitch_t, roll_t)

    kin = GroundKinematics(cfg.variant)
    root_pos = np.zeros((T, 3))
    head = np.empty(T)
    prev_pts: np.ndarray | None = None
    prev_w: np.ndarray | None = None
    for i in range(T):
        kin.forward(kin.qpos(joint_pos[i], np.zeros(3), quat[i]))
        pts = kin.lowest_points()
        z0 = -pts[:, 2].min()  # lift so that the lowest point is at z = 0
        pts[:, 2] += z0
        w = np.clip(1.0 - pts[:, 2] / cfg.contact_band, 0.0, 1.0)
        xy = root_pos[i - 1, :2].copy() if i > 0 else np.zeros(2)
        if prev_pts is not None and prev_w is not None:
            both = np.minimum(w, prev_w)
            if both.sum() > 1e-9:
                # keep the contacts where they were: prev world xy = (prev root xy + prev rel xy)
                xy = xy + (both[:, None] * (prev_pts[:, :2] - pts[:, :2])).sum(0) / both.sum()
        root_pos[i] = (xy[0], xy[1], z0)
        head[i] = kin.head_height() + z0
        prev_pts, prev_w = pts, w
    return Reference(
        fps=spec.fps,
        joint_names=G1_SPEC.joint_names,
        joint_pos=joint_pos,
        root_pos=root_pos,
        root_quat=quat,
        head_height=head,
        name=spec.name,
        keyframe_times=tuple(float(x) for x in times),
        keyframe_labels=tuple(k.label for k in frames),
    )


def lowest_point_heights(ref: Reference, variant: Variant = "primitive") -> np.ndarray:
    """(T,) height of the lowest floor-touching point of each frame (0 for a grounded reference)."""
    kin = GroundKinematics(variant)
    out = np.empty(ref.num_frames)
    for i in range(ref.num_frames):
        kin.forward(kin.qpos(ref.joint_pos[i], ref.root_pos[i], ref.root_quat[i]))
        out[i] = kin.lowest_points()[:, 2].min()
    return out
