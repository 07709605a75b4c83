"""The policy node's view of its robot: the newest message of each subscribed topic, turned into a
:class:`~robot_learning.types.RobotState` in the policy's joint order once per tick (joint robots,
the quadrotor's odometry, an arm's end-effector topics and its cameras' frames)."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

import numpy as np

from robot_learning.runtime.joint_controller import match_joints
from robot_learning.runtime.ros2 import msgs
from robot_learning.types import RobotState

# end-effector state topics (TopicConfig field -> message type): TCP pose and twist in the arm's base
# frame, the finger joints, the object's and the goal's poses (from perception; the bridge's scene)
EE_STATE_TOPICS = {"tcp_pose": msgs.PoseStamped, "tcp_twist": msgs.TwistStamped, "gripper_state": msgs.JointState,
                   "object_pose": msgs.PoseStamped, "goal_pose": msgs.PoseStamped}
GRIPPER_OPEN_M = 0.08  # gripper_command position (m between the fingers): 0 closes, this opens


class TopicState:
    """Newest messages from the robot's topics, turned into a :class:`RobotState` in policy order.

    Thread-safe: callbacks (DDS/executor threads) store, the control thread reads. Joint names are
    matched once per distinct name list; a missing joint is a :class:`JointMappingError` raised to
    the control thread (the node refuses to start and reports it on diagnostics).
    """

    def __init__(self, joint_names: list[str], kind: str, clock: Callable[[], float] = time.monotonic,
                 use_header_stamps: bool = True, images: dict[str, tuple[int, ...]] | None = None) -> None:
        """``images``: an end-effector policy's camera terms (name -> (height, width, 3)); each frame
        is converted to RGB in the callback and enters the state under its term name, with its own
        sample time among the topic stamps (so a late camera is stale like any other topic)."""
        self.joint_names, self.kind, self.clock = joint_names, kind, clock
        self.use_header_stamps = use_header_stamps
        self._lock = threading.Lock()
        self._js: Any = None
        self._js_t: float | None = None
        self._imu: Any = None
        self._imu_t: float | None = None
        self._odom: Any = None
        self._odom_t: float | None = None
        self._ee: dict[str, tuple[Any, float]] = {}  # end effector: topic key -> (message, sample time)
        self.images = dict(images or {})
        self._frames: dict[str, tuple[np.ndarray, float]] = {}  # camera term -> (RGB frame, sample time)
        self.image_refused: dict[str, str] = {}  # camera term -> why its last refused frame was refused
        self.image_refused_count: dict[str, int] = {}  # camera term -> frames refused
        self._index_cache: tuple[tuple[str, ...], np.ndarray] | None = None
        self.mapping_error: str | None = None
        self.received = {"joint_states": 0, "imu": 0, "odom": 0}
        if kind == "end_effector":
            self.received = {k: 0 for k in EE_STATE_TOPICS}
            self.received.update({k: 0 for k in self.images})

    # callbacks
    def _sample_time(self, msg: Any) -> float:
        """When the message was sampled, on our monotonic clock: its arrival time minus the latency
        its header stamp shows (robot and runtime clocks synchronised, e.g. chrony/PTP; a stamp from
        the future counts as zero latency). So delayed data is stale data, as well as missing data."""
        t = self.clock()
        if not self.use_header_stamps:
            return t
        st = msg.header.stamp
        latency = time.time() - (st.sec + st.nanosec * 1e-9)
        return t - latency if latency > 0.0 else t

    def on_joint_states(self, msg: Any) -> None:
        t = self._sample_time(msg)
        with self._lock:
            self._js, self._js_t = msg, t
            self.received["joint_states"] += 1

    def on_imu(self, msg: Any) -> None:
        t = self._sample_time(msg)
        with self._lock:
            self._imu, self._imu_t = msg, t
            self.received["imu"] += 1

    def on_odom(self, msg: Any) -> None:
        t = self._sample_time(msg)
        with self._lock:
            self._odom, self._odom_t = msg, t
            self.received["odom"] += 1

    def on_ee(self, key: str) -> Callable[[Any], None]:
        """The callback that stores end-effector topic ``key`` (one of :data:`EE_STATE_TOPICS`)."""
        def store(msg: Any) -> None:
            t = self._sample_time(msg)
            with self._lock:
                self._ee[key] = (msg, t)
                self.received[key] += 1

        return store

    def on_image(self, term: str, compressed: bool = False, topic: str = "") -> Callable[[Any], None]:
        """The callback that stores camera term ``term``'s frame (``sensor_msgs/Image``, or
        ``CompressedImage`` when ``compressed``). A frame that cannot be the policy's (encoding, size,
        data length) is dropped and its reason kept in :attr:`image_refused`: the previous frame
        then ages into the staleness limit and the controller holds."""
        from robot_learning.runtime.ros2.images import ImageError, compressed_to_rgb, image_to_rgb

        shape, name = self.images[term], topic or term
        convert = compressed_to_rgb if compressed else image_to_rgb

        def store(msg: Any) -> None:
            t = self._sample_time(msg)
            try:
                frame = convert(msg, shape, name)
            except ImageError as e:
                with self._lock:
                    self.image_refused[term] = str(e)
                    self.image_refused_count[term] = self.image_refused_count.get(term, 0) + 1
                return
            with self._lock:
                self._frames[term] = (frame, t)
                self.received[term] += 1

        return store

    def _read_ee(self) -> RobotState | None:
        with self._lock:
            ee = dict(self._ee)
            frames = dict(self._frames)
        if "tcp_pose" not in ee:
            return None
        values: dict[str, np.ndarray] = {}
        for key, (msg, _) in ee.items():
            if key in ("tcp_pose", "object_pose", "goal_pose"):
                p = msg.pose.position
                values[key.replace("_pose", "_pos")] = np.array([p.x, p.y, p.z])
                if key == "tcp_pose":
                    o = msg.pose.orientation
                    values["tcp_rot"] = _rotation(np.array([o.w, o.x, o.y, o.z]))
            elif key == "tcp_twist":
                v = msg.twist.linear
                values["tcp_vel"] = np.array([v.x, v.y, v.z])
            elif key == "gripper_state":  # the finger joints' positions: the opening is their sum
                values["gripper_opening"] = np.array([float(np.sum(msg.position))]) if len(msg.position) else np.array([np.nan])
        stamps = {k: t for k, (_, t) in ee.items()}
        for term, (frame, t) in frames.items():  # a camera not heard from yet: the term is missing, the controller holds
            values[term] = frame
            stamps[term] = t
        return RobotState(max(stamps.values()), values, stamps)

    def _index(self, names: list[str]) -> np.ndarray:
        key = tuple(names)
        if self._index_cache is None or self._index_cache[0] != key:
            self._index_cache = (key, match_joints(self.joint_names, names, "joint_states message"))
        return self._index_cache[1]

    def read(self, use_imu: bool) -> RobotState | None:
        with self._lock:
            js, js_t, imu, imu_t, odom, odom_t = self._js, self._js_t, self._imu, self._imu_t, self._odom, self._odom_t
        if self.kind == "end_effector":
            return self._read_ee()
        if self.kind == "quadrotor":
            if odom is None:
                return None
            p, o, tw = odom.pose.pose.position, odom.pose.pose.orientation, odom.twist.twist
            quat = np.array([o.w, o.x, o.y, o.z])
            rot = _rotation(quat)
            v_body = np.array([tw.linear.x, tw.linear.y, tw.linear.z])
            return RobotState(odom_t, {"position": np.array([p.x, p.y, p.z]), "quaternion": quat,
                                       "linear_velocity": rot @ v_body,  # REP 105: odometry twist is in the child (body) frame
                                       "angular_velocity": np.array([tw.angular.x, tw.angular.y, tw.angular.z])}, {"odom": odom_t})
        if js is None:
            return None
        idx = self._index(list(js.name))
        n = len(js.name)
        pos = np.asarray(js.position, dtype=np.float64)
        vel = np.asarray(js.velocity, dtype=np.float64) if len(js.velocity) == n else np.full(n, np.nan)
        values = {"joint_position": pos[idx] if pos.size == n else np.full(len(idx), np.nan), "joint_velocity": vel[idx]}
        stamps = {"joint_states": js_t}
        if use_imu:
            if imu is not None:
                o = imu.orientation
                values["imu_orientation"] = np.array([o.w, o.x, o.y, o.z])
                values["imu_angular_velocity"] = np.array([imu.angular_velocity.x, imu.angular_velocity.y, imu.angular_velocity.z])
                values["imu_linear_acceleration"] = np.array([imu.linear_acceleration.x, imu.linear_acceleration.y, imu.linear_acceleration.z])
                stamps["imu"] = imu_t
        return RobotState(max(t for t in stamps.values() if t is not None), values, stamps)


def _rotation(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])
