"""ONNX export with the metadata contract and a parity check on every export.

The exported graph takes ``obs`` (batch, obs_size) float32 and returns ``action`` (batch,
action_size). After writing, the file is loaded back through ONNX Runtime and compared with the
torch module on random and given observations; a difference above ``atol`` is an error.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from robot_learning.runtime.policy import PolicyRunner
from robot_learning.types import PolicyMetadata


class ParityError(RuntimeError):
    """ONNX Runtime and torch disagree on the exported policy."""


@dataclass
class ExportReport:
    path: str
    max_abs_diff: float
    samples: int
    opset: int


def export_policy(module: torch.nn.Module, metadata: PolicyMetadata, path: str | Path, *, opset: int = 17,
                  parity_obs: np.ndarray | None = None, samples: int = 512, atol: float = 1e-5, seed: int = 0) -> ExportReport:
    """Write ``module`` to ``path`` as ONNX with ``metadata``; check parity; return the report.

    Uses the TorchScript-based exporter (``dynamo=False``): it emits plain Gemm/Tanh graphs that the
    C export reads, and it needs no extra packages.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    obs_size = metadata.observation_layout.size
    module = module.eval()
    tmp = path.with_suffix(".tmp.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(1, obs_size),), str(tmp), dynamo=False, opset_version=opset,
                          input_names=["obs"], output_names=["action"],
                          dynamic_axes={"obs": {0: "batch"}, "action": {0: "batch"}})
    model = onnx.load(str(tmp))
    for key, value in metadata.to_props().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "robot_learning"
    onnx.checker.check_model(model)
    onnx.save(model, str(tmp))
    diff, n = check_parity(module, tmp, parity_obs, samples, seed)
    if not diff <= atol:
        tmp.unlink(missing_ok=True)
        raise ParityError(f"ONNX Runtime and torch disagree on {path.name}: max abs diff {diff:.3g} > {atol:g} over {n} observations")
    tmp.replace(path)
    return ExportReport(str(path), diff, n, opset)


def check_parity(module: torch.nn.Module, onnx_path: str | Path, obs: np.ndarray | None = None, samples: int = 512,
                 seed: int = 0) -> tuple[float, int]:
    """Max abs difference between torch and ONNX Runtime over random (and given) observations."""
    runner = PolicyRunner(onnx_path)
    rng = np.random.default_rng(seed)
    batch = rng.normal(size=(samples, runner.obs_size)).astype(np.float32)
    if obs is not None:
        batch = np.concatenate([batch, np.asarray(obs, dtype=np.float32).reshape(-1, runner.obs_size)])
    with torch.no_grad():
        ref = module(torch.from_numpy(batch)).numpy()
    out = runner(batch)
    single = np.stack([runner(o) for o in batch[:8]])  # the robot's path: one observation at a time
    diff = max(float(np.abs(out - ref).max()), float(np.abs(single - ref[:8]).max()))
    return diff, len(batch)
