"""Tests of event-locked responses against slow direct computations."""

import logging

import numpy as np
import pandas as pd
import pytest
from conftest import RECORDING_LABELS as LABELS
from conftest import line_noise_signal, write_h5
from hypothesis import given
from hypothesis import strategies as st
from scipy import signal

from mmsites.recordings.braintreebank import Recording, estimate_sfreq, movie_to_sample, select_electrodes
from mmsites.recordings.preprocessing import NOTCH_HZ, highpass_sos
from mmsites.recordings.responses import bin_times, event_responses, window_offsets


def write_recording(path, sfreq, seconds, seed=0):
    """An h5 of noise + 60/180 Hz line noise + slow drift per channel; returns the signal (µV)."""
    data = line_noise_signal(sfreq, seconds, seed).astype(np.float32)
    write_h5(path, data)
    return data


def direct_responses(
    data, labels, electrodes, neighbours, events, sfreq, window_s, times, highpass_hz=None, baseline_s=None
):
    """Whole-signal filtering with scipy (each contact notched, as BrainBERT), then a loop."""
    x = data.astype(np.float64)
    for freq in NOTCH_HZ:
        b, a = signal.iirnotch(freq, 30, fs=sfreq)
        x = signal.lfilter(b, a, x, axis=1)
    if highpass_hz is not None:
        x = signal.sosfilt(highpass_sos(sfreq, highpass_hz), x, axis=1)
    row = {label: x[labels.index(label)] for label in labels}
    n = int(round(window_s * sfreq))
    out = np.zeros((len(events), len(electrodes), len(times)))
    for i, event in enumerate(events):
        for j, label in enumerate(electrodes):
            y = row[label]
            if neighbours:
                lo, hi = neighbours[label]
                y = y - (row[lo] + row[hi]) / 2
            for k, t in enumerate(times):
                start = int(event + round((t - window_s / 2) * sfreq))
                out[i, j, k] = np.mean(y[start : start + n])
            if baseline_s is not None:
                start = int(event + round(baseline_s[0] * sfreq))
                out[i, j] -= np.mean(y[start : start + int(round((baseline_s[1] - baseline_s[0]) * sfreq))])
    return out


@pytest.fixture(scope="module", params=[2048.0, 1024.0])
def session(request, tmp_path_factory):
    sfreq = request.param
    path = tmp_path_factory.mktemp("rec") / "sub_1_trial000.h5"
    data = write_recording(path, sfreq, seconds=9.0)
    electrodes, neighbours = select_electrodes(LABELS, {"A4"})
    events = np.round(np.array([2.5, 3.1, 4.0, 6.2]) * sfreq) + 3
    return path, data, sfreq, electrodes, neighbours, events


def test_bin_times_defaults():
    times = bin_times()
    assert times.shape == (161,) and times[0] == -2.0 and times[80] == 0.0
    assert np.isclose(times[-1], 2.0)
    starts, n = window_offsets(times, 0.2, 2048.0)
    assert n == 410 and starts[80] == -205 and starts[0] == -4301


@given(
    step=st.sampled_from([0.01, 0.025, 0.05, 0.1]),
    n=st.integers(0, 200),
    tmin=st.sampled_from([-2.0, -0.5, 0.0, 0.3]),
)
def test_bin_times_grid(step, n, tmin):
    times = bin_times(0.2, step, tmin, tmin + n * step)
    assert len(times) == n + 1 and times[0] == tmin
    np.testing.assert_allclose(np.diff(times), step)


def test_bin_times_errors():
    with pytest.raises(ValueError, match="positive"):
        bin_times(step_s=0)
    with pytest.raises(ValueError, match="tmax_s"):
        bin_times(tmin_s=1.0, tmax_s=0.0)


def test_laplacian_responses_match_direct(session):
    path, data, sfreq, electrodes, neighbours, events = session
    assert electrodes == ["A2", "B2", "B3"]  # A4 corrupted: A3, A5 lose a neighbour
    with Recording(path, LABELS, sfreq) as rec:
        got = event_responses(rec, electrodes, neighbours, events, progress=False)
    assert got.responses.shape == (4, 3, 161) and got.responses.dtype == np.float32
    assert got.kept.all() and got.n_dropped == 0 and got.electrodes == electrodes
    expected = direct_responses(data, LABELS, electrodes, neighbours, events, sfreq, 0.2, bin_times())
    np.testing.assert_allclose(got.responses, expected, atol=2e-3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_streaming_does_not_change_the_result(session, dtype):
    # the kernel's running sums do not depend on chunks, groups or threads: equal bit for bit
    path, data, sfreq, electrodes, neighbours, events = session
    options = dict(window_s=0.1, step_s=0.05, tmin_s=-1.0, tmax_s=1.0, filter_dtype=dtype, progress=False)
    with Recording(path, LABELS, sfreq) as rec:
        whole = event_responses(rec, electrodes, neighbours, events, chunk_s=100.0, n_jobs=1, **options)
        small = event_responses(rec, electrodes, neighbours, events, chunk_s=0.037, group_size=1, **options)
        threads = event_responses(
            rec, electrodes, neighbours, events, chunk_s=0.5, n_jobs=2, group_size=1, **options
        )
    np.testing.assert_array_equal(small.responses, whole.responses)
    np.testing.assert_array_equal(threads.responses, whole.responses)


def test_filter_dtype_float32_and_float64_give_the_same_responses(session):
    # the compiled kernel filters in float64 whatever filter_dtype says (it was the precision of
    # the old block products): both equal the direct float64 computation to float32 output
    path, data, sfreq, electrodes, neighbours, events = session
    with Recording(path, LABELS, sfreq) as rec:
        fast = event_responses(rec, electrodes, neighbours, events, progress=False)
        exact = event_responses(rec, electrodes, neighbours, events, filter_dtype=np.float64, progress=False)
    assert np.abs(fast.responses).max() > 10
    np.testing.assert_array_equal(fast.responses, exact.responses)


def test_options_match_direct(session):
    path, data, sfreq, electrodes, _, events = session
    times = bin_times(0.1, 0.05, -1.0, 1.0)
    with Recording(path, LABELS, sfreq) as rec:
        got = event_responses(
            rec,
            electrodes,
            None,
            events,
            window_s=0.1,
            step_s=0.05,
            tmin_s=-1.0,
            tmax_s=1.0,
            rereference=None,
            highpass_hz=0.5,
            baseline_s=(-0.5, 0.0),
            chunk_s=1.3,
            progress=False,
        )
    expected = direct_responses(
        data, LABELS, electrodes, None, events, sfreq, 0.1, times, highpass_hz=0.5, baseline_s=(-0.5, 0.0)
    )
    np.testing.assert_allclose(got.responses, expected, atol=2e-3)


def test_events_outside_are_dropped(session, caplog):
    path, data, sfreq, electrodes, neighbours, events = session
    trial = np.array([events[0], 1.0 * sfreq, np.nan, events[1], 8.5 * sfreq])
    with Recording(path, LABELS, sfreq) as rec, caplog.at_level(logging.WARNING):
        got = event_responses(rec, electrodes, neighbours, trial, progress=False)
        none = event_responses(rec, electrodes, neighbours, [np.nan], progress=False)
    assert got.kept.tolist() == [True, False, False, True, False] and got.n_dropped == 3
    assert "dropped 3 of 5 events" in caplog.text
    assert got.responses.shape == (2, 3, 161)
    expected = direct_responses(
        data, LABELS, electrodes, neighbours, trial[got.kept], sfreq, 0.2, bin_times()
    )
    np.testing.assert_allclose(got.responses, expected, atol=2e-3)
    assert none.responses.shape == (0, 3, 161) and none.n_dropped == 1


def test_bad_inputs(session, tmp_path):
    path, data, sfreq, electrodes, neighbours, events = session
    with Recording(path, LABELS, sfreq) as rec:
        with pytest.raises(ValueError, match="neighbours"):
            event_responses(rec, electrodes, None, events, progress=False)
        with pytest.raises(ValueError, match=r"no Laplacian neighbours .*'A1'"):
            event_responses(rec, ["A1"], neighbours, events, progress=False)
        with pytest.raises(KeyError, match="Z9"):
            event_responses(rec, ["Z9"], None, events, rereference=None, progress=False)
        with pytest.raises(ValueError, match="baseline_s"):
            event_responses(rec, electrodes, neighbours, events, baseline_s=(0.0, -0.1), progress=False)
        with pytest.raises(ValueError, match="rereference must be one of"):
            event_responses(rec, electrodes, neighbours, events, rereference="average", progress=False)
        with pytest.raises(ValueError, match=r"no bipolar partner .*'A2'"):
            event_responses(rec, electrodes, neighbours, events, rereference="bipolar", progress=False)
    broken = data.copy()
    broken[LABELS.index("A3"), 100] = np.nan  # A3 is a neighbour of A2: its NaN must surface
    write_h5(tmp_path / "nan.h5", broken)
    with Recording(tmp_path / "nan.h5", LABELS, sfreq) as rec:
        got = event_responses(rec, electrodes, neighbours, events, progress=False)
    assert got.excluded == {"A2": "Laplacian neighbour A3 is bad: NaN at sample 100"}
    assert got.electrodes == ["B2", "B3"] and got.responses.shape == (4, 2, 161)


@pytest.mark.parametrize("sfreq", [2048.0, 1024.0])
def test_events_aligned_across_a_pause_land_on_the_evoked_bumps(tmp_path, sfreq):
    # triggers every 0.25 s of movie time; the movie pauses 1.5 s at movie time 2 s
    movie_time = np.concatenate([np.arange(0, 2.01, 0.25), [2.001], np.arange(2.25, 4.01, 0.25)])
    onset = 3000
    true_sample = lambda t: onset + t * sfreq + (1.5 * sfreq if t > 2.0005 else 0)  # noqa: E731
    timings = pd.DataFrame({"movie_time": movie_time, "index": [true_sample(t) for t in movie_time]})
    timings.loc[9, "index"] = onset + 3.5 * sfreq  # the trigger sent on unpausing
    assert estimate_sfreq(timings) == sfreq
    words = np.array([0.6, 1.3, 2.6, 3.3])
    samples = movie_to_sample(words, timings, sfreq)
    np.testing.assert_array_equal(samples, np.round([true_sample(t) for t in words]))
    data = np.zeros((len(LABELS), int(onset + 6 * sfreq)), np.float32)
    width = int(0.05 * sfreq)
    for t in words:  # a 100 µV, 50 ms bump at each true word onset
        data[:, int(round(true_sample(t))) : int(round(true_sample(t))) + width] = 100.0
    write_h5(tmp_path / "r.h5", data)
    with Recording(tmp_path / "r.h5", LABELS, sfreq) as rec:
        got = event_responses(
            rec,
            ["A1", "B4"],
            None,
            samples,
            window_s=0.05,
            step_s=0.025,
            tmin_s=-0.2,
            tmax_s=0.2,
            notch_hz=None,
            rereference=None,
            progress=False,
        )
    times = got.bin_times
    assert got.kept.all()
    # centred windows: the bin at +25 ms covers [0, 50) ms exactly; -0.2 s and +0.2 s see nothing
    np.testing.assert_allclose(got.responses[:, :, np.isclose(times, 0.025)], 100.0)
    np.testing.assert_allclose(got.responses[:, :, [0, -1]], 0.0)


@pytest.mark.parametrize("highpass_hz", [None, 0.5])
def test_filter_starts_late_without_changing_the_result(tmp_path, highpass_hz):
    sfreq = 1024.0
    write_recording(tmp_path / "r.h5", sfreq, seconds=40.0)
    electrodes, neighbours = select_electrodes(LABELS, set())
    events = np.array([30.0, 33.5]) * sfreq
    # float64 products: the late start must not change anything beyond the settling tolerance
    options = dict(
        window_s=0.1,
        step_s=0.05,
        tmin_s=-1.0,
        tmax_s=1.0,
        highpass_hz=highpass_hz,
        filter_dtype=np.float64,
        progress=False,
    )
    with Recording(tmp_path / "r.h5", LABELS, sfreq) as rec:
        starts = []
        read = rec.read
        rec.read = lambda channels, start, stop, **kw: (
            starts.append(start) or read(channels, start, stop, **kw)
        )
        late = event_responses(rec, electrodes, neighbours, events, chunk_s=7.0, **options)
        assert min(starts) > 5 * sfreq  # the lead-in was skipped
        starts.clear()
        full = event_responses(rec, electrodes, neighbours, events, filter_from_start=True, **options)
        assert min(starts) == 0
    # beyond the settling error (1e-12): float32 output rounding, as blocks fall differently
    np.testing.assert_allclose(late.responses, full.responses, rtol=0, atol=1e-6)


def test_blas_held_to_one_thread_during_the_call(session):
    # event_responses parallelises over electrode groups itself: BLAS must not add threads
    from threadpoolctl import threadpool_info

    path, data, sfreq, electrodes, neighbours, events = session
    blas_threads = lambda: [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]  # noqa: E731
    before, during = blas_threads(), []
    with Recording(path, LABELS, sfreq) as rec:
        read = rec.read
        rec.read = lambda *args, **kw: during.append(blas_threads()) or read(*args, **kw)
        event_responses(rec, electrodes, neighbours, events, n_jobs=1, progress=False)
    assert during and all(threads == [1] * len(before) for threads in during)
    assert blas_threads() == before
