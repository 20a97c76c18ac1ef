"""The open_clip family (CLIP and relatives): the image tower or the text tower.

``spec.arch`` is an open_clip architecture (``open_clip.list_models()``), ``spec.weights`` an
open_clip pretrained tag (e.g. ``"openai"``) or a local checkpoint file. ``spec.config``
overrides the architecture's config (deep-merged into ``vision_cfg`` / ``text_cfg`` /
``embed_dim``), which is how tests build tiny random models. The default output is the tower's
projected embedding (``encode_image`` / ``encode_text``, not L2-normalised), shape (n, embed_dim).
"""

from __future__ import annotations

import logging
import os

import numpy as np
import torch

from . import register_family
from .base import Extractor
from .preprocess import preprocess_images
from .weights import seeded, unknown_choice

logger = logging.getLogger(__name__)

__all__ = ["OpenClipExtractor", "deep_merge"]


def deep_merge(base: dict, override: dict) -> dict:
    """``base`` updated by ``override``, recursing into nested dicts (neither is modified).

    Parameters
    ----------
    base : dict
        The config to update (e.g. an open_clip architecture config).
    override : dict
        Values to set; a dict value where ``base`` also has a dict is merged recursively,
        anything else replaces ``base``'s value.

    Returns
    -------
    dict
        A new dict; nested dicts that were merged are new too, others are shared.
    """
    out = dict(base)
    for k, v in override.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@register_family("open_clip")
class OpenClipExtractor(Extractor):
    """An open_clip model run on one tower (``spec.modality``: ``"image"`` or ``"text"``).

    ``init="random"`` builds the architecture with no pretrained weights after
    ``torch.manual_seed(spec.seed)``; ``init="trained"`` needs ``spec.weights``.

    Parameters
    ----------
    spec : ModelSpec
        The model: ``arch`` (an open_clip architecture), ``weights`` (a pretrained tag or a
        checkpoint file), ``config`` (overrides of the architecture config).
    device : str
        Torch device the network is moved to, e.g. ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    ValueError
        When ``arch`` is missing or unknown, or the weights cannot be found or loaded.
    FileNotFoundError
        When ``weights`` looks like a path and no such file exists.
    """

    supported_inputs = ("image", "text")

    def __init__(self, spec, device="cpu"):
        super().__init__(spec, device)
        import open_clip

        sid = spec.id
        if not spec.arch:
            raise ValueError(
                f"model {sid!r}: family 'open_clip' needs 'arch' (one of open_clip.list_models())"
            )
        base_cfg = open_clip.get_model_config(spec.arch)
        if base_cfg is None:
            raise unknown_choice(sid, "open_clip architecture", spec.arch, open_clip.list_models())
        overrides = deep_merge(base_cfg, dict(spec.config)) if spec.config else {}
        kwargs = {k: overrides[k] for k in overrides} if overrides else {}
        kwargs.pop("custom_text", None)
        if spec.init == "trained":
            if not spec.weights:
                raise ValueError(
                    f"model {sid!r}: init 'trained' needs 'weights' (an open_clip pretrained tag, e.g. "
                    f"{open_clip.list_pretrained_tags_by_model(spec.arch)[:5]}, or a checkpoint file)"
                )
            looks_like_path = os.sep in spec.weights or spec.weights.endswith(
                (".pt", ".pth", ".bin", ".safetensors")
            )
            if looks_like_path and not os.path.isfile(spec.weights):
                raise FileNotFoundError(f"model {sid!r}: checkpoint file {spec.weights!r} does not exist")
            try:
                model = open_clip.create_model(spec.arch, pretrained=spec.weights, device="cpu", **kwargs)
            except (RuntimeError, OSError) as e:
                # RuntimeError: a tag that cannot be downloaded (offline) or a checkpoint whose
                # keys/shapes do not fit the architecture (open_clip loads strictly).
                raise ValueError(
                    f"model {sid!r}: could not get or load weights {spec.weights!r} for open_clip "
                    f"architecture {spec.arch!r} (offline? give a local checkpoint file): "
                    f"{str(e).splitlines()[0][:500]}"
                ) from e
        else:
            with seeded(spec.seed):
                model = open_clip.create_model(
                    spec.arch,
                    pretrained=None,
                    device="cpu",
                    pretrained_image=False,
                    pretrained_text=False,
                    **kwargs,
                )
        self.model = model.to(self.device).eval()
        pcfg = open_clip.get_model_preprocess_cfg(model)
        self._pre = dict(
            size=pcfg.get("size", 224),
            mean=pcfg.get("mean"),
            std=pcfg.get("std"),
            interpolation=pcfg.get("interpolation", "bicubic"),
            resize_mode=pcfg.get("resize_mode", "shortest"),
        )
        if self.spec.modality == "text":
            ctx = getattr(model, "context_length", None) or 77
            self.context_length = min(spec.max_length or ctx, ctx)
            self.tokenizer = open_clip.get_tokenizer(spec.arch, context_length=self.context_length)

    def encode_images(self, images: np.ndarray) -> torch.Tensor:
        """Encode frames with the image tower, preprocessed as open_clip's config says.

        Parameters
        ----------
        images : ndarray of uint8, shape (n, H, W, 3)
            RGB frames.

        Returns
        -------
        torch.Tensor, shape (n, embed_dim)
            ``model.encode_image``: the projected image embeddings, not L2-normalised.
        """
        x = preprocess_images(images, device=self.device, **self._pre)
        return self.model.encode_image(x)

    def _n_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text)) + 2  # + start and end tokens

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Encode texts with the text tower.

        Texts over the context length (or ``spec.max_length``) are truncated and counted.

        Parameters
        ----------
        texts : list of str, length n
            The texts.

        Returns
        -------
        torch.Tensor, shape (n, embed_dim)
            ``model.encode_text``: the projected text embeddings, not L2-normalised.
        """
        tokens = self.tokenizer(texts).to(self.device)
        if hasattr(self.tokenizer, "encode"):
            self.count_truncated(tokens != 0, texts, self.context_length, self._n_tokens)
        return self.model.encode_text(tokens)
