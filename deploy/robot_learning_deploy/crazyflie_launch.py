"""The real Crazyflie next to the generic launch: ``link:=radio://0/80/2M/E7E7E7E7E7``.

On the real Crazyflie the policy runs on board (firmware/crazyflie/, the out-of-tree controller), so
the ground runs no policy node: with ``link:=<URI>`` the launch starts, instead of the generic policy
node and topic bridge, one of

- ``front:=crazyswarm`` (default): the crazyswarm2-shaped ROS 2 front (``/<name>/cmd_position``,
  ``cmd_full_state``, ``emergency``, ``pose``; robot_learning/hardware/crazyflie/ros2_front.py) for
  vehicle ``name`` (default cf1): your ROS 2 nodes stream the setpoints;
- ``front:=fly``: one flight of ``trajectory`` (hover | figure8) for ``seconds``, take-off to landing,
  with the runtime's monitors and, with ``record:=true``, an MCAP session in ``record_dir``
  (robot_learning/hardware/crazyflie/flight.py, what ``robot-learning deploy --robot crazyflie`` runs).

``sim:=true`` with a link rehearses on this machine: it also starts the simulated Crazyflie answering
CRTP on 127.0.0.1:19850 (robot_learning/bridges/crazyflie_crtp_sim.py); use ``link:=udp://127.0.0.1:19850``.
See docs/bringup/crazyflie.md.
"""
from __future__ import annotations

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, GroupAction
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PythonExpression

SIM_PORT = 19850


def with_crazyflie_variant(generic: LaunchDescription) -> LaunchDescription:
    """``generic`` (the ROS 2 topics launch) unless ``link:=<URI>``; then the real vehicle's ground side."""
    real = PythonExpression(["'", LaunchConfiguration("link"), "' != ''"])
    sim = PythonExpression(["'", LaunchConfiguration("sim"), "' == 'true'"])
    fly = PythonExpression(["'", LaunchConfiguration("front"), "' == 'fly'"])
    python = "python3 -m "
    front_cmd = [python, "robot_learning.hardware.crazyflie.ros2_front --vehicle ", LaunchConfiguration("name"), "=",
                 LaunchConfiguration("link"), PythonExpression(["' --loopback' if ", sim, " else ''"])]
    fly_cmd = [python, "robot_learning.hardware.crazyflie.flight --link ", LaunchConfiguration("link"),
               " --seconds ", LaunchConfiguration("seconds"), " --trajectory ", LaunchConfiguration("trajectory"),
               PythonExpression(["' --record ", LaunchConfiguration("record_dir"), "' if '", LaunchConfiguration("record"), "' == 'true' else ''"])]
    return LaunchDescription([
        DeclareLaunchArgument("link", default_value="", description="the real vehicle's cflib URI: radio://0/80/2M/E7E7E7E7E7 | usb://0 | udp://127.0.0.1:19850"),
        DeclareLaunchArgument("front", default_value="crazyswarm", description="with link: crazyswarm (ROS 2 topics) | fly (one flight)"),
        DeclareLaunchArgument("name", default_value="cf1", description="front:=crazyswarm: the vehicle's topic namespace"),
        DeclareLaunchArgument("trajectory", default_value="hover", description="front:=fly: hover | figure8"),
        DeclareLaunchArgument("seconds", default_value="10", description="front:=fly: seconds on the trajectory"),
        DeclareLaunchArgument("policy", default_value="", description="exported ONNX policy (generic launch only)"),
        DeclareLaunchArgument("sim", default_value="false", description="rehearse against the simulated robot"),
        DeclareLaunchArgument("record", default_value="true", description="record sensors, commands and safety events (MCAP)"),
        DeclareLaunchArgument("record_dir", default_value="recordings"),
        GroupAction(list(generic.entities), condition=UnlessCondition(real), scoped=False),
        ExecuteProcess(cmd=[[python, f"robot_learning.bridges.crazyflie_crtp_sim --port {SIM_PORT}"]], shell=True, output="screen",
                       emulate_tty=True, condition=IfCondition(PythonExpression([real, " and ", sim]))),
        ExecuteProcess(cmd=[front_cmd], shell=True, output="screen", emulate_tty=True, sigterm_timeout="5",
                       condition=IfCondition(PythonExpression([real, " and not ", fly]))),
        ExecuteProcess(cmd=[fly_cmd], shell=True, output="screen", emulate_tty=True, sigterm_timeout="5",
                       condition=IfCondition(PythonExpression([real, " and ", fly]))),
    ])
