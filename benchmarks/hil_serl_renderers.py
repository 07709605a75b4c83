"""What differs between MuJoCo's and PyBullet's frames of the same state, for the HIL-SERL image gate, as JSON.

    python benchmarks/hil_serl_renderers.py [--episodes 20] [--every 5] [--config sim/configs/hil_serl_image.yaml]
        [--encoder (the config's)] [--out benchmarks/results/hil_serl_renderers.json]

States come from episodes of the scripted expert in MuJoCo (noise drawn per episode, as the encoder's
pretraining data), with the config's cameras (give the cameras the encoder was pretrained with); at every ``--every``-th step PyBullet is put in the same state (arm and finger
joints, cube pose, bin) and both engines render the wrist and front cameras. Reported per camera:

- pixels: mean absolute difference (0-255, all channels) over the frame and per region (MuJoCo's
  segmentation: floor, cube, bin, robot, the TCP site MuJoCo draws, background), the mean signed
  difference per region (PyBullet - MuJoCo: a lighting bias shows here), and the difference after a
  3 x 3 box blur (what is left once sub-pixel edges, i.e. anti-aliasing and rasterisation, are averaged out);
- the frozen encoder: the distance between its features of the two frames relative to the distance
  between MuJoCo frames of two different states, the cosine similarity, and its privileged head's
  errors (cube, TCP, bin positions in cm; the held-cube accuracy) on MuJoCo frames and on PyBullet frames;
- render time per frame in each engine.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from robot_learning.core.runs import write_json

REGIONS = ("floor", "cube", "bin", "robot", "site", "background")


def _segmenter(mj, cams):  # MuJoCo's segmentation renderers, one per camera
    import mujoco

    out = {}
    for name, c in cams.items():
        r = mujoco.Renderer(mj.model, c.height, c.width)
        r.enable_segmentation_rendering()
        out[name] = r
    return out


def _regions(mj, seg: np.ndarray) -> np.ndarray:
    """Region index per pixel (REGIONS order) from MuJoCo's segmentation (object id, object type)."""
    import mujoco

    m = mj.model
    ids, types = seg[..., 0], seg[..., 1]
    lab = np.full(ids.shape, REGIONS.index("robot"))
    geom = types == int(mujoco.mjtObj.mjOBJ_GEOM)
    names = {m.geom("floor").id: "floor", m.geom("cube_geom").id: "cube",
             **{m.geom(f"bin_{n}").id: "bin" for n in ("floor", "wall0", "wall1", "wall2", "wall3")}}
    for gid, region in names.items():
        lab[geom & (ids == gid)] = REGIONS.index(region)
    lab[types == int(mujoco.mjtObj.mjOBJ_SITE)] = REGIONS.index("site")
    lab[ids < 0] = REGIONS.index("background")
    return lab


def _blur(x: np.ndarray) -> np.ndarray:
    p = np.pad(x.astype(np.float64), ((1, 1), (1, 1), (0, 0)), mode="edge")
    return sum(p[i:i + x.shape[0], j:j + x.shape[1]] for i in range(3) for j in range(3)) / 9.0


def collect(cfg, episodes: int, every: int, seed: int) -> dict:
    """Frames of both engines in the same states, MuJoCo's region labels, the privileged targets, timings."""
    from robot_learning.tasks.hil_serl.env import PandaPickPlace
    from robot_learning.tasks.hil_serl.expert import ExpertConfig, expert_action
    from robot_learning.tasks.hil_serl.pybullet_env import PyBulletPandaPickPlace

    cams = cfg.cameras()
    mj, pb = PandaPickPlace(cfg), PyBulletPandaPickPlace(cfg)
    seg_r = _segmenter(mj, cams)
    rng = np.random.default_rng(seed)
    out: dict = {k: [] for k in ("mj_wrist", "mj_front", "pb_wrist", "pb_front", "lab_wrist", "lab_front",
                                 "cube_pos", "tcp_pos", "bin_xy", "held")}
    t_mj = t_pb = 0.0
    try:
        for ep in range(episodes):
            mj.reset(seed=seed * 100_000 + ep)
            ecfg = ExpertConfig(noise=float(rng.uniform(0.0, 0.8)))
            for t in range(cfg.episode_steps):
                if t % every == 0:
                    q = mj.data.qpos
                    pb.set_state(q[mj._qadr], q[mj._fingers], q[mj._cube_q:mj._cube_q + 3], q[mj._cube_q + 3:mj._cube_q + 7], mj.goal)
                    t0 = time.perf_counter()
                    fm = mj.camera_frames()
                    t1 = time.perf_counter()
                    fp = pb.camera_frames()
                    t2 = time.perf_counter()
                    t_mj, t_pb = t_mj + t1 - t0, t_pb + t2 - t1
                    for name, r in seg_r.items():
                        r.update_scene(mj.data, camera=f"{name}_cam")
                        out[f"lab_{name}"].append(_regions(mj, r.render()))
                        out[f"mj_{name}"].append(fm[f"{name}_image"])
                        out[f"pb_{name}"].append(fp[f"{name}_image"])
                    out["cube_pos"].append(mj.object_pos())
                    out["tcp_pos"].append(mj.tcp_pos())
                    out["bin_xy"].append(mj.goal[:2].copy())
                    out["held"].append(mj._grasped())
                a, g = expert_action(mj, ecfg, rng)
                mj.step(a, g)
    finally:
        for r in seg_r.values():
            r.close()
        mj.close()
        pb.close()
    data = {k: np.stack(v) if k.startswith(("mj_", "pb_", "lab_")) else np.asarray(v, dtype=np.float32) for k, v in out.items()}
    n = len(data["held"]) * len(cams)
    data["ms_per_frame"] = {"mujoco": 1000.0 * t_mj / n, "pybullet": 1000.0 * t_pb / n}
    data["cameras"] = {k: {"body": c.body, "pos": list(c.pos), "target": list(c.target), "up": list(c.up), "fovy_deg": c.fovy_deg,
                           "width": c.width, "height": c.height} for k, c in cams.items()}
    return data


def pixel_figures(d: dict, cam: str) -> dict:
    a, b, lab = d[f"mj_{cam}"].astype(np.float64), d[f"pb_{cam}"].astype(np.float64), d[f"lab_{cam}"]
    diff = b - a
    out: dict = {"mean_abs_diff": round(float(np.abs(diff).mean()), 2),
                 "mean_abs_diff_after_3x3_blur": round(float(np.mean([np.abs(_blur(x) - _blur(y)).mean() for x, y in zip(b, a)])), 2),
                 "regions": {}}
    for k, name in enumerate(REGIONS):
        m = lab == k
        if m.any():
            out["regions"][name] = {"pixel_share": round(float(m.mean()), 4), "mean_abs_diff": round(float(np.abs(diff[m]).mean()), 1),
                                    "mean_signed_diff_rgb": [round(float(v), 1) for v in diff[m].mean(axis=0)]}
    return out


def encoder_figures(d: dict, path: Path, seed: int) -> dict:
    import torch

    from robot_learning.tasks.hil_serl.encoder import PrivilegedHead, load_encoder

    torch.set_num_threads(1)
    enc = load_encoder(path)
    state = torch.load(path, weights_only=True)
    head = PrivilegedHead(enc.cameras * enc.features)
    head.load_state_dict(state["head"])
    head.eval()
    feats, preds = {}, {}
    with torch.no_grad():
        for src in ("mj", "pb"):
            f = enc([torch.as_tensor(d[f"{src}_{c}"]).float() / 255.0 for c in ("wrist", "front")])
            feats[src], preds[src] = f.numpy(), head(f).numpy()
    rng = np.random.default_rng(seed)
    n, k = len(d["held"]), enc.features
    perm = rng.permutation(n)
    out: dict = {"encoder": str(path), "encoder_sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16], "cameras": {}}
    for i, cam in enumerate(("wrist", "front")):
        sl = slice(i * k, (i + 1) * k)
        fm, fp = feats["mj"][:, sl], feats["pb"][:, sl]
        same = np.linalg.norm(fm - fp, axis=1)
        other = np.linalg.norm(fm - fm[perm], axis=1)[perm != np.arange(n)]
        cos = np.sum(fm * fp, 1) / (np.linalg.norm(fm, axis=1) * np.linalg.norm(fp, axis=1))
        out["cameras"][cam] = {"feature_l2_mujoco_vs_pybullet_same_state": round(float(same.mean()), 3),
                               "feature_l2_mujoco_two_states": round(float(other.mean()), 3),
                               "ratio": round(float(same.mean() / other.mean()), 3),
                               "cosine_same_state": round(float(cos.mean()), 3)}
    truth = np.concatenate([d["cube_pos"], d["tcp_pos"], d["bin_xy"]], 1)
    for src, name in (("mj", "mujoco_frames"), ("pb", "pybullet_frames")):
        p = preds[src]
        row = {}
        for target, sl in (("cube_pos", slice(0, 3)), ("tcp_pos", slice(3, 6)), ("bin_xy", slice(6, 8))):
            e = np.linalg.norm(p[:, sl] - truth[:, sl], axis=1) * 100.0
            row[f"{target}_error_cm_mean"] = round(float(e.mean()), 2)
            row[f"{target}_error_cm_p90"] = round(float(np.percentile(e, 90)), 2)
        held = d["held"] > 0.5
        row["held_accuracy"] = round(float(np.mean((p[:, 8] > 0) == held)), 3)
        out[name] = row
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--every", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--config", type=Path, default=None, help="HIL-SERL YAML (default sim/configs/hil_serl_image.yaml)")
    ap.add_argument("--encoder", type=Path, default=None, help="default: the config's")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/hil_serl_renderers.json")
    a = ap.parse_args(argv)
    from robot_learning.tasks.hil_serl.encoder import resolve
    from robot_learning.tasks.hil_serl.module import load_config

    cfg = load_config(a.config, observation="image")
    encoder = a.encoder if a.encoder is not None else resolve(cfg.encoder)
    t0 = time.time()
    d = collect(cfg.env, a.episodes, a.every, a.seed)
    result: dict = {
        "command": "python benchmarks/hil_serl_renderers.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "states": len(d["held"]), "episodes": a.episodes, "every": a.every, "seed": a.seed, "cameras": d["cameras"],
        "render_ms_per_frame": {k: round(v, 1) for k, v in d["ms_per_frame"].items()},
        "pixels": {cam: pixel_figures(d, cam) for cam in ("wrist", "front")},
    }
    if encoder.is_file():
        result["encoder"] = encoder_figures(d, encoder, a.seed)
    else:
        result["encoder"] = f"not measured: {encoder} not found"
    result["wall_s"] = round(time.time() - t0, 1)
    write_json(a.out, result)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
