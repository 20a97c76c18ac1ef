"""PopT: the Population Transformer over per-electrode BrainBERT embeddings (Chau et al. 2024).

The architecture of the official code (czlwang/PopulationTransformer@dadb55b:
``models/pt_model_custom.py``, ``models/transformer_encoder_input.py``,
``models/spec_prediction_head.py``, ``conf/model/pt_custom_model.yaml``), re-implemented so
that the ``state_dict`` keys, shapes, order and numbers are exactly the official ones:

input
    One token per electrode: its BrainBERT embedding (768-d for the released model), after a
    CLS token of all ones (upstream's datasets prepend ``torch.ones(1, 768)``; the model sees
    it as the first input row and projects it like any other).
input encoding (``input_encoding``)
    ``in_proj`` Linear(input_dim -> d), plus the position encoding, then ``layer_norm``
    LayerNorm(d), then dropout 0.1. The position encoding (``positional_encoding``, upstream's
    ``MultiSubjBrainPositionalEncoding``) reads one fixed sinusoid table, buffer ``pe`` of shape
    (1, 5000, d/4): ``pe[0, p, 2i] = sin(p w_i)``, ``pe[0, p, 2i + 1] = cos(p w_i)``,
    ``w_i = 10000 ** (-2i / (d/4))``. An electrode with integer coordinates (L, I, P) in
    segment ``s`` gets ``concat(pe[L], pe[I], pe[P], pe[s])`` (d wide); the CLS token gets
    ``pe[0]`` four times. The coordinates are the Brain Treebank's
    ``localization/sub_N/depth-wm.csv`` columns ``L, I, P`` (in that order) used as row
    indices; the segment id is 0 for every electrode at fine-tuning and inference (upstream
    ``pt_supervised_task_coords``), 0 for the first and 1 for the second half in pretraining
    (``nsp_replace_only_pretrain``).
transformer (``transformer_encoder``)
    Upstream's own encoder (not ``torch.nn.TransformerEncoder``): ``layers.N`` post-LN layers
    of ``self_attn`` (``nn.MultiheadAttention``, sequence-first, dropout 0.1, called with
    per-head attention weights), ``linear1`` -> GELU -> dropout -> ``linear2`` (feed-forward
    width 2048: upstream's default argument, not in its config), residual dropout 0.1,
    ``norm1`` and ``norm2``; no final norm.
heads
    ``spec_prediction_head`` (``hidden_layer`` Linear(d, d) -> GELU -> ``layer_norm`` ->
    ``output`` Linear(d, input_dim)) on every token; ``cls_head`` Linear(d, 1) on the CLS token
    (the pretraining's "is the second half from the next window" logit, and the fine-tuning
    head's input); ``token_cls_head`` Linear(d, 1) on each electrode token (the pretraining's
    "was this token replaced" logit). Upstream's forward returns ``(spec head output, (cls
    logit, token logits))``, or the last layer's tokens with ``intermediate_rep=True``.

The published model (``PopT("published")``): 768 in, 512 wide, 6 layers, 8 heads, FFN 2048,
GELU. The released checkpoint is ``pretrained_popt_brainbert_stft.pth``
(huggingface.co/PopulationTransformer/popt_brainbert_stft), read by upstream with
``torch.load(path)["model"]``; :meth:`PopT.from_pretrained` reads it without unpickling
arbitrary objects (:func:`mmsites.brainmodels.checkpoint.read_checkpoint`) and loads every key
strictly (:func:`load_popt_checkpoint`).

Random initialisation follows upstream's ``build_model`` under ``torch.manual_seed(seed)``:
PyTorch's default inits in upstream's construction order (every transformer layer a deep copy
of one initialised layer), then every Linear bias of the input encoding, the transformer and
the spec head zeroed and every LayerNorm bias set to 1, and only then ``cls_head`` and
``token_cls_head`` (so these two keep PyTorch's default init, biases included).

Coordinates. :func:`lip_coordinates` reads a ``depth-wm.csv`` table the way upstream does;
:func:`lip_from_mni` maps MNI (or any RAS-mm) coordinates onto that integer grid by a stated
rule (see its notes).

Deviations from upstream, all on inputs upstream would mis-handle silently: negative or too
large coordinates are refused (upstream's indexing wraps negative ones around to the table's
end or fails on the GPU), fractional coordinates are refused (upstream truncates them toward
zero; :func:`lip_coordinates` does the same, explicitly), and the numpy API returns NaN at
padded positions (upstream returns whatever the padded rows compute to).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from os import PathLike
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmsites.device import resolve_device

from .brainbert import _upstream_init
from .checkpoint import _mismatches, _ModelLayout, _plain, _shape, read_checkpoint

__all__ = [
    "POPT_PRESETS",
    "OFFICIAL_POPT_NAME",
    "PopTConfig",
    "PopTOutput",
    "PopT",
    "sinusoid_table",
    "lip_coordinates",
    "lip_from_mni",
    "popt_config_from_official",
    "popt_official_config",
    "load_popt_checkpoint",
    "save_popt_checkpoint",
]

logger = logging.getLogger(__name__)

#: ``model_cfg.name`` of upstream's PopT (``conf/model/pt_custom_model.yaml``).
OFFICIAL_POPT_NAME = "pt_model_custom"
#: ``model_cfg.position_encoding`` of upstream's PopT (the 3-D electrode position encoding).
_OFFICIAL_POSITION_ENCODING = "multi_subj_position_encoding"
# upstream model_cfg key -> PopTConfig field (required keys)
_OFFICIAL_KEYS = {
    "n_head": "num_heads",
    "n_layers": "num_layers",
    "hidden_dim": "hidden_dim",
    "input_dim": "input_dim",
    "layer_activation": "activation",
}
# fixed in upstream's code, not in its config; written to model_cfg only when they differ
_FIXED_UPSTREAM = {"ffn_dim": 2048, "dropout": 0.1, "max_len": 5000}
_AXES = ("L", "I", "P")


@dataclass(frozen=True)
class PopTConfig:
    """Sizes of a PopT model (upstream ``conf/model/pt_custom_model.yaml``).

    Attributes
    ----------
    input_dim : int
        Width of an electrode's input embedding (``input_dim``; 768, BrainBERT's).
    hidden_dim : int
        Width d of the tokens (``hidden_dim``); a multiple of 8 (four sinusoid blocks of d/4,
        each of sine/cosine pairs) and of ``num_heads``.
    num_layers : int
        Transformer layers (``n_layers``).
    num_heads : int
        Attention heads per layer (``n_head``).
    ffn_dim : int
        Width of each layer's feed-forward block (2048: upstream's default argument, not in
        its config).
    activation : str
        Non-linearity of the feed-forward blocks and the spec head (``layer_activation``);
        upstream's spec head supports only ``"gelu"``.
    dropout : float
        Dropout of the input encoding, the attention and the layers (fixed at 0.1 upstream).
    max_len : int
        Rows of the sinusoid table (fixed at 5000 upstream): every coordinate and segment id
        must be below it.
    cls_out_dim : int
        Outputs of ``cls_head`` and ``token_cls_head`` (upstream ``cls_out_dim``, 1 when absent).
    token_cls_head : bool
        Whether the model has ``token_cls_head`` (upstream ``use_token_cls_head``; True in the
        published config, False when absent from a config).
    target_dim : int or None
        Outputs of the spec head (upstream ``target_dim``); None: ``input_dim``.
    """

    input_dim: int = 768
    hidden_dim: int = 512
    num_layers: int = 6
    num_heads: int = 8
    ffn_dim: int = 2048
    activation: str = "gelu"
    dropout: float = 0.1
    max_len: int = 5000
    cls_out_dim: int = 1
    token_cls_head: bool = True
    target_dim: int | None = None

    def __post_init__(self):
        sizes = ("input_dim", "hidden_dim", "num_layers", "num_heads", "ffn_dim", "max_len", "cls_out_dim")
        for name in sizes + (("target_dim",) if self.target_dim is not None else ()):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"PopTConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_dim % 8 or self.hidden_dim % self.num_heads:
            raise ValueError(
                f"PopTConfig.hidden_dim ({self.hidden_dim}) must be a multiple of 8 (four sinusoid "
                f"blocks of hidden_dim/4, each of sine/cosine pairs) and of num_heads ({self.num_heads})"
            )
        if self.activation != "gelu":
            raise ValueError(
                f"PopTConfig.activation must be 'gelu' (the only one upstream's spec prediction head "
                f"supports), got {self.activation!r}"
            )
        if not isinstance(self.token_cls_head, (bool, np.bool_)):
            raise ValueError(f"PopTConfig.token_cls_head must be a bool, got {self.token_cls_head!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"PopTConfig.dropout must be in [0, 1), got {self.dropout!r}")

    @property
    def output_dim(self) -> int:
        """Outputs of the spec head.

        Returns
        -------
        int
            ``target_dim``, or ``input_dim`` when it is None.
        """
        return self.input_dim if self.target_dim is None else int(self.target_dim)

    @classmethod
    def preset(cls, name: str) -> PopTConfig:
        """One of the named configurations of :data:`POPT_PRESETS`.

        Parameters
        ----------
        name : str
            ``"published"`` (the released model: 768 in, 512 wide, 6 layers, 8 heads, FFN
            2048) or ``"tiny"`` (64 in, 32 wide, 2 layers, 2 heads, FFN 64: tests and the
            demo).

        Returns
        -------
        PopTConfig
            The configuration.

        Raises
        ------
        ValueError
            If the name is not a preset.
        """
        if name not in POPT_PRESETS:
            raise ValueError(f"unknown PopT preset {name!r}: choose one of {sorted(POPT_PRESETS)}")
        return POPT_PRESETS[name]

    def to_dict(self) -> dict:
        """The fields as a plain dictionary.

        Returns
        -------
        dict
            Field name -> value.
        """
        return asdict(self)


#: Named configurations: upstream's published PopT and a tiny one for tests and the demo.
POPT_PRESETS: dict[str, PopTConfig] = {
    "published": PopTConfig(),
    "tiny": PopTConfig(input_dim=64, hidden_dim=32, num_layers=2, num_heads=2, ffn_dim=64),
}


def _as_config(config: PopTConfig | str) -> PopTConfig:
    if isinstance(config, str):
        return PopTConfig.preset(config)
    if not isinstance(config, PopTConfig):
        raise TypeError(f"config must be a PopTConfig or a preset name, got {type(config).__name__}")
    return config


def sinusoid_table(max_len: int, dim: int) -> torch.Tensor:
    """Upstream's sinusoid table, computed as upstream computes it (float32).

    Parameters
    ----------
    max_len : int
        Rows (positions 0 .. max_len - 1).
    dim : int
        Columns (even): d/4 for PopT.

    Returns
    -------
    torch.Tensor of float32, shape (max_len, dim)
        ``[p, 2i] = sin(p w_i)``, ``[p, 2i + 1] = cos(p w_i)``, ``w_i = exp(-2i ln(10000) /
        dim)`` (the float32 products of upstream's code, so a fresh model's buffer equals the
        one in upstream's checkpoints bit for bit).
    """
    position = torch.arange(0, max_len, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, dim, 2).float() * (-math.log(10000.0) / dim))
    table = torch.zeros(max_len, dim)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate)
    return table


class _BrainPositionEncoding(nn.Module):
    """Buffer ``pe`` (1, max_len, d/4); position embeddings (batch, 1 + n, d), CLS first."""

    def __init__(self, config: PopTConfig):
        super().__init__()
        self.register_buffer("pe", sinusoid_table(config.max_len, config.hidden_dim // 4)[None])

    def forward(self, coords: torch.Tensor, seq_id: torch.Tensor) -> torch.Tensor:
        table = self.pe[0]
        batch, n, _ = coords.shape
        electrodes = torch.cat([table[coords].reshape(batch, n, -1), table[seq_id]], dim=-1)
        cls = table[0].repeat(4).expand(batch, 1, -1)
        return torch.cat([cls, electrodes], dim=1)


class _InputEncoding(nn.Module):
    """Linear(input_dim -> d) + position embeddings -> LayerNorm -> dropout."""

    def __init__(self, config: PopTConfig):
        super().__init__()
        self.in_proj = nn.Linear(config.input_dim, config.hidden_dim)
        self.positional_encoding = _BrainPositionEncoding(config)
        self.layer_norm = nn.LayerNorm(config.hidden_dim)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, inputs: torch.Tensor, coords: torch.Tensor, seq_id: torch.Tensor) -> torch.Tensor:
        position = self.positional_encoding(coords, seq_id)
        return self.dropout(self.layer_norm(self.in_proj(inputs) + position))


class _EncoderLayer(nn.Module):
    """Upstream's post-LN layer, sequence-first; returns (tokens, per-head attention weights)."""

    def __init__(self, config: PopTConfig):
        super().__init__()
        d = config.hidden_dim
        # upstream's construction order (the seeded init draws in this order)
        self.self_attn = nn.MultiheadAttention(d, config.num_heads, dropout=config.dropout)
        self.linear1 = nn.Linear(d, config.ffn_dim)
        self.dropout = nn.Dropout(config.dropout)
        self.linear2 = nn.Linear(config.ffn_dim, d)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.dropout1 = nn.Dropout(config.dropout)
        self.dropout2 = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, padding_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        attended, weights = self.self_attn(
            x, x, x, key_padding_mask=padding_mask, need_weights=True, average_attn_weights=False
        )
        x = self.norm1(x + self.dropout1(attended))
        x = self.norm2(x + self.dropout2(self.linear2(self.dropout(F.gelu(self.linear1(x))))))
        return x, weights


class _Encoder(nn.Module):
    """``layers``: deep copies of one initialised layer (upstream's ``_get_clones``)."""

    def __init__(self, layer: _EncoderLayer, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])


class _SpecPredictionHead(nn.Module):
    """Linear(d, d) -> GELU -> LayerNorm -> Linear(d, output_dim)."""

    def __init__(self, config: PopTConfig):
        super().__init__()
        self.hidden_layer = nn.Linear(config.hidden_dim, config.hidden_dim)
        self.act_fn = nn.GELU()
        self.layer_norm = nn.LayerNorm(config.hidden_dim)
        self.output = nn.Linear(config.hidden_dim, config.output_dim)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.output(self.layer_norm(self.act_fn(self.hidden_layer(hidden))))


class PopTOutput(NamedTuple):
    """What :meth:`PopT.forward` returns (upstream's outputs, named).

    Attributes
    ----------
    tokens : torch.Tensor, shape (batch, 1 + n_electrodes, hidden_dim)
        The last layer's tokens, CLS first (upstream's ``intermediate_rep``).
    cls_logits : torch.Tensor, shape (batch, cls_out_dim)
        ``cls_head`` on the CLS token.
    token_logits : torch.Tensor or None, shape (batch, n_electrodes, cls_out_dim)
        ``token_cls_head`` on each electrode token (None without that head).
    spec : torch.Tensor, shape (batch, 1 + n_electrodes, output_dim)
        The spec prediction head on every token, CLS included.
    """

    tokens: torch.Tensor
    cls_logits: torch.Tensor
    token_logits: torch.Tensor | None
    spec: torch.Tensor


class PopT(nn.Module):
    """The Population Transformer: tokens and logits for a set of electrodes' embeddings.

    Parameters
    ----------
    config : PopTConfig or str
        The sizes, or a preset name (:data:`POPT_PRESETS`: ``"published"``, ``"tiny"``).
    seed : int
        Seed of the random initialisation (upstream's ``build_model`` under
        ``torch.manual_seed(seed)``; the global torch RNG is left as it was).

    Attributes
    ----------
    config : PopTConfig
        The sizes.
    input_encoding : torch.nn.Module
        ``in_proj``, ``positional_encoding`` (buffer ``pe``), ``layer_norm``, dropout.
    transformer_encoder : torch.nn.Module
        ``layers``: ``config.num_layers`` post-LN sequence-first layers.
    spec_prediction_head : torch.nn.Module
        ``hidden_layer``, GELU, ``layer_norm``, ``output``.
    cls_head : torch.nn.Linear
        The CLS logit.
    token_cls_head : torch.nn.Linear
        The per-electrode logit (absent when ``config.token_cls_head`` is False).

    Examples
    --------
    >>> import numpy as np
    >>> model = PopT("tiny", seed=0)
    >>> emb = np.zeros((5, 64), np.float32)  # 5 electrodes' BrainBERT embeddings
    >>> lip = np.array([[100, 120, 90]] * 5)  # their depth-wm.csv (L, I, P)
    >>> model.tokens(emb, lip).shape  # CLS first
    (6, 32)
    """

    def __init__(self, config: PopTConfig | str = "published", *, seed: int = 0):
        super().__init__()
        config = _as_config(config)
        self.config = config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            # upstream's build_model order, so that a seed draws the same weights
            self.input_encoding = _InputEncoding(config)
            self.transformer_encoder = _Encoder(_EncoderLayer(config), config.num_layers)
            self.spec_prediction_head = _SpecPredictionHead(config)
            for module in (self.input_encoding, self.transformer_encoder, self.spec_prediction_head):
                module.apply(_upstream_init)
            # upstream creates the two heads after its init_weights pass: default init
            self.cls_head = nn.Linear(config.hidden_dim, config.cls_out_dim)
            if config.token_cls_head:
                self.token_cls_head = nn.Linear(config.hidden_dim, config.cls_out_dim)

    @classmethod
    def from_pretrained(
        cls, path: str | PathLike, device: str | torch.device = "cpu", config: PopTConfig | str | None = None
    ) -> PopT:
        """Load a checkpoint in the official layout (``pretrained_popt_brainbert_stft.pth``).

        The file is read without unpickling arbitrary objects and its weights are loaded
        strictly (:func:`load_popt_checkpoint`).

        Parameters
        ----------
        path : str or PathLike
            The ``.pth`` file: ``{"model": state_dict, "optim": ..., "scheduler": ...,
            "model_cfg": DictConfig}`` as upstream's ``runner.py`` saves it, or one written by
            :func:`save_popt_checkpoint`.
        device : str or torch.device
            Where the model runs: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or ``"auto"``.
        config : PopTConfig, str or None
            The sizes, when the file records none (or to check the recorded ones against);
            None: the file's ``model_cfg``.

        Returns
        -------
        PopT
            The model in eval mode on ``device``.

        Raises
        ------
        FileNotFoundError
            If the file does not exist.
        ValueError
            If the file holds a pickled object outside the allow-list, its config is not
            PopT's or disagrees with the weights, or the weights do not match the
            architecture (every missing, unexpected and mis-shaped key is listed).
        """
        model = load_popt_checkpoint(path, config=config)
        return model.to(resolve_device(device)).eval()

    @property
    def device(self) -> torch.device:
        """The device of the weights.

        Returns
        -------
        torch.device
            Where the parameters are.
        """
        return self.input_encoding.in_proj.weight.device

    # -----------------------------------------------------------------------------------------
    # torch: differentiable, batched tensors
    # -----------------------------------------------------------------------------------------

    def _prepare(
        self,
        embeddings: torch.Tensor,
        coords: torch.Tensor,
        seq_id: torch.Tensor | None,
        padding_mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Check shapes and ranges; prepend the CLS row (input and mask); zero padded indices."""
        c = self.config
        if embeddings.ndim != 3 or embeddings.shape[2] != c.input_dim:
            raise ValueError(
                f"embeddings must have shape (batch, n_electrodes, {c.input_dim}), "
                f"got {tuple(embeddings.shape)}"
            )
        batch, n = embeddings.shape[:2]
        if tuple(coords.shape) != (batch, n, 3):
            raise ValueError(
                f"coords must have shape (batch, n_electrodes, 3) = {(batch, n, 3)} (L, I, P), "
                f"got {tuple(coords.shape)}"
            )
        if seq_id is None:
            seq_id = torch.zeros((batch, n), dtype=torch.long, device=embeddings.device)
        elif tuple(seq_id.shape) != (batch, n):
            raise ValueError(
                f"seq_id must have shape (batch, n_electrodes) = {(batch, n)}, got {tuple(seq_id.shape)}"
            )
        for name, index in (("coords", coords), ("seq_id", seq_id)):
            if index.is_floating_point() or index.is_complex() or index.dtype == torch.bool:
                raise ValueError(f"{name} must be an integer tensor, got {index.dtype}")
        coords, seq_id = coords.long(), seq_id.long()
        key_mask = None
        if padding_mask is not None:
            if tuple(padding_mask.shape) != (batch, n) or padding_mask.dtype != torch.bool:
                raise ValueError(
                    f"padding_mask must be a bool tensor of shape (batch, n_electrodes) = {(batch, n)}, "
                    f"got {padding_mask.dtype} {tuple(padding_mask.shape)}"
                )
            # padded rows index row 0, as upstream's zero padding does; they are masked anyway
            coords = coords.masked_fill(padding_mask[..., None], 0)
            seq_id = seq_id.masked_fill(padding_mask, 0)
            key_mask = torch.cat([padding_mask.new_zeros((batch, 1)), padding_mask], dim=1)
        for name, index in (("coords", coords), ("seq_id", seq_id)):
            if index.numel() and (int(index.min()) < 0 or int(index.max()) >= c.max_len):
                raise ValueError(
                    f"{name} must lie in [0, {c.max_len - 1}] (rows of the sinusoid table), got values in "
                    f"[{int(index.min())}, {int(index.max())}]"
                    + (": see lip_from_mni for coordinates in mm" if name == "coords" else "")
                )
        cls = embeddings.new_ones((batch, 1, c.input_dim))
        return torch.cat([cls, embeddings], dim=1), coords, seq_id, key_mask

    def _encode(
        self,
        embeddings: torch.Tensor,
        coords: torch.Tensor,
        seq_id: torch.Tensor | None,
        padding_mask: torch.Tensor | None,
        last: int,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Tokens of layers 0 .. last (each (batch, 1 + n, d)) and their attention weights."""
        inputs, coords, seq_id, key_mask = self._prepare(embeddings, coords, seq_id, padding_mask)
        hidden = self.input_encoding(inputs, coords, seq_id)
        states, weights = [hidden], []
        x = hidden.transpose(0, 1)  # the layers are sequence-first, as upstream's
        for layer in self.transformer_encoder.layers[:last]:
            x, w = layer(x, key_mask)
            states.append(x.transpose(0, 1))
            weights.append(w)
        return states, weights

    def hidden_states(
        self,
        embeddings: torch.Tensor,
        coords: torch.Tensor,
        seq_id: torch.Tensor | None = None,
        padding_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """Tokens of every layer (differentiable; dropout active in training mode).

        Parameters
        ----------
        embeddings : torch.Tensor, shape (batch, n_electrodes, input_dim)
            The electrodes' embeddings (BrainBERT's), without the CLS row: it is prepended
            here (all ones).
        coords : torch.Tensor of int, shape (batch, n_electrodes, 3)
            Integer (L, I, P) coordinates, each in [0, max_len).
        seq_id : torch.Tensor of int, shape (batch, n_electrodes), optional
            Segment id of each electrode; None: all 0 (upstream's fine-tuning and inference).
        padding_mask : torch.Tensor of bool, shape (batch, n_electrodes), optional
            True at padded electrodes, which no token attends to (their coordinates and segment
            ids are ignored).

        Returns
        -------
        tuple of torch.Tensor, each shape (batch, 1 + n_electrodes, hidden_dim)
            ``num_layers + 1`` tensors, CLS first in each: index 0 the input encoding's output,
            index k the output of transformer layer k (the last is upstream's
            ``intermediate_rep``).
        """
        return tuple(self._encode(embeddings, coords, seq_id, padding_mask, self.config.num_layers)[0])

    def attention_weights(
        self,
        embeddings: torch.Tensor,
        coords: torch.Tensor,
        seq_id: torch.Tensor | None = None,
        padding_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """Every layer's per-head attention weights (upstream's ``attention_weights: true``).

        Parameters
        ----------
        embeddings : torch.Tensor, shape (batch, n_electrodes, input_dim)
            The electrodes' embeddings, without the CLS row.
        coords : torch.Tensor of int, shape (batch, n_electrodes, 3)
            Integer (L, I, P) coordinates.
        seq_id : torch.Tensor of int, shape (batch, n_electrodes), optional
            Segment ids; None: all 0.
        padding_mask : torch.Tensor of bool, shape (batch, n_electrodes), optional
            True at padded electrodes.

        Returns
        -------
        tuple of torch.Tensor, each shape (batch, num_heads, 1 + n_electrodes, 1 + n_electrodes)
            One per layer: row = the attending token, column = the attended one (CLS = 0);
            rows sum to 1, padded columns are 0.
        """
        return tuple(self._encode(embeddings, coords, seq_id, padding_mask, self.config.num_layers)[1])

    def forward(
        self,
        embeddings: torch.Tensor,
        coords: torch.Tensor,
        seq_id: torch.Tensor | None = None,
        padding_mask: torch.Tensor | None = None,
    ) -> PopTOutput:
        """Tokens and every head's output: what pretraining and fine-tuning need.

        Parameters
        ----------
        embeddings : torch.Tensor, shape (batch, n_electrodes, input_dim)
            The electrodes' embeddings, without the CLS row (prepended here, all ones).
        coords : torch.Tensor of int, shape (batch, n_electrodes, 3)
            Integer (L, I, P) coordinates.
        seq_id : torch.Tensor of int, shape (batch, n_electrodes), optional
            Segment ids (pretraining: 0 for the first half, 1 for the second); None: all 0.
        padding_mask : torch.Tensor of bool, shape (batch, n_electrodes), optional
            True at padded electrodes.

        Returns
        -------
        PopTOutput
            ``tokens`` (batch, 1 + n, d), ``cls_logits`` (batch, cls_out_dim),
            ``token_logits`` (batch, n, cls_out_dim) or None, ``spec`` (batch, 1 + n,
            output_dim).
        """
        tokens = self._encode(embeddings, coords, seq_id, padding_mask, self.config.num_layers)[0][-1]
        token_logits = self.token_cls_head(tokens[:, 1:]) if self.config.token_cls_head else None
        return PopTOutput(
            tokens, self.cls_head(tokens[:, 0]), token_logits, self.spec_prediction_head(tokens)
        )

    # -----------------------------------------------------------------------------------------
    # inference: numpy arrays in and out, eval mode, no gradients
    # -----------------------------------------------------------------------------------------

    def _layer_index(self, layer: int) -> int:
        n = self.config.num_layers
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not -(n + 1) <= layer <= n:
            raise ValueError(
                f"layer must be an integer in [{-(n + 1)}, {n}] (0 = the input encoding, k = after "
                f"transformer layer k, -1 = the last), got {layer!r}"
            )
        return int(layer) % (n + 1)

    @contextlib.contextmanager
    def _inference(self, bf16: bool) -> Iterator[None]:
        was_training = self.training
        self.eval()
        autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if bf16 and self.device.type == "cuda"
            else contextlib.nullcontext()
        )
        try:
            with torch.inference_mode(), autocast:
                yield
        finally:
            self.train(was_training)

    def _arrays(self, embeddings, coords_lip, seq_id, padding_mask) -> tuple[dict[str, np.ndarray], bool]:
        """Validate the numpy inputs; batch them (a single set becomes a batch of one)."""
        c = self.config
        x = (
            embeddings.detach().cpu().numpy()
            if isinstance(embeddings, torch.Tensor)
            else np.asarray(embeddings)
        )
        if x.ndim not in (2, 3) or x.shape[-1] != c.input_dim or x.shape[-2] < 1:
            raise ValueError(
                f"embeddings must have shape (n_electrodes, {c.input_dim}) or (batch, n_electrodes, "
                f"{c.input_dim}) with n_electrodes >= 1, got {x.shape}"
            )
        if x.dtype.kind not in "fiu":
            raise ValueError(f"embeddings must hold real numbers, got dtype {x.dtype}")
        single = x.ndim == 2
        x = (x[None] if single else x).astype(np.float32, copy=False)
        batch, n = x.shape[:2]
        mask = None
        if padding_mask is not None:
            mask = np.asarray(padding_mask)
            expected = (n,) if single else (batch, n)
            if mask.dtype != bool or mask.shape != expected:
                raise ValueError(
                    f"padding_mask must be a bool array of shape {expected} (True at padded "
                    f"electrodes), got {mask.dtype} {mask.shape}"
                )
            mask = mask.reshape(batch, n)
        valid = np.ones((batch, n), bool) if mask is None else ~mask
        if not np.isfinite(x[valid]).all():
            raise ValueError("embeddings have NaN or infinite values (at electrodes that are not padded)")
        arrays = {"embeddings": np.where(valid[..., None], x, 0.0).astype(np.float32)}
        for name, value, trailing in (("coords_lip", coords_lip, (3,)), ("seq_id", seq_id, ())):
            if value is None:
                arrays[name] = np.zeros((batch, n) + trailing, np.int64)
                continue
            v = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
            expected = ((n,) if single else (batch, n)) + trailing
            if v.shape != expected:
                raise ValueError(f"{name} must have shape {expected}, got {v.shape}")
            v = v.reshape((batch, n) + trailing)
            if v.dtype.kind not in "fiu":
                raise ValueError(f"{name} must hold integers, got dtype {v.dtype}")
            mask_v = valid if not trailing else valid[..., None].repeat(3, axis=-1)
            checked = v[mask_v]
            if v.dtype.kind == "f" and not (
                np.isfinite(checked).all() and (checked == np.round(checked)).all()
            ):
                raise ValueError(
                    f"{name} must be whole numbers (integer row indices of the sinusoid table)"
                    + (
                        "; for depth-wm.csv tables use lip_coordinates (upstream's truncation), for "
                        "coordinates in mm lip_from_mni"
                        if name == "coords_lip"
                        else ""
                    )
                )
            if checked.size and (checked.min() < 0 or checked.max() >= c.max_len):
                raise ValueError(
                    f"{name} must lie in [0, {c.max_len - 1}] (rows of the sinusoid table), got values in "
                    f"[{checked.min()}, {checked.max()}]"
                    + (": see lip_from_mni for coordinates in mm" if name == "coords_lip" else "")
                )
            arrays[name] = np.where(mask_v, v, 0).astype(np.int64)
        arrays["padding_mask"] = ~valid
        return arrays, single

    def _infer(
        self,
        inputs: tuple,
        compute: Callable[..., torch.Tensor],
        batch_size: int,
        bf16: bool,
        *,
        nan_from: int | None = None,
        logits: bool = False,
    ) -> np.ndarray:
        """``compute`` on the checked numpy inputs, batch by batch, in eval mode.

        ``inputs`` are ``(embeddings, coords_lip, seq_id, padding_mask)`` as the public methods
        take them; ``compute(embeddings, coords, seq_id, padding_mask)`` maps a batch's tensors
        to its output. Rows ``nan_from:`` of padded electrodes become NaN; ``logits``: the
        trailing axis of a one-output head is dropped; a single set comes back unbatched.
        """
        arrays, single = self._arrays(*inputs)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        out = []
        has_padding = bool(arrays["padding_mask"].any())
        with self._inference(bf16):
            for start in range(0, len(arrays["embeddings"]), int(batch_size)):
                chunk = {
                    k: torch.from_numpy(np.ascontiguousarray(v[start : start + batch_size])).to(self.device)
                    for k, v in arrays.items()
                }
                mask = chunk["padding_mask"] if has_padding else None
                result = compute(chunk["embeddings"], chunk["coords_lip"], chunk["seq_id"], mask)
                out.append(result.float().cpu().numpy())
        out = np.concatenate(out, axis=0)
        if nan_from is not None:
            out[:, nan_from:][arrays["padding_mask"]] = np.nan
        if logits and self.config.cls_out_dim == 1:
            out = out[..., 0]
        return out[0] if single else out

    def tokens(
        self,
        embeddings,
        coords_lip,
        seq_id=None,
        padding_mask=None,
        *,
        layer: int = -1,
        batch_size: int = 64,
        bf16: bool = False,
    ) -> np.ndarray:
        """Output tokens for a set of electrodes, CLS first (eval mode, no gradients).

        Parameters
        ----------
        embeddings : array_like, shape (n_electrodes, input_dim) or (batch, n_electrodes, input_dim)
            The electrodes' BrainBERT embeddings (:meth:`mmsites.brainmodels.BrainBERT.embed`),
            without a CLS row (prepended here, all ones).
        coords_lip : array_like of int, shape (n_electrodes, 3) or (batch, n_electrodes, 3)
            Integer (L, I, P) coordinates (:func:`lip_coordinates` for a ``depth-wm.csv`` table,
            :func:`lip_from_mni` for MNI mm), each in [0, 5000).
        seq_id : array_like of int, shape (n_electrodes,) or (batch, n_electrodes), optional
            Segment ids; None: all 0 (upstream's fine-tuning and inference).
        padding_mask : array_like of bool, shape (n_electrodes,) or (batch, n_electrodes), optional
            True at padded electrodes (sets of different sizes in one batch): nothing attends to
            them, their inputs are ignored and their output rows are NaN.
        layer : int
            0 = the input encoding's output, k = after transformer layer k, negative counts
            from the end (-1 = the last layer: upstream's output tokens).
        batch_size : int
            Sets per forward pass; the result does not depend on it (within float rounding).
        bf16 : bool
            Run under bfloat16 autocast on CUDA; no effect on the CPU.

        Returns
        -------
        ndarray of float32, shape (1 + n_electrodes, hidden_dim) or (batch, 1 + n_electrodes, hidden_dim)
            Row 0 the CLS token, row 1 + i electrode i (NaN where padded).

        Raises
        ------
        ValueError
            If a shape is not as above, the embeddings are not finite, a coordinate or segment
            id is not a whole number in [0, 5000), or the layer is out of range.
        """
        index = self._layer_index(layer)

        def _compute(x, coords, seq, mask):
            return self._encode(x, coords, seq, mask, index)[0][index]

        inputs = (embeddings, coords_lip, seq_id, padding_mask)
        return self._infer(inputs, _compute, batch_size, bf16, nan_from=1)

    def cls_logit(
        self,
        embeddings,
        coords_lip,
        seq_id=None,
        padding_mask=None,
        *,
        batch_size: int = 64,
        bf16: bool = False,
    ) -> np.ndarray:
        """The pretraining CLS head's logit (``cls_head`` on the CLS token).

        Parameters
        ----------
        embeddings, coords_lip, seq_id, padding_mask, batch_size, bf16 : as in :meth:`tokens`
            The electrodes' embeddings and coordinates, segment ids (pretraining: 0 for the
            first window's electrodes, 1 for the second's), padding, sets per forward pass,
            bfloat16 autocast on CUDA.

        Returns
        -------
        ndarray of float32, shape () or (batch,)
            The logit (upstream's pretraining: > 0 means "the second half is from a random
            window", label 1); with ``cls_out_dim`` > 1 a trailing axis of that size.

        Raises
        ------
        ValueError
            As :meth:`tokens`.
        """

        def _compute(x, coords, seq, mask):
            return self.cls_head(self._encode(x, coords, seq, mask, self.config.num_layers)[0][-1][:, 0])

        inputs = (embeddings, coords_lip, seq_id, padding_mask)
        return self._infer(inputs, _compute, batch_size, bf16, logits=True)

    def token_logits(
        self,
        embeddings,
        coords_lip,
        seq_id=None,
        padding_mask=None,
        *,
        batch_size: int = 64,
        bf16: bool = False,
    ) -> np.ndarray:
        """The pretraining token head's logits (``token_cls_head`` on each electrode token).

        Parameters
        ----------
        embeddings, coords_lip, seq_id, padding_mask, batch_size, bf16 : as in :meth:`tokens`
            The electrodes' embeddings and coordinates, segment ids, padding (padded
            electrodes' logits are NaN), sets per forward pass, bfloat16 autocast on CUDA.

        Returns
        -------
        ndarray of float32, shape (n_electrodes,) or (batch, n_electrodes)
            One logit per electrode (upstream's pretraining: > 0 means "this embedding was
            replaced by one from another window", label 1); with ``cls_out_dim`` > 1 a
            trailing axis of that size.

        Raises
        ------
        ValueError
            If the model has no token head (``config.token_cls_head`` False), or as
            :meth:`tokens`.
        """
        if not self.config.token_cls_head:
            raise ValueError("this PopT has no token_cls_head (config.token_cls_head is False)")

        def _compute(x, coords, seq, mask):
            tokens = self._encode(x, coords, seq, mask, self.config.num_layers)[0][-1]
            return self.token_cls_head(tokens[:, 1:])

        inputs = (embeddings, coords_lip, seq_id, padding_mask)
        return self._infer(inputs, _compute, batch_size, bf16, nan_from=0, logits=True)


# ---------------------------------------------------------------------------------------------
# coordinates
# ---------------------------------------------------------------------------------------------


def lip_coordinates(table: Any) -> np.ndarray:
    """Electrode coordinates of a ``depth-wm.csv`` table as upstream reads them.

    Upstream takes ``table[["L", "I", "P"]]`` (that column order) and makes a ``LongTensor`` of
    it, which truncates toward zero; the Brain Treebank's values are whole numbers already.

    Parameters
    ----------
    table : pandas.DataFrame or Mapping
        Rows of ``localization/sub_N/depth-wm.csv`` in the order of the electrodes given to
        the model (e.g. ``BrainTreebank(root).localization(s).loc[channels]``); columns ``L``,
        ``I``, ``P`` (others ignored).

    Returns
    -------
    ndarray of int64, shape (n_electrodes, 3)
        (L, I, P) per electrode.

    Raises
    ------
    ValueError
        If a column is missing or a value is not a finite number.
    """
    missing = [axis for axis in _AXES if axis not in table]
    if missing:
        columns = list(table.columns) if hasattr(table, "columns") else sorted(map(str, table))
        raise ValueError(f"the localization table lacks the columns {missing} (columns: {columns})")
    values = np.column_stack([np.asarray(table[axis], dtype=np.float64) for axis in _AXES])
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise ValueError(
            f"the localization table has {int(bad.sum())} rows without finite L, I, P "
            f"(row positions {np.flatnonzero(bad)[:10].tolist()}): drop those electrodes"
        )
    return np.trunc(values).astype(np.int64)


def lip_from_mni(xyz_mm, *, centre: float = 128.0, size: int = 256) -> np.ndarray:
    """Map RAS coordinates in mm (MNI from a BIDS ``electrodes.tsv``) onto PopT's LIP grid.

    The rule: ``L = centre - x``, ``I = centre - z``, ``P = centre - y``, rounded to the
    nearest integer (halves up: ``floor(v + 0.5)``), then clipped into ``[0, size - 1]``.
    Columns in PopT's order (L, I, P).

    Parameters
    ----------
    xyz_mm : array_like, shape (3,) or (n_electrodes, 3)
        (x, y, z) in mm: x to the right, y anterior, z superior (RAS; MNI or a subject's
        scanner/surface space).
    centre : float
        The grid's centre in mm from the RAS origin (128: the centre of a 256-mm volume).
    size : int
        Voxels per axis of the grid (256); results are clipped into [0, size - 1].

    Returns
    -------
    ndarray of int64, shape (3,) or (n_electrodes, 3)
        (L, I, P) per electrode.

    Raises
    ------
    ValueError
        If the shape is not (3,) or (n, 3) or a value is not finite.

    Notes
    -----
    The Brain Treebank's ``L, I, P`` are whole-millimetre positions along the left, inferior and
    posterior axes of each subject's own brain, in roughly 50 .. 200: voxel indices of a
    256-mm, 1-mm FreeSurfer-style volume whose centre is 128, so that RAS mm relate to them as
    ``x = 128 - L``, ``y = 128 - P``, ``z = 128 - I`` (the convention of this project's demo
    dataset, whose ``elec_coords_full.csv`` X, Y, Z are ``128 - L``, ``128 - P``, ``128 - I``).
    This function inverts that map. MNI coordinates are a template's, not the subject's, and
    their origin (the anterior commissure) is not the centre of a subject's volume, so the
    result is an approximation good to about a centimetre; PopT's coarse sinusoid frequencies
    vary on that scale, its finest ones (period 2 pi mm) do not survive it. Values are clipped
    (with a warning) into the grid, far inside the 5000-row table.
    """
    xyz = np.asarray(xyz_mm, dtype=np.float64)
    if xyz.shape[-1:] != (3,) or xyz.ndim not in (1, 2):
        raise ValueError(f"xyz_mm must have shape (3,) or (n_electrodes, 3), got {xyz.shape}")
    if not np.isfinite(xyz).all():
        raise ValueError("xyz_mm has NaN or infinite values: drop electrodes without coordinates")
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    lip = np.stack([centre - x, centre - z, centre - y], axis=-1)
    lip = np.floor(lip + 0.5)
    outside = (lip < 0) | (lip > size - 1)
    if outside.any():
        logger.warning(
            "lip_from_mni: %d coordinates fall outside the %d-voxel grid and were clipped",
            int(outside.sum()),
            size,
        )
    return np.clip(lip, 0, size - 1).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# checkpoints in upstream's layout
# ---------------------------------------------------------------------------------------------


def popt_config_from_official(model_cfg: Any) -> PopTConfig:
    """Map upstream's model config (``conf/model/pt_custom_model.yaml`` keys) to ours.

    Parameters
    ----------
    model_cfg : omegaconf.DictConfig or Mapping
        ``name`` (``pt_model_custom``), ``position_encoding``
        (``multi_subj_position_encoding``), ``n_head``, ``n_layers``, ``hidden_dim``,
        ``input_dim``, ``layer_activation``; optional ``use_token_cls_head``, ``cls_out_dim``,
        ``target_dim`` (and ``ffn_dim``, ``dropout``, ``max_len`` as
        :func:`popt_official_config` writes them when they differ from upstream's fixed
        values). Other keys (``attention_weights``) are ignored.

    Returns
    -------
    PopTConfig
        The sizes.

    Raises
    ------
    ValueError
        If it is not a mapping, names another model or position encoding, lacks a key or holds
        an invalid value.
    """
    cfg = _plain(model_cfg)
    if not isinstance(cfg, Mapping):
        raise ValueError(
            f"model_cfg must be a mapping of upstream's model config, got {type(model_cfg).__name__}"
        )
    name = cfg.get("name")
    if name != OFFICIAL_POPT_NAME:
        hint = (
            ": a fine-tuned downstream model (its 'upstream.' weights are a PopT); only the pretrained "
            "PopT is supported"
            if name == "pt_downstream_model"
            else ""
        )
        raise ValueError(f"model_cfg.name is {name!r}, not upstream's PopT ({OFFICIAL_POPT_NAME!r}){hint}")
    if cfg.get("position_encoding") != _OFFICIAL_POSITION_ENCODING:
        raise ValueError(
            f"model_cfg.position_encoding is {cfg.get('position_encoding')!r}, not "
            f"{_OFFICIAL_POSITION_ENCODING!r}: upstream then uses a 1-D positional encoding, which "
            "is not PopT's and is not supported"
        )
    missing = [key for key in _OFFICIAL_KEYS if key not in cfg]
    if missing:
        raise ValueError(f"model_cfg lacks {missing} (upstream conf/model/pt_custom_model.yaml keys)")
    fields = {field: cfg[key] for key, field in _OFFICIAL_KEYS.items()}
    fields["token_cls_head"] = bool(cfg.get("use_token_cls_head", False))
    fields["cls_out_dim"] = cfg.get("cls_out_dim", 1)
    fields["target_dim"] = cfg.get("target_dim")
    fields.update({key: cfg[key] for key in _FIXED_UPSTREAM if key in cfg})
    try:
        return PopTConfig(**fields)
    except (TypeError, ValueError) as e:
        raise ValueError(f"model_cfg {cfg} is invalid: {e}") from None


def popt_official_config(config: PopTConfig) -> dict:
    """Our config as upstream's ``model_cfg`` (the keys its ``build_model`` reads).

    Parameters
    ----------
    config : PopTConfig
        The sizes.

    Returns
    -------
    dict
        ``name, position_encoding, n_head, n_layers, hidden_dim, input_dim, layer_activation,
        attention_weights, use_token_cls_head`` (``conf/model/pt_custom_model.yaml``'s keys, in
        its order); plus ``cls_out_dim`` and ``target_dim`` when not the defaults, and
        ``ffn_dim`` / ``dropout`` / ``max_len`` only when they differ from upstream's fixed
        values (upstream ignores them; with another ``ffn_dim`` or ``max_len`` its code cannot
        load the weights).
    """
    out = {
        "name": OFFICIAL_POPT_NAME,
        "position_encoding": _OFFICIAL_POSITION_ENCODING,
        "n_head": config.num_heads,
        "n_layers": config.num_layers,
        "hidden_dim": config.hidden_dim,
        "input_dim": config.input_dim,
        "layer_activation": config.activation,
        "attention_weights": False,
        "use_token_cls_head": bool(config.token_cls_head),
    }
    if config.cls_out_dim != 1:
        out["cls_out_dim"] = config.cls_out_dim
    if config.target_dim is not None:
        out["target_dim"] = config.target_dim
    out.update(
        {key: getattr(config, key) for key, value in _FIXED_UPSTREAM.items() if getattr(config, key) != value}
    )
    return out


def _config_from_weights(state: Mapping) -> dict:
    """The sizes the weights' shapes show, as PopTConfig fields -> (value, evidence key)."""
    found = {}

    def shape(key: str, ndim: int) -> tuple | None:
        value = state.get(key)
        return tuple(value.shape) if isinstance(value, torch.Tensor) and value.ndim == ndim else None

    if (s := shape("input_encoding.in_proj.weight", 2)) is not None:
        found["hidden_dim"] = (s[0], "input_encoding.in_proj.weight")
        found["input_dim"] = (s[1], "input_encoding.in_proj.weight")
    layers = {
        int(k.split(".")[2])
        for k in state
        if isinstance(k, str) and k.startswith("transformer_encoder.layers.") and k.split(".")[2].isdigit()
    }
    if layers:
        found["num_layers"] = (max(layers) + 1, "transformer_encoder.layers.N")
    if (s := shape("transformer_encoder.layers.0.linear1.weight", 2)) is not None:
        found["ffn_dim"] = (s[0], "transformer_encoder.layers.0.linear1.weight")
    if (s := shape("input_encoding.positional_encoding.pe", 3)) is not None:
        found["max_len"] = (s[1], "input_encoding.positional_encoding.pe")
    if (s := shape("cls_head.weight", 2)) is not None:
        found["cls_out_dim"] = (s[0], "cls_head.weight")
    found["token_cls_head"] = ("token_cls_head.weight" in state, "token_cls_head.weight")
    if (s := shape("spec_prediction_head.output.weight", 2)) is not None:
        found["output_dim"] = (s[0], "spec_prediction_head.output.weight")
    return found


def _check_config_against_weights(config: PopTConfig, state: Mapping, source: str) -> None:
    """Refuse a config whose sizes disagree with the weights' shapes (before the key check)."""
    official = {field: key for key, field in _OFFICIAL_KEYS.items()}
    official.update({"token_cls_head": "use_token_cls_head", "output_dim": "target_dim"})
    wrong = []
    for field, (theirs, evidence) in _config_from_weights(state).items():
        ours = getattr(config, field)
        if ours != theirs:
            seen = f"{evidence} {_shape(state[evidence])}" if evidence in state else evidence
            wrong.append(f"{official.get(field, field)} = {ours} but the weights have {theirs} ({seen})")
    if wrong:
        raise ValueError(
            f"PopT checkpoint {source}: its config disagrees with its weights: " + "; ".join(wrong)
        )


def load_popt_checkpoint(path: str | PathLike, config: PopTConfig | str | None = None) -> PopT:
    """Build the PopT a checkpoint describes and load its weights strictly.

    Parameters
    ----------
    path : str or PathLike
        A file in upstream's layout, ``{"model": state_dict, "optim", "scheduler",
        "model_cfg"}`` (:func:`~mmsites.brainmodels.checkpoint.read_checkpoint` reads it
        without unpickling anything outside its allow-list).
    config : PopTConfig, str or None
        The sizes: required when the file has no ``model_cfg`` (the attention heads cannot be
        read off the weights), else checked against it. None with no ``model_cfg``: the
        ``"published"`` preset when the weights have exactly its shapes (logged), else an error.

    Returns
    -------
    PopT
        The model, in eval mode on the CPU.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is refused, lacks ``model``, its config is not PopT's, disagrees with
        ``config`` or with its weights, or the weights do not match the architecture (every
        missing, unexpected and mis-shaped key listed in one message).
    """
    path = Path(path)
    checkpoint = read_checkpoint(path, kind="PopT")
    if "model" not in checkpoint:
        raise ValueError(
            f"PopT checkpoint {path} lacks 'model': expected upstream's layout {{'model', 'optim', "
            f"'scheduler', 'model_cfg'}}, found {sorted(map(str, checkpoint))}"
        )
    state = checkpoint["model"]
    if not isinstance(state, Mapping):
        raise ValueError(f"PopT checkpoint {path}: 'model' must be a state dict, got {type(state).__name__}")
    given = None if config is None else _as_config(config)
    recorded = None
    if checkpoint.get("model_cfg") is not None:
        try:
            recorded = popt_config_from_official(checkpoint["model_cfg"])
        except ValueError as e:
            raise ValueError(f"PopT checkpoint {path}: {e}") from None
    if given is not None and recorded is not None and given != recorded:
        raise ValueError(f"PopT checkpoint {path} records {recorded}, not the given {given}")
    chosen = given or recorded
    if chosen is None:
        published = POPT_PRESETS["published"]
        with torch.device("meta"):
            expected = PopT(published).state_dict()
        if _mismatches(expected, state):
            raise ValueError(
                f"PopT checkpoint {path} has no model_cfg and its weights are not the published "
                "architecture's: pass config=PopTConfig(...) (the number of attention heads cannot be "
                "read off the weights)"
            )
        logger.info("PopT checkpoint %s has no model_cfg; its weights have the published shapes", path)
        chosen = published
    _check_config_against_weights(chosen, state, str(path))
    model = PopT(chosen, seed=0)
    _POPT.load_strict(model, state, str(path))
    return model.eval()


def save_popt_checkpoint(
    model: PopT | Mapping,
    path: str | PathLike,
    config: PopTConfig | None = None,
    optim_state: Mapping | None = None,
    scheduler_state: Any = None,
) -> Path:
    """Write a PopT checkpoint in upstream's layout (atomically), by BrainBERT's writer.

    Parameters
    ----------
    model, path, config, optim_state, scheduler_state : as in :func:`~.checkpoint.save_checkpoint`
        The PopT (or its state dict, then with its :class:`PopTConfig`), the ``.pth`` file,
        the sizes (with a model: None or ``model.config``), upstream's ``optim`` and
        ``scheduler`` entries (plain data).

    Returns
    -------
    pathlib.Path
        The file written: ``{"model": state_dict, "optim": optim_state, "scheduler":
        scheduler_state, "model_cfg": DictConfig}``, ``model_cfg`` the ``model`` node of
        ``{"model": popt_official_config(config)}`` (what upstream's ``runner.py`` saves, so
        upstream's ``build_model(ckpt["model_cfg"])`` and ``load_state_dict(ckpt["model"])``
        read it).

    Raises
    ------
    ValueError
        If ``config`` is missing or contradicts the model, or the state dict does not match
        the config.
    """
    return _POPT.save(model, path, config, optim_state, scheduler_state)


_POPT = _ModelLayout(
    kind="PopT",
    model_class=PopT,
    config_class=PopTConfig,
    to_official=popt_official_config,
    from_official=popt_config_from_official,
    check_config=_check_config_against_weights,
    describe=lambda c: f"{c.num_layers} layers, width {c.hidden_dim}, input {c.input_dim}",
)
