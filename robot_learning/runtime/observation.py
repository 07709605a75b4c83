"""One observation builder for simulation and robot.

The layout of an observation (named slices, their scales) lives in the policy's metadata. The same
:class:`ObservationBuilder` fills observations in the batched torch simulator during training and
in numpy on the robot, because it only uses slicing and multiplication, which both array types
share. So the two cannot drift apart: the simulator and the runtime call the same lines.
"""
from __future__ import annotations

from typing import Any, Mapping

from robot_learning.types import ObsLayout, ObsTerm


class ObservationBuilder:
    """Fills ``out[..., slice] = field * scale`` for every term of a layout.

    Works on numpy arrays (runtime) and torch tensors (training) alike; fields may carry a leading
    batch dimension. A field whose trailing size does not match its term is an error that names it.
    """

    def __init__(self, layout: ObsLayout) -> None:
        self.layout = layout
        self._slices = [(t, s) for t, s in zip(layout.terms, layout.slices().values())]

    def build(self, fields: Mapping[str, Any], out: Any) -> Any:
        for term, sl in self._slices:
            try:
                value = fields[term.name]
            except KeyError:
                raise KeyError(f"observation term '{term.name}' missing from the state fields {sorted(fields)}") from None
            batch = tuple(out.shape[:-1])
            if term.shape is not None:
                _check_shaped(term, value, batch)
            value = value.reshape(batch + (-1,))
            if value.shape[-1] != term.size:
                raise ValueError(f"observation term '{term.name}' has {value.shape[-1]} values, the layout expects {term.size}")
            if term.scale != 1.0:
                value = value * term.scale
            if term.clip is not None:
                value = value.clip(-term.clip, term.clip)
            out[..., sl] = value
        return out


def _check_shaped(term: ObsTerm, value: Any, batch: tuple[int, ...]) -> None:
    """A shaped term (a camera frame) takes exactly its shape and dtype; anything else is refused by name."""
    shape = tuple(getattr(value, "shape", ()))
    if shape != batch + tuple(term.shape or ()):
        raise ValueError(f"observation term '{term.name}' has shape {list(shape[len(batch):]) if shape[:len(batch)] == batch else list(shape)}, "
                         f"the layout expects {list(term.shape or ())}")
    if term.dtype is not None:
        dtype = str(getattr(value, "dtype", type(value).__name__)).rsplit(".", 1)[-1]
        if dtype != term.dtype:
            raise ValueError(f"observation term '{term.name}' has dtype {dtype}, the layout expects {term.dtype}")


def push_history(history: Any, action: Any) -> None:
    """Shift a (..., H, A) action history one step towards the past and append ``action`` as newest.

    Oldest first, newest last. In place, for numpy arrays and torch tensors alike.
    """
    older = history[..., 1:, :]
    history[..., :-1, :] = older.clone() if hasattr(older, "clone") else older.copy()
    history[..., -1, :] = action


def quat_to_rotmat(q: Any, out: Any) -> Any:
    """Quaternion (w, x, y, z), shape (..., 4) -> rotation matrix flattened row-major into ``out`` (..., 9).

    Pure arithmetic and slice assignment, so it runs on numpy arrays and torch tensors alike.
    """
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    out[..., 0] = 1 - 2 * (y * y + z * z)
    out[..., 1] = 2 * (x * y - w * z)
    out[..., 2] = 2 * (x * z + w * y)
    out[..., 3] = 2 * (x * y + w * z)
    out[..., 4] = 1 - 2 * (x * x + z * z)
    out[..., 5] = 2 * (y * z - w * x)
    out[..., 6] = 2 * (x * z - w * y)
    out[..., 7] = 2 * (y * z + w * x)
    out[..., 8] = 1 - 2 * (x * x + y * y)
    return out
