"""The get-up references: the shipped supine and prone motions, and their physical plausibility.

HumanUP's Stage II tracks a slow (8 s) get-up trajectory that its Stage I discovered. This project
authors that trajectory by hand instead, as a few keyframes (``assets/motions/g1_getup_*.yaml``),
made dense and grounded by :func:`robot_learning.motion.reference.build_reference`.

Physical plausibility: :func:`quasi_static_drift` places the G1 in MuJoCo at a frame of the reference
with PD (the spec's HumanUP gains) holding its joint angles and reports how far the pelvis moves in
1 s; every keyframe of the shipped motions is tuned so that this stays small (see the README).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from robot_learning.motion.keyframes import Variant
from robot_learning.motion.reference import Reference, ReferenceBuildConfig, build_reference
from robot_learning.sim.mujoco_robot import MujocoJointRobot, MujocoRobotConfig


def load_reference(posture_or_path: str | Path, config: ReferenceBuildConfig | None = None) -> Reference:
    """The shipped reference for ``"supine"`` / ``"prone"``, or a keyframe ``.yaml`` / saved ``.npz``."""
    key = str(posture_or_path)
    if key in ("supine", "prone"):
        return build_reference(f"g1_getup_{key}", config)
    if key.endswith(".npz"):
        return Reference.load_npz(key)
    return build_reference(key, config)


# ---------------------------------------------------------------------------------------------------
# physical plausibility
def quasi_static_drift(
    ref: Reference,
    t: float,
    hold_s: float = 1.0,
    variant: Variant = "primitive",
    robot: MujocoJointRobot | None = None,
) -> float:
    """How far (m) the pelvis moves in ``hold_s`` seconds when the G1 is placed at the reference
    frame nearest to ``t`` (pose and root pose, at rest) with PD (the spec's gains) holding the
    frame's joint angles. A small value means the pose is quasi-statically stable: the centre of mass
    is over the support and the motors can hold it. Pass ``robot`` to reuse a simulator."""
    robot = robot or MujocoJointRobot(MujocoRobotConfig(robot="g1", variant=variant))
    i = ref.frame_index(t)
    q = ref.joint_pos[i]
    robot.reset(pose=q, base_height=float(ref.root_pos[i, 2]), base_quat=ref.root_quat[i])
    start = robot.state().values["base_position"].copy()
    for _ in range(int(round(hold_s / robot.dt))):
        robot.step(q)
    end = robot.state().values["base_position"]
    return float(np.linalg.norm(end - start))


def keyframe_report(ref: Reference, variant: Variant = "primitive") -> list[dict[str, float | str]]:
    """Per keyframe: time, label, root height, head height and quasi-static drift (one simulator)."""
    robot = MujocoJointRobot(MujocoRobotConfig(robot="g1", variant=variant))
    rows: list[dict[str, float | str]] = []
    for t, label in zip(ref.keyframe_times, ref.keyframe_labels):
        i = ref.frame_index(t)
        rows.append(
            {
                "t": t,
                "label": label,
                "root_height": float(ref.root_pos[i, 2]),
                "head_height": float(ref.head_height[i]),
                "drift_m": quasi_static_drift(ref, t, robot=robot),
            }
        )
    return rows


if __name__ == "__main__":  # python -m robot_learning.tasks.getup.reference: keyframe drift tables
    for motion_name in ("g1_getup_supine", "g1_getup_prone"):
        reference = build_reference(motion_name)
        print(f"{motion_name}: {reference.num_frames} frames, {reference.duration_s:.1f} s")
        print(f"{'t':>5} {'label':<22} {'root_z':>7} {'head_z':>7} {'drift':>7}")
        for row in keyframe_report(reference):
            print(
                f"{row['t']:5.2f} {row['label']:<22} {row['root_height']:7.3f} "
                f"{row['head_height']:7.3f} {row['drift_m']:7.3f}"
            )
