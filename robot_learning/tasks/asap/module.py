"""`python -m robot_learning asap ...`: record sessions in a target world, fit a delta-action model
to a directory of sessions (simulated or from a real robot)."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from robot_learning.core.runs import Run, default_run_dir, open_run
from robot_learning.tasks.asap.delta import SessionError

from robot_learning.core.checks import check_flag

HORIZONS_S = (0.25, 0.5, 1.0)


def record_command(target_world: str, out: str | Path, sessions: int = 8, seconds: float = 10.0, seed: int = 0,
                   amplitude: float = 0.6, force: bool = False) -> dict[str, Any]:
    """Play ``sessions`` excitation motions (random smooth joint targets) in the target world and
    write each as a runtime session (MCAP: /joint_states and /joint_command, sensor_msgs/JointState)."""
    from robot_learning.tasks.asap.delta import record_in, smooth_random_targets, write_mcap
    from robot_learning.tasks.asap.target_world import load_target_world, make_target_robot

    check_flag("--sessions", sessions, minimum=1)
    check_flag("--seconds", seconds, above=0)
    check_flag("--seed", seed, minimum=0)
    world = load_target_world(target_world)
    with open_run(out, "asap", "record", force=force, config=world) as run:  # sessions never land among someone else's files
        robot = make_target_robot(world, seed=seed)
        rng = np.random.default_rng(seed)
        files = []
        try:
            for i in range(sessions):
                rec = record_in(robot, smooth_random_targets(seconds, robot.dt, rng, amplitude=amplitude, periods_s=(0.4, 1.5)))
                files.append(str(write_mcap(rec, run.path, f"{world.name}_{seed}_{i:03d}")))
        finally:
            robot.close()
        summary = {"target_world": world.name, "sessions": files, "seconds_each": seconds}
        run.report({"sessions": len(files), "seconds_each": seconds}, summary)
    return summary


def fit_delta_command(logs: str | Path, out: str | Path | None = None, seconds: float = 300.0, holdout: int = 1, seed: int = 0,
                      progress: Callable[[str], None] | None = print, force: bool = False) -> dict[str, Any]:
    """Fit the delta-action model to the sessions in ``logs``; report the open-loop joint error of
    the raw and of the aligned simulator on the held-out sessions at 0.25, 0.5 and 1 s."""
    from robot_learning.tasks.asap.delta import DeltaConfig, load_recordings

    check_flag("--seconds", seconds, above=0)
    check_flag("--holdout", holdout, minimum=0)
    check_flag("--seed", seed, minimum=0)
    cfg = DeltaConfig(max_seconds=seconds, seed=seed)
    recs = load_recordings(logs)
    if holdout < 0 or (holdout and len(recs) <= holdout):
        raise SessionError(f"{len(recs)} sessions in {logs}: need more than --holdout {holdout} (one at least to train on)")
    train, test = (recs[:-holdout], recs[-holdout:]) if holdout else (recs, recs)
    with open_run(out or default_run_dir("asap-delta"), "asap", "fit-delta", force=force, config=cfg) as record:
        return _fit_delta(record, cfg, logs, train, test, seed, progress)


def _fit_delta(record: Run, cfg: Any, logs: str | Path, train: list[Any], test: list[Any], seed: int,
               progress: Callable[[str], None] | None) -> dict[str, Any]:
    from robot_learning.tasks.asap.delta import save_delta, train_delta
    from robot_learning.tasks.asap.replay import replay_error

    run = record.path
    t0 = time.time()
    rows = 0

    def log(row: dict[str, Any]) -> None:
        nonlocal rows
        if progress and rows % 20 == 0:
            progress(f"{row['env_steps']:>9,} steps  {row['seconds']:6.0f} s  reward {row['mean_reward']:.3f}  "
                     f"joint error {row['joint_pos_error_rad']:.4f} rad")
        rows += 1

    model, curve = train_delta(train, cfg, log=log)
    table = {}
    for h in HORIZONS_S:
        raw = float(replay_error(test, h, seed=seed)[0])
        aligned = float(replay_error(test, h, delta=model, seed=seed)[0])
        table[f"{h:g}s"] = {"raw_rad": raw, "aligned_rad": aligned, "reduction": 1.0 - aligned / raw}
    onnx = save_delta(model, run / "delta_action.onnx", meta={"logs": str(logs), "train_sessions": [r.name for r in train]})
    report = {"module": "asap", "command": "fit-delta", "logs": str(logs), "seed": seed, "wall_clock_s": round(time.time() - t0, 1),
              "train_sessions": len(train), "held_out_sessions": [r.name for r in test], "open_loop_joint_error": table,
              "env_steps": curve[-1]["env_steps"] if curve else 0, "model": str(onnx)}
    return {"run": str(run), **record.report({"open_loop_joint_error": table}, report)}


# ----------------------------------------------------------------------------- train / eval / export / run
TRAIN_CONFIG = "asap.yaml"


def train_command(out: Path | None = None, config: Path | None = None, seconds: float | None = None, seed: int | None = None,
                  force: bool = False, progress: Callable[[str], None] | None = None, overrides: dict[str, Any] | None = None,
                  num_envs: int | None = None, backend: str | None = None, device: str | None = None) -> dict[str, Any]:
    """`robot-learning train asap`: ASAP's first stage, PPO motion tracking of the routine in the
    nominal simulator (the pelvis fixed, or ``floating: true``: the free G1, e.g.
    ``sim/configs/asap_floating.yaml``); writes ``policy.onnx`` (the metadata contract), ``model.pt``
    (the ActorCritic, for ``asap run --pretrained`` and ``export asap``), ``config.yaml`` and ``report.json``."""
    from robot_learning.core.config import load_config
    from robot_learning.tasks.asap.tracking import TrackingConfig
    from robot_learning.tasks.registry import CONFIG_DIR

    flags: dict[str, Any] = {}
    if seconds is not None:
        flags["max_seconds"] = float(seconds)
    if seed is not None:
        flags["seed"] = int(seed)
    if num_envs is not None:
        flags["num_envs"] = int(num_envs)
    if backend is not None:
        flags["backend"] = backend
    if device is not None:
        flags["device"] = device
    cfg = load_config(TrackingConfig, config, CONFIG_DIR / TRAIN_CONFIG, flags, overrides)
    _check_backend(cfg.backend, cfg.device)
    ctx = _distributed(cfg)
    if ctx.enabled and ctx.device.type == "cuda":
        cfg = replace(cfg, device=str(ctx.device))  # each rank's robots and learner on its own GPU
    if not ctx.is_main:  # another rank of a torchrun job: it trains; rank 0 writes the run
        from robot_learning.tasks.asap.tracking import train_tracking

        result = train_tracking(cfg, dist=ctx)
        ctx.close()
        return {"summary": {"rank": ctx.rank, "world_size": ctx.world_size, "env_steps": result.curve[-1]["env_steps"] if result.curve else 0}}
    with open_run(out, "asap", "train", force=force, config=cfg) as record:
        return _train_run(record, cfg, progress, ctx)


def _distributed(cfg: Any) -> Any:
    """This process's place in a ``torchrun`` job (one process: a world of one); with CUDA each rank
    uses ``cuda:LOCAL_RANK``."""
    from robot_learning.algos.distributed import Distributed

    return Distributed.from_env(device="cuda" if cfg.device.startswith("cuda") else "cpu")


def _check_backend(backend: str, device: str) -> None:
    """Refuse, before the run directory exists, a backend or device that cannot run here (one line)."""
    from robot_learning.core.config import ConfigError
    from robot_learning.sim.backends import backend_available, check_device

    reason = backend_available(backend)
    if reason is not None:
        raise ConfigError(reason)
    check_device(backend, device)
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"device {device}: this PyTorch build sees no CUDA device (torch {torch.__version__})")


def _train_run(record: Run, cfg: Any, progress: Callable[[str], None] | None, dist: Any = None) -> dict[str, Any]:
    import torch

    from robot_learning.core.config import save_yaml
    from robot_learning.tasks.asap.tracking import evaluate_floating, evaluate_in_sim, export_tracking, train_tracking

    run = record.path
    save_yaml(cfg, run / "config.yaml")
    say = progress or (lambda _m: None)
    rows = 0

    def log(row: dict[str, Any]) -> None:
        nonlocal rows
        if rows % 25 == 0:
            say(f"{row['env_steps']:>9,} steps {row['seconds']:6.0f} s  reward {row['mean_reward']:.3f}  "
                f"joint error {row['joint_pos_error_rad']:.4f} rad" + (f"  falls/step {row['fell']:.4f}" if "fell" in row else ""))
        rows += 1

    t0 = time.time()
    try:
        result = train_tracking(cfg, log=log, dist=dist)
    finally:
        if dist is not None:
            dist.close()  # the other ranks are done; what follows (evaluation, export, report) is rank 0's alone
    wall = round(time.time() - t0, 1)
    torch.save({"model": result.model, "motions": list(cfg.motions), "floating": cfg.floating, "history": cfg.history},
               run / "model.pt")
    steps = result.curve[-1]["env_steps"] if result.curve else 0
    training = {"method": "pretrained", "seed": cfg.seed, "env_steps": steps, "wall_clock_s": wall}
    export = export_tracking(result, run / "policy.onnx", training=training)
    sim_error = evaluate_in_sim(result)
    summary = {"run_dir": str(run), "env_steps": steps, "wall_clock_s": wall, "sim_joint_error_rad": round(sim_error, 5),
               "parity_max_abs_diff": export.max_abs_diff}
    details = {"summary": summary, "curve": result.curve,
               "export": {"onnx": str(run / "policy.onnx"), "parity_max_abs_diff": export.max_abs_diff}}
    if cfg.floating:  # falls and tracking from random frames: the reference through the PD alone, and the policy
        episodes = max(8, min(64, cfg.num_envs))
        seconds = min(5.0, cfg.episode_s)
        before = evaluate_floating(result, episodes=episodes, seconds=seconds, seed=cfg.seed + 1, reference_only=True)
        after = evaluate_floating(result, episodes=episodes, seconds=seconds, seed=cfg.seed + 1)
        details["floating_eval"] = {"reference_only": before, "policy": after}
        summary["fall_rate"] = {"reference_only": before["fall_rate"], "policy": after["fall_rate"]}
        summary["joint_error_while_up_rad"] = {"reference_only": round(before["joint_pos_error_rad"], 5),
                                               "policy": round(after["joint_pos_error_rad"], 5)}
    return record.report(summary, details)


def eval_command(policy: Path, episodes: int | None = None, seed: int = 0, progress: Callable[[str], None] | None = None,
                 target_world: str | None = None, record: Path | None = None) -> dict[str, Any]:
    """`robot-learning eval asap`: the tracking policy through the runtime in a target world (default:
    the world it was fine-tuned for, from its metadata, else ``worn_actuators``), ``episodes`` times the whole routine (seeds ``seed``, ``seed + 1``, ...);
    ASAP's tracking metrics per episode and their mean."""
    from robot_learning.runtime.policy import PolicyRunner
    from robot_learning.tasks.asap.deploy import BodyKinematics, deploy
    from robot_learning.tasks.asap.target_world import load_target_world
    from robot_learning.tasks.asap.tracking import TASK

    if "delta_action" in _metadata_keys(policy):
        return _eval_delta(policy, episodes, seed, progress, target_world)
    meta = PolicyRunner(policy).metadata
    if meta.task != TASK:
        raise SessionError(f"{policy} is a '{meta.task}' policy, not an ASAP tracking policy ('{TASK}')")
    world = load_target_world(target_world or str(meta.training.get("target_world", "worn_actuators")))
    n = 1 if episodes is None else int(episodes)
    kin = BodyKinematics()
    runs = []
    for i in range(n):
        out = deploy(policy, world, record_dir=record, session=f"eval_{world.name}_{seed + i}", seed=seed + i, kin=kin)
        out.pop("recording", None)
        runs.append(out)
        if progress and "mpjpe_mm" in out["overall"]:
            o = out["overall"]
            progress(f"episode {i + 1}/{n}: MPJPE {o['mpjpe_mm']:.1f} mm, {'completed' if out['completed'] else 'stopped after ' + str(out['tracked_s']) + ' s'}")
    keys = ("mpjpe_mm", "joint_pos_error_rad", "vel_error_mm_per_frame", "acc_error_mm_per_frame2")
    tracked = [r for r in runs if "mpjpe_mm" in r["overall"]]  # a policy that outputs NaN tracks nothing
    return {"target_world": world.name, "policy": str(policy), "episodes": n,
            **{k: float(np.mean([r["overall"][k] for r in tracked])) if tracked else None for k in keys},
            "success_rate": float(np.mean([r["overall"]["success"] for r in runs])),
            "completed_rate": float(np.mean([r["completed"] for r in runs])),
            "faults": {f: sum(r["faults"].get(f, 0) for r in runs) for f in sorted({f for r in runs for f in r["faults"]})},
            "policy_output_nan": sum(bool(r.get("policy_output_nan")) for r in runs),  # episodes in which the policy's action was not finite
            "per_motion": runs[0]["per_motion"]}


def export_command(checkpoint: Path, out: Path | None = None, force: bool = False) -> dict[str, Any]:
    """`robot-learning export asap`: a tracking checkpoint (``model.pt`` of `train asap`, or
    ``pretrained.pt``/``<method>.pt`` of `asap run`) -> ONNX with the metadata contract, parity-checked."""
    import torch

    from robot_learning.tasks.asap.tracking import TrackingConfig, TrackingResult, export_tracking, load_routine

    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        raise SessionError(f"checkpoint {checkpoint} is a directory; pass model.pt (train asap) or <method>.pt (asap run)")
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    try:  # the checkpoint holds the ActorCritic module itself (written by this project's training)
        saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    except Exception as e:
        raise SessionError(f"{checkpoint}: not a checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
    if not isinstance(saved, dict) or "model" not in saved or "motions" not in saved:
        raise SessionError(f"{checkpoint} is not a tracking checkpoint written by `train asap` or `asap run`")
    out = Path(out) if out is not None else checkpoint.resolve().parent
    path = out / f"{checkpoint.stem if checkpoint.stem != 'model' else 'policy'}.onnx"
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass --force to overwrite it")
    out.mkdir(parents=True, exist_ok=True)
    cfg = TrackingConfig(motions=tuple(saved["motions"]), floating=bool(saved.get("floating", False)), history=int(saved.get("history", 0)))
    result = TrackingResult(saved["model"], load_routine(saved["motions"]), cfg)
    rep = export_tracking(result, path, training={"exported_from": str(checkpoint)})
    return {"onnx": str(path), "parity_max_abs_diff": rep.max_abs_diff}


def run_command(target_world: str, pretrained: Path | None = None, out: Path | None = None, pretrain_seconds: float = 600.0,
                finetune_seconds: float = 180.0, delta_seconds: float = 300.0, motions: list[str] | None = None,
                held_out: list[str] | None = None, num_envs: int = 256, seed: int = 0, force: bool = False,
                progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """`robot-learning asap run`: the whole alignment loop (see :mod:`robot_learning.tasks.asap.loop`)."""
    from robot_learning.tasks.asap.loop import LoopConfig, run_loop

    cfg = LoopConfig(target_world=target_world, out=str(out) if out else None, pretrained=str(pretrained) if pretrained else None,
                     pretrain_seconds=pretrain_seconds, finetune_seconds=finetune_seconds, delta_seconds=delta_seconds,
                     num_envs=num_envs, seed=seed, **({"motions": tuple(motions)} if motions else {}),
                     **({"held_out": tuple(held_out)} if held_out else {}))
    report = run_loop(cfg, progress=progress, force=force)
    return {"run": report["run"], "closed_loop_mpjpe_mm": {k: v["overall"]["mpjpe_mm"] for k, v in report["closed_loop"].items()},
            "open_loop_1s_rad": {k: v["1s"] for k, v in report["open_loop"].items()}, "wall_clock_s": report["wall_clock_s"]}


def _metadata_keys(path: Path) -> set[str]:
    import onnxruntime as ort

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"policy file not found: {p}")
    try:
        return set(ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map)
    except Exception as e:  # onnxruntime's own exception types for corrupt files
        raise SessionError(f"cannot load {p}: not a valid ONNX model ({type(e).__name__})") from None


def _eval_delta(model_path: Path, episodes: int | None, seed: int, progress: Callable[[str], None] | None,
                target_world: str | None) -> dict[str, Any]:
    """A delta-action model: ``episodes`` fresh excitation sessions (default 4) recorded in the target
    world (default: the one it was fitted to), replayed open loop in the simulator raw and corrected by
    the model; the mean joint error at each horizon."""
    import json

    import onnxruntime as ort

    from robot_learning.tasks.asap.delta import OnnxDeltaModel, record_in, smooth_random_targets
    from robot_learning.tasks.asap.replay import replay_error
    from robot_learning.tasks.asap.target_world import load_target_world, make_target_robot

    info = json.loads(ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"]).get_modelmeta()
                      .custom_metadata_map["delta_action"])
    name = target_world or info.get("target_world")
    if not name:
        raise SessionError(f"{model_path} does not say which target world it was fitted to; pass --target-world")
    world = load_target_world(name)
    model = OnnxDeltaModel(model_path)
    n = 4 if episodes is None else int(episodes)
    robot = make_target_robot(world, seed=seed)
    rng = np.random.default_rng(seed + 10_000)  # not the sessions it was fitted to
    try:
        recs = [record_in(robot, smooth_random_targets(10.0, robot.dt, rng, amplitude=0.6, periods_s=(0.4, 1.5)), name=f"eval_{i}")
                for i in range(n)]
    finally:
        robot.close()
    table = {}
    for h in HORIZONS_S:
        raw = float(replay_error(recs, h, seed=seed)[0])
        aligned = float(replay_error(recs, h, delta=model, seed=seed)[0])
        table[f"{h:g}s"] = {"raw_rad": raw, "aligned_rad": aligned, "reduction": 1.0 - aligned / raw}
        if progress:
            progress(f"{h:g} s open loop: raw {raw:.4f} rad, aligned {aligned:.4f} rad")
    return {"model": str(model_path), "kind": "delta_action", "target_world": world.name, "sessions": n, "open_loop_joint_error": table}
