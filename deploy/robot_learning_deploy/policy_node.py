"""``ros2 run robot_learning_deploy policy_node --ros-args -p profile:=g1_getup -p policy:=/path/policy.onnx``

The node of robot_learning.runtime.node.PolicyNode: the policy, the safety pipeline, the control
thread with absolute deadlines; rclpy only converts messages, parameters and services.
Parameters: profile (g1_getup | g1_motion_tracking | panda | crazyflie), config (YAML overriding
the profile), policy (ONNX file), record_dir (MCAP recording, "" = none), autostart (request start
once the robot's state arrives), realtime (SCHED_FIFO + mlockall where allowed), domain_id (DDS
backend only).
"""
from __future__ import annotations

import sys

from robot_learning_deploy.common import get_parameters, make_backend

DEFAULTS = {"profile": "crazyflie", "config": "", "policy": "", "record_dir": "", "autostart": False, "realtime": False,
            "domain_id": -1, "seconds": 0.0}


def main(argv: list[str] | None = None) -> int:
    from robot_learning.runtime.node import PolicyNode, run_node
    from robot_learning.runtime.profiles import load_node_config

    argv = list(sys.argv[1:] if argv is None else argv)
    backend, ros_node, log, shutdown = make_backend("policy_node", argv)
    try:
        p = get_parameters(ros_node, DEFAULTS, argv)
        if not p["policy"]:
            raise SystemExit("parameter 'policy' (path of the exported ONNX policy) is required")
        cfg = load_node_config(p["profile"], p["config"] or None,
                               {"policy": p["policy"], "record_dir": p["record_dir"] or None, "realtime": bool(p["realtime"])})
        node = PolicyNode(cfg, backend, log=log)
        log(f"{node.robot.name}: {p['policy']} ({node.runner.metadata.task}) at {node.rate:g} Hz; profile {p['profile']}")
        summary = run_node(node, seconds=p["seconds"] or None, start_after_s=1.0 if p["autostart"] else None, log=log)
        log(f"stopped in mode {summary['final_mode']}; timing {summary['timing']}")
        return 0
    finally:
        shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
