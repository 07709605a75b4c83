"""The quadrotor module's commands: train -> export (ONNX + C) -> evaluate in both engines -> report."""
from __future__ import annotations

import dataclasses
import math
import platform
import time
from pathlib import Path
from typing import Any, Callable

import torch

from robot_learning.core.checks import check_flag
from robot_learning.core.config import ConfigError, save_yaml, to_dict
from robot_learning.core.config import load_config as load_task_config
from robot_learning.core.runs import Run, open_run
from robot_learning.core.seeding import seed_everything
from robot_learning.export.onnx_export import export_policy
from robot_learning.robots import crazyflie
from robot_learning.robots.crazyflie import DEFAULT_PARAMS, CrazyflieParams
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.tasks.quadrotor.config import QuadrotorTrainConfig
from robot_learning.tasks.quadrotor.env import ACTION_DIM, actor_layout
from robot_learning.tasks.quadrotor.evaluate import evaluate_torch
from robot_learning.types import PolicyMetadata

TASK = "quadrotor_hover"
DEFAULT_CONFIG = Path(__file__).resolve().parents[3] / "sim" / "configs" / "quadrotor.yaml"
SECONDS_PER_MONTH = 30.44 * 24 * 3600


def robot_params_dict(params: CrazyflieParams) -> dict[str, Any]:
    return {"mass": params.mass, "inertia": list(params.inertia), "thrust_coefficient": params.thrust_coefficient,
            "rpm_max": params.rpm_max, "rotor_positions": [list(p) for p in params.rotor_positions],
            "yaw_directions": list(params.yaw_directions)}


def make_metadata(cfg: QuadrotorTrainConfig, params: CrazyflieParams, training: dict[str, Any]) -> PolicyMetadata:
    env = cfg.env
    return PolicyMetadata(
        robot=crazyflie.NAME,
        task=TASK,
        joint_names=list(crazyflie.MOTOR_NAMES),
        observation_layout=actor_layout(env.action_history),
        action={"size": ACTION_DIM, "type": "normalised_rpm", "low": -1.0, "high": 1.0,
                "meaning": "per-motor RPM command, linear map [-1, 1] -> [rpm_min, rpm_max]",
                "rpm_min": params.rpm_min, "rpm_max": params.rpm_max, "hover": params.hover_action,
                "history_source": "the command sent to the motors, oldest first"},
        control_rate_hz=1.0 / params.dt,
        safety_limits={"training_box_m": env.termination_position, "max_position_error_m": 0.5, "max_velocity_m_s": 2.0,
                       "initial_max_angle_deg": env.init.max_angle_deg},
        default_joint_positions=None,
        pd_gains=None,
        robot_params=robot_params_dict(params),
        training=training,
    )


def load_config(path: Path | None, seconds: float | None = None, seed: int | None = None,
                overrides: dict[str, Any] | None = None) -> QuadrotorTrainConfig:
    """``path`` (else the default YAML), then the flags, then ``overrides`` (``--set``)."""
    flags: dict[str, Any] = {}
    if seconds is not None:
        check_flag("--seconds", seconds, above=0)
        flags["max_seconds"] = float(seconds)
    if seed is not None:
        flags["seed"] = seed
    return load_task_config(QuadrotorTrainConfig, path, DEFAULT_CONFIG, flags, overrides)


def train_command(out: Path | None, config: Path | None, seconds: float | None, seed: int | None, episodes: int = 100,
                  gate: bool = True, force: bool = False, progress: Callable[[str], None] | bool | None = True,
                  overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """`robot-learning train quadrotor`: everything a run writes, and its report.

    ``max_seconds`` (``--seconds``) bounds the whole command: training stops early enough for the
    export, the evaluations and the PyBullet gate to finish within it (the gate flies fewer episodes
    than ``episodes`` when the time left asks for it, and says so)."""
    started = time.perf_counter()
    check_flag("--episodes", episodes, minimum=1)
    cfg = load_config(config, seconds, seed, overrides)
    with open_run(out, "quadrotor", "train", force=force, config=cfg) as record:
        return _train_run(record, cfg, episodes, gate, progress, started)


# Seconds the work after training takes here (export + C export, the torch evaluation of 256
# episodes, the figure-eight flight) and one PyBullet gate episode, with a margin for a loaded machine.
AFTER_TRAINING_SECONDS = 8.0
GATE_SECONDS_PER_EPISODE = 0.6
GATE_SHARE = 0.2  # of --seconds, at most, for the gate when training runs to its bound


def _say(progress: Any, text: str) -> None:
    if callable(progress):
        progress(text)
    elif progress:
        import sys

        print(f"[quadrotor] {text}", file=sys.stderr, flush=True)


def _train_run(record: Run, cfg: QuadrotorTrainConfig, episodes: int, gate: bool, progress: Any, started: float | None = None) -> dict[str, Any]:
    from robot_learning.tasks.quadrotor.train import train

    started = time.perf_counter() if started is None else started
    deadline = started + cfg.max_seconds
    gate_seconds = min(GATE_SHARE * cfg.max_seconds, GATE_SECONDS_PER_EPISODE * episodes) if gate else 0.0
    run = record.path
    save_yaml(cfg, run / "config.yaml")
    seed_everything(cfg.seed)
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run / "tensorboard"))
    train_budget = deadline - time.perf_counter() - AFTER_TRAINING_SECONDS - gate_seconds
    if train_budget < 1.0:
        train_budget = 1.0
        _say(progress, f"--seconds {cfg.max_seconds:g} is shorter than the export, evaluations and gate need (about "
                       f"{AFTER_TRAINING_SECONDS + gate_seconds:.0f} s): training only briefly, the command will take longer")
    dr = " with domain randomisation" if cfg.env.randomization.enabled else ""
    _say(progress, f"training up to {train_budget:.0f} s ({cfg.learner} learner, {cfg.env.num_envs} envs{dr}); "
                   f"then export, evaluation and the PyBullet gate, {cfg.max_seconds:.0f} s in all")

    def log(row: dict[str, float]) -> None:
        for k, v in row.items():
            if isinstance(v, (int, float)) and math.isfinite(v):
                writer.add_scalar(f"train/{k}", v, int(row["env_steps"]))
        _say(progress, f"{row.get('wall_seconds', row['train_seconds']):5.1f} s  {int(row['env_steps']):>8} steps  "
                       f"success {row['success_rate']:4.0%}  hover error {row['hover_error_m']:.3f} m")

    if cfg.learner == "jax":
        from robot_learning.tasks.quadrotor.jax_train import train_jax

        result = train_jax(cfg, DEFAULT_PARAMS, seconds=train_budget, log=log, status=lambda t: _say(progress, t))
    else:  # the eager reference: its clock excludes its evaluations
        result = train(dataclasses.replace(cfg, max_seconds=train_budget), DEFAULT_PARAMS, log=log)
    writer.flush()
    (run / "checkpoints").mkdir(exist_ok=True)
    torch.save({"actor": result.policy.state_dict(), "last_actor": result.agent.actor.state_dict(), "critics": result.agent.critics.state_dict(), "config": to_dict(cfg),
                "env_steps": result.env_steps}, run / "checkpoints" / "final.pt")
    train_fig = {
        "wall_seconds": round(result.wall_seconds, 2),
        "env_steps": result.env_steps,
        "env_steps_per_second": round(result.env_steps / max(result.wall_seconds, 1e-9), 1),
        "seconds_to_success": None if result.seconds_to_success is None else round(result.seconds_to_success, 2),
        "env_steps_to_success": result.env_steps_to_success,
        "critic_updates": result.agent.stats.critic_updates,
        "actor_updates": result.agent.stats.actor_updates,
        "learner": cfg.learner,
        "curve": result.history,
    }
    if cfg.learner == "jax":
        train_fig.update(wall_seconds_to_success=None if result.wall_seconds_to_success is None else round(result.wall_seconds_to_success, 2),
                         compile_seconds=round(result.compile_seconds, 2), eval_seconds=round(result.eval_seconds, 2))
    _say(progress, "exporting ONNX (parity check) and C")
    export = export_run(result.policy, cfg, run, train_fig)
    report: dict[str, Any] = {"module": "quadrotor", "robot": crazyflie.NAME, "run_dir": str(run), "seed": cfg.seed, "machine": _machine(),
                              "train": train_fig, "export": export}
    _say(progress, "evaluating in the training simulator (256 episodes)")
    report["eval_torch"] = eval_command(run / "policy.onnx", "torch", episodes=max(episodes, 256), seed=cfg.seed + 7)
    if cfg.env.randomization.enabled:
        _say(progress, "evaluating over the vehicle grid")
        report["eval_grid"] = eval_command(run / "policy.onnx", "torch", episodes=64, seed=cfg.seed + 7, grid=True)
    if gate:
        figure8_seconds = 2.0
        left = deadline - time.perf_counter() - figure8_seconds
        _say(progress, f"PyBullet gate: up to {episodes} episodes in {max(left, 0):.0f} s")
        report["eval_pybullet"] = eval_command(run / "policy.onnx", "pybullet", episodes=episodes, seed=cfg.seed + 7,
                                               deadline=time.perf_counter() + max(left, 0.0))
        report["figure8_pybullet"] = eval_command(run / "policy.onnx", "pybullet", episodes=1, trajectory="figure8")
    report["user_wait_seconds"] = round(time.perf_counter() - started, 2)
    _say(progress, f"done in {report['user_wait_seconds']:.0f} s: {run}")
    report["summary"] = _summary(report)
    report = record.report(report["summary"], report)
    writer.add_text("report", str(report["summary"]))
    writer.close()
    return report


def export_run(actor: torch.nn.Module, cfg: QuadrotorTrainConfig, run: Path, train_fig: dict[str, Any]) -> dict[str, Any]:
    training = {"algorithm": "td3", "seed": cfg.seed, "env_steps": train_fig.get("env_steps"), "wall_seconds": train_fig.get("wall_seconds")}
    if cfg.env.randomization.enabled:
        training["domain_randomization"] = to_dict(cfg.env.randomization)
    meta = make_metadata(cfg, DEFAULT_PARAMS, training)
    from robot_learning.export.c_export import export_c

    rep = export_policy(actor, meta, run / "policy.onnx", seed=cfg.seed)
    h, c = export_c(run / "policy.onnx", run, name="policy")
    return {"onnx": str(run / "policy.onnx"), "parity_max_abs_diff": rep.max_abs_diff, "parity_samples": rep.samples,
            "c_header": str(h), "c_source": str(c)}


def export_command(checkpoint: Path, out: Path | None, force: bool = False) -> dict[str, Any]:
    """`robot-learning export`: a checkpoint -> policy.onnx (+ parity check) and policy.c/.h."""
    from robot_learning.algos.td3 import mlp
    from robot_learning.core.config import from_dict

    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    try:
        ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
        cfg = from_dict(QuadrotorTrainConfig, ckpt["config"])
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError(f"{checkpoint}: not a quadrotor checkpoint written by `train` ({type(e).__name__}: {e})") from None
    out = Path(out) if out is not None else Path(checkpoint).resolve().parent.parent
    if (out / "policy.onnx").exists() and not force:
        raise FileExistsError(f"{out / 'policy.onnx'} exists; pass --force to overwrite it")
    out.mkdir(parents=True, exist_ok=True)
    actor = mlp([actor_layout(cfg.env.action_history).size, *cfg.td3.actor_hidden, ACTION_DIM], cfg.td3.activation, torch.nn.Tanh)
    actor.load_state_dict(ckpt["actor"])
    return export_run(actor, cfg, out, {"env_steps": ckpt.get("env_steps")})


def eval_command(policy: Path, engine: str = "pybullet", episodes: int | None = 100, trajectory: str = "hover", seed: int = 0,
                 progress: Callable[[str], None] | None = None, grid: bool = False, deadline: float | None = None) -> dict[str, Any]:
    """Evaluate an exported policy; the same keys for every engine. ``grid``: hover on every vehicle of
    the domain-randomisation grid (training simulator), ``episodes`` each. ``deadline`` (perf_counter
    time): the PyBullet gate flies no new episode after it."""
    episodes = 100 if episodes is None else episodes
    check_flag("--episodes", episodes, minimum=1)
    check_flag("--seed", seed, minimum=0)
    if engine not in ("torch", "pybullet"):
        raise ConfigError(f"unknown --sim '{engine}'; engines: torch (training simulator), pybullet (second engine)")
    runner = PolicyRunner(policy)
    runner.metadata.check_robot(crazyflie.NAME, crazyflie.MOTOR_NAMES, robot_params_dict(DEFAULT_PARAMS))
    if episodes < 1:
        raise ConfigError(f"--episodes must be at least 1, got {episodes}")
    cfg = QuadrotorTrainConfig()
    if grid and engine != "torch":
        raise ConfigError("--grid evaluates in the training simulator: pass --sim torch")
    if engine == "torch":
        if trajectory != "hover":
            raise ConfigError("the torch training simulator evaluates hover only; use --sim pybullet for --trajectory figure8")
        if grid:
            return eval_grid(runner, cfg, episodes, seed)

        nonfinite = torch.zeros(episodes, dtype=torch.bool)  # episodes in which the policy's action was not finite

        def policy_fn(obs: torch.Tensor) -> torch.Tensor:
            action = torch.from_numpy(runner(obs.numpy()))
            nonfinite.logical_or_(~torch.isfinite(action).all(dim=-1))
            return action

        t0 = time.perf_counter()
        res = evaluate_torch(policy_fn, cfg.env, DEFAULT_PARAMS, cfg.eval, episodes=episodes, seed=seed)
        res = {"engine": "torch", "trajectory": "hover", **res, "policy_output_nan": int(nonfinite.sum()),
               "wall_seconds": round(time.perf_counter() - t0, 2)}
        return res
    if engine == "pybullet":
        from robot_learning.tasks.quadrotor.gate import fly_figure8, gate_pybullet

        if trajectory == "figure8":
            return fly_figure8(runner, seconds=16.0)
        res = gate_pybullet(runner, cfg, episodes=episodes, seed=seed, deadline=deadline)
        # the same figures in the training simulator, side by side: the pair is the sim-to-sim gap
        ref = eval_command(policy, "torch", episodes=res["episodes"], seed=seed)
        res["training_sim"] = {k: ref[k] for k in ("engine", "success_rate", "hover_error_m", "termination_rate", "policy_output_nan")}
        res["sim2sim_gap"] = {"success_rate": round(ref["success_rate"] - res["success_rate"], 4),
                              "hover_error_m": round(res["hover_error_m"] - ref["hover_error_m"], 4)}
        return res
    raise ConfigError(f"unknown --sim '{engine}'; engines: torch (training simulator), pybullet (second engine)")


def eval_grid(runner: PolicyRunner, cfg: QuadrotorTrainConfig, episodes: int, seed: int) -> dict[str, Any]:
    """Hover success on every vehicle of randomization.evaluation_grid() (paper's initial states)."""
    from robot_learning.tasks.quadrotor.randomization import evaluation_grid, vehicle

    def policy_fn(obs: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(runner(obs.numpy()))

    t0 = time.perf_counter()
    points = []
    for f in evaluation_grid():
        r = evaluate_torch(policy_fn, cfg.env, vehicle(f), cfg.eval, episodes=episodes, seed=seed)
        points.append({"vehicle": f.label(), **dataclasses.asdict(f), "success_rate": r["success_rate"], "hover_error_m": r["hover_error_m"],
                       "termination_rate": r["termination_rate"]})
    rates = [p["success_rate"] for p in points]
    return {"engine": "torch", "trajectory": "hover", "grid_points": len(points), "episodes_per_point": episodes,
            "success_rate_nominal": rates[0], "success_rate_mean": sum(rates) / len(rates), "success_rate_min": min(rates),
            "points_below_50pct": sum(r < 0.5 for r in rates), "points": points, "wall_seconds": round(time.perf_counter() - t0, 2)}


def deploy_command(policy: Path, robot: str, sim: str, seconds: float, trajectory: str, realtime: bool,
                   fault: str = "none", fault_at: float = 5.0) -> dict[str, Any]:
    from robot_learning.tasks.quadrotor.gate import deploy_sim

    if sim != "pybullet":
        raise ConfigError(f"unknown --sim '{sim}' for deploy; available: pybullet")
    check_flag("--seconds", seconds, above=0)
    if fault != "none":  # a fault is injected at fault_at s of the run: it must happen within it
        check_flag("--fault-at", fault_at, minimum=0)
        if fault_at >= seconds:
            raise ConfigError(f"--fault-at {fault_at:g} s is not within the run (--seconds {seconds:g}): the fault would never happen")
    runner = PolicyRunner(policy)
    return deploy_sim(runner, seconds=seconds, trajectory=trajectory, realtime=realtime, fault=fault, fault_at=fault_at)


def _summary(r: dict[str, Any]) -> dict[str, Any]:
    t, et = r["train"], r["eval_torch"]
    out = {"run_dir": r["run_dir"], "train_seconds": t["wall_seconds"], "env_steps": t["env_steps"], "seconds_to_success": t["seconds_to_success"],
           "success_rate_torch": et["success_rate"], "hover_error_torch_m": et["hover_error_m"],
           "parity_max_abs_diff": r["export"]["parity_max_abs_diff"]}
    if "eval_pybullet" in r:
        out.update(success_rate_pybullet=r["eval_pybullet"]["success_rate"], hover_error_pybullet_m=r["eval_pybullet"]["hover_error_m"],
                   figure8_rmse_m=r["figure8_pybullet"].get("tracking_rmse_m"))
    return out


def _machine() -> dict[str, Any]:
    import os

    return {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(), "platform": platform.platform()}


def simulated_flight_rate(steps_per_second: float, dt: float = DEFAULT_PARAMS.dt) -> float:
    """Months of simulated flight per wall-clock second at a given env-steps/s."""
    return steps_per_second * dt / SECONDS_PER_MONTH
