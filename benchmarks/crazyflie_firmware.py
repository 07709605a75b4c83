"""The Crazyflie on-board controller (firmware/crazyflie): its figures in one JSON.

    python benchmarks/crazyflie_firmware.py [--episodes 100] [--seed 0] [--out benchmarks/results/crazyflie_firmware.json]

- build: `make -C firmware/crazyflie host` (and `arm` when arm-none-eabi-gcc is installed: flash,
  RAM, stack along the policy tick, instructions of one policy step in a Cortex-M4 emulator);
- parity: the host build's network against ONNX Runtime on 1,000 random observations;
- dead-man switch: when the motors go off after the ground's last trigger;
- software in the loop: the host-built controller at 1 kHz stabiliser ticks flying the PyBullet
  Crazyflie, beside the runtime's in-process rehearsal at 100 Hz, on the same hover episodes (the
  sim-to-sim gate's initial states and disturbances).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robot_learning.core.runs import write_json  # noqa: E402
from robot_learning.export.crazyflie_firmware import HostController, random_observations  # noqa: E402
from robot_learning.runtime.policy import PolicyRunner  # noqa: E402
from robot_learning.tasks.quadrotor.config import QuadrotorTrainConfig  # noqa: E402
from robot_learning.tasks.quadrotor.firmware_sil import compare, dead_man_cut  # noqa: E402

FIRMWARE = ROOT / "firmware" / "crazyflie"
POLICY = ROOT / "assets" / "policies" / "crazyflie_hover.onnx"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--policy", type=Path, default=POLICY)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    build = Path(tempfile.mkdtemp(prefix="rlctl-bench-"))
    make = ["make", "-s", "-C", str(FIRMWARE), f"PYTHON={sys.executable}", f"POLICY={a.policy.resolve()}", f"GEN={build / 'gen'}", f"OUT={build / 'out'}"]
    subprocess.run([*make, "host"], check=True, capture_output=True)
    out: dict = {"policy": str(a.policy), "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}}
    if shutil.which("arm-none-eabi-gcc"):
        subprocess.run([*make, "arm"], check=True, capture_output=True)
        out["arm"] = json.loads((build / "out" / "arm" / "report.json").read_text())
        out["arm"]["command"] = "make -C firmware/crazyflie arm"
    else:
        out["arm"] = {"skipped": "arm-none-eabi-gcc not found (Debian: apt-get install gcc-arm-none-eabi)"}
    ctl = HostController(build / "out" / "host" / "librlctl.so")
    obs = random_observations(1000, seed=a.seed)
    diff = np.abs(ctl.evaluate(obs) - PolicyRunner(a.policy)(obs)).max()
    out["parity_vs_onnxruntime"] = {"observations": len(obs), "max_abs_diff": float(diff)}
    out["dead_man"] = dead_man_cut(ctl)
    t0 = time.perf_counter()
    out["sil"] = compare(ctl, str(a.policy), QuadrotorTrainConfig(), episodes=a.episodes, seed=a.seed)
    out["sil"]["wall_seconds"] = round(time.perf_counter() - t0, 1)
    for k in ("firmware_sil", "runtime_rehearsal"):
        out["sil"][k]["success_per_episode"] = "".join("1" if s else "0" for s in out["sil"][k]["success_per_episode"])
    shutil.rmtree(build, ignore_errors=True)
    text = json.dumps(out, indent=2)
    if a.out:
        write_json(a.out, out)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
