"""BrainBERT embeddings per event and electrode, streamed, against a direct whole-signal oracle."""

from __future__ import annotations

import logging

import h5py
import numpy as np
import pytest
from scipy import signal

from mmsites.brainmodels import BrainBERT
from mmsites.brainmodels.responses import WINDOW_S, event_embeddings
from mmsites.recordings.braintreebank import Recording
from mmsites.recordings.preprocessing import NOTCH_HZ

LABELS = ["A1", "A2", "A3", "A4", "B1", "B2", "B3"]
ELECTRODES = ["A2", "A3", "B2"]
NEIGHBOURS = {"A2": ("A1", "A3"), "A3": ("A2", "A4"), "B2": ("B1", "B3")}


@pytest.fixture(scope="module")
def model():
    return BrainBERT("tiny", seed=0, preprocessor="stft")


def write(path, sfreq, seconds, seed=0, nan_at=None):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sfreq)) / sfreq
    data = rng.normal(0, 20, (len(LABELS), len(t))) + 40 * np.sin(2 * np.pi * 60 * t)
    data += 30 * np.sin(2 * np.pi * 90 * t)[None] * (t % 2 < 0.5)  # bursts the spectrogram sees
    data = data.astype(np.float32)
    if nan_at is not None:
        data[LABELS.index(nan_at), len(t) // 2] = np.nan
    with h5py.File(path, "w") as f:
        for i, row in enumerate(data):
            f.create_dataset(f"data/electrode_{i}", data=row)
    return data


def oracle(data, sfreq, events, model):
    """Each contact notched from the first sample (as BrainBERT), Laplacian, window, embed."""
    x = data.astype(np.float64)
    for freq in NOTCH_HZ:
        b, a = signal.iirnotch(freq, 30, fs=sfreq)
        x = signal.lfilter(b, a, x, axis=1)
    row = {label: x[LABELS.index(label)] for label in LABELS}
    half, length = int(round(WINDOW_S / 2 * sfreq)), int(round(WINDOW_S * sfreq))
    out = np.zeros((len(events), len(ELECTRODES), model.config.hidden_dim))
    for j, label in enumerate(ELECTRODES):
        lo, hi = NEIGHBOURS[label]
        y = row[label] - (row[lo] + row[hi]) / 2
        onsets = np.round(events).astype(int)
        windows = np.stack([y[e - half : e - half + length] for e in onsets])
        out[:, j] = model.embed(windows.astype(np.float32), sfreq)
    return out


@pytest.mark.parametrize("chunk_s", [1.3, 6.0, 60.0])
def test_streamed_embeddings_equal_the_direct_computation(tmp_path, model, chunk_s, caplog):
    sfreq = 2048.0
    data = write(tmp_path / "rec.h5", sfreq, 24)
    events = np.array([1.0, 3.0, 4.2, 7.7, 12.0, 15.5, 20.0, 23.0, np.nan]) * sfreq
    rec = Recording(tmp_path / "rec.h5", LABELS, sfreq)
    with caplog.at_level(logging.WARNING):
        got = event_embeddings(rec, ELECTRODES, NEIGHBOURS, events, model, chunk_s=chunk_s, progress=False)
    # 1 s and 23 s leave the recording with a 5 s window; NaN is dropped too
    assert got.kept.tolist() == [False, True, True, True, True, True, True, False, False]
    assert got.n_dropped == 3 and "dropped 3 of 9 events" in caplog.text
    assert got.embeddings.shape == (6, 3, model.config.hidden_dim) and got.excluded == []
    expected = oracle(data, sfreq, events[got.kept], model)
    np.testing.assert_allclose(got.embeddings, expected, atol=2e-4, rtol=1e-4)


def test_a_1024_hz_session_is_embedded_on_the_model_grid(tmp_path, model):
    sfreq = 1024.0
    data = write(tmp_path / "rec.h5", sfreq, 16, seed=1)
    events = np.array([4.0, 8.0, 11.0]) * sfreq
    rec = Recording(tmp_path / "rec.h5", LABELS, sfreq)
    got = event_embeddings(rec, ELECTRODES, NEIGHBOURS, events, model, chunk_s=5.0, progress=False)
    np.testing.assert_allclose(got.embeddings, oracle(data, sfreq, events, model), atol=2e-4, rtol=1e-4)


def test_a_channel_with_nan_excludes_the_electrodes_that_read_it(tmp_path, model, caplog):
    sfreq = 2048.0
    data = write(tmp_path / "rec.h5", sfreq, 16, nan_at="A4")  # A4 is A3's upper neighbour only
    events = np.array([4.0, 9.0, 12.0]) * sfreq
    rec = Recording(tmp_path / "rec.h5", LABELS, sfreq)
    with caplog.at_level(logging.WARNING):
        got = event_embeddings(rec, ELECTRODES, NEIGHBOURS, events, model, chunk_s=3.0, progress=False)
    assert got.excluded == ["A3"] and "A3" in caplog.text
    assert np.isnan(got.embeddings[:, 1]).all()
    clean = np.nan_to_num(data, nan=0.0)
    expected = oracle(clean, sfreq, events, model)
    for j in (0, 2):  # the others go on, unaffected
        np.testing.assert_allclose(got.embeddings[:, j], expected[:, j], atol=2e-4, rtol=1e-4)


def test_errors_name_the_argument(tmp_path, model):
    write(tmp_path / "rec.h5", 2048.0, 8)
    rec = Recording(tmp_path / "rec.h5", LABELS, 2048.0)
    with pytest.raises(ValueError, match="no electrodes"):
        event_embeddings(rec, [], NEIGHBOURS, [4096.0], model)
    with pytest.raises(ValueError, match="needs the neighbours"):
        event_embeddings(rec, ELECTRODES, None, [4096.0], model)
    with pytest.raises(ValueError, match="chunk_s and batch_size"):
        event_embeddings(rec, ELECTRODES, NEIGHBOURS, [4096.0], model, chunk_s=0)
