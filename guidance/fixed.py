"""A guide given as fixed representations per example, not as a network.

Guidance needs only the guide's representation of each minibatch. When the guide is data,
e.g. a subject's neural responses to the same events the target sees, there is no network to
run: :class:`FixedGuide` holds one or more arrays with one row per training example (and,
optionally, per evaluation example) and hands :func:`~mmsites.guidance.training.guided_train`
the rows of each minibatch by index. The distance is the same as for a network guide
(:func:`~mmsites.guidance.loss.pair_distances`: ``1 - CKA`` of the minibatch, by
:func:`mmsites.similarity.linear_cka`, or ``1 - RSA``).

Which target layer a representation is compared with: by default the published mapping
(:func:`mmsites.similarity.layer_map`; one representation maps to the target's first recorded
layer); ``target_layers`` names them explicitly (an index into the target's recorded layers,
negative from the end).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import torch

from .loss import layer_pairs

__all__ = ["FixedGuide"]


def _as_maps(arrays, what: str) -> list[torch.Tensor]:
    if isinstance(arrays, (np.ndarray, torch.Tensor)):
        arrays = [arrays]
    out = []
    for k, a in enumerate(arrays):
        t = a.detach().to("cpu") if isinstance(a, torch.Tensor) else torch.from_numpy(np.asarray(a))
        if t.dim() < 2 or t.shape[0] < 2:
            raise ValueError(
                f"{what} representation {k} must have one row per example (n >= 2, features), "
                f"got shape {tuple(t.shape)}"
            )
        if not t.is_floating_point():
            raise ValueError(f"{what} representation {k} must be real numbers, got {t.dtype}")
        t = t.reshape(t.shape[0], -1).float().contiguous()
        if not torch.isfinite(t).all():
            raise ValueError(f"{what} representation {k} holds NaN or inf")
        out.append(t)
    if not out:
        raise ValueError(f"{what}: at least one representation is needed")
    if len({t.shape[0] for t in out}) != 1:
        raise ValueError(f"{what} representations differ in rows: {[t.shape[0] for t in out]}")
    return out


class FixedGuide:
    """Fixed per-example representations that guide a target like a frozen network's layers.

    Parameters
    ----------
    train : array or sequence of arrays, each (n_train, ...)
        The guide's representation(s) of the training examples, rows in the order of the
        training inputs (float; flattened per example). One array per "guide layer".
    evaluation : array or sequence of arrays, each (n_eval, ...), optional
        The same representations of the evaluation examples (the ``test`` inputs given to
        :func:`~mmsites.guidance.training.guided_train`), on which the CKA is measured after
        every epoch; None: measured on the training examples.
    names : sequence of str, optional
        A name per representation (default ``fixed_0``, ``fixed_1``, ...).
    target_layers : sequence of int, optional
        The target layer (index into its recorded layers; negative from the end) each
        representation is compared with; None: the published mapping.

    Raises
    ------
    ValueError
        If an array has fewer than 2 rows, is not real and finite, the arrays differ in rows
        or in number between ``train`` and ``evaluation``, or the names or target layers do
        not match the representations.

    Examples
    --------
    >>> import numpy as np
    >>> guide = FixedGuide(np.eye(4, 3), target_layers=[-1])
    >>> guide.n_train, [tuple(a.shape) for _, a in guide.batch(np.array([0, 2]))]
    (4, [(2, 3)])
    """

    def __init__(self, train, evaluation=None, *, names: Sequence[str] | None = None, target_layers=None):
        self.train = _as_maps(train, "guide (training)")
        self.evaluation = None if evaluation is None else _as_maps(evaluation, "guide (evaluation)")
        if self.evaluation is not None:
            if len(self.evaluation) != len(self.train):
                raise ValueError(
                    f"{len(self.train)} training but {len(self.evaluation)} evaluation representations"
                )
            widths = [(a.shape[1], b.shape[1]) for a, b in zip(self.train, self.evaluation)]
            if any(a != b for a, b in widths):
                raise ValueError(f"training and evaluation representations differ in width: {widths}")
        self.names = [f"fixed_{k}" for k in range(len(self.train))] if names is None else list(names)
        if len(self.names) != len(self.train):
            raise ValueError(f"{len(self.names)} names for {len(self.train)} representations")
        if target_layers is not None:
            target_layers = [int(j) for j in target_layers]
            if len(target_layers) != len(self.train):
                raise ValueError(f"{len(target_layers)} target layers for {len(self.train)} representations")
        self.target_layers = target_layers
        self._device = torch.device("cpu")

    @property
    def n_train(self) -> int:
        """Number of training examples (rows of each training representation).

        Returns
        -------
        int
            Rows of each training representation.
        """
        return int(self.train[0].shape[0])

    @property
    def n_evaluation(self) -> int | None:
        """Number of evaluation examples.

        Returns
        -------
        int or None
            Rows of each evaluation representation; None when there are none.
        """
        return None if self.evaluation is None else int(self.evaluation[0].shape[0])

    def to(self, device) -> FixedGuide:
        """Move the representations to ``device`` (in place).

        Parameters
        ----------
        device : str or torch.device
            Where the representations go.

        Returns
        -------
        FixedGuide
            The guide itself.
        """
        self._device = torch.device(device)
        self.train = [t.to(self._device) for t in self.train]
        if self.evaluation is not None:
            self.evaluation = [t.to(self._device) for t in self.evaluation]
        return self

    def batch(self, idx) -> list[tuple[str, torch.Tensor]]:
        """The representations of some training examples.

        Parameters
        ----------
        idx : array or Tensor of int, shape (b,)
            Rows of the training examples.

        Returns
        -------
        list of (str, Tensor)
            ``(name, (b, features))`` per representation, float32, without gradient.
        """
        idx = torch.as_tensor(idx, device=self._device)
        return [(name, t[idx]) for name, t in zip(self.names, self.train)]

    def evaluation_maps(self, n: int, training: bool = False) -> list[tuple[str, torch.Tensor]]:
        """The representations of the first ``n`` evaluation examples.

        Parameters
        ----------
        n : int
            How many (the first ones).
        training : bool
            Take the training examples instead (also when there are no evaluation ones).

        Returns
        -------
        list of (str, Tensor)
            ``(name, (n, features))`` per representation.
        """
        maps = self.train if training or self.evaluation is None else self.evaluation
        return [(name, t[:n]) for name, t in zip(self.names, maps)]

    def pairs(self, target_names: Sequence[str]) -> list[tuple[int, int, str]]:
        """Which target layer each representation is compared with.

        Parameters
        ----------
        target_names : sequence of str
            The target's recorded layers, in order.

        Returns
        -------
        list of (int, int, str)
            ``(representation, target layer, "name -> target name")``, as
            :func:`~mmsites.guidance.loss.layer_pairs`.

        Raises
        ------
        ValueError
            If the target records no layer or a target layer index is out of range.
        """
        if self.target_layers is None:
            return layer_pairs(self.names, target_names)
        t = len(target_names)
        out = []
        for i, j in enumerate(self.target_layers):
            if not -t <= j < t:
                raise ValueError(
                    f"target layer {j} is out of range: the target records {t} layers {list(target_names)}"
                )
            j %= t
            out.append((i, j, f"{self.names[i]} -> {target_names[j]}"))
        return out

    def fingerprint(self) -> str:
        """A fingerprint of the training representations (names, shapes, values, target layers).

        Returns
        -------
        str
            16 hex digits of their SHA-256.
        """
        h = hashlib.sha256()
        for name, t in zip(self.names, self.train):
            h.update(f"{name}:{tuple(t.shape)}".encode())
            h.update(t.to("cpu").numpy().tobytes())
        h.update(repr(self.target_layers).encode())
        return h.hexdigest()[:16]
