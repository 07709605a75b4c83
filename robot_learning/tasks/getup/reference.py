"""Reference get-up motions for the Unitree G1: keyframes (YAML) -> dense, grounded trajectories.

HumanUP's Stage II tracks a slow (8 s) get-up trajectory that its Stage I discovered. This project
authors that trajectory by hand instead, as a few keyframes (``assets/motions/g1_getup_*.yaml``), and
this module turns a keyframe file into a dense :class:`Reference` at the control rate (50 Hz):

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

Keyframe YAML format (see ``assets/motions/README.md``)::

    name: g1_getup_supine
    fps: 50
    duration_s: 8.0
    keyframes:
      - t: 0.0                 # s
        label: lying           # free text, used in reports
        root_pitch_deg: -90
        root_roll_deg: 0       # optional, default 0
        joints:                # rad; joints not listed keep the base (standing default) value
          knee: 0.3            # no side prefix: both sides (roll/yaw joints mirrored for the right)
          left_elbow_joint: 1.4  # full name: that joint only
          ankle_pitch: flat    # "flat": the ankle that keeps the sole parallel to the ground

A user can also bring their own trajectory: :meth:`Reference.from_arrays` (joint angles and root pose
at a rate) and :meth:`Reference.save_npz` / :meth:`Reference.load_npz`.

Physical plausibility: :func:`quasi_static_drift` places the G1 in MuJoCo at a frame of the reference
with PD (the spec's HumanUP gains) holding its joint angles and reports how far the pelvis moves in
1 s; every keyframe of the shipped motions is tuned so that this stays small (see the README).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import mujoco
import numpy as np
import yaml

from robot_learning.robots.g1 import G1_SPEC
from robot_learning.sim.mujoco_robot import MujocoJointRobot, MujocoRobotConfig

Variant = Literal["mesh", "primitive"]

#: Directory of the shipped keyframe files (repository ``assets/motions``).
MOTIONS_DIR = Path(__file__).resolve().parents[3] / "assets" / "motions"
_MIRRORED = ("_roll", "_yaw")  # joints whose sign flips between left and right in a symmetric pose


# ---------------------------------------------------------------------------------------------------
# keyframe files
@dataclass(frozen=True)
class Keyframe:
    """One authored pose of a motion.

    Attributes:
        t: time (s) from the start of the motion.
        root_pitch_deg: pelvis pitch (deg), positive = leaning forward; -90 supine, +90 prone.
        root_roll_deg: pelvis roll (deg) about the world x axis.
        joints: joint angles (rad) that differ from the base pose, keyed as in the YAML (``"knee"``
            for both sides, ``"left_knee_joint"`` for one); the value ``"flat"`` is allowed for
            ``ankle_pitch`` (sole parallel to the ground).
        label: a short human-readable name ("sit", "squat", ...).
    """

    t: float
    root_pitch_deg: float = 0.0
    root_roll_deg: float = 0.0
    joints: dict[str, float | str] = field(default_factory=dict)
    label: str = ""


@dataclass(frozen=True)
class MotionSpec:
    """A keyframed motion as read from YAML: rate, duration and the keyframes (sorted by time)."""

    name: str
    fps: float
    duration_s: float
    keyframes: tuple[Keyframe, ...]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MotionSpec":
        frames = []
        for k in data["keyframes"]:
            frames.append(
                Keyframe(
                    t=float(k["t"]),
                    root_pitch_deg=float(k.get("root_pitch_deg", 0.0)),
                    root_roll_deg=float(k.get("root_roll_deg", 0.0)),
                    joints=dict(k.get("joints") or {}),
                    label=str(k.get("label", "")),
                )
            )
        frames.sort(key=lambda f: f.t)
        spec = cls(
            name=str(data.get("name", "motion")),
            fps=float(data.get("fps", 50.0)),
            duration_s=float(data["duration_s"]),
            keyframes=tuple(frames),
        )
        spec.validate()
        return spec

    def validate(self) -> None:
        """Raise ``ValueError`` on an unusable file (times outside [0, duration], fewer than 2 frames)."""
        if len(self.keyframes) < 2:
            raise ValueError(f"motion {self.name!r} needs at least two keyframes")
        times = [k.t for k in self.keyframes]
        if times[0] != 0.0 or abs(times[-1] - self.duration_s) > 1e-9:
            raise ValueError(f"motion {self.name!r}: keyframes must start at t=0 and end at duration_s")
        if len(set(times)) != len(times):
            raise ValueError(f"motion {self.name!r}: two keyframes at the same time")
        if self.fps <= 0:
            raise ValueError("fps must be positive")


def load_motion(path: str | Path) -> MotionSpec:
    """Read a keyframe YAML file (a name such as ``"g1_getup_supine"`` looks in ``assets/motions``)."""
    p = Path(path)
    if not p.suffix and not p.exists():
        p = MOTIONS_DIR / f"{p.name}.yaml"
    with open(p, encoding="utf-8") as f:
        return MotionSpec.from_dict(yaml.safe_load(f))


def _expand_joints(joints: dict[str, float | str]) -> dict[str, float | str]:
    """``{"knee": a}`` -> both knees; roll/yaw joints get the opposite sign on the right side."""
    out: dict[str, float | str] = {}
    names = set(G1_SPEC.joint_names)
    for key, value in joints.items():
        if key in names:
            out[key] = value
            continue
        left, right = f"left_{key}_joint", f"right_{key}_joint"
        if left in names and right in names:
            out[left] = value
            mirror = isinstance(value, (int, float)) and key.endswith(_MIRRORED)
            out[right] = -float(value) if mirror else value
        elif f"{key}_joint" in names:
            out[f"{key}_joint"] = value
        else:
            raise ValueError(f"unknown G1 joint {key!r} in a keyframe")
    return out


def keyframe_pose(frame: Keyframe, base: np.ndarray | None = None) -> np.ndarray:
    """Joint angles (23, spec order) of a keyframe: the base pose with the listed joints replaced.

    Raises ``ValueError`` if an angle (including a solved flat-foot ankle) is outside the joint limits.
    """
    q = G1_SPEC.array("default_positions") if base is None else np.array(base, dtype=np.float64)
    names = list(G1_SPEC.joint_names)
    expanded = _expand_joints(frame.joints)
    flat = [n for n, v in expanded.items() if v == "flat"]
    for n, v in expanded.items():
        if v != "flat":
            q[names.index(n)] = float(v)
    pitch = np.deg2rad(frame.root_pitch_deg)
    for n in flat:
        if "ankle_pitch" not in n:
            raise ValueError(f"'flat' is only meaningful for ankle_pitch, not {n}")
        side = n.split("_")[0]
        # hip, knee and ankle pitch axes are parallel to the pelvis y axis: the sole is level when
        # root pitch + hip pitch + knee + ankle pitch = 0 (true of the standing pose, all zeros).
        q[names.index(n)] = -(pitch + q[names.index(f"{side}_hip_pitch_joint")] + q[names.index(f"{side}_knee_joint")])
    lo, hi = G1_SPEC.array("position_lower"), G1_SPEC.array("position_upper")
    bad = [(names[i], round(float(q[i]), 3)) for i in np.flatnonzero((q < lo - 1e-9) | (q > hi + 1e-9))]
    if bad:
        raise ValueError(f"keyframe t={frame.t} ({frame.label}) is outside the joint limits: {bad}")
    return q


def root_quat(pitch_rad: np.ndarray | float, roll_rad: np.ndarray | float) -> np.ndarray:
    """Quaternion(s) (w, x, y, z) of ``R_y(pitch) R_x(roll)``; shapes broadcast, result (..., 4)."""
    p, r = np.asarray(pitch_rad, float) / 2.0, np.asarray(roll_rad, float) / 2.0
    cp, sp, cr, sr = np.cos(p), np.sin(p), np.cos(r), np.sin(r)
    return np.stack([cp * cr, cp * sr, sp * cr, -sp * sr], axis=-1)


def smootherstep(u: np.ndarray) -> np.ndarray:
    """``6u^5 - 15u^4 + 10u^3`` on [0, 1]: 0 -> 0, 1 -> 1, zero first and second derivative at both ends."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * u * (u * (6.0 * u - 15.0) + 10.0)


# ---------------------------------------------------------------------------------------------------
# kinematics: grounding
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


# ---------------------------------------------------------------------------------------------------
# the dense reference
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
    """A dense get-up trajectory for the G1 (23 joints, spec order), sampled at ``fps``.

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


def load_reference(posture_or_path: str | Path, config: ReferenceBuildConfig | None = None) -> Reference:
    """The shipped reference for ``"supine"`` / ``"prone"``, or a keyframe ``.yaml`` / saved ``.npz``."""
    key = str(posture_or_path)
    if key in ("supine", "prone"):
        return build_reference(f"g1_getup_{key}", config)
    if key.endswith(".npz"):
        return Reference.load_npz(key)
    return build_reference(key, config)


def lowest_point_heights(ref: Reference, variant: Variant = "primitive") -> np.ndarray:
    """(T,) height of the lowest floor-touching point of each frame (0 for a grounded reference)."""
    kin = GroundKinematics(variant)
    out = np.empty(ref.num_frames)
    for i in range(ref.num_frames):
        kin.forward(kin.qpos(ref.joint_pos[i], ref.root_pos[i], ref.root_quat[i]))
        out[i] = kin.lowest_points()[:, 2].min()
    return out


# ---------------------------------------------------------------------------------------------------
# physical plausibility
def quasi_static_drift(
    ref: Reference,
    t: float,
    hold_s: float = 1.0,
    variant: Variant = "primitive",
    robot: MujocoJointRobot | None = None,
) -> float:
    """How far (m) the pelvis moves in ``hold_s`` seconds when the G1 is placed at the reference
    frame nearest to ``t`` (pose and root pose, at rest) with PD (the spec's gains) holding the
    frame's joint angles. A small value means the pose is quasi-statically stable: the centre of mass
    is over the support and the motors can hold it. Pass ``robot`` to reuse a simulator."""
    robot = robot or MujocoJointRobot(MujocoRobotConfig(robot="g1", variant=variant))
    i = ref.frame_index(t)
    q = ref.joint_pos[i]
    robot.reset(pose=q, base_height=float(ref.root_pos[i, 2]), base_quat=ref.root_quat[i])
    start = robot.state().values["base_position"].copy()
    for _ in range(int(round(hold_s / robot.dt))):
        robot.step(q)
    end = robot.state().values["base_position"]
    return float(np.linalg.norm(end - start))


def keyframe_report(ref: Reference, variant: Variant = "primitive") -> list[dict[str, float | str]]:
    """Per keyframe: time, label, root height, head height and quasi-static drift (one simulator)."""
    robot = MujocoJointRobot(MujocoRobotConfig(robot="g1", variant=variant))
    rows: list[dict[str, float | str]] = []
    for t, label in zip(ref.keyframe_times, ref.keyframe_labels):
        i = ref.frame_index(t)
        rows.append(
            {
                "t": t,
                "label": label,
                "root_height": float(ref.root_pos[i, 2]),
                "head_height": float(ref.head_height[i]),
                "drift_m": quasi_static_drift(ref, t, robot=robot),
            }
        )
    return rows


if __name__ == "__main__":  # python -m robot_learning.tasks.getup.reference: keyframe drift tables
    for motion_name in ("g1_getup_supine", "g1_getup_prone"):
        reference = build_reference(motion_name)
        print(f"{motion_name}: {reference.num_frames} frames, {reference.duration_s:.1f} s")
        print(f"{'t':>5} {'label':<22} {'root_z':>7} {'head_z':>7} {'drift':>7}")
        for row in keyframe_report(reference):
            print(
                f"{row['t']:5.2f} {row['label']:<22} {row['root_height']:7.3f} "
                f"{row['head_height']:7.3f} {row['drift_m']:7.3f}"
            )
