"""Unitree's ``unitree_hg`` low-level messages (G1, H1-2) on Cyclone DDS, their C layout and CRC.

The G1 listens on ``rt/lowcmd`` for :class:`LowCmd_` and publishes :class:`LowState_` on
``rt/lowstate`` (about 500 Hz). The types below have Unitree's DDS type names
(``unitree_hg::msg::dds_::LowCmd_`` ...) and field order, so the robot's participants and ours match.

The robot checks a CRC in every LowCmd and drops a command whose CRC is wrong; it sends one in every
LowState. The CRC is not over the DDS (CDR) bytes but over the message as the robot's C code holds
it: packed little endian with C struct padding (:data:`LOWCMD_FORMAT`, 1004 bytes;
:data:`LOWSTATE_FORMAT`, 2092 bytes), read as 32-bit words, every word before ``crc`` (250 words for
a LowCmd), CRC-32 with polynomial 0x04C11DB7, initial value 0xFFFFFFFF, each word fed most
significant bit first, no reflection, no final XOR. That equals CRC-32/MPEG-2 over each word's
big-endian bytes; :func:`crc32_words` gets it from zlib's (reflected) CRC-32 by reversing the bits
of every byte and of the result, so it runs at C speed.

Also here: the request/response types of Unitree's API services (``unitree_api``), which carry the
motion switcher's calls (see :mod:`robot_learning.runtime.unitree.motion_switcher`). Torch-free.
"""
# No `from __future__ import annotations`: cyclonedds resolves the field annotations at runtime.

import struct
import zlib
from dataclasses import dataclass, field

import numpy as np
from cyclonedds.idl import IdlStruct
from cyclonedds.idl import types as t
from cyclonedds.idl.annotations import final

NUM_MOTORS = 35  # slots in every LowCmd/LowState; the 29-DoF G1 uses 0..28
LOWCMD_TOPIC = "rt/lowcmd"
LOWSTATE_TOPIC = "rt/lowstate"
MODE_PR = 0  # ankles and waist commanded as serial pitch/roll joints
MODE_AB = 1  # ... as the parallel motors A and B

# packed little endian with C padding (the robot's C structs)
_MOTOR_CMD = "B3x5fI"  # mode, (pad), q, dq, tau, kp, kd, reserve
_IMU = "13fh2x"  # quaternion 4, gyroscope 3, accelerometer 3, rpy 3, temperature, (pad)
_MOTOR_STATE = "B3x4f2hf7I"  # mode, (pad), q, dq, ddq, tau_est, temperature 2, vol, sensor 2, motorstate, reserve 4
LOWCMD_FORMAT = "<2B2x" + _MOTOR_CMD * NUM_MOTORS + "5I"  # mode_pr, mode_machine, (pad), motors, reserve 4, crc
LOWSTATE_FORMAT = "<2I2B2xI" + _IMU + _MOTOR_STATE * NUM_MOTORS + "40B5I"  # version 2, mode_pr, mode_machine, (pad), tick, ..., crc
LOWCMD_SIZE = struct.calcsize(LOWCMD_FORMAT)  # 1004
LOWSTATE_SIZE = struct.calcsize(LOWSTATE_FORMAT)  # 2092
_LOWCMD = struct.Struct(LOWCMD_FORMAT)
_LOWSTATE = struct.Struct(LOWSTATE_FORMAT)


# ------------------------------------------------------------------------------ the types
@final
@dataclass
class MotorCmd_(IdlStruct, typename="unitree_hg::msg::dds_::MotorCmd_"):
    mode: t.uint8 = 0  # 1 enable, 0 disable
    q: t.float32 = 0.0  # rad
    dq: t.float32 = 0.0  # rad/s
    tau: t.float32 = 0.0  # N m, feed-forward
    kp: t.float32 = 0.0  # N m/rad
    kd: t.float32 = 0.0  # N m s/rad
    reserve: t.uint32 = 0


@final
@dataclass
class LowCmd_(IdlStruct, typename="unitree_hg::msg::dds_::LowCmd_"):
    mode_pr: t.uint8 = MODE_PR
    mode_machine: t.uint8 = 0
    motor_cmd: t.array[MotorCmd_, NUM_MOTORS] = field(default_factory=lambda: [MotorCmd_() for _ in range(NUM_MOTORS)])
    reserve: t.array[t.uint32, 4] = field(default_factory=lambda: [0, 0, 0, 0])
    crc: t.uint32 = 0


@final
@dataclass
class IMUState_(IdlStruct, typename="unitree_hg::msg::dds_::IMUState_"):
    quaternion: t.array[t.float32, 4] = field(default_factory=lambda: [1.0, 0.0, 0.0, 0.0])  # w, x, y, z
    gyroscope: t.array[t.float32, 3] = field(default_factory=lambda: [0.0] * 3)  # rad/s, body frame
    accelerometer: t.array[t.float32, 3] = field(default_factory=lambda: [0.0] * 3)  # m/s^2
    rpy: t.array[t.float32, 3] = field(default_factory=lambda: [0.0] * 3)  # rad
    temperature: t.int16 = 0


@final
@dataclass
class MotorState_(IdlStruct, typename="unitree_hg::msg::dds_::MotorState_"):
    mode: t.uint8 = 0
    q: t.float32 = 0.0
    dq: t.float32 = 0.0
    ddq: t.float32 = 0.0
    tau_est: t.float32 = 0.0
    temperature: t.array[t.int16, 2] = field(default_factory=lambda: [0, 0])
    vol: t.float32 = 0.0
    sensor: t.array[t.uint32, 2] = field(default_factory=lambda: [0, 0])
    motorstate: t.uint32 = 0
    reserve: t.array[t.uint32, 4] = field(default_factory=lambda: [0, 0, 0, 0])


@final
@dataclass
class LowState_(IdlStruct, typename="unitree_hg::msg::dds_::LowState_"):
    version: t.array[t.uint32, 2] = field(default_factory=lambda: [0, 0])
    mode_pr: t.uint8 = MODE_PR
    mode_machine: t.uint8 = 0
    tick: t.uint32 = 0  # ms since the robot's boot
    imu_state: IMUState_ = field(default_factory=IMUState_)
    motor_state: t.array[MotorState_, NUM_MOTORS] = field(default_factory=lambda: [MotorState_() for _ in range(NUM_MOTORS)])
    wireless_remote: t.array[t.uint8, 40] = field(default_factory=lambda: [0] * 40)
    reserve: t.array[t.uint32, 4] = field(default_factory=lambda: [0, 0, 0, 0])
    crc: t.uint32 = 0


# LowState_ arrives at the robot's rate (about 500 Hz) and the runtime reads it at 50 Hz: cyclonedds'
# generic deserializer walks its 35 nested structs field by field (about 0.7 ms a message on this
# machine, with the interpreter lock held), which starves the control thread and ages the state the
# policy acts on. Its CDR body (little endian, every member aligned to its own size, at most 4 bytes;
# the same in XCDR1 and XCDR2 for this @final type) has a fixed layout, unpacked here in one call.
def _cdr_format(members: str) -> struct.Struct:
    fmt, off = "<", 0
    for c in members:
        size = struct.calcsize(c)
        pad = (-off) % size
        fmt += "x" * pad + c
        off += pad + size
    return struct.Struct(fmt)


_LOWSTATE_CDR = _cdr_format("IIBBI" + "f" * 13 + "h" + ("B" + "f" * 4 + "hh" + "f" + "I" * 7) * NUM_MOTORS + "B" * 40 + "I" * 5)
_CDR_LE = (b"\x00\x01", b"\x00\x07", b"\x00\x09", b"\x00\x0b")  # CDR_LE, CDR2_LE, D_CDR2_LE, PL_CDR2_LE ids: little endian


def _lowstate_from_cdr(cls: type, data: bytes, has_header: bool = True, use_version_2: bool | None = None) -> "LowState_":
    """``LowState_.deserialize``: the fixed layout in one ``struct`` call (a message of another size or
    encoding goes to cyclonedds' own deserializer)."""
    if not has_header or len(data) != 4 + _LOWSTATE_CDR.size or bytes(data[:2]) not in _CDR_LE[:2]:
        return cls.__idl__.deserialize(data, has_header=has_header, use_version_2=use_version_2)
    v = _LOWSTATE_CDR.unpack_from(data, 4)
    imu = IMUState_(list(v[5:9]), list(v[9:12]), list(v[12:15]), list(v[15:18]), v[18])
    motors, k = [], 19
    for _ in range(NUM_MOTORS):
        motors.append(MotorState_(v[k], v[k + 1], v[k + 2], v[k + 3], v[k + 4], [v[k + 5], v[k + 6]], v[k + 7], [v[k + 8], v[k + 9]],
                                  v[k + 10], list(v[k + 11:k + 15])))
        k += 15
    return cls(list(v[0:2]), v[2], v[3], v[4], imu, motors, bytes(v[k:k + 40]), list(v[k + 40:k + 44]), v[k + 44])  # uint8[]: bytes, as cyclonedds gives


LowState_.deserialize = classmethod(_lowstate_from_cdr)  # type: ignore[method-assign, assignment]


# unitree_api: the request/response of Unitree's API services (topics rt/api/<service>/request|response)
@final
@dataclass
class RequestIdentity_(IdlStruct, typename="unitree_api::msg::dds_::RequestIdentity_"):
    id: t.int64 = 0
    api_id: t.int64 = 0


@final
@dataclass
class RequestLease_(IdlStruct, typename="unitree_api::msg::dds_::RequestLease_"):
    id: t.int64 = 0


@final
@dataclass
class RequestPolicy_(IdlStruct, typename="unitree_api::msg::dds_::RequestPolicy_"):
    priority: t.int32 = 0
    noreply: bool = False


@final
@dataclass
class RequestHeader_(IdlStruct, typename="unitree_api::msg::dds_::RequestHeader_"):
    identity: RequestIdentity_ = field(default_factory=RequestIdentity_)
    lease: RequestLease_ = field(default_factory=RequestLease_)
    policy: RequestPolicy_ = field(default_factory=RequestPolicy_)


@final
@dataclass
class Request_(IdlStruct, typename="unitree_api::msg::dds_::Request_"):
    header: RequestHeader_ = field(default_factory=RequestHeader_)
    parameter: str = ""  # JSON
    binary: t.sequence[t.uint8] = field(default_factory=list)


@final
@dataclass
class ResponseStatus_(IdlStruct, typename="unitree_api::msg::dds_::ResponseStatus_"):
    code: t.int32 = 0


@final
@dataclass
class ResponseHeader_(IdlStruct, typename="unitree_api::msg::dds_::ResponseHeader_"):
    identity: RequestIdentity_ = field(default_factory=RequestIdentity_)
    status: ResponseStatus_ = field(default_factory=ResponseStatus_)


@final
@dataclass
class Response_(IdlStruct, typename="unitree_api::msg::dds_::Response_"):
    header: ResponseHeader_ = field(default_factory=ResponseHeader_)
    data: str = ""  # JSON
    binary: t.sequence[t.uint8] = field(default_factory=list)


# ------------------------------------------------------------------------------ the CRC
_BIT_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def _reverse32(x: int) -> int:
    return int(f"{x & 0xFFFFFFFF:032b}"[::-1], 2)


def crc32_words(data: bytes) -> int:
    """The robot's CRC over ``data`` (a whole number of little-endian 32-bit words): polynomial
    0x04C11DB7, init 0xFFFFFFFF, each word MSB first, no reflection, no final XOR."""
    if len(data) % 4:
        raise ValueError(f"the CRC runs over 32-bit words; got {len(data)} bytes")
    big_endian = np.frombuffer(data, dtype="<u4").astype(">u4").tobytes()  # each word's bytes, most significant first
    # zlib's CRC-32 is the reflected form (bytes LSB first, init and final XOR 0xFFFFFFFF): fed the
    # bit-reversed bytes, it runs the MSB-first register bit-reversed; undo its final XOR and reverse back
    return _reverse32(zlib.crc32(big_endian.translate(_BIT_REVERSED)) ^ 0xFFFFFFFF)


# ------------------------------------------------------------------------- pack / unpack
def pack_lowcmd(msg: LowCmd_) -> bytes:
    """``msg`` as the robot's C struct (1004 bytes, little endian, C padding), ``crc`` as it is."""
    values: list = [msg.mode_pr, msg.mode_machine]
    for m in msg.motor_cmd:
        values += (m.mode, m.q, m.dq, m.tau, m.kp, m.kd, m.reserve)
    values += [*msg.reserve, msg.crc]
    return _LOWCMD.pack(*values)


def unpack_lowcmd(data: bytes) -> LowCmd_:
    v = _LOWCMD.unpack(data)
    motors = [MotorCmd_(*v[2 + 7 * i: 9 + 7 * i]) for i in range(NUM_MOTORS)]
    k = 2 + 7 * NUM_MOTORS
    return LowCmd_(v[0], v[1], motors, list(v[k: k + 4]), v[k + 4])


def pack_lowstate(msg: LowState_) -> bytes:
    """``msg`` as the robot's C struct (2092 bytes), ``crc`` as it is."""
    imu = msg.imu_state
    values: list = [*msg.version, msg.mode_pr, msg.mode_machine, msg.tick, *imu.quaternion, *imu.gyroscope, *imu.accelerometer,
                    *imu.rpy, imu.temperature]
    for m in msg.motor_state:
        values += (m.mode, m.q, m.dq, m.ddq, m.tau_est, *m.temperature, m.vol, *m.sensor, m.motorstate, *m.reserve)
    values += [*msg.wireless_remote, *msg.reserve, msg.crc]
    return _LOWSTATE.pack(*values)


def unpack_lowstate(data: bytes) -> LowState_:
    v = _LOWSTATE.unpack(data)
    imu = IMUState_(list(v[5:9]), list(v[9:12]), list(v[12:15]), list(v[15:18]), v[18])
    motors = []
    k = 19
    for _ in range(NUM_MOTORS):
        motors.append(MotorState_(v[k], v[k + 1], v[k + 2], v[k + 3], v[k + 4], [v[k + 5], v[k + 6]], v[k + 7], [v[k + 8], v[k + 9]],
                                  v[k + 10], list(v[k + 11: k + 15])))
        k += 15
    return LowState_([v[0], v[1]], v[2], v[3], v[4], imu, motors, list(v[k: k + 40]), list(v[k + 40: k + 44]), v[k + 44])


def lowcmd_crc(msg: LowCmd_) -> int:
    """The CRC the robot expects in ``msg.crc`` (over the 250 words before it)."""
    return crc32_words(pack_lowcmd(msg)[:-4])


def lowstate_crc(msg: LowState_) -> int:
    return crc32_words(pack_lowstate(msg)[:-4])


def seal(msg: LowCmd_ | LowState_) -> LowCmd_ | LowState_:
    """Fill in ``msg.crc`` (in place); returns ``msg``."""
    msg.crc = lowcmd_crc(msg) if isinstance(msg, LowCmd_) else lowstate_crc(msg)
    return msg


def crc_ok(msg: LowCmd_ | LowState_) -> bool:
    return msg.crc == (lowcmd_crc(msg) if isinstance(msg, LowCmd_) else lowstate_crc(msg))
