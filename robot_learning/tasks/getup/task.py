"""The getting-up task (HumanUP, Unitree G1): its entry in the task registry."""
from __future__ import annotations

from pathlib import Path

from robot_learning.tasks.registry import Command, Option, TaskSpec, positive_finite

_MODULE = "robot_learning.tasks.getup.module"


def _stage(value: str) -> str | None:
    ok = ("tracking", "discovery", "I", "II", "1", "2")
    return None if value in ok else f"must be one of {', '.join(ok)}, got {value!r}"


def _terrains(value: str) -> str | None:
    names = [k.strip() for k in value.split(",") if k.strip()]
    bad = [k for k in names if k not in ("flat", "slope", "rough")]
    if not names or bad:
        return f"expected a comma-separated list of flat, slope, rough; got {value!r}"
    return None


def _stages(value: str) -> str | None:
    names = [k.strip() for k in value.split(",") if k.strip()]
    return None if names in (["dagger"], ["dagger", "refine"]) else f"expected dagger,refine or dagger; got {value!r}"


TASK = TaskSpec(
    name="getup",
    summary="Getting up from fallen poses, face up and face down, on the Unitree G1: Stage I discovery by PPO, "
            "Stage II tracking (DAgger of a privileged teacher on the CPU path).",
    robot="g1",
    paper="Learning Getting-Up Policies for Real-World Humanoid Robots (HumanUP)",
    policy_tasks=("getup",),
    config="robot_learning.tasks.getup.config:GetupTrainConfig",
    default_config="getup.yaml",
    shipped_policies=("g1_getup_supine.onnx", "g1_getup_prone.onnx", "g1_getup_supine_mesh.onnx", "g1_getup_prone_mesh.onnx"),
    commands=(
        Command("train", "Writes policy_<posture>.onnx (pipeline, DAgger) or policy.onnx (PPO), checkpoints and report.json. "
                         "The default pipeline (teacher labels -> DAgger under Stage II's randomisation and grounds -> PPO "
                         "refinement) resumes a failed or interrupted run rerun with the same --out.",
                f"{_MODULE}:train_command", options=(
                    Option("--method", "pipeline (default), dagger (the nominal clone, as the shipped policies) or ppo",
                           choices=("pipeline", "dagger", "ppo")),
                    Option("--stages", "the pipeline's stages, comma-separated: dagger,refine (default) or dagger", check=_stages),
                    Option("--teacher", "who labels the states in DAgger: scripted (teacher.py) or mpc (mpc.py)",
                           choices=("scripted", "mpc")),
                    Option("--eval-episodes", "held-out poses per posture in the table at the end of the pipeline (0: none)",
                           type=int),
                    Option("--stage", "tracking (Stage II on the CPU path, default) or discovery (Stage I); also II / I", check=_stage),
                    Option("--num-envs", "parallel environments", type=int),
                    Option("--posture", "the fallen postures to train for (default both; one policy per posture)",
                           choices=("supine", "prone", "both")),
                    Option("--model", "collision model to train on, with the references optimised on it (default primitive)",
                           choices=("primitive", "mesh")),
                    Option("--prone", "from prone, roll onto the back first as HumanUP does, or push up directly",
                           choices=("direct", "roll")),
                    Option("--dr", "Stage II's domain randomisation in training episodes (friction, mass, COM, motor strength, "
                                   "delay, pushes, noise); the pipeline has it on", action="store_true", default=None),
                    Option("--terrain", "the training grounds, comma-separated (flat, slope, rough): environment i on the i-th "
                                        "(the pipeline's default: flat,slope,rough)", check=_terrains),
                    Option("--backend", "physics of the training environments: mujoco (C engine, CPU threads; default), "
                                        "warp (MuJoCo Warp) or isaacgym", choices=("mujoco", "warp", "isaacgym")),
                    Option("--device", "where the backend steps: cpu (default) or cuda[:N]"),
                )),
        Command("eval", "Held-out fallen poses through the runtime; success = head at 1.1 m or more at the episode's end.",
                f"{_MODULE}:eval_command", options=(
                    Option("--sim", "engine", default="mujoco", choices=("mujoco", "pybullet")),
                    Option("--model", "MuJoCo collision model (default: the one the policy was trained on; mesh: the second gate)",
                           choices=("mesh", "primitive")),
                    Option("--posture", "held-out fallen poses to start from (default: the policy's postures)",
                           choices=("supine", "prone", "both")),
                    Option("--render", "write a GIF of the first held-out get-up", type=Path),
                    Option("--seconds", "episode length (the paper: 10 s; longer: does it stay up?)", type=float, default=10.0,
                           check=positive_finite),
                    Option("--terrain", "MuJoCo ground (slope: 10 deg; rough: +-3 cm bumps); the fallen poses are made on it",
                           default="flat", choices=("flat", "slope", "rough")),
                    Option("--dr", "MuJoCo robot under one of Stage II's randomisation factors at the training config's range, "
                                   "all of them, or none (nominal); drawn per episode from the seed",
                           default="none", choices=("none", "friction", "mass", "com", "motor", "delay", "push", "noise", "all")),
                )),
        Command("export", "A checkpoint (actor_<posture>.pt or checkpoints/final.pt) -> ONNX with the metadata contract.",
                f"{_MODULE}:export_command"),
    ),
)
