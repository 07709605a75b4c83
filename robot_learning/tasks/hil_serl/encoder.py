"""The image option's visual encoder: a small ResNet, pretrained on the simulated scene, frozen during RL.

HIL-SERL runs its policies and reward classifiers on a pretrained ResNet kept frozen; no weights can
be downloaded here, so this module pretrains one and the project ships it
(``assets/encoders/panda_pick_place_encoder.pt``, with a JSON card beside it):

- **data**: frames of both cameras (wrist and front, :class:`~robot_learning.tasks.hil_serl.scene.CameraConfig`)
  from episodes of the scripted expert (noise drawn per episode) and of random motion (there the cube
  and the bin are put somewhere else, sometimes the cube in the bin, before every frame), under visual
  randomisation (:class:`VisualRandomisation`: light positions and intensities, the table's colour and
  texture, the cube's and the bin's colours, camera position and orientation jitter);
- **objective** (privileged state): regress the cube's position, the TCP's position, the bin's
  position, and classify the cube held between the fingers, from both frames together;
- **architecture** (:class:`VisualEncoder`): one shared residual trunk (a stride-2 stem and three
  stride-2 basic blocks with GroupNorm, 64 x 64 -> 4 x 4), then per camera a 1 x 1 convolution, a
  linear layer to ``features`` values, LayerNorm and tanh.

During RL the encoder is frozen: :class:`EncodedEnv` turns every observation (proprioception and raw
frames, the layout of the ONNX contract) into proprioception and features once per frame, so the
replay buffers, the learner and the reward classifier work on small vectors. The exported policy
carries the encoder inside its graph (:class:`PixelsToFeatures` in front of the actor), so the runtime
feeds it the raw frames.

    python -m robot_learning.tasks.hil_serl.encoder --out assets/encoders/panda_pick_place_encoder.pt
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from robot_learning.core.checks import check
from robot_learning.tasks.hil_serl.scene import (
    CAMERAS,
    PROPRIO_TERMS,
    PickPlaceConfig,
    obs_layout,
)
from robot_learning.types import ObsLayout, ObsTerm

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_ENCODER = "assets/encoders/panda_pick_place_encoder.pt"
PROPRIO_DIM = sum(t.size for t in PROPRIO_TERMS)
TARGETS = ("cube_pos", "tcp_pos", "bin_xy", "cube_in_gripper")


# ---------------------------------------------------------------------- network
class BasicBlock(nn.Module):
    """Two 3 x 3 convolutions with GroupNorm and a (projected) skip connection."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.n1 = nn.GroupNorm(8, cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.n2 = nn.GroupNorm(8, cout)
        self.skip = nn.Sequential() if cin == cout and stride == 1 else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.GroupNorm(8, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.n1(self.c1(x)))
        return F.relu(self.n2(self.c2(y)) + self.skip(x))


class VisualEncoder(nn.Module):
    """Frames (B, H, W, 3) with values in [0, 1], one per camera -> features (B, cameras x ``features``)."""

    def __init__(self, cameras: int = 2, features: int = 64, width: int = 64, height: int = 64) -> None:
        super().__init__()
        self.cameras, self.features, self.size = cameras, features, (height, width)
        self.trunk = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.GroupNorm(8, 16), nn.ReLU(),
                                   BasicBlock(16, 32, 2), BasicBlock(32, 64, 2), BasicBlock(64, 64, 2))
        with torch.no_grad():
            _, c, h, w = self.trunk(torch.zeros(1, 3, height, width)).shape
        self.heads = nn.ModuleList(nn.Sequential(nn.Conv2d(c, 16, 1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * h * w, features),
                                                 nn.LayerNorm(features), nn.Tanh()) for _ in range(cameras))

    def forward(self, frames: list[torch.Tensor]) -> torch.Tensor:
        out = []
        for head, f in zip(self.heads, frames):
            x = (f.permute(0, 3, 1, 2) - 0.5) * 4.0
            out.append(head(self.trunk(x)))
        return torch.cat(out, -1)


class PrivilegedHead(nn.Module):
    """The pretraining objective's head: features of both cameras -> cube (3), TCP (3), bin (2), held logit (1)."""

    def __init__(self, inp: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(inp, 256), nn.ReLU(), nn.Linear(256, 9))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.net(f)


class PixelsToFeatures(nn.Module):
    """The observation vector of the ``image`` layout (proprioception, then each camera's frame flattened
    and scaled to [0, 1]) -> proprioception and the frozen encoder's features: the front of the exported graph."""

    def __init__(self, encoder: VisualEncoder, layout: ObsLayout) -> None:
        super().__init__()
        self.encoder = encoder
        sl = layout.slices()
        self.proprio = [(sl[t.name].start, sl[t.name].stop) for t in layout.terms if t.shape is None]
        self.frames = [(sl[t.name].start, sl[t.name].stop, tuple(t.shape)) for t in layout.shaped_terms()]
        if len(self.frames) != encoder.cameras or any(s[:2] != encoder.size for _, _, s in self.frames):
            raise ValueError(f"the encoder takes {encoder.cameras} frames of {encoder.size}; the layout has "
                             f"{[s for _, _, s in self.frames]}")

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        proprio = torch.cat([obs[:, a:b] for a, b in self.proprio], -1)
        frames = [obs[:, a:b].reshape((-1,) + s) for a, b, s in self.frames]
        return torch.cat([proprio, self.encoder(frames)], -1)


class ImagePolicy(nn.Module):
    """What is exported for the image option: raw frames and proprioception -> encoder -> the policy."""

    def __init__(self, features: PixelsToFeatures, policy: nn.Module) -> None:
        super().__init__()
        self.features, self.policy = features, policy

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.policy(self.features(obs))


# ---------------------------------------------------------------------- loading, the frozen path
def resolve(path: str | Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() or p.exists() else ROOT / p


def load_encoder(path: str | Path = DEFAULT_ENCODER) -> VisualEncoder:
    """The shipped (or a remade) encoder, frozen, in eval mode."""
    p = resolve(path)
    if not p.is_file():
        raise FileNotFoundError(f"visual encoder not found: {p}; remake it with `python -m robot_learning.tasks.hil_serl.encoder --out {path}`")
    state = torch.load(p, weights_only=True)
    enc = VisualEncoder(**{k: int(v) for k, v in state["arch"].items()})
    enc.load_state_dict(state["encoder"])
    for q in enc.parameters():
        q.requires_grad_(False)
    return enc.eval()


def feature_layout(encoder: VisualEncoder) -> ObsLayout:
    """What the learner, the replay buffers and the classifier see: proprioception and features per camera."""
    return ObsLayout(PROPRIO_TERMS + tuple(ObsTerm(f"{c}_features", encoder.features) for c in CAMERAS[:encoder.cameras]))


def encoder_features(path: str | Path = DEFAULT_ENCODER) -> int:
    """The size of the learner's observation with this encoder (proprioception + features), read from the file."""
    p = resolve(path)
    if not p.is_file():
        raise FileNotFoundError(f"visual encoder not found: {p}; remake it with `python -m robot_learning.tasks.hil_serl.encoder --out {path}`")
    arch = torch.load(p, weights_only=True)["arch"]
    return PROPRIO_DIM + int(arch["cameras"]) * int(arch["features"])


class EncodedEnv:
    """The MuJoCo task seen through the frozen encoder: observations (and ``observation()``, ``reset``,
    ``step``, ``place_object``) are proprioception and features; everything else is the task's own."""

    encoded = True
    image_shape = None

    def __init__(self, env: Any, encoder: VisualEncoder) -> None:
        self.env = env
        self.to_features = PixelsToFeatures(encoder, env.layout).eval()
        self.layout = feature_layout(encoder)
        self.encode_seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)

    @torch.no_grad()
    def encode(self, obs: np.ndarray) -> np.ndarray:
        t = time.perf_counter()
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32)).reshape(-1, obs.shape[-1])
        out = self.to_features(x).numpy().reshape(obs.shape[:-1] + (self.layout.size,))
        self.encode_seconds += time.perf_counter() - t
        return out

    def reset(self, seed: int | None = None) -> np.ndarray:
        return self.encode(self.env.reset(seed))

    def step(self, arm_action: np.ndarray, gripper: int) -> tuple[np.ndarray, dict]:
        obs, info = self.env.step(arm_action, gripper)
        return self.encode(obs), info

    def place_object(self, xy: np.ndarray, yaw: float = 0.0, z: float | None = None) -> np.ndarray:
        return self.encode(self.env.place_object(xy, yaw, z))

    def observation(self, fields: dict[str, np.ndarray] | None = None) -> np.ndarray:
        return self.encode(self.env.observation(fields))


def make_env(cfg: PickPlaceConfig, encoder: str | Path = DEFAULT_ENCODER) -> Any:
    """The task for training: the MuJoCo environment, through the frozen encoder for the image option."""
    from robot_learning.tasks.hil_serl.env import PandaPickPlace

    env = PandaPickPlace(cfg)
    return EncodedEnv(env, load_encoder(encoder)) if cfg.observation == "image" else env


def learner_layout(cfg: PickPlaceConfig, encoder: str | Path = DEFAULT_ENCODER) -> ObsLayout:
    """The learner's observation layout: the task's, or for the image option the encoder's features."""
    if cfg.observation != "image":
        return obs_layout(cfg)
    return feature_layout(load_encoder(encoder))


def image_policy(policy: nn.Module, cfg: PickPlaceConfig, encoder: str | Path = DEFAULT_ENCODER) -> nn.Module:
    """The exported module of the image option: the frozen encoder in front of a feature policy."""
    return ImagePolicy(PixelsToFeatures(load_encoder(encoder), obs_layout(cfg)), policy).eval()


# ---------------------------------------------------------------------- visual randomisation
@dataclass
class VisualRandomisation:
    """Per episode: lights, table, cube and bin colours; per frame: camera jitter."""

    light_move_m: float = 0.6  # light positions moved by up to this much
    light_intensity: tuple[float, float] = (0.3, 1.0)  # diffuse of each light
    ambient: tuple[float, float] = (0.0, 0.35)  # headlight ambient
    table_tint: tuple[float, float] = (0.4, 1.6)  # table material colour factor per channel
    table_plain: float = 0.3  # probability of a plain table (the checker texture off, a random colour)
    object_jitter: float = 0.25  # cube and bin colours: nominal + U(-j, j) per channel
    camera_pos_m: float = 0.01  # camera position jitter per axis (the wrist camera: half of it)
    camera_rot_deg: float = 2.0  # camera orientation jitter about a random axis

    def __post_init__(self) -> None:
        check(self, non_negative=("light_move_m", "object_jitter", "camera_pos_m", "camera_rot_deg"), fraction=("table_plain",),
              ordered=("light_intensity", "ambient", "table_tint"))


class Randomiser:
    """Applies :class:`VisualRandomisation` to a task's MuJoCo model (the nominal values kept to restore)."""

    def __init__(self, env: Any, cfg: VisualRandomisation) -> None:
        import mujoco

        self.mj, self.env, self.cfg = mujoco, env, cfg
        m = env.model
        self.floor = m.geom("floor").id
        self.cube = m.geom("cube_geom").id
        self.bin = [m.geom(f"bin_{n}").id for n in ("floor", "wall0", "wall1", "wall2", "wall3")]
        self.cams = [m.camera(f"{c}_cam").id for c in CAMERAS]
        self.nominal = {k: getattr(m, k).copy() for k in ("light_pos", "light_diffuse", "geom_rgba", "geom_matid", "mat_rgba", "cam_pos", "cam_quat")}
        self.ambient = m.vis.headlight.ambient.copy()

    def episode(self, rng: np.random.Generator) -> None:
        m, c, n = self.env.model, self.cfg, self.nominal
        m.light_pos[:] = n["light_pos"] + rng.uniform(-c.light_move_m, c.light_move_m, n["light_pos"].shape) * [1, 1, 0.3]
        m.light_diffuse[:] = rng.uniform(*c.light_intensity, (m.nlight, 1)) * np.ones(3)
        m.vis.headlight.ambient[:] = rng.uniform(*c.ambient)
        m.geom_rgba[:] = n["geom_rgba"]
        m.geom_matid[:] = n["geom_matid"]
        m.mat_rgba[:] = n["mat_rgba"]
        mat = n["geom_matid"][self.floor]
        if rng.random() < c.table_plain or mat < 0:
            m.geom_matid[self.floor] = -1
            m.geom_rgba[self.floor] = [*rng.uniform(0.1, 0.8, 3), 1.0]
        else:
            m.mat_rgba[mat, :3] = np.clip(n["mat_rgba"][mat, :3] * rng.uniform(*c.table_tint, 3), 0, 1)
        m.geom_rgba[self.cube, :3] = np.clip(n["geom_rgba"][self.cube, :3] + rng.uniform(-c.object_jitter, c.object_jitter, 3), 0, 1)
        bin_rgb = np.clip(n["geom_rgba"][self.bin[0], :3] + rng.uniform(-c.object_jitter, c.object_jitter, 3), 0, 1)
        for g in self.bin:
            m.geom_rgba[g, :3] = bin_rgb

    def frame(self, rng: np.random.Generator) -> None:
        m, d, c, n = self.env.model, self.env.data, self.cfg, self.nominal
        for k, cid in enumerate(self.cams):
            scale = 0.5 if k == 0 else 1.0  # the wrist camera is bolted closer
            m.cam_pos[cid] = n["cam_pos"][cid] + rng.uniform(-1, 1, 3) * c.camera_pos_m * scale
            axis = rng.normal(size=3)
            dq = np.zeros(4)
            self.mj.mju_axisAngle2Quat(dq, axis / np.linalg.norm(axis), np.radians(rng.uniform(0, c.camera_rot_deg)))
            q = np.zeros(4)
            self.mj.mju_mulQuat(q, n["cam_quat"][cid], dq)
            m.cam_quat[cid] = q
        self.mj.mj_camlight(m, d)

    def restore(self) -> None:
        m = self.env.model
        for k, v in self.nominal.items():
            getattr(m, k)[:] = v
        m.vis.headlight.ambient[:] = self.ambient
        self.mj.mj_camlight(m, self.env.data)


# ---------------------------------------------------------------------- pretraining
@dataclass
class PretrainConfig:
    episodes: int = 100  # training episodes (frames every `every` steps)
    heldout_episodes: int = 12  # held-out episodes: other scenes, other randomisations (and as many with nominal visuals)
    every: int = 2  # control steps between two recorded frames of an expert episode (every step in a random one)
    expert_fraction: float = 0.7  # episodes by the noisy expert (the rest random motion with the objects moved per frame)
    epochs: int = 16
    batch_size: int = 64
    lr: float = 1e-3
    shift_pad: int = 3  # DrQ-style random shift while training
    features: int = 64
    threads: int = 1  # one: on a shared 2-core machine two threads ran 10x slower
    seed: int = 0
    randomisation: VisualRandomisation = field(default_factory=VisualRandomisation)

    def __post_init__(self) -> None:
        check(self, positive=("episodes", "heldout_episodes", "every", "epochs", "batch_size", "lr", "features", "threads"),
              non_negative=("shift_pad", "seed"), fraction=("expert_fraction",))


def collect(env: Any, episodes: int, seed: int, cfg: PretrainConfig, randomise: bool = True,
            progress: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
    """Frames of both cameras and the privileged targets, from expert and random episodes."""
    from robot_learning.tasks.hil_serl.expert import ExpertConfig, expert_action

    rng = np.random.default_rng(seed)
    rand = Randomiser(env, cfg.randomisation)
    out: dict[str, list] = {k: [] for k in ("wrist", "front", *TARGETS)}
    try:
        for ep in range(episodes):
            env.reset(seed=seed * 100_000 + ep)
            if randomise:
                rand.episode(rng)
            expert = rng.random() < cfg.expert_fraction
            ecfg = ExpertConfig(noise=float(rng.uniform(0.0, 0.8)))
            a_prev = np.zeros(3)
            for t in range(env.config.episode_steps):
                if not expert:
                    _move_objects(env, rng)
                if not expert or t % cfg.every == 0:
                    if randomise:
                        rand.frame(rng)
                    f = env.camera_frames()
                    out["wrist"].append(f["wrist_image"])
                    out["front"].append(f["front_image"])
                    out["cube_pos"].append(env.object_pos())
                    out["tcp_pos"].append(env.tcp_pos())
                    out["bin_xy"].append(env.goal[:2].copy())
                    out["cube_in_gripper"].append(env._grasped())
                if expert:
                    a, g = expert_action(env, ecfg, rng)
                else:
                    a_prev = np.clip(0.7 * a_prev + rng.normal(0, 0.6, 3), -1, 1)
                    a, g = a_prev, int(rng.choice(3, p=[0.1, 0.8, 0.1]))
                env.step(a, g)
            if progress and (ep + 1) % 20 == 0:
                progress(f"episode {ep + 1}/{episodes}: {len(out['wrist'])} frames")
    finally:
        rand.restore()
    return {k: np.stack(v) if k in ("wrist", "front") else np.asarray(v, np.float32) for k, v in out.items()}


def _move_objects(env: Any, rng: np.random.Generator) -> None:
    """Put the bin somewhere on the patch and the cube on the table (1 in 5: in the bin), unless it is held."""
    if env._grasped():
        return
    c = env.config
    b = env.model.body_mocapid[env.model.body("bin").id]
    xy = np.array([rng.uniform(*c.goal_x), rng.uniform(*c.goal_y)])
    env.data.mocap_pos[b] = [xy[0], xy[1], 0.0]
    env.goal = np.array([xy[0], xy[1], 0.008 + c.cube_half])
    if rng.random() < 0.2:
        inside = c.bin_inner_half - c.cube_half
        env.place_object(xy + rng.uniform(-inside, inside, 2), float(rng.uniform(-c.object_yaw, c.object_yaw)), env.goal[2])
    else:
        env.place_object(np.array([rng.uniform(c.object_x[0] - 0.05, c.object_x[1] + 0.05), rng.uniform(c.object_y[0] - 0.05, c.object_y[1] + 0.05)]),
                         float(rng.uniform(-np.pi, np.pi)))


def _shift(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Random translation by up to ``pad`` pixels (replicate padding), frames (B, H, W, 3)."""
    if pad <= 0:
        return x
    b, h, w, _ = x.shape
    xp = F.pad(x.permute(0, 3, 1, 2), (pad, pad, pad, pad), mode="replicate")
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None])[:, :, None].expand(b, h, w)
    cols = (dx[:, None] + torch.arange(w)[None])[:, None, :].expand(b, h, w)
    idx = torch.arange(b)[:, None, None].expand(b, h, w)
    return xp.permute(0, 2, 3, 1)[idx, rows, cols]


def _targets(d: dict[str, np.ndarray]) -> torch.Tensor:
    return torch.as_tensor(np.concatenate([d["cube_pos"], d["tcp_pos"], d["bin_xy"], d["cube_in_gripper"][:, None]], 1))


@torch.no_grad()
def errors(encoder: VisualEncoder, head: PrivilegedHead, d: dict[str, np.ndarray], batch: int = 256) -> dict[str, float]:
    """Held-out figures: mean and 90th-percentile position errors (cm), the held-cube accuracy."""
    preds = []
    for i in range(0, len(d["wrist"]), batch):
        frames = [torch.as_tensor(d[c][i:i + batch]).float() / 255.0 for c in CAMERAS]
        preds.append(head(encoder(frames)))
    p, y = torch.cat(preds).numpy(), _targets(d).numpy()
    out: dict[str, float] = {}
    for name, sl in (("cube_pos", slice(0, 3)), ("tcp_pos", slice(3, 6)), ("bin_xy", slice(6, 8))):
        e = np.linalg.norm(p[:, sl] - y[:, sl], axis=1) * 100.0
        out[f"{name}_error_cm_mean"] = float(e.mean())
        out[f"{name}_error_cm_p90"] = float(np.percentile(e, 90))
    held = y[:, 8] > 0.5
    out["cube_in_gripper_accuracy"] = float(np.mean((p[:, 8] > 0) == held))
    out["cube_in_gripper_recall"] = float(np.mean(p[held, 8] > 0)) if held.any() else float("nan")
    out["frames"] = len(p)
    out["held_frames"] = int(held.sum())
    return out


def pretrain(cfg: PretrainConfig, out: str | Path, env_cfg: PickPlaceConfig | None = None,
             progress: Callable[[str], None] | None = None, data_cache: str | Path | None = None) -> dict[str, Any]:
    """Collect the frames, train encoder and head, write the encoder (``out``) and its card (``out`` .json)."""
    from robot_learning.tasks.hil_serl.env import PandaPickPlace

    say = progress or (lambda m: None)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    env_cfg = env_cfg or PickPlaceConfig(observation="image")
    t0 = time.time()
    cache = Path(data_cache) if data_cache else None
    if cache is not None and cache.is_file():
        z = np.load(cache)
        train = {k[6:]: z[k] for k in z.files if k.startswith("train_")}
        held = {k[5:]: z[k] for k in z.files if k.startswith("held_")}
        nominal = {k[8:]: z[k] for k in z.files if k.startswith("nominal_")}
    else:
        env = PandaPickPlace(env_cfg)
        train = collect(env, cfg.episodes, cfg.seed + 1, cfg, progress=say)
        held = collect(env, cfg.heldout_episodes, cfg.seed + 1000, cfg, progress=say)
        nominal = collect(env, cfg.heldout_episodes, cfg.seed + 2000, cfg, randomise=False, progress=say)
        env.close()
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cache, **{f"train_{k}": v for k, v in train.items()}, **{f"held_{k}": v for k, v in held.items()},
                     **{f"nominal_{k}": v for k, v in nominal.items()})
    t_data = time.time() - t0
    say(f"{len(train['wrist'])} training frames, {len(held['wrist'])} held-out ({t_data:.0f} s)")
    cam = env_cfg.wrist_camera
    encoder = VisualEncoder(len(CAMERAS), cfg.features, cam.width, cam.height)
    head = PrivilegedHead(len(CAMERAS) * cfg.features)
    params = list(encoder.parameters()) + list(head.parameters())
    n = len(train["wrist"])
    steps = cfg.epochs * (n // cfg.batch_size)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    frames = {c: torch.as_tensor(train[c]) for c in CAMERAS}
    y = _targets(train)
    t1 = time.time()
    curve = []
    for step in range(steps):
        idx = torch.as_tensor(rng.integers(0, n, cfg.batch_size))
        x = [_shift(frames[c][idx].float() / 255.0, cfg.shift_pad, gen) for c in CAMERAS]
        p = head(encoder(x))
        t = y[idx]
        loss = F.mse_loss(p[:, :8] * 10.0, t[:, :8] * 10.0) + 0.1 * F.binary_cross_entropy_with_logits(p[:, 8], t[:, 8])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % max(1, steps // 12) == 0 or step + 1 == steps:
            encoder.eval(), head.eval()
            e = errors(encoder, head, held)
            encoder.train(), head.train()
            curve.append({"step": step + 1, "loss": round(loss.item(), 5), "heldout_cube_cm": round(e["cube_pos_error_cm_mean"], 2),
                          "wall_s": round(time.time() - t1, 1)})
            say(f"step {step + 1}/{steps}: loss {loss.item():.4f}, held-out cube error {e['cube_pos_error_cm_mean']:.2f} cm")
    encoder.eval(), head.eval()
    t_train = time.time() - t1
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    arch = {"cameras": len(CAMERAS), "features": cfg.features, "width": cam.width, "height": cam.height}
    torch.save({"arch": arch, "encoder": encoder.state_dict(), "head": head.state_dict()}, out)
    n_params = sum(p.numel() for p in encoder.parameters())
    card = {
        "name": out.stem,
        "architecture": "ResNet-style: stem conv 3x3/2 (16) + 3 basic blocks /2 (32, 64, 64) with GroupNorm, shared by the cameras; "
                        f"per camera: 1x1 conv (16), linear to {cfg.features}, LayerNorm, tanh",
        "input": {"cameras": list(CAMERAS), "frame": [cam.height, cam.width, 3], "values": "RGB in [0, 1] (uint8 / 255)"},
        "output": f"{len(CAMERAS) * cfg.features} features (wrist then front)",
        "parameters": int(n_params),
        "file_bytes": out.stat().st_size,
        "data": {"scene": "the hil_serl MuJoCo pick-and-place scene, the task's cameras", "training_frames": int(n),
                 "heldout_frames": len(held["wrist"]), "episodes": cfg.episodes, "heldout_episodes": cfg.heldout_episodes,
                 "frame_every_steps": cfg.every, "expert_fraction": cfg.expert_fraction,
                 "visual_randomisation": asdict(cfg.randomisation),
                 "held_cube_fraction": float(train["cube_in_gripper"].mean())},
        "objective": "privileged state from both frames: MSE on cube position (3), TCP position (3), bin position (2), "
                     "in decimetres; 0.1 x BCE on the cube held between the fingers; random shifts of up to "
                     f"{cfg.shift_pad} px",
        "training": {"epochs": cfg.epochs, "steps": steps, "batch_size": cfg.batch_size, "lr": cfg.lr, "optimiser": "AdamW, one-cycle",
                     "threads": cfg.threads, "seed": cfg.seed, "data_s": round(t_data, 1), "train_s": round(t_train, 1), "curve": curve},
        "heldout_randomised": errors(encoder, head, held),
        "heldout_nominal_visuals": errors(encoder, head, nominal),
        "command": "python -m robot_learning.tasks.hil_serl.encoder " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("encoder.py")
                   else f"python -m robot_learning.tasks.hil_serl.encoder --out {out}",
        "frozen_in_rl": True,
    }
    out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m robot_learning.tasks.hil_serl.encoder", description="pretrain the image option's visual encoder")
    p.add_argument("--out", type=Path, default=ROOT / DEFAULT_ENCODER)
    p.add_argument("--episodes", type=int, default=PretrainConfig.episodes)
    p.add_argument("--heldout-episodes", type=int, default=PretrainConfig.heldout_episodes)
    p.add_argument("--epochs", type=int, default=PretrainConfig.epochs)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=PretrainConfig.threads)
    p.add_argument("--data-cache", type=Path, default=None, help="npz of the collected frames (written if missing, read if present)")
    a = p.parse_args(argv)
    cfg = PretrainConfig(episodes=a.episodes, heldout_episodes=a.heldout_episodes, epochs=a.epochs, seed=a.seed, threads=a.threads)
    card = pretrain(cfg, a.out, progress=lambda m: print(m, file=sys.stderr, flush=True), data_cache=a.data_cache)
    print(json.dumps({k: card[k] for k in ("parameters", "file_bytes", "heldout_randomised", "heldout_nominal_visuals")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
