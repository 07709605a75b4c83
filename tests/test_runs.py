"""The one run record: run directories are never overwritten, a failed run is marked failed and can be
rerun in place without --force (its files kept), and every report carries the versioned common fields."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from robot_learning.core.runs import COMMON_FIELDS, REPORT_SCHEMA, RunDirError, open_run, run_status


def test_a_failed_run_is_marked_and_can_be_rerun_without_force(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(ZeroDivisionError):
        with open_run(out, "demo", "train") as run:
            (run.path / "partial.txt").write_text("half of a run")
            1 / 0
    rec = json.loads((out / "run.json").read_text())
    assert rec["status"] == "failed" and "ZeroDivisionError" in rec["error"] and rec["task"] == "demo"
    assert run_status(out) == "failed"
    with open_run(out, "demo", "train") as run:  # no --force needed
        run.report({"score": 1.0}, {"details": [1, 2]}, config={"lr": 0.1})
    kept = [p for p in out.iterdir() if p.name.startswith("failed-")]
    assert len(kept) == 1 and (kept[0] / "partial.txt").read_text() == "half of a run"  # the failed attempt is kept, not lost
    assert run_status(out) == "completed"


def test_a_completed_run_is_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with open_run(out, "demo", "train") as run:
        run.report({"score": 1.0})
    with pytest.raises(RunDirError, match="holds a completed run"):
        with open_run(out, "demo", "train"):
            pass
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "mine.txt").write_text("a user's file")
    with pytest.raises(RunDirError, match="is not empty"):
        with open_run(tmp_path / "other", "demo", "train"):
            pass
    assert (tmp_path / "other" / "mine.txt").read_text() == "a user's file"


def test_a_run_whose_process_died_counts_as_failed(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code = ("import os, sys; from robot_learning.core.runs import open_run\n"
            f"with open_run({str(out)!r}, 'demo', 'train'):\n    os._exit(9)\n")  # killed mid-run: no chance to write 'failed'
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert json.loads((out / "run.json").read_text())["status"] == "running"
    assert run_status(out) == "failed"
    with open_run(out, "demo", "train") as run:
        run.report({})


def test_every_report_has_the_versioned_common_fields(tmp_path: Path) -> None:
    with open_run(tmp_path / "r", "demo", "eval") as run:
        with run.timed("work"):
            pass
        report = run.report({"success_rate": 0.5}, {"per_episode": [1, 0], "status": "not this one"}, config={"a": 1})
    on_disk = json.loads((tmp_path / "r" / "report.json").read_text())
    assert on_disk == json.loads(json.dumps(report))
    for key in COMMON_FIELDS:
        assert key in on_disk, key
    assert on_disk["schema"] == REPORT_SCHEMA and on_disk["status"] == "completed"  # a task's key cannot shadow a common one
    assert on_disk["figures"] == {"success_rate": 0.5} and on_disk["per_episode"] == [1, 0] and "work" in on_disk["timings_s"]
    assert on_disk["config"] == {"a": 1} and on_disk["machine"]["cpus"] >= 1


def test_asap_commands_never_write_into_a_users_directory(tmp_path: Path) -> None:
    from robot_learning.cli import main

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("keep me")
    assert main(["asap", "record", "--target-world", "kp065_mujoco", "--out", str(busy), "--sessions", "1", "--seconds", "1"]) == 2
    assert main(["asap", "fit-delta", "--logs", str(busy), "--out", str(busy)]) == 2
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]
