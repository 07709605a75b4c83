"""Does PyBullet's armature term bring the G1's joint step responses closer to MuJoCo's?

    python benchmarks/g1_armature.py [--seconds 0.5] [--rate 50] [--out benchmarks/results/g1_armature.json]

MuJoCo's G1 (Menagerie, mesh collisions, as the PyBullet URDF has them) has 0.01 kg m^2 of armature
(reflected rotor inertia) on every joint; PyBullet has none, and :class:`~robot_learning.sim.pybullet_g1.PyBulletG1`
represents it in the PD torque when ``armature=True`` (see its ``_armature_torque``). For each scenario
(the hanging robot, pelvis welded at 0.89 m, default pose; the robot lying on its back after MuJoCo's
``lying()`` settle) and each selected joint (left shoulder yaw, elbow, knee, ankle pitch, ankle roll),
both engines start from the same state at rest, hold it for ``--hold`` s, then the joint's target
steps by 0.3 rad (0.2 for the ankle roll, away from its nearer limit) while every other joint holds.
Printed (JSON): the RMS difference of the stepped joint's angle between MuJoCo and PyBullet over
``--seconds`` after the step, sampled at ``--rate`` Hz (the control rate), without and with the term,
and the same over all 23 joints.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from robot_learning.core.runs import dumps, write_json  # noqa: E402

JOINTS = {"left_shoulder_yaw_joint": 0.3, "left_elbow_joint": 0.3, "left_knee_joint": 0.3,
          "left_ankle_pitch_joint": 0.3, "left_ankle_roll_joint": 0.2}


def _step_target(spec, name: str, q0: np.ndarray, size: float) -> np.ndarray:  # noqa: ANN001 (JointRobotSpec)
    """The held pose with joint ``name`` stepped by ``size`` towards the farther of its limits."""
    i = spec.joint_names.index(name)
    lo, hi = spec.array("position_lower")[i], spec.array("position_upper")[i]
    target = q0.copy()
    target[i] = q0[i] + (size if hi - q0[i] >= q0[i] - lo else -size)
    return target


def trajectory(robot, start: np.ndarray | None, hold: np.ndarray, target: np.ndarray, hold_s: float, seconds: float) -> np.ndarray:  # noqa: ANN001
    """(n, 23) joint angles at the control rate after the step; ``start`` a free robot's qpos (None: hanging)."""
    if start is None:
        robot.reset(pose=hold)
    else:
        robot.reset_to(start)
    for _ in range(int(round(hold_s / robot.dt))):
        robot.step(hold)
    out = []
    for _ in range(int(round(seconds / robot.dt))):
        robot.step(target)
        out.append(robot.state()["joint_position"].copy())
    return np.array(out)


def measure(seconds: float = 0.5, rate: float = 50.0, hold_s: float = 0.2, joints: dict[str, float] | None = None) -> dict:
    from robot_learning.sim.mujoco_robot import MujocoJointRobot, MujocoRobotConfig
    from robot_learning.sim.pybullet_g1 import PyBulletG1, PyBulletG1Config

    joints = joints or JOINTS
    out: dict = {"seconds": seconds, "rate_hz": rate, "hold_s": hold_s, "mujoco_model": "mesh", "scenarios": {}}
    for scenario in ("hanging", "lying"):
        fixed = scenario == "hanging"
        mj = MujocoJointRobot(MujocoRobotConfig(variant="mesh", control_rate_hz=rate, fix_base=fixed))
        pbs = {arm: PyBulletG1(PyBulletG1Config(control_rate_hz=rate, fix_base=fixed, armature=arm)) for arm in (False, True)}
        start = None
        hold = mj.default_pose()
        if not fixed:
            mj.lying(face_up=True)
            start = mj.qpos()
            hold = start[7:].copy()
        rows = {}
        for name, size in joints.items():
            target = _step_target(mj.spec, name, hold, size)
            i = mj.spec.joint_names.index(name)
            ref = trajectory(mj, start, hold, target, hold_s, seconds)
            row: dict = {"step_rad": float(target[i] - hold[i]), "mujoco_final_rad": float(ref[-1, i] - hold[i])}
            for arm, pb in pbs.items():
                traj = trajectory(pb, start, hold, target, hold_s, seconds)
                key = "with_armature_term" if arm else "without"
                row[key] = {"rms_joint_rad": float(np.sqrt(np.mean((traj[:, i] - ref[:, i]) ** 2))),
                            "rms_all_joints_rad": float(np.sqrt(np.mean((traj - ref) ** 2))),
                            "final_rad": float(traj[-1, i] - hold[i])}
            rows[name] = row
        for pb in pbs.values():
            pb.close()
        better = [r["with_armature_term"]["rms_joint_rad"] < r["without"]["rms_joint_rad"] for r in rows.values()]
        out["scenarios"][scenario] = {"joints_closer_with_term": int(sum(better)), "joints": rows,
                                      "max_rms_joint_rad": {k: max(r[k]["rms_joint_rad"] for r in rows.values())
                                                            for k in ("without", "with_armature_term")},
                                      "mean_rms_all_joints_rad": {k: float(np.mean([r[k]["rms_all_joints_rad"] for r in rows.values()]))
                                                                  for k in ("without", "with_armature_term")}}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=0.5)
    p.add_argument("--rate", type=float, default=50.0, help="control (and sampling) rate, Hz")
    p.add_argument("--hold", type=float, default=0.2, help="seconds held before the step")
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args()
    t0 = time.perf_counter()
    result = measure(a.seconds, a.rate, a.hold)
    result["wall_clock_s"] = round(time.perf_counter() - t0, 1)
    if a.out:
        write_json(a.out, result)
    print(dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
