"""The Crazyflie's wire interface (CRTP): the facts the ground link (robot_learning/hardware/crazyflie/)
and the simulated vehicle (robot_learning/bridges/crazyflie_crtp_sim.py) share.

Numbers only, from the public protocol (cflib, crazyflie-firmware) and the interface of our on-board
RL controller (firmware/crazyflie/): the policy flies while a position setpoint from the ground is
younger than :data:`TRIGGER_TIMEOUT_S`, with ``stabilizer.controller`` = :data:`CONTROLLER_OOT` and
``rlctl.mode`` = :data:`RLCTL_MODE_POLICY`.
"""
from __future__ import annotations

import math

# ------------------------------------------------------------------------------- CRTP framing
MAX_PAYLOAD = 30  # bytes after the header byte
NULL_HEADER = 0xFF  # port 15, channel 3: the link's "nothing to say" packet (the UDP scan probe)


def header(port: int, channel: int) -> int:
    """The CRTP header byte: port in the high nibble, the two link bits set, channel in bits 0-1."""
    return ((port & 0x0F) << 4) | 0x0C | (channel & 0x03)


def split_header(h: int) -> tuple[int, int]:
    """(port, channel) of a header byte."""
    return (h >> 4) & 0x0F, h & 0x03


# ports
PORT_CONSOLE = 0x0
PORT_PARAM = 0x2
PORT_COMMANDER = 0x3  # legacy roll/pitch/yaw-rate/thrust setpoint (cflib sends a zero one on close)
PORT_MEM = 0x4
PORT_LOG = 0x5
PORT_LOCALIZATION = 0x6
PORT_COMMANDER_GENERIC = 0x7
PORT_SUPERVISOR = 0x9
PORT_PLATFORM = 0xD
PORT_LINKCTRL = 0xF

# generic commander (port 7)
SETPOINT_CHANNEL = 0
META_CHANNEL = 1
SETPOINT_STOP = 0
SETPOINT_FULL_STATE = 6
SETPOINT_POSITION = 7  # <Bffff: type, x, y, z (m), yaw (deg)
META_NOTIFY_SETPOINT_STOP = 0

# emergency stop: the supervisor's command channel (CRTP protocol >= 12), or the legacy localization one
SUPERVISOR_COMMAND_CHANNEL = 1
SUPERVISOR_INFO_CHANNEL = 0
SUPERVISOR_ARM = 0x01
SUPERVISOR_EMERGENCY_STOP = 0x03
SUPERVISOR_EMERGENCY_STOP_WATCHDOG = 0x04
SUPERVISOR_GET_STATE = 0x0C
LOCALIZATION_GENERIC_CHANNEL = 1
LOCALIZATION_EMERGENCY_STOP = 3

# ------------------------------------------------------------------------------- parameters
CONTROLLER_PARAM = "stabilizer.controller"  # uint8
CONTROLLER_OOT = 6  # ControllerType: AutoSelect, PID, Mellinger, INDI, Brescianini, Lee, Oot
MODE_PARAM = "rlctl.mode"  # uint8
RLCTL_MODE_OFF = 0  # stock controller / motors off
RLCTL_MODE_POLICY = 1  # the policy while triggered
SELFTEST_PARAM = "rlctl.selftest"  # read-only uint8: the boot self-test's result
SELFTEST_NOT_RUN = 0  # the out-of-tree controller's init (which runs it) has not been called
SELFTEST_PASSED = 1
SELFTEST_FAILED = 2
TRIGGER_TIMEOUT_S = 0.2  # the on-board dead-man switch

# ------------------------------------------------------------------------------- logging
LOG_PERIOD_MS = 10  # 100 Hz
LOG_MAX_BLOCK_BYTES = 26
#: the state the ground logs at 100 Hz, in blocks of at most 26 bytes (cflib's LogConfig.MAX_LEN):
#: stock firmware variables (stateEstimate: m, m/s, quaternion; gyro: deg/s; motor: 16-bit ratios) and
#: the RL controller's ``rlctl.active`` (1 while the policy has the motors)
LOG_BLOCKS: dict[str, tuple[tuple[str, str], ...]] = {
    "rl_posvel": tuple((f"stateEstimate.{n}", "float") for n in ("x", "y", "z", "vx", "vy", "vz")),
    "rl_quat": tuple((f"stateEstimate.{n}", "float") for n in ("qx", "qy", "qz", "qw")),
    "rl_gyro_motor": (*((f"gyro.{n}", "float") for n in ("x", "y", "z")),
                      *((f"motor.m{i}", "uint16_t") for i in range(1, 5)), ("rlctl.active", "uint8_t")),
}
TYPE_SIZES = {"uint8_t": 1, "uint16_t": 2, "uint32_t": 4, "int8_t": 1, "int16_t": 2, "int32_t": 4, "float": 4, "FP16": 2}
MOTOR_RATIO_MAX = 65535  # motor.mN: rpm / rpm_max x 65535 (the paper's firmware mapping)
DEG = math.pi / 180.0


def block_bytes(name: str) -> int:
    return sum(TYPE_SIZES[t] for _, t in LOG_BLOCKS[name])


assert all(block_bytes(b) <= LOG_MAX_BLOCK_BYTES for b in LOG_BLOCKS)
