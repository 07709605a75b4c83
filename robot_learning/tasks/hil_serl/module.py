"""`robot-learning train|eval hil_serl` and `robot-learning hil-serl learner|actor`: the module's commands."""
from __future__ import annotations

import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

from robot_learning.core.checks import check_flag
from robot_learning.core.config import ConfigError
from robot_learning.core.config import load_config as load_task_config
from robot_learning.core.runs import Run, open_run, write_json
from robot_learning.tasks.hil_serl.config import HilSerlConfig

CONFIG_DIR = Path(__file__).resolve().parents[3] / "sim" / "configs"


def load_config(path: Path | None, steps: int | None = None, seconds: float | None = None, seed: int | None = None,
                human: str | None = None, observation: str | None = None, overrides: dict[str, Any] | None = None) -> HilSerlConfig:
    """``path`` (else sim/configs/hil_serl.yaml), then the flags, then ``overrides`` (``--set``)."""
    o: dict[str, Any] = {}
    if steps is not None:
        check_flag("--steps", steps, minimum=1)
        o["env_steps"] = int(steps)
    if seconds is not None:
        check_flag("--seconds", seconds, above=0)
        o["max_seconds"] = float(seconds)
    if seed is not None:
        o["seed"] = int(seed)
    if human is not None:
        o["human"] = human
    if observation is not None:
        o["env"] = {"observation": observation}
    # --observation image without --config: the image configuration (cameras, the frozen pretrained encoder, its classifier)
    default = CONFIG_DIR / ("hil_serl_image.yaml" if observation == "image" else "hil_serl.yaml")
    try:
        return load_task_config(HilSerlConfig, path, default, o, overrides)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def train_command(out: Path | None = None, config: Path | None = None, steps: int | None = None, seconds: float | None = None,
                  seed: int | None = None, human: str | None = None, observation: str | None = None, force: bool = False,
                  episodes: int | None = None, gate: bool = True, progress: Callable[[str], None] | None = None,
                  overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train (learner process + actor here), export ``policy.onnx``, evaluate it in MuJoCo and PyBullet through the runtime
    (the one-frame option in MuJoCo only; the PyBullet twin renders the image option's wrist and front cameras)."""
    cfg = load_config(config, steps, seconds, seed, human, observation, overrides)
    with open_run(out, "hil_serl", "train", force=force, config=cfg) as record:
        return _train_run(record, cfg, episodes, gate, progress)


def _train_run(record: Run, cfg: HilSerlConfig, episodes: int | None, gate: bool, progress: Callable[[str], None] | None) -> dict[str, Any]:
    from robot_learning.tasks.hil_serl.devices import make_human
    from robot_learning.tasks.hil_serl.evaluate import evaluate_policy
    from robot_learning.tasks.hil_serl.train import export, load_exported_module, train

    run = record.path
    say = progress or (lambda m: None)
    h = make_human(cfg.human, seed=cfg.seed, scripted_config=cfg.scripted)
    t0 = time.time()
    try:
        report = train(cfg, run, h, progress=say)
    finally:
        h.close()
    module = load_exported_module(run / "actor" / "policy.pt", cfg)
    command = "python -m robot_learning " + " ".join(sys.argv[1:]) if sys.argv and "robot_learning" in sys.argv[0] else "robot-learning train hil_serl"
    training = {"command": command, "seed": cfg.seed, "human": cfg.human, "env_steps": report["env_steps"],
                "wall_clock_s": round(time.time() - t0, 1), "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores"}
    exp = export(module, cfg, run / "policy.onnx", training)
    n = episodes if episodes is not None else cfg.final_eval_episodes
    say(f"evaluating policy.onnx through the runtime: {n} held-out episodes in MuJoCo")
    evals = {"mujoco": evaluate_policy(run / "policy.onnx", sim="mujoco", episodes=n)}
    if gate and cfg.env.observation == "frame":
        say("sim-to-sim gate skipped: the PyBullet twin renders no frame of the one-frame option (evaluated in MuJoCo only)")
    elif gate:
        say(f"sim-to-sim gate: {n} held-out episodes in PyBullet")
        evals["pybullet"] = evaluate_policy(run / "policy.onnx", sim="pybullet", episodes=n)
    summary = {
        "run": str(run), "command": command, "seed": cfg.seed, "human": cfg.human, "observation": cfg.env.observation,
        "env_steps": report["env_steps"],
        "wall_clock_s": round(time.time() - t0, 1), "online_wall_s": round(report["online_wall_s"], 1),
        "success_mujoco": evals["mujoco"]["success_rate"], "success_pybullet": evals.get("pybullet", {}).get("success_rate"),
        "cycle_time_s": evals["mujoco"].get("mean_seconds_to_success"), "intervention_rate": report["intervention_rate"],
        "learner_updates_per_s": report["learner"].get("updates_per_s"), "learner_updates": report["learner"].get("updates"),
        "classifier_heldout_accuracy": report["classifier"]["heldout_accuracy"], "classifier_online_accuracy": report["classifier"]["online_accuracy"],
        "first_eval_at_90": next((p["env_steps"] for p in report["curve"] if p["eval_success"] >= 0.9), None),
    }
    write_json(run / "episodes.json", report["episodes_log"])
    full = {"summary": summary, "export": exp, "eval": evals, "train": {k: v for k, v in report.items() if k != "episodes_log"}}
    return record.report(summary, full)


def eval_command(policy: Path, sim: str = "mujoco", episodes: int | None = 50, seed: int | None = None,
                 progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    from robot_learning.tasks.hil_serl.evaluate import SIMS, evaluate_policy

    if sim not in SIMS:
        raise ConfigError(f"--sim must be one of {', '.join(SIMS)} for hil_serl, got {sim!r}")
    check_flag("--episodes", episodes, minimum=1)
    check_flag("--seed", seed, minimum=0)
    kwargs = {} if seed is None else {"seed": seed}
    say = None if progress is None else (lambda done, total, rec: progress(f"episode {done}/{total}: {'success' if rec['success'] else 'failure'} in {rec['steps']} steps"))
    result = evaluate_policy(policy, sim=sim, episodes=episodes, progress=say, **kwargs)
    return {k: v for k, v in result.items() if k != "per_episode"}


def learner_command(port: int, out: Path, config: Path | None = None, host: str = "*", seed: int | None = None,
                    progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    from robot_learning.tasks.hil_serl.learner import run_learner

    cfg = load_config(config, seed=seed)
    if progress:
        progress(f"learner listening on ports {port} (transitions) and {port + 1} (weights)")
    return run_learner(cfg, port, out, host)


def actor_command(learner: str, out: Path, config: Path | None = None, human: str | None = None, seed: int | None = None,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    from robot_learning.tasks.hil_serl.actor import run_actor
    from robot_learning.tasks.hil_serl.devices import make_human

    host, sep, port = learner.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"--learner must be HOST:PORT, got {learner!r}")
    if not 1 <= int(port) <= 65534:  # the learner listens on PORT (transitions) and PORT + 1 (weights)
        raise ConfigError(f"--learner {learner}: the port must be in 1..65534 (the learner also uses port + 1), got {port}")
    cfg = load_config(config, seed=seed, human=human)
    with open_run(out, "hil_serl", "actor", config=cfg) as record:
        h = make_human(cfg.human, seed=cfg.seed, scripted_config=cfg.scripted)
        try:
            report = run_actor(cfg, host, int(port), record.path, h, progress)
        finally:
            h.close()
        summary = {k: report[k] for k in ("env_steps", "episodes", "wall_clock_s", "intervention_rate")}
        record.report(summary, report)
    return summary


def export_command(checkpoint: Path, out: Path | None = None, force: bool = False) -> dict[str, Any]:
    """`robot-learning export hil_serl`: the actor's ``actor/policy.pt`` -> ``policy.onnx`` (parity-checked),
    with the config its run wrote (``config.yaml`` beside ``actor/``)."""
    from robot_learning.tasks.hil_serl.train import export, load_exported_module

    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        raise ConfigError(f"checkpoint {checkpoint} is a directory; pass the run's actor/policy.pt")
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    run = checkpoint.resolve().parent.parent
    cfg = load_config(run / "config.yaml" if (run / "config.yaml").is_file() else None)
    out = Path(out) if out is not None else run
    if (out / "policy.onnx").exists() and not force:
        raise FileExistsError(f"{out / 'policy.onnx'} exists; pass --force to overwrite it")
    try:
        module = load_exported_module(checkpoint, cfg)
    except Exception as e:
        raise ConfigError(f"{checkpoint}: not an actor checkpoint of `train hil_serl` ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
    out.mkdir(parents=True, exist_ok=True)
    return export(module, cfg, out / "policy.onnx", {"exported_from": str(checkpoint), "seed": cfg.seed})
