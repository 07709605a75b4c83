"""The batched-robot interface every G1 physics backend implements.

The getting-up and ASAP environments, the MPC teacher and the rehearsal tools step N simulated G1s
through this one surface; :class:`~robot_learning.sim.mujoco_batch.G1Batch` (MuJoCo's C engine over
``mujoco.rollout``, the default) defined it, and the other backends (MuJoCo Warp, Isaac Gym) follow it
so that a task never asks which engine it runs on. :func:`robot_learning.sim.backends.make_batch`
builds one by name.

Array conventions (all backends): numpy ``float64`` views in spec joint order, valid until the next
``step``/``reset``; the free joint first (pelvis position, quaternion ``w, x, y, z``; linear velocity
in the world frame, angular velocity in the pelvis frame); sensor values as MuJoCo's ``sensordata``
after the last physics substep (see :mod:`robot_learning.sim.mujoco_batch` for their timing). A
backend whose state lives on an accelerator also offers :meth:`BatchedG1.torch_state`, device
tensors without a host copy.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from robot_learning.core.config import ConfigError
from robot_learning.robots.joint_robot import JointRobotSpec
from robot_learning.sim.terrain import TerrainConfig

BACKENDS = ("mujoco", "warp", "isaacgym")


def check_device(backend: str, device: str) -> None:
    """Refuse a device the backend cannot use, in one line."""
    if not (device == "cpu" or device == "cuda" or device.startswith("cuda:")):
        raise ConfigError(f"device {device!r}: use cpu, cuda or cuda:N")
    if backend == "mujoco" and device != "cpu":
        raise ConfigError("the mujoco backend (MuJoCo's C engine) runs on the CPU; use --backend warp for a GPU")
    if backend == "isaacgym" and device == "cpu":
        raise ConfigError("the isaacgym backend needs a CUDA device (--device cuda:0)")


@runtime_checkable
class BatchedG1(Protocol):
    """N G1 environments stepped together (see the module docstring for the conventions)."""

    num_envs: int
    #: the nominal MuJoCo model the batch was built from (bodies, masses, sensors: every backend builds
    #: its robot from it, so a task can read geometry and inertia the same way on each)
    model: Any
    nq: int
    nv: int
    nu: int
    dt: float
    decimation: int
    floating: bool
    desc: JointRobotSpec
    terrains: list[TerrainConfig | None]
    kp: np.ndarray
    kd: np.ndarray
    rng: np.random.Generator

    # life cycle
    def close(self) -> None: ...

    # poses, reset and step
    def default_qpos(self, joint_pos: np.ndarray | None = None, base_height: float = ...,
                     base_quat: np.ndarray | None = None) -> np.ndarray: ...

    def reset(self, env_ids: np.ndarray, qpos: np.ndarray, qvel: np.ndarray | None = None) -> None: ...

    def step(self, targets: np.ndarray) -> None: ...

    def step_substeps(self, targets: np.ndarray) -> None: ...

    def push(self, env_ids: np.ndarray, velocity: np.ndarray) -> None: ...

    def height_above_ground(self, pos: np.ndarray) -> np.ndarray: ...

    # views of the state
    @property
    def time(self) -> np.ndarray: ...

    @property
    def qpos(self) -> np.ndarray: ...

    @property
    def qvel(self) -> np.ndarray: ...

    @property
    def joint_pos(self) -> np.ndarray: ...

    @property
    def joint_vel(self) -> np.ndarray: ...

    @property
    def base_pos(self) -> np.ndarray: ...

    @property
    def base_quat(self) -> np.ndarray: ...

    @property
    def base_lin_vel(self) -> np.ndarray: ...

    @property
    def base_ang_vel(self) -> np.ndarray: ...

    @property
    def targets(self) -> np.ndarray: ...

    @property
    def actuator_force(self) -> np.ndarray: ...

    def sensor(self, name: str) -> np.ndarray: ...

    def sensor_substeps(self, name: str) -> np.ndarray: ...

    def pd_torque(self, targets: np.ndarray | None = None, joint_pos: np.ndarray | None = None,
                  joint_vel: np.ndarray | None = None) -> np.ndarray: ...

    # domain randomisation (per environment)
    def randomize(self, env_ids: np.ndarray, friction: np.ndarray | None = None, mass_delta: np.ndarray | None = None,
                  com_offset: np.ndarray | None = None, motor_strength: np.ndarray | None = None) -> None: ...

    def set_gains(self, env_ids: np.ndarray, kp: np.ndarray, kd: np.ndarray) -> None: ...

    def set_joint_friction(self, env_ids: np.ndarray, damping: np.ndarray, frictionloss: np.ndarray) -> None: ...

    def sample_randomization(self, env_ids: np.ndarray, ranges: Any = None) -> None: ...


class G1StateViews:
    """What every backend derives the same way from its ``qpos``/``qvel`` views and its gains: the joint
    and pelvis views and the vectorised PD law. A backend class inherits it and provides ``qpos``,
    ``qvel``, ``targets``, ``floating``, ``_jq0``/``_jv0`` (the first joint's qpos/qvel address),
    ``kp``, ``kd`` and ``effort_limit``."""

    floating: bool
    _jq0: int
    _jv0: int
    kp: np.ndarray
    kd: np.ndarray
    effort_limit: np.ndarray

    @property
    def qpos(self) -> np.ndarray:
        raise NotImplementedError

    @property
    def qvel(self) -> np.ndarray:
        raise NotImplementedError

    @property
    def targets(self) -> np.ndarray:
        raise NotImplementedError

    @property
    def joint_pos(self) -> np.ndarray:
        """(N, 23) joint angles (rad), spec order."""
        return self.qpos[:, self._jq0:]

    @property
    def joint_vel(self) -> np.ndarray:
        """(N, 23) joint velocities (rad/s), spec order."""
        return self.qvel[:, self._jv0:]

    def _floating(self, what: str) -> None:
        if not self.floating:
            raise ValueError(f"{what} needs the free-floating G1 (G1BatchConfig.fix_base=False)")

    @property
    def base_pos(self) -> np.ndarray:
        """(N, 3) pelvis position, world (m)."""
        self._floating("base_pos")
        return self.qpos[:, 0:3]

    @property
    def base_quat(self) -> np.ndarray:
        """(N, 4) pelvis orientation in the world, (w, x, y, z)."""
        self._floating("base_quat")
        return self.qpos[:, 3:7]

    @property
    def base_lin_vel(self) -> np.ndarray:
        """(N, 3) pelvis linear velocity in the world frame (m/s)."""
        self._floating("base_lin_vel")
        return self.qvel[:, 0:3]

    @property
    def base_ang_vel(self) -> np.ndarray:
        """(N, 3) pelvis angular velocity in the pelvis (body) frame (rad/s)."""
        self._floating("base_ang_vel")
        return self.qvel[:, 3:6]

    def pd_torque(self, targets: np.ndarray | None = None, joint_pos: np.ndarray | None = None,
                  joint_vel: np.ndarray | None = None) -> np.ndarray:
        """(N, 23) the actuators' PD law, vectorised: ``clip(kp (target - q) - kd qd, +-effort)`` with each
        environment's gains; defaults: the current targets and joint state (the torque the next physics
        step would apply)."""
        t = self.targets if targets is None else targets
        q = self.joint_pos if joint_pos is None else joint_pos
        qd = self.joint_vel if joint_vel is None else joint_vel
        torque: np.ndarray = np.clip(self.kp * (t - q) - self.kd * qd, -self.effort_limit, self.effort_limit)
        return torque
