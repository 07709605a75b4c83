"""`python -m robot_learning` / `robot-learning`: train, eval, export and deploy, for every module.

    robot-learning train quadrotor [--out DIR] [--seconds N] [--seed S] [--config FILE] [--force]
    robot-learning eval [quadrotor] --policy FILE [--sim torch|pybullet] [--episodes N] [--trajectory hover|figure8] [--json]
    robot-learning export --checkpoint FILE [--out DIR] [--force]
    robot-learning deploy --policy FILE --robot crazyflie --sim pybullet [--seconds N] [--trajectory ...]
    robot-learning asap record --target-world FILE|NAME --out DIR [--sessions N] [--seconds S]
    robot-learning asap fit-delta --logs DIR [--seconds S] [--holdout K] [--out DIR]
    robot-learning asap run --target-world FILE|NAME [--pretrained PT] [--out DIR] [budgets in seconds]
    robot-learning train hil_serl [--human scripted|none|keyboard|gamepad|spacemouse] [--steps N] [--observation state|image] [--out DIR]
    robot-learning eval hil_serl --policy FILE [--sim mujoco|pybullet] [--episodes N]
    robot-learning hil-serl learner --port P --out DIR [--config FILE]      # the learner alone (e.g. on a GPU machine)
    robot-learning hil-serl actor --learner HOST:P --out DIR [--human ...]  # the actor alone (on the robot's computer)

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
IMPLEMENTED = ("quadrotor", "getup", "hil_serl")


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
    sub = p.add_subparsers(dest="command", required=True, metavar="{train,eval,export,deploy,bridge,asap,hil-serl}")

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
    t.add_argument("--stage", default=None, help="getup: tracking (Stage II on the CPU path, default) or discovery (Stage I); also II / I")
    t.add_argument("--num-envs", type=int, default=None, help="getup: parallel environments")
    t.add_argument("--posture", default=None, choices=["supine", "prone", "both"],
                   help="getup: the fallen postures to train for (default both; the CPU path trains one policy per posture)")
    t.add_argument("--model", default=None, choices=["primitive", "mesh"],
                   help="getup: collision model to train on, with the references optimised on it (default: the config's, primitive)")
    t.add_argument("--prone", default=None, choices=["direct", "roll"],
                   help="getup: from prone, roll onto the back first as HumanUP does, or push up directly "
                        "(default: roll on the primitive model, direct on the mesh one)")
    t.add_argument("--dr", action="store_true", default=None,
                   help="getup: Stage II's domain randomisation in training episodes (friction, mass, COM, motor strength, delay, pushes, noise)")
    t.add_argument("--terrain", dest="train_terrain", default=None,
                   help="getup: the training grounds, comma-separated (flat, slope, rough; e.g. flat,slope,rough as in "
                        "HumanUP's Stage II): environment i on the i-th, cyclically (default flat)")
    t.add_argument("--human", default=None, help="hil_serl: who may take over: scripted (default, headless), none, keyboard, gamepad, spacemouse")
    t.add_argument("--steps", type=int, default=None, help="hil_serl: environment steps of training (default 20000)")
    t.add_argument("--observation", default=None, choices=["state", "image"],
                   help="hil_serl: what the policy sees: the state (default) or proprioception and a 48 x 48 camera frame")

    e = sub.add_parser("eval", help="evaluate an exported policy in a simulator; --json prints one JSON object as the last line")
    e.add_argument("module", nargs="?", default=None, help="module (default: read from the policy's metadata)")
    e.add_argument("--policy", type=Path, default=None,
                   help="exported policy.onnx (default: the newest runs/<module>-*/policy.onnx, else the shipped assets/policies one)")
    e.add_argument("--sim", default=None, help="engine: quadrotor torch|pybullet (default pybullet); getup and hil_serl mujoco|pybullet (default mujoco)")
    e.add_argument("--model", default=None, choices=["mesh", "primitive"],
                   help="getup, MuJoCo: collision model (default: the one the policy was trained on; mesh: the second gate)")
    e.add_argument("--posture", default=None, choices=["supine", "prone", "both"],
                   help="getup: held-out fallen poses to start from (default: the postures the policy was trained for)")
    e.add_argument("--render", type=Path, default=None, help="getup: write a GIF of the first held-out get-up")
    e.add_argument("--seconds", type=float, default=10.0,
                   help="getup: episode length; success = head at 1.1 m or more at its end (the paper: 10 s; longer: does it stay up?)")
    e.add_argument("--terrain", default="flat", choices=["flat", "slope", "rough"],
                   help="getup, MuJoCo: the ground (slope: 10 deg; rough: +-3 cm bumps on 0.1 m cells); the fallen poses are made on it")
    e.add_argument("--episodes", type=int, default=100)
    e.add_argument("--trajectory", default="hover", choices=["hover", "figure8"], help="quadrotor: hover from random states, or track a figure-eight")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--json", action="store_true", help="print the result as one JSON object on the last line")

    x = sub.add_parser("export", help="export a checkpoint to ONNX (with parity check) and plain C")
    x.add_argument("--checkpoint", type=Path, required=True, help="checkpoint written by train (checkpoints/final.pt)")
    x.add_argument("--out", type=Path, default=None, help="directory for policy.onnx, policy.c, policy.h (default: the checkpoint's run)")
    x.add_argument("--force", action="store_true", help="overwrite existing exports")

    d = sub.add_parser("deploy", help="run the on-robot runtime: the policy node (ROS 2 topics over Cyclone DDS) or an in-process rehearsal",
                       description="With --transport dds this is the node that `ros2 launch robot_learning_deploy <robot>.launch.py` runs, "
                                   "on Cyclone DDS instead of rclpy; --sim starts a simulated robot bridge publishing the hardware's topics.")
    d.add_argument("--policy", type=Path, required=True)
    d.add_argument("--robot", required=True, help="robot the runtime is started for: g1, panda, crazyflie")
    d.add_argument("--task", default=None, help="G1 only: getup (default) or motion_tracking; picks the deployment profile")
    d.add_argument("--transport", default=None, choices=["inprocess", "dds"],
                   help="dds: the policy node on ROS 2 topics (default for g1 and panda); inprocess: lock-step with a simulator (crazyflie default)")
    d.add_argument("--config", type=Path, default=None, help="node configuration YAML overriding the profile (see deploy/config/)")
    d.add_argument("--sim", default=None, help="simulated robot: pybullet (crazyflie, in-process) or, with --transport dds, 'bridge' to start "
                                                 "the simulated robot bridge (MuJoCo for g1/panda, PyBullet for crazyflie) in a second process")
    d.add_argument("--seconds", type=float, default=10.0, help="how long to run")
    d.add_argument("--domain-id", type=int, default=None, help="DDS domain (default: $ROS_DOMAIN_ID or 0)")
    d.add_argument("--record", type=Path, default=None, help="record sensors, commands and safety events to an MCAP file in this directory")
    d.add_argument("--no-start", action="store_true", help="do not request start: wait for the ~/start service")
    d.add_argument("--realtime-priority", action="store_true", help="ask for SCHED_FIFO and locked memory (reports what the OS allowed)")
    d.add_argument("--trajectory", default="figure8", choices=["hover", "figure8"])
    d.add_argument("--no-realtime", action="store_true", help="in-process: lock-step as fast as possible instead of the policy's real control rate")
    d.add_argument("--fault", default="none", choices=["none", "nan", "stale", "push"],
                   help="in-process rehearsal of a failure: nan (broken state estimate -> ESTOP), stale (state stops arriving -> "
                        "DAMPING, then motors off), push (gust out of the training box -> DAMPING)")
    d.add_argument("--fault-at", type=float, default=5.0, help="when the fault happens (s)")
    d.add_argument("--json", action="store_true", help="print the summary as one JSON object on the last line")

    b = sub.add_parser("bridge", help="the simulated robot bridge alone: a simulator behind the hardware's ROS 2 topics (Cyclone DDS)")
    b.add_argument("args", nargs=argparse.REMAINDER, help="see `python -m robot_learning.sim.bridge --help`")

    a = sub.add_parser("asap", help="ASAP: the alignment loop; record sessions in a target world; fit a delta-action model to recorded sessions")
    asub = a.add_subparsers(dest="asap_command", required=True, metavar="{run,record,fit-delta}")
    lp = asub.add_parser("run", help="the whole loop: pre-train, deploy and record, fit delta/SysID/DeltaDynamics, fine-tune (and DR), re-deploy, table")
    lp.add_argument("--target-world", required=True, help="a target-world YAML file or the name of one in assets/target_worlds")
    lp.add_argument("--pretrained", type=Path, default=None, help="model.pt of an earlier run's pre-trained policy (skips pre-training)")
    lp.add_argument("--out", type=Path, default=None, help="run directory (default runs/asap-<world>-<time>/)")
    lp.add_argument("--pretrain-seconds", type=float, default=600.0)
    lp.add_argument("--finetune-seconds", type=float, default=180.0, help="per method")
    lp.add_argument("--delta-seconds", type=float, default=300.0)
    lp.add_argument("--motions", nargs="+", default=None, help="the routine: shipped motion names or .yaml/.npz/.csv files, in order")
    lp.add_argument("--held-out", nargs="+", default=None, help="motions (file stems) kept out of the open-loop fits")
    lp.add_argument("--num-envs", type=int, default=256)
    lp.add_argument("--seed", type=int, default=0)
    r = asub.add_parser("record", help="play excitation motions in a target world, one MCAP session each (runtime topics and types)")
    r.add_argument("--target-world", required=True, help="a target-world YAML file or the name of one in assets/target_worlds")
    r.add_argument("--out", type=Path, required=True, help="directory for the sessions")
    r.add_argument("--sessions", type=int, default=8)
    r.add_argument("--seconds", type=float, default=10.0, help="length of each session")
    r.add_argument("--seed", type=int, default=0)
    f = asub.add_parser("fit-delta", help="fit a delta-action model to a directory of runtime MCAP sessions (simulated or real)")
    f.add_argument("--logs", type=Path, required=True, help="directory of *.mcap sessions (or one file)")
    f.add_argument("--seconds", type=float, default=300.0, help="PPO wall-clock budget")
    f.add_argument("--holdout", type=int, default=1, help="sessions kept out of training for the open-loop figures (0: none)")
    f.add_argument("--out", type=Path, default=None, help="run directory (default runs/asap-delta-<time>/)")
    f.add_argument("--seed", type=int, default=0)

    h = sub.add_parser("hil-serl", help="HIL-SERL's actor and learner as separate processes, e.g. on two machines")
    hsub = h.add_subparsers(dest="hil_command", required=True, metavar="{learner,actor}")
    hl = hsub.add_parser("learner", help="replay buffers and SAC updates; listens on --port (transitions) and --port + 1 (weights)")
    hl.add_argument("--port", type=int, default=5555)
    hl.add_argument("--host", default="*", help="interface to listen on (default: all)")
    hl.add_argument("--out", type=Path, required=True, help="directory for final.pt, learner.json and metrics.jsonl")
    hl.add_argument("--config", type=Path, default=None, help="YAML config (default sim/configs/hil_serl.yaml); use the actor's")
    hl.add_argument("--seed", type=int, default=None)
    ha = hsub.add_parser("actor", help="the robot side: demonstrations, reward classifier, episodes with the human in the loop")
    ha.add_argument("--learner", required=True, help="HOST:PORT of the learner")
    ha.add_argument("--out", type=Path, required=True)
    ha.add_argument("--config", type=Path, default=None)
    ha.add_argument("--human", default=None, help="scripted | none | keyboard | gamepad | spacemouse")
    ha.add_argument("--seed", type=int, default=None)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {"train": _train, "eval": _eval, "export": _export, "deploy": _deploy, "bridge": _bridge,
                                                                 "asap": _asap, "hil-serl": _hil_serl}
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


def _asap(args: argparse.Namespace) -> int:
    from robot_learning.tasks.asap import module as asap

    if args.asap_command == "run":
        from robot_learning.tasks.asap.loop import LoopConfig, run_loop

        cfg = LoopConfig(target_world=args.target_world, out=str(args.out) if args.out else None,
                         pretrained=str(args.pretrained) if args.pretrained else None, pretrain_seconds=args.pretrain_seconds,
                         finetune_seconds=args.finetune_seconds, delta_seconds=args.delta_seconds, num_envs=args.num_envs, seed=args.seed,
                         **({"motions": tuple(args.motions)} if args.motions else {}),
                         **({"held_out": tuple(args.held_out)} if args.held_out else {}))
        report = run_loop(cfg, progress=lambda m: print(m, file=sys.stderr))
        print(dumps({"run": report["run"], "closed_loop_mpjpe_mm": {k: v["overall"]["mpjpe_mm"] for k, v in report["closed_loop"].items()},
                     "open_loop_1s_rad": {k: v["1s"] for k, v in report["open_loop"].items()}, "wall_clock_s": report["wall_clock_s"]}))
        return 0
    if args.asap_command == "record":
        print(dumps(asap.record_command(args.target_world, str(args.out), sessions=args.sessions, seconds=args.seconds, seed=args.seed)))
        return 0
    report = asap.fit_delta_command(str(args.logs), out=str(args.out) if args.out else None, seconds=args.seconds,
                                    holdout=args.holdout, seed=args.seed, progress=lambda m: print(m, file=sys.stderr))
    print(dumps(report))
    return 0


def _hil_serl(args: argparse.Namespace) -> int:
    from robot_learning.tasks.hil_serl import module as hil

    if args.hil_command == "learner":
        print(f"learner listening on ports {args.port} (transitions) and {args.port + 1} (weights)", file=sys.stderr, flush=True)
        print(dumps(hil.learner_command(args.port, args.out, args.config, args.host, args.seed)))
        return 0
    print(dumps(hil.actor_command(args.learner, args.out, args.config, args.human, args.seed, progress=lambda m: print(m, file=sys.stderr, flush=True))))
    return 0


def _is_user_error(e: Exception) -> bool:
    from robot_learning.core.config import ConfigError
    from robot_learning.core.runs import RunDirError
    from robot_learning.types import PolicyLoadError, PolicyMetadataError

    from robot_learning.robots.registry import UnknownRobotError
    from robot_learning.runtime.monitors import MonitorConfigError

    from robot_learning.tasks.asap.delta import SessionError
    from robot_learning.tasks.asap.motions import MotionFormatError

    from robot_learning.tasks.hil_serl.devices import DeviceUnavailable

    user = (UserError, ConfigError, RunDirError, PolicyLoadError, PolicyMetadataError, FileNotFoundError, FileExistsError,
            UnknownRobotError, MonitorConfigError, SessionError, MotionFormatError, DeviceUnavailable)
    try:
        from robot_learning.runtime.ros2.dds import DdsError

        user = (*user, DdsError)
    except ImportError:  # the deploy extra is not installed
        pass
    return isinstance(e, user)


def _train(args: argparse.Namespace) -> int:
    _module(args.module)  # validates the name: only implemented modules train
    if args.module == "getup":
        from robot_learning.tasks.getup import module as getup

        report = getup.train_command(out=args.out, config=args.config, seconds=args.seconds, seed=args.seed, stage=args.stage,
                                     num_envs=args.num_envs, force=args.force, progress=not args.quiet, posture=args.posture,
                                     model=args.model, prone=args.prone, dr=args.dr, terrain=args.train_terrain)
        summary = {"run_dir": report["run"], "stage": report["stage"], "env_steps": report["train"]["env_steps"],
                   "wall_clock_s": report["train"]["wall_clock_s"], "best_eval": report["best_eval"]}
        print(dumps(summary))
        return 0
    if args.module == "hil_serl":
        from robot_learning.tasks.hil_serl import module as hil

        report = hil.train_command(out=args.out, config=args.config, steps=args.steps, seconds=args.seconds, seed=args.seed, human=args.human,
                                   observation=args.observation, force=args.force, episodes=args.episodes if args.episodes != 100 else None, gate=not args.no_gate,
                                   progress=None if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True)))
        for k, v in report["summary"].items():
            print(f"{k:>28}: {v}")
        print(dumps(report["summary"]))
        return 0
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
    if module == "getup":
        from robot_learning.tasks.getup import module as getup

        result = getup.eval_command(args.policy, sim=args.sim or "mujoco", model=args.model, episodes=args.episodes,
                                    posture=args.posture, seed=args.seed, render=args.render, terrain=args.terrain, seconds=args.seconds,
                                    progress=None if args.json else (lambda m: print(m, file=sys.stderr)))
        if not args.json:
            for k, v in result.items():
                print(f"{k:>28}: {v}")
        print(dumps(result))
        return 0
    if module == "hil_serl":
        from robot_learning.tasks.hil_serl import module as hil

        result = hil.eval_command(args.policy, sim=args.sim or "mujoco", episodes=args.episodes,
                                  progress=None if args.json else (lambda m: print(m, file=sys.stderr)))
        if not args.json:
            for k, v in result.items():
                print(f"{k:>28}: {v}")
        print(dumps(result))
        return 0
    from robot_learning.tasks.quadrotor import module as quad

    result = quad.eval_command(args.policy, engine=args.sim or "pybullet", episodes=args.episodes, trajectory=args.trajectory, seed=args.seed)
    if not args.json:
        for k, v in result.items():
            print(f"{k:>28}: {v}")
    print(dumps(result))
    return 0


SHIPPED = {"quadrotor": Path(__file__).resolve().parents[1] / "assets" / "policies" / "crazyflie_hover.onnx",
           "getup": Path(__file__).resolve().parents[1] / "assets" / "policies" / "g1_getup_supine.onnx",
           "hil_serl": Path(__file__).resolve().parents[1] / "assets" / "policies" / "panda_pick_place.onnx"}


def _default_policy(module: str) -> Path:
    _module(module)
    runs = sorted(Path("runs").glob(f"{module}-*/policy*.onnx"), key=lambda p: p.stat().st_mtime)
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
    from robot_learning.robots.registry import ALIASES

    if args.robot not in ALIASES:
        raise UserError(f"unknown robot '{args.robot}'; known: g1, panda, crazyflie")
    transport = args.transport or ("inprocess" if ALIASES[args.robot] == "crazyflie" else "dds")
    if transport == "inprocess":
        from robot_learning.tasks.quadrotor import module as quad

        if ALIASES[args.robot] != "crazyflie":
            raise UserError(f"the in-process rehearsal exists for the crazyflie; for '{args.robot}' use --transport dds --sim bridge")
        summary = quad.deploy_command(args.policy, robot=args.robot, sim=args.sim or "pybullet", seconds=args.seconds,
                                      trajectory=args.trajectory, realtime=not args.no_realtime, fault=args.fault, fault_at=args.fault_at)
        if not args.json:
            print(quad.format_deploy_summary(summary))
        print(dumps(summary))
        return 0
    return _deploy_dds(args)


def _deploy_dds(args: argparse.Namespace) -> int:
    import subprocess

    from robot_learning.runtime.node import DdsBackend, PolicyNode, run_node
    from robot_learning.runtime.profiles import load_node_config, profile_for

    profile = profile_for(args.robot, args.task)
    overrides = {"policy": str(args.policy), "record_dir": str(args.record) if args.record else None, "realtime": bool(args.realtime_priority)}
    if args.trajectory and profile == "crazyflie":
        overrides["trajectory"] = args.trajectory
    cfg = load_node_config(profile, args.config, overrides)
    bridge = None
    if args.sim not in (None, "bridge"):
        raise UserError(f"--sim {args.sim}: with --transport dds the simulated robot is 'bridge' (a second process)")
    if args.sim == "bridge":
        cmd = [sys.executable, "-m", "robot_learning.sim.bridge", "--robot", args.robot, "--seconds", str(args.seconds + 5)]
        if args.domain_id is not None:
            cmd += ["--domain-id", str(args.domain_id)]
        if profile == "g1_getup":
            cmd += ["--pose", "lying_face_up"]  # getting up starts lying
        bridge = subprocess.Popen(cmd)
    node = PolicyNode(cfg, DdsBackend("policy_node", domain_id=args.domain_id, loopback=args.sim == "bridge"))
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


def _bridge(args: argparse.Namespace) -> int:
    from robot_learning.sim.bridge import main as bridge_main

    return bridge_main([a for a in args.args if a != "--"])


if __name__ == "__main__":
    sys.exit(main())
