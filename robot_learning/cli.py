"""`python -m robot_learning` / `robot-learning`: train, eval, export and deploy, for every module.

    robot-learning train quadrotor [--out DIR] [--seconds N] [--seed S] [--config FILE] [--force]
    robot-learning eval [quadrotor] --policy FILE [--sim torch|pybullet] [--episodes N] [--trajectory hover|figure8] [--json]
    robot-learning export --checkpoint FILE [--out DIR] [--force]
    robot-learning deploy --policy FILE --robot crazyflie --sim pybullet [--seconds N] [--trajectory ...]

Every error a user can cause (a missing file, a policy for another robot, a malformed config, an
existing run directory) ends the command with a one-line message and exit status 2, not a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from robot_learning.core.runs import dumps

MODULES = ("quadrotor", "getup", "asap", "hil_serl")
IMPLEMENTED = ("quadrotor",)


class UserError(Exception):
    """An error in what the user asked for; printed as one line."""


def _module(name: str) -> str:
    if name not in MODULES:
        raise UserError(f"unknown module '{name}'; modules: {', '.join(MODULES)}")
    if name not in IMPLEMENTED:
        raise UserError(f"module '{name}' is not implemented yet; implemented: {', '.join(IMPLEMENTED)}")
    return name


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="robot-learning", description="Train in simulation, export ONNX, check in a second engine, deploy with safety monitors.")
    sub = p.add_subparsers(dest="command", required=True, metavar="{train,eval,export,deploy}")

    t = sub.add_parser("train", help="train a module's policy; writes config, TensorBoard logs, checkpoints, policy.onnx and report.json")
    t.add_argument("module", help=f"one of: {', '.join(MODULES)}")
    t.add_argument("--out", type=Path, default=None, help="run directory (default runs/<module>-<time>/)")
    t.add_argument("--config", type=Path, default=None, help="YAML config (default: the module's, sim/configs/<module>.yaml)")
    t.add_argument("--seconds", type=float, default=None, help="bound on the training wall-clock time")
    t.add_argument("--seed", type=int, default=None, help="random seed")
    t.add_argument("--episodes", type=int, default=100, help="episodes of each evaluation after training")
    t.add_argument("--no-gate", action="store_true", help="skip the PyBullet sim-to-sim evaluation after training")
    t.add_argument("--force", action="store_true", help="allow writing into an existing non-empty --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    e = sub.add_parser("eval", help="evaluate an exported policy in a simulator; --json prints one JSON object as the last line")
    e.add_argument("module", nargs="?", default=None, help="module (default: read from the policy's metadata)")
    e.add_argument("--policy", type=Path, default=None,
                   help="exported policy.onnx (default: the newest runs/<module>-*/policy.onnx, else the shipped assets/policies one)")
    e.add_argument("--sim", default=None, help="engine: torch (training simulator) or pybullet (second engine; default)")
    e.add_argument("--episodes", type=int, default=100)
    e.add_argument("--trajectory", default="hover", choices=["hover", "figure8"], help="quadrotor: hover from random states, or track a figure-eight")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--json", action="store_true", help="print the result as one JSON object on the last line")

    x = sub.add_parser("export", help="export a checkpoint to ONNX (with parity check) and plain C")
    x.add_argument("--checkpoint", type=Path, required=True, help="checkpoint written by train (checkpoints/final.pt)")
    x.add_argument("--out", type=Path, default=None, help="directory for policy.onnx, policy.c, policy.h (default: the checkpoint's run)")
    x.add_argument("--force", action="store_true", help="overwrite existing exports")

    d = sub.add_parser("deploy", help="run the on-robot runtime (safety monitors, fixed-rate loop) against a robot or a simulated one")
    d.add_argument("--policy", type=Path, required=True)
    d.add_argument("--robot", required=True, help="robot the runtime is started for (crazyflie)")
    d.add_argument("--sim", default="pybullet", help="simulated robot to fly (pybullet)")
    d.add_argument("--seconds", type=float, default=10.0, help="how long to run")
    d.add_argument("--trajectory", default="figure8", choices=["hover", "figure8"])
    d.add_argument("--no-realtime", action="store_true", help="lock-step as fast as possible instead of the policy's real control rate")
    d.add_argument("--fault", default="none", choices=["none", "nan", "stale", "push"],
                   help="rehearse a failure in simulation: nan (broken state estimate -> ESTOP), stale (state stops arriving -> "
                        "DAMPING, then motors off), push (gust out of the training box -> DAMPING)")
    d.add_argument("--fault-at", type=float, default=5.0, help="when the fault happens (s)")
    d.add_argument("--json", action="store_true", help="print the summary as one JSON object on the last line")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {"train": _train, "eval": _eval, "export": _export, "deploy": _deploy}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # user-caused errors become one line; anything else is a bug and keeps its traceback
        if _is_user_error(e):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise


def _is_user_error(e: Exception) -> bool:
    from robot_learning.core.config import ConfigError
    from robot_learning.core.runs import RunDirError
    from robot_learning.runtime.policy import PolicyLoadError, PolicyMetadataError

    return isinstance(e, (UserError, ConfigError, RunDirError, PolicyLoadError, PolicyMetadataError, FileNotFoundError, FileExistsError))


def _train(args: argparse.Namespace) -> int:
    _module(args.module)  # validates the name: only implemented modules train
    from robot_learning.tasks.quadrotor import module as quad

    report = quad.train_command(out=args.out, config=args.config, seconds=args.seconds, seed=args.seed, episodes=args.episodes,
                                gate=not args.no_gate, force=args.force, progress=not args.quiet)
    print(f"run directory: {report['run_dir']}")
    for k, v in report["summary"].items():
        print(f"{k:>28}: {v}")
    print(dumps(report["summary"]))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from robot_learning.runtime.policy import PolicyRunner

    if args.policy is None:
        args.policy = _default_policy(args.module or "quadrotor")
        print(f"evaluating {args.policy}", file=sys.stderr)
    runner = PolicyRunner(args.policy)
    module = args.module or _module_of_task(runner.metadata.task)
    _module(module)
    from robot_learning.tasks.quadrotor import module as quad

    result = quad.eval_command(args.policy, engine=args.sim or "pybullet", episodes=args.episodes, trajectory=args.trajectory, seed=args.seed)
    if not args.json:
        for k, v in result.items():
            print(f"{k:>28}: {v}")
    print(dumps(result))
    return 0


SHIPPED = {"quadrotor": Path(__file__).resolve().parents[1] / "assets" / "policies" / "crazyflie_hover.onnx"}


def _default_policy(module: str) -> Path:
    _module(module)
    runs = sorted(Path("runs").glob(f"{module}-*/policy.onnx"), key=lambda p: p.stat().st_mtime)
    if runs:
        return runs[-1]
    if SHIPPED[module].is_file():
        return SHIPPED[module]
    raise UserError(f"no policy given and none found under runs/{module}-*/; pass --policy FILE")


def _module_of_task(task: str) -> str:
    for m in MODULES:
        if task.startswith(m):
            return m
    raise UserError(f"the policy's task '{task}' belongs to no module; pass the module name")


def _export(args: argparse.Namespace) -> int:
    from robot_learning.tasks.quadrotor import module as quad

    result = quad.export_command(args.checkpoint, args.out, force=args.force)
    print(dumps(result))
    return 0


def _deploy(args: argparse.Namespace) -> int:
    from robot_learning.tasks.quadrotor import module as quad

    if args.robot != "crazyflie":
        raise UserError(f"robot '{args.robot}' has no runtime profile yet; available: crazyflie")
    summary = quad.deploy_command(args.policy, robot=args.robot, sim=args.sim, seconds=args.seconds, trajectory=args.trajectory,
                                  realtime=not args.no_realtime, fault=args.fault, fault_at=args.fault_at)
    if not args.json:
        print(quad.format_deploy_summary(summary))
    print(dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
