"""The on-robot runtime: safety monitors, state machine, fallback, fixed-rate loop, the whole pipeline.

The plant is the real PyBullet simulator behind the in-process transport; the policy is a real ONNX
file run by ONNX Runtime.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from robot_learning.algos.td3 import mlp
from robot_learning.export.onnx_export import export_policy
from robot_learning.robots.crazyflie import DEFAULT_PARAMS
from robot_learning.runtime.controller import ControllerConfig, QuadrotorController
from robot_learning.runtime.loop import FixedRateLoop, try_realtime
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.runtime.quadrotor import Hover
from robot_learning.runtime.safety import QuadrotorFallback, QuadrotorLimits, QuadrotorMonitors, RateLimiter, SafetyStateMachine
from robot_learning.runtime.transport import InProcessTransport
from robot_learning.sim.pybullet_quadrotor import PyBulletQuadrotor
from robot_learning.tasks.quadrotor.config import QuadrotorTrainConfig
from robot_learning.tasks.quadrotor.module import make_metadata
from robot_learning.types import Fault, RobotMode, RobotState, Severity


def level_state(stamp: float = 0.0, z: float = 1.0, **over: np.ndarray) -> RobotState:
    v = {"position": np.array([0.0, 0.0, z]), "quaternion": np.array([1.0, 0.0, 0.0, 0.0]),
         "linear_velocity": np.zeros(3), "angular_velocity": np.zeros(3)}
    v.update(over)
    return RobotState(stamp, v)


def tilted(deg: float) -> np.ndarray:
    h = math.radians(deg) / 2
    return np.array([math.cos(h), math.sin(h), 0.0, 0.0])


# ------------------------------------------------------------------------------ monitors
def test_nan_and_inf_are_estop_faults_naming_the_field() -> None:
    m = QuadrotorMonitors(QuadrotorLimits())
    f = m.check_input(level_state(position=np.array([0.0, 0.0, np.nan])), now=0.0)
    assert f and f[0].severity == Severity.ESTOP and "position[2]=nan" in f[0].message
    f = QuadrotorMonitors(QuadrotorLimits()).check_input(level_state(angular_velocity=np.array([np.inf, 0, 0])), now=0.0)
    assert f[0].severity == Severity.ESTOP and "angular_velocity[0]=inf" in f[0].message
    f = QuadrotorMonitors(QuadrotorLimits()).check_input(level_state(quaternion=np.array([2.0, 0, 0, 0])), now=0.0)
    assert f[0].severity == Severity.ESTOP and "quaternion norm" in f[0].message
    assert QuadrotorMonitors(QuadrotorLimits()).check_input(level_state(), now=0.0) == []


def test_staleness_watchdog() -> None:
    m = QuadrotorMonitors(QuadrotorLimits(stale_timeout_s=0.05))
    assert [f.monitor for f in m.check_input(None, now=0.0)] == ["stale"]
    assert m.check_input(level_state(stamp=1.0), now=1.01) == []
    f = m.check_input(level_state(stamp=1.0), now=1.2)
    assert f[0].monitor == "stale" and "200.0 ms old" in f[0].message
    f = m.check_input(level_state(stamp=0.5), now=0.5)
    assert "backwards" in f[0].message


def test_flight_limits() -> None:
    m = QuadrotorMonitors(QuadrotorLimits(max_tilt_deg=60, max_body_rate=10))
    assert m.check_flight(level_state()) == []
    assert [f.monitor for f in m.check_flight(level_state(quaternion=tilted(70)))] == ["tilt"]
    assert [f.monitor for f in m.check_flight(level_state(angular_velocity=np.array([0, 12.0, 0])))] == ["body_rate"]
    assert [f.monitor for f in m.check_flight(level_state(position=np.array([3.0, 0, 1])))] == ["geofence"]
    assert all(f.severity == Severity.FALLBACK for f in m.check_flight(level_state(position=np.array([3.0, 0, 1]), quaternion=tilted(90))))


def test_rate_limiter() -> None:
    r = RateLimiter(0.2, -1.0, 1.0)
    r.reset(np.zeros(2))
    np.testing.assert_allclose(r.apply(np.array([1.0, -0.1])), [0.2, -0.1])
    np.testing.assert_allclose(r.apply(np.array([5.0, -5.0])), [0.4, -0.3])
    assert r.clipped_ticks == 2


def test_state_machine_path_fallback_and_latched_estop() -> None:
    seen = []
    sm = SafetyStateMachine(on_transition=seen.append)
    with pytest.raises(ValueError, match="IDLE -> POLICY is not allowed"):
        sm.request(RobotMode.POLICY, "skip ahead")
    for m in (RobotMode.DAMPING, RobotMode.SOFT_START, RobotMode.POLICY):
        sm.request(m, "ok")
    sm.on_fault(Fault("tilt", Severity.FALLBACK, "tilt 130 deg"))
    assert sm.mode == RobotMode.DAMPING and "tilt" in sm.transitions[-1].reason
    sm.on_fault(Fault("finite", Severity.ESTOP, "position[0]=nan"))
    assert sm.mode == RobotMode.ESTOP
    sm.on_fault(Fault("tilt", Severity.FALLBACK, "x"))
    assert sm.mode == RobotMode.ESTOP
    with pytest.raises(ValueError, match="latched"):
        sm.request(RobotMode.DAMPING, "try to leave")
    sm.reset("operator reset")
    assert sm.mode == RobotMode.IDLE
    assert [t.target for t in seen][-2:] == [RobotMode.ESTOP, RobotMode.IDLE]


# ------------------------------------------------------------------------------ fallback
def test_fallback_motors_off_on_ground() -> None:
    fb = QuadrotorFallback(DEFAULT_PARAMS, QuadrotorLimits())
    np.testing.assert_allclose(fb.command(level_state(z=0.02)), -1.0)
    np.testing.assert_allclose(fb.command(None), -1.0)


def test_fallback_levels_and_descends_in_pybullet() -> None:
    fb = QuadrotorFallback(DEFAULT_PARAMS, QuadrotorLimits())
    with PyBulletQuadrotor() as v:
        v.reset((0.0, 0.0, 1.5), tilted(35), (0.5, 0.0, 0.0), (2.0, -2.0, 1.0))
        tilts, vz = [], []
        for _ in range(300):
            s = v.state()
            v.step(fb.command(s))
            w, x, y, z = s["quaternion"]
            tilts.append(math.degrees(math.acos(np.clip(1 - 2 * (x * x + y * y), -1, 1))))
            vz.append(s["linear_velocity"][2])
        end = v.state()
    assert max(tilts) < 90
    assert tilts[-1] < 5
    assert -1.0 < vz[-1] < 0.0
    assert 0.0 < end["position"][2] < 1.5


# ------------------------------------------------------------------------------ the loop
def test_loop_absolute_deadlines_and_misses() -> None:
    now = [0.0]
    work = iter([0.004, 0.009, 0.025, 0.003] + [0.002] * 1000)

    def clock() -> float:
        return now[0]

    def sleep(s: float) -> None:
        now[0] += s

    def tick(i: int) -> bool:
        now[0] += next(work)
        return True

    stats = FixedRateLoop(100.0, clock=clock, sleep=sleep, spin_s=0.0).run(tick, max_ticks=500)
    s = stats.summary()
    assert s["deadline_misses"] == 1 and s["skipped_ticks"] == 2
    # absolute deadlines: tick starts land on the 10 ms grid, no drift after hundreds of ticks
    assert abs(stats.last_start / 0.01 - round(stats.last_start / 0.01)) < 1e-6
    assert round(stats.last_start / 0.01) == 500 - 1 + 2


def test_loop_realtime_rate() -> None:
    stats = FixedRateLoop(200.0).run(lambda i: True, max_ticks=100)
    s = stats.summary()
    assert abs(s["rate_hz"] - 200.0) < 20
    assert all(math.isfinite(v) for v in s.values())


def test_try_realtime_never_raises() -> None:
    msgs = try_realtime(priority=1, lock_memory=False)
    assert msgs and all(isinstance(m, str) for m in msgs)


# ------------------------------------------------------------------------------ pipeline
def test_pipeline_holds_hover_and_estops_on_nan(hover_policy: Path) -> None:
    with PyBulletQuadrotor() as v:
        v.reset((0.0, 0.0, 1.0), (1.0, 0.0, 0.0, 0.0))
        transport = InProcessTransport(v)
        ctrl = QuadrotorController(PolicyRunner(hover_policy), transport, Hover((0.0, 0.0, 1.0)), cfg=ControllerConfig(soft_start_ticks=5))
        ctrl.start()
        for _ in range(50):
            cmd = ctrl.tick()
        assert ctrl.mode == RobotMode.POLICY
        np.testing.assert_allclose(cmd, DEFAULT_PARAMS.hover_action, atol=1e-5)
        assert abs(v.state()["position"][2] - 1.0) < 0.02
        # a NaN from the estimator: e-stop, motors off, latched
        real_state = v.state

        def broken() -> RobotState:
            s = real_state()
            s.values["position"] = np.array([0.0, np.nan, 1.0])
            return s

        v.state = broken  # type: ignore[method-assign]
        cmd = ctrl.tick()
        assert ctrl.mode == RobotMode.ESTOP and ctrl.fault_counts["finite"] == 1
        np.testing.assert_allclose(cmd, -1.0)
        v.state = real_state  # type: ignore[method-assign]
        np.testing.assert_allclose(ctrl.tick(), -1.0)  # latched even with good data
        assert ctrl.mode == RobotMode.ESTOP


def test_pipeline_falls_back_when_leaving_the_training_box(hover_policy: Path) -> None:
    with PyBulletQuadrotor() as v:
        v.reset((0.0, 0.0, 1.0), (1.0, 0.0, 0.0, 0.0))
        ctrl = QuadrotorController(PolicyRunner(hover_policy), InProcessTransport(v), Hover((0.0, 0.0, 1.0)), cfg=ControllerConfig(soft_start_ticks=0))
        ctrl.start()
        v.set_disturbance(np.array([0.05, 0.0, 0.0]), np.zeros(3))  # push it out of the box
        for _ in range(300):
            ctrl.tick()
        assert ctrl.mode == RobotMode.DAMPING and ctrl.fault_counts["training_box"] >= 1


def test_runtime_refuses_policy_for_another_robot(tmp_path: Path) -> None:
    from robot_learning.types import PolicyMetadataError

    meta = make_metadata(QuadrotorTrainConfig(), DEFAULT_PARAMS, {})
    meta.robot = "g1"
    export_policy(mlp([146, 8, 4], "tanh", torch.nn.Tanh), meta, tmp_path / "g1.onnx")
    with PyBulletQuadrotor() as v, pytest.raises(PolicyMetadataError, match="'robot' is 'g1'"):
        QuadrotorController(PolicyRunner(tmp_path / "g1.onnx"), InProcessTransport(v), Hover())


def test_runtime_imports_no_torch() -> None:
    import subprocess
    import sys

    code = ("import sys; import robot_learning.runtime.controller, robot_learning.runtime.loop, robot_learning.runtime.policy; "
            "assert 'torch' not in sys.modules, 'runtime imported torch'")
    subprocess.run([sys.executable, "-c", code], check=True)
