"""``ros2 run robot_learning_deploy recorder --ros-args -p directory:=runs/recordings -p robot:=g1``

Records the robot's topics (sensors, commands, gains, diagnostics) to one MCAP file per session
(rosbag2's MCAP layout: `ros2 bag info <file>.mcap` reads it), flushed at least every second.
The policy node can also record in-process (parameter record_dir), which sees exactly what the
pipeline saw; this node is the one to run beside a policy you do not control.
"""
from __future__ import annotations

import sys
import time

from robot_learning_deploy.common import get_parameters, make_backend

DEFAULTS = {"robot": "crazyflie", "directory": "runs/recordings", "seconds": 0.0, "domain_id": -1}


def main(argv: list[str] | None = None) -> int:
    from robot_learning.runtime.recorder import McapRecorder
    from robot_learning.runtime.ros2 import msgs
    from robot_learning.robots.registry import load_robot

    argv = list(sys.argv[1:] if argv is None else argv)
    backend, ros_node, log, shutdown = make_backend("recorder", argv)
    try:
        p = get_parameters(ros_node, DEFAULTS, argv)
        robot = load_robot(p["robot"])
        topics = ([("/odom", msgs.Odometry), ("/motor_command", msgs.JointState)] if robot.kind == "quadrotor" else
                  [("/joint_states", msgs.JointState), ("/imu", msgs.Imu), ("/joint_command", msgs.JointState),
                   ("/joint_gains", msgs.Float64MultiArray)]) + [("/diagnostics", msgs.DiagnosticArray)]
        rec = McapRecorder(p["directory"], session=f"{p['robot']}_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
        for topic, cls in topics:
            rec.add_topic(topic, cls.ros_type)
            qos = "reliable" if cls is msgs.DiagnosticArray else "sensor"
            backend.create_subscription(cls, topic, lambda m, t=topic: rec.write(t, m.ros_type, msgs.serialize(m), time.time_ns()), qos)
        log(f"recording {[t for t, _ in topics]} to {rec.path}")
        t0 = time.monotonic()
        try:
            while not p["seconds"] or time.monotonic() - t0 < p["seconds"]:
                time.sleep(0.1)
        except KeyboardInterrupt:
            pass
        backend.close()
        rec.close()
        log(f"wrote {rec.stats()}")
        return 0
    finally:
        shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
