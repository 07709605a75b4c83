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


def test_sysid_recovers_joint_damping_and_friction() -> None:
    """Known answer: sessions of the training simulator itself with 0.4 N m s/rad of extra damping and
    0.4 N m of extra dry friction on every joint."""
    from robot_learning.sim.mujoco_batch import G1Batch, G1BatchConfig

    n, rng = 3, np.random.default_rng(0)
    with G1Batch(G1BatchConfig(num_envs=n, fix_base=True)) as b:
        targets = np.stack([smooth_random_targets(3.0, b.dt, rng, amplitude=0.6, periods_s=(0.4, 1.5)) for _ in range(n)], 1)
        b.set_joint_friction(np.arange(n), np.full(n, 0.4), np.full(n, 0.4))
        b.reset(np.arange(n), np.tile(targets[0], (1, 1)), np.zeros((n, 23)))
        qs, vs = [b.joint_pos.copy()], [b.joint_vel.copy()]
        for a in targets:
            b.step(a)
            qs.append(b.joint_pos.copy())
            vs.append(b.joint_vel.copy())
        recs = [Recording(np.stack(qs)[:, i], np.stack(vs)[:, i], targets[:, i], b.dt, name=f"r{i}") for i in range(n)]
    best, info = fit_sysid(recs, kp_scales=(0.8, 1.0), kd_scales=(1.0,), latencies=(0,), dampings=(0.0, 0.4, 0.8),
                           frictions=(0.0, 0.4, 0.8))
    assert best == SimParams(1.0, 1.0, 0, 0.4, 0.4)
    assert info["best_error_rad"] < 1e-6 < info["gains_error_rad"]


def test_delta_dynamics_reduces_the_open_loop_error(sessions: tuple[list[Recording], list[Recording]]) -> None:
    train, held = sessions
    model = DeltaDynamics()
    fit = model.fit(train, epochs=60)
    assert fit["samples"] == sum(r.num_steps for r in train)
    raw = replay_error(held, 1.0)[0]
    corrected = replay_error(held, 1.0, dynamics=model)[0]
    assert corrected < 0.6 * raw
