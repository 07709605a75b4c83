"""Issue 22's evaluation gate: the randomised simulated G1 of ``eval getup --dr`` and PyBullet's armature term.

- ``RobotRandomization`` randomises: two episodes of one robot see different friction, pelvis mass
  and COM, motor strength; the same seed redraws the same robots; pushes kick the pelvis; the action
  delay changes the motion; the sensor noise reaches ``state()`` but not ``state(noise=False)``.
- A nominal randomisation (every factor at its default) is the robot without one, bit for bit, and
  ``--dr none`` builds none; a bad ``--dr`` is a usage error (exit 2).
- PyBullet's armature term: a step of the hung G1's left shoulder yaw (the lightest joint that the
  arm's armature loads most) follows MuJoCo's to within 0.01 rad RMS over 0.5 s with the term
  (measured: 0.0006 rad) and not without it (measured: 0.13 rad); see benchmarks/g1_armature.py.
"""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest

from robot_learning.sim.mujoco_robot import MujocoJointRobot, MujocoRobotConfig, RobotRandomization
from robot_learning.tasks.getup.poses import fallen_pose_dataset

ROOT = Path(__file__).resolve().parents[1]
ALL = RobotRandomization(friction=(1.0, 3.0), base_mass_delta_kg=(-3.0, 3.0), com_offset_m=0.05, motor_strength=(0.8, 1.2),
                         action_delay_s=0.008, push_max_speed=1.0, obs_noise=0.02)


@pytest.fixture(scope="module")
def start() -> np.ndarray:
    return fallen_pose_dataset(seed=0)["supine"]["test"][0]


def robot(randomization: RobotRandomization | None, seed: int = 0) -> MujocoJointRobot:
    return MujocoJointRobot(MujocoRobotConfig(variant="primitive", seed=seed, randomization=randomization))


def run(r: MujocoJointRobot, start: np.ndarray, steps: int = 50) -> np.ndarray:
    r.reset_to(start)
    target = start[7:] + 0.3 * np.sin(np.arange(23))
    for _ in range(steps):
        r.step(target)
    return r.qpos()


def test_episodes_are_randomised_and_reproducible(start: np.ndarray) -> None:
    r = robot(ALL, seed=3)
    pelvis = r.model.body("pelvis").id
    seen = []
    for _ in range(2):
        r.reset_to(start)
        s = r.randomization_sample
        seen.append(s)
        # the model itself carries the draw
        assert np.all(r.model.geom_friction[:, 0] == s["friction"])
        assert r.model.body_mass[pelvis] == pytest.approx(s["pelvis_mass_kg"])
        assert np.allclose(r.model.actuator_gainprm[r._act, 0], r.spec.array("kp") * np.array(s["motor_strength"]))
    a, b = seen
    assert a["friction"] != b["friction"] and a["pelvis_mass_kg"] != b["pelvis_mass_kg"]
    assert a["com_offset_m"] != b["com_offset_m"] and a["motor_strength"] != b["motor_strength"]
    assert 1.0 <= a["friction"] <= 3.0 and abs(a["pelvis_mass_kg"] - 3.813) <= 3.0
    again = robot(ALL, seed=3)
    again.reset_to(start)
    assert again.randomization_sample == a  # the seed and the episode decide the robot
    other = robot(ALL, seed=4)
    other.reset_to(start)
    assert other.randomization_sample["friction"] != a["friction"]


def test_nominal_randomisation_is_the_nominal_robot(start: np.ndarray) -> None:
    from robot_learning.tasks.getup.module import eval_randomization

    assert RobotRandomization().nominal and not ALL.nominal
    assert eval_randomization("none") is None
    assert np.array_equal(run(robot(None), start), run(robot(RobotRandomization()), start))
    # each factor alone at the training config's range, the others nominal
    fric = eval_randomization("friction")
    assert fric.friction == (1.0, 3.0) and fric.base_mass_delta_kg is None and fric.push_max_speed == 0.0
    assert not eval_randomization("all").nominal


@pytest.mark.parametrize("factor", [dict(push_max_speed=1.0, push_interval_s=0.2), dict(action_delay_s=0.008),
                                    dict(friction=(2.5, 3.0)), dict(base_mass_delta_kg=(2.0, 3.0))])
def test_each_factor_changes_the_motion(start: np.ndarray, factor: dict) -> None:
    nominal = run(robot(None), start)
    randomised = run(robot(RobotRandomization(**factor)), start)
    assert np.abs(randomised - nominal).max() > 1e-3


def test_pushes_kick_the_pelvis_at_the_interval(start: np.ndarray) -> None:
    r = robot(RobotRandomization(push_max_speed=1.0, push_interval_s=0.1))  # every 5 control steps
    r.reset_to(start)
    for k in range(1, 6):
        before = r.data.qvel[:2].copy()
        r.step(start[7:])
        if k < 5:
            assert np.abs(r.data.qvel[:2] - before).max() < 0.5
    assert 0.0 < np.linalg.norm(r.data.qvel[:2] - before) <= 1.0 + 0.3  # the kick (<= 1 m/s) on top of the step's own change


def test_sensor_noise_is_in_the_readings_only(start: np.ndarray) -> None:
    r = robot(RobotRandomization(obs_noise=0.02))
    r.reset_to(start)
    noisy, true = r.state(), r.state(noise=False)
    assert np.array_equal(true["base_position"], noisy["base_position"])
    d = noisy["joint_position"] - true["joint_position"]
    assert 0.005 < d.std() < 0.05
    assert np.linalg.norm(noisy["imu_orientation"]) == pytest.approx(1.0)
    assert not np.allclose(noisy["imu_orientation"], true["imu_orientation"])
    assert np.array_equal(robot(None).state()["joint_position"], robot(None).state(noise=False)["joint_position"])


def test_randomisation_is_checked() -> None:
    from robot_learning.core.config import FieldError

    with pytest.raises(FieldError, match="friction"):
        RobotRandomization(friction=(3.0, 1.0))
    with pytest.raises(FieldError, match="obs_noise"):
        RobotRandomization(obs_noise=-0.1)
    with pytest.raises(ValueError, match="without mass"):
        robot(RobotRandomization(base_mass_delta_kg=(-5.0, 0.0)))
    with pytest.raises(FieldError, match="randomization"):
        MujocoRobotConfig(robot="panda", randomization=RobotRandomization())


def test_bad_dr_value_is_a_usage_error() -> None:
    from robot_learning.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as e:
        main(["eval", "getup", "--policy", str(ROOT / "assets/policies/g1_getup_supine.onnx"), "--dr", "wind"])
    assert e.value.code == 2 and "--dr" in err.getvalue()


def _shoulder_yaw_rms(armature: bool, cache_dir: str) -> float:
    from robot_learning.sim.pybullet_g1 import PyBulletG1, PyBulletG1Config

    mj = MujocoJointRobot(MujocoRobotConfig(variant="mesh", fix_base=True))
    i = mj.spec.joint_names.index("left_shoulder_yaw_joint")
    hold = mj.default_pose()
    target = hold.copy()
    target[i] += 0.3

    def response(r: object) -> np.ndarray:
        r.reset(pose=hold)
        out = []
        for _ in range(25):  # 0.5 s at 50 Hz
            r.step(target)
            out.append(r.state()["joint_position"][i])
        return np.array(out)

    ref = response(mj)
    with PyBulletG1(PyBulletG1Config(fix_base=True, armature=armature, cache_dir=cache_dir)) as pb:
        traj = response(pb)
    return float(np.sqrt(np.mean((traj - ref) ** 2)))


def test_armature_term_makes_pybullet_step_like_mujoco(tmp_path: Path) -> None:
    cache = str(tmp_path / "g1_urdf")
    with_term, without = _shoulder_yaw_rms(True, cache), _shoulder_yaw_rms(False, cache)
    assert with_term < 0.01 < without, (with_term, without)
