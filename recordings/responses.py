"""Event-locked responses: mean voltage or band power in sliding windows around each event.

For every event, electrode and time bin the response is the mean of the preprocessed signal
(notched, optionally high-passed, Laplacian re-referenced) over a window centred on the bin
(200 ms windows every 25 ms from -2 s to +2 s: 161 bins, by default). A session is streamed:
read per electrode group and per time chunk, filtered with carried state, and averaged from
running sums read out only at the window edges (:class:`~recordings.preprocessing.FilteredSums`),
so memory does not grow with the recording length.

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
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from .braintreebank import Recording
from .preprocessing import (
    NOTCH_HZ,
    FilteredSums,
    StreamingFilter,
    design_filter,
    laplacian,
    settle_samples,
)
from .spectral import HIGH_GAMMA, band_delay_s, band_power_stream, bandpass_sos

logger = logging.getLogger(__name__)

__all__ = ["KINDS", "SPECTROGRAM_BANDS", "ResponseSet", "bin_times", "event_responses", "window_offsets"]

#: The kinds of response :func:`event_responses` computes.
KINDS = ("voltage", "band_power", "spectrogram")

#: The bands of ``kind="spectrogram"`` by default (Hz): theta, alpha, beta, low and high gamma.
SPECTROGRAM_BANDS = ((4.0, 8.0), (8.0, 13.0), (13.0, 30.0), (30.0, 70.0), HIGH_GAMMA)


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
        Cleaned labels, in the order of the electrode axis.
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
        means = np.take(sums, self.last[lo:hi] - base, axis=1)
        means -= np.take(sums, self.first[lo:hi] - base, axis=1)
        means *= 1.0 / self.length
        flat, where = self.target.reshape(-1), self.where[lo:hi]
        for row, electrode in enumerate(electrodes):  # one electrode's cells: a 1-D scatter
            flat[where + electrode * self.step] = means[row]


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


def reference_channels(
    recording: Recording,
    electrodes: Sequence[str],
    neighbours: Mapping[str, tuple[str, str]] | None,
    rereference: str | None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The recording's channel of each electrode and, for a Laplacian, of its two neighbours.

    Parameters
    ----------
    recording : Recording
        Open session.
    electrodes : sequence of str, length n_electrodes
        Labels.
    neighbours : mapping of str to (str, str) or None
        Shaft neighbours of each electrode (needed for ``rereference="laplacian"``).
    rereference : {"laplacian", None}
        Re-referencing scheme (``"none"`` is None).

    Returns
    -------
    centre : numpy.ndarray of intp, shape (n_electrodes,)
        Channel index of each electrode.
    lower, upper : numpy.ndarray of intp, shape (n_electrodes,), or None
        Channel indices of the lower and upper neighbours; None without a Laplacian.

    Raises
    ------
    ValueError
        If a Laplacian has no neighbours, an electrode's neighbours are missing, or
        ``rereference`` is unknown.
    """
    centre = np.array([recording.channel_index(label) for label in electrodes], dtype=np.intp)
    if rereference == "laplacian":
        if neighbours is None:
            raise ValueError("rereference='laplacian' needs the neighbours from select_electrodes")
        missing = [label for label in electrodes if label not in neighbours]
        if missing:
            raise ValueError(f"no Laplacian neighbours given for electrode(s) {missing[:5]}")
        lower = np.array([recording.channel_index(neighbours[e][0]) for e in electrodes], dtype=np.intp)
        upper = np.array([recording.channel_index(neighbours[e][1]) for e in electrodes], dtype=np.intp)
        return centre, lower, upper
    if rereference in (None, "none"):
        return centre, None, None
    raise ValueError(f"rereference must be 'laplacian' or None, got {rereference!r}")


def reference_rows(
    recording: Recording,
    electrodes: Sequence[str],
    neighbours: Mapping[str, tuple[str, str]] | None,
    rereference: str | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The channels to read for ``electrodes`` and where each one sits among them.

    Parameters
    ----------
    recording : Recording
        Open session.
    electrodes : sequence of str, length n_electrodes
        Labels.
    neighbours : mapping of str to (str, str) or None
        Shaft neighbours of each electrode (needed for ``rereference="laplacian"``).
    rereference : {"laplacian", None}
        Re-referencing scheme (``"none"`` is None).

    Returns
    -------
    channels : numpy.ndarray of intp, shape (n_channels,)
        Sorted channel indices to read (:meth:`Recording.read`).
    where : numpy.ndarray of intp, shape (3, n_electrodes) or (1, n_electrodes)
        Rows of ``channels`` holding each electrode and, for a Laplacian, its lower and
        upper neighbours: ``laplacian(raw, *where)``, or ``raw[where[0]]`` without one.

    Raises
    ------
    ValueError
        As :func:`reference_channels`.
    """
    centre, lower, upper = reference_channels(recording, electrodes, neighbours, rereference)
    rows = [centre] if lower is None else [centre, lower, upper]
    channels, where = np.unique(np.concatenate(rows), return_inverse=True)
    return channels, where.reshape(len(rows), len(electrodes))


def event_responses(
    recording: Recording,
    electrodes: Sequence[str],
    neighbours: Mapping[str, tuple[str, str]] | None,
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
) -> ResponseSet:
    """Mean preprocessed voltage, or band power, in windows around each event, per electrode.

    The signal is notched (``notch_hz``, quality ``notch_q``; causal, as BrainBERT),
    optionally high-passed, and Laplacian re-referenced. The filter starts from zero state
    where its memory has decayed below 1e-12 before the first window (see
    :func:`~recordings.preprocessing.settle_samples`; seconds for the default filters), which
    gives what filtering from the recording's first sample gives, without reading the
    recording's lead-in (up to tens of minutes before the movie).
    Because these steps are linear and time-invariant, the re-reference is taken first and
    the filter run once per output electrode: the result equals notching every contact
    before re-referencing (up to float32 rounding).

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
    event is kept when its windows lie within the recording for every band.

    Parameters
    ----------
    recording : Recording
        Open session.
    electrodes : sequence of str, length n_electrodes
        Labels to compute, e.g. from :func:`~recordings.braintreebank.select_electrodes`.
    neighbours : mapping of str to (str, str) or None
        Shaft neighbours of each electrode (needed for ``rereference="laplacian"``).
    event_samples : array-like of float, shape (n_events,)
        Onset sample of each event (from :func:`~recordings.braintreebank.movie_to_sample`);
        NaN events are dropped.
    window_s, step_s, tmin_s, tmax_s : float
        Window length (s), and centres from ``tmin_s`` to ``tmax_s`` every ``step_s`` (s).
    notch_hz : sequence of float or None
        Notch frequencies (Hz); None or empty for no notch.
    notch_q : float
        Notch quality factor.
    rereference : {"laplacian", None}
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
        Precision of the filter's block products (see
        :class:`~recordings.preprocessing.FilteredSums`). None: float32 without a high-pass
        (window means within ~2e-7 x max|signal| of float64, e.g. 1e-4 µV on 100 µV signals
        with a 300 µV offset; ~1.8x faster), float64
        with one (its long memory needs it). Voltage only: band power always filters and
        sums in float64.
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

    Returns
    -------
    ResponseSet
        ``responses`` (float32, µV or µV², shape (n_kept_events, n_electrodes, n_bins), or
        (n_kept_events, n_electrodes, n_bands, n_bins) for ``"spectrogram"``) of
        the events whose windows lie within the recording, which events those are
        (``kept``), the bin centres (s from onset), the electrodes, the sampling rate, the
        kind, the band and the delay applied (samples).

    Raises
    ------
    ValueError
        If there are no electrodes, a Laplacian neighbour is missing, ``rereference`` or
        ``kind`` is unknown, ``band_hz`` is not inside (0, Nyquist), or the windows,
        ``baseline_s``, ``chunk_s``, ``group_size`` or ``n_jobs`` are invalid.
    """
    sfreq = recording.sfreq
    electrodes = list(electrodes)
    if not electrodes:
        raise ValueError("no electrodes to compute responses for")
    centre, lower, upper = reference_channels(recording, electrodes, neighbours, rereference)
    if n_jobs is None:
        n_jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if filter_dtype is None:
        filter_dtype = np.float32 if highpass_hz is None else np.float64
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind == "spectrogram":
        return _spectrogram_responses(
            recording,
            electrodes,
            neighbours,
            event_samples,
            bands_hz,
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
        )
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
    responses = np.zeros((n_kept, len(electrodes), n_bins), dtype=np.float32)
    result = ResponseSet(
        responses,
        kept,
        times,
        electrodes,
        n_dropped,
        sfreq,
        kind=kind,
        band_hz=band_hz if band_sos is not None else None,
        delay_samples=delay,
    )
    if n_kept == 0:
        return result

    windows = [_WindowSet((samples[:, None] + offsets[None, :]).ravel(), n_window, responses)]
    baseline = None
    if baseline_s is not None:
        baseline = np.zeros((n_kept, len(electrodes), 1), dtype=np.float64)
        windows.append(_WindowSet(samples + base_offset, n_base, baseline))
    sos = design_filter(sfreq, notch_hz, notch_q, highpass_hz)
    end = int(samples.max()) + last  # no sample after this is needed
    # the whole cascade must have settled: for band power, the notches and the band-pass
    cascade = sos if band_sos is None else np.concatenate([s for s in (sos, band_sos) if s is not None])
    begin = 0 if filter_from_start else max(0, int(samples.min()) + first - settle_samples(cascade))
    longest = max(w.length for w in windows)
    # the running sums are only read at window edges
    points = np.unique(np.concatenate([w.edges() for w in windows]))
    for window_set in windows:
        window_set.locate(points)
    chunk = max(1, int(round(chunk_s * sfreq)))

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

    def _run_group(group: np.ndarray) -> None:
        """Filter one group of electrodes chunk by chunk and fill its rows of every window set."""
        # rows to read, and where each electrode and neighbour sits among them
        if lower is None:
            channels, where = np.unique(centre[group], return_inverse=True)
        else:
            channels, where = np.unique(
                np.concatenate([centre[group], lower[group], upper[group]]), return_inverse=True
            )
        where = where.reshape(-1, len(group))
        if band_sos is None:  # voltage: the filter is fused into the running sums
            sums = FilteredSums(sos, len(group), dtype=filter_dtype)
        else:  # band power: filter, band-pass and square first, then plain float64 sums
            prefilter = None if sos is None else StreamingFilter(sos, len(group))
            power = band_power_stream([band_hz], sfreq, n_channels=len(group))
            sums = FilteredSums(None, len(group), dtype=np.float64)
        # running sums at the points of the current chunk, after those of the last `longest`
        # samples before it (where windows ending in this chunk may start)
        carried, base, done = np.zeros((len(group), 0)), 0, 0
        for chunk_start in range(begin, end, chunk):
            chunk_stop = min(chunk_start + chunk, end)
            raw = recording.read(channels, chunk_start, chunk_stop)
            data = raw[where[0]] if lower is None else laplacian(raw, *where)
            if band_sos is not None:
                data = power(data if prefilter is None else prefilter(data))[0]
            upto = np.searchsorted(points, chunk_stop, side="right")
            values = np.concatenate([carried, sums(data, points[done:upto] - chunk_start)], axis=1)
            done = upto
            for window_set in windows:
                # groups own disjoint electrodes of the targets: safe from threads
                window_set.fill(group, values, base, chunk_start, chunk_stop)
            keep = np.searchsorted(points, chunk_stop - longest)
            carried, base = values[:, keep - base :], keep
            bar.update(1)

    with bar, _one_blas_thread():
        if n_jobs > 1:
            # sosfilt and large numpy operations release the GIL; h5py serialises the reads
            with ThreadPoolExecutor(n_jobs) as pool:
                list(pool.map(_run_group, groups))
        else:
            for group in groups:
                _run_group(group)
    if baseline is not None:
        responses -= baseline.astype(np.float32)
    logger.info(
        "%s: responses of %d events x %d electrodes x %d bins",
        recording.path,
        n_kept,
        len(electrodes),
        n_bins,
    )
    return result


def _spectrogram_responses(
    recording, electrodes, neighbours, event_samples, bands_hz, **options
) -> ResponseSet:
    """Band power in every band of ``bands_hz``, stacked on a band axis (events kept by all)."""
    bands = [(float(low), float(high)) for low, high in bands_hz]
    if not bands:
        raise ValueError("bands_hz is empty: give at least one (low, high) band in Hz")
    sets = [
        event_responses(
            recording, electrodes, neighbours, event_samples, kind="band_power", band_hz=band, **options
        )
        for band in bands
    ]
    kept = np.logical_and.reduce([s.kept for s in sets])
    # each band's rows of the events every band kept
    parts = [s.responses[kept[s.kept]] for s in sets]
    return ResponseSet(
        np.stack(parts, axis=2),
        kept,
        sets[0].bin_times,
        list(electrodes),
        int((~kept).sum()),
        sets[0].sfreq,
        kind="spectrogram",
        delay_samples=max(s.delay_samples for s in sets),
        bands_hz=tuple(bands),
    )
