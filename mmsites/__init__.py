"""Find sites of vision-language integration in intracranial recordings (mmsites).

One installed namespace. The repository keeps one folder per package at its top level;
``pyproject.toml`` installs each under this one (``package-dir``):

=====================  ==========================================================
``mmsites.recordings``  Brain Treebank reader, preprocessing, event-locked responses
``mmsites.features``    movie events, scene cuts, the model zoo, feature reduction
``mmsites.encoding``    ridge cross-validation on arrays (folds, solver, Pearson r)
``mmsites.stats``       permutation and bootstrap nulls, paired comparisons, FDR, sites
``mmsites.atlases``     electrode to brain-region lookup
``mmsites.brainmodels`` BrainBERT and PopT: architectures, checkpoints, embeddings,
                        pretraining, fine-tuning
``mmsites.decoding``    Neuroprobe-style tasks, purged splits, probes, ROC-AUC intervals
``mmsites.similarity``  linear CKA and RSA between representations, layer mapping
``mmsites.reports``     figures and HTML pages from result tables
``mmsites.pipeline``    params, file layout and the DVC stages (the only package that
                        knows about files)
=====================  ==========================================================

The packages' dependency rule and the stages' file contracts are in ``docs/architecture.md``.

Examples
--------
>>> import mmsites
>>> mmsites.__version__  # doctest: +SKIP
'0.1.0'
>>> params = mmsites.load_params("params.yaml")  # doctest: +SKIP
>>> mmsites.run_all("params.yaml", workdir=".")  # doctest: +SKIP
"""

from __future__ import annotations

import os as _os
from importlib import metadata as _metadata
from pathlib import Path as _Path

# numba caches compiled kernels beside their source file unless told otherwise: keep them out of
# the package folders (nothing generated lands there, and DVC's code deps would see them change)
_os.environ.setdefault(
    "NUMBA_CACHE_DIR",
    str(_Path(_os.environ.get("XDG_CACHE_HOME") or _Path.home() / ".cache") / "mmsites" / "numba"),
)

try:
    __version__ = _metadata.version("mmsites")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

#: The packages installed under this namespace, in dependency order (libraries first).
PACKAGES = (
    "encoding",
    "stats",
    "similarity",
    "recordings",
    "features",
    "atlases",
    "brainmodels",
    "decoding",
    "reports",
    "pipeline",
)

#: Entry points resolved on first use, so ``import mmsites`` stays light (no torch).
_ENTRY_POINTS = {
    "load_params": "mmsites.pipeline.params",
    "Params": "mmsites.pipeline.params",
    "run_all": "mmsites.pipeline.cli",
    "run_stage": "mmsites.pipeline.cli",
    "Layout": "mmsites.pipeline.paths",
}

__all__ = ["__version__", "PACKAGES", *_ENTRY_POINTS]


def __getattr__(name: str):
    if name in _ENTRY_POINTS:
        from importlib import import_module

        return getattr(import_module(_ENTRY_POINTS[name]), name)
    raise AttributeError(f"module 'mmsites' has no attribute {name!r}")


def require_namespace(module_name: str) -> None:
    """Refuse a package imported under its bare folder name instead of ``mmsites.<name>``.

    Run from the repository root, ``import stats`` would otherwise load a second copy of
    ``mmsites.stats`` (two module objects, two sets of classes) or shadow another
    distribution's ``stats``.

    Parameters
    ----------
    module_name : str
        The importing package's ``__name__``.

    Raises
    ------
    ImportError
        When ``module_name`` is not under ``mmsites``.
    """
    if not module_name.startswith("mmsites."):
        raise ImportError(
            f"the package {module_name!r} is part of mmsites: import it as 'mmsites.{module_name}' "
            f"(e.g. 'from mmsites.{module_name} import ...'); the bare name is not installed"
        )
