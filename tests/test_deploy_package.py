"""The ROS 2 package in deploy/, checked as far as a machine without ROS 2 allows.

Its entry points run here on the Cyclone DDS backend (rclpy is absent): the policy node and the
simulated robot bridge started exactly as the launch files start them (`--ros-args -p name:=value`),
in two processes, must drive the simulated Panda to its home pose. The launch files and the
launch_testing test compile, and the package metadata lists what the files use.
"""
from __future__ import annotations

import ast
import os
import py_compile
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def test_package_files_compile_and_metadata_is_consistent() -> None:
    for f in [*DEPLOY.glob("launch/*.launch.py"), *DEPLOY.glob("robot_learning_deploy/*.py"), *DEPLOY.glob("test/*.py"), DEPLOY / "setup.py"]:
        py_compile.compile(str(f), doraise=True)
    pkg = ET.parse(DEPLOY / "package.xml").getroot()
    assert pkg.findtext("name") == "robot_learning_deploy"
    assert pkg.find("export/build_type").text == "ament_python"
    deps = {e.text for e in pkg if e.tag.endswith("depend")}
    for needed in ("rclpy", "launch_ros", "sensor_msgs", "nav_msgs", "std_srvs", "diagnostic_msgs", "launch_testing"):
        assert needed in deps, needed
    assert (DEPLOY / "resource" / "robot_learning_deploy").is_file()
    setup = (DEPLOY / "setup.py").read_text()
    for exe in ("policy_node", "sim_bridge", "recorder"):
        assert f"{exe} = " in setup and (DEPLOY / "robot_learning_deploy" / f"{exe}.py").is_file()
    for profile in ("g1_getup", "g1_motion_tracking", "panda", "crazyflie"):
        assert (DEPLOY / "launch" / f"{profile}.launch.py").is_file()
        assert (DEPLOY / "config" / f"{profile}.yaml").is_file()
        tree = ast.parse((DEPLOY / "launch" / f"{profile}.launch.py").read_text())
        assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description" for n in tree.body)


def test_config_files_load_into_the_node_configuration() -> None:
    from robot_learning.runtime.profiles import PROFILES, load_node_config

    for profile in PROFILES:
        cfg = load_node_config(profile, DEPLOY / "config" / f"{profile}.yaml", {"policy": "p.onnx"})
        assert cfg.policy == "p.onnx" and cfg.robot == PROFILES[profile].robot


def test_config_files_hold_the_profiles_and_only_the_section_their_robot_reads(tmp_path: Path) -> None:
    import pytest
    import yaml

    from robot_learning.core.config import ConfigError
    from robot_learning.runtime.profiles import PROFILES, dump_profile, load_node_config

    for profile in PROFILES:  # the editable files are the profiles as they are now, not a stale copy
        data = yaml.safe_load((DEPLOY / "config" / f"{profile}.yaml").read_text())
        assert data == yaml.safe_load(dump_profile(profile)), f"deploy/config/{profile}.yaml differs from the profile: regenerate it"
    assert "controller" not in yaml.safe_load(dump_profile("crazyflie"))
    assert "quadrotor" not in yaml.safe_load(dump_profile("panda"))
    # the quadrotor's limits reach its controller; joint monitors given to a quadrotor are an error, not ignored
    f = tmp_path / "cf.yaml"
    f.write_text("quadrotor:\n  limits:\n    stale_timeout_s: 0.2\n")
    assert load_node_config("crazyflie", f).quadrotor.limits.stale_timeout_s == 0.2
    f.write_text("controller:\n  monitors: []\n")
    with pytest.raises(ConfigError, match="'controller' does not apply to robot 'crazyflie'.*'quadrotor'"):
        load_node_config("crazyflie", f)


def test_entry_points_drive_the_simulated_panda_over_dds_without_rclpy(tmp_path: Path) -> None:
    import yaml

    domain = 1 + (os.getpid() * 13) % 200
    # the shipped panda.yaml, with the staleness limit widened from 50 ms: the loaded CI machine has
    # stalled the bridge process for 200-300 ms (staleness itself is tested in test_deploy_dds.py)
    config = yaml.safe_load((DEPLOY / "config" / "panda.yaml").read_text())
    stale = [m for m in config["controller"]["monitors"] if m["type"] == "stale"]
    assert stale, "panda.yaml should configure a staleness monitor"
    stale[0]["timeouts"] = {k: 0.45 for k in stale[0]["timeouts"]}
    config_file = tmp_path / "panda.yaml"
    config_file.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": f"{DEPLOY}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    policy = ROOT / "assets" / "policies" / "panda_hold.onnx"
    bridge = subprocess.Popen([sys.executable, "-m", "robot_learning_deploy.sim_bridge", "--ros-args", "-p", "robot:=panda",
                               "-p", f"domain_id:={domain}", "-p", "seconds:=14"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = subprocess.run([sys.executable, "-m", "robot_learning_deploy.policy_node", "--ros-args", "-p", "profile:=panda",
                              "-p", f"config:={config_file}", "-p", f"policy:={policy}", "-p", "autostart:=true",
                              "-p", f"domain_id:={domain}", "-p", "seconds:=8"], cwd=ROOT, env={**env, "CYCLONEDDS_URI": _loopback()},
                             capture_output=True, text=True, timeout=60)
    finally:
        bridge.terminate()
        bridge.communicate(timeout=10)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log
    assert "SOFT_START->POLICY" in log, log
    assert "stopped in mode POLICY" in log, log


def _loopback() -> str:
    from robot_learning.runtime.ros2.dds import loopback_config_uri

    return loopback_config_uri()
