"""No Docker engine runs here: check that the images can be built from this repository (every path
a Dockerfile copies exists, the compose file points at real Dockerfiles and commands) and that the
README says how to build and run them."""
from __future__ import annotations

import importlib.metadata
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


def test_train_image_has_mujoco_warp_and_documents_the_cuda_torch_index() -> None:
    text = (DOCKER / "train.Dockerfile").read_text()
    pin = re.search(r"^ARG MUJOCO_WARP_VERSION=(\S+)$", text, re.MULTILINE)
    assert pin and 'pip install --no-cache-dir "mujoco-warp==${MUJOCO_WARP_VERSION}"' in text
    try:  # the image pins the MuJoCo Warp that the warp backend is tested with here
        installed = importlib.metadata.version("mujoco-warp")
    except importlib.metadata.PackageNotFoundError:
        installed = pin.group(1)
    assert installed == pin.group(1), f"docker/train.Dockerfile pins mujoco-warp {pin.group(1)}, this environment has {installed}"
    # the CUDA build: a cuXYZ wheel index for TORCH_INDEX, and the GPU run documented with torchrun and the warp backend
    assert re.search(r"--build-arg TORCH_INDEX=https://download\.pytorch\.org/whl/cu\d+ ", text)
    assert "--gpus all" in text and "--entrypoint torchrun" in text and "--backend warp --device cuda" in text
    assert "mypy.ini" in copy_sources(DOCKER / "train.Dockerfile")  # make typecheck runs in the image


def test_compose_training_service_runs_torchrun_over_the_gpus_on_the_warp_backend() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    train = compose["services"]["train"]
    # only with --profile train: the rehearsal's plain `up` does not start a GPU job
    assert train["profiles"] == ["train"]
    assert all("profiles" not in svc for name, svc in compose["services"].items() if name != "train")
    assert train["build"]["dockerfile"] == "docker/train.Dockerfile"
    assert re.fullmatch(r"\$\{TORCH_INDEX:-https://download\.pytorch\.org/whl/cu\d+\}", train["build"]["args"]["TORCH_INDEX"])
    assert train["entrypoint"] == ["torchrun"]
    cmd = train["command"]
    assert cmd[0] == "--nproc-per-node" and re.fullmatch(r"\$\{NPROC:-\d+\}", cmd[1])
    assert cmd[2:6] == ["-m", "robot_learning", "train", "getup"]
    flags = dict(zip(cmd[6::2], cmd[7::2]))
    assert flags["--backend"] == "warp" and flags["--device"] == "cuda"
    config = re.fullmatch(r"\$\{CONFIG:-(.+)\}", flags["--config"])
    assert config and (ROOT / config.group(1)).is_file(), flags["--config"]
    task = (ROOT / "robot_learning" / "tasks" / "getup" / "task.py").read_text()
    assert 'Option("--backend"' in task and 'Option("--device"' in task
    gpus = train["deploy"]["resources"]["reservations"]["devices"]
    assert gpus == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]
    assert train["ipc"] == "host" and "../runs:/work/runs" in train["volumes"]
