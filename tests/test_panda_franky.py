"""The Panda adapter (issue 23): the shipped pick-and-place policy through the adapter interface on the
simulated arm, FrankyArm's franky calls against the installed franky's API, its refusal when no robot
answers (127.0.0.1 only, nothing else is ever contacted), and its clipping and reflex recovery
against a fake franky robot."""
from __future__ import annotations

import inspect
import json
import re
import socket
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot_learning.core.config import ConfigError
from robot_learning.hardware.panda.arm import (
    ArmError,
    ArmReflex,
    ArmState,
    ArmTransport,
    GraspTrackedObject,
)
from robot_learning.hardware.panda.franky_arm import (
    DOWN_XYZW,
    FRANKY_API,
    FrankyArm,
    FrankyArmConfig,
)
from robot_learning.hardware.panda.runner import (
    DEFAULT_POLICY,
    PandaArmController,
    PandaRunConfig,
    deploy_panda,
    evaluate_on_simulated_arm,
    run_episode,
)
from robot_learning.hardware.panda.sim_arm import SceneTruth, SimulatedArm
from robot_learning.robots.panda import panda_fk
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.tasks.hil_serl.evaluate import evaluate_policy

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"


# ------------------------------------------------------------------------------ simulated arm
def test_shipped_pick_and_place_policy_through_the_adapter_matches_the_runtime_on_simulated_arm() -> None:
    """The same 20 held-out scenes, through the task's runtime evaluator and through the adapter
    interface on SimulatedArm (the runner's extra monitors in front): the success rates agree within
    binomial noise, and the adapter's reaches the shipped report's."""
    report = json.loads(DEFAULT_POLICY.with_suffix(".report.json").read_text())
    runtime = evaluate_policy(DEFAULT_POLICY, "mujoco", episodes=20, seed=10_000)
    adapter = evaluate_on_simulated_arm(DEFAULT_POLICY, "mujoco", episodes=20, seed=10_000)
    p = runtime["success_rate"]
    noise = 2.0 * np.sqrt(max(p * (1 - p), 0.05 * 0.95) / 20)  # two standard errors, floored at p = 0.95's
    assert abs(adapter["success_rate"] - p) <= noise, (adapter["success_rate"], p)
    assert adapter["success_rate"] >= report["success_mujoco"] - noise, (adapter["success_rate"], report["success_mujoco"])
    assert adapter["stops"] == 0 and "finite" not in adapter["faults"], adapter["faults"]


class _Glitch(SimulatedArm):
    """A simulated arm whose reading goes bad from tick ``at`` on: ``kind`` 'nan' (a NaN TCP velocity)
    or 'stale' (the stamp stops advancing)."""

    def __init__(self, kind: str, at: int) -> None:
        super().__init__("mujoco")
        self.kind, self.at, self.reads, self.frozen = kind, at, 0, None

    def read_state(self) -> ArmState:
        s = super().read_state()
        self.reads += 1
        if self.reads > self.at:
            if self.kind == "nan":
                s.tcp_vel = np.array([np.nan, 0.0, 0.0])
            else:
                self.frozen = s.stamp if self.frozen is None else self.frozen
                s.stamp = self.frozen
        return s


@pytest.mark.parametrize("kind, monitor", [("nan", "finite"), ("stale", "stale")])
def test_runner_stops_the_arm_on_a_bad_reading_and_leaves_the_gripper_closed_against_a_simulated_arm(kind: str, monitor: str) -> None:
    """The shipped policy grasps the cube; then the reading goes bad (NaN, or a frozen stamp): the
    runner stops the policy at once, holds, stops the arm, names the monitor, and the gripper stays
    closed on the cube (nothing is opened)."""
    arm = _Glitch(kind, at=10_000)
    arm.connect()
    try:
        arm.reset(10_000)
        runner = PolicyRunner(DEFAULT_POLICY)
        ctrl = PandaArmController(runner, ArmTransport(arm, SceneTruth(arm)), PandaRunConfig(soft_start_s=0.0, stale_timeout_s=0.25))
        grasped = run_episode(ctrl, arm, 100, done=lambda: bool(arm.last_info.get("grasped")) and arm.env.object_pos()[2] > 0.05)
        assert grasped["success"], grasped  # the cube is in the hand, lifted
        width = arm.read_state().gripper_width
        arm.at = arm.reads + 2
        logs: list[str] = []
        ctrl2 = PandaArmController(runner, ArmTransport(arm, SceneTruth(arm)), PandaRunConfig(soft_start_s=0.0, stale_timeout_s=0.25))
        out = run_episode(ctrl2, arm, 50, log=logs.append)
        assert out["stopped"] is not None and monitor in out["stopped"], out
        assert out["steps"] <= 2 + 4, out  # within the stale timeout of the glitch (0.25 s = 3 ticks)
        assert ctrl2.mode.name in ("DAMPING", "ESTOP") and arm.stops == 1 and logs and monitor in logs[0]
        assert ctrl2.last_command.held and ctrl2.last_command.gripper is None
        assert arm.env.gripper_closed and abs(arm.read_state().gripper_width - width) < 0.005  # still holding the cube
    finally:
        arm.close()


def test_home_joints_put_the_tcp_at_the_start_pose_hand_down() -> None:
    from robot_learning.hardware.panda.franky_arm import HOME_JOINTS
    from robot_learning.robots.panda import PANDA_SPEC
    from robot_learning.tasks.hil_serl.scene import PickPlaceConfig

    p, r = panda_fk(np.asarray(HOME_JOINTS), "tcp")
    assert np.allclose(p, PickPlaceConfig().start_tcp, atol=2e-4) and np.allclose(r, np.diag([1.0, -1.0, -1.0]), atol=2e-4)
    assert np.all(np.asarray(HOME_JOINTS) > PANDA_SPEC.position_lower) and np.all(np.asarray(HOME_JOINTS) < PANDA_SPEC.position_upper)


def test_grasp_tracked_object_follows_the_hand_only_while_it_holds_a_cube() -> None:
    g = GraspTrackedObject([0.5, 0.1, 0.02], [0.4, -0.2, 0.028])

    def state(tcp: list[float], width: float) -> ArmState:
        return ArmState(0.0, np.array(tcp), np.eye(3), np.zeros(3), np.zeros(7), np.zeros(7), width)

    assert g.fields(state([0.45, 0.0, 0.2], 0.08))["object_pos"].tolist() == [0.5, 0.1, 0.02]  # open: where the operator put it
    assert g.fields(state([0.5, 0.1, 0.02], 0.04))["object_pos"].tolist() == [0.5, 0.1, 0.02]  # one reading is not a grasp yet
    assert g.fields(state([0.5, 0.1, 0.05], 0.041))["object_pos"].tolist() == [0.5, 0.1, 0.05]  # held: follows the hand
    assert g.fields(state([0.4, -0.2, 0.08], 0.08))["object_pos"].tolist() == [0.5, 0.1, 0.05]  # released: stays
    assert g.fields(state([0.4, -0.2, 0.08], 0.0))["goal_pos"].tolist() == [0.4, -0.2, 0.028]  # closed on nothing: no grasp
    with pytest.raises(ValueError, match="object position must be 3 finite numbers"):
        GraspTrackedObject([0.5, np.nan, 0.0], [0.4, 0.0, 0.0])


# ------------------------------------------------------------------------------ a fake franky
class FakeFranky:
    """A fake franky module (the real arm cannot run here): every call is recorded with the keyword
    names it got, and the functions take keywords only, so a call the real API would name differently
    fails here. The fake robot tracks its reference perfectly; ``reflexes`` reflexes are raised by
    ``poll_motion``, and ``recover_failures`` recoveries fail first."""

    class ControlException(Exception):
        pass

    class NetworkException(Exception):
        pass

    class CommandException(Exception):
        pass

    class IncompatibleVersionException(Exception):
        pass

    class RealtimeException(Exception):
        pass

    def __init__(self, reflexes: int = 0, recover_failures: int = 0) -> None:
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.reflexes, self.recover_failures = reflexes, recover_failures
        self.robot: Any = None
        self.module = self._build()

    def _rec(self, name: str, **kw: Any) -> None:
        self.calls.append((name, tuple(sorted(kw))))

    def _build(self) -> types.ModuleType:
        fake = self
        m = types.ModuleType("fake_franky")
        for exc in ("ControlException", "NetworkException", "CommandException", "IncompatibleVersionException", "RealtimeException"):
            setattr(m, exc, getattr(FakeFranky, exc))
        m.RealtimeConfig = types.SimpleNamespace(Enforce="enforce", Ignore="ignore")
        m.Frame = types.SimpleNamespace(EndEffector="EndEffector")

        class Affine:
            def __init__(self, *, translation: Any, quaternion: Any) -> None:
                fake._rec("Affine", translation=translation, quaternion=quaternion)
                self.t, self.q = np.asarray(translation, float).copy(), np.asarray(quaternion, float)

            @property
            def matrix(self) -> np.ndarray:
                fake._rec("Affine.matrix")
                mat = np.eye(4)
                x, y, z, w = self.q
                mat[:3, :3] = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                                        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                                        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
                mat[:3, 3] = self.t
                return mat

        class CartesianReference:
            def __init__(self, *, target: Any) -> None:
                fake._rec("CartesianReference", target=target)
                self.target = target

        class PostureTask:
            def __init__(self, *, target: Any, stiffness: Any) -> None:
                fake._rec("PostureTask", target=target, stiffness=stiffness)

        class CartesianImpedanceGains:
            @staticmethod
            def isotropic(*, translational_stiffness: float, rotational_stiffness: float) -> dict:
                fake._rec("CartesianImpedanceGains.isotropic", translational_stiffness=0, rotational_stiffness=0)
                return {"k": translational_stiffness, "kr": rotational_stiffness}

        class CartesianImpedanceTrackingMotion:
            def __init__(self, **kw: Any) -> None:
                fake._rec("CartesianImpedanceTrackingMotion", **kw)
                self.kw, self.reference, self.gains = kw, None, None

            def set_reference(self, *, reference: Any) -> None:
                fake._rec("CartesianImpedanceTrackingMotion.set_reference", reference=reference)
                self.reference = reference
                if fake.robot is not None and fake.robot.motion is self:
                    fake.robot.pose = reference.target

            def set_gains(self, *, gains: Any) -> None:
                fake._rec("CartesianImpedanceTrackingMotion.set_gains", gains=gains)
                self.gains = gains

        class JointMotion:
            def __init__(self, *, target: Any) -> None:
                fake._rec("JointMotion", target=target)
                self.target = target

        class TorqueStopMotion:
            def __init__(self) -> None:
                fake._rec("TorqueStopMotion")

        class State:
            def __init__(self, robot: Robot) -> None:
                self._r = robot

            @property
            def O_T_EE(self) -> Affine:
                fake._rec("RobotState.O_T_EE")
                return self._r.pose

            @property
            def q(self) -> np.ndarray:
                fake._rec("RobotState.q")
                return np.array(fake.home)

            @property
            def dq(self) -> np.ndarray:
                fake._rec("RobotState.dq")
                return np.zeros(7)

        class Model:
            def zero_jacobian(self, *, frame: Any, state: Any) -> np.ndarray:
                fake._rec("Model.zero_jacobian", frame=frame, state=state)
                return np.zeros((6, 7))

        class Robot:
            def __init__(self, *, fci_hostname: str, relative_dynamics_factor: float, realtime_config: Any) -> None:
                fake._rec("Robot", fci_hostname=fci_hostname, relative_dynamics_factor=0, realtime_config=0)
                if fci_hostname != "fake-panda":
                    raise FakeFranky.NetworkException(f"libfranka: Connection to FCI refused ({fci_hostname})")
                fake.robot = self
                self.pose = Affine(translation=[0.45, 0.0, 0.25], quaternion=DOWN_XYZW)
                self.motion: Any = None
                self.in_control = False
                self.errors = False
                self.moves: list[str] = []
                self.collision: dict = {}

            def recover_from_errors(self) -> bool:
                fake._rec("Robot.recover_from_errors")
                if fake.recover_failures > 0:
                    fake.recover_failures -= 1
                    return False
                self.errors = False
                return True

            def set_collision_behavior(self, *, lower_torque_threshold: Any, upper_torque_threshold: Any, lower_force_threshold: Any,
                                       upper_force_threshold: Any) -> None:
                fake._rec("Robot.set_collision_behavior", lower_torque_threshold=0, upper_torque_threshold=0, lower_force_threshold=0,
                          upper_force_threshold=0)
                self.collision = {"torque": list(upper_torque_threshold), "force": list(upper_force_threshold)}

            def move(self, *, motion: Any, asynchronous: bool) -> None:
                fake._rec("Robot.move", motion=motion, asynchronous=asynchronous)
                self.moves.append(type(motion).__name__)
                if isinstance(motion, JointMotion):
                    p, _ = panda_fk(np.asarray(motion.target), "tcp")
                    self.pose = Affine(translation=p, quaternion=DOWN_XYZW)
                    self.in_control = False
                elif isinstance(motion, TorqueStopMotion):
                    self.motion, self.in_control = None, False
                else:
                    self.motion, self.in_control = motion, True

            def poll_motion(self) -> bool:
                fake._rec("Robot.poll_motion")
                if fake.reflexes > 0 and self.in_control:
                    fake.reflexes -= 1
                    self.in_control, self.errors, self.motion = False, True, None
                    raise FakeFranky.ControlException('libfranka: Move command aborted: motion aborted by reflex! ["cartesian_reflex"]')
                return self.in_control

            def join_motion(self, *, timeout: float) -> bool:
                fake._rec("Robot.join_motion", timeout=timeout)
                return True

            @property
            def state(self) -> State:
                fake._rec("Robot.state")
                return State(self)

            @property
            def model(self) -> Model:
                fake._rec("Robot.model")
                return Model()

            @property
            def is_in_control(self) -> bool:
                fake._rec("Robot.is_in_control")
                return self.in_control

            @property
            def has_errors(self) -> bool:
                fake._rec("Robot.has_errors")
                return self.errors

        class Gripper:
            def __init__(self, *, fci_hostname: str) -> None:
                fake._rec("Gripper", fci_hostname=fci_hostname)
                self._width = 0.08
                self.commands: list[str] = []

            def grasp_async(self, *, width: float, speed: float, force: float, epsilon_inner: float, epsilon_outer: float) -> None:
                fake._rec("Gripper.grasp_async", width=0, speed=0, force=0, epsilon_inner=0, epsilon_outer=0)
                self._width = 0.04
                self.commands.append("close")

            def move_async(self, *, width: float, speed: float) -> None:
                fake._rec("Gripper.move_async", width=width, speed=speed)
                self._width = width
                self.commands.append("open")

            @property
            def width(self) -> float:
                fake._rec("Gripper.width")
                return self._width

        for cls in (Affine, CartesianReference, PostureTask, CartesianImpedanceGains, CartesianImpedanceTrackingMotion, JointMotion,
                    TorqueStopMotion, Robot, Gripper):
            setattr(m, cls.__name__, cls)
        return m

    home = (0.0, -0.1848, 0.0, -2.4967, 0.0, 2.3119, 0.7854)


def _fake_arm(fake: FakeFranky, **cfg: Any) -> FrankyArm:
    arm = FrankyArm(FrankyArmConfig(host="fake-panda", **cfg), franky=fake.module, sleep=lambda s: None)
    arm.connect()
    arm.home()
    arm.start_tracking()
    return arm


def _reference(arm: FrankyArm) -> np.ndarray:
    return np.asarray(arm.motion.reference.target.t)


def test_workspace_clipping_of_every_reference_with_fake_franky_robot() -> None:
    """Targets beyond the box on every face are clipped to it before franky sees them; targets inside
    pass unchanged; the orientation is the task's (hand down); a non-finite target is refused."""
    fake = FakeFranky()
    arm = _fake_arm(fake)
    lo, hi = arm.lo, arm.hi
    arm.send_ee_target(np.array([0.5, 0.1, 0.2]))
    assert _reference(arm).tolist() == [0.5, 0.1, 0.2] and arm.workspace_clips == 0
    for target, expect in (([2.0, -3.0, 1.0], [hi[0], lo[1], hi[2]]), ([-1.0, 3.0, -0.5], [lo[0], hi[1], lo[2]])):
        arm.send_ee_target(np.array(target))
        assert _reference(arm).tolist() == list(expect)
    assert arm.workspace_clips == 2
    assert np.asarray(arm.motion.reference.target.q).tolist() == list(DOWN_XYZW)
    with pytest.raises(ArmError, match="non-finite"):
        arm.send_ee_target(np.array([np.nan, 0.0, 0.2]))
    arm.send_ee_target(np.array([0.5, 0.0, 0.2]), stiffness_scale=2.0)
    assert arm.motion.gains == {"k": 4000.0, "kr": 150.0}
    # the tracking motion is HIL-SERL's: stiffness, bounded spring error, torque-rate limit, posture task
    kw = arm.motion.kw
    assert kw["translational_stiffness"] == 2000.0 and kw["rotational_stiffness"] == 150.0 and kw["max_delta_tau"] == 1.0
    assert kw["translational_error_clip"].tolist() == [0.03] * 3 and kw["rotational_error_clip"].tolist() == [0.05] * 3
    # collision thresholds sit above the bounded spring's force (1.5 x 2000 N/m x 0.03 m)
    assert fake.robot.collision["force"][:3] == [90.0] * 3
    # a state read: the TCP where the reference put it, the hand pointing down
    s = arm.read_state()
    assert np.allclose(s.tcp_rot, np.diag([1.0, -1.0, -1.0])) and np.allclose(s.tcp_pos, [0.5, 0.0, 0.2])


def test_reflex_recovery_with_fake_franky_robot() -> None:
    """A reflex: recover_from_errors(), the impedance motion restarted with its reference at the
    *measured* pose (a hold), ArmReflex(recovered=True). Recoveries that keep failing are bounded
    (max_recoveries attempts) and end in a stopped arm; so does one reflex too many."""
    fake = FakeFranky()
    arm = _fake_arm(fake, max_recoveries=3, max_reflexes=2)
    arm.send_ee_target(np.array([0.5, 0.05, 0.2]))
    fake.reflexes = 1
    measured = arm.read_state().tcp_pos
    before = sum(n == "Robot.recover_from_errors" for n, _ in fake.calls)
    with pytest.raises(ArmReflex, match="cartesian_reflex.*recovered, holding") as e:
        arm.send_ee_target(np.array([0.7, 0.3, 0.05]))
    assert e.value.recovered and arm.reflexes == 1
    assert sum(n == "Robot.recover_from_errors" for n, _ in fake.calls) == before + 1
    assert fake.robot.in_control and _reference(arm).tolist() == measured.tolist()  # restarted, holding where it was
    arm.send_ee_target(np.array([0.55, 0.05, 0.2]))  # and it goes on
    assert _reference(arm).tolist() == [0.55, 0.05, 0.2]

    fake.reflexes, fake.recover_failures = 1, 10
    with pytest.raises(ArmReflex, match="failed 3 times") as e:
        arm.send_ee_target(np.array([0.5, 0.0, 0.2]))
    assert not e.value.recovered and fake.recover_failures == 10 - 3 and arm.motion is None
    with pytest.raises(ArmError, match="not running"):
        arm.send_ee_target(np.array([0.5, 0.0, 0.2]))

    fake2 = FakeFranky(reflexes=5)
    arm2 = _fake_arm(fake2, max_reflexes=2)
    for _ in range(2):
        with pytest.raises(ArmReflex, match="recovered"):
            arm2.send_ee_target(np.array([0.5, 0.0, 0.2]))
    with pytest.raises(ArmReflex, match="3 reflexes this session .*arm stopped") as e:
        arm2.send_ee_target(np.array([0.5, 0.0, 0.2]))
    # the reflex already ended the motion: nothing to blend out, the stop joins it and leaves the arm to the robot
    assert not e.value.recovered and not fake2.robot.in_control and fake2.calls[-1][0] == "Robot.join_motion"
    assert arm2.recover() and fake2.robot.moves.count("CartesianImpedanceTrackingMotion") == 3  # the start and two restarts


def test_deploy_through_fake_franky_robot_homes_runs_the_policy_stops_and_records(tmp_path: Path) -> None:
    """deploy_panda end to end on a fake franky robot (perfect tracking): connect, thresholds, open +
    home, reset to the start pose, soft start, the policy's ticks, TorqueStopMotion at the end; the
    gripper is opened once (at home) and only the policy closes it; ticks and summary are written."""
    fake = FakeFranky()
    logs: list[str] = []
    out = tmp_path / "deploy"
    s = deploy_panda("fake-panda", seconds=0.5, object_xyz=[0.5, 0.1, 0.02], goal_xyz=[0.4, -0.2, 0.028], out=out,
                     soft_start_s=0.2, log=logs.append, franky=fake.module)
    assert s["steps"] == 5 and s["stopped"] is None and s["mode"] == "POLICY", s
    assert s["reset_ticks"] <= 1 and s["runtime"]["input_faults"] == 0  # homing put the TCP at the start pose already
    assert fake.robot.moves[0] == "JointMotion" and fake.robot.moves[1] == "CartesianImpedanceTrackingMotion"
    assert fake.robot.moves[-1] == "TorqueStopMotion"
    grip = [n for n, _ in fake.calls if n.startswith("Gripper.") and n != "Gripper.width"]
    assert grip[0] == "Gripper.move_async" and grip.count("Gripper.move_async") == 1, grip
    lines = (out / "ticks.jsonl").read_text().splitlines()
    assert len(lines) == 5 and json.loads(lines[-1])["mode"] == "POLICY"
    assert json.loads((out / "summary.json").read_text())["steps"] == 5
    assert any("policy in control" in line for line in logs)


def test_franky_calls_are_the_ones_listed_with_fake_franky_robot() -> None:
    """Every franky call FrankyArm made in a session with reflexes, recovery, gripper and stop is in
    FRANKY_API with the keyword names listed there (what the API test checks against the real franky)."""
    fake = FakeFranky()
    arm = _fake_arm(fake)
    arm.read_state()
    arm.gripper(True)
    arm.send_ee_target(np.array([0.5, 0.0, 0.2]), stiffness_scale=2.0)
    fake.reflexes = 1
    with pytest.raises(ArmReflex):
        arm.send_ee_target(np.array([0.5, 0.0, 0.2]))
    arm.gripper(False)
    arm.close()
    seen = {}
    for name, kws in fake.calls:
        seen.setdefault(name, set()).update(kws)
    for name, kws in seen.items():
        assert name in FRANKY_API, f"FrankyArm called franky's {name}, which FRANKY_API does not list"
        assert kws <= set(FRANKY_API[name]), (name, kws)
    unused = set(FRANKY_API) - set(seen) - {"RealtimeConfig.Enforce", "RealtimeConfig.Ignore", "Frame.EndEffector", "ControlException",
                                            "NetworkException", "CommandException", "IncompatibleVersionException", "RealtimeException"}
    assert not unused, f"FRANKY_API lists calls the session did not make: {sorted(unused)}"


# ------------------------------------------------------------------------------ the real franky
def _param_names(obj: Any) -> set[str]:
    """Parameter names of a callable of the installed franky: from inspect.signature where Python
    gives one, else from pybind11's signature lines in the docstring (every overload)."""
    try:
        return set(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        pass
    names: set[str] = set()
    for line in (getattr(obj, "__doc__", None) or "").splitlines():
        m = re.match(r"^(?:\d+\. )?\w+\((.*)\) -> ", line.strip())
        if not m:
            continue
        depth, current, params = 0, "", []
        for ch in m.group(1):
            if ch in "[(":
                depth += 1
            elif ch in "])":
                depth -= 1
            if ch == "," and depth == 0:
                params.append(current)
                current = ""
            else:
                current += ch
        params.append(current)
        names.update(p.split(":")[0].split("=")[0].strip() for p in params if p.strip())
    return names - {"self", "*args", "**kwargs"}


def test_franky_calls_exist_in_the_installed_franky_api() -> None:
    """Each name in FRANKY_API exists in the installed franky (class, method, property or enum value)
    and takes the keyword names FrankyArm passes."""
    franky = pytest.importorskip("franky", reason="franky-control is not installed (pip install franky-control)")
    for name, kws in FRANKY_API.items():
        owner, _, attr = name.partition(".")
        obj = getattr(franky, owner, None)
        assert obj is not None, f"franky has no {owner}"
        if attr:
            assert hasattr(obj, attr), f"franky.{owner} has no {attr}"
            target = getattr(obj, attr)
        else:
            target = obj
        if not kws:
            continue
        fn = target.__init__ if inspect.isclass(target) else target
        params = _param_names(fn) or _param_names(target)
        missing = set(kws) - params
        assert not missing, f"franky.{name} takes {sorted(params)}, not {sorted(missing)}"


def _nothing_listens(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((LOOPBACK, port)) != 0


def test_franky_arm_refuses_in_one_line_when_no_robot_answers_franky_cannot_connect_here(tmp_path: Path) -> None:
    """The real franky against 127.0.0.1, where no robot listens (libfranka's port 1337 is checked
    closed first; no other address is contacted): FrankyArm and deploy_panda refuse at once, naming the
    host, and nothing is left running."""
    pytest.importorskip("franky", reason="franky-control is not installed (pip install franky-control)")
    if not _nothing_listens(1337):
        pytest.skip("something listens on 127.0.0.1:1337 (libfranka's port); not a place to test the refusal")
    t0 = time.monotonic()
    arm = FrankyArm(FrankyArmConfig(host=LOOPBACK, connect_timeout_s=5.0))
    with pytest.raises(ArmError, match=r"cannot connect to the Franka robot at 127\.0\.0\.1: .*FCI") as e:
        arm.connect()
    assert "\n" not in str(e.value) and arm.robot is None
    with pytest.raises(ArmError, match="127.0.0.1"):
        deploy_panda(LOOPBACK, seconds=1.0, object_xyz=[0.5, 0.1, 0.02], goal_xyz=[0.4, -0.2, 0.028], out=tmp_path / "d", log=lambda s: None)
    assert time.monotonic() - t0 < 5.0
    with pytest.raises(ArmError, match="not connected"):
        arm.send_ee_target(np.zeros(3))


def test_deploy_refuses_bad_input_before_connecting() -> None:
    """Missing or impossible scene positions, a bad duration or host: one-line errors, no connection."""
    with pytest.raises(ConfigError, match="pass --object-xyz"):
        deploy_panda("fake-panda", goal_xyz=[0.4, -0.2, 0.028])
    with pytest.raises(ConfigError, match="outside the policy's workspace box"):
        deploy_panda("fake-panda", object_xyz=[1.5, 0.0, 0.02], goal_xyz=[0.4, -0.2, 0.028])
    with pytest.raises(ConfigError, match="--seconds must be a positive"):
        deploy_panda("fake-panda", seconds=0.0, object_xyz=[0.5, 0.0, 0.02], goal_xyz=[0.4, -0.2, 0.028])
    with pytest.raises(ValueError, match="--franka-host"):
        FrankyArmConfig(host="  ")


def test_panda_adapter_imports_no_torch() -> None:
    code = ("import sys; import robot_learning.hardware.panda.runner, robot_learning.hardware.panda.franky_arm; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    r = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
