"""Make a keyframed get-up physically feasible: receding-horizon cross-entropy optimisation of the
PD targets in MuJoCo.

The keyframed references in ``assets/motions`` are kinematic: every keyframe is quasi-statically
stable, but played open loop through the PD controllers the robot falls back between them (sitting
up needs momentum, so does rocking onto the feet). HumanUP gets its feasible trajectory from Stage I
(billions of steps); on a CPU this module gets one in minutes instead:

- the PD targets are a piecewise-linear spline with a knot every ``knot_s`` seconds, started at the
  keyframed reference's joint angles;
- a window of ``window_knots`` future knots is optimised by the cross-entropy method from the
  simulated state at the window's start (all candidates stepped in parallel by
  :class:`~robot_learning.sim.mujoco_batch.G1Batch`), the cost being how far the head height and
  the torso's uprightness fall behind the reference's, plus small joint-tracking, velocity and
  smoothness terms; left/right noise is mirrored so that the motion stays symmetric;
- robustness: every candidate also runs from ``perturbations - 1`` perturbed copies of the start
  state (joint and pelvis velocity noise) with noise on its targets, and its cost is the mean over
  the copies, so that the search prefers motions that still work a little off the nominal path (a
  knife-edge motion is useless to a policy that has to track it);
- the first knot of the best window is committed, the window moves on by one knot.

The result is a :class:`FeasibleReference`: the simulated states (qpos, qvel) at 50 Hz, which the
tracking stage uses as its reference and for reference-state initialisation, and the PD targets
that produced them (open loop, from the reference's first state).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from robot_learning.motion.reference import FrameTiming, Reference
from robot_learning.robots.g1 import G1_SPEC
from robot_learning.sim.mujoco_batch import G1Batch, G1BatchConfig
from robot_learning.tasks.getup.env import make_qpos, up_z
from robot_learning.tasks.getup.poses import fallen_pose_dataset
from robot_learning.tasks.getup.reference import load_reference

N_JOINTS = len(G1_SPEC.joint_names)
LOWER = np.asarray(G1_SPEC.position_lower)
UPPER = np.asarray(G1_SPEC.position_upper)


@dataclass
class TrajOptConfig:
    samples: int = 128  # simulated environments per CEM iteration (= candidates x perturbations)
    perturbations: int = 4  # each candidate runs from this many perturbed copies of the window's start state
    start_joint_vel_noise: float = 0.3  # rad/s, on the joints of the perturbed copies (the first copy is exact)
    start_base_vel_noise: float = 0.1  # m/s and rad/s, on the pelvis
    target_noise: float = 0.03  # rad, per policy step on the targets of the perturbed copies
    # the copies steer the search only while the reference's head is below this height: rising to
    # stand and standing need feedback (ankle gains of 20 Nm/rad cannot hold a stance open loop), so
    # from there on only the reference's own copy counts
    copies_until_head_m: float = 0.9
    elites: int = 6
    iterations: int = 8
    knot_s: float = 0.2  # s between PD-target knots (10 policy steps)
    window_knots: int = 6  # optimised look-ahead (knots)
    hold_s: float = 2.0  # standing kept after the reference ends
    init_std: float = 0.25  # rad, first CEM standard deviation
    min_std: float = 0.02
    smoothing: float = 0.3  # new mean = (1 - smoothing) * elite mean + smoothing * old mean
    head_weight: float = 40.0  # per (m behind the reference's head height)^2
    up_weight: float = 4.0  # per (difference in torso uprightness)^2
    joint_weight: float = 0.05  # per rad^2 off the reference's joints
    vel_weight: float = 2e-4  # per (rad/s)^2 of joint velocity
    knot_weight: float = 0.05  # per rad^2 of change between consecutive knots
    physics_dt: float = 0.002
    decimation: int = 10
    variant: str = "primitive"
    threads: int | None = None  # simulation threads (None: all cores)
    until_s: float | None = None  # optimise only this much of the reference (s; None: all of it and the hold)
    seed: int = 0


@dataclass
class FeasibleReference(FrameTiming):
    """An open-loop feasible get-up at the policy rate: ``targets[t]`` (T, 23) applied from state
    ``qpos[t]``, ``qvel[t]`` gives state ``t + 1``. ``head_height``/``up`` of every state."""

    fps: float
    qpos: np.ndarray  # (T, nq)
    qvel: np.ndarray  # (T, nv)
    targets: np.ndarray  # (T, 23) PD targets
    head_height: np.ndarray  # (T,)
    up: np.ndarray  # (T,) z of the torso's z axis
    name: str = "feasible"
    meta: dict[str, Any] | None = None

    @property
    def joint_pos(self) -> np.ndarray:
        return self.qpos[:, 7:7 + N_JOINTS]

    @property
    def root_pos(self) -> np.ndarray:
        return self.qpos[:, :3]

    @property
    def root_quat(self) -> np.ndarray:
        return self.qpos[:, 3:7]

    def save_npz(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(p, fps=self.fps, qpos=self.qpos.astype(np.float32), qvel=self.qvel.astype(np.float32),
                            targets=self.targets.astype(np.float32), head_height=self.head_height.astype(np.float32),
                            up=self.up.astype(np.float32), name=np.array(self.name),
                            meta=np.array(json.dumps(self.meta or {})))
        return p

    @classmethod
    def load_npz(cls, path: str | Path) -> "FeasibleReference":
        p = Path(path)
        if not p.is_file():
            posture = "prone" if "prone" in p.name else "supine"
            raise FileNotFoundError(f"feasible reference {p} does not exist (make it with "
                                    f"`python -m robot_learning.tasks.getup.trajopt --posture {posture} --out {p}`)")
        with np.load(p, allow_pickle=False) as z:
            missing = {"fps", "qpos", "qvel", "targets", "head_height", "up"} - set(z.files)
            if missing:
                raise ValueError(f"{p} is not a feasible reference: missing {sorted(missing)}")
            return cls(fps=float(z["fps"]), qpos=z["qpos"].astype(np.float64), qvel=z["qvel"].astype(np.float64),
                       targets=z["targets"].astype(np.float64), head_height=z["head_height"].astype(np.float64),
                       up=z["up"].astype(np.float64), name=str(z["name"]),
                       meta=json.loads(str(z["meta"])) if "meta" in z.files else None)


FEASIBLE_DIR = Path(__file__).resolve().parents[3] / "assets" / "motions"


def load_feasible_reference(posture_or_path: str | Path, model: str = "primitive") -> FeasibleReference:
    """The shipped feasible get-up for ``"supine"`` / ``"prone"``, optimised on the ``model`` collision
    model (``assets/motions/g1_getup_<posture>_feasible.npz`` for ``"primitive"``,
    ``g1_getup_<posture>_mesh_feasible.npz`` for ``"mesh"``), or a file written by
    :meth:`FeasibleReference.save_npz`."""
    key = str(posture_or_path)
    if model not in ("primitive", "mesh"):
        raise ValueError(f"model must be 'primitive' or 'mesh', got {model!r}")
    suffix = "_feasible" if model == "primitive" else "_mesh_feasible"
    path = FEASIBLE_DIR / f"g1_getup_{key}{suffix}.npz" if key in ("supine", "prone") else Path(key)
    return FeasibleReference.load_npz(path)


def mirror_indices() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(left, right, sign, waist_yaw_roll): right[i] mirrors left[i] with ``sign`` (roll and yaw
    flip); the waist's yaw and roll are zero in a symmetric motion."""
    names = list(G1_SPEC.joint_names)
    left = np.array([i for i, n in enumerate(names) if n.startswith("left_")])
    right = np.array([names.index("right_" + names[i][len("left_"):]) for i in left])
    sign = np.array([-1.0 if ("roll" in names[i] or "yaw" in names[i]) else 1.0 for i in left])
    yr = np.array([i for i, n in enumerate(names) if n in ("waist_yaw_joint", "waist_roll_joint")])
    return left, right, sign, yr


def symmetrise(x: np.ndarray) -> np.ndarray:
    """Make joint vectors (..., 23) left/right symmetric (copy the left side onto the right)."""
    left, right, sign, yr = mirror_indices()
    y = np.array(x, dtype=np.float64, copy=True)
    y[..., right] = y[..., left] * sign
    y[..., yr] = 0.0
    return y


def _interp_targets(k0: np.ndarray, knots: np.ndarray, steps_per_knot: int) -> np.ndarray:
    """PD targets per policy step (S, W * steps_per_knot, 23) of knot sequences ``knots``
    (S, W, 23) that start from knot ``k0`` (23,)."""
    S, W, J = knots.shape
    prev = np.concatenate([np.broadcast_to(k0, (S, 1, J)), knots[:, :-1]], 1)
    u = (np.arange(1, steps_per_knot + 1) / steps_per_knot)[None, None, :, None]
    seg = prev[:, :, None, :] + (knots - prev)[:, :, None, :] * u
    return seg.reshape(S, W * steps_per_knot, J)


def optimise(ref: Reference, cfg: TrajOptConfig | None = None, log: Callable[[str], None] | None = print,
             warm_start: FeasibleReference | None = None, starts: np.ndarray | None = None) -> FeasibleReference:
    """Run the receding-horizon CEM on ``ref`` (a keyframed reference at 50 Hz); see the module doc.

    ``warm_start``: start the search from an earlier result's targets instead of the keyframes.
    ``starts``: fallen poses (K, nq), at rest. Then the copies of every candidate are the reference's
    own start (copy 0, whose states become the result) and ``perturbations - 1`` of these poses, each
    carried through the whole motion by the committed targets: the search looks for one sequence
    of targets that gets the robot up from all of them (without ``starts`` the copies are noisy
    versions of copy 0's state)."""
    cfg = cfg or TrajOptConfig()
    t_start = time.time()
    rng = np.random.default_rng(cfg.seed)
    batch = G1Batch(G1BatchConfig(num_envs=cfg.samples, variant=cfg.variant, physics_dt=cfg.physics_dt,
                                  decimation=cfg.decimation, seed=cfg.seed, threads=cfg.threads))
    fps = 1.0 / batch.dt
    if abs(fps - ref.fps) > 1e-6:
        raise ValueError(f"the reference is at {ref.fps} Hz, the simulator's policy rate is {fps} Hz")
    spk = int(round(cfg.knot_s * fps))  # policy steps per knot
    # the reference, extended by the standing hold
    hold = int(round(cfg.hold_s * fps))
    ref_q = np.concatenate([ref.joint_pos, np.repeat(ref.joint_pos[-1:], hold, 0)])
    ref_head = np.concatenate([ref.head_height, np.repeat(ref.head_height[-1:], hold, 0)])
    ref_up = np.concatenate([up_z(ref.root_quat), np.repeat(up_z(ref.root_quat[-1:]), hold, 0)])
    T = len(ref_q) if cfg.until_s is None else min(len(ref_q), int(round(cfg.until_s * fps)) + 1)
    n_knots = int(np.ceil((T - 1) / spk))
    knot_idx = np.minimum(np.arange(1, n_knots + 1) * spk, T - 1)
    mean_all = symmetrise(ref_q[knot_idx])  # first guess: the keyframed joint angles
    if warm_start is not None:  # or an earlier result's knots (knot j is the target at step j * spk - 1)
        j = np.minimum(np.arange(1, n_knots + 1) * spk - 1, warm_start.num_frames - 1)
        mean_all = symmetrise(warm_start.targets[j])
    committed = [symmetrise(ref_q[0])]

    P = max(1, cfg.perturbations)
    C = cfg.samples // P
    if C < 2:
        raise ValueError(f"samples ({cfg.samples}) must hold at least 2 candidates x {P} copies")
    qpos0 = make_qpos(ref.root_pos[0], ref.root_quat[0], ref.joint_pos[0])
    # settle the first state under its own targets, so that it starts at rest on the ground
    q_settled, v_settled = batch.settle(qpos0[None], seconds=0.5)
    copies_q = np.repeat(q_settled, P, 0)
    copies_v = np.repeat(v_settled, P, 0)
    multi = starts is not None and P > 1
    if multi:
        assert starts is not None
        pick = rng.choice(len(starts), size=P - 1, replace=len(starts) < P - 1)
        copies_q[1:] = starts[pick]
        copies_v[1:] = 0.0
    out_q, out_v, out_tg, out_head, out_up = [copies_q[0].copy()], [copies_v[0].copy()], [], [], []
    ids = np.arange(cfg.samples)
    copy_ok = np.ones(P, dtype=bool)

    for k in range(n_knots):
        W = min(cfg.window_knots, n_knots - k)
        mean = mean_all[k:k + W].copy()
        std = np.full_like(mean, cfg.init_std)
        t0 = k * spk
        steps = min(W * spk, T - 1 - t0)
        best_cost, best = np.inf, mean.copy()
        for it in range(cfg.iterations):
            noise = symmetrise(rng.standard_normal((C, W, N_JOINTS))) * std
            cand = np.clip(mean + noise, LOWER, UPPER)
            cand[0] = np.clip(mean, LOWER, UPPER)  # keep the mean among the candidates
            targets = np.repeat(_interp_targets(committed[-1], cand, spk)[:, :steps], P, 0)  # (C * P, steps, 23)
            q0 = np.tile(copies_q, (C, 1))
            v0 = np.tile(copies_v, (C, 1))
            pert = np.arange(C * P) % P != 0  # copy 0 of every candidate: exact
            if not multi:
                v0[pert, 6:] += cfg.start_joint_vel_noise * rng.standard_normal((int(pert.sum()), N_JOINTS))
                v0[pert, :6] += cfg.start_base_vel_noise * rng.standard_normal((int(pert.sum()), 6))
            targets[pert] += cfg.target_noise * rng.standard_normal(targets[pert].shape)
            batch.reset(ids[:C * P], q0, v0)
            cost = np.zeros(C * P)
            for s in range(steps):
                full = np.zeros((cfg.samples, N_JOINTS))
                full[:C * P] = targets[:, s]
                full[C * P:] = targets[0, s]
                batch.step(full)
                i = t0 + s + 1
                head = batch.sensor("head_pos")[:C * P, 2]
                up = batch.sensor("torso_zaxis")[:C * P, 2]
                cost += cfg.head_weight * np.clip(ref_head[i] - head, 0.0, None) ** 2
                cost += cfg.up_weight * np.clip(ref_up[i] - up, 0.0, None) ** 2
                cost += cfg.joint_weight * np.sum((batch.joint_pos[:C * P] - ref_q[i]) ** 2, -1)
                cost += cfg.vel_weight * np.sum(batch.joint_vel[:C * P] ** 2, -1)
            cost = np.where(np.isfinite(cost), cost, 1e9).reshape(C, P)
            # copies that have already failed (fallen behind by more than 0.3 m) no longer steer the search
            weight = np.where(copy_ok, 1.0, 0.0) if ref_head[t0] < cfg.copies_until_head_m else np.zeros(P)
            weight[0] = max(1.0, float(weight[1:].sum()))  # the reference's own copy counts as much as the others
            cost = (cost * weight).sum(1) / weight.sum()
            prev = np.concatenate([np.broadcast_to(committed[-1], (C, 1, N_JOINTS)), cand[:, :-1]], 1)
            cost += cfg.knot_weight * np.sum((cand - prev) ** 2, (1, 2))
            order = np.argsort(cost)
            if cost[order[0]] < best_cost:
                best_cost, best = float(cost[order[0]]), cand[order[0]].copy()
            elite = cand[order[:cfg.elites]]
            mean = (1 - cfg.smoothing) * elite.mean(0) + cfg.smoothing * mean
            std = np.maximum((1 - cfg.smoothing) * elite.std(0) + cfg.smoothing * std, cfg.min_std)
        # commit the first knot of the best window, carry every copy through it; warm-start the next window
        mean_all[k:k + W] = best
        committed.append(best[0])
        seg = _interp_targets(committed[-2], best[None, :1], spk)[0][: min(spk, T - 1 - t0)]
        batch.reset(ids[:P], copies_q, copies_v)
        for tg in seg:
            batch.step(np.repeat(tg[None], cfg.samples, 0))
            out_tg.append(tg.copy())
            out_q.append(batch.qpos[0].copy())
            out_v.append(batch.qvel[0].copy())
            out_head.append(float(batch.sensor("head_pos")[0, 2]))
            out_up.append(float(batch.sensor("torso_zaxis")[0, 2]))
        copies_q, copies_v = batch.qpos[:P].copy(), batch.qvel[:P].copy()
        heads = batch.sensor("head_pos")[:P, 2]
        copy_ok &= heads > ref_head[len(out_tg)] - 0.3
        if log:
            extra = f"  fallen-pose copies on track {int(copy_ok[1:].sum())}/{P - 1}" if multi else ""
            log(f"knot {k + 1}/{n_knots}  t={len(out_tg) / fps:5.2f}s  head {out_head[-1]:.2f} m "
                f"(reference {ref_head[len(out_tg)]:.2f})  cost {best_cost:.1f}{extra}  {time.time() - t_start:.0f}s")
    batch.close()
    # targets of the last state (none applied after it): hold the last knot
    out_tg.append(out_tg[-1].copy())
    head0 = ref.head_height[0]
    meta = {"source": ref.name, "config": asdict(cfg), "seconds": round(time.time() - t_start, 1)}
    if multi:
        meta["fallen_pose_copies_up_at_end"] = int(copy_ok[1:].sum())
        meta["fallen_pose_copies"] = P - 1
    return FeasibleReference(
        fps=fps, qpos=np.stack(out_q), qvel=np.stack(out_v), targets=np.stack(out_tg),
        head_height=np.array([head0] + out_head), up=np.array([ref_up[0]] + out_up), name=ref.name + "_feasible", meta=meta)


def open_loop_check(ref: FeasibleReference, starts: np.ndarray, times_s: tuple[float, ...] = (3.0, 6.0, 8.0),
                    tolerance_m: float = 0.2, seed: int = 0) -> dict[str, float]:
    """Play the reference's targets open loop from fallen poses ``starts`` (K, nq, at rest); for each
    time in ``times_s``, the fraction of robots whose head is within ``tolerance_m`` of (or above)
    the reference's head height."""
    n = len(starts)
    with G1Batch(G1BatchConfig(num_envs=n, seed=seed)) as b:
        b.reset(np.arange(n), starts, np.zeros((n, b.nv)))
        marks = {int(round(t * ref.fps)): t for t in times_s if int(round(t * ref.fps)) < ref.num_frames}
        out: dict[str, float] = {}
        for t in range(max(marks) if marks else 0):
            b.step(np.repeat(ref.targets[t][None], n, 0))
            if t + 1 in marks:
                head = b.sensor("head_pos")[:, 2]
                out[f"{marks[t + 1]:g}s"] = float(np.mean(head > ref.head_height[t + 1] - tolerance_m))
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse


    ap = argparse.ArgumentParser(description="Make a keyframed G1 get-up feasible by receding-horizon CEM")
    ap.add_argument("--posture", choices=("supine", "prone"), required=True)
    ap.add_argument("--check", type=int, default=0, metavar="N",
                    help="instead of optimising: play the shipped reference open loop from N held-out fallen poses and print "
                         "the fraction on track (head within 0.2 m of the reference's) at 3, 6 and 8 s")
    ap.add_argument("--out", default=None, help="output .npz (default assets/motions/g1_getup_<posture>_feasible.npz)")
    ap.add_argument("--samples", type=int, default=TrajOptConfig.samples)
    ap.add_argument("--iterations", type=int, default=TrajOptConfig.iterations)
    ap.add_argument("--perturbations", type=int, default=TrajOptConfig.perturbations, help="noisy copies per candidate (1: none)")
    ap.add_argument("--elites", type=int, default=TrajOptConfig.elites)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", choices=("primitive", "mesh"), default="primitive", help="collision model to optimise on")
    ap.add_argument("--until", type=float, default=None, metavar="S", help="optimise only the first S seconds")
    ap.add_argument("--threads", type=int, default=None, help="simulation threads (default: all cores)")
    ap.add_argument("--warm-start", type=Path, default=None, help="an earlier result (.npz) to start the search from")
    ap.add_argument("--fallen-copies", type=int, default=0,
                    help="also carry this many training fallen poses through the motion (robust to the start; 0: noise copies)")
    args = ap.parse_args(argv)
    if args.check > 0:
        held_out = fallen_pose_dataset(seed=0)[args.posture]["test"][: args.check]
        print(json.dumps({"posture": args.posture, "poses": len(held_out),
                          "on_track": open_loop_check(load_feasible_reference(args.posture), held_out)}))
        return 0
    cfg = TrajOptConfig(samples=args.samples, iterations=args.iterations, seed=args.seed, perturbations=args.perturbations,
                        elites=args.elites, variant=args.model, threads=args.threads, until_s=args.until)
    starts = None
    if args.fallen_copies > 0:
        cfg.perturbations = args.fallen_copies + 1
        starts = fallen_pose_dataset(seed=0)[args.posture]["train"]
    warm = FeasibleReference.load_npz(args.warm_start) if args.warm_start else None
    feas = optimise(load_reference(args.posture), cfg, warm_start=warm, starts=starts)
    out = args.out or str(FEASIBLE_DIR / f"g1_getup_{args.posture}_feasible.npz")
    feas.save_npz(out)
    print(f"wrote {out}: {feas.num_frames} frames, final head {feas.head_height[-1]:.2f} m, "
          f"max head over the last second {feas.head_height[-50:].min():.2f}-{feas.head_height[-50:].max():.2f} m")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
