"""`make verify`: the paper-level claims that only long runs can prove, one line each.

    python benchmarks/verify.py [--only hover,ppo_tracking,...] [--out runs/verify] [budget flags]

Each claim trains (or evaluates) through the library, as the slow tests and the benchmarks do, and
prints exactly one line on stdout:

    PASS|FAIL <claim>: <figure> (target ...)

Progress goes to stderr. The exit status is 1 if any claim failed (an error counts as a failure,
with its one-line reason), 0 if all passed, 2 for a bad flag. Budgets are flags, so a claim can be
run alone, shorter (to see the machinery work; a short budget may rightly FAIL) or as measured in
the README (the defaults). Not part of `make test`: the whole set takes hours on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Verdict:
    passed: bool
    figure: str
    target: str


def _say(msg: str) -> None:
    print(f"[verify] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------- the claims
def hover(a: argparse.Namespace, out: Path) -> Verdict:
    """Learning to Fly in Seconds: TD3 learns to hover (>= 95 % of episodes from the paper's initial
    states) within the budget, measured in the training simulator."""
    from robot_learning.core.config import merge
    from robot_learning.robots.crazyflie import DEFAULT_PARAMS
    from robot_learning.tasks.quadrotor.config import QuadrotorTrainConfig
    from robot_learning.tasks.quadrotor.train import train

    cfg = merge(QuadrotorTrainConfig(), {"max_seconds": a.hover_seconds, "seed": a.seed})
    t0 = time.time()
    res = train(cfg, DEFAULT_PARAMS)
    rate = float(res.final_eval["success_rate"])
    return Verdict(rate >= 0.95, f"{rate:.1%} hover success, {a.hover_seconds:g} s training budget ({time.time() - t0:.0f} s with evaluation)",
                   "target >= 95 %")


def hover_pybullet(a: argparse.Namespace, out: Path) -> Verdict:
    """The shipped hover policy through the on-robot runtime in a second engine (PyBullet)."""
    from robot_learning.runtime.policy import PolicyRunner
    from robot_learning.tasks.quadrotor.config import QuadrotorTrainConfig
    from robot_learning.tasks.quadrotor.gate import gate_pybullet

    res = gate_pybullet(PolicyRunner(ROOT / "assets" / "policies" / "crazyflie_hover.onnx"), QuadrotorTrainConfig(),
                        episodes=a.hover_episodes, seed=a.seed)
    rate = float(res["success_rate"])
    return Verdict(rate >= 0.95, f"{rate:.1%} of {a.hover_episodes} episodes, mean error {res['hover_error_m'] * 100:.1f} cm",
                   "target >= 95 %")


def figure8(a: argparse.Namespace, out: Path) -> Verdict:
    """The shipped hover policy follows a moving set point (figure-eight) in PyBullet, by a criterion
    a vehicle hovering at the centre fails."""
    from robot_learning.runtime.policy import PolicyRunner
    from robot_learning.tasks.quadrotor.gate import fly_figure8

    res = fly_figure8(PolicyRunner(ROOT / "assets" / "policies" / "crazyflie_hover.onnx"), seconds=a.figure8_seconds)
    c = res["criterion"]
    fig = (f"RMSE {res['tracking_rmse_m']:.3f} m vs {res['hover_rmse_m']:.3f} m hovering at the centre, extent "
           f"{min(res['extent_ratio'].values()):.2f}, correlation {min(res['correlation'].values()):.2f}")
    return Verdict(res["success_rate"] == 1.0, fig, f"target RMSE < {c['max_rmse_ratio']:g} x hover, extent >= {c['min_extent_ratio']:g}, "
                   f"correlation >= {c['min_correlation']:g}, no fault")


def ppo_tracking(a: argparse.Namespace, out: Path) -> Verdict:
    """ASAP's pre-training: PPO motion tracking beats playing the reference open loop (zero residual)
    by at least 20 % joint error over the whole routine in the nominal simulator."""
    import torch

    from robot_learning.algos.ppo import ActorCritic, PPOConfig
    from robot_learning.tasks.asap.tracking import TrackingConfig, TrackingResult, evaluate_in_sim, load_routine, train_tracking

    cfg = TrackingConfig(max_seconds=a.ppo_seconds, max_env_steps=a.ppo_steps, seed=a.seed)
    trained = train_tracking(cfg)
    m = trained.model
    zero = ActorCritic(m.actor.net[0].in_features, m.critic[0].in_features, m.log_std.shape[0], PPOConfig(actor_hidden=(16,), critic_hidden=(16,)))
    with torch.no_grad():  # a residual of 0: the PD targets are the reference's next frame (the feedforward)
        zero.actor.net[-1].weight.zero_()
        zero.actor.net[-1].bias.zero_()
    baseline = evaluate_in_sim(TrackingResult(zero, load_routine(cfg.motions), cfg))
    trained = evaluate_in_sim(trained)
    return Verdict(trained < 0.8 * baseline, f"joint error {baseline:.4f} -> {trained:.4f} rad ({trained / baseline - 1:+.0%})",
                   "target < 0.8 x the reference feedforward")


def delta_known_answer(a: argparse.Namespace, out: Path) -> Verdict:
    """ASAP's delta-action model, learned in the known-answer world (MuJoCo at 0.65 x Kp, exact delta
    -0.35 (a - q)), correlates with the exact delta and makes held-out open-loop replays better."""
    import numpy as np

    from robot_learning.tasks.asap.delta import DeltaConfig, record_in, smooth_random_targets, train_delta
    from robot_learning.tasks.asap.replay import replay_error
    from robot_learning.tasks.asap.target_world import load_target_world, make_target_robot

    robot = make_target_robot(load_target_world("kp065_mujoco"))
    try:
        rng = np.random.default_rng(a.seed)
        train = [record_in(robot, smooth_random_targets(10.0, robot.dt, rng, amplitude=0.6, periods_s=(0.4, 1.5))) for _ in range(8)]
        held = [record_in(robot, smooth_random_targets(10.0, robot.dt, np.random.default_rng(100 + i), amplitude=0.6, periods_s=(0.4, 1.5)))
                for i in range(3)]
    finally:
        robot.close()
    model, _ = train_delta(train, DeltaConfig(max_seconds=a.delta_seconds, sigma_joint_pos=0.02, sigma_joint_vel=20.0, seed=a.seed))
    q, v = np.concatenate([r.joint_pos[:-1] for r in held]), np.concatenate([r.joint_vel[:-1] for r in held])
    act, prev = np.concatenate([r.targets for r in held]), np.concatenate([r.prev_targets for r in held])
    corr = float(np.corrcoef(model.delta(q, v, act, prev).ravel(), (-0.35 * (act - q)).ravel())[0, 1])
    raw, aligned = replay_error(held, 1.0)[0], replay_error(held, 1.0, delta=model)[0]
    return Verdict(corr > 0.5 and aligned < 0.8 * raw,
                   f"correlation with the exact delta {corr:.2f}, held-out 1 s replay error {raw:.4f} -> {aligned:.4f} rad",
                   "target correlation > 0.5 and replay error < 0.8 x raw")


def asap_beats_baselines(a: argparse.Namespace, out: Path) -> Verdict:
    """ASAP's closed loop in a target world: the policy fine-tuned with the learned delta-action model
    tracks the routine with a lower MPJPE than the pre-trained policy and every baseline (SysID,
    domain randomisation, DeltaDynamics), each deployed through the runtime."""
    from robot_learning.tasks.asap.loop import LoopConfig, run_loop

    cfg = LoopConfig(target_world=a.asap_world, out=str(out / f"asap-{a.asap_world}"), pretrained=a.asap_pretrained,
                     pretrain_seconds=a.asap_pretrain_seconds, finetune_seconds=a.asap_finetune_seconds,
                     delta_seconds=a.asap_delta_seconds, seed=a.seed)
    return asap_verdict(run_loop(cfg, progress=_say)["closed_loop"], a.asap_world)


def asap_verdict(closed_loop: dict[str, Any], world: str) -> Verdict:
    """From `asap run`'s closed-loop results: ASAP completed the routine and has the lowest MPJPE."""
    mpjpe = {k: float(v["overall"]["mpjpe_mm"]) for k, v in closed_loop.items()}
    others = {k: v for k, v in mpjpe.items() if k != "asap"}
    best = min(others, key=others.get)
    done = bool(closed_loop["asap"]["completed"])
    fig = (f"ASAP MPJPE {mpjpe['asap']:.1f} mm{'' if done else ' (stopped by the runtime)'}, best other {best} {others[best]:.1f} mm "
           f"({world})")
    return Verdict(done and all(mpjpe["asap"] < v for v in others.values()), fig,
                   "target completed, and below the pre-trained policy and every baseline")


def hil_serl(a: argparse.Namespace, out: Path) -> Verdict:
    """HIL-SERL: RLPD with demonstrations and the scripted human's interventions reaches near-perfect
    success on the Panda pick-and-place within the step budget (held-out episodes through the runtime)."""
    from robot_learning.tasks.hil_serl import module as hil

    rep = hil.train_command(out=out / "hil_serl", steps=a.hil_serl_steps, seed=a.seed, human="scripted", episodes=a.hil_serl_episodes,
                            gate=False, progress=_say)
    rate = float(rep["summary"]["success_mujoco"])
    return Verdict(rate >= 0.9, f"{rate:.0%} success in MuJoCo after {rep['summary']['env_steps']} steps", "target >= 90 %")


CLAIMS: dict[str, Callable[[argparse.Namespace, Path], Verdict]] = {
    "hover": hover, "hover_pybullet": hover_pybullet, "figure8": figure8, "ppo_tracking": ppo_tracking,
    "delta_known_answer": delta_known_answer, "asap_beats_baselines": asap_beats_baselines, "hil_serl": hil_serl,
}


# ------------------------------------------------------------------------------------- the CLI
def _positive(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a {kind.__name__}") from None
        if not (isinstance(v, int) or math.isfinite(v)) or v <= 0:
            raise argparse.ArgumentTypeError(f"must be a positive finite number, got '{text}'")
        return v
    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="verify", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default=",".join(CLAIMS), help=f"comma-separated claims (default: all): {', '.join(CLAIMS)}")
    p.add_argument("--list", action="store_true", help="list the claims and exit")
    p.add_argument("--out", type=Path, default=None, help="where runs are written (default: a new directory under runs/verify)")
    p.add_argument("--seed", type=int, default=0)
    sec, pos = _positive(float), _positive(int)
    p.add_argument("--hover-seconds", type=sec, default=900.0, help="hover: TD3 wall-clock budget")
    p.add_argument("--hover-episodes", type=pos, default=100, help="hover_pybullet: episodes")
    p.add_argument("--figure8-seconds", type=sec, default=16.0, help="figure8: flight length (2 s settle included)")
    p.add_argument("--ppo-seconds", type=sec, default=1800.0, help="ppo_tracking: PPO wall-clock budget")
    p.add_argument("--ppo-steps", type=pos, default=300_000, help="ppo_tracking: PPO environment-step budget")
    p.add_argument("--delta-seconds", type=sec, default=600.0, help="delta_known_answer: delta-model PPO budget")
    p.add_argument("--asap-world", default="worn_actuators", help="asap_beats_baselines: target world")
    p.add_argument("--asap-pretrained", default=None, help="asap_beats_baselines: a pretrained.pt of an earlier `asap run` (skips pre-training)")
    p.add_argument("--asap-pretrain-seconds", type=sec, default=600.0)
    p.add_argument("--asap-finetune-seconds", type=sec, default=180.0)
    p.add_argument("--asap-delta-seconds", type=sec, default=300.0)
    p.add_argument("--hil-serl-steps", type=pos, default=20_000, help="hil_serl: environment steps")
    p.add_argument("--hil-serl-episodes", type=pos, default=50, help="hil_serl: held-out evaluation episodes")
    return p


def run(argv: list[str] | None = None, out_stream: Any = None) -> int:
    out_stream = out_stream or sys.stdout
    p = parser()
    a = p.parse_args(argv)
    if a.list:
        for name, fn in CLAIMS.items():
            print(f"{name}: {' '.join((fn.__doc__ or '').split())}", file=out_stream)
        return 0
    chosen = [c.strip() for c in a.only.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in CLAIMS]
    if unknown or not chosen:
        p.error(f"unknown claim(s) {unknown or chosen}; known: {', '.join(CLAIMS)}")
    root = a.out or Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=_mkdir(ROOT / "runs" / "verify")))
    failed = 0
    summary: dict[str, Any] = {}
    for name in chosen:
        _say(f"{name} ... (runs under {root})")
        t0 = time.time()
        try:
            v = CLAIMS[name](a, _mkdir(root / name))
        except Exception as e:  # a claim that cannot be measured has failed; say why in one line
            _say(traceback.format_exc())
            v = Verdict(False, f"error: {type(e).__name__}: {' '.join(str(e).split())[:300]}", "target a measured figure")
        failed += not v.passed
        print(f"{'PASS' if v.passed else 'FAIL'} {name}: {v.figure} ({v.target})", file=out_stream, flush=True)
        summary[name] = {"passed": v.passed, "figure": v.figure, "target": v.target, "wall_s": round(time.time() - t0, 1)}
    (root / "verify.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if failed else 0


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


if __name__ == "__main__":
    raise SystemExit(run())
