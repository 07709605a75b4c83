"""Simulated robots behind the hardware's ROS 2 topics, for rehearsing a deployment on one machine.

A bridge steps a simulator (``robot_learning.sim``) and speaks the runtime's topics
(``robot_learning.runtime.ros2``), so it sits in a layer above both; the robot's install does not
need it.
"""
