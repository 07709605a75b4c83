"""Fallen starting poses for the G1, following HumanUP's recipe.

HumanUP does not start its episodes from one hand-made lying pose: it randomises the joints around a
canonical lying pose, drops the robot from 0.5 m, simulates 10 s so that it settles, and keeps the
state it ends in (20K supine and 20K prone poses, half for training, half held out; their pelvis
heights lie in 0.06-0.21 m). This module does the same in MuJoCo:

1. joint angles: the canonical pose (the G1's standing default, i.e. lying straight once the body is
   turned over) plus uniform noise of +-``joint_range_fraction`` of each joint's range, clipped to the
   limits;
2. orientation: on the back (pitch -90 deg) or front (+90 deg), plus uniform roll/pitch noise and a
   uniform random yaw; pelvis at ``drop_height``;
3. settle: PD holds the random pose (``motor_mode="hold"``, the spec's gains) or the motors only damp
   (``"damp"``, kp = 0) while the physics runs, until all velocities are small (checked every
   control period after ``min_settle_s``) or ``max_settle_s`` (HumanUP: 10 s) has passed;
4. classify: face up if the pelvis' forward (x) axis points up in the world, face down otherwise;
   a result on the wrong side is rejected and a new pose is drawn.

The primitive collision model is the default (the fast one that the CPU training path uses).
Speed and the height distribution are printed by ``python -m robot_learning.tasks.getup.poses``.
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from robot_learning.sim.mujoco_robot import MujocoJointRobot, MujocoRobotConfig
from robot_learning.sim.terrain import TerrainConfig


@dataclass(frozen=True)
class FallenPoseConfig:
    """How fallen poses are generated (see the module docstring).

    Attributes:
        variant: G1 collision model ("primitive" or "mesh").
        joint_range_fraction: half-width of the uniform joint noise, as a fraction of each joint's range.
        drop_height: initial pelvis height (m).
        tilt_noise_deg: half-width (deg) of the uniform roll and pitch noise added to lying flat.
        motor_mode: "hold" (PD holds the random pose) or "damp" (kp = 0, the spec's kd only).
        max_settle_s: longest simulated settling time (s); HumanUP uses 10 s.
        min_settle_s: settle at least this long before checking the velocities (s).
        settle_velocity: settled when every generalised velocity is below this (m/s or rad/s).
        max_attempts_factor: give up after ``n * max_attempts_factor`` draws (too many rejections).
        terrain: the ground the robot falls on (:mod:`robot_learning.sim.terrain`); None: flat.
    """

    variant: Literal["mesh", "primitive"] = "primitive"
    joint_range_fraction: float = 0.15
    drop_height: float = 0.5
    tilt_noise_deg: float = 20.0
    motor_mode: Literal["hold", "damp"] = "hold"
    max_settle_s: float = 10.0
    min_settle_s: float = 1.0
    settle_velocity: float = 0.05
    max_attempts_factor: int = 5
    terrain: TerrainConfig | None = None


def is_face_up(base_quat_wxyz: np.ndarray) -> bool:
    """True if the pelvis' forward (x) axis points up: the robot lies on its back."""
    w, x, y, z = np.asarray(base_quat_wxyz, dtype=np.float64) / np.linalg.norm(base_quat_wxyz)
    forward_z = 2.0 * (x * z - w * y)  # third row, first column of the rotation matrix
    return bool(forward_z > 0.0)


def _lying_quat(face_up: bool, roll: float, pitch_noise: float, yaw: float) -> np.ndarray:
    """(w, x, y, z) of R_z(yaw) R_y(+-90 deg + pitch_noise) R_x(roll)."""
    pitch = (-np.pi / 2 if face_up else np.pi / 2) + pitch_noise
    cy, sy = np.cos(yaw / 2), np.sin(yaw / 2)
    cp, sp = np.cos(pitch / 2), np.sin(pitch / 2)
    cr, sr = np.cos(roll / 2), np.sin(roll / 2)
    return np.array(
        [
            cy * cp * cr + sy * sp * sr,
            cy * cp * sr - sy * sp * cr,
            cy * sp * cr + sy * cp * sr,
            sy * cp * cr - cy * sp * sr,
        ]
    )


def generate_fallen_poses(
    n: int,
    face_up: bool,
    seed: int,
    config: FallenPoseConfig | None = None,
    robot: MujocoJointRobot | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` settled fallen states of the G1, lying face up (``face_up``) or face down.

    Returns ``(qpos (n, nq), qvel (n, nv))`` of the MuJoCo model (free joint first: pelvis position,
    quaternion wxyz, then the 23 joints in spec order). Deterministic for a given seed and config.
    Raises ``RuntimeError`` if too many draws land on the wrong side.
    """
    cfg = config or FallenPoseConfig()
    robot = robot or MujocoJointRobot(MujocoRobotConfig(robot="g1", variant=cfg.variant, seed=seed, terrain=cfg.terrain))
    rng = np.random.default_rng(seed)
    spec = robot.spec
    lo, hi = spec.array("position_lower"), spec.array("position_upper")
    canonical = spec.array("default_positions")
    if cfg.motor_mode == "damp":
        robot.set_gains(0.0, spec.array("kd"))
    else:
        robot.set_gains(spec.array("kp"), spec.array("kd"))
    tilt = np.deg2rad(cfg.tilt_noise_deg)
    steps_min = int(round(cfg.min_settle_s / robot.dt))
    steps_max = int(round(cfg.max_settle_s / robot.dt))
    qpos, qvel = [], []
    attempts = 0
    while len(qpos) < n:
        attempts += 1
        if attempts > max(n * cfg.max_attempts_factor, 10):
            raise RuntimeError(f"only {len(qpos)}/{n} poses landed {'face up' if face_up else 'face down'}")
        q = np.clip(canonical + rng.uniform(-1.0, 1.0, canonical.shape) * cfg.joint_range_fraction * (hi - lo), lo, hi)
        quat = _lying_quat(face_up, *rng.uniform(-tilt, tilt, 2), rng.uniform(-np.pi, np.pi))
        robot.reset(pose=q, base_height=cfg.drop_height, base_quat=quat)
        for k in range(steps_max):
            robot.step(q)
            if k >= steps_min and np.max(np.abs(robot.data.qvel)) < cfg.settle_velocity:
                break
        if is_face_up(robot.data.qpos[3:7]) != face_up:
            continue
        qpos.append(robot.data.qpos.copy())
        qvel.append(robot.data.qvel.copy())
    robot.set_gains(spec.array("kp"), spec.array("kd"))
    return np.array(qpos), np.array(qvel)


@dataclass
class FallenPoseDataset:
    """Train and held-out fallen states for both sides; each array pair is (qpos (n, nq), qvel (n, nv))."""

    supine_train: tuple[np.ndarray, np.ndarray]
    supine_test: tuple[np.ndarray, np.ndarray]
    prone_train: tuple[np.ndarray, np.ndarray]
    prone_test: tuple[np.ndarray, np.ndarray]
    seconds: float = 0.0  # generation time (0 when loaded from the cache)

    def __getitem__(self, posture: str) -> dict[str, np.ndarray]:
        """``data["supine"]["train"]``: the qpos array (n, nq) of a posture and split."""
        if posture not in ("supine", "prone"):
            raise KeyError(f"posture must be 'supine' or 'prone', got {posture!r}")
        return {"train": getattr(self, f"{posture}_train")[0], "test": getattr(self, f"{posture}_test")[0]}

    def base_heights(self) -> dict[str, np.ndarray]:
        """Pelvis height (m) of every pose, per split."""
        return {k: getattr(self, k)[0][:, 2] for k in ("supine_train", "supine_test", "prone_train", "prone_test")}


#: fallen-pose datasets shipped as data (the ones the default configs and the tests ask for: flat ground
#: seeds 0 and 1, 10 deg slope and rough ground seed 0), each the file this function writes to its cache;
#: remade by deleting them and calling it (e.g. `robot-learning train getup` makes what it needs)
SHIPPED_POSES_DIR = Path(__file__).resolve().parents[3] / "assets" / "fallen_poses"


def fallen_pose_dataset(
    n_train: int = 256,
    n_test: int = 256,
    seed: int = 0,
    cache_dir: str | Path | None = "runs/cache",
    config: FallenPoseConfig | None = None,
) -> FallenPoseDataset:
    """Generate (or load from ``cache_dir``) supine and prone poses, train and held-out.

    The four splits use independent seeds derived from ``seed``, so held-out poses are never training
    poses. The cache file name encodes the sizes, seed and config; ``cache_dir=None`` disables it.
    Speed on this machine (primitive model, one core): see ``assets/motions/README.md``.
    """
    cfg = config or FallenPoseConfig()
    fields = asdict(cfg)
    if fields["terrain"] is None:  # flat: the key of the datasets made before terrain existed
        del fields["terrain"]
    key = json.dumps({"n_train": n_train, "n_test": n_test, "seed": seed, **fields}, sort_keys=True)
    path = None
    if cache_dir is not None:
        digest = hashlib.sha1(key.encode()).hexdigest()[:12]
        path = Path(cache_dir) / f"g1_fallen_poses_{digest}.npz"
        shipped = SHIPPED_POSES_DIR / path.name  # the datasets the tests and the default configs use ship as data
        for found in (path, shipped):
            if found.exists():
                with np.load(found) as z:
                    if str(z["config"]) == key:
                        return FallenPoseDataset(**{k: (z[f"{k}_qpos"], z[f"{k}_qvel"]) for k in _SPLITS})
    seeds = np.random.SeedSequence(seed).generate_state(4)
    ground = "flat" if cfg.terrain is None else cfg.terrain.kind
    cached = f" (done once: cached in {path.parent})" if path is not None else ""
    print(f"making {2 * (n_train + n_test)} fallen G1 poses on {ground} ground{cached}", file=sys.stderr, flush=True)
    robot = MujocoJointRobot(MujocoRobotConfig(robot="g1", variant=cfg.variant, seed=seed, terrain=cfg.terrain))
    t0 = time.perf_counter()
    parts = {}
    for (name, face_up, count), s in zip(
        (("supine_train", True, n_train), ("supine_test", True, n_test), ("prone_train", False, n_train), ("prone_test", False, n_test)),
        seeds,
    ):
        parts[name] = generate_fallen_poses(count, face_up, int(s), cfg, robot=robot)
    data = FallenPoseDataset(**parts, seconds=time.perf_counter() - t0)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"{k}_{w}": v for k in _SPLITS for w, v in zip(("qpos", "qvel"), getattr(data, k))}
        np.savez_compressed(path, config=np.array(key), **arrays)
    return data


_SPLITS = ("supine_train", "supine_test", "prone_train", "prone_test")


if __name__ == "__main__":  # python -m robot_learning.tasks.getup.poses: speed and height statistics
    ds = fallen_pose_dataset(50, 50, seed=0, cache_dir=None)
    total = 200
    print(json.dumps({"poses": total, "seconds": round(ds.seconds, 2), "poses_per_s": round(total / ds.seconds, 2)}))
    for split, h in ds.base_heights().items():
        q = np.percentile(h, [0, 5, 50, 95, 100])
        print(f"{split:<13} base height min {q[0]:.3f} p5 {q[1]:.3f} median {q[2]:.3f} p95 {q[3]:.3f} max {q[4]:.3f}")
