"""Build a batched G1 (:class:`~robot_learning.sim.batch.BatchedG1`) by backend name.

``mujoco`` (the default): MuJoCo's C engine on CPU threads (:class:`~robot_learning.sim.mujoco_batch.G1Batch`).
``warp``: MuJoCo Warp (:mod:`robot_learning.sim.warp_batch`), on ``cpu`` (development) or ``cuda:N``.
``isaacgym``: NVIDIA Isaac Gym (:mod:`robot_learning.sim.isaacgym_batch`), CUDA only.
A backend that cannot run here is refused with one line that says why.
"""
from __future__ import annotations

import importlib.util

from robot_learning.core.config import ConfigError
from robot_learning.sim.batch import BACKENDS, BatchedG1, check_device
from robot_learning.sim.mujoco_batch import G1Batch, G1BatchConfig


def backend_available(backend: str) -> str | None:
    """None if ``backend`` can run on this machine, else the reason it cannot."""
    if backend not in BACKENDS:
        return f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}"
    module = {"mujoco": "mujoco", "warp": "mujoco_warp", "isaacgym": "isaacgym"}[backend]
    if importlib.util.find_spec(module) is None:
        hint = {"warp": "pip install mujoco-warp (the [gpu] extra)",
                "isaacgym": "Isaac Gym is not on PyPI: install NVIDIA's isaacgym/python package (Preview 4) on a CUDA machine "
                            "(Preview 4 supports Python 3.6-3.8 only)",
                "mujoco": "pip install mujoco"}[backend]
        return f"the {backend} backend needs the Python package {module!r}, which is not installed: {hint}"
    return None


def make_batch(config: G1BatchConfig, backend: str = "mujoco", device: str = "cpu") -> BatchedG1:
    """N G1 environments of ``config`` on ``backend`` and ``device``."""
    reason = backend_available(backend)
    if reason is not None:
        raise ConfigError(reason)
    check_device(backend, device)
    if backend == "mujoco":
        return G1Batch(config)
    if backend == "warp":
        from robot_learning.sim.warp_batch import G1WarpBatch

        return G1WarpBatch(config, device=device)
    from robot_learning.sim.isaacgym_batch import G1IsaacGymBatch

    return G1IsaacGymBatch(config, device=device)
