"""ASAP's "real world" on this machine: a second engine (PyBullet) with the same G1, plus a dynamics
configuration file of the gaps that a real robot has and the training simulator (MuJoCo) does not.

The trainer never sees this world's parameters: it only gets what the runtime records here (MCAP).
A configuration is a small YAML file (``assets/target_worlds/*.yaml``)::

    name: stiff_gearbox
    engine: pybullet          # pybullet (all gaps) | mujoco (gains and latency only: for tests with a known answer)
    fix_base: true            # the pelvis welded in the air (the small-robot path) or a free G1
    kp_scale: 0.8             # PD gain error (a scalar, or one value per joint)
    kd_scale: 1.0
    latency_s: 0.01           # delay between a command and the motors acting on it
    joint_damping: 0.3        # N m s/rad of extra viscous friction per joint
    joint_friction: 0.5       # N m of extra Coulomb friction per joint
    backlash_rad: 0.01        # gear play: the PD acts on an error with this dead band
    torque_speed_scale: 1.2   # the torque limit falls linearly to 0 at this multiple of the joint's speed limit
    payload_kg: 2.0           # mass added to the torso
    ground_friction: 0.8

Backlash and the speed-dependent torque limit are gaps that SysID's parameters (masses, gains,
friction, latency) cannot represent, as on a real robot.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robot_learning.core.checks import check, divides
from robot_learning.core.config import ConfigError, from_dict, read_yaml_mapping
from robot_learning.robots.g1 import G1_SPEC

N_JOINTS = G1_SPEC.num_joints
WORLDS_DIR = Path(__file__).resolve().parents[3] / "assets" / "target_worlds"


@dataclass
class TargetWorldConfig:
    """One target world; see the module doc for the meaning of every field."""

    name: str = "nominal"
    engine: str = "pybullet"
    fix_base: bool = True
    kp_scale: float | list[float] = 1.0
    kd_scale: float | list[float] = 1.0
    latency_s: float = 0.0
    joint_damping: float = 0.0
    joint_friction: float = 0.0
    backlash_rad: float = 0.0
    torque_speed_scale: float = 0.0  # 0: no speed-dependent torque limit
    payload_kg: float = 0.0
    ground_friction: float = 1.0
    physics_dt: float = 0.002
    control_rate_hz: float = 50.0
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check(self, positive=("physics_dt", "control_rate_hz"), non_negative=("ground_friction",))
        divides(self, "control_rate_hz", "physics_dt", 1.0 / self.control_rate_hz, self.physics_dt)
        problems = []
        if self.engine not in ("pybullet", "mujoco"):
            problems.append(f"engine must be 'pybullet' or 'mujoco', got {self.engine!r}")
        for name in ("kp_scale", "kd_scale"):
            v = np.asarray(getattr(self, name), dtype=float)
            if v.ndim > 1 or (v.ndim == 1 and v.shape[0] != N_JOINTS):
                problems.append(f"{name} must be a number or {N_JOINTS} numbers (one per joint)")
            elif np.any(v <= 0):
                problems.append(f"{name} must be > 0")
        for name in ("latency_s", "joint_damping", "joint_friction", "backlash_rad", "torque_speed_scale", "payload_kg"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if 0 < self.torque_speed_scale <= 0.1:
            problems.append("torque_speed_scale must be 0 (off) or > 0.1")
        if self.engine == "mujoco":
            period = 1.0 / self.control_rate_hz
            if abs(self.latency_s / period - round(self.latency_s / period)) > 1e-6:
                problems.append(f"the mujoco target world delays by whole control periods ({period} s), got latency_s {self.latency_s}")
            unsupported = [n for n in ("joint_damping", "joint_friction", "backlash_rad", "torque_speed_scale", "payload_kg")
                           if getattr(self, n) != 0]
            if unsupported:
                problems.append(f"the mujoco target world models gains and latency only; {unsupported} need engine: pybullet")
        if problems:
            raise ValueError(f"target world {self.name!r}: " + "; ".join(problems))

    def gain_scales(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.broadcast_to(np.asarray(self.kp_scale, float), (N_JOINTS,)).copy(),
                np.broadcast_to(np.asarray(self.kd_scale, float), (N_JOINTS,)).copy())

    @property
    def latency_substeps(self) -> int:
        return int(round(self.latency_s / self.physics_dt))


def load_target_world(path_or_name: str | Path) -> TargetWorldConfig:
    """A target world from a YAML file, or the name of one shipped in ``assets/target_worlds``
    (strict: an unknown field or a wrong type is a ConfigError naming it)."""
    p = Path(path_or_name)
    if not p.suffix:
        p = WORLDS_DIR / f"{path_or_name}.yaml"
    if not p.is_file():
        shipped = sorted(x.stem for x in WORLDS_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"target world {path_or_name} not found (a YAML file, or one of {shipped})")
    data = dict(read_yaml_mapping(p))
    data.setdefault("name", p.stem)
    try:
        return from_dict(TargetWorldConfig, data)
    except ConfigError as e:  # "worlds/x.yaml: physics_dt: must be > 0, got 0.0"
        raise ConfigError(f"{p}: {e}") from None


def transmitted_torque(cfg: TargetWorldConfig, kp: np.ndarray, kd: np.ndarray, effort: np.ndarray, velocity_limit: np.ndarray,
                       target: np.ndarray, q: np.ndarray, qd: np.ndarray, damping: np.ndarray | None = None,
                       inertia: np.ndarray | None = None, dt: float = 0.002) -> np.ndarray:
    """The joint torque of the target world's actuator for PD target ``target`` at state (q, qd):

    - backlash: the PD sees the position error through a dead band of ``backlash_rad``;
    - PD with the world's gains (``kp``, ``kd`` already scaled; ``damping``: the matrix that replaces
      ``diag(kd)``, e.g. PyBullet's implicit damping);
    - the effort limit, falling linearly with speed to 0 at ``torque_speed_scale`` x the joint's
      speed limit while the motor drives (torque and speed of the same sign); braking keeps the full limit;
    - extra viscous and Coulomb joint friction (not limited: it is not the motor's). With the joints'
      effective ``inertia`` (kg m^2) and the physics step ``dt``, both are integrated stably, as an
      implicit step would: the viscous term is ``-c qd m / (m + dt c)`` and the friction cannot
      reverse a joint's velocity within one step (``|tau| <= m |qd| / dt``). Without this, the light
      ankle-roll joints chattered to ~100 rad/s under 0.3 N m of friction (measured).
    """
    err = target - q
    if cfg.backlash_rad > 0:
        half = 0.5 * cfg.backlash_rad
        err = np.sign(err) * np.maximum(np.abs(err) - half, 0.0)
    tau = kp * err - (damping @ qd if damping is not None else kd * qd)
    limit = effort.copy()
    if cfg.torque_speed_scale > 0:
        vmax = cfg.torque_speed_scale * velocity_limit
        driving = np.sign(tau) == np.sign(qd)
        limit = np.where(driving, effort * np.clip(1.0 - np.abs(qd) / vmax, 0.0, 1.0), effort)
    tau = np.clip(tau, -limit, limit)
    viscous = cfg.joint_damping * qd
    friction = cfg.joint_friction * np.tanh(qd / 0.02)
    if inertia is not None:
        viscous = viscous * inertia / (inertia + dt * cfg.joint_damping)
        budget = np.maximum(inertia * np.abs(qd) / dt - np.abs(viscous), 0.0)  # what is left before the joint would reverse
        friction = np.clip(friction, -budget, budget)
    return tau - viscous - friction


def make_target_robot(cfg: TargetWorldConfig, seed: int = 0) -> Any:
    """The target world as a runtime robot (``step(command)``, ``state()``, ``reset()``, ...)."""
    if cfg.engine == "pybullet":
        return PyBulletTargetG1(cfg, seed=seed)
    return MujocoTargetG1(cfg, seed=seed)


def _pybullet_class() -> type:
    from robot_learning.sim.pybullet_g1 import PyBulletG1

    return PyBulletG1


class PyBulletTargetG1(_pybullet_class()):  # type: ignore[misc]
    """:class:`~robot_learning.sim.pybullet_g1.PyBulletG1` with a target world's gaps in its actuators."""

    def __init__(self, world: TargetWorldConfig, seed: int = 0) -> None:
        import pybullet as p

        from robot_learning.sim.pybullet_g1 import PyBulletG1Config

        self.world = world
        self._history: deque[tuple[int, np.ndarray]] = deque()
        super().__init__(PyBulletG1Config(control_rate_hz=world.control_rate_hz, physics_dt=world.physics_dt, seed=seed,
                                          fix_base=world.fix_base, ground_friction=world.ground_friction))
        self.set_gains(self.spec.array("kp"), self.spec.array("kd"))
        self._vlimit = self.spec.array("velocity_limit")
        if world.payload_kg > 0:
            torso = self.link_index["torso_link"]
            mass = p.getDynamicsInfo(self.body, torso, physicsClientId=self.client)[0]
            p.changeDynamics(self.body, torso, mass=mass + world.payload_kg, physicsClientId=self.client)

    def set_gains(self, kp: np.ndarray | float, kd: np.ndarray | float) -> None:
        """The commanded gains, as this world's actuators realise them (times its gain errors)."""
        kp_s, kd_s = self.world.gain_scales()
        super().set_gains(np.asarray(kp, dtype=np.float64) * kp_s, np.asarray(kd, dtype=np.float64) * kd_s)

    def reset(self, *args: Any, **kwargs: Any) -> Any:
        out = super().reset(*args, **kwargs)
        self._history = deque([(-(10**9), self._target.copy())])  # the reset's target until the first command is due
        return out

    def step(self, command: np.ndarray) -> None:
        self._history.append((self._steps, np.asarray(command, dtype=np.float64).copy()))
        super().step(command)

    def _active_target(self) -> np.ndarray:
        """The newest command issued at least ``latency`` physics steps ago (the oldest one before that)."""
        due = self._steps - self.world.latency_substeps
        while len(self._history) > 1 and self._history[1][0] <= due:
            self._history.popleft()
        return self._history[0][1]

    def _refresh_damping(self) -> None:
        super()._refresh_damping()
        mass = getattr(self, "_joint_mass", None)  # the implicit-damping path computes it
        self._inertia = None if mass is None else 1.0 / np.diag(np.linalg.inv(mass))

    def _pd_torque(self, q: np.ndarray, qd: np.ndarray) -> np.ndarray:
        return transmitted_torque(self.world, self.kp, self.kd, self._effort, self._vlimit, self._active_target(), q, qd,
                                  damping=self._damping, inertia=self._inertia, dt=self.config.physics_dt)


class MujocoTargetG1:
    """A MuJoCo G1 whose only differences are gains and latency (known-answer tests): a one-robot
    :class:`~robot_learning.sim.mujoco_batch.G1Batch` with scaled actuator gains."""

    def __init__(self, world: TargetWorldConfig, seed: int = 0) -> None:
        from robot_learning.sim.mujoco_batch import G1Batch, G1BatchConfig

        decimation = round(1.0 / (world.control_rate_hz * world.physics_dt))
        self.world = world
        self.batch = G1Batch(G1BatchConfig(num_envs=1, physics_dt=world.physics_dt, decimation=decimation, threads=1, seed=seed,
                                           fix_base=world.fix_base))
        kp_s, kd_s = world.gain_scales()
        self.batch.set_gains(np.array([0]), self.batch.desc.array("kp") * kp_s, self.batch.desc.array("kd") * kd_s)
        self.dt = self.batch.dt
        self._queue: deque[np.ndarray] = deque()
        self._delay_steps = int(round(world.latency_s / self.dt))  # a whole number of periods (checked by the config)

    def reset(self, joint_pos: np.ndarray | None = None) -> None:
        self._queue.clear()
        q = self.batch.default_qpos(joint_pos)
        self.batch.reset(np.array([0]), q[None])

    def step(self, command: np.ndarray) -> None:
        self._queue.append(np.asarray(command, dtype=np.float64).copy())
        if len(self._queue) > self._delay_steps:
            target = self._queue.popleft()
        else:
            target = self.batch.targets[0].copy()
        self.batch.step(target[None])

    @property
    def joint_pos(self) -> np.ndarray:
        return self.batch.joint_pos[0].copy()

    @property
    def joint_vel(self) -> np.ndarray:
        return self.batch.joint_vel[0].copy()

    def close(self) -> None:
        self.batch.close()
