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

import numpy as np
import pandas as pd
import torch

from .spec import ModelSpec

__all__ = ["Extractor", "layer_names"]

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
        token count, special tokens included), so the common case costs nothing.

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
    def _run_batches(
        self, encode: Callable[[np.ndarray], torch.Tensor], n: int, batch_size: int, progress: bool, desc: str
    ) -> np.ndarray:
        """Run ``encode(indices)`` over ``range(n)`` in batches; float32 (n, d)."""
        from tqdm.auto import tqdm

        module = self._hooked_module()
        captured: list = []

        def hook(_mod, _inp, out):
            captured.append(_first_tensor(out))

        handle = module.register_forward_hook(hook) if module is not None else None
        out = None
        try:
            bar = tqdm(total=n, desc=desc, unit="item", disable=None if progress else True, leave=False)
            with bar, torch.inference_mode(), self._autocast():
                for start in range(0, n, batch_size):
                    idx = np.arange(start, min(start + batch_size, n))
                    captured.clear()
                    y = encode(idx)
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
            return np.empty((0, 0), dtype=np.float32)

        if kind == "image":
            uniq, inverse = np.unique(fidx, return_inverse=True)
            feats = self._run_batches(
                lambda i: self.encode_images(frames[uniq[i]]),
                len(uniq),
                batch_size,
                progress,
                f"{self.spec.id}: frames",
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
        return feats[np.asarray(inverse).reshape(-1)]

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
