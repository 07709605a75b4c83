"""MuJoCo Warp against MuJoCo's C engine: the same G1 from the same states, stepped by both, positions
compared (the issue-25 target: within 1e-5 after 100 physics steps, flat ground and height field).

Two comparisons, shared by ``tests/test_backend_conformance.py`` and ``benchmarks/backends.py``:

- :func:`batch_agreement`: the backends as the tasks use them, :class:`G1Batch` against
  :class:`G1WarpBatch`, with per-environment domain randomisation (the same draws on both);
- :func:`raw_agreement`: one ``MjData`` per world with ``mj_step`` against one Warp ``Data`` with
  ``mjw.step`` (warm start kept across steps in both), with the solver's friction cone and iteration
  count overridable, to find out where a disagreement comes from.

Start states: G1s dropped face up, face down (joints +-0.3 rad around the default pose) and standing
(+-0.05 rad), settled for ``settle_s`` by the C engine, so every world starts with contacts. Targets:
the start joint positions held (``target_noise`` = 0), or new ones every policy step, uniform within
``target_noise`` rad around them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mujoco
import numpy as np

from robot_learning.sim.g1_batch_model import build_batch_model
from robot_learning.sim.mujoco_batch import G1Batch, G1BatchConfig, quat_from_pitch
from robot_learning.sim.terrain import TerrainConfig, terrain_named

POSES = ("supine", "prone", "standing")


@dataclass
class AgreementConfig:
    terrain: str = "flat"  # flat, slope or rough (a height field)
    num_envs: int = 6  # worlds, cycling through POSES
    physics_steps: int = 100
    target_noise: float = 0.0  # rad; 0 holds the start pose
    randomize: bool = True  # batch_agreement only: sample_randomization on both backends
    settle_s: float = 0.6
    seed: int = 0
    cone: str | None = None  # raw_agreement only: "pyramidal" or "elliptic" (None: the model's, pyramidal)
    iterations: int | None = None  # raw_agreement only: solver iterations (None: the model's, 5)
    warmstart: bool = True  # raw_agreement only: False disables the solver's warm start in both engines


def start_states(cfg: AgreementConfig) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(qpos, qvel, pose names) of ``cfg.num_envs`` settled G1s on ``cfg.terrain``."""
    rng = np.random.default_rng(cfg.seed)
    ground = terrain_named(cfg.terrain)
    with G1Batch(G1BatchConfig(num_envs=1, threads=1, terrain=ground)) as c:
        names, drops = [], []
        for i in range(cfg.num_envs):
            pose = POSES[i % len(POSES)]
            spread = 0.05 if pose == "standing" else 0.3
            joints = c.desc.array("default_positions") + rng.uniform(-spread, spread, c.nu)
            if pose == "standing":
                drops.append(c.default_qpos(joints, base_height=c.default_qpos()[2] + 0.04))
            else:
                drops.append(c.default_qpos(joints, base_height=0.5, base_quat=quat_from_pitch(-np.pi / 2 if pose == "supine" else np.pi / 2)))
            names.append(pose)
        qpos, qvel = c.settle(np.stack(drops), seconds=cfg.settle_s)
    return qpos, qvel, names


def _targets(cfg: AgreementConfig, qpos: np.ndarray, decimation: int) -> np.ndarray:
    """(N, physics_steps, 23) targets: the start joints, plus per-policy-step noise."""
    rng = np.random.default_rng(cfg.seed + 1)
    n, policy_steps = len(qpos), -(-cfg.physics_steps // decimation)
    noise = rng.uniform(-cfg.target_noise, cfg.target_noise, (n, policy_steps, 23)) if cfg.target_noise else np.zeros((n, policy_steps, 23))
    return (qpos[:, None, 7:] + noise).repeat(decimation, axis=1)[:, :cfg.physics_steps]


def _summary(cfg: AgreementConfig, names: list[str], diffs: np.ndarray, kind: str) -> dict[str, Any]:
    by_pose = {p: float(diffs[[i for i, q in enumerate(names) if q == p]].max()) for p in POSES if p in names}
    return {"comparison": kind, "terrain": cfg.terrain, "physics_steps": cfg.physics_steps, "target_noise": cfg.target_noise,
            "randomized": cfg.randomize if kind == "batch" else False, "cone": cfg.cone or "pyramidal (model)",
            "iterations": cfg.iterations or "5 (model)", "warmstart": cfg.warmstart if kind == "raw" else "cleared each policy step",
            "max_abs_qpos_diff": float(diffs.max()), "by_pose": by_pose,
            "per_world": [float(x) for x in diffs], "within_1e-5": bool(diffs.max() <= 1e-5)}


def batch_agreement(cfg: AgreementConfig, device: str = "cpu") -> dict[str, Any]:
    """Max |qpos difference| per world between G1Batch and G1WarpBatch after ``cfg.physics_steps``
    physics steps (a whole number of policy steps of 10) from :func:`start_states`."""
    from robot_learning.sim.warp_batch import G1WarpBatch

    qpos, qvel, names = start_states(cfg)
    n = len(qpos)
    bc = G1BatchConfig(num_envs=n, threads=1, seed=cfg.seed, terrain=terrain_named(cfg.terrain))
    targets = _targets(cfg, qpos, bc.decimation)
    out = []
    for batch in (G1Batch(bc), G1WarpBatch(bc, device=device)):
        ids = np.arange(n)
        if cfg.randomize:
            batch.sample_randomization(ids)
        batch.reset(ids, qpos, qvel)
        for k in range(0, cfg.physics_steps, bc.decimation):
            batch.step_substeps(targets[:, k:k + bc.decimation])
        out.append(np.array(batch.qpos))
        batch.close()
    return _summary(cfg, names, np.abs(out[0] - out[1]).max(axis=1), "batch")


def raw_agreement(cfg: AgreementConfig, device: str = "cpu") -> dict[str, Any]:
    """Max |qpos difference| per world between ``mj_step`` on one MjData per world and ``mjw.step``
    on one Warp Data (nominal model, warm start kept in both), with ``cfg.cone`` / ``cfg.iterations``."""
    import mujoco_warp as mjw
    import warp as wp

    qpos, qvel, names = start_states(cfg)
    n = len(qpos)
    ground = terrain_named(cfg.terrain)
    m = build_batch_model("primitive", terrain=ground)
    if cfg.cone is not None:
        m.opt.cone = {"pyramidal": mujoco.mjtCone.mjCONE_PYRAMIDAL, "elliptic": mujoco.mjtCone.mjCONE_ELLIPTIC}[cfg.cone]
    if cfg.iterations is not None:
        m.opt.iterations = cfg.iterations
    if not cfg.warmstart:
        m.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_WARMSTART
    targets = _targets(cfg, qpos, 10)
    hfield = isinstance(ground, TerrainConfig) and ground.kind == "rough"
    with wp.ScopedDevice(device):
        wm = mjw.put_model(m)
        wm.opt.warn_overflow = 0
        wd = mjw.make_data(m, nworld=n, nconmax=96 if hfield else 48, njmax=448 if hfield else 224)
        wd.qpos.assign(qpos.astype(np.float32))
        wd.qvel.assign(qvel.astype(np.float32))
        datas = [mujoco.MjData(m) for _ in range(n)]
        for i, d in enumerate(datas):
            d.qpos[:], d.qvel[:] = qpos[i], qvel[i]
        for k in range(cfg.physics_steps):
            wd.ctrl.assign(targets[:, k].astype(np.float32))
            mjw.step(wm, wd)
            for i, d in enumerate(datas):
                d.ctrl[:] = targets[i, k]
                mujoco.mj_step(m, d)
        warp_qpos = wd.qpos.numpy().astype(np.float64)
    diffs = np.array([np.abs(warp_qpos[i] - d.qpos).max() for i, d in enumerate(datas)])
    return _summary(cfg, names, diffs, "raw")


def contact_diagnosis(cfg: AgreementConfig, device: str = "cpu") -> dict[str, Any]:
    """At the start states (one forward pass in each engine, nominal model): the contacts each engine
    finds, how many have a different tangent frame (> 1 degree; with a pyramidal friction cone the
    friction pyramid turns with it), which geom pairs those are, and the relative difference of the
    constrained accelerations with the model's solver and with a converged one (100 iterations)."""
    import mujoco_warp as mjw
    import warp as wp

    qpos, qvel, names = start_states(cfg)
    n = len(qpos)
    ground = terrain_named(cfg.terrain)
    hfield = isinstance(ground, TerrainConfig) and ground.kind == "rough"
    out: dict[str, Any] = {"terrain": cfg.terrain, "poses": names}
    for label, iterations in (("model_solver", None), ("converged_solver", 100)):
        m = build_batch_model("primitive", terrain=ground)
        if iterations:
            m.opt.iterations, m.opt.ls_iterations, m.opt.tolerance = iterations, 50, 1e-12
        with wp.ScopedDevice(device):
            wm = mjw.put_model(m)
            wm.opt.warn_overflow = 0
            wd = mjw.make_data(m, nworld=n, nconmax=96 if hfield else 48, njmax=448 if hfield else 224)
            wd.qpos.assign(qpos.astype(np.float32))
            wd.qvel.assign(qvel.astype(np.float32))
            wd.ctrl.assign(qpos[:, 7:].astype(np.float32))
            mjw.forward(wm, wd)
            nacon = int(wd.nacon.numpy()[0])
            world = wd.contact.worldid.numpy()[:nacon]
            geom = wd.contact.geom.numpy()[:nacon]
            frame = wd.contact.frame.numpy()[:nacon]
            wqacc = wd.qacc.numpy()
        rel, counts, differing = [], [], set()
        for i in range(n):
            d = mujoco.MjData(m)
            d.qpos[:], d.qvel[:], d.ctrl[:] = qpos[i], qvel[i], qpos[i, 7:]
            mujoco.mj_forward(m, d)
            rel.append(float(np.abs(wqacc[i] - d.qacc).max() / max(np.abs(d.qacc).max(), 1e-9)))
            mine = [j for j in range(nacon) if world[j] == i]
            ndiff = 0
            for j in mine:  # match by geom pair and position of the contact
                cands = [c for c in d.contact if {int(c.geom[0]), int(c.geom[1])} == {int(geom[j, 0]), int(geom[j, 1])}]
                if not cands:
                    continue
                t_w = frame[j][1] / np.linalg.norm(frame[j][1])
                # a pyramid is symmetric under a quarter turn: compare the tangent's angle modulo 90 degrees
                cos = max(max(abs(float(np.dot(t_w, c.frame[3:6]))), abs(float(np.dot(t_w, c.frame[6:9])))) for c in cands)
                angle = float(np.degrees(np.arccos(min(cos, 1.0))))
                if angle > 1.0:
                    ndiff += 1
                    differing.add(f"{m.geom(int(geom[j, 0])).name}/{m.geom(int(geom[j, 1])).name}")
            counts.append({"pose": names[i], "contacts_warp": len(mine), "contacts_c": d.ncon, "tangent_frames_differ": ndiff})
        out[label] = {"max_rel_qacc_diff": max(rel), "per_world_rel_qacc_diff": rel}
        if label == "model_solver":
            out["contacts"] = counts
            out["pairs_with_a_different_tangent_frame"] = sorted(differing)
    return out
