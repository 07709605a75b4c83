"""`ros2 launch robot_learning_deploy crazyflie.launch.py policy:=/path/to/policy.onnx [sim:=true] [record:=false] [autostart:=true]`

The crazyflie with the 'crazyflie' deployment profile (config/crazyflie.yaml): the policy node, the recorder,
and with sim:=true the simulated robot bridge publishing the same topics as the hardware.
"""
from robot_learning_deploy.launch_common import make_launch


def generate_launch_description():  # noqa: ANN201 (launch API)
    return make_launch("crazyflie", "crazyflie", bridge_args={})
