"""A binary success classifier that stands in for the reward, as in HIL-SERL.

Trained with binary cross-entropy on balanced batches (half positive frames, half negative), since
success frames are rare (HIL-SERL: about 200 positive and 1000 negative). The state version is an
MLP; the image version a small CNN trained from scratch (no pretrained weights can be downloaded
here), on frames alone (:class:`SmallCNN`) or on proprioception plus a frame (the policy's own
:class:`~robot_learning.algos.sac.PixelEncoder` and an MLP, trained with DrQ's random shifts). The
reward of a step is ``1`` when ``p(success | next observation) > threshold``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from robot_learning.algos.sac import PixelEncoder, mlp, random_shift
from robot_learning.core.checks import check


@dataclass
class ClassifierConfig:
    hidden: tuple[int, ...] = (256, 256)
    lr: float = 3e-4
    steps: int = 1500
    batch_size: int = 256
    threshold: float = 0.5
    shift_pad: int = 2  # with proprioception plus a frame: DrQ's random shift of up to this many pixels while training
    seed: int = 0

    def __post_init__(self) -> None:
        check(self, positive=("hidden", "lr", "steps", "batch_size"), fraction=("threshold",), non_negative=("shift_pad", "seed"))


class SmallCNN(nn.Module):
    """Four stride-2 convolutions and a linear head, for small frames (e.g. 3 x 64 x 64)."""

    def __init__(self, channels: int = 3, out: int = 1) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(channels, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
                                  nn.Conv2d(32, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 3, 2, 1), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.head = nn.Linear(32 * 4, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x))


class RewardClassifier:
    """``fit(frames, labels)``, ``prob(frames)``, ``reward(frames)``; ``net`` is a torch module."""

    def __init__(self, input_shape: tuple[int, ...], config: ClassifierConfig | None = None,
                 image_shape: tuple[int, int, int] | None = None) -> None:
        """``input_shape``: ``(n,)`` for a vector, ``(C, H, W)`` for a frame alone; with ``image_shape``
        the vector is proprioception followed by a flattened frame of that shape."""
        self.config = c = config or ClassifierConfig()
        torch.manual_seed(c.seed)
        self.input_shape = tuple(input_shape)
        self.image_shape = None if image_shape is None else tuple(image_shape)
        self.net: nn.Module
        if self.image_shape is not None:
            self._state_dim = input_shape[0] - int(np.prod(self.image_shape))
            if len(input_shape) != 1 or self._state_dim < 0:
                raise ValueError(f"an input of shape {input_shape} cannot hold proprioception and a {self.image_shape} frame")
            encoder = PixelEncoder(self._state_dim, self.image_shape)
            self.net = nn.Sequential(encoder, mlp(encoder.out_dim, c.hidden, 1))
            self._gen = torch.Generator().manual_seed(c.seed)
        else:
            self.net = mlp(input_shape[0], c.hidden, 1) if len(input_shape) == 1 else SmallCNN(input_shape[0])

    def fit(self, frames: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        """Balanced-batch BCE; returns the training accuracy and the class counts."""
        c = self.config
        labels = np.asarray(labels).astype(bool)
        pos, neg = np.flatnonzero(labels), np.flatnonzero(~labels)
        if len(pos) == 0 or len(neg) == 0:
            raise ValueError(f"the reward classifier needs positive and negative frames; got {len(pos)} positive and {len(neg)} negative")
        rng = np.random.default_rng(c.seed)
        x = torch.as_tensor(np.asarray(frames, dtype=np.float32))
        opt = torch.optim.Adam(self.net.parameters(), lr=c.lr)
        half = c.batch_size // 2
        target = torch.cat([torch.ones(half), torch.zeros(half)])
        self.net.train()
        for _ in range(c.steps):
            idx = np.concatenate([rng.choice(pos, half), rng.choice(neg, half)])
            xb = x[idx]
            if self.image_shape is not None and c.shift_pad > 0:
                xb = random_shift(xb, self._state_dim, self.image_shape, c.shift_pad, self._gen)
            loss = F.binary_cross_entropy_with_logits(self.net(xb).squeeze(-1), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
        self.net.eval()
        return {"train_accuracy": self.accuracy(frames, labels), "positives": int(len(pos)), "negatives": int(len(neg)),
                "final_loss": loss.item()}

    @torch.no_grad()
    def prob(self, frames: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.asarray(frames, dtype=np.float32))
        single = x.dim() == len(self.input_shape)
        if single:
            x = x.unsqueeze(0)
        p = torch.sigmoid(self.net(x).squeeze(-1)).numpy()
        return p[0] if single else p

    def reward(self, frames: np.ndarray) -> np.ndarray:
        return (self.prob(frames) > self.config.threshold).astype(np.float32)

    def accuracy(self, frames: np.ndarray, labels: np.ndarray) -> float:
        return float(np.mean((self.prob(frames) > self.config.threshold) == np.asarray(labels).astype(bool)))

    def state_dict(self) -> dict:
        return {"net": self.net.state_dict(), "input_shape": self.input_shape, "image_shape": self.image_shape}
