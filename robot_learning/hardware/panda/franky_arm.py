"""The real Panda through franky (PyPI ``franky-control``, import ``franky``), set up as HIL-SERL's real
arm is: a Cartesian impedance controller in torque mode at 1 kHz underneath, whose equilibrium pose
the 10 Hz policy moves.

- One asynchronous ``CartesianImpedanceTrackingMotion`` runs for the whole session; every control
  period :meth:`FrankyArm.send_ee_target` hands it the new reference (``set_reference``), so libfranka's
  1 kHz loop never stops between policy steps. The reference's position is the runtime's bounded
  target (already clipped to the policy's workspace box and step bound, and clipped to the box here
  once more); its orientation is the task's (hand pointing down, its x along the base x).
- Stiffness: the policy metadata's (HIL-SERL: 2000 N/m; 150 N m/rad); the pose error fed to the
  spring is clipped per axis (the metadata's ``max_spring_error_m``, 0.05 rad), so however far a
  reference lies the spring pulls with a bounded force; the torque rate is limited (1 N m per 1 ms
  cycle, as HIL-SERL's controller); a posture task holds the elbow near the home posture.
- Collision thresholds are set above the bounded spring's force (a cube pressed on the table must
  not trip a reflex) and below what hurts; a reflex stops the motion: :meth:`FrankyArm.send_ee_target`
  notices it (``poll_motion`` raises the motion's ``ControlException``), calls
  ``recover_from_errors()`` a bounded number of times, restarts the impedance motion *at the measured
  pose* (a hold, not the old target) and raises :class:`~robot_learning.hardware.panda.arm.ArmReflex`
  so the runner stops the policy. After ``max_reflexes`` in a session it gives up and stops.
- Gripper: ``franky.Gripper``; close = ``grasp_async`` (any width counts as grasped), open =
  ``move_async`` to the open width; only a change is sent, without blocking the 10 Hz loop.
- :meth:`FrankyArm.stop`: a ``TorqueStopMotion`` (the last torque blended into damping, the arm
  comes to rest where it is), the gripper untouched.

Connecting never blocks longer than ``connect_timeout_s``; a robot that does not answer is an
:class:`~robot_learning.hardware.panda.arm.ArmError` naming the host. The ``franky`` module is
imported at :meth:`FrankyArm.connect` (or injected, for tests with a fake), so this module imports
without it. Torch-free.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from robot_learning.hardware.panda.arm import ArmError, ArmReflex, ArmState

# The task's held orientation (the hand pointing down, its x along the base x: R = diag(1, -1, -1)),
# as franky's quaternion (x, y, z, w): a half turn about x.
DOWN_XYZW = (1.0, 0.0, 0.0, 0.0)
# The home posture: the task's start pose, TCP at (0.45, 0, 0.25) with R = diag(1, -1, -1), inside the
# workspace box (solved with panda_fk from Menagerie's "home" with joint 7 a quarter turn further; checked
# in tests/test_panda_franky.py). Homing there means the impedance motion starts where the policy starts.
HOME_JOINTS = (0.0, -0.1848, 0.0, -2.4967, 0.0, 2.3119, 0.7854)

# Every franky name FrankyArm uses and the keyword arguments it passes: the API test checks these
# against the installed franky, and checks that the fake robot saw no other call.
FRANKY_API: dict[str, tuple[str, ...]] = {
    "Robot": ("fci_hostname", "relative_dynamics_factor", "realtime_config"),
    "Robot.recover_from_errors": (),
    "Robot.set_collision_behavior": ("lower_torque_threshold", "upper_torque_threshold", "lower_force_threshold", "upper_force_threshold"),
    "Robot.move": ("motion", "asynchronous"),
    "Robot.poll_motion": (),
    "Robot.join_motion": ("timeout",),
    "Robot.state": (),
    "Robot.model": (),
    "Robot.is_in_control": (),
    "Robot.has_errors": (),
    "Model.zero_jacobian": ("frame", "state"),
    "RobotState.O_T_EE": (),
    "RobotState.q": (),
    "RobotState.dq": (),
    "Affine": ("translation", "quaternion"),
    "Affine.matrix": (),
    "Frame.EndEffector": (),
    "RealtimeConfig.Enforce": (),
    "RealtimeConfig.Ignore": (),
    "JointMotion": ("target",),
    "PostureTask": ("target", "stiffness"),
    "CartesianImpedanceTrackingMotion": ("translational_stiffness", "rotational_stiffness", "posture_task", "max_delta_tau",
                                         "translational_error_clip", "rotational_error_clip"),
    "CartesianImpedanceTrackingMotion.set_reference": ("reference",),
    "CartesianImpedanceTrackingMotion.set_gains": ("gains",),
    "CartesianImpedanceGains.isotropic": ("translational_stiffness", "rotational_stiffness"),
    "CartesianReference": ("target",),
    "TorqueStopMotion": (),
    "Gripper": ("fci_hostname",),
    "Gripper.grasp_async": ("width", "speed", "force", "epsilon_inner", "epsilon_outer"),
    "Gripper.move_async": ("width", "speed"),
    "Gripper.width": (),
    "ControlException": (),
    "NetworkException": (),
    "CommandException": (),
    "IncompatibleVersionException": (),
    "RealtimeException": (),
}

INSTALL_HINT = ("franky is not installed: pip install 'robot_learning[deploy]' (or pip install franky-control; for a Panda on "
                "system image 4.x/5.x take the wheel of its robot server version, see docs/bringup/panda.md)")


@dataclass
class FrankyArmConfig:
    """How the real arm is driven (the defaults are HIL-SERL's real set-up; see the module docstring).

    Attributes:
        host: the robot's FCI address (the Control box's, e.g. 172.16.0.2).
        workspace_min / workspace_max: the box every reference is clipped to (base frame, m): the policy's.
        translational_stiffness: N/m; rotational_stiffness: N m/rad.
        translational_error_clip_m: per-axis clip of the spring's position error (m).
        rotational_error_clip_rad: per-axis clip of its orientation error (rad).
        max_delta_tau: the most a joint torque may change per 1 ms cycle (N m).
        posture_stiffness: the null-space pull towards :data:`HOME_JOINTS` (N m/rad).
        collision_torque_n_m: the 7 joints' contact/reflex thresholds (N m).
        collision_force_n: the TCP's (x, y, z, roll, pitch, yaw) thresholds (N, N m); None: 1.5 x the
            spring's bounded force on x, y, z (and 30 N m on the rotations).
        relative_dynamics_factor: velocity/acceleration/jerk scale of the homing motion (0..1].
        gripper_speed (m/s), gripper_force (N), gripper_open_width (m).
        max_recoveries: ``recover_from_errors()`` attempts after one reflex, ``recovery_pause_s`` apart.
        max_reflexes: reflexes in one session after which the arm is stopped for good.
        connect_timeout_s: the longest a connection attempt may take.
        realtime: "enforce" (libfranka refuses to run without a real-time kernel: the robot's set-up)
            or "ignore" (a bench test on a desktop kernel; expect communication_constraints_violation).
        home_joints: the posture :meth:`FrankyArm.home` moves to.
    """

    host: str
    workspace_min: tuple[float, float, float] = (0.25, -0.4, 0.005)
    workspace_max: tuple[float, float, float] = (0.75, 0.4, 0.35)
    translational_stiffness: float = 2000.0
    rotational_stiffness: float = 150.0
    translational_error_clip_m: float = 0.03
    rotational_error_clip_rad: float = 0.05
    max_delta_tau: float = 1.0
    posture_stiffness: float = 10.0
    collision_torque_n_m: tuple[float, ...] = (40.0, 40.0, 36.0, 36.0, 32.0, 28.0, 24.0)
    collision_force_n: tuple[float, ...] | None = None
    relative_dynamics_factor: float = 0.1
    gripper_speed: float = 0.1
    gripper_force: float = 40.0
    gripper_open_width: float = 0.08
    max_recoveries: int = 3
    recovery_pause_s: float = 0.5
    max_reflexes: int = 3
    connect_timeout_s: float = 10.0
    realtime: str = "enforce"
    home_joints: tuple[float, ...] = field(default_factory=lambda: tuple(float(q) for q in HOME_JOINTS))

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host.strip() or any(c.isspace() for c in self.host):
            raise ValueError(f"--franka-host must be the robot's FCI hostname or IP address, got {self.host!r}")
        lo, hi = np.asarray(self.workspace_min, dtype=float), np.asarray(self.workspace_max, dtype=float)
        if lo.shape != (3,) or hi.shape != (3,) or np.any(lo >= hi):
            raise ValueError(f"workspace_min {list(self.workspace_min)} must be below workspace_max {list(self.workspace_max)} on x, y, z")
        for name in ("translational_stiffness", "rotational_stiffness", "translational_error_clip_m", "rotational_error_clip_rad",
                     "max_delta_tau", "gripper_speed", "gripper_force", "gripper_open_width", "connect_timeout_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        if not 0 < self.relative_dynamics_factor <= 1:
            raise ValueError(f"relative_dynamics_factor must be in (0, 1], got {self.relative_dynamics_factor}")
        if self.max_recoveries < 1 or self.max_reflexes < 1:
            raise ValueError(f"max_recoveries ({self.max_recoveries}) and max_reflexes ({self.max_reflexes}) must be at least 1")
        if self.realtime not in ("enforce", "ignore"):
            raise ValueError(f"realtime must be 'enforce' or 'ignore', got {self.realtime!r}")
        if len(self.collision_torque_n_m) != 7 or len(self.home_joints) != 7:
            raise ValueError("collision_torque_n_m and home_joints need 7 values, one per joint")
        if self.collision_force_n is not None and len(self.collision_force_n) != 6:
            raise ValueError("collision_force_n needs 6 values (x, y, z, roll, pitch, yaw)")

    def force_thresholds(self) -> tuple[float, ...]:
        if self.collision_force_n is not None:
            return tuple(self.collision_force_n)
        f = 1.5 * self.translational_stiffness * self.translational_error_clip_m
        return (f, f, f, 30.0, 30.0, 30.0)

    @classmethod
    def from_policy(cls, host: str, metadata: Any, **overrides: Any) -> FrankyArmConfig:
        """The arm set up as the policy was trained: its workspace box, stiffness and spring error bound."""
        lim = metadata.safety_limits
        values: dict[str, Any] = {"workspace_min": tuple(float(v) for v in lim["workspace_min"]),
                                  "workspace_max": tuple(float(v) for v in lim["workspace_max"])}
        if "stiffness" in lim:
            values["translational_stiffness"] = float(lim["stiffness"])
        if "max_spring_error_m" in lim:
            values["translational_error_clip_m"] = float(lim["max_spring_error_m"])
        values.update(overrides)
        return cls(host=host, **values)


def import_franky() -> ModuleType:
    try:
        import franky
    except ImportError as e:
        raise ArmError(f"{INSTALL_HINT} ({e})") from None
    return franky


def call_with_timeout(fn: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """``fn()`` in a daemon thread; an :class:`ArmError` naming ``what`` if it does not return within
    ``timeout_s`` (libfranka's connect may otherwise wait for a TCP timeout)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = e

    t = threading.Thread(target=run, name="franky-connect", daemon=True)
    t.start()
    t.join(timeout_s)
    if t.is_alive():
        raise ArmError(f"{what}: no answer within {timeout_s:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


class FrankyArm:
    """:class:`~robot_learning.hardware.panda.arm.PandaArm` on a real Panda (or FR3) through franky."""

    realtime = True

    def __init__(self, config: FrankyArmConfig, franky: ModuleType | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.cfg = config
        self._franky = franky
        self.clock, self.sleep = clock, sleep
        self.robot: Any = None
        self.gripper_dev: Any = None
        self.motion: Any = None
        self.lo = np.asarray(config.workspace_min, dtype=np.float64)
        self.hi = np.asarray(config.workspace_max, dtype=np.float64)
        self._gripper_closed: bool | None = None
        self._gripper_future: Any = None
        self._scale = 1.0
        self.reflexes = 0
        self.recoveries = 0
        self.workspace_clips = 0
        self.log: list[str] = []

    # ------------------------------------------------------------------------- connection
    @property
    def fr(self) -> ModuleType:
        if self._franky is None:
            self._franky = import_franky()
        return self._franky

    def connect(self) -> None:
        fr, cfg = self.fr, self.cfg
        rt = fr.RealtimeConfig.Enforce if cfg.realtime == "enforce" else fr.RealtimeConfig.Ignore
        refused = tuple(getattr(fr, n) for n in ("NetworkException", "IncompatibleVersionException", "RealtimeException", "CommandException")
                        if hasattr(fr, n))
        where = f"the Franka robot at {cfg.host}"
        try:
            self.robot = call_with_timeout(lambda: fr.Robot(fci_hostname=cfg.host, relative_dynamics_factor=cfg.relative_dynamics_factor,
                                                            realtime_config=rt), cfg.connect_timeout_s, f"cannot connect to {where}")
            self.gripper_dev = call_with_timeout(lambda: fr.Gripper(fci_hostname=cfg.host), cfg.connect_timeout_s,
                                                 f"cannot connect to the gripper of {where}")
        except refused as e:
            self.robot = self.gripper_dev = None
            raise ArmError(f"cannot connect to {where}: {' '.join(str(e).split())} (is FCI active in Desk, the arm unlocked, "
                           f"and {cfg.host} the Control box's address on a direct link?)") from None
        if not self.recover():
            raise ArmError(f"{where} reports errors that recover_from_errors() could not clear; check Desk")
        torque = list(cfg.collision_torque_n_m)
        force = list(cfg.force_thresholds())
        self.robot.set_collision_behavior(lower_torque_threshold=torque, upper_torque_threshold=torque,
                                          lower_force_threshold=force, upper_force_threshold=force)
        self._note(f"connected to {where}; collision thresholds {torque} N m, {[round(f, 1) for f in force]} N")

    def _need(self) -> Any:
        if self.robot is None:
            raise ArmError("the Franka arm is not connected; call connect() first")
        return self.robot

    def home(self) -> None:
        """Open the gripper and move (position control, ``relative_dynamics_factor``) to ``home_joints``;
        blocks until there. Call before :meth:`start_tracking`."""
        robot = self._need()
        self.gripper(False)
        robot.move(motion=self.fr.JointMotion(target=list(self.cfg.home_joints)), asynchronous=False)
        self._note(f"homed to {np.round(self.cfg.home_joints, 3).tolist()}")

    def start_tracking(self) -> None:
        """Start the session's impedance motion with its reference at the measured TCP (no jump)."""
        robot, fr, cfg = self._need(), self.fr, self.cfg
        self.motion = fr.CartesianImpedanceTrackingMotion(
            translational_stiffness=cfg.translational_stiffness, rotational_stiffness=cfg.rotational_stiffness,
            posture_task=fr.PostureTask(target=list(cfg.home_joints), stiffness=cfg.posture_stiffness), max_delta_tau=cfg.max_delta_tau,
            translational_error_clip=np.full(3, cfg.translational_error_clip_m), rotational_error_clip=np.full(3, cfg.rotational_error_clip_rad))
        self._scale = 1.0
        tcp = self._tcp_matrix(robot.state)[:3, 3]
        self.motion.set_reference(reference=fr.CartesianReference(target=fr.Affine(translation=np.clip(tcp, self.lo, self.hi), quaternion=np.array(DOWN_XYZW))))
        robot.move(motion=self.motion, asynchronous=True)

    # ------------------------------------------------------------------------------ state
    @staticmethod
    def _tcp_matrix(state: Any) -> np.ndarray:
        return np.asarray(state.O_T_EE.matrix, dtype=np.float64)

    def read_state(self) -> ArmState:
        robot, fr = self._need(), self.fr
        s = robot.state
        t = self.clock()
        m = self._tcp_matrix(s)
        q, dq = np.asarray(s.q, dtype=np.float64).reshape(7), np.asarray(s.dq, dtype=np.float64).reshape(7)
        jac = np.asarray(robot.model.zero_jacobian(frame=fr.Frame.EndEffector, state=s), dtype=np.float64)
        width = float(self.gripper_dev.width) if self.gripper_dev is not None else float("nan")
        return ArmState(t, m[:3, 3].copy(), m[:3, :3].copy(), jac[:3] @ dq, q, dq, width)

    def now(self) -> float:
        return self.clock()

    # ------------------------------------------------------------------------------ commands
    def send_ee_target(self, tcp_pos: np.ndarray | None, stiffness_scale: float = 1.0) -> None:
        fr = self.fr
        self._check_motion()
        if tcp_pos is None:
            return  # the current reference stays
        target = np.asarray(tcp_pos, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(target)):
            raise ArmError(f"refusing a non-finite TCP target {target.tolist()}")
        boxed = np.clip(target, self.lo, self.hi)
        if not np.array_equal(boxed, target):
            self.workspace_clips += 1
        if stiffness_scale != self._scale:
            k = self.cfg.translational_stiffness * float(stiffness_scale)
            self.motion.set_gains(gains=fr.CartesianImpedanceGains.isotropic(translational_stiffness=k, rotational_stiffness=self.cfg.rotational_stiffness))
            self._scale = float(stiffness_scale)
        self.motion.set_reference(reference=fr.CartesianReference(target=fr.Affine(translation=boxed, quaternion=np.array(DOWN_XYZW))))

    def _check_motion(self) -> None:
        """Raise :class:`ArmReflex` when the impedance motion has stopped (a reflex), after recovering."""
        robot, fr = self._need(), self.fr
        if self.motion is None:
            raise ArmError("the impedance motion is not running; call start_tracking() first")
        try:
            running = robot.poll_motion()
            error = None if running else "the impedance motion ended"
        except fr.ControlException as e:
            error = " ".join(str(e).split())
        if error is None:
            return
        self.reflexes += 1
        self.motion = None
        if self.reflexes > self.cfg.max_reflexes:
            self.stop()
            raise ArmReflex(f"reflex ({error}); {self.reflexes} reflexes this session (limit {self.cfg.max_reflexes}): arm stopped", recovered=False)
        if not self.recover():
            raise ArmReflex(f"reflex ({error}); recover_from_errors() failed {self.cfg.max_recoveries} times: arm stopped, check Desk",
                            recovered=False)
        self.start_tracking()
        raise ArmReflex(f"reflex ({error}); recovered, holding at the measured pose", recovered=True)

    def gripper(self, close: bool) -> None:
        self._need()
        if self.gripper_dev is None or close == self._gripper_closed:
            return
        c = self.cfg
        if close:  # grasp whatever is there: any width between 0 and fully open counts as a grasp
            self._gripper_future = self.gripper_dev.grasp_async(width=0.0, speed=c.gripper_speed, force=c.gripper_force,
                                                                epsilon_inner=0.005, epsilon_outer=c.gripper_open_width)
        else:
            self._gripper_future = self.gripper_dev.move_async(width=c.gripper_open_width, speed=c.gripper_speed)
        self._gripper_closed = bool(close)

    def recover(self) -> bool:
        robot, fr = self._need(), self.fr
        failures = tuple(getattr(fr, n) for n in ("CommandException", "NetworkException", "ControlException") if hasattr(fr, n))
        for attempt in range(1, self.cfg.max_recoveries + 1):
            try:
                ok = bool(robot.recover_from_errors())
            except failures as e:
                ok = False
                self._note(f"recover_from_errors() attempt {attempt} raised: {' '.join(str(e).split())}")
            if ok and not robot.has_errors:
                self.recoveries += 1
                return True
            if attempt < self.cfg.max_recoveries:
                self.sleep(self.cfg.recovery_pause_s)
        return False

    def stop(self) -> None:
        """Blend the torque into damping and let the arm come to rest (``TorqueStopMotion``); the gripper
        is left as it is. Safe to call when nothing runs."""
        if self.robot is None:
            return
        fr, robot = self.fr, self.robot
        self.motion = None
        try:
            if robot.is_in_control:
                robot.move(motion=fr.TorqueStopMotion(), asynchronous=True)
            robot.join_motion(timeout=5.0)
        except fr.ControlException as e:  # the stopped motion's own error (e.g. the reflex that ended it)
            self._note(f"stop: {' '.join(str(e).split())}")

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self.robot = self.gripper_dev = None

    def _note(self, text: str) -> None:
        if len(self.log) < 1000:
            self.log.append(text)


def franky_arm(host: str, metadata: Any, franky: ModuleType | None = None, **overrides: Any) -> FrankyArm:
    """A :class:`FrankyArm` set up for ``metadata``'s policy (workspace box, stiffness, spring error bound)."""
    return FrankyArm(FrankyArmConfig.from_policy(host, metadata, **overrides), franky=franky)

