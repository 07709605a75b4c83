"""`ros2 launch robot_learning_deploy g1_motion_tracking.launch.py policy:=/path/to/policy.onnx [sim:=true] [record:=false] [autostart:=true]`
`ros2 launch robot_learning_deploy g1_motion_tracking.launch.py policy:=... transport:=unitree iface:=enp3s0 [sim:=true]`  (the real G1)

The g1 with the 'g1_motion_tracking' deployment profile (config/g1_motion_tracking.yaml): the policy node, the recorder,
and with sim:=true the simulated robot bridge publishing the same topics as the hardware.
With transport:=unitree: the real G1 on its low-level protocol (robot_learning_deploy/unitree_launch.py,
docs/bringup/g1.md); with sim:=true as well, the simulated G1 speaking that protocol on loopback.
"""
from robot_learning_deploy.launch_common import make_launch
from robot_learning_deploy.unitree_launch import with_unitree_variant


def generate_launch_description():  # noqa: ANN201 (launch API)
    return with_unitree_variant(make_launch("g1_motion_tracking", "g1", bridge_args={}), "motion_tracking")
