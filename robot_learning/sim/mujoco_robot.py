"""A joint-PD robot in MuJoCo (Unitree G1, Franka Panda), stepped one control period at a time.

:class:`MujocoJointRobot` implements the runtime's ``SimulatedVehicle`` protocol
(robot_learning/runtime/transport.py): ``step(command)`` takes joint position targets in the order of
the robot's :class:`~robot_learning.robots.joint_robot.JointRobotSpec` and holds them for one control
period (default 50 Hz) while the physics runs at 500 Hz (``physics_dt`` 0.002 s).

How the PD is applied
---------------------
The Menagerie models come with their own position actuators (G1: kp 500, critically damped; Panda:
its own servos). Those are deleted and replaced, with ``mujoco.MjSpec`` before compiling, by one
actuator per spec joint of MuJoCo's "general" type with an affine bias::

    force = gainprm[0] * ctrl + biasprm[1] * q + biasprm[2] * qd
          = kp * q_target - kp * q - kd * qd = kp (q_target - q) - kd qd,

clipped to +-effort_limit by the actuator's ``forcerange``. So the spec's gains are exactly what is
applied, at every physics step, inside MuJoCo's C loop: a control period is one
``mujoco.mj_step(model, data, nstep)`` call with no Python per physics step. The ``implicitfast``
integrator of both models treats the ``-kd qd`` term implicitly, which keeps the stiff Panda servos
and the G1's kd against its small armature stable at 500 Hz. ``set_gains`` rewrites
``actuator_gainprm`` / ``actuator_biasprm`` (damping mode: ``kp = 0``). Joint targets are not clipped
here (that is the safety layer's job); torques are. ``joint_effort`` in the state is the applied,
clipped actuator torque (the models' passive joint friction/damping/armature stay as Menagerie has them).

How the G1's wrists are fixed
-----------------------------
HumanUP/ASAP's G1 has 23 DoF: the six wrist joints are deleted from the model with ``MjSpec`` (with
their actuators), which welds each hand rigidly to its elbow link at the wrist's zero angle. The
wrists are then not just locked but gone: ``nv`` drops from 35 to 29, nothing can move them and no
solver effort is spent on them. (Keyframes are deleted as well, since they no longer fit ``nq``.)

``fix_base=True`` deletes the G1's free joint in the same way, welding the pelvis to the world
("hanging" robot, for upper-body tests). MuJoCo's parent-child contact filter does not apply to a
body welded to the world, so the pelvis' contacts with its child links (hips, waist) are excluded
explicitly, as they are implicitly for the free robot.

Frames (project conventions): world z up; quaternions (w, x, y, z); ``imu_orientation`` is the IMU
site's orientation in the world; ``imu_angular_velocity`` and ``imu_linear_acceleration`` are in the
IMU frame, from MuJoCo gyro/accelerometer sensors that this module adds on the spec's IMU site (the
accelerometer reads +9.81 m/s^2 along the up axis at rest, as a real one does); ``base_linear_velocity``
is in the world frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import mujoco
import numpy as np

from robot_learning.core.checks import check
from robot_learning.core.config import FieldError
from robot_learning.robots import g1 as g1_desc
from robot_learning.robots import panda as panda_desc
from robot_learning.robots.assets import g1_model_path, panda_model_path
from robot_learning.robots.g1_mjcf import add_hand_collisions
from robot_learning.robots.joint_robot import JointRobotSpec
from robot_learning.sim.mjspec_pd import (
    IMU_ACC_SENSOR,
    IMU_GYRO_SENSOR,
    IMU_QUAT_SENSOR,
    add_imu_sensors,
    replace_with_pd_actuators,
)
from robot_learning.sim.speed import measure_robot_speed
from robot_learning.sim.terrain import TerrainConfig, apply_terrain
from robot_learning.types import RobotState

RobotName = Literal["g1", "panda"]

_IMU_QUAT, _IMU_GYRO, _IMU_ACC = IMU_QUAT_SENSOR, IMU_GYRO_SENSOR, IMU_ACC_SENSOR
_HEAD_SITE = "rl_head"
_TCP_SITE = "rl_tcp"


@dataclass
class RobotRandomization:
    """Domain randomisation of the simulated G1 (HumanUP's Stage II factors), for evaluation episodes.

    Drawn anew at every ``reset`` / ``reset_to`` (one episode) by a generator seeded with
    ``(config.seed, episode number)``, so an episode's robot depends on the seed and the episode, not on
    what ran before: sliding friction of every contact, pelvis mass (inertia scaled with it) and centre
    of mass, motor strength (a per-joint scale of kp and kd; the effort limits stay) and the action
    delay (whole physics steps during which the previous targets still act). During the episode: a
    horizontal velocity kick of the pelvis every ``push_interval_s`` and Gaussian noise on the sensor
    readings of ``state()`` (gyro, roll and pitch of the IMU, joint positions and velocities; std
    ``obs_noise`` in the policy's observation units, as the training environment adds it).
    A factor left at its default is the nominal robot (None: the model's value; 0: none).
    """

    friction: tuple[float, float] | None = None
    base_mass_delta_kg: tuple[float, float] | None = None
    com_offset_m: float = 0.0  # per axis, +-
    motor_strength: tuple[float, float] | None = None
    action_delay_s: float = 0.0  # drawn in [0, this], whole physics steps, at most one control period
    push_interval_s: float = 4.0
    push_max_speed: float = 0.0  # m/s, uniform in a disc of this radius
    obs_noise: float = 0.0

    def __post_init__(self) -> None:
        check(self, positive=("friction", "motor_strength", "push_interval_s"),
              ordered=("friction", "base_mass_delta_kg", "motor_strength"),
              non_negative=("com_offset_m", "action_delay_s", "push_max_speed", "obs_noise"))

    @property
    def nominal(self) -> bool:
        """No factor is randomised."""
        return (self.friction is None and self.base_mass_delta_kg is None and self.com_offset_m == 0.0
                and self.motor_strength is None and self.action_delay_s == 0.0 and self.push_max_speed == 0.0
                and self.obs_noise == 0.0)


#: std of ``RobotRandomization.obs_noise`` per sensor reading, divided by the observation's scale
#: (the policy sees gyro * 0.25 and joint velocity * 0.05; roll, pitch and joint angles unscaled)
_NOISE_SCALE = {"imu_angular_velocity": 0.25, "roll_pitch": 1.0, "joint_position": 1.0, "joint_velocity": 0.05}


@dataclass
class MujocoRobotConfig:
    """What :class:`MujocoJointRobot` simulates.

    Attributes:
        robot: ``"g1"`` (Unitree G1, 23 DoF) or ``"panda"`` (Franka Panda arm + hand).
        variant: G1 collision model: ``"mesh"`` (Menagerie g1.xml) or ``"primitive"`` (g1_mjx.xml with
            its explicit contact pairs; faster). Ignored for the Panda.
        control_rate_hz: rate of ``step`` calls; the control period must be a multiple of physics_dt.
        physics_dt: MuJoCo time step (s), 0.002 (500 Hz) by default.
        seed: seeds ``rng`` (initial pose noise); the physics itself is deterministic.
        fix_base: weld the G1's pelvis to the world (no free joint).
        base_height: pelvis height (m) at reset; None: the standing height (0.79 m) for a free G1,
            0.1 m higher (feet off the ground) for a fixed one.
        initial_pose: ``"default"`` (the spec's default pose) or ``"knees_bent"`` (G1 only,
            Menagerie scene_mjx.xml "home").
        initial_pose_noise: half-width (rad) of uniform noise added to the initial joint angles.
        gripper_opening: Panda finger opening (m per finger, 0..0.04) held by the hand actuator.
        terrain: the G1's ground (:mod:`robot_learning.sim.terrain`); None: flat. The state's
            ``head_height`` is then measured above the ground under the head.
        randomization: the G1's domain randomisation per episode (:class:`RobotRandomization`);
            None: the nominal robot.
    """

    robot: RobotName = "g1"
    variant: Literal["mesh", "primitive"] = "mesh"
    control_rate_hz: float = 50.0
    physics_dt: float = 0.002
    seed: int = 0
    fix_base: bool = False
    base_height: float | None = None
    initial_pose: Literal["default", "knees_bent"] = "default"
    initial_pose_noise: float = 0.0
    gripper_opening: float = 0.04
    terrain: TerrainConfig | None = None
    randomization: RobotRandomization | None = None

    def __post_init__(self) -> None:
        if self.randomization is not None and (self.robot != "g1" or self.fix_base):
            raise FieldError("randomization", "is for the free-floating G1 only")


def _quat_from_pitch(angle: float) -> np.ndarray:
    return np.array([np.cos(angle / 2.0), 0.0, np.sin(angle / 2.0), 0.0])


class MujocoJointRobot:
    """A G1 or Panda under joint PD control in MuJoCo; see the module docstring.

    Public attributes: ``spec`` (the robot description), ``config``, ``dt`` (control period, s),
    ``model`` / ``data`` (MuJoCo), ``n_substeps`` (physics steps per control period), ``rng``.
    """

    def __init__(self, config: MujocoRobotConfig | None = None) -> None:
        self.config = config or MujocoRobotConfig()
        cfg = self.config
        if cfg.robot == "g1":
            self.spec: JointRobotSpec = g1_desc.G1_SPEC
            path = g1_model_path(cfg.variant)
            removed = g1_desc.G1_WRIST_JOINTS
        elif cfg.robot == "panda":
            self.spec = panda_desc.PANDA_SPEC
            path = panda_model_path()
            removed = ()
        else:
            raise ValueError(f"unknown robot {cfg.robot!r}; expected 'g1' or 'panda'")
        if cfg.initial_pose == "knees_bent" and cfg.robot != "g1":
            raise ValueError("initial_pose='knees_bent' exists only for the G1")

        n_sub = 1.0 / (cfg.control_rate_hz * cfg.physics_dt)
        self.n_substeps = round(n_sub)
        if self.n_substeps < 1 or abs(n_sub - self.n_substeps) > 1e-6:
            raise ValueError(
                f"the control period 1/{cfg.control_rate_hz} s is not a multiple of physics_dt {cfg.physics_dt} s"
            )
        self.dt = self.n_substeps * cfg.physics_dt
        self.floating = self.spec.floating_base and not cfg.fix_base
        self.rng = np.random.default_rng(cfg.seed)

        self.model = self._build_model(path, removed)
        self.data = mujoco.MjData(self.model)
        self._resolve_indices()
        self._init_randomization()
        self.kp = self.spec.array("kp")
        self.kd = self.spec.array("kd")
        self.set_gains(self.kp, self.kd)
        self._dirty = True
        self.reset()

    # ------------------------------------------------------------------ model construction
    def _build_model(self, path: Path, removed: tuple[str, ...]) -> mujoco.MjModel:
        spec = mujoco.MjSpec.from_file(str(path))
        weld_base = self.spec.floating_base and self.config.fix_base
        replace_with_pd_actuators(spec, self.spec, removed, delete_free_joint=weld_base, source=str(path))
        if self.spec.imu_body is not None:
            add_imu_sensors(spec, self.spec)
        if self.config.robot == "g1":
            if self.config.variant == "mesh":
                add_hand_collisions(spec)  # as robot_learning.sim.g1_model builds it
            spec.body("torso_link").add_site(name=_HEAD_SITE, pos=list(g1_desc.G1_HEAD_OFFSET))
            apply_terrain(spec, self.config.terrain)
            if self.config.fix_base:
                pelvis = spec.body("pelvis")
                pelvis.pos = [0.0, 0.0, self._default_base_height()]
                # MuJoCo skips parent-child contacts except when the parent is welded to the world;
                # keep the free model's behaviour by excluding the pelvis' contacts with its children.
                for child in pelvis.bodies:
                    spec.add_exclude(bodyname1="pelvis", bodyname2=child.name)
        else:
            spec.body("hand").add_site(name=_TCP_SITE, pos=[0.0, 0.0, panda_desc.PANDA_TCP_OFFSET])
        spec.option.timestep = self.config.physics_dt
        return spec.compile()

    def _default_base_height(self) -> float:
        if self.config.base_height is not None:
            return float(self.config.base_height)
        if self.config.initial_pose == "knees_bent":
            stand = g1_desc.G1_KNEES_BENT_BASE_HEIGHT
        else:
            stand = g1_desc.G1_STAND_BASE_HEIGHT
        return stand + (0.1 if self.config.fix_base else 0.0)

    def _resolve_indices(self) -> None:
        m = self.model
        jids = [m.joint(n).id for n in self.spec.joint_names]
        self._qadr = np.array([m.jnt_qposadr[j] for j in jids], dtype=np.int64)
        self._vadr = np.array([m.jnt_dofadr[j] for j in jids], dtype=np.int64)
        self._act = np.array([m.actuator(f"rl_pd_{n}").id for n in self.spec.joint_names], dtype=np.int64)
        # any remaining actuator (the Panda hand) is held at a fixed ctrl
        self._aux_act = np.array([i for i in range(m.nu) if i not in set(self._act.tolist())], dtype=np.int64)
        self._aux_ctrl = np.zeros(len(self._aux_act))
        if self.config.robot == "panda":
            lo, hi = panda_desc.PANDA_GRIPPER.opening_range
            opening = float(np.clip(self.config.gripper_opening, lo, hi))
            self._aux_ctrl[:] = 255.0 * opening / hi  # Menagerie maps ctrl 0..255 to 0..0.04 m
            self._finger_qadr = np.array(
                [m.jnt_qposadr[m.joint(n).id] for n in panda_desc.PANDA_GRIPPER.joint_names], dtype=np.int64
            )
            self._tcp_site = m.site(_TCP_SITE).id
        else:
            self._head_site = m.site(_HEAD_SITE).id
        self._root_body = m.body("pelvis" if self.config.robot == "g1" else "link0").id
        self._imu_slices: dict[str, slice] = {}
        if self.spec.imu_body is not None:
            for key, name in (("quat", _IMU_QUAT), ("gyro", _IMU_GYRO), ("acc", _IMU_ACC)):
                sid = m.sensor(name).id
                adr, dim = m.sensor_adr[sid], m.sensor_dim[sid]
                self._imu_slices[key] = slice(adr, adr + dim)
        self._free_qadr = None
        if self.floating:
            free = [j for j in range(m.njnt) if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE]
            self._free_qadr = int(m.jnt_qposadr[free[0]])
            self._free_vadr = int(m.jnt_dofadr[free[0]])

    # ------------------------------------------------------------------ domain randomisation
    def _init_randomization(self) -> None:
        m = self.model
        self._strength = np.ones(self.spec.num_joints)
        self._delay_steps = 0
        self._push_every = 0
        self._control_steps = 0
        self._episode = 0
        self._noise_rng: np.random.Generator | None = None
        #: the current episode's randomised parameters (empty for the nominal robot)
        self.randomization_sample: dict[str, float | list[float]] = {}
        if self.config.randomization is None:
            return
        self._pelvis = m.body("pelvis").id
        self._nominal = {"geom_friction": m.geom_friction.copy(), "pair_friction": m.pair_friction.copy(),
                         "mass": float(m.body_mass[self._pelvis]), "inertia": m.body_inertia[self._pelvis].copy(),
                         "ipos": m.body_ipos[self._pelvis].copy()}
        self._push_every = max(1, int(round(self.config.randomization.push_interval_s / self.dt)))
        low = self.config.randomization.base_mass_delta_kg
        if low is not None and self._nominal["mass"] + low[0] <= 0:
            raise ValueError(f"base_mass_delta_kg {low} would leave the pelvis ({self._nominal['mass']:.3f} kg) without mass")

    def _randomize(self) -> None:
        """A new episode's robot (see :class:`RobotRandomization`), drawn by ``(seed, episode number)``."""
        r = self.config.randomization
        if r is None:
            return
        m, nom = self.model, self._nominal
        self._episode += 1
        rng = np.random.default_rng((self.config.seed, self._episode))
        m.geom_friction[:] = nom["geom_friction"]
        m.pair_friction[:] = nom["pair_friction"]
        sample: dict[str, float | list[float]] = {"episode": self._episode}
        if r.friction is not None:
            mu = float(rng.uniform(*r.friction))
            m.geom_friction[:, 0] = mu
            m.pair_friction[:, 0:2] = mu
            sample["friction"] = mu
        delta = float(rng.uniform(*r.base_mass_delta_kg)) if r.base_mass_delta_kg is not None else 0.0
        m.body_mass[self._pelvis] = nom["mass"] + delta
        m.body_inertia[self._pelvis] = nom["inertia"] * ((nom["mass"] + delta) / nom["mass"])
        com = rng.uniform(-r.com_offset_m, r.com_offset_m, 3) if r.com_offset_m > 0 else np.zeros(3)
        m.body_ipos[self._pelvis] = nom["ipos"] + com
        sample["pelvis_mass_kg"] = float(m.body_mass[self._pelvis])
        sample["com_offset_m"] = com.tolist()
        self._strength = (rng.uniform(*r.motor_strength, self.spec.num_joints) if r.motor_strength is not None
                          else np.ones(self.spec.num_joints))
        sample["motor_strength"] = self._strength.tolist()
        max_delay = min(int(round(r.action_delay_s / self.config.physics_dt)), self.n_substeps)
        self._delay_steps = int(rng.integers(0, max_delay + 1))
        sample["action_delay_s"] = self._delay_steps * self.config.physics_dt
        mujoco.mj_setConst(m, self.data)
        self._noise_rng = rng  # the same episode's stream then draws the pushes and the sensor noise
        self._control_steps = 0
        self.randomization_sample = sample
        self.set_gains(self.kp, self.kd)

    def _after_control_step(self) -> None:
        r = self.config.randomization
        self._control_steps += 1
        if r is None or r.push_max_speed <= 0 or self._control_steps % self._push_every or self._noise_rng is None:
            return
        angle = self._noise_rng.uniform(0.0, 2.0 * np.pi)
        speed = r.push_max_speed * np.sqrt(self._noise_rng.uniform(0.0, 1.0))
        v = self._free_vadr
        self.data.qvel[v : v + 2] += (speed * np.cos(angle), speed * np.sin(angle))

    def _add_sensor_noise(self, values: dict[str, np.ndarray]) -> None:
        r, rng = self.config.randomization, self._noise_rng
        if r is None or r.obs_noise <= 0 or rng is None:
            return
        for key in ("imu_angular_velocity", "joint_position", "joint_velocity"):
            values[key] = values[key] + rng.normal(0.0, r.obs_noise / _NOISE_SCALE[key], values[key].shape)
        # roll and pitch: a small rotation about the IMU's x and y axes
        rx, ry = rng.normal(0.0, r.obs_noise / _NOISE_SCALE["roll_pitch"], 2)
        noise = np.empty(4)
        mujoco.mju_axisAngle2Quat(noise, np.array([rx, ry, 0.0]) / max(np.hypot(rx, ry), 1e-12), np.hypot(rx, ry))
        quat = np.empty(4)
        mujoco.mju_mulQuat(quat, values["imu_orientation"], noise)
        values["imu_orientation"] = quat

    # ------------------------------------------------------------------ SimulatedVehicle protocol
    @property
    def time(self) -> float:
        """Simulation time (s) since the last reset."""
        return float(self.data.time)

    @property
    def num_joints(self) -> int:
        return self.spec.num_joints

    def step(self, command: np.ndarray) -> None:
        """Hold joint position targets ``command`` (spec order, rad) for one control period."""
        command = np.asarray(command, dtype=np.float64)
        if command.shape != (self.spec.num_joints,):
            raise ValueError(f"command must have shape ({self.spec.num_joints},), got {command.shape}")
        if not np.all(np.isfinite(command)):
            raise ValueError("command contains NaN or inf")
        if self._delay_steps:  # the previous targets act for the delay's physics steps
            mujoco.mj_step(self.model, self.data, nstep=self._delay_steps)
        self.data.ctrl[self._act] = command
        mujoco.mj_step(self.model, self.data, nstep=self.n_substeps - self._delay_steps)
        self._after_control_step()
        self._dirty = True

    def state(self, noise: bool = True) -> RobotState:
        """Current state, stamped with simulation time (see the module docstring for frames). With a
        randomisation's ``obs_noise``, the sensor readings are noisy unless ``noise`` is False (the
        true state, e.g. for an evaluation's figures)."""
        m, d = self.model, self.data
        if self._dirty:
            # mj_step leaves sensors and kinematics at the start of its last step; recompute them at
            # the current state (no time advance) so that every value refers to the same instant.
            mujoco.mj_forward(m, d)
            self._dirty = False
        values: dict[str, np.ndarray] = {
            "joint_position": d.qpos[self._qadr].copy(),
            "joint_velocity": d.qvel[self._vadr].copy(),
            "joint_effort": d.actuator_force[self._act].copy(),
        }
        if self._imu_slices:
            values["imu_orientation"] = d.sensordata[self._imu_slices["quat"]].copy()
            values["imu_angular_velocity"] = d.sensordata[self._imu_slices["gyro"]].copy()
            values["imu_linear_acceleration"] = d.sensordata[self._imu_slices["acc"]].copy()
        if self.floating:
            a, v = self._free_qadr, self._free_vadr
            values["base_position"] = d.qpos[a : a + 3].copy()
            values["base_orientation"] = d.qpos[a + 3 : a + 7].copy()
            values["base_linear_velocity"] = d.qvel[v : v + 3].copy()
        else:
            values["base_position"] = d.xpos[self._root_body].copy()
            values["base_orientation"] = d.xquat[self._root_body].copy()
            values["base_linear_velocity"] = np.zeros(3)
        if self.config.robot == "g1":
            head = d.site_xpos[self._head_site]
            ground = 0.0 if self.config.terrain is None else float(self.config.terrain.ground_height(head[None, :2])[0])
            values["head_height"] = np.array([head[2] - ground])
        else:
            values["ee_position"] = d.site_xpos[self._tcp_site].copy()
        if noise:
            self._add_sensor_noise(values)
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
        kp, kd = kp * self._strength, kd * self._strength  # a randomised motor strength scales both
        self.model.actuator_gainprm[self._act, 0] = kp
        self.model.actuator_biasprm[self._act, 1] = -kp
        self.model.actuator_biasprm[self._act, 2] = -kd
        self._dirty = True

    def set_gripper(self, opening: float) -> None:
        """Panda only: finger opening target (m per finger, clipped to 0..0.04)."""
        if self.config.robot != "panda":
            raise ValueError("set_gripper exists only for the Panda")
        lo, hi = panda_desc.PANDA_GRIPPER.opening_range
        self._aux_ctrl[:] = 255.0 * float(np.clip(opening, lo, hi)) / hi
        self.data.ctrl[self._aux_act] = self._aux_ctrl

    def default_pose(self) -> np.ndarray:
        """The initial pose chosen by the config (spec default, or the G1's knee-bent pose)."""
        if self.config.initial_pose == "knees_bent":
            return np.array(g1_desc.G1_KNEES_BENT_POSE)
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
        m, d = self.model, self.data
        self._randomize()
        mujoco.mj_resetData(m, d)
        if pose is None:
            q = self.default_pose()
            if self.config.initial_pose_noise > 0:
                q = q + self.rng.uniform(-1.0, 1.0, q.shape) * self.config.initial_pose_noise
        else:
            q = np.asarray(pose, dtype=np.float64)
            if q.shape != (self.spec.num_joints,):
                raise ValueError(f"pose must have shape ({self.spec.num_joints},), got {q.shape}")
        d.qpos[self._qadr] = q
        if self.floating:
            a = self._free_qadr
            height = self._default_base_height() if base_height is None else float(base_height)
            d.qpos[a : a + 3] = (0.0, 0.0, height)
            quat = np.array([1.0, 0.0, 0.0, 0.0]) if base_quat is None else np.asarray(base_quat, float)
            d.qpos[a + 3 : a + 7] = quat / np.linalg.norm(quat)
        elif base_height is not None or base_quat is not None:
            raise ValueError("base_height/base_quat need a floating base (fix_base=False, G1)")
        if self.config.robot == "panda":
            d.qpos[self._finger_qadr] = self._aux_ctrl[0] / 255.0 * panda_desc.PANDA_GRIPPER.opening_range[1]
        d.ctrl[self._act] = q
        d.ctrl[self._aux_act] = self._aux_ctrl
        mujoco.mj_forward(m, d)
        self._dirty = False
        return self.state()

    def reset_to(self, qpos: np.ndarray) -> RobotState:
        """Put the robot at a full MuJoCo ``qpos`` (for the free G1: pelvis position and orientation
        w, x, y, z, then the joints; e.g. a fallen pose of a dataset), at rest, targets = its joint
        angles, time 0. :meth:`qpos` is the inverse."""
        m, d = self.model, self.data
        q = np.asarray(qpos, dtype=np.float64)
        if q.shape != (m.nq,) or not np.all(np.isfinite(q)):
            raise ValueError(f"qpos must be {m.nq} finite numbers, got shape {q.shape}")
        self._randomize()
        mujoco.mj_resetData(m, d)
        d.qpos[:] = q
        d.ctrl[self._act] = d.qpos[self._qadr]
        d.ctrl[self._aux_act] = self._aux_ctrl
        mujoco.mj_forward(m, d)
        self._dirty = False
        return self.state()

    def qpos(self) -> np.ndarray:
        """The full MuJoCo ``qpos`` now (a copy; what :meth:`reset_to` takes)."""
        return self.data.qpos.copy()

    def lying(
        self, face_up: bool = True, pose: np.ndarray | None = None, settle_time: float = 1.5
    ) -> RobotState:
        """G1 only: drop the robot on its back (``face_up``) or front from 0.35 m, holding ``pose``
        (None: the default pose) with the current gains for ``settle_time`` s, then restart the clock
        at 0. The starting state for getting up."""
        if not self.floating:
            raise ValueError("lying() needs the free-floating G1 (robot='g1', fix_base=False)")
        q = self.default_pose() if pose is None else np.asarray(pose, dtype=np.float64)
        # pitch -90 deg turns the body's forward (x) axis up: lying on the back
        quat = _quat_from_pitch(-np.pi / 2 if face_up else np.pi / 2)
        self.reset(pose=q, base_height=0.35, base_quat=quat)
        for _ in range(round(settle_time / self.dt)):
            self.step(q)
        self.data.time = 0.0
        self._control_steps = 0
        return self.state()


def measure_speed(
    config: MujocoRobotConfig | None = None, control_steps: int = 500, repeats: int = 3
) -> dict[str, float]:
    """Control steps per second of :class:`MujocoJointRobot` against raw ``mujoco.mj_step`` on the
    same compiled model (:func:`robot_learning.sim.speed.measure_robot_speed`).

    The robot is reset to its default pose and commanded to hold it; the raw run starts from the same
    reset state with the same ``ctrl`` (the PD lives in the actuators), so both integrate the same
    trajectory and the difference is the Python overhead of ``step`` (and of ``state``). Best of
    ``repeats`` runs.

    Returns:
        ``robot_steps_per_s`` (step only), ``robot_steps_with_state_per_s`` (step + state),
        ``raw_control_steps_per_s`` (``mj_step(nstep=n_substeps)`` per control period),
        ``raw_physics_steps_per_s`` and the ratios ``step_vs_raw`` and ``step_state_vs_raw``.
    """
    robot = MujocoJointRobot(config or MujocoRobotConfig())
    m, d, n = robot.model, robot.data, robot.n_substeps
    return measure_robot_speed(robot, control_steps, repeats, raw=lambda: mujoco.mj_step(m, d, nstep=n))


if __name__ == "__main__":  # python -m robot_learning.sim.mujoco_robot: speed figures as JSON
    import json

    print(
        json.dumps(
            {
                variant: measure_speed(MujocoRobotConfig(robot="g1", variant=variant))
                for variant in ("mesh", "primitive")
            },
            indent=2,
        )
    )
