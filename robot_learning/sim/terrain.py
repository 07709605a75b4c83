"""Ground under the G1 besides the flat floor: a slope and rough ground (HumanUP trains Stage II on
flat, sloped and rough terrain).

Both change the models' ``floor`` geom in place, so that everything that collides with the floor
(the primitive model's explicit contact pairs included) collides with the terrain:

- ``slope``: the floor plane tilted by ``slope_deg`` about the world y axis, rising along +x;
- ``rough``: the floor replaced by a height field of ``half_size_m`` x ``half_size_m`` around the
  origin, heights uniform in +-``roughness_m`` on a grid of ``cell_m`` (legged_gym's random uniform
  terrain uses up to +-5 cm on 0.1 m cells), drawn from ``seed``.

:meth:`TerrainConfig.ground_height` gives the ground's height under points, so that a head height
can be measured above the ground under it (the getting-up success criterion).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import mujoco
import numpy as np

TERRAINS = ("flat", "slope", "rough")
HFIELD_NAME = "rl_terrain"


@dataclass(frozen=True)
class TerrainConfig:
    kind: Literal["flat", "slope", "rough"] = "flat"
    slope_deg: float = 10.0
    roughness_m: float = 0.03
    cell_m: float = 0.1
    half_size_m: float = 5.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in TERRAINS:
            raise ValueError(f"terrain must be one of {', '.join(TERRAINS)}; got {self.kind!r}")
        if not 0.0 <= self.slope_deg < 30.0:
            raise ValueError(f"slope_deg must be in [0, 30), got {self.slope_deg}")
        if self.roughness_m < 0.0 or self.cell_m <= 0.0 or self.half_size_m <= self.cell_m:
            raise ValueError("roughness_m must be >= 0, cell_m > 0 and half_size_m > cell_m")

    @property
    def cells(self) -> int:
        """Grid points per side of the height field."""
        return int(round(2 * self.half_size_m / self.cell_m)) + 1

    @cached_property
    def heights(self) -> np.ndarray:
        """(cells, cells) rough ground heights (m), row i at y = -half + i * cell, column j at x
        (drawn once per config: ``ground_height`` runs every control tick)."""
        n = self.cells
        return np.random.default_rng(self.seed).uniform(-self.roughness_m, self.roughness_m, (n, n))

    def ground_height(self, xy: np.ndarray) -> np.ndarray:
        """(N,) the ground's height under points ``xy`` (N, 2) (bilinear between the height field's
        grid points; outside it, the nearest edge)."""
        xy = np.atleast_2d(np.asarray(xy, dtype=np.float64))
        if self.kind == "flat":
            return np.zeros(len(xy))
        if self.kind == "slope":
            return xy[:, 0] * np.tan(np.deg2rad(self.slope_deg))
        h, n = self.heights, self.cells
        u = np.clip((xy + self.half_size_m) / self.cell_m, 0.0, n - 1 - 1e-9)
        j, i = u[:, 0].astype(int), u[:, 1].astype(int)
        fx, fy = u[:, 0] - j, u[:, 1] - i
        return ((1 - fy) * ((1 - fx) * h[i, j] + fx * h[i, j + 1]) + fy * ((1 - fx) * h[i + 1, j] + fx * h[i + 1, j + 1]))


def terrain_named(kind: str) -> TerrainConfig | None:
    """The default terrain of ``kind`` (None for flat: the models' own floor); ValueError names the
    known kinds."""
    return None if kind == "flat" else TerrainConfig(kind)  # type: ignore[arg-type]


def apply_terrain(spec: mujoco.MjSpec, terrain: TerrainConfig | None) -> None:
    """Turn the spec's ``floor`` geom into ``terrain`` (nothing for None or flat)."""
    if terrain is None or terrain.kind == "flat":
        return
    floor = spec.geom("floor")
    if floor is None:
        raise ValueError("the model has no geom named 'floor' to turn into terrain")
    if terrain.kind == "slope":
        a = np.deg2rad(terrain.slope_deg)
        floor.quat = [np.cos(a / 2), 0.0, -np.sin(a / 2), 0.0]  # normal (-sin a, 0, cos a): z = x tan a
        return
    r = max(terrain.roughness_m, 1e-6)
    n = terrain.cells
    data = (terrain.heights + r) / (2 * r)  # MuJoCo scales [0, 1] by size[2] above the geom
    spec.add_hfield(name=HFIELD_NAME, size=[terrain.half_size_m, terrain.half_size_m, 2 * r, 0.1],
                    nrow=n, ncol=n, userdata=data.ravel().tolist())
    floor.type = mujoco.mjtGeom.mjGEOM_HFIELD
    floor.hfieldname = HFIELD_NAME
    floor.pos = [0.0, 0.0, -r]
