"""The Crazyflie ground link over cflib's real UDP driver, on 127.0.0.1 only.

No Crazyflie can be plugged in here, so the vehicle is the simulated one
(robot_learning/bridges/crazyflie_crtp_sim.py: CRTP over UDP, PyBullet + the shipped policy, the
firmware's 200 ms dead-man switch); every test that talks to it says so in its name. The link, cflib
and its UDP driver, the monitors and the recorder are the real ones.
"""
from __future__ import annotations

import _thread
import socket
import signal
import threading
import time

import numpy as np
import pytest

pytest.importorskip("cflib")
pytest.importorskip("pybullet")

from robot_learning.bridges.crazyflie_crtp_sim import CrtpSimConfig, SimulatedCrazyflie
from robot_learning.hardware.crazyflie.flight import (
    FlightConfig,
    FlightRecorder,
    fly,
    ground_limits,
    read_flight,
)
from robot_learning.hardware.crazyflie.link import (
    CrazyflieLink,
    CrazyflieLinkError,
    LinkConfig,
)
from robot_learning.robots import crazyflie_crtp as P
from robot_learning.runtime.safety import QuadrotorLimits


@pytest.fixture
def vehicle():
    v = SimulatedCrazyflie(CrtpSimConfig(port=0)).start()  # an ephemeral port on 127.0.0.1
    yield v
    v.close()


def _connected(v: SimulatedCrazyflie, **kw) -> CrazyflieLink:
    return CrazyflieLink(LinkConfig(uri=v.uri, connect_timeout_s=5.0), **kw).connect()


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connects_reads_selftest_and_sets_mode_over_cflib_udp_against_a_simulated_vehicle(vehicle):
    with _connected(vehicle) as link:
        assert link.read_param(P.SELFTEST_PARAM) == P.SELFTEST_NOT_RUN  # the OOT controller's init runs it
        with pytest.raises(CrazyflieLinkError, match="has not run"):
            link.check_selftest()
        link.select_controller()
        assert vehicle.param(P.CONTROLLER_PARAM) == P.CONTROLLER_OOT and link.get_param(P.CONTROLLER_PARAM) == P.CONTROLLER_OOT
        assert link.check_selftest() == P.SELFTEST_PASSED
        assert link.get_param(P.MODE_PARAM) == P.RLCTL_MODE_OFF
        link.set_mode(True)
        assert vehicle.param(P.MODE_PARAM) == P.RLCTL_MODE_POLICY and link.read_param(P.MODE_PARAM) == P.RLCTL_MODE_POLICY
        with pytest.raises(AttributeError, match="read-only"):  # cflib refuses to write the self-test result
            link.cf.param.set_value(P.SELFTEST_PARAM, 0)


def test_setpoint_stream_takes_off_hovers_logs_100hz_to_mcap_and_deadman_stops_motors_over_cflib_udp_against_a_simulated_vehicle(vehicle, tmp_path):
    rec = FlightRecorder(tmp_path, session="hover")
    states = []

    def on_state(s):
        states.append(s)
        rec.state(s)

    target = np.array([0.0, 0.0, 0.6])
    with _connected(vehicle, on_state=on_state) as link:
        link.select_policy(True)  # OOT controller, self-test passed, rlctl.mode 1
        link.start_logging()
        assert not vehicle.motors_on  # selected but not triggered: the motors stay off
        t0 = time.monotonic()
        while (t := time.monotonic() - t0) < 4.0:  # take-off ramp at 0.5 m/s, then hover
            sp = target * min(1.0, t / 1.2)
            link.send_position(*sp, 0.0)
            rec.setpoint(sp)
            time.sleep(0.02)
        last_setpoint = time.monotonic()
        assert vehicle.motors_on
        err_truth = float(np.linalg.norm(vehicle.truth() - target))
        err_logged = float(np.linalg.norm(link.latest()["position"] - target))
        # stop streaming (no stop setpoint): the dead-man switch must cut the motors ~200 ms later
        while vehicle.motors_on and time.monotonic() - last_setpoint < 1.0:
            time.sleep(0.002)
        off = [t for t, e in vehicle.events if e == "motors off" and t > last_setpoint]
    rec.close()
    assert err_truth < 0.12 and err_logged < 0.12, (err_truth, err_logged)
    assert off, "the motors did not stop after the stream ended"
    assert 0.18 <= off[0] - vehicle.last_position_setpoint <= 0.30, off[0] - vehicle.last_position_setpoint
    flight = read_flight(rec.path)  # the recorder's reader, through read_recording
    assert 90.0 <= flight.rate_hz <= 105.0, flight.rate_hz
    assert len(flight.t) >= 0.9 * len(states) and len(flight.setpoint_t) > 150
    assert np.all(np.isfinite(flight.motor_rad_s)) and flight.motor_rad_s.max() > 1000.0  # rotors spun (rad/s)
    assert abs(flight.position[len(flight.t) * 3 // 4, 2] - target[2]) < 0.15


def test_emergency_stop_cuts_motors_and_latches_over_cflib_udp_against_a_simulated_vehicle(vehicle):
    with _connected(vehicle) as link:
        link.select_policy(True)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.0:
            link.send_position(0.0, 0.0, 0.3, 0.0)
            time.sleep(0.02)
        assert vehicle.motors_on
        link.emergency_stop("test")  # port 9, channel 1, 0x03 (CRTP protocol 12)
        t_stop = time.monotonic()
        while time.monotonic() - t_stop < 0.6:  # the ground keeps streaming: the stop must hold
            link.send_position(0.0, 0.0, 0.3, 0.0)
            time.sleep(0.02)
        assert vehicle.estopped and not vehicle.motors_on
        off = [t for t, e in vehicle.events if e == "motors off"]
        assert off and off[-1] - t_stop < 0.1
        assert vehicle.controller.mode.name == "ESTOP"


def test_a_monitor_fault_stops_the_stream_and_estops_with_its_reason_over_cflib_udp_against_a_simulated_vehicle(vehicle, tmp_path):
    limits = QuadrotorLimits(**{**ground_limits().__dict__, "geofence_min": (-0.25, -1.0, -0.2), "geofence_max": (0.25, 1.0, 1.5)})
    cfg = FlightConfig(link=vehicle.uri, seconds=5.0, trajectory="figure8", target=(0.0, 0.0, 0.4), takeoff_speed=0.8,
                       record_dir=str(tmp_path), limits=limits)
    summary = fly(cfg, log=lambda text: None)  # the figure-eight's 0.6 m half-width leaves the 0.25 m fence
    assert summary["outcome"].startswith("estop: geofence"), summary["outcome"]
    time.sleep(0.05)
    assert vehicle.estopped and not vehicle.motors_on
    flight = read_flight(summary["recording"])
    assert any(e.startswith("estop: geofence") for e in flight.events)
    assert flight.position[-1, 0] > 0.2  # it was stopped where it crossed the fence


def test_ctrl_c_during_a_flight_sends_the_emergency_stop_over_cflib_udp_against_a_simulated_vehicle(vehicle):
    # Ctrl-C 0.5 s after the setpoint stream starts (not at a fixed time: on a loaded machine the
    # connection alone can take longer than that, and the flight must be under way when it comes)
    timer = threading.Timer(0.5, _thread.interrupt_main)

    def log(text: str) -> None:
        if "streaming" in text and not timer.is_alive():
            timer.start()

    # a process started in the background (nohup, `cmd &`) inherits SIGINT ignored, and then Python turns
    # Ctrl-C (and interrupt_main) into nothing: give the test the terminal's Ctrl-C for its duration
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        summary = fly(FlightConfig(link=vehicle.uri, seconds=5.0, target=(0.0, 0.0, 0.5)), log=log)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert summary["outcome"] == "interrupted" and summary["setpoints_sent"] > 20
    time.sleep(0.05)
    assert vehicle.estopped and not vehicle.motors_on


def test_refuses_clearly_when_nothing_listens_on_the_loopback_udp_port():
    uri = f"udp://127.0.0.1:{_free_loopback_port()}"
    t0 = time.monotonic()
    with pytest.raises(CrazyflieLinkError) as e:
        CrazyflieLink(LinkConfig(uri=uri, connect_timeout_s=2.0)).connect()
    assert time.monotonic() - t0 < 3.0
    text = str(e.value)
    assert "\n" not in text and uri in text and ("refused" in text or "no Crazyflie answered" in text), text


def test_refuses_a_vehicle_without_the_rl_firmware_or_with_a_failed_selftest_against_a_simulated_vehicle():
    for cfg, match in ((CrtpSimConfig(port=0, with_rlctl=False), "flash the RL controller firmware"),
                       (CrtpSimConfig(port=0, selftest=P.SELFTEST_FAILED), "self-test failed")):
        with SimulatedCrazyflie(cfg) as v, _connected(v) as link, pytest.raises(CrazyflieLinkError, match=match):
            link.select_policy(True)


@pytest.mark.parametrize("uri, match", [("tcp://127.0.0.1:1", "must start with"), ("udp://127.0.0.1", "host and a port")])
def test_bad_link_uris_are_one_line_errors(uri, match):
    with pytest.raises(CrazyflieLinkError, match=match):
        LinkConfig(uri=uri)


def test_the_simulated_vehicle_binds_loopback_only():
    with pytest.raises(ValueError, match="loopback only"):
        CrtpSimConfig(host="0.0.0.0")
