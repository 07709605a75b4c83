#!/bin/bash
# Sources ROS 2 and the robot_learning_deploy overlay, then runs the given command (a launch file by default).
set -e
source /opt/ros/jazzy/setup.bash
source /opt/ws/install/setup.bash
exec "$@"
