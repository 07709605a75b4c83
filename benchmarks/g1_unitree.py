"""The shipped getting-up policy through the G1's low-level protocol vs the in-process path.

``python benchmarks/g1_unitree.py --episodes 10`` prints one JSON object:

- ``inprocess``: ``eval getup``'s path (the runtime's JointController over the in-process joint
  transport, MuJoCo primitive model, held-out supine poses, success = head >= 1.1 m after 10 s);
- ``unitree_lockstep``: the same poses through the real G1 node (:class:`~robot_learning.runtime.unitree.g1.UnitreeG1Node`)
  and the simulated G1's protocol core (:class:`~robot_learning.bridges.unitree_g1.UnitreeG1SimCore`),
  every LowCmd and LowState as the DDS messages with their CRCs (checked on both sides), the joints
  on motor slots by name, and the reference sequence driven by the simulated remote (zero torque,
  ``start``, 2 s move with the reference gains and hold, ``A``, then 10 s of the policy). Only the
  DDS hop is replaced by direct calls, so the run is lock-step and deterministic; the DDS hop itself
  is exercised by tests/test_unitree_g1.py and ``robot-learning deploy --transport unitree --sim bridge``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

POLICY = ROOT / "assets/policies/g1_getup_supine.onnx"


class _Pub:
    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def publish(self, msg: Any) -> None:
        self.fn(msg)

    def subscription_count(self) -> int:
        return 1


class LockstepBackend:
    """The DDS backend's surface, with the LowCmd handed straight to the simulated robot's protocol core."""

    def __init__(self, core: Any) -> None:
        self.node = self
        self.core = core
        self.lowstate_cb: Any = None

    def create_publisher(self, cls: type, topic: str, qos: Any) -> _Pub:
        return _Pub(self.core.apply if topic == "/lowcmd" else (lambda msg: None))

    def create_subscription(self, cls: type, topic: str, cb: Any, qos: Any) -> None:
        if topic == "/lowstate":
            self.lowstate_cb = cb

    def create_trigger_service(self, name: str, handler: Any) -> None:
        return None

    def close(self) -> None:
        return None


class UnitreeLockstepRun:
    """The G1 node on the simulated G1's LowCmd/LowState, one control period per :meth:`tick`."""

    def __init__(self, policy: Path = POLICY, seed: int = 0, monitors: list[dict[str, Any]] | None = None) -> None:
        from robot_learning.bridges.unitree_g1 import UnitreeG1SimCore
        from robot_learning.core.config import merge
        from robot_learning.runtime.policy import PolicyRunner
        from robot_learning.runtime.profiles import load_node_config
        from robot_learning.runtime.unitree.g1 import unitree_node_config
        from robot_learning.tasks.getup.module import _make_robot

        meta = PolicyRunner(policy).metadata
        self.sim = _make_robot("mujoco", str(meta.training.get("collision_model", "primitive")), meta.control_rate_hz, seed)
        self.core = UnitreeG1SimCore(self.sim, active_mode="")
        cfg = unitree_node_config(load_node_config("g1_getup", None, {"policy": str(policy)}))
        if monitors is not None:
            cfg = merge(cfg, {"controller": {"monitors": monitors}})
        self.cfg = cfg
        self.new_node()
        self.names = list(meta.joint_names)
        self.rate = meta.control_rate_hz

    def new_node(self) -> None:
        """A fresh node (its monitors' memory too: the tilt monitor arms once the robot has stood), as a
        restarted deployment has; the in-process path makes a controller per episode the same way."""
        from robot_learning.runtime.unitree.g1 import UnitreeG1Node

        self.backend = LockstepBackend(self.core)
        self.node = UnitreeG1Node(self.cfg, self.backend, log=lambda m: None)
        self.controller = self.node.controller

    def reset_lying(self, k: int, qpos: np.ndarray | None = None) -> None:
        from robot_learning.tasks.getup.module import _start_states

        if qpos is None:
            qpos = _start_states("supine", k + 1, 0)[k][1]
        from robot_learning.bridges.unitree_g1 import SimRemote

        self.sim.reset_to(qpos)  # simulation time restarts at 0: a fresh remote (no press of the last episode still held)
        self.core.remote = SimRemote()
        self.core.target = self.sim.state()["joint_position"].copy()
        self.core.passive()

    def press(self, *buttons: str) -> None:
        self.core.remote.press(*buttons, seconds=0.5 / self.rate, now=self.sim.time)

    def tick(self) -> tuple[str, Any]:
        """The robot publishes its state, the node ticks (its LowCmd reaches the core), physics steps."""
        before = self.core.commands
        self.backend.lowstate_cb(self.core.lowstate(now=self.sim.time))
        self.node.tick()
        sent = self.core.last_cmd if self.core.commands > before else None
        self.core.step()
        return self.controller.mode.name, sent

    def sequence(self, idle_ticks: int, start_to_a_s: float, policy_ticks: int) -> list[tuple[str, Any]]:
        """Zero torque, ``start``, the move and hold, ``A``, the policy: (mode, LowCmd) of every tick."""
        log = [self.tick() for _ in range(idle_ticks)]
        self.press("start")
        log += [self.tick() for _ in range(int(round(start_to_a_s * self.rate)))]
        self.press("A")
        log += [self.tick() for _ in range(policy_ticks)]
        return log

    def episode(self, k: int, qpos: np.ndarray, seconds: float = 10.0) -> dict[str, Any]:
        self.new_node()
        self.reset_lying(k, qpos)
        log = self.sequence(idle_ticks=5, start_to_a_s=2.2, policy_ticks=int(round(seconds * self.rate)))
        head = float(self.sim.state(noise=False)["head_height"][0])
        return {"success": head >= 1.1, "final_head_m": head, "mode": self.controller.mode.name,
                "policy_ticks": sum(m == "POLICY" for m, _ in log), "faults": dict(self.controller.fault_counts),
                "crc_errors": self.core.crc_errors}


def compare(episodes: int = 10, seed: int = 0, seconds: float = 10.0) -> dict[str, Any]:
    from robot_learning.runtime.profiles import PROFILES
    from robot_learning.tasks.getup.module import _start_states, eval_command

    t0 = time.perf_counter()
    ref = eval_command(POLICY, episodes=episodes, posture="supine", seed=seed, seconds=seconds)
    t_ref = time.perf_counter() - t0
    monitors = [m for m in PROFILES["g1_getup"].controller.monitors if m["type"] != "stale"]  # as eval getup runs them
    run = UnitreeLockstepRun(POLICY, seed=seed, monitors=monitors)
    t0 = time.perf_counter()
    eps = []
    for k, (_, qpos) in enumerate(_start_states("supine", episodes, seed)):
        eps.append(run.episode(k, qpos, seconds))
    t_uni = time.perf_counter() - t0
    return {
        "policy": str(POLICY.relative_to(ROOT)), "episodes": episodes, "seed": seed, "policy_seconds": seconds,
        "inprocess": {"success_rate": ref["supine"]["success_rate"], "mean_final_head_m": ref["supine"]["mean_final_head_m"],
                      "final_modes": ref["supine"]["final_modes"], "wall_s": round(t_ref, 1)},
        "unitree_lockstep": {"success_rate": float(np.mean([e["success"] for e in eps])),
                             "mean_final_head_m": float(np.mean([e["final_head_m"] for e in eps])),
                             "final_modes": {m: sum(e["mode"] == m for e in eps) for m in sorted({e["mode"] for e in eps})},
                             "crc_errors": int(run.core.crc_errors), "lowcmd_applied": int(run.core.commands), "wall_s": round(t_uni, 1)},
    }


# ------------------------------------------------------------------------------ real time over DDS
#: the deploy rehearsal's remote (cli.UNITREE_REHEARSAL_REMOTE): start at 4 s, A at 7.5 s after the bridge starts
REALTIME_REMOTE = "start@4,A@7.5"
GENERIC_START_AFTER_S = 1.5  # deploy --transport dds requests start this long after launch (run_node)
TRACKING_POLICY = ROOT / "assets/policies/g1_asap_pretrained.onnx"


def _bridge_worker(spec: dict[str, Any]) -> int:
    """The simulated G1 as the rehearsal runs it (a second process, Cyclone DDS on loopback), from a
    given start: ``spec`` = protocol, rate, domain, start index/seed (a held-out supine pose) or the
    default standing pose with the pelvis fixed (motion tracking). Runs in real time until a line
    arrives on stdin; then prints ``RESULT {json}``: the head at the end, the bridge's loop timing,
    simulated time against wall time, LowStates/states published, commands applied."""
    from robot_learning.bridges.sim_bridge import BridgeConfig, SimBridge
    from robot_learning.runtime.loop import FixedRateLoop
    from robot_learning.runtime.ros2.backend import DdsBackend

    unitree = spec["protocol"] == "unitree"
    cfg = BridgeConfig(robot="g1", rate_hz=spec["rate_hz"], protocol=spec["protocol"], domain_id=spec["domain_id"],
                       remote_script=spec.get("remote", "") if unitree else "", active_mode="ai" if unitree else "",
                       fix_base=bool(spec.get("fix_base", False)))
    backend = DdsBackend("sim_bridge", domain_id=spec["domain_id"], loopback=True)
    bridge = SimBridge(cfg, backend)
    sim = bridge.sim
    if spec.get("start_index") is not None:
        from robot_learning.tasks.getup.module import _start_states

        k = int(spec["start_index"])
        sim.reset_to(_start_states("supine", k + 1, int(spec["seed"]))[k][1])
        bridge.target = sim.state()["joint_position"].copy()
        if unitree:
            bridge.unitree.core.target = bridge.target.copy()
            bridge.unitree.core.passive()
        else:
            sim.set_gains(bridge.kp, bridge.kd)
    published = [0]
    if unitree:
        pub = bridge.unitree.publish
        bridge.unitree.publish = lambda msg: (published.__setitem__(0, published[0] + 1), pub(msg))[1]  # type: ignore[method-assign]
    else:
        pub_js = bridge.pub_js.publish
        bridge.pub_js.publish = lambda msg: (published.__setitem__(0, published[0] + 1), pub_js(msg))[1]  # type: ignore[method-assign]
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    heads: list[float] = []

    def tick(i: int) -> bool:
        bridge.tick()
        if i % 10 == 0 and not cfg.fix_base:
            heads.append(float(sim.state(noise=False)["head_height"][0]))
        return not stop.is_set()

    print("READY", flush=True)
    bridge.t0 = time.monotonic()
    stats = FixedRateLoop(cfg.rate_hz, realtime=True).run(tick, max_ticks=int(spec.get("max_s", 120) * cfg.rate_hz))
    wall = time.monotonic() - bridge.t0
    out: dict[str, Any] = {"wall_s": round(wall, 3), "sim_s": round(float(sim.data.time), 3),
                           "sim_to_wall": round(float(sim.data.time) / wall, 4) if wall > 0 else None,
                           "states_published": published[0], "state_rate_hz": round(published[0] / wall, 1) if wall > 0 else None,
                           "bridge_loop": {k: v for k, v in stats.summary().items() if k in _TIMING_KEYS}}
    if not cfg.fix_base:
        s = sim.state(noise=False)
        out["final_head_m"] = float(s["head_height"][0])
        out["max_head_m"] = max(heads) if heads else out["final_head_m"]
    if unitree:
        core = bridge.unitree.core
        out.update(lowcmd_applied=core.commands, lowcmd_crc_errors=core.crc_errors, ignored_while_active=core.ignored_while_active,
                   physics_dt=float(sim.model.opt.timestep), lost_s=round(getattr(core, "lost_s", 0.0), 3))
    else:
        out.update(commands_received=bridge.commands_received, physics_dt=float(sim.model.opt.timestep))
    backend.close()
    print("RESULT " + json.dumps(out), flush=True)
    return 0


_TIMING_KEYS = ("count", "target_rate_hz", "rate_hz", "period_p50_ms", "period_p99_ms", "period_max_ms", "jitter_std_ms", "jitter_p99_ms",
                "compute_p50_ms", "compute_p99_ms", "deadline_misses", "skipped_ticks", "miss_rate")


class _Bridge:
    """The bridge worker process of one episode."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--bridge-worker", json.dumps(spec)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=str(ROOT))
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip() == "READY":
                return
        self.proc.wait(timeout=10)
        raise RuntimeError(f"the bridge worker exited before it was ready (exit {self.proc.returncode})")

    def stop(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        result: dict[str, Any] = {}
        for line in self.proc.stdout:
            if line.startswith("RESULT "):
                result = json.loads(line[len("RESULT "):])
        self.proc.wait(timeout=20)
        return result

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class _TickProbe:
    """Wraps a node's ``tick``: per tick, the age of the state it acted on (staleness), and in POLICY the
    measured joint positions (for the tracking error); counts the policy ticks."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.ages: list[float] = []
        self.policy_q: list[np.ndarray] = []
        self.policy_ticks = 0
        self.policy_t0: float | None = None
        inner = node.tick

        def tick() -> Any:
            s = node.state.read(node.use_imu)
            now = time.monotonic()
            if s is not None:
                self.ages.append(now - s.topic_stamps.get("joint_states", s.stamp))
            if node.controller.mode.name == "POLICY" and s is not None:
                self.policy_q.append(np.asarray(s["joint_position"], dtype=np.float64).copy())
            out = inner()
            if node.controller.mode.name == "POLICY":
                self.policy_ticks += 1
                if self.policy_t0 is None:
                    self.policy_t0 = now
            return out

        node.tick = tick


def _realtime_episode(path: str, task: str, k: int, seed: int, domain_id: int, policy_seconds: float,
                      policy: Path) -> dict[str, Any]:
    """One real-time rehearsal over DDS on loopback: ``path`` 'dds' (the generic joint topics, as
    ``deploy --sim bridge`` runs it) or 'unitree' (LowCmd/LowState, as ``deploy --transport unitree
    --iface lo --sim bridge`` runs it). The bridge stops when the policy has had ``policy_seconds``."""
    from robot_learning.runtime.profiles import load_node_config, profile_for
    from robot_learning.runtime.ros2.backend import DdsBackend

    getup = task == "getup"
    unitree = path == "unitree"
    import dataclasses

    from robot_learning.robots.registry import load_robot
    from robot_learning.runtime.policy import PolicyRunner

    cfg = load_node_config(profile_for("g1", task), None, {"policy": str(policy)})
    # the ASAP tracking policies name their robot 'g1' (tasks/asap/deploy.py renames the description the same way)
    robot = dataclasses.replace(load_robot("g1"), name=PolicyRunner(policy).metadata.robot)
    spec: dict[str, Any] = {"protocol": "unitree" if unitree else "ros2", "rate_hz": 200.0 if unitree else 100.0, "domain_id": domain_id,
                            "remote": REALTIME_REMOTE, "fix_base": not getup, "seed": seed, "start_index": k if getup else None}
    if unitree:
        from robot_learning.runtime.ros2.dds import ensure_dds_config
        from robot_learning.runtime.unitree.g1 import UnitreeG1Node, unitree_node_config
        from robot_learning.runtime.unitree.motion_switcher import (
            release_high_level_control,
        )

        ensure_dds_config()
        node: Any = UnitreeG1Node(unitree_node_config(cfg), DdsBackend("policy_node", domain_id=domain_id), log=lambda m: None, robot=robot)
    else:
        from robot_learning.runtime.node import PolicyNode

        node = PolicyNode(cfg, DdsBackend("policy_node", domain_id=domain_id, loopback=True), log=lambda m: None, robot=robot)
    probe = _TickProbe(node)
    bridge = None
    try:
        bridge = _Bridge(spec)
        t0 = time.monotonic()
        if unitree:
            node.wait_for_robot(15.0)
            release_high_level_control(node.backend.node, 10.0, log=lambda m: None)
        node.start_thread()
        started = unitree
        budget = (7.5 if unitree else GENERIC_START_AFTER_S + 1.0) + policy_seconds + 10.0
        want = round(policy_seconds * node.rate)
        while time.monotonic() - t0 < budget:
            time.sleep(0.02)
            if not started and time.monotonic() - t0 >= GENERIC_START_AFTER_S and any(node.state.received.values()):
                ok, _ = node.request("start", timeout_s=2.0)
                started = ok
            if probe.policy_ticks >= want or (node.controller.mode.name in ("DAMPING", "ESTOP") and probe.policy_ticks):
                break
        mode = node.controller.mode.name  # before the bridge stops (its state then goes stale)
        received = dict(node.state.received)
        wall = time.monotonic() - t0
        truth = bridge.stop()
        bridge = None
    finally:
        if bridge is not None:
            bridge.kill()
        node.shutdown()
    c = node.controller
    ages = np.array(probe.ages) * 1e3 if probe.ages else np.zeros(1)
    out: dict[str, Any] = {"path": path, "start_index": k if getup else None, "final_mode": mode, "policy_ticks": probe.policy_ticks,
                           "policy_s": round(probe.policy_ticks / node.rate, 2),
                           "faults": dict(c.fault_counts), "stops": [x for x in c.fault_log if not x.startswith("WARN")][:3],
                           "timing": {k2: v for k2, v in node.stats.summary().items() if k2 in _TIMING_KEYS},
                           "staleness_ms": {"p50": round(float(np.percentile(ages, 50)), 2), "p99": round(float(np.percentile(ages, 99)), 2),
                                            "max": round(float(ages.max()), 2)},
                           "state_received": received, "state_rate_hz": round(next(iter(received.values())) / wall, 1), "bridge": truth}
    if unitree:
        out["lowcmd_sent"] = node.lowcmd_sent
    if getup:
        head = truth.get("final_head_m", float("nan"))
        out["final_head_m"] = head
        out["success"] = bool(head >= 1.1 and mode == "POLICY")
    else:
        out["tracking"] = _tracking(node, probe.policy_q)
    return out


def _tracking(node: Any, policy_q: list[np.ndarray]) -> dict[str, Any]:
    """ASAP's metrics (tasks/asap/deploy.tracking_metrics) of the joint angles measured at each policy
    tick against the routine's frame of that tick (the policy's phase is its tick count)."""
    from robot_learning.robots.g1 import G1_SPEC
    from robot_learning.tasks.asap.deploy import tracking_metrics
    from robot_learning.tasks.asap.tracking import load_routine

    meta = node.runner.metadata
    routine = load_routine(meta.training["motions"], fps=meta.control_rate_hz)
    n = min(len(policy_q), routine.num_frames)
    if n < 3:
        return {"frames": n}
    idx = [list(meta.joint_names).index(j) for j in G1_SPEC.joint_names]
    q = np.stack(policy_q[:n])[:, idx]
    m = tracking_metrics(q, routine.joint_pos[:n])
    return {"frames": n, "of_frames": routine.num_frames, **{k: round(v, 3) if isinstance(v, float) else v for k, v in m.items()}}


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def realtime(task: str = "getup", episodes: int = 5, seed: int = 0, seconds: float = 10.0, paths: tuple[str, ...] = ("dds", "unitree"),
             domain_base: int = 160, log: Any = None) -> dict[str, Any]:
    """Both paths in real time over DDS on loopback, interleaved episode by episode on the same starts
    (getup: the held-out supine poses of ``eval getup``; motion tracking: the routine from standing,
    pelvis fixed as the tracking policies were trained)."""
    policy = POLICY if task == "getup" else TRACKING_POLICY
    runs: dict[str, list[dict[str, Any]]] = {p: [] for p in paths}
    loads = [_load()]
    for k in range(episodes):
        for j, p in enumerate(paths if k % 2 == 0 else tuple(reversed(paths))):  # alternate who goes first
            ep = _realtime_episode(p, task, k, seed, domain_base + (2 * k + j) % 60, seconds, policy)
            ep["load"] = _load()
            runs[p].append(ep)
            if log is not None:
                log(json.dumps({key: ep.get(key) for key in ("path", "start_index", "final_mode", "final_head_m", "success", "policy_s", "load")}))
        loads.append(_load())
    out: dict[str, Any] = {"task": task, "policy": str(policy.relative_to(ROOT)), "episodes": episodes, "seed": seed, "policy_seconds": seconds,
                           "cpus": os.cpu_count(), "loadavg_1m": [x[0] for x in loads]}
    for p, eps in runs.items():
        out[p] = _realtime_summary(eps, task)
    return out


def _realtime_summary(eps: list[dict[str, Any]], task: str) -> dict[str, Any]:
    def pct(key: str, sub: str, q: str) -> float:
        return round(float(np.max([e[key][q] if sub == "" else e[key][sub][q] for e in eps])), 3)

    s: dict[str, Any] = {"final_modes": {m: sum(e["final_mode"] == m for e in eps) for m in sorted({e["final_mode"] for e in eps})},
                         "faults": {f: sum(e["faults"].get(f, 0) for e in eps) for f in sorted({f for e in eps for f in e["faults"]})},
                         "stops": [x for e in eps for x in e["stops"]][:5],
                         "loop_jitter_p99_ms_max": pct("timing", "", "jitter_p99_ms"),
                         "loop_period_max_ms_max": pct("timing", "", "period_max_ms"),
                         "deadline_misses": int(sum(e["timing"]["deadline_misses"] for e in eps)),
                         "staleness_ms_p99_max": pct("staleness_ms", "", "p99"), "staleness_ms_max": pct("staleness_ms", "", "max"),
                         "state_rate_hz_mean": round(float(np.mean([e["bridge"].get("state_rate_hz", 0.0) for e in eps])), 1),
                         "bridge_deadline_misses": int(sum(e["bridge"].get("bridge_loop", {}).get("deadline_misses", 0) for e in eps)),
                         "sim_to_wall_min": round(float(np.min([e["bridge"].get("sim_to_wall", 0.0) for e in eps])), 4),
                         "episodes": eps}
    if task == "getup":
        s["success_rate"] = float(np.mean([e["success"] for e in eps]))
        s["final_head_m"] = [round(e["final_head_m"], 3) for e in eps]
    else:
        tr = [e["tracking"] for e in eps if "mpjpe_mm" in e["tracking"]]
        if tr:
            s["mpjpe_mm_mean"] = round(float(np.mean([t["mpjpe_mm"] for t in tr])), 2)
            s["joint_pos_error_rad_mean"] = round(float(np.mean([t["joint_pos_error_rad"] for t in tr])), 4)
            s["completed"] = sum(e["tracking"].get("frames") == e["tracking"].get("of_frames") for e in eps)
    return s


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=None, help="lock-step: 10; --realtime: 5 per path")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seconds", type=float, default=None, help="policy seconds per episode (getup 10; motion tracking: its routine, 27)")
    p.add_argument("--realtime", action="store_true", help="both paths in real time over DDS on loopback (bridge processes), interleaved")
    p.add_argument("--task", default="getup", choices=["getup", "motion_tracking"], help="--realtime: the getting-up or the ASAP tracking policy")
    p.add_argument("--paths", default="dds,unitree", help="--realtime: dds (generic joint topics), unitree (LowCmd/LowState), comma-separated")
    p.add_argument("--domain-base", type=int, default=160, help="--realtime: first DDS domain (one per episode, 60 in turn)")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    p.add_argument("--bridge-worker", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.bridge_worker is not None:
        return _bridge_worker(json.loads(a.bridge_worker))
    if a.realtime:
        paths = tuple(x for x in a.paths.split(",") if x)
        if not paths or any(x not in ("dds", "unitree") for x in paths):
            p.error(f"--paths {a.paths!r}: give dds and/or unitree")
        seconds = a.seconds if a.seconds is not None else (10.0 if a.task == "getup" else 27.0)
        out = realtime(a.task, a.episodes or 5, a.seed, seconds, paths, a.domain_base,
                       log=lambda m: print(m, file=sys.stderr, flush=True))
        out["episodes_detail"] = {k: out[k].pop("episodes") for k in paths}
    else:
        out = compare(a.episodes or 10, a.seed, a.seconds or 10.0)
    text = json.dumps(out)
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
