"""The cart-pole's deployment profile: the policy node's configuration on the robot
(``deploy --robot cartpole`` finds it through the task registry's ``RobotEntry``; ``--config FILE``
overrides it key by key). Its controller part is :data:`~robot_learning.tasks.cartpole.robot.CONTROLLER`,
the same pipeline `eval` runs."""
from __future__ import annotations

from robot_learning.runtime.node_config import NodeConfig
from robot_learning.tasks.cartpole.robot import CONTROLLER, NAME

PROFILE = NodeConfig(robot=NAME, use_imu=True, controller=CONTROLLER)
