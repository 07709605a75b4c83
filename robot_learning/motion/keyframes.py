"""Keyframed G1 motions as authored in YAML (``assets/motions/*.yaml``): read, validate, expand.

Each keyframe lists only the joints that differ from a base pose (the G1's standing default), and
the pelvis pitch and roll in degrees (yaw is 0). Sign convention: rotation about the world y axis,
positive pitch = leaning forward (nose down), so ``pitch = -90`` is lying on the back (supine) and
``+90`` lying face down (prone).

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
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from robot_learning.robots.g1 import G1_SPEC

Variant = Literal["mesh", "primitive"]

#: Directory of the shipped keyframe files (repository ``assets/motions``).
MOTIONS_DIR = Path(__file__).resolve().parents[2] / "assets" / "motions"
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
