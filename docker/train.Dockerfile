# Training image: the whole library with the training extras and MuJoCo Warp. CPU by default; a CUDA
# build of PyTorch by build argument (TORCH_INDEX: PyTorch's wheel index for one CUDA version, cuXYZ,
# matching the host's NVIDIA driver, that carries torch==TORCH_VERSION, e.g. .../whl/cu126):
#
#   docker build -f docker/train.Dockerfile -t robot-learning:train .
#   docker build -f docker/train.Dockerfile --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu126 -t robot-learning:train-cuda .
#   docker run --rm -v $PWD/runs:/work/runs robot-learning:train train quadrotor --out runs/quadrotor
#
# The GPU image runs with the NVIDIA container toolkit (`--gpus all`). MuJoCo Warp (warp-lang's wheel
# carries its CUDA kernels' runtime; only the driver comes from the host) steps the G1 on the GPU with
# `--backend warp --device cuda`. Data-parallel training over the GPUs of one machine: torchrun as the
# entry point, one process per GPU (each takes cuda:LOCAL_RANK), shared memory for NCCL:
#
#   docker run --rm --gpus all --ipc host -v $PWD/runs:/work/runs --entrypoint torchrun robot-learning:train-cuda \
#     --nproc-per-node 4 -m robot_learning train getup --config sim/configs/humanup_stage1.yaml --backend warp --device cuda --out runs/humanup_stage1
#
# or `docker compose -f docker/compose.yaml --profile train up train` (NPROC=4 for four GPUs). Across
# machines, the same command on each with --nnodes M --node-rank R --rdzv-backend c10d
# --rdzv-endpoint HOST:29500 and the container on the host network (--network host).
FROM python:3.11-slim

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN apt-get update && apt-get install -y --no-install-recommends gcc libgl1 libglib2.0-0 && rm -rf /var/lib/apt/lists/*
# torch first, pinned, from the chosen index: a bare "torch" from PyPI would pull a multi-GB CUDA build
RUN pip install --no-cache-dir "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}"

WORKDIR /work
COPY setup.py README.md Makefile pytest.ini mypy.ini ./
COPY robot_learning ./robot_learning
RUN pip install --no-cache-dir ".[train,deploy,sim,dev]"
# MuJoCo Warp (the warp backend), pinned to the version the warp backend is tested with
ARG MUJOCO_WARP_VERSION=4.0.0
RUN pip install --no-cache-dir "mujoco-warp==${MUJOCO_WARP_VERSION}"
COPY sim ./sim
COPY assets ./assets
COPY benchmarks ./benchmarks
COPY tests ./tests
ENTRYPOINT ["python", "-m", "robot_learning"]
CMD ["--help"]
