"""robot_learning: train in simulation, export to ONNX, check in a second engine, run on the robot."""
import os as _os

# Offscreen rendering (HIL-SERL's image observations, get-up GIFs) needs a headless OpenGL platform,
# and mujoco fixes its platform when it is first imported; EGL works with and without a GPU. A value
# the user has set (e.g. MUJOCO_GL=glfw on a desktop) is kept.
_os.environ.setdefault("MUJOCO_GL", "egl")
