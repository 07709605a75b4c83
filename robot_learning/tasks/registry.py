"""The task registry: every skill the platform trains, evaluates and exports, declared in one place.

A task is a folder under ``robot_learning/tasks/`` with a ``task.py`` that defines ``TASK``, a
:class:`TaskSpec`: its name, the robot it drives, the metadata ``task`` of the policies it exports,
its config dataclass and default YAML, and its commands (``train``, ``eval``, ``export`` and any
extra ones) with the flags that belong to each. The command-line interface is generated from these
specs (``robot_learning/cli.py``); nothing else in the tool knows a task by name.

Adding a skill: copy ``tasks/cartpole/`` (the template), then add its folder name to
:data:`TASK_PACKAGES` below. That is the only line that changes outside the new folder.

A task may bring its own robot (:class:`RobotEntry`: its description, its deployment profile and its
simulated bridge), which ``deploy --robot <name>`` then finds here; the platform's own robots stay
in ``robots/registry.py``. The CLI resolves the entry and hands the objects down to the policy
node, so the runtime never imports a task.

Handlers are named as ``"module:function"`` strings and imported when the command runs, so listing
the tasks (``--help``) imports no simulator and no torch, and the robot's install, which has neither,
can still run ``deploy``.
"""
from __future__ import annotations

import argparse
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robot_learning.robots.registry import ALIASES

#: The registry: one entry per task folder, in the order the CLI lists them.
TASK_PACKAGES: tuple[str, ...] = ("quadrotor", "getup", "asap", "hil_serl", "cartpole")

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "sim" / "configs"
POLICY_DIR = REPO_ROOT / "assets" / "policies"

#: Flags every command of a kind has, with the keyword each passes to the handler.
#: train: out, config, seconds, seed, force, progress, overrides; eval: policy, episodes, seed, progress;
#: export: checkpoint, out, force.
COMMON = {"train": ("out", "config", "seconds", "seed", "force", "progress", "overrides"),
          "eval": ("policy", "episodes", "seed", "progress"),
          "export": ("checkpoint", "out", "force")}


class TaskSpecError(ValueError):
    """A task folder whose spec is malformed (a developer error, reported with the task's name)."""


# Checks for Option(check=...): each returns the problem, or None when the value is fine.
def positive_finite(value: float) -> str | None:
    return None if value > 0 and value != float("inf") else f"must be a positive finite number, got {value}"


def at_least_one(value: int) -> str | None:
    return None if value >= 1 else f"must be at least 1, got {value}"


def non_negative(value: int) -> str | None:
    return None if value >= 0 else f"must be 0 or more, got {value}"


@dataclass(frozen=True)
class Option:
    """One flag of one task's command, as ``argparse.add_argument`` takes it.

    ``dest`` is the keyword the handler receives. ``check`` (optional) validates a given value and
    returns an error message, or None when the value is fine.
    """

    flag: str
    help: str
    type: Callable[[str], Any] | None = None
    default: Any = None
    choices: tuple[Any, ...] | None = None
    action: str | None = None
    nargs: str | int | None = None
    required: bool = False
    dest: str | None = None
    check: Callable[[Any], str | None] | None = None

    @property
    def keyword(self) -> str:
        return self.dest or self.flag.lstrip("-").replace("-", "_")

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        kw: dict[str, Any] = {"help": self.help, "dest": self.keyword}
        if self.action is not None:
            kw["action"] = self.action
            if self.action == "store_true" and self.default is not None:
                kw["default"] = self.default
        else:
            kw["default"] = self.default
            if self.type is not None:
                kw["type"] = self.type
            if self.choices is not None:
                kw["choices"] = self.choices
            if self.nargs is not None:
                kw["nargs"] = self.nargs
        if self.required:
            kw["required"] = True
        parser.add_argument(self.flag, **kw)


@dataclass(frozen=True)
class Command:
    """One command of a task: ``train``, ``eval``, ``export`` or an extra one (``asap record``)."""

    name: str
    help: str
    handler: str  # "package.module:function", called with the parsed flags as keywords
    options: tuple[Option, ...] = ()
    common: bool = True  # train/eval/export: add the flags of COMMON[name]
    cli: bool = True  # False: called by the platform (e.g. `deploy` runs a task's "rehearse"), not a command of its own

    def resolve(self) -> Callable[..., Any]:
        return resolve(self.handler)


@dataclass(frozen=True)
class RobotEntry:
    """A robot that a task brings in its own folder, for ``deploy`` (by ``name``).

    ``description``: ``"module:function"`` returning a
    :class:`~robot_learning.robots.registry.RobotDescription` (numpy only: the robot's computer imports it).
    ``profile``: ``"module:ATTRIBUTE"``, the :class:`~robot_learning.runtime.node_config.NodeConfig` the policy
    node starts from (monitors, terminal action, soft start); ``deploy --config FILE`` overrides it key by key.
    ``bridge``: a module run as ``python -m <bridge> --seconds S [--domain-id D]``: the simulated robot
    behind the robot's ROS 2 topics over Cyclone DDS, for ``deploy --sim bridge`` (None: there is none).
    """

    name: str
    description: str
    profile: str
    bridge: str | None = None

    def describe(self) -> Any:
        return resolve(self.description)()

    def node_config(self) -> Any:
        return resolve(self.profile)


@dataclass(frozen=True)
class TaskSpec:
    """What the platform knows of a task; see the module docstring."""

    name: str
    summary: str
    robot: str
    policy_tasks: tuple[str, ...]  # the `task` field of the policies it exports (ONNX metadata)
    commands: tuple[Command, ...]
    config: str | None = None  # "module:Class" of its config dataclass
    default_config: str | None = None  # file name under sim/configs/
    shipped_policies: tuple[str, ...] = ()  # file names under assets/policies/, the first is eval's default
    cli_name: str | None = None  # the group of its extra commands (default: name with '-' for '_')
    paper: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    robots: tuple[RobotEntry, ...] = ()  # robots the task brings for `deploy` (see RobotEntry)

    @property
    def group(self) -> str:
        return self.cli_name or self.name.replace("_", "-")

    def command(self, name: str) -> Command | None:
        return next((c for c in self.commands if c.name == name), None)

    @property
    def default_config_path(self) -> Path | None:
        return CONFIG_DIR / self.default_config if self.default_config else None

    def shipped_policy(self) -> Path | None:
        for name in self.shipped_policies:
            if (POLICY_DIR / name).is_file():
                return POLICY_DIR / name
        return None

    def config_class(self) -> type | None:
        return resolve(self.config) if self.config else None


def resolve(ref: str) -> Any:
    """``"package.module:attribute"`` -> the attribute (imported now)."""
    module, _, attr = ref.partition(":")
    if not module or not attr:
        raise TaskSpecError(f"handler {ref!r} must be 'package.module:attribute'")
    return getattr(importlib.import_module(module), attr)


def load_tasks(packages: tuple[str, ...] = TASK_PACKAGES) -> dict[str, TaskSpec]:
    """Every registered task's spec, by name, in registry order."""
    tasks: dict[str, TaskSpec] = {}
    for pkg in packages:
        try:
            mod = importlib.import_module(f"robot_learning.tasks.{pkg}.task")
        except ModuleNotFoundError as e:
            if e.name not in (f"robot_learning.tasks.{pkg}", f"robot_learning.tasks.{pkg}.task"):
                raise
            raise TaskSpecError(f"task '{pkg}' is registered (TASK_PACKAGES) but robot_learning/tasks/{pkg}/task.py does not exist") from None
        spec = getattr(mod, "TASK", None)
        if not isinstance(spec, TaskSpec):
            raise TaskSpecError(f"robot_learning/tasks/{pkg}/task.py must define TASK = TaskSpec(...)")
        if spec.name in tasks:
            raise TaskSpecError(f"two tasks are named {spec.name!r}")
        names = [c.name for c in spec.commands]
        if len(set(names)) != len(names):
            raise TaskSpecError(f"task {spec.name!r} declares a command twice: {names}")
        tasks[spec.name] = spec
    check_robots(tasks)
    return tasks


def check_robots(tasks: Mapping[str, TaskSpec]) -> None:
    """A task's robot must not take the name of a platform robot or of another task's robot."""
    seen: dict[str, str] = {}
    for spec in tasks.values():
        for entry in spec.robots:
            if entry.name in ALIASES:
                raise TaskSpecError(f"task {spec.name!r} declares robot {entry.name!r}, which is a platform robot (robots/registry.py)")
            if entry.name in seen:
                raise TaskSpecError(f"tasks {seen[entry.name]!r} and {spec.name!r} both declare robot {entry.name!r}")
            seen[entry.name] = spec.name


def task_robot(name: str, tasks: Mapping[str, TaskSpec]) -> RobotEntry | None:
    """The :class:`RobotEntry` named ``name`` among the tasks' robots (None: not a task's robot)."""
    return next((r for t in tasks.values() for r in t.robots if r.name == name), None)


def task_of_policy(policy_task: str, tasks: Mapping[str, TaskSpec]) -> TaskSpec | None:
    """The task whose policies carry metadata ``task`` = ``policy_task``."""
    return next((t for t in tasks.values() if policy_task in t.policy_tasks), None)


_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["ppo.learning_rate=3e-4", "env.num_envs=64"]`` -> a nested mapping for the strict config loader.

    Values are read as YAML scalars or flow collections (``3e-4``, ``true``, ``[1, 2]``); a malformed
    item is a ValueError naming it.
    """
    import yaml

    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, raw = item.partition("=")
        path = key.strip().split(".")
        if not sep or not all(p.strip() for p in path):
            raise ValueError(f"--set {item!r}: expected key.path=value, e.g. --set ppo.learning_rate=3e-4")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            raise ValueError(f"--set {item!r}: the value is not valid YAML") from None
        if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):  # YAML 1.1 reads 3e-4 as text; a user means a number
            value = float(value)
        node = out
        for p in path[:-1]:
            nxt = node.setdefault(p.strip(), {})
            if not isinstance(nxt, dict):
                raise ValueError(f"--set {item!r}: '{p}' is set both as a value and as a section")
            node = nxt
        if path[-1].strip() in node and isinstance(node[path[-1].strip()], dict):
            raise ValueError(f"--set {item!r}: '{key}' is a section, set its fields (e.g. {key}.<field>=...)")
        node[path[-1].strip()] = value
    return out
