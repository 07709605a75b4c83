"""`ros2 launch robot_learning_deploy g1_motion_tracking.launch.py policy:=/path/to/policy.onnx [sim:=true] [record:=false] [autostart:=true]`

The g1 with the 'g1_motion_tracking' deployment profile (config/g1_motion_tracking.yaml): the policy node, the recorder,
and with sim:=true the simulated robot bridge publishing the same topics as the hardware.
"""
from robot_learning_deploy.launch_common import make_launch


def generate_launch_description():  # noqa: ANN201 (launch API)
    return make_launch("g1_motion_tracking", "g1", bridge_args={})
