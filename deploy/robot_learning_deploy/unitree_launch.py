"""The real G1 next to the generic launch: ``transport:=unitree iface:=<interface>``.

The real G1 listens for Unitree's own LowCmd on ``rt/lowcmd`` (not the platform's ROS 2 joint topics),
so with ``transport:=unitree`` the launch runs ``robot-learning deploy --transport unitree`` (the
policy node on the robot's low-level protocol over Cyclone DDS; see docs/bringup/g1.md) instead of
the rclpy policy node; ``sim:=true`` with it rehearses against the simulated G1 speaking the same
protocol on loopback (``iface`` is then ``lo``). The recorder argument maps to ``--record``.
"""
from __future__ import annotations

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, GroupAction
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PythonExpression


def with_unitree_variant(generic: LaunchDescription, task: str) -> LaunchDescription:
    """``generic`` (the ROS 2 topics launch) unless ``transport:=unitree``; then the Unitree deploy command."""
    unitree = PythonExpression(["'", LaunchConfiguration("transport"), "' == 'unitree'"])
    sim = PythonExpression(["'", LaunchConfiguration("sim"), "' == 'true'"])
    command = ["robot-learning deploy --robot g1 --task ", task, " --transport unitree --seconds 86400 --policy ",
               LaunchConfiguration("policy"), " --iface ",
               PythonExpression(["'lo' if ", sim, " else '", LaunchConfiguration("iface"), "'"]),
               PythonExpression(["' --sim bridge' if ", sim, " else ''"]),
               PythonExpression(["' --record ", LaunchConfiguration("record_dir"), "' if '", LaunchConfiguration("record"), "' == 'true' else ''"])]
    return LaunchDescription([
        DeclareLaunchArgument("transport", default_value="ros2", description="ros2 (the platform's topics) | unitree (the real G1's LowCmd/LowState)"),
        DeclareLaunchArgument("iface", default_value="", description="transport:=unitree: the network interface the G1 is on"),
        DeclareLaunchArgument("policy", default_value="", description="exported ONNX policy"),
        DeclareLaunchArgument("sim", default_value="false", description="rehearse against the simulated robot"),
        DeclareLaunchArgument("record", default_value="true", description="record sensors, commands and safety events (MCAP)"),
        DeclareLaunchArgument("record_dir", default_value="recordings"),
        GroupAction(list(generic.entities), condition=UnlessCondition(unitree), scoped=False),
        ExecuteProcess(cmd=[command], shell=True, output="screen", emulate_tty=True, sigterm_timeout="5", condition=IfCondition(unitree)),
    ])
