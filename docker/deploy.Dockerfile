# The robot's image: ROS 2 Jazzy, Cyclone DDS as the RMW, the on-robot runtime (numpy + onnxruntime,
# no torch, no simulator: the [deploy] extra) and the ROS 2 package robot_learning_deploy built with colcon.
# For rehearsals with the simulated robot bridges (sim:=true, docker/compose.yaml) build it with the
# [sim] extra too: --build-arg EXTRAS=deploy,sim.
#
#   docker build -f docker/deploy.Dockerfile -t robot-learning:deploy .
#   docker build -f docker/deploy.Dockerfile --build-arg EXTRAS=deploy,sim -t robot-learning:rehearsal .
#   docker run --rm -it --network host -v $PWD/recordings:/recordings robot-learning:deploy \
#       ros2 launch robot_learning_deploy g1_getup.launch.py policy:=/opt/robot_learning/assets/policies/g1_hold.onnx record_dir:=/recordings
#   docker run --rm robot-learning:deploy colcon test --packages-select robot_learning_deploy   # launch_testing
#
# Python: the image's Python 3.12 is "externally managed" (PEP 668) and refuses plain pip installs
# into the system. We install into a virtualenv created with --system-site-packages, so that the
# venv sees the apt-installed rclpy and message packages while pip owns everything else; the venv's
# bin comes first on PATH, so colcon builds the ROS 2 package with the same interpreter.
FROM ros:jazzy-ros-base

ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends \
        python3-venv python3-pip python3-colcon-common-extensions \
        ros-jazzy-rmw-cyclonedds-cpp ros-jazzy-launch-testing-ros ros-jazzy-diagnostic-msgs \
    && rm -rf /var/lib/apt/lists/*

# PYTHONPATH too: colcon may write the entry points' shebang with the system interpreter; this way
# both interpreters see the venv's packages (and, through setup.bash, rclpy).
ENV RMW_IMPLEMENTATION=rmw_cyclonedds_cpp \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/venv/lib/python3.12/site-packages

WORKDIR /opt/robot_learning
# the library first (its layer is cached while only the ROS package changes)
COPY setup.py README.md ./
COPY robot_learning ./robot_learning
# the extras to install: deploy (the robot), or deploy,sim (a rehearsal with the simulated robot bridges)
ARG EXTRAS=deploy
RUN python3 -m venv --system-site-packages /opt/venv \
 && pip install --no-cache-dir ".[${EXTRAS}]" \
 && python -c "import robot_learning.runtime.node, onnxruntime, cyclonedds" \
 && ! python -c "import torch" 2>/dev/null \
 && case ",${EXTRAS}," in \
        *,sim,*) python -c "import mujoco, pybullet" ;; \
        *) ! python -c "import mujoco" 2>/dev/null && ! python -c "import pybullet" 2>/dev/null ;; \
    esac

COPY assets ./assets
COPY deploy /opt/ws/src/robot_learning_deploy
RUN . /opt/ros/jazzy/setup.sh \
 && cd /opt/ws \
 && colcon build --packages-select robot_learning_deploy \
 && rm -rf build log

COPY docker/entrypoint.sh /entrypoint.sh
WORKDIR /opt/ws
ENTRYPOINT ["/entrypoint.sh"]
CMD ["ros2", "launch", "robot_learning_deploy", "crazyflie.launch.py", "sim:=false", "autostart:=true", \
     "policy:=/opt/robot_learning/assets/policies/crazyflie_hover.onnx"]
