"""A small ROS-2-like node on plain Cyclone DDS: talk to ROS 2 without a ROS install.

ROS 2 with ``rmw_cyclonedds_cpp`` is "just" DDS with conventions. This module follows them, so
that a :class:`DdsNode` and a real ROS 2 node see each other's topics and services:

* names: ROS topic ``/joint_states`` is DDS topic ``rt/joint_states``; service ``/node/start`` is
  the request topic ``rq/node/startRequest`` and reply topic ``rr/node/startReply``
  (see :func:`dds_topic_name`, :func:`dds_service_topic_names`);
* types: the structs of :mod:`robot_learning.runtime.ros2.msgs` (``pkg::msg::dds_::Type_``, plain
  CDR; every reader and writer here also sets the DataRepresentation QoS to XCDR1 only);
* QoS: :class:`QosProfile` with rclpy's presets;
* services: a 16-byte request header (``uint64 guid``, ``int64 seq``) in front of the request and
  the reply; the server echoes it so the client can pick its own reply.

Threading: each node owns ONE background thread (started in the constructor, named
``dds-node-<name>``) that waits on a Cyclone ``WaitSet`` to which every subscription's and
service's ``ReadCondition`` is attached. Subscription callbacks and service handlers run on that
thread, one at a time, never on Cyclone's own receive threads and never on the caller's thread.
A slow callback therefore delays the node's other callbacks (not other nodes). Exceptions raised by
callbacks are logged and do not stop the thread. ``Publisher.publish`` never waits for readers.
``TriggerClient.call`` blocks its caller (up to ``timeout_s``) but waits on its own WaitSet, so it
may also be called from inside a callback.

Discovery on one machine: call :func:`ensure_dds_config` before the first node is created to use
the shipped loopback-only configuration (unicast discovery on 127.0.0.1, works without multicast)
unless the user has set ``CYCLONEDDS_URI`` (which always wins). Nodes do NOT do this on their own,
because a loopback-only node cannot reach a robot on the network.

Nothing in this module imports torch.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Generic, Literal, Self, TypeVar

from cyclonedds.core import (
    DDSException,
    GuardCondition,
    InstanceState,
    Policy,
    Qos,
    ReadCondition,
    SampleState,
    ViewState,
    WaitSet,
)
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from robot_learning.runtime.ros2.msgs import Trigger_Request, Trigger_Response

__all__ = [
    "LATCHED_QOS",
    "RELIABLE_QOS",
    "SENSOR_QOS",
    "SERVICE_QOS",
    "DdsError",
    "DdsNode",
    "Publisher",
    "QosProfile",
    "Subscription",
    "TriggerClient",
    "TriggerService",
    "dds_service_topic_names",
    "dds_topic_name",
    "ensure_dds_config",
    "loopback_config_uri",
    "resolve_ros_name",
]

_log = logging.getLogger(__name__)

_M = TypeVar("_M")

_CONFIG_FILE = "cyclonedds_loopback.xml"
_TAKE_BATCH = 64  # samples taken per reader per wake-up of the node thread


class DdsError(RuntimeError):
    """Cyclone DDS could not do what was asked (start a participant, create a topic, ...).

    The message names the node, the domain id and the CYCLONEDDS_URI in effect, which are the usual
    culprits (domain ids must be 0..232; the config must be valid XML / an existing file)."""


# ---------------------------------------------------------------------------------------- QoS
@dataclass(frozen=True)
class QosProfile:
    """The subset of ROS 2 QoS that matters here (history is always KEEP_LAST ``depth``).

    ``reliability``: ``"best_effort"`` (drop rather than resend) or ``"reliable"``.
    ``durability``: ``"volatile"`` (only live data) or ``"transient_local"`` (the writer keeps its
    last ``depth`` messages and hands them to subscribers that join later, a "latched" topic).
    A best-effort subscriber matches a reliable publisher, not the other way round; a
    transient-local subscriber needs a transient-local publisher.
    """

    reliability: Literal["best_effort", "reliable"] = "reliable"
    durability: Literal["volatile", "transient_local"] = "volatile"
    depth: int = 10

    def __post_init__(self) -> None:
        if self.reliability not in ("best_effort", "reliable"):
            raise ValueError(f"reliability must be 'best_effort' or 'reliable', "
                             f"got {self.reliability!r}")
        if self.durability not in ("volatile", "transient_local"):
            raise ValueError(f"durability must be 'volatile' or 'transient_local', "
                             f"got {self.durability!r}")
        if self.depth < 1:
            raise ValueError(f"depth must be >= 1, got {self.depth}")

    def to_cyclone(self) -> Qos:
        """The equivalent Cyclone DDS QoS, with the data representation pinned to XCDR1."""
        return Qos(
            Policy.Reliability.Reliable(max_blocking_time=duration(milliseconds=100))
            if self.reliability == "reliable" else Policy.Reliability.BestEffort,
            Policy.Durability.TransientLocal if self.durability == "transient_local"
            else Policy.Durability.Volatile,
            Policy.History.KeepLast(self.depth),
            Policy.DataRepresentation(use_cdrv0_representation=True),
        )


#: rclpy's ``qos_profile_sensor_data``: best effort, volatile, depth 5.
SENSOR_QOS = QosProfile("best_effort", "volatile", 5)
#: rclpy's default for publishers/subscriptions: reliable, volatile, depth 10.
RELIABLE_QOS = QosProfile("reliable", "volatile", 10)
#: A "latched" topic: reliable, transient local, depth 1 (late subscribers get the last message).
LATCHED_QOS = QosProfile("reliable", "transient_local", 1)
#: rclpy's ``qos_profile_services_default``: reliable, volatile, depth 10.
SERVICE_QOS = QosProfile("reliable", "volatile", 10)


# ---------------------------------------------------------------------------------------- names
_TOKEN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_tokens(full: str, what: str) -> str:
    if full != "/":
        for token in full.strip("/").split("/"):
            if not _TOKEN.match(token):
                raise ValueError(f"invalid ROS {what} {full!r}: {token!r} is not a valid name "
                                 f"token (letters, digits, underscores, not starting with a digit)")
    return full


def _normalise_namespace(namespace: str) -> str:
    ns = namespace if namespace.startswith("/") else "/" + namespace
    ns = ns.rstrip("/") or "/"
    return _check_tokens(ns, "namespace")


def resolve_ros_name(ros_name: str, node_name: str, namespace: str = "/") -> str:
    """Expand a ROS name to its fully qualified form, as rcl does.

    ``/abs/name`` stays as it is; ``~`` / ``~/x`` is the node's private namespace
    (``<namespace>/<node_name>[/x]``); anything else is relative to ``namespace``.

    >>> resolve_ros_name("~/start", "policy_node")
    '/policy_node/start'
    >>> resolve_ros_name("imu", "n", "/robot")
    '/robot/imu'
    """
    if not ros_name:
        raise ValueError("ROS name must not be empty")
    if not _TOKEN.match(node_name):
        raise ValueError(f"invalid node name {node_name!r}")
    ns = _normalise_namespace(namespace)
    base = ns.rstrip("/")
    if ros_name.startswith("/"):
        full = ros_name
    elif ros_name == "~" or ros_name.startswith("~/"):
        full = f"{base}/{node_name}{ros_name[1:]}"
    else:
        full = f"{base}/{ros_name}"
    if full.endswith("/") or "//" in full:
        raise ValueError(f"invalid ROS name {ros_name!r} (empty token or trailing '/')")
    return _check_tokens(full, "name")


def dds_topic_name(ros_name: str, node_name: str, namespace: str = "/") -> str:
    """The DDS topic name ROS 2 uses for topic ``ros_name`` of a node: ``rt`` + the fully
    qualified name, e.g. ``/joint_states`` -> ``rt/joint_states``."""
    return "rt" + resolve_ros_name(ros_name, node_name, namespace)


def dds_service_topic_names(service_name: str, node_name: str,
                            namespace: str = "/") -> tuple[str, str]:
    """The (request, reply) DDS topic names of a ROS 2 service, e.g. ``~/start`` in node
    ``policy_node`` -> ``("rq/policy_node/startRequest", "rr/policy_node/startReply")``."""
    full = resolve_ros_name(service_name, node_name, namespace)
    return f"rq{full}Request", f"rr{full}Reply"


# ---------------------------------------------------------------------------------------- config
def loopback_config_uri() -> str:
    """``file://`` URI of the shipped loopback-only Cyclone DDS configuration
    (``cyclonedds_loopback.xml``, package data of ``robot_learning.runtime.ros2``)."""
    path = Path(str(resources.files(__package__ or "robot_learning.runtime.ros2") / _CONFIG_FILE))
    if not path.is_file():
        raise DdsError(f"{_CONFIG_FILE} not found at {path}: the package was installed without "
                       f"its package data (setup.py package_data must include '*.xml')")
    return path.resolve().as_uri()


def ensure_dds_config() -> str:
    """Make Cyclone DDS use the shipped loopback configuration unless the user chose one.

    If ``CYCLONEDDS_URI`` is unset or empty, set it (in ``os.environ``, for this process and its
    children) to :func:`loopback_config_uri`; a user's own ``CYCLONEDDS_URI`` is never touched.
    Must run before the first participant of a domain is created. Returns the URI in effect.
    """
    current = os.environ.get("CYCLONEDDS_URI", "")
    if current.strip():
        return current
    uri = loopback_config_uri()
    os.environ["CYCLONEDDS_URI"] = uri
    return uri


def _dispose(entity: Any) -> None:
    """Delete a Cyclone entity now rather than at garbage collection. The Python binding has no
    public delete; ``Entity.__del__`` deletes the C entity once and is safe to call again."""
    if entity is not None:
        try:
            entity.__del__()
        except Exception:  # noqa: BLE001 - already deleted together with its parent
            _log.debug("entity %r already deleted", entity)


# ---------------------------------------------------------------------------------------- entities
class Publisher(Generic[_M]):
    """Publishes messages of one type on one topic; create with :meth:`DdsNode.create_publisher`."""

    def __init__(self, writer: DataWriter, msg_cls: type[_M], topic_name: str) -> None:
        self._writer = writer
        self.msg_cls = msg_cls
        #: the DDS topic name, e.g. ``rt/joint_states``
        self.topic_name = topic_name

    def publish(self, msg: _M) -> None:
        """Send ``msg`` (never waits for subscribers; reliable topics may block up to 100 ms if
        the writer's resources are exhausted)."""
        if not isinstance(msg, self.msg_cls):
            raise TypeError(f"{self.topic_name} carries {self.msg_cls.__name__}, "
                            f"got {type(msg).__name__}")
        self._writer.write(msg)

    def subscription_count(self) -> int:
        """Number of DDS readers currently matched (discovered and QoS-compatible)."""
        return len(self._writer.get_matched_subscriptions())


class Subscription(Generic[_M]):
    """A callback on one topic; create with :meth:`DdsNode.create_subscription`."""

    def __init__(self, reader: DataReader, msg_cls: type[_M], topic_name: str,
                 callback: Callable[[_M], None]) -> None:
        self._reader = reader
        self.msg_cls = msg_cls
        #: the DDS topic name, e.g. ``rt/joint_states``
        self.topic_name = topic_name
        self._callback = callback

    def publisher_count(self) -> int:
        """Number of DDS writers currently matched (discovered and QoS-compatible)."""
        return len(self._reader.get_matched_publications())

    def _dispatch(self) -> None:
        for sample in self._reader.take(N=_TAKE_BATCH):
            if not isinstance(sample, self.msg_cls):  # InvalidSample: a writer went away
                continue
            try:
                self._callback(sample)
            except Exception:  # noqa: BLE001 - a bad callback must not kill the node thread
                _log.exception("subscription callback on %s raised", self.topic_name)


class TriggerService:
    """Server side of a ``std_srvs/srv/Trigger`` service; see :meth:`DdsNode.create_trigger_service`.
    """

    #: How long a reply waits for the client's reply reader to be discovered (s).
    REPLY_MATCH_TIMEOUT_S = 1.0

    def __init__(self, reader: DataReader, writer: DataWriter, name: str,
                 handler: Callable[[], tuple[bool, str]]) -> None:
        self._reader = reader
        self._writer = writer
        #: fully qualified ROS service name
        self.name = name
        self._handler = handler

    def _requester_reader_matched(self, publication_handle: int) -> bool:
        """True when our reply writer has matched a reader in the requesting participant
        (discovery is not symmetric in time: the client may see us before we see it)."""
        try:
            pub = self._reader.get_matched_publication_data(publication_handle)
        except DDSException:
            return True  # cannot tell; do not delay
        if pub is None:
            return True
        for handle in self._writer.get_matched_subscriptions():
            sub = self._writer.get_matched_subscription_data(handle)
            if sub is not None and sub.participant_key == pub.participant_key:
                return True
        return False

    def _dispatch(self) -> None:
        for req in self._reader.take(N=_TAKE_BATCH):
            if not isinstance(req, Trigger_Request):
                continue
            try:
                success, message = self._handler()
            except Exception as exc:  # noqa: BLE001 - report the failure to the caller
                _log.exception("service %s handler raised", self.name)
                success, message = False, f"handler raised {type(exc).__name__}: {exc}"
            deadline = time.monotonic() + self.REPLY_MATCH_TIMEOUT_S
            handle = req.sample_info.publication_handle
            while not self._requester_reader_matched(handle) and time.monotonic() < deadline:
                time.sleep(0.002)
            self._writer.write(Trigger_Response(guid=req.guid, seq=req.seq,
                                                success=bool(success), message=str(message)))


class TriggerClient:
    """Client side of a ``std_srvs/srv/Trigger`` service; see :meth:`DdsNode.create_trigger_client`.

    Calls are serialised (one at a time per client) and block only the calling thread."""

    def __init__(self, participant: DomainParticipant, writer: DataWriter, reader: DataReader,
                 name: str, topics: tuple[str, str]) -> None:
        self._writer = writer
        self._reader = reader
        #: fully qualified ROS service name
        self.name = name
        self._topics = topics
        # rmw_cyclonedds_cpp uses the instance handle of the request writer as the client id
        # (an unsigned 64-bit number on the wire; the Python binding returns it signed)
        self._guid = writer.get_instance_handle() & 0xFFFF_FFFF_FFFF_FFFF
        self._seq = 0
        self._lock = threading.Lock()
        self._condition = ReadCondition(reader, SampleState.Any | ViewState.Any | InstanceState.Any)
        self._waitset = WaitSet(participant)
        self._waitset.attach(self._condition)

    def service_is_ready(self) -> bool:
        """True once a server's request reader and reply writer have both been discovered."""
        return bool(self._writer.get_matched_subscriptions()
                    and self._reader.get_matched_publications())

    def wait_for_service(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for a server to be discovered; True if one was."""
        deadline = time.monotonic() + timeout_s
        while not self.service_is_ready():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def call(self, timeout_s: float = 5.0) -> tuple[bool, str]:
        """Call the service and return its ``(success, message)``.

        Waits for the service to be discovered, sends one request and waits for the reply that
        carries our guid and sequence number, all within ``timeout_s`` seconds.
        Raises ``TimeoutError`` saying which of the two did not happen in time."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            if not self.wait_for_service(timeout_s):
                raise TimeoutError(
                    f"service {self.name} not available after {timeout_s:.3g} s: no server "
                    f"discovered on DDS topics {self._topics[0]} / {self._topics[1]} "
                    f"(domain {self._writer.get_domain_id()}, "
                    f"CYCLONEDDS_URI={os.environ.get('CYCLONEDDS_URI', '<unset>')})")
            self._seq += 1
            seq = self._seq
            self._writer.write(Trigger_Request(guid=self._guid, seq=seq))
            while True:
                for rep in self._reader.take(N=_TAKE_BATCH):
                    if (isinstance(rep, Trigger_Response) and rep.guid == self._guid
                            and rep.seq == seq):
                        return bool(rep.success), rep.message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"service {self.name} did not reply within "
                                       f"{timeout_s:.3g} s (request seq {seq})")
                self._waitset.wait(duration(seconds=min(remaining, 0.1)))

    def _close(self) -> None:
        _dispose(self._waitset)
        _dispose(self._condition)


# ---------------------------------------------------------------------------------------- node
class DdsNode:
    """A ROS-2-like node: one DDS participant, its publishers, subscriptions and Trigger services.

    ``name`` and ``namespace`` resolve relative and private (``~/``) names as in ROS 2.
    ``domain_id`` defaults to ``$ROS_DOMAIN_ID`` or 0, as in ROS 2. Several nodes may live in one
    process (each has its own participant and callback thread). Use as a context manager or call
    :meth:`close`. Raises :class:`DdsError` if Cyclone DDS cannot start.
    """

    def __init__(self, name: str, domain_id: int | None = None, namespace: str = "/") -> None:
        if not _TOKEN.match(name):
            raise ValueError(f"invalid node name {name!r}")
        self.name = name
        self.namespace = _normalise_namespace(namespace)
        if domain_id is None:
            domain_id = int(os.environ.get("ROS_DOMAIN_ID", "0") or 0)
        self.domain_id = domain_id
        try:
            self._participant = DomainParticipant(domain_id)
        except DDSException as exc:
            raise DdsError(
                f"Cyclone DDS could not start node {name!r} on domain {domain_id}: {exc}. "
                f"Check the domain id (0..232) and CYCLONEDDS_URI="
                f"{os.environ.get('CYCLONEDDS_URI', '<unset>')!r} (valid XML or file URI?)"
            ) from None
        self._lock = threading.Lock()
        self._topics: dict[str, Topic] = {}
        self._entities: list[Any] = []          # readers / writers, for close()
        self._dispatchers: list[tuple[ReadCondition, Callable[[], None]]] = []
        self._clients: list[TriggerClient] = []
        self._closed = threading.Event()
        self._waitset = WaitSet(self._participant)
        self._guard = GuardCondition(self._participant)
        self._waitset.attach(self._guard)
        self._thread = threading.Thread(target=self._spin, name=f"dds-node-{name}", daemon=True)
        self._thread.start()

    # -- context manager
    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers
    def _check_open(self) -> None:
        if self._closed.is_set():
            raise DdsError(f"node {self.name!r} is closed")

    def _topic(self, msg_cls: type, dds_name: str) -> Topic:
        topic = self._topics.get(dds_name)
        if topic is None:
            try:
                topic = Topic(self._participant, dds_name, msg_cls)
            except DDSException as exc:
                raise DdsError(f"cannot create DDS topic {dds_name!r} with type "
                               f"{msg_cls.__name__} in node {self.name!r}: {exc}") from None
            self._topics[dds_name] = topic
        elif topic.data_type is not msg_cls:
            raise DdsError(f"topic {dds_name!r} already used with type "
                           f"{topic.data_type.__name__}, not {msg_cls.__name__}")
        return topic

    def _writer(self, msg_cls: type, dds_name: str, qos: QosProfile) -> DataWriter:
        writer = DataWriter(self._participant, self._topic(msg_cls, dds_name), qos.to_cyclone())
        self._entities.append(writer)
        return writer

    def _reader(self, msg_cls: type, dds_name: str, qos: QosProfile) -> DataReader:
        reader = DataReader(self._participant, self._topic(msg_cls, dds_name), qos.to_cyclone())
        self._entities.append(reader)
        return reader

    def _add_dispatcher(self, reader: DataReader, dispatch: Callable[[], None]) -> None:
        cond = ReadCondition(reader, SampleState.Any | ViewState.Any | InstanceState.Any)
        with self._lock:
            self._dispatchers.append((cond, dispatch))
            self._waitset.attach(cond)
        self._guard.set(True)  # let the thread pick up the new condition

    def _spin(self) -> None:
        """Node thread: wait for data on any attached condition, run the matching dispatchers."""
        while not self._closed.is_set():
            try:
                self._waitset.wait(duration(milliseconds=200))
            except DDSException:
                break
            if self._closed.is_set():
                break
            self._guard.take()
            with self._lock:
                dispatchers = list(self._dispatchers)
            for cond, dispatch in dispatchers:
                if self._closed.is_set():
                    return
                try:
                    if cond.is_triggered():
                        dispatch()
                except DDSException:
                    if not self._closed.is_set():
                        _log.exception("node %s: DDS error while taking data", self.name)

    # -- public API
    def create_publisher(self, msg_cls: type[_M], topic: str,
                         qos: QosProfile = RELIABLE_QOS) -> Publisher[_M]:
        """A publisher of ``msg_cls`` on ROS topic ``topic`` (absolute, relative or ``~/``)."""
        self._check_open()
        dds_name = dds_topic_name(topic, self.name, self.namespace)
        return Publisher(self._writer(msg_cls, dds_name, qos), msg_cls, dds_name)

    def create_subscription(self, msg_cls: type[_M], topic: str, callback: Callable[[_M], None],
                            qos: QosProfile = RELIABLE_QOS) -> Subscription[_M]:
        """Call ``callback(msg)`` on the node thread for every message received on ``topic``."""
        self._check_open()
        dds_name = dds_topic_name(topic, self.name, self.namespace)
        sub = Subscription(self._reader(msg_cls, dds_name, qos), msg_cls, dds_name, callback)
        self._add_dispatcher(sub._reader, sub._dispatch)
        return sub

    def create_trigger_service(self, name: str,
                               handler: Callable[[], tuple[bool, str]]) -> TriggerService:
        """Serve ``std_srvs/srv/Trigger`` at ``name``: ``handler()`` runs on the node thread and
        returns ``(success, message)``; the reply echoes the request's guid and seq."""
        self._check_open()
        full = resolve_ros_name(name, self.name, self.namespace)
        rq, rr = dds_service_topic_names(name, self.name, self.namespace)
        service = TriggerService(self._reader(Trigger_Request, rq, SERVICE_QOS),
                                 self._writer(Trigger_Response, rr, SERVICE_QOS), full, handler)
        self._add_dispatcher(service._reader, service._dispatch)
        return service

    def create_trigger_client(self, name: str) -> TriggerClient:
        """A client for the ``std_srvs/srv/Trigger`` service ``name``; see
        :meth:`TriggerClient.call`."""
        self._check_open()
        full = resolve_ros_name(name, self.name, self.namespace)
        rq, rr = dds_service_topic_names(name, self.name, self.namespace)
        client = TriggerClient(self._participant, self._writer(Trigger_Request, rq, SERVICE_QOS),
                               self._reader(Trigger_Response, rr, SERVICE_QOS), full, (rq, rr))
        self._clients.append(client)
        return client

    def close(self) -> None:
        """Stop the node thread and delete the participant with everything in it. Idempotent."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._guard.set(True)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)
        for client in self._clients:
            client._close()
        with self._lock:
            conds = [cond for cond, _ in self._dispatchers]
            self._dispatchers.clear()
        for entity in [*conds, self._waitset, self._guard, *reversed(self._entities),
                       *self._topics.values(), self._participant]:
            _dispose(entity)
        self._entities.clear()
        self._topics.clear()
