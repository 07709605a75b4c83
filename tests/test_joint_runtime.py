"""The joint-robot pipeline on real MuJoCo robots (G1, Panda) through the in-process transport:
soft start, terminal actions, clear errors, and property-based sequences of faults."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from robot_learning.robots.registry import load_robot
from robot_learning.runtime.joint_controller import JointController, JointControllerConfig, JointMappingError
from robot_learning.runtime.joint_transport import InProcessJointTransport
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.sim.mujoco_robot import MujocoJointRobot, MujocoRobotConfig
from robot_learning.types import JointLimits, PolicyMetadataError, RobotMode, RobotState

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "policies"


def make(robot: str, soft_start_s: float = 0.4, fix_base: bool = True, **cfg) -> tuple[JointController, InProcessJointTransport, MujocoJointRobot]:
    desc = load_robot(robot)
    sim = MujocoJointRobot(MujocoRobotConfig(robot=robot, variant="primitive", control_rate_hz=50.0, fix_base=fix_base))
    runner = PolicyRunner(ASSETS / f"{robot}_hold.onnx")
    transport = InProcessJointTransport(sim, runner.metadata.joint_names)
    terminal = "damping" if robot == "g1" else "hold"
    monitors = [{"type": "range"}, {"type": "stale", "timeout_s": 0.1}, {"type": "joint_velocity", "factor": 1.5},
                {"type": "torque_limits"}, {"type": "soft_joint_limits", "margin": 0.05}]
    if robot == "panda":
        monitors.append({"type": "workspace", "box_min": [-0.9, -0.9, 0.05], "box_max": [0.9, 0.9, 1.2]})
    c = JointController(runner, transport, desc.name, desc.limits(),
                        JointControllerConfig(terminal_action=terminal, soft_start_s=soft_start_s, monitors=monitors, **cfg),
                        forward_kinematics=desc.forward_kinematics)
    return c, transport, sim


def test_panda_soft_starts_from_a_displaced_pose_to_its_default() -> None:
    c, transport, sim = make("panda", soft_start_s=1.0)
    home = sim.spec.array("default_positions")
    sim.reset(pose=home + np.array([0.3, -0.2, 0.2, 0.3, 0.0, -0.2, 0.3]))
    transport.target = sim.state()["joint_position"].copy()
    c.start()
    assert c.mode == RobotMode.SOFT_START
    prev = sim.state()["joint_position"].copy()
    vmax = sim.spec.array("velocity_limit")
    for _ in range(100):
        cmd = c.tick()
        assert np.all(np.abs(cmd.position - prev) <= vmax * c.dt + 1e-9)  # never a jump
        prev = cmd.position
    assert c.mode == RobotMode.POLICY
    assert np.abs(sim.state()["joint_position"] - home).max() < 0.05


def test_g1_fixed_base_hold_policy_keeps_the_default_pose() -> None:
    c, transport, sim = make("g1")
    c.start()
    for _ in range(100):
        c.tick()
    assert c.mode == RobotMode.POLICY
    err = np.abs(transport.read_state()["joint_position"] - c.default)
    assert err.max() < 0.1, err


def test_nan_reading_estops_with_damping_in_the_same_tick_and_latches() -> None:
    c, transport, sim = make("g1")
    c.start()
    for _ in range(30):
        c.tick()

    def nan(s: RobotState) -> RobotState:
        s.values["joint_position"] = s["joint_position"].copy()
        s.values["joint_position"][3] = np.nan
        return s

    transport.inject = nan
    cmd = c.tick()
    assert c.mode == RobotMode.ESTOP
    assert np.all(cmd.kp == 0) and np.all(np.isfinite(cmd.position))  # damping, finite targets
    assert "not finite" in c.fault_log[-1]
    transport.inject = None
    with pytest.raises(ValueError, match="latched"):
        c.sm.request(RobotMode.DAMPING, "try")
    c.tick()
    assert c.mode == RobotMode.ESTOP
    c.reset()
    c.start()
    assert c.mode == RobotMode.SOFT_START


def test_policy_for_another_robot_is_refused_by_name() -> None:
    desc = load_robot("g1")
    sim = MujocoJointRobot(MujocoRobotConfig(robot="panda"))
    runner = PolicyRunner(ASSETS / "panda_hold.onnx")
    with pytest.raises(PolicyMetadataError, match="'robot' is 'franka_panda' but the runtime was started for 'unitree_g1'"):
        JointController(runner, InProcessJointTransport(sim, runner.metadata.joint_names), desc.name, desc.limits())


def test_a_policy_naming_its_robot_by_an_alias_runs_on_that_robot() -> None:
    """The ASAP tracking policies name their robot 'g1', the registry's alias of 'unitree_g1': the
    joint controller takes them for the G1 (as the runtime's robot check does), and still refuses a
    policy for another robot."""
    desc = load_robot("g1")
    runner = PolicyRunner(ASSETS / "g1_asap_pretrained.onnx")
    assert runner.metadata.robot == "g1" and desc.name == "unitree_g1"
    sim = MujocoJointRobot(MujocoRobotConfig(robot="g1", variant="primitive", control_rate_hz=50.0, fix_base=True))
    JointController(runner, InProcessJointTransport(sim, runner.metadata.joint_names), desc.name, desc.limits())
    with pytest.raises(PolicyMetadataError, match="'robot' is 'g1' but the runtime was started for 'franka_panda'"):
        JointController(runner, None, "franka_panda", load_robot("panda").limits())  # type: ignore[arg-type]


def test_missing_joint_is_a_clear_error() -> None:
    desc = load_robot("panda")
    lim = desc.limits()
    keep = [i for i, n in enumerate(lim.names) if n != "joint4"]
    short = JointLimits([lim.names[i] for i in keep], lim.lower[keep], lim.upper[keep], lim.velocity[keep], lim.effort[keep])
    with pytest.raises(JointMappingError, match=r"\['joint4'\] of the policy are missing"):
        JointController(PolicyRunner(ASSETS / "panda_hold.onnx"), None, desc.name, short)  # type: ignore[arg-type]


def test_slow_policy_falls_back_instead_of_sending_a_late_action() -> None:
    c, transport, sim = make("g1", soft_start_s=0.1)
    c.start()
    for _ in range(10):
        c.tick()
    assert c.mode == RobotMode.POLICY
    import time as _t

    real = c.runner.__call__
    c.runner = type("Slow", (), {"__call__": lambda self, o: (_t.sleep(0.025), real(o))[1], "metadata": c.runner.metadata})()
    c.tick()  # one overrun is tolerated (an OS hiccup)
    assert c.mode == RobotMode.POLICY
    cmd = c.tick()
    assert c.mode == RobotMode.DAMPING and np.all(cmd.kp == 0)
    assert "deadline" in c.fault_log[-1]


EVENTS = st.sampled_from(["ok", "ok", "ok", "nan", "stale", "out_of_range", "fast_joint", "estop", "stop", "start", "reset", "wild_policy"])


@example(["fast_joint", "start", "ok", "ok", "ok"])  # found by hypothesis: a second start restarted the soft start mid-motion
@given(st.lists(EVENTS, min_size=5, max_size=60))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_property_no_unchecked_command_under_any_fault_sequence(events) -> None:
    """Whatever happens, every command is finite, inside the hard limits, never jumps by more than
    velocity x dt while the policy or soft start is in control, and a FALLBACK/ESTOP fault in a
    tick means that tick's command is the terminal action; ESTOP only ends with reset."""
    c, transport, sim = _SHARED["g1"]
    transport.inject = None
    sim.reset()
    transport.target = sim.state()["joint_position"].copy()
    c.sm.mode = RobotMode.IDLE
    c.runner = _SHARED["runner"]
    c.start()
    lim = c.limits
    prev = None
    for ev in events:
        transport.inject = None
        if ev == "nan":
            transport.inject = lambda s: (s.values.__setitem__("imu_angular_velocity", np.array([np.inf, 0.0, 0.0])), s)[1]
        elif ev == "stale":
            transport.inject = lambda s: RobotState(s.stamp, s.values, {"joint_states": s.stamp - 1.0, "imu": s.stamp})
        elif ev == "out_of_range":
            transport.inject = lambda s: (s.values.__setitem__("joint_position", s["joint_position"] + 5.0), s)[1]
        elif ev == "fast_joint":
            transport.inject = lambda s: (s.values.__setitem__("joint_velocity", s["joint_velocity"] + 30.0), s)[1]
        elif ev == "estop":
            c.estop()
        elif ev == "stop":
            c.stop()
        elif ev == "reset":
            c.reset()
        elif ev == "start":
            try:
                c.start()
            except (RuntimeError, ValueError):
                pass
        elif ev == "wild_policy":
            c.runner = _WildRunner(c.runner.metadata)
        mode_before = c.mode
        n_faults = len(c.fault_log)
        cmd = c.tick()
        if c.mode == RobotMode.IDLE:
            assert cmd is None
            continue
        assert cmd is not None and cmd.is_finite()
        assert np.all(cmd.position >= lim.lower - 1e-9) and np.all(cmd.position <= lim.upper + 1e-9)
        new = c.fault_log[n_faults:]
        serious = [f for f in new if not f.startswith("WARN")]
        if serious or c.mode in (RobotMode.DAMPING, RobotMode.ESTOP):
            assert np.all(cmd.kp == 0), (ev, new)  # the G1's terminal action: damping
        elif mode_before in (RobotMode.SOFT_START, RobotMode.POLICY) and prev is not None:
            # bounded against the previous active command (after damping, kp = 0, the soft start begins at the measured pose)
            assert np.all(np.abs(cmd.position - prev) <= lim.velocity * c.dt + 1e-9)
        if mode_before == RobotMode.ESTOP and ev != "reset":
            assert c.mode == RobotMode.ESTOP
        prev = cmd.position if np.all(cmd.kp > 0) else None


class _WildRunner:
    """A policy whose actions are huge and random (a broken network): the limiters must hold."""

    def __init__(self, metadata) -> None:  # noqa: ANN001
        self.metadata = metadata
        self.rng = np.random.default_rng(0)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.normal(0.0, 50.0, self.metadata.action_size).astype(np.float32)


_SHARED: dict = {}


@pytest.fixture(scope="module", autouse=True)
def _shared_g1() -> None:
    c, transport, sim = make("g1", soft_start_s=0.1)
    _SHARED["g1"] = (c, transport, sim)
    _SHARED["runner"] = c.runner
