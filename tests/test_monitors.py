"""The joint-robot monitors, one by one (no simulator needed: each is a function of state and command)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_learning.runtime.monitors import (
    MonitorConfigError,
    MonitorContext,
    PlausibleInput,
    SoftJointLimits,
    Staleness,
    Tilt,
    TorqueLimits,
    Workspace,
    build_monitors,
)
from robot_learning.types import JointCommand, JointLimits, RobotState, Severity

NAMES = ["a", "b", "c"]
LIMITS = JointLimits(NAMES, np.array([-1.0, -2.0, 0.0]), np.array([1.0, 2.0, 2.5]), np.array([2.0, 4.0, 1.0]), np.array([50.0, 20.0, 10.0]))
CTX = MonitorContext(LIMITS, dt=0.02, task="test")


def state(q=(0.0, 0.0, 1.0), qd=(0.0, 0.0, 0.0), quat=(1.0, 0.0, 0.0, 0.0), stamp=0.0, topics=None) -> RobotState:
    return RobotState(stamp, {"joint_position": np.array(q, dtype=float), "joint_velocity": np.array(qd, dtype=float),
                              "imu_orientation": np.array(quat, dtype=float)}, topics or {})


def cmd(pos, kp=(100.0, 100.0, 100.0), kd=(1.0, 1.0, 1.0)) -> JointCommand:
    return JointCommand(NAMES, np.array(pos, dtype=float), np.array(kp, dtype=float), np.array(kd, dtype=float))


def test_soft_limits_bound_the_step_by_velocity_times_dt() -> None:
    m = SoftJointLimits(CTX, margin=0.1, k_position=20.0)
    m.reset(None, cmd([0.0, 0.0, 1.0]))
    c = cmd([0.5, -0.5, 1.5])
    f = m.check_command(state(), c)
    assert f is not None and f.severity == Severity.WARN
    np.testing.assert_allclose(c.position, [0.04, -0.08, 1.02])  # v_max * dt per joint


@given(st.lists(st.floats(-10, 10), min_size=3, max_size=3), st.integers(1, 200))
@settings(max_examples=60, deadline=None)
def test_soft_limits_never_leave_the_hard_limits_and_never_jump(target, steps) -> None:
    m = SoftJointLimits(CTX, margin=0.1, k_position=20.0)
    m.reset(None, cmd([0.0, 0.0, 1.0]))
    prev = np.array([0.0, 0.0, 1.0])
    for _ in range(steps):
        c = cmd(target)
        m.check_command(state(), c)
        assert np.all(c.position >= LIMITS.lower - 1e-12) and np.all(c.position <= LIMITS.upper + 1e-12)
        assert np.all(np.abs(c.position - prev) <= LIMITS.velocity * CTX.dt + 1e-9)
        prev = c.position


def test_soft_limits_outside_the_soft_band_allow_only_coming_back() -> None:
    m = SoftJointLimits(CTX, margin=0.2, k_position=20.0)
    m.reset(None, cmd([0.95, 0.0, 1.0]))  # beyond the soft upper limit of joint a (0.8)
    c = cmd([1.0, 0.0, 1.0])
    m.check_command(state(), c)
    assert c.position[0] <= 0.95 + 1e-3 * CTX.dt + 1e-12  # no further out (near-zero velocity)
    c = cmd([0.0, 0.0, 1.0])
    m.check_command(state(), c)
    assert c.position[0] < 0.95  # back in, freely


def test_torque_limit_moves_the_target_towards_the_measurement() -> None:
    m = TorqueLimits(CTX)
    c = cmd([0.9, 0.0, 1.0], kp=(100.0, 100.0, 100.0), kd=(0.0, 0.0, 0.0))
    f = m.check_command(state(q=(0.0, 0.0, 1.0)), c)
    assert f is not None and "estimated torque 90.0" in f.message
    assert c.position[0] == pytest.approx(0.5)  # 100 * 0.5 = 50 Nm, the limit


def test_tilt_monitor_is_aware_of_getting_up() -> None:
    lying = (math.cos(math.pi / 4), math.sin(math.pi / 4), 0.0, 0.0)  # 90 deg about x
    getup = Tilt(MonitorContext(LIMITS, 0.02, task="getup"), max_tilt_deg=60, upright_s=0.1)
    for _ in range(50):
        assert getup.check_state(state(quat=lying), 0.0) is None  # lying is the start, not a fault
    for _ in range(5):
        getup.check_state(state(quat=(1.0, 0.0, 0.0, 0.0)), 0.0)
    assert getup.armed
    f = getup.check_state(state(quat=lying), 0.0)
    assert f is not None and "fell after getting up" in f.message
    tracking = Tilt(MonitorContext(LIMITS, 0.02, task="motion_tracking"), max_tilt_deg=60)
    assert tracking.check_state(state(quat=lying), 0.0).severity == Severity.FALLBACK


def test_staleness_per_topic() -> None:
    m = Staleness(CTX, timeouts={"joint_states": 0.05, "imu": 0.1})
    s = state(topics={"joint_states": 1.0, "imu": 0.95})
    assert m.check_state(s, 1.04) is None
    f = m.check_state(s, 1.07)
    assert f is not None and "'joint_states' is 70.0 ms old" in f.message
    assert "no message on 'imu'" in m.check_state(state(topics={"joint_states": 1.0}), 1.0).message


def test_impossible_readings_are_estop() -> None:
    m = PlausibleInput(CTX)
    assert m.check_state(state(q=(5.0, 0.0, 1.0)), 0.0).severity == Severity.ESTOP
    assert "velocity" in m.check_state(state(qd=(0.0, 100.0, 0.0)), 0.0).message
    assert "quaternion norm" in m.check_state(state(quat=(0.5, 0.0, 0.0, 0.0)), 0.0).message


def test_workspace_rejects_a_target_outside_the_box_and_holds() -> None:
    ctx = MonitorContext(LIMITS, 0.02, forward_kinematics=lambda q: np.array([q[0], q[1], q[2]]))
    m = Workspace(ctx, box_min=(-0.5, -0.5, 0.5), box_max=(0.5, 0.5, 1.5))
    m.reset(None, cmd([0.0, 0.0, 1.0]))
    ok = cmd([0.1, 0.1, 1.1])
    assert m.check_command(state(), ok) is None
    bad = cmd([0.9, 0.0, 1.0])
    f = m.check_command(state(), bad)
    assert f.severity == Severity.FALLBACK and "outside the workspace box" in f.message
    np.testing.assert_allclose(bad.position, [0.1, 0.1, 1.1])


def test_monitor_config_errors_name_the_entry() -> None:
    with pytest.raises(MonitorConfigError, match=r"monitors\[0\]: unknown monitor type 'tilted'"):
        build_monitors([{"type": "tilted"}], CTX)
    with pytest.raises(MonitorConfigError, match=r"monitors\[1\] \(tilt\)"):
        build_monitors([{"type": "range"}, {"type": "tilt", "max_tilt": 3}], CTX)
    with pytest.raises(ValueError, match="forward kinematics"):
        build_monitors([{"type": "workspace"}], CTX)
    ms = build_monitors([{"type": "stale"}, {"type": "soft_joint_limits"}], CTX)
    assert [m.name for m in ms] == ["finite", "stale", "soft_joint_limits"]


def test_tilt_limit_is_the_stricter_of_the_robot_and_the_policy() -> None:
    ctx = MonitorContext(LIMITS, 0.02, task="motion_tracking", extra={"max_tilt_deg": 40.0})
    assert Tilt(ctx, max_tilt_deg=60).max_tilt == 40.0
    assert Tilt(ctx, max_tilt_deg=30).max_tilt == 30.0
    assert Tilt(MonitorContext(LIMITS, 0.02)).max_tilt == 60.0
