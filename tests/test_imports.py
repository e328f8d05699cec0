"""Imports flow one way: base -> models -> data -> train / metrics / inference / reid -> applications -> cli.

Every ``import`` under src/pona (module level and inside functions) is read with ``ast``; no edge may
go from a lower layer to a higher one, nor close a cycle between two parts of the package.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pona

SRC = Path(pona.__file__).parent

# pona.<part> -> layer; a module is placed by the first part of its name under pona.
LAYERS = {
    **dict.fromkeys(["pose", "errors", "fileio", "weights", "precision", "masks"], 0),  # base
    "models": 1,
    "data": 2,
    **dict.fromkeys(["train", "metrics", "inference", "reid"], 3),
    **dict.fromkeys(["web", "demo", "report", "bench", "convert"], 4),  # applications
    **dict.fromkeys(["cli", "__main__"], 5),
}
LAYER_NAMES = ["base", "models", "data", "train/metrics/inference/reid", "applications", "cli"]

# Known edges against the order, each with its reason; the test fails on any edge not listed here.
ALLOWED = set()


def module_name(path: Path) -> str:
    parts = ["pona", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def part(module: str) -> str:
    return module.split(".")[1]


def layer(module: str) -> int:
    return LAYERS[part(module)]


def import_edges(known: dict[str, Path]):
    """(importer, imported module, line) for every import of a pona module, wherever it sits.

    ``from pkg import name`` counts as an import of ``pkg.name`` when that is a module; names of
    the lazy top-level package (``from pona import PoNA``) resolve to the module that defines them."""
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                    base = f"{base}.{node.module}" if node.module else base
                else:
                    base = node.module
                targets = []
                for alias in node.names:
                    if f"{base}.{alias.name}" in known:
                        targets.append(f"{base}.{alias.name}")
                    elif base == "pona" and alias.name in pona._LAZY:
                        targets.append("pona" + pona._LAZY[alias.name])
                    else:
                        targets.append(base)
            else:
                continue
            for target in targets:
                if target.startswith("pona.") and name != "pona":  # the package's own __init__ is the top
                    yield name, target, node.lineno


def test_every_module_has_a_layer():
    unplaced = sorted({part(m) for m in modules() if m != "pona" and part(m) not in LAYERS})
    assert not unplaced, f"place these parts of pona in LAYERS: {unplaced}"


def test_no_import_goes_from_a_lower_layer_to_a_higher_one():
    known = modules()
    violations = []
    for importer, target, line in import_edges(known):
        if layer(target) > layer(importer) and (importer, target) not in ALLOWED:
            violations.append(f"{known[importer].relative_to(SRC.parent)}:{line}: {importer} "
                              f"({LAYER_NAMES[layer(importer)]}) imports {target} ({LAYER_NAMES[layer(target)]})")
    assert not violations, "imports against the layer order:\n" + "\n".join(violations)


def test_no_import_cycle_between_parts_of_the_package():
    graph = {}
    for importer, target, _ in import_edges(modules()):
        if part(importer) != part(target):
            graph.setdefault(part(importer), set()).add(part(target))
    cycles, state = [], {}  # state: 1 on the current path, 2 done

    def walk(node, path):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                walk(nxt, path + [nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            walk(start, [start])
    assert not cycles, "import cycles:\n" + "\n".join(sorted(set(cycles)))


def test_importing_pona_pose_loads_only_the_base_layer():
    code = "import pona.pose, sys; print(' '.join(sorted(m for m in sys.modules if m.startswith('pona'))))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "pona.pose" in loaded
    above_base = [m for m in loaded if m != "pona" and layer(m) > 0]
    assert not above_base, f"import pona.pose loaded {above_base}"


def test_the_command_line_starts_without_torch():
    # the commands import the library when they run (see pona/cli/__init__.py): help and usage errors answer at once
    code = "import pona.cli, sys; print('torch' in sys.modules, 'pona.models' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_every_public_name_of_the_package_still_imports():
    code = f"from pona import {', '.join(pona.__all__)}; import pona; print(pona.__version__, PoNA.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [pona.__version__, "pona.inference.model"]
    assert set(pona.__all__) <= set(dir(pona))
