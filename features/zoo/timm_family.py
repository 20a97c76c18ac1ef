"""The timm family of vision models: the pooled pre-classifier features.

``spec.arch`` is a timm model name, optionally with a pretrained tag
(``beit_base_patch16_224.in22k_ft_in22k_in1k``, ``convnext_base.fb_in22k``); ``spec.weights``
may be a local checkpoint file (loaded strictly: every key must fit, the classifier head aside);
``spec.config`` is passed to ``timm.create_model`` as keyword arguments (architecture
overrides). Output: ``model(x)`` with ``num_classes=0``, i.e. the pooled features,
shape (n, model.num_features). Images are preprocessed with the model's timm data config
(input size, interpolation, crop_pct, mean, std).
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

__all__ = ["TimmExtractor"]


@register_family("timm")
class TimmExtractor(Extractor):
    """A timm image model; ``init="random"`` = ``pretrained=False`` after ``torch.manual_seed(spec.seed)``.

    Parameters
    ----------
    spec : ModelSpec
        The model: ``arch`` (a timm model name, optionally with a pretrained tag), ``weights``
        (an optional local checkpoint file), ``config`` (``timm.create_model`` keyword
        arguments).
    device : str
        Torch device the network is moved to, e.g. ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    ValueError
        When ``arch`` is missing or unknown, or the weights cannot be got or do not fit.
    FileNotFoundError
        When the ``weights`` file does not exist.
    """

    supported_inputs = ("image",)

    def __init__(self, spec, device="cpu"):
        super().__init__(spec, device)
        import timm
        from timm.data import resolve_data_config

        sid = spec.id
        if not spec.arch:
            raise ValueError(
                f"model {sid!r}: family 'timm' needs 'arch' (a timm model name, see timm.list_models())"
            )
        if not timm.is_model(spec.arch.split(".")[0]):
            raise unknown_choice(
                sid, "timm architecture", spec.arch, timm.list_models(), hint="see timm.list_models()"
            )
        kwargs = dict(spec.config)
        if spec.init == "trained" and spec.weights:
            model = timm.create_model(spec.arch, pretrained=False, num_classes=0, **kwargs)
            self._load_checkpoint(model, spec.weights)
        elif spec.init == "trained":
            try:
                model = timm.create_model(spec.arch, pretrained=True, num_classes=0, **kwargs)
            except (RuntimeError, OSError) as e:  # OSError: not cached and offline
                raise ValueError(
                    f"model {sid!r}: could not get timm's pretrained weights for {spec.arch!r} "
                    f"(offline? give a local checkpoint in 'weights'): {str(e).splitlines()[0][:500]}"
                ) from e
        else:
            with seeded(spec.seed):
                model = timm.create_model(spec.arch, pretrained=False, num_classes=0, **kwargs)
        self.model = model.to(self.device).eval()
        dc = resolve_data_config(model=model)
        self._pre = dict(
            size=tuple(dc["input_size"][1:]),
            mean=dc["mean"],
            std=dc["std"],
            interpolation=dc.get("interpolation", "bicubic"),
            crop_pct=dc.get("crop_pct", 1.0),
            resize_mode="squash" if dc.get("crop_mode") == "squash" else "shortest",
        )

    def _load_checkpoint(self, model, path: str) -> None:
        """Strictly load a local checkpoint; only the classifier head (dropped by
        ``num_classes=0``) may be left over. timm's own ``pretrained_cfg_overlay=dict(file=...)``
        loads non-strictly, so a checkpoint of another architecture would pass with a warning."""
        from timm.models import load_state_dict

        sid = self.spec.id
        if not os.path.isfile(path):
            raise FileNotFoundError(f"model {sid!r}: checkpoint file {path!r} does not exist")
        try:
            sd = load_state_dict(path)
        except Exception as e:  # unreadable / not a state dict: say which file
            raise ValueError(f"model {sid!r}: cannot read checkpoint {path!r}: {e}") from e
        own = model.state_dict()
        heads = model.pretrained_cfg.get("classifier") or ()
        heads = (heads,) if isinstance(heads, str) else tuple(heads)
        sd = {k: v for k, v in sd.items() if k in own or not k.startswith(tuple(h + "." for h in heads))}
        missing = sorted(set(own) - set(sd))
        unexpected = sorted(set(sd) - set(own))
        wrong = sorted(k for k in set(own) & set(sd) if tuple(own[k].shape) != tuple(sd[k].shape))
        if missing or unexpected or wrong:
            raise ValueError(
                f"model {sid!r}: checkpoint {path!r} does not fit timm architecture {self.spec.arch!r}: "
                f"{len(missing)} missing keys {missing[:3]}, {len(unexpected)} unexpected keys "
                f"{unexpected[:3]}, {len(wrong)} keys of the wrong shape {wrong[:3]}"
            )
        model.load_state_dict(sd, strict=True)

    def encode_images(self, images: np.ndarray) -> torch.Tensor:
        """Encode frames, preprocessed with the model's timm data config.

        Parameters
        ----------
        images : ndarray of uint8, shape (n, H, W, 3)
            RGB frames.

        Returns
        -------
        torch.Tensor, shape (n, model.num_features)
            The pooled features before the classifier (``num_classes=0``).
        """
        return self.model(preprocess_images(images, device=self.device, **self._pre))
