"""A ROS 2 front for Crazyflies with the RL controller, in crazyswarm2's shape, on Cyclone DDS.

A ROS 2 user who knows crazyswarm2 finds the same names and types (per vehicle ``<name>``):

- ``/<name>/cmd_position`` (crazyflie_interfaces/msg/Position: header, float32 x, y, z, yaw in
  degrees): forwarded as one position setpoint, i.e. the trigger the on-board policy flies on;
- ``/<name>/cmd_full_state`` (crazyflie_interfaces/msg/FullState: header, pose, twist, acc): the
  policy takes a position target only, so the pose's position and the yaw of its orientation are
  forwarded as a position setpoint; the velocity and acceleration feed-forward are dropped;
- ``/<name>/emergency`` and ``/all/emergency`` (std_srvs/srv/Empty): the emergency stop;
- ``/<name>/pose`` (geometry_msgs/PoseStamped, world frame, 100 Hz): the logged state estimate.

The types are declared here as Cyclone DDS IDL structs with the names rmw_cyclonedds_cpp gives them
(``crazyflie_interfaces::msg::dds_::Position_``, ``std_srvs::srv::dds_::Empty_Request_`` with the
16-byte request header, as :mod:`robot_learning.runtime.ros2.msgs` models Trigger), so crazyswarm2
scripts and ``ros2 topic pub`` talk to it unchanged. As in crazyswarm2 there is no motor-command topic.

Between the stream and the vehicle stand the runtime's flight monitors (tilt, body rate, geofence,
speed) on every logged state: a FALLBACK or ESTOP fault sends the emergency stop, logs the reason,
and from then on setpoints for that vehicle are dropped. The vehicle's own dead-man switch stops
the motors 200 ms after the last setpoint, so a crashed ROS client cannot leave it flying.

No ``from __future__ import annotations`` here: cyclonedds reads the field annotations at runtime.
"""
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cyclonedds.idl import IdlStruct
from cyclonedds.idl import types as t
from cyclonedds.idl.annotations import cdrv0, final

from robot_learning.hardware.crazyflie.flight import ground_limits
from robot_learning.hardware.crazyflie.link import CrazyflieLink, LinkConfig
from robot_learning.runtime.ros2 import dds
from robot_learning.runtime.ros2 import msgs as m
from robot_learning.runtime.safety import QuadrotorLimits, QuadrotorMonitors
from robot_learning.types import RobotState, Severity

_log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------ message types
@cdrv0
@final
@dataclass
class Position(IdlStruct, typename="crazyflie_interfaces::msg::dds_::Position_"):
    """crazyflie_interfaces/msg/Position: a position setpoint (m) with yaw in degrees."""

    ros_type = "crazyflie_interfaces/msg/Position"
    header: m.Header = field(default_factory=m.Header)
    x: t.float32 = 0.0
    y: t.float32 = 0.0
    z: t.float32 = 0.0
    yaw: t.float32 = 0.0


@cdrv0
@final
@dataclass
class FullState(IdlStruct, typename="crazyflie_interfaces::msg::dds_::FullState_"):
    """crazyflie_interfaces/msg/FullState: pose, twist and acceleration setpoint (world frame)."""

    ros_type = "crazyflie_interfaces/msg/FullState"
    header: m.Header = field(default_factory=m.Header)
    pose: m.Pose = field(default_factory=m.Pose)
    twist: m.Twist = field(default_factory=m.Twist)
    acc: m.Vector3 = field(default_factory=m.Vector3)


# ------------------------------------------------------------------------------ Empty services
class EmptyService(dds.TriggerService):
    """Server of a ``std_srvs/srv/Empty`` service (the Trigger server's discovery wait, an empty reply)."""

    def _dispatch(self) -> None:
        for req in self._reader.take(N=64):
            if not isinstance(req, m.Empty_Request):
                continue
            try:
                self._handler()
            except Exception:  # noqa: BLE001 - a failing handler still answers (Empty has no status)
                _log.exception("service %s handler raised", self.name)
            deadline = time.monotonic() + self.REPLY_MATCH_TIMEOUT_S
            handle = req.sample_info.publication_handle
            while not self._requester_reader_matched(handle) and time.monotonic() < deadline:
                time.sleep(0.002)
            self._writer.write(m.Empty_Response(guid=req.guid, seq=req.seq))


class EmptyClient(dds.TriggerClient):
    """Client of a ``std_srvs/srv/Empty`` service; :meth:`call` returns when the reply arrives."""

    def call(self, timeout_s: float = 5.0) -> tuple[bool, str]:
        from cyclonedds.util import duration

        deadline = time.monotonic() + timeout_s
        with self._lock:
            if not self.wait_for_service(timeout_s):
                raise TimeoutError(f"service {self.name} not available after {timeout_s:.3g} s")
            self._seq += 1
            seq = self._seq
            self._writer.write(m.Empty_Request(guid=self._guid, seq=seq))
            while True:
                for rep in self._reader.take(N=64):
                    if isinstance(rep, m.Empty_Response) and rep.guid == self._guid and rep.seq == seq:
                        return True, ""
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"service {self.name} did not reply within {timeout_s:.3g} s")
                self._waitset.wait(duration(seconds=min(remaining, 0.1)))


# DdsNode creates Trigger services only; these two build Empty ones from the same node's parts.
def create_empty_service(node: dds.DdsNode, name: str, handler: Callable[[], None]) -> EmptyService:
    full = dds.resolve_ros_name(name, node.name, node.namespace)
    rq, rr = dds.dds_service_topic_names(name, node.name, node.namespace)
    service = EmptyService(node._reader(m.Empty_Request, rq, dds.SERVICE_QOS), node._writer(m.Empty_Response, rr, dds.SERVICE_QOS),
                           full, handler)
    node._add_dispatcher(service._reader, service._dispatch)
    return service


def create_empty_client(node: dds.DdsNode, name: str) -> EmptyClient:
    full = dds.resolve_ros_name(name, node.name, node.namespace)
    rq, rr = dds.dds_service_topic_names(name, node.name, node.namespace)
    client = EmptyClient(node._participant, node._writer(m.Empty_Request, rq, dds.SERVICE_QOS),
                         node._reader(m.Empty_Response, rr, dds.SERVICE_QOS), full, (rq, rr))
    node._clients.append(client)
    return client


# ------------------------------------------------------------------------------ the front
def yaw_deg_from_quaternion(q: Any) -> float:
    """Yaw (deg) of a geometry_msgs/Quaternion (x, y, z, w)."""
    return math.degrees(math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z)))


class CrazyswarmFront:
    """The topics and services of the module docstring for every ``name -> link`` given, on ``node``.

    The links must be connected, their policy selected (self-test passed) and logging started
    (:func:`open_vehicles` does it). Callbacks run on the DDS node's thread.
    """

    def __init__(self, links: Mapping[str, CrazyflieLink], node: dds.DdsNode, limits: QuadrotorLimits | None = None,
                 log: Callable[[str], None] = print) -> None:
        self.links, self.node, self.log = dict(links), node, log
        self.limits = limits or ground_limits()
        self.stopped: dict[str, str] = {}  # name -> why its setpoints are dropped (the e-stop's reason)
        self.forwarded = {name: 0 for name in links}
        self._lock = threading.Lock()
        for name, link in self.links.items():
            node.create_subscription(Position, f"/{name}/cmd_position", self._on_position(name), dds.RELIABLE_QOS)
            node.create_subscription(FullState, f"/{name}/cmd_full_state", self._on_full_state(name), dds.RELIABLE_QOS)
            create_empty_service(node, f"/{name}/emergency", lambda n=name: self.emergency(n, "emergency service"))
            pub = node.create_publisher(m.PoseStamped, f"/{name}/pose", dds.SENSOR_QOS)
            link.on_state = self._on_state(name, pub, QuadrotorMonitors(self.limits))
        create_empty_service(node, "/all/emergency", lambda: [self.emergency(n, "all/emergency service") for n in self.links])

    def _forward(self, name: str, x: float, y: float, z: float, yaw_deg: float) -> None:
        if name in self.stopped:
            return
        try:
            self.links[name].send_position(x, y, z, yaw_deg)
            self.forwarded[name] += 1
        except Exception as e:  # noqa: BLE001 - a bad setpoint or a lost link stops this vehicle, not the node
            self.emergency(name, f"setpoint refused: {e}")

    def _on_position(self, name: str) -> Callable[[Position], None]:
        return lambda msg: self._forward(name, msg.x, msg.y, msg.z, msg.yaw)

    def _on_full_state(self, name: str) -> Callable[[FullState], None]:
        def cb(msg: FullState) -> None:
            p = msg.pose.position
            self._forward(name, p.x, p.y, p.z, yaw_deg_from_quaternion(msg.pose.orientation))
        return cb

    def _on_state(self, name: str, pub: Any, monitors: QuadrotorMonitors) -> Callable[[RobotState], None]:
        def cb(state: RobotState) -> None:
            w, x, y, z = (float(v) for v in state["quaternion"])
            pose = m.Pose(position=m.Point(*map(float, state["position"])), orientation=m.Quaternion(x, y, z, w))
            pub.publish(m.PoseStamped(header=m.header(time.time(), "world"), pose=pose))
            if name in self.stopped:
                return
            fault = next((f for f in monitors.check_flight(state) if f.severity != Severity.WARN), None)
            if fault is not None:
                self.emergency(name, f"{fault.monitor}: {fault.message}")
        return cb

    def emergency(self, name: str, reason: str) -> None:
        """Emergency stop of vehicle ``name``; its setpoints are dropped from now on."""
        with self._lock:
            first = name not in self.stopped
            self.stopped.setdefault(name, reason)
        self.links[name].emergency_stop(reason)
        if first:
            self.log(f"{name}: emergency stop ({reason})")


@dataclass
class FrontConfig:
    vehicles: dict[str, str] = field(default_factory=lambda: {"cf1": "radio://0/80/2M/E7E7E7E7E7"})  # name -> link URI
    node_name: str = "crazyflie_server"
    domain_id: int | None = None
    loopback: bool = False  # a rehearsal on one machine: DDS on 127.0.0.1 only

    def __post_init__(self) -> None:
        for name, uri in self.vehicles.items():
            if not name.isidentifier():
                raise ValueError(f"vehicle name {name!r} must be a ROS name token (letters, digits, underscores)")
            LinkConfig(uri=uri)


def open_vehicles(vehicles: Mapping[str, str], log: Callable[[str], None] = print) -> dict[str, CrazyflieLink]:
    """Connect every vehicle, select the out-of-tree controller, check its self-test, set ``rlctl.mode`` 1
    and start its logging."""
    links: dict[str, CrazyflieLink] = {}
    try:
        for name, uri in vehicles.items():
            link = CrazyflieLink(LinkConfig(uri=uri), on_event=lambda text, n=name: log(f"{n}: {text}")).connect()
            links[name] = link
            link.select_policy(True)  # the out-of-tree controller, its self-test passed, rlctl.mode 1
            link.start_logging()
            log(f"{name}: {uri} ready (self-test passed, out-of-tree controller, rlctl.mode 1)")
    except BaseException:
        for link in links.values():
            link.close()
        raise
    return links


def serve(cfg: FrontConfig, seconds: float | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the front until ``seconds`` pass or Ctrl-C (which e-stops every vehicle)."""
    if cfg.loopback:
        dds.ensure_dds_config()
    links = open_vehicles(cfg.vehicles, log)
    node = dds.DdsNode(cfg.node_name, domain_id=cfg.domain_id)
    front = CrazyswarmFront(links, node, log=log)
    log(f"serving {', '.join('/' + n for n in links)}: cmd_position, cmd_full_state, emergency, pose; /all/emergency")
    try:
        deadline = None if seconds is None else time.monotonic() + seconds
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.1)
    except KeyboardInterrupt:
        for name in links:
            front.emergency(name, "Ctrl-C")
    finally:
        node.close()
        for link in links.values():
            link.stop_setpoints()
            link.close()
    return {"forwarded": dict(front.forwarded), "stopped": dict(front.stopped)}


def main(argv: list[str] | None = None) -> int:
    """``python -m robot_learning.hardware.crazyflie.ros2_front --vehicle cf1=radio://0/80/2M/E7E7E7E7E7 [...]``"""
    import argparse
    import json
    import sys

    from robot_learning.core.config import ConfigError

    ap = argparse.ArgumentParser(prog="python -m robot_learning.hardware.crazyflie.ros2_front",
                                 description="crazyswarm2-shaped ROS 2 front for Crazyflies with the RL controller")
    ap.add_argument("--vehicle", action="append", required=True, metavar="NAME=URI", help="repeat for several vehicles")
    ap.add_argument("--seconds", type=float, default=None, help="serve this long (default: until Ctrl-C)")
    ap.add_argument("--domain-id", type=int, default=None)
    ap.add_argument("--loopback", action="store_true", help="DDS on 127.0.0.1 only (a rehearsal on one machine)")
    args = ap.parse_args(argv)
    try:
        vehicles = dict(v.split("=", 1) for v in args.vehicle)
        summary = serve(FrontConfig(vehicles=vehicles, domain_id=args.domain_id, loopback=args.loopback), seconds=args.seconds)
    except (ConfigError, ValueError, dds.DdsError) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
