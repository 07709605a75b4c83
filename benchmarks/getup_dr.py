"""How robust is the CPU path's getting-up teacher to Stage II's domain randomisation?

    python benchmarks/getup_dr.py [--episodes 64] [--out benchmarks/results/getup_dr.json]

For each posture (prone: the roll strategy, the default, and the direct one), the privileged teacher
drives ``--episodes`` robots from held-out fallen poses for 10 s in the training environment with
HumanUP's Stage II randomisation (``env.dr``): none, each factor alone (the others nominal), and all
of them together. Success = head at 1.1 m or more at the end. The student policies are clones of
this teacher, so its figures bound theirs.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robot_learning.core.runs import dumps, write_json  # noqa: E402

NOMINAL = dict(friction=(1.0, 1.0), base_mass_delta_kg=(0.0, 0.0), com_offset_m=0.0, motor_strength=(1.0, 1.0),
               action_delay_s=0.0, push_max_speed=0.0, obs_noise=0.0)
FACTORS = {"none": {}, "friction 1-3": dict(friction=(1.0, 3.0)), "pelvis mass +-3 kg": dict(base_mass_delta_kg=(-3.0, 3.0)),
           "pelvis COM +-5 cm": dict(com_offset_m=0.05), "motor strength 0.8-1.2": dict(motor_strength=(0.8, 1.2)),
           "action delay 0-8 ms": dict(action_delay_s=0.008), "pushes 1 m/s every 4 s": dict(push_max_speed=1.0),
           "all (HumanUP Stage II)": None}


def teacher_success(posture: str, strategy: str, factors: dict | None, episodes: int, seed: int) -> float:
    import numpy as np

    from robot_learning.tasks.getup.dagger import TeacherForEnv, _fallen_starts_only, collect
    from robot_learning.tasks.getup.module import load_config
    from robot_learning.tasks.getup.train import make_env

    cfg = load_config(None, num_envs=episodes, posture=posture, seed=seed)
    cfg.env.dr.enabled = True
    if factors is not None:  # None: every factor at the config's (HumanUP's) range
        for key, value in {**NOMINAL, **factors}.items():
            setattr(cfg.env.dr, key, value)
    env, _ = make_env(cfg, num_envs=episodes, held_out=True)
    _fallen_starts_only(env)
    try:
        return collect(env, TeacherForEnv(env, prone_strategy=strategy), None, 1.0, np.random.default_rng(seed))[2]
    finally:
        env.batch.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=64, help="held-out poses per posture and case")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args()
    t0 = time.perf_counter()
    table: dict = {}
    for posture, strategy in (("supine", "roll"), ("prone", "roll"), ("prone", "direct")):
        name = posture if posture == "supine" else f"prone ({'roll over first' if strategy == 'roll' else 'direct'})"
        table[name] = {f: teacher_success(posture, strategy, kw, a.episodes, a.seed) for f, kw in FACTORS.items()}
        print(name, table[name], file=sys.stderr, flush=True)
    result = {"episodes": a.episodes, "seed": a.seed, "success_rate": table, "wall_clock_s": round(time.perf_counter() - t0, 1),
              "note": "the privileged teacher, training environment (primitive collisions, 500 Hz), held-out fallen poses, 10 s"}
    if a.out:
        write_json(a.out, result)
    print(dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
