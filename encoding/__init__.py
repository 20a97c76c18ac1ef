"""Ridge cross-validation engine and Pearson r scoring (torch, CPU or GPU).

``mmsites.encoding`` works on arrays only: features (events × features) and responses
(events × targets, a target being one electrode × time bin). Public API:
:class:`~mmsites.encoding.folds.Fold`, :func:`~mmsites.encoding.folds.contiguous_folds`,
:class:`~mmsites.encoding.ridge.CVEngine`, :class:`~mmsites.encoding.ridge.CVResult`,
:func:`~mmsites.encoding.ridge.ridge_cv`, :data:`~mmsites.encoding.ridge.DEFAULT_ALPHAS`,
:func:`~mmsites.encoding.scoring.pearson_r`, :func:`~mmsites.encoding.scoring.r_from_moments`,
:class:`~mmsites.encoding.targets.FoldTargets`, :func:`~mmsites.encoding.targets.fold_pca_targets`
(targets reduced on each fold's training events); devices are resolved by
:func:`mmsites.device.resolve_device`.
"""

from mmsites import require_namespace

require_namespace(__name__)

from .folds import Fold, contiguous_folds
from .ridge import DEFAULT_ALPHAS, CVEngine, CVResult, ridge_cv
from .scoring import pearson_r, r_from_moments
from .targets import FoldTargets, fold_pca_targets

__all__ = [
    "Fold",
    "contiguous_folds",
    "CVEngine",
    "CVResult",
    "ridge_cv",
    "DEFAULT_ALPHAS",
    "pearson_r",
    "r_from_moments",
    "FoldTargets",
    "fold_pca_targets",
]
