"""`ros2 launch robot_learning_deploy crazyflie.launch.py policy:=/path/to/policy.onnx [sim:=true] [record:=false] [autostart:=true]`
`ros2 launch robot_learning_deploy crazyflie.launch.py link:=radio://0/80/2M/E7E7E7E7E7 [front:=crazyswarm|fly] [name:=cf1]`  (the real Crazyflie)
`ros2 launch robot_learning_deploy crazyflie.launch.py link:=udp://127.0.0.1:19850 sim:=true front:=fly trajectory:=figure8`  (its rehearsal)

The crazyflie with the 'crazyflie' deployment profile (config/crazyflie.yaml): the policy node, the recorder,
and with sim:=true the simulated robot bridge publishing the same topics as the hardware.
With link:=<URI>: the real Crazyflie, whose policy runs on board (firmware/crazyflie/): the
crazyswarm2-shaped ROS 2 front, or one flight (robot_learning_deploy/crazyflie_launch.py,
docs/bringup/crazyflie.md); with sim:=true as well, the simulated Crazyflie answering CRTP on loopback.
"""
from robot_learning_deploy.crazyflie_launch import with_crazyflie_variant
from robot_learning_deploy.launch_common import make_launch


def generate_launch_description():
    return with_crazyflie_variant(make_launch("crazyflie", "crazyflie", bridge_args={}))
