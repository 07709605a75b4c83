"""The quadrotor task (Learning to Fly in Seconds, Crazyflie): its entry in the task registry."""
from __future__ import annotations

from robot_learning.tasks.registry import Command, Option, TaskSpec

_MODULE = "robot_learning.tasks.quadrotor.module"

TASK = TaskSpec(
    name="quadrotor",
    summary="Hover and trajectory tracking on a Crazyflie 2.x by TD3 with an asymmetric critic and a curriculum (direct RPM control).",
    robot="crazyflie",
    paper="Learning to Fly in Seconds (Eschmann et al.)",
    policy_tasks=("quadrotor_hover",),
    config="robot_learning.tasks.quadrotor.config:QuadrotorTrainConfig",
    default_config="quadrotor.yaml",
    shipped_policies=("crazyflie_hover.onnx", "crazyflie_hover_randomised.onnx"),
    commands=(
        Command("train", "TD3 (compiled JAX learner by default; --set learner=torch for the eager one), then ONNX + C export and the "
                "evaluations in both engines, all within --seconds.",
                f"{_MODULE}:train_command", options=(
                    Option("--episodes", "episodes of each evaluation after training", type=int, default=100),
                    Option("--no-gate", "skip the PyBullet sim-to-sim evaluation after training", action="store_false", dest="gate"),
                )),
        Command("eval", "Hover from random states (success, hover error) or track a figure-eight.", f"{_MODULE}:eval_command", options=(
            Option("--sim", "engine: torch (the training simulator) or pybullet (the second engine)", default="pybullet",
                   choices=("torch", "pybullet"), dest="engine"),
            Option("--trajectory", "hover from random states, or track a figure-eight (PyBullet)", default="hover", choices=("hover", "figure8")),
            Option("--grid", "hover on every vehicle of the domain-randomisation grid (mass, thrust-to-weight, inertia, motor lag, "
                   "thrust curve; with --sim torch), --episodes each", action="store_true"),
        )),
        Command("export", "A checkpoint (checkpoints/final.pt) -> policy.onnx (parity-checked) and plain C (policy.c/.h).",
                f"{_MODULE}:export_command"),
        # `robot-learning deploy --robot crazyflie` (in-process) runs this: the runtime lock-step with PyBullet
        Command("rehearse", "The runtime in lock-step with the PyBullet Crazyflie (used by `deploy --robot crazyflie`).",
                f"{_MODULE}:deploy_command", common=False, cli=False),
    ),
)
