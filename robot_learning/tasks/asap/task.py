"""The ASAP task (delta-action sim-to-real alignment, G1 motion tracking): its entry in the task registry."""
from __future__ import annotations

from pathlib import Path

from robot_learning.tasks.registry import (
    Command,
    Option,
    TaskSpec,
    at_least_one,
    non_negative,
    positive_finite,
)

_MODULE = "robot_learning.tasks.asap.module"


_WORLD = "a target-world YAML file or the name of one in assets/target_worlds"

TASK = TaskSpec(
    name="asap",
    summary="Whole-body motion tracking on the G1, aligned to a target world by ASAP's delta-action model "
            "(with SysID, domain randomisation and DeltaDynamics baselines).",
    robot="g1",
    paper="ASAP: Aligning Simulation and Real-World Physics",
    policy_tasks=("asap_tracking",),
    config="robot_learning.tasks.asap.tracking:TrackingConfig",
    default_config="asap.yaml",
    shipped_policies=("g1_asap_pretrained.onnx", "g1_asap_worn_actuators.onnx", "g1_asap_heavy_geared.onnx"),
    extra={"model_metadata": ("delta_action",),  # `eval` also takes its delta-action models
           "user_errors": ("robot_learning.tasks.asap.delta:SessionError", "robot_learning.tasks.asap.motions:MotionFormatError")},
    commands=(
        Command("train", "Stage 1: PPO tracking of the routine in the nominal simulator; writes policy.onnx and model.pt.",
                f"{_MODULE}:train_command", options=(
                    Option("--num-envs", "parallel environments", type=int, check=at_least_one),
                    Option("--backend", "physics of the training environments: mujoco (C engine, CPU threads; default), "
                                        "warp (MuJoCo Warp) or isaacgym", choices=("mujoco", "warp", "isaacgym")),
                    Option("--device", "where the backend steps and PPO runs: cpu (default) or cuda[:N]"),
                )),
        Command("eval", "A tracking policy through the runtime in a target world (MPJPE, joint, velocity and acceleration errors); "
                        "a delta-action model: open-loop replay error of excitation sessions, raw and aligned.",
                f"{_MODULE}:eval_command", options=(
                    Option("--target-world", f"{_WORLD} (default: the policy's, else worn_actuators)"),
                    Option("--record", "write each episode's session (MCAP) into this directory", type=Path),
                )),
        Command("export", "A tracking checkpoint (model.pt, or <method>.pt of `asap run`) -> ONNX, parity-checked.",
                f"{_MODULE}:export_command"),
        Command("run", "The whole loop: pre-train, deploy and record, fit delta/SysID/DeltaDynamics, fine-tune (and DR), re-deploy, table.",
                f"{_MODULE}:run_command", common=False, options=(
                    Option("--target-world", _WORLD, required=True),
                    Option("--pretrained", "model.pt of an earlier run's pre-trained policy (skips pre-training)", type=Path),
                    Option("--out", "run directory (default runs/asap-<world>-<time>/); never overwritten", type=Path),
                    Option("--force", "allow writing into an existing non-empty --out", action="store_true"),
                    Option("--pretrain-seconds", "pre-training budget", type=float, default=600.0, check=positive_finite),
                    Option("--finetune-seconds", "fine-tuning budget, per method", type=float, default=180.0, check=positive_finite),
                    Option("--delta-seconds", "delta-action model budget", type=float, default=300.0, check=positive_finite),
                    Option("--motions", "the routine: shipped motion names or .yaml/.npz/.csv files, in order", nargs="+"),
                    Option("--held-out", "motions (file stems) kept out of the open-loop fits", nargs="+"),
                    Option("--num-envs", "parallel environments", type=int, default=256, check=at_least_one),
                    Option("--seed", "random seed", type=int, default=0, check=non_negative),
                )),
        Command("record", "Play excitation motions in a target world, one MCAP session each (runtime topics and types).",
                f"{_MODULE}:record_command", common=False, options=(
                    Option("--target-world", _WORLD, required=True),
                    Option("--out", "directory for the sessions (new or empty)", type=Path, required=True),
                    Option("--force", "allow writing into an existing non-empty --out", action="store_true"),
                    Option("--sessions", "sessions to record", type=int, default=8, check=at_least_one),
                    Option("--seconds", "length of each session", type=float, default=10.0, check=positive_finite),
                    Option("--seed", "random seed", type=int, default=0, check=non_negative),
                )),
        Command("fit-delta", "Fit a delta-action model to a directory of runtime MCAP sessions (simulated or real).",
                f"{_MODULE}:fit_delta_command", common=False, options=(
                    Option("--logs", "directory of *.mcap sessions (or one file)", type=Path, required=True),
                    Option("--seconds", "PPO wall-clock budget", type=float, default=300.0, check=positive_finite),
                    Option("--holdout", "sessions kept out of training for the open-loop figures (0: none)", type=int, default=1,
                           check=non_negative),
                    Option("--out", "run directory (default runs/asap-delta-<time>/); never overwritten", type=Path),
                    Option("--force", "allow writing into an existing non-empty --out", action="store_true"),
                    Option("--seed", "random seed", type=int, default=0, check=non_negative),
                )),
    ),
)
