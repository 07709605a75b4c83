"""The Crazyflie in PyBullet: the second physics engine of the sim-to-sim gate.

The policy is trained in the batched torch simulator (robot_learning/sim/torch_quadrotor.py: RK4
rigid body, no drag, no ground effect). Here the same Crazyflie (robot_learning/robots/crazyflie.py)
is a PyBullet rigid body driven by per-rotor forces and torques applied every physics step, with
two effects the training simulator does not model:

- rotor/body drag, linear in velocity and proportional to the sum of the rotor speeds;
- ground effect, a per-rotor thrust increase close to the ground.

Both are the models of gym-pybullet-drones (utiasDSL/gym-pybullet-drones, ``BaseAviary._drag`` and
``BaseAviary._groundEffect``) with its Crazyflie 2.x coefficients (``assets/cf2x.urdf``).

Per physics step (``physics_hz``, default 400 Hz, i.e. 4 steps per 0.01 s control period):

1. the motor RPM follows the command through the first-order lag (exact exponential update);
2. thrust_i = kf rpm_i^2 (rpm at the middle of the step), times (1 + ground effect), along body z
   at rotor i's position, applied with ``applyExternalForce`` in the world frame (PyBullet forms
   r x F itself);
3. the rotors' reaction torque sum_i yaw_directions[i] yaw_coefficient thrust_i about body z, the
   drag force at the centre of mass and the external disturbance are added;
4. ``stepSimulation`` (PyBullet clears external forces after every step, so all of the above is
   re-applied each step).

Torques are always rotated to the world frame here and applied with ``WORLD_FRAME``:
``applyExternalTorque`` with ``LINK_FRAME`` on a base is a known PyBullet pitfall.

Frames follow the project conventions: world z up, body FLU, quaternion (w, x, y, z) body -> world
(PyBullet's is (x, y, z, w)), linear velocity in the world frame, angular velocity in the body frame
(PyBullet reports it in the world frame).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pybullet as p

from robot_learning.robots.crazyflie import DEFAULT_PARAMS, CrazyflieParams
from robot_learning.sim.pybullet_client import PyBulletClientOwner
from robot_learning.types import RobotState

# --- Aerodynamic coefficients of gym-pybullet-drones' Crazyflie 2.x (assets/cf2x.urdf) --------------
# Drag (BaseAviary._drag, after Forster 2015): F_body = -DRAG_COEFF * sum_i(omega_i) * v_body, with
# omega_i the rotor speeds in rad/s (gym-pybullet-drones multiplies by 2 pi rpm / 60: the coefficients
# are per rad/s, not per RPM). At hover (sum omega ~ 6060 rad/s) this is ~5.6e-3 N per m/s in x, y.
DRAG_COEFF_XY = 9.1785e-7  # N per (m/s) per (rad/s)
DRAG_COEFF_Z = 10.311e-7
# Ground effect (BaseAviary._groundEffect, SiQi Zhou's model): extra thrust of rotor i, along body z,
#   thrust_i * GND_EFF_COEFF * (PROP_RADIUS / (4 h_i))^2,
# h_i the rotor's height above the ground, clipped below at GND_EFF_H_CLIP; applied only while the
# vehicle is upright (gym-pybullet-drones: |roll|, |pitch| < pi / 2).
GND_EFF_COEFF = 11.36859
PROP_RADIUS = 2.31348e-2  # m
# gym-pybullet-drones: 0.25 R sqrt(15 max_rpm^2 kf GND_EFF_COEFF / max_thrust), which does not depend on
# the rotor model (max_thrust = 4 kf max_rpm^2): about 0.0378 m, where the extra thrust is 4/15 (+27 %).
GND_EFF_H_CLIP = 0.25 * PROP_RADIUS * math.sqrt(15.0 * GND_EFF_COEFF / 4.0)
# Not in gym-pybullet-drones: above this height the ground effect is switched off (there it adds
# < 0.16 % of thrust), so that flight at altitude is exactly the drag-only model.
GND_EFF_MAX_HEIGHT = 0.5  # m

# Collision box of the body (m): about the Crazyflie's frame including the motor mounts.
BODY_HALF_EXTENTS = (0.045, 0.045, 0.015)

RPM_TO_RAD_PER_S = 2.0 * math.pi / 60.0


@dataclass
class PyBulletQuadrotorConfig:
    """What the PyBullet Crazyflie simulates."""

    params: CrazyflieParams = DEFAULT_PARAMS
    physics_hz: int = 400  # PyBullet steps per second; must be a multiple of 1 / params.dt
    drag: bool = True
    ground_effect: bool = True  # needs the ground (no ground, no ground effect)
    ground: bool = True  # a plane at z = 0 with collisions
    motor_lag: bool = True  # first-order lag with params.motor_time_constant (off: rpm = command)
    seed: int = 0  # seeds ``PyBulletQuadrotor.rng``; the physics itself is deterministic


def quat_wxyz_to_xyzw(q: Sequence[float]) -> tuple[float, float, float, float]:
    return (float(q[1]), float(q[2]), float(q[3]), float(q[0]))


def quat_xyzw_to_wxyz(q: Sequence[float]) -> np.ndarray:
    return np.array([q[3], q[0], q[1], q[2]], dtype=np.float64)


def rotation_matrix_wxyz(q: np.ndarray) -> np.ndarray:
    """Rotation matrix (body -> world) of a unit quaternion (w, x, y, z)."""
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def _finite_vector(name: str, value: Sequence[float] | np.ndarray, size: int) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != (size,):
        raise ValueError(f"{name} must have shape ({size},), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {array.tolist()}")
    return array


class PyBulletQuadrotor(PyBulletClientOwner):
    """A Crazyflie in its own PyBullet physics client, stepped one control period at a time.

    Implements :class:`robot_learning.runtime.transport.SimulatedVehicle`. Every PyBullet call passes
    this instance's ``physicsClientId``, so several instances coexist in one process. Use it as a
    context manager or call :meth:`close` to disconnect.

    After construction the vehicle hovers at (0, 0, 1) m, level, at rest, with hover RPM; call
    :meth:`reset` to place it elsewhere.
    """

    def __init__(self, config: PyBulletQuadrotorConfig | None = None) -> None:
        self._client: int | None = None
        self.config = config if config is not None else PyBulletQuadrotorConfig()
        params = self.config.params
        self.params = params
        self.dt: float = params.dt
        substeps = self.config.physics_hz * params.dt
        if self.config.physics_hz <= 0 or abs(substeps - round(substeps)) > 1e-9 or round(substeps) < 1:
            raise ValueError(
                f"physics_hz ({self.config.physics_hz}) must be a positive multiple of the control rate (1 / {params.dt} s)"
            )
        self.substeps = int(round(substeps))
        self.physics_dt = 1.0 / self.config.physics_hz
        self.rng = np.random.default_rng(self.config.seed)

        self._rotor_positions = np.asarray(params.rotor_positions, dtype=np.float64)  # (4, 3), body frame
        self._yaw_directions = np.asarray(params.yaw_directions, dtype=np.float64)
        self._drag_coeff = np.array([DRAG_COEFF_XY, DRAG_COEFF_XY, DRAG_COEFF_Z])
        # Motor lag per physics step: rpm <- cmd + (rpm - cmd) * decay (exact for a constant command);
        # thrust uses the rpm half-way through the step.
        tau = params.motor_time_constant
        self._decay = math.exp(-self.physics_dt / tau) if self.config.motor_lag else 0.0
        self._half_decay = math.exp(-0.5 * self.physics_dt / tau) if self.config.motor_lag else 0.0

        client = p.connect(p.DIRECT)
        if client < 0:
            raise RuntimeError("could not connect to a PyBullet DIRECT physics server")
        self._client = client
        p.setGravity(0.0, 0.0, -params.gravity, physicsClientId=client)
        p.setPhysicsEngineParameter(
            fixedTimeStep=self.physics_dt,
            numSubSteps=0,
            numSolverIterations=20,  # only contacts with the ground need the solver
            deterministicOverlappingPairs=1,
            physicsClientId=client,
        )
        if self.config.ground:
            plane = p.createCollisionShape(p.GEOM_PLANE, physicsClientId=client)
            self.ground_id: int | None = p.createMultiBody(baseMass=0.0, baseCollisionShapeIndex=plane, physicsClientId=client)
        else:
            self.ground_id = None
        box = p.createCollisionShape(p.GEOM_BOX, halfExtents=list(BODY_HALF_EXTENTS), physicsClientId=client)
        self.body_id: int = p.createMultiBody(
            baseMass=params.mass, baseCollisionShapeIndex=box, basePosition=[0.0, 0.0, 1.0], physicsClientId=client
        )
        p.changeDynamics(
            self.body_id,
            -1,
            localInertiaDiagonal=list(params.inertia),
            linearDamping=0.0,  # PyBullet's default damping would be an unmodelled drag
            angularDamping=0.0,
            activationState=p.ACTIVATION_STATE_DISABLE_SLEEPING,  # a hovering body must never be put to sleep
            physicsClientId=client,
        )

        self._rpm = np.zeros(4)
        self._force_world = np.zeros(3)
        self._torque_body = np.zeros(3)
        self._physics_steps = 0
        self.reset(position=(0.0, 0.0, 1.0), quaternion_wxyz=(1.0, 0.0, 0.0, 0.0))

    # --- SimulatedVehicle -------------------------------------------------------------------------

    @property
    def client_id(self) -> int:
        """This instance's PyBullet physics client id (raises once closed)."""
        if self._client is None:
            raise RuntimeError("PyBulletQuadrotor is closed")
        return self._client

    @property
    def time(self) -> float:
        """Simulation time (s) since the last reset."""
        return self._physics_steps * self.physics_dt

    def reset(
        self,
        position: Sequence[float] | np.ndarray,
        quaternion_wxyz: Sequence[float] | np.ndarray,
        linear_velocity: Sequence[float] | np.ndarray = (0.0, 0.0, 0.0),
        angular_velocity_body: Sequence[float] | np.ndarray = (0.0, 0.0, 0.0),
        rpm: Sequence[float] | np.ndarray | None = None,
    ) -> None:
        """Place the vehicle and restart the clock at 0. ``rpm`` None means hover RPM on all motors.

        The quaternion is (w, x, y, z), body -> world, and is normalised; the linear velocity is in the
        world frame, the angular velocity in the body frame. The disturbance is kept (see
        :meth:`set_disturbance`).
        """
        client = self.client_id
        pos = _finite_vector("position", position, 3)
        quat = _finite_vector("quaternion_wxyz", quaternion_wxyz, 4)
        norm = float(np.linalg.norm(quat))
        if norm < 1e-9:
            raise ValueError("quaternion_wxyz must be non-zero")
        quat = quat / norm
        vel = _finite_vector("linear_velocity", linear_velocity, 3)
        omega_body = _finite_vector("angular_velocity_body", angular_velocity_body, 3)
        if rpm is None:
            self._rpm = np.full(4, self.params.hover_rpm)
        else:
            self._rpm = np.clip(_finite_vector("rpm", rpm, 4), self.params.rpm_min, self.params.rpm_max)
        p.resetBasePositionAndOrientation(self.body_id, pos.tolist(), quat_wxyz_to_xyzw(quat), physicsClientId=client)
        omega_world = rotation_matrix_wxyz(quat) @ omega_body
        p.resetBaseVelocity(self.body_id, vel.tolist(), omega_world.tolist(), physicsClientId=client)
        self._physics_steps = 0

    def step(self, command: np.ndarray) -> None:
        """Hold the normalised RPM ``command`` (4 values, clipped to [-1, 1]) for one control period."""
        client = self.client_id
        cmd = np.asarray(command, dtype=np.float64)
        if cmd.shape != (4,):
            raise ValueError(f"command must have shape (4,) (one normalised RPM per rotor), got {cmd.shape}")
        if not np.all(np.isfinite(cmd)):
            raise ValueError(f"command must be finite (NaN/inf refused by the simulator), got {cmd.tolist()}")
        rpm_cmd = np.asarray(self.params.action_to_rpm(cmd), dtype=np.float64)
        for _ in range(self.substeps):
            self._physics_step(rpm_cmd, client)

    def state(self) -> RobotState:
        """Position (3), quaternion (4, w x y z), world linear velocity (3), body angular velocity (3),
        rpm (4), stamped with the simulation time."""
        client = self.client_id
        pos, quat_xyzw = p.getBasePositionAndOrientation(self.body_id, physicsClientId=client)
        vel, omega_world = p.getBaseVelocity(self.body_id, physicsClientId=client)
        quat = quat_xyzw_to_wxyz(quat_xyzw)
        omega_body = rotation_matrix_wxyz(quat).T @ np.asarray(omega_world, dtype=np.float64)
        return RobotState(
            stamp=self.time,
            values={
                "position": np.asarray(pos, dtype=np.float64),
                "quaternion": quat,
                "linear_velocity": np.asarray(vel, dtype=np.float64),
                "angular_velocity": omega_body,
                "rpm": self._rpm.copy(),
            },
        )

    def set_disturbance(self, force_world: np.ndarray, torque_body: np.ndarray) -> None:
        """External force (world frame, at the centre of mass) and torque (body frame), held constant
        until changed again (zero by default)."""
        self._force_world = _finite_vector("force_world", force_world, 3)
        self._torque_body = _finite_vector("torque_body", torque_body, 3)

    # --- physics ------------------------------------------------------------------------------------

    def _physics_step(self, rpm_cmd: np.ndarray, client: int) -> None:
        params = self.params
        rpm_mid = rpm_cmd + (self._rpm - rpm_cmd) * self._half_decay
        self._rpm = np.clip(rpm_cmd + (self._rpm - rpm_cmd) * self._decay, params.rpm_min, params.rpm_max)

        pos_t, quat_xyzw = p.getBasePositionAndOrientation(self.body_id, physicsClientId=client)
        pos = np.asarray(pos_t, dtype=np.float64)
        rot = rotation_matrix_wxyz(quat_xyzw_to_wxyz(quat_xyzw))  # body -> world
        rotor_positions_world = pos + self._rotor_positions @ rot.T  # (4, 3)

        rotor_thrust = params.thrust_coefficient * rpm_mid * rpm_mid  # (4,), out of ground effect
        thrust = rotor_thrust
        if self.config.ground_effect and self.ground_id is not None and rot[2, 2] > 0.0:
            heights = np.maximum(rotor_positions_world[:, 2], GND_EFF_H_CLIP)
            boost = GND_EFF_COEFF * (PROP_RADIUS / (4.0 * heights)) ** 2
            thrust = thrust * (1.0 + np.where(rotor_positions_world[:, 2] < GND_EFF_MAX_HEIGHT, boost, 0.0))

        body_z = rot[:, 2]
        for i in range(4):
            p.applyExternalForce(
                self.body_id,
                -1,
                forceObj=(thrust[i] * body_z).tolist(),
                posObj=rotor_positions_world[i].tolist(),
                flags=p.WORLD_FRAME,
                physicsClientId=client,
            )

        force_world = self._force_world.copy()
        if self.config.drag:
            vel_world, _ = p.getBaseVelocity(self.body_id, physicsClientId=client)
            vel_body = rot.T @ np.asarray(vel_world, dtype=np.float64)
            rotor_speed_sum = float(np.sum(rpm_mid)) * RPM_TO_RAD_PER_S
            force_world += rot @ (-self._drag_coeff * rotor_speed_sum * vel_body)
        if np.any(force_world):
            p.applyExternalForce(
                self.body_id, -1, forceObj=force_world.tolist(), posObj=pos.tolist(), flags=p.WORLD_FRAME, physicsClientId=client
            )

        torque_body = self._torque_body.copy()
        # Reaction torque from the thrust out of ground effect (as gym-pybullet-drones, whose yaw torque
        # is km rpm^2 and whose ground effect is a pure force).
        torque_body[2] += params.yaw_coefficient * float(np.dot(self._yaw_directions, rotor_thrust))
        p.applyExternalTorque(
            self.body_id, -1, torqueObj=(rot @ torque_body).tolist(), flags=p.WORLD_FRAME, physicsClientId=client
        )

        p.stepSimulation(physicsClientId=client)
        self._physics_steps += 1

