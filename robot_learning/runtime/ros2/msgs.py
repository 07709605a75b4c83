"""ROS 2 message types as Cyclone DDS IDL structs, byte-compatible with ``rmw_cyclonedds_cpp``.

Each class here is a Python dataclass that Cyclone DDS can put on the wire. What makes it a *ROS 2*
message rather than just some DDS type is three things, all fixed here:

* the DDS type name is the one ROS 2 registers, ``pkg::msg::dds_::Type_`` (services:
  ``pkg::srv::dds_::Type_Request_`` / ``Type_Response_``);
* the field names, types and order are exactly those of the ROS 2 ``.msg`` definition;
* the encoding is plain CDR, i.e. XCDR1 with encapsulation id ``0x0001`` (CDR_LE) -- what ROS 2 and
  rosbag2 use. XTypes' XCDR2 (ids 0x0006/0x0007...) would not be understood by a ROS 2 node.

How XCDR1 is forced: every struct is annotated ``@final`` (no XCDR2-only appendable/mutable headers)
and ``@cdrv0``, which tells the cyclonedds Python binding that the type *disallows* XCDR2, so its
default data representation becomes XCDR1 both for :func:`serialize` here and for the DataWriters
in :mod:`robot_learning.runtime.ros2.dds` (which additionally set the DDS ``DataRepresentation``
QoS to XCDR1 only). :func:`serialize` always writes little endian, as every ROS 2 platform does.

Every class has a class attribute ``ros_type`` (e.g. ``"sensor_msgs/msg/JointState"``), and
:data:`MESSAGE_TYPES` maps those names to the classes. Python class names follow the ROS names,
except the service parts, which are named ``Trigger_Request`` / ``Trigger_Response``.

Service messages: ``rmw_cyclonedds_cpp`` puts an 16-byte request header in front of every request
and reply, ``uint64 guid`` (instance handle of the client's request writer) then ``int64 seq``
(the client's sequence number), serialised in the same CDR stream just before the message fields
(see ``cdds_request_header_t`` in rmw_cyclonedds_cpp ``src/serdata.hpp`` and
``rmw_send_request``/``rmw_send_response`` in ``src/rmw_node.cpp``). We model it as the first two
fields of :class:`Trigger_Request` and :class:`Trigger_Response`. Because the header is 16 bytes
and starts at stream offset 0, the message part starts at offset 16 of the CDR body (byte 20 of the
payload including the 4-byte encapsulation header), which is 8-aligned, so it is byte-identical to
the message serialised on its own (its bytes after the encapsulation header).

Nothing in this module imports torch.
"""
# No `from __future__ import annotations`: cyclonedds resolves the field annotations at runtime.

import math
from dataclasses import dataclass, field
from typing import TypeVar

from cyclonedds.idl import IdlStruct
from cyclonedds.idl import types as t
from cyclonedds.idl._machinery import BytesMachine, KeyEnabled
from cyclonedds.idl._support import Endianness, SerializeKind
from cyclonedds.idl.annotations import cdrv0, final

__all__ = [
    "MESSAGE_TYPES",
    "REQUEST_HEADER_SIZE",
    "DiagnosticArray",
    "DiagnosticStatus",
    "Float64MultiArray",
    "CompressedImage",
    "Header",
    "Image",
    "Imu",
    "JointState",
    "KeyValue",
    "MultiArrayDimension",
    "MultiArrayLayout",
    "Odometry",
    "Point",
    "Pose",
    "PoseStamped",
    "PoseWithCovariance",
    "Quaternion",
    "Time",
    "Empty_Request",
    "Empty_Response",
    "Trigger_Request",
    "Trigger_Response",
    "Twist",
    "TwistStamped",
    "TwistWithCovariance",
    "Vector3",
    "deserialize",
    "header",
    "seconds_from_time",
    "serialize",
    "time_from_seconds",
]

#: Size in bytes of the rmw_cyclonedds_cpp request header (uint64 guid + int64 seq).
REQUEST_HEADER_SIZE = 16

# Encapsulation identifiers (first two bytes of a serialized payload, big-endian on the wire).
_CDR_BE = b"\x00\x00"
_CDR_LE = b"\x00\x01"


# ---------------------------------------------------------------- builtin_interfaces / std_msgs
@cdrv0
@final
@dataclass
class Time(IdlStruct, typename="builtin_interfaces::msg::dds_::Time_"):
    """builtin_interfaces/msg/Time: seconds and nanoseconds since the epoch of the clock."""

    ros_type = "builtin_interfaces/msg/Time"
    sec: t.int32 = 0
    nanosec: t.uint32 = 0


@cdrv0
@final
@dataclass
class Header(IdlStruct, typename="std_msgs::msg::dds_::Header_"):
    """std_msgs/msg/Header: time stamp and coordinate frame of the data."""

    ros_type = "std_msgs/msg/Header"
    stamp: Time = field(default_factory=Time)
    frame_id: str = ""


# ---------------------------------------------------------------- geometry_msgs
@cdrv0
@final
@dataclass
class Vector3(IdlStruct, typename="geometry_msgs::msg::dds_::Vector3_"):
    """geometry_msgs/msg/Vector3."""

    ros_type = "geometry_msgs/msg/Vector3"
    x: t.float64 = 0.0
    y: t.float64 = 0.0
    z: t.float64 = 0.0


@cdrv0
@final
@dataclass
class Point(IdlStruct, typename="geometry_msgs::msg::dds_::Point_"):
    """geometry_msgs/msg/Point."""

    ros_type = "geometry_msgs/msg/Point"
    x: t.float64 = 0.0
    y: t.float64 = 0.0
    z: t.float64 = 0.0


@cdrv0
@final
@dataclass
class Quaternion(IdlStruct, typename="geometry_msgs::msg::dds_::Quaternion_"):
    """geometry_msgs/msg/Quaternion (x, y, z, w; identity by default, as in ROS 2)."""

    ros_type = "geometry_msgs/msg/Quaternion"
    x: t.float64 = 0.0
    y: t.float64 = 0.0
    z: t.float64 = 0.0
    w: t.float64 = 1.0


@cdrv0
@final
@dataclass
class Pose(IdlStruct, typename="geometry_msgs::msg::dds_::Pose_"):
    """geometry_msgs/msg/Pose."""

    ros_type = "geometry_msgs/msg/Pose"
    position: Point = field(default_factory=Point)
    orientation: Quaternion = field(default_factory=Quaternion)


@cdrv0
@final
@dataclass
class PoseWithCovariance(IdlStruct, typename="geometry_msgs::msg::dds_::PoseWithCovariance_"):
    """geometry_msgs/msg/PoseWithCovariance (row-major 6x6 covariance)."""

    ros_type = "geometry_msgs/msg/PoseWithCovariance"
    pose: Pose = field(default_factory=Pose)
    covariance: t.array[t.float64, 36] = field(default_factory=lambda: [0.0] * 36)


@cdrv0
@final
@dataclass
class Twist(IdlStruct, typename="geometry_msgs::msg::dds_::Twist_"):
    """geometry_msgs/msg/Twist."""

    ros_type = "geometry_msgs/msg/Twist"
    linear: Vector3 = field(default_factory=Vector3)
    angular: Vector3 = field(default_factory=Vector3)


@cdrv0
@final
@dataclass
class TwistWithCovariance(IdlStruct, typename="geometry_msgs::msg::dds_::TwistWithCovariance_"):
    """geometry_msgs/msg/TwistWithCovariance (row-major 6x6 covariance)."""

    ros_type = "geometry_msgs/msg/TwistWithCovariance"
    twist: Twist = field(default_factory=Twist)
    covariance: t.array[t.float64, 36] = field(default_factory=lambda: [0.0] * 36)


@cdrv0
@final
@dataclass
class PoseStamped(IdlStruct, typename="geometry_msgs::msg::dds_::PoseStamped_"):
    """geometry_msgs/msg/PoseStamped."""

    ros_type = "geometry_msgs/msg/PoseStamped"
    header: Header = field(default_factory=Header)
    pose: Pose = field(default_factory=Pose)


@cdrv0
@final
@dataclass
class TwistStamped(IdlStruct, typename="geometry_msgs::msg::dds_::TwistStamped_"):
    """geometry_msgs/msg/TwistStamped."""

    ros_type = "geometry_msgs/msg/TwistStamped"
    header: Header = field(default_factory=Header)
    twist: Twist = field(default_factory=Twist)


# ---------------------------------------------------------------- sensor_msgs / nav_msgs
@cdrv0
@final
@dataclass
class JointState(IdlStruct, typename="sensor_msgs::msg::dds_::JointState_"):
    """sensor_msgs/msg/JointState: per-joint name, position, velocity, effort (any may be empty)."""

    ros_type = "sensor_msgs/msg/JointState"
    header: Header = field(default_factory=Header)
    name: t.sequence[str] = field(default_factory=list)
    position: t.sequence[t.float64] = field(default_factory=list)
    velocity: t.sequence[t.float64] = field(default_factory=list)
    effort: t.sequence[t.float64] = field(default_factory=list)


@cdrv0
@final
@dataclass
class Imu(IdlStruct, typename="sensor_msgs::msg::dds_::Imu_"):
    """sensor_msgs/msg/Imu (covariances row-major 3x3; element 0 = -1 means "not provided")."""

    ros_type = "sensor_msgs/msg/Imu"
    header: Header = field(default_factory=Header)
    orientation: Quaternion = field(default_factory=Quaternion)
    orientation_covariance: t.array[t.float64, 9] = field(default_factory=lambda: [0.0] * 9)
    angular_velocity: Vector3 = field(default_factory=Vector3)
    angular_velocity_covariance: t.array[t.float64, 9] = field(default_factory=lambda: [0.0] * 9)
    linear_acceleration: Vector3 = field(default_factory=Vector3)
    linear_acceleration_covariance: t.array[t.float64, 9] = field(default_factory=lambda: [0.0] * 9)


@cdrv0
@final
@dataclass
class Odometry(IdlStruct, typename="nav_msgs::msg::dds_::Odometry_"):
    """nav_msgs/msg/Odometry: pose in ``header.frame_id``, twist in ``child_frame_id``."""

    ros_type = "nav_msgs/msg/Odometry"
    header: Header = field(default_factory=Header)
    child_frame_id: str = ""
    pose: PoseWithCovariance = field(default_factory=PoseWithCovariance)
    twist: TwistWithCovariance = field(default_factory=TwistWithCovariance)


@cdrv0
@final
@dataclass
class Image(IdlStruct, typename="sensor_msgs::msg::dds_::Image_"):
    """sensor_msgs/msg/Image: an uncompressed frame, ``height`` rows of ``step`` bytes each.

    ``data`` is ROS ``uint8[]`` (the type ROS 2 registers), carried as ``bytes`` (see
    :func:`_bytes_on_the_wire`: a 640 x 480 RGB frame is 921 600 elements). Pixels to and from
    numpy: :mod:`robot_learning.runtime.ros2.images`.
    """

    ros_type = "sensor_msgs/msg/Image"
    header: Header = field(default_factory=Header)
    height: t.uint32 = 0
    width: t.uint32 = 0
    encoding: str = ""
    is_bigendian: t.uint8 = 0
    step: t.uint32 = 0
    data: t.sequence[t.uint8] = b""  # type: ignore[assignment]  (bytes: see _bytes_on_the_wire)


@cdrv0
@final
@dataclass
class CompressedImage(IdlStruct, typename="sensor_msgs::msg::dds_::CompressedImage_"):
    """sensor_msgs/msg/CompressedImage: ``format`` (e.g. ``jpeg``, ``png``, or image_transport's
    ``rgb8; jpeg compressed bgr8``) and the encoded file's bytes (``uint8[]``, as in :class:`Image`)."""

    ros_type = "sensor_msgs/msg/CompressedImage"
    header: Header = field(default_factory=Header)
    format: str = ""
    data: t.sequence[t.uint8] = b""  # type: ignore[assignment]  (bytes: see _bytes_on_the_wire)


class _Uint8Sequence(BytesMachine):
    """CDR ``sequence<uint8>`` read and written as one ``bytes`` block: a 4-byte aligned uint32
    length, then the bytes. Takes anything ``bytes()`` takes (bytes, numpy arrays, rclpy's
    ``array('B')``, a list of ints) and returns ``bytes``."""

    def serialize(self, buffer, value, serialize_kind=SerializeKind.DataSample, key_enabled=KeyEnabled.InKeylist):  # noqa: ANN001, ANN201
        super().serialize(buffer, value if isinstance(value, bytes) else bytes(value), serialize_kind, key_enabled)


def _bytes_on_the_wire(cls: type, name: str) -> None:
    """Make field ``name`` (declared ``sequence[uint8]``) travel as ``bytes``.

    The declaration keeps the DDS type information exactly ROS 2's (``sequence<uint8>``), which the
    binding needs to announce the type; its own machine for that declaration packs and unpacks one
    Python int per element (tens of ms and a 900 k-element list per VGA frame). The bytes on the
    wire are identical either way (checked against rosbags in tests/test_ros2_wire.py), so after the
    type is built its (private) per-field machine is replaced by :class:`_Uint8Sequence`.
    """
    idl = cls.__idl__  # type: ignore[attr-defined]
    idl.populate()
    for machine in (idl.v1_machine, idl.v2_machine):
        members = getattr(machine, "members_machines", None)
        if not isinstance(members, dict) or name not in members:  # a cyclonedds change: fail loudly at import
            raise RuntimeError(f"cannot carry {cls.__name__}.{name} as bytes with this cyclonedds version")
        members[name] = _Uint8Sequence()


# ---------------------------------------------------------------- std_msgs multi-arrays
@cdrv0
@final
@dataclass
class MultiArrayDimension(IdlStruct, typename="std_msgs::msg::dds_::MultiArrayDimension_"):
    """std_msgs/msg/MultiArrayDimension."""

    ros_type = "std_msgs/msg/MultiArrayDimension"
    label: str = ""
    size: t.uint32 = 0
    stride: t.uint32 = 0


@cdrv0
@final
@dataclass
class MultiArrayLayout(IdlStruct, typename="std_msgs::msg::dds_::MultiArrayLayout_"):
    """std_msgs/msg/MultiArrayLayout."""

    ros_type = "std_msgs/msg/MultiArrayLayout"
    dim: t.sequence[MultiArrayDimension] = field(default_factory=list)
    data_offset: t.uint32 = 0


@cdrv0
@final
@dataclass
class Float64MultiArray(IdlStruct, typename="std_msgs::msg::dds_::Float64MultiArray_"):
    """std_msgs/msg/Float64MultiArray."""

    ros_type = "std_msgs/msg/Float64MultiArray"
    layout: MultiArrayLayout = field(default_factory=MultiArrayLayout)
    data: t.sequence[t.float64] = field(default_factory=list)


# ---------------------------------------------------------------- diagnostic_msgs
@cdrv0
@final
@dataclass
class KeyValue(IdlStruct, typename="diagnostic_msgs::msg::dds_::KeyValue_"):
    """diagnostic_msgs/msg/KeyValue."""

    ros_type = "diagnostic_msgs/msg/KeyValue"
    key: str = ""
    value: str = ""


@cdrv0
@final
@dataclass
class DiagnosticStatus(IdlStruct, typename="diagnostic_msgs::msg::dds_::DiagnosticStatus_"):
    """diagnostic_msgs/msg/DiagnosticStatus; ``level`` is one of the class constants OK..STALE."""

    ros_type = "diagnostic_msgs/msg/DiagnosticStatus"
    OK = 0
    WARN = 1
    ERROR = 2
    STALE = 3
    level: t.byte = 0
    name: str = ""
    message: str = ""
    hardware_id: str = ""
    values: t.sequence[KeyValue] = field(default_factory=list)


@cdrv0
@final
@dataclass
class DiagnosticArray(IdlStruct, typename="diagnostic_msgs::msg::dds_::DiagnosticArray_"):
    """diagnostic_msgs/msg/DiagnosticArray."""

    ros_type = "diagnostic_msgs/msg/DiagnosticArray"
    header: Header = field(default_factory=Header)
    status: t.sequence[DiagnosticStatus] = field(default_factory=list)


# ---------------------------------------------------------------- std_srvs/Trigger
@cdrv0
@final
@dataclass
class Trigger_Request(IdlStruct, typename="std_srvs::srv::dds_::Trigger_Request_"):
    """std_srvs/srv/Trigger request as rmw_cyclonedds_cpp puts it on the wire.

    ``guid`` and ``seq`` are the rmw request header (see the module docstring), not part of the
    ROS message; the ROS message itself is the single placeholder byte that rosidl generates for
    empty requests.
    """

    ros_type = "std_srvs/srv/Trigger_Request"
    guid: t.uint64 = 0
    seq: t.int64 = 0
    structure_needs_at_least_one_member: t.uint8 = 0


@cdrv0
@final
@dataclass
class Trigger_Response(IdlStruct, typename="std_srvs::srv::dds_::Trigger_Response_"):
    """std_srvs/srv/Trigger reply as rmw_cyclonedds_cpp puts it on the wire.

    ``guid``/``seq`` echo the request's header so the client can match the reply to its request.
    """

    ros_type = "std_srvs/srv/Trigger_Response"
    guid: t.uint64 = 0
    seq: t.int64 = 0
    success: bool = False
    message: str = ""


# ---------------------------------------------------------------- std_srvs/Empty
@cdrv0
@final
@dataclass
class Empty_Request(IdlStruct, typename="std_srvs::srv::dds_::Empty_Request_"):
    """std_srvs/srv/Empty request on the wire: the rmw request header, then rosidl's placeholder byte."""

    ros_type = "std_srvs/srv/Empty_Request"
    guid: t.uint64 = 0
    seq: t.int64 = 0
    structure_needs_at_least_one_member: t.uint8 = 0


@cdrv0
@final
@dataclass
class Empty_Response(IdlStruct, typename="std_srvs::srv::dds_::Empty_Response_"):
    """std_srvs/srv/Empty reply on the wire: the request's header echoed, then the placeholder byte."""

    ros_type = "std_srvs/srv/Empty_Response"
    guid: t.uint64 = 0
    seq: t.int64 = 0
    structure_needs_at_least_one_member: t.uint8 = 0


_bytes_on_the_wire(Image, "data")
_bytes_on_the_wire(CompressedImage, "data")

#: ROS type name (``pkg/msg/Type``) -> message class, for every type defined here.
MESSAGE_TYPES: dict[str, type] = {
    cls.ros_type: cls
    for cls in (
        Time, Header, Vector3, Point, Quaternion, Pose, PoseWithCovariance, Twist,
        TwistWithCovariance, PoseStamped, TwistStamped, JointState, Imu, Odometry, Image, CompressedImage,
        MultiArrayDimension, MultiArrayLayout, Float64MultiArray, KeyValue, DiagnosticStatus,
        DiagnosticArray, Trigger_Request, Trigger_Response, Empty_Request, Empty_Response,
    )
}


# ---------------------------------------------------------------- helpers
def time_from_seconds(t_s: float) -> Time:
    """A :class:`Time` from seconds (float). Negative times are floored, so ``nanosec`` stays in
    ``[0, 1e9)`` as ROS requires (``-0.5 s`` -> ``sec=-1, nanosec=500000000``)."""
    total_ns = round(t_s * 1e9)
    sec, nanosec = divmod(total_ns, 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)


def seconds_from_time(stamp: Time) -> float:
    """Seconds (float) from a :class:`Time`."""
    return stamp.sec + stamp.nanosec * 1e-9


def header(t_s: float, frame_id: str = "") -> Header:
    """A :class:`Header` stamped ``t_s`` seconds, in frame ``frame_id``."""
    if not math.isfinite(t_s):
        raise ValueError(f"header stamp must be finite, got {t_s}")
    return Header(stamp=time_from_seconds(t_s), frame_id=frame_id)


def serialize(msg: IdlStruct) -> bytes:
    """The complete CDR payload of ``msg``: 4-byte encapsulation header ``00 01 00 00`` (XCDR1,
    little endian) followed by the CDR body -- exactly what rosbag2 stores for a message."""
    data = msg.serialize(endianness=Endianness.Little, use_version_2=False)
    if data[:2] != _CDR_LE:  # cannot happen with @cdrv0 types; guards against a library change
        raise RuntimeError(f"{type(msg).__name__} did not serialize as XCDR1 CDR_LE: {data[:4]!r}")
    return data


_M = TypeVar("_M", bound=IdlStruct)


def deserialize(cls: type[_M], data: bytes) -> _M:
    """Decode a CDR payload (with its 4-byte encapsulation header, as :func:`serialize` and
    rosbag2 produce) into an instance of ``cls``. Raises ``ValueError`` for anything but plain
    CDR (XCDR1, either endianness)."""
    head = bytes(data[:2])
    if head not in (_CDR_LE, _CDR_BE):
        raise ValueError(
            f"not a plain-CDR (XCDR1) payload: encapsulation id {head.hex()} "
            f"(expected 0001 CDR_LE or 0000 CDR_BE)")
    return cls.deserialize(bytes(data))
