"""Range checks for config dataclasses, called from their ``__post_init__``.

Every number a user gives (a YAML file, a ``--set`` override, a constructor call) is checked where
it is read; a bad one is a :class:`~robot_learning.core.config.FieldError` that names the field,
e.g. ``lr must be > 0, got -0.001`` (``td3.lr ...`` once the loader adds the key path).

:func:`check` refuses NaN and infinities in every float field (and in every number of a tuple or
list field) unless the field is listed in ``allow_inf``, then applies the named rules.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any

from robot_learning.core.config import ConfigError, FieldError


def _numbers(value: Any) -> list[float] | None:
    """The numbers of a number, or of a (nested) tuple or list of numbers; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return [value]
    if isinstance(value, (list, tuple)) and value:
        out: list[float] = []
        for v in value:
            n = _numbers(v)
            if n is None:
                return None
            out += n
        return out
    return None


def _show(value: Any) -> str:
    return repr(list(value)) if isinstance(value, (list, tuple)) else repr(value)


def finite(cfg: Any, allow_inf: Iterable[str] = ()) -> None:
    """Refuse NaN everywhere, and infinities outside ``allow_inf``, in ``cfg``'s numeric fields."""
    allow = set(allow_inf)
    for f in dataclasses.fields(cfg):
        nums = _numbers(getattr(cfg, f.name))
        if nums is None:
            continue
        if any(isinstance(x, float) and math.isnan(x) for x in nums):
            raise FieldError(f.name, f"must be a number, got {_show(getattr(cfg, f.name))}")
        if f.name not in allow and any(isinstance(x, float) and math.isinf(x) for x in nums):
            raise FieldError(f.name, f"must be finite, got {_show(getattr(cfg, f.name))}")


def check(cfg: Any, *, positive: Iterable[str] = (), non_negative: Iterable[str] = (), fraction: Iterable[str] = (),
          below_one: Iterable[str] = (), ordered: Iterable[str] = (), at_least: dict[str, float] | None = None,
          allow_inf: Iterable[str] = ()) -> None:
    """Check ``cfg`` (a dataclass instance): every numeric field finite (see :func:`finite`), then

    - ``positive``: > 0; ``non_negative``: >= 0; ``fraction``: in [0, 1]; ``below_one``: in [0, 1);
    - ``ordered``: a (low, high) pair with low <= high;
    - ``at_least``: field -> minimum (inclusive).

    A tuple or list field is checked number by number; a None field (an optional one left unset) is skipped.
    """
    finite(cfg, allow_inf)

    def each(name: str, ok: Any, what: str) -> None:
        value = getattr(cfg, name)
        if value is None:
            return
        nums = _numbers(value)
        if nums is None:
            raise FieldError(name, f"must be a number, got {_show(value)}")
        if not all(ok(x) for x in nums):
            raise FieldError(name, f"must be {what}, got {_show(value)}")

    for name in positive:
        each(name, lambda x: x > 0, "> 0")
    for name in non_negative:
        each(name, lambda x: x >= 0, ">= 0")
    for name in fraction:
        each(name, lambda x: 0 <= x <= 1, "in [0, 1]")
    for name in below_one:
        each(name, lambda x: 0 <= x < 1, "in [0, 1)")
    for name, low in (at_least or {}).items():
        each(name, lambda x, low=low: x >= low, f">= {low:g}")
    for name in ordered:
        value = getattr(cfg, name)
        if value is not None and (len(value) != 2 or value[0] > value[1]):
            raise FieldError(name, f"must be a (low, high) pair with low <= high, got {_show(value)}")


def divides(cfg: Any, period_field: str, step_field: str, period: float, step: float, tol: float = 1e-6) -> None:
    """Refuse a physics step ``step`` that is not a whole fraction of the control ``period``."""
    n = period / step
    if n < 1 - tol or abs(n - round(n)) > tol * max(1.0, n):
        raise FieldError(step_field, f"must divide the control period {period:g} s ({period_field}) into whole steps, got {step:g} s")


def check_flag(name: str, value: float | None, *, minimum: float | None = None, above: float | None = None,
               maximum: float | None = None) -> None:
    """A command's numeric argument (``--episodes``, ``--seconds``, ...): finite, and ``>= minimum``,
    ``> above``, ``<= maximum`` where given; a ConfigError naming the flag otherwise. None passes (unset)."""
    if value is None:
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}, got {value:g}")
    if above is not None and value <= above:
        raise ConfigError(f"{name} must be greater than {above:g}, got {value:g}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum:g}, got {value:g}")
