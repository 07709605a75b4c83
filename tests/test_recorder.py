"""The runtime's MCAP recorder: rosbag2-compatible files, crash safety, a non-blocking write path.

Messages are real ROS 2 CDR bytes produced by rosbags' typestore; files are read back with the
plain ``mcap`` reader, rosbags' readers and the recorder's own ``read_recording``.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mcap.reader import make_reader
from rosbags.typesys.store import Typestore

from robot_learning.runtime.recorder import (
    McapRecorder,
    RecordedMessage,
    decode,
    default_typestore,
    read_recording,
)

REPO = Path(__file__).resolve().parents[1]
MCAP_MAGIC = b"\x89MCAP0\r\n"
JOINT_STATE = "sensor_msgs/msg/JointState"
IMU = "sensor_msgs/msg/Imu"
DIAGNOSTICS = "diagnostic_msgs/msg/DiagnosticArray"


@pytest.fixture(scope="module")
def ts() -> Typestore:
    return default_typestore()


def _header(ts: Typestore, stamp_ns: int, frame: str = "base") -> Any:
    time_t = ts.types["builtin_interfaces/msg/Time"]
    return ts.types["std_msgs/msg/Header"](
        stamp=time_t(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id=frame
    )


def joint_state(ts: Typestore, stamp_ns: int, i: int) -> Any:
    return ts.types[JOINT_STATE](
        header=_header(ts, stamp_ns),
        name=["hip", "knee", "ankle"],
        position=np.array([0.1 * i, -0.2, 0.3]),
        velocity=np.array([1.0, 2.0, float(i)]),
        effort=np.array([]),
    )


def imu(ts: Typestore, stamp_ns: int, i: int) -> Any:
    q = ts.types["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=np.sin(i / 10), w=np.cos(i / 10))
    v3 = ts.types["geometry_msgs/msg/Vector3"]
    return ts.types[IMU](
        header=_header(ts, stamp_ns, "imu_link"),
        orientation=q,
        orientation_covariance=np.arange(9, dtype=np.float64),
        angular_velocity=v3(x=0.01 * i, y=0.0, z=-0.5),
        angular_velocity_covariance=np.zeros(9),
        linear_acceleration=v3(x=0.0, y=0.0, z=9.81),
        linear_acceleration_covariance=np.full(9, 0.5),
    )


def diagnostics(ts: Typestore, stamp_ns: int, i: int) -> Any:
    status_t = ts.types["diagnostic_msgs/msg/DiagnosticStatus"]
    kv = ts.types["diagnostic_msgs/msg/KeyValue"]
    status = status_t(
        level=status_t.WARN if i % 2 else status_t.OK,
        name="safety/tilt",
        message=f"tilt check {i}",
        hardware_id="g1",
        values=[kv(key="tilt_deg", value=str(1.5 * i)), kv(key="state", value="POLICY")],
    )
    return ts.types[DIAGNOSTICS](header=_header(ts, stamp_ns), status=[status])


TOPICS = (("/joint_states", joint_state), ("/imu", imu), ("/diagnostics", diagnostics))


def cdr(ts: Typestore, msg: Any) -> bytes:
    return bytes(ts.serialize_cdr(msg, msg.__msgtype__))


def _record_three_topics(ts: Typestore, directory: Path) -> tuple[Path, list[RecordedMessage]]:
    """Write 20 messages on each of three topics; return the file and what was written."""
    sent: list[RecordedMessage] = []
    t0 = 1_764_063_000_000_000_000
    with McapRecorder(directory, session="three", typestore=ts) as rec:
        for i in range(20):
            stamp = t0 + i * 2_000_000
            for topic, make in TOPICS:
                msg = make(ts, stamp, i)
                data = cdr(ts, msg)
                rec.write(topic, msg.__msgtype__, data, log_time_ns=stamp)
                sent.append(RecordedMessage(topic, msg.__msgtype__, stamp, data))
    assert rec.stats().written == {"/joint_states": 20, "/imu": 20, "/diagnostics": 20}
    assert rec.stats().dropped == 0
    return rec.path, sent


def test_round_trip_three_topics(ts: Typestore, tmp_path: Path) -> None:
    path, sent = _record_three_topics(ts, tmp_path)
    assert path == tmp_path / "three.mcap"

    # The plain mcap reader sees a rosbag2-style file with a complete summary.
    with open(path, "rb") as f:
        reader = make_reader(f)
        assert reader.get_header().profile == "ros2"
        summary = reader.get_summary()
        assert summary is not None
        schemas = {s.name: s for s in summary.schemas.values()}
        assert set(schemas) == {JOINT_STATE, IMU, DIAGNOSTICS}
        assert all(s.encoding == "ros2msg" for s in schemas.values())
        diag_def = schemas[DIAGNOSTICS].data.decode()
        assert diag_def.startswith(
            "std_msgs/Header header\ndiagnostic_msgs/DiagnosticStatus[] status\n"
        )
        assert "=" * 80 + "\nMSG: diagnostic_msgs/KeyValue\n" in diag_def
        assert "=" * 80 + "\nMSG: builtin_interfaces/Time\n" in diag_def
        channels = {c.topic: c for c in summary.channels.values()}
        assert set(channels) == {"/joint_states", "/imu", "/diagnostics"}
        for topic, channel in channels.items():
            assert channel.message_encoding == "cdr"
            assert "reliability: reliable" in channel.metadata["offered_qos_profiles"]
            ros_type = next(m.ros_type for m in sent if m.topic == topic)
            assert summary.schemas[channel.schema_id].name == ros_type
        assert summary.statistics.message_count == 60
        assert "rosbag2" in {m.name for m in reader.iter_metadata()}
        plain = [
            (c.topic, m.log_time, m.data)
            for _, c, m in reader.iter_messages(log_time_order=False)
        ]
    assert plain == [(m.topic, m.log_time_ns, m.data) for m in sent]

    # read_recording returns exactly what was written, in order, with log times preserved.
    got = list(read_recording(path))
    assert got == sent

    # Decoded contents equal the originals.
    for orig, rec in zip(sent, got):
        msg = decode(rec, ts)
        assert msg.__msgtype__ == orig.ros_type
        assert cdr(ts, msg) == orig.data
    js = decode(got[3 * 7], ts)
    assert js.name == ["hip", "knee", "ankle"]
    np.testing.assert_allclose(js.position, [0.7, -0.2, 0.3])
    assert js.header.stamp.nanosec == got[3 * 7].log_time_ns % 10**9
    im = decode(got[3 * 7 + 1], ts)
    np.testing.assert_array_equal(im.orientation_covariance, np.arange(9.0))
    assert im.linear_acceleration.z == 9.81
    diag = decode(got[3 * 7 + 2], ts)
    assert diag.status[0].message == "tilt check 7"
    values = [(v.key, v.value) for v in diag.status[0].values]
    assert values == [("tilt_deg", "10.5"), ("state", "POLICY")]
    assert decode(got[0]).__msgtype__ == JOINT_STATE  # default typestore path


def test_rosbags_reads_the_bare_file(ts: Typestore, tmp_path: Path) -> None:
    """rosbags >= 0.11 opens a bare .mcap (no metadata.yaml): its Reader for counts and QoS, its
    AnyReader rebuilds every type from the embedded definitions (so they must parse)."""
    from rosbags.highlevel import AnyReader
    from rosbags.interfaces import QosReliability
    from rosbags.rosbag2 import Reader

    path, sent = _record_three_topics(ts, tmp_path)
    with Reader(path) as bag:
        assert bag.message_count == 60
        conns = {c.topic: c for c in bag.connections}
        assert {t: c.msgtype for t, c in conns.items()} == {
            "/joint_states": JOINT_STATE,
            "/imu": IMU,
            "/diagnostics": DIAGNOSTICS,
        }
        assert all(c.msgcount == 20 for c in conns.values())
        qos = conns["/imu"].ext.offered_qos_profiles
        assert len(qos) == 1
        assert qos[0].reliability == QosReliability.RELIABLE and qos[0].depth == 10
        raw = [(c.topic, t, bytes(d)) for c, t, d in bag.messages()]
    assert sorted(raw) == sorted((m.topic, m.log_time_ns, m.data) for m in sent)

    with AnyReader([path]) as any_reader:
        decoded = [
            (c.topic, any_reader.deserialize(d, c.msgtype)) for c, _, d in any_reader.messages()
        ]
    assert len(decoded) == 60
    diag = next(m for topic, m in decoded if topic == "/diagnostics")
    assert diag.status[0].values[1].value == "POLICY"


CRASHING_CHILD = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    from robot_learning.runtime.recorder import McapRecorder, default_typestore
    ts = default_typestore()
    JS = ts.types["sensor_msgs/msg/JointState"]
    Header = ts.types["std_msgs/msg/Header"]
    Time = ts.types["builtin_interfaces/msg/Time"]
    directory, ledger = sys.argv[1], sys.argv[2]
    rec = McapRecorder(directory, session="crash", flush_period_s=1.0, typestore=ts)
    sent = []
    period, start = 1 / 200, time.monotonic()
    i = 0
    while time.monotonic() - start < 2.5:
        stamp = time.time_ns()
        msg = JS(header=Header(stamp=Time(sec=stamp // 10**9, nanosec=stamp % 10**9), frame_id="b"),
                 name=["j0"], position=np.array([float(i)]), velocity=np.array([0.0]),
                 effort=np.array([0.0]))
        rec.write("/joint_states", msg.__msgtype__, bytes(ts.serialize_cdr(msg, msg.__msgtype__)),
                  log_time_ns=stamp)
        sent.append(f"{i} {stamp}")
        i += 1
        time.sleep(max(0.0, start + i * period - time.monotonic()))
    kill = time.time_ns()
    with open(ledger, "w") as f:
        f.write(f"{kill}\\n" + "\\n".join(sent) + "\\n")
    os._exit(1)
    """
)


def test_crash_loses_at_most_the_last_flush_period(ts: Typestore, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.txt"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-c", CRASHING_CHILD, str(tmp_path / "rec"), str(ledger)],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    lines = ledger.read_text().split()
    kill_ns = int(lines[0])
    sent = {int(i): int(stamp) for i, stamp in zip(lines[1::2], lines[2::2])}
    assert len(sent) > 400  # ~500 at 200 Hz for 2.5 s

    path = tmp_path / "rec" / "crash.mcap"
    assert not path.read_bytes().endswith(MCAP_MAGIC)  # no footer: the session really died

    got = list(read_recording(path))
    seqs = [int(decode(m, ts).position[0]) for m in got]  # every message decodes
    assert seqs == list(range(len(got)))  # a clean prefix: no gap, no duplicate, no garbage
    for m in got:
        assert m.log_time_ns == sent[int(decode(m, ts).position[0])]
    print(f"crash: recovered {len(got)} of {len(sent)} messages")
    old_enough = [i for i, stamp in sent.items() if stamp < kill_ns - 1_000_000_000]
    assert old_enough and max(old_enough) < len(got), (
        f"recovered {len(got)} of {len(sent)} messages; all {len(old_enough)} older than 1 s "
        "before the kill should have been on disk"
    )


def test_truncated_anywhere_reads_a_clean_prefix(ts: Typestore, tmp_path: Path) -> None:
    """Cut a many-chunk file at many byte offsets: never an exception, always a prefix."""
    with McapRecorder(tmp_path, "chunks", flush_period_s=0.02, typestore=ts) as rec:
        for i in range(60):
            rec.write("/joint_states", JOINT_STATE, cdr(ts, joint_state(ts, i, i)), log_time_ns=i)
            time.sleep(0.002)
    full = list(read_recording(rec.path))
    assert [m.log_time_ns for m in full] == list(range(60))
    blob = rec.path.read_bytes()
    cut_file = tmp_path / "cut.mcap"
    previous = 0
    recovered = set()
    for cut in range(0, len(blob), max(1, len(blob) // 150)):
        cut_file.write_bytes(blob[:cut])
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a cut is a truncation, never "damaged data"
            got = list(read_recording(cut_file))
        assert got == full[: len(got)]
        assert len(got) >= previous
        previous = len(got)
        recovered.add(len(got))
    assert len(recovered) > 3  # several chunks: cuts recover growing parts of the session


def test_write_never_blocks_and_counts_drops(
    ts: Typestore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_calls = threading.Event()
    original = McapRecorder._write_message

    def slow_write(self: McapRecorder, *args: Any, **kwargs: Any) -> None:
        slow_calls.set()
        time.sleep(0.02)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(McapRecorder, "_write_message", slow_write)
    data = cdr(ts, joint_state(ts, 0, 0))
    rec = McapRecorder(tmp_path, "slow", queue_size=4, typestore=ts)
    rec.add_topic("/joint_states", JOINT_STATE)  # resolved up front, as a control loop would
    rec.write("/joint_states", JOINT_STATE, data, log_time_ns=0)
    assert slow_calls.wait(2.0)  # the writer thread is now stuck in its slow write
    durations = []
    for i in range(1, 200):
        t = time.perf_counter()
        rec.write("/joint_states", JOINT_STATE, data, log_time_ns=i)
        durations.append(time.perf_counter() - t)
    assert max(durations) < 0.01, f"write took {max(durations) * 1e3:.1f} ms"
    assert rec.dropped > 150
    rec.close()
    stats = rec.stats()
    assert stats.dropped == rec.dropped
    assert stats.total_written + stats.dropped == 200
    assert [m.log_time_ns for m in read_recording(rec.path)] == sorted(
        m.log_time_ns for m in read_recording(rec.path)
    )
    assert len(list(read_recording(rec.path))) == stats.total_written


def test_clear_errors(ts: Typestore, tmp_path: Path) -> None:
    data = cdr(ts, joint_state(ts, 0, 0))
    with McapRecorder(tmp_path, "errors", typestore=ts) as rec:
        with pytest.raises(ValueError, match=r"unknown ROS type 'my_msgs/msg/Nope'.*'/custom'"):
            rec.write("/custom", "my_msgs/msg/Nope", data)
        rec.write("/joint_states", JOINT_STATE, data, log_time_ns=1)
        with pytest.raises(ValueError, match=r"'/joint_states' is recorded as '\S+/JointState'"):
            rec.write("/joint_states", IMU, data)
        with pytest.raises(ValueError, match="4-byte header"):
            rec.write("/joint_states", JOINT_STATE, b"\x00")
    assert rec.stats().written == {"/joint_states": 1}
    with pytest.raises(RuntimeError, match="closed"):
        rec.write("/joint_states", JOINT_STATE, data)
    rec.close()  # idempotent

    with pytest.raises(FileExistsError, match=re.escape(str(tmp_path / "errors.mcap"))):
        McapRecorder(tmp_path, "errors", typestore=ts)
    assert len(list(read_recording(tmp_path / "errors.mcap"))) == 1  # untouched
    with pytest.raises(ValueError, match="plain file name"):
        McapRecorder(tmp_path, "../escape", typestore=ts)


def test_default_session_name_is_utc_timestamp(ts: Typestore, tmp_path: Path) -> None:
    with McapRecorder(tmp_path, typestore=ts) as rec:
        pass
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ\.mcap", rec.path.name)
    assert list(read_recording(rec.path)) == []
