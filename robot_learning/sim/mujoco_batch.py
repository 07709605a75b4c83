"""Many Unitree G1 simulations stepped together on CPU threads, for PPO (HumanUP getting-up).

:class:`G1Batch` holds ``num_envs`` copies of the 23-DoF G1 (model of
:func:`robot_learning.sim.g1_model.build_g1_spec`: the spec's PD as MuJoCo actuators, ``ctrl`` =
joint position target, torques clipped to the effort limits) and advances all of them by one policy
step per :meth:`G1Batch.step` call, with one call of ``mujoco.rollout`` (C++, ``threads`` threads, a
thread pool kept for the life of the batch). No Python runs per environment or per physics step.

What lives where
----------------
- The state of every environment is a row of MuJoCo's ``mjSTATE_FULLPHYSICS`` vector (time, qpos,
  qvel, ...), in ``G1Batch.state`` (``num_envs x nstate``). :meth:`step` hands the rows to rollout with
  the targets held constant for ``decimation`` physics steps and keeps the last row it returns.
- Everything a reward needs is a MuJoCo *sensor* added to the model (see
  :data:`robot_learning.sim.g1_batch_model.SENSORS`), so it comes
  back in rollout's ``sensordata`` and :meth:`G1Batch.sensor` is a slice of one array.

Timing of the values (read this once)
-------------------------------------
``qpos``/``qvel`` and everything derived from them here (``joint_pos``, ``base_quat``, ...) are the state
*after* the step. Sensor values are MuJoCo's ``sensordata`` of the last physics substep, i.e. exactly
what ``d.sensordata`` holds after ``mj_step``: computed at the start of that substep, one ``physics_dt``
(2 ms) before ``qpos``. Contact forces and ``actuator_force`` are therefore the forces that *acted*
during the last substep. After :meth:`reset`, sensors are evaluated at the reset state itself.

Warm start: agreement with stepping one ``MjData`` per environment
-----------------------------------------------------------------
rollout starts every call from the state rows; the constraint solver's warm start
(``qacc_warmstart``) is not part of ``mjSTATE_FULLPHYSICS`` and rollout starts each policy step's
first solve from zero, where a long-lived ``MjData`` starts from the last step's acceleration. So the
batch is bitwise equal to an ``MjData`` loop that zeroes ``qacc_warmstart`` before each policy step
(tested, 1e-9), and results never depend on the number of threads (tested bitwise). Against a plain
``MjData`` loop: the mesh model (100 solver iterations) agreed to ~1e-15 in the case measured; the primitive model runs
Menagerie's MJX setting of 5 iterations, the solver does not fully converge, and lying robots with
random targets drift apart chaotically (median 5 mm, max 2.6 cm of qpos after 50 policy steps; an
estimated warm start from the last velocity change was tried and did not reduce this). Both are
equally valid trajectories of the same model; it matters only for bitwise comparisons with
:class:`~robot_learning.sim.mujoco_robot.MujocoJointRobot`.

Domain randomisation
--------------------
:meth:`G1Batch.randomize` gives an environment its own ``MjModel`` copy (rollout accepts one model per
environment) with friction, pelvis mass, pelvis centre of mass and motor strength changed. To make
copies cheap, the batch's model drops visual-only geoms, unused meshes, textures and materials (bodies
carry explicit inertials, so masses and inertias are unchanged — tested). Measured cost per copy
(benchmarks/g1_sim_throughput.py prints it): primitive ~0.1 MB and well under a millisecond; mesh
~44 MB (the collision meshes, with their BVH) and tens of milliseconds, so per-environment copies of
the mesh model are practical only for tens of environments.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Literal, Self

import mujoco
import mujoco.rollout
import numpy as np

from robot_learning.robots import g1 as g1_desc
from robot_learning.sim.batch import G1StateViews
from robot_learning.sim.g1_batch_model import SENSORS, build_batch_model, sensor_slices
from robot_learning.sim.g1_model import ACTUATOR_PREFIX
from robot_learning.sim.terrain import TerrainConfig

_STATE_SPEC = mujoco.mjtState.mjSTATE_FULLPHYSICS
_CONTROL_SPEC = mujoco.mjtState.mjSTATE_CTRL

@dataclass
class G1BatchConfig:
    """What :class:`G1Batch` simulates.

    Attributes:
        num_envs: number of environments N.
        variant: ``"primitive"`` (capsule/box collisions, explicit floor pairs; fast) or ``"mesh"``
            (convex mesh collisions, as in HumanUP's Stage II).
        physics_dt: MuJoCo time step (s): 0.002 (500 Hz) or 0.001 (1 kHz, HumanUP's).
        decimation: physics steps per policy step (10 at 500 Hz or 20 at 1 kHz give 50 Hz).
        threads: rollout threads; None: ``os.cpu_count()``. 1 runs on the calling thread.
        seed: seeds ``G1Batch.rng`` (used by :meth:`G1Batch.sample_randomization`); the physics is
            deterministic.
        strip_visual: drop visual-only geoms, unused meshes, textures and materials (no effect on the
            dynamics; makes per-environment model copies cheap).
        fix_base: weld the pelvis to the world 0.1 m above its standing height (no free joint): the
            legs swing free, for upper- and lower-body motions without balance (ASAP's small-robot
            path). ``qpos``/``qvel`` are then the 23 joints only and the ``base_*`` views raise.
        terrain: the ground (:mod:`robot_learning.sim.terrain`: flat, slope or rough); None: flat.
        terrains: a ground per environment instead (environment i on ``terrains[i % len(terrains)]``,
            None for flat), for training on mixed terrain; empty: every environment on ``terrain``.
            Each distinct ground is compiled once; ``model`` is then the first one's.
    """

    num_envs: int = 64
    variant: Literal["primitive", "mesh"] = "primitive"
    physics_dt: float = 0.002
    decimation: int = 10
    threads: int | None = None
    seed: int = 0
    strip_visual: bool = True
    fix_base: bool = False
    terrain: TerrainConfig | None = None
    terrains: tuple[TerrainConfig | None, ...] = ()


@dataclass
class RandomizationRanges:
    """Uniform ranges for :meth:`G1Batch.sample_randomization` (defaults: HumanUP Stage II)."""

    friction: tuple[float, float] = (1.0, 3.0)
    mass_delta: tuple[float, float] = (-3.0, 3.0)  # kg added to the pelvis
    com_offset: tuple[float, float] = (-0.05, 0.05)  # m, per axis, pelvis centre of mass
    motor_strength: tuple[float, float] = (0.8, 1.2)  # scale of kp and kd, per joint


def quat_from_pitch(angle: float) -> np.ndarray:
    """Quaternion (w, x, y, z) of a rotation by ``angle`` about the world y axis. -pi/2 lays the G1 on
    its back (face up), +pi/2 on its front."""
    return np.array([np.cos(angle / 2.0), 0.0, np.sin(angle / 2.0), 0.0])


class G1Batch(G1StateViews):
    """N G1 environments stepped in parallel; see the module docstring.

    Array properties (``qpos``, ``joint_pos``, ``sensor(...)``, ...) are read-only *views* of the
    batch's buffers: valid until the next :meth:`step` / :meth:`reset`; copy them to keep them.

    Public attributes: ``config``, ``model`` (the nominal compiled model), ``models`` (the model of each
    environment; the same object unless randomised), ``nq``, ``nv``, ``nu`` (23), ``dt`` (policy period,
    s), ``state`` (N x nstate, ``mjSTATE_FULLPHYSICS`` rows), ``kp``/``kd`` (N x 23, applied gains
    including motor strength), ``rng``.
    """

    def __init__(self, config: G1BatchConfig | None = None) -> None:
        self.config = cfg = config or G1BatchConfig()
        if cfg.num_envs < 1 or cfg.decimation < 1:
            raise ValueError("num_envs and decimation must be >= 1")
        self.rng = np.random.default_rng(cfg.seed)
        grounds = [g if g is not None and g.kind != "flat" else None for g in (cfg.terrains or (cfg.terrain,))]
        #: each environment's ground (None: flat) and the model compiled for it (one per distinct ground)
        self.terrains: list[TerrainConfig | None] = [grounds[i % len(grounds)] for i in range(cfg.num_envs)]
        compiled: dict[TerrainConfig | None, mujoco.MjModel] = {}
        for g in self.terrains:
            if g not in compiled:
                compiled[g] = build_batch_model(cfg.variant, cfg.physics_dt, cfg.strip_visual, cfg.fix_base, g)
        self._ground_models = [compiled[g] for g in self.terrains]
        # the environments on each non-flat ground (height_above_ground runs every policy step)
        self._ground_ids = [(g, np.array([i for i, t in enumerate(self.terrains) if t == g])) for g in compiled if g is not None]
        self.model = self._ground_models[0]
        self.floating = not cfg.fix_base
        self._jq0, self._jv0 = (7, 6) if self.floating else (0, 0)  # first joint's qpos / qvel address
        m = self.model
        self.desc = g1_desc.G1_SPEC
        self.nq, self.nv, self.nu = m.nq, m.nv, m.nu
        if self.nu != self.desc.num_joints:
            raise RuntimeError(f"expected {self.desc.num_joints} actuators, the model has {self.nu}")
        self.num_envs = n = cfg.num_envs
        self.decimation = cfg.decimation
        self.dt = cfg.decimation * cfg.physics_dt
        self.threads = int(cfg.threads or os.cpu_count() or 1)

        # layout of a FULLPHYSICS row: components are concatenated in mjtState bit order
        self.nstate = mujoco.mj_stateSize(m, _STATE_SPEC)
        q0 = mujoco.mj_stateSize(m, mujoco.mjtState.mjSTATE_TIME)
        v0 = q0 + m.nq
        self._qpos_sl, self._qvel_sl = slice(q0, q0 + m.nq), slice(v0, v0 + m.nv)
        jids = [m.joint(j).id for j in self.desc.joint_names]
        self._jq = np.array([m.jnt_qposadr[j] for j in jids])
        self._jv = np.array([m.jnt_dofadr[j] for j in jids])
        if list(self._jq) != list(range(self._jq0, self._jq0 + self.nu)) or list(self._jv) != list(range(self._jv0, self._jv0 + self.nu)):
            raise RuntimeError("expected the free joint (if any) first and the 23 joints in spec order after it")
        act_names = [m.actuator(i).name for i in range(m.nu)]
        if act_names != [f"{ACTUATOR_PREFIX}{j}" for j in self.desc.joint_names]:
            raise RuntimeError("actuators are not in spec joint order")
        self._sensor_sl = sensor_slices(m, self.desc.joint_names)

        self.kp = np.tile(self.desc.array("kp"), (n, 1))
        self.kd = np.tile(self.desc.array("kd"), (n, 1))
        self.effort_limit = self.desc.array("effort_limit")
        self.models: list[mujoco.MjModel] = list(self._ground_models)
        self._own_model = np.zeros(n, dtype=bool)

        # rollout's per-thread scratch data, thread pool and preallocated buffers
        self._datas = [mujoco.MjData(m) for _ in range(max(self.threads, 1))]
        self._pool: mujoco.rollout.Rollout | None = mujoco.rollout.Rollout(
            nthread=self.threads if self.threads > 1 else 0
        )
        self._scratch = mujoco.MjData(m)
        mujoco.mj_resetData(m, self._scratch)
        self._state0 = np.empty(self.nstate)
        mujoco.mj_getState(m, self._scratch, self._state0, _STATE_SPEC)
        self.state = np.tile(self._state0, (n, 1))
        self._sens = np.zeros((n, m.nsensordata))
        self._ctrl = np.zeros((n, self.decimation, self.nu))
        self._state_out = np.empty((n, self.decimation, self.nstate))
        self._sens_out = np.zeros((n, self.decimation, m.nsensordata))
        self._targets = np.zeros((n, self.nu))
        self.reset(np.arange(n), np.tile(self.default_qpos(), (n, 1)))

    # ------------------------------------------------------------------ life cycle
    def close(self) -> None:
        """Stop the thread pool (also done when the batch is garbage collected)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ poses
    def default_qpos(
        self,
        joint_pos: np.ndarray | None = None,
        base_height: float = g1_desc.G1_STAND_BASE_HEIGHT,
        base_quat: np.ndarray | None = None,
    ) -> np.ndarray:
        """A full ``qpos`` (nq,): pelvis at (0, 0, ``base_height``) with ``base_quat`` (w, x, y, z;
        None: upright) and ``joint_pos`` (spec order; None: the spec's default standing pose). With a
        fixed base, the joints only (the base arguments are ignored)."""
        q = np.zeros(self.nq)
        if self.floating:
            q[2] = base_height
            q[3:7] = (1.0, 0.0, 0.0, 0.0) if base_quat is None else np.asarray(base_quat, float)
        q[self._jq] = self.desc.array("default_positions") if joint_pos is None else joint_pos
        return q

    def settle(
        self, qpos: np.ndarray, targets: np.ndarray | None = None, seconds: float = 1.5
    ) -> tuple[np.ndarray, np.ndarray]:
        """Simulate ``k`` robots from ``qpos`` (k, nq) at rest, holding ``targets`` (k, 23; None: the
        joint part of ``qpos``) with the nominal model for ``seconds``; return their final
        ``(qpos, qvel)``. Does not touch the environments. Use it to make fallen poses: drop a robot
        with ``default_qpos(base_height=0.5, base_quat=quat_from_pitch(-pi/2))`` (HumanUP drops
        randomised poses from 0.5 m)."""
        qpos = np.atleast_2d(np.asarray(qpos, dtype=np.float64))
        k = qpos.shape[0]
        targets = qpos[:, self._jq] if targets is None else np.atleast_2d(np.asarray(targets, float))
        rows = np.tile(self._state0, (k, 1))
        rows[:, self._qpos_sl] = qpos
        nstep = max(1, round(seconds / self.config.physics_dt))
        ctrl = np.ascontiguousarray(np.broadcast_to(targets[:, None, :], (k, nstep, self.nu)))
        assert self._pool is not None, "the batch is closed"
        state, _ = self._pool.rollout([self.model] * k, self._datas, rows, ctrl, control_spec=_CONTROL_SPEC.value)
        last = state[:, -1]
        return last[:, self._qpos_sl].copy(), last[:, self._qvel_sl].copy()

    # ------------------------------------------------------------------ reset and step
    def reset(
        self,
        env_ids: np.ndarray,
        qpos: np.ndarray,
        qvel: np.ndarray | None = None,
    ) -> None:
        """Put environments ``env_ids`` (k,) at ``qpos`` (k, nq) and ``qvel`` (k, nv; None: at rest),
        time 0; the base quaternion is normalised. The PD targets used for the sensors at the reset
        state (``actuator_force``) are the reset joint positions. Other environments are untouched."""
        ids = np.asarray(env_ids, dtype=np.int64).reshape(-1)
        qpos = np.asarray(qpos, dtype=np.float64).reshape(len(ids), self.nq)
        rows = np.tile(self._state0, (len(ids), 1))
        rows[:, self._qpos_sl] = qpos
        if self.floating:
            quat = slice(self._qpos_sl.start + 3, self._qpos_sl.start + 7)
            rows[:, quat] /= np.linalg.norm(rows[:, quat], axis=1, keepdims=True)
        if qvel is not None:
            rows[:, self._qvel_sl] = np.asarray(qvel, dtype=np.float64).reshape(len(ids), self.nv)
        self.state[ids] = rows
        self._targets[ids] = rows[:, self._qpos_sl][:, self._jq]
        self._forward(ids)

    def _forward(self, ids: np.ndarray) -> None:
        """Evaluate the sensors at the current state rows (one mj_forward per environment)."""
        d = self._scratch
        for i in ids:
            m = self.models[i]
            mujoco.mj_setState(m, d, self.state[i], _STATE_SPEC)
            d.ctrl[:] = self._targets[i]
            mujoco.mj_forward(m, d)
            self._sens[i] = d.sensordata

    def push(self, env_ids: np.ndarray, velocity: np.ndarray) -> None:
        """Add ``velocity`` (k, 3) m/s (world frame) to the pelvis's linear velocity of environments
        ``env_ids`` (k,): a push, felt from the next step on."""
        self._floating("push")
        ids = np.asarray(env_ids, dtype=np.int64).reshape(-1)
        v0 = self._qvel_sl.start
        self.state[ids, v0:v0 + 3] += np.asarray(velocity, dtype=np.float64).reshape(len(ids), 3)

    def height_above_ground(self, pos: np.ndarray) -> np.ndarray:
        """(N,) the height of world points ``pos`` (N, 3), one per environment (e.g.
        ``sensor("head_pos")``), above the ground under them in that environment's terrain."""
        pos = np.asarray(pos, dtype=np.float64)
        if pos.shape != (self.num_envs, 3):
            raise ValueError(f"pos must have shape ({self.num_envs}, 3), got {pos.shape}")
        out = pos[:, 2].copy()
        for g, ids in self._ground_ids:
            out[ids] -= g.ground_height(pos[ids, :2])
        return out

    def step(self, targets: np.ndarray) -> None:
        """Hold joint position targets ``targets`` (N, 23; spec order, rad) for one policy period
        (``decimation`` physics steps) in every environment."""
        targets = np.asarray(targets, dtype=np.float64)
        if targets.shape != (self.num_envs, self.nu):
            raise ValueError(f"targets must have shape ({self.num_envs}, {self.nu}), got {targets.shape}")
        self.step_substeps(np.broadcast_to(targets[:, None, :], (self.num_envs, self.decimation, self.nu)))

    def step_substeps(self, targets: np.ndarray) -> None:
        """One policy period with a target per physics step: ``targets`` (N, decimation, 23), e.g. an
        actuator latency that is not a whole number of policy periods."""
        targets = np.asarray(targets, dtype=np.float64)
        if targets.shape != (self.num_envs, self.decimation, self.nu):
            raise ValueError(f"targets must have shape ({self.num_envs}, {self.decimation}, {self.nu}), got {targets.shape}")
        if not np.isfinite(targets).all():
            raise ValueError("targets contain NaN or inf")
        if self._pool is None:
            raise RuntimeError("the batch is closed")
        self._targets[:] = targets[:, -1]
        self._ctrl[:] = targets
        self._pool.rollout(
            self.models, self._datas, self.state, self._ctrl,
            control_spec=_CONTROL_SPEC.value, skip_checks=True, nstep=self.decimation,
            state=self._state_out, sensordata=self._sens_out,
        )
        np.copyto(self.state, self._state_out[:, -1])
        np.copyto(self._sens, self._sens_out[:, -1])

    # ------------------------------------------------------------------ views of the state
    @staticmethod
    def _ro(a: np.ndarray) -> np.ndarray:
        v = a.view()
        v.flags.writeable = False
        return v

    @property
    def time(self) -> np.ndarray:
        """(N,) simulation time (s) since each environment's last reset."""
        return self._ro(self.state[:, 0])

    @property
    def qpos(self) -> np.ndarray:
        """(N, nq) MuJoCo positions: pelvis position (3), quaternion (4, wxyz), 23 joints (spec order)."""
        return self._ro(self.state[:, self._qpos_sl])

    @property
    def qvel(self) -> np.ndarray:
        """(N, nv): pelvis linear velocity (world, 3), angular velocity (pelvis frame, 3), 23 joints."""
        return self._ro(self.state[:, self._qvel_sl])

    @property
    def targets(self) -> np.ndarray:
        """(N, 23) PD targets of the last step (or the reset joint positions)."""
        return self._ro(self._targets)

    @property
    def sensordata(self) -> np.ndarray:
        """(N, nsensordata) all of MuJoCo's sensors (see the module docstring for their timing)."""
        return self._ro(self._sens)

    def sensor(self, name: str) -> np.ndarray:
        """(N, dim) values of sensor ``name``, one of :data:`SENSORS`."""
        try:
            return self._ro(self._sens[:, self._sensor_sl[name]])
        except KeyError:
            raise KeyError(f"unknown sensor {name!r}; known: {sorted(SENSORS)}") from None

    def sensor_substeps(self, name: str) -> np.ndarray:
        """(N, decimation, dim) sensor ``name`` at every physics substep of the last :meth:`step`
        (e.g. the peak foot force of the period); undefined before the first step."""
        return self._ro(self._sens_out[:, :, self._sensor_sl[name]])

    @property
    def actuator_force(self) -> np.ndarray:
        """(N, 23) applied joint torques (N m) of the last physics substep, as MuJoCo's
        ``actuator_force`` (PD, motor strength and effort clip included)."""
        return self.sensor("actuator_force")

    # ------------------------------------------------------------------ domain randomisation
    def randomize(
        self,
        env_ids: np.ndarray,
        friction: np.ndarray | None = None,
        mass_delta: np.ndarray | None = None,
        com_offset: np.ndarray | None = None,
        motor_strength: np.ndarray | None = None,
    ) -> None:
        """Give environments ``env_ids`` (k,) their own physical parameters, each relative to the
        nominal model (a parameter left at None returns to nominal):

        - ``friction`` (k,): sliding friction coefficient of every contact (all geoms' and all explicit
          pairs' tangential friction; MuJoCo combines geoms by max, so this is the contact's value);
        - ``mass_delta`` (k,): kg added to the pelvis (inertia scaled with the mass);
        - ``com_offset`` (k, 3): m added to the pelvis centre of mass (pelvis frame);
        - ``motor_strength`` (k,) or (k, 23): scale of kp and kd (the effort limits stay).

        The first call for an environment copies the model (see the module docstring for the cost);
        derived constants are recomputed with ``mj_setConst``. Takes effect at the next step; call
        :meth:`reset` to also refresh the sensors.
        """
        ids = np.asarray(env_ids, dtype=np.int64).reshape(-1)
        k = len(ids)
        pelvis = self.model.body("pelvis").id
        strength = np.ones((k, self.nu))
        if motor_strength is not None:
            strength[:] = np.asarray(motor_strength, dtype=np.float64).reshape(k, -1)
        for j, i in enumerate(ids):
            m, nominal = self._own(i), self._ground_models[i]
            m.geom_friction[:] = nominal.geom_friction
            m.pair_friction[:] = nominal.pair_friction
            if friction is not None:
                m.geom_friction[:, 0] = friction[j]
                m.pair_friction[:, 0:2] = friction[j]
            base_mass = nominal.body_mass[pelvis]
            new_mass = base_mass + (0.0 if mass_delta is None else float(mass_delta[j]))
            if new_mass <= 0:
                raise ValueError(f"pelvis mass would be {new_mass} kg")
            m.body_mass[pelvis] = new_mass
            m.body_inertia[pelvis] = nominal.body_inertia[pelvis] * (new_mass / base_mass)
            m.body_ipos[pelvis] = nominal.body_ipos[pelvis] + (0.0 if com_offset is None else com_offset[j])
            self._apply_gains(i, self.desc.array("kp") * strength[j], self.desc.array("kd") * strength[j])
            mujoco.mj_setConst(m, self._scratch)

    def set_gains(self, env_ids: np.ndarray, kp: np.ndarray, kd: np.ndarray) -> None:
        """Give environments ``env_ids`` PD gains ``kp``, ``kd`` ((23,) or (k, 23); the effort limits
        stay), e.g. a target world with a gain error. Copies the model as :meth:`randomize` does."""
        ids = np.asarray(env_ids, dtype=np.int64).reshape(-1)
        kp = np.broadcast_to(np.asarray(kp, dtype=np.float64), (len(ids), self.nu))
        kd = np.broadcast_to(np.asarray(kd, dtype=np.float64), (len(ids), self.nu))
        if np.any(kp <= 0) or np.any(kd < 0):
            raise ValueError("kp must be > 0 and kd >= 0")
        for j, i in enumerate(ids):
            self._own(i)
            self._apply_gains(i, kp[j], kd[j])

    def set_joint_friction(self, env_ids: np.ndarray, damping: np.ndarray, frictionloss: np.ndarray) -> None:
        """Give environments ``env_ids`` viscous damping (N m s/rad) and dry friction (N m) on every
        actuated joint, on top of the nominal model's ((k,) or (k, 23) each)."""
        ids = np.asarray(env_ids, dtype=np.int64).reshape(-1)
        damping = np.broadcast_to(np.asarray(damping, dtype=np.float64).reshape(len(ids), -1), (len(ids), self.nu))
        frictionloss = np.broadcast_to(np.asarray(frictionloss, dtype=np.float64).reshape(len(ids), -1), (len(ids), self.nu))
        if np.any(damping < 0) or np.any(frictionloss < 0):
            raise ValueError("joint damping and friction must be >= 0")
        for j, i in enumerate(ids):
            m = self._own(i)
            m.dof_damping[self._jv] = self._ground_models[i].dof_damping[self._jv] + damping[j]
            m.dof_frictionloss[self._jv] = self._ground_models[i].dof_frictionloss[self._jv] + frictionloss[j]

    def _own(self, i: int) -> mujoco.MjModel:
        """Environment ``i``'s own copy of the model (made on first use)."""
        if not self._own_model[i]:
            self.models[i] = copy.copy(self._ground_models[i])
            self._own_model[i] = True
        return self.models[i]

    def _apply_gains(self, i: int, kp: np.ndarray, kd: np.ndarray) -> None:
        """PD gains of environment ``i`` (its own model): MuJoCo's position actuator, gain kp, bias -kp q - kd qd."""
        m = self.models[i]
        self.kp[i], self.kd[i] = kp, kd
        m.actuator_gainprm[:, 0] = kp
        m.actuator_biasprm[:, 1] = -kp
        m.actuator_biasprm[:, 2] = -kd

    def sample_randomization(self, env_ids: np.ndarray, ranges: RandomizationRanges | None = None) -> None:
        """:meth:`randomize` ``env_ids`` with values drawn uniformly from ``ranges`` by ``self.rng``."""
        r = ranges or RandomizationRanges()
        ids = np.asarray(env_ids, dtype=np.int64).reshape(-1)
        k, u = len(ids), self.rng.uniform
        self.randomize(
            ids,
            friction=u(*r.friction, size=k),
            mass_delta=u(*r.mass_delta, size=k),
            com_offset=u(*r.com_offset, size=(k, 3)),
            motor_strength=u(*r.motor_strength, size=(k, self.nu)),
        )
