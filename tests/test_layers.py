"""The import layers of ``robot_learning``, checked on the source (``ast``), function-local imports included.

Fails, naming the file, the line and the import, on:
- an import that points up the layer order below, or sideways between two units of one layer
  (``sim`` and ``runtime`` do not import each other; no task imports another task);
- a cycle among ``robot_learning`` modules (the graph holds every import, wherever it sits in a file);
- torch, MuJoCo or PyBullet imported by ``robot_learning/runtime`` or ``deploy/``, directly or through
  the modules they import at load time (the robot's computer carries none of them);
- a package under ``robot_learning/`` that has no layer.

``python tests/test_layers.py`` prints the graph's figures (internal imports, how many sit inside
functions, and those that do not defer a heavy optional dependency).
"""
from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "robot_learning"

#: The layer order, low to high (README.md, "Layers"). A module may import its own unit and any unit
#: of a lower layer; units that share a layer may not import each other. Units are the top-level
#: packages of robot_learning; under ``tasks`` the shared modules (``tasks/*.py``: the task contract
#: and registry) are the unit "tasks" and each task folder is its own unit "tasks.<name>".
LAYERS: tuple[tuple[str, ...], ...] = (
    ("robot_learning", "types"),  # the package root (environment set-up only) and the shared types: numpy only
    ("core",),                    # configs, checks, runs, seeding
    ("robots",),                  # robot descriptions
    ("sim", "runtime"),           # physics backends | the on-robot core (torch-free); independent
    ("motion", "bridges"),        # reference motions (MuJoCo kinematics) | simulated robots on ROS 2 topics (sim + runtime)
    ("algos",),                   # learning algorithms (torch)
    ("export",),                  # ONNX / C export, parity against the runtime
    ("tasks",),                   # the task contract and registry shared by every task
    ("tasks.*",),                 # one unit per task folder; no task imports another
    ("hardware",),                # the real robots' adapters (G1 aside: runtime/unitree): Crazyflie link, Panda on franky
    ("cli",),                     # the command line, generated from the registry
    ("__main__",),
)
#: Third-party modules the robot's computer does not carry: never imported by these paths.
HEAVY = ("torch", "mujoco", "pybullet")
TORCH_FREE = ("robot_learning/runtime", "deploy")
#: Optional third-party dependencies a module may import inside a function, so that an install
#: without them can still import the module (counted separately by ``python tests/test_layers.py``).
OPTIONAL = HEAVY + ("pybullet_data", "cyclonedds", "mcap", "zmq", "onnxruntime", "onnx", "rclpy", "PIL", "imageio",
                    "matplotlib", "hypothesis", "rosbags", "pygame", "hid", "evdev")


@dataclass(frozen=True)
class Import:
    source: str       # importing module (dotted)
    target: str       # imported name as written (dotted, absolute)
    line: int
    local: bool       # inside a function (or a lambda)
    path: str         # file of the importing module, relative to the repository


@dataclass
class Graph:
    modules: dict[str, str] = field(default_factory=dict)  # dotted name -> path
    imports: list[Import] = field(default_factory=list)    # every import statement's every name

    def resolve(self, name: str) -> str | None:
        """The module a dotted import name lands in (``pkg.mod.Class`` -> ``pkg.mod``), or None."""
        while name:
            if name in self.modules:
                return name
            name = name.rpartition(".")[0]
        return None

    def internal(self) -> list[tuple[Import, str]]:
        out = []
        for imp in self.imports:
            if imp.target == PACKAGE or imp.target.startswith(PACKAGE + "."):
                mod = self.resolve(imp.target)
                if mod is not None:
                    out.append((imp, mod))
        return out


def parse_module(graph: Graph, name: str, source: str, path: str, is_package: bool) -> None:
    """Add module ``name`` (its source text) and every import in it to ``graph``."""
    graph.modules[name] = path
    tree = ast.parse(source, filename=path)
    package = name if is_package else name.rpartition(".")[0]

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    graph.imports.append(Import(name, alias.name, child.lineno, inner, path))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")
                    parts = parts[: len(parts) - (child.level - 1)]
                    base = ".".join(parts + ([base] if base else []))
                for alias in child.names:
                    graph.imports.append(Import(name, f"{base}.{alias.name}" if alias.name != "*" else base, child.lineno, inner, path))
            elif (isinstance(child, ast.Call) and isinstance(child.func, (ast.Attribute, ast.Name))
                  and (child.func.attr if isinstance(child.func, ast.Attribute) else child.func.id) == "import_module"
                  and child.args and isinstance(child.args[0], ast.Constant) and isinstance(child.args[0].value, str)):
                graph.imports.append(Import(name, child.args[0].value, child.lineno, inner, path))
            visit(child, inner)

    visit(tree, False)


def load_package(root: Path = ROOT) -> Graph:
    graph = Graph()
    for p in sorted((root / PACKAGE).rglob("*.py")):
        rel = p.relative_to(root)
        parts = list(rel.with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        parse_module(graph, ".".join(parts), p.read_text(encoding="utf-8"), str(rel), is_package)
    return graph


def unit_of(module: str, packages: set[str]) -> str:
    """``robot_learning.sim.mujoco_robot`` -> ``sim``; ``robot_learning.tasks.getup.env`` -> ``tasks.getup``
    (a task folder: a package in ``packages``); ``robot_learning.tasks.registry`` -> ``tasks``;
    ``robot_learning`` -> ``robot_learning``."""
    parts = module.split(".")
    if len(parts) == 1:
        return parts[0]
    if parts[1] == "tasks" and len(parts) >= 3 and ".".join(parts[:3]) in packages:
        return f"tasks.{parts[2]}"
    return parts[1]


def layer_of(unit: str) -> int | None:
    for i, units in enumerate(LAYERS):
        if unit in units or (unit.startswith("tasks.") and "tasks.*" in units):
            return i
    return None


def layer_violations(graph: Graph) -> list[str]:
    """Upward and sideways imports, and modules without a layer."""
    packages = {m.rpartition(".")[0] for m in graph.modules}
    ours = {m for m in graph.modules if m == PACKAGE or m.startswith(PACKAGE + ".")}
    out = []
    for module in sorted(ours):
        if layer_of(unit_of(module, packages)) is None:
            out.append(f"{graph.modules[module]}: unit '{unit_of(module, packages)}' has no layer "
                       "(declare it in LAYERS, tests/test_layers.py, and in README.md)")
    for imp, target in graph.internal():
        if imp.source not in ours:
            continue
        su, tu = unit_of(imp.source, packages), unit_of(target, packages)
        if su == tu:
            continue
        sl, tl = layer_of(su), layer_of(tu)
        if sl is None or tl is None:
            continue
        where = f"{imp.path}:{imp.line} imports {imp.target}{' (inside a function)' if imp.local else ''}"
        if su.startswith("tasks.") and tu.startswith("tasks."):
            out.append(f"{where}: task '{su[6:]}' imports task '{tu[6:]}' (move what they share below the tasks)")
        elif tl > sl:
            out.append(f"{where}: upward import, {su} (layer {sl}) -> {tu} (layer {tl})")
        elif tl == sl:
            out.append(f"{where}: {su} and {tu} share layer {sl} and must not import each other")
    return out


def cycles(graph: Graph) -> list[list[str]]:
    """Strongly connected components of more than one module (or a module importing itself)."""
    edges: dict[str, set[str]] = {m: set() for m in graph.modules}
    for imp, target in graph.internal():
        edges[imp.source].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):  # iterative Tarjan: no recursion limit on a deep graph
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            advanced = False
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in edges[v]:
                    found.append(sorted(comp))
    return found


def describe_cycle(graph: Graph, comp: list[str]) -> str:
    members = set(comp)
    lines = [f"  {imp.path}:{imp.line} {imp.source} -> {t}{' (inside a function)' if imp.local else ''}"
             for imp, t in graph.internal() if imp.source in members and t in members]
    return "import cycle among " + ", ".join(comp) + ":\n" + "\n".join(sorted(set(lines)))


def heavy_violations(graph: Graph, torch_free: tuple[str, ...] = TORCH_FREE) -> list[str]:
    """torch / MuJoCo / PyBullet in the torch-free paths: imported there anywhere, or imported at load
    time by an internal module they import at load time."""
    def in_free(path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in torch_free)

    def heavy(name: str) -> bool:
        return name.split(".")[0] in HEAVY

    out = [f"{imp.path}:{imp.line} imports {imp.target}: {', '.join(torch_free)} must not import {'/'.join(HEAVY)}"
           for imp in graph.imports if in_free(imp.path) and heavy(imp.target)]
    top: dict[str, set[str]] = {m: set() for m in graph.modules}
    for imp, target in graph.internal():
        if not imp.local:
            top[imp.source].add(target)
    for root in sorted(m for m, p in graph.modules.items() if in_free(p)):
        seen, todo, parent = {root}, [root], {root: ""}
        while todo:
            m = todo.pop()
            for t in top[m]:
                if t not in seen:
                    seen.add(t)
                    parent[t] = m
                    todo.append(t)
        for m in sorted(seen - {root}):
            for imp in graph.imports:
                if imp.source == m and not imp.local and heavy(imp.target):
                    chain, x = [m], m
                    while parent[x]:
                        x = parent[x]
                        chain.append(x)
                    out.append(f"{graph.modules[root]} loads {imp.target} through {' -> '.join(reversed(chain))} "
                               f"({imp.path}:{imp.line})")
    return sorted(set(out))


def load_deploy(graph: Graph, root: Path = ROOT) -> None:
    """The ROS 2 package's files, as modules ``deploy/...`` (nothing imports them; they import robot_learning)."""
    for p in sorted((root / "deploy").rglob("*.py")):
        rel = p.relative_to(root)
        parse_module(graph, "deploy:" + "/".join(rel.with_suffix("").parts), p.read_text(encoding="utf-8"), str(rel), False)


def check(graph: Graph) -> list[str]:
    problems = layer_violations(graph)
    problems += [describe_cycle(graph, c) for c in cycles(graph)]
    problems += heavy_violations(graph)
    return problems


def counts(graph: Graph) -> dict[str, int]:
    internal = graph.internal()
    local = [i for i, _ in internal if i.local]
    statements = {(i.path, i.line) for i, _ in internal}
    local_statements = {(i.path, i.line) for i in local}
    optional_local = {(i.path, i.line) for i in graph.imports if i.local and i.target.split(".")[0] in OPTIONAL}
    return {"modules": len(graph.modules), "internal_import_statements": len(statements),
            "internal_function_local_statements": len(local_statements), "internal_imported_names": len(internal),
            "optional_third_party_function_local_statements": len(optional_local)}


# ------------------------------------------------------------------------------------------- tests
def _real_graph() -> Graph:
    graph = load_package()
    load_deploy(graph)
    return graph


def test_robot_learning_keeps_its_layers() -> None:
    graph = _real_graph()
    assert len(graph.modules) > 50 and len(graph.internal()) > 200, "the checker found too little to be looking at the package"
    problems = check(graph)
    assert not problems, "\n" + "\n".join(problems)


def _synthetic(sources: dict[str, str]) -> Graph:
    graph = Graph()
    names = set(sources)
    for name, src in sources.items():
        is_package = any(n.startswith(name + ".") for n in names)
        parse_module(graph, name, src, name.replace(".", "/") + ("/__init__.py" if is_package else ".py"), is_package)
    return graph


CLEAN = {
    "robot_learning": "",
    "robot_learning.types": "import numpy as np\n",
    "robot_learning.robots": "",
    "robot_learning.robots.g1": "from robot_learning.types import X\n",
    "robot_learning.sim": "",
    "robot_learning.sim.mujoco": "import mujoco\nfrom robot_learning.robots.g1 import G1\n",
    "robot_learning.runtime": "",
    "robot_learning.runtime.node": "from robot_learning.types import X\nfrom . import policy\n",
    "robot_learning.runtime.policy": "def load():\n    import onnxruntime\n",
    "robot_learning.tasks": "",
    "robot_learning.tasks.registry": "import importlib\n",
    "robot_learning.tasks.a": "",
    "robot_learning.tasks.a.env": "from robot_learning.sim.mujoco import Sim\nfrom robot_learning.tasks.registry import Spec\n",
    "robot_learning.tasks.b": "",
    "robot_learning.tasks.b.env": "from robot_learning.runtime.node import Node\n",
    "robot_learning.cli": "import importlib\ndef main():\n    importlib.import_module('robot_learning.tasks.a.env')\n",
}


def test_checker_passes_a_clean_graph() -> None:
    graph = _synthetic(CLEAN)
    assert len(graph.internal()) == 8
    assert check(graph) == []


def test_checker_names_an_upward_import_even_inside_a_function() -> None:
    graph = _synthetic({**CLEAN, "robot_learning.robots.g1": "def f():\n    from robot_learning.sim.mujoco import Sim\n"})
    problems = check(graph)
    assert any("robot_learning/robots/g1.py:2 imports robot_learning.sim.mujoco.Sim (inside a function): upward import, robots" in p
               for p in problems), problems


def test_checker_names_sideways_imports_between_sim_and_runtime_and_between_tasks() -> None:
    graph = _synthetic({**CLEAN, "robot_learning.sim.mujoco": "from robot_learning.runtime import node\n",
                        "robot_learning.tasks.b.env": "from ..a.env import Sim\n"})
    problems = check(graph)
    assert any("robot_learning/sim/mujoco.py:1 imports robot_learning.runtime.node: sim and runtime share layer" in p for p in problems), problems
    assert any("robot_learning/tasks/b/env.py:1 imports robot_learning.tasks.a.env.Sim: task 'b' imports task 'a'" in p for p in problems), problems


def test_checker_finds_a_cycle_hidden_in_a_function() -> None:
    graph = _synthetic({**CLEAN, "robot_learning.runtime.policy": "def load():\n    from robot_learning.runtime.node import Node\n"})
    problems = check(graph)
    cyc = [p for p in problems if p.startswith("import cycle")]
    assert len(cyc) == 1 and "robot_learning.runtime.node, robot_learning.runtime.policy" in cyc[0], problems
    assert "robot_learning/runtime/policy.py:2 robot_learning.runtime.policy -> robot_learning.runtime.node (inside a function)" in cyc[0]


def test_checker_finds_torch_in_the_runtime_directly_and_through_a_load_time_import() -> None:
    assert heavy_violations(_synthetic(CLEAN)) == []
    # a function-local import in the runtime still counts (it runs on the robot when called)
    problems = heavy_violations(_synthetic({**CLEAN, "robot_learning.runtime.policy": "def load():\n    import torch\n"}))
    assert [p.split(":")[0:2] for p in problems] == [["robot_learning/runtime/policy.py", "2 imports torch"]], problems
    # a lower module that loads torch at import time, imported by the runtime at import time
    problems = heavy_violations(_synthetic({**CLEAN, "robot_learning.types": "import torch.nn\n"}))
    assert problems == ["robot_learning/runtime/node.py loads torch.nn through robot_learning.runtime.node -> robot_learning.types "
                        "(robot_learning/types.py:1)"], problems
    # ... but not one the runtime never loads (robots.g1 is not imported by the runtime here)
    assert heavy_violations(_synthetic({**CLEAN, "robot_learning.robots.g1": "import torch\n"})) == []


def test_checker_names_a_package_without_a_layer() -> None:
    graph = _synthetic({**CLEAN, "robot_learning.extras": "", "robot_learning.extras.x": ""})
    assert any("unit 'extras' has no layer" in p for p in check(graph))


if __name__ == "__main__":
    g = load_package()
    for key, value in counts(g).items():
        print(f"{key}: {value}")
    sys.exit(1 if check(g) else 0)
