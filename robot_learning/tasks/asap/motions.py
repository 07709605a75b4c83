"""Reference motions for tracking: the project's keyframe files and the common retargeted formats.

Formats read by :func:`load_motion_file` (all give the 23 joint angles of the G1 in spec order,
resampled to the policy rate):

- ``.yaml``: a keyframed motion (``assets/motions/README.md``; the same format as the get-up
  motions), made dense by :func:`robot_learning.motion.reference.build_reference`.
- ``.npz``: arrays at a frame rate. Keys: ``fps``; joint angles as ``joint_pos``, ``dof_pos`` or
  ``dof`` (T, J); optional ``joint_names`` (J,). Without names, J must be 23 (spec order) or 29
  (Unitree's 29-DoF order, whose wrist joints are dropped: the G1 here has its wrists fixed). Root
  arrays (``root_pos``/``root_trans_offset``, ``root_rot``/``root_quat``) may be present; the
  fixed-pelvis loop does not use them.
- ``.csv``: one frame per row, the layout of the widely used retargeted G1 datasets (LAFAN1
  retargeted to the G1): root x, y, z, root quaternion x, y, z, w, then the 29 joint angles in
  Unitree's order; 30 fps unless the caller says otherwise.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from robot_learning.robots.g1 import G1_SPEC

#: Unitree G1 29-DoF joint order (legs, waist, arms with wrists).
G1_29DOF_NAMES: tuple[str, ...] = tuple(
    f"{side}_{j}_joint" for side in ("left",) for j in ("hip_pitch", "hip_roll", "hip_yaw", "knee", "ankle_pitch", "ankle_roll")
) + tuple(f"right_{j}_joint" for j in ("hip_pitch", "hip_roll", "hip_yaw", "knee", "ankle_pitch", "ankle_roll")) + (
    "waist_yaw_joint", "waist_roll_joint", "waist_pitch_joint",
) + tuple(f"left_{j}_joint" for j in ("shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow", "wrist_roll", "wrist_pitch", "wrist_yaw")) \
  + tuple(f"right_{j}_joint" for j in ("shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow", "wrist_roll", "wrist_pitch", "wrist_yaw"))
CSV_FPS = 30.0


class MotionFormatError(ValueError):
    """A motion file that cannot be read as a G1 motion; the message names the file and the problem."""


def to_spec_order(joint_pos: np.ndarray, names: tuple[str, ...] | None, source: str) -> np.ndarray:
    """(T, J) joint angles in ``names`` order (None: 23 in spec order or 29 in Unitree order) -> (T, 23)."""
    q = np.asarray(joint_pos, dtype=np.float64)
    if q.ndim != 2:
        raise MotionFormatError(f"{source}: joint angles must be (frames, joints), got shape {q.shape}")
    if names is None:
        if q.shape[1] == G1_SPEC.num_joints:
            names = G1_SPEC.joint_names
        elif q.shape[1] == len(G1_29DOF_NAMES):
            names = G1_29DOF_NAMES
        else:
            raise MotionFormatError(f"{source}: {q.shape[1]} joint columns and no joint_names; expected 23 (spec order) or 29 (Unitree order)")
    if len(names) != q.shape[1]:
        raise MotionFormatError(f"{source}: {len(names)} joint names for {q.shape[1]} columns")
    missing = [n for n in G1_SPEC.joint_names if n not in names]
    if missing:
        raise MotionFormatError(f"{source}: no column for joint(s) {missing}")
    if not np.isfinite(q).all():
        raise MotionFormatError(f"{source}: joint angles contain NaN or inf")
    return q[:, [list(names).index(n) for n in G1_SPEC.joint_names]]


def resample(joint_pos: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Linear interpolation from ``fps_in`` to ``fps_out`` (first and last frames kept)."""
    if fps_in <= 0:
        raise MotionFormatError(f"frame rate must be positive, got {fps_in}")
    T = joint_pos.shape[0]
    if T < 2:
        raise MotionFormatError("a motion needs at least two frames")
    if abs(fps_in - fps_out) < 1e-9:
        return joint_pos.copy()
    duration = (T - 1) / fps_in
    t_out = np.arange(int(np.floor(duration * fps_out + 1e-9)) + 1) / fps_out
    t_in = np.arange(T) / fps_in
    return np.stack([np.interp(t_out, t_in, joint_pos[:, j]) for j in range(joint_pos.shape[1])], -1)


def load_motion_file(path: str | Path, fps: float = 50.0, csv_fps: float = CSV_FPS) -> np.ndarray:
    """(T, 23) joint angles of the motion in ``path`` at ``fps`` (see the module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"motion file {p} does not exist")
    if p.suffix in (".yaml", ".yml"):
        from robot_learning.motion.reference import build_reference

        try:
            ref = build_reference(p)
        except (KeyError, TypeError, ValueError) as e:
            raise MotionFormatError(f"{p}: {e}") from None
        return resample(ref.joint_pos, ref.fps, fps)
    if p.suffix == ".npz":
        try:
            z = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise MotionFormatError(f"{p}: not a readable .npz ({e})") from None
        with z:
            key = next((k for k in ("joint_pos", "dof_pos", "dof") if k in z), None)
            if key is None or "fps" not in z:
                raise MotionFormatError(f"{p}: needs 'fps' and one of 'joint_pos', 'dof_pos', 'dof' (has {sorted(z.files)})")
            names = tuple(str(n) for n in z["joint_names"]) if "joint_names" in z else None
            q = to_spec_order(z[key], names, str(p))
            return resample(q, float(z["fps"]), fps)
    if p.suffix == ".csv":
        try:
            rows = np.loadtxt(p, delimiter=",", ndmin=2)
        except ValueError as e:
            raise MotionFormatError(f"{p}: not a numeric CSV ({e})") from None
        if rows.shape[1] != 7 + len(G1_29DOF_NAMES):
            raise MotionFormatError(f"{p}: {rows.shape[1]} columns; a retargeted G1 CSV has 36 (root xyz, quaternion xyzw, 29 joints)")
        return resample(to_spec_order(rows[:, 7:], G1_29DOF_NAMES, str(p)), csv_fps, fps)
    raise MotionFormatError(f"{p}: unknown motion format '{p.suffix}' (use .yaml, .npz or .csv)")
