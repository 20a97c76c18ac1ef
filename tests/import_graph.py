"""The project's import graph, read from the source with ``ast`` (nothing is imported).

Shared by the architecture tests (the dependency rule) and the DVC tests (a stage's code
dependencies). The installed layout is read from ``pyproject.toml``: each entry of
``[tool.setuptools.package-dir]`` maps a ``mmsites.*`` package to a folder of the repository.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Module:
    """One module of the installed namespace.

    Attributes
    ----------
    name : str
        Dotted name, e.g. ``"mmsites.stats.signal"``.
    path : Path
        Source file, absolute.
    is_package : bool
        True for an ``__init__.py``.
    """

    name: str
    path: Path
    is_package: bool


def package_dirs(repo: Path = REPO) -> dict[str, Path]:
    """``[tool.setuptools.package-dir]`` of ``repo``'s pyproject: package name -> folder."""
    config = tomllib.loads((repo / "pyproject.toml").read_text())
    return {name: repo / folder for name, folder in config["tool"]["setuptools"]["package-dir"].items()}


def modules(dirs: dict[str, Path]) -> dict[str, Module]:
    """Every module under the mapped folders: dotted name -> :class:`Module`."""
    out: dict[str, Module] = {}
    for root_name, folder in dirs.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("")
            parts = list(rel.parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            name = ".".join([root_name, *parts])
            out[name] = Module(name, path, is_package)
    return out


def _resolve(module: Module, node: ast.ImportFrom) -> str:
    """Absolute name of a ``from ... import`` target (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports(module: Module, known: dict[str, Module]) -> set[str]:
    """The project modules that ``module`` imports (anywhere in the file, lazily or not).

    ``from package import name`` counts as importing ``package.name`` when that is a module,
    else ``package``. Modules imported by name at run time (the zoo's family registry) are
    not seen here; tests that need them add them explicitly.
    """
    tree = ast.parse(module.path.read_text(), filename=str(module.path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            # `import mmsites.stats.signal` imports the packages on the way too.
            parts = target.split(".")
            for k in range(1, len(parts) + 1):
                name = ".".join(parts[:k])
                if name in known and name != module.name:
                    found.add(name)
    return found


def graph(repo: Path = REPO) -> tuple[dict[str, Module], dict[str, set[str]]]:
    """All modules of the namespace and, for each, the project modules it imports."""
    known = modules(package_dirs(repo))
    return known, {name: imports(mod, known) for name, mod in known.items()}


def closure(start: str, edges: dict[str, set[str]]) -> set[str]:
    """``start``, its parent packages and every project module they import, directly or not."""
    parts = start.split(".")
    seen, todo = set(), [".".join(parts[:k]) for k in range(1, len(parts) + 1)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(edges.get(name, ()))
    return seen
