"""The policy node's backend on rclpy (the robot's computer, the deploy image).

The node works with the IDL dataclasses of :mod:`robot_learning.runtime.ros2.msgs`; this backend
converts them field by field to and from the rclpy message classes of the same names, so the node
code is the same on both backends. Subscriptions and services run on a MultiThreadedExecutor in a
background thread; control does not (it has its own thread with absolute deadlines), because an
executor timer drifts and loses rate under load.

Imported only when rclpy exists; nothing here runs on a machine without ROS 2.
"""
from __future__ import annotations

import array
import dataclasses
import importlib
import threading
from typing import Any, Callable


def _ros_class(msg_cls: type) -> type:
    pkg, kind, name = msg_cls.ros_type.split("/")
    if kind == "srv":
        service, part = name.rsplit("_", 1)
        return getattr(getattr(importlib.import_module(f"{pkg}.srv"), service), part)
    return getattr(importlib.import_module(f"{pkg}.msg"), name)


def to_ros(msg: Any) -> Any:
    """IDL dataclass -> rclpy message (recursively)."""
    out = _ros_class(type(msg))()
    for f in dataclasses.fields(msg):
        value = getattr(msg, f.name)
        if dataclasses.is_dataclass(value):
            value = to_ros(value)
        elif isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            value = [to_ros(v) for v in value]
        elif f.name == "level" and isinstance(value, int):
            value = bytes([value])  # diagnostic_msgs byte fields are bytes in rclpy
        elif isinstance(value, (bytes, bytearray)):  # uint8[] (image data): rclpy's array('B'), built in one copy
            value = array.array("B", value)
        setattr(out, f.name, value)
    return out


def from_ros(msg: Any, msg_cls: type) -> Any:
    """rclpy message -> IDL dataclass (recursively)."""
    kwargs = {}
    hints = {f.name: f for f in dataclasses.fields(msg_cls)}
    for name, f in hints.items():
        value = getattr(msg, name)
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default  # type: ignore[misc]
        if dataclasses.is_dataclass(default):
            value = from_ros(value, type(default))
        elif isinstance(default, bytes):  # uint8[] (image data): one copy of rclpy's array('B'), not a list of ints
            value = bytes(value)
        elif isinstance(value, bytes) and len(value) == 1:
            value = value[0]
        elif hasattr(value, "tolist"):
            value = value.tolist()
        elif isinstance(value, (list, tuple)):
            value = list(value)
        kwargs[name] = value
    return msg_cls(**kwargs)


class RclpyBackend:
    """The :class:`~robot_learning.runtime.ros2.backend.Backend` interface on an rclpy node."""

    def __init__(self, node: Any) -> None:
        from rclpy.callback_groups import ReentrantCallbackGroup
        from rclpy.executors import MultiThreadedExecutor
        from rclpy.qos import QoSProfile, qos_profile_sensor_data, ReliabilityPolicy, DurabilityPolicy, HistoryPolicy

        self.node = node
        # reentrant: a service waiting for the control thread must not hold up the sensor callbacks
        self._group = ReentrantCallbackGroup()
        self._qos = {
            "sensor": qos_profile_sensor_data,
            "reliable": QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE, history=HistoryPolicy.KEEP_LAST),
            "latched": QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL, history=HistoryPolicy.KEEP_LAST),
        }
        self.executor = MultiThreadedExecutor(num_threads=2)
        self.executor.add_node(node)
        self._thread = threading.Thread(target=self.executor.spin, name="ros-executor", daemon=True)
        self._thread.start()

    def create_publisher(self, msg_cls: type, topic: str, qos: str) -> Any:
        pub = self.node.create_publisher(_ros_class(msg_cls), topic, self._qos[qos])

        class _Pub:
            def publish(self, msg: Any) -> None:
                pub.publish(to_ros(msg))

        return _Pub()

    def create_subscription(self, msg_cls: type, topic: str, callback: Callable[[Any], None], qos: str) -> Any:
        return self.node.create_subscription(_ros_class(msg_cls), topic, lambda m: callback(from_ros(m, msg_cls)), self._qos[qos],
                                             callback_group=self._group)

    def create_trigger_service(self, name: str, handler: Callable[[], tuple[bool, str]]) -> Any:
        from std_srvs.srv import Trigger

        def serve(request: Any, response: Any) -> Any:
            response.success, response.message = handler()
            return response

        return self.node.create_service(Trigger, name, serve, callback_group=self._group)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
