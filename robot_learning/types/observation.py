"""The observation layout: the observation vector's named slices, their scales and clips.

It travels in the policy's metadata; the observation builder (:mod:`robot_learning.runtime.observation`)
fills a vector by it, in simulation and on the robot alike.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

TERM_DTYPES = ("uint8", "float32")  # what a shaped term's field may be


@dataclass(frozen=True)
class ObsTerm:
    """One named slice of the observation vector: ``size`` values of field ``name`` times ``scale``,
    then clipped to +-``clip`` when ``clip`` is set.

    A term with a ``shape`` (e.g. a camera frame, ``(height, width, 3)``) takes a field of exactly that
    shape (after any batch dimensions) and of dtype ``dtype`` (``"uint8"`` for raw camera pixels); the
    observation builder refuses anything else by the term's name. Its values are flattened row-major
    into the vector (a ``uint8`` frame times ``scale``, e.g. 1/255)."""

    name: str
    size: int
    scale: float = 1.0
    clip: float | None = None
    shape: tuple[int, ...] | None = None
    dtype: str | None = None

    def __post_init__(self) -> None:
        if self.shape is not None:
            object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))
            if int(np.prod(self.shape)) != self.size or any(n < 1 for n in self.shape):
                raise ValueError(f"observation term '{self.name}' has shape {list(self.shape)} but size {self.size}")
        if self.dtype is not None and self.dtype not in TERM_DTYPES:
            raise ValueError(f"observation term '{self.name}' has dtype {self.dtype!r}; expected one of {', '.join(TERM_DTYPES)}")


@dataclass(frozen=True)
class ObsLayout:
    """The observation vector, term after term. Serialised into the ONNX metadata."""

    terms: tuple[ObsTerm, ...]

    @property
    def size(self) -> int:
        return sum(t.size for t in self.terms)

    def shaped_terms(self) -> tuple[ObsTerm, ...]:
        """The terms with a shape (camera frames), in order."""
        return tuple(t for t in self.terms if t.shape is not None)

    def slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for t in self.terms:
            out[t.name] = slice(start, start + t.size)
            start += t.size
        return out

    def to_dict(self) -> dict[str, Any]:
        terms = [{k: (list(v) if k == "shape" else v) for k, v in asdict(t).items()
                  if not (k in ("clip", "shape", "dtype") and v is None)} for t in self.terms]
        return {"terms": terms, "size": self.size}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ObsLayout":
        try:
            terms = tuple(ObsTerm(str(t["name"]), int(t["size"]), float(t.get("scale", 1.0)),
                                  None if t.get("clip") is None else float(t["clip"]),
                                  None if t.get("shape") is None else tuple(int(n) for n in t["shape"]),
                                  None if t.get("dtype") is None else str(t["dtype"])) for t in d["terms"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"malformed observation layout {d!r}: {e}") from None
        layout = cls(terms)
        if "size" in d and int(d["size"]) != layout.size:
            raise ValueError(f"observation layout says size {d['size']} but its terms add up to {layout.size}")
        return layout
