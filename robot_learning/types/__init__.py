"""The types every layer shares: robot state and the transport protocol, joint commands and limits,
the observation layout, the policy metadata contract, faults and robot modes.

numpy only: nothing of ``robot_learning`` above this package, no torch, no simulator, no
onnxruntime, so the robot descriptions, the simulators, the runtime and the tasks can all import it
(``tests/test_layers.py`` holds every layer to that).
"""
from robot_learning.types.observation import ObsLayout, ObsTerm
from robot_learning.types.policy import METADATA_VERSION, REQUIRED_KEYS, PolicyLoadError, PolicyMetadata, PolicyMetadataError
from robot_learning.types.robot import JointCommand, JointLimits, RobotState, SimulatedVehicle, Transport
from robot_learning.types.safety import Fault, RobotMode, Severity, Transition

__all__ = [
    "METADATA_VERSION", "REQUIRED_KEYS", "Fault", "JointCommand", "JointLimits", "ObsLayout", "ObsTerm", "PolicyLoadError",
    "PolicyMetadata", "PolicyMetadataError", "RobotMode", "RobotState", "Severity", "SimulatedVehicle", "Transition", "Transport",
]
