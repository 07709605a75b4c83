"""Run directories and the one run record: where a command writes its config, logs, checkpoints,
policy and report, and how a run's state is kept.

A run never overwrites an existing non-empty directory unless asked to (``--force``), so nothing a
user already has under runs/ is lost. Every run directory holds ``run.json`` (task, command, status:
running / completed / failed, with the error of a failed run) from its first moment, and every
report is ``report.json`` with the versioned common fields of :data:`REPORT_SCHEMA` (task, command,
status, config, git commit, machine, figures, timings) beside the task's own details. A directory
whose run failed (or whose process died) is reused by the next run without ``--force``: the failed
attempt's files move into ``failed-<time>/`` inside it, so nothing is lost.
"""
from __future__ import annotations

import json
import math
import os
import platform
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPORT_SCHEMA = "robot_learning.report/1"
RUN_FILE = "run.json"
REPORT_FILE = "report.json"
#: the fields every report.json carries, whatever the task
COMMON_FIELDS = ("schema", "task", "command", "status", "run_dir", "argv", "git_commit", "machine", "started", "finished",
                 "wall_clock_s", "config", "figures", "timings_s")


class RunDirError(FileExistsError):
    """The output directory exists and holds files; the message says how to proceed."""


def default_run_dir(module: str, root: str | Path = "runs") -> Path:
    return Path(root) / f"{module}-{time.strftime('%Y%m%d-%H%M%S')}"


def prepare_run_dir(path: str | Path, force: bool = False) -> Path:
    """Create ``path``; refuse a non-empty existing directory unless ``force`` or its run failed (see
    :func:`run_status`): then the failed attempt's files move into ``failed-<time>/``."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"output path {path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not force:
        status = run_status(path)
        if status != "failed":
            what = f"holds a {status} run" if status else "is not empty"
            raise RunDirError(f"output directory {path} already exists and {what}; choose another --out or pass --force to overwrite it")
        keep = path / time.strftime("failed-%Y%m%d-%H%M%S")
        keep.mkdir()
        for entry in list(path.iterdir()):
            if entry != keep and not entry.name.startswith("failed-"):
                entry.rename(keep / entry.name)
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_status(path: str | Path) -> str | None:
    """``completed``, ``failed`` or ``running`` from the directory's run.json (None: no record). A
    ``running`` run whose process is gone (same host, pid not alive) counts as failed."""
    f = Path(path) / RUN_FILE
    try:
        rec = json.loads(f.read_text())
    except (OSError, ValueError):
        return None
    status = rec.get("status") if isinstance(rec, dict) else None
    if status == "running" and rec.get("host") == socket.gethostname() and not _alive(int(rec.get("pid", -1))):
        return "failed"
    return status if isinstance(status, str) else None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def git_commit(root: str | Path | None = None) -> str | None:
    """The checkout's commit (with ``-dirty`` when it has uncommitted changes), or None outside git."""
    root = Path(root) if root else Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    out: dict[str, Any] = {"host": socket.gethostname(), "python": platform.python_version(), "platform": platform.platform(),
                           "cpus": os.cpu_count()}
    for mod in ("torch", "mujoco", "onnxruntime"):
        m = sys.modules.get(mod)
        if m is not None:
            out[mod] = getattr(m, "__version__", None)
    return out


@dataclass
class Run:
    """A run in progress: its directory and what its record says. Use :func:`open_run`."""

    path: Path
    task: str
    command: str
    config: Any = None
    started: float = field(default_factory=time.time)
    timings_s: dict[str, float] = field(default_factory=dict)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @contextmanager
    def timed(self, key: str) -> Iterator[None]:
        t0 = time.time()
        try:
            yield
        finally:
            self.timings_s[key] = round(time.time() - t0, 2)

    def _record(self, status: str, **extra: Any) -> dict[str, Any]:
        return {"schema": REPORT_SCHEMA, "task": self.task, "command": self.command, "status": status, "run_dir": str(self.path),
                "argv": list(sys.argv), "pid": os.getpid(), "host": socket.gethostname(),
                "started": _iso(self.started), **extra}

    def report(self, figures: Mapping[str, Any], details: Mapping[str, Any] | None = None, config: Any = None) -> dict[str, Any]:
        """Write ``report.json`` (the common fields, then the task's ``details``) and mark the run completed."""
        from robot_learning.core.config import to_dict

        cfg = config if config is not None else self.config
        now = time.time()
        common = {"schema": REPORT_SCHEMA, "task": self.task, "command": self.command, "status": "completed", "run_dir": str(self.path),
                  "argv": list(sys.argv), "git_commit": git_commit(), "machine": machine(), "started": _iso(self.started),
                  "finished": _iso(now), "wall_clock_s": round(now - self.started, 2),
                  "config": to_dict(cfg) if cfg is not None and not isinstance(cfg, Mapping) else cfg,
                  "figures": dict(figures), "timings_s": dict(self.timings_s)}
        report = {**common, **{k: v for k, v in (details or {}).items() if k not in common}}
        write_json(self.path / REPORT_FILE, report)
        write_json(self.path / RUN_FILE, self._record("completed", finished=_iso(now), wall_clock_s=common["wall_clock_s"]))
        return report

    def fail(self, error: BaseException) -> None:
        text = " ".join(str(error).split()) or type(error).__name__
        last = traceback.extract_tb(error.__traceback__)[-1:] if error.__traceback__ else []
        where = f"{last[0].filename}:{last[0].lineno}" if last else None
        write_json(self.path / RUN_FILE, self._record("failed", finished=_iso(time.time()), error=f"{type(error).__name__}: {text}",
                                                      where=where))


@contextmanager
def open_run(out: str | Path | None, task: str, command: str = "train", force: bool = False, config: Any = None) -> Iterator[Run]:
    """Create the run directory (``out``, else ``runs/<task>-<time>``) and its record; if the body
    raises (or is interrupted), the record says ``failed`` with the error, and the next run may reuse
    the directory without ``--force``."""
    path = prepare_run_dir(out or default_run_dir(task), force=force)
    run = Run(path, task, command, config)
    write_json(path / RUN_FILE, run._record("running"))
    try:
        yield run
    except BaseException as e:
        run.fail(e)
        raise
    if run_status(path) == "running":  # the body wrote no report: the run still completed
        write_json(path / RUN_FILE, run._record("completed", finished=_iso(time.time())))


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t))


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
