"""Whether a flown path tracked a moving reference, by figures a vehicle hovering in place cannot reach.

A tracking error alone does not say that the vehicle moved: hovering at the figure-eight's centre
scores the reference's own RMS distance from that centre. So a path tracks its reference only if,
over the same samples,

- its RMSE to the reference is well below what hovering at the centre scores (``max_rmse_ratio``);
- it covers the reference's extent on every horizontal axis (``min_extent_ratio``);
- it moves with the reference on every horizontal axis (Pearson correlation, ``min_correlation``).

Pure numpy: the gate, the CLI's ``eval`` and the tests call it on positions they recorded.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TrackingCriterion:
    max_rmse_ratio: float = 0.6  # tracking RMSE / the RMSE of hovering at the reference's centre
    min_extent_ratio: float = 0.5  # flown extent / reference extent, per horizontal axis
    min_correlation: float = 0.6  # Pearson correlation of flown and reference coordinates, per horizontal axis

    def __post_init__(self) -> None:
        for name, v in asdict(self).items():
            if not np.isfinite(v) or v <= 0.0:
                raise ValueError(f"tracking criterion '{name}' must be a positive finite number, got {v}")


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; 0 when either side does not move (a hover has no correlation to show)."""
    sa, sb = float(a.std()), float(b.std())
    if sa < 1e-9 or sb < 1e-9:
        return 0.0
    return float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))


def tracking_figures(positions: np.ndarray, reference: np.ndarray, center: np.ndarray,
                     criterion: TrackingCriterion = TrackingCriterion()) -> dict[str, Any]:
    """Figures of a flown path (N, 3) against its reference (N, 3), sampled at the same instants.

    Returns the tracking RMSE and maximum, the RMSE of hovering at ``center`` (``hover_rmse_m``),
    per horizontal axis the extent ratio and correlation, and ``tracks_reference`` with the
    ``reasons`` it does not (empty when it does)."""
    p, r = np.asarray(positions, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if p.ndim != 2 or p.shape != r.shape or p.shape[1] != 3 or len(p) < 2:
        raise ValueError(f"positions and reference must be the same (N >= 2, 3) shape, got {p.shape} and {r.shape}")
    e = np.linalg.norm(p - r, axis=1)
    rmse = float(np.sqrt(np.mean(e**2)))
    hover_rmse = float(np.sqrt(np.mean(np.sum((r - np.asarray(center, dtype=np.float64)) ** 2, axis=1))))
    ref_extent = r.max(axis=0) - r.min(axis=0)
    axes = [k for k in (0, 1) if ref_extent[k] > 1e-6]  # the horizontal axes the reference moves along
    extent = {"xyz"[k]: float((p[:, k].max() - p[:, k].min()) / ref_extent[k]) for k in axes}
    corr = {"xyz"[k]: _correlation(p[:, k], r[:, k]) for k in axes}
    reasons = []
    if not axes:
        reasons.append("the reference does not move horizontally: nothing to track")
    if hover_rmse > 0 and rmse > criterion.max_rmse_ratio * hover_rmse:
        reasons.append(f"tracking RMSE {rmse:.3f} m is above {criterion.max_rmse_ratio:g} x {hover_rmse:.3f} m (hovering at the centre)")
    for a, v in extent.items():
        if v < criterion.min_extent_ratio:
            reasons.append(f"the path covers {v:.2f} of the reference's {a} extent (at least {criterion.min_extent_ratio:g})")
    for a, v in corr.items():
        if v < criterion.min_correlation:
            reasons.append(f"{a} correlates {v:.2f} with the reference (at least {criterion.min_correlation:g})")
    return {
        "tracking_rmse_m": rmse,
        "tracking_max_m": float(e.max()),
        "hover_rmse_m": hover_rmse,
        "extent_ratio": extent,
        "correlation": corr,
        "tracks_reference": not reasons,
        "reasons": reasons,
        "criterion": asdict(criterion),
    }
