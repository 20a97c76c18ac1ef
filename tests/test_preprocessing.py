"""Tests of the streaming notch / high-pass filters and the re-references."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from mmsites.recordings.preprocessing import (
    NOTCH_HZ,
    FilteredSums,
    StreamingFilter,
    apply_reference,
    bipolar,
    common_average,
    design_filter,
    highpass_sos,
    laplacian,
    notch_sos,
    settle_samples,
    state_space,
)


def brainbert_notch(x, sfreq, q=30.0):
    """BrainBERT/PopT: one iirnotch + lfilter pass per harmonic, over the whole signal."""
    for freq in NOTCH_HZ:
        b, a = signal.iirnotch(freq / (sfreq / 2), q)
        x = signal.lfilter(b, a, x, axis=-1)
    return x


def gain_db(sos, freq, sfreq, n_seconds=4.0):
    """Steady-state gain of a sine through the filter (last second), in dB."""
    t = np.arange(int(n_seconds * sfreq)) / sfreq
    x = np.sin(2 * np.pi * freq * t)[None, :]
    y = StreamingFilter(sos, 1, dtype=np.float64)(x)
    tail = int(sfreq)
    return 20 * np.log10(np.std(y[0, -tail:]) / np.std(x[0, -tail:]))


@pytest.mark.parametrize("sfreq", [2048.0, 1024.0])
def test_notch_equals_brainbert_lfilter(sfreq):
    x = np.random.default_rng(0).normal(0, 30, (3, 3000))
    y = StreamingFilter(notch_sos(sfreq), 3, dtype=np.float64)(x)
    np.testing.assert_allclose(y, brainbert_notch(x, sfreq), rtol=1e-9, atol=1e-9)
    y32 = StreamingFilter(notch_sos(sfreq), 3, dtype=np.float32)(x.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y, atol=1e-3)  # float32 keeps about 5 digits of 30 µV


@pytest.mark.parametrize("sfreq", [2048.0, 1024.0])
def test_notch_attenuation(sfreq):
    sos = notch_sos(sfreq)
    for freq in NOTCH_HZ:
        assert gain_db(sos, freq, sfreq) < -20
    assert abs(gain_db(sos, 10.0, sfreq)) < 0.05
    assert abs(gain_db(sos, 90.0, sfreq)) < 0.5


def test_highpass_removes_drift():
    sfreq = 1024.0
    sos = highpass_sos(sfreq, 0.5)
    assert gain_db(sos, 0.05, sfreq, n_seconds=60) < -20
    assert abs(gain_db(sos, 10.0, sfreq)) < 0.05
    both = design_filter(sfreq, highpass_hz=0.5)
    assert both.shape == (7, 6)
    assert design_filter(sfreq, notch_hz=None) is None


@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.integers(0, 700), max_size=6),
    dtype=st.sampled_from([np.float32, np.float64]),
    highpass=st.sampled_from([None, 1.0]),
)
def test_streamed_equals_whole(cuts, dtype, highpass):
    x = np.random.default_rng(1).normal(0, 25, (4, 700)).astype(dtype)
    sos = design_filter(2048.0, highpass_hz=highpass)
    whole = StreamingFilter(sos, 4, dtype=dtype)(x)
    stream = StreamingFilter(sos, 4, dtype=dtype)
    edges = [0, *sorted(cuts), 700]
    pieces = [stream(x[:, a:b]) for a, b in zip(edges[:-1], edges[1:])]
    np.testing.assert_array_equal(np.concatenate(pieces, axis=1), whole)


def test_filter_errors():
    with pytest.raises(ValueError, match="Nyquist"):
        notch_sos(500.0)  # 300 and 360 Hz lie above 250 Hz
    with pytest.raises(ValueError, match="Nyquist"):
        highpass_sos(100.0, 60.0)
    with pytest.raises(ValueError, match=r"shape \(2, n_times\)"):
        StreamingFilter(notch_sos(2048.0), 2)(np.zeros((3, 10)))


def test_laplacian():
    x = np.arange(12, dtype=np.float32).reshape(4, 3) ** 2
    got = laplacian(x, [1, 2], [0, 1], [2, 3])
    expected = np.stack([x[1] - (x[0] + x[2]) / 2, x[2] - (x[1] + x[3]) / 2])
    np.testing.assert_allclose(got, expected)
    assert got.dtype == np.float32


def test_bipolar_and_common_average():
    x = np.random.default_rng(0).normal(0, 20, (5, 50)).astype(np.float32)
    got = bipolar(x, [0, 3], [1, 4])
    np.testing.assert_array_equal(got, np.stack([x[0] - x[1], x[3] - x[4]]))
    car = common_average(x, [0, 2, 4], [0, 1, 2, 4])  # row 3 stays out of the mean
    mean = x[[0, 1, 2, 4]].astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(car, x[[0, 2, 4]] - mean, rtol=0, atol=1e-5)
    assert car.dtype == np.float32
    # the mean does not depend on rows outside the reference, even non-finite ones
    y = x.copy()
    y[3] = np.nan
    np.testing.assert_array_equal(common_average(y, [0, 2, 4], [0, 1, 2, 4]), car)
    with pytest.raises(ValueError, match="at least one"):
        common_average(x, [0], [])


def test_apply_reference_dispatches_on_the_scheme():
    x = np.random.default_rng(1).normal(0, 20, (4, 30))
    where = np.array([[1, 2], [0, 1], [2, 3]])
    np.testing.assert_array_equal(apply_reference(x, where, "laplacian"), laplacian(x, *where))
    np.testing.assert_array_equal(apply_reference(x, where[:2], "bipolar"), bipolar(x, *where[:2]))
    np.testing.assert_array_equal(apply_reference(x, where[:1], None), x[[1, 2]])
    np.testing.assert_array_equal(apply_reference(x, where[:1], "none"), x[[1, 2]])
    np.testing.assert_array_equal(apply_reference(x, where[:1], "car"), common_average(x, [1, 2], [1, 2]))
    np.testing.assert_array_equal(
        apply_reference(x, where[:1], "car", reference=[0, 3]), common_average(x, [1, 2], [0, 3])
    )
    with pytest.raises(ValueError, match="3 row"):
        apply_reference(x, where[:2], "laplacian")
    with pytest.raises(ValueError, match="rereference must be one of"):
        apply_reference(x, where[:1], "average")


@pytest.mark.parametrize("highpass", [None, 0.5])
def test_settle_samples_bounds_the_start_transient(highpass):
    sfreq = 1024.0
    sos = design_filter(sfreq, highpass_hz=highpass)
    n = settle_samples(sos)
    assert 1000 < n < 40_000
    x = np.random.default_rng(2).normal(100, 25, (2, n + 500))  # offset: a large start step
    whole = StreamingFilter(sos, 2)(x)
    late = StreamingFilter(sos, 2)(x[:, 500:])
    np.testing.assert_allclose(late[:, -50:], whole[:, -50:], rtol=0, atol=1e-8)
    assert np.abs(late[:, :50] - whole[:, 500:550]).max() > 1e-3  # early on they differ
    assert settle_samples(None) == 0


def running_sums(x, sos):
    """Oracle: sosfilt over the whole signal, then S[t] = sum of y[:t], shape (n, n_times + 1)."""
    y = x.astype(np.float64) if sos is None else signal.sosfilt(sos, x.astype(np.float64), axis=1)
    return np.concatenate([np.zeros((len(x), 1)), np.cumsum(y, axis=1)], axis=1)


def test_state_space_simulates_the_cascade():
    sos = design_filter(1024.0, highpass_hz=0.5)
    A, B, C, D = state_space(sos)
    x = np.random.default_rng(3).normal(0, 10, 300)
    state, y = np.zeros(len(B)), []
    for value in x:  # the textbook recursion, sample by sample
        y.append(C @ state + D * value)
        state = A @ state + B * value
    np.testing.assert_allclose(y, signal.sosfilt(sos, x), rtol=1e-10, atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(
    cuts=st.lists(st.integers(0, 900), max_size=5),
    block=st.sampled_from([1, 7, 64]),
    filt=st.sampled_from(["notch", "notch+highpass", "none"]),
    seed=st.integers(0, 3),
)
def test_filtered_sums_float64_equal_sosfilt_then_cumsum(cuts, block, filt, seed):
    sos = {
        "notch": design_filter(2048.0),
        "notch+highpass": design_filter(2048.0, highpass_hz=1.0),
        "none": None,
    }[filt]
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 25, (3, 900)) + rng.normal(0, 100, (3, 1))  # with an offset
    expected = running_sums(x, sos)
    sums = FilteredSums(sos, 3, dtype=np.float64, block=block)
    edges = [0, *sorted(cuts), 900]
    for a, b in zip(edges[:-1], edges[1:]):
        positions = rng.integers(0, b - a + 1, 20)  # any order, repeats allowed
        got = sums(x[:, a:b], positions)
        np.testing.assert_allclose(got, expected[:, a + positions], rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("sfreq", [2048.0, 1024.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_filtered_sums_equal_float64_sosfilt_of_the_samples(sfreq, dtype):
    # float32 samples are filtered in float64 (no float32 block products any more): the window
    # means of a 100 µV signal with line noise and a 300 µV offset, streamed in uneven chunks,
    # equal float64 sosfilt + cumsum of the same float32 samples bit for bit, whatever ``dtype``
    n = int(30 * sfreq)
    rng = np.random.default_rng(4)
    t = np.arange(n) / sfreq
    x = (rng.normal(0, 100, (4, n)) + 50 * np.sin(2 * np.pi * 60 * t) + 300).astype(np.float32)
    sos = design_filter(sfreq)
    expected = running_sums(x, sos)
    sums = FilteredSums(sos, 4, dtype=dtype)
    edges = [0, 1000, 1001, 25_000, n]
    got = np.concatenate(
        [sums(x[:, a:b], np.arange(int(a > 0), b - a + 1)) for a, b in zip(edges[:-1], edges[1:])], axis=1
    )
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.integers(0, 1500), max_size=8),
    n_channels=st.integers(1, 11),
    block=st.sampled_from([1, 5, 64]),
    scheme=st.sampled_from(["none", "bipolar", "laplacian", None]),
    filt=st.sampled_from(["notch", "notch+highpass", "none"]),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_filtered_sums_kernel_equals_direct_oracle(cuts, n_channels, block, scheme, filt, dtype, seed):
    # the compiled kernel against the direct computation: re-reference (apply_reference),
    # sosfilt over the whole signal, cumulative sum; window means as differences of the sums.
    # The kernel does sosfilt's float64 operations in its order, so equal bit for bit, at any
    # chunk boundaries, block size and channel count (a channel's lane does not matter)
    sos = {"notch": design_filter(2048.0), "notch+highpass": design_filter(2048.0, highpass_hz=0.5)}.get(filt)
    rng = np.random.default_rng(seed)
    n, n_rows = 1500, n_channels + 2
    raw = (rng.normal(0, 30, (n_rows, n)) + rng.normal(0, 300, (n_rows, 1))).astype(dtype)
    k = {"bipolar": 2, "laplacian": 3}.get(scheme, 1)
    where = np.stack([rng.permutation(n_rows)[:n_channels] for _ in range(k)])
    referenced = apply_reference(raw, where, scheme)
    expected = running_sums(referenced, sos)
    sums = FilteredSums(sos, n_channels, block=block)
    edges = [0, *sorted(cuts), n]
    got, where_read = [], []
    for a, b in zip(edges[:-1], edges[1:]):
        starts = rng.integers(0, b - a + 1, 20)  # window starts, and ends 7 samples later
        positions = np.unique(np.concatenate([starts, starts[starts + 7 <= b - a] + 7]))
        got.append(sums(raw[:, a:b], positions, where=where, rereference=scheme))
        where_read.append(a + positions)
    got, where_read = np.concatenate(got, axis=1), np.concatenate(where_read)
    np.testing.assert_array_equal(got, expected[:, where_read])
    # window means (cumulative-sum differences) of 7 samples, where both edges were read
    window = {int(s): i for i, s in enumerate(where_read)}
    pairs = [(window[s], window[s + 7]) for s in window if s + 7 in window]
    y = referenced.astype(np.float64)
    y = y if sos is None else signal.sosfilt(sos, y)
    for i, j in pairs:
        mean = (got[:, j] - got[:, i]) / 7
        np.testing.assert_allclose(mean, y[:, where_read[i] : where_read[j]].mean(axis=1), rtol=0, atol=1e-9)


def test_filtered_sums_errors():
    sums = FilteredSums(notch_sos(2048.0), 2)
    with pytest.raises(ValueError, match=r"shape \(2, n_times\)"):
        sums(np.zeros((3, 10)), [0])
    with pytest.raises(ValueError, match=r"positions must lie in \[0, 10\]"):
        sums(np.zeros((2, 10)), [11])
    with pytest.raises(ValueError, match="float32 or float64"):
        FilteredSums(notch_sos(2048.0), 2, dtype=np.int16)
    np.testing.assert_array_equal(sums(np.zeros((2, 0)), [0, 0]), 0.0)
    with pytest.raises(ValueError, match="for rereference"):
        sums(np.zeros((4, 10)), [0], where=np.zeros((2, 2), dtype=int), rereference="laplacian")
    with pytest.raises(ValueError, match="outside the chunk"):
        sums(np.zeros((4, 10)), [0], where=np.array([[0, 4], [1, 2]]), rereference="bipolar")


def test_filtered_sums_any_position_order():
    # positions in any order, with repeats, give the sums at each (through their unique set)
    x = np.random.default_rng(5).normal(0, 10, (2, 50))
    expected = running_sums(x, notch_sos(2048.0))
    positions = np.array([50, 3, 3, 0, 17, 50, 1])
    got = FilteredSums(notch_sos(2048.0), 2)(x, positions)
    np.testing.assert_array_equal(got, expected[:, positions])
