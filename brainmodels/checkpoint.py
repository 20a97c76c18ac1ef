"""BrainBERT checkpoints in the official layout, read without unpickling arbitrary objects.

**The layout.** Upstream's ``runner.py`` (``save_checkpoints``) writes, with ``torch.save``,
``{"model": state_dict, "optim": optimizer.state_dict(), "scheduler": None, "model_cfg":
cfg.model}``: the released ``stft_large_pretrained.pth`` and ``superlet_large_pretrained.pth``
have it. ``model_cfg`` is the ``model`` node of the Hydra run's OmegaConf ``DictConfig``
(``conf/model/masked_tf_model_large.yaml``: ``name, hidden_dim, layer_dim_feedforward,
layer_activation, nhead, encoder_num_layers, input_dim``). Pickling a node pickles its parent,
so the file also holds the run's whole config (``exp``, ``data``, ``task``, ``preprocessor``
...), including the ``preprocessor`` the model was trained on, and the root's resolver cache
(Hydra's ``${now:...}`` output directory: a ``collections.defaultdict`` with items).
(``scheduler`` is None in upstream's files: ``BaseScheduler.get_state_dict`` returns nothing.)

**Reading safely.** Unpickling calls whatever functions and classes the file names, so a
``.pth`` file can run code. :func:`read_checkpoint` unpickles with a ``pickle.Unpickler``
whose ``find_class`` resolves only the (module, name) pairs of :data:`CHECKPOINT_GLOBALS`:
torch's tensor rebuilders and ``OrderedDict``, and the classes a pickled OmegaConf config is
made of (``DictConfig``, ``ListConfig``, their ``ContainerMetadata`` / ``Metadata``, the value
nodes, and the types and containers these record: ``typing.Any``, ``dict``, ``list``, ``int``
and ``collections.defaultdict``). Any other global
stops the unpickling before it is resolved, let alone called, and the error names it and the
file. ``torch.load(weights_only=True)`` with ``safe_globals`` would be the simpler route, but
torch's weights-only unpickler cannot fill a ``defaultdict`` (``Can only SETITEM for dict,
collections.OrderedDict, collections.Counter``), so it refuses every config pickled from a Hydra
run; hence ``torch.load(..., weights_only=False, pickle_module=<the restricted unpickler>)``,
where torch only supplies the tensor storages (``persistent_load``).

**Loading strictly.** The config is mapped to :class:`~mmsites.brainmodels.brainbert.
BrainBERTConfig`, checked against the weights' shapes (width, input bins, number of layers,
feed-forward width, positional table length), and the state dict is loaded with every key
required: missing, unexpected and mis-shaped keys are all listed in one error.

PopT's checkpoints (:mod:`.popt`) have the same layout and are read by the same
:func:`read_checkpoint` (``kind="PopT"`` only changes the messages); their config mapping lives
in :mod:`.popt`, their strict loading and writing are this module's (one writer for both
models, told each model's classes and config mapping).

**Writing.** :func:`save_checkpoint` writes the same layout (``model_cfg`` an OmegaConf
``DictConfig`` with upstream's key names, as the ``model`` node of a root that also records
``preprocessor.name``), so upstream's ``SpecPretrained`` and ``notebooks/demo.ipynb`` can load
our files, and ours loads theirs.
"""

from __future__ import annotations

import _compat_pickle
import importlib
import os
import pickle
import tempfile
import types
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import torch

from .brainbert import PREPROCESSORS, BrainBERT, BrainBERTConfig

__all__ = [
    "CHECKPOINT_GLOBALS",
    "OFFICIAL_MODEL_NAMES",
    "read_checkpoint",
    "config_from_official",
    "official_config",
    "load_state_dict_strict",
    "load_checkpoint",
    "save_checkpoint",
]

#: The only globals a checkpoint may name, as (module, name): what ``torch.save`` writes for a
#: state dict and an optimizer state (storages are resolved by ``torch.load`` itself), and what
#: a pickled OmegaConf config (omegaconf 2.1 to 2.3, with or without its Hydra parent) needs.
CHECKPOINT_GLOBALS: tuple[tuple[str, str], ...] = (
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("collections", "OrderedDict"),
    ("collections", "defaultdict"),
    ("builtins", "dict"),
    ("builtins", "list"),
    ("builtins", "int"),
    ("typing", "Any"),
    ("omegaconf.dictconfig", "DictConfig"),
    ("omegaconf.listconfig", "ListConfig"),
    ("omegaconf.base", "ContainerMetadata"),
    ("omegaconf.base", "Metadata"),
    ("omegaconf.nodes", "AnyNode"),
    ("omegaconf.nodes", "StringNode"),
    ("omegaconf.nodes", "IntegerNode"),
    ("omegaconf.nodes", "FloatNode"),
    ("omegaconf.nodes", "BooleanNode"),
)
_ALLOWED = frozenset(CHECKPOINT_GLOBALS)

#: ``model_cfg.name`` of a BrainBERT upstream (``debug_model`` is renamed to it upstream).
OFFICIAL_MODEL_NAMES = ("masked_tf_model", "debug_model")

# upstream model_cfg key -> BrainBERTConfig field
_OFFICIAL_KEYS = {
    "hidden_dim": "hidden_dim",
    "layer_dim_feedforward": "ffn_dim",
    "layer_activation": "activation",
    "nhead": "num_heads",
    "encoder_num_layers": "num_layers",
    "input_dim": "input_dim",
}
# fixed in upstream's code (not in its config); written to model_cfg only when they differ
_FIXED_UPSTREAM = {"dropout": 0.1, "max_len": 5000}
_LISTED = 20  # keys listed per kind in a mismatch error


class _RefusedGlobal(pickle.UnpicklingError):
    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.qualified = f"{module}.{name}"


class _RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only :data:`CHECKPOINT_GLOBALS`."""

    def find_class(self, module: str, name: str) -> Any:
        # protocol-2 pickles (torch.save's) use Python 2 names, e.g. ``__builtin__ long`` for
        # ``int``; map them as the default find_class does, then check the Python 3 name
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        if (module, name) not in _ALLOWED:
            raise _RefusedGlobal(module, name)
        return getattr(importlib.import_module(module), name)


def _restricted_load(file, **kwargs) -> Any:
    return _RestrictedUnpickler(file, **kwargs).load()


# what torch.load calls as its pickle module: Unpickler (zip files) and load (legacy files)
_PICKLE_MODULE = types.ModuleType("mmsites_brainmodels_restricted_pickle")
_PICKLE_MODULE.Unpickler = _RestrictedUnpickler
_PICKLE_MODULE.load = _restricted_load


def read_checkpoint(path: str | PathLike, kind: str = "BrainBERT") -> dict:
    """Read a ``.pth`` file, unpickling only the globals of :data:`CHECKPOINT_GLOBALS`.

    Parameters
    ----------
    path : str or PathLike
        A file written by ``torch.save`` (zip or legacy format).
    kind : str
        The model the file is meant to hold, as the error messages name it (``"BrainBERT"``,
        ``"PopT"``); the reading is the same.

    Returns
    -------
    dict
        The saved dictionary, tensors on the CPU (``model_cfg`` an OmegaConf ``DictConfig``
        for upstream's files).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file names a global outside the allow-list (the error names it; nothing of
        the file's choosing was called), is not a torch checkpoint, or does not hold a dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{kind} checkpoint {path} does not exist")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_PICKLE_MODULE)
    except _RefusedGlobal as e:
        allowed = ", ".join(f"{m}.{n}" for m, n in CHECKPOINT_GLOBALS)
        raise ValueError(
            f"{kind} checkpoint {path} was refused: it pickles the global {e.qualified!r}, which "
            f"is not on the allow-list ({allowed}). Unpickling it could run code of the file's "
            "choosing; it was neither imported nor called. If you trust the file, re-save its "
            "weights and config alone (save_checkpoint)."
        ) from None
    except ModuleNotFoundError as e:  # an allowed global whose package is missing (omegaconf)
        raise ValueError(
            f"{kind} checkpoint {path} needs the package {e.name!r} to read its config: "
            f"install it (pip install {e.name})"
        ) from None
    except Exception as e:  # truncated, another format, ...
        message = str(e).strip().splitlines()
        raise ValueError(
            f"{kind} checkpoint {path} is not a readable torch checkpoint "
            f"({type(e).__name__}: {message[0][:300] if message else ''})"
        ) from None
    if not isinstance(loaded, dict):
        raise ValueError(
            f"{kind} checkpoint {path} holds a {type(loaded).__name__}, not the dictionary "
            "{'model': state_dict, 'optim': ..., 'scheduler': ..., 'model_cfg': ...}"
        )
    return loaded


def _plain(config: Any) -> Any:
    """An OmegaConf container as plain dicts and lists (interpolations left unresolved)."""
    if hasattr(config, "_get_root") and hasattr(config, "_metadata"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(config, resolve=False)
    return config


def config_from_official(model_cfg: Any) -> BrainBERTConfig:
    """Map upstream's model config (``conf/model/masked_tf_model*.yaml`` keys) to ours.

    Parameters
    ----------
    model_cfg : omegaconf.DictConfig or Mapping
        ``name`` (``masked_tf_model``), ``hidden_dim``, ``layer_dim_feedforward``,
        ``layer_activation``, ``nhead``, ``encoder_num_layers``, ``input_dim``; other keys are
        ignored, except ``dropout`` and ``max_len`` (written by :func:`official_config` when
        they differ from upstream's fixed 0.1 and 5000).

    Returns
    -------
    BrainBERTConfig
        The sizes.

    Raises
    ------
    ValueError
        If it is not a mapping, names another model, lacks a key or holds an invalid value
        (e.g. an unresolved interpolation).
    """
    cfg = _plain(model_cfg)
    if not isinstance(cfg, Mapping):
        raise ValueError(
            f"model_cfg must be a mapping of upstream's model config, got {type(model_cfg).__name__}"
        )
    name = cfg.get("name")
    if name not in OFFICIAL_MODEL_NAMES:
        raise ValueError(
            f"model_cfg.name is {name!r}: not a BrainBERT upstream ({OFFICIAL_MODEL_NAMES[0]!r}); "
            "only the pretrained transformer is supported"
        )
    missing = [key for key in _OFFICIAL_KEYS if key not in cfg]
    if missing:
        raise ValueError(f"model_cfg lacks {missing} (upstream conf/model/masked_tf_model*.yaml keys)")
    fields = {field: cfg[key] for key, field in _OFFICIAL_KEYS.items()}
    fields.update({key: cfg[key] for key in _FIXED_UPSTREAM if key in cfg})
    try:
        return BrainBERTConfig(**fields)
    except (TypeError, ValueError) as e:
        official = {field: key for key, field in _OFFICIAL_KEYS.items()}
        raise ValueError(
            f"model_cfg {dict((official.get(k, k), v) for k, v in fields.items())} is invalid: {e}"
        ) from None


def official_config(config: BrainBERTConfig) -> dict:
    """Our config as upstream's ``model_cfg`` (the keys its ``build_model`` reads).

    Parameters
    ----------
    config : BrainBERTConfig
        The sizes.

    Returns
    -------
    dict
        ``name, hidden_dim, layer_dim_feedforward, layer_activation, nhead,
        encoder_num_layers, input_dim``; plus ``dropout`` / ``max_len`` only when they differ
        from upstream's fixed values (upstream ignores them; with another ``max_len`` its
        code cannot load the weights).
    """
    out = {"name": OFFICIAL_MODEL_NAMES[0]}
    out.update({key: getattr(config, field) for key, field in _OFFICIAL_KEYS.items()})
    out.update(
        {key: getattr(config, key) for key, value in _FIXED_UPSTREAM.items() if getattr(config, key) != value}
    )
    return out


def _recorded_preprocessor(model_cfg: Any) -> str | None:
    """The ``preprocessor`` of the run that saved ``model_cfg`` (its OmegaConf root), if any."""
    if not hasattr(model_cfg, "_get_root"):
        return None
    root = _plain(model_cfg._get_root())
    pre = root.get("preprocessor") if isinstance(root, Mapping) else None
    if not isinstance(pre, Mapping):
        return None
    name = pre.get("spec_name") if pre.get("name") == "spec_pretrained" else pre.get("name")
    return name if name in PREPROCESSORS else None


def _preprocessor_from_name(path: Path) -> str | None:
    found = [name for name in PREPROCESSORS if name in path.name.lower()]
    return found[0] if len(found) == 1 else None


def _shape(value: Any) -> str:
    return str(tuple(value.shape)) if isinstance(value, torch.Tensor) else type(value).__name__


def _check_config_against_weights(config: BrainBERTConfig, state: Mapping, source: str) -> None:
    """Refuse a config whose sizes disagree with the weights' shapes (before the key check)."""
    found = []  # (our field, upstream key, config value, weights value, evidence)
    w = state.get("input_encoding.in_proj.weight")
    if isinstance(w, torch.Tensor) and w.ndim == 2:
        found.append(
            ("hidden_dim", "hidden_dim", config.hidden_dim, w.shape[0], "input_encoding.in_proj.weight")
        )
        found.append(
            ("input_dim", "input_dim", config.input_dim, w.shape[1], "input_encoding.in_proj.weight")
        )
    layers = {
        int(k.split(".")[2])
        for k in state
        if k.startswith("transformer.layers.") and k.split(".")[2].isdigit()
    }
    if layers:
        found.append(
            ("num_layers", "encoder_num_layers", config.num_layers, max(layers) + 1, "transformer.layers.N")
        )
    w = state.get("transformer.layers.0.linear1.weight")
    if isinstance(w, torch.Tensor) and w.ndim == 2:
        found.append(
            (
                "ffn_dim",
                "layer_dim_feedforward",
                config.ffn_dim,
                w.shape[0],
                "transformer.layers.0.linear1.weight",
            )
        )
    pe = state.get("input_encoding.positional_encoding.pe")
    if isinstance(pe, torch.Tensor) and pe.ndim == 3:
        found.append(
            ("max_len", "max_len", config.max_len, pe.shape[1], "input_encoding.positional_encoding.pe")
        )
    wrong = [
        f"model_cfg.{key} = {ours} but the weights have {theirs} ({evidence} {_shape(state[evidence])})"
        if evidence in state
        else f"model_cfg.{key} = {ours} but the weights have {theirs} ({evidence})"
        for _, key, ours, theirs, evidence in found
        if ours != theirs
    ]
    if wrong:
        raise ValueError(
            f"BrainBERT checkpoint {source}: its config disagrees with its weights: " + "; ".join(wrong)
        )


def _mismatches(expected: Mapping[str, torch.Tensor], state: Mapping) -> str:
    """Missing, unexpected and mis-shaped keys (with both shapes), or '' when none."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = [
        f"{key} {_shape(state[key])} (model {tuple(expected[key].shape)})"
        for key in expected
        if key in state
        and (
            not isinstance(state[key], torch.Tensor)
            or not state[key].is_floating_point()
            or state[key].shape != expected[key].shape
        )
    ]

    def listed(kind: str, keys: list[str]) -> str:
        more = f" ... and {len(keys) - _LISTED} more" if len(keys) > _LISTED else ""
        return f"{len(keys)} {kind}: {', '.join(keys[:_LISTED])}{more}"

    kinds = (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
    return "; ".join(listed(kind, keys) for kind, keys in kinds if keys)


def load_state_dict_strict(model: BrainBERT, state: Mapping, source: str = "the state dict") -> BrainBERT:
    """Load every parameter and buffer of ``model`` from ``state``, or explain what differs.

    Parameters
    ----------
    model : BrainBERT
        The architecture to fill.
    state : Mapping of str to torch.Tensor
        The weights under upstream's names.
    source : str
        What ``state`` came from (a path), for the error message.

    Returns
    -------
    BrainBERT
        ``model``, every parameter and buffer replaced (cast to its dtype).

    Raises
    ------
    ValueError
        Listing every missing key, every unexpected key and every key whose value is not a
        floating-point tensor of the model's shape (with both shapes).
    """
    return _BRAINBERT.load_strict(model, state, source)


def load_checkpoint(path: str | PathLike, preprocessor: str | None = None) -> BrainBERT:
    """Build the model a checkpoint describes and load its weights strictly.

    Parameters
    ----------
    path : str or PathLike
        A file in upstream's layout (:func:`read_checkpoint` reads it safely).
    preprocessor : {"stft", "superlet"} or None
        The spectrogram recipe; None: the one recorded in the checkpoint's config (its run's
        ``preprocessor``), else the one its file name names (``stft_large_pretrained.pth``),
        else none (the model then takes spectrograms only).

    Returns
    -------
    BrainBERT
        The model, in eval mode on the CPU.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is refused (:func:`read_checkpoint`), lacks ``model`` or ``model_cfg``,
        its config is not BrainBERT's or disagrees with its weights, the weights do not match
        the architecture (:func:`load_state_dict_strict`), or ``preprocessor`` contradicts the
        recorded one.
    """
    path = Path(path)
    checkpoint = read_checkpoint(path)
    missing = [key for key in ("model", "model_cfg") if key not in checkpoint]
    if missing:
        raise ValueError(
            f"BrainBERT checkpoint {path} lacks {missing}: expected upstream's layout "
            f"{{'model', 'optim', 'scheduler', 'model_cfg'}}, found {sorted(map(str, checkpoint))}"
        )
    try:
        config = config_from_official(checkpoint["model_cfg"])
    except ValueError as e:
        raise ValueError(f"BrainBERT checkpoint {path}: {e}") from None
    state = checkpoint["model"]
    if not isinstance(state, Mapping):
        raise ValueError(
            f"BrainBERT checkpoint {path}: 'model' must be a state dict, got {type(state).__name__}"
        )
    _check_config_against_weights(config, state, str(path))
    recorded = _recorded_preprocessor(checkpoint["model_cfg"])
    if preprocessor is not None and recorded is not None and preprocessor != recorded:
        raise ValueError(
            f"BrainBERT checkpoint {path} was trained on {recorded!r} spectrograms, not {preprocessor!r}: "
            "omit preprocessor= or give the recorded one"
        )
    chosen = preprocessor or recorded or _preprocessor_from_name(path)
    model = BrainBERT(config, seed=0, preprocessor=chosen)
    load_state_dict_strict(model, state, str(path))
    return model.eval()


def save_checkpoint(
    model: BrainBERT | Mapping,
    path: str | PathLike,
    config: BrainBERTConfig | None = None,
    optim_state: Mapping | None = None,
    scheduler_state: Any = None,
    preprocessor: str | None = None,
) -> Path:
    """Write a checkpoint in upstream's layout (atomically: a partial file is never left).

    Parameters
    ----------
    model : BrainBERT or Mapping of str to torch.Tensor
        The model, or its state dict under upstream's names.
    path : str or PathLike
        The ``.pth`` file to write.
    config : BrainBERTConfig or None
        The sizes; required with a state dict; with a model, None or equal to
        ``model.config``.
    optim_state : Mapping or None
        An optimizer's ``state_dict()`` (upstream's ``optim``; tensors, numbers and plain
        containers only, so that :func:`read_checkpoint` can read it back).
    scheduler_state : object
        Upstream's ``scheduler`` entry (None in upstream's files), plain data only.
    preprocessor : {"stft", "superlet"} or None
        The spectrogram recipe to record; None: ``model.preprocessor`` (for a model).

    Returns
    -------
    pathlib.Path
        The file written: ``{"model": state_dict, "optim": optim_state, "scheduler":
        scheduler_state, "model_cfg": DictConfig}``, ``model_cfg`` the ``model`` node of
        ``{"model": official_config(config), "preprocessor": {"name": preprocessor}}``.

    Raises
    ------
    ValueError
        If ``config`` is missing or contradicts the model, the state dict does not match the
        config, or the preprocessor is unknown.
    """
    if isinstance(model, BrainBERT) and preprocessor is None:
        preprocessor = model.preprocessor
    if preprocessor is not None and preprocessor not in PREPROCESSORS:
        raise ValueError(f"preprocessor must be one of {sorted(PREPROCESSORS)} or None, got {preprocessor!r}")
    recorded = {} if preprocessor is None else {"preprocessor": {"name": preprocessor}}
    return _BRAINBERT.save(model, path, config, optim_state, scheduler_state, recorded)


def _atomic_save(payload: dict, path: str | PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@dataclass(frozen=True)
class _ModelLayout:
    """One model's official-layout checkpoints: the reading, strict loading and writing both
    models share, told the model's own classes, config mapping and messages."""

    kind: str  # the model's name in messages ("BrainBERT", "PopT")
    model_class: type
    config_class: type
    to_official: Callable[[Any], dict]  # config -> upstream's model_cfg
    from_official: Callable[[Any], Any]  # upstream's model_cfg -> config
    check_config: Callable[[Any, Mapping, str], None]  # config vs the weights' shapes
    describe: Callable[[Any], str]  # the architecture, for a mismatch message

    def load_strict(self, model: Any, state: Any, source: str) -> Any:
        """Load every parameter and buffer of ``model`` from ``state``, or list what differs."""
        if not isinstance(state, Mapping):
            raise ValueError(
                f"{self.kind} weights in {source} must be a mapping of names to tensors, "
                f"got {type(state).__name__}"
            )
        problems = _mismatches(model.state_dict(), state)
        if problems:
            raise ValueError(
                f"{self.kind} weights in {source} do not match the architecture "
                f"({self.describe(model.config)}): {problems}"
            )
        model.load_state_dict(dict(state), strict=True)
        return model

    def save(
        self,
        model: Any,
        path: str | PathLike,
        config: Any = None,
        optim_state: Mapping | None = None,
        scheduler_state: Any = None,
        recorded: Mapping | None = None,
    ) -> Path:
        """Write ``{"model", "optim", "scheduler", "model_cfg"}`` atomically; ``model_cfg`` is the
        ``model`` node of ``{"model": to_official(config), **recorded}``."""
        from omegaconf import OmegaConf

        name = self.model_class.__name__
        if isinstance(model, self.model_class):
            if config is not None and config != model.config:
                raise ValueError(f"config {config} differs from the model's {model.config}")
            config, state = model.config, model.state_dict()
        else:
            if not isinstance(config, self.config_class):
                raise ValueError(f"saving a state dict needs its {self.config_class.__name__} (config=...)")
            state = model
            if not isinstance(state, Mapping):
                raise ValueError(f"model must be a {name} or a state dict, got {type(state).__name__}")
            self.check_config(config, state, "the state dict to save")
            with torch.device("meta"):  # the expected names and shapes, without allocating weights
                expected = self.model_class(config).state_dict()
            problems = _mismatches(expected, state)
            if problems:
                raise ValueError(f"the state dict to save does not match {config}: {problems}")
        weights = OrderedDict((key, value.detach().to("cpu").clone()) for key, value in state.items())
        payload = {
            "model": weights,
            "optim": None if optim_state is None else dict(optim_state),
            "scheduler": scheduler_state,
            "model_cfg": OmegaConf.create({"model": self.to_official(config), **(recorded or {})}).model,
        }
        return _atomic_save(payload, path)


_BRAINBERT = _ModelLayout(
    kind="BrainBERT",
    model_class=BrainBERT,
    config_class=BrainBERTConfig,
    to_official=official_config,
    from_official=config_from_official,
    check_config=_check_config_against_weights,
    describe=lambda c: f"{c.num_layers} layers, width {c.hidden_dim}",
)
