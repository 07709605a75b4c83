"""ASAP baselines: SysID by grid search (known answer: 0.65 x Kp) and a learned residual dynamics model."""
from __future__ import annotations

import numpy as np
import pytest

from robot_learning.tasks.asap.baselines import DeltaDynamics, fit_sysid
from robot_learning.tasks.asap.replay import SimParams, replay_error
from robot_learning.tasks.asap.delta import Recording, record_in, smooth_random_targets
from robot_learning.tasks.asap.target_world import load_target_world, make_target_robot


@pytest.fixture(scope="module")
def sessions() -> tuple[list[Recording], list[Recording]]:
    robot = make_target_robot(load_target_world("kp065_mujoco"))
    try:
        make = lambda seed: record_in(robot, smooth_random_targets(5.0, robot.dt, np.random.default_rng(seed), amplitude=0.6,  # noqa: E731
                                                                  periods_s=(0.4, 1.5)))
        return [make(i) for i in range(3)], [make(100 + i) for i in range(2)]
    finally:
        robot.close()


def test_sysid_recovers_the_gain_error(sessions: tuple[list[Recording], list[Recording]]) -> None:
    train, held = sessions
    best, info = fit_sysid(train, kp_scales=(0.5, 0.65, 0.8, 1.0), kd_scales=(0.8, 1.0), latencies=(0, 1))
    assert best == SimParams(0.65, 1.0, 0)
    assert info["best_error_rad"] < 1e-6 < info["nominal_error_rad"]
    raw, fitted = replay_error(held, 1.0, [SimParams(), best])
    assert fitted < 1e-6 < raw
    per_joint = replay_error(held, 1.0, [SimParams(), best], per_joint=True)  # the benchmark's plot
    assert per_joint.shape == (2, 23)
    np.testing.assert_allclose(per_joint.mean(1), [raw, fitted], atol=1e-12)


def test_delta_dynamics_reduces_the_open_loop_error(sessions: tuple[list[Recording], list[Recording]]) -> None:
    train, held = sessions
    model = DeltaDynamics()
    fit = model.fit(train, epochs=60)
    assert fit["samples"] == sum(r.num_steps for r in train)
    raw = replay_error(held, 1.0)[0]
    corrected = replay_error(held, 1.0, dynamics=model)[0]
    assert corrected < 0.6 * raw
