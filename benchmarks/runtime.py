"""Runtime timing: tick compute time and loop jitter at 50 Hz and 500 Hz, in-process and over DDS.

    python benchmarks/runtime.py [--seconds 10] [--out benchmarks/results/runtime.json]

The robot is the G1 (23 joints, IMU), the policy its rehearsal network (an MLP of the standard
layout), the whole safety pipeline on. Two set-ups, measured side by side in one run:

- in-process: the controller drives MuJoCo in the same process; "tick" is the pipeline alone
  (state read, input monitors, observation, ONNX Runtime, output monitors, command), the physics
  step follows it within the period;
- dds: the policy node (Cyclone DDS backend, control thread on absolute deadlines) in this process,
  the simulated robot bridge in another, publishing at the control rate; "tick" is the node's whole
  tick (pipeline + CDR serialisation + DDS writes + diagnostics when due).

Jitter is |period - target period| per tick. Targets (the issue's): tick p99 <= 1 ms, jitter p99 <= 0.2 ms.
Prints one JSON object; absolute numbers depend on the machine and its load.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robot_learning.core.runs import dumps, write_json  # noqa: E402
from robot_learning.export.onnx_export import export_policy  # noqa: E402
from robot_learning.export.rehearsal import hold_metadata  # noqa: E402
from robot_learning.runtime.loop import FixedRateLoop, try_realtime  # noqa: E402


def percentiles(x: list[float] | np.ndarray) -> dict[str, float]:
    a = np.asarray(x) * 1e3
    return {"p50_ms": round(float(np.percentile(a, 50)), 4), "p99_ms": round(float(np.percentile(a, 99)), 4), "max_ms": round(float(a.max()), 4)}


def export_policy_at(rate: float, directory: Path) -> Path:
    import torch

    meta = hold_metadata("g1", control_rate_hz=rate)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(meta.observation_layout.size, 256), torch.nn.ELU(), torch.nn.Linear(256, 128),
                              torch.nn.ELU(), torch.nn.Linear(128, meta.action_size))
    with torch.no_grad():
        net[-1].weight.mul_(1e-3)  # a real network of policy size; small outputs keep the robot near its pose
        net[-1].bias.zero_()
    path = directory / f"g1_{int(rate)}hz.onnx"
    export_policy(net, meta, path)
    return path


def in_process(policy: Path, rate: float, seconds: float) -> dict:
    from robot_learning.robots.registry import load_robot
    from robot_learning.runtime.joint_controller import JointController
    from robot_learning.runtime.policy import PolicyRunner
    from robot_learning.runtime.profiles import PROFILES
    from robot_learning.runtime.joint_transport import InProcessJointTransport
    from robot_learning.sim.mujoco_robot import MujocoJointRobot, MujocoRobotConfig

    sim = MujocoJointRobot(MujocoRobotConfig(robot="g1", variant="primitive", control_rate_hz=rate, physics_dt=0.002 if rate <= 500 else 0.001, fix_base=True))
    runner = PolicyRunner(policy)

    class Deferred(InProcessJointTransport):
        """Stores the command; the physics step runs after the timed tick."""

        pending = None

        def send_command(self, command) -> None:  # noqa: ANN001
            self.pending = command

        def now(self) -> float:
            return self.robot.time

    transport = Deferred(sim, runner.metadata.joint_names)
    cfg = PROFILES["g1_motion_tracking"].controller
    c = JointController(runner, transport, "unitree_g1", load_robot("g1").limits(), cfg)
    c.start()
    ticks: list[float] = []

    def step(i: int) -> bool:
        t0 = time.perf_counter()
        c.tick()
        ticks.append(time.perf_counter() - t0)
        if transport.pending is not None:
            InProcessJointTransport.send_command(transport, transport.pending)
        return True

    stats = FixedRateLoop(rate).run(step, max_ticks=int(seconds * rate))
    s = stats.summary()
    return {"tick": percentiles(ticks[10:]), "jitter_p99_ms": s["jitter_p99_ms"], "period_p99_ms": s["period_p99_ms"],
            "deadline_misses": s["deadline_misses"], "ticks": s["count"], "final_mode": c.mode.name}


def over_dds(policy: Path, rate: float, seconds: float, domain: int) -> dict:
    from robot_learning.runtime.node import PolicyNode, run_node
    from robot_learning.runtime.ros2.backend import DdsBackend
    from robot_learning.runtime.profiles import load_node_config
    from robot_learning.runtime.ros2.dds import ensure_dds_config

    ensure_dds_config()
    bridge = subprocess.Popen([sys.executable, "-m", "robot_learning.bridges.sim_bridge", "--robot", "g1", "--fix-base", "--rate", str(rate),
                               "--domain-id", str(domain), "--seconds", str(seconds + 8)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        cfg = load_node_config("g1_motion_tracking", overrides={"policy": str(policy), "control_rate_hz": rate, "realtime": True})
        node = PolicyNode(cfg, DdsBackend("policy_node", domain_id=domain), log=lambda s: None)
        t0 = time.monotonic()
        while node.state.received["joint_states"] < 5 and time.monotonic() - t0 < 20:
            time.sleep(0.05)
        summary = run_node(node, seconds=seconds + 1.0, start_after_s=0.5, log=lambda s: None)
    finally:
        bridge.terminate()
        bridge.communicate(timeout=10)
    t = summary["timing"]
    return {"tick": {"p50_ms": t["compute_p50_ms"], "p99_ms": t["compute_p99_ms"], "max_ms": t["compute_max_ms"]},
            "jitter_p99_ms": t["jitter_p99_ms"], "period_p99_ms": t["period_p99_ms"], "deadline_misses": t["deadline_misses"],
            "ticks": t["count"], "final_mode": summary["final_mode"], "received": summary["received"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rates", type=float, nargs="+", default=[50.0, 500.0])
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args()
    realtime = try_realtime()
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
                     "realtime": realtime, "seconds": a.seconds, "robot": "unitree_g1 (23 joints, IMU), fixed base",
                     "targets": {"tick_p99_ms": 1.0, "jitter_p99_ms": 0.2}, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for rate in a.rates:
            policy = export_policy_at(rate, Path(tmp))
            results["runs"][f"inprocess_{int(rate)}hz"] = in_process(policy, rate, a.seconds)
            results["runs"][f"dds_{int(rate)}hz"] = over_dds(policy, rate, a.seconds, domain=100 + int(rate) % 97)
    for name, r in results["runs"].items():
        r["meets_targets"] = bool(r["tick"]["p99_ms"] <= 1.0 and r["jitter_p99_ms"] <= 0.2)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        write_json(a.out, results)
    print(dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
