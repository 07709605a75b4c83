"""The crazyswarm2-shaped ROS 2 front over real Cyclone DDS traffic on loopback, forwarding to the
cflib link (UDP on 127.0.0.1) of the simulated vehicle (robot_learning/bridges/crazyflie_crtp_sim.py)."""
from __future__ import annotations

import os
import time

import pytest

pytest.importorskip("cflib")
pytest.importorskip("pybullet")
pytest.importorskip("cyclonedds")

from robot_learning.bridges.crazyflie_crtp_sim import CrtpSimConfig, SimulatedCrazyflie
from robot_learning.hardware.crazyflie import ros2_front as F
from robot_learning.runtime.ros2 import dds
from robot_learning.runtime.ros2 import msgs as m


pytestmark = pytest.mark.usefixtures("dds_loopback")  # the shared loopback config (conftest.py)


def test_cmd_position_flies_and_emergency_service_estops_over_dds_loopback_against_a_simulated_vehicle():
    domain = 1 + (os.getpid() * 17 + 5) % 230
    logged: list[str] = []
    with SimulatedCrazyflie(CrtpSimConfig(port=0)) as vehicle:
        links = F.open_vehicles({"cf1": vehicle.uri}, log=logged.append)
        server = dds.DdsNode("crazyflie_server", domain_id=domain)
        client = dds.DdsNode("user_script", domain_id=domain)
        try:
            front = F.CrazyswarmFront(links, server, log=logged.append)
            poses: list = []
            client.create_subscription(m.PoseStamped, "/cf1/pose", poses.append, dds.SENSOR_QOS)
            pub = client.create_publisher(F.Position, "/cf1/cmd_position", dds.RELIABLE_QOS)
            full = client.create_publisher(F.FullState, "/cf1/cmd_full_state", dds.RELIABLE_QOS)
            emergency = F.create_empty_client(client, "/cf1/emergency")
            deadline = time.monotonic() + 5.0
            while pub.subscription_count() == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            t0 = time.monotonic()
            while (t := time.monotonic() - t0) < 1.5:  # a climb to 0.5 m as crazyswarm2's cmd_position
                pub.publish(F.Position(header=m.header(time.time(), "world"), x=0.0, y=0.0, z=min(0.5, 0.6 * t), yaw=0.0))
                time.sleep(0.02)
            for _ in range(5):  # a FullState setpoint is forwarded as its position
                full.publish(F.FullState(pose=m.Pose(position=m.Point(0.0, 0.1, 0.5))))
                time.sleep(0.02)
            assert vehicle.motors_on and vehicle.truth()[2] > 0.2
            assert abs(vehicle.target[1] - 0.1) < 1e-6
            assert front.forwarded["cf1"] >= 60 and len(poses) > 50
            assert emergency.call(timeout_s=5.0) == (True, "")
            time.sleep(0.05)
            assert vehicle.estopped and not vehicle.motors_on
            assert front.stopped["cf1"] == "emergency service" and any("emergency stop" in s for s in logged)
        finally:
            client.close()
            server.close()
            for link in links.values():
                link.close()
