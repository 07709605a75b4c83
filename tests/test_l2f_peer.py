"""The benchmark's peer trainer (benchmarks/peers/l2f): RLtools' L2F environment and TD3 loop built from
the PyPI package rltools. The driver compiles, trains a few hundred steps and prints parseable JSON; its
evaluation runs; its initial attitudes reach the paper's 90 degrees; a missing rltools is reported as a
reason, not a crash; the exported actor's observation is mapped onto ours."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PEER_DIR = ROOT / "benchmarks" / "peers" / "l2f"


def _peer_module():
    spec = importlib.util.spec_from_file_location("l2f_peer", PEER_DIR / "peer.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


peer = _peer_module()


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> str:
    if shutil.which("g++") is None:
        pytest.skip("g++ is needed to build the peer trainer")
    if importlib.util.find_spec("rltools") is None:
        pytest.skip("the PyPI package rltools (rl_tools headers) is not installed")
    os.environ.setdefault("L2F_CXXFLAGS", "-O1")  # a fast compile; the benchmark builds with -O3 -march=native
    try:
        built = peer.build(tmp_path_factory.mktemp("l2f"))
    finally:
        os.environ.pop("L2F_CXXFLAGS", None)
    assert built["available"], built
    return built["binary"]


def run(binary: str, *args: str) -> dict:
    p = subprocess.run([binary, *args], capture_output=True, text=True, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"), timeout=120,
                       check=False)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_driver_compiles_runs_a_few_hundred_steps_and_prints_json(binary: str) -> None:
    out = run(binary, "--max-steps", "300", "--eval-every", "0", "--seed", "3")
    assert out["trainer"] == "rltools-l2f-td3"
    assert out["env_steps"] == 300 and out["seed"] == 3
    assert out["seconds_to_success"] is None and out["evaluations"] == []
    assert out["backend"] in ("openblas", "generic")
    assert out["config"]["critic_every"] == 10 and out["config"]["actor_every"] == 20


def test_driver_evaluates_with_our_criterion(binary: str) -> None:
    out = run(binary, "--max-steps", "2000", "--eval-every", "1000", "--first-eval", "1000", "--eval-episodes", "16")
    assert [e["step"] for e in out["evaluations"]] == [1000, 2000]
    for e in out["evaluations"]:
        assert 0.0 <= e["success_rate"] <= 1.0 and 0.0 <= e["termination_rate"] <= 1.0
    assert out["config"]["success_radius_m"] == 0.1 and out["config"]["success_window_steps"] == 100


def test_initial_states_span_the_papers_distribution(binary: str) -> None:
    s = run(binary, "--sample-init", "20000")
    assert 85.0 < s["max_angle_deg"] <= 90.0  # rltools' own sampler stops at 1 rad (57 deg); the driver's reaches 90
    assert 0.19 < s["max_position_m"] <= 0.2
    assert 0.99 < s["max_linear_velocity"] <= 1.0 and 0.99 < s["max_angular_velocity"] <= 1.0
    assert 0.08 < s["level_fraction"] < 0.12


def test_bad_option_is_one_line(binary: str) -> None:
    p = subprocess.run([binary, "--max-steps", "many"], capture_output=True, text=True, check=False)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "--max-steps" in p.stderr


def test_build_without_rltools_reports_the_reason(tmp_path: Path) -> None:
    if shutil.which("g++") is None:
        pytest.skip("g++ is needed to reach the rltools check")
    r = peer.build(tmp_path, python=sys.executable + "-no-such-python")
    assert r["available"] is False and "rltools" in r["reason"]


def test_exported_actor_reads_our_observation(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    # one tanh layer that outputs 0.5 x the NEWEST action of L2F's history (its first block)
    weights = [[0.0] * 146 for _ in range(4)]
    for i in range(4):
        weights[i][18 + i] = 0.5
    (tmp_path / "a.json").write_text(json.dumps({"layers": [{"in": 146, "out": 4, "weights": weights, "biases": [0.0] * 4}]}))
    actor = peer.load_actor_json(tmp_path / "a.json")
    obs = torch.zeros(2, 146)
    history = torch.arange(128, dtype=torch.float32).reshape(32, 4) / 128  # ours: oldest first
    obs[:, 18:] = history.reshape(-1)
    expected = torch.tanh(0.5 * history[-1])
    assert torch.allclose(actor(obs), expected.expand(2, 4), atol=1e-6)


def test_driver_times_its_simulator(binary: str) -> None:
    s = run(binary, "--sim-steps", "50", "--sim-batch", "64")
    assert s["batch"] == 64 and s["steps"] == 50 and s["steps_per_second"] > 0


def test_peer_section_without_a_compiler_says_why_with_our_trainer_stubbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("bench_quadrotor", ROOT / "benchmarks" / "quadrotor.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setenv("CXX", "no-such-compiler")
    monkeypatch.setattr(bench, "_ours_to_success", lambda seed, seconds, episodes, out: {"seed": seed, "seconds_to_success": 10.0 + seed})
    ours_sim = {"steps_per_second": {"1": 700, "64": 40000}, "best_steps_per_second": 40000}
    out = bench.peer_section(2, 5.0, 4, tmp_path, ours_sim)
    assert out["peer"]["build"] == {"available": False, "reason": "no C++ compiler (no-such-compiler not found)"}
    assert out["ours"]["seconds_to_95pct_median"] == 10.5 and out["ratio_ours_over_peer"] is None
    assert out["simulator_vs_l2f"]["ours"] is ours_sim and "l2f" in out["simulator_vs_l2f"]
    json.dumps(out)  # serialisable as it stands


def test_driver_rewards_are_the_papers(binary: str) -> None:
    p = subprocess.run([binary, "--reward-probe"], capture_output=True, text=True, check=True)
    level, offset, full, outside = json.loads(p.stdout)
    # r = 2 - 0.5 (5 |p|^2 + 5 (1 - q_w^2) + 0.01 |v|^2 + 0.01 |a - 0.334|^2), 0 on termination (|p_i| > 0.6 m)
    assert level["reward"] == pytest.approx(2.0, abs=1e-6)
    assert offset["reward"] == pytest.approx(2 - 0.5 * 5 * 0.3**2, abs=1e-5)
    assert full["reward"] == pytest.approx(2 - 0.5 * 0.01 * 4 * (1 - 0.334) ** 2, abs=1e-5)
    assert outside["terminated"] and outside["reward"] == 0.0
