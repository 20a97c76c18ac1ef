"""The house rules, checked: one installed namespace and the packages' dependency rule.

The rule (docs/architecture.md): libraries take arrays and tables and never import the
pipeline; ``encoding`` sees arrays only; ``stats`` may use ``encoding``; ``recordings`` and
``features`` never import each other; ``reports`` uses result tables and ``atlases``; nothing
but the pipeline imports ``reports``; one stage never imports another. The root modules in
``mmsites/`` (timing, constants, device) import no package and every package may use them.
"""

from __future__ import annotations

import subprocess
import sys

import import_graph as ig
import pytest
import tomllib

#: package -> the project packages it may import ("root": the modules in mmsites/).
ALLOWED = {
    "root": set(),
    "encoding": {"root"},
    "stats": {"root", "encoding"},
    "recordings": {"root"},
    "features": {"root"},
    "atlases": {"root"},
    "reports": {"root", "atlases"},
    "brainmodels": {"root", "recordings"},
    "decoding": {"root", "encoding"},
    "similarity": {"root", "encoding", "stats"},
    "guidance": {"root", "similarity"},
    "pipeline": {
        "root",
        "encoding",
        "stats",
        "recordings",
        "features",
        "atlases",
        "reports",
        "brainmodels",
        "decoding",
        "similarity",
        "guidance",
        "pipeline",
    },
}


def package_of(name: str) -> str:
    """``mmsites.stats.signal`` -> ``stats``; a root module (``mmsites.timing``) -> ``root``."""
    parts = name.split(".")
    if len(parts) >= 2 and parts[1] in ALLOWED:
        return parts[1]
    return "root"


def violations(known: dict, edges: dict[str, set[str]]) -> list[str]:
    """Every import that breaks the rule, as readable lines."""
    out = []
    for src, targets in sorted(edges.items()):
        pkg = package_of(src)
        for dst in sorted(targets):
            dst_pkg = package_of(dst)
            if dst == "mmsites" or dst_pkg == pkg and not dst.startswith("mmsites.pipeline.stages."):
                continue  # the namespace root (version, require_namespace) and own package
            if dst_pkg not in ALLOWED[pkg]:
                out.append(f"{src} imports {dst}: {pkg} may import only {sorted(ALLOWED[pkg])}")
            stage = "mmsites.pipeline.stages."
            if src.startswith(stage) and dst.startswith(stage) and src != dst:
                out.append(f"{src} imports {dst}: a stage never imports another stage (share via pipeline/)")
    return out


def test_every_package_has_a_contract():
    """A new package gets its line in ALLOWED when it is born."""
    dirs = ig.package_dirs()
    tops = {name.split(".")[1] for name in dirs if name != "mmsites"}
    assert tops <= set(ALLOWED), f"packages without an import contract: {sorted(tops - set(ALLOWED))}"


def test_dependency_rule_holds():
    known, edges = ig.graph()
    assert known, "no modules found: is pyproject's package-dir right?"
    assert not violations(known, edges), "\n".join(violations(known, edges))


def test_the_check_can_fail(tmp_path):
    """The checker finds a forbidden import, a relative one and a stage importing a stage."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.setuptools.package-dir]\n"mmsites" = "mmsites"\n"mmsites.stats" = "stats"\n'
        '"mmsites.pipeline" = "pipeline"\n"mmsites.features" = "features"\n'
    )
    for folder in ("mmsites", "stats", "pipeline", "pipeline/stages", "features"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "stats" / "bad.py").write_text("def f():\n    from mmsites.pipeline import io\n")
    (tmp_path / "pipeline" / "io.py").write_text("")
    (tmp_path / "features" / "rel.py").write_text("from ..stats import bad\n")
    (tmp_path / "pipeline" / "stages" / "a.py").write_text("")
    (tmp_path / "pipeline" / "stages" / "b.py").write_text("from .a import x\n")
    known, edges = ig.graph(tmp_path)
    found = "\n".join(violations(known, edges))
    assert "mmsites.stats.bad imports mmsites.pipeline" in found
    assert "mmsites.features.rel imports mmsites.stats" in found
    assert "mmsites.pipeline.stages.b imports mmsites.pipeline.stages.a" in found


def test_pyproject_lists_every_package():
    """Each folder with an __init__.py under a mapped folder is installed (and nothing else)."""
    config = tomllib.loads((ig.REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {name for name, mod in ig.modules(ig.package_dirs()).items() if mod.is_package}
    missing, extra = sorted(found - listed), sorted(listed - found)
    assert listed == found, f"missing from pyproject: {missing}; extra: {extra}"


def _python(code: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("where", ["repo", "elsewhere"])
def test_bare_names_are_not_importable(where, tmp_path):
    """``import stats`` fails, from the repository root too; ``import mmsites.stats`` works."""
    cwd = ig.REPO if where == "repo" else tmp_path
    for bare in (
        "stats",
        "pipeline",
        "features",
        "encoding",
        "recordings",
        "reports",
        "atlases",
        "similarity",
        "guidance",
    ):
        res = _python(f"import {bare}", cwd)
        assert res.returncode != 0, f"`import {bare}` worked from {cwd}"
        assert "ModuleNotFoundError" in res.stderr or f"import it as 'mmsites.{bare}'" in res.stderr
    res = _python("import mmsites.stats, mmsites.pipeline.cli; print(mmsites.stats.__name__)", cwd)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "mmsites.stats"


def test_import_mmsites_is_light_and_gives_the_entry_points(tmp_path):
    res = _python(
        "import sys, mmsites; assert 'torch' not in sys.modules, 'import mmsites pulled in torch'; "
        "print(mmsites.__version__); print(mmsites.load_params.__module__, mmsites.run_all.__module__)",
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    version, where = res.stdout.strip().splitlines()
    assert version[0].isdigit()
    assert where == "mmsites.pipeline.params mmsites.pipeline.cli"
