"""Where an image policy's PyBullet gap comes from: physics or renderer, as JSON.

    python benchmarks/hil_serl_gate.py [--policy assets/policies/panda_pick_place_image.onnx] [--episodes 50]
        [--out benchmarks/results/hil_serl_gate.json]

The same held-out scenes, through the runtime, three ways:
1. MuJoCo (the training engine and renderer);
2. PyBullet's physics seen by PyBullet's cameras (the gate as `train`/`eval --sim pybullet` run it);
3. PyBullet's physics seen by MuJoCo's cameras (``renderer="mujoco"``: MuJoCo draws PyBullet's state).
(1) - (3) is the physics' share of the gap, (3) - (2) the renderer's. Optional variants (``--variants``) have MuJoCo
draw one camera only (``pybullet_physics_mujoco_wrist_only``, ``..._front_only``): which camera carries the renderer's share.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robot_learning.core.runs import dumps, write_json

VARIANTS = {"mujoco": ("mujoco", "own"), "pybullet": ("pybullet", "own"), "pybullet_physics_mujoco_frames": ("pybullet", "mujoco"),
            "pybullet_physics_mujoco_wrist_only": ("pybullet", "mujoco:wrist"), "pybullet_physics_mujoco_front_only": ("pybullet", "mujoco:front")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--policy", type=Path, default=ROOT / "assets" / "policies" / "panda_pick_place_image.onnx")
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=10_000, help="scene seed of the first episode (held out from training's)")
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS)[:3])
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "hil_serl_gate.json")
    a = p.parse_args(argv)
    if not a.policy.is_file():
        p.error(f"--policy {a.policy}: no such file")
    from robot_learning.tasks.hil_serl.evaluate import evaluate_policy

    rows: dict = {}
    for name in a.variants:
        sim, renderer = VARIANTS[name]
        t0 = time.time()
        r = evaluate_policy(a.policy, sim=sim, episodes=a.episodes, seed=a.seed, renderer=renderer,
                            progress=lambda i, n, rec, v=name: print(f"[{v}] episode {i}/{n}: {'success' if rec['success'] else 'failure'}",
                                                                     file=sys.stderr, flush=True))
        rows[name] = {"success_rate": r["success_rate"], "mean_seconds_to_success": r["mean_seconds_to_success"],
                      "objects_off_table": r["objects_off_table"], "per_episode_success": [bool(e["success"]) for e in r["per_episode"]],
                      "wall_s": round(time.time() - t0, 1)}
    out = {"command": "python benchmarks/hil_serl_gate.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "policy": str(a.policy), "episodes": a.episodes, "seed": a.seed, "variants": rows}
    if {"mujoco", "pybullet", "pybullet_physics_mujoco_frames"} <= rows.keys():
        m, pb, x = (rows[k]["success_rate"] for k in ("mujoco", "pybullet", "pybullet_physics_mujoco_frames"))
        out["gap"] = {"total": round(m - pb, 3), "physics": round(m - x, 3), "renderer": round(x - pb, 3)}
    write_json(a.out, out)
    print(dumps({k: v for k, v in out.items() if k != "variants"} | {"success": {k: v["success_rate"] for k, v in rows.items()}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
