"""Layer activations of a network, recorded by module type with forward hooks.

As the guidance code's ``FeatureMapExtractor``: a forward hook on every module of the kinds
listed (:data:`LAYER_TYPES`: convolutions, linear maps, pooling, layer norms, attention,
recurrent layers, transformer layers) records its output each time it runs, in the order they
run, named ``<Type>_<k>`` (k: the position in that order). Outputs are put with the examples
first (the batch size is the model's input's first axis; an axis of that size is moved to the
front when it is not there already; an
output with no such unique axis is skipped) and flattened per example to ``(n, features)``.
A module that returns a tuple contributes each tensor in it (``<Type>_<k>-1``, ``-2``, ...),
except recurrent layers, whose final hidden states are dropped (only the output sequence is
kept). The last map (normally the output head) is left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mmsites.layers import LAYER_TYPES as _LAYER_TYPES

__all__ = ["LAYER_TYPES", "LayerRecorder", "layer_activations"]

#: Module types recorded by default: the project's one list (:data:`mmsites.layers.LAYER_TYPES`).
LAYER_TYPES = _LAYER_TYPES

_RECURRENT = (nn.RNN, nn.LSTM, nn.GRU)


def _batch_first(output: torch.Tensor, n: int) -> torch.Tensor | None:
    if output.dim() == 0:
        return None
    if output.shape[0] == n:
        return output
    axes = [i for i, size in enumerate(output.shape) if size == n]
    if len(axes) != 1:
        return None
    return output.movedim(axes[0], 0)


class LayerRecorder:
    """Record the outputs of a model's layers while it runs (a context manager).

    Parameters
    ----------
    model : torch.nn.Module
        The network; hooks go on every submodule (itself included) that is an instance of
        one of ``types``.
    types : sequence of type
        The module types to record (default :data:`LAYER_TYPES`).
    drop_last : bool
        Leave out the last map recorded (the output head), as the guidance code does.

    Examples
    --------
    >>> import torch
    >>> from mmsites.guidance.models import DigitsFCN
    >>> net = DigitsFCN(hidden=16, depth=2)
    >>> with LayerRecorder(net) as rec:
    ...     _ = net(torch.zeros(5, 64))
    >>> [(name, tuple(a.shape)) for name, a in rec.activations()]
    [('Linear_0', (5, 16)), ('Linear_1', (5, 16))]
    """

    def __init__(self, model: nn.Module, types: Sequence[type] = LAYER_TYPES, drop_last: bool = True):
        self.model, self.types, self.drop_last = model, tuple(types), bool(drop_last)
        self._handles: list = []
        self._maps: list[tuple[str, torch.Tensor]] = []
        self._calls = 0
        self._n: int | None = None

    def __enter__(self) -> LayerRecorder:
        self.clear()
        self._handles.append(self.model.register_forward_pre_hook(self._batch_hook))
        for module in self.model.modules():
            if isinstance(module, self.types):
                self._handles.append(module.register_forward_hook(self._hook))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def clear(self) -> None:
        """Forget what was recorded (call before each forward pass)."""
        self._maps, self._calls, self._n = [], 0, None

    def _batch_hook(self, module: nn.Module, inputs) -> None:
        self._n = _batch_size(inputs)

    def _hook(self, module: nn.Module, inputs, output) -> None:
        name = f"{type(module).__name__}_{self._calls}"
        self._calls += 1
        n = self._n if self._n is not None else _batch_size(inputs)
        if isinstance(output, (tuple, list)):
            parts = list(output[:1] if isinstance(module, _RECURRENT) else output)
            names = [f"{name}-{i + 1}" for i in range(len(parts))]
        else:
            parts, names = [output], [name]
        for part_name, part in zip(names, parts):
            if isinstance(part, nn.utils.rnn.PackedSequence):
                part, _ = nn.utils.rnn.pad_packed_sequence(part, batch_first=True)
            if not isinstance(part, torch.Tensor):
                continue
            part = _batch_first(part, n) if n is not None else part
            if part is not None:
                self._maps.append((part_name, part.reshape(part.shape[0], -1)))

    def activations(self) -> list[tuple[str, torch.Tensor]]:
        """The maps recorded since the last :meth:`clear`, in the order the layers ran.

        Returns
        -------
        list of (str, Tensor)
            ``(name, activations)``: activations of shape (n, features), each example's output
            flattened, still attached to the autograd graph; the last map left out when
            ``drop_last``.
        """
        return self._maps[:-1] if self.drop_last else list(self._maps)


def _batch_size(inputs) -> int | None:
    for x in inputs:
        if isinstance(x, torch.Tensor) and x.dim() > 0:
            return int(x.shape[0])
    return None


def layer_activations(
    model: nn.Module, x: torch.Tensor, types: Sequence[type] = LAYER_TYPES, drop_last: bool = True
) -> tuple[torch.Tensor, list[tuple[str, torch.Tensor]]]:
    """Run a model on a batch and return its output and its recorded layer activations.

    Parameters
    ----------
    model : torch.nn.Module
        The network (run as it is: train or eval mode, with or without gradients, as the
        caller set them).
    x : Tensor, shape (n, ...)
        One batch, examples first.
    types : sequence of type
        Module types to record (default :data:`LAYER_TYPES`).
    drop_last : bool
        Leave out the last map (the output head).

    Returns
    -------
    output : Tensor
        The model's output.
    activations : list of (str, Tensor)
        ``(name, (n, features) activations)`` in the order the layers ran.
    """
    with LayerRecorder(model, types, drop_last) as rec:
        out = model(x)
    return out, rec.activations()
