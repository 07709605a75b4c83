"""A simulated robot that speaks the hardware's ROS 2 topics, so a deployment can be rehearsed on one
machine: the policy node cannot tell it from the robot.

It steps a simulator in real time (MuJoCo for the G1 and the Panda, PyBullet for the Crazyflie),
publishes what the robot's drivers publish (``joint_states`` + ``imu``, or ``odom``) and applies the
commands it receives (``joint_command`` + ``joint_gains``, or ``motor_command``). Like the
Crazyflie's firmware, the quadrotor bridge stops the motors when no setpoint has arrived for
``watchdog_s`` (the firmware's own setpoint watchdog; see the README).

For rehearsing failures it can inject faults into what it publishes (``inject``): ``nan`` (a
non-finite reading), ``out_of_range`` (an impossible joint angle or position), ``drop`` (the state
topic stops), ``drop_imu`` (only the IMU stops), ``delay`` (every message held back by
``delay_s``), ``push`` (a shove of the simulated robot), ``bad_crc`` (Unitree protocol: LowStates
with a wrong CRC). Ground truth for tests is published on ``sim/ground_truth``
(std_msgs/Float64MultiArray: time, then base or vehicle position).

``protocol="unitree"`` (the G1 only) speaks the real G1's low-level protocol instead of the ROS 2
joint topics: LowCmd on ``rt/lowcmd`` (CRC checked), LowState on ``rt/lowstate`` (with its CRC and a
simulated wireless remote that ``remote_script`` or :meth:`SimBridge.press` presses), and the
motion switcher (see :mod:`robot_learning.bridges.unitree_g1`). Its physics is then the policies' 2 ms
step whatever ``rate_hz`` (the LowState rate), and its simulated time follows the wall clock.
"""
from __future__ import annotations

import argparse
import collections
import math
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from robot_learning.core.checks import check, check_flag
from robot_learning.core.config import ConfigError, FieldError
from robot_learning.runtime.loop import FixedRateLoop
from robot_learning.runtime.ros2 import msgs


def hg_seal(msg: Any) -> Any:
    from robot_learning.runtime.unitree.hg import seal

    return seal(msg)

INJECTIONS = ("none", "nan", "out_of_range", "drop", "drop_imu", "delay", "push", "bad_crc")
PROTOCOLS = ("ros2", "unitree")


@dataclass
class BridgeConfig:
    robot: str = "crazyflie"  # g1 | panda | crazyflie
    rate_hz: float = 100.0  # state publication and command application rate
    variant: str = "primitive"  # G1 collision model in MuJoCo
    fix_base: bool = False  # G1 hung from the world (upper-body rehearsal)
    start: tuple[float, float, float] = (0.0, 0.0, 1.0)  # quadrotor start position
    seed: int = 0
    watchdog_s: float = 0.5
    inject: str = "none"
    inject_at: float = 1e9  # s after start
    inject_for: float = 1e9  # s
    delay_s: float = 0.1
    domain_id: int | None = None
    namespace: str = "/"
    pose: str = "default"  # joint robots: default | lying_face_up | lying_face_down (the G1's getting-up start)
    protocol: str = "ros2"  # ros2 (the platform's joint topics) | unitree (the G1's LowCmd/LowState)
    remote_script: str = ""  # unitree: remote presses "button[+button]@seconds,...", e.g. "start@1,A@4"
    active_mode: str = "ai"  # unitree: the high-level controller's mode until ReleaseMode ('' = released)

    def __post_init__(self) -> None:
        check(self, positive=("rate_hz", "watchdog_s"), non_negative=("seed", "inject_at", "inject_for", "delay_s"), allow_inf=("inject_at", "inject_for"))
        if self.domain_id is not None and not 0 <= self.domain_id <= 232:
            raise FieldError("domain_id", f"must be a DDS domain in 0..232, got {self.domain_id}")
        if self.pose not in ("default", "lying_face_up", "lying_face_down"):
            raise ValueError(f"unknown initial pose '{self.pose}'; known: default, lying_face_up, lying_face_down")
        if self.inject not in INJECTIONS:
            raise ValueError(f"unknown fault injection '{self.inject}'; known: {INJECTIONS}")
        if self.protocol not in PROTOCOLS:
            raise FieldError("protocol", f"must be one of {PROTOCOLS}, got {self.protocol!r}")
        if self.protocol == "unitree" and self.robot not in ("g1", "unitree_g1"):
            raise FieldError("protocol", f"'unitree' is the G1's low-level protocol, not {self.robot}'s")
        parse_remote_script(self.remote_script)


def parse_remote_script(text: str) -> list[tuple[float, tuple[str, ...]]]:
    """"start@1,A@4.5,L2+B@9" -> [(1.0, ('start',)), (4.5, ('A',)), (9.0, ('L2', 'B'))]."""
    from robot_learning.runtime.unitree.remote import BIT

    out = []
    for item in filter(None, (x.strip() for x in text.split(","))):
        buttons, sep, at = item.partition("@")
        try:
            t = float(at)
        except ValueError:
            t = math.nan
        names = tuple(b for b in buttons.split("+") if b)
        if not sep or not math.isfinite(t) or t < 0 or not names or any(b not in BIT for b in names):
            raise FieldError("remote_script", f"{item!r} is not button[+button]@seconds with buttons of {', '.join(BIT)}")
        out.append((t, names))
    return sorted(out)


class SimBridge:
    """The simulated robot on ROS 2 topics (Cyclone DDS backend, or any backend with the same API)."""

    def __init__(self, cfg: BridgeConfig, backend: Any) -> None:
        from robot_learning.robots.registry import load_robot

        self.cfg, self.backend = cfg, backend
        self.robot = load_robot(cfg.robot)
        self.kind = self.robot.kind
        self._lock = threading.Lock()
        self._cmd: Any = None
        self._cmd_t = -math.inf
        self._gains: Any = None
        self.commands_received = 0
        self._launched = False  # the quadrotor is held in the air (a hand launch) until its motors spin
        self._delayed: collections.deque[tuple[float, Callable[[], None]]] = collections.deque()
        self._injecting = False
        self.injection_log: list[tuple[str, float]] = []  # (fault or "none", monotonic time it took effect)
        if self.kind == "quadrotor":
            from robot_learning.sim.pybullet_quadrotor import PyBulletQuadrotor, PyBulletQuadrotorConfig

            self.sim = PyBulletQuadrotor(PyBulletQuadrotorConfig())
            self.sim.reset(np.asarray(cfg.start, dtype=np.float64), (1.0, 0.0, 0.0, 0.0))
            self.motors_off = np.full(4, -1.0)
            backend.create_subscription(msgs.JointState, "motor_command", self._on_command, "sensor")
            self.pub_odom = backend.create_publisher(msgs.Odometry, "odom", "sensor")
        else:
            from robot_learning.sim.mujoco_robot import MujocoJointRobot, MujocoRobotConfig

            name = "g1" if "g1" in self.robot.name else "panda"
            if cfg.protocol == "unitree":
                # the G1's world at the policies' physics step, stepped one physics step at a time to follow
                # the wall clock (UnitreeG1SimCore.advance_to), whatever the LowState rate
                from robot_learning.bridges.unitree_g1 import UNITREE_PHYSICS_DT

                rate, physics_dt = 1.0 / UNITREE_PHYSICS_DT, UNITREE_PHYSICS_DT
            else:
                rate, physics_dt = cfg.rate_hz, 0.002 if (1.0 / cfg.rate_hz / 0.002) % 1 < 1e-9 else 0.001
            self.sim = MujocoJointRobot(MujocoRobotConfig(robot=name, variant=cfg.variant, control_rate_hz=rate, physics_dt=physics_dt,
                                                          seed=cfg.seed, fix_base=cfg.fix_base))
            if cfg.pose != "default":
                self.sim.lying(face_up=cfg.pose == "lying_face_up")
            self.names = list(self.sim.spec.joint_names)
            self.target = self.sim.state()["joint_position"].copy()
            if name == "panda":  # the arm's brakes hold it until it is commanded
                self.kp, self.kd = self.sim.spec.array("kp").copy(), self.sim.spec.array("kd").copy()
            else:  # the humanoid's motors are passive until commanded
                self.kp, self.kd = np.zeros(len(self.names)), np.full(len(self.names), 2.0)
            self.sim.set_gains(self.kp, self.kd)
            self.unitree = None
            if cfg.protocol == "unitree":
                from robot_learning.bridges.unitree_g1 import UnitreeBridgeIO, UnitreeG1SimCore

                self.unitree = UnitreeBridgeIO(UnitreeG1SimCore(self.sim, active_mode=cfg.active_mode), backend.node)
                self._script = parse_remote_script(cfg.remote_script)
            else:
                backend.create_subscription(msgs.JointState, "joint_command", self._on_command, "sensor")
                backend.create_subscription(msgs.Float64MultiArray, "joint_gains", self._on_gains, "sensor")
                self.pub_js = backend.create_publisher(msgs.JointState, "joint_states", "sensor")
                self.pub_imu = backend.create_publisher(msgs.Imu, "imu", "sensor") if self.robot.has_imu else None
        self.pub_truth = backend.create_publisher(msgs.Float64MultiArray, "sim/ground_truth", "sensor")
        self.t0 = time.monotonic()

    # --------------------------------------------------------------------- callbacks
    def _on_command(self, msg: Any) -> None:
        with self._lock:
            self._cmd, self._cmd_t = msg, time.monotonic()
            self.commands_received += 1

    def _on_gains(self, msg: Any) -> None:
        with self._lock:
            self._gains = msg

    def press(self, *buttons: str, seconds: float = 0.1) -> None:
        """Unitree protocol: hold the simulated remote's ``buttons`` for ``seconds``."""
        if getattr(self, "unitree", None) is None:
            raise ValueError("the simulated remote exists with protocol='unitree'")
        self.unitree.core.remote.press(*buttons, seconds=seconds)

    # ------------------------------------------------------------------------ a tick
    def _apply_commands(self, now: float) -> None:
        if getattr(self, "unitree", None) is not None:
            self.unitree.apply_newest()
            self.unitree.core.advance_to(now - self.t0)
            return
        with self._lock:
            cmd, cmd_t, gains = self._cmd, self._cmd_t, self._gains
            self._gains = None
        if self.kind == "quadrotor":
            if cmd is None or now - cmd_t > self.cfg.watchdog_s:
                action = self.motors_off  # the firmware's setpoint watchdog: no setpoint, no thrust
            else:
                rpm = np.asarray(cmd.velocity, dtype=np.float64) * 60.0 / (2 * math.pi)
                action = np.asarray(self.robot.params.rpm_to_action(rpm), dtype=np.float64)
                if action.shape != (4,) or not np.all(np.isfinite(action)):
                    action = self.motors_off
            if not self._launched:
                if np.any(action > -1.0):
                    self._launched = True  # released from the hand at the first spinning setpoint
                else:
                    self.sim.reset(np.asarray(self.cfg.start, dtype=np.float64), (1.0, 0.0, 0.0, 0.0))
                    return
            self.sim.step(np.clip(action, -1.0, 1.0))
            return
        if gains is not None and cmd is not None:
            n = len(cmd.name)
            data = np.asarray(gains.data, dtype=np.float64)
            if data.size == 2 * n:
                idx = [self.names.index(j) for j in cmd.name if j in self.names]
                sel = [i for i, j in enumerate(cmd.name) if j in self.names]
                self.kp[idx], self.kd[idx] = data[:n][sel], data[n:][sel]
                self.sim.set_gains(self.kp, self.kd)
        if cmd is not None:
            for j, p in zip(cmd.name, cmd.position):
                if j in self.names and math.isfinite(p):
                    self.target[self.names.index(j)] = p
        self.sim.step(self.target)

    def _publish(self, t: float) -> None:
        cfg = self.cfg
        active = cfg.inject_at <= t < cfg.inject_at + cfg.inject_for
        kind = cfg.inject if active else "none"
        if cfg.inject != "none" and active != self._injecting:
            # when the fault began and ended, on the machine's monotonic clock (shared by the processes
            # of one machine), so a test can tell a reaction to the fault from a reaction to a stall
            self._injecting = active
            self.injection_log.append((cfg.inject if active else "none", self.t0 + t))
            print(f"[sim_bridge] injection '{cfg.inject}' {'begins' if active else 'ends'} at t={t:.3f} s "
                  f"(monotonic {self.t0 + t:.6f})", flush=True)
        if kind == "push" and not getattr(self, "_pushed", False):
            self._pushed = True
            self._push()
        s = self.sim.state()
        stamp = msgs.header(time.time())
        out: list[Callable[[], None]] = []
        if self.kind == "quadrotor":
            pos, quat = np.array(s["position"], dtype=np.float64), np.asarray(s["quaternion"], dtype=np.float64)
            w, x, y, z = quat
            rot = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])
            v_body = rot.T @ np.asarray(s["linear_velocity"])
            truth = pos.copy()
            if kind == "nan":
                pos[2] = float("nan")
            elif kind == "out_of_range":
                pos[0] = 1e3
            om = np.asarray(s["angular_velocity"])
            odom = msgs.Odometry(header=msgs.Header(stamp=stamp.stamp, frame_id="world"), child_frame_id="base_link",
                                 pose=msgs.PoseWithCovariance(pose=msgs.Pose(position=msgs.Point(*pos.tolist()), orientation=msgs.Quaternion(x=x, y=y, z=z, w=w))),
                                 twist=msgs.TwistWithCovariance(twist=msgs.Twist(linear=msgs.Vector3(*v_body.tolist()), angular=msgs.Vector3(*om.tolist()))))
            if kind != "drop":
                out.append(lambda: self.pub_odom.publish(odom))
        elif self.unitree is not None:
            while self._script and self._script[0][0] <= t:
                self.press(*self._script.pop(0)[1], seconds=0.2)
            low = self.unitree.core.lowstate()
            if kind == "nan":
                low.motor_state[0].q = float("nan")
                hg_seal(low)
            elif kind == "out_of_range":
                low.motor_state[0].q = 10.0
                hg_seal(low)
            elif kind == "bad_crc":
                low.crc ^= 0x1
            if kind not in ("drop", "drop_imu"):
                out.append(lambda: self.unitree.publish(low))
            truth = np.asarray(s.values.get("base_position", np.zeros(3)), dtype=np.float64)
        else:
            q = np.array(s["joint_position"], dtype=np.float64)
            qd = np.asarray(s["joint_velocity"], dtype=np.float64)
            if kind == "nan":
                q[0] = float("nan")
            elif kind == "out_of_range":
                q[0] = 10.0
            js = msgs.JointState(header=stamp, name=self.names, position=q.tolist(), velocity=qd.tolist(),
                                 effort=np.asarray(s["joint_effort"], dtype=np.float64).tolist())
            if kind != "drop":
                out.append(lambda: self.pub_js.publish(js))
            if self.pub_imu is not None and kind not in ("drop", "drop_imu"):
                qw, qx, qy, qz = np.asarray(s["imu_orientation"], dtype=np.float64)
                av, la = np.asarray(s["imu_angular_velocity"]), np.asarray(s["imu_linear_acceleration"])
                imu = msgs.Imu(header=stamp, orientation=msgs.Quaternion(x=qx, y=qy, z=qz, w=qw),
                               angular_velocity=msgs.Vector3(*av.tolist()), linear_acceleration=msgs.Vector3(*la.tolist()))
                out.append(lambda: self.pub_imu.publish(imu))
            truth = np.asarray(s.values.get("base_position", np.zeros(3)), dtype=np.float64)
        gt = msgs.Float64MultiArray(data=[t, *truth.tolist()])
        self.pub_truth.publish(gt)
        if kind == "delay":
            due = time.monotonic() + cfg.delay_s
            self._delayed.extend((due, f) for f in out)
        else:
            for f in out:
                f()
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            self._delayed.popleft()[1]()

    def _push(self) -> None:
        if self.kind == "quadrotor":
            self.sim.set_disturbance(np.array([0.6, 0.0, 0.0]), np.zeros(3))
        else:
            d = self.sim.data
            d.qvel[:3] += np.array([1.5, 0.0, 0.0]) if self.sim.floating else 0.0

    def tick(self) -> None:
        now = time.monotonic()
        self._apply_commands(now)
        self._publish(now - self.t0)

    def run(self, seconds: float) -> dict[str, Any]:
        """Real-time loop at ``rate_hz`` for ``seconds``; returns the loop's timing summary."""
        loop = FixedRateLoop(self.cfg.rate_hz, realtime=True)
        end = int(seconds * self.cfg.rate_hz)
        self.t0 = time.monotonic()
        stats = loop.run(lambda i: self.tick() or True, max_ticks=end)
        return stats.summary()


class EndEffectorScene(Protocol):
    """A simulated arm in a scene, stepped one control period per end-effector command (the HIL-SERL
    pick-and-place task is one: :class:`~robot_learning.tasks.hil_serl.env.PandaPickPlace`)."""

    dt: float
    tcp_ref: np.ndarray

    def obs_fields(self) -> dict[str, np.ndarray]: ...

    def tcp_rot(self) -> np.ndarray: ...

    def apply_command(self, tcp_target: np.ndarray, close: bool | None, stiffness_scale: float = 1.0) -> tuple[Any, dict]: ...


class EndEffectorSimBridge:
    """A simulated arm behind the end-effector topics the policy node speaks (see runtime/node.py):
    publishes ``tcp_pose``, ``tcp_twist``, ``gripper_state``, ``object_pose``, ``goal_pose``; applies
    ``tcp_target`` and ``gripper_command``. Like the arm's impedance controller, it executes each
    reference for one control period as it arrives (a new target steps the scene at once, then the
    new state is published); without a new target it keeps the last reference and still steps every
    ``1.5 x dt``. ``sim/ground_truth`` carries (time, the object's position, success 0/1). A scene
    whose fields hold camera frames (``<camera>_image``, uint8 (H, W, 3): the image option) also
    publishes each on ``camera/<camera>/image_raw`` (sensor_msgs/Image, rgb8), as the cameras' drivers do."""

    def __init__(self, scene: EndEffectorScene, backend: Any, watchdog_s: float | None = None) -> None:
        self.scene, self.backend = scene, backend
        self.dt = float(scene.dt)
        self.hold_after = 1.5 * self.dt if watchdog_s is None else watchdog_s
        self._lock = threading.Lock()
        self._target: np.ndarray | None = None
        self._new_target = False
        self._close: bool | None = None
        self.commands_received = 0
        self.steps = 0
        self.successes = 0
        self.last_info: dict[str, Any] = {}
        backend.create_subscription(msgs.PoseStamped, "tcp_target", self._on_target, "sensor")
        backend.create_subscription(msgs.JointState, "gripper_command", self._on_gripper, "sensor")
        self.pub = {k: backend.create_publisher(cls, k, "sensor") for k, cls in
                    (("tcp_pose", msgs.PoseStamped), ("tcp_twist", msgs.TwistStamped), ("gripper_state", msgs.JointState),
                     ("object_pose", msgs.PoseStamped), ("goal_pose", msgs.PoseStamped))}
        self.pub_truth = backend.create_publisher(msgs.Float64MultiArray, "sim/ground_truth", "sensor")
        self.pub_cameras: dict[str, Any] = {}  # camera term -> its Image publisher, made at the first frame
        self.t0 = time.monotonic()

    def _on_target(self, msg: Any) -> None:
        p = msg.pose.position
        target = np.array([p.x, p.y, p.z], dtype=np.float64)
        with self._lock:
            if np.all(np.isfinite(target)):
                self._target, self._new_target = target, True
            self.commands_received += 1

    def _on_gripper(self, msg: Any) -> None:
        if len(msg.position) and math.isfinite(msg.position[0]):
            with self._lock:
                self._close = bool(msg.position[0] < 0.04)

    def publish(self) -> None:
        f = self.scene.obs_fields()
        stamp = msgs.header(time.time())

        def pose(pos: np.ndarray, quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)) -> Any:
            w, x, y, z = quat
            return msgs.PoseStamped(header=msgs.Header(stamp=stamp.stamp, frame_id="base"),
                                    pose=msgs.Pose(position=msgs.Point(*np.asarray(pos, dtype=np.float64).tolist()),
                                                   orientation=msgs.Quaternion(x=x, y=y, z=z, w=w)))

        opening = float(np.asarray(f["gripper_opening"]).reshape(-1)[0])
        self.pub["gripper_state"].publish(msgs.JointState(header=stamp, name=["finger_joint1", "finger_joint2"],
                                                          position=[opening / 2, opening / 2], velocity=[], effort=[]))
        self.pub["tcp_twist"].publish(msgs.TwistStamped(header=msgs.Header(stamp=stamp.stamp, frame_id="base"),
                                                        twist=msgs.Twist(linear=msgs.Vector3(*np.asarray(f["tcp_vel"], dtype=np.float64).tolist()),
                                                                         angular=msgs.Vector3(0.0, 0.0, 0.0))))
        self.pub["object_pose"].publish(pose(f["object_pos"]))
        self.pub["goal_pose"].publish(pose(f["goal_pos"]))
        self.pub["tcp_pose"].publish(pose(f["tcp_pos"], _quat_from_rotation(self.scene.tcp_rot())))
        self._publish_frames(f, stamp)
        obj = np.asarray(f["object_pos"], dtype=np.float64)
        self.pub_truth.publish(msgs.Float64MultiArray(data=[time.monotonic() - self.t0, *obj.tolist(),
                                                            float(bool(self.last_info.get("success", False)))]))

    def _publish_frames(self, fields: dict[str, np.ndarray], stamp: Any) -> None:
        from robot_learning.runtime.ros2.images import IMAGE_SUFFIX, image_topic, rgb_to_image

        for term, frame in fields.items():
            if term.endswith(IMAGE_SUFFIX) and getattr(frame, "dtype", None) == np.uint8 and np.ndim(frame) == 3:
                pub = self.pub_cameras.get(term)
                if pub is None:
                    pub = self.pub_cameras[term] = self.backend.create_publisher(msgs.Image, image_topic(term), "sensor")
                cam = term[: -len(IMAGE_SUFFIX)]
                pub.publish(rgb_to_image(frame, msgs.Header(stamp=stamp.stamp, frame_id=f"{cam}_camera")))

    def step(self) -> None:
        with self._lock:
            target, close = self._target, self._close
            self._new_target = False
        _, self.last_info = self.scene.apply_command(self.scene.tcp_ref if target is None else target, close)
        self.steps += 1
        self.successes += bool(self.last_info.get("success", False))

    def run(self, seconds: float) -> dict[str, Any]:
        """Until ``seconds`` pass: step on every new target (or after ``1.5 dt`` without one), publish."""
        self.t0 = time.monotonic()
        self.publish()
        last = time.monotonic()
        while time.monotonic() - self.t0 < seconds:
            with self._lock:
                new = self._new_target
            if new or time.monotonic() - last >= self.hold_after:
                last = time.monotonic()
                self.step()
                self.publish()
            else:
                time.sleep(0.001)
        return {"steps": self.steps, "commands_received": self.commands_received, "success_steps": self.successes}


def _quat_from_rotation(r: np.ndarray) -> tuple[float, float, float, float]:
    """(w, x, y, z) of a rotation matrix (Shepperd's method: stable for every rotation)."""
    r = np.asarray(r, dtype=np.float64).reshape(3, 3)
    tr = float(np.trace(r))
    if tr > 0:
        s = 2.0 * math.sqrt(tr + 1.0)
        q = (0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s)
    else:
        i = int(np.argmax(np.diag(r)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * math.sqrt(max(1e-12, 1.0 + r[i, i] - r[j, j] - r[k, k]))
        v = [0.0, 0.0, 0.0]
        v[i] = 0.25 * s
        v[j] = (r[j, i] + r[i, j]) / s
        v[k] = (r[k, i] + r[i, k]) / s
        q = ((r[k, j] - r[j, k]) / s, v[0], v[1], v[2])
    n = math.sqrt(sum(c * c for c in q))
    return tuple(c / n for c in q)  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    """``python -m robot_learning.bridges.sim_bridge --robot crazyflie --seconds 20``: the bridge over Cyclone DDS."""
    from robot_learning.runtime.ros2.backend import DdsBackend

    p = argparse.ArgumentParser(prog="robot-learning-sim-bridge", description=__doc__.split("\n\n")[0])
    p.add_argument("--robot", default="crazyflie", choices=["g1", "panda", "crazyflie"])
    p.add_argument("--seconds", type=float, default=3600.0)
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--variant", default="primitive", choices=["primitive", "mesh"])
    p.add_argument("--fix-base", action="store_true")
    p.add_argument("--start", type=float, nargs=3, default=(0.0, 0.0, 1.0))
    p.add_argument("--inject", default="none", choices=INJECTIONS)
    p.add_argument("--inject-at", type=float, default=1e9)
    p.add_argument("--inject-for", type=float, default=1e9)
    p.add_argument("--delay", type=float, default=0.1)
    p.add_argument("--domain-id", type=int, default=None)
    p.add_argument("--pose", default="default", choices=["default", "lying_face_up", "lying_face_down"])
    p.add_argument("--protocol", default="ros2", choices=list(PROTOCOLS), help="unitree: the G1's LowCmd/LowState (rt/lowcmd, rt/lowstate)")
    p.add_argument("--remote", default="", help="unitree: simulated remote presses, e.g. 'start@1,A@4' (button[+button]@seconds)")
    p.add_argument("--active-mode", default="ai", help="unitree: the high-level controller's mode until ReleaseMode ('' = released)")
    a = p.parse_args(argv)
    try:  # a bad number: one line naming the flag, exit 2
        check_flag("--seconds", a.seconds, above=0)
        cfg = BridgeConfig(robot=a.robot, rate_hz=a.rate, variant=a.variant, fix_base=a.fix_base, start=tuple(a.start), inject=a.inject,
                           inject_at=a.inject_at, inject_for=a.inject_for, delay_s=a.delay, domain_id=a.domain_id, pose=a.pose,
                           protocol=a.protocol, remote_script=a.remote, active_mode=a.active_mode)
    except ConfigError as e:
        flags = {"rate_hz": "--rate", "delay_s": "--delay", "inject_at": "--inject-at", "inject_for": "--inject-for", "domain_id": "--domain-id",
                 "start": "--start", "remote_script": "--remote", "protocol": "--protocol"}
        name = e.field if isinstance(e, FieldError) else ""
        print(f"error: {flags.get(name, name)} {e.problem}" if isinstance(e, FieldError) else f"error: {e}", file=sys.stderr)
        return 2
    backend = DdsBackend("sim_bridge", domain_id=a.domain_id, loopback=True)
    bridge = SimBridge(cfg, backend)
    print(f"[sim_bridge] {a.robot} publishing at {a.rate:g} Hz", flush=True)
    try:
        summary = bridge.run(a.seconds)
    except KeyboardInterrupt:
        summary = {}
    finally:
        backend.close()
    print(f"[sim_bridge] done: {bridge.commands_received} commands received; loop {summary}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
