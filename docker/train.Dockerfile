# Training image: the whole library with the training extras. CPU by default; a CUDA build of
# PyTorch by build argument:
#
#   docker build -f docker/train.Dockerfile -t robot-learning:train .
#   docker build -f docker/train.Dockerfile --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu126 -t robot-learning:train-cuda .
#   docker run --rm -v $PWD/runs:/work/runs robot-learning:train train quadrotor --out runs/quadrotor
#
# (For the GPU image run with `--gpus all` and the NVIDIA container toolkit.)
FROM python:3.11-slim

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN apt-get update && apt-get install -y --no-install-recommends gcc libgl1 libglib2.0-0 && rm -rf /var/lib/apt/lists/*
# torch first, pinned, from the chosen index: a bare "torch" from PyPI would pull a multi-GB CUDA build
RUN pip install --no-cache-dir "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}"

WORKDIR /work
COPY setup.py README.md Makefile pytest.ini ./
COPY robot_learning ./robot_learning
RUN pip install --no-cache-dir ".[train,deploy,sim,dev]"
COPY sim ./sim
COPY assets ./assets
COPY benchmarks ./benchmarks
COPY tests ./tests
ENTRYPOINT ["python", "-m", "robot_learning"]
CMD ["--help"]
