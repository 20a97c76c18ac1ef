"""Hugging Face ``transformers`` text encoders (BERT, SimCSE, ...).

``spec.name`` is a hub name or a local directory (``package:<dist>`` for a pip package that
ships one, see :func:`features.zoo.weights.resolve_model_name`). The output is the last hidden
state pooled per text: ``pooling="cls"`` (default; the [CLS] token's hidden state, before
BERT's pooler MLP; for SimCSE's ``pooler_output`` use ``layer="pooler"``) or ``"mean"``
(average over real tokens, weighted by the attention mask). Shape (n, hidden_size).

Random twin: ``AutoModel.from_config(config)`` right after ``torch.manual_seed(spec.seed)``,
so the architecture (and the tokenizer) are the trained model's and only the weights are
fresh. ``spec.config`` overrides fields of the model's config (e.g. a tiny BERT for tests).
"""

from __future__ import annotations

import logging

import torch

from . import register_family
from .base import Extractor
from .weights import hf_from_pretrained, resolve_model_name, seeded

logger = logging.getLogger(__name__)

__all__ = ["HFTextExtractor", "pool_tokens", "text_limit"]

#: transformers' placeholder for "no limit" is a huge int; cap it at a sane length.
_NO_LIMIT = 10**6


def pool_tokens(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pool token states to one vector per text.

    Parameters
    ----------
    hidden : torch.Tensor, shape (n, length, d)
        Token states (e.g. a last hidden state).
    attention_mask : torch.Tensor of 0/1, shape (n, length)
        1 for real tokens, 0 for padding.
    pooling : {"cls", "mean"}
        ``"cls"``: the first token; ``"mean"``: mask-weighted mean over tokens.

    Returns
    -------
    torch.Tensor, shape (n, d)
        One vector per text, in ``hidden``'s dtype.

    Raises
    ------
    ValueError
        When ``pooling`` is not one of the two.
    """
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "mean":
        m = attention_mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    raise ValueError(f"pooling {pooling!r} is not one of ['cls', 'mean']")


def text_limit(spec, tokenizer, model_config) -> int:
    """Longest token sequence to feed: ``spec.max_length`` capped by what the model takes.

    Parameters
    ----------
    spec : ModelSpec
        The model; its ``max_length`` (None = no limit of its own).
    tokenizer : transformers.PreTrainedTokenizerBase
        Its ``model_max_length`` is a limit (transformers' huge "no limit" value ignored).
    model_config : transformers.PretrainedConfig
        Its ``max_position_embeddings`` is a limit.

    Returns
    -------
    int
        Tokens per text, special tokens included: the smallest of the limits found
        (512 when neither the tokenizer nor the config gives one).
    """
    limits = [
        getattr(tokenizer, "model_max_length", None),
        getattr(model_config, "max_position_embeddings", None),
    ]
    limits = [int(x) for x in limits if x is not None and 0 < x < _NO_LIMIT]
    model_limit = min(limits) if limits else 512
    return min(spec.max_length, model_limit) if spec.max_length else model_limit


@register_family("hf_text")
class HFTextExtractor(Extractor):
    """A transformers ``AutoModel`` text encoder with cls or mean pooling.

    Parameters
    ----------
    spec : ModelSpec
        The model: ``name`` (a hub name, local directory or ``package:<dist>``), ``config``
        (overrides of the model config), ``pooling`` (``cls``, the default, or ``mean``).
    device : str
        Torch device the network is moved to, e.g. ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    ValueError
        When ``name`` is missing or the weights cannot be loaded.
    FileNotFoundError
        When the tokenizer or config of ``name`` cannot be found.
    """

    supported_inputs = ("text",)

    def __init__(self, spec, device="cpu"):
        super().__init__(spec, device)
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        sid = spec.id
        if not spec.name:
            raise ValueError(
                f"model {sid!r}: family 'hf_text' needs 'name' (a Hugging Face model name or directory)"
            )
        src = resolve_model_name(spec.name)
        trc = spec.trust_remote_code
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(src, trust_remote_code=trc)
            config = AutoConfig.from_pretrained(src, trust_remote_code=trc, **dict(spec.config))
        except OSError as e:
            raise FileNotFoundError(
                f"model {sid!r}: cannot load tokenizer/config of {spec.name!r} ({src}); give a local "
                f"directory or a hub name available offline: {str(e).splitlines()[0][:300]}"
            ) from e
        if spec.init == "trained":
            model = hf_from_pretrained(AutoModel, spec, src, config)
        else:
            with seeded(spec.seed):
                model = AutoModel.from_config(config, trust_remote_code=trc)
        self.model = model.to(self.device).eval()
        self.pooling = spec.pooling or "cls"
        self.max_length = text_limit(spec, self.tokenizer, config)

    def _n_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, truncation=False)["input_ids"])

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Encode texts: the last hidden state pooled per text.

        Texts over ``max_length`` tokens are truncated and counted.

        Parameters
        ----------
        texts : list of str, length n
            The texts.

        Returns
        -------
        torch.Tensor, shape (n, hidden_size)
            The [CLS] token's state (``pooling="cls"``) or the mask-weighted mean of the
            tokens' states (``"mean"``).
        """
        # A hooked layer is flattened per text, so every batch must have the same length.
        padding = "max_length" if self.spec.layer else True
        enc = self.tokenizer(
            texts, padding=padding, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        self.count_truncated(enc["attention_mask"], texts, self.max_length, self._n_tokens)
        out = self.model(**enc)
        return pool_tokens(out.last_hidden_state, enc["attention_mask"], self.pooling)
