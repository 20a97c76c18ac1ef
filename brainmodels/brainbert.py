"""BrainBERT: a transformer over spectrograms of one intracranial channel (Wang et al. 2023).

The architecture of the official code (czlwang/BrainBERT@beec35d: ``models/masked_tf_model.py``,
``models/transformer_encoder_input.py``, ``models/spec_prediction_head.py``), re-implemented so
that the ``state_dict`` keys, shapes and numbers are exactly the official ones:

input encoding
    ``in_proj`` Linear(40 -> d), plus the fixed sinusoidal table ``positional_encoding.pe``
    (buffer of shape (1, 5000, d): ``pe[0, t, 2i] = sin(t w_i)``, ``pe[0, t, 2i + 1] =
    cos(t w_i)``, ``w_i = 10000 ** (-2i / d)``; added, no scaling of the input), then
    ``layer_norm`` LayerNorm(d), then dropout 0.1. Upstream's ``PositionalEncoding`` has no
    dropout of its own.
transformer
    ``nn.TransformerEncoder`` of post-LN ``nn.TransformerEncoderLayer`` (d_model d, ``nhead``
    heads, feed-forward width ``layer_dim_feedforward``, GELU, dropout 0.1, sequence-first:
    ``batch_first=False``, no final norm). Keys ``transformer.layers.N.self_attn.{in_proj_weight,
    in_proj_bias,out_proj.*}``, ``.linear1``, ``.linear2``, ``.norm1``, ``.norm2``.
spec prediction head
    ``hidden_layer`` Linear(d, d) -> GELU -> ``layer_norm`` LayerNorm(d) -> ``output``
    Linear(d, 40): the masked-spectrogram reconstruction used in pretraining.

Upstream's ``forward(specs, mask, intermediate_rep=True)`` returns the last layer's hidden
states (batch, frames, d); without ``intermediate_rep`` it returns ``(head output,
positional table slice)``; other layers raise ``NotImplementedError``. Here
:meth:`BrainBERT.hidden_states` returns every layer (0 = the input encoding's output, k = after
transformer layer k, the last one equal to upstream's ``intermediate_rep``) and
:meth:`BrainBERT.forward` the head's output.

Random initialisation follows upstream's ``build_model`` under ``torch.manual_seed(seed)``:
PyTorch's default inits in upstream's construction order (every transformer layer a deep copy
of one initialised layer, so all layers start equal), then every Linear bias zeroed and every
LayerNorm bias set to 1 (upstream's ``init_weights``; LayerNorm weights stay 1). A seed gives
the same weights as upstream's code under the same seed.

The embedding recipe (upstream ``preprocessors/spec_pretrained.py``, ``SpecPretrained``):
one channel, a 5 s window around the event (10240 samples at 2048 Hz), its spectrogram
(:func:`mmsites.recordings.spectral.stft_spectrogram` or ``superlet_spectrogram``,
according to the checkpoint), the transformer in eval mode without a padding mask, the last
layer's hidden states, the mean of the 10 tokens ``middle - 5 .. middle + 4`` with ``middle =
n_frames // 2`` -> (d,) (768 for the released ``large`` models).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from os import PathLike

import numpy as np
import torch
from torch import nn

from mmsites.device import resolve_device
from mmsites.recordings.spectral import stft_spectrogram, superlet_spectrogram

__all__ = ["PRESETS", "PREPROCESSORS", "BrainBERTConfig", "BrainBERT"]

#: The spectrogram recipes a checkpoint can have been trained on (upstream preprocessor names)
#: and the functions of :mod:`mmsites.recordings.spectral` that compute them.
PREPROCESSORS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "stft": stft_spectrogram,
    "superlet": superlet_spectrogram,
}

#: Tokens averaged by the embedding recipe, centred on the middle frame.
_N_MIDDLE = 10


@dataclass(frozen=True)
class BrainBERTConfig:
    """Sizes of a BrainBERT model (upstream ``conf/model/masked_tf_model*.yaml``).

    Attributes
    ----------
    hidden_dim : int
        Width d of the tokens (upstream ``hidden_dim``); even and divisible by ``num_heads``.
    num_layers : int
        Transformer layers (``encoder_num_layers``).
    num_heads : int
        Attention heads per layer (``nhead``).
    ffn_dim : int
        Width of each layer's feed-forward block (``layer_dim_feedforward``).
    input_dim : int
        Frequency bins of a spectrogram frame (``input_dim``; 40 for both released models).
    activation : str
        Non-linearity of the feed-forward blocks and the head (``layer_activation``); upstream's
        head supports only ``"gelu"``.
    dropout : float
        Dropout of the input encoding and the transformer layers (fixed at 0.1 upstream, not
        in its config).
    max_len : int
        Rows of the positional table (fixed at 5000 upstream): the most frames a model reads.
    """

    hidden_dim: int = 768
    num_layers: int = 6
    num_heads: int = 12
    ffn_dim: int = 3072
    input_dim: int = 40
    activation: str = "gelu"
    dropout: float = 0.1
    max_len: int = 5000

    def __post_init__(self):
        for name in ("hidden_dim", "num_layers", "num_heads", "ffn_dim", "input_dim", "max_len"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"BrainBERTConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_dim % 2 or self.hidden_dim % self.num_heads:
            raise ValueError(
                f"BrainBERTConfig.hidden_dim ({self.hidden_dim}) must be even (sine/cosine pairs of "
                f"the positional table) and divisible by num_heads ({self.num_heads})"
            )
        if self.activation != "gelu":
            raise ValueError(
                f"BrainBERTConfig.activation must be 'gelu' (the only one upstream's spec prediction "
                f"head supports), got {self.activation!r}"
            )
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"BrainBERTConfig.dropout must be in [0, 1), got {self.dropout!r}")

    @classmethod
    def preset(cls, name: str) -> BrainBERTConfig:
        """One of the named configurations of :data:`PRESETS`.

        Parameters
        ----------
        name : str
            ``"large"`` (the released models: 6 layers, 768 wide, 12 heads, FFN 3072),
            ``"base"`` (3 layers, same widths), ``"small"`` (upstream's 3 x 384, FFN 1200) or
            ``"tiny"`` (2 layers, 64 wide, 4 heads, FFN 128: tests and the demo).

        Returns
        -------
        BrainBERTConfig
            The configuration.

        Raises
        ------
        ValueError
            If the name is not a preset.
        """
        if name not in PRESETS:
            raise ValueError(f"unknown BrainBERT preset {name!r}: choose one of {sorted(PRESETS)}")
        return PRESETS[name]

    def to_dict(self) -> dict:
        """The fields as a plain dictionary.

        Returns
        -------
        dict
            Field name -> value.
        """
        return asdict(self)


#: Named configurations: upstream's ``large`` (the released checkpoints), ``base`` and
#: ``small``, and a ``tiny`` one for tests and the demo.
PRESETS: dict[str, BrainBERTConfig] = {
    "large": BrainBERTConfig(hidden_dim=768, num_layers=6, num_heads=12, ffn_dim=3072),
    "base": BrainBERTConfig(hidden_dim=768, num_layers=3, num_heads=12, ffn_dim=3072),
    "small": BrainBERTConfig(hidden_dim=384, num_layers=3, num_heads=12, ffn_dim=1200),
    "tiny": BrainBERTConfig(hidden_dim=64, num_layers=2, num_heads=4, ffn_dim=128),
}


def _as_config(config: BrainBERTConfig | str) -> BrainBERTConfig:
    if isinstance(config, str):
        return BrainBERTConfig.preset(config)
    if not isinstance(config, BrainBERTConfig):
        raise TypeError(f"config must be a BrainBERTConfig or a preset name, got {type(config).__name__}")
    return config


def _check_preprocessor(preprocessor: str | None) -> str | None:
    if preprocessor is not None and preprocessor not in PREPROCESSORS:
        raise ValueError(f"preprocessor must be one of {sorted(PREPROCESSORS)} or None, got {preprocessor!r}")
    return preprocessor


class _SinusoidalTable(nn.Module):
    """The fixed positional table, buffer ``pe`` of shape (1, max_len, dim)."""

    def __init__(self, dim: int, max_len: int):
        super().__init__()
        position = torch.arange(max_len, dtype=torch.float32)[:, None]
        rate = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
        table = torch.zeros(max_len, dim)
        table[:, 0::2] = torch.sin(position * rate)
        table[:, 1::2] = torch.cos(position * rate)
        self.register_buffer("pe", table[None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pe[:, : x.shape[1]]


class _InputEncoding(nn.Module):
    """Linear(input_dim -> d) + positional table -> LayerNorm -> dropout; (batch, frames, .)."""

    def __init__(self, config: BrainBERTConfig):
        super().__init__()
        self.in_proj = nn.Linear(config.input_dim, config.hidden_dim)
        self.positional_encoding = _SinusoidalTable(config.hidden_dim, config.max_len)
        self.layer_norm = nn.LayerNorm(config.hidden_dim)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.layer_norm(self.positional_encoding(self.in_proj(spectrogram))))


class _SpecPredictionHead(nn.Module):
    """Linear(d, d) -> GELU -> LayerNorm -> Linear(d, input_dim)."""

    def __init__(self, config: BrainBERTConfig):
        super().__init__()
        self.hidden_layer = nn.Linear(config.hidden_dim, config.hidden_dim)
        self.activation = nn.GELU()
        self.layer_norm = nn.LayerNorm(config.hidden_dim)
        self.output = nn.Linear(config.hidden_dim, config.input_dim)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.output(self.layer_norm(self.activation(self.hidden_layer(hidden))))


def _middle_mean(hidden: torch.Tensor) -> torch.Tensor:
    """Mean of the 10 tokens around the middle frame (upstream ``SpecPretrained``), (batch, d)."""
    middle = hidden.shape[1] // 2
    return hidden[:, middle - _N_MIDDLE // 2 : middle + _N_MIDDLE // 2].mean(dim=1)


@torch.no_grad()
def _upstream_init(module: nn.Module) -> None:
    """Upstream's ``init_weights``: Linear biases 0, LayerNorm biases 1 (weights untouched)."""
    if isinstance(module, nn.Linear) and module.bias is not None:
        module.bias.zero_()
    if isinstance(module, nn.LayerNorm):
        module.bias.fill_(1.0)


class BrainBERT(nn.Module):
    """BrainBERT: hidden states and embeddings of single-channel intracranial recordings.

    Parameters
    ----------
    config : BrainBERTConfig or str
        The sizes, or a preset name (:data:`PRESETS`: ``"large"``, ``"base"``, ``"small"``,
        ``"tiny"``).
    seed : int
        Seed of the random initialisation (upstream's init under ``torch.manual_seed(seed)``;
        the global torch RNG is left as it was).
    preprocessor : {"stft", "superlet"} or None
        The spectrogram recipe the weights expect (:meth:`spectrogram`, :meth:`embed`); None
        for a model used on spectrograms only.

    Attributes
    ----------
    config : BrainBERTConfig
        The sizes.
    preprocessor : str or None
        The spectrogram recipe.
    input_encoding : torch.nn.Module
        ``in_proj``, ``positional_encoding`` (buffer ``pe``), ``layer_norm``, dropout.
    transformer : torch.nn.TransformerEncoder
        ``config.num_layers`` post-LN sequence-first layers.
    spec_prediction_head : torch.nn.Module
        ``hidden_layer``, GELU, ``layer_norm``, ``output``.

    Examples
    --------
    >>> import numpy as np
    >>> model = BrainBERT("tiny", seed=0)
    >>> model.tokens(np.zeros((186, 40), np.float32)).shape
    (186, 64)
    """

    def __init__(
        self, config: BrainBERTConfig | str = "large", *, seed: int = 0, preprocessor: str | None = None
    ):
        super().__init__()
        config = _as_config(config)
        self.config = config
        self.preprocessor = _check_preprocessor(preprocessor)
        # modules built in upstream's order, so that a seed draws the same weights
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.input_encoding = _InputEncoding(config)
            layer = nn.TransformerEncoderLayer(
                d_model=config.hidden_dim,
                nhead=config.num_heads,
                dim_feedforward=config.ffn_dim,
                dropout=config.dropout,
                activation=config.activation,
                batch_first=False,
                norm_first=False,
            )
            self.transformer = nn.TransformerEncoder(
                layer, num_layers=config.num_layers, enable_nested_tensor=False
            )
            self.spec_prediction_head = _SpecPredictionHead(config)
        self.apply(_upstream_init)

    @classmethod
    def from_pretrained(
        cls, path: str | PathLike, device: str | torch.device = "cpu", preprocessor: str | None = None
    ) -> BrainBERT:
        """Load a checkpoint in the official layout (e.g. ``stft_large_pretrained.pth``).

        The file is read without unpickling arbitrary objects and its weights are loaded
        strictly (:func:`mmsites.brainmodels.checkpoint.load_checkpoint`).

        Parameters
        ----------
        path : str or PathLike
            The ``.pth`` file: ``{"model": state_dict, "optim": ..., "scheduler": ...,
            "model_cfg": DictConfig}`` as upstream's ``runner.py`` saves it, or one written by
            :func:`mmsites.brainmodels.checkpoint.save_checkpoint`.
        device : str or torch.device
            Where the model runs: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or ``"auto"`` (the first
            GPU when there is one).
        preprocessor : {"stft", "superlet"} or None
            The spectrogram recipe; None: the one the checkpoint records (its training config,
            else its file name, e.g. ``superlet_large_pretrained.pth``), if any.

        Returns
        -------
        BrainBERT
            The model in eval mode on ``device``.

        Raises
        ------
        FileNotFoundError
            If the file does not exist.
        ValueError
            If the file holds a pickled object outside the allow-list, its config is not
            BrainBERT's or disagrees with the weights, or the weights do not match the
            architecture (every missing, unexpected and mis-shaped key is listed).
        """
        from .checkpoint import load_checkpoint

        model = load_checkpoint(path, preprocessor=preprocessor)
        return model.to(resolve_device(device)).eval()

    @property
    def device(self) -> torch.device:
        """The device of the weights.

        Returns
        -------
        torch.device
            Where the parameters are.
        """
        return self.input_encoding.in_proj.weight.device

    # -----------------------------------------------------------------------------------------
    # torch: differentiable, (batch, frames, input_dim) tensors
    # -----------------------------------------------------------------------------------------

    def _check_input(self, spectrogram: torch.Tensor) -> None:
        shape = tuple(spectrogram.shape)
        if len(shape) != 3 or shape[2] != self.config.input_dim:
            raise ValueError(
                f"spectrogram must have shape (batch, frames, {self.config.input_dim}), got {shape}"
            )
        if not 1 <= shape[1] <= self.config.max_len:
            raise ValueError(
                f"spectrogram must have between 1 and {self.config.max_len} frames (the positional "
                f"table's length), got {shape[1]}"
            )

    def _encode(
        self, spectrogram: torch.Tensor, padding_mask: torch.Tensor | None, last: int
    ) -> list[torch.Tensor]:
        """Hidden states of layers 0 .. last, each (batch, frames, d)."""
        self._check_input(spectrogram)
        hidden = self.input_encoding(spectrogram)
        states = [hidden]
        x = hidden.transpose(0, 1)  # the layers are sequence-first, as upstream's
        for layer in self.transformer.layers[:last]:
            x = layer(x, src_key_padding_mask=padding_mask)
            states.append(x.transpose(0, 1))
        return states

    def hidden_states(
        self, spectrogram: torch.Tensor, padding_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """Hidden states of every layer (differentiable; dropout active in training mode).

        Parameters
        ----------
        spectrogram : torch.Tensor, shape (batch, frames, input_dim)
            Spectrogram frames (z-scores), on the model's device.
        padding_mask : torch.Tensor of bool, shape (batch, frames), optional
            True at padded frames, which no token attends to (upstream's ``src_key_mask``).

        Returns
        -------
        tuple of torch.Tensor, each shape (batch, frames, hidden_dim)
            ``num_layers + 1`` tensors: index 0 the input encoding's output, index k the
            output of transformer layer k; the last one is upstream's ``intermediate_rep``.
        """
        return tuple(self._encode(spectrogram, padding_mask, self.config.num_layers))

    def forward(self, spectrogram: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The spec prediction head on the last layer: the pretraining reconstruction.

        Parameters
        ----------
        spectrogram : torch.Tensor, shape (batch, frames, input_dim)
            Spectrogram frames (z-scores), masked or not.
        padding_mask : torch.Tensor of bool, shape (batch, frames), optional
            True at padded frames.

        Returns
        -------
        torch.Tensor, shape (batch, frames, input_dim)
            The predicted spectrogram (upstream's first output; its second, the positional
            table's first ``frames`` rows, is ``input_encoding.positional_encoding.pe``).
        """
        return self.spec_prediction_head(self.hidden_states(spectrogram, padding_mask)[-1])

    # -----------------------------------------------------------------------------------------
    # inference: numpy arrays in and out, eval mode, no gradients
    # -----------------------------------------------------------------------------------------

    def _layer_index(self, layer: int) -> int:
        n = self.config.num_layers
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not -(n + 1) <= layer <= n:
            raise ValueError(
                f"layer must be an integer in [{-(n + 1)}, {n}] (0 = the input encoding, k = after "
                f"transformer layer k, -1 = the last), got {layer!r}"
            )
        return int(layer) % (n + 1)

    @contextlib.contextmanager
    def _inference(self, bf16: bool) -> Iterator[None]:
        was_training = self.training
        self.eval()
        autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if bf16 and self.device.type == "cuda"
            else contextlib.nullcontext()
        )
        try:
            with torch.inference_mode(), autocast:
                yield
        finally:
            self.train(was_training)

    def _spectrogram_batch(self, spectrogram) -> tuple[np.ndarray, bool]:
        x = spectrogram.detach().cpu().numpy() if isinstance(spectrogram, torch.Tensor) else spectrogram
        x = np.asarray(x)
        if x.ndim not in (2, 3) or x.shape[-1] != self.config.input_dim:
            raise ValueError(
                f"spectrogram must have shape (frames, {self.config.input_dim}) or (batch, frames, "
                f"{self.config.input_dim}), got {x.shape}"
            )
        if x.dtype.kind not in "fiu":
            raise ValueError(f"spectrogram must hold real numbers, got dtype {x.dtype}")
        x = x.astype(np.float32, copy=False)
        if not np.isfinite(x).all():
            raise ValueError("spectrogram has NaN or infinite values")
        single = x.ndim == 2
        return (x[None] if single else x), single

    def _run(
        self,
        spectrogram: np.ndarray,
        layer: int,
        batch_size: int,
        bf16: bool,
        reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> np.ndarray:
        """Layer ``layer`` for a (batch, frames, input_dim) float32 array, in batches."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        index = self._layer_index(layer)
        out = []
        with self._inference(bf16):
            for start in range(0, len(spectrogram), int(batch_size)):
                chunk = torch.from_numpy(np.ascontiguousarray(spectrogram[start : start + batch_size]))
                hidden = self._encode(chunk.to(self.device), None, index)[index]
                if reduce is not None:
                    hidden = reduce(hidden)
                out.append(hidden.float().cpu().numpy())
        return np.concatenate(out, axis=0)

    def tokens(self, spectrogram, layer: int = -1, *, batch_size: int = 64, bf16: bool = False) -> np.ndarray:
        """Hidden states of one layer for spectrograms (eval mode, no gradients).

        Parameters
        ----------
        spectrogram : array_like, shape (frames, input_dim) or (batch, frames, input_dim)
            Spectrogram frames (z-scores, as :meth:`spectrogram` returns), 40 frequency bins.
        layer : int
            0 = the input encoding's output, k = after transformer layer k, negative counts
            from the end (-1 = the last layer, the one upstream's recipe uses).
        batch_size : int
            Spectrograms per forward pass; the result does not depend on it (within float
            rounding, 1e-5).
        bf16 : bool
            Run under bfloat16 autocast on CUDA (faster, about 1e-2 relative error); no effect
            on the CPU.

        Returns
        -------
        ndarray of float32, shape (frames, hidden_dim) or (batch, frames, hidden_dim)
            One token per frame.

        Raises
        ------
        ValueError
            If the shape is not as above, the values are not finite, there are more frames
            than the positional table holds (5000), or the layer is out of range.
        """
        x, single = self._spectrogram_batch(spectrogram)
        tokens = self._run(x, layer, batch_size, bf16)
        return tokens[0] if single else tokens

    def spectrogram(self, signal: np.ndarray, sfreq: float) -> np.ndarray:
        """The model's input for a window of signal, by the checkpoint's recipe.

        :func:`mmsites.recordings.spectral.stft_spectrogram` or
        :func:`~mmsites.recordings.spectral.superlet_spectrogram` (which bring the signal to
        2048 Hz first, :func:`~mmsites.recordings.spectral.to_model_rate`).

        Parameters
        ----------
        signal : ndarray, shape (n_samples,) or (n_windows, n_samples)
            Laplacian re-referenced voltage (µV) of one channel, one row per window.
        sfreq : float
            Its sampling rate (Hz).

        Returns
        -------
        ndarray of float32, shape (frames, 40) or (n_windows, frames, 40)
            Z-scored spectrogram: 186 frames (STFT) or 195 (superlet) for a 5 s window.

        Raises
        ------
        ValueError
            If the model has no preprocessor, or the signal is not 1-D or 2-D, not finite or
            too short for the recipe.
        """
        if self.preprocessor is None:
            raise ValueError(
                "this BrainBERT has no spectrogram recipe: pass preprocessor='stft' or 'superlet' "
                "(the one its weights were trained on) to BrainBERT(...) or from_pretrained(...)"
            )
        return PREPROCESSORS[self.preprocessor](signal, sfreq)

    def embed(
        self, signal: np.ndarray, sfreq: float, layer: int = -1, *, batch_size: int = 64, bf16: bool = False
    ) -> np.ndarray:
        """BrainBERT's embedding of windows of one channel (upstream ``SpecPretrained``).

        For each window: :meth:`spectrogram`, the transformer (eval mode, no padding), the
        hidden states of ``layer``, and the mean of the 10 tokens ``middle - 5 .. middle + 4``
        around ``middle = frames // 2``. Upstream's recipe is a 5 s window centred on the event
        (10240 samples at 2048 Hz), last layer.

        Parameters
        ----------
        signal : ndarray, shape (n_samples,) or (n_windows, n_samples)
            Laplacian re-referenced voltage (µV), one row per window.
        sfreq : float
            Its sampling rate (Hz); other rates than 2048 Hz are resampled to it.
        layer : int
            Which hidden states (as in :meth:`tokens`; -1 = the last layer).
        batch_size : int
            Windows per forward pass (also bounds the memory of the spectrograms).
        bf16 : bool
            Use bfloat16 autocast on CUDA; no effect on the CPU.

        Returns
        -------
        ndarray of float32, shape (hidden_dim,) or (n_windows, hidden_dim)
            The embeddings (768-d for the released models).

        Raises
        ------
        ValueError
            If the model has no preprocessor, the signal is not 1-D or 2-D or not finite, a
            window gives fewer than 10 frames, or the layer is out of range.
        """
        x = np.asarray(signal)
        if x.ndim not in (1, 2):
            raise ValueError(f"signal must be 1-D (n_samples,) or 2-D (n_windows, n_samples), got {x.shape}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self._layer_index(layer)
        rows = x[None] if x.ndim == 1 else x
        if len(rows) == 0:
            raise ValueError(f"signal has no windows (shape {x.shape})")

        out = []
        for start in range(0, len(rows), int(batch_size)):
            spec = self.spectrogram(rows[start : start + batch_size], sfreq)
            if spec.shape[-2] < _N_MIDDLE:
                raise ValueError(
                    f"a window of {rows.shape[-1]} samples at {sfreq:g} Hz gives {spec.shape[-2]} "
                    f"spectrogram frames; the embedding averages the middle {_N_MIDDLE}: use longer "
                    "windows (the recipe: 5 s)"
                )
            out.append(self._run(spec, layer, batch_size, bf16, reduce=_middle_mean))
        emb = np.concatenate(out, axis=0)
        return emb[0] if x.ndim == 1 else emb
