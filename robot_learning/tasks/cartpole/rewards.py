"""The reward terms: one small function each, named as the fields of
:class:`~robot_learning.tasks.cartpole.config.RewardWeights`, which give their weights.

Each takes the batch's :class:`Transition` and returns one value per environment (before weighting).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable

import numpy as np


@dataclass
class Transition:
    """One control period of every environment, after the physics ran (arrays of shape (N,))."""

    position: np.ndarray  # cart (m)
    velocity: np.ndarray  # cart (m/s)
    angle: np.ndarray  # pole from upright (rad)
    angular_velocity: np.ndarray  # pole (rad/s)
    action: np.ndarray  # the policy's action, clipped as the runtime clips it
    previous_action: np.ndarray
    fell: np.ndarray  # bool: the pole tipped beyond the fall angle


def alive(t: Transition) -> np.ndarray:
    """1 per step the pole is up."""
    return np.ones_like(t.angle)


def upright(t: Transition) -> np.ndarray:
    """cos of the pole's angle: 1 upright."""
    return np.cos(t.angle)


def centred(t: Transition) -> np.ndarray:
    """Squared distance of the cart from the rail's centre (weight negative)."""
    return t.position**2


def pole_velocity(t: Transition) -> np.ndarray:
    """Squared angular velocity of the pole (weight negative: balance calmly)."""
    return t.angular_velocity**2


def action_rate(t: Transition) -> np.ndarray:
    """Squared change of the action (weight negative: smooth cart targets)."""
    return (t.action - t.previous_action) ** 2


def fall(t: Transition) -> np.ndarray:
    """1 on the step the pole falls (weight negative)."""
    return t.fell.astype(np.float64)


TERMS: dict[str, Callable[[Transition], np.ndarray]] = {f.__name__: f for f in (alive, upright, centred, pole_velocity, action_rate, fall)}


def reward(t: Transition, weights: object) -> tuple[np.ndarray, dict[str, float]]:
    """The weighted sum of the terms ``weights`` lists (a RewardWeights), and each weighted term's batch mean."""
    total = np.zeros_like(t.angle)
    parts: dict[str, float] = {}
    for f in fields(weights):  # type: ignore[arg-type]
        w = float(getattr(weights, f.name))
        if w == 0.0:
            continue
        value = w * TERMS[f.name](t)
        total += value
        parts[f"reward/{f.name}"] = float(value.mean())
    return total, parts
