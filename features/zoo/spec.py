"""Model specification: one encoder of the model zoo, as declared in ``params.yaml``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ModelSpec", "INPUTS", "TRAINED_ON", "INITS", "TOWERS", "POOLINGS"]

#: What an encoder reads for each event.
INPUTS = ("image", "text", "image+text")
#: What an encoder was trained on (decides which comparisons it enters).
TRAINED_ON = ("vision", "language", "multimodal")
#: ``trained`` = the published weights, ``random`` = same architecture, seeded fresh init.
INITS = ("trained", "random")
#: The tower of a multimodal model that a one-modality encoder runs.
TOWERS = ("image", "text")
#: Token pooling for token-sequence outputs (``None`` = the family's default).
POOLINGS = ("cls", "mean")


def _check_choice(model_id: str, name: str, value: Any, allowed: tuple, optional: bool = False):
    if value is None and optional:
        return
    if value not in allowed:
        raise ValueError(
            f"model {model_id!r}: field {name!r} is {value!r}; expected one of "
            f"{', '.join(map(repr, allowed))}" + (" or null" if optional else "")
        )


@dataclass(frozen=True)
class ModelSpec:
    """One encoder of the model zoo.

    Parameters
    ----------
    id : str
        Unique name, e.g. ``"slip-combo-vision"`` or ``"minilm-random"``; names the
        feature directory ``work/features/<id>/``.
    family : str
        Registry key of the code that builds it: ``open_clip``, ``slip``, ``timm``,
        ``hf_text``, ``sentence_transformers``, ``hf_multimodal`` or ``precomputed``.
    input : str
        What the encoder reads for each event: ``"image"``, ``"text"`` or ``"image+text"``.
    trained_on : str
        ``"vision"``, ``"language"`` or ``"multimodal"``.
    init : str
        ``"trained"`` (published weights) or ``"random"`` (same architecture, fresh
        initialisation drawn after ``torch.manual_seed(seed)``).
    seed : int
        Seed of the random initialisation (used when ``init == "random"``).
    arch : str or None
        open_clip / timm / SLIP architecture name.
    name : str or None
        Hugging Face / sentence-transformers model name or local directory.
    weights : str or None
        Local checkpoint path, open_clip pretrained tag, or None (library default).
    tower : str or None
        For a multimodal model run on one modality: ``"image"`` or ``"text"``
        (None = derived from ``input``).
    layer : str or None
        Module name (as in ``model.named_modules()``) whose output is taken with a forward
        hook and flattened per event; None = the final pooled output.
    pooling : str or None
        ``"cls"`` or ``"mean"`` for token outputs; None = the family's default.
    max_length : int or None
        Longest token sequence fed to a text model (longer texts are truncated and
        counted in a log warning); None = the model's own limit.
    config : dict
        Architecture overrides (small random configs in tests).
    path : str or None
        ``precomputed``: directory of ``<movie>_<alignment>.parquet`` files.
    random_twin : str or None
        Id of this model's declared random twin.
    trust_remote_code : bool
        Passed to Hugging Face loaders.
    """

    id: str
    family: str
    input: str
    trained_on: str
    init: str = "trained"
    seed: int = 0
    arch: str | None = None
    name: str | None = None
    weights: str | None = None
    tower: str | None = None
    layer: str | None = None
    pooling: str | None = None
    max_length: int | None = None
    config: dict = field(default_factory=dict)
    path: str | None = None
    random_twin: str | None = None
    trust_remote_code: bool = False

    def __post_init__(self):
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"model spec has an empty or non-string id: {self.id!r}")
        if not isinstance(self.family, str) or not self.family:
            raise ValueError(f"model {self.id!r}: field 'family' must be a non-empty string")
        _check_choice(self.id, "input", self.input, INPUTS)
        _check_choice(self.id, "trained_on", self.trained_on, TRAINED_ON)
        _check_choice(self.id, "init", self.init, INITS)
        _check_choice(self.id, "tower", self.tower, TOWERS, optional=True)
        _check_choice(self.id, "pooling", self.pooling, POOLINGS, optional=True)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"model {self.id!r}: field 'seed' must be an integer, got {self.seed!r}")
        if self.max_length is not None and (
            isinstance(self.max_length, bool) or not isinstance(self.max_length, int) or self.max_length < 1
        ):
            raise ValueError(
                f"model {self.id!r}: field 'max_length' must be a positive integer or null, "
                f"got {self.max_length!r}"
            )
        if not isinstance(self.config, Mapping):
            raise ValueError(f"model {self.id!r}: field 'config' must be a mapping, got {self.config!r}")
        if self.tower is not None and self.input != "image+text" and self.tower != self.input:
            raise ValueError(
                f"model {self.id!r}: tower {self.tower!r} does not match input {self.input!r}; "
                "a one-modality encoder runs the tower of its input (set tower to the input or omit it)"
            )

    def __hash__(self):
        # The generated hash would fail on the ``config`` dict; equal specs share these fields.
        return hash(
            (self.id, self.family, self.init, self.seed, self.arch, self.name, self.weights, self.layer)
        )

    @property
    def modality(self) -> str:
        """The tower that runs: ``tower`` if set, else ``input``."""
        return self.tower or self.input

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelSpec:
        """Build a spec from a mapping (one ``models:`` entry of ``params.yaml``).

        Unknown keys are an error listing the valid ones.
        """
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(
                f"model {d.get('id', '?')!r}: unknown field(s) {unknown}; valid fields are {names}"
            )
        missing = [n for n in ("id", "family", "input", "trained_on") if n not in d]
        if missing:
            raise ValueError(f"model {d.get('id', '?')!r}: missing required field(s) {missing}")
        return cls(**dict(d))

    def to_dict(self) -> dict:
        """Plain-dict form (for feature metadata JSON)."""
        return dataclasses.asdict(self)

    def replace(self, **changes) -> ModelSpec:
        """A copy with some fields changed (e.g. the random twin of a trained spec)."""
        return dataclasses.replace(self, **changes)
