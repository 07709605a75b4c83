"""The simulated Panda behind the adapter interface: the HIL-SERL pick-and-place scene (MuJoCo, or the
PyBullet twin of the sim-to-sim gate), stepped in lock-step.

Each :meth:`SimulatedArm.send_ee_target` is one control period of the scene's own Cartesian
impedance controller (bounded spring, null-space posture, gravity compensation) towards the target,
with the gripper command given since the previous one; the clock is simulation time. The scene's
truth (cube, bin, success) is the perception of this arm (:class:`SceneTruth`).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from robot_learning.hardware.panda.arm import ArmError, ArmState
from robot_learning.tasks.hil_serl.scene import PickPlaceConfig

SIMS = ("mujoco", "pybullet")


class SimulatedArm:
    """:class:`~robot_learning.hardware.panda.arm.PandaArm` on the HIL-SERL task's simulated Panda."""

    realtime = False

    def __init__(self, sim: str = "mujoco", config: PickPlaceConfig | None = None) -> None:
        if sim not in SIMS:
            raise ValueError(f"unknown sim {sim!r}; expected one of {SIMS}")
        self.sim = sim
        self.config = config or PickPlaceConfig()
        self.env: Any = None
        self.time = 0.0
        self._grip: bool | None = None
        self.last_info: dict[str, Any] = {}
        self.stops = 0

    # ---------------------------------------------------------------------- the interface
    def connect(self) -> None:
        from robot_learning.tasks.hil_serl.evaluate import make_env

        if self.env is None:
            self.env = make_env(self.sim, self.config)

    def _scene(self) -> Any:
        if self.env is None:
            raise ArmError("the simulated arm is not connected; call connect() first")
        return self.env

    def read_state(self) -> ArmState:
        env = self._scene()
        q, qd = self._joints(env)
        f = env.obs_fields()
        return ArmState(self.time, np.asarray(f["tcp_pos"], dtype=np.float64), env.tcp_rot(), np.asarray(f["tcp_vel"], dtype=np.float64),
                        q, qd, float(env.gripper_opening()))

    def send_ee_target(self, tcp_pos: np.ndarray | None, stiffness_scale: float = 1.0) -> None:
        env = self._scene()
        target = env.tcp_ref if tcp_pos is None else np.asarray(tcp_pos, dtype=np.float64)
        _, self.last_info = env.apply_command(target, self._grip, stiffness_scale)
        self._grip = None
        self.time += float(env.dt)

    def gripper(self, close: bool) -> None:
        self._grip = bool(close)  # applied with the next target, as the scene takes both in one period

    def recover(self) -> bool:
        return self.env is not None  # a simulated arm has no reflexes to clear

    def stop(self) -> None:
        """The reference at the measured TCP (a hold), the gripper left as it is; one period passes."""
        env = self._scene()
        self.stops += 1
        self._grip = None
        self.send_ee_target(env.tcp_pos())

    def close(self) -> None:
        if self.env is not None:
            close = getattr(self.env, "close", None)
            if close is not None:
                close()
            self.env = None

    def now(self) -> float:
        return self.time

    # ---------------------------------------------------------------------- the scene (simulation only)
    def reset(self, seed: int) -> None:
        """A new scene (cube, bin, start pose) as evaluation episode ``seed - 10000`` draws it."""
        self._scene().reset(seed)
        self._grip = None
        self.last_info = {}

    def success(self) -> bool:
        return bool(self._scene().success())

    @staticmethod
    def _joints(env: Any) -> tuple[np.ndarray, np.ndarray]:
        if hasattr(env, "data"):  # MuJoCo
            return env.data.qpos[env._qadr].copy(), env.data.qvel[env._vadr].copy()
        q, qd = env._joint_states()  # PyBullet: every movable joint, the arm's columns
        return np.asarray(q)[env._arm_cols], np.asarray(qd)[env._arm_cols]


class SceneTruth:
    """The simulator's cube and bin positions: the perception of a :class:`SimulatedArm`."""

    def __init__(self, arm: SimulatedArm) -> None:
        self.arm = arm

    def fields(self, state: ArmState) -> dict[str, np.ndarray]:
        env = self.arm._scene()
        return {"object_pos": env.object_pos(), "goal_pos": np.asarray(env.goal, dtype=np.float64)}
