"""ASAP stage 1 and 4: a phase-based motion-tracking policy, pre-trained in the training simulator
and fine-tuned inside an aligned one.

**The policy** tracks one *routine* (the shipped motions played one after the other, each from and
back to the standing default). As in ASAP, the policy is motion-specific and indexed by its phase:
here the phase is the runtime's ``policy_time`` observation, and the reference frames live inside
the exported network (:class:`ReferenceTable`), so the runtime needs nothing but the standard
joint-robot fields (joint positions and velocities, last action, policy time). The action is a
residual on the reference: ``PD target = ref(t + dt) + action_scale * net(obs)`` (the exported graph
adds the reference's feed-forward term, so its output follows the runtime's contract
``target = default + scale * action``). The network also sees the tracking error to the reference
one and five frames ahead.

**Rewards** (the paper's tracking terms, on the fixed-pelvis robot): ``exp`` of the mean squared
joint-position and joint-velocity errors, and an action-rate penalty on the residual.

**Training simulators** (:class:`SimSetup`), one environment class for every method it is compared
with: the nominal simulator (pre-training), SysID's fitted gains and latency, domain randomisation
over gains, latency, joint damping and friction, ASAP's frozen delta-action model added to the
policy's PD targets, and the DeltaDynamics baseline's residual added to the simulated state.

**Floating base** (``TrackingConfig.floating``): the free G1 stands on the ground and tracks the
routine with its balance its own (ASAP's pre-training; the paper trains 4096 environments on a GPU,
``sim/configs/asap_floating.yaml``). A reset puts the robot at a frame of the routine with the pelvis
upright at the height that puts the lower sole on the ground (:func:`ground_reference`, forward
kinematics of the reference; 0.79 m standing, 0.56 m at the bottom of the squat). The observation adds
what the pelvis IMU gives, under the runtime's names (``base_angular_velocity`` x 0.25 and
``projected_gravity``, first, as in ASAP's actor), optionally the last ``history`` values of every
field (the runtime's ``<field>_history`` terms; ASAP: 4). Beside the tracking terms: an upright pelvis,
the reference's pelvis height, the reference's foot contacts, a penalty on sliding feet in contact and
on torques, and a termination penalty when the robot falls (ASAP's: projected gravity |x| or |y| above
0.8, or here also the pelvis ``fall_height_drop`` below the reference). The batch comes from
:func:`~robot_learning.sim.backends.make_batch`, so ``backend``/``device`` run the same environment on
MuJoCo Warp or Isaac Gym. On this machine the alignment loop (``asap run``) runs on the fixed pelvis;
floating pre-training runs here only at toy scale.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from robot_learning.core.checks import check
from robot_learning.core.config import FieldError
from robot_learning.motion.reference import FrameTiming
from robot_learning.robots.g1 import G1_SPEC
from robot_learning.runtime.joint_controller import projected_gravity
from robot_learning.runtime.observation import ObservationBuilder
from robot_learning.sim.backends import check_device, make_batch
from robot_learning.sim.batch import BACKENDS
from robot_learning.sim.mujoco_batch import G1BatchConfig
from robot_learning.tasks.asap.delta import DEFAULT, LOWER, N_JOINTS, UPPER
from robot_learning.tasks.asap.motions import load_motion_file
from robot_learning.types import ObsLayout, ObsTerm, PolicyMetadata

MOTIONS_DIR = Path(__file__).resolve().parents[3] / "assets" / "motions" / "asap"
#: The shipped routine, in order. For the open-loop figures a delta model is fitted on the first four
#: and its replay error is measured on the last two (held out).
SHIPPED_MOTIONS = ("warm_up", "arm_swing", "squat", "kick", "side_step", "reach_twist")
HELD_OUT_MOTIONS = ("side_step", "reach_twist")
TASK = "asap_tracking"
LOOKAHEAD = (1, 5)  # reference frames ahead whose error the network sees


# ----------------------------------------------------------------------------- motions
@dataclass
class Routine(FrameTiming):
    """Reference joint angles (T, 23) at ``fps`` (spec order), with the frame span of every motion."""

    fps: float
    joint_pos: np.ndarray
    segments: dict[str, tuple[int, int]]  # motion name -> [start, end) frames
    _ground: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def joint_vel(self) -> np.ndarray:
        return np.gradient(self.joint_pos, 1.0 / self.fps, axis=0)

    def ground(self) -> tuple[np.ndarray, np.ndarray]:
        """:func:`ground_reference` of this routine (computed once)."""
        if self._ground is None:
            self._ground = ground_reference(self)
        return self._ground


def motion_path(name: str) -> Path:
    """A shipped motion name (``assets/motions/asap/<name>.yaml``) or a path to a motion file."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml", ".npz", ".csv"):
        if not p.is_file():
            raise FileNotFoundError(f"motion file {p} does not exist")
        return p
    shipped = MOTIONS_DIR / f"{name}.yaml"
    if not shipped.is_file():
        known = sorted(f.stem for f in MOTIONS_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"no shipped motion '{name}' (shipped: {known}); or give a .yaml/.npz/.csv path")
    return shipped


def load_routine(motions: Sequence[str], fps: float = 50.0) -> Routine:
    """The motions (shipped names or files: keyframe YAML, or retargeted arrays, see
    :mod:`robot_learning.tasks.asap.motions`) one after the other at ``fps``."""
    if not motions:
        raise ValueError("a routine needs at least one motion")
    parts, segments, start = [], {}, 0
    for name in motions:
        q = load_motion_file(motion_path(name), fps=fps)
        bad = np.flatnonzero(((q < LOWER - 1e-6) | (q > UPPER + 1e-6)).any(0))
        if bad.size:
            raise ValueError(f"motion '{name}' leaves the limits of joint '{G1_SPEC.joint_names[int(bad[0])]}'")
        if parts:
            q = q[1:] if np.allclose(q[0], parts[-1][-1], atol=1e-6) else q
        label = Path(name).stem
        if label in segments:
            raise ValueError(f"motion '{label}' appears twice in the routine")
        segments[label] = (start, start + len(q))
        parts.append(q)
        start += len(q)
    return Routine(fps, np.concatenate(parts), segments)


def ground_reference(routine: Routine, contact_m: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """The floating robot's reference on flat ground, by forward kinematics of every frame with the
    pelvis upright: the pelvis height (T,) that puts the lower sole on the ground, and which feet
    (T, 2; left, right) are within ``contact_m`` of it (in contact)."""
    from robot_learning.motion.kinematics import GroundKinematics

    kin = GroundKinematics("primitive")
    m = kin.model
    body = np.array([m.body(int(m.geom_bodyid[g])).name for g in kin.geoms])
    feet = [body == f"{side}_ankle_roll_link" for side in ("left", "right")]
    if not all(f.any() for f in feet):
        raise RuntimeError("the G1 model has no floor-touching geoms on the ankle_roll links")
    height, contact = np.empty(routine.num_frames), np.zeros((routine.num_frames, 2), dtype=bool)
    upright = np.array([1.0, 0.0, 0.0, 0.0])
    for i, q in enumerate(routine.joint_pos):
        kin.forward(kin.qpos(q, np.zeros(3), upright))
        z = kin.lowest_points()[:, 2]
        lows = np.array([z[f].min() for f in feet])
        height[i] = -lows.min()
        contact[i] = lows - lows.min() < contact_m
    return height, contact


# ----------------------------------------------------------------------------- the policy
#: IMU fields of the floating robot (runtime names, sizes, scales: ASAP's base_ang_vel x 0.25, projected_gravity)
IMU_FIELDS = (("base_angular_velocity", 3, 0.25), ("projected_gravity", 3, 1.0))
JOINT_FIELDS = (("joint_position", N_JOINTS, 1.0), ("joint_velocity", N_JOINTS, 0.05), ("last_action", N_JOINTS, 1.0))


def observation_fields(floating: bool = False) -> tuple[tuple[str, int, float], ...]:
    """The runtime fields the policy sees, in order (before their histories and ``policy_time``)."""
    return (IMU_FIELDS if floating else ()) + JOINT_FIELDS


def observation_layout(floating: bool = False, history: int = 0) -> Any:
    """The runtime's observation: the IMU fields (floating base), the joint fields, the last
    ``history`` values of each (the runtime's ``<field>_history``, oldest first), then ``policy_time``
    (always last: the reference table inside the policy reads it there)."""
    fields = observation_fields(floating)
    terms = [ObsTerm(name, size, scale) for name, size, scale in fields]
    if history:
        terms += [ObsTerm(f"{name}_history", size * history, scale) for name, size, scale in fields]
    return ObsLayout(tuple(terms) + (ObsTerm("policy_time", 1),))


def joint_offset(floating: bool) -> int:
    """Where ``joint_position`` starts in the observation."""
    return sum(size for _, size, _ in IMU_FIELDS) if floating else 0


def _torch_modules() -> tuple[type, type]:
    import torch
    from torch import nn

    class ReferenceTable(nn.Module):
        """The routine inside the network: from ``policy_time`` (last observation entry), the
        reference's feed-forward action and the tracking error ahead."""

        def __init__(self, joint_pos: np.ndarray, fps: float, action_scale: float, q_offset: int = 0) -> None:
            super().__init__()
            self.register_buffer("table", torch.tensor(joint_pos - DEFAULT, dtype=torch.float32))
            self.fps, self.scale, self.q0 = float(fps), float(action_scale), int(q_offset)

        def frame(self, obs: torch.Tensor, ahead: int) -> torch.Tensor:
            k = torch.round(obs[..., -1] * self.fps).long() + ahead
            return self.table[torch.clamp(k, 0, self.table.shape[0] - 1)]

        def features(self, obs: torch.Tensor) -> torch.Tensor:
            q = obs[..., self.q0:self.q0 + N_JOINTS]
            return torch.cat([obs] + [self.frame(obs, a) - q for a in LOOKAHEAD], -1)

        def feedforward(self, obs: torch.Tensor) -> torch.Tensor:
            return self.frame(obs, 1) / self.scale

    class TrackingPolicy(nn.Module):
        """What is exported: runtime observation -> action (reference feed-forward + residual)."""

        def __init__(self, actor: nn.Module, table: ReferenceTable) -> None:
            super().__init__()
            self.actor, self.table = actor, table

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            return self.actor(self.table.features(obs)) + self.table.feedforward(obs)

    return ReferenceTable, TrackingPolicy


# ----------------------------------------------------------------------------- training simulators
@dataclass
class DomainRandomization:
    """Uniform ranges, drawn per environment at every reset (wide enough to cover the shipped target worlds)."""

    kp_scale: tuple[float, float] = (0.6, 1.4)
    kd_scale: tuple[float, float] = (0.6, 1.4)
    latency_s: tuple[float, float] = (0.0, 0.03)
    joint_damping: tuple[float, float] = (0.0, 0.4)
    joint_friction: tuple[float, float] = (0.0, 0.5)

    def __post_init__(self) -> None:
        check(self, positive=("kp_scale", "kd_scale"), non_negative=("latency_s", "joint_damping", "joint_friction"),
              ordered=("kp_scale", "kd_scale", "latency_s", "joint_damping", "joint_friction"))


@dataclass
class SimSetup:
    """The training simulator a policy is (fine-)tuned in. ``delta``: ``delta(q, qd, a, a_prev)`` added
    to the PD targets (ASAP); ``dynamics``: ``correct(q, qd, a, a_prev, q', qd')`` applied to the
    next state (DeltaDynamics); ``dr``: domain randomisation; the scales and latency: SysID's fit."""

    name: str = "nominal"
    kp_scale: float = 1.0
    kd_scale: float = 1.0
    latency_s: float = 0.0
    joint_damping: float = 0.0  # N m s/rad added to every joint (SysID's fit)
    joint_friction: float = 0.0  # N m of dry friction added to every joint (SysID's fit)
    dr: DomainRandomization | None = None
    delta: Any = None
    dynamics: Any = None

    def __post_init__(self) -> None:
        check(self, positive=("kp_scale", "kd_scale"), non_negative=("latency_s", "joint_damping", "joint_friction"))


@dataclass
class TrackingConfig:
    motions: tuple[str, ...] = SHIPPED_MOTIONS
    num_envs: int = 256
    episode_s: float = 3.0
    action_scale: float = 0.25
    init_noise_rad: float = 0.02
    sigma_joint_pos: float = 0.005  # rad^2 (mean over joints): reward exp(-1) at 0.07 rad RMS
    sigma_joint_vel: float = 1.0  # (rad/s)^2
    w_joint_pos: float = 1.0
    w_joint_vel: float = 0.3
    w_action_rate: float = 0.02  # on the residual, per joint
    physics_dt: float = 0.002
    decimation: int = 10
    threads: int = 0
    torch_threads: int = 0  # PPO's torch threads (0: torch's default); 1 on a shared 2-core machine
    seed: int = 0
    max_seconds: float = 300.0
    max_env_steps: int | None = None
    # PPO. A short discount: a residual's effect on tracking shows within a few steps, and with the
    # paper's 0.99 the advantage noise of 2-core batch sizes drowned it (measured: 0.9 and 0.98 made
    # no progress in 250 k steps; 0.5 cut the routine's error by 30 % in 300 k)
    hidden: tuple[int, ...] = (256, 128)
    init_std: float = 0.2
    learning_rate: float = 1e-3
    steps_per_env: int = 24
    gamma: float = 0.5
    critic_warmup_iterations: int = 10  # fine-tuning: critic-only updates first (the copied critic knows the old simulator)
    schedule: str = "fixed"  # PPO learning rate: "fixed" | "adaptive" (KL 0.01, ASAP's)
    entropy_coef: float = 0.0
    history: int = 0  # the last k values of every observed field (the runtime's <field>_history; ASAP: 4)
    # the batched G1 (robot_learning/sim/backends.py): mujoco (CPU) | warp | isaacgym, on cpu | cuda:N
    backend: str = "mujoco"
    device: str = "cpu"
    # floating base: the free G1 on the ground (False: the pelvis welded in the air, the small-robot path)
    floating: bool = False
    w_upright: float = 0.5  # exp(-|projected gravity xy|^2 / sigma_upright)
    sigma_upright: float = 0.05
    w_pelvis_height: float = 0.5  # exp(-(h - h_ref)^2 / sigma_pelvis_height)
    sigma_pelvis_height: float = 0.005  # m^2: exp(-1) at 7 cm
    w_feet_contact: float = 0.2  # fraction of feet whose contact matches the reference's
    w_feet_slip: float = 1.0  # sum over feet in contact of the sole's horizontal speed^2 (ASAP: penalty_slippage -1)
    w_torque: float = 1e-6  # sum of squared joint torques (ASAP: penalty_torques -1e-6)
    w_termination: float = 200.0  # once, when the robot falls (ASAP: termination -200)
    fall_gravity_xy: float = 0.8  # fallen: |projected gravity x| or |y| above this (ASAP: 0.8) ...
    fall_height_drop: float = 0.25  # ... or the pelvis this far (m) below the reference's height
    contact_force_n: float = 5.0  # a sole carrying more than this is in contact
    reset_clearance_m: float = 0.005  # the lower sole this far above the ground at a reset

    def __post_init__(self) -> None:
        check(self, positive=("num_envs", "episode_s", "action_scale", "sigma_joint_pos", "sigma_joint_vel", "physics_dt", "decimation",
                              "max_seconds", "max_env_steps", "hidden", "init_std", "learning_rate", "steps_per_env",
                              "sigma_upright", "sigma_pelvis_height", "fall_gravity_xy", "fall_height_drop"),
              non_negative=("init_noise_rad", "w_joint_pos", "w_joint_vel", "w_action_rate", "threads", "seed", "critic_warmup_iterations",
                            "entropy_coef", "history", "torch_threads", "w_upright", "w_pelvis_height", "w_feet_contact", "w_feet_slip", "w_torque",
                            "w_termination", "contact_force_n", "reset_clearance_m"),
              fraction=("gamma",))
        if not self.motions:
            raise FieldError("motions", "must name at least one motion")
        if self.schedule not in ("fixed", "adaptive"):
            raise FieldError("schedule", f"must be 'fixed' or 'adaptive', got {self.schedule!r}")
        if self.backend not in BACKENDS:
            raise FieldError("backend", f"must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        check_device(self.backend, self.device)


class TrackingEnv:
    """Batched G1 tracking the routine from random frames (reference-state initialisation): the pelvis
    welded in the air, or (``cfg.floating``) the free robot on the ground."""

    def __init__(self, routine: Routine, cfg: TrackingConfig, sim: SimSetup | None = None) -> None:
        import torch

        self.routine, self.cfg, self.sim = routine, cfg, sim or SimSetup()
        if cfg.floating and self.sim.dynamics is not None:
            raise ValueError("the DeltaDynamics baseline corrects the joint state only: it needs the fixed pelvis (floating: false)")
        if abs(cfg.physics_dt * cfg.decimation * routine.fps - 1.0) > 1e-9:
            raise ValueError(f"the routine is at {routine.fps} fps but the policy runs at {1 / (cfg.physics_dt * cfg.decimation):g} Hz")
        self.batch = make_batch(G1BatchConfig(num_envs=cfg.num_envs, physics_dt=cfg.physics_dt, decimation=cfg.decimation,
                                              threads=cfg.threads or None, seed=cfg.seed, fix_base=not cfg.floating),
                                cfg.backend, cfg.device)
        Table, _ = _torch_modules()
        self.table = Table(routine.joint_pos, routine.fps, cfg.action_scale, joint_offset(cfg.floating))
        self.torch = torch
        n, self.dt = cfg.num_envs, self.batch.dt
        self.rng = np.random.default_rng(cfg.seed)
        self.ref_v = routine.joint_vel()
        self.frame = np.zeros(n, dtype=np.int64)
        self.k = np.zeros(n, dtype=np.int64)
        self.last_action = np.zeros((n, N_JOINTS))
        self.last_residual = np.zeros((n, N_JOINTS))
        self.prev_target = np.tile(DEFAULT, (n, 1))
        self.latency = np.zeros(n, dtype=np.int64)  # physics steps
        self.history = np.zeros((n, 3, N_JOINTS))  # commanded targets of the last 3 policy steps, newest last
        self.max_k = int(round(cfg.episode_s / self.dt))
        self.layout = observation_layout(cfg.floating, cfg.history)
        self._fields_order = observation_fields(cfg.floating)
        self._builder = ObservationBuilder(self.layout)
        self._hist = {name: np.zeros((n, cfg.history, size)) for name, size, _ in self._fields_order} if cfg.history else {}
        #: per environment, after each step: fell (floating) and the joint error (rad, RMS over joints)
        self.fell = np.zeros(n, dtype=bool)
        self.joint_error = np.zeros(n)
        if cfg.floating:
            self.ref_height, self.ref_contact = routine.ground()
        kp0, kd0 = G1_SPEC.array("kp"), G1_SPEC.array("kd")
        if self.sim.dr is None and (self.sim.kp_scale != 1.0 or self.sim.kd_scale != 1.0):
            self.batch.set_gains(np.arange(n), kp0 * self.sim.kp_scale, kd0 * self.sim.kd_scale)
        if self.sim.dr is None and (self.sim.joint_damping or self.sim.joint_friction):
            self.batch.set_joint_friction(np.arange(n), np.full(n, self.sim.joint_damping), np.full(n, self.sim.joint_friction))
        self.latency[:] = self._latency_steps(self.sim.latency_s)
        self.reset(np.arange(n))

    def _latency_steps(self, seconds: float | np.ndarray) -> np.ndarray:
        steps = np.round(np.asarray(seconds) / self.cfg.physics_dt).astype(np.int64)
        if np.any(steps > 2 * self.cfg.decimation):
            raise ValueError(f"latency above {2 * self.dt:g} s is not supported")
        return steps

    def reset(self, ids: np.ndarray, frames: np.ndarray | None = None, noise: bool = True) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        T = self.routine.num_frames
        f = self.rng.integers(0, T - 1, len(ids)) if frames is None else np.asarray(frames, dtype=np.int64)
        self.frame[ids], self.k[ids] = f, 0
        q = self.routine.joint_pos[f].copy()
        if noise and self.cfg.init_noise_rad > 0:
            q += self.rng.normal(0.0, self.cfg.init_noise_rad, q.shape)
        q = np.clip(q, LOWER, UPPER)
        if self.cfg.floating:  # upright, the lower sole just above the ground, the base at rest
            b = self.batch
            qpos = np.stack([b.default_qpos(q[i], base_height=float(self.ref_height[fi]) + self.cfg.reset_clearance_m)
                             for i, fi in enumerate(f)]) if len(ids) else np.zeros((0, b.nq))
            qvel = np.zeros((len(ids), b.nv))
            qvel[:, 6:] = self.ref_v[f]
            b.reset(ids, qpos, qvel)
        else:
            self.batch.reset(ids, q, self.ref_v[f])
        ff = (self.routine.joint_pos[f] - DEFAULT) / self.cfg.action_scale
        self.last_action[ids], self.last_residual[ids] = ff, 0.0
        self.prev_target[ids] = self.routine.joint_pos[f]
        self.history[ids] = self.routine.joint_pos[f][:, None, :]
        dr = self.sim.dr
        if dr is not None:
            k, u = len(ids), self.rng.uniform
            kp0, kd0 = G1_SPEC.array("kp"), G1_SPEC.array("kd")
            self.batch.set_gains(ids, kp0 * u(*dr.kp_scale, (k, 1)), kd0 * u(*dr.kd_scale, (k, 1)))
            self.batch.set_joint_friction(ids, u(*dr.joint_damping, (k, 1)), u(*dr.joint_friction, (k, 1)))
            self.latency[ids] = self._latency_steps(u(*dr.latency_s, k))
        if self._hist:  # the runtime primes a history with the first tick's values
            cur = self._fields()
            for name, h in self._hist.items():
                h[ids] = cur[name][ids][:, None, :]

    def _fields(self) -> dict[str, np.ndarray]:
        """The runtime's fields (unscaled; :class:`~robot_learning.runtime.joint_controller.JointObservation`)
        of every environment. The IMU's site is the pelvis frame, so its readings are the base state."""
        b = self.batch
        out = {"joint_position": b.joint_pos - DEFAULT, "joint_velocity": b.joint_vel, "last_action": self.last_action,
               "policy_time": (self.frame * self.dt)[:, None]}
        if self.cfg.floating:
            out["base_angular_velocity"] = b.base_ang_vel
            out["projected_gravity"] = projected_gravity(b.base_quat)
        return out

    def observe(self) -> np.ndarray:
        """The runtime's observation (:func:`observation_layout`) of every environment."""
        if not self.cfg.floating and not self._hist:
            q = self.batch.joint_pos - DEFAULT
            return np.concatenate([q, 0.05 * self.batch.joint_vel, self.last_action, (self.frame * self.dt)[:, None]], -1).astype(np.float32)
        fields = self._fields()
        for name, h in self._hist.items():
            fields[f"{name}_history"] = h
        return self._builder.build(fields, np.zeros((self.cfg.num_envs, self.layout.size), dtype=np.float32))

    def policy_input(self, obs: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            return self.table.features(self.torch.from_numpy(obs)).numpy()

    def step(self, residual: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, float]]:
        cfg, b = self.cfg, self.batch
        n = cfg.num_envs
        nxt = np.minimum(self.frame + 1, self.routine.num_frames - 1)
        action = (self.routine.joint_pos[nxt] - DEFAULT) / cfg.action_scale + residual
        target = np.clip(DEFAULT + cfg.action_scale * action, LOWER - 0.5, UPPER + 0.5)
        q0, v0 = b.joint_pos.copy(), b.joint_vel.copy()
        applied = target
        if self.sim.delta is not None:  # ASAP: the frozen delta model sees the commanded targets
            applied = target + self.sim.delta.delta(q0, v0, target, self.prev_target)
        self.history = np.concatenate([self.history[:, 1:], applied[:, None]], 1)
        # physics step s of this period applies the command issued latency steps before it
        dec = cfg.decimation
        s = np.arange(dec)[None, :] - self.latency[:, None]  # (n, dec), >= -2 dec
        which = 2 + np.floor_divide(s, dec)  # index into history (2 = this step's command)
        if cfg.floating:
            feet0 = np.stack([b.sensor("left_foot_pos")[:, :2], b.sensor("right_foot_pos")[:, :2]], 1)
        b.step_substeps(self.history[np.arange(n)[:, None], which])
        if self.sim.dynamics is not None:
            q1, v1 = self.sim.dynamics.correct(q0, v0, target, self.prev_target, b.joint_pos.copy(), b.joint_vel.copy())
            b.reset(np.arange(n), np.clip(q1, LOWER - 0.2, UPPER + 0.2), v1)
        self.frame, self.k = nxt, self.k + 1
        e_q = np.mean((b.joint_pos - self.routine.joint_pos[nxt]) ** 2, -1)
        e_v = np.mean((b.joint_vel - self.ref_v[nxt]) ** 2, -1)
        rate = np.mean((residual - self.last_residual) ** 2, -1)
        reward = cfg.w_joint_pos * np.exp(-e_q / cfg.sigma_joint_pos) + cfg.w_joint_vel * np.exp(-e_v / cfg.sigma_joint_vel) \
            - cfg.w_action_rate * rate
        self.last_action, self.last_residual, self.prev_target = action, residual.copy(), target
        done = (self.k >= self.max_k) | (self.frame >= self.routine.num_frames - 1) | ~np.isfinite(b.joint_pos).all(-1)
        info = {"joint_pos_error_rad": float(np.sqrt(e_q).mean())}
        self.joint_error = np.sqrt(e_q)
        if cfg.floating:
            balance, fell, extra = self._balance(nxt, feet0)
            reward = reward + balance
            done |= fell
            self.fell = fell
            info.update(extra)
        if self._hist:  # the runtime's histories advance once per tick
            cur = self._fields()
            for name, h in self._hist.items():
                h[:, :-1] = h[:, 1:].copy()
                h[:, -1] = cur[name]
        if done.any():
            self.reset(np.flatnonzero(done))
        return self.observe(), reward.astype(np.float32), done, info

    def _balance(self, frame: np.ndarray, feet0: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        """The floating robot's balance terms after a step toward reference ``frame`` (N,), the fall
        test, and their figures; ``feet0``: the soles' horizontal positions before the step (N, 2, 2)."""
        cfg, b = self.cfg, self.batch
        g = projected_gravity(b.base_quat)
        height = b.base_pos[:, 2].copy()  # flat ground
        dh = height - self.ref_height[frame]
        forces = np.concatenate([b.sensor("left_foot_force"), b.sensor("right_foot_force")], 1)
        contact = forces > cfg.contact_force_n
        feet1 = np.stack([b.sensor("left_foot_pos")[:, :2], b.sensor("right_foot_pos")[:, :2]], 1)
        slip = np.sum(contact * np.sum(((feet1 - feet0) / self.dt) ** 2, -1), -1)
        torque = np.sum(b.actuator_force ** 2, -1)
        fell = (np.abs(g[:, 0]) > cfg.fall_gravity_xy) | (np.abs(g[:, 1]) > cfg.fall_gravity_xy) | (dh < -cfg.fall_height_drop) \
            | ~np.isfinite(b.qpos).all(-1)
        reward = cfg.w_upright * np.exp(-np.sum(g[:, :2] ** 2, -1) / cfg.sigma_upright) \
            + cfg.w_pelvis_height * np.exp(-dh ** 2 / cfg.sigma_pelvis_height) \
            + cfg.w_feet_contact * np.mean(contact == self.ref_contact[frame], -1) \
            - cfg.w_feet_slip * slip - cfg.w_torque * torque - cfg.w_termination * fell
        extra = {"fell": float(fell.mean()), "pelvis_height_error_m": float(np.abs(dh).mean()),
                 "tilt_deg": float(np.degrees(np.arccos(np.clip(-g[:, 2], -1.0, 1.0))).mean()),
                 "feet_slip": float(slip.mean()), "base_xy_m": float(np.linalg.norm(b.base_pos[:, :2], axis=-1).mean())}
        return np.nan_to_num(reward, nan=-cfg.w_termination), fell, extra

    def close(self) -> None:
        self.batch.close()


# ----------------------------------------------------------------------------- training
@dataclass
class TrackingResult:
    model: Any  # ActorCritic
    routine: Routine
    cfg: TrackingConfig
    curve: list[dict[str, Any]] = field(default_factory=list)

    def policy(self) -> Any:
        """The exportable torch module (runtime observation -> action)."""
        Table, Policy = _torch_modules()
        table = Table(self.routine.joint_pos, self.routine.fps, self.cfg.action_scale, joint_offset(self.cfg.floating))
        return Policy(self.model.actor, table).eval()


def train_tracking(cfg: TrackingConfig, sim: SimSetup | None = None, init: Any = None,
                   log: Callable[[dict[str, Any]], None] | None = None, dist: Any = None) -> TrackingResult:
    """PPO on :class:`TrackingEnv` in ``sim`` for ``cfg.max_seconds`` (or ``max_env_steps``);
    ``init``: an ActorCritic to fine-tune (the pre-trained policy; its weights are copied).

    ``dist``: this rank of a data-parallel run (``torchrun``, :mod:`robot_learning.algos.distributed`):
    each rank steps ``num_envs`` robots of seed ``seed + rank``, PPO keeps the networks identical,
    ``env_steps`` counts every rank's steps, rank 0's clock and step count end the run for all, and
    only rank 0 logs."""
    import copy

    import torch

    from robot_learning.algos.distributed import Distributed
    from robot_learning.algos.ppo import PPO, ActorCritic, PPOConfig, RolloutBuffer, progress_row, rollout_and_update

    ctx = dist if dist is not None else Distributed()
    torch.manual_seed(ctx.seed(cfg.seed))
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    if not ctx.is_main:
        log = None
    routine = load_routine(cfg.motions)
    env = TrackingEnv(routine, replace(cfg, seed=ctx.seed(cfg.seed)) if ctx.enabled else cfg, sim)

    def step(action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, r, done, info = env.step(action)
        return env.policy_input(obs), r, done, info

    try:
        pcfg = PPOConfig(actor_hidden=cfg.hidden, critic_hidden=cfg.hidden, init_std=cfg.init_std, learning_rate=cfg.learning_rate,
                         schedule=cfg.schedule, steps_per_env=cfg.steps_per_env, gamma=cfg.gamma, entropy_coef=cfg.entropy_coef)
        obs = env.observe()
        x = env.policy_input(obs)
        if init is None:
            model = ActorCritic(x.shape[1], x.shape[1], N_JOINTS, pcfg)
            model.actor.norm.update(torch.from_numpy(x))
            model.critic_norm.update(torch.from_numpy(x))
        else:
            model = copy.deepcopy(init)
            with torch.no_grad():  # fine-tuning explores less than pre-training
                model.log_std.fill_(float(np.log(cfg.init_std)))
        device = torch.device(cfg.device)  # PPO beside the physics (the environment hands numpy over once per step)
        model.to(device)
        ppo = PPO(model, pcfg, seed=cfg.seed, dist=ctx)  # with several ranks: rank 0's networks for all
        warmup = cfg.critic_warmup_iterations if init is not None else 0
        buf = RolloutBuffer(pcfg.steps_per_env, cfg.num_envs, x.shape[1], x.shape[1], N_JOINTS, device=device)
        t0, steps, curve = time.monotonic(), 0, []
        while not ctx.agree(time.monotonic() - t0 >= cfg.max_seconds or (cfg.max_env_steps is not None and steps >= cfg.max_env_steps)):
            # a fine-tune first fits the critic to the new simulator
            x, stats, infos = rollout_and_update(model, ppo, buf, x, step, critic_only=warmup > 0)
            warmup -= 1
            steps += pcfg.steps_per_env * cfg.num_envs * ctx.world_size
            row = progress_row(steps, t0, stats, infos)
            curve.append(row)
            if log:
                log(row)
    finally:
        env.close()
    model.cpu()  # export, evaluation and checkpoints take the CPU module
    return TrackingResult(model, routine, cfg, curve)


def evaluate_in_sim(result: TrackingResult, sim: SimSetup | None = None) -> float:
    """Mean joint-position error (rad) of the deterministic policy over the whole routine from its
    first frame, in ``sim`` (one environment, no initial noise)."""
    import torch

    cfg = replace(result.cfg, num_envs=1, threads=1, episode_s=result.routine.duration_s + 1.0)
    env = TrackingEnv(result.routine, cfg, sim)
    try:
        env.reset(np.array([0]), frames=np.array([0]), noise=False)
        errs = []
        for _ in range(result.routine.num_frames - 1):
            x = env.policy_input(env.observe())
            with torch.no_grad():
                mu = result.model.actor(torch.from_numpy(x)).numpy().astype(np.float64)
            _, _, done, info = env.step(mu)
            errs.append(info["joint_pos_error_rad"])
            if done[0]:
                break
    finally:
        env.close()
    return float(np.mean(errs))


def evaluate_floating(result: TrackingResult, episodes: int = 32, seconds: float = 5.0, seed: int = 0,
                      sim: SimSetup | None = None, reference_only: bool = False) -> dict[str, float]:
    """The deterministic policy on the floating G1 from ``episodes`` random frames of the routine (with
    the training's initial joint noise), ``seconds`` each: the fraction that fell, the mean joint error
    (rad, RMS over joints) while up, and the mean time up (s). ``reference_only``: the reference
    played through the PD without the learned residual (the baseline)."""
    import torch

    if not result.cfg.floating:
        raise ValueError("evaluate_floating needs a floating-base policy (floating: true)")
    cfg = replace(result.cfg, num_envs=episodes, episode_s=seconds, seed=seed)
    env = TrackingEnv(result.routine, cfg, sim)
    alive = np.ones(episodes, dtype=bool)
    fell = np.zeros(episodes, dtype=bool)
    errs, up = [], np.zeros(episodes)
    try:
        obs = env.observe()
        for _ in range(env.max_k):
            if reference_only:
                mu = np.zeros((episodes, N_JOINTS))
            else:
                with torch.no_grad():
                    mu = result.model.actor(torch.from_numpy(env.policy_input(obs))).numpy().astype(np.float64)
            obs, _, done, _ = env.step(mu)
            errs.append(env.joint_error[alive & ~env.fell])
            up += alive * env.dt
            fell |= alive & env.fell
            alive &= ~done
            if not alive.any():
                break
    finally:
        env.close()
    err = np.concatenate(errs) if errs else np.zeros(0)
    return {"episodes": episodes, "seconds": seconds, "fall_rate": float(fell.mean()),
            "joint_pos_error_rad": float(err.mean()) if err.size else float("nan"), "mean_time_up_s": float(up.mean())}


def export_tracking(result: TrackingResult, path: str | Path, training: dict[str, Any] | None = None) -> Any:
    """The tracking policy as ONNX with the metadata contract (G1, fixed pelvis or floating base)."""
    from robot_learning.export.onnx_export import export_policy

    r, cfg = result.routine, result.cfg
    layout = observation_layout(cfg.floating, cfg.history)
    meta = PolicyMetadata(
        robot="g1", task=TASK, joint_names=list(G1_SPEC.joint_names), observation_layout=layout,
        action={"size": N_JOINTS, "type": "joint_position_offset", "scale": result.cfg.action_scale, "clip": 40.0,
                "meaning": "PD target = default_joint_positions + scale * action (reference feed-forward + learned residual)"},
        control_rate_hz=r.fps, safety_limits={"max_tilt_deg": 60.0},
        default_joint_positions=[float(v) for v in DEFAULT],
        pd_gains={"kp": [float(v) for v in G1_SPEC.array("kp")], "kd": [float(v) for v in G1_SPEC.array("kd")]},
        robot_params={"fix_base": not cfg.floating},
        training={"motions": list(result.cfg.motions), "segments": {k: list(v) for k, v in r.segments.items()},
                  "duration_s": r.duration_s, **(training or {})},
    )
    times = np.linspace(0.0, r.duration_s, 64, dtype=np.float32)
    rng = np.random.default_rng(0)
    parity = np.concatenate([rng.normal(0, 0.3, (64, layout.size - 1)).astype(np.float32), times[:, None]], -1)
    return export_policy(result.policy(), meta, path, parity_obs=parity)
