"""The launch description every robot's launch file returns (plain launch_ros).

Arguments: ``policy`` (ONNX file), ``config`` (node YAML; default: this package's
config/<profile>.yaml), ``sim`` (true: also start the simulated robot bridge, on loopback),
``record`` (true: start the recorder), ``record_dir``, ``autostart`` (request start once the state
arrives; default false: call ``/policy_node/start``).
"""
from __future__ import annotations

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import Node

PACKAGE = "robot_learning_deploy"


def make_launch(profile: str, robot: str, default_policy: str = "", bridge_args: dict | None = None) -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    sim = LaunchConfiguration("sim")
    return LaunchDescription([
        DeclareLaunchArgument("policy", default_value=default_policy, description="exported ONNX policy"),
        DeclareLaunchArgument("config", default_value=os.path.join(share, "config", f"{profile}.yaml"), description="node configuration YAML"),
        DeclareLaunchArgument("sim", default_value="false", description="start the simulated robot bridge (MuJoCo / PyBullet)"),
        DeclareLaunchArgument("record", default_value="true", description="record sensors, commands and safety events (MCAP)"),
        DeclareLaunchArgument("record_dir", default_value="recordings"),
        DeclareLaunchArgument("autostart", default_value="false", description="start the policy once the robot's state arrives"),
        SetEnvironmentVariable("RMW_IMPLEMENTATION", "rmw_cyclonedds_cpp"),
        # a rehearsal stays on this machine: loopback peers, no multicast needed
        SetEnvironmentVariable("CYCLONEDDS_URI", "file://" + os.path.join(share, "config", "cyclonedds_loopback.xml"), condition=IfCondition(sim)),
        Node(package=PACKAGE, executable="sim_bridge", name="sim_bridge", output="screen", condition=IfCondition(sim),
             parameters=[{"robot": robot, **(bridge_args or {})}]),
        Node(package=PACKAGE, executable="policy_node", name="policy_node", output="screen",
             parameters=[{"profile": profile, "config": LaunchConfiguration("config"), "policy": LaunchConfiguration("policy"),
                          "autostart": PythonExpression(["'", LaunchConfiguration("autostart"), "' == 'true'"])}]),
        Node(package=PACKAGE, executable="recorder", name="recorder", output="screen", condition=IfCondition(LaunchConfiguration("record")),
             parameters=[{"robot": robot, "directory": LaunchConfiguration("record_dir")}]),
    ])
