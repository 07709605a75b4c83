"""The cart-pole task's commands, as the task registry calls them (see ``task.py``):
``train`` (PPO, then export and the evaluations in both engines), ``eval`` (an exported policy through
the runtime in MuJoCo or PyBullet) and ``export`` (a checkpoint -> ONNX with the metadata contract)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import torch

from robot_learning.algos.distributed import Distributed
from robot_learning.algos.ppo import Actor
from robot_learning.core.checks import check_flag
from robot_learning.core.config import ConfigError, from_dict, load_config, save_yaml, to_dict
from robot_learning.core.runs import Run, open_run
from robot_learning.export.onnx_export import export_policy
from robot_learning.tasks.cartpole.config import CartPoleConfig
from robot_learning.tasks.cartpole.env import ACTION_CLIP, OBS_LAYOUT
from robot_learning.tasks.cartpole.evaluate import ENGINES, evaluate
from robot_learning.tasks.cartpole.robot import MAX_TILT_DEG, NAME, SPEC
from robot_learning.tasks.cartpole.train import train
from robot_learning.types import PolicyMetadata

TASK = "cartpole"  # the task's name in the registry and in its run records
POLICY_TASK = "cartpole_balance"  # the `task` field of the policies it exports


def make_metadata(cfg: CartPoleConfig, training: dict[str, Any]) -> PolicyMetadata:
    """The metadata contract: everything the runtime needs to run the policy on the cart-pole."""
    return PolicyMetadata(
        robot=NAME, task=POLICY_TASK, joint_names=list(SPEC.joint_names), observation_layout=OBS_LAYOUT,
        action={"size": 1, "type": "joint_position_offset", "scale": cfg.env.action_scale, "clip": ACTION_CLIP,
                "meaning": "cart PD target = default_joint_positions + scale * clip(action, -clip, clip) (m)"},
        control_rate_hz=cfg.env.control_rate_hz,
        safety_limits={"max_tilt_deg": MAX_TILT_DEG, "rail_m": [SPEC.position_lower[0], SPEC.position_upper[0]]},
        default_joint_positions=list(SPEC.default_positions), pd_gains={"kp": list(SPEC.kp), "kd": list(SPEC.kd)},
        training=training)


def _config(path: Path | None, seconds: float | None, seed: int | None, overrides: dict[str, Any] | None) -> CartPoleConfig:
    flags: dict[str, Any] = {}
    if seconds is not None:
        check_flag("--seconds", seconds, above=0)
        flags["max_seconds"] = float(seconds)
    if seed is not None:
        flags["seed"] = int(seed)
    return load_config(CartPoleConfig, path, None, flags, overrides)  # the defaults live in the dataclasses


def train_command(out: Path | None = None, config: Path | None = None, seconds: float | None = None, seed: int | None = None,
                  force: bool = False, progress: Callable[[str], None] | None = None, overrides: dict[str, Any] | None = None,
                  gate: bool = True) -> dict[str, Any]:
    """`robot-learning train cartpole`: a run directory (the platform's run record) with config.yaml,
    checkpoints/final.pt, policy.onnx (parity-checked) and report.json (training figures, then the
    runtime's success in MuJoCo and PyBullet).

    Under ``torchrun --nproc-per-node N -m robot_learning train cartpole ...`` the ranks train one
    policy together (gloo, data-parallel; ``env.num_envs`` per rank); rank 0 writes the run, prints
    the progress and runs the export and the evaluations, the other ranks only train."""
    cfg = _config(config, seconds, seed, overrides)
    ctx = Distributed.from_env(device="cpu")  # a 9-number MLP: the GPU would only add transfers
    try:
        if not ctx.is_main:
            result = train(cfg, dist=ctx)
            return {"summary": {"rank": ctx.rank, "world_size": ctx.world_size, "env_steps": result.env_steps}}
        with open_run(out, TASK, "train", force=force, config=cfg) as record:
            return _train_run(record, cfg, gate, progress or (lambda _m: None), ctx)
    finally:
        ctx.close()


def _train_run(record: Run, cfg: CartPoleConfig, gate: bool, say: Callable[[str], None], ctx: Distributed) -> dict[str, Any]:
    run = record.path
    save_yaml(cfg, run / "config.yaml")

    def log(row: dict[str, Any]) -> None:
        say(f"{row['env_steps']:>8,} steps {row['seconds']:5.0f} s  reward {row['mean_reward']:.3f}  success {row['success_rate']:.0%}")

    with record.timed("train"):
        result = train(cfg, log=log, dist=ctx)
    ctx.close()  # the other ranks are done; what follows is rank 0's alone
    (run / "checkpoints").mkdir(exist_ok=True)
    torch.save({"actor": result.model.actor.state_dict(), "config": to_dict(cfg), "env_steps": result.env_steps}, run / "checkpoints" / "final.pt")
    training = {"algorithm": "ppo", "seed": cfg.seed, "env_steps": result.env_steps, "wall_seconds": round(result.wall_seconds, 2),
                "ranks": ctx.world_size}
    with record.timed("export"):
        export = _export(result.model.actor, cfg, run, training)
    details: dict[str, Any] = {
        "train": {"wall_seconds": round(result.wall_seconds, 2), "env_steps": result.env_steps, "ranks": ctx.world_size,
                  "seconds_to_success": None if result.seconds_to_success is None else round(result.seconds_to_success, 2),
                  "env_steps_to_success": result.env_steps_to_success, "success_rate_training_sim": result.success_rate,
                  "curve": result.curve},
        "export": export}
    for engine in ENGINES if gate else ():
        say(f"evaluating in {engine} through the runtime")
        with record.timed(f"eval_{engine}"):
            ev = evaluate(str(run / "policy.onnx"), engine, cfg.eval, cfg.env, cfg.eval.episodes, seed=cfg.seed + 1000)
        details[f"eval_{engine}"] = {k: v for k, v in ev.items() if k != "per_episode"}
    figures = {"run_dir": str(run), "train_seconds": details["train"]["wall_seconds"], "env_steps": result.env_steps,
               "seconds_to_success": details["train"]["seconds_to_success"], "parity_max_abs_diff": export["parity_max_abs_diff"],
               **{f"success_rate_{e}": details[f"eval_{e}"]["success_rate"] for e in ENGINES if f"eval_{e}" in details}}
    details["summary"] = figures
    return record.report(figures, details)


def _export(actor: torch.nn.Module, cfg: CartPoleConfig, out: Path, training: dict[str, Any]) -> dict[str, Any]:
    rep = export_policy(actor, make_metadata(cfg, training), out / "policy.onnx", seed=cfg.seed)
    return {"onnx": str(out / "policy.onnx"), "parity_max_abs_diff": rep.max_abs_diff, "parity_samples": rep.samples}


def export_command(checkpoint: Path, out: Path | None = None, force: bool = False) -> dict[str, Any]:
    """`robot-learning export cartpole --checkpoint runs/<run>/checkpoints/final.pt`: policy.onnx, parity-checked."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    try:
        ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
        cfg = from_dict(CartPoleConfig, ckpt["config"])
        actor = Actor(OBS_LAYOUT.size, 1, cfg.ppo.actor_hidden, cfg.ppo.activation, cfg.ppo.normalize_obs)
        actor.load_state_dict(ckpt["actor"])
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError(f"{checkpoint}: not a cartpole checkpoint written by `train` ({type(e).__name__}: {e})") from None
    out = Path(out) if out is not None else checkpoint.resolve().parent.parent
    if (out / "policy.onnx").exists() and not force:
        raise FileExistsError(f"{out / 'policy.onnx'} exists; pass --force to overwrite it")
    out.mkdir(parents=True, exist_ok=True)
    result = _export(actor, cfg, out, {"algorithm": "ppo", "seed": cfg.seed, "env_steps": ckpt.get("env_steps")})
    return {**result, "summary": result}


def eval_command(policy: Path, sim: str = "mujoco", episodes: int | None = None, seed: int = 0,
                 progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """`robot-learning eval cartpole --policy P [--sim mujoco|pybullet]`: the policy through the runtime."""
    check_flag("--episodes", episodes, minimum=1)
    check_flag("--seed", seed, minimum=0)
    if sim not in ENGINES:
        raise ConfigError(f"unknown --sim '{sim}'; engines: {', '.join(ENGINES)}")
    cfg = CartPoleConfig()
    t0 = time.perf_counter()
    result = evaluate(str(policy), sim, cfg.eval, cfg.env, episodes or cfg.eval.episodes, seed, progress)
    result["wall_seconds"] = round(time.perf_counter() - t0, 2)
    result["summary"] = {k: v for k, v in result.items() if k != "per_episode"}
    return result
