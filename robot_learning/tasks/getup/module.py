"""`robot-learning train|eval|export getup`: the getting-up module's commands."""
from __future__ import annotations

import csv
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from robot_learning.core.checks import check_flag
from robot_learning.core.config import ConfigError, save_yaml, to_dict
from robot_learning.core.config import load_config as load_task_config
from robot_learning.core.runs import open_run
from robot_learning.export.rollout import rollout
from robot_learning.robots.g1 import G1_SPEC, NAME
from robot_learning.runtime.control import ControlSettings
from robot_learning.sim.terrain import TerrainConfig, terrain_named
from robot_learning.tasks.getup.config import GetupTrainConfig
from robot_learning.types import PolicyMetadata

TASK = "getup"
CONFIG_DIR = Path(__file__).resolve().parents[3] / "sim" / "configs"


def load_config(path: Path | None, seconds: float | None = None, seed: int | None = None, stage: str | None = None,
                num_envs: int | None = None, posture: str | None = None, model: str | None = None,
                prone: str | None = None, dr: bool | None = None, terrain: str | None = None,
                overrides: dict[str, Any] | None = None, method: str | None = None, stages: str | None = None,
                teacher: str | None = None, eval_episodes: int | None = None, backend: str | None = None,
                device: str | None = None) -> GetupTrainConfig:
    """``path`` (else sim/configs/getup.yaml), then the flags, then ``overrides`` (``--set``). With
    ``method: pipeline``, ``dr`` and ``terrain`` set the pipeline's randomisation and grounds."""
    o: dict[str, Any] = {}
    if method is not None:
        o["method"] = method
    pipe: dict[str, Any] = {}
    if stages is not None:  # "dagger,refine": checked by the config
        pipe["stages"] = [k.strip() for k in stages.split(",") if k.strip()]
    if eval_episodes is not None:
        check_flag("--eval-episodes", eval_episodes, minimum=0)
        pipe["eval_episodes"] = eval_episodes
    if seconds is not None:
        check_flag("--seconds", seconds, above=0)
        o["max_seconds"] = float(seconds)
    if seed is not None:
        o["seed"] = seed
    env: dict[str, Any] = {}
    if stage is not None:
        env["stage"] = {"I": "discovery", "1": "discovery", "II": "tracking", "2": "tracking"}.get(stage, stage)
    dagger: dict[str, Any] = {}
    if num_envs is not None:  # every stage's training environments
        env["num_envs"] = dagger["num_envs"] = num_envs
        o["refine"] = {"num_envs": num_envs}
    if prone is not None:
        if prone not in ("direct", "roll"):
            raise ConfigError(f"--prone must be 'direct' or 'roll', got {prone!r}")
        dagger["prone_strategy"] = prone
    if teacher is not None:
        dagger["teacher"] = teacher
    if dagger:
        o["dagger"] = dagger
    if posture is not None:
        env["posture"] = posture
    if model is not None:  # train on this collision model, following the references optimised on it
        env["variant"] = env["reference_model"] = model
    if dr is not None:
        env["dr"] = {"enabled": dr}
        pipe["dr"] = dr
    if terrain is not None:  # "flat,slope,rough": environment i on the i-th (cyclically); checked by the config
        env["terrain"] = pipe["terrain"] = [k.strip() for k in terrain.split(",") if k.strip()]
    if backend is not None:  # checked by the config; whether it runs here by make_batch
        env["backend"] = backend
    if device is not None:
        env["device"] = device
    if env:
        o["env"] = env
    if pipe:
        o["pipeline"] = pipe
    return load_task_config(GetupTrainConfig, path, CONFIG_DIR / "getup.yaml", o, overrides)


def make_metadata(cfg: GetupTrainConfig, training: dict[str, Any]) -> PolicyMetadata:
    from robot_learning.tasks.getup.env import actor_layout

    e = cfg.env
    training = {**training, "postures": ["supine", "prone"] if e.posture == "both" else [e.posture],
                "collision_model": e.variant, "terrain": list(e.terrain)}
    if e.posture != "supine" and cfg.method in ("dagger", "pipeline"):
        from robot_learning.tasks.getup.teacher import TeacherConfig

        training["prone_strategy"] = strategy = TeacherConfig.for_references(e.reference_model, cfg.dagger.prone_strategy).prone_strategy
        if strategy == "roll":  # when eval checks the roll-over (HumanUP's orientation cosine >= 0.9)
            from robot_learning.tasks.getup.rollover_table import load_rollover

            training["rollover_s"] = round(load_rollover(e.reference_model).duration_s, 3)
    return PolicyMetadata(
        robot=NAME, task=TASK, joint_names=list(G1_SPEC.joint_names), observation_layout=actor_layout(e.history, e.time_input),
        action={"size": len(G1_SPEC.joint_names), "type": "joint_position_offset", "scale": e.action_scale, "clip": e.action_clip,
                "meaning": "PD target = default_joint_positions + scale * clip(action, -clip, clip)"},
        control_rate_hz=1.0 / (e.physics_dt * e.decimation),
        safety_limits={"max_tilt_deg": 60.0, "success_head_height_m": e.success_head_height},
        default_joint_positions=[float(v) for v in G1_SPEC.default_positions],
        pd_gains={"kp": [float(v) for v in G1_SPEC.kp], "kd": [float(v) for v in G1_SPEC.kd]},
        training=training,
    )


def export_actor(actor: Any, cfg: GetupTrainConfig, path: Path, training: dict[str, Any]) -> dict[str, Any]:
    from robot_learning.export.onnx_export import export_policy

    rep = export_policy(actor, make_metadata(cfg, training), path)
    return {"onnx": str(path), "parity_max_abs_diff": rep.max_abs_diff}


def _command() -> str:
    return " ".join(["python -m robot_learning", *sys.argv[1:]]) if sys.argv and "robot_learning" in " ".join(sys.argv[:1]) else "train getup"


def _check_backend(cfg: GetupTrainConfig) -> None:
    """Refuse, before the run directory, a backend or device that cannot run here (one line)."""
    from robot_learning.sim.backends import backend_available, check_device

    reason = backend_available(cfg.env.backend)
    if reason is not None:
        raise ConfigError(reason)
    check_device(cfg.env.backend, cfg.env.device)
    if cfg.env.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"--device {cfg.env.device}: this PyTorch build sees no CUDA device (torch {torch.__version__})")


def _distributed(cfg: GetupTrainConfig, ppo: bool) -> Any:
    """This process's place in a ``torchrun`` job (one process: a world of one). Data-parallel training
    runs the PPO recipes (Stage I, PPO Stage II); each rank's robots step on ``cuda:LOCAL_RANK`` when the
    config says cuda."""
    from robot_learning.algos.distributed import Distributed

    world = os.environ.get("WORLD_SIZE", "1")
    if world not in ("", "1") and not ppo:
        raise ConfigError(f"torchrun with {world} ranks runs PPO (--stage discovery, or --method ppo); "
                          f"the {cfg.method} method trains in one process")
    ctx = Distributed.from_env(device="cuda" if cfg.env.device.startswith("cuda") else "cpu")
    if ctx.device.type == "cuda":
        cfg.env.device = str(ctx.device)
    return ctx


def train_command(out: Path | None, config: Path | None, seconds: float | None, seed: int | None, stage: str | None = None,
                  num_envs: int | None = None, force: bool = False, progress: Callable[[str], None] | bool | None = True, posture: str | None = None,
                  model: str | None = None, prone: str | None = None, dr: bool | None = None,
                  terrain: str | None = None, overrides: dict[str, Any] | None = None, method: str | None = None,
                  stages: str | None = None, teacher: str | None = None, eval_episodes: int | None = None,
                  backend: str | None = None, device: str | None = None) -> dict[str, Any]:
    """Train (Stage II on the CPU path by default: the pipeline of ``pipeline.py``, teacher labels ->
    DAgger under Stage II's randomisation and grounds -> PPO refinement, one policy per posture,
    ``policy_<posture>.onnx``, then the held-out table; ``method: dagger`` the nominal clone of the
    shipped policies; PPO writes one ``policy.onnx``) and export; returns the report. A pipeline run
    that failed or was interrupted, rerun with the same ``out``, resumes after its completed stages."""
    cfg = load_config(config, seconds, seed, stage, num_envs, posture, model, prone, dr, terrain, overrides, method, stages, teacher,
                      eval_episodes, backend, device)
    _check_backend(cfg)
    if cfg.env.stage == "tracking" and cfg.method in ("pipeline", "dagger") and cfg.dagger.teacher != "scripted":
        from robot_learning.tasks.getup.dagger import mpc_planner_class

        mpc_planner_class()  # refused now, before the run directory
    ppo = not (cfg.env.stage == "tracking" and cfg.method in ("pipeline", "dagger"))
    ctx = _distributed(cfg, ppo)
    if not ctx.is_main:  # another rank of a torchrun job: it trains; rank 0 writes the run
        from robot_learning.tasks.getup.train import train

        result = train(cfg, dist=ctx)
        ctx.close()
        return {"summary": {"rank": ctx.rank, "world_size": ctx.world_size, "env_steps": result.env_steps}}
    with open_run(out, TASK, "train", force=force, config=cfg) as record:
        run = record.path
        save_yaml(cfg, run / "config.yaml")
        if not ppo and cfg.method == "pipeline":
            report = _train_pipeline(cfg, run, bool(progress), force)
        elif not ppo:
            report = _train_dagger(cfg, run, bool(progress))
        else:
            report = _train_ppo(cfg, run, bool(progress), ctx)
        summary = {"run_dir": report["run"], "stage": report["stage"], "env_steps": report["train"]["env_steps"],
                   "wall_clock_s": report["train"]["wall_clock_s"], "best_eval": report["best_eval"]}
        return {"run": str(run), **record.report(summary, {**report, "summary": summary})}


def _train_pipeline(cfg: GetupTrainConfig, run: Path, progress: bool, force: bool) -> dict[str, Any]:
    from robot_learning.tasks.getup.pipeline import run_pipeline

    command = _command()
    out = run_pipeline(cfg, run, force, progress, export_actor, command)
    table = held_out_table(out["policies"], cfg.pipeline.eval_episodes, cfg.seed, progress)
    report = {"module": TASK, "command": command, "seed": cfg.seed, "stage": "tracking", "method": "pipeline", "config": to_dict(cfg),
              **out, "held_out": table,
              "best_eval": {p: v["stages"][cfg.pipeline.stages[-1]]["best_eval"] for p, v in out["policies"].items()},
              "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()}}
    if progress and table:
        print(format_held_out(table), flush=True)
    return {"run": str(run), **report}


def held_out_table(policies: dict[str, Any], episodes: int, seed: int, progress: bool = False) -> dict[str, Any]:
    """``eval getup`` of each exported policy on ``episodes`` held-out poses of its posture, through
    the runtime in MuJoCo: nominal, and under all of Stage II's randomisation at once."""
    if episodes <= 0:
        return {}
    table: dict[str, Any] = {}
    for p, v in policies.items():
        row: dict[str, Any] = {}
        for name, dr in (("nominal", "none"), ("all_dr", "all")):
            if progress:
                print(f"held-out table: {p}, {name}, {episodes} poses", flush=True)
            res = eval_command(Path(v["policy"]), episodes=episodes, posture=p, seed=seed, dr=dr)
            row[name] = {"success_rate": res["success_rate"], "episodes": res["episodes"],
                         "mean_final_head_m": res.get(p, {}).get("mean_final_head_m")}
        table[p] = row
    return table


def format_held_out(table: dict[str, Any]) -> str:
    lines = ["held-out fallen poses (eval getup --dr none / all, through the runtime, MuJoCo):", f"{'posture':<8} {'nominal':>8} {'all DR':>8}"]
    for p, row in table.items():
        cells = []
        for k in ("nominal", "all_dr"):
            s = row.get(k, {}).get("success_rate")
            cells.append("-" if s is None else f"{100 * s:.0f} %")
        lines.append(f"{p:<8} {cells[0]:>8} {cells[1]:>8}  ({row['nominal']['episodes']} poses)")
    return "\n".join(lines)


def _train_dagger(cfg: GetupTrainConfig, run: Path, progress: bool) -> dict[str, Any]:
    import copy

    import torch

    from robot_learning.tasks.getup.dagger import dagger

    torch.set_num_threads(max(1, cfg.torch_threads))
    postures = ["supine", "prone"] if cfg.env.posture == "both" else [cfg.env.posture]
    t0 = time.time()
    policies: dict[str, Any] = {}
    for k, p in enumerate(postures):
        pcfg = copy.deepcopy(cfg)
        pcfg.env.posture = p
        rows: list[dict[str, Any]] = []

        def log(row: dict[str, Any], p: str = p, rows: list[dict[str, Any]] = rows) -> None:
            rows.append(row)
            if progress:
                print(f"{p} DAgger iteration {row['iteration']}: {row['samples']:,} labelled states, mse {row['mse']:.4f}, "
                      f"success on training poses {row['eval_success']:.2f} ({row['seconds']:.0f} s)", flush=True)

        budget = (cfg.max_seconds - (time.time() - t0)) / (len(postures) - k)  # the rest, shared by the postures left
        t1 = time.time()
        actor, _, best = dagger(pcfg, log=log, max_seconds=budget)
        training = {"command": _command(), "seed": cfg.seed, "stage": "tracking", "method": "dagger",
                    "env_steps": int(rows[-1]["samples"]) if rows else 0, "wall_clock_s": round(time.time() - t1, 1), "best_eval": best}
        export = export_actor(actor, pcfg, run / f"policy_{p}.onnx", training)
        torch.save({"actor": actor.state_dict(), "config": to_dict(pcfg)}, run / f"actor_{p}.pt")
        policies[p] = {"policy": str(run / f"policy_{p}.onnx"), "iterations": rows, "best_eval": best, "export": export,
                       "env_steps": training["env_steps"], "wall_clock_s": training["wall_clock_s"]}
    wall = round(time.time() - t0, 1)
    env_steps = sum(v["env_steps"] for v in policies.values())
    report = {"module": TASK, "command": _command(), "seed": cfg.seed, "stage": "tracking", "method": "dagger", "config": to_dict(cfg),
              "train": {"wall_clock_s": wall, "env_steps": env_steps}, "policies": policies,
              "best_eval": {p: v["best_eval"]["success_rate"] for p, v in policies.items()},
              "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()}}
    return {"run": str(run), **report}


def _train_ppo(cfg: GetupTrainConfig, run: Path, progress: bool, dist: Any = None) -> dict[str, Any]:
    import torch

    from robot_learning.tasks.getup.train import train

    writer = None
    try:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(run / "tensorboard"))
    except ImportError:  # tensorboard is optional
        pass
    curve = open(run / "learning_curve.csv", "w", newline="")  # noqa: SIM115 (closed below)
    fields = ["iteration", "env_steps", "seconds", "mean_reward", "mean_base_height_m", "mean_head_height_m", "train_success_rate",
              "mean_end_head_height_m", "env_steps_per_s"]
    w = csv.DictWriter(curve, fieldnames=fields, extrasaction="ignore")
    w.writeheader()

    events = {  # rows that are not learning-curve rows: one line each
        "behaviour_cloning": lambda bc: (f"  behaviour cloning: {bc['samples']:,} samples in {bc['seconds']:.0f} s, mse "
                                         f"{bc['mse_first_epoch']:.3f} -> {bc['mse_last_epoch']:.3f} (label variance {bc['label_var']:.3f})"),
        "eval": lambda ev: (f"  eval @ {ev['seconds']:.0f} s, {ev['env_steps']:,} steps: success {ev['success_rate']:.2f} "
                            f"(final head {ev['mean_final_head_height_m']:.2f} m)"),
    }

    def log(row: dict[str, Any]) -> None:
        for key, line in events.items():
            if key in row:
                if progress:
                    print(line(row[key]), flush=True)
                return
        w.writerow(row)
        curve.flush()
        if progress and row["iteration"] % 10 == 1:
            print(f"it {row['iteration']:5d}  {row['env_steps']:>10,} steps  {row['seconds']:7.0f} s  reward {row['mean_reward']:7.3f}  "
                  f"base {row['mean_base_height_m']:.2f} m  head {row['mean_head_height_m']:.2f} m  "
                  f"{row['env_steps_per_s']:.0f} steps/s (sim)", flush=True)

    (run / "checkpoints").mkdir(exist_ok=True)

    def checkpoint(model: Any, ev: dict[str, Any]) -> None:
        torch.save({"model": model.state_dict(), "eval": ev, "config": to_dict(cfg)}, run / "checkpoints" / "latest.pt")

    t0 = time.time()
    try:
        result = train(cfg, log=log, writer=writer, on_eval=checkpoint, dist=dist)
    finally:
        curve.close()
        if dist is not None:
            dist.close()  # the other ranks are done; what follows (export, report) is rank 0's alone
        if writer is not None:
            writer.close()
    result.model.cpu()
    result.best_actor.cpu()
    (run / "checkpoints").mkdir(exist_ok=True)
    torch.save({"model": result.model.state_dict(), "best_actor": result.best_actor.state_dict(), "config": to_dict(cfg)},
               run / "checkpoints" / "final.pt")
    command = _command()
    training = {"command": command, "seed": cfg.seed, "stage": cfg.env.stage, "env_steps": result.env_steps,
                "wall_clock_s": round(result.seconds, 1), "best_eval": result.best}
    export = export_actor(result.best_actor, cfg, run / "policy.onnx", training)
    report = {"module": TASK, "command": command, "seed": cfg.seed, "stage": cfg.env.stage, "config": to_dict(cfg),
              "train": {"wall_clock_s": round(time.time() - t0, 1), "env_steps": result.env_steps, "iterations": result.iterations,
                        "final_row": result.history[-1] if result.history else {}, "behaviour_cloning": result.behaviour_cloning},
              "evaluations": result.evaluations, "best_eval": result.best, "export": export,
              "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()}}
    return {"run": str(run), **report}


def _start_states(posture: str, n: int, seed: int, terrain: TerrainConfig | None = None) -> list[tuple[str, np.ndarray]]:
    from robot_learning.tasks.getup.poses import FallenPoseConfig, fallen_pose_dataset

    data = fallen_pose_dataset(seed=seed, config=FallenPoseConfig(terrain=terrain))
    out = []
    for p in (["supine", "prone"] if posture == "both" else [posture]):
        pool = data[p]["test"]
        out += [(p, pool[i % len(pool)]) for i in range(n)]
    return out


def eval_command(policy: Path, sim: str = "mujoco", model: str | None = None, episodes: int | None = 100, posture: str | None = None, seed: int = 0,
                 render: Path | None = None, progress: Callable[[str], None] | None = None, physics_dt: float = 0.002,
                 terrain: str = "flat", seconds: float = 10.0, dr: str = "none") -> dict[str, Any]:
    """The exported ONNX through the runtime (observation builder, monitors, soft start) against
    MuJoCo (``model``: mesh or primitive collisions; None: the one the policy was trained on, from its
    metadata) or PyBullet, from ``episodes`` held-out fallen
    poses per posture (``posture`` None: the postures the policy was trained for, from its metadata).
    ``terrain`` (MuJoCo): flat, slope or rough (:mod:`robot_learning.sim.terrain`'s defaults); the
    held-out fallen poses are then made on that ground, and the head height is measured above it.
    ``seconds``: episode length (the paper: 10 s); success is the head at 1.1 m or more at its end.
    ``dr`` (MuJoCo): the simulated robot under one factor of Stage II's randomisation at the paper's
    range (:data:`DR_FACTORS`, :func:`eval_randomization`), all of them, or none (the nominal robot); drawn per episode
    from the seed and the episode (:class:`~robot_learning.sim.mujoco_robot.RobotRandomization`).
    On the slope, each posture's result also gives success by the way the robot lay (``by_heading``)."""
    episodes = 100 if episodes is None else episodes
    from robot_learning.robots.registry import load_robot
    from robot_learning.runtime.joint_controller import JointControllerConfig
    from robot_learning.runtime.policy import PolicyRunner
    from robot_learning.runtime.profiles import PROFILES

    check_flag("--episodes", episodes, minimum=1)
    check_flag("--seconds", seconds, above=0)
    check_flag("--seed", seed, minimum=0)
    check_flag("physics_dt", physics_dt, above=0)
    if sim not in ("mujoco", "pybullet"):
        raise ConfigError(f"--sim must be mujoco or pybullet, got {sim!r}")
    if render is not None:  # checked now, not after the episodes
        render = Path(render)
        if render.suffix.lower() != ".gif" or render.is_dir():
            raise ConfigError(f"--render {render}: expected a .gif file to write")
        try:  # made now, as a run directory is, so a path that cannot be written is refused before the episodes
            render.resolve().parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"--render {render}: cannot make the directory {render.parent} ({e.strerror})") from None
    runner = PolicyRunner(policy)
    meta = runner.metadata
    if meta.task != TASK:
        raise ConfigError(f"{policy} is a '{meta.task}' policy, not a getting-up policy")
    desc = load_robot("g1")
    rate = meta.control_rate_hz
    trained_on = str(meta.training.get("collision_model", "primitive"))  # policies from before the field: primitive
    model = model or trained_on
    try:
        ground = terrain_named(terrain)
    except ValueError as e:
        raise ConfigError(f"--terrain: {e}") from None
    if ground is not None and sim != "mujoco":
        raise ConfigError(f"--terrain {terrain} is for the MuJoCo evaluation only (PyBullet has the flat ground)")
    randomization = eval_randomization(dr)
    if randomization is not None and sim != "mujoco":
        raise ConfigError(f"--dr {dr} is for the MuJoCo evaluation only")
    robot = _make_robot(sim, model, rate, seed, physics_dt, ground, randomization)
    prof = PROFILES["g1_getup"].controller
    ccfg = JointControllerConfig(terminal_action=prof.terminal_action, damping_kd=prof.damping_kd, soft_start_s=0.1,
                                 soft_start_target="measured", monitors=[m for m in prof.monitors if m["type"] != "stale"])
    trained = list(meta.training.get("postures", ["supine", "prone"]))
    if posture is None:
        posture = "both" if len(trained) == 2 else trained[0]
    elif posture != "both" and posture not in trained:
        raise ConfigError(f"{policy} was trained for {' and '.join(trained)} fallen poses, not {posture} (--posture)")
    starts = _start_states(posture, episodes, seed, ground)
    if seconds <= 0:
        raise ConfigError(f"--seconds must be positive, got {seconds}")
    steps = int(round(seconds * rate))
    # a prone policy that rolls over first (HumanUP's way): is the robot on its back when the roll ends?
    roll_step = int(round(float(meta.training.get("rollover_s", 0.0)) * rate)) if meta.training.get("prone_strategy") == "roll" else 0
    episodes_ = _GetupEpisodes(robot, starts, rate, roll_step, render is not None, progress)
    settings = ControlSettings(joint=ccfg)
    run = rollout(runner, robot, len(starts), steps, episodes_, settings=settings, robot=desc)
    results = [_getup_record(e, starts) for e in run.episodes]
    frames = episodes_.frames
    if render is not None and frames:
        from robot_learning.tasks.getup.render import render_gif

        render_gif(np.array(frames), render, fps=int(rate // 2), variant=model if sim == "mujoco" else "primitive", terrain=terrain)
    out: dict[str, Any] = {"engine": sim if sim != "mujoco" else f"mujoco-{model}", "physics_hz": round(1.0 / physics_dt) if sim == "mujoco" else 500,
                           "terrain": terrain, "seconds": seconds, "dr": dr, "policy": str(policy), "trained_on": trained_on, "episodes": len(results)}
    if randomization is not None:
        out["randomization"] = to_dict(randomization)
    for p in ("supine", "prone"):
        rs = [r for r in results if r["posture"] == p]
        if rs:
            out[p] = {"episodes": len(rs), "success_rate": float(np.mean([r["success"] for r in rs])),
                      "mean_final_head_m": _nanmean([r["final_head_m"] for r in rs]),
                      "time_to_stand_s": _nanmean([r["time_to_stand_s"] for r in rs]),
                      "action_jitter": _nanmean([r["action_jitter"] for r in rs]),
                      "dof_pos_jitter": _nanmean([r["dof_pos_jitter"] for r in rs]),
                      "energy_J": _nanmean([r["energy_J"] for r in rs]),
                      "final_modes": {m: sum(r["mode"] == m for r in rs) for m in sorted({r["mode"] for r in rs})},
                      "faults": {f: sum(r["faults"].get(f, 0) for r in rs) for f in sorted({f for r in rs for f in r["faults"]})}}
            if terrain == "slope":  # head uphill or downhill within 30 deg, or across the slope
                out[p]["by_heading"] = _by_heading([r["success"] for r in rs], [q for (pp, q) in starts if pp == p])
            if any(r["rolled_over"] is not None for r in rs):  # HumanUP's roll-over success, at the roll's end
                out[p]["rolled_over"] = float(np.mean([bool(r["rolled_over"]) for r in rs]))
                out[p]["rollover_s"] = roll_step / rate
    out["success_rate"] = float(np.mean([r["success"] for r in results])) if results else 0.0
    agg = run.aggregate()
    out["policy_output_nan"] = agg["policy_output_nan"]  # episodes in which the policy's action was not finite
    if agg["start_failures"]:
        out["start_failures"], out["start_error"] = agg["start_failures"], agg["start_error"]
    out["training"] = meta.training.get("best_eval")
    if render is not None:
        out["render"] = str(render)
    return out


#: ``eval getup --dr``: the factors of Stage II's randomisation (GetupEnvConfig.dr) one at a time, all, or none
DR_FACTORS = {"friction": ("friction",), "mass": ("base_mass_delta_kg",), "com": ("com_offset_m",),
              "motor": ("motor_strength",), "delay": ("action_delay_s",), "push": ("push_max_speed", "push_interval_s"),
              "noise": ("obs_noise",)}
DR_CHOICES = ("none", *DR_FACTORS, "all")


def eval_randomization(dr: str) -> Any:
    """The simulated robot's randomisation for ``eval getup --dr``: the named factor (or all) at the
    range of :class:`~robot_learning.tasks.getup.config.DomainRandomization` (HumanUP's Stage II), the
    others nominal; None for "none"."""
    from robot_learning.sim.mujoco_robot import RobotRandomization
    from robot_learning.tasks.getup.config import DomainRandomization

    if dr not in DR_CHOICES:
        raise ConfigError(f"--dr must be one of {', '.join(DR_CHOICES)}, got {dr!r}")
    if dr == "none":
        return None
    ranges = DomainRandomization()
    keys = [k for v in DR_FACTORS.values() for k in v] if dr == "all" else list(DR_FACTORS[dr])
    return RobotRandomization(**{k: getattr(ranges, k) for k in keys})


def _by_heading(success: list[bool], qpos: list[np.ndarray]) -> dict[str, dict[str, Any]]:
    """Success by where the lying robot's head pointed on the slope (0 deg: uphill)."""
    from robot_learning.tasks.getup.teacher import heading_on_slope

    ok, a = np.array(success, bool), np.abs(heading_on_slope(np.array(qpos)))
    bins = {"head_uphill": a < 30, "across": (a >= 30) & (a <= 150), "head_downhill": a > 150}
    return {k: {"episodes": int(m.sum()), "success_rate": float(ok[m].mean()) if m.any() else None} for k, m in bins.items()}


def _nanmean(values: list[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


class _GetupEpisodes:
    """The getting-up evaluation's callbacks for the rollout harness: episode k starts from the k-th
    held-out fallen pose; every tick records the head height, the action, the joints and the power."""

    def __init__(self, robot: Any, starts: list[tuple[str, np.ndarray]], rate: float, roll_step: int, render: bool,
                 progress: Callable[[str], None] | None) -> None:
        from robot_learning.tasks.getup.rollover_table import SUCCESS_COSINE, supine_cosine

        self.robot, self.starts, self.rate, self.roll_step, self.render, self.progress = robot, starts, rate, roll_step, render, progress
        self.supine_cosine, self.roll_success_cosine = supine_cosine, SUCCESS_COSINE
        self.frames: list[np.ndarray] = []

    def on_reset(self, episode: int) -> str:
        posture, qpos = self.starts[episode]
        self.robot.reset_to(qpos)
        self.heads: list[float] = []
        self.acts: list[np.ndarray] = []
        self.qs: list[np.ndarray] = []
        self.energy, self.rolled = 0.0, None
        return posture

    def on_tick(self, episode: int, t: int, c: Any) -> None:
        s = self.robot.state(noise=False) if hasattr(self.robot, "randomization_sample") else self.robot.state()  # the true state
        if self.starts[episode][0] == "prone" and t + 1 == self.roll_step:
            self.rolled = bool(self.supine_cosine(np.asarray(s["base_orientation"])) >= self.roll_success_cosine)
        self.heads.append(float(s["head_height"][0]))
        self.acts.append(c.obs_fields.last_action.copy())
        self.qs.append(s["joint_position"].copy())
        self.energy += float(np.sum(np.abs(s["joint_effort"] * s["joint_velocity"]))) / self.rate
        if self.render and episode == 0 and t % 2 == 0:
            self.frames.append(self.robot.qpos())

    def on_episode_end(self, episode: int, c: Any) -> dict[str, Any]:
        rate, p = self.rate, self.starts[episode][0]
        h = np.array(self.heads)
        above = np.flatnonzero(h >= 1.1)
        a, q = np.array(self.acts), np.array(self.qs)
        rec = {"posture": p, "success": bool(h[-1] >= 1.1), "final_head_m": float(h[-1]), "mode": c.mode.name,
               "time_to_stand_s": float(above[0] / rate) if above.size else None,
               "action_jitter": float(np.abs(np.diff(a, n=3, axis=0)).mean()),
               "dof_pos_jitter": float(np.abs(np.diff(q, n=3, axis=0) * rate**3).mean() * 1e-3), "energy_J": self.energy,
               "faults": dict(c.fault_counts), "rolled_over": self.rolled}
        if self.progress:
            self.progress(f"{episode + 1}/{len(self.starts)} {p}: head {h[-1]:.2f} m {'ok' if rec['success'] else 'fail'}")
        return rec


def _getup_record(e: Any, starts: list[tuple[str, np.ndarray]]) -> dict[str, Any]:
    """An episode's record; one whose controller did not start failed, with no figures."""
    if e.metrics is not None:
        return {**e.metrics, "policy_output_nan": e.policy_output_nan}
    return {"posture": starts[e.episode][0], "success": False, "final_head_m": None, "mode": e.mode, "time_to_stand_s": None,
            "action_jitter": None, "dof_pos_jitter": None, "energy_J": None, "faults": e.faults, "rolled_over": None,
            "policy_output_nan": e.policy_output_nan, "start_error": e.start_error}


def _make_robot(sim: str, model: str, rate: float, seed: int, physics_dt: float = 0.002,
                terrain: TerrainConfig | None = None, randomization: Any = None) -> Any:
    """The simulated G1; both engines take the fallen-pose dataset's qpos (``reset_to``) and give theirs (``qpos``)."""
    if sim == "mujoco":
        from robot_learning.sim.mujoco_robot import MujocoJointRobot, MujocoRobotConfig

        return MujocoJointRobot(MujocoRobotConfig(robot="g1", variant=model, control_rate_hz=rate, seed=seed,
                                                  physics_dt=physics_dt, terrain=terrain, randomization=randomization))
    if sim == "pybullet":
        from robot_learning.sim.pybullet_g1 import PyBulletG1, PyBulletG1Config

        return PyBulletG1(PyBulletG1Config(control_rate_hz=rate, seed=seed))
    raise ConfigError(f"--sim must be mujoco or pybullet, got {sim!r}")


def export_command(checkpoint: Path, out: Path | None = None, force: bool = False) -> dict[str, Any]:
    """`robot-learning export getup`: a DAgger checkpoint (``actor_<posture>.pt``) or a PPO one
    (``checkpoints/final.pt``) -> ONNX with the metadata contract and the parity check. The network is
    rebuilt from the checkpoint's config (the residual's feedforward table from the teacher) and its
    weights are loaded: a checkpoint that does not fit its config is refused."""
    import copy

    import torch

    from robot_learning.core.config import from_dict
    from robot_learning.tasks.getup.dagger import TeacherForEnv, make_actor
    from robot_learning.tasks.getup.train import make_env

    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        raise ConfigError(f"checkpoint {checkpoint} is a directory; pass actor_<posture>.pt or checkpoints/final.pt")
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    try:
        ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
        cfg = from_dict(GetupTrainConfig, ckpt["config"])
    except ConfigError as e:
        raise ConfigError(f"{checkpoint}: its config is not a getup config: {e}") from None
    except Exception as e:
        raise ConfigError(f"{checkpoint}: not a getup checkpoint written by `train getup` ({type(e).__name__}: {e})") from None
    state = ckpt.get("actor") if "actor" in ckpt else ckpt.get("best_actor")
    if state is None:
        raise ConfigError(f"{checkpoint}: holds no actor weights ('actor' or 'best_actor')")
    dagger = "actor" in ckpt
    if not dagger and cfg.env.residual_on_reference:
        raise ConfigError(f"{checkpoint}: a residual-on-reference PPO checkpoint; its run's policy.onnx is the export")
    out = Path(out) if out is not None else checkpoint.resolve().parent if dagger else checkpoint.resolve().parent.parent
    name = f"policy_{cfg.env.posture}.onnx" if dagger else "policy.onnx"
    if (out / name).exists() and not force:
        raise FileExistsError(f"{out / name} exists; pass --force to overwrite it")
    ecfg = copy.deepcopy(cfg)
    if dagger:
        env, _ = make_env(ecfg, num_envs=1)
        actor = make_actor(env, TeacherForEnv(env, prone_strategy=cfg.dagger.prone_strategy), cfg, cfg.dagger.residual)
    else:
        from robot_learning.algos.ppo import Actor
        from robot_learning.robots.g1 import G1_SPEC as _spec
        from robot_learning.tasks.getup.env import actor_layout

        actor = Actor(actor_layout(cfg.env.history, cfg.env.time_input).size, len(_spec.joint_names), tuple(cfg.ppo.actor_hidden), "elu", True)
    try:
        actor.load_state_dict(state)
    except RuntimeError as e:
        raise ConfigError(f"{checkpoint}: the weights do not fit the network its config describes ({str(e).splitlines()[0]})") from None
    out.mkdir(parents=True, exist_ok=True)
    training = {"command": _command(), "seed": cfg.seed, "stage": cfg.env.stage, "method": cfg.method if dagger else "ppo",
                "exported_from": str(checkpoint)}
    return export_actor(actor.eval(), cfg, out / name, training)
