"""Small networks for the guidance experiments: guides and targets.

Every model maps one input tensor to logits, so that :func:`~mmsites.guidance.training.guided_train`
can run a guide and a target on the same batch:

- :class:`DigitsCNN` (a guide) and :class:`DigitsFCN` (a target) read 8 × 8 images
  (``(n, 8, 8)``, ``(n, 1, 8, 8)`` or ``(n, 64)``, pixel values in [0, 1]) and return
  ``(n, classes)`` logits;
- :class:`SequenceRNN` and :class:`TinyTransformer` read token sequences (``(n, length)``
  int64, ``pad`` tokens at the end of the shorter ones) and return ``(n, classes)`` logits
  (``pool="last"`` or ``"mean"``: one label per sequence, e.g. parity) or
  ``(n, length, classes)`` (``pool="none"``: one label per position, e.g. copy-paste).

The layers the guidance loss compares are the modules :mod:`~mmsites.guidance.hooks`
records (convolutions, linear maps, pooling, layer norms, attention, recurrent layers), in the
order they run; the last one (the output head) is left out. The sizes here are chosen for the
CPU; the published experiments used ImageNet ResNets/MLPs and larger sequence models.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DigitsCNN", "DigitsFCN", "SequenceRNN", "TinyTransformer", "POOLS"]

#: How a sequence model turns its per-position states into outputs.
POOLS: tuple[str, ...] = ("last", "mean", "none")


def _images(x: torch.Tensor, side: int) -> torch.Tensor:
    """``(n, side*side)``, ``(n, side, side)`` or ``(n, 1, side, side)`` -> ``(n, 1, side, side)``."""
    return x.reshape(x.shape[0], 1, side, side)


class DigitsCNN(nn.Module):
    """A small convolutional network for 8 × 8 digit images (the guide of the digits experiment).

    Conv(1→c, 3×3) → ReLU → Conv(c→2c, 3×3) → ReLU → MaxPool(2) → Conv(2c→2c, 3×3) → ReLU →
    AdaptiveAvgPool(1) → Linear(2c→classes). Recorded layers: the three convolutions, both
    poolings (the head is left out): five maps.

    Parameters
    ----------
    channels : int
        The first convolution's channels, c.
    classes : int
        Number of output classes.
    side : int
        Side of the square input images, pixels.
    """

    def __init__(self, channels: int = 16, classes: int = 10, side: int = 8):
        super().__init__()
        self.side = int(side)
        c = int(channels)
        self.conv1 = nn.Conv2d(1, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, 2 * c, 3, padding=1)
        self.pool1 = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(2 * c, 2 * c, 3, padding=1)
        self.pool2 = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(2 * c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of images.

        Parameters
        ----------
        x : Tensor, shape (n, side, side), (n, 1, side, side) or (n, side * side)
            Pixel values (the experiments scale them to [0, 1]).

        Returns
        -------
        Tensor, shape (n, classes)
            Class logits.
        """
        h = torch.relu(self.conv1(_images(x, self.side)))
        h = self.pool1(torch.relu(self.conv2(h)))
        h = self.pool2(torch.relu(self.conv3(h)))
        return self.head(h.flatten(1))


class DigitsFCN(nn.Module):
    """A fully connected network for 8 × 8 digit images (the target of the digits experiment).

    ``depth`` hidden Linear → ReLU layers of width ``hidden``, then Linear(hidden→classes).
    Recorded layers: the hidden linear maps (pre-activation; the head is left out).

    Parameters
    ----------
    hidden : int
        Width of each hidden layer.
    depth : int
        Number of hidden layers (>= 1).
    classes : int
        Number of output classes.
    inputs : int
        Input features (64 for 8 × 8 images).
    """

    def __init__(self, hidden: int = 128, depth: int = 3, classes: int = 10, inputs: int = 64):
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        sizes = [int(inputs)] + [int(hidden)] * int(depth)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.head = nn.Linear(sizes[-1], classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of images.

        Parameters
        ----------
        x : Tensor, shape (n, ...)
            Each example flattened to ``inputs`` features.

        Returns
        -------
        Tensor, shape (n, classes)
            Class logits.
        """
        h = x.reshape(x.shape[0], -1)
        for layer in self.hidden:
            h = torch.relu(layer(h))
        return self.head(h)


def _lengths(tokens: torch.Tensor, pad: int | None) -> torch.Tensor:
    """Tokens before the first pad of each row (the whole row when there is none)."""
    if pad is None:
        return torch.full((tokens.shape[0],), tokens.shape[1], dtype=torch.long, device=tokens.device)
    is_pad = tokens == pad
    first = torch.where(is_pad.any(1), is_pad.int().argmax(1), torch.full_like(is_pad[:, 0], tokens.shape[1]))
    return first.long().clamp(min=1)


def _pool(states: torch.Tensor, lengths: torch.Tensor, pool: str) -> torch.Tensor:
    if pool == "none":
        return states
    if pool == "last":
        index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, states.shape[-1])
        return states.gather(1, index).squeeze(1)
    keep = (torch.arange(states.shape[1], device=states.device)[None, :] < lengths[:, None]).to(states.dtype)
    return (states * keep[..., None]).sum(1) / lengths[:, None].to(states.dtype)


def _check_pool(pool: str) -> str:
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    return pool


class SequenceRNN(nn.Module):
    """A plain (Elman, tanh) recurrent network over token sequences (the sequence target).

    Embedding → ``layers`` single-layer ``nn.RNN`` modules → (pooling) → Linear(hidden→classes).
    Recorded layers: each recurrent layer's output sequence (its final hidden state is not
    recorded, as in the guidance code; the head is left out).

    Parameters
    ----------
    vocab : int
        Number of token values (tokens are 0 .. vocab-1).
    classes : int
        Number of output classes.
    hidden : int
        Hidden size of every recurrent layer (and of the embedding).
    layers : int
        Number of stacked recurrent layers.
    pool : {"last", "mean", "none"}
        One output per sequence from the state at its last token or the mean over its tokens,
        or one output per position.
    pad : int or None
        The padding token (sequences end at its first occurrence); None: no padding.
    """

    def __init__(
        self,
        vocab: int,
        classes: int,
        hidden: int = 64,
        layers: int = 2,
        pool: str = "last",
        pad: int | None = None,
    ):
        super().__init__()
        self.pool, self.pad = _check_pool(pool), pad
        self.embed = nn.Embedding(vocab, hidden)
        self.rnn = nn.ModuleList(nn.RNN(hidden, hidden, batch_first=True) for _ in range(int(layers)))
        self.head = nn.Linear(hidden, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of token sequences.

        Parameters
        ----------
        tokens : Tensor, shape (n, length), int64
            Token ids; rows shorter than ``length`` end with ``pad`` tokens.

        Returns
        -------
        Tensor, shape (n, classes) or (n, length, classes)
            Logits per sequence (``pool`` "last" or "mean") or per position (``"none"``).
        """
        h = self.embed(tokens)
        for layer in self.rnn:
            h, _ = layer(h)
        return self.head(_pool(h, _lengths(tokens, self.pad), self.pool))


class _Block(nn.Module):
    """Pre-norm transformer block: LN → self-attention → +, LN → Linear → ReLU → Linear → +."""

    def __init__(self, width: int, heads: int, ff: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(width)
        self.ff1 = nn.Linear(width, ff)
        self.ff2 = nn.Linear(ff, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, h, attn_mask, key_padding_mask):
        a = self.norm1(h)
        a, _ = self.attn(a, a, a, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False)
        h = h + self.drop(a)
        f = self.ff2(torch.relu(self.ff1(self.norm2(h))))
        return h + self.drop(f)


class TinyTransformer(nn.Module):
    """A small transformer over token sequences (the sequence guide).

    Token and learned position embeddings → ``layers`` pre-norm blocks (LayerNorm →
    multi-head self-attention → residual; LayerNorm → Linear → ReLU → Linear → residual) →
    LayerNorm → (pooling) → Linear(width→classes). Recorded layers, per block: both layer
    norms, the attention output, both linear maps; then the final layer norm (the head is
    left out): ``5 * layers + 1`` maps.

    Parameters
    ----------
    vocab : int
        Number of token values.
    classes : int
        Number of output classes.
    width : int
        Model width (embedding size).
    layers : int
        Number of blocks.
    heads : int
        Attention heads (must divide ``width``).
    max_length : int
        Longest sequence (positions).
    pool : {"last", "mean", "none"}
        As in :class:`SequenceRNN`.
    pad : int or None
        The padding token: padded positions are masked out as attention keys; None: none.
    causal : bool
        Each position attends only to itself and earlier ones (needed for per-position
        outputs that must not see the future, e.g. copy-paste).
    dropout : float
        Dropout on the attention weights and the residual branches.
    """

    def __init__(
        self,
        vocab: int,
        classes: int,
        width: int = 32,
        layers: int = 2,
        heads: int = 4,
        max_length: int = 64,
        pool: str = "mean",
        pad: int | None = None,
        causal: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.pool, self.pad, self.causal = _check_pool(pool), pad, bool(causal)
        self.embed = nn.Embedding(vocab, width)
        self.position = nn.Embedding(max_length, width)
        self.blocks = nn.ModuleList(_Block(width, heads, 2 * width, dropout) for _ in range(int(layers)))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of token sequences.

        Parameters
        ----------
        tokens : Tensor, shape (n, length), int64
            Token ids; rows shorter than ``length`` end with ``pad`` tokens.

        Returns
        -------
        Tensor, shape (n, classes) or (n, length, classes)
            Logits per sequence (``pool`` "last" or "mean") or per position (``"none"``).
        """
        n, length = tokens.shape
        positions = torch.arange(length, device=tokens.device)
        h = self.embed(tokens) + self.position(positions)[None]
        lengths = _lengths(tokens, self.pad)
        key_padding = None
        if self.pad is not None and not self.causal:
            key_padding = positions[None, :] >= lengths[:, None]
        mask = None
        if self.causal:
            mask = torch.ones(length, length, dtype=torch.bool, device=tokens.device).triu(1)
        for block in self.blocks:
            h = block(h, mask, key_padding)
        return self.head(_pool(self.norm(h), lengths, self.pool))
