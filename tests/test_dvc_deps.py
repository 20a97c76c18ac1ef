"""dvc.yaml declares every code file a stage runs, so ``dvc repro`` never skips work it must redo.

A stage's code is the closure of its module's imports (read with ``ast``, see import_graph);
each file of it must be a ``deps`` entry or lie under one. Code entries that the stage does
not run are stale and fail too (they make DVC redo work for nothing).
"""

from __future__ import annotations

import re
from pathlib import Path

import import_graph as ig
import pytest
import yaml

from mmsites.features.zoo import FAMILY_MODULES
from mmsites.pipeline.cli import STAGES

#: Modules a stage imports by name at run time (invisible to the import graph): the features
#: stage builds each model's extractor from the family registry.
BY_NAME = {"features": set(FAMILY_MODULES.values())}

DVC = yaml.safe_load((ig.REPO / "dvc.yaml").read_text())["stages"]
CODE_ROOTS = {p.relative_to(ig.REPO).parts[0] for p in ig.package_dirs().values()}


def stage_code(stage: str) -> set[str]:
    """Repository-relative paths of the source files that ``mmsites <stage>`` runs."""
    known, edges = ig.graph()
    names = ig.closure(f"mmsites.pipeline.stages.{STAGES[stage]}", edges)
    for name in BY_NAME.get(stage, ()):
        names |= ig.closure(name, edges)
    return {known[n].path.relative_to(ig.REPO).as_posix() for n in names if n in known}


def code_deps(stage: str) -> list[str]:
    """The stage's ``deps`` entries that are code (inside a package folder), as written."""
    deps = [next(iter(d)) if isinstance(d, dict) else d for d in DVC[stage].get("deps", [])]
    return [d for d in deps if Path(d).parts[0] in CODE_ROOTS]


def covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


def test_every_stage_is_one_mmsites_command():
    assert set(DVC) == set(STAGES), f"dvc.yaml stages {sorted(DVC)} != mmsites stages {sorted(STAGES)}"
    for name, stage in DVC.items():
        assert re.match(rf"^mmsites {re.escape(name)}( |$)", stage["cmd"]), stage["cmd"]


@pytest.mark.parametrize("stage", list(STAGES))
def test_stage_code_is_declared(stage):
    code, deps = stage_code(stage), code_deps(stage)
    missing = sorted(p for p in code if not covered(p, deps))
    assert not missing, f"dvc.yaml stage {stage!r}: add to deps {missing}"
    stale = sorted(d for d in deps if not any(covered(p, [d]) for p in code))
    assert not stale, f"dvc.yaml stage {stage!r}: deps {stale} are not code the stage runs"
    absent = sorted(d for d in deps if not (ig.REPO / d).exists())
    assert not absent, f"dvc.yaml stage {stage!r}: deps {absent} do not exist"


def test_the_check_can_fail():
    """A file outside the declared deps is reported."""
    assert not covered("stats/signal.py", ["stats/sites.py", "stat"])
    assert covered("stats/signal.py", ["stats"]) and covered("features/zoo/slip.py", ["features/zoo/"])
    assert "mmsites/timing.py" in stage_code("events")


def test_dvc_lock_is_not_git_ignored():
    """``dvc repro`` refuses to write a git-ignored ``dvc.lock`` ("'dvc.lock' is git-ignored"):
    ignoring it breaks ``make demo`` on a clean clone."""
    import shutil
    import subprocess

    if shutil.which("git") is None or not (ig.REPO / ".git").exists():
        pytest.skip("not a git work tree")
    ignored = subprocess.run(["git", "check-ignore", "-q", "dvc.lock"], cwd=ig.REPO, check=False)
    assert ignored.returncode == 1, "dvc.lock is git-ignored: dvc repro (make demo) would refuse to run"
