"""The policy node: one exported policy, its robot, ROS 2 topics in and out, the safety pipeline.

The controller is chosen by the policy's declared action (:func:`~robot_learning.runtime.control.make_controller`:
joint PD targets, rotor speeds, end-effector motion), so one node runs every kind of policy.
The same node runs on two backends that speak ROS 2:

- ``rclpy`` when it is installed (the robot's computer, the deploy image): see
  ``deploy/robot_learning_deploy/policy_node.py``;
- Cyclone DDS (:class:`~robot_learning.runtime.ros2.dds.DdsNode`) when it is not: the same topic
  names, type names and CDR layouts on the wire, so ROS 2 nodes on the network see ordinary topics.

The ROS side only converts messages and services; control runs on its own thread with absolute
deadlines (:class:`~robot_learning.runtime.loop.FixedRateLoop`), not on an executor timer. Message
callbacks only store the newest message (under a lock); the control thread reads them once per
tick. Service requests (start, stop, e-stop, reset) are queued and carried out by the control
thread at the start of its next tick, so the pipeline never changes under a running tick.

Topics (names relative to the node's namespace; every one is listed with type, rate and QoS in the
README):

- joint robots: in ``joint_states`` (sensor_msgs/JointState), ``imu`` (sensor_msgs/Imu, humanoid);
  out ``joint_command`` (sensor_msgs/JointState: position targets, zero velocity and effort) and
  ``joint_gains`` (std_msgs/Float64MultiArray: kp of every commanded joint, then kd, same order),
- quadrotor: in ``odom`` (nav_msgs/Odometry); out ``motor_command`` (sensor_msgs/JointState, rotor
  speeds in rad/s in ``velocity``),
- end-effector policies (the arm's TCP): in ``tcp_pose`` (geometry_msgs/PoseStamped), ``tcp_twist``
  (geometry_msgs/TwistStamped), ``gripper_state`` (sensor_msgs/JointState: the finger joints),
  ``object_pose``, ``goal_pose`` (geometry_msgs/PoseStamped, from perception), and for an image
  policy one camera topic per ``<camera>_image`` term, ``camera/<camera>/image_raw`` (sensor_msgs/Image,
  rgb8 or bgr8; or ``.../image_raw/compressed``, sensor_msgs/CompressedImage, with
  ``topics.image_transport: compressed``); out ``tcp_target``
  (geometry_msgs/PoseStamped: the bounded impedance reference) and ``gripper_command``
  (sensor_msgs/JointState ``gripper``: 0 closes, 0.08 m opens),
- all: ``diagnostics`` (diagnostic_msgs/DiagnosticArray, 10 Hz and on every transition), services
  ``~/start``, ``~/stop``, ``~/estop``, ``~/reset`` (std_srvs/Trigger).
"""
from __future__ import annotations

import math
import queue
import sys
import threading
import time
from typing import Any, Callable

import numpy as np

from robot_learning.runtime.control import ControlSettings, action_kind, check_policy_robot, make_controller
from robot_learning.runtime.joint_controller import JointMappingError
from robot_learning.runtime.loop import FixedRateLoop, TimingStats, try_realtime
from robot_learning.runtime.node_config import NodeConfig
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.runtime.ros2 import msgs
from robot_learning.runtime.ros2.backend import Backend
from robot_learning.runtime.topics import EE_STATE_TOPICS, GRIPPER_OPEN_M, TopicState
from robot_learning.types import JointCommand, RobotMode, RobotState

DIAGNOSTICS_PERIOD_S = 0.1

class _TopicTransport:
    """The controller's :class:`Transport` on top of the node's topics."""

    def __init__(self, node: "PolicyNode") -> None:
        self.node = node

    def read_state(self) -> RobotState | None:
        return self.node.state.read(self.node.use_imu)

    def send_command(self, command: Any) -> None:
        self.node._publish_command(command)

    def now(self) -> float:
        return time.monotonic()


# ------------------------------------------------------------------------------- the node
class PolicyNode:
    """Loads a policy for a robot, wires its topics and services, runs the control thread."""

    def __init__(self, cfg: NodeConfig, backend: Backend, log: Callable[[str], None] = print, robot: Any = None) -> None:
        """``robot``: the robot's description (a :class:`~robot_learning.robots.registry.RobotDescription`)
        when it is not one of the platform's named robots (a task's own robot, resolved by the CLI);
        by default the robot is looked up by ``cfg.robot``."""
        from robot_learning.robots.registry import load_robot  # robots are plain numpy descriptions

        self.cfg, self.backend, self.log = cfg, backend, log
        self.robot = robot if robot is not None else load_robot(cfg.robot)
        self.runner = PolicyRunner(cfg.policy)
        meta = self.runner.metadata
        self.rate = cfg.control_rate_hz or meta.control_rate_hz
        check_policy_robot(meta, self.robot)  # the robot first, then what it takes
        self.action_kind = action_kind(meta)  # joint | rotor | end_effector: chooses the controller and the topics
        self.kind = {"rotor": "quadrotor", "end_effector": "end_effector"}.get(self.action_kind, self.robot.kind)
        self.use_imu = cfg.use_imu and self.robot.has_imu
        self._image_cls: type = msgs.Image
        self._image_shapes: dict[str, tuple[int, ...]] = {}
        self.image_topics = self._image_topics()  # camera term -> topic (end-effector image policies)
        self.state = TopicState(list(meta.joint_names), self.kind, use_header_stamps=cfg.use_header_stamps, images=self._image_shapes)
        self.transport = _TopicTransport(self)
        self._requests: queue.Queue[tuple[str, threading.Event, list[Any]]] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats: TimingStats | None = None
        self.published = 0
        self.tick_log: list[tuple[int, str, str | None, Any]] = []
        self._last_diag = -math.inf
        self._transition_pending = False
        self._transition_texts: queue.Queue[str] = queue.Queue()
        self._diag_wake = threading.Event()
        self._diag_thread: threading.Thread | None = None
        self.recorder = None
        if cfg.record_dir:
            from robot_learning.runtime.recorder import McapRecorder

            self.recorder = McapRecorder(cfg.record_dir, session=f"{cfg.robot}_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
        self.controller = self._make_controller()
        self._make_ros_interfaces()
        if self.recorder is not None:  # register the topics now: no definition lookup in the control thread later
            t = cfg.topics
            topics = ([(t.odom, msgs.Odometry), (t.motor_command, msgs.JointState)] if self.kind == "quadrotor" else
                      [*((getattr(t, k), cls) for k, cls in EE_STATE_TOPICS.items()), (t.tcp_target, msgs.PoseStamped),
                       (t.gripper_command, msgs.JointState), *((topic, self._image_cls) for topic in self.image_topics.values())]
                      if self.kind == "end_effector" else
                      [(t.joint_states, msgs.JointState), (t.imu, msgs.Imu), (t.joint_command, msgs.JointState), (t.joint_gains, msgs.Float64MultiArray)])
            for topic, cls in [*topics, (t.diagnostics, msgs.DiagnosticArray)]:
                self.recorder.add_topic(topic if topic.startswith("/") else "/" + topic, cls.ros_type)

    # ------------------------------------------------------------------------ set-up
    def _image_topics(self) -> dict[str, str]:
        """Camera term -> its topic, for an end-effector policy with image terms (none otherwise).
        Refuses, in one line, a shaped term no camera can feed and compressed transport without Pillow."""
        from robot_learning.runtime.ros2 import images

        layout = self.runner.metadata.observation_layout
        if not layout.shaped_terms():
            return {}
        if self.kind != "end_effector":
            raise images.ImageError(f"policy {self.cfg.policy}: camera terms are taken by end-effector policies only, not {self.action_kind} ones")
        t = self.cfg.topics
        if t.image_transport == "compressed":
            images._pillow("topics.image_transport 'compressed'")
        self._image_cls = msgs.CompressedImage if t.image_transport == "compressed" else msgs.Image
        terms = images.image_terms(layout)
        self._image_shapes = {name: tuple(term.shape or ()) for name, term in terms.items()}
        return {name: images.image_topic(name, t.camera_prefix, t.image_transport) for name in terms}

    def _make_controller(self) -> Any:
        """The controller for the policy's declared action (:func:`~robot_learning.runtime.control.make_controller`)."""
        c = self.cfg
        settings = ControlSettings(joint=c.controller, quadrotor=c.quadrotor, end_effector=c.end_effector,
                                   setpoint=tuple(c.setpoint), trajectory=c.trajectory)
        return make_controller(self.runner, self.transport, self.robot, settings, on_transition=self._on_transition)

    def _make_ros_interfaces(self) -> None:
        t, b = self.cfg.topics, self.backend
        if self.kind == "quadrotor":
            b.create_subscription(msgs.Odometry, t.odom, self._record_in(t.odom, self.state.on_odom), "sensor")
            self.pub_motor = b.create_publisher(msgs.JointState, t.motor_command, "sensor")
        elif self.kind == "end_effector":
            for key, cls in EE_STATE_TOPICS.items():
                topic = getattr(t, key)
                b.create_subscription(cls, topic, self._record_in(topic, self.state.on_ee(key)), "sensor")
            for term, topic in self.image_topics.items():  # cameras: sensor QoS (best effort, newest frame wins)
                store = self.state.on_image(term, compressed=self._image_cls is msgs.CompressedImage, topic=topic)
                b.create_subscription(self._image_cls, topic, self._record_in(topic, store), "sensor")
            self.pub_tcp = b.create_publisher(msgs.PoseStamped, t.tcp_target, "sensor")
            self.pub_gripper = b.create_publisher(msgs.JointState, t.gripper_command, "sensor")
            self._gripper_closed: bool | None = None
        else:
            b.create_subscription(msgs.JointState, t.joint_states, self._record_in(t.joint_states, self.state.on_joint_states), "sensor")
            if self.use_imu:
                b.create_subscription(msgs.Imu, t.imu, self._record_in(t.imu, self.state.on_imu), "sensor")
            self.pub_cmd = b.create_publisher(msgs.JointState, t.joint_command, "sensor")
            self.pub_gains = b.create_publisher(msgs.Float64MultiArray, t.joint_gains, "sensor")
        self.pub_diag = b.create_publisher(msgs.DiagnosticArray, t.diagnostics, "reliable")
        for name in ("start", "stop", "estop", "reset"):
            b.create_trigger_service(f"~/{name}", self._service_handler(name))

    def _record_in(self, topic: str, store: Callable[[Any], None]) -> Callable[[Any], None]:
        if self.recorder is None:
            return store

        def cb(msg: Any) -> None:
            store(msg)
            self._record(topic, msg)

        return cb

    def _record(self, topic: str, msg: Any) -> None:
        if self.recorder is not None:
            name = topic if topic.startswith("/") else "/" + topic
            self.recorder.write(name, msg.ros_type, msgs.serialize(msg), time.time_ns())

    # ------------------------------------------------------------------------- services
    def _service_handler(self, name: str) -> Callable[[], tuple[bool, str]]:
        def handler() -> tuple[bool, str]:
            return self.request(name, timeout_s=1.0)

        return handler

    def request(self, name: str, timeout_s: float = 1.0) -> tuple[bool, str]:
        """Queue start/stop/estop/reset for the control thread and wait for its answer.

        With no control thread running (tests stepping :meth:`tick` by hand) it is carried out now.
        """
        done, result = threading.Event(), []
        self._requests.put((name, done, result))
        if self._thread is None or not self._thread.is_alive():
            self._process_requests()
        if not done.wait(timeout_s):
            return False, f"{name}: the control thread did not answer within {timeout_s} s"
        return result[0]

    def _process_requests(self) -> None:
        while True:
            try:
                name, done, result = self._requests.get_nowait()
            except queue.Empty:
                return
            try:
                getattr(self.controller, name)() if name != "start" else self._start()
                result.append((True, f"{name}: mode is now {self.controller.mode.name}"))
            except Exception as e:  # a refused start/transition is an answer, not a crash
                result.append((False, f"{name} refused: {e}"))
                self.log(f"[policy_node] {name} refused: {e}")
            done.set()

    def _start(self) -> None:
        try:
            self.controller.start()
        except JointMappingError as e:
            self.state.mapping_error = str(e)
            raise

    # ------------------------------------------------------------------------ commands
    def _publish_command(self, command: Any) -> None:
        stamp = msgs.header(time.time())
        if self.kind == "quadrotor":
            params = self.robot.params
            rpm = np.asarray(params.action_to_rpm(np.asarray(command)), dtype=np.float64)
            msg = msgs.JointState(header=stamp, name=list(self.runner.metadata.joint_names), position=[],
                                  velocity=(rpm * (2 * math.pi / 60.0)).tolist(), effort=[])
            self.pub_motor.publish(msg)
            self._record(self.cfg.topics.motor_command, msg)
        elif self.kind == "end_effector":
            # the gripper's last requested state first, on every tick once there is one (best-effort QoS),
            # then the TCP target (none when there is no usable one: the arm keeps its reference)
            if command.gripper is not None:
                self._gripper_closed = bool(command.gripper)
            if self._gripper_closed is not None:
                g = msgs.JointState(header=stamp, name=["gripper"], position=[0.0 if self._gripper_closed else GRIPPER_OPEN_M],
                                    velocity=[], effort=[])
                self.pub_gripper.publish(g)
                self._record(self.cfg.topics.gripper_command, g)
            if command.tcp_target is not None:
                x, y, z = (float(v) for v in command.tcp_target)
                msg = msgs.PoseStamped(header=msgs.Header(stamp=stamp.stamp, frame_id="base"),
                                       pose=msgs.Pose(position=msgs.Point(x, y, z), orientation=msgs.Quaternion(x=0.0, y=0.0, z=0.0, w=1.0)))
                self.pub_tcp.publish(msg)
                self._record(self.cfg.topics.tcp_target, msg)
        else:
            c: JointCommand = command
            n = len(c.names)
            gains = msgs.Float64MultiArray(
                layout=msgs.MultiArrayLayout(dim=[msgs.MultiArrayDimension(label="kp,kd", size=2, stride=2 * n),
                                                  msgs.MultiArrayDimension(label="joint", size=n, stride=n)], data_offset=0),
                data=np.concatenate([c.kp, c.kd]).tolist())
            msg = msgs.JointState(header=stamp, name=list(c.names), position=c.position.tolist(), velocity=[0.0] * n, effort=[0.0] * n)
            self.pub_gains.publish(gains)  # gains first: the command they belong to follows
            self.pub_cmd.publish(msg)
            self._record(self.cfg.topics.joint_gains, gains)
            self._record(self.cfg.topics.joint_command, msg)
        self.published += 1

    # ---------------------------------------------------------------------- diagnostics
    def _on_transition(self, text: str) -> None:
        self._transition_texts.put(text)  # logged by the diagnostics thread: no I/O on the control thread
        self._transition_pending = True
        self._diag_wake.set()

    def _diagnostics_loop(self) -> None:
        """Publishes diagnostics at 10 Hz and at once on a transition, off the control thread."""
        while not self._stop.is_set():
            self._diag_wake.wait(DIAGNOSTICS_PERIOD_S)
            self._diag_wake.clear()
            self._flush_transition_log()
            self._transition_pending = False
            self._publish_diagnostics()

    def _flush_transition_log(self) -> None:
        while True:
            try:
                self.log(f"[policy_node] {self._transition_texts.get_nowait()}")
            except queue.Empty:
                return

    def diagnostics_message(self) -> Any:
        c = self.controller
        mode = c.mode
        level = {RobotMode.POLICY: 0, RobotMode.SOFT_START: 0, RobotMode.IDLE: 1, RobotMode.DAMPING: 1, RobotMode.ESTOP: 2}[mode]
        last = c.sm.transitions[-1] if c.sm.transitions else None
        values = {"mode": mode.name, "robot": self.robot.name, "policy": str(self.runner.path),
                  "faults": ", ".join(f"{k}={v}" for k, v in sorted(c.fault_counts.items())) or "none",
                  "last_fault": c.fault_log[-1] if c.fault_log else "none",
                  "last_transition": f"{last.source.name}->{last.target.name}: {last.reason}" if last else "none",
                  "published": str(self.published)}
        if self.state.mapping_error:
            values["mapping_error"] = self.state.mapping_error
        refused: dict[str, str] = getattr(self.state, "image_refused", {})  # state sources without cameras have none
        counts: dict[str, int] = getattr(self.state, "image_refused_count", {})
        for term, why in list(refused.items()):  # a camera whose frames are refused (encoding, size)
            values[f"{term}_refused"] = f"{counts.get(term, 0)} frames; last: {why}"
        if self.stats is not None and self.stats.count > 1:
            s = self.stats.summary(window=1000)  # the last 1000 ticks: cheap, and what the operator wants to see
            values.update({"compute_p99_ms": str(s["compute_p99_ms"]), "jitter_p99_ms": str(s["jitter_p99_ms"]),
                           "deadline_misses": str(s["deadline_misses"])})
        status = msgs.DiagnosticStatus(level=level,
                                       name=f"robot_learning: {self.robot.name} safety", message=values["last_transition"] if last else mode.name,
                                       hardware_id=self.robot.name, values=[msgs.KeyValue(key=k, value=v) for k, v in values.items()])
        return msgs.DiagnosticArray(header=msgs.header(time.time()), status=[status])

    def _publish_diagnostics(self) -> None:
        msg = self.diagnostics_message()
        self.pub_diag.publish(msg)
        self._record(self.cfg.topics.diagnostics, msg)

    # ------------------------------------------------------------------------------ run
    def tick(self) -> Any:
        """One control period: pending requests, the pipeline, diagnostics when due."""
        self._process_requests()
        faults_before = sum(self.controller.fault_counts.values())
        command = self.controller.tick()
        if self.cfg.tick_log:
            new_fault = sum(self.controller.fault_counts.values()) != faults_before
            self.tick_log.append((self.controller.ticks if hasattr(self.controller, "ticks") else len(self.tick_log),
                                  self.controller.mode.name, self.controller.fault_log[-1] if new_fault and self.controller.fault_log else None, command))
            if len(self.tick_log) > self.cfg.tick_log:
                del self.tick_log[: len(self.tick_log) - self.cfg.tick_log]
        if self._diag_thread is None:  # stepped by hand (tests): diagnostics inline
            now = time.monotonic()
            if self._transition_pending or now - self._last_diag >= DIAGNOSTICS_PERIOD_S:
                self._transition_pending = False
                self._last_diag = now
                self._flush_transition_log()
                self._publish_diagnostics()
        return command

    def start_thread(self) -> None:
        """Run the control loop on its own thread at the policy's rate, on absolute deadlines."""
        if self.cfg.autostart:
            self._requests.put(("start", threading.Event(), []))
        # The control thread shares the interpreter lock with the DDS/executor and diagnostics threads:
        # ask a holder to hand it over after 0.2 ms instead of Python's default 5 ms, so a waking
        # control thread is not held up by a thread deserialising a message.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.0002))
        loop = FixedRateLoop(self.rate, realtime=True)
        self.stats = TimingStats(loop.period)  # live: diagnostics read it while the loop runs
        self._thread = threading.Thread(target=self._run_loop, args=(loop,), name="control", daemon=True)
        self._diag_thread = threading.Thread(target=self._diagnostics_loop, name="diagnostics", daemon=True)
        self._thread.start()
        self._diag_thread.start()

    def _run_loop(self, loop: FixedRateLoop) -> None:
        if self.cfg.realtime:  # per thread on Linux: the control thread alone gets SCHED_FIFO
            for m in try_realtime():
                self._transition_texts.put(m)
        def step(i: int) -> bool:
            if self._stop.is_set():
                return False
            try:
                self.tick()
            except JointMappingError as e:  # the robot's message lacks a policy joint: never command
                self.state.mapping_error = str(e)
                if self.controller.mode not in (RobotMode.IDLE, RobotMode.ESTOP):
                    self.controller.estop(str(e))
                if self.stats is not None and self.stats.count % 100 == 0:
                    self.log(f"[policy_node] {e}")
            return True

        loop.run(step, stats=self.stats)

    def shutdown(self) -> None:
        self._stop.set()
        self._diag_wake.set()
        for t in (self._thread, self._diag_thread):
            if t is not None:
                t.join(timeout=2.0)
        self._flush_transition_log()
        self.backend.close()  # no more callbacks after this
        if self.recorder is not None:
            self.recorder.close()


def run_node(node: PolicyNode, seconds: float | None = None, start_after_s: float | None = None,
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run ``node``'s control thread until ``seconds`` pass or Ctrl-C; optionally request start once
    a state has arrived (``start_after_s`` after launch). Returns a summary (timing, faults, modes)."""
    node.start_thread()
    t0 = time.monotonic()
    started = False
    try:
        while seconds is None or time.monotonic() - t0 < seconds:
            time.sleep(0.05)
            if start_after_s is not None and not started and time.monotonic() - t0 >= start_after_s:
                if any(node.state.received.values()):
                    ok, text = node.request("start", timeout_s=2.0)
                    log(f"[policy_node] {text}")
                    started = ok
                    start_after_s += 1.0  # refused (robot not ready): try again in a second
    except KeyboardInterrupt:
        log("[policy_node] interrupted")
    finally:
        node.shutdown()
    c = node.controller
    return {
        "robot": node.robot.name,
        "policy": str(node.runner.path),
        "final_mode": c.mode.name,
        "received": dict(node.state.received),
        "commands_published": node.published,
        "faults": dict(c.fault_counts),
        "fault_log": c.fault_log[:20],
        "transitions": [f"{t.source.name}->{t.target.name}: {t.reason}" for t in c.sm.transitions][:50],
        "timing": node.stats.summary() if node.stats is not None else {},
        "mapping_error": node.state.mapping_error,
        "recording": str(node.recorder.path) if node.recorder is not None and hasattr(node.recorder, "path") else None,
    }
