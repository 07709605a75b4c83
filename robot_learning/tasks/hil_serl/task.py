"""The HIL-SERL task (human-in-the-loop manipulation RL, Franka Panda): its entry in the task registry."""
from __future__ import annotations

from pathlib import Path

from robot_learning.tasks.registry import Command, Option, TaskSpec, at_least_one

_MODULE = "robot_learning.tasks.hil_serl.module"
_HUMANS = ("scripted", "none", "keyboard", "gamepad", "spacemouse")


def _port(value: int) -> str | None:
    return None if 1 <= value <= 65534 else f"must be a port in 1..65534 (the learner also uses port + 1), got {value}"


TASK = TaskSpec(
    name="hil_serl",
    summary="Pick-and-place on a Franka Panda by RLPD-style SAC with demonstrations, human interventions and a reward classifier.",
    robot="panda",
    paper="Precise and Dexterous Robotic Manipulation via Human-in-the-Loop RL (HIL-SERL)",
    policy_tasks=("hil_serl_pick_place",),
    config="robot_learning.tasks.hil_serl.config:HilSerlConfig",
    default_config="hil_serl.yaml",
    shipped_policies=("panda_pick_place.onnx", "panda_pick_place_image.onnx"),
    extra={"user_errors": ("robot_learning.tasks.hil_serl.devices:DeviceUnavailable",)},
    commands=(
        Command("train", "The learner in a second process and the actor here; exports policy.onnx and evaluates it in both engines.",
                f"{_MODULE}:train_command", options=(
                    Option("--human", "who may take over: scripted (default, headless), none, keyboard, gamepad, spacemouse",
                           choices=_HUMANS),
                    Option("--steps", "environment steps of training (default: the config's)", type=int, check=at_least_one),
                    Option("--observation", "what the policy sees: the state; image: proprioception and the wrist and front "
                           "cameras through the pretrained frozen encoder (sim/configs/hil_serl_image.yaml); frame: one front "
                           "frame, CNN from scratch", choices=("state", "image", "frame")),
                    Option("--episodes", "held-out episodes of each evaluation after training (default: the config's)", type=int,
                           check=at_least_one),
                    Option("--no-gate", "skip the PyBullet sim-to-sim evaluation after training", action="store_false", dest="gate"),
                )),
        Command("eval", "Held-out scenes through the runtime; success = the cube placed in the target zone.", f"{_MODULE}:eval_command",
                options=(Option("--sim", "engine", default="mujoco", choices=("mujoco", "pybullet")),)),
        Command("export", "The actor's actor/policy.pt -> policy.onnx (parity-checked).", f"{_MODULE}:export_command"),
        Command("learner", "Replay buffers and SAC updates; listens on --port (transitions) and --port + 1 (weights).",
                f"{_MODULE}:learner_command", common=False, options=(
                    Option("--port", "transitions port (weights on port + 1)", type=int, default=5555, check=_port),
                    Option("--host", "interface to listen on (default: all)", default="*"),
                    Option("--out", "directory for final.pt, learner.json and metrics.jsonl", type=Path, required=True),
                    Option("--config", "YAML config (default sim/configs/hil_serl.yaml); use the actor's", type=Path),
                    Option("--seed", "random seed", type=int),
                )),
        Command("actor", "The robot side: demonstrations, reward classifier, episodes with the human in the loop.",
                f"{_MODULE}:actor_command", common=False, options=(
                    Option("--learner", "HOST:PORT of the learner", required=True),
                    Option("--out", "directory for the actor's report and episodes", type=Path, required=True),
                    Option("--config", "YAML config (default sim/configs/hil_serl.yaml)", type=Path),
                    Option("--human", "who may take over", choices=_HUMANS),
                    Option("--seed", "random seed", type=int),
                )),
        Command("keys", "A CURVE key pair for the actor <-> learner link: NAME.key (public) and NAME.key_secret (mode 0600).",
                "robot_learning.tasks.hil_serl.keys:keys_command", common=False, options=(
                    Option("--out", "directory for the two key files", type=Path, required=True),
                    Option("--name", "learner, or the actor's robot name", required=True),
                )),
    ),
)
