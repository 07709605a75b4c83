"""ROS 2 entry points of robot_learning: the policy node, the simulated robot bridge, the recorder.

Each runs on rclpy when it is installed, and otherwise on Cyclone DDS (same topics, types and
bytes on the wire), so the same launch description works on a robot and in a plain pip install.
"""
