"""The module types whose outputs count as a network's layers (layer sweeps and guidance).

One list for the whole project: the features stage's layer sweeps
(:class:`mmsites.features.zoo.base.Extractor`, ``models[].layers: all``) and the guidance
recorder (:class:`mmsites.guidance.hooks.LayerRecorder`) hook the same kinds of module.
"""

from __future__ import annotations

from torch import nn

__all__ = ["LAYER_TYPES", "is_layer"]

#: Module types recorded as layers. The guidance code (vsubramaniam851/untrainable-networks)
#: hooks Conv2d, Linear, AdaptiveAvgPool2d, LSTM, RNN, TransformerDecoderLayer, LayerNorm and
#: MultiheadAttention; added here: Conv1d, the other 2-d poolings, GRU and the encoder layer.
LAYER_TYPES: tuple[type[nn.Module], ...] = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Linear,
    nn.AdaptiveAvgPool2d,
    nn.AvgPool2d,
    nn.MaxPool2d,
    nn.RNN,
    nn.LSTM,
    nn.GRU,
    nn.LayerNorm,
    nn.MultiheadAttention,
    nn.TransformerEncoderLayer,
    nn.TransformerDecoderLayer,
)


def is_layer(module: nn.Module) -> bool:
    """Whether a module's output counts as a layer of a sweep.

    A module of :data:`LAYER_TYPES`, or an attention module of a model library that does not
    use ``nn.MultiheadAttention`` (timm's ``Attention``, Hugging Face's ``BertSelfAttention``
    ...: any class whose name ends in ``Attention``).

    Parameters
    ----------
    module : torch.nn.Module
        A sub-module of a network.

    Returns
    -------
    bool
        True when hooks on ``module`` record one of the network's layers.
    """
    return isinstance(module, LAYER_TYPES) or type(module).__name__.endswith("Attention")
