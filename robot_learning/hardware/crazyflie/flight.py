"""A flight of the on-board policy from the ground: connect, check, arm, stream, watch, land, record.

:func:`deploy_crazyflie` is what ``robot-learning deploy --robot crazyflie --link URI`` runs:

1. connect (:class:`~robot_learning.hardware.crazyflie.link.CrazyflieLink`), select the out-of-tree
   controller and read its boot self-test, start the 100 Hz log blocks and wait for the first state,
   which must pass the monitors;
2. ``rlctl.mode`` = 1 (the motors stay off until the trigger arrives);
3. stream position setpoints at ``rate_hz`` (the trigger): a take-off ramp from where the vehicle is
   to the trajectory's start, the trajectory (``hover`` or ``figure8``, the runtime's
   :class:`~robot_learning.runtime.quadrotor.Hover` / :class:`~robot_learning.runtime.quadrotor.FigureEight`)
   for ``seconds``, then a landing ramp; then the stop setpoint (the on-board dead-man switch would cut
   the motors 200 ms later anyway);
4. every tick the runtime's quadrotor monitors (input: finite, plausible ranges, staleness; flight:
   tilt, body rate, geofence, speed) look at the newest logged state. A FALLBACK or ESTOP fault, a lost
   link or Ctrl-C stops the stream and sends the emergency stop; the reason is logged and recorded;
5. with ``record_dir``, everything goes to one MCAP session (the runtime's recorder): ``/odom``
   (nav_msgs/Odometry, 100 Hz, twist in the body frame as REP 105 says), ``/motor_command``
   (sensor_msgs/JointState: the on-board policy's rotor speeds in rad/s, 100 Hz), ``/cmd_position``
   (geometry_msgs/PoseStamped: each setpoint sent) and ``/diagnostics`` (every event and fault, with
   its reason). :func:`read_flight` reads a session back into arrays.

Torch-free; cflib is imported when the link opens.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robot_learning.core.checks import check
from robot_learning.core.config import ConfigError
from robot_learning.hardware.crazyflie.link import (
    CrazyflieLink,
    CrazyflieLinkError,
    LinkConfig,
    check_uri,
)
from robot_learning.robots import crazyflie
from robot_learning.runtime.quadrotor import FigureEight, Hover
from robot_learning.runtime.safety import QuadrotorLimits, QuadrotorMonitors
from robot_learning.types import RobotState, Severity

TRAJECTORIES = ("hover", "figure8")
TOPICS = {"odom": "/odom", "motors": "/motor_command", "setpoint": "/cmd_position", "diagnostics": "/diagnostics"}


def ground_limits() -> QuadrotorLimits:
    """The monitors' limits on the ground side: the runtime's defaults, except that the state arrives
    over a radio (staleness 0.3 s rather than 50 ms; the vehicle's own dead-man acts at 0.2 s) and a
    vehicle resting on the floor may estimate itself a little below zero."""
    return QuadrotorLimits(geofence_min=(-2.0, -2.0, -0.2), stale_timeout_s=0.3, stale_cutoff_s=0.5)


@dataclass
class FlightConfig:
    link: str = "radio://0/80/2M/E7E7E7E7E7"
    seconds: float = 10.0  # on the trajectory, between take-off and landing
    trajectory: str = "hover"  # hover | figure8
    target: tuple[float, float, float] = (0.0, 0.0, 1.0)  # hover point, or the figure-eight's centre
    rate_hz: float = 50.0  # setpoint stream
    takeoff_speed: float = 0.5  # m/s along the take-off ramp
    land_speed: float = 0.4  # m/s down
    land_height: float = 0.05  # m: the landing ramp ends here, then the stream stops
    touchdown_margin: float = 0.05  # m: below land_height + this the vehicle counts as down
    touchdown_timeout_s: float = 2.0  # s at the landing height before the stream stops regardless
    first_state_timeout_s: float = 2.0
    record_dir: str | None = None
    connect_timeout_s: float = 5.0
    limits: QuadrotorLimits = field(default_factory=ground_limits)

    def __post_init__(self) -> None:
        check(self, positive=("seconds", "rate_hz", "takeoff_speed", "land_speed", "first_state_timeout_s", "connect_timeout_s"),
              non_negative=("land_height", "touchdown_margin", "touchdown_timeout_s"))
        if self.trajectory not in TRAJECTORIES:
            raise ConfigError(f"trajectory must be one of {list(TRAJECTORIES)}, got {self.trajectory!r}")
        if self.rate_hz > 200:
            raise ConfigError(f"rate_hz must be at most 200 (the radio carries ~1000 packets/s, logging included), got {self.rate_hz:g}")
        check_uri(self.link)
        lo, hi = np.asarray(self.limits.geofence_min), np.asarray(self.limits.geofence_max)
        t = np.asarray(self.target, dtype=np.float64)
        if np.any(t < lo) or np.any(t > hi):
            raise ConfigError(f"target {t.tolist()} is outside the geofence {lo.tolist()}..{hi.tolist()}")


class FlightRecorder:
    """The flight's MCAP session (the runtime's recorder) in ROS 2 messages; every write is non-blocking."""

    def __init__(self, directory: str | Path, session: str | None = None) -> None:
        from robot_learning.runtime.recorder import McapRecorder
        from robot_learning.runtime.ros2 import msgs

        self.msgs = msgs
        session = session or f"crazyflie_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
        self.rec = McapRecorder(directory, session=session)
        self.path = self.rec.path
        for key, cls in (("odom", msgs.Odometry), ("motors", msgs.JointState), ("setpoint", msgs.PoseStamped),
                         ("diagnostics", msgs.DiagnosticArray)):
            self.rec.add_topic(TOPICS[key], cls.ros_type)
        self._rpm_max = crazyflie.DEFAULT_PARAMS.rpm_max

    def _write(self, key: str, msg: Any, wall: float) -> None:
        self.rec.write(TOPICS[key], msg.ros_type, self.msgs.serialize(msg), int(wall * 1e9))

    def state(self, state: RobotState) -> None:
        m, wall = self.msgs, time.time()
        w, x, y, z = (float(v) for v in state["quaternion"])
        rot = _rotation(np.array([w, x, y, z]))
        v_body = rot.T @ np.asarray(state["linear_velocity"])
        p, om = state["position"], state["angular_velocity"]
        odom = m.Odometry(header=m.header(wall, "world"), child_frame_id="base_link",
                          pose=m.PoseWithCovariance(pose=m.Pose(position=m.Point(*map(float, p)), orientation=m.Quaternion(x, y, z, w))),
                          twist=m.TwistWithCovariance(twist=m.Twist(linear=m.Vector3(*map(float, v_body)), angular=m.Vector3(*map(float, om)))))
        self._write("odom", odom, wall)
        rad_s = np.asarray(state["motor_ratio"]) * self._rpm_max * 2.0 * math.pi / 60.0
        self._write("motors", m.JointState(header=m.header(wall), name=list(crazyflie.MOTOR_NAMES), velocity=[float(v) for v in rad_s]), wall)

    def setpoint(self, sp: np.ndarray, yaw_deg: float = 0.0) -> None:
        m, wall = self.msgs, time.time()
        half = math.radians(yaw_deg) / 2.0
        pose = m.Pose(position=m.Point(*map(float, sp)), orientation=m.Quaternion(0.0, 0.0, math.sin(half), math.cos(half)))
        self._write("setpoint", m.PoseStamped(header=m.header(wall, "world"), pose=pose), wall)

    def event(self, text: str, level: int = 0) -> None:
        m, wall = self.msgs, time.time()
        status = m.DiagnosticStatus(level=level, name="crazyflie_link", message=text, hardware_id="crazyflie")
        self._write("diagnostics", m.DiagnosticArray(header=m.header(wall), status=[status]), wall)

    def close(self) -> None:
        self.rec.close()


def _rotation(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


class FlightPlan:
    """Setpoint at time t (s since the stream began): take-off ramp, trajectory, landing ramp."""

    def __init__(self, cfg: FlightConfig, start: np.ndarray) -> None:
        self.cfg = cfg
        self.traj = Hover(tuple(cfg.target)) if cfg.trajectory == "hover" else FigureEight(center=tuple(cfg.target))
        self.start = np.asarray(start, dtype=np.float64)
        first = self.traj(0.0)
        self.t_takeoff = float(np.linalg.norm(first - self.start)) / cfg.takeoff_speed
        self.t_end_traj = self.t_takeoff + cfg.seconds
        self.last_traj = self.traj(cfg.seconds)
        self.t_land = max(0.0, float(self.last_traj[2]) - cfg.land_height) / cfg.land_speed
        self.duration = self.t_end_traj + self.t_land

    def phase(self, t: float) -> str:
        return "takeoff" if t < self.t_takeoff else "trajectory" if t < self.t_end_traj else "landing" if t < self.duration else "touchdown"

    def __call__(self, t: float) -> np.ndarray:
        if t < self.t_takeoff:
            first = self.traj(0.0)
            return self.start + (first - self.start) * (t / self.t_takeoff)
        if t < self.t_end_traj:
            return self.traj(t - self.t_takeoff)
        s = min(1.0, (t - self.t_end_traj) / self.t_land) if self.t_land > 0 else 1.0
        down = self.last_traj.copy()
        down[2] = self.last_traj[2] + (self.cfg.land_height - self.last_traj[2]) * s
        return down


def fly(cfg: FlightConfig, link: CrazyflieLink | None = None, log: Callable[[str], None] = print,
        stop_event: threading.Event | None = None) -> dict[str, Any]:
    """One flight (see the module docstring). Returns a JSON-ready summary; ``outcome`` is ``landed``,
    ``estop: <reason>`` or ``interrupted``. ``link``: an already-connected link to use (it is not closed);
    ``stop_event``: set it from another thread to end the flight with an emergency stop."""
    recorder = FlightRecorder(cfg.record_dir) if cfg.record_dir else None
    own_link = link is None
    events: list[str] = []

    def event(text: str, level: int = 0) -> None:
        events.append(text)
        log(text)
        if recorder is not None:
            recorder.event(text, level)

    def on_state(state: RobotState) -> None:
        if recorder is not None:
            recorder.state(state)

    outcome = "landed"
    monitors = QuadrotorMonitors(cfg.limits)
    setpoints = 0
    t_stream = None
    try:
        if link is None:
            link = CrazyflieLink(LinkConfig(uri=cfg.link, connect_timeout_s=cfg.connect_timeout_s), on_state=on_state,
                                 on_event=lambda text: event(text, 1))
            link.connect()
        else:
            link.on_state = on_state
        event(f"connected to {link.cfg.uri}")
        link.select_controller()
        event(f"out-of-tree controller selected, boot self-test passed ({link.check_selftest()})")
        link.start_logging()
        deadline = time.monotonic() + cfg.first_state_timeout_s
        while link.latest() is None:
            if time.monotonic() > deadline:
                raise CrazyflieLinkError(f"no log data from the vehicle on {link.cfg.uri} within {cfg.first_state_timeout_s:g} s")
            time.sleep(0.01)
        state = link.latest()
        faults = [f for f in monitors.check_input(state, time.monotonic()) + monitors.check_flight(state) if f.severity != Severity.WARN]
        if faults:
            raise CrazyflieLinkError(f"refusing to take off: {faults[0].monitor}: {faults[0].message}")
        plan = FlightPlan(cfg, state["position"])
        link.set_mode(True)
        event(f"rlctl.mode 1: streaming {cfg.trajectory} "
              f"at {cfg.rate_hz:g} Hz for {plan.duration:.1f} s (take-off {plan.t_takeoff:.1f} s, landing {plan.t_land:.1f} s)")
        period = 1.0 / cfg.rate_hz
        t_stream = time.monotonic()
        k = 0
        phase = ""
        while True:
            now = time.monotonic()
            t = now - t_stream
            if stop_event is not None and stop_event.is_set():
                outcome = "estop: stop requested"
                break
            if link.lost is not None:
                outcome = f"estop: link lost ({link.lost})"
                break
            state = link.latest()
            bad = [f for f in monitors.check_input(state, now) + (monitors.check_flight(state) if state is not None else [])]
            for f in bad:
                if f.severity == Severity.WARN:
                    event(f"WARN {f.monitor}: {f.message}", 1)
            stop = next((f for f in bad if f.severity != Severity.WARN), None)
            if stop is not None:
                outcome = f"estop: {stop.monitor}: {stop.message}"
                break
            if t >= plan.duration and (state is None or state["position"][2] < cfg.land_height + cfg.touchdown_margin
                                       or t >= plan.duration + cfg.touchdown_timeout_s):
                break  # touched down (or waited long enough at the landing height): the stream may stop
            if plan.phase(t) != phase:
                phase = plan.phase(t)
                event(f"phase {phase} at t={t:.2f} s")
            sp = plan(t)
            link.send_position(*sp, 0.0)
            setpoints += 1
            if recorder is not None:
                recorder.setpoint(sp)
            k += 1
            time.sleep(max(0.0, t_stream + k * period - time.monotonic()))
        if outcome == "landed":
            link.stop_setpoints()
            event("landed: setpoint stream stopped (motors off)")
        else:
            link.emergency_stop(outcome)
            event(outcome, 2)
    except KeyboardInterrupt:
        outcome = "interrupted"
        if link is not None:
            link.emergency_stop("Ctrl-C")
        event("interrupted (Ctrl-C): emergency stop sent", 2)
    except BaseException as e:  # any other fault: the vehicle must not keep flying on a dead stream
        if link is not None and t_stream is not None:
            link.emergency_stop(f"{type(e).__name__}: {e}")
            event(f"estop: {type(e).__name__}: {e}", 2)
        raise
    finally:
        streamed = time.monotonic() - t_stream if t_stream is not None else 0.0
        if link is not None:
            link.on_state = None
            if own_link:
                link.close()
        if recorder is not None:
            recorder.close()
    summary: dict[str, Any] = {"outcome": outcome, "link": cfg.link, "trajectory": cfg.trajectory, "setpoints_sent": setpoints,
                               "states_logged": link.samples if link is not None else 0,
                               "seconds_streamed": round(streamed, 3),
                               "events": events}
    if recorder is not None:
        summary["recording"] = str(recorder.path)
    return summary


def deploy_crazyflie(link: str, seconds: float = 10.0, trajectory: str = "hover", record: str | None = None,
                     target: tuple[float, float, float] = (0.0, 0.0, 1.0), rate_hz: float = 50.0,
                     log: Callable[[str], None] = print) -> dict[str, Any]:
    """``robot-learning deploy --robot crazyflie --link URI [--seconds S --trajectory hover|figure8 --record DIR]``.

    Flies the on-board policy of the vehicle at ``link`` (see :func:`fly`); returns the summary. Raises
    :class:`CrazyflieLinkError` (a ConfigError: one line) when the vehicle is not there or refuses."""
    return fly(FlightConfig(link=link, seconds=seconds, trajectory=trajectory, target=tuple(target), rate_hz=rate_hz,
                            record_dir=record), log=log)


# ---------------------------------------------------------------------------------- reading back
@dataclass
class FlightLog:
    """A recorded flight as arrays (times in s since the epoch): the state at 100 Hz with the
    on-board policy's rotor speeds, and the setpoints sent -- what a delta-action (ASAP) or system
    identification fit needs."""

    t: np.ndarray
    position: np.ndarray
    quaternion: np.ndarray  # (w, x, y, z)
    linear_velocity: np.ndarray  # world frame
    angular_velocity: np.ndarray  # body frame, rad/s
    motor_t: np.ndarray
    motor_rad_s: np.ndarray
    setpoint_t: np.ndarray
    setpoint: np.ndarray
    events: list[str]

    @property
    def rate_hz(self) -> float:
        return float((len(self.t) - 1) / (self.t[-1] - self.t[0])) if len(self.t) > 1 else 0.0


def read_flight(path: str | Path) -> FlightLog:
    from robot_learning.runtime.recorder import read_recording
    from robot_learning.runtime.ros2 import msgs

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"flight recording {p} does not exist")
    t, pos, quat, vel, rate, mt, mrad, st, sp, ev = [], [], [], [], [], [], [], [], [], []
    for m in read_recording(p):
        if m.topic == TOPICS["odom"]:
            o = msgs.deserialize(msgs.Odometry, m.data)
            q = o.pose.pose.orientation
            qa = np.array([q.w, q.x, q.y, q.z])
            tw = o.twist.twist
            t.append(msgs.seconds_from_time(o.header.stamp))
            pos.append([o.pose.pose.position.x, o.pose.pose.position.y, o.pose.pose.position.z])
            quat.append(qa)
            vel.append(_rotation(qa) @ np.array([tw.linear.x, tw.linear.y, tw.linear.z]))
            rate.append([tw.angular.x, tw.angular.y, tw.angular.z])
        elif m.topic == TOPICS["motors"]:
            js = msgs.deserialize(msgs.JointState, m.data)
            mt.append(msgs.seconds_from_time(js.header.stamp))
            mrad.append(list(js.velocity))
        elif m.topic == TOPICS["setpoint"]:
            ps = msgs.deserialize(msgs.PoseStamped, m.data)
            st.append(msgs.seconds_from_time(ps.header.stamp))
            sp.append([ps.pose.position.x, ps.pose.position.y, ps.pose.position.z])
        elif m.topic == TOPICS["diagnostics"]:
            ev += [s.message for s in msgs.deserialize(msgs.DiagnosticArray, m.data).status]

    def arr(x: list, width: int) -> np.ndarray:
        return np.asarray(x, dtype=np.float64).reshape(-1, width)

    return FlightLog(np.asarray(t), arr(pos, 3), arr(quat, 4), arr(vel, 3), arr(rate, 3), np.asarray(mt), arr(mrad, 4),
                     np.asarray(st), arr(sp, 3), ev)


def main(argv: list[str] | None = None) -> int:
    """``python -m robot_learning.hardware.crazyflie.flight --link URI [--seconds S --trajectory T --record DIR]``
    (what ``robot-learning deploy --robot crazyflie`` runs; the launch file's real-robot variant uses it)."""
    import argparse
    import json
    import sys

    ap = argparse.ArgumentParser(prog="python -m robot_learning.hardware.crazyflie.flight", description="fly the on-board policy of a Crazyflie")
    ap.add_argument("--link", required=True, help="radio://0/80/2M/E7E7E7E7E7 | usb://0 | udp://127.0.0.1:19850")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--trajectory", choices=TRAJECTORIES, default="hover")
    ap.add_argument("--target", type=float, nargs=3, default=(0.0, 0.0, 1.0), metavar=("X", "Y", "Z"))
    ap.add_argument("--record", default=None, help="directory for the MCAP session")
    args = ap.parse_args(argv)
    try:
        summary = deploy_crazyflie(args.link, seconds=args.seconds, trajectory=args.trajectory, record=args.record,
                                   target=tuple(args.target))
    except (ConfigError, FileExistsError) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    print(json.dumps({k: v for k, v in summary.items() if k != "events"}))
    return 0 if summary["outcome"] == "landed" else 1


if __name__ == "__main__":
    raise SystemExit(main())
