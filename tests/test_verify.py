"""`make verify` (benchmarks/verify.py): one line per claim in the documented format, exit 1 when a
claim fails (an error included), 2 for a bad flag. The cheap claim runs for real here; the long ones
run under `make verify`."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^(PASS|FAIL) ([a-z0-9_]+): .+ \(target .+\)$")


def verify(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "benchmarks/verify.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_a_claim_prints_one_line_with_its_figure(tmp_path: Path) -> None:
    r = verify("--only", "figure8", "--out", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and LINE.match(lines[0]) and lines[0].startswith("PASS figure8: RMSE "), lines
    assert json.loads((tmp_path / "verify.json").read_text())["figure8"]["passed"] is True


def test_a_claim_that_cannot_be_measured_fails_in_one_line(tmp_path: Path) -> None:
    r = verify("--only", "figure8,asap_beats_baselines", "--asap-world", "no_such_world", "--out", str(tmp_path))
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and all(LINE.match(x) for x in lines), lines
    assert lines[0].startswith("PASS figure8") and lines[1].startswith("FAIL asap_beats_baselines: error: ") and "no_such_world" in lines[1]


def test_bad_flags_exit_2() -> None:
    for args in (["--only", "levitation"], ["--hover-seconds", "-1"], ["--ppo-steps", "0"], ["--delta-seconds", "nan"]):
        r = verify(*args)
        assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr, (args, r.stderr)


def test_every_claim_is_listed_and_documented() -> None:
    r = verify("--list")
    names = [line.split(":")[0] for line in r.stdout.splitlines()]
    assert r.returncode == 0 and {"hover", "ppo_tracking", "delta_known_answer", "asap_beats_baselines"} <= set(names)
    readme, makefile = (ROOT / "README.md").read_text(), (ROOT / "Makefile").read_text()
    assert "make verify" in readme and "benchmarks/verify.py" in makefile
    for name in names:
        assert f"`{name}`" in readme, name


def test_asap_verdict_needs_the_lowest_mpjpe_and_a_completed_routine() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from verify import asap_verdict

    def closed(asap: float, completed: bool = True) -> dict:
        mm = {"pretrained": 14.3, "sysid": 13.4, "dr": 18.6, "delta_dynamics": 12.8, "asap": asap}
        return {k: {"overall": {"mpjpe_mm": v}, "completed": completed if k == "asap" else True} for k, v in mm.items()}

    assert asap_verdict(closed(10.8), "w").passed
    assert not asap_verdict(closed(13.0), "w").passed  # DeltaDynamics is lower
    stopped = asap_verdict(closed(10.8, completed=False), "w")
    assert not stopped.passed and "stopped by the runtime" in stopped.figure
