"""mmsites: encoding — ridge cross-validation engine and Pearson r scoring (torch, CPU or GPU).

Public API: :class:`Fold`, :func:`contiguous_folds`, :class:`CVEngine`, :class:`CVResult`,
:func:`ridge_cv`, :data:`DEFAULT_ALPHAS`, :func:`pearson_r`, :func:`r_from_moments`,
:func:`mmsites.device.resolve_device`.
"""

from mmsites import require_namespace

require_namespace(__name__)

from .folds import Fold, contiguous_folds
from .ridge import DEFAULT_ALPHAS, CVEngine, CVResult, ridge_cv
from .scoring import pearson_r, r_from_moments

__all__ = [
    "Fold",
    "contiguous_folds",
    "CVEngine",
    "CVResult",
    "ridge_cv",
    "DEFAULT_ALPHAS",
    "pearson_r",
    "r_from_moments",
]
