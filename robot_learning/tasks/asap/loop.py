"""The whole ASAP loop as one command (``python -m robot_learning asap run --target-world FILE``).

1. pre-train the tracking policy in the nominal simulator (or load one: ``--pretrained``);
2. deploy it in the target world through the runtime, recording the session (MCAP);
3. read the session back from the MCAP file (as a real robot's log would be) and fit ASAP's
   delta-action model and the SysID and DeltaDynamics baselines to the motions not held out;
4. measure their open-loop replay error on the held-out motions (and the raw simulator's);
5. fit all three again to the whole session (as the paper does before fine-tuning) and fine-tune the
   pre-trained policy in each aligned simulator, and in a domain-randomised one (the DR baseline),
   with the same budget;
6. deploy every policy in the target world and tabulate closed-loop tracking side by side.

Everything lands in one run directory: policies (ONNX), the delta model, the sessions, ``report.json``
and ``table.md``.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from robot_learning.core.checks import check
from robot_learning.core.config import FieldError
from robot_learning.core.runs import Run, default_run_dir, open_run
from robot_learning.tasks.asap.tracking import HELD_OUT_MOTIONS, SHIPPED_MOTIONS, motion_path

HORIZONS_S = (0.25, 0.5, 1.0)
METHODS = ("pretrained", "sysid", "dr", "delta_dynamics", "asap")


@dataclass
class LoopConfig:
    target_world: str = "worn_actuators"
    out: str | None = None
    pretrained: str | None = None  # a model.pt of an earlier run (skips pre-training)
    pretrain_seconds: float = 600.0
    finetune_seconds: float = 180.0
    delta_seconds: float = 300.0
    held_out: tuple[str, ...] = HELD_OUT_MOTIONS
    motions: tuple[str, ...] = SHIPPED_MOTIONS
    num_envs: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        check(self, positive=("pretrain_seconds", "finetune_seconds", "delta_seconds", "num_envs"), non_negative=("seed",))
        for m in self.motions:
            try:
                motion_path(m)
            except FileNotFoundError as e:
                raise FieldError("motions", f"names an unknown motion: {e}") from None
        stems = [Path(m).stem for m in self.motions]
        unknown = [m for m in self.held_out if m not in stems]
        if unknown or len(self.held_out) >= len(self.motions):
            raise FieldError("held_out", f"must be some, not all, of the routine's motions {stems}, got {list(self.held_out)}")


def _markdown(report: dict[str, Any]) -> str:
    lines = [f"Target world: `{report['target_world']}` (seed {report['seed']})", "",
             "Closed loop (policy in the target world, whole routine):", "",
             "| Method | MPJPE (mm) | Joint error (rad) | Vel error (mm/frame) | Acc error (mm/frame^2) | Success | Safety stop |",
             "|---|---|---|---|---|---|---|"]
    for m, r in report["closed_loop"].items():
        o = r["overall"]
        stop = "none" if r["completed"] else f"after {r['tracked_s']:.1f} s"
        lines.append(f"| {m} | {o['mpjpe_mm']:.1f} | {o['joint_pos_error_rad']:.4f} | {o['vel_error_mm_per_frame']:.2f} | "
                     f"{o['acc_error_mm_per_frame2']:.3f} | {'yes' if o['success'] else 'no'} | {stop} |")
    if not report["open_loop_motions"]:
        return "\n".join(lines + ["", "Open loop: not measured (the pre-trained policy was stopped before the held-out motions)."]) + "\n"
    lines += ["", f"Open loop (replaying the held-out motions {report['open_loop_motions']}; mean joint error, rad):", "",
              "| Method | " + " | ".join(f"{h:g} s" for h in HORIZONS_S) + " |", "|---|" + "---|" * len(HORIZONS_S)]
    for m, row in report["open_loop"].items():
        lines.append(f"| {m} | " + " | ".join(f"{row[f'{h:g}s']:.4f}" for h in HORIZONS_S) + " |")
    return "\n".join(lines) + "\n"


def fit_alignments(recs: list[Any], delta_seconds: float, seed: int,
                   log: Callable[[dict[str, Any]], None] | None = None) -> tuple[Any, Any, Any, dict[str, Any]]:
    """ASAP's delta-action model, SysID and DeltaDynamics, each fitted to recordings ``recs``."""
    from robot_learning.tasks.asap.baselines import DeltaDynamics, fit_sysid
    from robot_learning.tasks.asap.delta import DeltaConfig, train_delta

    delta, curve = train_delta(recs, DeltaConfig(max_seconds=delta_seconds, seed=seed), log=log)
    sysid, sysid_info = fit_sysid(recs, seed=seed)
    dyn = DeltaDynamics(seed=seed)
    info = {"sysid": {**asdict(sysid), **sysid_info}, "delta_dynamics": dyn.fit(recs),
            "delta": {"env_steps": curve[-1]["env_steps"] if curve else 0, "first_reward": curve[0]["mean_reward"] if curve else None,
                      "last_reward": curve[-1]["mean_reward"] if curve else None}}
    return delta, sysid, dyn, info


def open_loop(train_recs: list[Any], test_recs: list[Any], delta_seconds: float, seed: int,
              log: Callable[[dict[str, Any]], None] | None = None) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Fit every alignment to ``train_recs``; mean joint error (rad) of open-loop replays of
    ``test_recs`` at each horizon, for the raw simulator and each alignment."""
    from robot_learning.tasks.asap.replay import SimParams, replay_error

    delta, sysid, dyn, info = fit_alignments(train_recs, delta_seconds, seed, log=log)
    ol: dict[str, dict[str, float]] = {m: {} for m in ("raw", "sysid", "delta_dynamics", "asap")}
    for h in HORIZONS_S if test_recs else ():
        key = f"{h:g}s"
        raw_err, sys_err = replay_error(test_recs, h, params=(SimParams(), sysid), seed=seed)
        ol["raw"][key], ol["sysid"][key] = float(raw_err), float(sys_err)
        ol["delta_dynamics"][key] = float(replay_error(test_recs, h, dynamics=dyn, seed=seed)[0])
        ol["asap"][key] = float(replay_error(test_recs, h, delta=delta, seed=seed)[0])
    return ol, info


def run_loop(cfg: LoopConfig, progress: Callable[[str], None] | None = print, force: bool = False) -> dict[str, Any]:
    """The whole loop in one run directory (``cfg.out``, else runs/asap-<world>-<time>; never
    overwritten unless ``force``; a failed run is marked failed and can be rerun in place)."""
    from robot_learning.tasks.asap.delta import SessionError
    from robot_learning.tasks.asap.target_world import load_target_world

    world = load_target_world(cfg.target_world)
    stems = [Path(m).stem for m in cfg.motions]
    unknown = [m for m in cfg.held_out if m not in stems]
    if unknown or len(cfg.held_out) >= len(cfg.motions):
        raise SessionError(f"held-out motions {list(cfg.held_out)} must be some, not all, of the routine's {list(cfg.motions)}")
    with open_run(cfg.out or default_run_dir(f"asap-{world.name}"), "asap", "run", force=force, config=cfg) as record:
        return _run_loop(record, cfg, world, progress)


def _run_loop(record: Run, cfg: LoopConfig, world: Any, progress: Callable[[str], None] | None) -> dict[str, Any]:
    import torch

    from robot_learning.tasks.asap.delta import SessionError, load_recordings, save_delta
    from robot_learning.tasks.asap.deploy import BodyKinematics, deploy, split_by_motion
    from robot_learning.tasks.asap.tracking import (DomainRandomization, SimSetup, TrackingConfig, TrackingResult, evaluate_in_sim,
                                                    export_tracking, load_routine, train_tracking)

    say = progress or (lambda _m: None)
    stems = [Path(m).stem for m in cfg.motions]
    run = record.path
    t_start = time.time()
    tcfg = TrackingConfig(motions=tuple(cfg.motions), num_envs=cfg.num_envs, seed=cfg.seed)
    report: dict[str, Any] = {"module": "asap", "command": "run", "target_world": world.name, "seed": cfg.seed, "config": asdict(cfg),
                              "held_out": list(cfg.held_out), "timings_s": {}}

    def timed(key: str, t0: float) -> None:
        report["timings_s"][key] = round(time.time() - t0, 1)

    def log_every(label: str) -> Callable[[dict[str, Any]], None]:
        state = {"n": 0}

        def log(row: dict[str, Any]) -> None:
            if state["n"] % 25 == 0:
                say(f"[{label}] {row['env_steps']:>9,} steps {row['seconds']:6.0f} s  reward {row['mean_reward']:.3f}  "
                    f"joint error {row['joint_pos_error_rad']:.4f} rad")
            state["n"] += 1
        return log

    # 1. pre-train (or load)
    t0 = time.time()
    routine = load_routine(cfg.motions)
    if cfg.pretrained:
        p = Path(cfg.pretrained)
        if not p.is_file():
            raise FileNotFoundError(f"pre-trained model {p} does not exist")
        saved = torch.load(p, weights_only=False)
        if not isinstance(saved, dict) or "model" not in saved or "motions" not in saved:
            raise SessionError(f"{p} is not a tracking checkpoint written by `asap run` (pretrained.pt)")
        if list(saved["motions"]) != list(cfg.motions):
            raise SessionError(f"{p} was trained on the routine {saved['motions']}, not {list(cfg.motions)}")
        pre = TrackingResult(saved["model"], routine, tcfg)
        report["pretrained_from"] = str(p)
    else:
        pre = train_tracking(replace(tcfg, max_seconds=cfg.pretrain_seconds), log=log_every("pretrain"))
        report["pretrain_env_steps"] = pre.curve[-1]["env_steps"] if pre.curve else 0
    torch.save({"model": pre.model, "motions": list(cfg.motions)}, run / "pretrained.pt")
    timed("pretrain", t0)
    policies = {"pretrained": pre}
    report["sim_joint_error_rad"] = {"pretrained": evaluate_in_sim(pre)}

    # 2. deploy and record; 3. read the session back
    t0 = time.time()
    kin = BodyKinematics()
    export_tracking(pre, run / "pretrained.onnx", training={"method": "pretrained", "seed": cfg.seed})
    first = deploy(run / "pretrained.onnx", world, record_dir=run / "sessions", session=f"{world.name}_pretrained", seed=cfg.seed, kin=kin)
    rec = load_recordings(first["session"])[0]
    if not first["completed"]:  # as on a robot: the log up to the safety stop is still data
        say(f"the runtime stopped the pre-trained policy after {rec.num_steps * rec.dt:.1f} s: {first['safety_stop']}")
    train_recs = split_by_motion(rec, routine.segments, [m for m in stems if m not in cfg.held_out])
    test_recs = split_by_motion(rec, routine.segments, list(cfg.held_out))
    if not train_recs:
        raise SessionError(f"the pre-trained policy was stopped in '{world.name}' before it completed any motion to fit to "
                           f"({first['safety_stop']}); pre-train longer (--pretrain-seconds)")
    report["recorded_s"] = round(rec.num_steps * rec.dt, 2)
    report["open_loop_motions"] = [r.name.split(":")[-1] for r in test_recs]
    timed("deploy_record", t0)

    # 3./4. open loop: every alignment fitted without the held-out motions, replayed on them
    t0 = time.time()
    report["open_loop"], report["fit_without_held_out"] = open_loop(train_recs, test_recs, cfg.delta_seconds, cfg.seed,
                                                                    log=log_every("delta:without-held-out"))
    timed("open_loop", t0)

    # closed loop: as the paper, the alignments are fitted to the whole deployment
    t0 = time.time()
    delta, sysid, dyn, report["fit_all"] = fit_alignments([rec], cfg.delta_seconds, cfg.seed, log=log_every("delta:all"))
    timed("fit_all", t0)
    save_delta(delta, run / "delta_action.onnx", meta={"target_world": world.name, "motions": list(cfg.motions)})

    # 5. fine-tune in each simulator
    dt = 1.0 / routine.fps
    setups = {
        "sysid": SimSetup("sysid", kp_scale=sysid.kp_scale, kd_scale=sysid.kd_scale, latency_s=sysid.latency_steps * dt,
                          joint_damping=sysid.joint_damping, joint_friction=sysid.joint_friction),
        "dr": SimSetup("dr", dr=DomainRandomization()),
        "delta_dynamics": SimSetup("delta_dynamics", dynamics=dyn),
        "asap": SimSetup("asap", delta=delta),
    }
    for name, setup in setups.items():
        t0 = time.time()
        say(f"fine-tuning in the {name} simulator for {cfg.finetune_seconds:g} s")
        ft = train_tracking(replace(tcfg, max_seconds=cfg.finetune_seconds, init_std=0.1, learning_rate=3e-4, seed=cfg.seed + 1), sim=setup,
                            init=pre.model, log=log_every(name))
        policies[name] = ft
        torch.save({"model": ft.model, "motions": list(cfg.motions)}, run / f"{name}.pt")
        report["sim_joint_error_rad"][name] = evaluate_in_sim(ft, setup)
        timed(f"finetune_{name}", t0)

    # 6. deploy everything
    t0 = time.time()
    closed: dict[str, Any] = {"pretrained": {k: v for k, v in first.items() if k != "recording"}}
    for name in METHODS[1:]:
        path = run / f"{name}.onnx"
        export_tracking(policies[name], path, training={"method": name, "seed": cfg.seed, "target_world": world.name})
        out = deploy(path, world, record_dir=run / "sessions", session=f"{world.name}_{name}", seed=cfg.seed, kin=kin)
        closed[name] = {k: v for k, v in out.items() if k != "recording"}
    report["closed_loop"] = closed
    timed("deploy_all", t0)
    report["wall_clock_s"] = round(time.time() - t_start, 1)
    (run / "table.md").write_text(_markdown(report))
    say(_markdown(report))
    figures = {"closed_loop_mpjpe_mm": {k: v["overall"]["mpjpe_mm"] for k, v in closed.items()},
               "open_loop_1s_rad": {k: v["1s"] for k, v in report["open_loop"].items()}}
    record.timings_s.update(report["timings_s"])
    return {"run": str(run), **record.report(figures, report)}

