"""The paper's own trainer and simulator as peers of ours, measured on this machine in the same run.

- :func:`build` compiles ``l2f_td3.cpp`` (RLtools' L2F environment and TD3 loop, headers from the PyPI
  package ``rltools``) with ``build.sh``; :func:`train_peer` runs it for one seed and returns its JSON
  (wall-clock to >= 95 % hover success, judged in its own simulator by our criterion);
- :func:`cross_evaluate` flies the peer's final actor in *our* simulator with our evaluator, as a check
  that the two simulators and criteria agree;
- :func:`l2f_sim_throughput` steps the PyPI ``l2f`` simulator (the C++ L2F simulator's Python binding)
  in batches, in a subprocess (its OpenMP thread count is fixed before import).

Nothing here raises when the peer cannot run: the returned dicts say ``"available": false`` and why.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
BUILD_SCRIPT = HERE / "build.sh"
BUILD_EXIT_REASONS = {3: "no C++ compiler", 4: "the PyPI package rltools (the rl_tools headers) is not installed"}


def build(out_dir: Path, python: str | None = None, blas: str | None = None, timeout: float = 900.0) -> dict[str, Any]:
    """Compile the peer trainer; ``{"available": True, "binary": ..., "build_seconds": ...}`` or the reason it cannot."""
    if shutil.which(os.environ.get("CXX", "g++")) is None:
        return {"available": False, "reason": f"no C++ compiler ({os.environ.get('CXX', 'g++')} not found)"}
    env = dict(os.environ, PYTHON=python or sys.executable)
    if blas:
        env["L2F_BLAS"] = blas
    t = time.perf_counter()
    try:
        p = subprocess.run(["bash", str(BUILD_SCRIPT), str(out_dir)], capture_output=True, text=True, env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"available": False, "reason": f"the build took longer than {timeout:.0f} s"}
    if p.returncode != 0:
        reason = BUILD_EXIT_REASONS.get(p.returncode, "the build failed")
        tail = (p.stderr.strip().splitlines() or [""])[-1][:300]
        return {"available": False, "reason": f"{reason}: {tail}" if tail else reason}
    binary = p.stdout.strip().splitlines()[-1]
    return {"available": True, "binary": binary, "build_seconds": round(time.perf_counter() - t, 1),
            "toolchain": (p.stderr.strip().splitlines() or [""])[-1]}


def train_peer(binary: str, seed: int, max_steps: int = 3_000_000, max_seconds: float = 900.0, eval_every: int = 10_000,
               episodes: int = 256, export: Path | None = None, nice: int = 0, timeout: float | None = None) -> dict[str, Any]:
    """One training run of the peer; its JSON (``seconds_to_success`` is null when it never reached the target)."""
    cmd = [binary, "--seed", str(seed), "--max-steps", str(max_steps), "--max-seconds", str(max_seconds),
           "--eval-every", str(eval_every), "--eval-episodes", str(episodes)]
    if export is not None:
        cmd += ["--export", str(export)]
    if nice:
        cmd = ["nice", "-n", str(nice)] + cmd
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")  # one core, as the paper's trainer
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout or max_seconds * 3 + 600, check=False)
    if p.returncode != 0:
        return {"ok": False, "seed": seed, "reason": f"exit {p.returncode}: {p.stderr.strip()[-300:]}"}
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["ok"] = True
    out.update(thresholds(out["evaluations"]))
    out["process_seconds"] = round(time.perf_counter() - t, 2)
    return out


def load_actor_json(path: Path) -> Any:
    """The peer's exported actor as a torch module mapping OUR actor observation to an action.

    L2F's observation equals ours except that its action history is newest first (ours oldest first)."""
    import torch

    spec = json.loads(Path(path).read_text())
    layers = []
    for i, layer in enumerate(spec["layers"]):
        lin = torch.nn.Linear(layer["in"], layer["out"])
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(layer["weights"], dtype=torch.float32))
            lin.bias.copy_(torch.tensor(layer["biases"], dtype=torch.float32))
        layers += [lin, torch.nn.Tanh()]
    net = torch.nn.Sequential(*layers).eval()

    class PeerActor(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            head, history = obs[:, :18], obs[:, 18:]
            history = history.reshape(obs.shape[0], -1, 4).flip(1).reshape(obs.shape[0], -1)
            return self.net(torch.cat([head, history], dim=1))

    return PeerActor()


def cross_evaluate(actor_json: Path, episodes: int = 256, seed: int = 12345) -> dict[str, Any]:
    """The peer's final actor flown in our simulator by our evaluator (robot_learning/tasks/quadrotor/evaluate.py)."""
    import torch

    from robot_learning.robots.crazyflie import DEFAULT_PARAMS
    from robot_learning.tasks.quadrotor.config import EvalConfig, QuadrotorEnvConfig
    from robot_learning.tasks.quadrotor.evaluate import evaluate_torch

    actor = load_actor_json(actor_json)
    with torch.inference_mode():
        r = evaluate_torch(actor, QuadrotorEnvConfig(), DEFAULT_PARAMS, EvalConfig(episodes=episodes), episodes=episodes, seed=seed)
    return {k: r[k] for k in ("episodes", "success_rate", "termination_rate", "hover_error_m")}


_THROUGHPUT_CHILD = r"""
import json, sys, time
import numpy as np
import l2f
sizes, steps = json.loads(sys.argv[1]), int(sys.argv[2])
out = {}
for n in sizes:
    vector = l2f.vector_selector[n] if hasattr(l2f, "vector_selector") else getattr(l2f, f"vector{n}")
    device, rng = l2f.Device(), vector.VectorRng()
    env, params = vector.VectorEnvironment(), vector.VectorParameters()
    state, next_state = vector.VectorState(), vector.VectorState()
    vector.initialize_rng(device, rng, 0)
    vector.initialize_environment(device, env)
    vector.initial_parameters(device, env, params)
    vector.initial_state(device, env, params, state)
    action = np.zeros((n, 4), dtype=np.float32)
    for _ in range(5):
        vector.step(device, env, params, state, action, next_state, rng)
        state, next_state = next_state, state
    t = time.perf_counter()
    for _ in range(steps):
        vector.step(device, env, params, state, action, next_state, rng)
        state, next_state = next_state, state
    out[str(n)] = n * steps / (time.perf_counter() - t)
print(json.dumps(out))
"""


def l2f_sim_throughput(sizes: tuple[int, ...] = (1, 64, 1024, 4096), steps: int = 200, threads: int = 2,
                       python: str | None = None) -> dict[str, Any]:
    """Steps per second of the PyPI ``l2f`` simulator, batched (its vector API; OpenMP over the batch)."""
    exe = python or sys.executable
    probe = subprocess.run([exe, "-c", "import l2f, importlib.metadata as m; print(m.version('l2f'))"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return {"available": False, "reason": "the PyPI package l2f is not installed (pip install l2f; it compiles from source)"}
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    p = subprocess.run([exe, "-c", _THROUGHPUT_CHILD, json.dumps(list(sizes)), str(steps)], capture_output=True, text=True, env=env,
                       timeout=900, check=False)
    if p.returncode != 0:
        return {"available": False, "reason": f"l2f failed: {p.stderr.strip()[-300:]}"}
    sps = json.loads(p.stdout.strip().splitlines()[-1])
    return {"available": True, "version": probe.stdout.strip(), "threads": threads,
            "steps_per_second": {k: round(v) for k, v in sps.items()}, "best_steps_per_second": round(max(sps.values()))}


def cpp_sim_throughput(binary: str, sizes: tuple[int, ...] = (1, 64, 1024, 4096), vehicle_steps: int = 2_000_000) -> dict[str, Any]:
    """The same L2F simulator called directly from C++ (the peer binary, paper configuration, one thread)."""
    out = {}
    for n in sizes:
        steps = max(20, vehicle_steps // n)
        p = subprocess.run([binary, "--sim-steps", str(steps), "--sim-batch", str(n)], capture_output=True, text=True, timeout=600, check=False)
        if p.returncode != 0:
            return {"available": False, "reason": f"exit {p.returncode}: {p.stderr.strip()[-300:]}"}
        out[str(n)] = json.loads(p.stdout.strip().splitlines()[-1])["steps_per_second"]
    return {"available": True, "threads": 1, "steps_per_second": {k: round(v) for k, v in out.items()},
            "best_steps_per_second": round(max(out.values()))}


def thresholds(curve: list[dict[str, Any]], levels: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95)) -> dict[str, Any]:
    """From a learning curve (rows with ``train_seconds`` and ``success_rate``): the training seconds at
    which each success level was first reached (None if never), and the best rate."""
    out: dict[str, Any] = {"best_success_rate": max((float(r["success_rate"]) for r in curve), default=0.0)}
    for level in levels:
        hit = next((r for r in curve if float(r["success_rate"]) >= level), None)
        out[f"seconds_to_{round(level * 100)}pct"] = None if hit is None else round(float(hit["train_seconds"]), 2)
    return out


def threshold_medians(rows: list[dict[str, Any]], levels: tuple[int, ...] = (50, 80, 90, 95)) -> dict[str, Any]:
    """Per success level, the median over seeds of the seconds to reach it (a seed that never did counts as
    infinitely slow), and the best rate's median."""
    out: dict[str, Any] = {f"seconds_to_{lv}pct_median": median_or_none([r.get(f"seconds_to_{lv}pct") for r in rows]) for lv in levels}
    rates = sorted(float(r.get("best_success_rate") or 0.0) for r in rows)
    out["best_success_rate_median"] = statistics.median(rates) if rates else None
    return out


def median_or_none(values: list[float | None]) -> float | None:
    """Median over seeds, counting a seed that never succeeded as infinitely slow (None if most never did)."""
    xs = sorted(float("inf") if v is None else float(v) for v in values)
    if not xs:
        return None
    m = statistics.median(xs)
    return None if m == float("inf") else round(m, 2)
