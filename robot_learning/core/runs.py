"""Run directories: where a training run writes its config, logs, checkpoints, policy and report.

A run never overwrites an existing non-empty directory unless asked to (``--force``), so nothing a
user already has under runs/ is lost.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any


class RunDirError(FileExistsError):
    """The output directory exists and holds files; the message says how to proceed."""


def default_run_dir(module: str, root: str | Path = "runs") -> Path:
    return Path(root) / f"{module}-{time.strftime('%Y%m%d-%H%M%S')}"


def prepare_run_dir(path: str | Path, force: bool = False) -> Path:
    """Create ``path``; refuse a non-empty existing directory unless ``force``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"output path {path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not force:
        raise RunDirError(f"output directory {path} already exists and is not empty; choose another --out or pass --force to overwrite it")
    path.mkdir(parents=True, exist_ok=True)
    return path


def strict_json(data: Any) -> Any:
    """``data`` with NaN and infinities as None, so the output is standard JSON (no ``NaN`` tokens)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: strict_json(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [strict_json(v) for v in data]
    return data


def dumps(data: Any, indent: int | None = None) -> str:
    return json.dumps(strict_json(data), indent=indent, default=_default, allow_nan=False)


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically (a crash mid-write never leaves a truncated report), making its directory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(dumps(data, indent=2) + "\n")
    tmp.replace(path)


def _default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
