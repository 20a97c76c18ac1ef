"""Event-locked responses: mean voltage or band power in sliding windows around each event.

For every event, electrode and time bin the response is the mean of the preprocessed signal
(notched, optionally high-passed, re-referenced: Laplacian, bipolar, common average or none)
over a window centred on the bin (200 ms windows every 25 ms from -2 s to +2 s: 161 bins, by
default). A session is streamed: read per electrode group and per time chunk, filtered with
carried state, and averaged from running sums read out only at the window edges
(:class:`~recordings.preprocessing.FilteredSums`), so memory does not grow with the recording
length.

Bad channels are excluded, not fatal: every channel read is screened as it streams
(:class:`ChannelScreen`: NaN or inf anywhere, or a peak-to-peak below ``flat_uv``), and an
electrode whose channel, or a channel its re-reference uses, is bad is left out and listed
with the reason in :attr:`ResponseSet.excluded`; the others are computed exactly as if the bad
ones had never been asked for.

Two kinds of response share that geometry (``kind``): ``"voltage"``, the mean of the
preprocessed signal (µV), and ``"band_power"``, the mean of its instantaneous power in one
band (µV²; high gamma, 70-150 Hz, by default): the preprocessed signal is band-passed by a
causal Butterworth filter and squared (:class:`~recordings.spectral.BandPowerStream`), and
the windows are moved later by the filter's group delay at the band's centre
(:func:`~recordings.spectral.band_delay_s`, rounded to samples: 21 samples, 10.3 ms, for
70-150 Hz at 2048 Hz), so that a burst of power at time t from onset shows in the bins
centred near t rather than one delay later. The bins keep their nominal times. The notches'
own, smaller delay (about 1.3 ms at 100 Hz) is left, as it is for voltage.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numba
import numpy as np
from tqdm.auto import tqdm

from .braintreebank import Recording
from .preprocessing import (
    NOTCH_HZ,
    REREFERENCES,
    FilteredSums,
    StreamingFilter,
    apply_reference,
    common_average,
    design_filter,
    settle_samples,
)
from .spectral import HIGH_GAMMA, band_delay_s, band_power_stream, bandpass_sos

logger = logging.getLogger(__name__)

__all__ = [
    "FLAT_UV",
    "KINDS",
    "SPECTROGRAM_BANDS",
    "ChannelScreen",
    "ResponseSet",
    "bin_times",
    "event_responses",
    "exclusions",
    "reference_channels",
    "reference_rows",
    "screen_channels",
    "window_offsets",
]

#: The kinds of response :func:`event_responses` computes.
KINDS = ("voltage", "band_power", "spectrogram")

#: The bands of ``kind="spectrogram"`` by default (Hz): theta, alpha, beta, low and high gamma.
SPECTROGRAM_BANDS = ((4.0, 8.0), (8.0, 13.0), (13.0, 30.0), (30.0, 70.0), HIGH_GAMMA)

#: Peak-to-peak (µV) below which a channel is flat by default: a nanovolt. A connected SEEG
#: contact's noise alone spans microvolts over a session; a disconnected or zeroed one is
#: constant to the last bit.
FLAT_UV = 1e-3


@dataclass
class ResponseSet:
    """Event-locked responses of one session.

    Attributes
    ----------
    responses : ndarray of float32, shape (n_kept_events, n_electrodes, n_bins)
        Mean voltage (µV) or mean band power (µV²) in each window, as ``kind`` says; for
        ``"spectrogram"``, shape (n_kept_events, n_electrodes, n_bands, n_bins), the mean
        power in each band of ``bands_hz``.
    kept : ndarray of bool, shape (n_events,)
        Which input events have a row in ``responses`` (in input order).
    bin_times : ndarray of float64, shape (n_bins,)
        Window centres (s from event onset).
    electrodes : list of str, length n_electrodes
        Cleaned labels of the kept electrodes, in the order of the electrode axis.
    n_dropped : int
        Events left out because their windows leave the recording (or their sample is NaN).
    sfreq : float
        Sampling rate of the recording (Hz).
    kind : {"voltage", "band_power", "spectrogram"}
        What was averaged.
    band_hz : (float, float) or None
        The band (Hz) of ``"band_power"``; None otherwise.
    delay_samples : int
        How many samples later than their nominal place the windows were read (the
        band-pass's group delay, rounded; 0 for voltage; the largest band's for
        ``"spectrogram"``): ``delay_samples / sfreq`` s.
    bands_hz : tuple of (float, float) or None
        The bands (Hz) of ``"spectrogram"``, in the order of its band axis; None otherwise.
    excluded : dict of str to str
        Electrodes asked for but left out, in the order asked, each with why: its channel or
        a channel its re-reference uses is bad, e.g. ``"NaN at sample 12345"``,
        ``"flat (peak-to-peak 0 µV, below 0.001 µV)"`` or ``"Laplacian neighbour A3 is bad:
        inf at sample 7"``. Empty when every electrode was kept.
    """

    responses: np.ndarray
    kept: np.ndarray
    bin_times: np.ndarray
    electrodes: list
    n_dropped: int
    sfreq: float
    kind: str = "voltage"
    band_hz: tuple | None = None
    delay_samples: int = 0
    bands_hz: tuple | None = None
    excluded: dict = field(default_factory=dict)


def bin_times(
    window_s: float = 0.2, step_s: float = 0.025, tmin_s: float = -2.0, tmax_s: float = 2.0
) -> np.ndarray:
    """Centres of the response windows.

    Parameters
    ----------
    window_s : float
        Window length (s); only checked here, windows are centred on the returned times.
    step_s : float
        Distance between consecutive centres (s).
    tmin_s, tmax_s : float
        First and last centre (s from event onset); ``tmax_s`` is included when it falls on
        the step grid.

    Returns
    -------
    ndarray of float64, shape (n_bins,)
        ``tmin_s + step_s * k``; 161 values with the defaults.
    """
    if not window_s > 0 or not step_s > 0:
        raise ValueError(f"window_s and step_s must be positive, got {window_s} and {step_s}")
    if tmax_s < tmin_s:
        raise ValueError(f"tmax_s ({tmax_s}) must not be below tmin_s ({tmin_s})")
    # the small slack keeps tmax when (tmax - tmin) / step is an integer up to rounding error
    n_bins = int(np.floor((tmax_s - tmin_s) / step_s + 1e-9)) + 1
    return tmin_s + step_s * np.arange(n_bins)


def window_offsets(times: np.ndarray, window_s: float, sfreq: float) -> tuple[np.ndarray, int]:
    """Sample geometry of windows centred on ``times``.

    Parameters
    ----------
    times : ndarray of float, shape (n_bins,)
        Window centres (s from event onset).
    window_s : float
        Window length (s).
    sfreq : float
        Sampling rate (Hz).

    Returns
    -------
    starts : ndarray of int64, shape (n_bins,)
        First sample of each window relative to the event sample:
        ``round((t - window_s / 2) * sfreq)``.
    length : int
        Samples per window, ``round(window_s * sfreq)`` (at least 1).
    """
    starts = np.round((np.asarray(times, dtype=np.float64) - window_s / 2.0) * sfreq).astype(np.int64)
    return starts, max(1, int(round(window_s * sfreq)))


class _WindowSet:
    """Windows of one common length, whose means are written out as they stream past.

    Parameters
    ----------
    starts : ndarray of int, shape (n_events * n_columns,)
        First sample of each window, in the order of ``target.reshape(n_events, n_columns)``
        (event-major).
    length : int
        Samples per window.
    target : ndarray, shape (n_events, n_electrodes, n_columns)
        Where the means go (C-contiguous).
    """

    def __init__(self, starts: np.ndarray, length: int, target: np.ndarray):
        order = np.argsort(starts + length, kind="stable")  # the order the windows end in
        self.starts, self.length, self.target = starts[order], length, target
        self.stops = self.starts + length
        n_events, n_electrodes, n_columns = target.shape
        # flat position in the target of each window, for electrode 0
        self.where = (order // n_columns) * (n_electrodes * n_columns) + order % n_columns
        self.step = n_columns  # from one electrode to the next

    def edges(self) -> np.ndarray:
        return np.concatenate([self.starts, self.stops])

    def locate(self, points: np.ndarray) -> None:
        """Index the window edges among ``points``, the sorted samples where sums are read."""
        self.first = np.searchsorted(points, self.starts)
        self.last = np.searchsorted(points, self.stops)

    def fill(self, electrodes, sums, base, chunk_start, chunk_stop):
        """Write the means of the windows ending in (chunk_start, chunk_stop].

        ``sums[:, k]`` is the running sum at point ``base + k`` of each electrode of the group
        ``electrodes`` (positions on the target's electrode axis).
        """
        lo = np.searchsorted(self.stops, chunk_start, side="right")
        hi = np.searchsorted(self.stops, chunk_stop, side="right")
        if hi <= lo:
            return
        _fill_windows(
            sums,
            self.last[lo:hi] - base,
            self.first[lo:hi] - base,
            self.where[lo:hi],
            np.asarray(electrodes, dtype=np.intp) * self.step,
            1.0 / self.length,
            self.target.reshape(-1),
        )


# One pass over a group's windows, without the (electrodes x windows) temporaries of gathering
# both edges and scattering the means: (last - first) * scale in float64, stored in the
# target's type, as numpy's take, subtract, multiply and scatter did, so the same numbers.
@numba.njit(nogil=True, cache=True)
def _fill_windows(sums, last, first, where, offsets, scale, flat):
    for row in range(offsets.shape[0]):
        for w in range(where.shape[0]):
            flat[where[w] + offsets[row]] = (sums[row, last[w]] - sums[row, first[w]]) * scale


@functools.lru_cache(maxsize=1)
def _blas_controller(n_modules: int):
    # scanning the loaded libraries takes ~0.1 s: once per set of imported modules (a BLAS
    # library is loaded by an import, e.g. torch's, which a cached scan would miss)
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - a dependency of scikit-learn
        return None
    return ThreadpoolController()


def _one_blas_thread():
    """Hold matrix libraries to one thread: event_responses parallelises over groups itself."""
    controller = _blas_controller(len(sys.modules))
    return contextlib.nullcontext() if controller is None else controller.limit(limits=1, user_api="blas")


def _scheme(rereference: str | None) -> str:
    """The re-reference's name (None is ``"none"``), checked."""
    scheme = "none" if rereference is None else rereference
    if scheme not in REREFERENCES:
        raise ValueError(f"rereference must be one of {REREFERENCES} or None, got {rereference!r}")
    return scheme


def reference_channels(
    recording: Recording,
    electrodes: Sequence[str],
    neighbours: Mapping[str, tuple[str, ...]] | None,
    rereference: str | None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The recording's channel of each electrode and of the channels its reference uses.

    Parameters
    ----------
    recording : Recording
        Open session.
    electrodes : sequence of str, length n_electrodes
        Labels.
    neighbours : mapping of str to tuple of str, or None
        What :func:`~recordings.braintreebank.select_electrodes` returns: each electrode's
        two shaft neighbours (``"laplacian"``) or its partner (``"bipolar"``); unused by
        ``"car"`` and ``"none"``.
    rereference : {"laplacian", "bipolar", "car", "none", None}
        Re-referencing scheme (None is ``"none"``).

    Returns
    -------
    centre : numpy.ndarray of intp, shape (n_electrodes,)
        Channel index of each electrode.
    lower : numpy.ndarray of intp, shape (n_electrodes,), or None
        Channel of the lower Laplacian neighbour, or of the bipolar partner; None for
        ``"car"`` and ``"none"``.
    upper : numpy.ndarray of intp, shape (n_electrodes,), or None
        Channel of the upper Laplacian neighbour; None for the other schemes.

    Raises
    ------
    ValueError
        If a Laplacian or bipolar reference has no neighbours, an electrode's neighbours are
        missing, or ``rereference`` is unknown.
    """
    scheme = _scheme(rereference)
    centre = np.array([recording.channel_index(label) for label in electrodes], dtype=np.intp)
    if scheme in ("car", "none"):
        return centre, None, None
    if neighbours is None:
        raise ValueError(f"rereference={scheme!r} needs the neighbours from select_electrodes")
    size, what = (2, "Laplacian neighbours") if scheme == "laplacian" else (1, "bipolar partner")
    missing = [label for label in electrodes if len(neighbours.get(label, ())) != size]
    if missing:
        raise ValueError(
            f"no {what} given for electrode(s) {missing[:5]} (select_electrodes with "
            f"rereference={scheme!r} gives them)"
        )
    refs = [
        np.array([recording.channel_index(neighbours[e][k]) for e in electrodes], dtype=np.intp)
        for k in range(size)
    ]
    return centre, refs[0], refs[1] if size == 2 else None


def reference_rows(
    recording: Recording,
    electrodes: Sequence[str],
    neighbours: Mapping[str, tuple[str, ...]] | None,
    rereference: str | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The channels to read for ``electrodes`` and where each one sits among them.

    Parameters
    ----------
    recording : Recording
        Open session.
    electrodes : sequence of str, length n_electrodes
        Labels.
    neighbours : mapping of str to tuple of str, or None
        Each electrode's Laplacian neighbours or bipolar partner (as
        :func:`~recordings.braintreebank.select_electrodes` returns them).
    rereference : {"laplacian", "bipolar", "car", "none", None}
        Re-referencing scheme (None is ``"none"``).

    Returns
    -------
    channels : numpy.ndarray of intp, shape (n_channels,)
        Sorted channel indices to read (:meth:`Recording.read`).
    where : numpy.ndarray of intp, shape (k, n_electrodes)
        Rows of ``channels`` holding each electrode (``where[0]``) and the channels its
        reference uses: ``k = 3`` for a Laplacian (lower and upper neighbours), 2 for bipolar
        (the partner), 1 for ``"car"`` and ``"none"``. Re-reference a chunk with
        :func:`~recordings.preprocessing.apply_reference` (``"car"`` averages the good rows
        of ``where[0]``: pass them as ``reference``).

    Raises
    ------
    ValueError
        As :func:`reference_channels`.
    """
    centre, lower, upper = reference_channels(recording, electrodes, neighbours, rereference)
    rows = [r for r in (centre, lower, upper) if r is not None]
    channels, where = np.unique(np.concatenate(rows), return_inverse=True)
    return channels, where.reshape(len(rows), len(electrodes))


class ChannelScreen:
    """Screen raw channels for non-finite samples and flatness, chunk by chunk as they stream.

    A channel is bad when any sample it contributes is NaN or +-inf, or when its
    peak-to-peak over all the samples screened is below ``flat_uv`` (:meth:`reasons`). The
    screen costs two passes over each chunk (a row minimum and maximum; NaN propagates
    through both and inf shows in one of them, so they also find the non-finite rows), and
    only a row found non-finite is searched for its first bad sample.

    Parameters
    ----------
    n_channels : int
        Rows of every chunk.

    Attributes
    ----------
    first_bad : numpy.ndarray of int64, shape (n_channels,)
        Recording sample of each channel's first non-finite value; -1 if none.
    bad_value : numpy.ndarray of float64, shape (n_channels,)
        That value (NaN, inf or -inf); 0 where there is none.
    low, high : numpy.ndarray of float64, shape (n_channels,)
        Running minimum and maximum of each channel (µV; NaN once a NaN was seen; +inf and
        -inf before any sample).
    """

    def __init__(self, n_channels: int):
        self.first_bad = np.full(int(n_channels), -1, dtype=np.int64)
        self.bad_value = np.zeros(int(n_channels), dtype=np.float64)
        self.low = np.full(int(n_channels), np.inf)
        self.high = np.full(int(n_channels), -np.inf)

    def __call__(self, chunk: np.ndarray, start: int) -> np.ndarray:
        """Screen the next chunk, and zero its non-finite samples in place.

        Parameters
        ----------
        chunk : numpy.ndarray of float, shape (n_channels, n_times)
            Raw samples (µV) from recording sample ``start`` on; modified in place.
        start : int
            Recording sample of the chunk's first column.

        Returns
        -------
        numpy.ndarray, shape (n_channels, n_times)
            ``chunk``, its NaN and inf replaced by 0, so that they cannot reach anything
            computed from the row (a bad channel's outputs are excluded afterwards; the zeros
            only keep every row's arithmetic finite).
        """
        if chunk.shape[1] == 0:
            return chunk
        low, high = chunk.min(axis=1), chunk.max(axis=1)
        broken = np.flatnonzero(~(np.isfinite(low) & np.isfinite(high)))
        for row in broken:  # rare: a bad channel
            bad = ~np.isfinite(chunk[row])
            if self.first_bad[row] < 0:
                col = int(np.argmax(bad))
                self.first_bad[row], self.bad_value[row] = start + col, chunk[row, col]
            chunk[row, bad] = 0.0
        np.minimum(self.low, low, out=self.low)
        np.maximum(self.high, high, out=self.high)
        return chunk

    def reasons(self, flat_uv: float = FLAT_UV) -> dict[int, str]:
        """Why each bad channel is bad.

        Parameters
        ----------
        flat_uv : float
            Peak-to-peak (µV) below which a channel counts as flat; 0 turns the check off.

        Returns
        -------
        dict of int to str
            Row -> reason, e.g. ``"NaN at sample 12345"``, ``"inf at sample 7"`` or
            ``"flat (peak-to-peak 0 µV, below 0.001 µV)"``, for the bad rows only.
        """
        out = {}
        for row in range(len(self.first_bad)):
            if self.first_bad[row] >= 0:
                value = self.bad_value[row]
                name = "NaN" if np.isnan(value) else ("inf" if value > 0 else "-inf")
                out[row] = f"{name} at sample {self.first_bad[row]}"
            elif self.high[row] >= self.low[row] and self.high[row] - self.low[row] < flat_uv:
                ptp = self.high[row] - self.low[row]
                out[row] = f"flat (peak-to-peak {ptp:.3g} µV, below {flat_uv:g} µV)"
        return out


def screen_channels(
    recording: Recording,
    channels: Sequence[int],
    start: int,
    stop: int,
    chunk: int,
    *,
    progress: bool = False,
) -> ChannelScreen:
    """Screen channels over samples ``start:stop`` in one read-only pass.

    What the common average needs before it can average: a channel found bad late in a
    session would otherwise have entered the reference of every earlier chunk. The pass
    reads each channel once and filters nothing: it costs what reading the channels costs
    (``benchmarks/bench_responses.py`` reads 128 electrodes about 5 times faster than it
    computes their responses).

    Parameters
    ----------
    recording : Recording
        Open session.
    channels : sequence of int, length n_channels
        Channel indices (positions in the label list).
    start, stop : int
        Sample range screened.
    chunk : int
        Samples read per step.
    progress : bool
        Show a progress bar.

    Returns
    -------
    ChannelScreen
        Its rows in the order of ``channels``; :meth:`ChannelScreen.reasons` says which are bad.
    """
    channels = np.asarray(channels, dtype=np.intp)
    screen = ChannelScreen(len(channels))
    starts = range(int(start), int(stop), max(1, int(chunk)))
    bar = tqdm(starts, desc="screen", unit="chunk", disable=(None if progress else True), leave=False)
    for chunk_start in bar:
        chunk_stop = min(chunk_start + chunk, stop)
        screen(recording.read(channels, chunk_start, chunk_stop, allow_nonfinite=True), chunk_start)
    return screen


def exclusions(
    electrodes: Sequence[str],
    neighbours: Mapping[str, tuple[str, ...]] | None,
    rereference: str | None,
    bad: Mapping[str, str],
) -> dict[str, str]:
    """Which output electrodes a set of bad channels excludes, and why.

    Parameters
    ----------
    electrodes : sequence of str, length n_electrodes
        Labels of the output electrodes.
    neighbours : mapping of str to tuple of str, or None
        Each electrode's Laplacian neighbours or bipolar partner.
    rereference : {"laplacian", "bipolar", "car", "none", None}
        Re-referencing scheme. The common average leaves bad channels out of its mean, so
        only an electrode's own channel excludes it.
    bad : mapping of str to str
        Label of each bad channel -> why (:meth:`ChannelScreen.reasons`).

    Returns
    -------
    dict of str to str
        Excluded electrode -> reason, in electrode order: the channel's own reason, or e.g.
        ``"Laplacian neighbour A3 is bad: NaN at sample 12345"``.
    """
    scheme = _scheme(rereference)
    what = {"laplacian": "Laplacian neighbour", "bipolar": "bipolar partner"}.get(scheme)
    out = {}
    for label in electrodes:
        if label in bad:
            out[label] = bad[label]
        elif what is not None:
            for other in neighbours[label]:
                if other in bad:
                    out[label] = f"{what} {other} is bad: {bad[other]}"
                    break
    return out


def _log_excluded(recording: Recording, excluded: Mapping[str, str], n_electrodes: int) -> None:
    """One warning line listing the excluded electrodes with their reasons."""
    if excluded:
        logger.warning(
            "%s: %d of %d electrode(s) excluded (bad channels: non-finite or flat): %s",
            recording.path,
            len(excluded),
            n_electrodes,
            "; ".join(f"{label}: {reason}" for label, reason in excluded.items()),
        )


def _all_excluded(recording: Recording, excluded: Mapping[str, str]) -> ValueError:
    reasons = "; ".join(f"{label}: {reason}" for label, reason in list(excluded.items())[:10])
    return ValueError(
        f"{recording.path}: all {len(excluded)} electrode(s) are excluded because they or the "
        f"channels their re-reference uses are bad ({reasons}{' ...' if len(excluded) > 10 else ''}); "
        "nothing is left to compute"
    )


def event_responses(
    recording: Recording,
    electrodes: Sequence[str],
    neighbours: Mapping[str, tuple[str, ...]] | None,
    event_samples,
    *,
    window_s: float = 0.2,
    step_s: float = 0.025,
    tmin_s: float = -2.0,
    tmax_s: float = 2.0,
    notch_hz: Sequence[float] | None = NOTCH_HZ,
    notch_q: float = 30.0,
    rereference: str | None = "laplacian",
    highpass_hz: float | None = None,
    baseline_s: tuple[float, float] | None = None,
    chunk_s: float = 60.0,
    group_size: int = 64,
    n_jobs: int | None = None,
    filter_dtype=None,
    filter_from_start: bool = False,
    progress: bool = True,
    kind: str = "voltage",
    band_hz: tuple[float, float] = HIGH_GAMMA,
    bands_hz: Sequence[tuple[float, float]] = SPECTROGRAM_BANDS,
    flat_uv: float = FLAT_UV,
) -> ResponseSet:
    """Mean preprocessed voltage, or band power, in windows around each event, per electrode.

    The signal is notched (``notch_hz``, quality ``notch_q``; causal, as BrainBERT),
    optionally high-passed, and re-referenced (``rereference``: Laplacian, bipolar, common
    average or none). The filter starts from zero state
    where its memory has decayed below 1e-12 before the first window (see
    :func:`~recordings.preprocessing.settle_samples`; seconds for the default filters), which
    gives what filtering from the recording's first sample gives, without reading the
    recording's lead-in (up to tens of minutes before the movie).
    Because these steps are linear and time-invariant, the re-reference is taken first and
    the filter run once per output electrode: the result equals notching every contact
    before re-referencing (up to float32 rounding).

    Re-references: ``"laplacian"`` is ``x_e - (x_lower + x_upper) / 2`` over the two shaft
    neighbours, ``"bipolar"`` is ``x_e - x_partner`` (the next contact; the pair keeps the
    electrode's label), both as ``neighbours`` names them; ``"car"`` is ``x_e`` minus the
    mean of every good electrode of ``electrodes`` (so pass all the subject's clean channels,
    ``select_electrodes(..., rereference="car")``); ``"none"`` (or None) leaves the signal.

    Bad channels are excluded, not fatal. Every raw channel read is screened as it streams
    past (:class:`ChannelScreen`, two cheap passes per chunk): it is bad if a sample it
    contributes is NaN or +-inf, or if its peak-to-peak over all the samples read is below
    ``flat_uv``. An electrode is excluded when its own channel or a channel its re-reference
    uses is bad; it is listed with the reason in :attr:`ResponseSet.excluded` (one warning
    line per call) and left out of ``responses`` and ``electrodes``. Each output row is
    computed from its own channels only (non-finite samples are zeroed as they are read and
    every filter step works row by row), so the kept electrodes' responses are bit for bit
    those of a call that never asked for the bad ones. The common average must know its bad
    channels before it averages (a channel found bad late would already be in every earlier
    chunk's mean), so ``"car"`` screens the channels in a first, read-only pass over the same
    samples (:func:`screen_channels`: one more read of the channels, no filtering), averages
    only the good ones, and then reads each chunk once for all electrode groups (which then
    run in parallel on it). On the 128-electrode benchmark (2048 Hz, one thread) that made
    ``"car"`` about 1.5 times as slow as ``"laplacian"`` or ``"none"``.

    With ``kind="band_power"`` the re-referenced signal goes through the notch (and
    high-pass) as a :class:`~recordings.preprocessing.StreamingFilter` (float64), then a
    causal Butterworth band-pass over ``band_hz`` (order 4,
    :func:`~recordings.spectral.bandpass_sos`), is squared, and its running sums (float64)
    give the window means (µV²): squaring is not linear, so the filter cannot be fused into
    the sums as for voltage. The filter starts where the memory of the whole cascade (notches,
    high-pass, band-pass) has decayed. Each window is read ``d = round(band_delay_s(band_hz,
    sfreq) * sfreq)`` samples later than its nominal place (the band-pass's group delay at the
    band's centre), so that power appears at the time it occurs in the signal; events whose
    shifted windows leave the recording are dropped. ``baseline_s`` is subtracted in µV²
    (its window shifted alike).

    With ``kind="spectrogram"`` the band power is computed in each band of ``bands_hz`` (one
    streamed pass per band, each with its own group delay) and stacked on a band axis; an
    event is kept when its windows lie within the recording for every band, and an electrode
    when no band's pass excluded it.

    Parameters
    ----------
    recording : Recording
        Open session.
    electrodes : sequence of str, length n_electrodes
        Labels to compute, e.g. from :func:`~recordings.braintreebank.select_electrodes`.
    neighbours : mapping of str to tuple of str, or None
        Each electrode's two shaft neighbours (``"laplacian"``) or partner (``"bipolar"``),
        as :func:`~recordings.braintreebank.select_electrodes` returns them; unused otherwise.
    event_samples : array-like of float, shape (n_events,)
        Onset sample of each event (from :func:`~recordings.braintreebank.movie_to_sample`);
        NaN events are dropped.
    window_s, step_s, tmin_s, tmax_s : float
        Window length (s), and centres from ``tmin_s`` to ``tmax_s`` every ``step_s`` (s).
    notch_hz : sequence of float or None
        Notch frequencies (Hz); None or empty for no notch.
    notch_q : float
        Notch quality factor.
    rereference : {"laplacian", "bipolar", "car", "none", None}
        Re-referencing scheme.
    highpass_hz : float or None
        Cutoff of an optional 2nd-order Butterworth high-pass (Hz); off by default.
    baseline_s : (float, float) or None
        If given, each event's mean over ``[a, b)`` s from onset is subtracted from all its
        bins (per electrode; in the unit of ``kind``); off by default, as the study.
    chunk_s : float
        Seconds of signal read per step.
    group_size : int
        Electrodes filtered together (bounds memory with ``chunk_s``).
    n_jobs : int or None
        Threads working on electrode groups at once (each holds one chunk of its group);
        None: one per CPU core available to the process. Matrix libraries are held to one
        thread each meanwhile, so ``n_jobs`` is the number of cores used.
    filter_dtype : {None, numpy.float32, numpy.float64}
        Kept for compatibility, without effect: voltage is filtered and summed in float64
        (:class:`~recordings.preprocessing.FilteredSums`, equal to float64 ``sosfilt`` +
        ``cumsum`` bit for bit) whatever it says; it was the precision of the earlier
        block products. Band power always filters and sums in float64 too.
    filter_from_start : bool
        Filter from the recording's first sample, exactly as BrainBERT (slower).
    progress : bool
        Show a progress bar.
    kind : {"voltage", "band_power", "spectrogram"}
        Average the preprocessed voltage (µV), its power in ``band_hz`` (µV²), or its power
        in each band of ``bands_hz`` (µV²).
    band_hz : (float, float)
        Lower and upper -3 dB frequencies (Hz) of the band-pass, ``0 < low < high <
        sfreq / 2``; used by ``"band_power"`` only.
    bands_hz : sequence of (float, float)
        The bands of ``"spectrogram"`` (Hz), each as ``band_hz``; theta to high gamma by
        default (:data:`SPECTROGRAM_BANDS`).
    flat_uv : float
        A channel whose peak-to-peak over the samples read is below this (µV) is flat, hence
        bad; 0 turns the check off. The default, 1e-3 µV (a nanovolt), is far below anything a
        connected SEEG contact shows over a session (its noise alone is microvolts, and the
        recordings are stored as float32 with sub-nanovolt resolution at those amplitudes),
        while a disconnected or zeroed channel is constant to the last bit.

    Returns
    -------
    ResponseSet
        ``responses`` (float32, µV or µV², shape (n_kept_events, n_electrodes, n_bins), or
        (n_kept_events, n_electrodes, n_bands, n_bins) for ``"spectrogram"``) of
        the events whose windows lie within the recording, which events those are
        (``kept``), the bin centres (s from onset), the kept electrodes, the excluded ones
        with their reasons, the sampling rate, the kind, the band and the delay applied
        (samples).

    Raises
    ------
    ValueError
        If there are no electrodes, a Laplacian neighbour or bipolar partner is missing,
        ``rereference`` or ``kind`` is unknown, ``band_hz`` is not inside (0, Nyquist), the
        windows, ``baseline_s``, ``chunk_s``, ``group_size`` or ``n_jobs`` are invalid, or
        every electrode is excluded.
    """
    electrodes = list(electrodes)
    if not electrodes:
        raise ValueError("no electrodes to compute responses for")
    reference_channels(recording, electrodes, neighbours, rereference)  # checks them early
    if n_jobs is None:
        n_jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if filter_dtype is None:
        filter_dtype = np.float32 if highpass_hz is None else np.float64
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    options = dict(
        window_s=window_s,
        step_s=step_s,
        tmin_s=tmin_s,
        tmax_s=tmax_s,
        notch_hz=notch_hz,
        notch_q=notch_q,
        rereference=rereference,
        highpass_hz=highpass_hz,
        baseline_s=baseline_s,
        chunk_s=chunk_s,
        group_size=group_size,
        n_jobs=n_jobs,
        filter_from_start=filter_from_start,
        progress=progress,
        flat_uv=flat_uv,
    )
    if kind == "spectrogram":
        result = _spectrogram_responses(recording, electrodes, neighbours, event_samples, bands_hz, **options)
    else:
        result = _stream_responses(
            recording,
            electrodes,
            neighbours,
            event_samples,
            kind=kind,
            band_hz=band_hz,
            filter_dtype=filter_dtype,
            **options,
        )
    _log_excluded(recording, result.excluded, len(electrodes))
    return result


def _stream_responses(
    recording,
    electrodes,
    neighbours,
    event_samples,
    *,
    window_s,
    step_s,
    tmin_s,
    tmax_s,
    notch_hz,
    notch_q,
    rereference,
    highpass_hz,
    baseline_s,
    chunk_s,
    group_size,
    n_jobs,
    filter_dtype,
    filter_from_start,
    progress,
    kind,
    band_hz,
    flat_uv,
) -> ResponseSet:
    """One streamed pass of :func:`event_responses` (voltage or one band's power)."""
    sfreq = recording.sfreq
    scheme = _scheme(rereference)
    centre, lower, upper = reference_channels(recording, electrodes, neighbours, scheme)
    band_sos, delay = None, 0
    if kind == "band_power":
        band_sos = bandpass_sos(band_hz, sfreq)  # checks the band against the Nyquist frequency
        band_hz = (float(band_hz[0]), float(band_hz[1]))
        # the power comes out one group delay late: read every window that much later
        delay = int(round(band_delay_s(band_hz, sfreq) * sfreq))
    if chunk_s <= 0 or group_size < 1 or n_jobs < 1:
        raise ValueError(
            f"chunk_s, group_size and n_jobs must be positive, got {chunk_s}, {group_size}, {n_jobs}"
        )

    times = bin_times(window_s, step_s, tmin_s, tmax_s)
    offsets, n_window = window_offsets(times, window_s, sfreq)
    if delay:
        offsets = offsets + delay
    first, last = int(offsets[0]), int(offsets[-1]) + n_window
    if baseline_s is not None:
        a, b = baseline_s
        if not b > a:
            raise ValueError(f"baseline_s must be an interval (a, b) with b > a, got {baseline_s}")
        base_offset = int(round(a * sfreq)) + delay
        n_base = max(1, int(round((b - a) * sfreq)))
        first, last = min(first, base_offset), max(last, base_offset + n_base)

    events = np.asarray(event_samples, dtype=np.float64).ravel()
    kept = np.isfinite(events)
    samples = np.where(kept, np.round(events), 0).astype(np.int64)
    kept &= (samples + first >= 0) & (samples + last <= recording.n_samples)
    n_dropped = int((~kept).sum())
    if n_dropped:
        logger.warning(
            "%s: dropped %d of %d events whose windows [%+.3f, %+.3f] s leave the recording "
            "(or whose sample is NaN)",
            recording.path,
            n_dropped,
            len(events),
            first / sfreq,
            last / sfreq,
        )
    samples = samples[kept]
    n_kept, n_bins = len(samples), len(times)

    def result_for(responses, names, excluded):
        return ResponseSet(
            responses,
            kept,
            times,
            names,
            n_dropped,
            sfreq,
            kind=kind,
            band_hz=band_hz if band_sos is not None else None,
            delay_samples=delay,
            excluded=excluded,
        )

    if n_kept == 0:  # nothing is read, so nothing is screened
        return result_for(np.zeros((0, len(electrodes), n_bins), dtype=np.float32), electrodes, {})

    sos = design_filter(sfreq, notch_hz, notch_q, highpass_hz)
    end = int(samples.max()) + last  # no sample after this is needed
    # the whole cascade must have settled: for band power, the notches and the band-pass
    cascade = sos if band_sos is None else np.concatenate([s for s in (sos, band_sos) if s is not None])
    begin = 0 if filter_from_start else max(0, int(samples.min()) + first - settle_samples(cascade))
    chunk = max(1, int(round(chunk_s * sfreq)))

    excluded: dict[str, str] = {}
    if scheme == "car":
        # the mean must know its bad channels before the first chunk: a read-only pass first
        screen = screen_channels(recording, centre, begin, end, chunk, progress=progress)
        bad = {electrodes[row]: reason for row, reason in screen.reasons(flat_uv).items()}
        excluded = exclusions(electrodes, neighbours, scheme, bad)
        if len(excluded) == len(electrodes):
            raise _all_excluded(recording, excluded)
        good = [i for i, label in enumerate(electrodes) if label not in excluded]
        electrodes, centre = [electrodes[i] for i in good], centre[good]

    responses = np.zeros((n_kept, len(electrodes), n_bins), dtype=np.float32)
    windows = [_WindowSet((samples[:, None] + offsets[None, :]).ravel(), n_window, responses)]
    baseline = None
    if baseline_s is not None:
        baseline = np.zeros((n_kept, len(electrodes), 1), dtype=np.float64)
        windows.append(_WindowSet(samples + base_offset, n_base, baseline))
    longest = max(w.length for w in windows)
    # the running sums are only read at window edges
    points = np.unique(np.concatenate([w.edges() for w in windows]))
    for window_set in windows:
        window_set.locate(points)

    if n_jobs > 1:  # one group per worker, but not below 16 electrodes: the filter's per-block
        # step costs the same for few electrodes as for many
        group_size = min(group_size, max(16, -(-len(electrodes) // n_jobs)))
    groups = [
        np.arange(i, min(i + group_size, len(electrodes))) for i in range(0, len(electrodes), group_size)
    ]
    n_chunks = -(-(end - begin) // chunk)
    bar = tqdm(
        total=len(groups) * n_chunks,
        desc="responses",
        unit="chunk",
        disable=(None if progress else True),
        leave=False,
    )

    def _stepper(group: np.ndarray):
        """The per-chunk work of one group of electrodes: filter, sum, fill its window rows."""
        if band_sos is None:  # voltage: the filter is fused into the running sums
            sums = FilteredSums(sos, len(group), dtype=filter_dtype)
        else:  # band power: filter, band-pass and square first, then plain float64 sums
            prefilter = None if sos is None else StreamingFilter(sos, len(group))
            power = band_power_stream([band_hz], sfreq, n_channels=len(group))
            sums = FilteredSums(None, len(group), dtype=np.float64)
        # running sums at the points of the current chunk, after those of the last `longest`
        # samples before it (where windows ending in this chunk may start)
        state = dict(carried=np.zeros((len(group), 0)), base=0, done=0)

        def step(data: np.ndarray, chunk_start: int, chunk_stop: int, where=None) -> None:
            # where: data are raw rows, re-referenced on the way into the sums (voltage) or first
            reference = {} if where is None else dict(where=where, rereference=scheme)
            if band_sos is not None:
                if where is not None:
                    data, reference = apply_reference(data, where, scheme), {}
                data = power(data if prefilter is None else prefilter(data))[0]
            carried, base, done = state["carried"], state["base"], state["done"]
            upto = np.searchsorted(points, chunk_stop, side="right")
            values = np.concatenate(
                [carried, sums(data, points[done:upto] - chunk_start, **reference)], axis=1
            )
            for window_set in windows:
                # groups own disjoint electrodes of the targets: safe from threads
                window_set.fill(group, values, base, chunk_start, chunk_stop)
            keep = np.searchsorted(points, chunk_stop - longest)
            state.update(carried=values[:, keep - base :], base=keep, done=upto)

        return step

    def _run_group(group: np.ndarray) -> dict[int, str]:
        """Read, screen and re-reference one group's channels chunk by chunk; its bad channels."""
        # rows to read, and where each electrode and the channels of its reference sit among them
        rows = [r[group] for r in (centre, lower, upper) if r is not None]
        channels, where = np.unique(np.concatenate(rows), return_inverse=True)
        where = where.reshape(len(rows), len(group))
        screen = ChannelScreen(len(channels))
        step = _stepper(group)
        for chunk_start in range(begin, end, chunk):
            chunk_stop = min(chunk_start + chunk, end)
            raw = screen(recording.read(channels, chunk_start, chunk_stop, allow_nonfinite=True), chunk_start)
            step(raw, chunk_start, chunk_stop, where)
            bar.update(1)
        return {int(channels[row]): reason for row, reason in screen.reasons(flat_uv).items()}

    def _run_common_average(pool) -> None:
        """Read every (good) channel once per chunk, subtract their mean, then run the groups."""
        channels, where = np.unique(centre, return_inverse=True)
        steps = [_stepper(group) for group in groups]
        for chunk_start in range(begin, end, chunk):
            chunk_stop = min(chunk_start + chunk, end)
            # the pre-screen found these channels finite over [begin, end): read raises otherwise
            data = common_average(recording.read(channels, chunk_start, chunk_stop), where, where)
            work = [
                functools.partial(step, data[group[0] : group[-1] + 1], chunk_start, chunk_stop)
                for step, group in zip(steps, groups)
            ]
            if pool is None:
                for job in work:
                    job()
            else:
                list(pool.map(lambda job: job(), work))
            bar.update(len(groups))

    with bar, _one_blas_thread():
        if scheme == "car":
            with ThreadPoolExecutor(n_jobs) if n_jobs > 1 else contextlib.nullcontext() as pool:
                _run_common_average(pool)
        elif n_jobs > 1:
            # sosfilt and large numpy operations release the GIL; h5py serialises the reads
            with ThreadPoolExecutor(n_jobs) as pool:
                found = list(pool.map(_run_group, groups))
        else:
            found = [_run_group(group) for group in groups]
    if baseline is not None:
        responses -= baseline.astype(np.float32)
    if scheme != "car":
        channel_reasons = {channel: reason for part in found for channel, reason in part.items()}
        label_of = dict(zip(map(int, centre), electrodes))
        for k, refs in enumerate((lower, upper)):
            if refs is not None:
                label_of.update(zip(map(int, refs), (neighbours[e][k] for e in electrodes)))
        bad = {label_of[channel]: reason for channel, reason in channel_reasons.items()}
        excluded = exclusions(electrodes, neighbours, scheme, bad)
        if len(excluded) == len(electrodes):
            raise _all_excluded(recording, excluded)
        if excluded:
            keep = [i for i, label in enumerate(electrodes) if label not in excluded]
            responses = np.ascontiguousarray(responses[:, keep])
            electrodes = [electrodes[i] for i in keep]
    logger.info(
        "%s: responses of %d events x %d electrodes x %d bins",
        recording.path,
        n_kept,
        len(electrodes),
        n_bins,
    )
    return result_for(responses, electrodes, excluded)


def _spectrogram_responses(
    recording, electrodes, neighbours, event_samples, bands_hz, **options
) -> ResponseSet:
    """Band power in every band of ``bands_hz``, stacked on a band axis (events kept by all)."""
    bands = [(float(low), float(high)) for low, high in bands_hz]
    if not bands:
        raise ValueError("bands_hz is empty: give at least one (low, high) band in Hz")

    def one(band, names):
        return _stream_responses(
            recording,
            names,
            neighbours,
            event_samples,
            kind="band_power",
            band_hz=band,
            filter_dtype=np.float64,
            **options,
        )

    sets = [one(band, electrodes) for band in bands]
    # each band reads a slightly different span (its own settling and delay): an electrode
    # is excluded when any band's pass excluded it
    excluded: dict[str, str] = {}
    for s in sets:
        for label, reason in s.excluded.items():
            excluded.setdefault(label, reason)
    names = [label for label in electrodes if label not in excluded]
    if _scheme(options["rereference"]) == "car":
        # a band that kept a channel another band found bad averaged it into its reference:
        # recompute that band over the channels good for all (rare: a fault near a span's edge)
        sets = [s if set(s.excluded) == set(excluded) else one(band, names) for s, band in zip(sets, bands)]
    kept = np.logical_and.reduce([s.kept for s in sets])
    # each band's rows of the events every band kept, and of the electrodes every band kept
    parts = []
    for s in sets:
        columns = [s.electrodes.index(label) for label in names]
        parts.append(s.responses[kept[s.kept]][:, columns])
    return ResponseSet(
        np.stack(parts, axis=2),
        kept,
        sets[0].bin_times,
        names,
        int((~kept).sum()),
        sets[0].sfreq,
        kind="spectrogram",
        delay_samples=max(s.delay_samples for s in sets),
        bands_hz=tuple(bands),
        excluded=excluded,
    )
