"""PyBulletQuadrotor: hover, agreement with an independent RK4 model, sign conventions, drag, ground
effect, client isolation and input validation."""
from __future__ import annotations

import numpy as np
import pytest

from robot_learning.robots.crazyflie import DEFAULT_PARAMS, CrazyflieParams
from robot_learning.runtime.transport import InProcessTransport
from robot_learning.sim.pybullet_quadrotor import PyBulletQuadrotor, PyBulletQuadrotorConfig

P = DEFAULT_PARAMS
HOVER = np.full(4, P.hover_action)
LEVEL = (1.0, 0.0, 0.0, 0.0)


def make(**overrides: object) -> PyBulletQuadrotor:
    return PyBulletQuadrotor(PyBulletQuadrotorConfig(**overrides))  # type: ignore[arg-type]


def fly(sim: PyBulletQuadrotor, command: np.ndarray, seconds: float) -> None:
    for _ in range(int(round(seconds / sim.dt))):
        sim.step(command)


def axis_angle_wxyz(axis: tuple[float, float, float], angle: float) -> np.ndarray:
    a = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * a])


# --- an independent reference: the training simulator's equations, RK4 with a fine step, in numpy ---


def rotation(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def reference_derivative(
    x: np.ndarray, rpm_cmd: np.ndarray, params: CrazyflieParams, force_world: np.ndarray, torque_body: np.ndarray
) -> np.ndarray:
    q, v, w, rpm = x[3:7], x[7:10], x[10:13], x[13:17]
    inertia = np.asarray(params.inertia)
    thrust = params.thrust_coefficient * rpm**2
    forces_body = np.stack([np.zeros(4), np.zeros(4), thrust], axis=1)  # (4, 3)
    tau = np.sum(np.cross(np.asarray(params.rotor_positions), forces_body), axis=0)  # sum r_i x F_i
    tau = tau + np.array([0.0, 0.0, params.yaw_coefficient * np.dot(params.yaw_directions, thrust)]) + torque_body
    acc = rotation(q) @ np.array([0.0, 0.0, thrust.sum()]) / params.mass + np.array([0.0, 0.0, -params.gravity])
    acc = acc + force_world / params.mass
    w_dot = (tau - np.cross(w, inertia * w)) / inertia  # Euler: J w_dot = tau - w x J w
    qw, qv = q[0], q[1:]
    q_dot = 0.5 * np.concatenate([[-qv @ w], qw * w + np.cross(qv, w)])  # q_dot = 0.5 q (x) (0, w)
    rpm_dot = (rpm_cmd - rpm) / params.motor_time_constant
    return np.concatenate([v, q_dot, acc, w_dot, rpm_dot])


def reference_rollout(
    x0: np.ndarray,
    command: np.ndarray,
    seconds: float,
    params: CrazyflieParams = P,
    force_world: np.ndarray = np.zeros(3),
    torque_body: np.ndarray = np.zeros(3),
    h: float = 5e-4,
) -> np.ndarray:
    rpm_cmd = np.asarray(params.action_to_rpm(command))
    x = x0.astype(np.float64).copy()
    for _ in range(int(round(seconds / h))):
        f = lambda s: reference_derivative(s, rpm_cmd, params, force_world, torque_body)  # noqa: E731
        k1 = f(x)
        k2 = f(x + 0.5 * h * k1)
        k3 = f(x + 0.5 * h * k2)
        k4 = f(x + h * k3)
        x = x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        x[3:7] /= np.linalg.norm(x[3:7])
    return x


# --- 1. hover -----------------------------------------------------------------------------------


def test_hover_command_holds_position_and_attitude() -> None:
    with make(drag=False, ground_effect=False) as sim:
        sim.reset((0.0, 0.0, 1.0), LEVEL)
        fly(sim, HOVER, 1.0)
        s = sim.state()
    assert s.stamp == pytest.approx(1.0)
    assert np.linalg.norm(s["position"] - np.array([0.0, 0.0, 1.0])) < 0.02
    assert abs(abs(s["quaternion"][0]) - 1.0) < 1e-6
    assert np.allclose(s["angular_velocity"], 0.0, atol=1e-6)
    assert np.allclose(s["rpm"], P.hover_rpm)
    assert set(s.values) == {"position", "quaternion", "linear_velocity", "angular_velocity", "rpm"}


def test_default_reset_is_hover_and_transport_drives_it() -> None:
    with make() as sim:
        transport = InProcessTransport(sim)
        state = transport.read_state()
        assert state is not None and state.stamp == 0.0
        assert np.allclose(state["position"], [0.0, 0.0, 1.0]) and np.allclose(state["rpm"], P.hover_rpm)
        for _ in range(3):
            transport.send_command(HOVER)
        assert transport.now() == pytest.approx(3 * P.dt)


# --- 2. agreement with the reference model, sign conventions -------------------------------------------


def test_matches_independent_rk4_reference() -> None:
    q0 = axis_angle_wxyz((0.6, -0.8, 0.0), 0.35)
    w0 = np.array([0.4, -0.3, 0.8])
    rpm0 = np.array([13000.0, 15500.0, 14000.0, 15000.0])
    command = P.hover_action + np.array([0.03, -0.02, 0.025, -0.01])
    force, torque = np.array([0.01, -0.02, 0.005]), np.array([2e-6, -1e-6, 1.5e-6])
    with make(drag=False, ground_effect=False, ground=False) as sim:
        sim.reset((0.1, -0.2, 1.0), q0, linear_velocity=(0.5, -0.3, 0.2), angular_velocity_body=w0, rpm=rpm0)
        sim.set_disturbance(force, torque)
        fly(sim, command, 0.3)
        s = sim.state()
    x0 = np.concatenate([[0.1, -0.2, 1.0], q0, [0.5, -0.3, 0.2], w0, rpm0])
    ref = reference_rollout(x0, command, 0.3, force_world=force, torque_body=torque)
    assert np.linalg.norm(s["position"] - ref[0:3]) < 5e-3
    assert np.linalg.norm(s["linear_velocity"] - ref[7:10]) < 2e-2
    assert np.linalg.norm(s["angular_velocity"] - ref[10:13]) < 0.03 * np.linalg.norm(ref[10:13])
    # PyBullet integrates semi-implicitly (first order): at 400 Hz, after ~1.7 rad of rotation in 0.3 s
    # the attitude is 0.016 rad off the fine RK4 reference (0.0016 rad at 4 kHz).
    assert abs(np.dot(s["quaternion"], ref[3:7])) > np.cos(0.03 / 2)
    assert np.allclose(s["rpm"], ref[13:17], rtol=1e-3)


def test_more_front_thrust_pitches_nose_up() -> None:
    # Front rotors (x > 0) push up ahead of the centre of mass: tau = r x F = (y T, -x T, 0), so the
    # body y rate is negative, which in FLU tilts the nose (body x) upwards.
    front = np.array([pos[0] > 0 for pos in P.rotor_positions])
    command = HOVER + np.where(front, 0.02, -0.02)
    with make(drag=False, ground_effect=False) as sim:
        sim.reset((0.0, 0.0, 1.0), LEVEL)
        fly(sim, command, 0.1)
        s = sim.state()
    wx, wy, wz = s["angular_velocity"]
    assert wy < -0.1
    assert abs(wx) < 1e-3 * abs(wy) and abs(wz) < 1e-3 * abs(wy)
    assert rotation(s["quaternion"])[2, 0] > 0.0  # body x has a positive world z component: nose up


def test_more_left_thrust_rolls_right() -> None:
    left = np.array([pos[1] > 0 for pos in P.rotor_positions])
    with make(drag=False, ground_effect=False) as sim:
        sim.reset((0.0, 0.0, 1.0), LEVEL)
        fly(sim, HOVER + np.where(left, 0.02, -0.02), 0.1)
        s = sim.state()
    assert s["angular_velocity"][0] > 0.1  # +x rate: left side up
    assert rotation(s["quaternion"])[2, 1] > 0.0  # body y (left) points up


def test_yaw_direction_matches_yaw_directions() -> None:
    # Speeding up the rotors with yaw_direction +1 (and slowing the others) yaws positively (CCW).
    ccw = np.asarray(P.yaw_directions) > 0
    with make(drag=False, ground_effect=False) as sim:
        sim.reset((0.0, 0.0, 1.0), LEVEL)
        fly(sim, HOVER + np.where(ccw, 0.03, -0.03), 0.2)
        s = sim.state()
    wx, wy, wz = s["angular_velocity"]
    assert wz > 0.1
    assert abs(wx) < 1e-3 * wz and abs(wy) < 1e-3 * wz


# --- 3. drag, ground effect, ground ---------------------------------------------------------------


def test_drag_decelerates_horizontal_motion() -> None:
    speeds = {}
    for drag in (False, True):
        with make(drag=drag, ground_effect=False) as sim:
            sim.reset((0.0, 0.0, 1.0), LEVEL, linear_velocity=(2.0, 0.0, 0.0))
            fly(sim, HOVER, 0.5)
            speeds[drag] = sim.state()["linear_velocity"][0]
    assert speeds[False] == pytest.approx(2.0, abs=1e-6)
    # ~0.41 m/s^2 at hover: F = -9.1785e-7 * (4 * 14476 rpm * 2 pi / 60) * v
    assert 0.1 < speeds[False] - speeds[True] < 0.4


def test_ground_effect_lifts_near_ground_only() -> None:
    def climb(height: float, ground_effect: bool) -> tuple[float, float]:
        with make(drag=False, ground_effect=ground_effect) as sim:
            sim.reset((0.0, 0.0, height), LEVEL)
            fly(sim, HOVER, 0.1)
            s = sim.state()
            return s["position"][2] - height, s["linear_velocity"][2]

    dz, vz = climb(0.02, ground_effect=True)
    assert vz > 0.1 and dz > 0.005  # up to +27 % thrust when the rotors are near the ground
    dz, vz = climb(0.02, ground_effect=False)
    assert abs(vz) < 1e-3 and abs(dz) < 1e-4
    dz, vz = climb(1.0, ground_effect=True)
    assert abs(vz) < 1e-6 and abs(dz) < 1e-6


def test_ground_stops_a_falling_vehicle() -> None:
    with make() as sim:
        sim.reset((0.0, 0.0, 0.2), LEVEL, rpm=np.zeros(4))
        fly(sim, -np.ones(4), 0.6)
        s = sim.state()
    assert 0.0 < s["position"][2] < 0.03
    assert np.linalg.norm(s["linear_velocity"]) < 0.05


# --- 4. isolation and lifetime -------------------------------------------------------------------------


def test_instances_are_independent_and_close_disconnects() -> None:
    import pybullet as pb

    a, b = make(), make()
    try:
        assert a.client_id != b.client_id
        a.reset((0.0, 0.0, 1.0), LEVEL)
        b.reset((1.0, 2.0, 3.0), LEVEL)
        fly(a, np.ones(4), 0.2)  # full throttle: a climbs
        b.step(HOVER)
        sa, sb = a.state(), b.state()
        assert sa["position"][2] > 1.05 and sa.stamp == pytest.approx(0.2)
        assert np.allclose(sb["position"], [1.0, 2.0, 3.0], atol=1e-4) and sb.stamp == pytest.approx(P.dt)
        client = a.client_id
    finally:
        a.close()
    assert not pb.isConnected(physicsClientId=client)
    assert pb.isConnected(physicsClientId=b.client_id)
    b.step(HOVER)  # the other instance still runs
    b.close()
    b.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        b.state()


# --- 5. input validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_command_is_refused(bad: float) -> None:
    with make() as sim:
        before = sim.state()
        with pytest.raises(ValueError, match="finite"):
            sim.step(np.array([P.hover_action, bad, P.hover_action, P.hover_action]))
        assert sim.state().stamp == before.stamp


def test_wrong_command_shape_is_refused_and_commands_are_clipped() -> None:
    with make(drag=False, ground_effect=False, motor_lag=False) as sim:
        with pytest.raises(ValueError, match="shape"):
            sim.step(np.zeros(3))
        sim.step(np.array([5.0, -5.0, 1.0, -1.0]))
        assert np.allclose(sim.state()["rpm"], [P.rpm_max, P.rpm_min, P.rpm_max, P.rpm_min])
