"""The Franka Panda behind one small interface (:class:`~robot_learning.hardware.panda.arm.PandaArm`):
:class:`~robot_learning.hardware.panda.franky_arm.FrankyArm` on the real arm through franky, and
:class:`~robot_learning.hardware.panda.sim_arm.SimulatedArm` on the HIL-SERL task's simulated arm;
:mod:`~robot_learning.hardware.panda.runner` steps the end-effector runtime through either."""
