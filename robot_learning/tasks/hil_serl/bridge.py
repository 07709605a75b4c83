"""The pick-and-place scene behind the arm's end-effector topics, over Cyclone DDS: a deployment of
an end-effector policy rehearsed on one machine (the policy node cannot tell it from the robot).

``python -m robot_learning.tasks.hil_serl.bridge --seed 10000 --seconds 30 --domain-id 7`` places the
cube and the bin as evaluation episode ``seed`` does, then serves the topics of
:class:`~robot_learning.bridges.sim_bridge.EndEffectorSimBridge` until ``--seconds`` pass; its last line is a
JSON summary (steps, commands, whether and when the cube was in the bin). With ``--observation image``
it also renders the wrist and front cameras and publishes their frames (``camera/<name>/image_raw``),
for an image policy.
"""
from __future__ import annotations

import argparse
import json

from robot_learning.bridges.sim_bridge import EndEffectorSimBridge
from robot_learning.tasks.hil_serl.env import PandaPickPlace
from robot_learning.tasks.hil_serl.scene import PickPlaceConfig


def main(argv: list[str] | None = None) -> int:
    from robot_learning.runtime.ros2.backend import DdsBackend

    p = argparse.ArgumentParser(prog="python -m robot_learning.tasks.hil_serl.bridge", description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=10_000, help="the scene's seed (evaluation episode i uses 10000 + i)")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--domain-id", type=int, default=None)
    p.add_argument("--observation", choices=["state", "image"], default="state",
                   help="image: also render the wrist and front cameras and publish them on camera/<name>/image_raw")
    a = p.parse_args(argv)
    if not a.seconds > 0:
        p.error(f"--seconds must be positive, got {a.seconds}")
    env = PandaPickPlace(PickPlaceConfig(observation=a.observation))
    env.reset(a.seed)
    backend = DdsBackend("sim_bridge", domain_id=a.domain_id, loopback=True)
    bridge = EndEffectorSimBridge(env, backend)
    print(f"[sim_bridge] panda pick-and-place, scene seed {a.seed}, stepping every {env.dt:g} s", flush=True)
    try:
        summary = bridge.run(a.seconds)
    except KeyboardInterrupt:
        summary = {"steps": bridge.steps, "commands_received": bridge.commands_received, "success_steps": bridge.successes}
    finally:
        backend.close()
        env.close()
    summary["success"] = bool(env.success())
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
