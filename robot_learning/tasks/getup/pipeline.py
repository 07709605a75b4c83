"""The default of ``robot-learning train getup`` (``method: pipeline``), per posture:

1. **dagger**: the student drives (after a first iteration of the teacher's own episodes, per
   ``pipeline.beta``) under HumanUP's Stage II randomisation (``env.dr``: friction, pelvis mass and
   COM, motor strength, action delay, pushes, observation noise) on flat, 10 deg slope and rough
   ground (environment i on the i-th), from fallen poses made on each ground in every heading; the
   teacher (``dagger.teacher``, a :class:`~robot_learning.tasks.getup.dagger.Labeller`) labels every
   state visited, off-course ones included.
2. **refine**: PPO with the asymmetric critic from the distilled policy under the same
   randomisation and grounds (:func:`refine`, :class:`~robot_learning.tasks.getup.config.RefineConfig`).

Each stage writes its checkpoint (``dagger_<posture>.pt``, ``refine_<posture>.pt``) and a record
(``stages/<posture>-<stage>.json``); DAgger also keeps every iteration's labelled states
(``dagger_<posture>_labels/``), so an interrupted DAgger stage continues after its last iteration. A failed or interrupted run, rerun into the same directory
(``--out``, without ``--force``), resumes: the run record moves the failed attempt's files into
``failed-<time>/``, and the stages completed there under the same configuration (the time budget and
the final table's size aside) are taken back instead of being trained again. ``--force`` starts over.
"""
from __future__ import annotations

import copy
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from robot_learning.algos.ppo import PPO, ActorCritic, PPOConfig, RolloutBuffer
from robot_learning.core.config import to_dict
from robot_learning.core.runs import dumps, write_json
from robot_learning.core.seeding import seed_everything
from robot_learning.tasks.getup.config import GetupTrainConfig
from robot_learning.tasks.getup.dagger import Labeller, TeacherForEnv, _fallen_starts_only, dagger, make_actor, make_labeller
from robot_learning.tasks.getup.env import N_JOINTS, GetupEnv
from robot_learning.tasks.getup.train import evaluate_actor, make_env

STAGES_DIR = "stages"


def stage_config(cfg: GetupTrainConfig, posture: str) -> GetupTrainConfig:
    """One posture's training config: ``pipeline.dr``, ``pipeline.terrain`` and ``pipeline.gate_residual``."""
    pcfg = copy.deepcopy(cfg)
    pcfg.env.posture = posture
    pcfg.env.dr.enabled = cfg.pipeline.dr
    pcfg.env.terrain = tuple(cfg.pipeline.terrain)
    pcfg.dagger.gate_residual = cfg.pipeline.gate_residual
    return pcfg


def config_key(cfg: GetupTrainConfig) -> str:
    """What a completed stage must share with the run that resumes it: the config but the time
    budget and the final table's size."""
    d = to_dict(cfg)
    d.pop("max_seconds", None)
    d.get("pipeline", {}).pop("eval_episodes", None)
    return hashlib.sha1(dumps(d).encode()).hexdigest()[:16]


def recover_stages(run: Path, key: str) -> list[str]:
    """Take back into ``run`` the stages that the newest failed attempt (``failed-<time>/``) completed
    under config ``key``: their records and checkpoints. Returns their names (``<posture>-<stage>``)."""
    failed = sorted(d for d in run.glob("failed-*") if (d / STAGES_DIR).is_dir())
    if not failed:
        return []
    src = failed[-1]
    out = []
    for rec_file in sorted((src / STAGES_DIR).glob("*.json")):
        try:
            rec = json.loads(rec_file.read_text())
        except (OSError, ValueError):
            continue
        files = [src / f for f in rec.get("files", [])]
        if rec.get("status") != "completed" or rec.get("config_key") != key or not all(f.is_file() for f in files):
            continue
        (run / STAGES_DIR).mkdir(exist_ok=True)
        for f in files:
            f.rename(run / f.name)
        rec_file.rename(run / STAGES_DIR / rec_file.name)
        out.append(rec_file.stem)
    return out


def recover_labels(run: Path, name: str) -> bool:
    """Move DAgger's labelled-state directory ``name`` of the newest failed attempt back into ``run``
    (where ``run`` has none); :func:`~robot_learning.tasks.getup.dagger.load_labels` checks its config."""
    if (run / name).exists():
        return False
    failed = sorted(d for d in run.glob("failed-*") if (d / name).is_dir())
    if not failed:
        return False
    (failed[-1] / name).rename(run / name)
    return True


def completed(run: Path, name: str, key: str) -> dict[str, Any] | None:
    f = run / STAGES_DIR / f"{name}.json"
    if not f.is_file():
        return None
    rec = json.loads(f.read_text())
    return rec if rec.get("status") == "completed" and rec.get("config_key") == key else None


def _bar(total: float, desc: str, progress: bool, unit: str = "it") -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not progress, file=sys.stderr, leave=True, dynamic_ncols=True)


def _student_network(pcfg: GetupTrainConfig) -> torch.nn.Module:
    """The student's network for ``pcfg`` (to load a checkpoint into)."""
    env, _ = make_env(pcfg, num_envs=1)
    return make_actor(env, TeacherForEnv(env, prone_strategy=pcfg.dagger.prone_strategy), pcfg, pcfg.dagger.residual)


def run_pipeline(cfg: GetupTrainConfig, run: Path, force: bool, progress: bool,
                 export: Callable[[torch.nn.Module, GetupTrainConfig, Path, dict[str, Any]], dict[str, Any]],
                 command: str) -> dict[str, Any]:
    """The stages for each posture into ``run``; returns the report's details (per posture: the stages'
    figures, the exported policy)."""
    torch.set_num_threads(max(1, cfg.torch_threads))
    key = config_key(cfg)
    stages_dir = run / STAGES_DIR
    if force and stages_dir.is_dir():  # --force: start over
        for f in stages_dir.glob("*.json"):
            f.unlink()
    resumed = [] if force else recover_stages(run, key)
    if resumed and progress:
        print(f"resuming {run}: completed stages {', '.join(resumed)} taken from the failed attempt", flush=True)
    postures = ["supine", "prone"] if cfg.env.posture == "both" else [cfg.env.posture]
    t0 = time.time()
    policies: dict[str, Any] = {}
    for k, p in enumerate(postures):
        pcfg = stage_config(cfg, p)
        budget = max(1.0, (cfg.max_seconds - (time.time() - t0)) / (len(postures) - k))
        actor: torch.nn.Module | None = None
        figures: dict[str, Any] = {}
        t_posture = time.time()
        for stage in cfg.pipeline.stages:
            name = f"{p}-{stage}"
            ckpt = run / f"{stage}_{p}.pt"
            rec = completed(run, name, key)
            if rec is not None:
                actor = _student_network(pcfg)
                actor.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True)["actor"])
                figures[stage] = {**rec["figures"], "resumed": True}
                continue
            ts = time.time()
            spent = ts - t_posture
            if stage == "dagger":
                labels_dir = run / f"dagger_{p}_labels"  # every iteration's labels: an interrupted run resumes from them
                if force and labels_dir.is_dir():
                    shutil.rmtree(labels_dir)
                elif recover_labels(run, labels_dir.name) and progress:
                    print(f"resuming {p} DAgger from the labelled states in {labels_dir}", flush=True)
                share = budget * (cfg.pipeline.dagger_share if "refine" in cfg.pipeline.stages else 1.0)
                with _bar(pcfg.dagger.iterations, f"{p} dagger", progress) as bar:
                    def log(row: dict[str, Any], bar: Any = bar) -> None:
                        bar.update(1)
                        bar.set_postfix(mse=row["mse"], success=row["eval_success"], teacher=row["teacher_driven"])
                    actor, rows, best = dagger(pcfg, log=log, max_seconds=share, beta_schedule=tuple(cfg.pipeline.beta),
                                               data_dir=labels_dir, key=key)
                fig = {"iterations": rows, "best_eval": best, "env_steps": int(rows[-1]["samples"]) if rows else 0}
            else:
                assert actor is not None  # the stages are checked: refine comes after dagger
                share = max(1.0, budget - spent)
                total = pcfg.refine.iterations or share
                with _bar(total, f"{p} refine", progress, "it" if pcfg.refine.iterations else "s") as bar:
                    def tick(row: dict[str, Any], bar: Any = bar) -> None:
                        bar.update(1 if pcfg.refine.iterations else max(0.0, min(bar.total, row["seconds"]) - bar.n))
                        bar.set_postfix(reward=round(row["mean_reward"], 3), success=row.get("train_success_rate"))
                    actor, rows, best = refine(pcfg, actor, log=tick, max_seconds=share)
                fig = {"iterations": rows[-1]["iteration"] if rows else 0, "last_row": rows[-1] if rows else {}, "best_eval": best,
                       "env_steps": int(rows[-1]["env_steps"]) if rows else 0}
            torch.save({"actor": actor.state_dict(), "config": to_dict(pcfg)}, ckpt)
            fig["seconds"] = round(time.time() - ts, 1)
            write_json(stages_dir / f"{name}.json", {"stage": stage, "posture": p, "status": "completed", "config_key": key,
                                                     "files": [ckpt.name], "figures": fig})
            figures[stage] = fig
        assert actor is not None
        # the posture's policy: what `export getup actor_<posture>.pt` rebuilds, and its ONNX
        torch.save({"actor": actor.state_dict(), "config": to_dict(pcfg)}, run / f"actor_{p}.pt")
        last = figures[cfg.pipeline.stages[-1]]
        training = {"command": command, "seed": cfg.seed, "stage": "tracking", "method": "pipeline", "stages": list(cfg.pipeline.stages),
                    "dr": cfg.pipeline.dr, "terrain_trained": list(cfg.pipeline.terrain), "teacher": cfg.dagger.teacher,
                    "env_steps": sum(int(f.get("env_steps", 0)) for f in figures.values()),
                    "wall_clock_s": round(time.time() - t_posture, 1), "best_eval": last.get("best_eval")}
        policies[p] = {"policy": str(run / f"policy_{p}.onnx"), "stages": figures, "export": export(actor.eval(), pcfg, run / f"policy_{p}.onnx", training),
                       "env_steps": training["env_steps"], "wall_clock_s": training["wall_clock_s"]}
    return {"policies": policies, "resumed_stages": resumed, "train": {"wall_clock_s": round(time.time() - t0, 1),
                                                                       "env_steps": sum(v["env_steps"] for v in policies.values())}}


# ----------------------------------------------------------------------------------- refinement
def _dr_success(actor: torch.nn.Module, env: GetupEnv, seed: int) -> float:
    """Success of ``actor``'s mean action over one episode per environment of ``env`` (randomised
    when its config says so), with the same parameter draws and poses every call (``seed``)."""
    env.rng = np.random.default_rng(seed)
    env.reset()
    obs, _ = env.observe()
    success = np.zeros(env.n, dtype=bool)
    seen = np.zeros(env.n, dtype=bool)
    for _ in range(env.max_steps):
        with torch.no_grad():
            a = actor(torch.from_numpy(obs)).numpy().astype(np.float64)
        obs, _, _, _, info = env.step(a)
        if "episodes" in info:
            ids = info["done_ids"]
            first = ~seen[ids]
            success[ids[first]] = info["episodes"].success[first]
            seen[ids] = True
        if seen.all():
            break
    return float(success.mean())


def _extra_rewards(env: GetupEnv, prev_joint_vel: np.ndarray, cfg: GetupTrainConfig) -> np.ndarray:
    """The refinement's terms beside the environment's Stage II regularisers: head height above the
    ground, torso upright, energy, joint acceleration."""
    r, b = cfg.refine, env.batch
    succ = cfg.env.success_head_height
    head = np.clip(env.height("head"), 0.0, succ) / succ
    up = np.clip(b.sensor("torso_zaxis")[:, 2], 0.0, None)
    energy = np.sum(np.abs(b.actuator_force * b.joint_vel), -1)
    acc = np.sum(((b.joint_vel - prev_joint_vel) / env.dt) ** 2, -1)
    return r.head_height * head + r.upright * up + r.energy * energy + r.dof_acc * acc


def refine(cfg: GetupTrainConfig, student: torch.nn.Module, log: Callable[[dict[str, Any]], None] | None = None,
           max_seconds: float | None = None) -> tuple[torch.nn.Module, list[dict[str, Any]], dict[str, Any]]:
    """PPO from ``student`` (one posture; ``cfg`` from :func:`stage_config`); returns the policy kept
    (``refine.select``), the per-iteration rows and the evaluation that chose it (success on training
    fallen poses, nominal and randomised)."""
    rcfg, p = cfg.refine, cfg.ppo
    seed_everything(cfg.seed + 2)
    cfg = copy.deepcopy(cfg)
    cfg.env.episode_s = cfg.dagger.episode_s  # as DAgger's: the policy also stays up past the table's end
    w = cfg.env.rewards2
    # the reference's tracking terms off: the teacher leaves the reference at its hand-over, and the
    # slope's and rough ground's states are not the flat reference's; the task terms replace them
    w.joint_tracking = w.head_height_tracking = w.body_up_tracking = 0.0
    env, _ = make_env(cfg, num_envs=rcfg.num_envs, seed_offset=2000)
    _fallen_starts_only(env)  # also: no termination on the reference's head height
    nominal_env, _ = make_env(cfg, num_envs=cfg.dagger.eval_episodes, seed_offset=1000)
    dr_env, _ = make_env(cfg, num_envs=cfg.dagger.eval_episodes, seed_offset=3000)
    _fallen_starts_only(dr_env)
    labeller: Labeller = make_labeller(cfg.dagger.teacher, env, cfg.dagger.prone_strategy)
    ppo_cfg = PPOConfig(actor_hidden=tuple(p.actor_hidden), critic_hidden=tuple(p.critic_hidden), init_std=rcfg.init_std,
                        learning_rate=rcfg.learning_rate, schedule=rcfg.schedule, desired_kl=p.desired_kl, steps_per_env=p.steps_per_env,
                        epochs=p.epochs, minibatches=p.minibatches, gamma=p.gamma, lam=p.lam, entropy_coef=p.entropy_coef)
    env.reset()
    labeller.reset()
    obs, cobs = env.observe()
    model = ActorCritic(obs.shape[1], cobs.shape[1], N_JOINTS, ppo_cfg, actor=copy.deepcopy(student))
    model.actor.load_state_dict(student.state_dict())  # ActorCritic shrinks the last layer: the distilled weights back
    model.actor.norm.frozen = True  # the distilled policy's input statistics stay (its network was fitted to them)
    ppo = PPO(model, ppo_cfg, seed=cfg.seed)
    buf = RolloutBuffer(p.steps_per_env, env.n, obs.shape[1], cobs.shape[1], N_JOINTS)

    def evaluate(actor: torch.nn.Module) -> dict[str, Any]:
        nominal = evaluate_actor(actor, nominal_env, cfg.dagger.eval_episodes)["success_rate"]
        dr = _dr_success(actor, dr_env, cfg.seed + 3000)
        return {"nominal_success": nominal, "dr_success": dr, "score": nominal + dr}

    t0 = time.monotonic()
    best = {**evaluate(model.actor), "iteration": 0}
    best_actor = copy.deepcopy(model.actor)
    evals = [best]
    rows: list[dict[str, Any]] = []
    it, steps, ep_success = 0, 0, []
    budget = max_seconds if max_seconds is not None else cfg.max_seconds
    while True:
        elapsed = time.monotonic() - t0
        if (rcfg.iterations and it >= rcfg.iterations) or (not rcfg.iterations and elapsed >= budget):
            break
        frac = it / rcfg.iterations if rcfg.iterations else min(1.0, elapsed / budget)
        warm = it < rcfg.critic_warmup_iterations
        coef = 0.0 if warm else rcfg.imitation_coef[0] + (rcfg.imitation_coef[1] - rcfg.imitation_coef[0]) * frac
        buf.clear()
        buf.sigma = model.log_std.detach().exp().clone()
        for _ in range(p.steps_per_env):
            o, co = torch.tensor(obs), torch.tensor(cobs)  # copies: the env writes its next observation in place
            a, logp, v, mu = model.act(o, co)
            label = labeller.label(env).astype(np.float32)
            prev_qd = env.batch.joint_vel.copy()
            obs, cobs, r, done, info = env.step(a.numpy().astype(np.float64))
            r = r + (_extra_rewards(env, prev_qd, cfg) * ~done).astype(np.float32)
            buf.add(o, co, a, logp, v, mu, torch.from_numpy(r), torch.from_numpy(done.astype(np.float32)), torch.from_numpy(label))
            if "episodes" in info:
                labeller.reset(info["done_ids"])
                ep_success += info["episodes"].success.tolist()
        steps += p.steps_per_env * env.n
        with torch.no_grad():
            last_v = model.value(torch.from_numpy(cobs))
        buf.compute_returns(last_v, p.gamma, p.lam)
        if it == 0:  # the critic's input statistics from the first rollout, before its first update
            model.critic_norm.update(buf.critic_obs[: buf.t])
        stats = ppo.update(buf, critic_only=warm, imitation_coef=coef)
        model.critic_norm.update(buf.critic_obs[: buf.t])
        it += 1
        recent = ep_success[-200:]
        row = {"iteration": it, "env_steps": steps, "seconds": round(time.monotonic() - t0, 1),
               "mean_reward": float(buf.rewards[: buf.t].mean()), "train_success_rate": float(np.mean(recent)) if recent else None,
               "critic_only": warm, "imitation_coef": round(coef, 4), **{k: round(v, 5) for k, v in stats.items()}}
        last_iteration = (rcfg.iterations and it >= rcfg.iterations) or (not rcfg.iterations and time.monotonic() - t0 >= budget)
        if it % rcfg.eval_every_iterations == 0 or last_iteration:
            ev = {**evaluate(model.actor), "iteration": it}
            evals.append(ev)
            row["eval"] = ev
            if rcfg.select == "last" or ev["score"] >= best["score"]:
                best, best_actor = ev, copy.deepcopy(model.actor)
        rows.append(row)
        if log is not None:
            log(row)
    if rcfg.select == "last":
        best, best_actor = dict(evals[-1]), copy.deepcopy(model.actor)
    best_actor.norm.frozen = False
    return best_actor, rows, {**best, "evaluations": evals}
