"""ament_python package of the deployment layer: `colcon build --packages-select robot_learning_deploy`."""
from glob import glob

from setuptools import setup

PACKAGE = "robot_learning_deploy"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[PACKAGE],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="robot_learning maintainers",
    maintainer_email="robot-learning@example.org",
    description="Policy node, simulated robot bridge and launch files for robot_learning policies.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            f"policy_node = {PACKAGE}.policy_node:main",
            f"sim_bridge = {PACKAGE}.sim_bridge:main",
            f"recorder = {PACKAGE}.recorder:main",
        ],
    },
)
