"""The ground side of a Crazyflie running our on-board RL controller, on cflib.

One :class:`CrazyflieLink` is one connection (``radio://0/80/2M/E7E7E7E7E7``, ``usb://0``, or
``udp://127.0.0.1:19850`` for a simulator). It does what the ground must do for the on-board policy
(firmware/crazyflie/) and nothing else:

- connect, with a timeout and a one-line error when nothing answers (:class:`CrazyflieLinkError`);
- select the out-of-tree controller (``stabilizer.controller``; its init runs the boot self-test),
  read the self-test's result (``rlctl.selftest``: 0 not run, 1 passed, 2 failed) and refuse a vehicle
  that did not pass, then select the policy mode (``rlctl.mode``), each write confirmed by the echo;
- stream position setpoints (the trigger: the policy flies only while the newest is younger than
  200 ms), stop streaming, and send the emergency stop;
- log the state at 100 Hz in three blocks of at most 26 bytes and hand every complete sample
  (the three blocks of one firmware tick) to the caller as a :class:`~robot_learning.types.RobotState`:
  ``position``, ``linear_velocity`` (world), ``quaternion`` (w, x, y, z), ``angular_velocity``
  (body, rad/s), ``motor_ratio`` (the four 16-bit motor ratios / 65535) and ``policy_active``
  (``rlctl.active``: 1 while the policy has the motors).

cflib is imported when a link is opened (it is in the ``deploy`` extra). Torch-free.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import urlparse

import numpy as np

from robot_learning.core.checks import check
from robot_learning.core.config import ConfigError
from robot_learning.robots import crazyflie_crtp as P
from robot_learning.types import RobotState

SCHEMES = ("radio", "usb", "udp")


class CrazyflieLinkError(ConfigError):
    """The vehicle is not there, refused a step, or the link broke; the message is one line.

    (A ConfigError, so that the command line prints it as one line, like every error of the user's set-up.)
    """


def check_uri(uri: str) -> str:
    """``uri`` if cflib could open it (radio://, usb:// or udp://host:port), else a one-line error."""
    parsed = urlparse(uri)
    if parsed.scheme not in SCHEMES:
        raise CrazyflieLinkError(f"link URI {uri!r} must start with one of {[s + '://' for s in SCHEMES]}, "
                                 "e.g. radio://0/80/2M/E7E7E7E7E7, usb://0, udp://127.0.0.1:19850")
    if parsed.scheme == "udp":
        try:
            port = parsed.port
        except ValueError:
            port = None
        if not parsed.hostname or port is None:
            raise CrazyflieLinkError(f"link URI {uri!r}: a UDP link needs a host and a port, e.g. udp://127.0.0.1:19850")
    return uri


@dataclass
class LinkConfig:
    uri: str = "radio://0/80/2M/E7E7E7E7E7"
    connect_timeout_s: float = 5.0  # TOCs and every parameter value must arrive within this
    param_timeout_s: float = 1.0  # a parameter write must be echoed within this
    log_period_ms: int = P.LOG_PERIOD_MS
    emergency_repeats: int = 3  # the radio may drop a packet: the stop is sent this many times

    def __post_init__(self) -> None:
        check(self, positive=("connect_timeout_s", "param_timeout_s", "log_period_ms", "emergency_repeats"))
        check_uri(self.uri)
        if not 10 <= self.log_period_ms <= 2540 or self.log_period_ms % 10:
            raise ConfigError(f"log_period_ms must be a multiple of 10 in 10..2540 (the firmware counts in 10 ms), got {self.log_period_ms}")


def _one_line(text: str) -> str:
    """The first meaningful line of cflib's (often multi-line, traceback-carrying) error text."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip() and not ln.startswith("Traceback")]
    first = lines[0] if lines else ""
    exc = next((ln for ln in lines if ln.startswith("Exception")), "")
    if exc.partition(":")[2].strip() in first:
        exc = ""
    return " ".join(x for x in (first, exc) if x) or "unknown error"


class CrazyflieLink:
    """One cflib connection to a vehicle with the RL controller; see the module docstring.

    ``on_state(state)`` is called from cflib's receive thread for every complete 100 Hz sample; keep it
    short (store, enqueue). ``on_event(text)`` receives link events (connection lost, e-stop sent).
    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, cfg: LinkConfig, on_state: Callable[[RobotState], None] | None = None,
                 on_event: Callable[[str], None] | None = None) -> None:
        self.cfg = cfg
        self.on_state = on_state
        self.on_event = on_event or (lambda text: None)
        self.cf: Any = None
        self._lock = threading.Lock()
        self._partial: dict[int, dict[str, float]] = {}  # firmware timestamp -> variables received so far
        self._latest: RobotState | None = None
        self.samples = 0
        self.setpoints_sent = 0
        self.estop_sent = False
        self.lost: str | None = None
        self._blocks: list[Any] = []
        self._names = [n for block in P.LOG_BLOCKS.values() for n, _ in block]

    # ------------------------------------------------------------------------------ connection
    def connect(self) -> Self:
        """Open the link and wait (``connect_timeout_s``) until every TOC and parameter value is in."""
        try:
            import cflib.crtp
            from cflib.crazyflie import Crazyflie
        except ImportError:
            raise CrazyflieLinkError("the Crazyflie link needs cflib: pip install 'robot_learning[deploy]' (or pip install cflib)") from None
        uri = self.cfg.uri
        cflib_log = logging.getLogger("cflib")
        if cflib_log.level == logging.NOTSET:  # cflib warns with tracebacks; our errors say it in one line
            cflib_log.setLevel(logging.CRITICAL)
        cflib.crtp.init_drivers()
        cf = Crazyflie(rw_cache=None)  # no TOC cache on disk: a reflashed vehicle must not be read with a stale TOC
        done = threading.Event()
        failure: list[str] = []

        def failed(link_uri: str, msg: str) -> None:
            failure.append(_one_line(msg))
            done.set()

        cf.connection_failed.add_callback(failed)
        cf.fully_connected.add_callback(lambda link_uri: done.set())
        cf.connection_lost.add_callback(self._on_lost)
        self.cf = cf
        cf.open_link(uri)
        if not done.wait(self.cfg.connect_timeout_s) or failure:
            self._close_quietly()
            if failure:
                why = failure[0]
                if "refused" in why.lower():
                    why = "connection refused (nothing listens there)"
                raise CrazyflieLinkError(f"cannot connect to {uri}: {why}; is the vehicle (or its simulator) on and the URI right?")
            raise CrazyflieLinkError(f"no Crazyflie answered on {uri} within {self.cfg.connect_timeout_s:g} s; "
                                     "is it powered on, in range, and the URI (channel, rate, address) right?")
        return self

    def _on_lost(self, link_uri: str, msg: str) -> None:
        self.lost = _one_line(msg)
        self.on_event(f"link lost: {self.lost}")

    @property
    def connected(self) -> bool:
        return self.cf is not None and self.cf.link is not None and self.lost is None

    def _require(self) -> Any:
        if not self.connected:
            raise CrazyflieLinkError(f"not connected to {self.cfg.uri}" + (f" (link lost: {self.lost})" if self.lost else ""))
        return self.cf

    # ------------------------------------------------------------------------------ parameters
    def has_param(self, name: str) -> bool:
        group, _, short = name.partition(".")
        return self._require().param.toc.get_element(group, short) is not None

    def get_param(self, name: str) -> float:
        """The value cflib holds (read at connection, updated by writes); :meth:`read_param` asks the vehicle."""
        cf = self._require()
        if not self.has_param(name):
            raise CrazyflieLinkError(f"the vehicle has no parameter {name!r}")
        return float(cf.param.get_value(name))

    def _await_param(self, name: str, action: Callable[[], None], accept: Callable[[float], bool], what: str) -> float:
        cf = self._require()
        if not self.has_param(name):
            raise CrazyflieLinkError(f"the vehicle has no parameter {name!r}")
        group, _, short = name.partition(".")
        answered = threading.Event()
        got: list[float] = []

        def updated(full_name: str, text: str) -> None:
            got.append(float(text))
            if accept(float(text)):
                answered.set()

        cf.param.add_update_callback(group=group, name=short, cb=updated)
        try:
            action()
            if not answered.wait(self.cfg.param_timeout_s):
                seen = f"; it reports {got[-1]:g}" if got else ""
                raise CrazyflieLinkError(f"the vehicle did not {what} within {self.cfg.param_timeout_s:g} s{seen}")
        finally:
            cf.param.remove_update_callback(group=group, name=short, cb=updated)
        return got[-1]

    def read_param(self, name: str) -> float:
        """A parameter's value read from the vehicle now (a read request and its answer)."""
        return self._await_param(name, lambda: self.cf.param.request_param_update(name), lambda v: True, f"answer a read of {name}")

    def set_param(self, name: str, value: float) -> None:
        """Write a parameter and wait for the vehicle's echo of the new value."""
        self._await_param(name, lambda: self.cf.param.set_value(name, value),
                          lambda v: math.isclose(v, float(value), rel_tol=1e-6, abs_tol=1e-9), f"confirm {name} = {value:g}")

    def select_controller(self) -> None:
        """``stabilizer.controller`` = the out-of-tree controller (its init runs the boot self-test)."""
        self.set_param(P.CONTROLLER_PARAM, P.CONTROLLER_OOT)

    def check_selftest(self) -> int:
        """The self-test's result, read from the vehicle now; a vehicle without the RL firmware, or whose
        test has not run (the out-of-tree controller not selected) or failed, is refused."""
        if not self.has_param(P.SELFTEST_PARAM):
            raise CrazyflieLinkError(f"the vehicle on {self.cfg.uri} has no {P.SELFTEST_PARAM} parameter: "
                                     "flash the RL controller firmware (firmware/crazyflie/) first")
        result = int(self.read_param(P.SELFTEST_PARAM))
        if result == P.SELFTEST_NOT_RUN:
            raise CrazyflieLinkError(f"the vehicle's self-test has not run ({P.SELFTEST_PARAM} = 0): select the out-of-tree "
                                     f"controller first ({P.CONTROLLER_PARAM} = {P.CONTROLLER_OOT}); is the firmware built with CONFIG_CONTROLLER_OOT?")
        if result != P.SELFTEST_PASSED:
            raise CrazyflieLinkError(f"the vehicle's boot self-test failed ({P.SELFTEST_PARAM} = {result}): the on-board "
                                     "policy does not reproduce its stored action; reflash or check the build")
        return result

    def set_mode(self, policy: bool) -> None:
        """``rlctl.mode``: 1 = the policy while triggered, 0 = the stock controller."""
        self.set_param(P.MODE_PARAM, P.RLCTL_MODE_POLICY if policy else P.RLCTL_MODE_OFF)

    def select_policy(self, on: bool = True) -> None:
        """In the safe order: the out-of-tree controller, its self-test passed, then ``rlctl.mode`` = 1;
        ``on=False``: mode 0 only."""
        if on:
            self.select_controller()
            self.check_selftest()
        self.set_mode(on)

    # ------------------------------------------------------------------------------ setpoints
    def send_position(self, x: float, y: float, z: float, yaw_deg: float = 0.0) -> None:
        """One position setpoint (port 7, type 7): the trigger that keeps the policy flying for 200 ms."""
        values = (x, y, z, yaw_deg)
        if not all(math.isfinite(v) for v in values):
            raise CrazyflieLinkError(f"refusing a non-finite setpoint {values}")
        self._require().commander.send_position_setpoint(float(x), float(y), float(z), float(yaw_deg))
        self.setpoints_sent += 1

    def stop_setpoints(self) -> None:
        """Tell the vehicle the stream ends now (the stop setpoint: motors off), rather than waiting for the dead-man."""
        if self.connected:
            self.cf.commander.send_stop_setpoint()

    def emergency_stop(self, reason: str = "") -> None:
        """The supervisor's emergency stop (port 9 ch 1, 0x03; the localization channel on older firmware),
        sent ``emergency_repeats`` times. Safe to call in any state; never raises."""
        self.estop_sent = True
        self.on_event(f"emergency stop sent{': ' + reason if reason else ''}")
        if self.cf is None or self.cf.link is None:
            return
        for _ in range(self.cfg.emergency_repeats):
            try:
                self.cf.supervisor.send_emergency_stop()
            except Exception:  # noqa: BLE001 - a stop must not raise on a broken link
                return

    # ------------------------------------------------------------------------------ logging
    def start_logging(self) -> None:
        """Create and start the 100 Hz log blocks (:data:`robot_learning.robots.crazyflie_crtp.LOG_BLOCKS`)."""
        from cflib.crazyflie.log import LogConfig

        cf = self._require()
        for name, variables in P.LOG_BLOCKS.items():
            conf = LogConfig(name=name, period_in_ms=self.cfg.log_period_ms)
            for var, ctype in variables:
                if cf.log.toc.get_element_by_complete_name(var) is None:
                    raise CrazyflieLinkError(f"the vehicle cannot log {var!r} (not in its log TOC)")
                conf.add_variable(var, ctype)
            try:
                cf.log.add_config(conf)
            except (AttributeError, KeyError) as e:
                raise CrazyflieLinkError(f"log block {name!r} refused: {e}") from None
            conf.data_received_cb.add_callback(self._on_block)
            conf.error_cb.add_callback(lambda block, msg: self.on_event(f"log block {block.name} error: {msg}"))
            conf.start()
            self._blocks.append(conf)

    def _on_block(self, timestamp: int, data: dict[str, float], block: Any) -> None:
        now = time.monotonic()
        with self._lock:
            part = self._partial.setdefault(timestamp, {})
            part.update(data)
            if len(part) < len(self._names):
                if len(self._partial) > 8:  # a block was lost: forget the oldest incomplete samples
                    for t in sorted(self._partial)[:-4]:
                        del self._partial[t]
                return
            del self._partial[timestamp]
        state = sample_to_state(part, now)
        with self._lock:
            self._latest = state
            self.samples += 1
        if self.on_state is not None:
            self.on_state(state)

    def latest(self) -> RobotState | None:
        with self._lock:
            return self._latest

    # ------------------------------------------------------------------------------ closing
    def _close_quietly(self) -> None:
        cf, self.cf = self.cf, None
        if cf is not None:
            try:
                cf.close_link()
            except Exception:  # noqa: BLE001, S110 - closing a broken link
                pass

    def close(self) -> None:
        for conf in self._blocks:
            try:
                conf.stop()
            except Exception:  # noqa: BLE001, S110 - stopping blocks on a closing link
                pass
        self._blocks.clear()
        self._close_quietly()

    def __enter__(self) -> Self:
        return self.connect() if self.cf is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sample_to_state(v: dict[str, float], stamp: float) -> RobotState:
    """The logged variables of one firmware tick as the runtime's quadrotor state (project conventions)."""
    g = "stateEstimate."
    values = {
        "position": np.array([v[g + "x"], v[g + "y"], v[g + "z"]]),
        "linear_velocity": np.array([v[g + "vx"], v[g + "vy"], v[g + "vz"]]),
        "quaternion": np.array([v[g + "qw"], v[g + "qx"], v[g + "qy"], v[g + "qz"]]),
        "angular_velocity": np.array([v["gyro.x"], v["gyro.y"], v["gyro.z"]]) * P.DEG,
        "motor_ratio": np.array([v[f"motor.m{i}"] for i in range(1, 5)], dtype=np.float64) / P.MOTOR_RATIO_MAX,
        "policy_active": np.array([float(v["rlctl.active"])]),
    }
    return RobotState(stamp, values, {"log": stamp})
