"""launch_testing for `colcon test` in the deploy image (needs ROS 2; not run by the project's CI).

The policy node with the Panda rehearsal policy, fed by fake sensor input from this test (a
JointState publisher at 100 Hz): it must command after start, latch an e-stop, and fall back to
hold (the arm's terminal action) when the sensor stream goes stale.
"""
import os
import time
import unittest

import launch
import launch_ros.actions
import launch_testing.actions
import pytest
import rclpy
from ament_index_python.packages import get_package_share_directory
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger
from diagnostic_msgs.msg import DiagnosticArray

POLICY = os.environ.get("ROBOT_LEARNING_TEST_POLICY", "/opt/robot_learning/assets/policies/panda_hold.onnx")
JOINTS = [f"joint{i}" for i in range(1, 8)]
HOME = [0.0, 0.0, 0.0, -1.57079, 0.0, 1.57079, -0.7853]


@pytest.mark.launch_test
def generate_test_description():  # noqa: ANN201
    share = get_package_share_directory("robot_learning_deploy")
    node = launch_ros.actions.Node(
        package="robot_learning_deploy", executable="policy_node", name="policy_node", output="screen",
        parameters=[{"profile": "panda", "config": os.path.join(share, "config", "panda.yaml"), "policy": POLICY}])
    return launch.LaunchDescription([node, launch_testing.actions.ReadyToTest()])


class TestPolicyNode(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        rclpy.init()
        cls.node = rclpy.create_node("fake_panda")
        cls.commands, cls.diagnostics = [], []
        cls.node.create_subscription(JointState, "joint_command", cls.commands.append, 10)
        cls.node.create_subscription(DiagnosticArray, "/diagnostics", cls.diagnostics.append, 10)
        cls.pub = cls.node.create_publisher(JointState, "joint_states", 10)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.node.destroy_node()
        rclpy.shutdown()

    def spin(self, seconds: float, publish: bool = True) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if publish:
                msg = JointState(name=JOINTS, position=HOME, velocity=[0.0] * 7, effort=[0.0] * 7)
                msg.header.stamp = self.node.get_clock().now().to_msg()
                self.pub.publish(msg)
            rclpy.spin_once(self.node, timeout_sec=0.01)

    def call(self, name: str) -> Trigger.Response:
        client = self.node.create_client(Trigger, f"/policy_node/{name}")
        self.assertTrue(client.wait_for_service(timeout_sec=10.0), f"/policy_node/{name} not available")
        future = client.call_async(Trigger.Request())
        rclpy.spin_until_future_complete(self.node, future, timeout_sec=5.0)
        return future.result()

    def last_mode(self) -> str:
        for d in reversed(self.diagnostics):
            for kv in d.status[0].values:
                if kv.key == "mode":
                    return kv.value
        return ""

    def test_start_estop_latch_and_stale_data(self) -> None:
        self.spin(2.0)
        self.assertTrue(self.call("start").success)
        self.spin(4.0)
        self.assertGreater(len(self.commands), 50)
        self.assertEqual(self.last_mode(), "POLICY")
        last = self.commands[-1]
        for q, h in zip(last.position, HOME):
            self.assertAlmostEqual(q, h, delta=0.05)
        # stale sensor data: the arm holds (DAMPING with the hold terminal action)
        self.spin(0.5, publish=False)
        self.spin(0.5)
        self.assertEqual(self.last_mode(), "DAMPING")
        # e-stop latches until reset
        self.assertTrue(self.call("estop").success)
        self.spin(0.3)
        self.assertFalse(self.call("start").success)
        self.assertEqual(self.last_mode(), "ESTOP")
        self.assertTrue(self.call("reset").success)
        self.spin(0.3)
        self.assertEqual(self.last_mode(), "IDLE")
