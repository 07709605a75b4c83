"""A scripted pick-and-place expert for the Panda task: the "human" of headless runs and tests.

It reads the privileged simulator state (as a person watching the robot would see it) and answers in
the policy's own action space: a TCP-frame delta in [-1, 1]^3 and a gripper command. It is not a
perfect teacher: its arm actions carry Gaussian noise and it sometimes fumbles the gripper, so
demonstrations from it leave behaviour cloning short of the task (measured in the README).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_learning.core.checks import check
from robot_learning.tasks.hil_serl.env import PandaPickPlace
from robot_learning.tasks.hil_serl.scene import GRIPPER_CLOSE, GRIPPER_OPEN, GRIPPER_STAY


@dataclass
class ExpertConfig:
    noise: float = 0.3  # std of the Gaussian noise on the arm action (in action units)
    fumble: float = 0.02  # probability per step of a wrong gripper command
    gain: float = 1.0 / 0.02  # action per metre of position error (saturates at 1 beyond 2 cm)
    hover_m: float = 0.07  # approach height above the cube
    carry_z: float = 0.14  # TCP height while carrying
    release_z: float = 0.085  # TCP height over the bin where the cube is let go

    def __post_init__(self) -> None:
        check(self, positive=("gain",), non_negative=("noise", "hover_m", "carry_z", "release_z"), fraction=("fumble",))


def expert_action(env: PandaPickPlace, cfg: ExpertConfig, rng: np.random.Generator,
                  goal: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """The expert's next (arm action, gripper command) for the current state of ``env``; ``goal``
    overrides where it puts the cube (near misses for the classifier's negatives)."""
    tcp = env.tcp_pos()
    obj = env.object_pos()
    goal = env.goal if goal is None else goal
    closed = env.gripper_closed
    rel = obj - tcp
    holding = closed and np.abs(rel[:2]).max() < 0.02 and abs(rel[2]) < 0.03 and env.gripper_opening() > 0.02
    gripper = GRIPPER_STAY
    if holding:
        dxy = goal[:2] - tcp[:2]
        if np.abs(dxy).max() > 0.02:
            # rise first, then travel at carry height
            target = np.array([tcp[0], tcp[1], cfg.carry_z]) if tcp[2] < cfg.carry_z - 0.03 else np.array([goal[0], goal[1], cfg.carry_z])
        else:
            target = np.array([goal[0], goal[1], cfg.release_z])
            if tcp[2] < cfg.release_z + 0.015:
                gripper = GRIPPER_OPEN
    elif closed:
        # closed on nothing (a missed grasp) or just released: open and back off upwards
        target = tcp + np.array([0.0, 0.0, 0.05])
        gripper = GRIPPER_OPEN
    else:
        placed = np.abs(obj[:2] - goal[:2]).max() < env.config.bin_inner_half and obj[2] < env.config.bin_height + 0.03
        if placed:  # done: move up out of the way
            target = np.array([tcp[0], tcp[1], cfg.carry_z])
        elif np.abs(rel[:2]).max() > 0.012:
            z = max(obj[2] + cfg.hover_m, tcp[2]) if np.abs(rel[:2]).max() > 0.04 else obj[2] + cfg.hover_m
            target = np.array([obj[0], obj[1], z])
        else:
            target = np.array([obj[0], obj[1], obj[2] - 0.005])
            if tcp[2] - obj[2] < 0.012:
                gripper = GRIPPER_CLOSE
    world = np.clip((target - tcp) * cfg.gain, -1.0, 1.0)
    action = env.tcp_rot().T @ world  # into the TCP frame, as the policy acts
    action = np.clip(action + rng.normal(0.0, cfg.noise, 3), -1.0, 1.0)
    if rng.random() < cfg.fumble:
        gripper = int(rng.integers(0, 3))
    return action.astype(np.float32), gripper
