"""Parameters and backends shared by the entry points (rclpy when present, Cyclone DDS otherwise)."""
from __future__ import annotations

import importlib.util
from typing import Any, Callable


def have_rclpy() -> bool:
    return importlib.util.find_spec("rclpy") is not None


def parse_ros_args(argv: list[str]) -> dict[str, str]:
    """``--ros-args -p name:=value ...`` -> {name: value} (the form launch files pass parameters in
    when a node runs without rclpy)."""
    out: dict[str, str] = {}
    it = iter(argv)
    for a in it:
        if a == "-p":
            key, _, value = next(it, "").partition(":=")
            if key:
                out[key] = value
    return out


def typed(value: Any, default: Any) -> Any:
    """A parameter string in the type of its default."""
    if not isinstance(value, str):
        return value
    if isinstance(default, bool):
        return value.lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return value


def get_parameters(node: Any, defaults: dict[str, Any], argv: list[str]) -> dict[str, Any]:
    """Declared rclpy parameters (``node`` given) or ``-p`` arguments, typed like ``defaults``."""
    if node is not None:
        return {k: node.declare_parameter(k, v).value for k, v in defaults.items()}
    given = parse_ros_args(argv)
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise SystemExit(f"unknown parameter(s) {unknown}; known: {sorted(defaults)}")
    return {k: typed(given.get(k, v), v) for k, v in defaults.items()}


def make_backend(name: str, argv: list[str], loopback: bool = False) -> tuple[Any, Any, Callable[[str], None], Callable[[], None]]:
    """(backend, rclpy node or None, log function, shutdown function)."""
    if have_rclpy():
        import rclpy
        from rclpy.node import Node

        from robot_learning.runtime.ros2.rclpy_backend import RclpyBackend

        rclpy.init(args=argv)
        node = Node(name)
        return RclpyBackend(node), node, node.get_logger().info, rclpy.try_shutdown
    from robot_learning.runtime.ros2.backend import DdsBackend

    domain = parse_ros_args(argv).get("domain_id")
    backend = DdsBackend(name, domain_id=int(domain) if domain not in (None, "", "-1") else None, loopback=loopback)
    return backend, None, lambda s: print(f"[{name}] {s}", flush=True), lambda: None
