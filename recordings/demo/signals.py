"""The demo's neural signals: what each event drives, the planted responses, and the noise.

* **Drives.** The stimulus reaches the electrodes through two latent variables: the visual
  latent ``v`` of the scene on screen and the verbal latent ``w`` of the words heard. A word
  event is each unique finite word onset; it sees the first frame at or after the onset (so
  the ``v`` of that frame's scene) and its first token's ``w``. A scene event is each cut; it
  sees the new scene's ``v`` and the latent of the last sentence whose first word started at or
  before the cut (the mean ``w`` of its tokens, scaled to unit variance over sentences; zeros
  before the first sentence). The drive of a kind is ``f_vision = v``, ``f_language = w`` and
  ``f_multimodal = v * w`` (elementwise; both zero-mean and independent, so neither alone
  predicts it linearly): the columns of the truth features (:func:`truth_features`).
* **Responses.** A responsive electrode has weights ``a_e`` (:func:`response_weights`): at every
  event it responds ``(a_e · f_kind(event)) * kernel(t - onset)``, a Gaussian kernel peaking at
  :data:`KERNEL_LATENCY_S` with width :data:`KERNEL_SD_S` (:func:`response_kernel`). Responses
  are planted in the **Laplacian** reference: a responsive contact's response is spread over
  its shaft as a tent (:func:`tent_weights`), which the Laplacian maps back exactly to the
  responsive contact and to zero everywhere else.
* **High gamma.** A ``highgamma`` electrode responds in power, not in voltage: it carries a
  carrier, Gaussian noise band-limited to :data:`HIGHGAMMA_BAND_HZ` (:func:`band_noise`), whose
  power follows the multimodal drive. Its weights ``a_e`` (:func:`response_weights`, drawn from
  a stream of its own) give the same time course a multimodal electrode's voltage has,
  ``s(t) = sum over events of (a_e · v*w) * kernel(t - onset)``, here dimensionless (relative
  power per unit of drive, norm :data:`HIGHGAMMA_GAIN` times 0.8-1.2); the carrier's power is
  ``HIGHGAMMA_UV**2 * max(HIGHGAMMA_FLOOR, 1 + s(t))`` smoothed over :data:`HIGHGAMMA_SMOOTH_S`
  (:func:`highgamma_envelope`, :func:`highgamma_carriers`). The envelope varies on tens of
  ms and the carrier has no content below 80 Hz, so a 200-ms mean of the voltage holds nothing
  of it (its ``sinc`` is below 2 % at 80 Hz and its sign is random), while the band power
  (70-150 Hz) rises and falls with ``1 + s(t)``. It is planted in the Laplacian reference like
  a voltage response (the tent).
* **Noise.** Every neural channel has pink (1/f) noise of :data:`NOISE_UV`, line noise at 60
  and 120 Hz (:data:`LINE_NOISE_UV`), and is quantised to ADC steps (:data:`ADC_STEP_UV`).
  Trigger channels carry 10 ms pulses of 5000 µV at the triggers; the corrupted contact
  saturating junk.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import scipy.fft
import scipy.signal

from mmsites.constants import ELECTRODE_KINDS
from mmsites.recordings.braintreebank import clean_label, shaft_and_contact
from mmsites.timing import TIME_TOL_S

from .movie import N_LATENT, frame_index

__all__ = [
    "ADC_STEP_UV",
    "HIGHGAMMA_BAND_HZ",
    "HIGHGAMMA_FLOOR",
    "HIGHGAMMA_GAIN",
    "HIGHGAMMA_SMOOTH_S",
    "HIGHGAMMA_UV",
    "KERNEL_LATENCY_S",
    "KERNEL_SD_S",
    "LINE_NOISE_UV",
    "NOISE_UV",
    "RESPONSE_UV",
    "STATE_BAND_HZ",
    "STATE_DEPTH",
    "STATE_TAU_S",
    "STATE_UV",
    "band_noise",
    "electrode_drives",
    "highgamma_carriers",
    "highgamma_envelope",
    "kind_drive",
    "laplacian_responses",
    "pink_noise",
    "response_kernel",
    "response_weights",
    "shared_state_amplitude",
    "synthesize_channels",
    "tent_weights",
    "truth_features",
]

#: Peak time (s after the event onset) and Gaussian width (s) of the planted response.
KERNEL_LATENCY_S = 0.25
KERNEL_SD_S = 0.08
#: Standard deviation of the background pink noise of every neural channel (µV).
NOISE_UV = 20.0
#: Peak response (µV, Laplacian reference) per unit of drive; drives have unit variance.
RESPONSE_UV = 30.0
#: Line noise amplitudes (µV) at 60 Hz and its first harmonic.
LINE_NOISE_UV = {60.0: 12.0, 120.0: 4.0}
#: ADC step of the real recordings (µV): values are multiples of it.
ADC_STEP_UV = 0.2658
#: Band (Hz) of the carrier of ``highgamma`` electrodes, inside the default high-gamma band
#: (70-150 Hz) of the band-power responses.
HIGHGAMMA_BAND_HZ = (80.0, 140.0)
#: RMS (µV, Laplacian reference) of a highgamma electrode's carrier where its drive is 0.
HIGHGAMMA_UV = 15.0
#: Relative change of the carrier's power per unit of drive (the norm of the highgamma weights
#: before their 0.8-1.2 gain); drives have unit variance, so strongly negative drives reach
#: :data:`HIGHGAMMA_FLOOR` (a suppression). Chosen so that the pipeline's band-power responses
#: give these electrodes as many signal bins as the voltage gives the multimodal ones (10-14 on
#: the default demo): the carrier's own power fluctuates by ~30 % over 200 ms.
HIGHGAMMA_GAIN = 1.2
#: Floor of the carrier's relative power (``1 + s`` below it is raised to it), so that the
#: amplitude, its square root, stays smooth.
HIGHGAMMA_FLOOR = 0.05
#: Length (s) of the Hann window that smooths the carrier's relative power.
HIGHGAMMA_SMOOTH_S = 0.05
#: Band (Hz) of the background rhythm whose power follows the subject's slow shared state
#: (beta and low gamma; a 200-ms voltage mean keeps under 2 % of its power, and it stays below
#: the 60 Hz notch and the high-gamma band).
STATE_BAND_HZ = (8.0, 55.0)
#: Mean RMS (µV) of that rhythm on every neural channel: 1.5 times the pink noise's own RMS in
#: the band (20 µV x sqrt(ln(55/8) / ln(2048))).
STATE_UV = 15.0
#: Time constant (s) of the state, an Ornstein-Uhlenbeck process of unit variance.
STATE_TAU_S = 1.5
#: The rhythm's log power changes by this much per unit of state (power x e^{+-1.5} at 1 sd).
STATE_DEPTH = 1.5
#: Rate (Hz) at which the state is drawn before its linear interpolation to the samples.
STATE_RATE_HZ = 100.0


# --------------------------------------------------------------------------------------------
# Drives: the latent stimulus variables of every event (the truth features)
# --------------------------------------------------------------------------------------------
def truth_features(
    table: pd.DataFrame,
    token_w: np.ndarray,
    token_sentence: np.ndarray,
    starts: np.ndarray,
    latents: np.ndarray,
    fps: float,
    n_frames: int,
) -> dict[str, pd.DataFrame]:
    """Build the events of each alignment and the latent variables each one carries.

    Parameters
    ----------
    table : pandas.DataFrame
        The word table (:func:`~mmsites.recordings.demo.transcript.plan_transcript`), columns
        ``start`` (s, NaN for untimed tokens) and ``is_onset``.
    token_w : ndarray of float64, shape (n_tokens, N_LATENT)
        Verbal latent of each token.
    token_sentence : ndarray of int, shape (n_tokens,)
        Sentence number of each token.
    starts : ndarray of int64, shape (n_scenes,)
        First frame of each scene.
    latents : ndarray of float64, shape (n_scenes, N_LATENT)
        Visual latent of each scene.
    fps : float
        Frame rate of the movie (frames/s).
    n_frames : int
        Number of frames of the movie.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``"language"`` (one row per unique finite word onset, in time order) and ``"vision"``
        (one row per scene cut) -> columns ``movie_time`` (s), ``v0..v4``, ``w0..w4`` and
        ``vw0..vw4`` (the products), as in ``truth_features/multimodal``.
    """
    start = table["start"].to_numpy(np.float64)
    is_onset = table["is_onset"].to_numpy() == 1
    finite = np.flatnonzero(np.isfinite(start))
    # word events: unique finite onsets; the first token at that onset gives w
    order = finite[np.argsort(start[finite], kind="stable")]
    first = np.r_[True, np.diff(start[order]) != 0]
    rows = order[first]
    onset = start[rows]
    scene = np.searchsorted(starts, frame_index(onset, fps, n_frames), side="right") - 1
    v_lang, w_lang = latents[scene], token_w[rows]

    # sentence latents: mean token w, scaled to unit variance over sentences
    n_sent = token_sentence.max() + 1
    sums = np.zeros((n_sent, N_LATENT))
    np.add.at(sums, token_sentence, token_w)
    means = sums / np.bincount(token_sentence, minlength=n_sent)[:, None]
    means /= np.sqrt(np.mean(means**2))
    sent_start = start[is_onset]  # sentence-initial tokens always have a finite start
    cut_frames = starts[1:]
    cut_times = cut_frames / fps
    which = np.searchsorted(sent_start, cut_times + TIME_TOL_S, side="right") - 1
    w_cut = np.where(which[:, None] >= 0, means[np.maximum(which, 0)], 0.0)
    v_cut = latents[1:]

    def _table(times, v, w):
        data = {"movie_time": times}
        data.update({f"v{i}": v[:, i] for i in range(N_LATENT)})
        data.update({f"w{i}": w[:, i] for i in range(N_LATENT)})
        data.update({f"vw{i}": v[:, i] * w[:, i] for i in range(N_LATENT)})
        return pd.DataFrame(data)

    return {"language": _table(onset, v_lang, w_lang), "vision": _table(cut_times, v_cut, w_cut)}


def kind_drive(features: pd.DataFrame, kind: str) -> np.ndarray:
    """Drive matrix of one electrode kind, from a multimodal truth-features table.

    Parameters
    ----------
    features : DataFrame, shape (n_events, 1 + 3 * N_LATENT)
        ``truth_features/multimodal/<movie>_<alignment>.parquet`` (columns ``v*``, ``w*``,
        ``vw*``).
    kind : {"vision", "language", "multimodal", "linear", "highgamma"}
        The electrode kind (not ``"none"``, which has no drive).

    Returns
    -------
    drive : ndarray of float64, shape (n_events, N_LATENT) or (n_events, 2 * N_LATENT)
        ``v``, ``w`` or ``v * w`` (``"multimodal"`` and ``"highgamma"``), or ``[v, w]``
        (columns ``v0..v4, w0..w4``) for ``"linear"``; an electrode's planted peak response
        (µV, Laplacian reference) to each event is ``drive @ DemoInfo.weights[subject][label]``,
        for a highgamma one the peak relative change of its carrier's power.

    Raises
    ------
    ValueError
        If ``kind`` is not one of those kinds.
    """
    if kind not in ELECTRODE_KINDS[1:]:
        raise ValueError(f"kind must be one of {ELECTRODE_KINDS[1:]}, got {kind!r}")
    prefixes = {
        "vision": ("v",),
        "language": ("w",),
        "multimodal": ("vw",),
        "linear": ("v", "w"),
        "highgamma": ("vw",),
    }[kind]
    return features[[f"{p}{i}" for p in prefixes for i in range(N_LATENT)]].to_numpy(np.float64)


# --------------------------------------------------------------------------------------------
# Responses: each responsive electrode's weights, drive and response
# --------------------------------------------------------------------------------------------
def response_weights(
    rng: np.random.Generator,
    linear_rng: np.random.Generator | None,
    planted: dict[str, str],
    kinds: dict[str, str],
    highgamma_rng: np.random.Generator | None = None,
) -> dict[str, np.ndarray]:
    """Draw the weights ``a_e`` of every responsive electrode of one subject.

    Every electrode planted with a voltage response gets a random direction and a gain of
    0.8-1.2 times :data:`RESPONSE_UV`, drawn whatever its final kind so that a variant leaves
    the other electrodes' draws unchanged. A highgamma electrode gets the same from
    ``highgamma_rng``, with :data:`HIGHGAMMA_GAIN` for :data:`RESPONSE_UV`: ``rng`` draws
    exactly what it drew before that kind existed.

    Parameters
    ----------
    rng : numpy.random.Generator
        The subject's planning stream.
    linear_rng : numpy.random.Generator or None
        A separate stream for the second weight vector of ``"linear"`` electrodes (None when
        there are none).
    planted : dict of str to str
        Electrode -> planted kind (:func:`~mmsites.recordings.demo.montage.assign_kinds`).
    kinds : dict of str to str
        Electrode -> kind written, after the variant replaced ``"multimodal"``.
    highgamma_rng : numpy.random.Generator or None
        The stream of the highgamma electrodes (None when there are none).

    Returns
    -------
    dict of str to ndarray of float64
        Each electrode whose kind is not ``"none"`` -> ``a_e`` (µV of Laplacian response peak
        per unit of drive), shape (N_LATENT,), or (2 * N_LATENT,) for ``"linear"``: ``(a1,
        a2)``, ``a1`` along the drawn direction, ``a2`` random, each of norm ``|a| / sqrt(2)``;
        for ``"highgamma"`` the relative change of its carrier's power per unit of drive
        (dimensionless), shape (N_LATENT,).

    Raises
    ------
    ValueError
        If an electrode is planted highgamma and ``highgamma_rng`` is None.
    """
    weights = {}
    for label, planted_kind in planted.items():
        if planted_kind == "none":
            continue
        if planted_kind == "highgamma":  # its own stream: rng's draws stay those of the voltage kinds
            if highgamma_rng is None:
                raise ValueError(f"{label} is planted highgamma: highgamma_rng is required")
            direction = highgamma_rng.standard_normal(N_LATENT)
            gain = HIGHGAMMA_GAIN * highgamma_rng.uniform(0.8, 1.2)
            weights[label] = gain * direction / np.linalg.norm(direction)
            continue
        # drawn for every planted electrode whatever the variant: the others keep their draws
        direction = rng.standard_normal(N_LATENT)
        a = RESPONSE_UV * rng.uniform(0.8, 1.2) * direction / np.linalg.norm(direction)
        kind = kinds[label]
        if kind == "none":  # no_multimodal: drawn, not planted
            continue
        if kind == "linear":  # a1 along the drawn direction, a2 random; each of norm |a|/sqrt(2)
            other = linear_rng.standard_normal(N_LATENT)
            norm = np.linalg.norm(a)
            a = np.concatenate([a, norm * other / np.linalg.norm(other)]) / np.sqrt(2.0)
        weights[label] = a
    return weights


def electrode_drives(
    weights: dict[str, np.ndarray],
    kinds: dict[str, str],
    features: dict[str, pd.DataFrame],
    keep: dict[str, np.ndarray],
) -> dict[str, dict[str, np.ndarray]]:
    """Peak response of every responsive electrode to every event in the recording.

    Parameters
    ----------
    weights : dict of str to ndarray of float64
        Electrode -> ``a_e`` (:func:`response_weights`).
    kinds : dict of str to str
        Electrode -> kind.
    features : dict of str to pandas.DataFrame
        Alignment -> truth features (:func:`truth_features`).
    keep : dict of str to ndarray of bool
        Alignment -> which events fall within the recording, shape (n_events,).

    Returns
    -------
    dict of str to dict of str to ndarray of float64
        Electrode (in the order of ``weights``) -> alignment -> ``kind_drive @ a_e`` of the
        kept events (µV, Laplacian reference), shape (n_kept,).
    """
    return {
        label: {al: kind_drive(features[al][keep[al]], kinds[label]) @ a for al in features}
        for label, a in weights.items()
    }


def response_kernel(
    sfreq: float, latency_s: float = KERNEL_LATENCY_S, sd_s: float = KERNEL_SD_S
) -> tuple[np.ndarray, int]:
    """The planted response shape, a unit-peak Gaussian bump sampled at ``sfreq``.

    Parameters
    ----------
    sfreq : float
        Sampling rate (Hz).
    latency_s, sd_s : float
        Peak time after the event (s) and standard deviation (s).

    Returns
    -------
    kernel : ndarray of float64, shape (n_lags,)
        Values at lags ``first_lag .. first_lag + n_lags - 1`` samples from the onset,
        covering ±5 sd around the peak; the value at the peak lag is 1 when
        ``latency_s * sfreq`` is whole.
    first_lag : int
        Lag (samples from the event onset, may be negative) of ``kernel[0]``.
    """
    if sd_s <= 0 or sfreq <= 0:
        raise ValueError(f"sfreq and sd_s must be positive, got sfreq={sfreq}, sd_s={sd_s}")
    first = int(np.floor((latency_s - 5 * sd_s) * sfreq))
    last = int(np.ceil((latency_s + 5 * sd_s) * sfreq))
    lags = np.arange(first, last + 1) / sfreq
    return np.exp(-0.5 * ((lags - latency_s) / sd_s) ** 2), first


def tent_weights(contacts: np.ndarray, source: int) -> np.ndarray:
    """Raw-reference weights that a source at one contact puts on every contact of its shaft.

    ``t_c = 1 - |c - source|`` minus its mean over the shaft: linear away from the source,
    so the Laplacian ``t_c - (t_{c-1} + t_{c+1}) / 2`` is 1 at the source and 0 at every
    other contact that has both neighbours.

    Parameters
    ----------
    contacts : ndarray of int, shape (n_contacts,)
        Contact numbers of the shaft (consecutive integers).
    source : int
        Contact number of the responsive electrode.

    Returns
    -------
    weights : ndarray of float64, shape (n_contacts,)
        Weight of the source's Laplacian response on each contact (dimensionless; zero mean
        over the shaft).
    """
    contacts = np.asarray(contacts, dtype=np.float64)
    tent = 1.0 - np.abs(contacts - source)
    return tent - tent.mean()


def laplacian_responses(
    onsets: dict[str, np.ndarray],
    drives: dict[str, dict[str, np.ndarray]],
    n_samples: int,
    sfreq: float,
) -> dict[str, np.ndarray]:
    """The response time course of every responsive electrode, in the Laplacian reference.

    Parameters
    ----------
    onsets : dict of str to ndarray of int64
        Alignment -> sample of each event in the recording, shape (n_kept,).
    drives : dict of str to dict of str to ndarray of float64
        Electrode -> alignment -> peak response (µV) to each of those events
        (:func:`electrode_drives`); for highgamma electrodes the peak relative change of
        their carrier's power (dimensionless), which gives their time course ``s(t)``.
    n_samples : int
        Length of the recording (samples).
    sfreq : float
        Sampling rate (Hz).

    Returns
    -------
    dict of str to ndarray of float64
        Electrode (in the order of ``drives``) -> its response (µV), shape (n_samples,): the
        sum over events of the peak response times :func:`response_kernel` placed at the onset.
    """
    kernel, first_lag = response_kernel(sfreq)
    laplacian = {}
    pad = max(0, -first_lag)  # impulse k sits at onset + first_lag + pad: never negative
    for label, per_alignment in drives.items():
        impulses = np.zeros(n_samples + pad + len(kernel))
        for alignment, amplitude in per_alignment.items():
            np.add.at(impulses, onsets[alignment] + first_lag + pad, amplitude)
        # full[n] = sum_k amp_k kernel[n - p_k]: kernel[j] lands on sample onset_k + first_lag + j
        laplacian[label] = scipy.signal.oaconvolve(impulses, kernel)[pad : pad + n_samples]
    return laplacian


# --------------------------------------------------------------------------------------------
# Noise, and every channel of a recording
# --------------------------------------------------------------------------------------------
def pink_noise(n_samples: int, sfreq: float, rng: np.random.Generator, fmin: float = 0.5) -> np.ndarray:
    """Gaussian noise with a 1/f power spectrum above ``fmin`` (flat below), unit variance.

    Parameters
    ----------
    n_samples : int
        Length (samples).
    sfreq : float
        Sampling rate (Hz).
    rng : numpy.random.Generator
        Source of randomness.
    fmin : float
        Frequency (Hz) below which the spectrum is flat, to bound slow drift.

    Returns
    -------
    noise : ndarray of float64, shape (n_samples,)
        Zero mean, unit standard deviation (dimensionless).
    """
    n_fft = scipy.fft.next_fast_len(n_samples, real=True)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sfreq)
    spectrum = rng.standard_normal(freqs.size) + 1j * rng.standard_normal(freqs.size)
    spectrum /= np.sqrt(np.maximum(freqs, fmin))
    spectrum[0] = 0.0
    noise = scipy.fft.irfft(spectrum, n_fft)[:n_samples]
    noise -= noise.mean()
    return noise / noise.std()


def band_noise(
    n_samples: int, sfreq: float, rng: np.random.Generator, band: tuple[float, float] = HIGHGAMMA_BAND_HZ
) -> np.ndarray:
    """Gaussian noise with a flat spectrum inside ``band`` and none outside, unit variance.

    Parameters
    ----------
    n_samples : int
        Length (samples).
    sfreq : float
        Sampling rate (Hz); ``band`` must lie below its Nyquist frequency.
    rng : numpy.random.Generator
        Source of randomness.
    band : (float, float)
        Lowest and highest frequency (Hz) of the noise.

    Returns
    -------
    noise : ndarray of float64, shape (n_samples,)
        Unit standard deviation (dimensionless); its Fourier coefficients over the FFT length
        are zero outside ``band``.

    Raises
    ------
    ValueError
        If ``band`` is not inside (0, sfreq / 2).
    """
    low, high = band
    if not 0 < low < high < sfreq / 2:
        raise ValueError(f"band must satisfy 0 < low < high < sfreq / 2 = {sfreq / 2:g}, got {band}")
    n_fft = scipy.fft.next_fast_len(n_samples, real=True)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sfreq)
    spectrum = rng.standard_normal(freqs.size) + 1j * rng.standard_normal(freqs.size)
    spectrum[(freqs < low) | (freqs > high)] = 0.0
    noise = scipy.fft.irfft(spectrum, n_fft)[:n_samples]
    return noise / noise.std()


def highgamma_envelope(course: np.ndarray, sfreq: float) -> np.ndarray:
    """Relative power of a highgamma electrode's carrier from its response time course.

    ``max(HIGHGAMMA_FLOOR, 1 + course)``, then a moving average under a Hann window of
    :data:`HIGHGAMMA_SMOOTH_S` (odd length, centred: no delay; the ends extended by their
    values): non-negative, 1 where the course is 0, smooth where the floor clips it.

    Parameters
    ----------
    course : ndarray of float64, shape (n_samples,)
        The electrode's response time course ``s(t)`` (dimensionless;
        :func:`laplacian_responses` of its drives).
    sfreq : float
        Sampling rate (Hz).

    Returns
    -------
    ndarray of float64, shape (n_samples,)
        Relative power, at least :data:`HIGHGAMMA_FLOOR`.
    """
    power = np.maximum(1.0 + np.asarray(course, dtype=np.float64), HIGHGAMMA_FLOOR)
    half = int(round(HIGHGAMMA_SMOOTH_S * sfreq)) // 2
    window = scipy.signal.windows.hann(2 * half + 3)[1:-1]  # 2 * half + 1 taps, none zero
    window /= window.sum()
    return scipy.signal.oaconvolve(np.pad(power, half, mode="edge"), window, mode="valid")


def highgamma_carriers(
    rng: np.random.Generator, courses: dict[str, np.ndarray], sfreq: float
) -> dict[str, np.ndarray]:
    """The high-gamma carrier of every highgamma electrode, in the Laplacian reference.

    Parameters
    ----------
    rng : numpy.random.Generator
        The highgamma stream (after the weights): one :func:`band_noise` per electrode, in the
        order of ``courses``.
    courses : dict of str to ndarray of float64
        Electrode -> its response time course ``s(t)`` (dimensionless), shape (n_samples,)
        (:func:`laplacian_responses` of its drives).
    sfreq : float
        Sampling rate (Hz).

    Returns
    -------
    dict of str to ndarray of float64
        Electrode (in the order of ``courses``) -> ``HIGHGAMMA_UV * sqrt(envelope) * noise``
        (µV), shape (n_samples,): band-limited noise of :data:`HIGHGAMMA_BAND_HZ` whose power
        is ``HIGHGAMMA_UV**2`` times :func:`highgamma_envelope`.
    """
    return {
        label: HIGHGAMMA_UV * np.sqrt(highgamma_envelope(course, sfreq)) * band_noise(course.size, sfreq, rng)
        for label, course in courses.items()
    }


def shared_state_amplitude(rng: np.random.Generator, n_samples: int, sfreq: float) -> np.ndarray:
    """Amplitude of the subject's state rhythm over time: one slow state shared by every channel.

    Real intracranial recordings carry slow fluctuations of brain state (arousal, attention)
    that modulate the power of background rhythms on many electrodes at once, unrelated to the
    stimulus; this is what lets a population model (PopT) tell consecutive windows of one
    recording from random ones. The state ``z(t)`` is an Ornstein-Uhlenbeck process of unit
    variance and time constant :data:`STATE_TAU_S`, drawn at :data:`STATE_RATE_HZ` (stationary
    from its first value) and interpolated linearly to the samples; the rhythm's power is
    ``STATE_UV**2 * exp(STATE_DEPTH * z - STATE_DEPTH**2 / 2)`` (mean ``STATE_UV**2``).

    Parameters
    ----------
    rng : numpy.random.Generator
        The subject's state stream (its first draws; the channels' rhythms use its children).
    n_samples : int
        Length (samples).
    sfreq : float
        Sampling rate (Hz).

    Returns
    -------
    ndarray of float64, shape (n_samples,)
        The rhythm's amplitude (µV, the square root of its power), positive.
    """
    n_slow = int(np.ceil(n_samples / sfreq * STATE_RATE_HZ)) + 2
    rho = np.exp(-1.0 / (STATE_RATE_HZ * STATE_TAU_S))
    shocks = rng.standard_normal(n_slow)
    z = scipy.signal.lfilter([np.sqrt(1 - rho**2)], [1.0, -rho], shocks[1:], zi=[rho * shocks[0]])[0]
    z = np.concatenate([shocks[:1], z])
    state = np.interp(np.arange(n_samples) / sfreq, np.arange(n_slow) / STATE_RATE_HZ, z)
    return STATE_UV * np.exp(0.5 * (STATE_DEPTH * state - STATE_DEPTH**2 / 2))


def synthesize_channels(
    rng_seq: np.random.SeedSequence,
    raw: list[str],
    shaft_of: np.ndarray,
    n_samples: int,
    sfreq: float,
    corrupted: str,
    laplacian: dict[str, np.ndarray],
    trigger_index: np.ndarray,
    extra_channel: bool,
    state: tuple[np.random.SeedSequence, np.ndarray] | None = None,
) -> Iterator[np.ndarray]:
    """Synthesise every channel of one recording, one at a time, in h5 channel order.

    Parameters
    ----------
    rng_seq : numpy.random.SeedSequence
        The subject's signal seed; each channel draws from its own child stream.
    raw : list of str
        Raw labels in channel order (:attr:`~mmsites.recordings.demo.montage.Montage.raw`).
    shaft_of : ndarray of int, shape (len(raw),)
        Shaft of each label, -1 for trigger channels.
    n_samples : int
        Length of every channel (samples).
    sfreq : float
        Sampling rate (Hz).
    corrupted : str
        Raw label of the broken contact (saturating junk).
    laplacian : dict of str to ndarray of float64
        Responsive electrode (cleaned label) -> its Laplacian response (µV), shape
        (n_samples,) (:func:`laplacian_responses`, or :func:`highgamma_carriers` for a
        highgamma one), spread over its shaft by :func:`tent_weights`.
    trigger_index : ndarray of int64
        Samples of the trigger pulses drawn on every trigger channel but ``DC10``.
    extra_channel : bool
        Add one channel of noise after the last label (the real sub_1 has one).
    state : (numpy.random.SeedSequence, ndarray of float64 of shape (n_samples,)), optional
        The subject's state stream and :func:`shared_state_amplitude`: every neural channel
        (not the trigger channels, the broken contact or the extra channel) gets its own
        :data:`STATE_BAND_HZ` noise from its child of that stream, times that amplitude.
        Independent carriers with one shared envelope: the Laplacian keeps the state (a shared
        voltage would cancel) and no channel's other draws change.

    Yields
    ------
    ndarray of float32, shape (n_samples,)
        The next channel (µV, multiples of :data:`ADC_STEP_UV`); ``len(raw) + extra_channel``
        of them.
    """
    cleaned = [clean_label(lab) for lab in raw]
    shafts: dict[int, list[int]] = {}
    for i, s in enumerate(shaft_of):
        if s >= 0:
            shafts.setdefault(int(s), []).append(i)
    seeds = rng_seq.spawn(len(raw) + 1)
    state_seeds = state[0].spawn(len(raw)) if state is not None else None
    t = np.arange(n_samples) / sfreq
    pulses = np.zeros(n_samples, dtype=np.float32)
    width = int(0.01 * sfreq)
    for k in trigger_index:
        pulses[k : k + width] = 5000.0
    n_channels = len(raw) + int(extra_channel)
    for i in range(n_channels):
        rng = np.random.default_rng(seeds[i])
        if i == len(raw):  # the trailing channel sub_1 has beyond its label list
            x = rng.standard_normal(n_samples) * 2.0
        elif shaft_of[i] < 0:  # DC/TRIG channel: trigger pulses, otherwise flat
            x = (
                pulses + rng.standard_normal(n_samples)
                if cleaned[i] != "DC10"
                else rng.standard_normal(n_samples)
            )
        elif raw[i] == corrupted:  # broken contact: saturating junk
            x = np.clip(rng.standard_normal(n_samples) * 3000.0 + 1500.0, -5000.0, 5000.0)
        else:
            x = NOISE_UV * pink_noise(n_samples, sfreq, rng)
            for freq, amp in LINE_NOISE_UV.items():
                x += amp * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
            members = shafts[int(shaft_of[i])]
            contacts = np.array([shaft_and_contact(cleaned[m])[1] for m in members])
            contact = shaft_and_contact(cleaned[i])[1]
            for label, response in laplacian.items():
                if label in (cleaned[m] for m in members):
                    weights = tent_weights(contacts, shaft_and_contact(label)[1])
                    x += weights[contacts == contact][0] * response
            if state is not None:
                carrier = band_noise(n_samples, sfreq, np.random.default_rng(state_seeds[i]), STATE_BAND_HZ)
                x += state[1] * carrier
        x = np.round(x / ADC_STEP_UV) * ADC_STEP_UV
        yield x.astype(np.float32)
