"""Seeds: one integer makes a run repeatable (numpy, torch, Python's random)."""
from __future__ import annotations

import random

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, numpy and (if installed) torch; return a numpy Generator for the caller's own use."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    try:
        import torch
    except ImportError:  # the runtime has no torch
        pass
    else:
        torch.manual_seed(seed)
    return np.random.default_rng(seed)
