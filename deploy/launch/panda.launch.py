"""`ros2 launch robot_learning_deploy panda.launch.py policy:=/path/to/policy.onnx [sim:=true] [record:=false] [autostart:=true]`

The panda with the 'panda' deployment profile (config/panda.yaml): the policy node, the recorder,
and with sim:=true the simulated robot bridge publishing the same topics as the hardware.
"""
from robot_learning_deploy.launch_common import make_launch


def generate_launch_description():  # noqa: ANN201 (launch API)
    return make_launch("panda", "panda", bridge_args={})
