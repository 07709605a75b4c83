"""The 23-DoF Unitree G1 in PyBullet: the second physics engine of the getting-up sim-to-sim gate.

:class:`PyBulletG1` has the API of :class:`~robot_learning.sim.mujoco_robot.MujocoJointRobot` for the
G1 (``dt``, ``time``, ``step(targets)``, ``set_gains``, ``state()`` with the same keys and frames,
``reset(pose, base_height, base_quat)``, ``lying(face_up)``), so a policy, a transport or a test can
drive either engine unchanged.

The model is the URDF that :mod:`robot_learning.robots.g1_urdf` converts at run time from the same
Menagerie ``g1.xml`` that MuJoCo simulates: same links, masses, inertias, joint axes and limits, the
six wrists fixed in the URDF (welded at 0, like MuJoCo's deleted wrist joints), the same collision
geometry (convex hulls of the collision meshes, foot spheres, shoulder cylinders) and the same
self-collision filter (MuJoCo's parent/child and rigid-group exclusions, applied with
``setCollisionFilterPair``).

How the PD is applied
---------------------
Every physics step (``physics_dt``, 500 Hz by default) this module reads the 23 joint states,
computes ``tau = kp (q_target - q) - kd qd`` in Python, clips it to the spec's effort limits and
applies it with ``TORQUE_CONTROL``; the target is held for the control period (50 Hz by default,
10 physics steps). PyBullet's default velocity motors, which would otherwise hold every joint still,
are switched off first; what remains of them is a velocity motor with target 0 and a force cap of
MuJoCo's ``frictionloss`` (0.3 N m), which is PyBullet's way of modelling dry joint friction and is
what MuJoCo's frictionloss is (a friction constraint with a bounded force). ``joint_friction=False``
drops it (then the joints are frictionless).

What differs from MuJoCo (and is measured by the sim-to-sim tests rather than hidden)
-------------------------------------------------------------------------------------
- Armature: Menagerie gives every G1 joint 0.01 kg m^2 of reflected rotor inertia; PyBullet has no
  armature, so PyBullet's light distal joints are much lighter than MuJoCo's (ankle roll: 0.0004
  against 0.0104 kg m^2 on the diagonal of the joint-space inertia). Emulating it as link inertia
  fails (the armature about the joint axis alone is not a valid rigid-body inertia on the light links,
  and as a rotor disk on the child link it also loads every joint above). With ``armature=True``
  (default) it is represented in the torque instead, at every physics step: MuJoCo steps the joints
  as ``(H + A + dt Kd) qdd = tau - c``, PyBullet as ``H qdd = tau' - c``, so PyBullet is given
  ``tau' = B tau + (I - B) c`` with ``B = H (H + A + dt Kd)^-1``, ``c`` (gravity, Coriolis, contacts,
  friction, limits) observed from the last step (:meth:`PyBulletG1._armature_torque`). This also makes
  the damping implicit as MuJoCo's is (``dt Kd`` in ``B``). benchmarks/g1_armature.py measures step
  responses of single joints in both engines with and without it (figures in the README).
- Damping integration (``armature=False``): MuJoCo (implicitfast) integrates ``-kd qd`` implicitly. Applied explicitly,
  ``-kd qd`` is unstable when ``kd dt / I > 2`` (ankle roll: 4 * 0.002 / 0.0004 = 20; measured: the
  ankles of the lying robot chatter at ~100 rad/s). With ``implicit_damping=True`` (default) the
  damping torque is the implicit-Euler one of the whole articulated body,
  ``tau_d = -Kd (M + dt Kd)^-1 M qd``, where ``Kd = diag(kd)`` and ``M`` is PyBullet's joint-space
  mass matrix of the 23 joints (for the free robot its Schur complement with the unactuated
  base: the inertia the joints feel when the base is free), refreshed once per control period (see
  :meth:`PyBulletG1._refresh_damping`). This is the torque that an implicit step of the damper
  applies, as MuJoCo's integrator does (MuJoCo's ``M`` also holds the armature, so its reduction is
  milder). Per joint, diag(D)/kd at the default pose of the hung robot: hips 0.42-0.97, knee 0.78,
  waist 0.91-0.99, shoulder pitch/roll 0.76/0.88, elbow 0.34, and for the lightest joints ankle
  pitch 0.21, shoulder yaw 0.08, ankle roll 0.04: these would chatter with the explicit term (the
  ankles of the lying robot at ~100 rad/s, the shoulder yaws at ~25 rad/s). The applied torque is
  clipped to the effort limit and is what ``joint_effort`` reports.
- Contacts: PyBullet's are rigid (LCP with ERP), MuJoCo's are soft (solref 0.02 s), so resting
  penetration and impact bounces differ.
- IMU linear acceleration: PyBullet reports no accelerations; the accelerometer is the IMU site's
  world velocity differenced over the last physics step, minus gravity, in the IMU frame (+9.81 m/s^2
  along the up axis at rest, as MuJoCo's sensor and a real IMU read).

Frames (project conventions, as in MujocoJointRobot): world z up; quaternions (w, x, y, z)
(PyBullet's are (x, y, z, w)); ``base_position`` / ``base_orientation`` are the pelvis *frame* (PyBullet
tracks the base's centre of mass; this module converts); ``base_linear_velocity`` is the world
velocity of the pelvis frame origin; ``imu_*`` refer to Menagerie's ``imu_in_pelvis`` site (angular
velocity and acceleration in the IMU frame); ``head_height`` is the world z of
:data:`~robot_learning.robots.g1.G1_HEAD_OFFSET` in ``torso_link``.

Each instance owns a DIRECT-mode PyBullet client (``physicsClientId`` on every call), so several
coexist in one process; use it as a context manager or call :meth:`PyBulletG1.close`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pybullet as p

from robot_learning.robots import g1 as g1_desc
from robot_learning.robots.g1_urdf import G1UrdfInfo, g1_urdf_path
from robot_learning.sim.pybullet_client import PyBulletClientOwner
from robot_learning.sim.speed import measure_robot_speed
from robot_learning.types import RobotState

GRAVITY = 9.81
#: Menagerie's ``imu_in_pelvis`` site, in the pelvis frame (no rotation).
IMU_IN_PELVIS = (0.04525, 0.0, -0.08339)


@dataclass
class PyBulletG1Config:
    """What :class:`PyBulletG1` simulates.

    Attributes:
        control_rate_hz: rate of ``step`` calls; the control period must be a multiple of physics_dt.
        physics_dt: PyBullet time step (s), 0.002 (500 Hz) by default, as in MuJoCo.
        seed: seeds ``rng`` (initial pose noise); the physics itself is deterministic.
        fix_base: weld the pelvis to the world ("hanging" robot).
        base_height: pelvis height (m) at reset; None: 0.79 m standing for a free G1, 0.89 m fixed.
        initial_pose_noise: half-width (rad) of uniform noise added to the default pose on reset().
        ground: a plane at z = 0.
        ground_friction: the plane's sliding friction. PyBullet multiplies the two bodies'
            coefficients; every G1 link gets its MuJoCo geom friction (feet 0.6, the rest 1.0), so with
            1.0 here the pairs match MuJoCo's (where the foot geoms' priority makes theirs count).
        self_collision: collide the robot with itself (with MuJoCo's exclusions), as MuJoCo does.
        joint_friction: dry joint friction from MuJoCo's frictionloss (see the module docstring).
        implicit_damping: integrate the damping term implicitly per joint (see the module docstring).
        armature: represent MuJoCo's joint armature (reflected rotor inertia) in the PD torque (see the
            module docstring); needs ``implicit_damping``.
        solver_iterations: PyBullet constraint solver iterations per step.
        cache_dir: where the converted URDF is cached (None: ``runs/cache/g1_urdf``).
    """

    control_rate_hz: float = 50.0
    physics_dt: float = 0.002
    seed: int = 0
    fix_base: bool = False
    base_height: float | None = None
    initial_pose_noise: float = 0.0
    ground: bool = True
    ground_friction: float = 1.0
    self_collision: bool = True
    joint_friction: bool = True
    implicit_damping: bool = True
    armature: bool = True
    solver_iterations: int = 50
    cache_dir: str | Path | None = None


def _xyzw(q_wxyz: np.ndarray) -> tuple[float, float, float, float]:
    return (float(q_wxyz[1]), float(q_wxyz[2]), float(q_wxyz[3]), float(q_wxyz[0]))


def _wxyz(q_xyzw: tuple[float, ...]) -> np.ndarray:
    return np.array([q_xyzw[3], q_xyzw[0], q_xyzw[1], q_xyzw[2]])


def _quat_from_pitch(angle: float) -> np.ndarray:
    return np.array([np.cos(angle / 2.0), 0.0, np.sin(angle / 2.0), 0.0])


class PyBulletG1(PyBulletClientOwner):
    """The G1 (23 DoF) under joint PD control in PyBullet; see the module docstring.

    Public attributes: ``spec`` (G1_SPEC), ``config``, ``dt`` (control period, s), ``n_substeps``,
    ``rng``, ``client`` (PyBullet client id), ``body`` (the robot's body id), ``urdf`` (conversion
    info), ``link_index`` (URDF link name -> PyBullet link index, pelvis -1), ``joint_index``
    (spec joint name -> PyBullet joint index), ``kp`` / ``kd`` (current gains).
    """

    def __init__(self, config: PyBulletG1Config | None = None) -> None:
        self.config = config or PyBulletG1Config()
        cfg = self.config
        self.spec = g1_desc.G1_SPEC
        n_sub = 1.0 / (cfg.control_rate_hz * cfg.physics_dt)
        self.n_substeps = round(n_sub)
        if self.n_substeps < 1 or abs(n_sub - self.n_substeps) > 1e-6:
            raise ValueError(
                f"the control period 1/{cfg.control_rate_hz} s is not a multiple of physics_dt {cfg.physics_dt} s"
            )
        self.dt = self.n_substeps * cfg.physics_dt
        self.floating = not cfg.fix_base
        self.rng = np.random.default_rng(cfg.seed)
        self.urdf: G1UrdfInfo = g1_urdf_path(cfg.cache_dir)

        self._client: int | None = None
        client = p.connect(p.DIRECT)
        if client < 0:
            raise RuntimeError("could not connect to a PyBullet DIRECT physics server")
        self._client = client
        p.setGravity(0.0, 0.0, -GRAVITY, physicsClientId=client)
        p.setPhysicsEngineParameter(
            fixedTimeStep=cfg.physics_dt,
            numSubSteps=0,
            numSolverIterations=cfg.solver_iterations,
            deterministicOverlappingPairs=1,
            physicsClientId=client,
        )
        self.ground_id: int | None = None
        if cfg.ground:
            plane = p.createCollisionShape(p.GEOM_PLANE, physicsClientId=client)
            self.ground_id = p.createMultiBody(baseMass=0.0, baseCollisionShapeIndex=plane, physicsClientId=client)
            p.changeDynamics(self.ground_id, -1, lateralFriction=cfg.ground_friction, physicsClientId=client)

        flags = p.URDF_USE_INERTIA_FROM_FILE | p.URDF_MAINTAIN_LINK_ORDER
        if cfg.self_collision:
            flags |= p.URDF_USE_SELF_COLLISION
        self.body = p.loadURDF(
            str(self.urdf.urdf_path),
            basePosition=[0.0, 0.0, self._default_base_height()],
            useFixedBase=cfg.fix_base,
            flags=flags,
            physicsClientId=client,
        )
        self._resolve_indices()
        self._configure_dynamics()

        self.kp = self.spec.array("kp")
        self.kd = self.spec.array("kd")
        self._effort = self.spec.array("effort_limit")
        self._target = self.spec.array("default_positions")
        self._applied = np.zeros(self.spec.num_joints)
        self._damping = np.diag(self.kd)
        self._armature = np.array([self.urdf.joint_armature.get(n, 0.0) for n in self.spec.joint_names])
        if cfg.armature and not cfg.implicit_damping:
            raise ValueError("armature=True needs implicit_damping=True (the armature term is an implicit step)")
        self._gain = np.eye(self.spec.num_joints)
        self._bias: np.ndarray | None = None
        self._prev_torque = np.zeros(self.spec.num_joints)
        self._prev_qd: np.ndarray | None = None
        self._prev_imu_velocity: np.ndarray | None = None
        self._steps = 0
        self.reset()

    # ------------------------------------------------------------------ set-up
    def _default_base_height(self) -> float:
        if self.config.base_height is not None:
            return float(self.config.base_height)
        return g1_desc.G1_STAND_BASE_HEIGHT + (0.1 if self.config.fix_base else 0.0)

    def _resolve_indices(self) -> None:
        c = self._client
        self.link_index: dict[str, int] = {p.getBodyInfo(self.body, physicsClientId=c)[0].decode(): -1}
        joints: dict[str, int] = {}
        for j in range(p.getNumJoints(self.body, physicsClientId=c)):
            info = p.getJointInfo(self.body, j, physicsClientId=c)
            joints[info[1].decode()] = j
            self.link_index[info[12].decode()] = j
        missing = [n for n in self.spec.joint_names if n not in joints]
        if missing:
            raise ValueError(f"{self.urdf.urdf_path} has no joint(s) {missing}")
        self.joint_index = {n: joints[n] for n in self.spec.joint_names}
        self._jidx = [joints[n] for n in self.spec.joint_names]
        self._torso = self.link_index["torso_link"]
        # PyBullet's base pose is its inertial frame; the pelvis frame is that times inverse(local inertial)
        dyn = p.getDynamicsInfo(self.body, -1, physicsClientId=c)
        self._base_inertial = (tuple(dyn[3]), tuple(dyn[4]))
        self._base_inertial_inv = p.invertTransform(dyn[3], dyn[4])
        # qIndex/uIndex of the 23 joints in the mass matrix's columns (6 base DoF first when free)
        offset = 6 if self.floating else 0
        movable = [j for j in range(p.getNumJoints(self.body, physicsClientId=c))
                   if p.getJointInfo(self.body, j, physicsClientId=c)[2] != p.JOINT_FIXED]
        self._mass_cols = np.array([offset + movable.index(j) for j in self._jidx], dtype=np.int64)
        self._movable = movable

    def _configure_dynamics(self) -> None:
        c, cfg = self._client, self.config
        for name, link in self.link_index.items():
            # PyBullet adds velocity damping to every link by default; MuJoCo has none
            p.changeDynamics(
                self.body,
                link,
                linearDamping=0.0,
                angularDamping=0.0,
                lateralFriction=self.urdf.link_friction.get(name, 1.0),
                physicsClientId=c,
            )
        # a robot at rest must not be put to sleep (it would ignore the next torques)
        p.changeDynamics(self.body, -1, activationState=p.ACTIVATION_STATE_DISABLE_SLEEPING, physicsClientId=c)
        if cfg.self_collision:
            for a, b in self.urdf.collision_exclusions:
                p.setCollisionFilterPair(
                    self.body, self.body, self.link_index[a], self.link_index[b], 0, physicsClientId=c
                )
        # switch the default velocity motors off; keep a bounded zero-velocity motor as dry friction
        friction = [
            self.urdf.joint_frictionloss.get(n, 0.0) if cfg.joint_friction else 0.0 for n in self.spec.joint_names
        ]
        p.setJointMotorControlArray(
            self.body,
            self._jidx,
            p.VELOCITY_CONTROL,
            targetVelocities=[0.0] * len(self._jidx),
            forces=friction,
            physicsClientId=c,
        )

    # ------------------------------------------------------------------ SimulatedVehicle protocol
    @property
    def client(self) -> int:
        """This instance's PyBullet client id."""
        if self._client is None:
            raise RuntimeError("PyBulletG1 is closed")
        return self._client

    @property
    def time(self) -> float:
        """Simulation time (s) since the last reset."""
        return self._steps * self.config.physics_dt

    @property
    def num_joints(self) -> int:
        return self.spec.num_joints

    def step(self, command: np.ndarray) -> None:
        """Hold joint position targets ``command`` (G1_SPEC order, rad) for one control period."""
        command = np.asarray(command, dtype=np.float64)
        if command.shape != (self.spec.num_joints,):
            raise ValueError(f"command must have shape ({self.spec.num_joints},), got {command.shape}")
        if not np.all(np.isfinite(command)):
            raise ValueError("command contains NaN or inf")
        self._target = command.copy()
        c, body, jidx = self.client, self.body, self._jidx
        self._refresh_damping()
        for k in range(self.n_substeps):
            states = p.getJointStates(body, jidx, physicsClientId=c)
            q = np.fromiter((s[0] for s in states), float, len(jidx))
            qd = np.fromiter((s[1] for s in states), float, len(jidx))
            tau = self._pd_torque(q, qd)
            self._applied = tau
            if self.config.armature:
                tau = self._armature_torque(tau, qd)
            p.setJointMotorControlArray(body, jidx, p.TORQUE_CONTROL, forces=tau.tolist(), physicsClientId=c)
            if k == self.n_substeps - 1:
                self._prev_imu_velocity = self._imu_world_velocity()
            p.stepSimulation(physicsClientId=c)
            self._steps += 1

    def _pd_torque(self, q: np.ndarray, qd: np.ndarray) -> np.ndarray:
        """``kp (q_target - q) - D qd``, clipped to the effort limits; ``D = diag(kd)`` or, with
        ``implicit_damping``, the implicit-Euler damping matrix of :meth:`_refresh_damping`; with
        ``armature``, ``D = diag(kd)`` (the motor's torque, as MuJoCo's actuator computes it: the implicit
        step is then :meth:`_armature_torque`'s)."""
        damping = np.diag(self.kd) if self.config.armature else self._damping
        tau = self.kp * (self._target - q) - damping @ qd
        return np.clip(tau, -self._effort, self._effort)

    def _armature_torque(self, tau: np.ndarray, qd: np.ndarray) -> np.ndarray:
        """The joint torque that makes PyBullet's joints (no armature) accelerate as MuJoCo's do.

        MuJoCo (implicitfast) steps the joints, with the base's coordinates eliminated, as
        ``(H + A + dt Kd) qdd = tau - c``: ``H`` the joints' effective inertia (the Schur complement of
        :meth:`_refresh_damping`), ``A = diag(armature)``, ``tau`` the motor's PD torque and ``c``
        everything else that acts on the joints (gravity, Coriolis, contacts, joint friction and limits).
        PyBullet steps ``H qdd = tau' - c``. Equal accelerations need
        ``tau' = H qdd + c = B tau + (I - B) c`` with ``B = H (H + A + dt Kd)^-1``. ``c`` is not known
        before the step (contacts are solved in it), so it is observed from the last step:
        ``c ~ tau'_prev - H (qd - qd_prev) / dt`` (exact with one step of lag; 0 on the first step).
        In free motion this is MuJoCo's step; a joint that contact or a limit holds still gets ``tau``
        through a first-order lag of ``dt / B`` (the rotor does not move, yet its torque is filtered)."""
        dt = self.config.physics_dt
        if self._prev_qd is None:
            bias = np.zeros_like(tau)
        else:
            bias = self._prev_torque - self._joint_mass @ ((qd - self._prev_qd) / dt)
        out = self._gain @ tau + bias - self._gain @ bias
        self._prev_qd, self._prev_torque = qd.copy(), out
        return out

    def _refresh_damping(self) -> None:
        """The damping matrix ``D`` of ``tau_d = -D qd`` for the coming control period.

        Explicit: ``D = Kd``. Implicit (default): one implicit-Euler step of the damper alone,
        ``M (qd' - qd) = -dt Kd qd'``, gives ``qd' = (M + dt Kd)^-1 M qd``, so the torque that the step
        actually applies is ``-Kd qd' = -Kd (M + dt Kd)^-1 M qd``. ``M`` is the 23 joints' block of
        PyBullet's mass matrix, reduced by the Schur complement over the six unactuated base
        coordinates when the base is free (a joint torque also moves the base)."""
        kd = np.diag(self.kd)
        if not self.config.implicit_damping:
            self._damping = kd
            return
        c = self.client
        movable_q = [s[0] for s in p.getJointStates(self.body, self._movable, physicsClientId=c)]
        full = np.asarray(p.calculateMassMatrix(self.body, movable_q, physicsClientId=c))
        cols = self._mass_cols
        mass = full[np.ix_(cols, cols)]
        if self.floating:
            base = np.arange(6)
            m_bb = full[np.ix_(base, base)]
            m_bj = full[np.ix_(base, cols)]
            mass = mass - m_bj.T @ np.linalg.solve(m_bb, m_bj)
        self._joint_mass = mass
        self._damping = kd @ np.linalg.solve(mass + self.config.physics_dt * kd, mass)
        if self.config.armature:  # B = H (H + A + dt Kd)^-1 (see _armature_torque)
            self._gain = np.linalg.solve((mass + np.diag(self._armature) + self.config.physics_dt * kd).T, mass.T).T

    def _pelvis_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """World position and (x, y, z, w) orientation of the pelvis frame."""
        c = self.client
        com_pos, com_orn = p.getBasePositionAndOrientation(self.body, physicsClientId=c)
        pos, orn = p.multiplyTransforms(com_pos, com_orn, *self._base_inertial_inv)
        return np.array(pos), np.array(orn)

    def _imu_world_velocity(self) -> np.ndarray:
        """World linear velocity of the IMU site (a point fixed in the pelvis)."""
        c = self.client
        com_pos, _ = p.getBasePositionAndOrientation(self.body, physicsClientId=c)
        v, w = p.getBaseVelocity(self.body, physicsClientId=c)
        pos, orn = self._pelvis_pose()
        rot = np.array(p.getMatrixFromQuaternion(orn)).reshape(3, 3)
        site = pos + rot @ np.array(IMU_IN_PELVIS)
        return np.array(v) + np.cross(np.array(w), site - np.array(com_pos))

    def state(self) -> RobotState:
        """Current state, stamped with simulation time (keys and frames as MujocoJointRobot's)."""
        c = self.client
        states = p.getJointStates(self.body, self._jidx, physicsClientId=c)
        pos, orn = self._pelvis_pose()
        rot = np.array(p.getMatrixFromQuaternion(orn)).reshape(3, 3)
        com_pos, _ = p.getBasePositionAndOrientation(self.body, physicsClientId=c)
        v_com, w = (np.array(x) for x in p.getBaseVelocity(self.body, physicsClientId=c))
        quat = _wxyz(tuple(orn))
        if self.floating:
            v_site = self._imu_world_velocity()
            accel = np.zeros(3) if self._prev_imu_velocity is None else (
                (v_site - self._prev_imu_velocity) / self.config.physics_dt
            )
            base_velocity = v_com + np.cross(w, pos - np.array(com_pos))
        else:
            accel, w, base_velocity = np.zeros(3), np.zeros(3), np.zeros(3)
        torso = p.getLinkState(self.body, self._torso, computeForwardKinematics=True, physicsClientId=c)
        torso_rot = np.array(p.getMatrixFromQuaternion(torso[5])).reshape(3, 3)
        head = np.array(torso[4]) + torso_rot @ np.array(g1_desc.G1_HEAD_OFFSET)
        values = {
            "joint_position": np.array([s[0] for s in states]),
            "joint_velocity": np.array([s[1] for s in states]),
            "joint_effort": self._applied.copy(),
            "imu_orientation": quat.copy(),
            "imu_angular_velocity": rot.T @ w,
            "imu_linear_acceleration": rot.T @ (accel + np.array([0.0, 0.0, GRAVITY])),
            "base_position": pos,
            "base_orientation": quat,
            "base_linear_velocity": base_velocity,
            "head_height": np.array([head[2]]),
        }
        return RobotState(stamp=self.time, values=values)

    # ------------------------------------------------------------------ control helpers
    def set_gains(self, kp: np.ndarray | float, kd: np.ndarray | float) -> None:
        """Set the joint PD gains (scalars or per-joint arrays in spec order); kp = 0 is damping mode."""
        n = self.spec.num_joints
        kp = np.broadcast_to(np.asarray(kp, dtype=np.float64), (n,)).copy()
        kd = np.broadcast_to(np.asarray(kd, dtype=np.float64), (n,)).copy()
        if np.any(kp < 0) or np.any(kd < 0):
            raise ValueError("PD gains must be non-negative")
        self.kp, self.kd = kp, kd

    def default_pose(self) -> np.ndarray:
        """The spec's default (standing) pose."""
        return self.spec.array("default_positions")

    # ------------------------------------------------------------------ resets
    def reset(
        self,
        pose: np.ndarray | None = None,
        base_height: float | None = None,
        base_quat: np.ndarray | None = None,
    ) -> RobotState:
        """Put the robot at ``pose`` (spec order; None: the default pose plus the configured noise),
        at rest, targets = pose, time 0. For a free base: pelvis at (0, 0, ``base_height``) with
        orientation ``base_quat`` (w, x, y, z; None: upright)."""
        c = self.client
        if pose is None:
            q = self.default_pose()
            if self.config.initial_pose_noise > 0:
                q = q + self.rng.uniform(-1.0, 1.0, q.shape) * self.config.initial_pose_noise
        else:
            q = np.asarray(pose, dtype=np.float64)
            if q.shape != (self.spec.num_joints,):
                raise ValueError(f"pose must have shape ({self.spec.num_joints},), got {q.shape}")
        if not self.floating and (base_height is not None or base_quat is not None):
            raise ValueError("base_height/base_quat need a floating base (fix_base=False)")
        for j, value in zip(self._jidx, q):
            p.resetJointState(self.body, j, float(value), 0.0, physicsClientId=c)
        height = self._default_base_height() if base_height is None else float(base_height)
        quat = np.array([1.0, 0.0, 0.0, 0.0]) if base_quat is None else np.asarray(base_quat, float)
        quat = quat / np.linalg.norm(quat)
        com_pos, com_orn = p.multiplyTransforms([0.0, 0.0, height], _xyzw(quat), *self._base_inertial)
        p.resetBasePositionAndOrientation(self.body, com_pos, com_orn, physicsClientId=c)
        p.resetBaseVelocity(self.body, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], physicsClientId=c)
        self._target = q.copy()
        self._applied = np.zeros(self.spec.num_joints)
        self._prev_qd, self._prev_torque = None, np.zeros(self.spec.num_joints)
        self._prev_imu_velocity = None
        self._steps = 0
        return self.state()

    def reset_to(self, qpos: np.ndarray) -> RobotState:
        """Put the robot at a MuJoCo-style ``qpos`` (pelvis position, orientation w, x, y, z, then the
        joints in spec order; e.g. a fallen pose of a dataset), at rest, targets = its joint angles,
        time 0. The ground is a flat plane, so the pelvis goes above the origin at the qpos's height."""
        q = np.asarray(qpos, dtype=np.float64)
        if q.shape != (7 + self.spec.num_joints,) or not np.all(np.isfinite(q)):
            raise ValueError(f"qpos must be {7 + self.spec.num_joints} finite numbers, got shape {q.shape}")
        if not self.floating:
            raise ValueError("reset_to needs the free-floating G1 (fix_base=False)")
        return self.reset(pose=q[7:], base_height=float(q[2]), base_quat=q[3:7])

    def qpos(self) -> np.ndarray:
        """Pelvis position, orientation (w, x, y, z) and the joints in spec order, as :meth:`reset_to` takes them."""
        st = self.state()
        return np.concatenate([st["base_position"], st["base_orientation"], st["joint_position"]])

    def set_configuration(
        self, pose: np.ndarray, base_position: np.ndarray, base_quat: np.ndarray
    ) -> None:
        """Place the robot kinematically (joints in spec order, pelvis frame pose) without resetting
        time or targets; for kinematic comparisons with MuJoCo."""
        c = self.client
        for j, value in zip(self._jidx, np.asarray(pose, float)):
            p.resetJointState(self.body, j, float(value), 0.0, physicsClientId=c)
        com_pos, com_orn = p.multiplyTransforms(
            [float(x) for x in base_position], _xyzw(np.asarray(base_quat, float)), *self._base_inertial
        )
        p.resetBasePositionAndOrientation(self.body, com_pos, com_orn, physicsClientId=c)

    def lying(
        self, face_up: bool = True, pose: np.ndarray | None = None, settle_time: float = 1.5
    ) -> RobotState:
        """Drop the robot on its back (``face_up``) or front from 0.35 m, holding ``pose`` (None: the
        default pose) with the current gains for ``settle_time`` s, then restart the clock at 0; the
        same procedure as MujocoJointRobot.lying."""
        if not self.floating:
            raise ValueError("lying() needs the free-floating G1 (fix_base=False)")
        q = self.default_pose() if pose is None else np.asarray(pose, dtype=np.float64)
        quat = _quat_from_pitch(-np.pi / 2 if face_up else np.pi / 2)
        self.reset(pose=q, base_height=0.35, base_quat=quat)
        for _ in range(round(settle_time / self.dt)):
            self.step(q)
        self._steps = 0
        return self.state()


def measure_speed(
    config: PyBulletG1Config | None = None, control_steps: int = 200, repeats: int = 3
) -> dict[str, float]:
    """Control steps per second of :class:`PyBulletG1` holding the default pose (best of ``repeats``),
    with and without a ``state()`` call per step (:func:`robot_learning.sim.speed.measure_robot_speed`)."""
    with PyBulletG1(config or PyBulletG1Config()) as robot:
        return measure_robot_speed(robot, control_steps, repeats)


if __name__ == "__main__":  # python -m robot_learning.sim.pybullet_g1: speed figures as JSON
    import json

    print(json.dumps(measure_speed(), indent=2))
