"""The open-loop roll-over from prone to supine as a table of PD targets, where the shipped ones live,
and HumanUP's roll-over success measure (the orientation cosine to lying on the back).

The search that finds a roll-over and its check are :mod:`robot_learning.tasks.getup.rollover`; the
getting-up teacher plays a roll-over before the supine get-up (its ``roll`` strategy).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robot_learning.robots.g1 import G1_SPEC
from robot_learning.runtime.joint_controller import projected_gravity
from robot_learning.tasks.getup.trajopt import FEASIBLE_DIR

LOWER = np.asarray(G1_SPEC.position_lower)
UPPER = np.asarray(G1_SPEC.position_upper)
SUCCESS_COSINE = 0.9  # HumanUP: a roll-over succeeds at an orientation cosine of 0.9 or more


def supine_cosine(quat_wxyz: np.ndarray) -> np.ndarray:
    """Orientation cosine of pelvis orientations (N, 4) or (4,) to lying on the back: the cosine of the
    angle between the pelvis's forward (x) axis and the world's up (1 lying face up, -1 face down)."""
    return -projected_gravity(quat_wxyz)[..., 0]


@dataclass
class RollOver:
    """An open-loop roll-over: ``start`` (23) -> ``knots`` (K, 23) -> ``end`` (23) PD targets,
    ``knot_steps`` policy steps from each knot to the next (linear, starting at the earlier one),
    ``settle_steps`` to ``end`` and ``hold_steps`` on it."""

    fps: float
    start: np.ndarray
    knots: np.ndarray
    end: np.ndarray
    knot_steps: int
    settle_steps: int
    hold_steps: int
    meta: dict[str, Any] | None = None

    @property
    def targets(self) -> np.ndarray:
        """(T, 23) the PD targets at every policy step."""
        pts = np.vstack([self.start[None], self.knots])
        out = [pts[i] + (pts[i + 1] - pts[i]) * (s / self.knot_steps)
               for i in range(len(self.knots)) for s in range(self.knot_steps)]
        out += [pts[-1] + (self.end - pts[-1]) * (s / self.settle_steps) for s in range(self.settle_steps)]
        out += [self.end] * self.hold_steps
        return np.clip(np.array(out), LOWER, UPPER)

    @property
    def duration_s(self) -> float:
        return len(self.targets) / self.fps

    def save_npz(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(p, fps=self.fps, start=self.start, knots=self.knots, end=self.end,
                            steps=np.array([self.knot_steps, self.settle_steps, self.hold_steps]),
                            meta=np.array(json.dumps(self.meta or {})))
        return p

    @classmethod
    def load_npz(cls, path: str | Path) -> "RollOver":
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"roll-over {p} does not exist (make it with "
                                    f"`python -m robot_learning.tasks.getup.rollover --optimise --out {p}`)")
        with np.load(p, allow_pickle=False) as z:
            missing = {"fps", "start", "knots", "end", "steps"} - set(z.files)
            if missing:
                raise ValueError(f"{p} is not a roll-over: missing {sorted(missing)}")
            k, s, h = (int(x) for x in z["steps"])
            return cls(float(z["fps"]), z["start"], z["knots"], z["end"], k, s, h,
                       json.loads(str(z["meta"])) if "meta" in z.files else None)


def rollover_path(model: str = "primitive") -> Path:
    """The shipped roll-over for a collision model (``assets/motions/g1_rollover[_mesh]_feasible.npz``)."""
    if model not in ("primitive", "mesh"):
        raise ValueError(f"model must be 'primitive' or 'mesh', got {model!r}")
    return FEASIBLE_DIR / f"g1_rollover{'_mesh' if model == 'mesh' else ''}_feasible.npz"


def load_rollover(model_or_path: str | Path = "primitive") -> RollOver:
    """The shipped roll-over for ``"primitive"`` / ``"mesh"``, or a file written by :meth:`RollOver.save_npz`."""
    key = str(model_or_path)
    return RollOver.load_npz(rollover_path(key) if key in ("primitive", "mesh") else Path(key))
