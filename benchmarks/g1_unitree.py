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
import sys
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    a = p.parse_args(argv)
    out = compare(a.episodes, a.seed, a.seconds)
    text = json.dumps(out)
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
