"""Tests of the streaming notch / high-pass filters and the Laplacian re-reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from recordings.preprocessing import (
    NOTCH_HZ,
    StreamingFilter,
    design_filter,
    highpass_sos,
    laplacian,
    notch_sos,
    settle_samples,
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
@given(cuts=st.lists(st.integers(0, 700), max_size=6), dtype=st.sampled_from([np.float32, np.float64]),
       highpass=st.sampled_from([None, 1.0]))
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
