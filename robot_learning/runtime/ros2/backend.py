"""What the policy node needs from ROS 2 (publishers, subscriptions, Trigger services), and that
backend on Cyclone DDS, which needs no ROS install. The rclpy backend is in ``rclpy_backend.py``."""
from __future__ import annotations

from typing import Any, Callable, Protocol

class Publisher(Protocol):
    def publish(self, msg: Any) -> None: ...


class Backend(Protocol):
    """What the node needs from ROS 2: publishers, subscriptions and Trigger services.

    Messages are the IDL dataclasses of :mod:`robot_learning.runtime.ros2.msgs`; the rclpy backend
    converts them field by field. ``qos`` is one of ``"sensor"``, ``"reliable"``, ``"latched"``.
    """

    def create_publisher(self, msg_cls: type, topic: str, qos: str) -> Publisher: ...

    def create_subscription(self, msg_cls: type, topic: str, callback: Callable[[Any], None], qos: str) -> Any: ...

    def create_trigger_service(self, name: str, handler: Callable[[], tuple[bool, str]]) -> Any: ...

    def close(self) -> None: ...


class DdsBackend:
    """The backend on Cyclone DDS (no ROS install needed)."""

    def __init__(self, node_name: str, domain_id: int | None = None, namespace: str = "/", loopback: bool = False) -> None:
        from robot_learning.runtime.ros2 import dds

        if loopback:  # a rehearsal on one machine: peers on 127.0.0.1, no multicast needed (CYCLONEDDS_URI still wins)
            dds.ensure_dds_config()
        self._dds = dds
        self.node = dds.DdsNode(node_name, domain_id=domain_id, namespace=namespace)
        self._qos = {"sensor": dds.SENSOR_QOS, "reliable": dds.RELIABLE_QOS, "latched": dds.LATCHED_QOS}

    def create_publisher(self, msg_cls: type, topic: str, qos: str) -> Publisher:
        return self.node.create_publisher(msg_cls, topic, self._qos[qos])

    def create_subscription(self, msg_cls: type, topic: str, callback: Callable[[Any], None], qos: str) -> Any:
        return self.node.create_subscription(msg_cls, topic, callback, self._qos[qos])

    def create_trigger_service(self, name: str, handler: Callable[[], tuple[bool, str]]) -> Any:
        return self.node.create_trigger_service(name, handler)

    def close(self) -> None:
        self.node.close()


