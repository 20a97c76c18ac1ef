"""Spectral front ends: BrainBERT's STFT and superlet spectrograms, and streamed band power.

Arrays in, arrays out (numpy/scipy only). Signals are µV with time on the last axis:
``(n_samples,)`` for one channel or ``(n_channels, n_samples)``.

**The model's grid.** BrainBERT was trained on 2048-Hz recordings and its recipes hard-code
that rate (the STFT's 400-sample segments, the superlet's decimation by 50).
:func:`to_model_rate` brings a session onto that grid: 2048 Hz passes through untouched;
1024 Hz (the Brain Treebank's sub_9) is upsampled by 2 with ``scipy.signal.resample_poly``
(its default anti-imaging filter, a 41-tap Kaiser-windowed FIR, beta 5); any other rate by
the rational approximation ``up/down`` of ``2048 / sfreq`` (denominator at most 1000), refused
when that cannot represent the ratio within a relative 1e-6. Polyphase resampling because
its FIR is linear phase (no phase distortion between frequencies, no delay: output sample
``i`` lies at ``i / 2048`` s from the input's first sample), it does not wrap around as the
FFT method of ``scipy.signal.resample`` does (no leakage of one end into the other), and it is
local, so a window can be resampled on its own or a session in chunks with a short overlap.
Consequence: an upsampled session has no content above its original Nyquist frequency (its
bins above 512 Hz are empty for a 1024-Hz session) and its band just below that is shaped by
the filter's transition band. Irrelevant here: both recipes keep 0-200 Hz, where the filter's
ripple is at most 0.11 %. A band-limited signal (below 200 Hz) sampled at 1024 Hz and brought to
2048 Hz gives the STFT spectrogram of the same signal sampled at 2048 Hz within 0.01 in
z-score units (the tests' tolerance; 0.003 seen), its superlet spectrogram within 0.05 (0.035
seen, in the last frames of the lowest frequencies, whose long wavelets reach the window's
ends): the differences come from the resampling filter's ripple and its edge transients,
which enter the per-window z-scoring.

**STFT** (:func:`stft_spectrogram`; BrainBERT ``preprocessors/stft.py`` and
``conf/preprocessor/stft.yaml`` at czlwang/BrainBERT@beec35d):
``scipy.signal.stft(x, fs=2048, nperseg=400, noverlap=350)`` (Hann window, zero boundary
extension, padded), magnitude of the first 40 frequency bins (0 to 199.68 Hz every 5.12 Hz),
each bin z-scored over time within the window (population standard deviation, a zero one
replaced by 1, no epsilon), then 10 frames dropped at each end: a 5 s window (10240
samples) gives 206 frames, 186 after the trim.

**Superlet** (:func:`superlet_spectrogram`; ``preprocessors/superlet_preprocessor.py``,
its vendored ``superlet.py`` and ``conf/preprocessor/superlet.yaml``): the fractional adaptive
superlet transform of Moca et al. (2021) at 40 frequencies ``linspace(0.1, 200, 40)``, base
cycles c1 = 1, order rising linearly with frequency from 3 to 30, magnitude, every 50th sample
kept, 5 frames dropped at each end, each frequency z-scored over time. Our own implementation
of the same computation (checked against the official code's output).

**Band power** (:func:`band_power`, :func:`band_power_stream`): a causal Butterworth
band-pass (second-order sections, float64, state carried from chunk to chunk), squared: the
instantaneous band power (µV²) at the signal's own rate, which the responses average in the
same windows as the voltage. The filter delays the power by its group delay,
:func:`band_delay_s`: 10.4 ms for the default high-gamma band (70-150 Hz, order 4) at 2048 Hz.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
from scipy import fft as sp_fft
from scipy import signal as sp_signal

from .preprocessing import StreamingFilter

__all__ = [
    "BAND_ORDER",
    "BRAINBERT_SFREQ",
    "HIGH_GAMMA",
    "STFT_FREQS",
    "SUPERLET_FREQS",
    "BandPowerStream",
    "band_delay_s",
    "band_power",
    "band_power_stream",
    "bandpass_sos",
    "model_rate_ratio",
    "stft_frame_times",
    "stft_spectrogram",
    "superlet_frame_times",
    "superlet_magnitude",
    "superlet_spectrogram",
    "to_model_rate",
]

#: The sampling rate BrainBERT was trained at and its recipes assume (Hz).
BRAINBERT_SFREQ = 2048.0

# the STFT recipe (conf/preprocessor/stft.yaml)
_STFT_NPERSEG, _STFT_NOVERLAP, _STFT_N_FREQS, _STFT_TRIM = 400, 350, 40, 10
_STFT_HOP = _STFT_NPERSEG - _STFT_NOVERLAP

#: Centre frequencies (Hz) of the STFT spectrogram's 40 columns: ``k * 2048 / 400``.
STFT_FREQS = np.arange(_STFT_N_FREQS) * BRAINBERT_SFREQ / _STFT_NPERSEG

# the superlet recipe (conf/preprocessor/superlet.yaml, superlet.py's MorletSL and support)
_SL_C1, _SL_ORDER_MIN, _SL_ORDER_MAX = 1, 3, 30
_SL_DECIM, _SL_TRIM, _SL_K_SD, _SL_SUPPORT = 50, 5, 5.0, 10.0

#: Frequencies (Hz) of the superlet spectrogram's 40 columns: ``linspace(0.1, 200, 40)``.
SUPERLET_FREQS = np.linspace(0.1, 200.0, 40)

#: The default band of :func:`band_power` (Hz): high gamma.
HIGH_GAMMA = (70.0, 150.0)

#: Order of the Butterworth prototype of the band-pass filters (the band-pass has twice it).
BAND_ORDER = 4

_MAX_DENOMINATOR, _RATIO_TOL = 1000, 1e-6


# ---------------------------------------------------------------------------------------------
# checks and the model's grid
# ---------------------------------------------------------------------------------------------


def _check_sfreq(sfreq: float, name: str = "sfreq") -> float:
    value = float(sfreq)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive sampling rate in Hz, got {sfreq!r}")
    return value


def _check_signal(signal, name: str = "signal") -> np.ndarray:
    """The signal as a float64 array of shape (n_samples,) or (n_channels, n_samples)."""
    x = np.asarray(signal)
    if x.ndim not in (1, 2):
        raise ValueError(
            f"{name} must be 1-D (n_samples,) or 2-D (n_channels, n_samples), got shape {x.shape}"
        )
    if x.dtype.kind not in "fiu":
        raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if x.shape[-1] == 0 or (x.ndim == 2 and x.shape[0] == 0):
        raise ValueError(f"{name} is empty (shape {x.shape})")
    x = x.astype(np.float64, copy=False)
    finite = np.isfinite(x)
    if not finite.all():
        rows = np.atleast_2d(finite)
        channels = np.flatnonzero(~rows.all(axis=-1))
        first = int(np.argmin(rows[channels[0]]))
        if x.ndim == 1:
            raise ValueError(f"{name} has NaN or infinite values (first at sample {first})")
        raise ValueError(
            f"{name} has NaN or infinite values in channel(s) {channels[:10].tolist()} (first at "
            f"sample {first} of channel {channels[0]}); drop or repair those channels first"
        )
    return x


def model_rate_ratio(sfreq: float, target: float = BRAINBERT_SFREQ) -> tuple[int, int]:
    """The resampling factors ``(up, down)`` that take ``sfreq`` to ``target``.

    Parameters
    ----------
    sfreq : float
        Sampling rate of the signal (Hz).
    target : float
        Sampling rate wanted (Hz).

    Returns
    -------
    up : int
        Upsampling factor.
    down : int
        Downsampling factor: ``sfreq * up / down`` is ``target`` within a relative 1e-6,
        ``down`` at most 1000; ``(1, 1)`` for equal rates.

    Raises
    ------
    ValueError
        If a rate is not positive or the ratio has no such representation (e.g.
        ``target / sfreq = 2048 / 30000``, whose reduced denominator is 1875).
    """
    sfreq, target = _check_sfreq(sfreq), _check_sfreq(target, "target")
    exact = Fraction(target) / Fraction(sfreq)
    ratio = exact.limit_denominator(_MAX_DENOMINATOR)
    if abs(ratio - exact) > _RATIO_TOL * exact:
        raise ValueError(
            f"cannot resample {sfreq:g} Hz to {target:g} Hz: the ratio {float(exact):.9g} has no "
            f"fraction up/down with down <= {_MAX_DENOMINATOR} within a relative {_RATIO_TOL:g}"
        )
    return ratio.numerator, ratio.denominator


def _model_length(n_samples: int, sfreq: float) -> int:
    """Samples at 2048 Hz of a signal of ``n_samples`` at ``sfreq`` (as ``resample_poly``)."""
    up, down = model_rate_ratio(sfreq)
    return -(-n_samples * up // down)


def to_model_rate(signal: np.ndarray, sfreq: float, target: float = BRAINBERT_SFREQ) -> np.ndarray:
    """Bring a signal onto the model's sampling grid (2048 Hz by default).

    Polyphase resampling (``scipy.signal.resample_poly`` with its default Kaiser anti-imaging
    / anti-aliasing FIR) by the factors of :func:`model_rate_ratio`; see the module docstring
    for why, and for what it leaves above the original Nyquist frequency (nothing).

    Parameters
    ----------
    signal : ndarray, shape (..., n_samples)
        Samples (µV), time on the last axis.
    sfreq : float
        Its sampling rate (Hz).
    target : float
        The rate wanted (Hz).

    Returns
    -------
    ndarray, shape (..., ceil(n_samples * up / down))
        ``signal`` itself (the same object, untouched) when the rates are equal (ratio 1/1);
        otherwise a new float64 array whose sample ``i`` lies at ``i / target`` s from the
        input's first sample.

    Raises
    ------
    ValueError
        If a rate is not positive, the ratio cannot be represented (:func:`model_rate_ratio`)
        or the signal has no samples.
    """
    up, down = model_rate_ratio(sfreq, target)
    if up == down:
        return signal
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"signal must have samples along its last axis, got shape {x.shape}")
    return sp_signal.resample_poly(x, up, down, axis=-1)


def _min_input_samples(model_samples: int, sfreq: float) -> int:
    """Fewest input samples at ``sfreq`` that give at least ``model_samples`` at 2048 Hz."""
    up, down = model_rate_ratio(sfreq)
    return (model_samples - 1) * down // up + 1


# ---------------------------------------------------------------------------------------------
# STFT
# ---------------------------------------------------------------------------------------------


def _stft_n_frames(n_model: int) -> int:
    """Frames of ``scipy.signal.stft`` (zero boundary, padded) for ``n_model`` samples."""
    return -(-n_model // _STFT_HOP) + 1


#: Fewest samples at 2048 Hz for which one STFT frame is left after the trim.
_STFT_MIN_MODEL_SAMPLES = (2 * _STFT_TRIM) * _STFT_HOP - _STFT_HOP + 1


def stft_frame_times(n_samples: int, sfreq: float = BRAINBERT_SFREQ) -> np.ndarray:
    """Times of the frames :func:`stft_spectrogram` returns for a signal of a given length.

    Parameters
    ----------
    n_samples : int
        Length of the signal (samples at ``sfreq``).
    sfreq : float
        Its sampling rate (Hz); the frames are those of the signal brought to 2048 Hz.

    Returns
    -------
    ndarray of float64, shape (n_frames,)
        Centre of each kept frame's 400-sample segment, in seconds from the signal's first
        sample: ``k * 50 / 2048`` for ``k = 10 .. n_all - 11`` (``n_all`` frames before the
        trim); 0.244 s to 4.761 s, 186 frames, for a 5 s window.

    Raises
    ------
    ValueError
        If the signal is too short for one frame (fewer than 951 samples at 2048 Hz).
    """
    n_model = _model_length(int(n_samples), sfreq)
    if n_model < _STFT_MIN_MODEL_SAMPLES:
        raise ValueError(
            f"the STFT recipe needs at least {_min_input_samples(_STFT_MIN_MODEL_SAMPLES, sfreq)} "
            f"samples at {sfreq:g} Hz ({_STFT_MIN_MODEL_SAMPLES} at 2048 Hz) to keep one frame "
            f"after dropping {_STFT_TRIM} at each end, got {n_samples}"
        )
    k = np.arange(_STFT_TRIM, _stft_n_frames(n_model) - _STFT_TRIM)
    return k * _STFT_HOP / BRAINBERT_SFREQ


def _zscore_time(mag: np.ndarray) -> np.ndarray:
    """Z-score along the last axis, population std; rows with zero std keep std 1 (stft.py)."""
    mean = mag.mean(axis=-1, keepdims=True)
    std = mag.std(axis=-1, ddof=0, keepdims=True)
    std[std == 0] = 1.0
    return (mag - mean) / std


def stft_spectrogram(signal: np.ndarray, sfreq: float) -> np.ndarray:
    """BrainBERT's STFT input: z-scored magnitude spectrogram, 0-200 Hz.

    The signal is brought to 2048 Hz (:func:`to_model_rate`), then, per channel, exactly
    BrainBERT's ``STFTPreprocessor``: ``scipy.signal.stft(x, fs=2048, nperseg=400,
    noverlap=350)`` (Hann window, zero boundary extension, padded), the magnitude of the
    first 40 frequency bins (:data:`STFT_FREQS`), each bin z-scored over all frames of the
    window (population std; a zero std is replaced by 1, no epsilon), a channel whose z-scored
    spectrogram is constant (e.g. a flat zero signal) replaced by ones, as upstream does, and
    10 frames dropped at each end (after the z-scoring).

    Parameters
    ----------
    signal : ndarray, shape (n_samples,) or (n_channels, n_samples)
        One window of signal (µV), e.g. 5 s around an event.
    sfreq : float
        Its sampling rate (Hz).

    Returns
    -------
    ndarray of float32, shape (n_frames, 40) or (n_channels, n_frames, 40)
        Z-scores (no unit), frames at :func:`stft_frame_times`, columns at
        :data:`STFT_FREQS`; 186 frames for a 5 s window.

    Raises
    ------
    ValueError
        If the signal is not 1-D or 2-D, is not finite (names the channels), or is shorter
        than the recipe's minimum (951 samples at 2048 Hz, 476 at 1024 Hz).
    """
    x = _check_signal(signal)
    stft_frame_times(x.shape[-1], sfreq)  # checks the length, in the caller's samples
    x = to_model_rate(x, sfreq)
    _, _, spec = sp_signal.stft(
        x, fs=BRAINBERT_SFREQ, nperseg=_STFT_NPERSEG, noverlap=_STFT_NOVERLAP, axis=-1
    )
    z = _zscore_time(np.abs(spec[..., :_STFT_N_FREQS, :]))
    flat = z.reshape(-1, z.shape[-2] * z.shape[-1]).std(axis=-1) == 0
    z.reshape(-1, *z.shape[-2:])[flat] = 1.0
    z = z[..., _STFT_TRIM:-_STFT_TRIM]
    return np.ascontiguousarray(np.swapaxes(z, -1, -2), dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# superlets
# ---------------------------------------------------------------------------------------------


def _superlet_orders(freqs: np.ndarray) -> np.ndarray:
    """Fractional adaptive order of each frequency: linear from order_min to order_max."""
    span = _SL_ORDER_MAX - _SL_ORDER_MIN
    return _SL_ORDER_MIN + span * (freqs - freqs[0]) / (freqs[-1] - freqs[0])


def _morlet_sl(scale: float, cycles: float, dt: float) -> np.ndarray:
    """Sampled superlet Morlet of Moca et al.: ``cycles`` cycles in a +-k_sd Gaussian.

    ``psi(t) = k / (s c (2 pi)^1.5) exp(i t/s) exp(-(k t / (2 pi c s))^2 / 2)`` times
    ``sqrt(dt) / (4 pi)``, sampled at ``((1 - M) / 2 + j) dt`` for ``j < ceil(M)``,
    ``M = 10 s c / dt`` samples (the support grows with both scale and cycles).
    """
    n_support = _SL_SUPPORT * scale * cycles / dt
    t = np.arange((-n_support + 1) / 2.0, (n_support + 1) / 2.0) * dt
    ts = t / scale
    amplitude = _SL_K_SD / (scale * cycles * (2 * np.pi) ** 1.5) * dt**0.5 / (4 * np.pi)
    envelope = np.exp(-0.5 * (_SL_K_SD * ts / (2 * np.pi * cycles)) ** 2)
    return amplitude * envelope * np.exp(1j * ts)


def superlet_magnitude(
    signal: np.ndarray, sfreq: float, freqs: np.ndarray = SUPERLET_FREQS, step: int = 1
) -> np.ndarray:
    """Magnitude of the fractional adaptive superlet transform (FASLT), at 2048 Hz.

    A superlet (Moca et al. 2021) is a set of Morlet wavelets of one centre frequency with
    more and more cycles; its response is the geometric mean of theirs, which keeps the time
    resolution of the short wavelets and the frequency resolution of the long ones. Adaptive:
    the order ``o`` rises linearly with frequency, from 3 at ``freqs[0]`` to 30 at
    ``freqs[-1]``; fractional: with ``o = m + a`` (integer ``m``, fraction ``a``) the response
    is ``prod_j |R_j| ** (w_j / (o - 2))`` over the Morlets of ``c1 * j`` cycles (c1 = 1),
    ``j = 3 .. m`` with weight ``w_j = 1`` and ``j = m + 1`` with weight ``a``. The Morlet of
    ``c`` cycles at scale ``s = 1 / (2 pi f)`` is ``k / (s c (2 pi)^1.5) exp(i t / s)
    exp(-(k t / (2 pi c s))^2 / 2)`` (k = 5 standard deviations) times ``sqrt(dt) / (4 pi)``,
    sampled at ``((1 - M) / 2 + j) dt`` for ``j < ceil(M)``, ``M = 10 s c / dt``; each
    response is its linear convolution with the signal, the middle ``n_samples`` kept (as
    ``scipy.signal.fftconvolve(..., mode="same")``), computed by FFT with one transform of the
    signal per frequency. The signal is first brought to 2048 Hz (:func:`to_model_rate`).

    Parameters
    ----------
    signal : ndarray, shape (n_samples,) or (n_channels, n_samples)
        Signal (µV).
    sfreq : float
        Its sampling rate (Hz).
    freqs : ndarray of float, shape (n_freqs,)
        Frequencies (Hz), increasing, at least two; BrainBERT's 40 by default.
    step : int
        Keep every ``step``-th sample (0, step, 2 step, ... at 2048 Hz) of the responses.

    Returns
    -------
    ndarray of float64, shape (n_freqs, n_kept) or (n_channels, n_freqs, n_kept)
        Superlet magnitude (µV times a constant of the normalisation, ``sqrt(2048) / (8 pi)``
        for a sine of amplitude 1 at a grid frequency), ``n_kept = ceil(n_model / step)`` for
        the ``n_model`` samples at 2048 Hz.

    Raises
    ------
    ValueError
        If the signal is not 1-D or 2-D, empty or not finite, the frequencies are not
        positive and increasing, or ``step`` is not positive.
    """
    x = _check_signal(signal)
    freqs = np.asarray(freqs, dtype=np.float64)
    if freqs.ndim != 1 or freqs.size < 2 or not (freqs[0] > 0 and np.all(np.diff(freqs) > 0)):
        raise ValueError(f"freqs must be at least two positive, increasing frequencies (Hz), got {freqs}")
    if int(step) < 1:
        raise ValueError(f"step must be a positive integer, got {step!r}")
    step = int(step)
    model = np.atleast_2d(to_model_rate(x, sfreq))
    dt = 1.0 / BRAINBERT_SFREQ
    n = model.shape[-1]
    scales = (1.0 / freqs) / (2 * np.pi)
    orders = _superlet_orders(1.0 / (2 * np.pi * scales))
    out = np.ones((model.shape[0], len(freqs), -(-n // step)))
    for k, (scale, order) in enumerate(zip(scales, orders)):
        whole = math.floor(order)
        weights = {j: 1.0 for j in range(_SL_ORDER_MIN, whole + 1)}
        if order - whole > 0:
            weights[whole + 1] = order - whole
        exponent = 1.0 / (order - _SL_ORDER_MIN + 1)
        wavelets = {j: _morlet_sl(scale, _SL_C1 * j, dt) for j in weights}
        n_fft = sp_fft.next_fast_len(n + max(len(w) for w in wavelets.values()) - 1)
        spectrum = sp_fft.fft(model, n_fft, axis=-1)
        for j, wavelet in wavelets.items():
            start = (len(wavelet) - 1) // 2  # "same": the middle of the full convolution
            response = sp_fft.ifft(spectrum * sp_fft.fft(wavelet, n_fft), axis=-1)
            out[:, k] *= np.abs(response[:, start : start + n : step]) ** (weights[j] * exponent)
    return out[0] if x.ndim == 1 else out


def superlet_frame_times(n_samples: int, sfreq: float = BRAINBERT_SFREQ) -> np.ndarray:
    """Times of the frames :func:`superlet_spectrogram` returns for a signal of a given length.

    Parameters
    ----------
    n_samples : int
        Length of the signal (samples at ``sfreq``).
    sfreq : float
        Its sampling rate (Hz); the frames are samples of the signal brought to 2048 Hz.

    Returns
    -------
    ndarray of float64, shape (n_frames,)
        Time of each kept sample, in seconds from the signal's first sample:
        ``k * 50 / 2048`` for ``k = 5 .. ceil(n / 50) - 6`` (BrainBERT's own ``t`` spreads the
        decimated count evenly over the duration instead, which is off by up to 24 ms).

    Raises
    ------
    ValueError
        If the signal is too short for one frame (fewer than 501 samples at 2048 Hz).
    """
    n_model = _model_length(int(n_samples), sfreq)
    n_all = -(-n_model // _SL_DECIM)
    if n_all <= 2 * _SL_TRIM:
        minimum = 2 * _SL_TRIM * _SL_DECIM + 1
        raise ValueError(
            f"the superlet recipe needs at least {_min_input_samples(minimum, sfreq)} samples at "
            f"{sfreq:g} Hz ({minimum} at 2048 Hz) to keep one frame after dropping {_SL_TRIM} "
            f"at each end, got {n_samples}"
        )
    return np.arange(_SL_TRIM, n_all - _SL_TRIM) * _SL_DECIM / BRAINBERT_SFREQ


def superlet_spectrogram(signal: np.ndarray, sfreq: float) -> np.ndarray:
    """BrainBERT's superlet input: z-scored adaptive-superlet magnitude, 0.1-200 Hz.

    The signal is brought to 2048 Hz (:func:`to_model_rate`), then, per channel, as
    BrainBERT's ``SuperletPreprocessor``: the fractional adaptive superlet transform (Moca et
    al. 2021; base Morlet of c1 = 1 cycle, order rising linearly with frequency from 3 at
    0.1 Hz to 30 at 200 Hz, geometric mean of the Morlet responses of 3, 4, ... cycles, the
    last one with the fractional part of the order as weight) at :data:`SUPERLET_FREQS`, its
    magnitude, every 50th sample kept (plain slicing, no anti-alias filter, as upstream), 5
    frames dropped at each end, then each frequency z-scored over the kept frames
    (population std; a constant row gives zeros, as upstream's ``nan_to_num``).

    Parameters
    ----------
    signal : ndarray, shape (n_samples,) or (n_channels, n_samples)
        One window of signal (µV).
    sfreq : float
        Its sampling rate (Hz).

    Returns
    -------
    ndarray of float32, shape (n_frames, 40) or (n_channels, n_frames, 40)
        Z-scores (no unit), frames at :func:`superlet_frame_times` (195 for a 5 s window),
        columns at :data:`SUPERLET_FREQS`.

    Raises
    ------
    ValueError
        If the signal is not 1-D or 2-D, is not finite (names the channels), or is shorter
        than the recipe's minimum (501 samples at 2048 Hz).
    """
    x = _check_signal(signal)
    superlet_frame_times(x.shape[-1], sfreq)  # checks the length
    mag = superlet_magnitude(x, sfreq, SUPERLET_FREQS, step=_SL_DECIM)[..., _SL_TRIM:-_SL_TRIM]
    mean = mag.mean(axis=-1, keepdims=True)
    std = mag.std(axis=-1, ddof=0, keepdims=True)
    z = np.divide(mag - mean, std, out=np.zeros_like(mag), where=std > 0)
    return np.ascontiguousarray(np.swapaxes(z, -1, -2), dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# band power
# ---------------------------------------------------------------------------------------------


def _check_band(band, sfreq: float) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in band)
    except (TypeError, ValueError):
        raise ValueError(f"a band must be a pair (low_hz, high_hz), got {band!r}") from None
    if not 0 < low < high < sfreq / 2:
        raise ValueError(
            f"band ({low:g}, {high:g}) Hz must satisfy 0 < low < high < the Nyquist frequency "
            f"{sfreq / 2:g} Hz (sampling rate {sfreq:g} Hz)"
        )
    return low, high


def bandpass_sos(band: Sequence[float], sfreq: float, order: int = BAND_ORDER) -> np.ndarray:
    """Butterworth band-pass as second-order sections.

    Parameters
    ----------
    band : (float, float)
        Lower and upper -3 dB frequencies (Hz), between 0 and the Nyquist frequency.
    sfreq : float
        Sampling rate (Hz).
    order : int
        Order of the low-pass prototype; the band-pass has ``2 * order`` poles.

    Returns
    -------
    ndarray of float64, shape (order, 6)
        ``scipy.signal.butter(order, band, btype="bandpass", fs=sfreq, output="sos")``.

    Raises
    ------
    ValueError
        If the band is not inside (0, Nyquist) or the order is not positive.
    """
    sfreq = _check_sfreq(sfreq)
    low, high = _check_band(band, sfreq)
    if int(order) < 1:
        raise ValueError(f"order must be a positive integer, got {order!r}")
    return sp_signal.butter(int(order), (low, high), btype="bandpass", fs=sfreq, output="sos")


def band_delay_s(
    band: Sequence[float] = HIGH_GAMMA, sfreq: float = BRAINBERT_SFREQ, order: int = BAND_ORDER
) -> float:
    """Group delay of the band-pass at its centre frequency: how late band power comes out.

    The causal filter delays the band's envelope, hence the power, by its group delay; at the
    geometric centre ``sqrt(low * high)`` it is 10.37 ms for the default 70-150 Hz band at
    2048 Hz (order 4; from 9.7 ms near 116 Hz to 23 ms at the band's lower edge). To compensate,
    read the power of the bin centred at ``t`` from a window centred at
    ``t + band_delay_s(...)``, i.e. shift the window starts by ``round(delay * sfreq)`` samples.

    Parameters
    ----------
    band : (float, float)
        Lower and upper -3 dB frequencies (Hz).
    sfreq : float
        Sampling rate (Hz).
    order : int
        Order of the Butterworth prototype (:func:`bandpass_sos`).

    Returns
    -------
    float
        Delay (s), the sum of the sections' group delays at the centre frequency.
    """
    sos = bandpass_sos(band, sfreq, order)
    low, high = _check_band(band, float(sfreq))
    centre = math.sqrt(low * high)
    samples = sum(
        sp_signal.group_delay((section[:3], section[3:]), w=[centre], fs=sfreq)[1][0] for section in sos
    )
    return float(samples) / float(sfreq)


class BandPowerStream:
    """Band power of a signal arriving in chunks: causal band-pass, squared.

    Each band's filter (:func:`bandpass_sos`, float64) starts from zero state and carries its
    state from one chunk to the next, so the chunks' outputs concatenated equal one call on
    the whole signal, bit for bit.

    Parameters
    ----------
    bands : sequence of (float, float)
        Bands (Hz).
    sfreq : float
        Sampling rate (Hz).
    order : int
        Butterworth prototype order of every band-pass.
    n_channels : int or None
        Rows of every chunk; None: fixed by the first chunk.

    Attributes
    ----------
    sfreq : float
        Sampling rate (Hz).
    n_channels : int or None
        Rows of every chunk (None until the first chunk when not given).
    bands : list of (float, float)
        The bands (Hz).
    sos : list of ndarray of float64, shape (order, 6)
        Each band's filter.
    delay_s : ndarray of float64, shape (n_bands,)
        Each band's group delay at its centre frequency (s; :func:`band_delay_s`).
    """

    def __init__(
        self,
        bands: Sequence[Sequence[float]],
        sfreq: float,
        order: int = BAND_ORDER,
        n_channels: int | None = None,
    ):
        self.sfreq = _check_sfreq(sfreq)
        bands = list(bands)
        if not bands:
            raise ValueError("bands is empty: give at least one (low_hz, high_hz) pair")
        self.bands = [_check_band(band, self.sfreq) for band in bands]
        self.sos = [bandpass_sos(band, self.sfreq, order) for band in self.bands]
        self.delay_s = np.array([band_delay_s(band, self.sfreq, order) for band in self.bands])
        self.n_channels = None if n_channels is None else int(n_channels)
        self._filters = None

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        """Band power of the next chunk.

        Parameters
        ----------
        chunk : ndarray, shape (n_channels, n_chunk)
            The samples following the previous chunk (µV).

        Returns
        -------
        ndarray of float32, shape (n_bands, n_channels, n_chunk)
            Squared band-passed signal (µV²).
        """
        x = np.asarray(chunk)
        if x.ndim != 2 or (self.n_channels is not None and x.shape[0] != self.n_channels):
            expected = "n_channels" if self.n_channels is None else self.n_channels
            raise ValueError(f"chunk must have shape ({expected}, n_chunk), got {x.shape}")
        if self.n_channels is None:
            self.n_channels = x.shape[0]
        if x.shape[1] == 0:
            return np.zeros((len(self.bands), self.n_channels, 0), dtype=np.float32)
        x = _check_signal(x, "chunk")
        if self._filters is None:
            self._filters = [StreamingFilter(sos, self.n_channels, dtype=np.float64) for sos in self.sos]
        out = np.empty((len(self.bands), self.n_channels, x.shape[1]), dtype=np.float32)
        for row, band_filter in enumerate(self._filters):
            filtered = band_filter(x)
            np.square(filtered, out=filtered)
            out[row] = filtered
        return out


def band_power_stream(
    bands: Sequence[Sequence[float]] = (HIGH_GAMMA,),
    sfreq: float = BRAINBERT_SFREQ,
    order: int = BAND_ORDER,
    n_channels: int | None = None,
) -> BandPowerStream:
    """A :class:`BandPowerStream`: call it on consecutive chunks of a session.

    Parameters
    ----------
    bands : sequence of (float, float)
        Bands (Hz); high gamma (70-150 Hz) by default.
    sfreq : float
        Sampling rate (Hz).
    order : int
        Butterworth prototype order.
    n_channels : int or None
        Rows of every chunk; None: fixed by the first chunk.

    Returns
    -------
    BandPowerStream
        ``stream(chunk)`` maps (n_channels, n_chunk) µV to (n_bands, n_channels, n_chunk)
        float32 µV²; ``stream.delay_s`` holds each band's group delay (s).
    """
    return BandPowerStream(bands, sfreq, order=order, n_channels=n_channels)


def band_power(
    signal: np.ndarray,
    sfreq: float,
    bands: Sequence[Sequence[float]] = (HIGH_GAMMA,),
    order: int = BAND_ORDER,
) -> np.ndarray:
    """Instantaneous band power at the signal's own rate (causal band-pass, squared).

    Equals :class:`BandPowerStream` run over the signal in chunks of any size. Averaging it
    over a window gives the band's power in that window (µV²); a sine of amplitude ``A``
    inside the band has mean power ``A**2 / 2``. The power lags the signal by the filter's
    group delay (:func:`band_delay_s`).

    Parameters
    ----------
    signal : ndarray, shape (n_samples,) or (n_channels, n_samples)
        Signal (µV), from the session's first sample (the filters start from rest).
    sfreq : float
        Its sampling rate (Hz).
    bands : sequence of (float, float)
        Bands (Hz); high gamma (70-150 Hz) by default.
    order : int
        Butterworth prototype order.

    Returns
    -------
    ndarray of float32, shape (n_bands, n_samples) or (n_bands, n_channels, n_samples)
        Squared band-passed signal (µV²).

    Raises
    ------
    ValueError
        If the signal is not 1-D or 2-D, empty or not finite (names the channels), or a band
        is not inside (0, Nyquist).
    """
    x = _check_signal(signal)
    stream = BandPowerStream(bands, sfreq, order=order)
    out = stream(np.atleast_2d(x))
    return out[:, 0] if x.ndim == 1 else out
