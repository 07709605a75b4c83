"""No Docker engine runs here: check that the images can be built from this repository (every path
a Dockerfile copies exists, the compose file points at real Dockerfiles and commands) and that the
README says how to build and run them."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"


def copy_sources(dockerfile: Path) -> list[str]:
    sources = []
    for line in dockerfile.read_text().replace("\\\n", " ").splitlines():
        parts = shlex.split(line, comments=True) if line.strip() else []
        if parts and parts[0].upper() in ("COPY", "ADD"):
            args = [p for p in parts[1:] if not p.startswith("--")]
            sources += args[:-1]
    return sources


def test_every_path_the_dockerfiles_copy_exists() -> None:
    files = sorted(DOCKER.glob("*.Dockerfile"))
    assert {f.name for f in files} >= {"deploy.Dockerfile", "train.Dockerfile"}
    for f in files:
        sources = copy_sources(f)
        assert sources, f"{f.name} copies nothing"
        for src in sources:
            assert (ROOT / src).exists(), f"{f.name}: COPY source '{src}' does not exist (the build context is the repository root)"


def test_deploy_image_is_jazzy_cyclone_and_torch_free() -> None:
    text = (DOCKER / "deploy.Dockerfile").read_text()
    assert re.search(r"^FROM ros:jazzy-ros-base", text, re.M)
    assert "rmw-cyclonedds-cpp" in text and "RMW_IMPLEMENTATION=rmw_cyclonedds_cpp" in text
    assert "colcon build" in text and "--system-site-packages" in text
    # the robot's extras by default ([deploy]: no simulator); the image checks that torch and the simulators are absent
    assert "ARG EXTRAS=deploy\n" in text and '".[${EXTRAS}]"' in text and "import torch" in text and "import mujoco" in text
    entry = DOCKER / "entrypoint.sh"
    assert entry.stat().st_mode & 0o111, "entrypoint.sh must be executable"
    assert "source /opt/ws/install/setup.bash" in entry.read_text()
    launch = re.search(r'"(\w+)\.launch\.py"', text)
    assert launch and (ROOT / "deploy" / "launch" / f"{launch.group(1)}.launch.py").is_file()


def test_train_image_is_cpu_by_default_with_a_cuda_build_argument() -> None:
    text = (DOCKER / "train.Dockerfile").read_text()
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu" in text
    assert 'torch==${TORCH_VERSION}' in text and "ARG TORCH_VERSION=2.13.0" in text


def test_compose_rehearsal_refers_to_real_files_and_commands() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert {"sim_bridge", "policy_node"} <= set(services)
    for name, svc in services.items():
        build = svc.get("build")
        if build:
            assert (DOCKER / build["context"] / build["dockerfile"]).is_file(), name
        cmd = svc["command"]
        if cmd[:2] == ["ros2", "launch"]:
            assert (ROOT / "deploy" / "launch" / cmd[3]).is_file(), cmd[3]
            policy = next(a.split(":=", 1)[1] for a in cmd if a.startswith("policy:="))
            assert (ROOT / policy.replace("/opt/robot_learning/", "")).is_file(), policy
        if cmd[:2] == ["ros2", "run"]:
            assert (ROOT / "deploy" / "robot_learning_deploy" / f"{cmd[3]}.py").is_file()


def test_readme_says_how_to_build_and_run_the_images() -> None:
    readme = (ROOT / "README.md").read_text()
    for needle in ("docker build -f docker/deploy.Dockerfile", "docker build -f docker/train.Dockerfile", "docker compose -f docker/compose.yaml up"):
        assert needle in readme, needle
