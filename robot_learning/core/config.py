"""Typed configs: dataclasses that load from and save to YAML, strictly.

An unknown key, a wrong type or a malformed file is an error that names the key path and what was
expected, e.g. ``train.batch_size: expected int, got str ('big')``. Nothing is silently ignored.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config that cannot be used; the message names the offending key."""


class FieldError(ConfigError):
    """A bad value of one field of a config dataclass (raised by its ``__post_init__``, see
    :mod:`robot_learning.core.checks`); :func:`from_dict` puts the key path in front of ``field``."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass config as plain YAML-able values (tuples become lists)."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(cfg)


def _convert(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a, path)
            except ConfigError as e:
                errors.append(str(e))
        deeper = [m for m in errors if m.startswith((f"{path}[", f"{path}."))]  # the alternative that matched the shape
        raise ConfigError((deeper or errors or [f"{path}: no matching type"])[0])
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping for {tp.__name__}, got {type(value).__name__} ({value!r})")
        return from_dict(tp, value, path)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__} ({value!r})")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{path}: expected {len(args)} values, got {len(value)}")
            items = [_convert(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            inner = args[0] if args else Any
            items = [_convert(v, inner, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected bool, got {type(value).__name__} ({value!r})")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected int, got {type(value).__name__} ({value!r})")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected float, got {type(value).__name__} ({value!r})")
        if value != value:  # NaN is not a value any field means
            raise ConfigError(f"{path}: expected a number, got NaN")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected str, got {type(value).__name__} ({value!r})")
        return value
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{path}: cannot use {value!r} as {getattr(tp, '__name__', tp)}")


def from_dict(cls: type[T], data: Mapping[str, Any], path: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{path}: " if path else ""
        raise ConfigError(f"{where}unknown key(s) {', '.join(map(repr, unknown))} for {cls.__name__}; known keys: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(value, hints[name], f"{path}.{name}" if path else name)
    try:
        obj = cls(**kwargs)
    except FieldError as e:  # keep the field's name: td3.lr, not td3
        raise FieldError(f"{path}.{e.field}" if path else e.field, e.problem) from None
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{path or cls.__name__}: {e}") from None
    return obj


def merge(cfg: T, overrides: Mapping[str, Any]) -> T:
    """A copy of ``cfg`` with (possibly nested) ``overrides`` applied, checked like a loaded file."""
    base = to_dict(cfg)

    def deep(a: dict[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(a)
        for k, v in b.items():
            out[k] = deep(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
        return out

    return from_dict(type(cfg), deep(base, overrides))


def read_yaml_mapping(path: str | Path) -> Mapping[str, Any]:
    """The top-level mapping of a YAML file; a missing file, bad YAML or a non-mapping is a ConfigError naming the file."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a directory, not a YAML file")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def load_yaml(cls: type[T], path: str | Path) -> T:
    """Load dataclass ``cls`` from a YAML file; errors name the file and the key."""
    path = Path(path)
    data = read_yaml_mapping(path)
    try:
        return from_dict(cls, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def save_yaml(cfg: Any, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))


def load_config(cls: type[T], path: str | Path | None = None, default: str | Path | None = None,
                *layers: Mapping[str, Any] | None) -> T:
    """A task's config: ``path`` (the user's ``--config``), else ``default`` (the task's YAML) if it
    exists, else the dataclass defaults; then each of ``layers`` in turn (a command's flags, then
    ``--set`` overrides), every one checked like a file."""
    if path is not None:
        cfg = load_yaml(cls, path)
    elif default is not None and Path(default).is_file():
        cfg = load_yaml(cls, default)
    else:
        cfg = cls()
    for layer in layers:
        if layer:
            cfg = merge(cfg, layer)
    return cfg
