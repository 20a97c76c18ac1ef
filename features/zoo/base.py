"""The extractor base class: events in, one feature row per event out.

Families subclass :class:`Extractor` and implement only the ``encode_*`` methods they
support; :meth:`Extractor.extract` is written once here. It de-duplicates the stimuli (each
unique frame / text / (frame, text) pair is encoded once), batches them under
``torch.inference_mode`` (with bf16 autocast on CUDA), takes ``spec.layer`` with a forward
hook, checks the result is finite and scatters it back to one row per event.
"""

from __future__ import annotations

import abc
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from mmsites.layers import is_layer

from .spec import ModelSpec

__all__ = ["Extractor", "LayerSweep", "layer_names"]

logger = logging.getLogger(__name__)


def layer_names(model: torch.nn.Module, limit: int | None = 12) -> list[str]:
    """Names of ``model``'s sub-modules (``named_modules``), the valid ``spec.layer`` values.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    limit : int or None
        At most this many names, spread over the whole model (first, last and evenly
        spaced), for error messages; None = every name.

    Returns
    -------
    list of str
        Dotted sub-module names in ``named_modules`` order (the root's empty name left out).
    """
    names = [n for n, _ in model.named_modules() if n]
    if limit is None or len(names) <= limit:
        return names
    idx = np.unique(np.linspace(0, len(names) - 1, limit).round().astype(int))
    return [names[i] for i in idx]


def _first_tensor(out):
    """The first tensor in a module's output (tensor, tuple/list, dict or ModelOutput)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        for o in out:
            t = _first_tensor(o)
            if t is not None:
                return t
    return None


def _batch_first(t: torch.Tensor, batch: int) -> torch.Tensor | None:
    """``t`` with the batch axis first (sequence-first modules give (T, n, d)); None if it has none."""
    if t.ndim >= 1 and t.shape[0] == batch:
        return t
    if t.ndim >= 2 and t.shape[1] == batch:
        return t.transpose(0, 1)
    return None


@dataclass
class LayerSweep:
    """The layers of one model's sweep and their features (:meth:`Extractor.extract_layers`).

    Attributes
    ----------
    layers : list of dict
        In the order they ran in the forward pass (shallow to deep): ``name`` (the module's
        name in ``model.named_modules()``), ``type`` (its class name), ``depth`` (its position
        among every layer of the hooked types that ran, scaled to [0, 1]) and ``width`` (its
        flattened output width before any reduction).
    features : dict of str to ndarray of float32, shape (n_events, n_features)
        Each layer's features, one row per event (after the ``reduce`` callable, if one was
        given).
    """

    layers: list = field(default_factory=list)
    features: dict = field(default_factory=dict)


class _SweepHooks:
    """Forward hooks that keep, per forward pass, the last output of each candidate layer."""

    def __init__(self, modules: list[tuple[str, torch.nn.Module]]):
        self.outputs: dict[str, torch.Tensor | None] = {}
        self.order: list[str] = []
        #: Once the layers are chosen, a function ``sink(name, output)`` called by each hook.
        self.sink = None
        self._named_handles = {name: m.register_forward_hook(self._hook(name)) for name, m in modules}

    def _hook(self, name: str):
        def hook(_mod, _inp, out):
            if name not in self.outputs:
                self.order.append(name)
            if self.sink is None:
                self.outputs[name] = _first_tensor(out)
            else:  # handed over at once: a module run twice keeps its last output
                self.outputs[name] = None
                self.sink(name, _first_tensor(out))

        return hook

    def clear(self) -> None:
        self.outputs, self.order = {}, []

    def keep_only(self, names: list[str]) -> None:
        """Remove the hooks of every other module (the outputs already recorded stay)."""
        keep = set(names)
        for name, handle in list(self._named_handles.items()):
            if name not in keep:
                handle.remove()
                del self._named_handles[name]

    def remove(self) -> None:
        for handle in self._named_handles.values():
            handle.remove()
        self._named_handles = {}


class Extractor(abc.ABC):  # noqa: B024 (abstract by convention: a family implements encode_images or encode_texts)
    """Turns events into features. Subclasses implement the ``encode_*`` they support.

    Parameters
    ----------
    spec : ModelSpec
        The model to build.
    device : str
        Torch device, e.g. ``"cpu"`` or ``"cuda"``.

    Attributes
    ----------
    spec : ModelSpec
        The model.
    input : str
        ``"image"``, ``"text"`` or ``"image+text"`` (from ``spec.input``).
    device : torch.device
        Where the network runs and the features are computed.
    model : torch.nn.Module or None
        The network (families set it); ``spec.layer`` names one of its sub-modules.
    supported_inputs : tuple of str
        Class attribute: the input kinds a family can read.
    family : str
        Class attribute set by :func:`~mmsites.features.zoo.register_family`: the registry key.

    Raises
    ------
    TypeError
        When ``spec`` is not a :class:`ModelSpec`.
    ValueError
        When the family cannot read ``spec.input``.
    """

    supported_inputs: tuple[str, ...] = ("image", "text", "image+text")

    def __init__(self, spec: ModelSpec, device: str = "cpu"):
        if not isinstance(spec, ModelSpec):
            raise TypeError(f"expected a ModelSpec, got {type(spec).__name__}")
        if spec.input not in self.supported_inputs:
            raise ValueError(
                f"model {spec.id!r}: family {spec.family!r} cannot read input {spec.input!r}; "
                f"valid inputs for this family: {list(self.supported_inputs)}"
            )
        self.spec = spec
        self.input = spec.input
        self.device = torch.device(device)
        self.model: torch.nn.Module | None = None
        self._n_truncated = 0
        self._truncation_limit: int | None = None
        self._token_mask: torch.Tensor | None = None

    def __repr__(self):
        return (
            f"{type(self).__name__}(id={self.spec.id!r}, input={self.input!r}, device={str(self.device)!r})"
        )

    # ------------------------------------------------------------------ family API
    def encode_images(self, images: np.ndarray) -> torch.Tensor:
        """Encode a batch of frames.

        Parameters
        ----------
        images : ndarray of uint8, shape (n, H, W, 3)
            RGB frames.

        Returns
        -------
        torch.Tensor, shape (n, d)
            One feature vector per frame (any float dtype; ``extract`` casts to float32).

        Raises
        ------
        ValueError
            In the base class: the family does not encode images.
        """
        raise ValueError(f"model {self.spec.id!r} ({type(self).__name__}) does not encode images")

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Encode a batch of texts.

        Parameters
        ----------
        texts : list of str, length n
            The texts (unique within a batch).

        Returns
        -------
        torch.Tensor, shape (n, d)
            One feature vector per text.

        Raises
        ------
        ValueError
            In the base class: the family does not encode texts.
        """
        raise ValueError(f"model {self.spec.id!r} ({type(self).__name__}) does not encode texts")

    def encode_pairs(self, images: np.ndarray, texts: list[str]) -> torch.Tensor:
        """Encode frames and texts jointly (one fused vector per pair).

        Parameters
        ----------
        images : ndarray of uint8, shape (n, H, W, 3)
            RGB frames; row ``i`` is shown with ``texts[i]``.
        texts : list of str, length n
            The texts of the pairs.

        Returns
        -------
        torch.Tensor, shape (n, d)
            One fused feature vector per (frame, text) pair.

        Raises
        ------
        ValueError
            In the base class: the family does not encode pairs.
        """
        raise ValueError(f"model {self.spec.id!r} ({type(self).__name__}) does not encode image+text pairs")

    # ------------------------------------------------------------------ helpers for families
    def note_truncated(self, n_truncated: int, limit: int) -> None:
        """Count texts that a family truncated to ``limit`` tokens (logged once per extract).

        Parameters
        ----------
        n_truncated : int
            How many texts of the batch were cut.
        limit : int
            The token limit they were cut to (named in the warning).
        """
        self._n_truncated += int(n_truncated)
        self._truncation_limit = int(limit)

    def count_truncated(
        self, attention_mask: torch.Tensor, texts: Sequence[str], limit: int, length_of: Callable[[str], int]
    ) -> None:
        """Count the texts of a batch that did not fit in ``limit`` tokens.

        Only rows that fill all ``limit`` positions (``attention_mask`` sums to ``limit``) can
        have been truncated; those few are re-measured with ``length_of(text)`` (the untruncated
        token count, special tokens included), so the common case costs nothing. The mask is
        also kept as the batch's token mask: a layer sweep (:meth:`extract_layers`) averages a
        text layer's token states over the real tokens.

        Parameters
        ----------
        attention_mask : torch.Tensor of int, shape (n, length)
            The tokenizer's mask of the batch (1 = real token, 0 = padding).
        texts : sequence of str, length n
            The batch's texts, in the rows' order.
        limit : int
            The token limit the batch was truncated to.
        length_of : callable
            Untruncated token count of one text.
        """
        # Remembered for layer sweeps: a token sequence is pooled over the real tokens only.
        self._token_mask = torch.as_tensor(attention_mask)
        full = torch.as_tensor(attention_mask).sum(dim=1) >= limit
        n = sum(1 for i in torch.nonzero(full).flatten().tolist() if length_of(texts[i]) > limit)
        if n:
            self.note_truncated(n, limit)

    def _autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _hooked_module(self) -> torch.nn.Module | None:
        layer = self.spec.layer
        if layer is None:
            return None
        if self.model is None:
            raise ValueError(
                f"model {self.spec.id!r}: layer {layer!r} was requested but this family exposes no network"
            )
        try:
            return self.model.get_submodule(layer)
        except AttributeError:
            raise ValueError(
                f"model {self.spec.id!r}: layer {layer!r} is not a module of this network; "
                f"valid names include {layer_names(self.model)} (see model.named_modules())"
            ) from None

    # ------------------------------------------------------------------ the one extraction path
    def _sweep_candidates(self) -> tuple[list[tuple[str, torch.nn.Module]], list[str] | None]:
        """Every module of the hooked types (and every listed one): ``(candidates, listed)``."""
        if self.model is None:
            raise ValueError(
                f"model {self.spec.id!r}: a layer sweep (layers: {self.spec.layers!r}) was requested but "
                "this family exposes no network"
            )
        candidates = [(n, m) for n, m in self.model.named_modules() if n and is_layer(m)]
        listed = self.spec.layers if isinstance(self.spec.layers, list) else None
        for name in listed or []:
            try:
                module = self.model.get_submodule(name)
            except AttributeError:
                raise ValueError(
                    f"model {self.spec.id!r}: layers lists {name!r}, which is not a module of this "
                    f"network; valid names include {layer_names(self.model)} (see model.named_modules())"
                ) from None
            if all(n != name for n, _ in candidates):
                candidates.append((name, module))
        return candidates, listed

    def _resolve_sweep(self, hooks: _SweepHooks, batch: int, listed: list[str] | None) -> list[dict]:
        """The swept layers, from the modules that ran in the first forward pass."""
        ran = [
            name
            for name in hooks.order
            if hooks.outputs[name] is not None and _batch_first(hooks.outputs[name], batch) is not None
        ]
        depth = {name: (i / (len(ran) - 1) if len(ran) > 1 else 1.0) for i, name in enumerate(ran)}
        if listed is not None:
            missing = [name for name in listed if name not in depth]
            if missing:
                raise ValueError(
                    f"model {self.spec.id!r}: layers {missing} did not run in the {self.spec.modality} "
                    "forward pass (or gave no tensor with one row per item); pick modules of that tower"
                )
            chosen = [name for name in ran if name in listed]
        elif self.spec.layers == "all":
            chosen = ran
        else:
            k = int(str(self.spec.layers)[len("every_") :])
            chosen = ran[::k]
            if ran and chosen[-1] != ran[-1]:
                chosen.append(ran[-1])
        if not chosen:
            raise ValueError(
                f"model {self.spec.id!r}: no layer of the hooked types ran in the forward pass; "
                "list the layers by name (models[].layers)"
            )
        modules = dict(self.model.named_modules())
        return [{"name": n, "type": type(modules[n]).__name__, "depth": round(depth[n], 6)} for n in chosen]

    def _sweep_rows(self, t: torch.Tensor, batch: int, name: str) -> np.ndarray:
        """One swept layer's output for a batch, one flattened float32 row per item."""
        t = _batch_first(t, batch)
        if t is None:
            raise ValueError(
                f"model {self.spec.id!r}: layer {name!r} gave an output with no axis of the batch "
                f"size {batch}"
            )
        if "text" in self.input and t.ndim == 3:
            # Token sequences: padding makes their length depend on the batch, so the states are
            # averaged over the real tokens (the family's attention mask), which does not.
            # Without a mask of that length (fixed contexts, e.g. CLIP's 77 tokens), over all.
            mask = self._token_mask
            if mask is not None and tuple(mask.shape) == tuple(t.shape[:2]):
                w = mask.to(device=t.device, dtype=torch.float32)[..., None]
                t = (t.float() * w).sum(dim=1) / w.sum(dim=1).clamp_min(1.0)
            else:
                t = t.float().mean(dim=1)
        return t.reshape(batch, -1).float().cpu().numpy()

    def _run_batches(
        self,
        encode: Callable[[np.ndarray], torch.Tensor],
        n: int,
        batch_size: int,
        progress: bool,
        desc: str,
        sweep: LayerSweep | None = None,
        reduce: Callable | None = None,
    ) -> np.ndarray:
        """Run ``encode(indices)`` over ``range(n)`` in batches; float32 (n, d).

        With ``sweep``, the swept layers' outputs of the same forward passes are put in
        ``sweep`` (``reduce(name, width)`` may return a function applied to each batch's rows).
        """
        from tqdm.auto import tqdm

        module = self._hooked_module()
        captured: list = []

        def hook(_mod, _inp, out):
            captured.append(_first_tensor(out))

        handle = module.register_forward_hook(hook) if module is not None else None
        hooks = listed = None
        projectors: dict = {}
        if sweep is not None:
            candidates, listed = self._sweep_candidates()
            hooks = _SweepHooks(candidates)
        out = None
        try:
            bar = tqdm(total=n, desc=desc, unit="item", disable=None if progress else True, leave=False)
            with bar, torch.inference_mode(), self._autocast():
                for start in range(0, n, batch_size):
                    idx = np.arange(start, min(start + batch_size, n))
                    captured.clear()
                    if hooks is not None:
                        hooks.clear()
                        self._token_mask = None
                        if sweep.layers:
                            # Layers chosen: each output is stored as its module returns, so
                            # the network's memory is freed as in a plain forward pass.
                            layers = {layer["name"]: layer for layer in sweep.layers}
                            hooks.sink = lambda name, t, idx=idx, layers=layers: self._store_layer(
                                sweep, layers[name], t, idx, n, projectors, reduce
                            )
                    y = encode(idx)
                    if hooks is not None:
                        self._sweep_batch(hooks, sweep, idx, n, listed, projectors, reduce)
                    if module is not None:
                        y = self._take_hooked(captured, len(idx))
                    y = y.reshape(len(idx), -1).float().cpu().numpy()
                    if out is None:
                        out = np.empty((n, y.shape[1]), dtype=np.float32)
                    elif y.shape[1] != out.shape[1]:
                        raise ValueError(
                            f"model {self.spec.id!r}: layer {self.spec.layer!r} gave {y.shape[1]} "
                            f"features per item in one batch and {out.shape[1]} in another (its output "
                            "length depends on the input, e.g. a token sequence); pick a pooled layer"
                        )
                    out[idx] = y
                    bar.update(len(idx))
        finally:
            if handle is not None:
                handle.remove()
            if hooks is not None:
                hooks.remove()
        if out is None:
            out = np.empty((0, 0), dtype=np.float32)
        bad = ~np.isfinite(out)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            raise ValueError(
                f"model {self.spec.id!r}: {len(rows)} of {n} {desc} gave non-finite features "
                f"(first at unique item {rows[0]}); check the weights and inputs"
            )
        return out

    def _sweep_batch(self, hooks, sweep, idx, n, listed, projectors, reduce) -> None:
        """After a batch: on the first, choose the layers and store their rows; later, check them."""
        if not sweep.layers:
            sweep.layers = self._resolve_sweep(hooks, len(idx), listed)
            hooks.keep_only([layer["name"] for layer in sweep.layers])
            for layer in sweep.layers:
                self._store_layer(sweep, layer, hooks.outputs[layer["name"]], idx, n, projectors, reduce)
            return
        missing = [layer["name"] for layer in sweep.layers if layer["name"] not in hooks.outputs]
        if missing:
            raise ValueError(f"model {self.spec.id!r}: layers {missing} did not run for every batch")

    def _store_layer(self, sweep, layer, t, idx, n, projectors, reduce) -> None:
        """Put one layer's rows of a batch in the sweep (projected when ``reduce`` says so)."""
        name = layer["name"]
        rows = self._sweep_rows(t, len(idx), name)
        if name not in sweep.features:
            layer["width"] = int(rows.shape[1])
            projectors[name] = reduce(name, rows.shape[1]) if reduce is not None else None
        if projectors[name] is not None:
            rows = projectors[name](rows)
        if name not in sweep.features:
            sweep.features[name] = np.empty((n, rows.shape[1]), dtype=np.float32)
        elif rows.shape[1] != sweep.features[name].shape[1]:
            raise ValueError(
                f"model {self.spec.id!r}: layer {name!r} gave {rows.shape[1]} features per item in one "
                f"batch and {sweep.features[name].shape[1]} in another (its output length depends on "
                "the input); leave it out of models[].layers"
            )
        sweep.features[name][idx[0] : idx[-1] + 1] = rows  # a batch is a contiguous range

    def _take_hooked(self, captured: list, batch: int) -> torch.Tensor:
        if not captured or captured[-1] is None:
            raise ValueError(
                f"model {self.spec.id!r}: layer {self.spec.layer!r} did not run (or returned no "
                f"tensor) in the {self.spec.modality} forward pass; pick a module of that tower, "
                f"e.g. one of {layer_names(self.model)}"
            )
        t = captured[-1]
        if t.ndim >= 2 and t.shape[0] != batch and t.shape[1] == batch:
            t = t.transpose(0, 1)  # sequence-first modules (T, n, d)
        if t.shape[0] != batch:
            raise ValueError(
                f"model {self.spec.id!r}: layer {self.spec.layer!r} output has shape "
                f"{tuple(t.shape)}, with no axis of the batch size {batch}"
            )
        return t

    def extract(
        self,
        events: pd.DataFrame,
        frames: np.ndarray | None = None,
        frame_index: np.ndarray | None = None,
        *,
        batch_size: int = 32,
        progress: bool = True,
    ) -> np.ndarray:
        """One feature row per event.

        Parameters
        ----------
        events : DataFrame, n_events rows
            The events table (columns ``movie, alignment, movie_time, text, word,
            frame_time``); text models read ``text``.
        frames : ndarray of uint8, shape (n_frames, H, W, 3), optional
            The unique RGB frames shown at the events (needed by image models).
        frame_index : ndarray of int, shape (n_events,), optional
            Row of ``frames`` shown at each event.
        batch_size : int
            Unique items per forward pass.
        progress : bool
            Show a progress bar (when attached to a terminal).

        Returns
        -------
        ndarray of float32, shape (n_events, n_features)
            Row ``i`` is the features of event ``i``; events showing the same stimulus get
            identical rows. ``n_features`` is the model output's (or ``spec.layer``'s,
            flattened) width; an empty table gives shape (0, 0).

        Raises
        ------
        TypeError
            When ``events`` is not a DataFrame.
        ValueError
            When frames or texts the model reads are missing or malformed, ``spec.layer`` is
            not usable, or a feature is not finite.
        """
        feats, _ = self._extract(events, frames, frame_index, batch_size, progress, None, None)
        return feats

    def extract_layers(
        self,
        events: pd.DataFrame,
        frames: np.ndarray | None = None,
        frame_index: np.ndarray | None = None,
        *,
        batch_size: int = 32,
        progress: bool = True,
        reduce: Callable[[str, int], Callable[[np.ndarray], np.ndarray] | None] | None = None,
    ) -> tuple[np.ndarray, LayerSweep]:
        """One feature row per event, and the features of every swept layer (``spec.layers``).

        The swept layers' outputs come from the same forward passes as the features (forward
        hooks), so a sweep costs one pass per unique stimulus, not one per layer. Which layers
        run is known only once the model has run: ``"all"`` and ``"every_<k>"`` are resolved
        on the first batch, in the order the layers ran. A layer's output is flattened per item
        (token sequences of a text model: the mean over its real tokens, so the features do not
        depend on the batch's padding).

        Parameters
        ----------
        events : DataFrame, n_events rows
            As in :meth:`extract`.
        frames : ndarray of uint8, shape (n_frames, H, W, 3), optional
            As in :meth:`extract`.
        frame_index : ndarray of int, shape (n_events,), optional
            As in :meth:`extract`.
        batch_size : int
            Unique items per forward pass.
        progress : bool
            Show a progress bar (when attached to a terminal).
        reduce : callable, optional
            ``reduce(layer_name, width)`` returns None (keep the layer's rows) or a function
            applied to each batch's rows, shape (batch, width) -> (batch, k); e.g. a random
            projection (:func:`mmsites.features.reduction.random_projector`), so a wide layer
            is never held unreduced.

        Returns
        -------
        features : ndarray of float32, shape (n_events, n_features)
            As :meth:`extract` returns.
        sweep : LayerSweep
            The swept layers (name, type, depth, width) and their per-event features.

        Raises
        ------
        ValueError
            As :meth:`extract`; also when ``spec.layers`` is None, names a module that is
            not in the network or did not run, or a layer's output width varies between batches.
        """
        if self.spec.layers is None:
            raise ValueError(f"model {self.spec.id!r} declares no layer sweep (models[].layers is null)")
        sweep = LayerSweep()
        feats, inverse = self._extract(events, frames, frame_index, batch_size, progress, sweep, reduce)
        if inverse is not None:
            # every event its own item (the usual case for frames): the rows are already in
            # event order, and gathering them would copy every layer (1.3 GB for a ViT-Tiny
            # sweep of 64 frames) for nothing
            if len(inverse) != len(feats) or not np.array_equal(inverse, np.arange(len(inverse))):
                sweep.features = {name: X[inverse] for name, X in sweep.features.items()}
            for name, X in sweep.features.items():
                # a sum is finite only if every value is: one pass without a mask as large as X
                with np.errstate(over="ignore", invalid="ignore"):
                    total = X.sum(dtype=np.float64)
                if not np.isfinite(total) and not np.isfinite(X).all():
                    raise ValueError(
                        f"model {self.spec.id!r}: layer {name!r} gave non-finite features; check the weights "
                        "and inputs"
                    )
        return feats, sweep

    def _extract(self, events, frames, frame_index, batch_size, progress, sweep, reduce):
        """Features of the events (n_events, d) and the index of each event's unique item."""
        if not isinstance(events, pd.DataFrame):
            raise TypeError(
                f"model {self.spec.id!r}: events must be a pandas DataFrame, got {type(events).__name__}"
            )
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        n = len(events)
        self._n_truncated, self._truncation_limit = 0, None
        kind = self.input
        fidx = texts = None
        if "image" in kind:
            fidx = self._check_frames(frames, frame_index, n)
        if "text" in kind:
            texts = self._check_texts(events)
        if n == 0:
            return np.empty((0, 0), dtype=np.float32), None

        if kind == "image":
            uniq, inverse = np.unique(fidx, return_inverse=True)
            feats = self._run_batches(
                lambda i: self.encode_images(frames[uniq[i]]),
                len(uniq),
                batch_size,
                progress,
                f"{self.spec.id}: frames",
                sweep,
                reduce,
            )
        elif kind == "text":
            codes, uniq = pd.factorize(pd.Series(texts), sort=False)
            inverse = codes
            utexts = list(uniq)
            feats = self._run_batches(
                lambda i: self.encode_texts([utexts[j] for j in i]),
                len(utexts),
                batch_size,
                progress,
                f"{self.spec.id}: texts",
                sweep,
                reduce,
            )
        else:
            tcodes, tuniq = pd.factorize(pd.Series(texts), sort=False)
            pairs, inverse = np.unique(np.stack([fidx, tcodes], axis=1), axis=0, return_inverse=True)
            tlist = list(tuniq)
            feats = self._run_batches(
                lambda i: self.encode_pairs(frames[pairs[i, 0]], [tlist[j] for j in pairs[i, 1]]),
                len(pairs),
                batch_size,
                progress,
                f"{self.spec.id}: frame+text pairs",
                sweep,
                reduce,
            )
        if self._n_truncated:
            logger.warning(
                "model %s: %d of %d unique texts were longer than %d tokens and were truncated",
                self.spec.id,
                self._n_truncated,
                len(feats),
                self._truncation_limit,
            )
        logger.info(
            "model %s: %d events -> %d unique items -> features %s", self.spec.id, n, len(feats), feats.shape
        )
        inverse = np.asarray(inverse).reshape(-1)
        return feats[inverse], inverse

    def _check_frames(self, frames, frame_index, n: int) -> np.ndarray:
        sid = self.spec.id
        if frames is None or frame_index is None:
            raise ValueError(
                f"model {sid!r} reads images but no movie frames were given: pass `frames` (the "
                "decoded frames) and `frame_index` (each event's frame), or use a text model"
            )
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(
                f"model {sid!r}: frames must be uint8 RGB of shape (n_frames, H, W, 3); got dtype "
                f"{frames.dtype} and shape {frames.shape}"
            )
        fidx = np.asarray(frame_index)
        if fidx.shape != (n,) or not np.issubdtype(fidx.dtype, np.integer):
            raise ValueError(
                f"model {sid!r}: frame_index must be integers of shape ({n},) (one per event); "
                f"got dtype {fidx.dtype} and shape {fidx.shape}"
            )
        if n and (fidx.min() < 0 or fidx.max() >= len(frames)):
            bad = int(np.flatnonzero((fidx < 0) | (fidx >= len(frames)))[0])
            raise ValueError(
                f"model {sid!r}: frame_index[{bad}] = {int(fidx[bad])} is outside the "
                f"{len(frames)} frames given"
            )
        return fidx.astype(np.int64)

    def _check_texts(self, events: pd.DataFrame) -> list[str]:
        sid = self.spec.id
        if "text" not in events.columns:
            raise ValueError(
                f"model {sid!r} reads text but the events table has no 'text' column "
                f"(columns: {list(events.columns)})"
            )
        col = events["text"]
        missing = col.isna().to_numpy()
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            where = ""
            if {"movie", "movie_time"} <= set(events.columns):
                where = f" (movie {events['movie'].iloc[row]!r}, movie_time {events['movie_time'].iloc[row]})"
            raise ValueError(
                f"model {sid!r}: {int(missing.sum())} events have no text; first is row {row}{where}"
            )
        return col.astype(str).tolist()
