"""Tests of the spectral front ends: BrainBERT's STFT and superlet recipes, and band power.

The fixtures ``tests/data/brainbert_{stft,superlet}_reference.npz`` hold a fixed input
(float32, 2048 Hz) and the output of BrainBERT's official code (czlwang/BrainBERT@beec35d,
``preprocessors/stft.py`` and ``preprocessors/superlet_preprocessor.py`` with its vendored
``superlet.py``), run once in a scratch directory on that input upcast to float64; their
``source`` entry says how. The official code is not part of this repository.
"""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from mmsites.recordings.spectral import (
    BRAINBERT_SFREQ,
    HIGH_GAMMA,
    STFT_FREQS,
    SUPERLET_FREQS,
    band_delay_s,
    band_power,
    band_power_stream,
    model_rate_ratio,
    stft_frame_times,
    stft_spectrogram,
    superlet_frame_times,
    superlet_magnitude,
    superlet_spectrogram,
    to_model_rate,
)

DATA = Path(__file__).parent / "data"

#: 1024-Hz vs 2048-Hz sampling of one band-limited signal, in z-score units (module docstring).
STFT_RATE_TOL, SUPERLET_RATE_TOL = 0.01, 0.05


def reference(name):
    with np.load(DATA / f"brainbert_{name}_reference.npz") as f:
        return f["signal"], f["spectrogram"]


def band_limited(sfreq, seconds=5.0, seed=3):
    """Amplitude-modulated sines every 2.37 Hz from 1 to 197 Hz, sampled analytically at ``sfreq``.

    Every STFT bin below 200 Hz holds content that changes over time (so the per-bin z-scores
    are not dominated by rounding); nothing lies above 199 Hz.
    """
    rng = np.random.default_rng(seed)
    freqs = np.arange(1.0, 199.0, 2.37)
    amp, phase = rng.uniform(5, 20, freqs.size), rng.uniform(0, 2 * np.pi, freqs.size)
    fm, pm = rng.uniform(0.2, 1.5, freqs.size), rng.uniform(0, 2 * np.pi, freqs.size)
    t = np.arange(int(seconds * sfreq)) / sfreq
    envelope = 1 + 0.8 * np.sin(2 * np.pi * fm[:, None] * t + pm[:, None])
    return np.sum(amp[:, None] * envelope * np.sin(2 * np.pi * freqs[:, None] * t + phase[:, None]), axis=0)


def stft_oracle(x):
    """The recipe written out: zero ends, 400-sample Hann frames every 50, |rfft| / sum(window)."""
    n = len(x)
    n_frames = -(-n // 50) + 1
    padded = np.zeros(400 + (n_frames - 1) * 50)
    padded[200 : 200 + n] = x
    window = signal.get_window("hann", 400)  # periodic, as scipy.signal.stft
    frames = np.stack([padded[k * 50 : k * 50 + 400] for k in range(n_frames)])
    mag = np.abs(np.fft.rfft(frames * window, axis=1) / window.sum())[:, :40]  # (frames, 40)
    z = (mag - mag.mean(axis=0)) / mag.std(axis=0)  # population std over time, per bin
    return z[10:-10]


# --- the model's grid -------------------------------------------------------------------------


def test_to_model_rate():
    x = np.random.default_rng(0).normal(0, 20, (2, 1000)).astype(np.float32)
    assert to_model_rate(x, 2048.0) is x  # passes through untouched
    up = to_model_rate(x, 1024.0)
    assert up.shape == (2, 2000) and up.dtype == np.float64
    np.testing.assert_array_equal(up, signal.resample_poly(x.astype(np.float64), 2, 1, axis=-1))
    np.testing.assert_allclose(up[:, 40:-40:2], x[:, 20:-20], atol=0.3)  # even samples ~ the input
    assert model_rate_ratio(1000.0) == (256, 125)
    assert model_rate_ratio(4096.0) == (1, 2)
    assert to_model_rate(np.zeros(1000), 1000.0).shape == (2048,)
    with pytest.raises(ValueError, match=r"cannot resample 30000 Hz"):
        to_model_rate(x, 30000.0)  # 2048/30000 = 256/3750: denominator over 1000
    with pytest.raises(ValueError, match="positive sampling rate"):
        to_model_rate(x, 0.0)


# --- STFT -------------------------------------------------------------------------------------


def test_stft_matches_official_code():
    x, expected = reference("stft")
    got = stft_spectrogram(x, 2048.0)
    assert got.shape == expected.shape == (186, 40) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)  # equal here; float32 rounding


def test_stft_equals_the_recipe_written_out():
    x = np.random.default_rng(1).normal(0, 30, (3, 10240))  # a 5 s window at 2048 Hz
    got = stft_spectrogram(x, 2048.0)
    assert got.shape == (3, 186, 40)
    for row in range(3):
        np.testing.assert_allclose(got[row], stft_oracle(x[row]), rtol=0, atol=2e-5)
        np.testing.assert_array_equal(got[row], stft_spectrogram(x[row], 2048.0))
    times = stft_frame_times(10240)
    assert len(times) == 186
    np.testing.assert_allclose(times[[0, 1, -1]], [10 * 50 / 2048, 11 * 50 / 2048, 195 * 50 / 2048])
    np.testing.assert_allclose(STFT_FREQS[[1, -1]], [5.12, 199.68])
    for n in (951, 1000, 3333, 4096):  # frame counts agree with the times for any length
        assert stft_spectrogram(x[0, :n], 2048.0).shape[0] == len(stft_frame_times(n))


def test_stft_flat_window_gives_ones_as_upstream():
    np.testing.assert_array_equal(stft_spectrogram(np.zeros(4096), 2048.0), 1.0)
    noise = np.random.default_rng(5).normal(0, 10, 4096)
    both = stft_spectrogram(np.stack([np.zeros(4096), noise]), 2048.0)  # per channel
    np.testing.assert_array_equal(both[0], 1.0)
    np.testing.assert_array_equal(both[1], stft_spectrogram(noise, 2048.0))


def test_stft_1024_and_2048_hz_agree():
    at_2048 = stft_spectrogram(band_limited(2048.0), 2048.0)
    at_1024 = stft_spectrogram(band_limited(1024.0), 1024.0)
    assert at_1024.shape == at_2048.shape == (186, 40)
    assert len(stft_frame_times(5120, 1024.0)) == 186
    assert np.abs(at_1024 - at_2048).max() < STFT_RATE_TOL


# --- superlets --------------------------------------------------------------------------------


def test_superlet_matches_official_code():
    x, expected = reference("superlet")
    got = superlet_spectrogram(x, 2048.0)
    assert got.shape == expected.shape == (72, 40) and got.dtype == np.float32
    # upstream rounds each Morlet response to complex64: 5e-6 in the 0.1 Hz row, 0 elsewhere
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
    np.testing.assert_allclose(superlet_frame_times(len(x))[[0, -1]], [5 * 50 / 2048, 76 * 50 / 2048])


def test_superlet_channels_and_rates():
    x = np.stack([band_limited(2048.0, 2.0, seed) for seed in (4, 5)])
    got = superlet_spectrogram(x, 2048.0)
    assert got.shape == (2, 72, 40)
    np.testing.assert_allclose(got[1], superlet_spectrogram(x[1], 2048.0), rtol=0, atol=1e-6)
    at_1024 = superlet_spectrogram(band_limited(1024.0, 2.0, 4), 1024.0)
    assert np.abs(at_1024 - got[0]).max() < SUPERLET_RATE_TOL


def test_superlet_frequency_localisation_and_scale():
    sfreq = 2048.0
    t = np.arange(int(3 * sfreq)) / sfreq
    mag = superlet_magnitude(np.sin(2 * np.pi * 80.0 * t), sfreq)
    assert mag.shape == (40, len(t))
    nearest = np.argmin(np.abs(SUPERLET_FREQS - 80.0))  # 82.1 Hz, index 16
    assert nearest == 16 and np.argmax(mag[:, len(t) // 2]) == nearest
    # a unit cosine at a grid frequency: sqrt(2048) / (8 pi), the transform's normalisation
    on_grid = superlet_magnitude(np.cos(2 * np.pi * SUPERLET_FREQS[16] * t), sfreq)
    np.testing.assert_allclose(on_grid[16, len(t) // 2], np.sqrt(sfreq) / (8 * np.pi), rtol=1e-3)


# --- band power -------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(0, 1500), max_size=6), seed=st.integers(0, 3))
def test_band_power_streamed_equals_whole(cuts, seed):
    x = np.random.default_rng(seed).normal(0, 25, (3, 1500)) + 100.0  # with an offset
    bands = (HIGH_GAMMA, (4.0, 8.0))
    whole = band_power(x, 2048.0, bands)
    assert whole.shape == (2, 3, 1500) and whole.dtype == np.float32
    stream = band_power_stream(bands, 2048.0)
    edges = [0, *sorted(cuts), 1500]
    pieces = [stream(x[:, a:b]) for a, b in zip(edges[:-1], edges[1:])]
    np.testing.assert_array_equal(np.concatenate(pieces, axis=2), whole)


def test_band_power_selects_high_gamma():
    sfreq = 2048.0
    t = np.arange(int(3 * sfreq)) / sfreq
    settled = slice(int(sfreq), None)  # after the filter's start transient
    gamma = band_power(10.0 * np.sin(2 * np.pi * 100.0 * t), sfreq)
    alpha = band_power(10.0 * np.sin(2 * np.pi * 10.0 * t), sfreq)
    assert gamma.shape == (1, len(t))
    np.testing.assert_allclose(gamma[0, settled].mean(), 50.0, rtol=0.01)  # A**2 / 2 µV²
    assert alpha[0, settled].mean() < 1e-4 * 50.0
    # 1024 Hz: same band, same power
    t2 = np.arange(int(3 * 1024)) / 1024.0
    np.testing.assert_allclose(
        band_power(10.0 * np.sin(2 * np.pi * 100.0 * t2), 1024.0)[0, 1024:].mean(), 50.0, rtol=0.01
    )


def test_band_delay_is_the_power_lag():
    sfreq = 2048.0
    delay = band_delay_s(HIGH_GAMMA, sfreq)
    assert abs(delay - 0.01037) < 5e-5  # the value the docstrings state
    assert band_power_stream(sfreq=sfreq).delay_s == pytest.approx([delay])
    t = np.arange(int(2 * sfreq)) / sfreq
    envelope = np.exp(-0.5 * ((t - 1.0) / 0.04) ** 2)  # a 40 ms burst at the band's centre
    power = band_power(envelope * np.sin(2 * np.pi * np.sqrt(70 * 150) * t), sfreq)[0]
    lag = (power * t).sum() / power.sum() - (envelope**2 * t).sum() / (envelope**2).sum()
    assert abs(lag - delay) < 1e-3


# --- errors -----------------------------------------------------------------------------------


def test_errors():
    x = np.random.default_rng(2).normal(0, 10, (3, 4096))
    x[1, 7] = np.nan
    for func in (stft_spectrogram, superlet_spectrogram, band_power):
        with pytest.raises(ValueError, match=r"NaN or infinite values in channel\(s\) \[1\]"):
            func(x, 2048.0)
        with pytest.raises(ValueError, match=r"1-D \(n_samples,\) or 2-D"):
            func(np.zeros((2, 2, 4096)), 2048.0)
        with pytest.raises(ValueError, match="empty"):
            func(np.zeros((2, 0)), 2048.0)
    with pytest.raises(ValueError, match="at least 951 samples at 2048 Hz"):
        stft_spectrogram(np.zeros(950), 2048.0)
    with pytest.raises(ValueError, match="at least 476 samples at 1024 Hz"):
        stft_spectrogram(np.zeros(475), 1024.0)
    assert stft_spectrogram(np.ones(476), 1024.0).shape == (1, 40)
    with pytest.raises(ValueError, match="at least 501 samples at 2048 Hz"):
        superlet_spectrogram(np.zeros(500), 2048.0)
    with pytest.raises(ValueError, match="Nyquist"):
        band_power(np.zeros(100), 256.0)  # 150 Hz is above 128 Hz
    with pytest.raises(ValueError, match="pair"):
        band_power(np.zeros(100), 2048.0, bands=(70.0, 150.0))  # a pair, not a list of pairs
    stream = band_power_stream(sfreq=2048.0)
    stream(np.zeros((2, 10)))
    with pytest.raises(ValueError, match=r"shape \(2, n_chunk\)"):
        stream(np.zeros((3, 10)))
    with pytest.raises(ValueError, match=r"NaN or infinite values in channel\(s\) \[0\]"):
        stream(np.array([[0.0, np.inf], [0.0, 0.0]]))
    assert stream(np.zeros((2, 0))).shape == (1, 2, 0)
    assert BRAINBERT_SFREQ == 2048.0
