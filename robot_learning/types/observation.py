"""The observation layout: the observation vector's named slices, their scales and clips.

It travels in the policy's metadata; the observation builder (:mod:`robot_learning.runtime.observation`)
fills a vector by it, in simulation and on the robot alike.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class ObsTerm:
    """One named slice of the observation vector: ``size`` values of field ``name`` times ``scale``,
    then clipped to +-``clip`` when ``clip`` is set."""

    name: str
    size: int
    scale: float = 1.0
    clip: float | None = None


@dataclass(frozen=True)
class ObsLayout:
    """The observation vector, term after term. Serialised into the ONNX metadata."""

    terms: tuple[ObsTerm, ...]

    @property
    def size(self) -> int:
        return sum(t.size for t in self.terms)

    def slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for t in self.terms:
            out[t.name] = slice(start, start + t.size)
            start += t.size
        return out

    def to_dict(self) -> dict[str, Any]:
        terms = [{k: v for k, v in asdict(t).items() if not (k == "clip" and v is None)} for t in self.terms]
        return {"terms": terms, "size": self.size}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ObsLayout":
        try:
            terms = tuple(ObsTerm(str(t["name"]), int(t["size"]), float(t.get("scale", 1.0)),
                                  None if t.get("clip") is None else float(t["clip"])) for t in d["terms"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"malformed observation layout {d!r}: {e}") from None
        layout = cls(terms)
        if "size" in d and int(d["size"]) != layout.size:
            raise ValueError(f"observation layout says size {d['size']} but its terms add up to {layout.size}")
        return layout
