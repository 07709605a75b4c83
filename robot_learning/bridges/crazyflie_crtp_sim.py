"""A simulated Crazyflie that answers CRTP over UDP on loopback, as cflib's ``udp://`` driver expects.

cflib's UDP driver puts one CRTP packet in each datagram (header byte, then at most 30 bytes of
payload) with no handshake of its own, so this vehicle only has to speak CRTP. It speaks enough of it
for the ground link (robot_learning/hardware/crazyflie/link.py) and for cflib's connection set-up:

- link control (echo, the "Bitcraze Crazyflie" source string) and the platform's protocol version (12);
- the memory count (none), the parameter TOC, reads and writes (v2 TOC, 16-bit ids);
- the log TOC and log blocks (create, append, start, stop, delete, reset; data every period);
- generic setpoints (position: the trigger; stop), the supervisor's state and emergency stop, and
  the legacy localization emergency stop.

Behind it flies the platform's PyBullet Crazyflie (robot_learning/sim/pybullet_quadrotor.py) with the
shipped hover policy, run by the runtime's own quadrotor controller in lock-step with the physics,
as our on-board firmware (firmware/crazyflie/) runs it: the policy has the motors only while
``stabilizer.controller`` is the out-of-tree controller, ``rlctl.mode`` is 1 and the newest
absolute-position setpoint (position or full state) is younger than 200 ms (the dead-man switch;
otherwise motors off). ``rlctl.selftest`` reads 0 (not run) until the out-of-tree controller is
selected, whose init runs the test. The vehicle has no stock controller: with ``rlctl.mode`` 0
its motors stay off (the firmware hands over to the stock PID). The yaw of a setpoint is ignored (the policy holds a position).
An emergency stop latches until the vehicle is restarted. On board, the position error is clipped
to the training range by the observation (as the firmware does); the controller's ground-side
"training box" check is off here, the ground link's monitors stand in for it.

Loopback only: it refuses to bind anything but a loopback address.

Run one: ``python -m robot_learning.bridges.crazyflie_crtp_sim --port 19850`` and connect to
``udp://127.0.0.1:19850``.
"""
from __future__ import annotations

import argparse
import errno
import ipaddress
import math
import socket
import struct
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np

from robot_learning.core.checks import check
from robot_learning.core.config import ConfigError
from robot_learning.robots import crazyflie_crtp as P

DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "assets" / "policies" / "crazyflie_hover.onnx"
PROTOCOL_VERSION = 12  # >= 12: the supervisor channel carries the emergency stop
MAGIC = b"Bitcraze Crazyflie"

# parameter TOC types (cflib ParamTocElement), and the read-only flag
PARAM_UINT8 = 0x08
PARAM_FLOAT = 0x06
PARAM_RO = 0x40
PARAM_FORMATS = {PARAM_UINT8: "<B", PARAM_FLOAT: "<f"}
# log TOC types (cflib LogTocElement): id -> struct format
LOG_TYPES = {"uint8_t": 1, "uint16_t": 2, "uint32_t": 3, "int8_t": 4, "int16_t": 5, "int32_t": 6, "float": 7, "FP16": 8}
LOG_FORMATS = {1: "<B", 2: "<H", 3: "<L", 4: "<b", 5: "<h", 6: "<i", 7: "<f", 8: "<e"}
LOG_MAX_BLOCKS = 16


@dataclass
class CrtpSimConfig:
    host: str = "127.0.0.1"
    port: int = 19850  # 0: any free port (see SimulatedCrazyflie.port)
    policy: str = str(DEFAULT_POLICY)
    start: tuple[float, float, float] = (0.0, 0.0, 0.0)  # on the ground
    rate_hz: float = 100.0  # physics and policy (the policy's training rate)
    trigger_timeout_s: float = P.TRIGGER_TIMEOUT_S
    selftest: int = P.SELFTEST_PASSED  # rlctl.selftest once the out-of-tree controller is selected (0 before: not run)
    with_rlctl: bool = True  # False: a stock firmware without our parameters

    def __post_init__(self) -> None:
        check(self, positive=("rate_hz", "trigger_timeout_s"), non_negative=("port",))
        try:
            loopback = ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            loopback = self.host == "localhost"
        if not loopback:
            raise ConfigError(f"the simulated Crazyflie binds loopback only (127.0.0.1), not {self.host!r}")
        if self.port > 65535:
            raise ConfigError(f"port must be in 0..65535, got {self.port}")


@dataclass
class _Param:
    name: str
    kind: int
    value: float
    read_only: bool = False


class SimulatedCrazyflie:
    """The vehicle: a UDP socket thread (CRTP in, replies out) and a physics thread (100 Hz, log data out).

    Observables for tests and tools (thread-safe reads): :meth:`truth` (simulated position),
    ``motors_on``, ``estopped``, ``events`` ((monotonic time, text) of every change: policy on,
    motors off and why, emergency stop), ``last_position_setpoint`` (monotonic time of the newest
    position setpoint), ``setpoints`` (count), ``target``.
    """

    def __init__(self, cfg: CrtpSimConfig | None = None) -> None:
        from robot_learning.robots import crazyflie
        from robot_learning.runtime.controller import (
            ControllerConfig,
            QuadrotorController,
        )
        from robot_learning.runtime.policy import PolicyRunner
        from robot_learning.runtime.safety import QuadrotorLimits
        from robot_learning.runtime.transport import InProcessTransport
        from robot_learning.sim.pybullet_quadrotor import (
            PyBulletQuadrotor,
            PyBulletQuadrotorConfig,
        )

        self.cfg = cfg or CrtpSimConfig()
        self.params_cf = crazyflie.DEFAULT_PARAMS
        self.sim = PyBulletQuadrotor(PyBulletQuadrotorConfig())
        self.sim.reset(np.asarray(self.cfg.start, dtype=np.float64), (1.0, 0.0, 0.0, 0.0))
        self.target = np.asarray(self.cfg.start, dtype=np.float64)
        # on board there is no geofence or speed limit: the ground's monitors watch those
        limits = QuadrotorLimits(geofence_min=(-1e3, -1e3, -1e3), geofence_max=(1e3, 1e3, 1e3), max_speed=40.0)
        self.controller = QuadrotorController(PolicyRunner(self.cfg.policy), InProcessTransport(self.sim), lambda t: self.target,
                                              cfg=ControllerConfig(limits=limits), on_transition=self._event)
        self.controller.training_box = math.inf  # the observation clips the error, as the firmware does
        self._lock = threading.RLock()
        self.events: list[tuple[float, str]] = []
        self.params: list[_Param] = [_Param("stabilizer.estimator", PARAM_UINT8, 2), _Param(P.CONTROLLER_PARAM, PARAM_UINT8, 0)]
        if self.cfg.with_rlctl:
            self.params += [_Param(P.MODE_PARAM, PARAM_UINT8, P.RLCTL_MODE_OFF),
                            _Param(P.SELFTEST_PARAM, PARAM_UINT8, P.SELFTEST_NOT_RUN, read_only=True)]
        self._param_index = {p.name: i for i, p in enumerate(self.params)}
        self.log_vars: list[tuple[str, int]] = [(n, LOG_TYPES[t]) for b in P.LOG_BLOCKS.values() for n, t in b]
        self.log_vars.append(("pm.vbat", LOG_TYPES["float"]))
        if not self.cfg.with_rlctl:
            self.log_vars = [(n, t) for n, t in self.log_vars if not n.startswith("rlctl.")]
        self._blocks: dict[int, dict] = {}  # id -> {"vars": [(toc id, fetch type)], "period": ticks, "on": bool}
        self.last_trigger: float | None = None  # the live trigger (cleared by a stop)
        self.last_position_setpoint: float | None = None  # when the newest position setpoint arrived (kept)
        self._cut = "trigger lost (no setpoint for 200 ms)"  # why the motors stop when the trigger goes
        self.setpoints = 0
        self.estopped = False
        self.motors_on = False
        self.command = np.full(4, -1.0)
        self._peer: tuple[str, int] | None = None
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((self.cfg.host, self.cfg.port))
        self._sock.settimeout(0.1)
        self.port = self._sock.getsockname()[1]
        self.uri = f"udp://{self.cfg.host}:{self.port}"
        self._threads = [threading.Thread(target=self._serve, name="cf-sim-crtp", daemon=True),
                         threading.Thread(target=self._fly, name="cf-sim-physics", daemon=True)]
        self.ticks = 0

    # ------------------------------------------------------------------------------ life cycle
    def start(self) -> Self:
        for t in self._threads:
            t.start()
        return self

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            if t.is_alive():
                t.join(timeout=2.0)
        self._sock.close()
        self.sim.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _event(self, text: str) -> None:
        with self._lock:
            self.events.append((time.monotonic(), text))

    def truth(self) -> np.ndarray:
        with self._lock:
            return np.asarray(self.sim.state()["position"], dtype=np.float64).copy()

    def param(self, name: str) -> float:
        with self._lock:
            return self.params[self._param_index[name]].value

    # ------------------------------------------------------------------------------ physics
    def _fly(self) -> None:
        period = 1.0 / self.cfg.rate_hz
        next_t = time.monotonic()
        while not self._stop.is_set():
            next_t += period
            self._tick()
            delay = next_t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.1:  # far behind (a loaded machine): do not burst, start again from now
                next_t = time.monotonic()

    def _tick(self) -> None:
        from robot_learning.types import RobotMode

        c = self.controller
        now = time.monotonic()
        with self._lock:
            fresh = self.last_trigger is not None and now - self.last_trigger <= self.cfg.trigger_timeout_s
            policy_selected = (self.param(P.CONTROLLER_PARAM) == P.CONTROLLER_OOT
                               and self.cfg.with_rlctl and self.param(P.MODE_PARAM) == P.RLCTL_MODE_POLICY)
            if self.estopped:
                if c.mode != RobotMode.ESTOP:
                    c.estop("emergency stop received")
            elif fresh and policy_selected:
                if c.mode == RobotMode.IDLE:
                    c.start()
            elif c.mode not in (RobotMode.IDLE, RobotMode.ESTOP):
                why = self._cut if not fresh else "policy deselected"
                c.stop(why)
                c.sm.request(RobotMode.IDLE, f"{why}: motors off")
            command = c.tick()
            self.command = np.asarray(command if command is not None else np.full(4, -1.0), dtype=np.float64)
            on = bool(np.any(self.command > -1.0 + 1e-6))
            if on != self.motors_on:
                self.motors_on = on
                self.events.append((now, "motors on" if on else "motors off"))
            self.ticks += 1
            self._send_logs()

    # ------------------------------------------------------------------------------ CRTP in
    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self._sock.recvfrom(64)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                continue
            with self._lock:
                self._peer = addr
                try:
                    self._handle(data[0], data[1:])
                except (struct.error, IndexError, KeyError):  # a malformed packet is dropped, as the firmware does
                    continue

    def _send(self, port: int, channel: int, payload: bytes) -> None:
        if self._peer is None:
            return
        try:
            self._sock.sendto(bytes([P.header(port, channel)]) + payload[:P.MAX_PAYLOAD], self._peer)
        except OSError:  # the ground went away
            pass

    def _handle(self, h: int, d: bytes) -> None:
        if h == P.NULL_HEADER:
            self._sock.sendto(bytes([P.NULL_HEADER]), self._peer)
            return
        port, ch = P.split_header(h)
        if port == P.PORT_LINKCTRL:
            if ch == 0:
                self._send(port, 0, d)  # echo
            elif ch == 1:
                self._send(port, 1, MAGIC)
        elif port == P.PORT_PLATFORM and ch == 1:
            if d[0] == 0:
                self._send(port, 1, bytes([0, PROTOCOL_VERSION]))
            elif d[0] == 1:
                self._send(port, 1, bytes([1]) + b"rl-crtp-sim")
        elif port == P.PORT_MEM and ch == 0 and d[0] == 1:
            self._send(port, 0, bytes([1, 0]))  # no memories
        elif port == P.PORT_PARAM:
            self._param(ch, d)
        elif port == P.PORT_LOG:
            self._log(ch, d)
        elif port == P.PORT_COMMANDER_GENERIC:
            self._setpoint(ch, d)
        elif port == P.PORT_COMMANDER:  # legacy setpoint: cflib sends a zero one when it closes the link
            self._drop_trigger("zero legacy setpoint")
        elif port == P.PORT_SUPERVISOR:
            self._supervisor(ch, d)
        elif port == P.PORT_LOCALIZATION and ch == P.LOCALIZATION_GENERIC_CHANNEL and d[0] == P.LOCALIZATION_EMERGENCY_STOP:
            self._estop("emergency stop (localization channel)")

    def _estop(self, text: str) -> None:
        if not self.estopped:
            self.estopped = True
            self.events.append((time.monotonic(), text))

    def _setpoint(self, ch: int, d: bytes) -> None:
        if ch == P.SETPOINT_CHANNEL:
            kind = d[0]
            if kind == P.SETPOINT_POSITION:
                x, y, z, _yaw = struct.unpack("<ffff", d[1:17])
                if all(math.isfinite(v) for v in (x, y, z)):
                    self.target = np.array([x, y, z], dtype=np.float64)
                    self.last_trigger = self.last_position_setpoint = time.monotonic()
                    self._cut = "trigger lost (no setpoint for 200 ms)"
                    self.setpoints += 1
            elif kind == P.SETPOINT_FULL_STATE:  # positions in mm (int16): absolute x, y, z, so a trigger too
                x, y, z = struct.unpack("<hhh", d[1:7])
                self.target = np.array([x, y, z], dtype=np.float64) / 1000.0
                self.last_trigger = self.last_position_setpoint = time.monotonic()
                self._cut = "trigger lost (no setpoint for 200 ms)"
                self.setpoints += 1
            elif kind == P.SETPOINT_STOP:
                self._drop_trigger("stop setpoint")
        elif ch == P.META_CHANNEL and d[0] == P.META_NOTIFY_SETPOINT_STOP:
            self._drop_trigger("setpoint stream ended")

    def _drop_trigger(self, why: str) -> None:
        if self.last_trigger is not None:
            self.last_trigger = None
            self._cut = why

    def _supervisor(self, ch: int, d: bytes) -> None:
        cmd = d[0]
        if ch == P.SUPERVISOR_COMMAND_CHANNEL and cmd == P.SUPERVISOR_EMERGENCY_STOP:
            self._estop("emergency stop (supervisor)")
        elif ch == P.SUPERVISOR_COMMAND_CHANNEL and cmd == P.SUPERVISOR_ARM:
            self._send(P.PORT_SUPERVISOR, ch, bytes([cmd | 0x80, 1, 1]))
        elif ch == P.SUPERVISOR_INFO_CHANNEL and cmd == P.SUPERVISOR_GET_STATE:
            bits = (1 << 0) | (1 << 1) | ((not self.estopped) << 3) | (self.motors_on << 4) | (self.estopped << 6)
            self._send(P.PORT_SUPERVISOR, ch, bytes([cmd | 0x80]) + struct.pack("<H", bits))

    # ------------------------------------------------------------------------------ TOCs
    @staticmethod
    def _toc_crc(names: list[str]) -> int:
        return zlib.crc32("\n".join(names).encode())

    def _toc(self, port: int, d: bytes, entries: list[tuple[str, int]]) -> None:
        if d[0] == 3:  # info v2: count, CRC (+ log: max blocks, max variables)
            extra = bytes([LOG_MAX_BLOCKS, 128]) if port == P.PORT_LOG else b""
            self._send(port, 0, bytes([3]) + struct.pack("<HI", len(entries), self._toc_crc([n for n, _ in entries])) + extra)
        elif d[0] == 2:  # item v2
            i = struct.unpack("<H", d[1:3])[0]
            if i < len(entries):
                name, meta = entries[i]
                group, _, short = name.partition(".")
                self._send(port, 0, bytes([2]) + struct.pack("<HB", i, meta) + group.encode() + b"\0" + short.encode() + b"\0")

    def _param(self, ch: int, d: bytes) -> None:
        if ch == 0:
            self._toc(P.PORT_PARAM, d, [(p.name, p.kind | (PARAM_RO if p.read_only else 0)) for p in self.params])
            return
        if ch == 3:  # misc: set by name (cflib's set_value_raw); no answer expected
            if d[0] == 0:
                group, short, rest = d[1:].split(b"\0", 2)
                name = f"{group.decode()}.{short.decode()}"
                if name in self._param_index:
                    p = self.params[self._param_index[name]]
                    if not p.read_only:
                        p.value = struct.unpack(PARAM_FORMATS[p.kind], rest[1:1 + struct.calcsize(PARAM_FORMATS[p.kind])])[0]
            return
        i = struct.unpack("<H", d[:2])[0]
        if i >= len(self.params):
            return
        p = self.params[i]
        fmt = PARAM_FORMATS[p.kind]
        if ch == 1:  # read: id, status, value
            self._send(P.PORT_PARAM, 1, d[:2] + bytes([0]) + struct.pack(fmt, p.value))
        elif ch == 2 and not p.read_only:  # write: apply, echo the new value
            p.value = struct.unpack(fmt, d[2:2 + struct.calcsize(fmt)])[0]
            self.events.append((time.monotonic(), f"param {p.name} = {p.value:g}"))
            if p.name == P.CONTROLLER_PARAM and p.value == P.CONTROLLER_OOT and P.SELFTEST_PARAM in self._param_index:
                self.params[self._param_index[P.SELFTEST_PARAM]].value = self.cfg.selftest  # its init runs the self-test
            self._send(P.PORT_PARAM, 2, d[:2] + struct.pack(fmt, p.value))

    # ------------------------------------------------------------------------------ logging
    def _log(self, ch: int, d: bytes) -> None:
        if ch == 0:
            self._toc(P.PORT_LOG, d, self.log_vars)
            return
        if ch != 1:
            return
        cmd = d[0]
        if cmd == 5:  # reset
            self._blocks.clear()
            self._send(P.PORT_LOG, 1, bytes([5, 0, 0]))
            return
        bid = d[1]
        status = 0
        if cmd in (6, 7):  # create / append (v2: type byte, 16-bit id per variable)
            block = self._blocks.get(bid)
            if cmd == 6 and block is not None:
                status = errno.EEXIST
            elif cmd == 7 and block is None:
                status = errno.ENOENT
            elif cmd == 6 and len(self._blocks) >= LOG_MAX_BLOCKS:
                status = errno.ENOMEM
            else:
                block = block if block is not None else {"vars": [], "period": 1, "on": False, "due": 0}
                new = []
                for k in range(2, len(d) - 2, 3):
                    vid = struct.unpack("<H", d[k + 1:k + 3])[0]
                    fetch = d[k] & 0x0F
                    if vid >= len(self.log_vars) or fetch not in LOG_FORMATS:
                        status = errno.ENOENT
                        break
                    new.append((vid, fetch))
                size = sum(struct.calcsize(LOG_FORMATS[f]) for _, f in block["vars"] + new)
                if status == 0 and size > P.LOG_MAX_BLOCK_BYTES:
                    status = errno.E2BIG
                if status == 0:
                    block["vars"] += new
                    self._blocks[bid] = block
        elif cmd == 2:  # delete
            status = 0 if self._blocks.pop(bid, None) is not None else errno.ENOENT
        elif cmd == 3:  # start: period in 10 ms
            block = self._blocks.get(bid)
            if block is None:
                status = errno.ENOENT
            else:
                block["period"], block["on"], block["due"] = max(1, d[2]), True, self.ticks
        elif cmd == 4:  # stop
            block = self._blocks.get(bid)
            status = errno.ENOENT if block is None else 0
            if block is not None:
                block["on"] = False
        else:
            return
        self._send(P.PORT_LOG, 1, bytes([cmd, bid, status]))

    def _log_values(self) -> list[float]:
        s = self.sim.state()
        w, x, y, z = (float(v) for v in s["quaternion"])
        pos, vel = s["position"], s["linear_velocity"]
        gyro = np.asarray(s["angular_velocity"]) / P.DEG
        ratio = np.asarray(self.params_cf.action_to_rpm(self.command)) / self.params_cf.rpm_max * P.MOTOR_RATIO_MAX
        values = {"stateEstimate.x": pos[0], "stateEstimate.y": pos[1], "stateEstimate.z": pos[2],
                  "stateEstimate.vx": vel[0], "stateEstimate.vy": vel[1], "stateEstimate.vz": vel[2],
                  "stateEstimate.qx": x, "stateEstimate.qy": y, "stateEstimate.qz": z, "stateEstimate.qw": w,
                  "gyro.x": gyro[0], "gyro.y": gyro[1], "gyro.z": gyro[2], "pm.vbat": 4.0,
                  "rlctl.active": float(self.controller.mode.name in ("SOFT_START", "POLICY")),
                  **{f"motor.m{i + 1}": ratio[i] for i in range(4)}}
        return [float(values[n]) for n, _ in self.log_vars]

    def _send_logs(self) -> None:
        due = [(bid, b) for bid, b in self._blocks.items() if b["on"] and self.ticks >= b["due"]]
        if not due or self._peer is None:
            return
        values = self._log_values()
        stamp_ms = (self.ticks * round(1000 / self.cfg.rate_hz)) & 0xFFFFFF
        for bid, b in due:
            b["due"] = self.ticks + b["period"] * max(1, round(self.cfg.rate_hz / 100))
            out = bytearray([bid]) + struct.pack("<I", stamp_ms)[:3]
            for vid, fetch in b["vars"]:
                fmt = LOG_FORMATS[fetch]
                v = values[vid]
                if fmt[-1] not in "fe":
                    info = np.iinfo({"B": np.uint8, "H": np.uint16, "L": np.uint32, "b": np.int8, "h": np.int16, "i": np.int32}[fmt[-1]])
                    v = int(min(max(round(v), info.min), info.max))
                out += struct.pack(fmt, v)
            self._send(P.PORT_LOG, 2, bytes(out))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m robot_learning.bridges.crazyflie_crtp_sim", description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=19850)
    ap.add_argument("--policy", default=str(DEFAULT_POLICY))
    ap.add_argument("--seconds", type=float, default=None, help="run this long (default: until Ctrl-C)")
    args = ap.parse_args(argv)
    try:
        vehicle = SimulatedCrazyflie(CrtpSimConfig(port=args.port, policy=args.policy))
    except (ConfigError, OSError) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    with vehicle:
        print(f"simulated Crazyflie on {vehicle.uri} (policy {args.policy}); Ctrl-C stops it", flush=True)
        try:
            deadline = None if args.seconds is None else time.monotonic() + args.seconds
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
