"""The figure-eight tracking criterion on known paths: a lagging follower passes; hovering at the
centre, a path that moves without following, and a shrunken copy fail, each for its own reason."""
from __future__ import annotations

import numpy as np
import pytest

from robot_learning.runtime.quadrotor import FigureEight
from robot_learning.tasks.quadrotor.tracking import TrackingCriterion, tracking_figures

FIG = FigureEight(center=(0.0, 0.0, 1.0))
T = np.arange(2.0, 10.0, 0.01)
REF = np.array([FIG(t) for t in T])
CENTER = np.asarray(FIG.center)


def test_a_follower_lagging_a_quarter_second_tracks() -> None:
    res = tracking_figures(np.array([FIG(t - 0.25) for t in T]), REF, CENTER)
    assert res["tracks_reference"] and res["reasons"] == []
    assert res["tracking_rmse_m"] < 0.6 * res["hover_rmse_m"]


def test_hovering_at_the_centre_scores_the_reference_rms_and_fails() -> None:
    res = tracking_figures(np.tile(CENTER, (len(T), 1)), REF, CENTER)
    assert res["tracking_rmse_m"] == pytest.approx(res["hover_rmse_m"]) and res["hover_rmse_m"] == pytest.approx(0.474, abs=0.01)
    assert not res["tracks_reference"]
    assert res["extent_ratio"] == {"x": 0.0, "y": 0.0} and res["correlation"] == {"x": 0.0, "y": 0.0}


def test_moving_without_following_fails_on_correlation() -> None:
    rng = np.random.default_rng(0)
    wander = CENTER + np.cumsum(rng.normal(scale=0.02, size=(len(T), 3)), axis=0) * [1, 1, 0]
    wander[:, :2] *= 1.2 / np.ptp(wander[:, 0]), 0.6 / np.ptp(wander[:, 1])  # as wide as the figure
    res = tracking_figures(wander, REF, CENTER)
    assert not res["tracks_reference"]
    assert any("correlates" in r for r in res["reasons"])


def test_a_small_copy_in_phase_fails_on_extent() -> None:
    small = CENTER + 0.2 * (REF - CENTER)
    res = tracking_figures(small, REF, CENTER)
    assert res["correlation"]["x"] == pytest.approx(1.0) and not res["tracks_reference"]
    assert any("extent" in r for r in res["reasons"])


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="same"):
        tracking_figures(REF[:10], REF[:11], CENTER)
    with pytest.raises(ValueError, match="max_rmse_ratio"):
        TrackingCriterion(max_rmse_ratio=float("nan"))
