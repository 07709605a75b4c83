"""The HIL-SERL pick-and-place task in PyBullet: the second engine of the Panda's sim-to-sim gate.

:class:`PyBulletPandaPickPlace` has the public API of
:class:`~robot_learning.tasks.hil_serl.env.PandaPickPlace` that the scripted expert, the runtime and
the evaluator use (``reset(seed)``, ``obs_fields()``, ``observation()``, ``tcp_pos()``, ``tcp_rot()``,
``object_pos()``, ``goal``, ``gripper_closed``, ``gripper_opening()``, ``success()``, ``config``,
``steps``, ``dt``, ``step(arm_action, gripper)``, ``apply_command(tcp_target, close)`` with the same
``info`` keys, ``place_object``, ``camera_frames()``), so a policy or the expert runs in either engine
unchanged. With ``observation="image"`` the observation holds the wrist and front cameras' frames,
rendered by PyBullet with MuJoCo's intrinsics and extrinsics
(:mod:`robot_learning.tasks.hil_serl.pybullet_cameras`): an image policy's gate sees another renderer
too. ``set_state(arm_q, finger_q, cube_pos, cube_quat_wxyz, goal)`` puts the scene in a given state
(to compare engines or frames in one state).

The scene is built from the same :class:`~robot_learning.tasks.hil_serl.scene.PickPlaceConfig`: the
arm is ``pybullet_data``'s ``franka_panda/panda.urdf`` (Franka's kinematics, fixed base at the
origin), the floor is the table, the 4 cm cube has the same mass and friction (1.5), the open bin the
same inner half-size and wall height, and ``reset(seed)`` draws cube, bin and start pose from the
same random stream in the same order as MuJoCo's, so a seed gives the same scene in both engines.

Frames: the TCP is 0.1034 m along the z axis of the URDF's ``panda_hand`` link (between the
fingertips; the URDF's ``panda_grasptarget`` sits at 0.105 m, so it is not used), its rotation is the
hand's: ~diag(1, -1, -1) when the hand points down with its x along the base x, as in MuJoCo.

Arm control: the same as MuJoCo's
---------------------------------
The arm runs ``PandaPickPlace``'s Cartesian impedance controller with the same
:class:`PickPlaceConfig` gains, in joint torques (``TORQUE_CONTROL``; PyBullet's default velocity
motors of the arm joints are switched off). Once per control period (0.1 s) the TCP point's Jacobian
(translational over rotational, ``calculateJacobian``) and the null-space projector
``N = I - J^T pinv(J)^T`` are computed; every physics step (500 Hz):
``wrench = [stiffness * clip_norm(tcp_ref - tcp, max_spring_error_m) - damping * v,
rot_stiffness * 0.5 * vee(R_ref R^T - R R_ref^T) - rot_damping * w]`` with ``(v, w) = J qd`` and
``R_ref = diag(1, -1, -1)``, and ``tau = J^T wrench + N (k_null (q_home - q) - 2 sqrt(k_null) qd) +
bias`` (``bias``: gravity and Coriolis from ``calculateInverseDynamics`` at zero acceleration),
clipped to the Panda's effort limits (87 / 12 N m). The reference is the "bounded impedance
reference": clipped to the workspace box, and the runtime keeps it within one step of the measured
TCP. So the TCP keeps moving through the 10 Hz sample instants as in MuJoCo (and on the real Panda)
instead of stopping at each joint target, and the TCP velocity the policy observes is
in-distribution (after three full "down" steps from ``reset(seed=1)``: -0.149 m/s here, -0.146 m/s
in MuJoCo; IK + position control gave -0.044 m/s).

What differs from MuJoCo (on purpose: this is the *other* engine)
----------------------------------------------------------------
- Arm dynamics: the URDF's links carry placeholder inertias (0.1 kg m^2 on every axis) and PyBullet
  has no rotor armature (Menagerie: 0.1 kg m^2 per joint), so the arm's inertia differs: the TCP
  velocity differs most in the step right after a change of command (up to ~35 %), and by ~15 % at
  most on the third step of a held command. Each arm joint gets Menagerie's viscous damping
  (1 N m s/rad, :attr:`PyBulletPandaConfig.joint_damping`; the URDF has none): without it the
  torque loop is stable at 500 Hz too, but the null-space posture swings (in the expert's episodes
  joint 5 reaches 1.5 rad/s while no MuJoCo joint exceeds 1 rad/s; with it, 0.8 rad/s).
- Reset: the arm is placed at the start pose by PyBullet's IK and then held there for
  :attr:`PyBulletPandaConfig.settle_s` under the impedance controller (MuJoCo drives it there from
  home for 1 s under the same controller); the cube is held still meanwhile in both.
- Gripper: the two finger slides are position-controlled separately (PyBullet ignores the URDF's
  mimic tag) with a bounded grasp force per finger (:attr:`PyBulletPandaConfig.finger_force`).
- Contacts: PyBullet's are rigid (LCP), MuJoCo's soft; friction is combined by product in PyBullet
  (cube 1.5 x finger/floor/bin 1.0 = 1.5) and by maximum in MuJoCo (1.5): the same pair values.

Each instance owns a DIRECT-mode PyBullet client; use it as a context manager or call :meth:`close`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pybullet as p
import pybullet_data

from robot_learning.robots import panda as panda_desc
from robot_learning.runtime.observation import ObservationBuilder
from robot_learning.sim.pybullet_client import PyBulletClientOwner
from robot_learning.tasks.hil_serl.pybullet_cameras import (
    PyBulletCameras,
    PyBulletRenderConfig,
    floor_visual,
)
from robot_learning.tasks.hil_serl.scene import (
    GRIPPER_CLOSE,
    GRIPPER_OPEN,
    PickPlaceConfig,
    cube_in_bin,
    draw_scene,
    obs_layout,
    observation_fields,
)

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
        physics_dt: PyBullet time step (s), also the impedance controller's period (500 Hz, as
            ``PickPlaceConfig.physics_dt`` in MuJoCo); the control period must be a multiple of it.
        solver_iterations: constraint solver iterations per step (grasps need more than the default).
        joint_damping: viscous damping of each arm joint (N m s/rad): MuJoCo Menagerie's ``panda.xml``
            joint ``damping`` (the URDF has none).
        ik_iterations / ik_threshold: PyBullet IK iterations and residual (m) placing the arm at the
            start pose at reset.
        finger_force: N per finger while closing or holding (Franka hand: 70 N continuous in total).
        finger_speed: m/s per finger.
        finger_coupling_force: N, the most the gear constraint that couples the two fingers may apply.
        finger_friction / floor_friction / bin_friction: lateral friction of those bodies (the cube's
            is the task's 1.5; PyBullet multiplies the two bodies' coefficients).
        settle_s: time (s) the arm holds its start pose under the impedance controller at reset
            before the episode begins.
        render: how the image option's cameras are drawn (lighting, the floor's extent).
    """

    physics_dt: float = 1.0 / 500.0
    solver_iterations: int = 100
    joint_damping: float = 1.0
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
    render: PyBulletRenderConfig = field(default_factory=PyBulletRenderConfig)


class PyBulletPandaPickPlace(PyBulletClientOwner):
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
        self.gain_scale = 1.0  # impedance stiffness relative to the config's (the runtime's reset motion raises it)
        self.steps = 0
        self.goal = np.zeros(3)
        if cfg.observation == "frame":
            raise ValueError("the PyBullet twin renders the image option's cameras (observation: image), not the frame "
                             "option's single front frame: evaluate a frame policy with --sim mujoco")
        self.layout = obs_layout(cfg)
        self.image_shape = None  # no channels-first "image" term: the image option's frames are named uint8 terms
        self._builder = ObservationBuilder(self.layout)
        self.cameras: PyBulletCameras | None = None
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
        # the image option draws the floor as MuJoCo's checker (the cameras see it); state needs no visual
        look, texture = floor_visual(eng.render, c) if cfg.observation == "image" else (-1, -1)
        self.floor = p.createMultiBody(baseMass=0.0, baseCollisionShapeIndex=plane, baseVisualShapeIndex=look, physicsClientId=c)
        if texture >= 0:
            p.changeVisualShape(self.floor, -1, textureUniqueId=texture, rgbaColor=[1.0, 1.0, 1.0, 1.0], physicsClientId=c)
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
        self._arm_cols = np.array([self._movable.index(j) for j in self._arm])
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
        self._effort = np.array(spec.effort_limit)
        self._zeros = [0.0] * len(self._movable)
        self._null_damping = 2.0 * np.sqrt(cfg.nullspace_stiffness)
        self._j = np.zeros((6, len(self._arm)))
        self._null = np.eye(len(self._arm))
        for link in range(-1, p.getNumJoints(self.robot, physicsClientId=c)):
            # PyBullet damps every link's velocity by default; the Panda in MuJoCo has no such damping
            p.changeDynamics(self.robot, link, linearDamping=0.0, angularDamping=0.0, physicsClientId=c)
        for j in self._arm:
            p.changeDynamics(self.robot, j, jointDamping=eng.joint_damping, physicsClientId=c)
        for link in self._finger_links:
            p.changeDynamics(self.robot, link, lateralFriction=eng.finger_friction, physicsClientId=c)
        # the arm is torque-controlled: switch off PyBullet's default velocity motors (they would brake it)
        p.setJointMotorControlArray(self.robot, self._arm, p.VELOCITY_CONTROL, forces=[0.0] * len(self._arm),
                                    physicsClientId=c)
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
        if cfg.observation == "image":
            self.cameras = PyBulletCameras(c, cfg.cameras(), self._hand_pose, eng.render)

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
        """Ground truth, as in MuJoCo: the cube is inside the bin, below its rim."""
        return cube_in_bin(self.object_pos(), self.goal, self.config)

    def _grasped(self) -> bool:
        """The cube touches both fingers."""
        c = self.client
        return all(len(p.getContactPoints(self.cube, self.robot, -1, link, physicsClientId=c)) > 0 for link in self._finger_links)

    def obs_fields(self) -> dict[str, np.ndarray]:
        """The measured state by name; with ``observation="image"`` also each camera's frame (``<camera>_image``)."""
        fields = observation_fields(self.tcp_pos(), self.tcp_vel(), self.gripper_opening(), self.object_pos(), self.goal)
        if self.cameras is not None:
            fields.update(self.cameras.frames())
        return fields

    def camera_frames(self) -> dict[str, np.ndarray]:
        """Every camera's raw RGB frame, uint8 (height, width, 3), as ``<camera>_image`` (``observation="image"`` only)."""
        if self.cameras is None:
            raise ValueError(f"this scene has no cameras (observation {self.config.observation!r}; cameras need 'image')")
        return self.cameras.frames()

    def observation(self, fields: dict[str, np.ndarray] | None = None) -> np.ndarray:
        f = self.obs_fields() if fields is None else fields
        return self._builder.build(f, np.zeros(self.layout.size, dtype=np.float32))

    def set_state(self, arm_q: np.ndarray, finger_q: np.ndarray | None = None, cube_pos: np.ndarray | None = None,
                  cube_quat_wxyz: np.ndarray | None = None, goal: np.ndarray | None = None) -> None:
        """Put the scene in a given state at rest, without stepping: the arm (7 joint angles, MuJoCo's
        order), the fingers (two slide positions, m), the cube (centre, and orientation as MuJoCo's
        w, x, y, z quaternion) and the goal (the bin's floor centre, as ``goal``); what is not given stays.
        To compare the two engines, or their frames, in one state."""
        c = self.client
        for j, qj in zip(self._arm, np.asarray(arm_q, dtype=np.float64).reshape(len(self._arm))):
            p.resetJointState(self.robot, j, float(qj), 0.0, physicsClientId=c)
        if finger_q is not None:
            for j, qj in zip(self._fingers, np.asarray(finger_q, dtype=np.float64).reshape(2)):
                p.resetJointState(self.robot, j, float(qj), 0.0, physicsClientId=c)
        if cube_pos is not None:
            w, x, y, z = (1.0, 0.0, 0.0, 0.0) if cube_quat_wxyz is None else np.asarray(cube_quat_wxyz, dtype=np.float64)
            p.resetBasePositionAndOrientation(self.cube, np.asarray(cube_pos, dtype=np.float64).tolist(), [x, y, z, w],
                                              physicsClientId=c)
            p.resetBaseVelocity(self.cube, [0, 0, 0], [0, 0, 0], physicsClientId=c)
        if goal is not None:
            self.goal = np.asarray(goal, dtype=np.float64).reshape(3).copy()
            p.resetBasePositionAndOrientation(self.bin, [self.goal[0], self.goal[1], 0.0], [0, 0, 0, 1], physicsClientId=c)

    def place_object(self, xy: np.ndarray, yaw: float = 0.0, z: float | None = None) -> np.ndarray:
        """Put the cube at rest at ``(x, y)`` (on the table, or with its centre at height ``z``), as
        ``PandaPickPlace.place_object``. Returns the observation."""
        h = self.config.cube_half if z is None else float(z)
        p.resetBasePositionAndOrientation(self.cube, [float(xy[0]), float(xy[1]), h], [0.0, 0.0, np.sin(yaw / 2), np.cos(yaw / 2)],
                                          physicsClientId=self.client)
        p.resetBaseVelocity(self.cube, [0, 0, 0], [0, 0, 0], physicsClientId=self.client)
        return self.observation()

    # ------------------------------------------------------------------ episode
    def reset(self, seed: int | None = None) -> np.ndarray:
        """A new scene; the same random draws, in the same order, as ``PandaPickPlace.reset``."""
        cfg, c = self.config, self.client
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        rng = self.rng
        obj, goal, yaw, start = draw_scene(rng, cfg)
        self.goal = np.array([goal[0], goal[1], 0.008 + cfg.cube_half])
        p.resetBasePositionAndOrientation(self.bin, [goal[0], goal[1], 0.0], [0, 0, 0, 1], physicsClientId=c)
        cube_pose = ([obj[0], obj[1], cfg.cube_half], [0.0, 0.0, np.sin(yaw / 2), np.cos(yaw / 2)])
        self.tcp_ref = np.clip(start, self.lo, self.hi)
        self.gripper_closed = False
        self.gain_scale = 1.0  # impedance stiffness relative to the config's (the runtime's reset motion raises it)
        # the arm is put at the start pose by IK from home, then held there under the impedance controller
        # (MuJoCo drives it there from home under the same controller)
        for j, q in zip(self._arm, self._home):
            p.resetJointState(self.robot, j, q, 0.0, physicsClientId=c)
        for j in self._fingers:
            p.resetJointState(self.robot, j, 0.04, 0.0, physicsClientId=c)
        for _ in range(5):
            q = self._ik(self.tcp_ref)
            for j, qj in zip(self._arm, q):
                p.resetJointState(self.robot, j, qj, 0.0, physicsClientId=c)
        self._command_fingers()
        for k in range(round(self.engine.settle_s / self.engine.physics_dt)):
            p.resetBasePositionAndOrientation(self.cube, *cube_pose, physicsClientId=c)
            p.resetBaseVelocity(self.cube, [0, 0, 0], [0, 0, 0], physicsClientId=c)
            if k % self.n_substeps == 0:
                self._prepare_control()
            self._control()
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

    def apply_command(self, tcp_target: np.ndarray, close: bool | None, stiffness_scale: float = 1.0) -> tuple[np.ndarray, dict]:
        """One control period towards a TCP reference (clipped to the workspace box); ``close``: True
        closes, False opens, None keeps the gripper; ``stiffness_scale`` as in ``PandaPickPlace.apply_command``."""
        cfg, c = self.config, self.client
        self.gain_scale = float(stiffness_scale)
        target = np.asarray(tcp_target, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(target)):
            raise ValueError(f"non-finite TCP target {target}")
        self.tcp_ref = np.clip(target, self.lo, self.hi)
        changed = close is not None and close != self.gripper_closed
        if close is not None:
            self.gripper_closed = bool(close)
        self._command_fingers()
        self._prepare_control()
        for _ in range(self.n_substeps):
            self._control()
            p.stepSimulation(physicsClientId=c)
        self.steps += 1
        pos = self.object_pos()
        info = {"success": self.success(), "gripper_changed": changed, "grasped": self._grasped(),
                "timeout": self.steps >= cfg.episode_steps,
                "object_off_table": bool(pos[2] < -0.05 or np.abs(pos[:2]).max() > 1.2)}
        return self.observation(), info

    # ------------------------------------------------------------------ controller
    def _joint_states(self) -> tuple[list[float], list[float]]:
        """Positions and velocities of every movable joint (7 arm + 2 fingers), in joint-index order."""
        states = p.getJointStates(self.robot, self._movable, physicsClientId=self.client)
        return [s[0] for s in states], [s[1] for s in states]

    def _prepare_control(self) -> None:
        """Once per control period (as ``PandaPickPlace._prepare_control``): the TCP Jacobian
        (translational over rotational, arm columns), the null-space projector, and from them the
        matrices of :meth:`_control`."""
        cfg = self.config
        q, _ = self._joint_states()
        # calculateJacobian's point is in the link's (URDF) frame: the TCP is PANDA_TCP_OFFSET along the hand's z
        jl, ja = p.calculateJacobian(self.robot, self._hand, [0.0, 0.0, panda_desc.PANDA_TCP_OFFSET], q, self._zeros,
                                     self._zeros, physicsClientId=self.client)
        j = self._j = np.vstack([np.asarray(jl)[:, self._arm_cols], np.asarray(ja)[:, self._arm_cols]])
        null = self._null = np.eye(len(self._arm)) - j.T @ np.linalg.pinv(j).T
        # PandaPickPlace._control's law, with J and N fixed over the period, regrouped so that a physics
        # step is one matrix product (the same torques up to rounding, with far fewer small numpy calls):
        #   tau = J^T (k * e - d * (J qd)) + N (k_null (q_home - q) - d_null qd) + bias
        #       = [J^T k | -(J^T d J + d_null N) | -k_null N] @ [e; qd; q] + k_null N q_home + bias
        # with e = [clipped TCP position error; rotation error], k = (stiffness x3, rot_stiffness x3),
        # d = (damping x3, rot_damping x3).
        gs = self.gain_scale
        k = np.repeat([gs * cfg.stiffness, cfg.rot_stiffness], 3)
        d = np.repeat([np.sqrt(gs) * cfg.damping, cfg.rot_damping], 3)
        self._gain = np.hstack([j.T * k, -(j.T @ (d[:, None] * j) + self._null_damping * null),
                                -cfg.nullspace_stiffness * null])
        self._offset = cfg.nullspace_stiffness * null @ self._home

    def _control(self) -> None:
        """Every physics step, ``PandaPickPlace._control``'s law (see :meth:`_prepare_control`):
        Cartesian impedance with a bounded spring (TCP position and orientation), null-space posture,
        gravity/Coriolis compensation, as arm joint torques clipped to the effort limits."""
        cfg, c = self.config, self.client
        states = p.getJointStates(self.robot, self._movable, physicsClientId=c)
        q_all, qd_all = [s[0] for s in states], [s[1] for s in states]
        hand = p.getLinkState(self.robot, self._hand, computeForwardKinematics=True, physicsClientId=c)
        rot = np.array(p.getMatrixFromQuaternion(hand[5], physicsClientId=c)).reshape(3, 3)
        err = self.tcp_ref - hand[4] - rot[:, 2] * panda_desc.PANDA_TCP_OFFSET
        n = math.sqrt(err @ err)
        if n > cfg.max_spring_error_m:
            err *= cfg.max_spring_error_m / n
        rm = self.rot_ref @ rot.T  # rotation error 0.5 * vee(R_ref R^T - R R_ref^T), as in MuJoCo
        rot_err = [0.5 * (rm[2, 1] - rm[1, 2]), 0.5 * (rm[0, 2] - rm[2, 0]), 0.5 * (rm[1, 0] - rm[0, 1])]
        x = np.array([*err, *rot_err, *(qd_all[i] for i in self._arm_cols), *(q_all[i] for i in self._arm_cols)])
        # gravity + Coriolis of the whole chain, fingers included: inverse dynamics at zero acceleration
        bias = p.calculateInverseDynamics(self.robot, q_all, qd_all, self._zeros, physicsClientId=c)
        tau = self._gain @ x + self._offset + np.array(bias)[self._arm_cols]
        tau = np.minimum(np.maximum(tau, -self._effort), self._effort)
        p.setJointMotorControlArray(self.robot, self._arm, p.TORQUE_CONTROL, forces=tau.tolist(), physicsClientId=c)

    def _ik(self, tcp_target: np.ndarray) -> np.ndarray:
        """Joint angles putting the TCP at ``tcp_target`` with the hand pointing down (from the current
        state; null space pulled towards the home pose): the start pose at reset."""
        hand = tcp_target - self.rot_ref[:, 2] * panda_desc.PANDA_TCP_OFFSET
        sol = p.calculateInverseKinematics(
            self.robot, self._hand, hand.tolist(), DOWN_XYZW, lowerLimits=self._ik_lower, upperLimits=self._ik_upper,
            jointRanges=self._ik_ranges, restPoses=self._ik_rest, maxNumIterations=self.engine.ik_iterations,
            residualThreshold=self.engine.ik_threshold, physicsClientId=self.client)
        q = np.array([sol[col] for col in self._arm_cols])
        spec = panda_desc.PANDA_SPEC
        return np.clip(q, spec.position_lower, spec.position_upper)

    def _command_fingers(self) -> None:
        eng = self.engine
        target = 0.0 if self.gripper_closed else 0.04
        for j in self._fingers:
            p.setJointMotorControl2(self.robot, j, p.POSITION_CONTROL, targetPosition=target, force=eng.finger_force,
                                    maxVelocity=eng.finger_speed, physicsClientId=self.client)

