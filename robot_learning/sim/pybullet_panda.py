"""The HIL-SERL pick-and-place task in PyBullet: the second engine of the Panda's sim-to-sim gate.

:class:`PyBulletPandaPickPlace` has the public API of
:class:`~robot_learning.tasks.hil_serl.env.PandaPickPlace` that the scripted expert, the runtime and
the evaluator use (``reset(seed)``, ``obs_fields()``, ``observation()``, ``tcp_pos()``, ``tcp_rot()``,
``object_pos()``, ``goal``, ``gripper_closed``, ``gripper_opening()``, ``success()``, ``config``,
``steps``, ``dt``, ``step(arm_action, gripper)``, ``apply_command(tcp_target, close)`` with the same
``info`` keys), so a policy or the expert runs in either engine unchanged.

The scene is built from the same :class:`~robot_learning.tasks.hil_serl.env.PickPlaceConfig`: the
arm is ``pybullet_data``'s ``franka_panda/panda.urdf`` (Franka's kinematics, fixed base at the
origin), the floor is the table, the 4 cm cube has the same mass and friction (1.5), the open bin the
same inner half-size and wall height, and ``reset(seed)`` draws cube, bin and start pose from the
same random stream in the same order as MuJoCo's, so a seed gives the same scene in both engines.

Frames: the TCP is 0.1034 m along the z axis of the URDF's ``panda_hand`` link (between the
fingertips; the URDF's ``panda_grasptarget`` sits at 0.105 m, so it is not used), its rotation is the
hand's: ~diag(1, -1, -1) when the hand points down with its x along the base x, as in MuJoCo.

What differs from MuJoCo (on purpose: this is the *other* engine)
----------------------------------------------------------------
- Arm control: MuJoCo runs a Cartesian impedance controller in torques (bounded spring, null-space
  posture, gravity compensation). Here, once per control period, PyBullet's damped-least-squares IK
  (null space pulled to the home pose) turns the TCP reference (hand pointing down) into joint
  targets, which PyBullet's position motors track with the Panda's effort and velocity limits. The
  reference is still the "bounded impedance reference": clipped to the workspace box, and the
  runtime keeps it within one step of the measured TCP.
- Gripper: the two finger slides are position-controlled separately (PyBullet ignores the URDF's
  mimic tag) with a bounded grasp force per finger (:attr:`PyBulletPandaConfig.finger_force`).
- Contacts: PyBullet's are rigid (LCP), MuJoCo's soft; friction is combined by product in PyBullet
  (cube 1.5 x finger/floor/bin 1.0 = 1.5) and by maximum in MuJoCo (1.5): the same pair values.
- Link inertias: the pybullet_data URDF carries placeholder inertias; under position control they
  matter little, and the sim-to-sim gate measures what remains.

Each instance owns a DIRECT-mode PyBullet client; use it as a context manager or call :meth:`close`.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import numpy as np
import pybullet as p
import pybullet_data

from robot_learning.robots import panda as panda_desc
from robot_learning.runtime.observation import ObservationBuilder
from robot_learning.tasks.hil_serl.env import GRIPPER_CLOSE, GRIPPER_OPEN, OBS_LAYOUT, PickPlaceConfig, observation_fields

GRAVITY = 9.81
URDF_ARM_JOINTS: tuple[str, ...] = tuple(f"panda_{j}" for j in panda_desc.PANDA_ARM_JOINTS)
URDF_FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")
HAND_LINK = "panda_hand"
FINGER_LINKS = ("panda_leftfinger", "panda_rightfinger")
# the held orientation: hand z down, hand x along the base x (a half turn about x), PyBullet (x, y, z, w)
DOWN_XYZW = (1.0, 0.0, 0.0, 0.0)


@dataclass
class PyBulletPandaConfig:
    """How the PyBullet twin simulates (the task itself is :class:`PickPlaceConfig`).

    Attributes:
        physics_dt: PyBullet time step (s); the control period must be a multiple of it.
        solver_iterations: constraint solver iterations per step (grasps need more than the default).
        position_gain / velocity_gain: PyBullet position-motor gains of the arm joints.
        ik_iterations / ik_threshold: PyBullet IK iterations and residual (m) per control period.
        finger_force: N per finger while closing or holding (Franka hand: 70 N continuous in total).
        finger_speed: m/s per finger.
        finger_coupling_force: N, the most the gear constraint that couples the two fingers may apply.
        finger_friction / floor_friction / bin_friction: lateral friction of those bodies (the cube's
            is the task's 1.5; PyBullet multiplies the two bodies' coefficients).
        settle_s: time (s) the arm holds its start pose at reset before the episode begins.
    """

    physics_dt: float = 1.0 / 500.0
    solver_iterations: int = 100
    position_gain: float = 0.05
    velocity_gain: float = 1.0
    ik_iterations: int = 100
    ik_threshold: float = 1e-4
    finger_force: float = 35.0
    finger_speed: float = 0.1
    finger_coupling_force: float = 100.0
    finger_friction: float = 1.0
    floor_friction: float = 1.0
    bin_friction: float = 1.0
    cube_spinning_friction: float = 0.001
    settle_s: float = 0.2


class PyBulletPandaPickPlace:
    """One Panda, one cube, one bin in PyBullet; the API of ``PandaPickPlace`` (see the module docstring)."""

    def __init__(self, config: PickPlaceConfig | None = None, engine: PyBulletPandaConfig | None = None) -> None:
        self.config = cfg = config or PickPlaceConfig()
        self.engine = eng = engine or PyBulletPandaConfig()
        n_sub = 1.0 / (cfg.control_rate_hz * eng.physics_dt)
        self.n_substeps = round(n_sub)
        if self.n_substeps < 1 or abs(n_sub - self.n_substeps) > 1e-6:
            raise ValueError(f"control period 1/{cfg.control_rate_hz} s is not a multiple of physics_dt {eng.physics_dt}")
        self.rng = np.random.default_rng(cfg.seed)
        self.lo = np.array(cfg.workspace_min, dtype=np.float64)
        self.hi = np.array(cfg.workspace_max, dtype=np.float64)
        self.rot_ref = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
        self.tcp_ref = np.array(cfg.start_tcp, dtype=np.float64)
        self.gripper_closed = False
        self.steps = 0
        self.goal = np.zeros(3)
        self._builder = ObservationBuilder(OBS_LAYOUT)
        self._client: int | None = None
        client = p.connect(p.DIRECT)
        if client < 0:
            raise RuntimeError("could not connect to a PyBullet DIRECT physics server")
        self._client = client
        self._build()

    # ------------------------------------------------------------------ scene
    def _build(self) -> None:
        cfg, eng, c = self.config, self.engine, self._client
        p.setGravity(0.0, 0.0, -GRAVITY, physicsClientId=c)
        p.setPhysicsEngineParameter(fixedTimeStep=eng.physics_dt, numSubSteps=0, numSolverIterations=eng.solver_iterations,
                                    deterministicOverlappingPairs=1, physicsClientId=c)
        plane = p.createCollisionShape(p.GEOM_PLANE, physicsClientId=c)
        self.floor = p.createMultiBody(baseMass=0.0, baseCollisionShapeIndex=plane, physicsClientId=c)
        p.changeDynamics(self.floor, -1, lateralFriction=eng.floor_friction, physicsClientId=c)

        urdf = f"{pybullet_data.getDataPath()}/franka_panda/panda.urdf"
        self.robot = p.loadURDF(urdf, basePosition=[0.0, 0.0, 0.0], useFixedBase=True,
                                flags=p.URDF_USE_INERTIA_FROM_FILE, physicsClientId=c)
        joints, links = {}, {}
        for j in range(p.getNumJoints(self.robot, physicsClientId=c)):
            info = p.getJointInfo(self.robot, j, physicsClientId=c)
            joints[info[1].decode()] = j
            links[info[12].decode()] = j
        missing = [n for n in (*URDF_ARM_JOINTS, *URDF_FINGER_JOINTS) if n not in joints] + \
                  [n for n in (HAND_LINK, *FINGER_LINKS) if n not in links]
        if missing:
            raise ValueError(f"{urdf} has no joint(s)/link(s) {missing}")
        self._arm = [joints[n] for n in URDF_ARM_JOINTS]
        self._fingers = [joints[n] for n in URDF_FINGER_JOINTS]
        self._hand = links[HAND_LINK]
        self._finger_links = [links[n] for n in FINGER_LINKS]
        # IK's null space works over every movable joint (7 arm + 2 fingers), in joint-index order
        self._movable = [j for j in range(p.getNumJoints(self.robot, physicsClientId=c))
                         if p.getJointInfo(self.robot, j, physicsClientId=c)[2] != p.JOINT_FIXED]
        self._arm_cols = [self._movable.index(j) for j in self._arm]
        spec = panda_desc.PANDA_SPEC
        lower = [0.0] * len(self._movable)
        upper = [0.04] * len(self._movable)
        for col, lo, hi in zip(self._arm_cols, spec.position_lower, spec.position_upper):
            lower[col], upper[col] = lo, hi
        self._ik_lower, self._ik_upper = lower, upper
        self._ik_ranges = [h - lo for lo, h in zip(lower, upper)]
        rest = [0.04] * len(self._movable)
        for col, q in zip(self._arm_cols, panda_desc.PANDA_HOME):
            rest[col] = q
        self._ik_rest = rest
        self._home = np.array(panda_desc.PANDA_HOME)
        self._effort = list(spec.effort_limit)
        self._vmax = list(spec.velocity_limit)
        for link in range(-1, p.getNumJoints(self.robot, physicsClientId=c)):
            # PyBullet damps every link's velocity by default; the Panda in MuJoCo has no such damping
            p.changeDynamics(self.robot, link, linearDamping=0.0, angularDamping=0.0, physicsClientId=c)
        for link in self._finger_links:
            p.changeDynamics(self.robot, link, lateralFriction=eng.finger_friction, physicsClientId=c)
        p.changeDynamics(self.robot, -1, activationState=p.ACTIVATION_STATE_DISABLE_SLEEPING, physicsClientId=c)
        # the two slides move together, as the Franka hand's (and MuJoCo's equality) coupling makes them:
        # without it two force-saturated fingers leave the grasped cube free to drift sideways
        gear = p.createConstraint(self.robot, self._fingers[0], self.robot, self._fingers[1], jointType=p.JOINT_GEAR,
                                  jointAxis=[1, 0, 0], parentFramePosition=[0, 0, 0], childFramePosition=[0, 0, 0],
                                  physicsClientId=c)
        p.changeConstraint(gear, gearRatio=-1, erp=0.1, maxForce=eng.finger_coupling_force, physicsClientId=c)

        h = cfg.cube_half
        box = p.createCollisionShape(p.GEOM_BOX, halfExtents=[h, h, h], physicsClientId=c)
        vis = p.createVisualShape(p.GEOM_BOX, halfExtents=[h, h, h], rgbaColor=[0.85, 0.2, 0.2, 1.0], physicsClientId=c)
        self.cube = p.createMultiBody(baseMass=cfg.cube_mass, baseCollisionShapeIndex=box, baseVisualShapeIndex=vis,
                                      basePosition=[0.5, 0.0, h], physicsClientId=c)
        p.changeDynamics(self.cube, -1, lateralFriction=1.5, spinningFriction=eng.cube_spinning_friction,
                         linearDamping=0.0, angularDamping=0.0,
                         activationState=p.ACTIVATION_STATE_DISABLE_SLEEPING, physicsClientId=c)

        # the bin: a floor plate and four walls, one static compound body (moved between episodes)
        w, t, ht = cfg.bin_inner_half, 0.008, cfg.bin_height
        parts = [((w + t, w + t, 0.004), (0.0, 0.0, 0.004))]
        for px, py, sx, sy in ((w + t, 0, t, w + t), (-w - t, 0, t, w + t), (0, w + t, w, t), (0, -w - t, w, t)):
            parts.append(((sx, sy, ht / 2), (px, py, ht / 2)))
        shape = p.createCollisionShapeArray([p.GEOM_BOX] * len(parts), halfExtents=[list(s) for s, _ in parts],
                                            collisionFramePositions=[list(o) for _, o in parts], physicsClientId=c)
        vshape = p.createVisualShapeArray([p.GEOM_BOX] * len(parts), halfExtents=[list(s) for s, _ in parts],
                                          visualFramePositions=[list(o) for _, o in parts],
                                          rgbaColors=[[0.3, 0.4, 0.8, 1.0]] * len(parts), physicsClientId=c)
        self.bin = p.createMultiBody(baseMass=0.0, baseCollisionShapeIndex=shape, baseVisualShapeIndex=vshape,
                                     basePosition=[0.5, 0.25, 0.0], physicsClientId=c)
        p.changeDynamics(self.bin, -1, lateralFriction=eng.bin_friction, physicsClientId=c)

    # ------------------------------------------------------------------ state
    @property
    def client(self) -> int:
        if self._client is None:
            raise RuntimeError("PyBulletPandaPickPlace is closed")
        return self._client

    @property
    def dt(self) -> float:
        return self.n_substeps * self.engine.physics_dt

    def _hand_pose(self) -> tuple[np.ndarray, np.ndarray]:
        s = p.getLinkState(self.robot, self._hand, computeForwardKinematics=True, physicsClientId=self.client)
        rot = np.array(p.getMatrixFromQuaternion(s[5], physicsClientId=self.client)).reshape(3, 3)
        return np.array(s[4]), rot

    def tcp_pos(self) -> np.ndarray:
        pos, rot = self._hand_pose()
        return pos + rot[:, 2] * panda_desc.PANDA_TCP_OFFSET

    def tcp_rot(self) -> np.ndarray:
        return self._hand_pose()[1]

    def tcp_vel(self) -> np.ndarray:
        """World velocity of the TCP point: the hand's centre-of-mass velocity plus w x r."""
        s = p.getLinkState(self.robot, self._hand, computeLinkVelocity=True, computeForwardKinematics=True,
                           physicsClientId=self.client)
        r = self.tcp_pos() - np.array(s[0])
        return np.array(s[6]) + np.cross(np.array(s[7]), r)

    def object_pos(self) -> np.ndarray:
        return np.array(p.getBasePositionAndOrientation(self.cube, physicsClientId=self.client)[0])

    def gripper_opening(self) -> float:
        states = p.getJointStates(self.robot, self._fingers, physicsClientId=self.client)
        return float(sum(s[0] for s in states))

    def arm_q(self) -> np.ndarray:
        return np.array([s[0] for s in p.getJointStates(self.robot, self._arm, physicsClientId=self.client)])

    def success(self) -> bool:
        """Ground truth (as in MuJoCo): the cube is inside the bin, below its rim."""
        pos = self.object_pos()
        inner = self.config.bin_inner_half - self.config.cube_half * 0.5
        in_xy = bool(np.all(np.abs(pos[:2] - self.goal[:2]) < inner))
        return in_xy and pos[2] < self.config.bin_height + 0.01

    def _grasped(self) -> bool:
        """The cube touches both fingers."""
        c = self.client
        return all(len(p.getContactPoints(self.cube, self.robot, -1, link, physicsClientId=c)) > 0 for link in self._finger_links)

    def obs_fields(self) -> dict[str, np.ndarray]:
        return observation_fields(self.tcp_pos(), self.tcp_vel(), self.gripper_opening(), self.object_pos(), self.goal)

    def observation(self, fields: dict[str, np.ndarray] | None = None) -> np.ndarray:
        f = self.obs_fields() if fields is None else fields
        return self._builder.build(f, np.zeros(OBS_LAYOUT.size, dtype=np.float32))

    # ------------------------------------------------------------------ episode
    def reset(self, seed: int | None = None) -> np.ndarray:
        """A new scene; the same random draws, in the same order, as ``PandaPickPlace.reset``."""
        cfg, c = self.config, self.client
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        rng = self.rng
        for _ in range(100):
            obj = np.array([rng.uniform(*cfg.object_x), rng.uniform(*cfg.object_y)])
            goal = np.array([rng.uniform(*cfg.goal_x), rng.uniform(*cfg.goal_y)])
            if np.linalg.norm(obj - goal) >= cfg.min_separation + cfg.bin_inner_half:
                break
        yaw = rng.uniform(-cfg.object_yaw, cfg.object_yaw)
        start = np.array(cfg.start_tcp) + rng.uniform(-cfg.start_noise_m, cfg.start_noise_m, 3)
        self.goal = np.array([goal[0], goal[1], 0.008 + cfg.cube_half])
        p.resetBasePositionAndOrientation(self.bin, [goal[0], goal[1], 0.0], [0, 0, 0, 1], physicsClientId=c)
        cube_pose = ([obj[0], obj[1], cfg.cube_half], [0.0, 0.0, np.sin(yaw / 2), np.cos(yaw / 2)])
        self.tcp_ref = np.clip(start, self.lo, self.hi)
        self.gripper_closed = False
        # the arm is put at the start pose by IK from home (MuJoCo drives it there under its controller)
        for j, q in zip(self._arm, self._home):
            p.resetJointState(self.robot, j, q, 0.0, physicsClientId=c)
        for j in self._fingers:
            p.resetJointState(self.robot, j, 0.04, 0.0, physicsClientId=c)
        for _ in range(5):
            q = self._ik(self.tcp_ref)
            for j, qj in zip(self._arm, q):
                p.resetJointState(self.robot, j, qj, 0.0, physicsClientId=c)
        self._q_target = self.arm_q()
        self._command_arm()
        self._command_fingers()
        for _ in range(round(self.engine.settle_s / self.engine.physics_dt)):
            p.resetBasePositionAndOrientation(self.cube, *cube_pose, physicsClientId=c)
            p.resetBaseVelocity(self.cube, [0, 0, 0], [0, 0, 0], physicsClientId=c)
            p.stepSimulation(physicsClientId=c)
        p.resetBasePositionAndOrientation(self.cube, *cube_pose, physicsClientId=c)
        p.resetBaseVelocity(self.cube, [0, 0, 0], [0, 0, 0], physicsClientId=c)
        self.steps = 0
        return self.observation()

    def step(self, arm_action: np.ndarray, gripper: int) -> tuple[np.ndarray, dict]:
        """One 10 Hz step, as ``PandaPickPlace.step``: ``arm_action`` in [-1, 1]^3 (clipped), the TCP
        delta in the TCP frame divided by ``action_scale_m``; ``gripper``: 0 close, 1 stay, 2 open."""
        a = np.clip(np.asarray(arm_action, dtype=np.float64).reshape(3), -1.0, 1.0)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"non-finite arm action {a}")
        target = self.tcp_pos() + self.tcp_rot() @ (a * self.config.action_scale_m)
        close = {GRIPPER_CLOSE: True, GRIPPER_OPEN: False}.get(int(gripper))
        return self.apply_command(target, close)

    def apply_command(self, tcp_target: np.ndarray, close: bool | None) -> tuple[np.ndarray, dict]:
        """One control period towards a TCP reference (clipped to the workspace box); ``close``: True
        closes, False opens, None keeps the gripper."""
        cfg, c = self.config, self.client
        target = np.asarray(tcp_target, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(target)):
            raise ValueError(f"non-finite TCP target {target}")
        self.tcp_ref = np.clip(target, self.lo, self.hi)
        changed = close is not None and close != self.gripper_closed
        if close is not None:
            self.gripper_closed = bool(close)
        self._q_target = self._ik(self.tcp_ref)
        self._command_arm()
        self._command_fingers()
        for _ in range(self.n_substeps):
            p.stepSimulation(physicsClientId=c)
        self.steps += 1
        pos = self.object_pos()
        info = {"success": self.success(), "gripper_changed": changed, "grasped": self._grasped(),
                "timeout": self.steps >= cfg.episode_steps,
                "object_off_table": bool(pos[2] < -0.05 or np.abs(pos[:2]).max() > 1.2)}
        return self.observation(), info

    # ------------------------------------------------------------------ controller
    def _ik(self, tcp_target: np.ndarray) -> np.ndarray:
        """Joint angles putting the TCP at ``tcp_target`` with the hand pointing down (from the current
        state; null space pulled towards the home pose)."""
        hand = tcp_target - self.rot_ref[:, 2] * panda_desc.PANDA_TCP_OFFSET
        sol = p.calculateInverseKinematics(
            self.robot, self._hand, hand.tolist(), DOWN_XYZW, lowerLimits=self._ik_lower, upperLimits=self._ik_upper,
            jointRanges=self._ik_ranges, restPoses=self._ik_rest, maxNumIterations=self.engine.ik_iterations,
            residualThreshold=self.engine.ik_threshold, physicsClientId=self.client)
        q = np.array([sol[col] for col in self._arm_cols])
        spec = panda_desc.PANDA_SPEC
        return np.clip(q, spec.position_lower, spec.position_upper)

    def _command_arm(self) -> None:
        eng = self.engine
        for j, q, f, v in zip(self._arm, self._q_target, self._effort, self._vmax):
            p.setJointMotorControl2(self.robot, j, p.POSITION_CONTROL, targetPosition=float(q), targetVelocity=0.0, force=f,
                                    maxVelocity=v, positionGain=eng.position_gain, velocityGain=eng.velocity_gain,
                                    physicsClientId=self.client)

    def _command_fingers(self) -> None:
        eng = self.engine
        target = 0.0 if self.gripper_closed else 0.04
        for j in self._fingers:
            p.setJointMotorControl2(self.robot, j, p.POSITION_CONTROL, targetPosition=target, force=eng.finger_force,
                                    maxVelocity=eng.finger_speed, physicsClientId=self.client)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Disconnect this instance's physics client (idempotent)."""
        client, self._client = getattr(self, "_client", None), None
        if client is not None and p is not None:
            with contextlib.suppress(p.error, AttributeError, TypeError):
                if p.isConnected(physicsClientId=client):
                    p.disconnect(physicsClientId=client)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()
