"""The cart-pole task (balance a pole on a cart by PPO; the template for a new skill): its entry in the task registry.

Everything the platform knows of the task is here: the commands (each handler is named as a
"module:function" string and imported only when it runs), their own flags, the config dataclass,
and the robot it brings along for `deploy` (description, deployment profile, simulated bridge).
"""
from __future__ import annotations

from robot_learning.tasks.registry import Command, Option, RobotEntry, TaskSpec

_PKG = "robot_learning.tasks.cartpole"

TASK = TaskSpec(
    name="cartpole",
    summary="Balance a pole on a cart from tilted starts (PPO in MuJoCo; the pole's angle read from an IMU on it).",
    robot="cartpole",
    policy_tasks=("cartpole_balance",),
    config=f"{_PKG}.config:CartPoleConfig",
    default_config=None,  # the defaults live in the config dataclasses
    robots=(RobotEntry(name="cartpole", description=f"{_PKG}.robot:describe", profile=f"{_PKG}.deploy:PROFILE",
                       bridge=f"{_PKG}.bridge"),),
    commands=(
        Command("train", "PPO until the policy balances; then policy.onnx (parity-checked) and the runtime's success in MuJoCo and PyBullet.",
                f"{_PKG}.module:train_command", options=(
                    Option("--no-gate", "skip the evaluations through the runtime after training", action="store_false", dest="gate"),)),
        Command("eval", "Tilted starts through the runtime; success = the pole never falls and ends upright with the cart centred.",
                f"{_PKG}.module:eval_command", options=(
                    Option("--sim", "engine: mujoco (training's) or pybullet (the second engine)", default="mujoco",
                           choices=("mujoco", "pybullet")),)),
        Command("export", "A checkpoint (checkpoints/final.pt) -> policy.onnx with the metadata contract, parity-checked.",
                f"{_PKG}.module:export_command"),
    ),
)
