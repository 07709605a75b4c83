"""Stage II's domain randomisation in the getting-up environment (``env.dr``): per-episode physics,
action delay, pushes and observation noise in training episodes; the nominal robot in evaluation."""
from __future__ import annotations

import numpy as np

from robot_learning.tasks.getup.module import load_config
from robot_learning.tasks.getup.train import make_env


def _env(n: int = 6, **dr: object):
    cfg = load_config(None, num_envs=n, posture="supine")
    cfg.env.dr.enabled = True
    for k, v in dr.items():
        setattr(cfg.env.dr, k, v)
    env, _ = make_env(cfg)
    env.cfg.reference_init_fraction = 0.0
    return env


def test_training_episodes_get_their_own_physics_and_evaluation_the_nominal_robot() -> None:
    env = _env()
    env.reset()
    b = env.batch
    pelvis = b.model.body("pelvis").id
    friction = np.array([m.geom_friction[0, 0] for m in b.models])
    mass = np.array([m.body_mass[pelvis] for m in b.models])
    assert np.all((friction >= 1.0) & (friction <= 3.0)) and np.ptp(friction) > 0.1
    assert np.all(np.abs(mass - b.model.body_mass[pelvis]) <= 3.0 + 1e-9) and np.ptp(mass) > 0.1
    assert np.all((b.kp >= 0.8 * b.desc.array("kp") - 1e-9) & (b.kp <= 1.2 * b.desc.array("kp") + 1e-9))
    assert np.ptp(b.kp[:, 0]) > 0
    assert np.all((env.delay >= 0) & (env.delay <= 4))  # 8 ms at 500 Hz: up to 4 physics steps
    env.fixed_starts = True  # what evaluate_policy sets
    env.reset()
    assert all(m.geom_friction[0, 0] == b.model.geom_friction[0, 0] for m in b.models)
    np.testing.assert_allclose(b.kp, np.tile(b.desc.array("kp"), (env.n, 1)))
    assert not env.delay.any()


def test_observation_noise_only_in_training_episodes() -> None:
    env = _env(n=2, obs_noise=0.05)
    env.reset()
    a = env._fields()["joint_position"]
    b = env._fields()["joint_position"]  # same state, fresh noise
    assert 0.02 < np.std(a - b) < 0.1
    env.fixed_starts = True
    np.testing.assert_array_equal(env._fields()["joint_position"], env._fields()["joint_position"])


def test_pushes_kick_the_pelvis_every_push_interval() -> None:
    env = _env(n=4, push_interval_s=0.1, push_max_speed=1.0, friction=(1.0, 1.0), motor_strength=(1.0, 1.0),
               base_mass_delta_kg=(0.0, 0.0), com_offset_m=0.0, action_delay_s=0.0, obs_noise=0.0)
    quiet = _env(n=4, push_max_speed=0.0, friction=(1.0, 1.0), motor_strength=(1.0, 1.0),
                 base_mass_delta_kg=(0.0, 0.0), com_offset_m=0.0, action_delay_s=0.0, obs_noise=0.0)
    for e in (env, quiet):
        e.fixed_starts = True
        e.reset()
        e.fixed_starts = False  # training episodes from the same poses, nominal physics
    hold = np.zeros((4, 23))
    for _ in range(env.push_every):
        env.step(hold)
        quiet.step(hold)
    kick = np.linalg.norm(env.batch.qvel[:, :2] - quiet.batch.qvel[:, :2], axis=1)
    assert kick.max() > 0.05 and kick.max() <= 1.0 + 1e-9


def test_action_delay_holds_the_previous_targets_for_the_first_physics_steps() -> None:
    base = dict(friction=(1.0, 1.0), motor_strength=(1.0, 1.0), base_mass_delta_kg=(0.0, 0.0), com_offset_m=0.0,
                push_max_speed=0.0, obs_noise=0.0)
    env = _env(n=2, action_delay_s=0.008, **base)
    env.fixed_starts = True
    env.reset()
    env.fixed_starts = False
    env.delay[:] = [0, 4]
    start = env.batch.joint_pos.copy()
    a = np.zeros((2, 23))
    a[:, 3] = 2.0  # left knee target +1 rad
    env.step(a)
    moved = env.batch.joint_pos[:, 3] - start[:, 3]
    assert moved[0] > moved[1] > -0.05  # the delayed robot's knee started later


def test_train_cli_switches_the_randomisation_on() -> None:
    assert not load_config(None).env.dr.enabled
    cfg = load_config(None, dr=True)
    assert cfg.env.dr.enabled and cfg.env.dr.friction == (1.0, 3.0)
