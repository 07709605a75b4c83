"""`python -m robot_learning` / `robot-learning`: the command line, generated from the task registry.

    robot-learning tasks                                   # the registered tasks and their commands
    robot-learning train <task> [--out DIR] [--config FILE] [--set key.path=value ...] [--seconds N] [--seed S] [task flags]
    robot-learning eval [<task>] --policy FILE [--episodes N] [--json] [task flags]   # task read from the policy if omitted
    robot-learning export [<task>] --checkpoint FILE [--out DIR] [--force]
    robot-learning <task group> <command> ...              # a task's own commands: asap record|fit-delta|run, hil-serl learner|actor
    robot-learning deploy --policy FILE --robot NAME [--transport dds|inprocess] [--sim bridge|pybullet] ...
    robot-learning deploy --policy FILE --robot g1 --transport unitree --iface IFACE [--sim bridge]   # the real G1 (LowCmd/LowState)
    robot-learning deploy --robot crazyflie --link URI [--trajectory hover|figure8] [--record DIR]  # the real Crazyflie (policy on board)
    robot-learning deploy --robot panda --franka-host HOST --object-xyz X Y Z --goal-xyz X Y Z         # the real Panda (franky)
    robot-learning bridge ...                              # a simulated robot behind the hardware's topics

Each task's flags appear only on that task's commands (``robot-learning train getup --help``); any
config field can be set with ``--set`` through the strict config loader. Every error a user can
cause (a missing file, a policy for another robot, a malformed config or number, an existing run
directory) ends the command with a one-line message and exit status 2, not a traceback.
"""
from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from robot_learning.core.config import ConfigError, merge, read_yaml_mapping
from robot_learning.core.runs import RunDirError, dumps
from robot_learning.robots.registry import ALIASES, UnknownRobotError
from robot_learning.runtime.monitors import MonitorConfigError
from robot_learning.runtime.policy import PolicyRunner
from robot_learning.runtime.profiles import load_node_config, profile_for
from robot_learning.tasks.registry import (COMMON, Command, RobotEntry, TaskSpec, load_tasks, parse_overrides, resolve, task_of_policy,
                                           task_robot)
from robot_learning.types import PolicyLoadError, PolicyMetadataError

KINDS = ("train", "eval", "export")


class UserError(Exception):
    """An error in what the user asked for; printed as one line."""


# ----------------------------------------------------------------------------- argument types
def _number(kind: type, low: float, high: float | None = None, exclusive_low: bool = False) -> Callable[[str], Any]:
    """An argparse type: ``kind`` (int or float), finite, in [low, high] (or (low, high] if ``exclusive_low``)."""

    def parse(text: str) -> Any:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
        ok = math.isfinite(v) and (v > low if exclusive_low else v >= low) and (high is None or v <= high)
        if not ok:
            where = f"{'above' if exclusive_low else 'at least'} {kind(low)}" + (f" and at most {kind(high)}" if high is not None else "")
            raise argparse.ArgumentTypeError(f"must be a finite number {where}, got {text}")
        return v

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


positive_float = _number(float, 0.0, exclusive_low=True)
positive_int = _number(int, 1)
seed_int = _number(int, 0, 2**32 - 1)


class _Parser(argparse.ArgumentParser):
    """argparse that exits with status 2 and one line (the usage is on --help)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message}\n")


# ----------------------------------------------------------------------------- parser, from the registry
def _add_common(p: argparse.ArgumentParser, kind: str, spec: TaskSpec) -> None:
    if kind == "train":
        p.add_argument("--out", type=Path, default=None, help=f"run directory (default runs/{spec.name}-<time>/); never overwritten")
        default = spec.default_config_path
        p.add_argument("--config", type=Path, default=None,
                       help=f"YAML config (default: {default.relative_to(default.parents[2]) if default else 'the built-in defaults'})")
        p.add_argument("--set", dest="overrides", action="append", default=None, metavar="KEY.PATH=VALUE",
                       help="override one config field after --config, e.g. --set seed=3 (repeatable; checked like the file)")
        p.add_argument("--seconds", type=positive_float, default=None, help="bound on the training wall-clock time")
        p.add_argument("--seed", type=seed_int, default=None, help="random seed")
        p.add_argument("--force", action="store_true", help="allow writing into an existing non-empty --out")
        p.add_argument("--quiet", action="store_true", help="no progress output")
    elif kind == "eval":
        shipped = spec.shipped_policy()
        p.add_argument("--policy", type=Path, default=None,
                       help=f"exported policy (default: the newest runs/{spec.name}-*/policy*.onnx"
                            f"{', else ' + shipped.name if shipped else ''})")
        p.add_argument("--episodes", type=positive_int, default=None, help="episodes to run (default: the task's)")
        p.add_argument("--seed", type=seed_int, default=0)
        p.add_argument("--json", action="store_true", help="no progress; the result as one JSON object on the last line")
    elif kind == "export":
        p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint written by `train`")
        p.add_argument("--out", type=Path, default=None, help="directory for the exports (default: the checkpoint's run)")
        p.add_argument("--force", action="store_true", help="overwrite existing exports")


def _add_command(sub: Any, name: str, cmd: Command, spec: TaskSpec, kind: str | None) -> None:
    p = sub.add_parser(name, help=cmd.help, description=f"{spec.summary} {cmd.help}".strip())
    if kind is not None and cmd.common:
        _add_common(p, kind, spec)
    for opt in cmd.options:
        opt.add_to(p)
    p.set_defaults(_task=spec.name, _command=cmd.name, _kind=kind)


def build_parser(tasks: dict[str, TaskSpec] | None = None) -> argparse.ArgumentParser:
    tasks = tasks if tasks is not None else load_tasks()
    p = _Parser(prog="robot-learning", description="Train in simulation, export ONNX, check in a second engine, deploy with safety monitors.")
    groups = [t.group for t in tasks.values() if any(c.name not in KINDS and c.cli for c in t.commands)]
    sub = p.add_subparsers(dest="command", required=True, metavar="{" + ",".join(["tasks", *KINDS, "deploy", "bridge", *groups]) + "}",
                           parser_class=_Parser)
    sub.add_parser("tasks", help="list the registered tasks and their commands")
    for kind in KINDS:
        k = sub.add_parser(kind, help={"train": "train a task's policy; writes a run directory (config, logs, checkpoints, policy.onnx, report.json)",
                                       "eval": "evaluate an exported policy through the runtime in a simulator",
                                       "export": "export a checkpoint to ONNX (with the metadata contract and a parity check)"}[kind])
        ksub = k.add_subparsers(dest="task", required=True, metavar="{" + ",".join(t.name for t in tasks.values() if t.command(kind)) + "}",
                                parser_class=_Parser)
        for spec in tasks.values():
            cmd = spec.command(kind)
            if cmd is not None:
                _add_command(ksub, spec.name, cmd, spec, kind)
    _add_deploy(sub, tasks)
    b = sub.add_parser("bridge", help="the simulated robot bridge alone: a simulator behind the hardware's ROS 2 topics (Cyclone DDS)")
    b.add_argument("args", nargs=argparse.REMAINDER, help="see `python -m robot_learning.bridges.sim_bridge --help`")
    for spec in tasks.values():
        extra = [c for c in spec.commands if c.name not in KINDS and c.cli]
        if not extra:
            continue
        g = sub.add_parser(spec.group, help=f"{spec.name}: {', '.join(c.name for c in extra)}", description=spec.summary)
        gsub = g.add_subparsers(dest="task_command", required=True, metavar="{" + ",".join(c.name for c in extra) + "}", parser_class=_Parser)
        for c in extra:
            _add_command(gsub, c.name, c, spec, None)
    return p


def _add_deploy(sub: Any, tasks: dict[str, TaskSpec]) -> None:
    d = sub.add_parser("deploy", help="run the on-robot runtime: the policy node (ROS 2 topics over Cyclone DDS) or an in-process rehearsal",
                       description="With --transport dds this is the node that `ros2 launch robot_learning_deploy <robot>.launch.py` runs, "
                                   "on Cyclone DDS instead of rclpy; --sim starts a simulated robot bridge publishing the hardware's topics.")
    d.add_argument("--policy", type=Path, default=None, help="the exported policy (not with --link: the Crazyflie flies the one built into its firmware)")
    d.add_argument("--robot", required=True, help=f"robot the runtime is started for: {', '.join(_robot_names(tasks))}")
    d.add_argument("--task", default=None, help="G1 only: getup (default) or motion_tracking; picks the deployment profile")
    d.add_argument("--transport", default=None, choices=["inprocess", "dds", "unitree"],
                   help="dds: the policy node on ROS 2 topics (default for g1 and panda); inprocess: lock-step with a simulator (crazyflie default); "
                        "unitree: the real G1 on Unitree's low-level protocol (rt/lowcmd, rt/lowstate; needs --iface; see docs/bringup/g1.md)")
    d.add_argument("--link", default=None, help="the real Crazyflie: cflib URI (radio://0/80/2M/E7E7E7E7E7, usb://0, udp://127.0.0.1:PORT for "
                                                "the simulated vehicle); the policy runs on board (firmware/crazyflie); see docs/bringup/crazyflie.md")
    d.add_argument("--franka-host", default=None, help="the real Panda: its FCI address (franky); see docs/bringup/panda.md")
    d.add_argument("--object-xyz", type=float, nargs=3, default=None, metavar=("X", "Y", "Z"),
                   help="--franka-host: where the cube is (robot base frame, m); the policy observes it and the set-up has no camera")
    d.add_argument("--goal-xyz", type=float, nargs=3, default=None, metavar=("X", "Y", "Z"), help="--franka-host: the bin's floor centre (m)")
    d.add_argument("--iface", default=None, help="--transport unitree: the network interface the robot is on (e.g. enp3s0); lo with --sim bridge")
    d.add_argument("--config", type=Path, default=None, help="node configuration YAML overriding the profile (see deploy/config/)")
    d.add_argument("--sim", default=None, help="simulated robot: pybullet (crazyflie, in-process) or, with --transport dds, 'bridge' to start "
                                                 "the simulated robot bridge (MuJoCo for g1/panda, PyBullet for crazyflie) in a second process")
    d.add_argument("--seconds", type=positive_float, default=10.0, help="how long to run")
    d.add_argument("--domain-id", type=int, default=None, choices=range(0, 233), metavar="0..232", help="DDS domain (default: $ROS_DOMAIN_ID or 0)")
    d.add_argument("--record", type=Path, default=None, help="record sensors, commands and safety events to an MCAP file in this directory")
    d.add_argument("--no-start", action="store_true", help="do not request start: wait for the ~/start service")
    d.add_argument("--realtime-priority", action="store_true", help="ask for SCHED_FIFO and locked memory (reports what the OS allowed)")
    d.add_argument("--trajectory", default="figure8", choices=["hover", "figure8"])
    d.add_argument("--no-realtime", action="store_true", help="in-process: lock-step as fast as possible instead of the policy's real control rate")
    d.add_argument("--fault", default="none", choices=["none", "nan", "stale", "push"],
                   help="in-process rehearsal of a failure: nan (broken state estimate -> ESTOP), stale (state stops arriving -> "
                        "DAMPING, then motors off), push (gust out of the training box -> DAMPING)")
    d.add_argument("--fault-at", type=positive_float, default=5.0, help="when the fault happens (s); must be within --seconds")
    d.add_argument("--json", action="store_true", help="print the summary as one JSON object on the last line")


# ----------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if "isaacgym" in argv and "--backend" in argv:  # Isaac Gym refuses to be imported after torch
            _import_isaacgym_first()
        tasks = load_tasks()
        argv = _infer_task(argv, tasks)
        args = build_parser(tasks).parse_args(argv)
        if args.command == "tasks":
            return _list_tasks(tasks)
        if args.command == "deploy":
            return _deploy(args, tasks)
        if args.command == "bridge":
            return _bridge(args)
        return _run_task_command(args, tasks)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # user-caused errors become one line; anything else is a bug and keeps its traceback
        if _is_user_error(e):
            print(f"error: {_one_line(e)}", file=sys.stderr)
            return 2
        raise


def _import_isaacgym_first() -> None:
    """Import Isaac Gym before anything imports torch (its own rule); where it is not installed, the
    backend factory refuses later with the reason."""
    import importlib.util

    if importlib.util.find_spec("isaacgym") is not None:
        import robot_learning.sim.isaacgym_batch  # noqa: F401


def _one_line(e: Exception) -> str:
    text = str(e) if not isinstance(e, KeyError) else f"missing key {e}"
    return " ".join(text.split()) or type(e).__name__


def _infer_task(argv: list[str], tasks: dict[str, TaskSpec]) -> list[str]:
    """``eval --policy F`` -> ``eval <task of F> --policy F``; ``export --checkpoint C`` -> the task of C's run."""
    if len(argv) < 1 or argv[0] not in ("eval", "export") or (len(argv) > 1 and not argv[1].startswith("-")):
        return argv
    if any(a in ("-h", "--help") for a in argv[1:]):
        return argv
    flag = "--policy" if argv[0] == "eval" else "--checkpoint"
    value = _flag_value(argv, flag)
    if value is None:
        raise UserError(f"name the task (robot-learning {argv[0]} <task>; tasks: {', '.join(t for t in tasks if tasks[t].command(argv[0]))}) "
                        f"or pass {flag} FILE")
    spec = _task_of_policy_file(Path(value), tasks) if argv[0] == "eval" else _task_of_checkpoint(Path(value), tasks)
    return [argv[0], spec.name, *argv[1:]]


def _flag_value(argv: list[str], flag: str) -> str | None:
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def _task_of_policy_file(path: Path, tasks: dict[str, TaskSpec]) -> TaskSpec:
    if path.is_dir():
        raise UserError(f"--policy {path} is a directory; pass the policy file (e.g. {path / 'policy.onnx'})")
    try:
        meta = PolicyRunner(path).metadata
    except PolicyMetadataError:  # not a policy: maybe another model a task evaluates (ASAP's delta-action model)
        keys = _onnx_metadata_keys(path)
        for spec in tasks.values():
            if keys & set(spec.extra.get("model_metadata", ())):
                return spec
        raise
    spec = task_of_policy(meta.task, tasks)
    if spec is None:
        known = ", ".join(f"{t} ({'/'.join(s.policy_tasks)})" for t, s in tasks.items())
        raise UserError(f"{path}: a '{meta.task}' policy, which no registered task evaluates (tasks and their policies: {known})")
    return spec


def _onnx_metadata_keys(path: Path) -> set[str]:
    import onnxruntime as ort

    return set(ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map)


def _task_of_checkpoint(path: Path, tasks: dict[str, TaskSpec]) -> TaskSpec:
    """The task whose run wrote ``path``: read from the run record next to it (run.json or report.json)."""
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}" if not path.is_dir() else f"checkpoint {path} is a directory, not a file")
    for d in (path.parent, path.parent.parent):
        for name in ("run.json", "report.json"):
            f = d / name
            if f.is_file():
                try:
                    rec = json.loads(f.read_text())
                except (OSError, ValueError):
                    continue
                name_ = rec.get("task") or rec.get("module") if isinstance(rec, dict) else None
                if name_ in tasks:
                    return tasks[name_]
    raise UserError(f"cannot tell which task wrote {path} (no run record next to it); name it: robot-learning export <task> --checkpoint {path}")


def _list_tasks(tasks: dict[str, TaskSpec]) -> int:
    for spec in tasks.values():
        cmds = [c.name if c.name in KINDS else f"{spec.group} {c.name}" for c in spec.commands if c.cli]
        print(f"{spec.name:>10}  {spec.robot:<13} {spec.summary}")
        print(f"{'':>10}  commands: {', '.join(cmds)}; policies: {', '.join(spec.policy_tasks)}")
    return 0


def _run_task_command(args: argparse.Namespace, tasks: dict[str, TaskSpec]) -> int:
    spec = tasks[args._task]
    cmd = spec.command(args._command)
    assert cmd is not None
    kw = {o.keyword: getattr(args, o.keyword) for o in cmd.options}
    for o in cmd.options:
        if o.check is not None and kw[o.keyword] is not None:
            problem = o.check(kw[o.keyword])
            if problem:
                raise UserError(f"{o.flag}: {problem}")
    quiet = bool(getattr(args, "json", False) or getattr(args, "quiet", False))
    say: Callable[[str], None] | None = None if quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    kind = args._kind
    if kind is not None and cmd.common:
        common = {k: getattr(args, k) for k in COMMON[kind] if k not in ("progress", "overrides")}
        if kind == "eval":  # not given: the task's own default
            common = {k: v for k, v in common.items() if v is not None or k == "policy"}
        if "progress" in COMMON[kind]:
            common["progress"] = say
        if kind == "train":
            try:
                common["overrides"] = parse_overrides(args.overrides)
            except ValueError as e:
                raise UserError(str(e)) from None
        if kind == "eval":
            if args.policy is None:
                args.policy = common["policy"] = _default_policy(spec)
                if say:
                    say(f"evaluating {args.policy}")
            if args.policy.is_dir():
                raise UserError(f"--policy {args.policy} is a directory; pass the policy file (e.g. {args.policy / 'policy.onnx'})")
        kw.update(common)
    elif "progress" in _params(cmd):
        kw["progress"] = say
    result = cmd.resolve()(**kw)
    _print_result(result, json_only=bool(getattr(args, "json", False)))
    return 0


def _params(cmd: Command) -> set[str]:
    return set(inspect.signature(cmd.resolve()).parameters)


def _print_result(result: Any, json_only: bool) -> None:
    shown = result.get("summary", result) if isinstance(result, dict) else result
    if not json_only and isinstance(shown, dict):
        for k, v in shown.items():
            print(f"{k:>28}: {dumps(v) if isinstance(v, (dict, list)) else v}")
    print(dumps(shown))


def _default_policy(spec: TaskSpec) -> Path:
    runs = sorted(Path("runs").glob(f"{spec.name}-*/policy*.onnx"), key=lambda p: p.stat().st_mtime)
    if runs:
        return runs[-1]
    shipped = spec.shipped_policy()
    if shipped is not None:
        return shipped
    raise UserError(f"no policy given and none found under runs/{spec.name}-*/; pass --policy FILE")


def _is_user_error(e: Exception) -> bool:
    user: tuple[type[BaseException], ...] = (UserError, ConfigError, RunDirError, PolicyLoadError, PolicyMetadataError, FileNotFoundError,
                                             FileExistsError, IsADirectoryError, UnknownRobotError, MonitorConfigError)
    user = (*user, *_task_user_errors())
    from robot_learning.hardware.panda.arm import ArmError  # no robot at the arm's address (numpy only)

    user = (*user, ArmError)
    try:
        from robot_learning.runtime.ros2.dds import DdsError

        user = (*user, DdsError)
    except ImportError:  # the deploy extra is not installed
        pass
    return isinstance(e, user)


def _task_user_errors() -> tuple[type[BaseException], ...]:
    """The exception types tasks declare as "the user's input is wrong" (``TaskSpec.extra['user_errors']``)."""
    out: list[type[BaseException]] = []
    for spec in load_tasks().values():
        for ref in spec.extra.get("user_errors", ()):
            try:
                out.append(resolve(ref))
            except ImportError:  # an optional dependency of that task is missing: its errors cannot occur
                continue
    return tuple(out)


# ----------------------------------------------------------------------------- deploy (by robot, not by task)
def _robot_names(tasks: dict[str, TaskSpec]) -> list[str]:
    """The platform's robots, then the robots the tasks bring."""
    return ["g1", "panda", "crazyflie", *(r.name for t in tasks.values() for r in t.robots)]


def _deploy(args: argparse.Namespace, tasks: dict[str, TaskSpec]) -> int:
    if args.robot not in ALIASES:
        entry = task_robot(args.robot, tasks)
        if entry is None:
            raise UserError(f"unknown robot '{args.robot}'; known: {', '.join(_robot_names(tasks))}")
        if args.transport not in (None, "dds") or args.fault != "none":
            raise UserError(f"robot '{args.robot}' deploys over DDS (--transport dds; --sim bridge for its simulated robot); "
                            "--fault and --transport inprocess are rehearsals of the platform's robots")
        return _deploy_dds(args, entry)
    robot = ALIASES[args.robot]
    if args.link is not None or args.franka_host is not None:
        return _deploy_real_link(args, robot)
    if args.policy is None:
        raise UserError("--policy is required (the exported ONNX policy to run)")
    if args.transport == "unitree" or args.iface is not None:
        return _deploy_unitree(args, robot)
    rehearsals = [t for t in tasks.values() if t.command("rehearse") is not None and ALIASES.get(t.robot) == robot]
    transport = args.transport or ("inprocess" if rehearsals else "dds")
    if args.fault != "none" and args.fault_at >= args.seconds:
        raise UserError(f"--fault-at {args.fault_at:g} s is not within the run (--seconds {args.seconds:g}): the fault would never happen")
    if transport == "inprocess":
        if args.record is not None:
            raise UserError("--record writes the policy node's topics to MCAP: use it with --transport dds")
        if not rehearsals:
            raise UserError(f"the in-process rehearsal exists for {', '.join(t.robot for t in tasks.values() if t.command('rehearse'))}; "
                            f"for '{args.robot}' use --transport dds --sim bridge")
        rehearse = rehearsals[0].command("rehearse")
        assert rehearse is not None
        summary = rehearse.resolve()(policy=args.policy, robot=args.robot, sim=args.sim or "pybullet", seconds=args.seconds,
                                     trajectory=args.trajectory, realtime=not args.no_realtime, fault=args.fault, fault_at=args.fault_at)
        if not args.json:
            print(_format_summary(summary))
        print(dumps(summary))
        return 0
    if args.fault != "none":
        raise UserError("--fault is an in-process rehearsal (--transport inprocess); over DDS, stop or disturb the bridge instead")
    return _deploy_dds(args)


def _g1_bridge_args(profile: str) -> list[str]:
    """The simulated G1 as each deployment profile's policies were trained: getting up starts lying;
    the motion-tracking (ASAP) policies track on a G1 whose pelvis is held (``--fix-base``)."""
    return {"g1_getup": ["--pose", "lying_face_up"], "g1_motion_tracking": ["--fix-base"]}.get(profile, [])


def _deploy_real_link(args: argparse.Namespace, robot: str) -> int:
    """The real Crazyflie over cflib (``--link``) or the real Panda through franky (``--franka-host``)."""
    if args.link is not None and args.franka_host is not None:
        raise UserError("--link is the Crazyflie's, --franka-host the Panda's: give one")
    if args.transport is not None or args.sim is not None or args.fault != "none":
        raise UserError("--link / --franka-host drive the real robot: --transport, --sim and --fault are for the rehearsals")
    if args.link is not None:
        if robot != "crazyflie":
            raise UserError(f"--link is the Crazyflie's radio link, not '{args.robot}''s")
        if args.policy is not None:
            raise UserError("--link flies the policy built into the Crazyflie's firmware (firmware/crazyflie): drop --policy")
        from robot_learning.hardware.crazyflie.flight import deploy_crazyflie

        summary = deploy_crazyflie(args.link, seconds=args.seconds, trajectory=args.trajectory,
                                   record=str(args.record) if args.record else None)
        print(dumps(summary))
        return 0 if summary.get("outcome") == "landed" else 1
    if robot != "franka_panda":
        raise UserError(f"--franka-host is the Franka arm's address, not '{args.robot}''s")
    from robot_learning.hardware.panda.runner import DEFAULT_POLICY, deploy_panda

    summary = deploy_panda(args.franka_host, seconds=args.seconds, policy=args.policy or DEFAULT_POLICY, object_xyz=args.object_xyz,
                           goal_xyz=args.goal_xyz, out=args.record)
    print(dumps(summary))
    return 0


def _format_summary(s: dict[str, Any]) -> str:
    """A summary as aligned lines; nested sections (timing) indented under their name."""
    lines = ["deployment summary"]
    for k, v in s.items():
        if isinstance(v, dict) and not v:
            lines.append(f"  {k:>26}: none")
        elif isinstance(v, dict):
            lines.append(f"  {k}:")
            lines.extend(f"    {kk:>24}: {vv}" for kk, vv in v.items())
        elif isinstance(v, list):
            lines.append(f"  {k}:")
            lines.extend(f"    - {item}" for item in v)
        else:
            lines.append(f"  {k:>26}: {v}")
    return "\n".join(lines)


def _deploy_dds(args: argparse.Namespace, entry: RobotEntry | None = None) -> int:
    """The policy node over Cyclone DDS for a platform robot (by name) or for a task's robot (``entry``:
    its description and profile are resolved here and handed to the node, its bridge module is run)."""
    # Cyclone DDS is the [deploy] extra: imported when the node runs, so training installs need not have it
    from robot_learning.runtime.node import PolicyNode, run_node
    from robot_learning.runtime.ros2.backend import DdsBackend

    overrides = {"policy": str(args.policy), "record_dir": str(args.record) if args.record else None, "realtime": bool(args.realtime_priority)}
    robot = None
    if entry is not None:
        profile = entry.profile
        robot = entry.describe()
        cfg = _task_node_config(entry, args.config, overrides)
    else:
        profile = profile_for(args.robot, args.task)
        if args.trajectory and profile == "crazyflie":
            overrides["trajectory"] = args.trajectory
        cfg = load_node_config(profile, args.config, overrides)
    bridge = None
    if args.sim not in (None, "bridge"):
        raise UserError(f"--sim {args.sim}: with --transport dds the simulated robot is 'bridge' (a second process)")
    if args.sim == "bridge" and entry is not None:
        if entry.bridge is None:
            raise UserError(f"robot '{entry.name}' has no simulated bridge")
        cmd = [sys.executable, "-m", entry.bridge, "--seconds", str(args.seconds + 5)]
        if args.domain_id is not None:
            cmd += ["--domain-id", str(args.domain_id)]
        bridge = subprocess.Popen(cmd)
    elif args.sim == "bridge":
        cmd = [sys.executable, "-m", "robot_learning.bridges.sim_bridge", "--robot", args.robot, "--seconds", str(args.seconds + 5)]
        if args.domain_id is not None:
            cmd += ["--domain-id", str(args.domain_id)]
        cmd += _g1_bridge_args(profile)
        bridge = subprocess.Popen(cmd)
    node = PolicyNode(cfg, DdsBackend("policy_node", domain_id=args.domain_id, loopback=args.sim == "bridge"), robot=robot)
    print(f"[policy_node] {node.robot.name}: policy {args.policy} ({node.runner.metadata.task}) at {node.rate:g} Hz on Cyclone DDS"
          f"{' with the simulated robot bridge' if bridge else ''}; profile '{profile}'", flush=True)
    try:
        summary = run_node(node, seconds=args.seconds, start_after_s=None if args.no_start else 1.5)
    finally:
        if bridge is not None:
            bridge.terminate()
            bridge.wait(timeout=10)
    if not args.json:
        t = summary["timing"]
        print(f"final mode {summary['final_mode']}; {summary['commands_published']} commands; received {summary['received']}; "
              f"faults {summary['faults'] or 'none'}")
        if t:
            print(f"loop {t.get('rate_hz')} Hz, compute p99 {t.get('compute_p99_ms')} ms, jitter p99 {t.get('jitter_p99_ms')} ms, "
                  f"deadline misses {t.get('deadline_misses')}")
    print(dumps(summary))
    return 0


UNITREE_LOWSTATE_TIMEOUT_S = 5.0  # no LowState within this: no robot answers, refuse
UNITREE_RELEASE_TIMEOUT_S = 10.0  # the motion switcher must release the robot's own controller within this
UNITREE_REHEARSAL_REMOTE = "start@4,A@7.5"  # --sim bridge: the simulated remote's presses (s after the bridge starts)


def _deploy_unitree(args: argparse.Namespace, robot: str) -> int:
    """The G1 on Unitree's low-level protocol (see docs/bringup/g1.md): DDS on ``--iface``, wait for the
    robot's LowState, release its high-level controller, then the node (the remote drives the sequence)."""
    import socket

    if args.transport != "unitree":
        raise UserError("--iface is for --transport unitree (the G1's low-level protocol)")
    if robot != "unitree_g1":
        raise UserError(f"--transport unitree drives the Unitree G1, not '{args.robot}'")
    if not args.iface:
        raise UserError("--transport unitree needs --iface: the network interface the robot is on (lo for --sim bridge)")
    if args.fault != "none":
        raise UserError("--fault is an in-process rehearsal; with --transport unitree use the bridge's --inject")
    names = [n for _, n in socket.if_nameindex()]
    if args.iface not in names:
        raise UserError(f"--iface {args.iface}: no such network interface here (have: {', '.join(names)})")
    if args.sim not in (None, "bridge"):
        raise UserError(f"--sim {args.sim}: with --transport unitree the simulated robot is 'bridge'")
    if args.sim == "bridge" and args.iface != "lo":
        raise UserError("--sim bridge rehearses on this machine only: use --iface lo")
    from robot_learning.runtime.node import run_node
    from robot_learning.runtime.ros2.backend import DdsBackend
    from robot_learning.runtime.ros2.dds import ensure_dds_config
    from robot_learning.runtime.unitree.g1 import UnitreeError, UnitreeG1Node, unitree_node_config, unitree_summary
    from robot_learning.runtime.unitree.motion_switcher import MotionSwitcherError, release_high_level_control

    if args.iface == "lo":
        ensure_dds_config()  # loopback peers, no multicast needed (a CYCLONEDDS_URI of the user's wins)
    elif not os.environ.get("CYCLONEDDS_URI", "").strip():
        os.environ["CYCLONEDDS_URI"] = ("<CycloneDDS><Domain Id=\"any\"><General><Interfaces>"
                                        f"<NetworkInterface name=\"{args.iface}\" priority=\"default\" multicast=\"default\"/>"
                                        "</Interfaces></General></Domain></CycloneDDS>")
    profile = profile_for(args.robot, args.task)
    overrides = {"policy": str(args.policy), "record_dir": str(args.record) if args.record else None, "realtime": bool(args.realtime_priority)}
    cfg = unitree_node_config(load_node_config(profile, args.config, overrides))
    bridge = None
    if args.sim == "bridge":
        cmd = [sys.executable, "-m", "robot_learning.bridges.sim_bridge", "--robot", "g1", "--protocol", "unitree", "--rate", "200",
               "--seconds", str(args.seconds + 15), "--remote", "" if args.no_start else UNITREE_REHEARSAL_REMOTE]
        if args.domain_id is not None:
            cmd += ["--domain-id", str(args.domain_id)]
        cmd += _g1_bridge_args(profile)
        bridge = subprocess.Popen(cmd)
    node = None
    try:
        node = UnitreeG1Node(cfg, DdsBackend("policy_node", domain_id=args.domain_id))
        print(f"[unitree] G1 on {args.iface}: waiting for rt/lowstate (up to {UNITREE_LOWSTATE_TIMEOUT_S:g} s)", flush=True)
        node.wait_for_robot(UNITREE_LOWSTATE_TIMEOUT_S + (10.0 if bridge else 0.0))  # the bridge process loads MuJoCo first
        release_high_level_control(node.backend.node, UNITREE_RELEASE_TIMEOUT_S, log=lambda m: print(m, flush=True))
        print(f"[unitree] {node.robot.name}: policy {args.policy} ({node.runner.metadata.task}) at {node.rate:g} Hz; profile '{profile}'. "
              "Remote: start = move to the start pose (2 s), A = policy, select = damping, L2+B = e-stop", flush=True)
    except BaseException as e:  # nothing runs: close the node (its participant) and the bridge, then report
        if node is not None:
            node.shutdown()
        if bridge is not None:
            bridge.terminate()
            bridge.wait(timeout=10)
        if isinstance(e, (UnitreeError, MotionSwitcherError)):
            raise UserError(str(e)) from None
        raise
    try:
        summary = unitree_summary(node, run_node(node, seconds=args.seconds, start_after_s=None))
    finally:
        if bridge is not None:
            bridge.terminate()
            bridge.wait(timeout=10)
    if not args.json:
        print(f"final mode {summary['final_mode']}; {summary['lowcmd_sent']} LowCmd sent; received {summary['received']}; "
              f"faults {summary['faults'] or 'none'}")
    print(dumps(summary))
    return 0


def _task_node_config(entry: RobotEntry, config: Path | None, overrides: dict[str, Any]) -> Any:
    """A task robot's profile, then the keys of ``--config`` (checked like any node configuration), then ``overrides``."""
    cfg = entry.node_config()
    if config is not None:
        try:
            cfg = merge(cfg, read_yaml_mapping(config))
        except ConfigError as e:
            raise ConfigError(f"{config}: {e}" if str(config) not in str(e) else str(e)) from None
    return merge(cfg, {k: v for k, v in overrides.items() if v is not None})


def _bridge(args: argparse.Namespace) -> int:
    from robot_learning.bridges.sim_bridge import main as bridge_main  # needs the [deploy] and [sim] extras

    return bridge_main([a for a in args.args if a != "--"])


if __name__ == "__main__":
    sys.exit(main())
