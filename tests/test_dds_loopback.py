"""Real DDS traffic between two OS processes on loopback, plus the node's naming/config/error rules.

The peer process (the ``PEER`` script below, run with ``sys.executable -c``) is a DdsNode that
publishes a 29-joint JointState at 100 Hz (reliable), latches one Float64MultiArray
(transient local) and serves a Trigger service. This process subscribes best-effort, checks what
arrives, calls the service, and joins the latched topic late.

Each test gets its own DDS domain id derived from the pid, so parallel runs do not cross-talk.
Discovery uses the shipped loopback configuration (unicast on 127.0.0.1, no multicast needed)
unless CYCLONEDDS_URI is set by the user.
"""
import itertools
import os
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from robot_learning.runtime.ros2 import dds
from robot_learning.runtime.ros2 import msgs as m

REPO = Path(__file__).resolve().parents[1]
DISCOVERY_TIMEOUT_S = 5.0
N_JOINTS = 29
JOINT_NAMES = [f"joint_{i:02d}" for i in range(N_JOINTS)]

PEER = r"""
import sys, time
from robot_learning.runtime.ros2 import dds, msgs as m
domain, duration_s = int(sys.argv[1]), float(sys.argv[2])
names = [f"joint_{i:02d}" for i in range(29)]
with dds.DdsNode("peer", domain) as node:
    pub = node.create_publisher(m.JointState, "/joint_states", dds.RELIABLE_QOS)
    latched = node.create_publisher(m.Float64MultiArray, "~/config", dds.LATCHED_QOS)
    latched.publish(m.Float64MultiArray(m.MultiArrayLayout([], 0), [1.0, 2.0, 3.0]))
    latched.publish(m.Float64MultiArray(m.MultiArrayLayout([], 0), [4.0, 5.0, 6.0]))  # the last
    calls = []
    def start():
        calls.append(1)
        return True, f"started {len(calls)}"
    node.create_trigger_service("~/start", start)
    print("READY", flush=True)
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < duration_s:
        now = time.time()
        pub.publish(m.JointState(m.header(now, "base"), names,
                                 [i + 0.01 * k for k in range(29)], [0.0] * 29, [-1.0] * 29))
        i += 1
        time.sleep(max(0.0, t0 + i * 0.01 - time.monotonic()))
"""


def _domain_id(offset: int) -> int:
    """A domain id in 1..230 derived from the pid (ids above 232 do not fit the port mapping)."""
    return 1 + (os.getpid() * 13 + offset) % 230


pytestmark = pytest.mark.usefixtures("dds_loopback")  # the shared loopback config (conftest.py)


@pytest.fixture
def peer():
    """Start the peer process; yields its domain id; stops it afterwards."""
    domain = _domain_id(0)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", PEER, str(domain), "15"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready = threading.Event()

    def watch() -> None:
        for line in proc.stdout:
            if line.startswith("READY"):
                ready.set()

    threading.Thread(target=watch, daemon=True).start()
    if not ready.wait(10.0):
        proc.kill()
        _, err = proc.communicate(timeout=5)
        pytest.fail(f"peer process did not start within 10 s; its stderr:\n{err}")
    try:
        yield domain
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what} "
                        f"(CYCLONEDDS_URI={os.environ.get('CYCLONEDDS_URI')})")
        time.sleep(0.01)


def test_two_processes_topics_service_and_latched(peer):
    received: list[tuple[m.JointState, float]] = []
    latched: list[m.Float64MultiArray] = []
    with dds.DdsNode("observer", peer) as node:
        # best-effort subscriber, reliable publisher: compatible, must receive
        sub = node.create_subscription(
            m.JointState, "/joint_states", lambda msg: received.append((msg, time.time())),
            dds.SENSOR_QOS)
        _wait(lambda: sub.publisher_count() > 0, DISCOVERY_TIMEOUT_S,
              "discovery of the peer's /joint_states publisher")
        _wait(lambda: len(received) >= 100, 5.0, "100 JointState messages at 100 Hz")

        msgs = [msg for msg, _ in received]
        for msg in msgs:
            assert msg.name == JOINT_NAMES
            assert msg.header.frame_id == "base"
            assert len(msg.position) == len(msg.velocity) == len(msg.effort) == N_JOINTS
            assert msg.position[5] == pytest.approx(msg.position[0] + 0.05)
            assert msg.effort == [-1.0] * N_JOINTS
        counters = [msg.position[0] for msg in msgs]
        stamps = [m.seconds_from_time(msg.header.stamp) for msg in msgs]
        assert all(b > a for a, b in itertools.pairwise(counters)), "messages out of order"
        assert all(b > a for a, b in itertools.pairwise(stamps)), "stamps not increasing"
        # at 100 Hz, 100 messages span about a second; best effort on loopback loses ~nothing
        assert counters[-1] - counters[0] < 1.5 * len(counters)

        # one-way latency (same machine, same wall clock): measured, not asserted
        lat_ms = np.array([(rx - m.seconds_from_time(msg.header.stamp)) * 1e3
                           for msg, rx in received])
        print(f"\nJointState(29 joints) one-way latency over loopback, n={lat_ms.size}: "
              f"p50={np.percentile(lat_ms, 50):.3f} ms  p99={np.percentile(lat_ms, 99):.3f} ms  "
              f"max={lat_ms.max():.3f} ms")

        # the Trigger service, twice: the reply matches our request (guid/seq) each time
        client = node.create_trigger_client("/peer/start")
        assert client.call(timeout_s=DISCOVERY_TIMEOUT_S) == (True, "started 1")
        assert client.call(timeout_s=2.0) == (True, "started 2")

        # a late subscriber on a transient-local topic gets the last latched message
        late = node.create_subscription(m.Float64MultiArray, "/peer/config", latched.append,
                                        dds.LATCHED_QOS)
        _wait(lambda: latched, DISCOVERY_TIMEOUT_S, "the latched /peer/config message")
        time.sleep(0.05)
        assert [msg.data for msg in latched] == [[4.0, 5.0, 6.0]]
        assert late.publisher_count() == 1


def test_bytes_on_the_wire_are_xcdr1(peer):
    """Read the peer's raw samples with a plain Cyclone reader: encapsulation 00 01 (CDR_LE)."""
    from cyclonedds._clayer import (
        ddspy_take,  # raw (bytes, info) pairs, not deserialised
    )
    from cyclonedds.core import InstanceState, SampleState, ViewState
    from cyclonedds.domain import DomainParticipant
    from cyclonedds.sub import DataReader
    from cyclonedds.topic import Topic

    participant = DomainParticipant(peer)
    reader = DataReader(participant, Topic(participant, "rt/joint_states", m.JointState),
                        dds.SENSOR_QOS.to_cyclone())
    raw: list[bytes] = []
    mask = SampleState.Any | ViewState.Any | InstanceState.Any

    def poll() -> bool:
        raw.extend(bytes(data) for data, info in ddspy_take(reader._ref, mask, 10)
                   if info.valid_data)
        return bool(raw)

    _wait(poll, DISCOVERY_TIMEOUT_S + 2, "a raw JointState sample")
    data = raw[0]
    assert data[:2] == b"\x00\x01", f"encapsulation {data[:4].hex()} is not XCDR1 CDR_LE"
    msg = m.deserialize(m.JointState, data)
    assert msg.name == JOINT_NAMES
    # same bytes as our serialiser (the writer pads the payload to a multiple of 4)
    ours = m.serialize(msg)
    assert data[:len(ours)] == ours and set(data[len(ours):]) <= {0}


def test_trigger_client_times_out_clearly():
    with dds.DdsNode("lonely", _domain_id(1)) as node:
        client = node.create_trigger_client("/nobody/start")
        t0 = time.monotonic()
        with pytest.raises(TimeoutError, match=r"service /nobody/start not available.*"
                                               r"rq/nobody/startRequest"):
            client.call(timeout_s=0.3)
        assert time.monotonic() - t0 < 2.0


def test_in_process_nodes_and_handler_errors():
    """Several nodes in one process; a failing handler yields success=False, not a hang."""
    got: list[m.JointState] = []
    with dds.DdsNode("a", _domain_id(2)) as a, dds.DdsNode("b", _domain_id(2), "/robot") as b:
        pub = a.create_publisher(m.JointState, "/robot/joint_states", dds.RELIABLE_QOS)
        b.create_subscription(m.JointState, "joint_states", got.append)  # relative -> /robot/..
        b.create_trigger_service("~/fail", lambda: 1 / 0)
        _wait(lambda: pub.subscription_count() > 0, DISCOVERY_TIMEOUT_S, "in-process discovery")
        pub.publish(m.JointState(m.header(1.0), ["x"], [1.0]))
        _wait(lambda: got, 2.0, "in-process message")
        ok, message = a.create_trigger_client("/robot/b/fail").call(timeout_s=3.0)
        assert not ok and "ZeroDivisionError" in message
        with pytest.raises(TypeError, match="JointState"):
            pub.publish(m.Imu())
    with pytest.raises(dds.DdsError, match="closed"):
        a.create_publisher(m.Imu, "/imu")


@pytest.mark.parametrize("ros_name,node,ns,expected", [
    ("/joint_states", "policy_node", "/", "rt/joint_states"),
    ("joint_states", "policy_node", "/", "rt/joint_states"),
    ("joint_states", "policy_node", "/robot", "rt/robot/joint_states"),
    ("~/start", "policy_node", "/", "rt/policy_node/start"),
    ("~/start", "policy_node", "/robot/", "rt/robot/policy_node/start"),
    ("~", "n", "/", "rt/n"),
])
def test_dds_topic_name(ros_name, node, ns, expected):
    assert dds.dds_topic_name(ros_name, node, ns) == expected


def test_service_topic_names():
    assert dds.resolve_ros_name("~/start", "policy_node") == "/policy_node/start"
    assert dds.dds_service_topic_names("/policy_node/start", "x") == (
        "rq/policy_node/startRequest", "rr/policy_node/startReply")
    assert dds.dds_service_topic_names("~/start", "policy_node") == (
        "rq/policy_node/startRequest", "rr/policy_node/startReply")


@pytest.mark.parametrize("bad", ["", "/a//b", "/a/", "1abc", "/a b", "~x"])
def test_bad_names_are_rejected(bad):
    with pytest.raises(ValueError):
        dds.dds_topic_name(bad, "node")


def test_qos_presets():
    assert dds.SENSOR_QOS == dds.QosProfile("best_effort", "volatile", 5)
    assert dds.RELIABLE_QOS == dds.QosProfile("reliable", "volatile", 10)
    assert dds.LATCHED_QOS == dds.QosProfile("reliable", "transient_local", 1)
    with pytest.raises(ValueError, match="reliability"):
        dds.QosProfile("sometimes")


def test_loopback_config_is_shipped_and_user_uri_wins(monkeypatch):
    uri = dds.loopback_config_uri()
    assert uri.startswith("file://") and uri.endswith("cyclonedds_loopback.xml")
    root = ET.parse(uri[len("file://"):]).getroot()
    ns = {"c": "https://cdds.io/config"}
    assert root.find(".//c:AllowMulticast", ns).text == "false"
    assert root.find(".//c:Peers/c:Peer", ns).get("address") == "127.0.0.1"
    assert int(root.find(".//c:MaxAutoParticipantIndex", ns).text) >= 20

    monkeypatch.delenv("CYCLONEDDS_URI", raising=False)
    assert dds.ensure_dds_config() == uri and os.environ["CYCLONEDDS_URI"] == uri
    monkeypatch.setenv("CYCLONEDDS_URI", "file:///my/own.xml")
    assert dds.ensure_dds_config() == "file:///my/own.xml"
    assert os.environ["CYCLONEDDS_URI"] == "file:///my/own.xml"


def test_bad_domain_id_raises_dds_error():
    with pytest.raises(dds.DdsError, match=r"domain 999.*domain id"):
        dds.DdsNode("n", 999)


def test_bad_config_raises_dds_error(monkeypatch):
    monkeypatch.setenv("CYCLONEDDS_URI", "<CycloneDDS><Nonsense>")
    with pytest.raises(dds.DdsError, match="CYCLONEDDS_URI"):
        dds.DdsNode("n", _domain_id(3))


def test_package_does_not_import_torch():
    code = ("import sys, robot_learning.runtime.ros2, robot_learning.runtime.ros2.dds; "
            "assert 'torch' not in sys.modules and 'rclpy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=30)
