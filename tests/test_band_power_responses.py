"""Band-power responses (``event_responses(kind="band_power")``) against a slow direct oracle.

The oracle filters the whole re-referenced signal at once with ``scipy.signal.sosfilt`` (the
notches, then the band-pass, both designed here with scipy), squares it, reads every window
``round(band_delay_s * sfreq)`` samples late and averages it in a loop; the streamed path
(chunks that cut windows, electrode groups, threads, a filter started only seconds before the
first window) must give the same numbers up to float32 rounding.
"""

import logging

import h5py
import numpy as np
import pytest
from scipy import signal

from mmsites.recordings.braintreebank import Recording, select_electrodes
from mmsites.recordings.preprocessing import NOTCH_HZ
from mmsites.recordings.responses import bin_times, event_responses, window_offsets
from mmsites.recordings.spectral import band_delay_s

LABELS = ["A1", "A2", "A3", "A4", "A5", "A6", "DC4", "B1", "B2", "B3", "B4"]
BAND = (70.0, 150.0)
#: The oracle's tolerance, relative to each electrode's largest window mean (µV²): float32
#: power samples and float32 outputs (7e-8 of it seen), with room.
RTOL = 2e-6


def write_h5(path, data):
    with h5py.File(path, "w") as f:
        for i, row in enumerate(data):
            f.create_dataset(f"data/electrode_{i}", data=row)


def write_recording(path, sfreq, seconds, seed=0):
    """Broadband noise, line noise at 60/180 Hz, slow drift, and 100-Hz bursts on B3 (µV)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sfreq)) / sfreq
    data = rng.normal(0, 20, (len(LABELS), len(t)))
    data += 40 * np.sin(2 * np.pi * 60 * t) + 10 * np.sin(2 * np.pi * 180 * t + 1)
    data += 50 * np.sin(2 * np.pi * 0.1 * t + rng.uniform(0, 6, (len(LABELS), 1)))
    data[LABELS.index("B3")] += 30 * np.sin(2 * np.pi * 100 * t) * (np.sin(2 * np.pi * 0.7 * t) > 0.5)
    data = data.astype(np.float32)
    write_h5(path, data)
    return data


def oracle(
    data, electrodes, neighbours, events, sfreq, window_s, times, *, notch=True, baseline_s=None, band=BAND
):
    """Re-reference, sosfilt the whole signal (notches, band-pass), square, shift, loop."""
    x = data.astype(np.float64)
    rows = {label: x[LABELS.index(label)] for label in LABELS}
    if neighbours:
        ref = np.array([rows[e] - (rows[neighbours[e][0]] + rows[neighbours[e][1]]) / 2 for e in electrodes])
    else:
        ref = np.array([rows[e] for e in electrodes])
    if notch:
        sos = np.array([np.concatenate(signal.iirnotch(f, 30.0, fs=sfreq)) for f in NOTCH_HZ])
        ref = signal.sosfilt(sos, ref, axis=1)
    bandpass = signal.butter(4, band, btype="bandpass", fs=sfreq, output="sos")
    power = signal.sosfilt(bandpass, ref, axis=1) ** 2
    delay = int(round(band_delay_s(band, sfreq) * sfreq))
    n = int(round(window_s * sfreq))
    out = np.zeros((len(events), len(electrodes), len(times)))
    for i, event in enumerate(np.asarray(events, dtype=np.int64)):
        for k, t in enumerate(times):
            start = event + int(round((t - window_s / 2) * sfreq)) + delay
            out[i, :, k] = power[:, start : start + n].mean(axis=1)
        if baseline_s is not None:
            start = event + int(round(baseline_s[0] * sfreq)) + delay
            stop = start + int(round((baseline_s[1] - baseline_s[0]) * sfreq))
            out[i] -= power[:, start:stop].mean(axis=1)[:, None]
    return out


def relative_error(got, expected):
    """Largest deviation, relative to each electrode's largest |window mean|."""
    scale = np.abs(expected).max(axis=(0, 2), keepdims=True)
    return float((np.abs(got - expected) / scale).max())


@pytest.fixture(scope="module", params=[2048.0, 1024.0])
def session(request, tmp_path_factory):
    sfreq = request.param
    path = tmp_path_factory.mktemp("rec") / "sub_1_trial000.h5"
    data = write_recording(path, sfreq, seconds=20.0)
    electrodes, neighbours = select_electrodes(LABELS, {"A4"})
    # late enough that the filter starts well after the recording's first sample
    events = np.round(np.array([10.5, 11.1, 12.0, 15.2, 17.6]) * sfreq) + 3
    return path, data, sfreq, electrodes, neighbours, events


@pytest.mark.parametrize(
    "chunk_s, group_size, n_jobs",
    [(100.0, 64, 1), (7.3, 64, 1), (1.3, 2, 1), (0.037, 1, 1), (0.5, 1, 2)],
)
def test_streamed_band_power_matches_the_oracle(session, chunk_s, group_size, n_jobs):
    path, data, sfreq, electrodes, neighbours, events = session
    starts = []
    with Recording(path, LABELS, sfreq) as rec:
        read = rec.read
        rec.read = lambda channels, start, stop, **kw: (
            starts.append(start) or read(channels, start, stop, **kw)
        )
        got = event_responses(
            rec,
            electrodes,
            neighbours,
            events,
            kind="band_power",
            chunk_s=chunk_s,
            group_size=group_size,
            n_jobs=n_jobs,
            progress=False,
        )
    assert min(starts) > 2 * sfreq  # the lead-in was skipped: the settling rule held
    assert got.responses.shape == (5, 3, 161) and got.responses.dtype == np.float32
    assert got.kind == "band_power" and got.band_hz == BAND
    assert got.delay_samples == round(band_delay_s(BAND, sfreq) * sfreq) == {2048.0: 21, 1024.0: 11}[sfreq]
    expected = oracle(data, electrodes, neighbours, events, sfreq, 0.2, bin_times())
    assert expected.min() > 1.0  # broadband noise: every window has high-gamma power
    assert relative_error(got.responses, expected) < RTOL


def test_options_match_the_oracle(session):
    # no re-reference, no notch (the band-pass alone must settle), a baseline, other windows
    path, data, sfreq, electrodes, _, events = session
    options = dict(window_s=0.1, step_s=0.05, tmin_s=-1.0, tmax_s=1.0, baseline_s=(-0.5, 0.0))
    times = bin_times(0.1, 0.05, -1.0, 1.0)
    with Recording(path, LABELS, sfreq) as rec:
        got = event_responses(
            rec,
            electrodes,
            None,
            events,
            rereference=None,
            notch_hz=None,
            kind="band_power",
            band_hz=(80.0, 120.0),
            chunk_s=0.77,
            progress=False,
            **options,
        )
    expected = oracle(
        data, electrodes, None, events, sfreq, 0.1, times, notch=False, baseline_s=(-0.5, 0.0), band=(80, 120)
    )
    assert got.delay_samples == round(band_delay_s((80.0, 120.0), sfreq) * sfreq)
    assert np.abs(expected).max() > 1.0
    assert relative_error(got.responses, expected) < RTOL


def test_late_start_equals_filtering_from_the_first_sample(session):
    path, data, sfreq, electrodes, neighbours, events = session
    with Recording(path, LABELS, sfreq) as rec:
        late = event_responses(rec, electrodes, neighbours, events, kind="band_power", progress=False)
        full = event_responses(
            rec, electrodes, neighbours, events, kind="band_power", filter_from_start=True, progress=False
        )
    assert relative_error(late.responses, full.responses) < 1e-6


@pytest.mark.parametrize("sfreq", [2048.0, 1024.0])
def test_a_100hz_burst_shows_after_onset_and_at_its_own_time(tmp_path, sfreq):
    n = int(30 * sfreq)
    t = np.arange(n) / sfreq
    onsets = np.array([5.0, 12.0, 19.0, 26.0])
    data = np.zeros((len(LABELS), n))
    burst = np.zeros(n)  # 100 Hz, 40 µV, from each onset for 0.5 s
    for onset in onsets:
        inside = (t >= onset) & (t < onset + 0.5)
        burst[inside] = 40 * np.sin(2 * np.pi * 100 * (t[inside] - onset))
    data[LABELS.index("B2")] = burst
    # a Gaussian-windowed burst 50 ms after each onset, at the band's geometric centre (where
    # the delay is measured): where its power lies in time
    centre, width, carrier = 0.05, 0.03, np.sqrt(BAND[0] * BAND[1])
    data[LABELS.index("B4")] = sum(
        40 * np.exp(-(((t - onset - centre) / width) ** 2) / 2) * np.sin(2 * np.pi * carrier * (t - onset))
        for onset in onsets
    )
    write_h5(tmp_path / "r.h5", data.astype(np.float32))
    samples = np.round(onsets * sfreq)
    with Recording(tmp_path / "r.h5", LABELS, sfreq) as rec:
        got = event_responses(
            rec, ["B2", "B4"], None, samples, rereference=None, kind="band_power", progress=False
        )
        fine = event_responses(
            rec,
            ["B4"],
            None,
            samples,
            rereference=None,
            notch_hz=None,  # the notches add their own ~1.3 ms, not compensated (as for voltage)
            kind="band_power",
            window_s=0.002,
            step_s=0.001,
            tmin_s=-0.15,
            tmax_s=0.25,
            progress=False,
        )
        plain = event_responses(rec, ["B2"], None, samples, rereference=None, progress=False)
    times = got.bin_times
    power = got.responses[:, 0]
    before, inside = times <= -0.12, (times >= 0.12) & (times <= 0.38)
    # a sine of amplitude A has mean power A^2 / 2 = 800 µV²; the 120-Hz notch takes ~1 % of it
    assert np.all(power[:, inside] > 0.95 * 800) and np.all(power[:, inside] < 1.01 * 800)
    assert np.abs(power[:, before]).max() < 1e-6 * 800
    # the onset bin straddles the start: half the window is in the burst, once the delay is undone
    # (0.48 seen; read one delay late, it would hold (100 - 10.3) / 200 = 0.45 of it)
    half = power[:, times == 0.0] / power[:, inside].mean()
    assert np.all((half > 0.47) & (half < 0.51))
    # the burst's power is centred where the burst is: the band-pass's ~10 ms are compensated
    # (up to the rounding to samples and the spread of the delay over the burst's spectrum)
    weights = fine.responses[:, 0]
    power_time = (weights * fine.bin_times).sum(axis=1) / weights.sum(axis=1)
    np.testing.assert_allclose(power_time, centre, atol=0.001)
    # the voltage of the same electrode averages the sine away
    assert np.abs(plain.responses[:, 0][:, inside]).max() < 0.05 * 40


def test_events_dropped_and_nan_as_for_voltage(session, tmp_path, caplog):
    path, data, sfreq, electrodes, neighbours, events = session
    n_samples = data.shape[1]
    offsets, n_window = window_offsets(bin_times(), 0.2, sfreq)
    tail = n_samples - int(offsets[-1]) - n_window  # voltage's last window ends at the last sample
    trial = np.array([events[0], 1.0 * sfreq, np.nan, events[1], tail, 19.95 * sfreq])
    with Recording(path, LABELS, sfreq) as rec, caplog.at_level(logging.WARNING):
        voltage = event_responses(rec, electrodes, neighbours, trial, progress=False)
        power = event_responses(rec, electrodes, neighbours, trial, kind="band_power", progress=False)
        none = event_responses(rec, electrodes, neighbours, [np.nan], kind="band_power", progress=False)
    assert voltage.kept.tolist() == [True, False, False, True, True, False]
    # the same rule on the shifted windows: the event at the very end loses its last window
    assert power.kept.tolist() == [True, False, False, True, False, False] and power.n_dropped == 4
    assert "dropped 4 of 6 events" in caplog.text
    expected = oracle(data, electrodes, neighbours, trial[power.kept], sfreq, 0.2, bin_times())
    assert relative_error(power.responses, expected) < RTOL
    assert none.responses.shape == (0, 3, 161) and none.n_dropped == 1 and none.kind == "band_power"
    broken = data.copy()
    broken[LABELS.index("A3"), int(11 * sfreq)] = np.nan  # A3 is a neighbour of A2
    write_h5(tmp_path / "nan.h5", broken)
    with Recording(tmp_path / "nan.h5", LABELS, sfreq) as rec:
        for kind in ("voltage", "band_power"):  # excluded with its reason, whatever the kind
            got = event_responses(rec, electrodes, neighbours, events, kind=kind, progress=False)
            reason = f"Laplacian neighbour A3 is bad: NaN at sample {int(11 * sfreq)}"
            assert got.excluded == {"A2": reason} and got.electrodes == ["B2", "B3"]


def test_voltage_is_the_default_and_unchanged(session):
    path, data, sfreq, electrodes, neighbours, events = session
    with Recording(path, LABELS, sfreq) as rec:
        default = event_responses(rec, electrodes, neighbours, events, progress=False)
        voltage = event_responses(rec, electrodes, neighbours, events, kind="voltage", progress=False)
    assert default.kind == "voltage" and default.band_hz is None and default.delay_samples == 0
    np.testing.assert_array_equal(default.responses, voltage.responses)


def test_bad_kind_and_band(session):
    path, data, sfreq, electrodes, neighbours, events = session
    with Recording(path, LABELS, sfreq) as rec:
        with pytest.raises(ValueError, match="kind must be one of"):
            event_responses(rec, electrodes, neighbours, events, kind="power", progress=False)
        with pytest.raises(ValueError, match="Nyquist"):
            event_responses(
                rec, electrodes, neighbours, events, kind="band_power", band_hz=(70.0, sfreq), progress=False
            )
        with pytest.raises(ValueError, match="band"):
            event_responses(
                rec, electrodes, neighbours, events, kind="band_power", band_hz=(150.0, 70.0), progress=False
            )


def test_spectrogram_is_the_band_power_of_every_band(session):
    """kind="spectrogram" stacks the oracle's band power of each band on a band axis; an
    event whose windows leave the recording for the slowest band (the longest delay) is
    dropped from every band."""
    path, data, sfreq, electrodes, neighbours, events = session
    bands = ((4.0, 8.0), (13.0, 30.0), BAND)
    # the last event sits just inside the recording for high gamma, not for 4-8 Hz's delay
    n = data.shape[1]
    theta_delay = round(band_delay_s(bands[0], sfreq) * sfreq)
    edge = n - window_offsets(bin_times(), 0.2, sfreq)[0][-1] - round(0.2 * sfreq) - theta_delay + 1
    with_edge = np.r_[events, edge]
    with Recording(path, LABELS, sfreq) as rec:
        got = event_responses(
            rec,
            electrodes,
            neighbours,
            with_edge,
            kind="spectrogram",
            bands_hz=bands,
            chunk_s=1.3,
            progress=False,
        )
        high = event_responses(rec, electrodes, neighbours, with_edge, kind="band_power", progress=False)
    assert high.kept[-1] and not got.kept[-1] and got.kept[:-1].all() and got.n_dropped == 1
    assert got.kind == "spectrogram" and got.bands_hz == bands and got.band_hz is None
    assert got.responses.shape == (5, 3, 3, 161) and got.responses.dtype == np.float32
    assert got.delay_samples == theta_delay
    for b, band in enumerate(bands):
        expected = oracle(data, electrodes, neighbours, events, sfreq, 0.2, bin_times(), band=band)
        assert relative_error(got.responses[:, :, b], expected) < RTOL, band
    with pytest.raises(ValueError, match="bands_hz is empty"), Recording(path, LABELS, sfreq) as rec:
        event_responses(rec, electrodes, neighbours, events, kind="spectrogram", bands_hz=[], progress=False)
