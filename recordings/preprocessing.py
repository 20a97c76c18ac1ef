"""Neural preprocessing: line-noise notches, optional high-pass, re-references.

Re-references (:func:`apply_reference`): none, the common average (:func:`common_average`),
bipolar (:func:`bipolar`) or Laplacian (:func:`laplacian`), each row by row, so that one
output row depends only on the input rows its scheme names.

Filters are causal IIR cascades in second-order sections, applied like BrainBERT/PopT apply
``scipy.signal.iirnotch`` with ``lfilter`` over a whole session, but **streamed**: a
:class:`StreamingFilter` carries its state from one chunk to the next, so filtering a session
chunk by chunk gives the same numbers as filtering it in one piece, without holding it in
memory. :class:`FilteredSums` computes what the responses need from the filtered signal, its
running sum at chosen samples, with a compiled kernel (numba) that runs ``sosfilt``'s
recursion vectorised over channels, re-references on the way in and keeps only the sums asked
for: the same float64 numbers as ``sosfilt`` + ``cumsum``, bit for bit, without writing the
filtered signal out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numba
import numpy as np
from scipy import signal

logger = logging.getLogger(__name__)

__all__ = [
    "NOTCH_HZ",
    "REREFERENCES",
    "FilteredSums",
    "StreamingFilter",
    "apply_reference",
    "bipolar",
    "common_average",
    "design_filter",
    "highpass_sos",
    "laplacian",
    "notch_sos",
    "settle_samples",
]

#: Line noise and its harmonics removed by default (Hz), as BrainBERT/PopT.
NOTCH_HZ = (60.0, 120.0, 180.0, 240.0, 300.0, 360.0)

#: Re-referencing schemes (``None`` is accepted for ``"none"`` wherever one is taken).
REREFERENCES = ("none", "car", "bipolar", "laplacian")


def notch_sos(sfreq: float, freqs: Sequence[float] = NOTCH_HZ, q: float = 30.0) -> np.ndarray:
    """Cascade of ``scipy.signal.iirnotch`` filters as second-order sections.

    Parameters
    ----------
    sfreq : float
        Sampling rate (Hz).
    freqs : sequence of float
        Notch centre frequencies (Hz), each below the Nyquist frequency.
    q : float
        Quality factor (centre frequency / -3 dB bandwidth).

    Returns
    -------
    sos : ndarray of float64, shape (n_freqs, 6)
        One second-order section ``(b0, b1, b2, a0, a1, a2)`` per notch, in the order of
        ``freqs``.

    Raises
    ------
    ValueError
        If a frequency is not between 0 and the Nyquist frequency.
    """
    nyquist = sfreq / 2.0
    sections = []
    for freq in freqs:
        if not 0 < freq < nyquist:
            raise ValueError(
                f"notch frequency {freq} Hz must lie between 0 and the Nyquist frequency "
                f"{nyquist:g} Hz (sampling rate {sfreq:g} Hz)"
            )
        b, a = signal.iirnotch(freq, q, fs=sfreq)
        sections.append(np.concatenate([b, a]))
    return np.asarray(sections, dtype=np.float64).reshape(-1, 6)


def highpass_sos(sfreq: float, cutoff_hz: float, order: int = 2) -> np.ndarray:
    """Butterworth high-pass as second-order sections.

    Parameters
    ----------
    sfreq : float
        Sampling rate (Hz).
    cutoff_hz : float
        Cutoff (-3 dB) frequency (Hz), between 0 and the Nyquist frequency.
    order : int
        Filter order.

    Returns
    -------
    sos : ndarray of float64, shape (ceil(order / 2), 6)
        The filter's second-order sections, as ``scipy.signal.butter(..., output="sos")``.

    Raises
    ------
    ValueError
        If the cutoff is not between 0 and the Nyquist frequency.
    """
    if not 0 < cutoff_hz < sfreq / 2.0:
        raise ValueError(
            f"high-pass cutoff {cutoff_hz} Hz must lie between 0 and the Nyquist frequency {sfreq / 2:g} Hz"
        )
    return signal.butter(order, cutoff_hz, btype="highpass", fs=sfreq, output="sos")


def design_filter(
    sfreq: float,
    notch_hz: Sequence[float] | None = NOTCH_HZ,
    notch_q: float = 30.0,
    highpass_hz: float | None = None,
) -> np.ndarray | None:
    """The preprocessing cascade (notches, then the optional high-pass) as sections.

    Parameters
    ----------
    sfreq : float
        Sampling rate (Hz).
    notch_hz : sequence of float or None
        Notch centre frequencies (Hz); None or empty for no notch.
    notch_q : float
        Quality factor of every notch (:func:`notch_sos`).
    highpass_hz : float or None
        Cutoff (Hz) of a second-order Butterworth high-pass (:func:`highpass_sos`); None for
        none.

    Returns
    -------
    sos : ndarray of float64, shape (n_sections, 6), or None
        The notch sections, then the high-pass sections; None when there is nothing to apply.
    """
    parts = []
    if notch_hz:
        parts.append(notch_sos(sfreq, notch_hz, notch_q))
    if highpass_hz is not None:
        parts.append(highpass_sos(sfreq, highpass_hz))
    return np.concatenate(parts) if parts else None


def settle_samples(sos: np.ndarray | None, tol: float = 1e-12) -> int:
    """Samples after which a filter's memory of its past has decayed below ``tol``.

    Starting a filter from zero state this many samples before the data of interest gives the
    same output there as starting it at the beginning of the recording, up to ``tol`` times
    the signal scale: the difference is a free response that decays like ``r**n`` for the
    largest pole radius ``r``.

    Parameters
    ----------
    sos : ndarray, shape (n_sections, 6), or None
        Second-order sections; None or empty for no filter.
    tol : float
        Relative size of the remaining memory.

    Returns
    -------
    int
        ``ceil(log(tol) / log(r))`` samples, 0 without a filter (or with all poles at 0).

    Raises
    ------
    ValueError
        If the filter is unstable (a pole radius of 1 or more).
    """
    if sos is None or len(sos) == 0:
        return 0
    radius = max(np.abs(np.roots(section[3:])).max() for section in np.asarray(sos, dtype=np.float64))
    if radius >= 1:
        raise ValueError(f"the filter is not stable (pole radius {radius:.6f} >= 1)")
    return 0 if radius == 0 else int(np.ceil(np.log(tol) / np.log(radius)))


class StreamingFilter:
    """A causal IIR filter applied chunk by chunk along time, its state carried over.

    The state starts at zero (as ``lfilter`` without ``zi``), so ``filter(x[:, :k])`` followed
    by ``filter(x[:, k:])`` equals filtering ``x`` at once.

    Parameters
    ----------
    sos : ndarray, shape (n_sections, 6)
        Second-order sections, e.g. from :func:`design_filter`.
    n_channels : int
        Number of rows of every chunk.
    dtype : numpy dtype
        Working precision. float64 by default: a low high-pass cutoff in float32 sections
        errs by ~0.1 % of the signal, and float64 runs as fast with ``sosfilt``.
    """

    def __init__(self, sos: np.ndarray, n_channels: int, dtype=np.float64):
        self.dtype = np.dtype(dtype)
        self.sos = np.asarray(sos, dtype=self.dtype)
        if self.sos.ndim != 2 or self.sos.shape[1] != 6:
            raise ValueError(f"sos must have shape (n_sections, 6), got {self.sos.shape}")
        self.n_channels = int(n_channels)
        self._zi = np.zeros((len(self.sos), self.n_channels, 2), dtype=self.dtype)

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        """Filter the next chunk.

        Parameters
        ----------
        chunk : ndarray, shape (n_channels, n_times)
            The samples following the previous chunk (µV).

        Returns
        -------
        ndarray, shape (n_channels, n_times)
            Of ``dtype``, or float64 for a float64 chunk. A float32 chunk is promoted inside
            ``sosfilt``'s own working copy, so it costs no extra pass.
        """
        chunk = np.asarray(chunk)
        if chunk.ndim != 2 or chunk.shape[0] != self.n_channels:
            raise ValueError(f"chunk must have shape ({self.n_channels}, n_times), got {chunk.shape}")
        if chunk.shape[1] == 0:
            return chunk.copy()
        out, self._zi = signal.sosfilt(self.sos, chunk, axis=1, zi=self._zi)
        return out


def state_space(sos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The cascade of second-order sections as one state-space system.

    Each section is in direct form II transposed (as ``sosfilt``); section ``i`` reads the
    output of section ``i - 1``: ``s[n+1] = A s[n] + B x[n]``, ``y[n] = C s[n] + D x[n]``.

    Parameters
    ----------
    sos : ndarray, shape (n_sections, 6)
        Second-order sections ``(b0, b1, b2, a0, a1, a2)``; each is normalised by its ``a0``.

    Returns
    -------
    A : ndarray of float64, shape (2 n_sections, 2 n_sections)
        State transition matrix (two states per section, section order).
    B : ndarray of float64, shape (2 n_sections,)
        Input vector: how a sample enters each state.
    C : ndarray of float64, shape (2 n_sections,)
        Output vector: how the states enter the output.
    D : float
        Direct feed-through: the product of the sections' ``b0 / a0``.
    """
    sos = np.asarray(sos, dtype=np.float64)
    m = 2 * len(sos)
    A, B, C, D = np.zeros((m, m)), np.zeros(m), np.zeros(m), 1.0
    for i, section in enumerate(sos):
        b0, b1, b2, _, a1, a2 = section / section[3]
        own = slice(2 * i, 2 * i + 2)
        b = np.array([b1 - a1 * b0, b2 - a2 * b0])
        # the section's input is the output so far, C s + D x
        A[own, : 2 * i] = np.outer(b, C[: 2 * i])
        A[own, own] = [[-a1, 1.0], [-a2, 0.0]]
        B[own] = b * D
        C[: 2 * i] *= b0
        C[own] = [1.0, 0.0]
        D *= b0
    return A, B, C, D


# The sample-by-sample recursion of a cascade, vectorised over channels: the channels of a tile
# of samples are transposed to be contiguous, so that each step of the recursion is one SIMD
# operation over channels. Compiled once per number of sections (the coefficients come as a
# tuple, so the loop over sections is unrolled and nothing the loop stores can alias them)
# and cached on disk. No fastmath: the operations are sosfilt's, in its order, so the
# filtered samples equal float64 sosfilt's bit for bit on any channel in any lane, and the
# running sums equal a float64 cumsum of them.
@numba.njit(nogil=True, cache=True)
def _filtered_sums_kernel(x, rows, scheme, half, coef, filtered, state, positions, out, tile):
    n_channels = rows.shape[1]
    n_times = x.shape[1]
    n_sections = len(coef) // 5
    total = 2 * n_sections  # the row of state holding each channel's running sum
    n_positions = positions.shape[0]
    p = 0
    while p < n_positions and positions[p] == 0:
        for c in range(n_channels):
            out[p, c] = state[total, c]
        p += 1
    block = tile.shape[0]
    for t0 in range(0, n_times, block):
        m = min(block, n_times - t0)
        # re-reference into the tile in the input's precision (half is -0.5 of x's type), with
        # the operations of laplacian() and bipolar() in their order: the same numbers as
        # re-referencing first
        for c in range(n_channels):
            a = rows[0, c]
            if scheme == 2:
                lo, hi = rows[1, c], rows[2, c]
                for t in range(m):
                    tile[t, c] = (x[lo, t0 + t] + x[hi, t0 + t]) * half + x[a, t0 + t]
            elif scheme == 1:
                b = rows[1, c]
                for t in range(m):
                    tile[t, c] = x[a, t0 + t] - x[b, t0 + t]
            else:
                for t in range(m):
                    tile[t, c] = x[a, t0 + t]
        for t in range(m):
            row = tile[t]
            if filtered:  # tested once per sample, not per channel: the loops stay SIMD
                for c in range(n_channels):
                    v = np.float64(row[c])
                    for s in range(n_sections):  # direct form II transposed, as sosfilt
                        y = coef[5 * s] * v + state[2 * s, c]
                        state[2 * s, c] = coef[5 * s + 1] * v - coef[5 * s + 3] * y + state[2 * s + 1, c]
                        state[2 * s + 1, c] = coef[5 * s + 2] * v - coef[5 * s + 4] * y
                        v = y
                    state[total, c] += v
            else:
                for c in range(n_channels):
                    state[total, c] += np.float64(row[c])
            # one contiguous row of sums per position read out (a column of a channels-major
            # array would touch a cache line and a page per channel)
            while p < n_positions and positions[p] == t0 + t + 1:
                for c in range(n_channels):
                    out[p, c] = state[total, c]
                p += 1


class FilteredSums:
    """Running sums of a causally filtered signal, read out at chosen samples of each chunk.

    ``S(t) = sum_{k < t} y[k]`` where ``y`` is the signal filtered by ``sos`` from zero state
    at the first chunk, chunk after chunk: what :class:`StreamingFilter` (float64) followed by
    a float64 cumulative sum gives, which window means are differences of, without holding
    either. A compiled kernel runs ``sosfilt``'s recursion (direct form II transposed,
    float64, the same operations in the same order) vectorised over channels, adds each
    filtered sample to its channel's running sum as it comes out, and keeps only the sums at
    ``positions``: the sums equal ``cumsum(sosfilt(sos, x))`` in float64 bit for bit, however
    the signal is cut into chunks and whichever channels are filtered together. The previous
    block-product form (float32 by default) erred by up to ``2e-7 * max|x|`` on a window
    mean; results moved by that much (1.2e-6 µV on the benchmark's responses). The kernel
    costs 9 floating-point operations per section per sample (54 for the six default notches)
    plus moving each sample into a channel-contiguous tile, about as long as the filtering
    itself: ``benchmarks/bench_responses.py`` prints its throughput beside ``sosfilt``'s.

    Parameters
    ----------
    sos : ndarray, shape (n_sections, 6), or None
        Second-order sections (e.g. from :func:`design_filter`); None for no filter.
    n_channels : int
        Rows of every chunk (of the re-referenced chunk when ``where`` is given).
    dtype : {numpy.float32, numpy.float64}
        Kept for compatibility: the recursion and the sums are float64 either way (float32
        block products were once the fast path; the kernel is faster and exact).
    block : int
        Samples moved into the channel-contiguous tile at once. Each row of the chunk is read
        ``block`` samples at a time: on an AMD EPYC core, 128 (a 32 KB tile for 64 float32
        channels) moved samples 2x faster than 32 and the whole kernel ran 1.6x faster
        (``benchmarks/bench_responses.py``; an earlier Intel machine had preferred 32 by 15 %).
    """

    def __init__(self, sos: np.ndarray | None, n_channels: int, dtype=np.float32, block: int = 128):
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.n_channels, self.block = int(n_channels), max(1, int(block))
        sos = None if sos is None or len(sos) == 0 else np.asarray(sos, dtype=np.float64)
        if sos is not None and (sos.ndim != 2 or sos.shape[1] != 6):
            raise ValueError(f"sos must have shape (n_sections, 6), got {sos.shape}")
        self._filtered = sos is not None
        # (b0, b1, b2, a1, a2) per section, normalised as sosfilt requires (a0 = 1); without a
        # filter, one section that the kernel skips (numba cannot index an empty tuple)
        sections = sos / sos[:, 3:4] if sos is not None else np.array([[1.0, 0, 0, 1, 0, 0]])
        self._coef = tuple(float(v) for section in sections for v in section[[0, 1, 2, 4, 5]])
        # two filter states per section, then the running sum, per channel
        self._state = np.zeros((2 * len(sections) + 1, self.n_channels))
        self._tiles: dict = {}

    def __call__(
        self, chunk: np.ndarray, positions, where=None, rereference: str | None = None
    ) -> np.ndarray:
        """Take the next chunk and return the running sums at the given positions.

        Parameters
        ----------
        chunk : ndarray, shape (n_channels, n_times) or (n_rows, n_times)
            The samples following the previous chunk (µV); raw rows to re-reference when
            ``where`` is given.
        positions : array-like of int, shape (n_positions,)
            Sample counts ``j`` in ``[0, n_times]``: the sum over all samples before sample
            ``j`` of this chunk is returned (``j = 0``: the total of the previous chunks).
        where : ndarray of int, shape (k, n_channels), optional
            Re-reference ``chunk`` on the way in, as :func:`apply_reference` with these rows
            would (the same numbers, without writing the re-referenced chunk out): rows of
            each channel, then of its bipolar partner (``k = 2``) or its two Laplacian
            neighbours (``k = 3``).
        rereference : {"none", "bipolar", "laplacian", None}
            The scheme ``where`` is for (the common average needs its mean first: pass the
            re-referenced chunk instead).

        Returns
        -------
        ndarray of float64, shape (n_channels, n_positions)
            Running sums (µV x samples); a transposed view of the positions-major array the
            kernel writes.
        """
        chunk = np.asarray(chunk)
        if chunk.dtype not in (np.float32, np.float64):
            chunk = chunk.astype(np.float64)
        chunk = np.ascontiguousarray(chunk)
        if where is None:
            if chunk.ndim != 2 or chunk.shape[0] != self.n_channels:
                raise ValueError(f"chunk must have shape ({self.n_channels}, n_times), got {chunk.shape}")
            rows, scheme = np.arange(self.n_channels, dtype=np.intp)[None, :], 0
        else:
            scheme = {"none": 0, None: 0, "bipolar": 1, "laplacian": 2}.get(rereference)
            rows = np.ascontiguousarray(where, dtype=np.intp)
            if scheme is None or rows.shape != (scheme + 1, self.n_channels) or chunk.ndim != 2:
                raise ValueError(
                    f"where must have shape (k, {self.n_channels}) for rereference none (k = 1), "
                    f"bipolar (2) or laplacian (3), got {rows.shape} for {rereference!r}"
                )
            if rows.size and (rows.min() < 0 or rows.max() >= chunk.shape[0]):
                raise ValueError(f"where names rows outside the chunk's {chunk.shape[0]}")
        n = chunk.shape[1]
        positions = np.asarray(positions, dtype=np.int64).ravel()
        if positions.size and (positions.min() < 0 or positions.max() > n):
            raise ValueError(f"positions must lie in [0, {n}], got {positions.min()}..{positions.max()}")
        # the kernel reads out at strictly increasing positions: others through their unique set
        inverse = None
        if positions.size > 1 and np.any(positions[1:] <= positions[:-1]):
            positions, inverse = np.unique(positions, return_inverse=True)
        tile = self._tiles.get(chunk.dtype)
        if tile is None:
            tile = self._tiles[chunk.dtype] = np.empty((self.block, self.n_channels), dtype=chunk.dtype)
        out = np.empty((positions.size, self.n_channels))
        half = chunk.dtype.type(-0.5)
        _filtered_sums_kernel(
            chunk, rows, scheme, half, self._coef, self._filtered, self._state, positions, out, tile
        )
        return out.T if inverse is None else out[inverse].T


def laplacian(
    data: np.ndarray, centre: Sequence[int], lower: Sequence[int], upper: Sequence[int], dtype=None
) -> np.ndarray:
    """Laplacian re-reference ``x_e - (x_lower + x_upper) / 2``.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
        Signals (µV).
    centre, lower, upper : sequence of int, length n_out
        Rows of each re-referenced electrode and of its two shaft neighbours.
    dtype : numpy dtype, optional
        Output type (default: that of ``data``).

    Returns
    -------
    ndarray, shape (n_out, n_times)
        Re-referenced signals (µV), one row per entry of ``centre``, of ``dtype``.
    """
    out = np.empty((len(centre), data.shape[1]), dtype=dtype or data.dtype)
    # row by row: three passes over cache-sized rows, no gathered temporaries
    for row, (c, lo, hi) in enumerate(zip(centre, lower, upper)):
        np.add(data[lo], data[hi], out=out[row])
        out[row] *= -0.5
        out[row] += data[c]
    return out


def bipolar(data: np.ndarray, centre: Sequence[int], partner: Sequence[int], dtype=None) -> np.ndarray:
    """Bipolar re-reference ``x_e - x_partner`` (the partner: the next contact on the shaft).

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
        Signals (µV).
    centre, partner : sequence of int, length n_out
        Rows of each re-referenced electrode and of its partner.
    dtype : numpy dtype, optional
        Output type (default: that of ``data``).

    Returns
    -------
    ndarray, shape (n_out, n_times)
        Re-referenced signals (µV), one row per entry of ``centre``, of ``dtype``.
    """
    out = np.empty((len(centre), data.shape[1]), dtype=dtype or data.dtype)
    for row, (c, p) in enumerate(zip(centre, partner)):
        np.subtract(data[c], data[p], out=out[row])
    return out


def common_average(
    data: np.ndarray, centre: Sequence[int], reference: Sequence[int], dtype=None
) -> np.ndarray:
    """Common average re-reference ``x_e - mean(x_r for r in reference)``.

    The mean is summed in float64, row after row in the order of ``reference``: the same
    reference rows give the same mean bit for bit, whatever other rows ``data`` holds.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
        Signals (µV).
    centre : sequence of int, length n_out
        Rows of the re-referenced electrodes.
    reference : sequence of int, length n_reference
        Rows averaged into the reference (the good channels; none may hold NaN or inf).
    dtype : numpy dtype, optional
        Output type (default: that of ``data``).

    Returns
    -------
    ndarray, shape (n_out, n_times)
        Re-referenced signals (µV), one row per entry of ``centre``, of ``dtype``.

    Raises
    ------
    ValueError
        If ``reference`` is empty.
    """
    reference = list(reference)
    if not reference:
        raise ValueError("the common average needs at least one reference channel")
    mean = np.zeros(data.shape[1], dtype=np.float64)
    for r in reference:  # a fixed order: the mean does not depend on the other rows
        mean += data[r]
    mean *= 1.0 / len(reference)
    out = np.empty((len(centre), data.shape[1]), dtype=dtype or data.dtype)
    for row, c in enumerate(centre):
        np.subtract(data[c], mean, out=out[row], casting="same_kind")
    return out


def apply_reference(
    data: np.ndarray, where: np.ndarray, rereference: str | None, reference: Sequence[int] | None = None
) -> np.ndarray:
    """Re-reference rows of ``data`` as ``rereference`` says, ``where`` naming the rows.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
        Signals (µV).
    where : ndarray of int, shape (k, n_out)
        Rows of each output electrode (``where[0]``) and of the channels its reference uses:
        ``k = 3`` for a Laplacian (lower and upper neighbours), 2 for bipolar (the partner),
        1 for none or the common average (as
        :func:`~recordings.responses.reference_rows` returns it).
    rereference : {"none", "car", "bipolar", "laplacian", None}
        The scheme.
    reference : sequence of int or None
        Rows averaged by ``"car"``; None: every row of ``where[0]``.

    Returns
    -------
    ndarray, shape (n_out, n_times)
        Re-referenced signals (µV), of the type of ``data``.

    Raises
    ------
    ValueError
        If ``rereference`` is unknown or ``where`` does not have its number of rows.
    """
    scheme = "none" if rereference is None else rereference
    rows = {"none": 1, "car": 1, "bipolar": 2, "laplacian": 3}.get(scheme)
    if rows is None:
        raise ValueError(f"rereference must be one of {REREFERENCES} or None, got {rereference!r}")
    if len(where) != rows:
        raise ValueError(f"rereference={scheme!r} needs {rows} row(s) of indices in where, got {len(where)}")
    if scheme == "laplacian":
        return laplacian(data, *where)
    if scheme == "bipolar":
        return bipolar(data, *where)
    if scheme == "car":
        return common_average(data, where[0], where[0] if reference is None else reference)
    return data[where[0]]
