"""Keyframed motions for the G1 and the dense, grounded reference trajectories made from them.

Shared by the tasks that follow a reference (getting up, ASAP's motion tracking); below the tasks
so that no task imports another. ``keyframes`` reads the authored YAML files (numpy and yaml only);
``kinematics`` grounds poses with MuJoCo's forward kinematics; ``reference`` makes the dense
trajectory.
"""
