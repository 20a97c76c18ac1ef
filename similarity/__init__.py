"""Representational similarity on arrays: linear CKA, RSA and the guidance layer mapping.

``mmsites.similarity`` is a pure library: arrays in, numbers out (numpy arrays or torch
tensors, CPU or CUDA; tensors keep their autograd graph, for guidance losses). Public API:

* CKA (:mod:`~mmsites.similarity.cka`): :func:`~mmsites.similarity.cka.linear_cka` (biased
  or debiased HSIC, feature- or Gram-space products) and
  :class:`~mmsites.similarity.cka.CKAAccumulator` (the exact CKA of many examples from
  batches of rows);
* RSA (:mod:`~mmsites.similarity.dissimilarity`): :func:`~mmsites.similarity.dissimilarity.rsa`
  (RDMs by cosine or correlation distance compared by Pearson or Spearman, over upper
  triangles or, as the guidance code, full matrices) and
  :func:`~mmsites.similarity.dissimilarity.rdm`;
* layers (:mod:`~mmsites.similarity.layers`): :func:`~mmsites.similarity.layers.layer_map`
  (guide layer i -> target layer ``min(round(i (T-1)/(G-1)), T-1)``).

Two modules are imported by name (they use :mod:`mmsites.stats`, which the package itself
does not load): :mod:`~mmsites.similarity.pairwise`
(:func:`~mmsites.similarity.pairwise.pairwise_similarity`: CKA or RSA of every pair of many
representations, each one's own terms formed once) and :mod:`~mmsites.similarity.permutation`
(:func:`~mmsites.similarity.permutation.permutation_test` and
:func:`~mmsites.similarity.permutation.permutation_pvalue`: p-values over re-pairings of the
events, e.g. circular shifts; the ``similarity`` stage's model x brain tests).

Examples
--------
>>> import numpy as np
>>> from mmsites.similarity import linear_cka, rsa
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((50, 6))
>>> Y = X @ rng.standard_normal((6, 4))
>>> 0.0 <= linear_cka(X, Y) <= 1.0 and -1.0 <= rsa(X, Y) <= 1.0
True
"""

from mmsites import require_namespace

require_namespace(__name__)

from .cka import METHODS, CKAAccumulator, linear_cka
from .dissimilarity import COMPARISONS, SIMILARITIES, rdm, rsa
from .layers import layer_map

__all__ = [
    "linear_cka",
    "CKAAccumulator",
    "METHODS",
    "rsa",
    "rdm",
    "SIMILARITIES",
    "COMPARISONS",
    "layer_map",
]
