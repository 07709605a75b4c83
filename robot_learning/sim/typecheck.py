"""Type-check the simulator backends against Isaac Gym's API (``make typecheck``; run from the repository root).

    python -m robot_learning.sim.typecheck        # prepares the stubs, then runs mypy with ./mypy.ini

Isaac Gym is not installable here, so :mod:`robot_learning.sim.isaacgym_batch` is checked against
the PyPI package ``isaacgym-stubs`` (NVIDIA's ``gymapi`` signatures). As published, mypy cannot read
it: the package has no ``__init__.pyi`` (mypy does not find ``isaacgym`` at all), two properties are
named ``lambda`` (a syntax error that stops mypy), and arrays are written ``numpy.ndarray[int16]``
(numpy's first type parameter is the shape, so every array argument would be refused). This module
writes a readable copy into ``runs/cache/isaacgym_stubs/isaacgym/`` (``mypy.ini``'s ``mypy_path``):
``gymapi.pyi`` with those three things fixed, an ``__init__.pyi``, and ``gymtorch.pyi``, which the
stubs lack (``wrap_tensor``/``unwrap_tensor``, written here from Isaac Gym's documented signatures).
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

STUBS_DIR = Path("runs") / "cache" / "isaacgym_stubs"
CONFIG = Path("mypy.ini")

GYMTORCH_PYI = '''\
"""isaacgym.gymtorch: zero-copy views between Isaac Gym's tensor descriptors and torch tensors."""
import torch

from .gymapi import Tensor

def wrap_tensor(gym_tensor: Tensor, offsets: tuple[int, ...] | None = ..., counts: tuple[int, ...] | None = ...) -> torch.Tensor: ...
def unwrap_tensor(torch_tensor: torch.Tensor) -> Tensor: ...
'''

INIT_PYI = "# the submodules gymapi and gymtorch are imported by name (from isaacgym import gymapi, gymtorch)\n"


class TypecheckError(RuntimeError):
    """Something the check needs is missing; the message says what to install or where to run."""


def installed_gymapi_stub() -> Path:
    """``gymapi.pyi`` of the installed ``isaacgym-stubs`` distribution."""
    try:
        dist = importlib.metadata.distribution("isaacgym-stubs")
    except importlib.metadata.PackageNotFoundError:
        raise TypecheckError("isaacgym-stubs is not installed: pip install isaacgym-stubs==1.1rc4 (the [dev] extra)") from None
    for f in dist.files or []:
        if f.name == "gymapi.pyi":
            return Path(str(dist.locate_file(f)))
    raise TypecheckError(f"isaacgym-stubs {dist.version} has no gymapi.pyi")


def readable_gymapi(text: str) -> str:
    """The stub text with the fixes the module docstring lists (keywords as names, ndarray parameters)."""
    text = re.sub(r"\bdef (lambda|class|from|import|global|pass)\(", r"def \1_(", text)
    return re.sub(r"numpy\.ndarray\[[^\[\]]*(\[[^\[\]]*\])?[^\[\]]*\]", "numpy.ndarray[Any, Any]", text)


def prepare_stubs(target: Path = STUBS_DIR) -> Path:
    """Write the readable ``isaacgym`` stub package under ``target``; return ``target``."""
    src = installed_gymapi_stub()
    pkg = target / "isaacgym"
    pkg.mkdir(parents=True, exist_ok=True)
    for name, text in (("gymapi.pyi", readable_gymapi(src.read_text())), ("gymtorch.pyi", GYMTORCH_PYI),
                       ("__init__.pyi", INIT_PYI)):
        path = pkg / name
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
    return target


def main(argv: list[str] | None = None) -> int:
    """Prepare the stubs and run mypy with ``mypy.ini`` (its exit status); extra arguments go to mypy."""
    args = sys.argv[1:] if argv is None else argv
    try:
        if not CONFIG.is_file():
            raise TypecheckError(f"no {CONFIG} here: run from the repository root")
        if importlib.util.find_spec("mypy") is None:
            raise TypecheckError("mypy is not installed: pip install mypy (the [dev] extra)")
        prepare_stubs()
    except TypecheckError as exc:
        print(f"typecheck: {exc}", file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, "-m", "mypy", "--config-file", str(CONFIG), *args])


if __name__ == "__main__":
    raise SystemExit(main())
