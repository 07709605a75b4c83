"""``ros2 run robot_learning_deploy sim_bridge --ros-args -p robot:=g1``: a simulated robot (MuJoCo for
the G1 and the Panda, PyBullet for the Crazyflie) publishing the hardware's topics, for rehearsals."""
from __future__ import annotations

import importlib
import sys

from robot_learning_deploy.common import get_parameters, make_backend

DEFAULTS = {"robot": "crazyflie", "rate": 100.0, "variant": "primitive", "fix_base": False, "pose": "default", "seconds": 0.0, "domain_id": -1}


def main(argv: list[str] | None = None) -> int:
    from robot_learning.bridges.sim_bridge import BridgeConfig, SimBridge

    argv = list(sys.argv[1:] if argv is None else argv)
    backend, ros_node, log, shutdown = make_backend("sim_bridge", argv, loopback=True)
    try:
        p = get_parameters(ros_node, DEFAULTS, argv)
        engine = "pybullet" if p["robot"] == "crazyflie" else "mujoco"
        try:
            importlib.import_module(engine)
        except ImportError:  # the robot's install ([deploy]) carries no simulator
            log(f"the simulated {p['robot']} needs {engine}, which the [deploy] extra leaves out: install the [sim] extra "
                f"(pip install '.[deploy,sim]'; the image: docker build --build-arg EXTRAS=deploy,sim)")
            backend.close()
            return 2
        bridge = SimBridge(BridgeConfig(robot=p["robot"], rate_hz=p["rate"], variant=p["variant"], fix_base=p["fix_base"], pose=p["pose"]), backend)
        log(f"simulated {p['robot']} publishing at {p['rate']:g} Hz")
        try:
            bridge.run(p["seconds"] or 1e9)
        except KeyboardInterrupt:
            pass
        backend.close()
        return 0
    finally:
        shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
