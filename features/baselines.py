"""Linear-integration baselines: MultiConcat and MultiLin.

An architecturally multimodal model (SLIP, CLIP) integrates vision and language non-linearly.
These baselines integrate a unimodal vision and a unimodal language model's features
*linearly*; a multimodal model that predicts an electrode better than them has something
beyond linear integration.

- :func:`multiconcat`: the two feature sets side by side (the released code's ``concat``).
- :class:`MultiLin`: a learned linear projection of the two into a shared space —
  regularised canonical correlation analysis (CCA), fit on training events only.

Why CCA: CLIP-style models learn one linear projection per modality (on top of each tower)
so that an image and its caption land close together in a shared space. CCA is the linear,
closed-form version of that objective: it finds ``W_v`` and ``W_l`` such that ``X_v W_v`` and
``X_l W_l`` are maximally correlated across paired events (each event has a frame and a word,
as a CLIP training pair has an image and a caption). The MultiLin feature of an event is its
vision and language coordinates in that shared space, concatenated (``combine="concat"``,
``2k`` columns) or summed (``combine="sum"``, ``k`` columns, the analogue of averaging the two
CLIP embeddings). Fitting it on the training rows only keeps the held-out events out of the
projection, so the encoding engine calls :meth:`MultiLin.fit` once per CV fold.
"""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["multiconcat", "MultiLin"]


def _check_pair(Xv, Xl, where: str):
    Xv = np.asarray(Xv, dtype=np.float64)
    Xl = np.asarray(Xl, dtype=np.float64)
    if Xv.ndim != 2 or Xl.ndim != 2:
        raise ValueError(
            f"{where}: vision and language features must be 2-D (n_events, n_features); "
            f"got shapes {Xv.shape} and {Xl.shape}"
        )
    if len(Xv) != len(Xl):
        raise ValueError(
            f"{where}: vision features have {len(Xv)} events but language features "
            f"have {len(Xl)}; both must have one row per event, same order"
        )
    for name, X in (("vision", Xv), ("language", Xl)):
        if not np.isfinite(X).all():
            raise ValueError(
                f"{where}: {name} features have {int((~np.isfinite(X)).sum())} non-finite values"
            )
    return Xv, Xl


def multiconcat(X_vision: np.ndarray, X_language: np.ndarray) -> np.ndarray:
    """MultiConcat: the vision and language features side by side.

    No scaling is applied here: the encoding engine z-scores every column on the training
    events, which puts both blocks on the same per-column scale, and ridge's single penalty
    then treats each column alike (a block with more columns can carry more of the fit, as in
    the released code's concatenation).

    Parameters
    ----------
    X_vision : ndarray, shape (n_events, d_vision)
        The vision model's features, one row per event.
    X_language : ndarray, shape (n_events, d_language)
        The language model's features of the same events, in the same order.

    Returns
    -------
    ndarray of float32, shape (n_events, d_vision + d_language)
        The vision columns then the language columns, unscaled.

    Raises
    ------
    ValueError
        When the blocks are not 2-D, differ in their number of events, or hold non-finite
        values.
    """
    Xv, Xl = _check_pair(X_vision, X_language, "multiconcat")
    return np.concatenate([Xv, Xl], axis=1).astype(np.float32)


def _inv_sqrt(C: np.ndarray) -> np.ndarray:
    w, V = np.linalg.eigh(C)
    floor = max(1e-12 * float(w.max()), np.finfo(np.float64).tiny)
    return (V / np.sqrt(np.clip(w, floor, None))) @ V.T


class MultiLin:
    """MultiLin: regularised CCA projection of vision and language features to a shared space.

    Parameters
    ----------
    n_components : int
        Dimension ``k`` of the shared space (clipped to ``min(d_vision, d_language)``).
    reg : float
        Ridge added to each block's covariance, relative to its mean variance,
        ``C ← C + reg · mean(diag C) · I`` (reg ≥ 0); needed when a block has more features
        than training events (plain CCA then finds spurious perfect correlations). Adding to
        the diagonal (rather than shrinking) keeps the canonical correlations in [0, 1].
    combine : {"concat", "sum"}
        Output ``[X_v W_v, X_l W_l]`` (``2k`` columns) or ``X_v W_v + X_l W_l`` (``k`` columns).

    Attributes
    ----------
    mean_vision_, mean_language_ : ndarray, shapes (d_vision,), (d_language,)
        Training means (subtracted before projecting).
    weights_vision_, weights_language_ : ndarray, shapes (d_vision, k), (d_language, k)
        Canonical directions; on the training rows the projections have unit (regularised)
        variance and are uncorrelated within each block.
    correlations_ : ndarray, shape (k,)
        Regularised canonical correlations (in [0, 1]), descending.
    """

    def __init__(self, n_components: int = 32, reg: float = 0.1, combine: str = "concat"):
        if int(n_components) < 1:
            raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
        if not (np.isfinite(reg) and reg >= 0):
            raise ValueError(f"reg must be a finite number >= 0, got {reg!r}")
        if combine not in ("concat", "sum"):
            raise ValueError(f"combine must be 'concat' or 'sum', got {combine!r}")
        self.n_components = int(n_components)
        self.reg = float(reg)
        self.combine = combine

    def _cov(self, Xc: np.ndarray) -> np.ndarray:
        C = Xc.T @ Xc / max(len(Xc) - 1, 1)
        mu = np.trace(C) / len(C)
        return C + self.reg * mu * np.eye(len(C))

    def fit(self, Xv_train: np.ndarray, Xl_train: np.ndarray) -> MultiLin:
        """Learn the projection from training events only.

        Parameters
        ----------
        Xv_train : ndarray, shape (n_train, d_vision)
            The vision features of the training events.
        Xl_train : ndarray, shape (n_train, d_language)
            The language features of the same training events, in the same order.

        Returns
        -------
        MultiLin
            ``self``, fitted: ``mean_*_``, ``weights_*_`` and ``correlations_`` are set.

        Raises
        ------
        ValueError
            When the blocks do not pair up (see :func:`multiconcat`) or there are fewer than
            2 training events.
        """
        Xv, Xl = _check_pair(Xv_train, Xl_train, "MultiLin.fit")
        if len(Xv) < 2:
            raise ValueError(f"MultiLin.fit needs at least 2 training events, got {len(Xv)}")
        self.mean_vision_ = Xv.mean(0)
        self.mean_language_ = Xl.mean(0)
        Xv = Xv - self.mean_vision_
        Xl = Xl - self.mean_language_
        k = min(self.n_components, Xv.shape[1], Xl.shape[1])
        Wv_half = _inv_sqrt(self._cov(Xv))
        Wl_half = _inv_sqrt(self._cov(Xl))
        Cvl = Xv.T @ Xl / (len(Xv) - 1)
        U, s, Vt = np.linalg.svd(Wv_half @ Cvl @ Wl_half, full_matrices=False)
        self.weights_vision_ = Wv_half @ U[:, :k]
        self.weights_language_ = Wl_half @ Vt[:k].T
        self.correlations_ = s[:k]
        logger.info(
            "MultiLin: fit on %d events, %d + %d features -> k=%d (top r=%.3f)",
            len(Xv),
            Xv.shape[1],
            Xl.shape[1],
            k,
            s[0] if len(s) else float("nan"),
        )
        return self

    def transform(self, Xv: np.ndarray, Xl: np.ndarray) -> np.ndarray:
        """Project events into the shared space.

        Parameters
        ----------
        Xv : ndarray, shape (n_events, d_vision)
            The vision features of the events to project (any events, e.g. held-out ones).
        Xl : ndarray, shape (n_events, d_language)
            Their language features, in the same order.

        Returns
        -------
        ndarray of float32, shape (n_events, 2k) or (n_events, k)
            The events' canonical coordinates, ``[X_v W_v, X_l W_l]`` for
            ``combine="concat"`` or ``X_v W_v + X_l W_l`` for ``"sum"`` (means of the fit
            subtracted first).

        Raises
        ------
        ValueError
            When called before :meth:`fit`, or the column counts differ from the fit's.
        """
        if not hasattr(self, "weights_vision_"):
            raise ValueError("MultiLin.transform called before fit; call fit(Xv_train, Xl_train) first")
        Xv, Xl = _check_pair(Xv, Xl, "MultiLin.transform")
        for name, X, mean in (("vision", Xv, self.mean_vision_), ("language", Xl, self.mean_language_)):
            if X.shape[1] != len(mean):
                raise ValueError(
                    f"MultiLin.transform: {name} features have {X.shape[1]} columns; the fit had {len(mean)}"
                )
        Zv = (Xv - self.mean_vision_) @ self.weights_vision_
        Zl = (Xl - self.mean_language_) @ self.weights_language_
        Z = np.concatenate([Zv, Zl], axis=1) if self.combine == "concat" else Zv + Zl
        return Z.astype(np.float32)

    def fit_transform(self, Xv_train: np.ndarray, Xl_train: np.ndarray) -> np.ndarray:
        """``fit`` then ``transform`` on the same (training) events.

        Parameters
        ----------
        Xv_train : ndarray, shape (n_train, d_vision)
            The vision features of the training events.
        Xl_train : ndarray, shape (n_train, d_language)
            The language features of the same training events, in the same order.

        Returns
        -------
        ndarray of float32, shape (n_train, 2k) or (n_train, k)
            The training events' canonical coordinates (see :meth:`transform`).
        """
        return self.fit(Xv_train, Xl_train).transform(Xv_train, Xl_train)
