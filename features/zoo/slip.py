"""SLIP, CLIP and SimCLR ViT-B/16 models of facebookresearch/SLIP (``family: slip``).

Mu et al. (2022) trained three ViT-B/16 models on YFCC15M for 25 epochs with the same
architecture and data and different objectives: SLIP-Combo (CLIP + SimCLR losses,
checkpoint ``slip_base_25ep.pt``), SLIP-CLIP (``clip_base_25ep.pt``) and SLIP-SimCLR
(``simclr_base_25ep.pt``, images only). This module re-implements the architecture so that
its ``state_dict()`` keys are exactly those of the official checkpoints and the released
weights load with every key mapped; it does not need the SLIP repository.

Notes
-----
**Model specs.**

``spec.arch``
    ``slip_vitb16`` | ``clip_vitb16`` | ``simclr_vitb16``.
``spec.weights``
    Local path of the official checkpoint (``{'state_dict': ..., 'args': ...}`` as saved by
    SLIP's ``main.py``, keys prefixed ``module.`` by DistributedDataParallel), read with
    ``torch.load(weights_only=True)`` allowing only the ``argparse.Namespace`` of ``args``.
    ``None`` with ``init='trained'`` is an error (there is no packaged default).
``spec.init='random'``
    The architecture with its own default initialisation after ``torch.manual_seed(seed)``:
    timm's ViT init for the image tower, the CLIP text-tower init of the official code
    (normal, std 0.02 / 0.01 / width-scaled) and PyTorch defaults elsewhere. No state dict
    is loaded, which is what the study did for its random SLIP baselines.
``spec.config``
    Architecture overrides, for small test models: ``image_size``, ``patch_size``,
    ``vision_width``, ``vision_layers``, ``vision_heads``, ``embed_dim``,
    ``context_length``, ``vocab_size``, ``text_width``, ``text_layers``, ``text_heads``,
    ``ssl_mlp_dim``, ``ssl_emb_dim``; and ``project`` (bool, default False): return the
    joint-space embeddings (``image_projection`` / ``text_projection`` applied) instead of
    the pre-projection features.

**Features.**

Image (``spec.input='image'``): the pooled ViT output before ``image_projection``, i.e. the
final-LayerNorm CLS token returned by the ViT head, shape ``(n, vision_width)`` (768). This
is the study's best SLIP vision layer, ``Identity-51`` (the timm ViT ``head``, an identity
because ``num_classes=0``); the module name here is ``visual.head``.

Text (``spec.input='text'``): the end-of-text token's output after ``ln_final``, before
``text_projection``, shape ``(n, text_width)`` (512). The study's best SLIP language layer is
``LayerNorm-50``, the final text LayerNorm; its whole-sequence output (all 77 tokens,
flattened) is available with ``spec.layer='ln_final'``.

Text is tokenised with the CLIP BPE tokenizer shipped with open_clip (the vocabulary SLIP
uses), ``<start>`` + tokens + ``<end>``, padded with zeros to ``context_length`` (77).
Longer texts are truncated **keeping the end token last** (open_clip's rule; SLIP's own
tokenizer drops it, which would move the pooled position onto an ordinary token) and
counted in a log warning. Images get SLIP's evaluation transform: resize the short side to
``image_size`` (bilinear, PIL), centre crop, ImageNet mean/std.

SimCLR has no text tower: asking it for text is an error.

Checked once against the official ``models.py`` (not a dependency, so not in the tests): the
same weights give bit-identical image, text and ``image_mlp`` outputs, and the same seed
gives bit-identical random weights (modules are built in the official order).
"""

from __future__ import annotations

import argparse
import logging
import math
import pickle
import re
from collections import OrderedDict
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import register_family
from .base import Extractor
from .preprocess import preprocess_images
from .weights import seeded

logger = logging.getLogger(__name__)

__all__ = [
    "SLIPExtractor",
    "SLIPModel",
    "SLIP_ARCHS",
    "SLIP_CHECKPOINTS",
    "CHECKPOINT_GLOBALS",
    "VITB16_CONFIG",
    "build_slip_model",
    "load_slip_checkpoint",
    "tokenize",
]

#: objective of each architecture name: which towers and heads the model has
SLIP_ARCHS: dict[str, str] = {
    "slip_vitb16": "slip",
    "clip_vitb16": "clip",
    "simclr_vitb16": "simclr",
}

#: the official checkpoint file of each architecture (facebookresearch/SLIP README)
SLIP_CHECKPOINTS: dict[str, str] = {
    "slip_vitb16": "slip_base_25ep.pt",
    "clip_vitb16": "clip_base_25ep.pt",
    "simclr_vitb16": "simclr_base_25ep.pt",
}

#: ViT-B/16 with the CLIP text transformer, as built by SLIP's ``*_VITB16`` constructors and
#: ``main.py`` defaults (``--ssl-mlp-dim 4096 --ssl-emb-dim 256``)
VITB16_CONFIG: dict[str, Any] = {
    "image_size": 224,
    "patch_size": 16,
    "vision_width": 768,
    "vision_layers": 12,
    "vision_heads": 12,
    "embed_dim": 512,
    "context_length": 77,
    "vocab_size": 49408,
    "text_width": 512,
    "text_layers": 12,
    "text_heads": 8,
    "ssl_mlp_dim": 4096,
    "ssl_emb_dim": 256,
}

# ImageNet statistics used by SLIP's transforms (main.py, eval_zeroshot.py)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class _FP32LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 and cast back (the CLIP text tower's fp16-safe norm)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).to(x.dtype)


class _QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)``: the GELU approximation CLIP's text tower was trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class _TextBlock(nn.Module):
    """Pre-norm transformer block; parameter names follow the CLIP/SLIP checkpoints.

    Input and output are sequence-first, ``(n_ctx, n, width)``, as ``nn.MultiheadAttention``
    takes them by default.
    """

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = _FP32LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ("c_fc", nn.Linear(width, 4 * width)),
                    ("gelu", _QuickGELU()),
                    ("c_proj", nn.Linear(4 * width, width)),
                ]
            )
        )
        self.ln_2 = _FP32LayerNorm(width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask.to(h.dtype))[0]
        return x + self.mlp(self.ln_2(x))


class _TextTransformer(nn.Module):
    """Stack of causal text blocks (``resblocks.<i>``), sequence-first ``(n_ctx, n, width)``."""

    def __init__(self, width: int, layers: int, heads: int, context_length: int):
        super().__init__()
        self.width = width
        self.layers = layers
        self.resblocks = nn.ModuleList(_TextBlock(width, heads) for _ in range(layers))
        # additive causal mask; a non-persistent buffer so it follows .to(device) but is not
        # a checkpoint key (the official model keeps it as a plain attribute)
        mask = torch.full((context_length, context_length), float("-inf")).triu_(1)
        self.register_buffer("attn_mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x, self.attn_mask)
        return x


def _ssl_head(in_dim: int, mlp_dim: int, out_dim: int) -> nn.Sequential:
    """SimCLR projection MLP (``image_mlp``); BatchNorm1d has SyncBatchNorm's state-dict keys."""
    return nn.Sequential(
        OrderedDict(
            [
                ("layer1", nn.Linear(in_dim, mlp_dim)),
                ("bn1", nn.BatchNorm1d(mlp_dim)),
                ("relu1", nn.ReLU(inplace=True)),
                ("layer2", nn.Linear(mlp_dim, mlp_dim)),
                ("bn2", nn.BatchNorm1d(mlp_dim)),
                ("relu2", nn.ReLU(inplace=True)),
                ("layer3", nn.Linear(mlp_dim, out_dim)),
            ]
        )
    )


class SLIPModel(nn.Module):
    """SLIP-Combo, SLIP-CLIP or SLIP-SimCLR with the official checkpoint's parameter names.

    Parameters
    ----------
    objective : {"slip", "clip", "simclr"}
        ``clip`` and ``slip`` have the image and text towers, projections and
        ``logit_scale``; ``slip`` and ``simclr`` have the SimCLR head ``image_mlp``;
        ``simclr`` has no text tower.
    **config
        Architecture sizes, keys of :data:`VITB16_CONFIG` (defaults: ViT-B/16).

    Notes
    -----
    Submodules are created in the official order (image tower, text transformer, token and
    positional embeddings, projections, SimCLR head) so that a seeded random init draws the
    same sequence of numbers for the same architecture.
    """

    def __init__(self, objective: str = "slip", **config: Any):
        super().__init__()
        unknown = sorted(set(config) - set(VITB16_CONFIG))
        if unknown:
            raise ValueError(
                f"unknown SLIP architecture option(s) {unknown}; valid: {sorted(VITB16_CONFIG)} "
                "(and 'project' in a model spec's config)."
            )
        if objective not in ("slip", "clip", "simclr"):
            raise ValueError(f"objective must be 'slip', 'clip' or 'simclr', not {objective!r}.")
        cfg = {**VITB16_CONFIG, **config}
        self.objective = objective
        self.config = cfg
        self.vision_width = cfg["vision_width"]
        self.visual = _vit(cfg)
        self.has_text = objective in ("slip", "clip")
        if self.has_text:
            self.context_length = cfg["context_length"]
            self.vocab_size = cfg["vocab_size"]
            self.transformer = _TextTransformer(
                cfg["text_width"], cfg["text_layers"], cfg["text_heads"], cfg["context_length"]
            )
            self.token_embedding = nn.Embedding(cfg["vocab_size"], cfg["text_width"])
            self.positional_embedding = nn.Parameter(torch.empty(cfg["context_length"], cfg["text_width"]))
            self.ln_final = _FP32LayerNorm(cfg["text_width"])
            self.image_projection = nn.Parameter(torch.empty(cfg["vision_width"], cfg["embed_dim"]))
            self.text_projection = nn.Parameter(torch.empty(cfg["text_width"], cfg["embed_dim"]))
            self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
            self._init_text_tower()
        if objective in ("slip", "simclr"):
            self.image_mlp = _ssl_head(cfg["vision_width"], cfg["ssl_mlp_dim"], cfg["ssl_emb_dim"])

    def _init_text_tower(self) -> None:
        # CLIP's scheme: small normal embeddings, residual projections scaled by depth
        width, layers = self.transformer.width, self.transformer.layers
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        proj_std = width**-0.5 * (2 * layers) ** -0.5
        for block in self.transformer.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=width**-0.5)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=(2 * width) ** -0.5)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.image_projection, std=self.vision_width**-0.5)
        nn.init.normal_(self.text_projection, std=width**-0.5)

    def encode_image(self, images: torch.Tensor, project: bool = False) -> torch.Tensor:
        """Pooled image features.

        Parameters
        ----------
        images : torch.Tensor, float, shape (n, 3, image_size, image_size)
            Normalised pixels (ImageNet mean/std).
        project : bool
            Apply ``image_projection`` (CLIP/SLIP only).

        Returns
        -------
        torch.Tensor, shape (n, vision_width) or (n, embed_dim)
            The ViT's pooled output (the final-LayerNorm CLS token); with ``project``, that
            times ``image_projection`` (the joint space, ``embed_dim`` wide).

        Raises
        ------
        ValueError
            When ``project`` is asked of SLIP-SimCLR (no projection).
        """
        x = self.visual(images)
        if project:
            if not self.has_text:
                raise ValueError("SLIP-SimCLR has no image_projection; use project=False.")
            x = x @ self.image_projection
        return x

    def encode_text(self, tokens: torch.Tensor, project: bool = False) -> torch.Tensor:
        """End-of-text token features after ``ln_final``.

        Parameters
        ----------
        tokens : torch.Tensor, int64, shape (n, context_length)
            BPE ids, zero-padded; the end token has the largest id of each row.
        project : bool
            Apply ``text_projection``.

        Returns
        -------
        torch.Tensor, shape (n, text_width) or (n, embed_dim)
            The ``ln_final`` output at each row's end token; with ``project``, that times
            ``text_projection`` (the joint space, ``embed_dim`` wide).

        Raises
        ------
        ValueError
            For SLIP-SimCLR, which has no text tower.
        """
        if not self.has_text:
            raise ValueError("SLIP-SimCLR was trained on images only and has no text tower.")
        x = self.token_embedding(tokens) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
        if project:
            x = x @ self.text_projection
        return x


def _vit(cfg: Mapping[str, Any]) -> nn.Module:
    """timm ``vit_base_patch16_224`` with ``num_classes=0`` (sizes from ``cfg``), as in SLIP."""
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(
        img_size=cfg["image_size"],
        patch_size=cfg["patch_size"],
        embed_dim=cfg["vision_width"],
        depth=cfg["vision_layers"],
        num_heads=cfg["vision_heads"],
        num_classes=0,
    )


#: The only non-tensor class a SLIP checkpoint may hold: ``main.py`` pickles its command-line
#: arguments (an ``argparse.Namespace`` of strings, numbers and lists) under ``'args'``.
CHECKPOINT_GLOBALS: tuple[type, ...] = (argparse.Namespace,)


def _read_checkpoint(path: str) -> Any:
    """``torch.load`` with ``weights_only=True``, allowing only :data:`CHECKPOINT_GLOBALS`.

    Tensors, plain containers and numbers load; any other pickled object (a class or function
    that unpickling would import and call, i.e. run code of the file's choosing) is refused
    before it is built.
    """
    try:
        with torch.serialization.safe_globals(list(CHECKPOINT_GLOBALS)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch names the refused object: "Unsupported global: GLOBAL mod.name ..." or
        # "unsupported GLOBAL mod.name whose module mod is blocked"
        found = re.search(r"GLOBAL (\S+)", str(e))
        if found is None:
            raise ValueError(
                f"SLIP checkpoint {path} is not a readable torch checkpoint: "
                f"{str(e).strip().splitlines()[-1][:300]}"
            ) from None
        raise ValueError(
            f"SLIP checkpoint {path} holds a pickled {found.group(1)!r} object and was refused: only "
            "tensors, plain containers, numbers and the argparse.Namespace of SLIP's training "
            "arguments are loaded (unpickling other objects could run arbitrary code). If you trust "
            "the file, re-save just its weights: torch.save({'state_dict': checkpoint['state_dict']}, "
            "path)."
        ) from None
    except Exception as e:  # not a torch file (truncated, another format, ...)
        raise ValueError(
            f"SLIP checkpoint {path} is not a readable torch checkpoint "
            f"({type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''})"
        ) from None


def load_slip_checkpoint(
    model: SLIPModel, checkpoint: str | PathLike | Mapping[str, torch.Tensor]
) -> SLIPModel:
    """Load an official SLIP/CLIP/SimCLR checkpoint into ``model``, strictly.

    Parameters
    ----------
    model : SLIPModel
        Built with the checkpoint's architecture.
    checkpoint : path or mapping
        A file saved by SLIP's ``main.py`` (``{'state_dict': ..., 'args': ...}``), or that
        dictionary, or a bare state dict. The ``module.`` prefix of DistributedDataParallel
        is removed. A file is read with ``torch.load(..., weights_only=True)``: tensors,
        plain containers, numbers and an ``argparse.Namespace`` (the ``args`` entry) only.

    Returns
    -------
    SLIPModel
        ``model``, with every parameter and buffer replaced.

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    ValueError
        The file holds any other pickled object (refused unread) or is not a torch
        checkpoint; or keys are missing or unexpected, or shapes differ (all are listed).
    """
    source = "the given state dict"
    if isinstance(checkpoint, (str, PathLike)):
        source = str(checkpoint)
        if not Path(checkpoint).is_file():
            raise FileNotFoundError(
                f"SLIP checkpoint {source} does not exist; download slip_base_25ep.pt, "
                "clip_base_25ep.pt or simclr_base_25ep.pt from facebookresearch/SLIP and set "
                "the model's `weights` to its path."
            )
        checkpoint = _read_checkpoint(source)
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, Mapping) else None
    if not isinstance(state, Mapping):
        raise ValueError(f"SLIP checkpoint {source} holds no state dict (got {type(checkpoint)}).")
    state = {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in state.items()}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or mismatched:
        problems = []
        if missing:
            problems.append(f"missing keys {missing}")
        if unexpected:
            problems.append(f"unexpected keys {unexpected}")
        if mismatched:
            problems.append(f"shape mismatches {mismatched}")
        raise ValueError(
            f"SLIP checkpoint {source} does not fit a {model.objective!r} model "
            f"({model.config}): " + "; ".join(problems) + ". Check that `arch` matches the "
            "checkpoint (slip_vitb16 / clip_vitb16 / simclr_vitb16) and `config` is empty."
        )
    model.load_state_dict(state, strict=True)
    logger.info("loaded SLIP checkpoint %s: %d tensors, all keys matched", source, len(state))
    return model


def tokenize(
    texts: list[str], context_length: int = 77, max_length: int | None = None
) -> tuple[torch.Tensor, int]:
    """CLIP BPE token ids as the SLIP text tower reads them.

    Parameters
    ----------
    texts : list of str, length n
        The texts.
    context_length : int
        Width of the returned array (the model's positional embedding length).
    max_length : int or None
        Longest sequence kept, start and end tokens included (at most ``context_length``).

    Returns
    -------
    tokens : torch.Tensor, int64, shape (n, context_length)
        ``<start>`` ids ``<end>`` then zeros; a text cut to ``max_length`` keeps its end
        token last.
    n_truncated : int
        How many texts were cut.
    """
    tok = _clip_tokenizer()
    limit = context_length if max_length is None else min(max_length, context_length)
    if limit < 2:
        raise ValueError(f"max_length must leave room for the start and end tokens, got {limit}.")
    out = torch.zeros(len(texts), context_length, dtype=torch.long)
    n_truncated = 0
    for i, text in enumerate(texts):
        ids = [tok.sot_token_id, *tok.encode(text), tok.eot_token_id]
        if len(ids) > limit:
            n_truncated += 1
            ids = ids[: limit - 1] + [tok.eot_token_id]
        out[i, : len(ids)] = torch.tensor(ids)
    return out, n_truncated


_TOKENIZER = None


def _clip_tokenizer():
    # building the BPE tables takes ~0.5 s; one instance serves every SLIP model
    global _TOKENIZER
    if _TOKENIZER is None:
        from open_clip.tokenizer import SimpleTokenizer

        _TOKENIZER = SimpleTokenizer()
    return _TOKENIZER


def build_slip_model(spec) -> SLIPModel:
    """The network of a ``family: slip`` spec: built, then loaded or seeded-random.

    Parameters
    ----------
    spec : ModelSpec
        ``arch`` in :data:`SLIP_ARCHS`; ``weights`` (trained) or ``init='random'``;
        ``config`` may override sizes (see the module docstring).

    Returns
    -------
    SLIPModel
        The network in eval mode, on the CPU.

    Raises
    ------
    ValueError
        When ``arch`` is unknown, a trained model has no ``weights``, or the checkpoint is
        refused or does not fit (the message names the model).
    FileNotFoundError
        When the ``weights`` file does not exist.
    """
    if spec.arch not in SLIP_ARCHS:
        raise ValueError(
            f"model {spec.id!r}: unknown SLIP architecture {spec.arch!r}; valid: {sorted(SLIP_ARCHS)}."
        )
    config = {k: v for k, v in spec.config.items() if k != "project"}
    objective = SLIP_ARCHS[spec.arch]
    if spec.init == "trained" and spec.weights is None:
        raise ValueError(
            f"model {spec.id!r}: a trained SLIP model needs `weights`, the local path of "
            f"{SLIP_CHECKPOINTS[spec.arch]} (facebookresearch/SLIP); or set init: random."
        )
    try:
        if spec.init == "random":
            # the study's random baseline: architecture built, nothing loaded
            with seeded(spec.seed):
                model = SLIPModel(objective, **config)
        else:
            model = load_slip_checkpoint(SLIPModel(objective, **config), spec.weights)
    except (ValueError, FileNotFoundError) as e:
        raise type(e)(f"model {spec.id!r}: {e}") from None
    return model.eval()


@register_family("slip")
class SLIPExtractor(Extractor):
    """Image or text features of a SLIP / CLIP / SimCLR model (see :mod:`features.zoo.slip`).

    ``encode_images``: uint8 (n, H, W, 3) -> (n, vision_width), pooled ViT features.
    ``encode_texts``: n strings -> (n, text_width), end-token features after ``ln_final``.
    With ``spec.config['project']`` both return the ``embed_dim`` joint-space vectors.

    Parameters
    ----------
    spec : ModelSpec
        The model: ``arch`` (one of :data:`SLIP_ARCHS`), ``weights`` (the official checkpoint
        file, for ``init: trained``), ``config`` (size overrides and ``project``),
        ``max_length`` (at most the context length).
    device : str
        Torch device the network is moved to, e.g. ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    ValueError
        When SLIP-SimCLR is asked for text or a projection, ``max_length`` exceeds the
        context length, or the network cannot be built (see :func:`build_slip_model`).
    FileNotFoundError
        When the ``weights`` file does not exist.
    """

    supported_inputs = ("image", "text")

    def __init__(self, spec, device: str = "cpu"):
        super().__init__(spec, device)
        if spec.arch == "simclr_vitb16" and spec.modality == "text":
            raise ValueError(
                f"model {spec.id!r}: SLIP-SimCLR (simclr_vitb16) was trained on images only "
                "and has no text tower; use input: image, or slip_vitb16 / clip_vitb16 for text."
            )
        self.project = bool(spec.config.get("project", False))
        if self.project and spec.arch == "simclr_vitb16":
            raise ValueError(f"model {spec.id!r}: SLIP-SimCLR has no image_projection; drop config.project.")
        if spec.max_length is not None and spec.max_length > spec.config.get(
            "context_length", VITB16_CONFIG["context_length"]
        ):
            raise ValueError(
                f"model {spec.id!r}: max_length {spec.max_length} exceeds the SLIP text "
                f"context length ({spec.config.get('context_length', 77)})."
            )
        self.model = build_slip_model(spec).to(self.device)

    def encode_images(self, images: np.ndarray) -> torch.Tensor:
        """Encode frames with the image tower, after SLIP's evaluation transform.

        Parameters
        ----------
        images : ndarray of uint8, shape (n, H, W, 3)
            RGB frames; resized (short side, bilinear), centre-cropped to ``image_size`` and
            ImageNet-normalised.

        Returns
        -------
        torch.Tensor, shape (n, vision_width) or (n, embed_dim)
            The pooled ViT features (see :meth:`SLIPModel.encode_image`); ``embed_dim`` wide
            with ``config.project``.
        """
        cfg = self.model.config
        x = preprocess_images(
            images,
            cfg["image_size"],
            IMAGENET_MEAN,
            IMAGENET_STD,
            interpolation="bilinear",
            device=self.device,
        )
        return self.model.encode_image(x, project=self.project)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Encode texts with the text tower (CLIP BPE tokens, end token kept when truncating).

        Texts over ``max_length`` (or the context length) tokens are truncated and counted.

        Parameters
        ----------
        texts : list of str, length n
            The texts.

        Returns
        -------
        torch.Tensor, shape (n, text_width) or (n, embed_dim)
            The end token's ``ln_final`` output (see :meth:`SLIPModel.encode_text`);
            ``embed_dim`` wide with ``config.project``.
        """
        tokens, n_cut = tokenize(texts, self.model.context_length, self.spec.max_length)
        if n_cut:
            self.note_truncated(n_cut, self.spec.max_length or self.model.context_length)
        return self.model.encode_text(tokens.to(self.device), project=self.project)
