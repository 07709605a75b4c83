"""Golden-byte tests: our Cyclone DDS IDL structs serialise exactly as ROS 2 does.

The reference is the ``rosbags`` library's ROS 2 CDR serialiser (the same bytes rosbag2 stores and
rmw_cyclonedds_cpp puts on the wire). Every message is built with awkward content -- empty and
non-empty sequences, strings of lengths 0..n (so that padding/alignment varies), negative numbers --
and our :func:`serialize` must produce the identical byte string, including the 4-byte
encapsulation header ``00 01 00 00`` (XCDR1, little endian).
"""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from robot_learning.runtime.ros2 import msgs as m

try:
    _STORE = Stores.ROS2_JAZZY
except AttributeError:  # older rosbags
    _STORE = Stores.ROS2_HUMBLE

# rosbags has no service types; register the two Trigger message parts from their .srv text.
# (rosbags normalises "pkg/srv/Name" to "pkg/srv/msg/Name", so we register them under a msg name;
# the type name does not influence the bytes.)
_SRV_NAMES = {
    "std_srvs/srv/Trigger_Request": "std_srvs/msg/Trigger_Request",
    "std_srvs/srv/Trigger_Response": "std_srvs/msg/Trigger_Response",
    "std_srvs/srv/Empty_Request": "std_srvs/msg/Empty_Request",
    "std_srvs/srv/Empty_Response": "std_srvs/msg/Empty_Response",
}
_SERVICE_FIELDS = ("guid", "seq")  # the rmw_cyclonedds_cpp request header, not ROS fields


@pytest.fixture(scope="module")
def typestore():
    ts = get_typestore(_STORE)
    ts.register(get_types_from_msg("uint8 structure_needs_at_least_one_member",
                                   _SRV_NAMES["std_srvs/srv/Trigger_Request"]))
    ts.register(get_types_from_msg("bool success\nstring message",
                                   _SRV_NAMES["std_srvs/srv/Trigger_Response"]))
    for part in ("Empty_Request", "Empty_Response"):  # both parts of an Empty service are rosidl's placeholder byte
        ts.register(get_types_from_msg("uint8 structure_needs_at_least_one_member", _SRV_NAMES[f"std_srvs/srv/{part}"]))
    return ts


def _rosbags_name(msg) -> str:
    return _SRV_NAMES.get(msg.ros_type, msg.ros_type)


def to_rosbags(msg, ts):
    """Convert one of our messages into the equivalent rosbags message object (recursively).

    Uses our field names as keyword arguments, so a misnamed or missing field fails here."""
    cls = ts.types[_rosbags_name(msg)]
    # rosbags lists __msgtype__ and the message's constants (upper case) among its fields
    rb_fields = {f.name: f for f in dataclasses.fields(cls)
                 if not f.name.startswith("__") and not f.name.isupper()}
    kwargs = {}
    for f in dataclasses.fields(msg):
        if f.name in _SERVICE_FIELDS and msg.ros_type in _SRV_NAMES:
            continue
        value = getattr(msg, f.name)
        if "ndarray" in str(rb_fields[f.name].type):  # uint8[] (image data, ours: bytes) or float64[N]
            value = (np.frombuffer(value, dtype=np.uint8) if "uint8" in str(rb_fields[f.name].type)
                     else np.asarray(value, dtype=np.float64))
        elif isinstance(value, list):
            value = [to_rosbags(v, ts) if hasattr(v, "ros_type") else v for v in value]
        elif hasattr(value, "ros_type"):
            value = to_rosbags(value, ts)
        kwargs[f.name] = value
    assert set(kwargs) == set(rb_fields), f"{msg.ros_type}: fields differ from ROS 2"
    return cls(**kwargs)


def rosbags_bytes(msg, ts) -> bytes:
    return bytes(ts.serialize_cdr(to_rosbags(msg, ts), _rosbags_name(msg)))


def _pose() -> m.Pose:
    return m.Pose(m.Point(1.5, -2.25, 1e-9), m.Quaternion(0.0, -0.7071, 0.0, 0.7071))


def _twist() -> m.Twist:
    return m.Twist(m.Vector3(-1.0, 2.0, -3.0), m.Vector3(0.1, -0.2, 0.3))


def _cov(n: int) -> list[float]:
    return [float(i) * (-1) ** i * 0.5 for i in range(n)]


EXAMPLES = {
    "time": m.Time(sec=-5, nanosec=999_999_999),
    "header_empty_frame": m.header(12.5),
    "header": m.header(-0.25, "odom"),
    "vector3": m.Vector3(-1.0, 0.0, 3.5),
    "point": m.Point(1e300, -1e-300, 0.0),
    "quaternion": m.Quaternion(0.1, 0.2, -0.3, 0.9),
    "pose": _pose(),
    "pose_cov": m.PoseWithCovariance(_pose(), _cov(36)),
    "twist": _twist(),
    "twist_cov": m.TwistWithCovariance(_twist(), _cov(36)),
    "pose_stamped": m.PoseStamped(m.header(3.0, "map"), _pose()),
    "twist_stamped": m.TwistStamped(m.header(3.0, "ab"), _twist()),
    "joint_state": m.JointState(
        m.header(1.0, "base_link"), ["hip", "knee_joint", "a", ""], [0.1, -0.2, 0.3, -0.4],
        [], [1.0, 2.0]),
    "joint_state_empty": m.JointState(m.header(0.0), [], [], [], []),
    "imu": m.Imu(m.header(7.125, "imu"), m.Quaternion(0, 0, 0.3826834, 0.9238795), _cov(9),
                 m.Vector3(0.01, -0.02, 0.03), [-1.0] + [0.0] * 8, m.Vector3(0, 0, -9.81),
                 _cov(9)),
    "odometry": m.Odometry(m.header(9.0, "odom"), "base_footprint",
                           m.PoseWithCovariance(_pose(), _cov(36)),
                           m.TwistWithCovariance(_twist(), _cov(36))),
    "odometry_empty_child": m.Odometry(m.header(9.0, "o"), ""),
    "multi_array_dim": m.MultiArrayDimension("rows", 3, 12),
    "multi_array_layout": m.MultiArrayLayout(
        [m.MultiArrayDimension("height", 2, 6), m.MultiArrayDimension("", 3, 3)], 1),
    "float64_multi_array": m.Float64MultiArray(
        m.MultiArrayLayout([m.MultiArrayDimension("x", 5, 5)], 0), [1.0, -2.0, 3.0, -4.0, 5.0]),
    "float64_multi_array_empty": m.Float64MultiArray(m.MultiArrayLayout([], 7), []),
    "key_value": m.KeyValue("k", "a longer value"),
    "diagnostic_status": m.DiagnosticStatus(
        m.DiagnosticStatus.WARN, "motor", "hot", "",
        [m.KeyValue("temp", "71.5"), m.KeyValue("", "")]),
    "diagnostic_array": m.DiagnosticArray(m.header(2.0, "x"), [
        m.DiagnosticStatus(m.DiagnosticStatus.OK, "a", "", "hw1", []),
        m.DiagnosticStatus(m.DiagnosticStatus.STALE, "bb", "ccc", "dddd", [m.KeyValue("e", "f")]),
    ]),
    "diagnostic_array_empty": m.DiagnosticArray(m.header(0.0), []),
    # images: row padding (step > width * 3), odd data lengths and encodings of several lengths, so the
    # alignment of the fields after the strings and of the uint8[] length varies
    "image": m.Image(m.header(4.5, "wrist_camera"), 3, 2, "rgb8", 0, 8, bytes(range(24))),
    "image_bgr_odd": m.Image(m.header(-1.0, "c"), 1, 1, "bgr8", 1, 3, b"\x00\x7f\xff"),
    "image_empty": m.Image(m.header(0.0), 0, 0, "", 0, 0, b""),
    "image_vga": m.Image(m.header(1.0, "front"), 480, 640, "rgb8", 0, 1920,
                         np.random.default_rng(0).integers(0, 256, 480 * 1920, dtype=np.uint8).tobytes()),
    "compressed_image": m.CompressedImage(m.header(2.25, "wrist_camera"), "jpeg", bytes(range(255, 0, -3))),
    "compressed_image_transport_format": m.CompressedImage(m.header(2.0, "f"), "rgb8; png compressed bgr8", b"\x89PNG\r"),
    "compressed_image_empty": m.CompressedImage(m.header(0.0), "", b""),
    "trigger_request": m.Trigger_Request(guid=0x0102030405060708, seq=42,
                                         structure_needs_at_least_one_member=0),
    "trigger_response": m.Trigger_Response(guid=2**64 - 1, seq=-1, success=True, message="ok!"),
    "trigger_response_empty": m.Trigger_Response(guid=1, seq=2, success=False, message=""),
    "empty_request": m.Empty_Request(guid=7, seq=3, structure_needs_at_least_one_member=0),
    "empty_response": m.Empty_Response(guid=7, seq=3, structure_needs_at_least_one_member=0),
}


def test_every_registered_type_has_an_example_and_a_dds_name():
    covered = {type(msg) for msg in EXAMPLES.values()}
    assert covered == set(m.MESSAGE_TYPES.values())
    for ros_type, cls in m.MESSAGE_TYPES.items():
        pkg, kind, name = ros_type.split("/")
        assert cls.ros_type == ros_type
        assert cls.__idl_typename__.replace(".", "::") == f"{pkg}::{kind}::dds_::{name}_"
        assert "ros_type" not in {f.name for f in dataclasses.fields(cls)}


def test_type_names_match_rmw_cyclonedds():
    assert m.JointState.__idl_typename__ == "sensor_msgs::msg::dds_::JointState_"
    assert m.Trigger_Request.__idl_typename__ == "std_srvs::srv::dds_::Trigger_Request_"
    assert m.Trigger_Response.__idl_typename__ == "std_srvs::srv::dds_::Trigger_Response_"


@pytest.mark.parametrize("name", [k for k, v in EXAMPLES.items() if v.ros_type not in _SRV_NAMES])
def test_message_bytes_equal_rosbags(name, typestore):
    msg = EXAMPLES[name]
    ours = m.serialize(msg)
    assert ours[:4] == b"\x00\x01\x00\x00", "encapsulation must be XCDR1 / CDR_LE"
    assert ours == rosbags_bytes(msg, typestore)


@pytest.mark.parametrize("name", [k for k, v in EXAMPLES.items() if v.ros_type in _SRV_NAMES])
def test_service_message_part_equals_rosbags(name, typestore):
    """Service payloads: 4-byte encapsulation, 16-byte request header (uint64 guid at body offset 0,
    int64 seq at body offset 8), then the ROS message at body offset 16. 16 is a multiple of 8
    (the largest CDR alignment), so the message part is byte-identical to the message serialised
    alone: ours[4 + 16:] == rosbags[4:]."""
    msg = EXAMPLES[name]
    ours = m.serialize(msg)
    ref = rosbags_bytes(msg, typestore)
    assert ours[:4] == ref[:4] == b"\x00\x01\x00\x00"
    assert ours[4:12] == msg.guid.to_bytes(8, "little")
    assert ours[12:20] == msg.seq.to_bytes(8, "little", signed=True)
    assert ours[4 + m.REQUEST_HEADER_SIZE:] == ref[4:]


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_round_trip(name, typestore):
    msg = EXAMPLES[name]
    data = m.serialize(msg)
    back = m.deserialize(type(msg), data)
    assert back == msg
    if msg.ros_type not in _SRV_NAMES:  # and we read what rosbags wrote
        assert m.deserialize(type(msg), rosbags_bytes(msg, typestore)) == msg
        # ... and rosbags reads what we wrote
        decoded = typestore.deserialize_cdr(data, msg.ros_type)
        assert decoded.__msgtype__ == msg.ros_type


def test_deserialize_rejects_xcdr2():
    data = bytearray(m.serialize(m.Time(1, 2)))
    data[1] = 0x07  # D_CDR2_LE
    with pytest.raises(ValueError, match="XCDR1"):
        m.deserialize(m.Time, bytes(data))


def test_big_endian_payload_is_readable():
    msg = m.JointState(m.header(1.0, "x"), ["j"], [1.0], [2.0], [3.0])
    from cyclonedds.idl._support import Endianness
    be = msg.serialize(endianness=Endianness.Big, use_version_2=False)
    assert be[:2] == b"\x00\x00"
    assert m.deserialize(m.JointState, be) == msg


@pytest.mark.parametrize("t_s,sec,nsec", [(0.0, 0, 0), (1.5, 1, 500_000_000),
                                           (-0.5, -1, 500_000_000), (1e9 + 0.25, 1_000_000_000,
                                                                      250_000_000)])
def test_time_helpers(t_s, sec, nsec):
    stamp = m.time_from_seconds(t_s)
    assert (stamp.sec, stamp.nanosec) == (sec, nsec)
    assert m.seconds_from_time(stamp) == pytest.approx(t_s)
    h = m.header(t_s, "f")
    assert h.stamp == stamp and h.frame_id == "f"


_names = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
                 max_size=12)
_floats = st.floats(allow_nan=False, width=64)


@settings(max_examples=150, deadline=None)
@given(sec=st.integers(-2**31, 2**31 - 1), nsec=st.integers(0, 2**32 - 1), frame=_names,
       names=st.lists(_names, max_size=8), pos=st.lists(_floats, max_size=8),
       vel=st.lists(_floats, max_size=8), eff=st.lists(_floats, max_size=8))
def test_joint_state_property(typestore, sec, nsec, frame, names, pos, vel, eff):
    msg = m.JointState(m.Header(m.Time(sec, nsec), frame), names, pos, vel, eff)
    ours = m.serialize(msg)
    assert ours == rosbags_bytes(msg, typestore)
    assert m.deserialize(m.JointState, ours) == msg


def test_diagnostic_level_constants_match_ros(typestore):
    ref = typestore.types["diagnostic_msgs/msg/DiagnosticStatus"]
    for name in ("OK", "WARN", "ERROR", "STALE"):
        assert getattr(m.DiagnosticStatus, name) == getattr(ref, name)
