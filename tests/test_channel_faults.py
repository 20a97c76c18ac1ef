"""Bad channels (NaN, inf, flat) are excluded with a reason, and the rest is unchanged bit for bit.

Each fault is planted in one channel (A3) of a small synthetic recording; every re-reference
scheme must exclude the electrodes that use A3 and give the others exactly what a call that
never asked for them gives. The bipolar and common-average values are checked against a
direct whole-signal computation.
"""

import logging

import numpy as np
import pytest
from conftest import RECORDING_LABELS as LABELS
from conftest import line_noise_signal, write_h5
from scipy import signal

from mmsites.recordings.braintreebank import Recording, select_electrodes
from mmsites.recordings.preprocessing import NOTCH_HZ
from mmsites.recordings.responses import ChannelScreen, bin_times, event_responses

SFREQ = 1024.0
SECONDS = 9.0
EVENTS = np.round(np.array([2.5, 3.1, 4.0, 6.2]) * SFREQ) + 3
BAD_SAMPLE = int(5.0 * SFREQ)  # inside the span read for every event (and late in it)
SMALL = dict(window_s=0.1, step_s=0.05, tmin_s=-1.0, tmax_s=1.0, progress=False)
#: electrodes that use A3, per scheme (itself; its Laplacian neighbours' electrodes; bipolar A2)
USES_A3 = {"laplacian": ["A2", "A3", "A4"], "bipolar": ["A2", "A3"], "car": ["A3"], "none": ["A3"]}


@pytest.fixture(scope="module")
def clean_data():
    return line_noise_signal(SFREQ, SECONDS).astype(np.float32)


def plant(data, fault):
    """A copy of ``data`` whose channel A3 holds the fault."""
    broken = data.copy()
    row = LABELS.index("A3")
    if fault == "nan":
        broken[row, BAD_SAMPLE] = np.nan
    elif fault == "inf":
        broken[row, BAD_SAMPLE] = np.inf
    elif fault == "-inf":
        broken[row, BAD_SAMPLE : BAD_SAMPLE + 3] = -np.inf
    elif fault == "flat":
        broken[row] = 0.0
    elif fault == "constant":
        broken[row] = 312.5  # a stuck amplifier: an offset, no variation
    return broken


def reason_of(fault):
    return {
        "nan": f"NaN at sample {BAD_SAMPLE}",
        "inf": f"inf at sample {BAD_SAMPLE}",
        "-inf": f"-inf at sample {BAD_SAMPLE}",
        "flat": "flat (peak-to-peak 0 µV, below 0.001 µV)",
        "constant": "flat (peak-to-peak 0 µV, below 0.001 µV)",
    }[fault]


def select(rereference):
    electrodes, neighbours = select_electrodes(LABELS, set(), rereference=rereference)
    return electrodes, (neighbours or None)


def direct(data, electrodes, reference, events, times, window_s):
    """Whole-signal notching (lfilter, as BrainBERT), then ``reference(x)``, then a window loop."""
    x = data.astype(np.float64)
    for freq in NOTCH_HZ:
        b, a = signal.iirnotch(freq, 30, fs=SFREQ)
        x = signal.lfilter(b, a, x, axis=1)
    rows = {label: x[i] for i, label in enumerate(LABELS)}
    n = int(round(window_s * SFREQ))
    out = np.zeros((len(events), len(electrodes), len(times)))
    for j, label in enumerate(electrodes):
        y = reference(rows, label)
        for i, event in enumerate(events):
            for k, t in enumerate(times):
                start = int(event + round((t - window_s / 2) * SFREQ))
                out[i, j, k] = y[start : start + n].mean()
    return out


@pytest.mark.parametrize("rereference", ["laplacian", "bipolar", "car", "none"])
@pytest.mark.parametrize("fault", ["nan", "inf", "-inf", "flat", "constant"])
def test_bad_channel_excluded_and_the_rest_bit_identical(tmp_path, clean_data, caplog, rereference, fault):
    write_h5(tmp_path / "r.h5", plant(clean_data, fault))
    electrodes, neighbours = select(rereference)
    assert set(USES_A3[rereference]) <= set(electrodes)
    good = [e for e in electrodes if e not in USES_A3[rereference]]
    scheme = None if rereference == "none" else rereference
    with Recording(tmp_path / "r.h5", LABELS, SFREQ) as rec:
        with caplog.at_level(logging.WARNING):
            got = event_responses(rec, electrodes, neighbours, EVENTS, rereference=scheme, **SMALL)
        alone = event_responses(rec, good, neighbours, EVENTS, rereference=scheme, **SMALL)
    expected = {"A3": reason_of(fault)}
    if rereference == "laplacian":
        expected |= {e: f"Laplacian neighbour A3 is bad: {reason_of(fault)}" for e in ("A2", "A4")}
    if rereference == "bipolar":
        expected |= {"A2": f"bipolar partner A3 is bad: {reason_of(fault)}"}
    assert got.excluded == {e: expected[e] for e in electrodes if e in expected}  # in electrode order
    assert got.electrodes == good and alone.electrodes == good and alone.excluded == {}
    assert got.responses.shape == (4, len(good), 41) and np.isfinite(got.responses).all()
    np.testing.assert_array_equal(got.responses, alone.responses)
    # one warning line for the call, naming every excluded electrode with its reason
    lines = [r.getMessage() for r in caplog.records if "excluded" in r.getMessage()]
    assert len(lines) == 1 and all(f"{e}: {r}" in lines[0] for e, r in got.excluded.items())


@pytest.mark.parametrize("rereference", ["laplacian", "bipolar", "car"])
@pytest.mark.parametrize("kind", ["band_power", "spectrogram"])
def test_band_power_and_spectrogram_exclude_alike(tmp_path, clean_data, rereference, kind):
    write_h5(tmp_path / "r.h5", plant(clean_data, "nan"))
    electrodes, neighbours = select(rereference)
    good = [e for e in electrodes if e not in USES_A3[rereference]]
    options = dict(SMALL, rereference=rereference, kind=kind, bands_hz=[(8.0, 13.0), (70.0, 150.0)])
    with Recording(tmp_path / "r.h5", LABELS, SFREQ) as rec:
        got = event_responses(rec, electrodes, neighbours, EVENTS, **options)
        alone = event_responses(rec, good, neighbours, EVENTS, **options)
    assert list(got.excluded) == [e for e in electrodes if e in USES_A3[rereference]]
    assert got.excluded["A3"] == f"NaN at sample {BAD_SAMPLE}"
    assert got.electrodes == good and np.isfinite(got.responses).all()
    assert got.responses.shape[1] == len(good)
    np.testing.assert_array_equal(got.responses, alone.responses)


@pytest.mark.parametrize("rereference", ["laplacian", "bipolar", "car"])
def test_exclusion_holds_across_groups_threads_and_chunks(tmp_path, clean_data, rereference):
    # the fault is found in a late chunk, after the bad rows' neighbours in other groups ran
    write_h5(tmp_path / "r.h5", plant(clean_data, "inf"))
    electrodes, neighbours = select(rereference)
    good = [e for e in electrodes if e not in USES_A3[rereference]]
    options = dict(SMALL, rereference=rereference, filter_dtype=np.float64)
    with Recording(tmp_path / "r.h5", LABELS, SFREQ) as rec:
        split = event_responses(
            rec, electrodes, neighbours, EVENTS, chunk_s=0.37, group_size=1, n_jobs=2, **options
        )
        whole = event_responses(rec, good, neighbours, EVENTS, chunk_s=100.0, n_jobs=1, **options)
    assert split.electrodes == good and list(split.excluded) == USES_A3[rereference]
    # float64 products: the blocks fall differently, so equal to rounding only
    np.testing.assert_allclose(split.responses, whole.responses, rtol=0, atol=1e-5)


def test_a_channel_read_only_as_a_neighbour_is_screened(tmp_path, clean_data):
    # A1 is never an output electrode under the Laplacian, only A2's lower neighbour
    broken = clean_data.copy()
    broken[LABELS.index("A1")] = 0.0
    write_h5(tmp_path / "r.h5", broken)
    electrodes, neighbours = select("laplacian")
    with Recording(tmp_path / "r.h5", LABELS, SFREQ) as rec:
        got = event_responses(rec, electrodes, neighbours, EVENTS, **SMALL)
    assert got.excluded == {"A2": "Laplacian neighbour A1 is bad: flat (peak-to-peak 0 µV, below 0.001 µV)"}


def test_flat_threshold_is_an_argument(tmp_path, clean_data):
    quiet = clean_data.copy()
    quiet[LABELS.index("A3")] = 1e-4 * np.sin(np.arange(quiet.shape[1]))  # 0.2 nV peak to peak
    write_h5(tmp_path / "r.h5", quiet)
    electrodes, neighbours = select("car")
    with Recording(tmp_path / "r.h5", LABELS, SFREQ) as rec:
        default = event_responses(rec, electrodes, None, EVENTS, rereference="car", **SMALL)
        off = event_responses(rec, electrodes, None, EVENTS, rereference="car", flat_uv=0.0, **SMALL)
    assert list(default.excluded) == ["A3"] and default.excluded["A3"].startswith("flat (peak-to-peak 0.0002")
    assert off.excluded == {} and off.electrodes == electrodes


@pytest.mark.parametrize("rereference", ["laplacian", "bipolar", "car", "none"])
@pytest.mark.parametrize("kind", ["voltage", "spectrogram"])
def test_all_bad_raises(tmp_path, clean_data, rereference, kind):
    broken = clean_data.copy()
    broken[:, BAD_SAMPLE] = np.nan
    broken[LABELS.index("B2")] = 0.0
    write_h5(tmp_path / "r.h5", broken)
    electrodes, neighbours = select(rereference)
    scheme = None if rereference == "none" else rereference
    with Recording(tmp_path / "r.h5", LABELS, SFREQ) as rec:
        with pytest.raises(ValueError, match=r"all \d+ electrode\(s\) are excluded.*NaN at sample"):
            event_responses(
                rec,
                electrodes,
                neighbours,
                EVENTS,
                rereference=scheme,
                kind=kind,
                bands_hz=[(8, 13)],
                **SMALL,
            )


@pytest.mark.parametrize("rereference", ["laplacian", "bipolar"])
def test_unparsable_montage_names_the_labels(rereference):
    labels = ["Fp1-REF", "Fp2-REF", "EKG", "C3", "C4", "TRIG1"]
    with pytest.raises(ValueError, match=r"\['Fp1-REF', 'Fp2-REF', 'EKG'\].*use rereference: car or none"):
        select_electrodes(labels, set(), rereference=rereference)
    assert select_electrodes(labels, set(), rereference="car") == (labels[:-1], {})


def test_bipolar_matches_direct(tmp_path, clean_data):
    write_h5(tmp_path / "r.h5", clean_data)
    electrodes, neighbours = select("bipolar")
    assert electrodes == ["A1", "A2", "A3", "A4", "A5", "B1", "B2", "B3"]
    assert neighbours["A1"] == ("A2",) and neighbours["B3"] == ("B4",)
    with Recording(tmp_path / "r.h5", LABELS, SFREQ) as rec:
        got = event_responses(rec, electrodes, neighbours, EVENTS, rereference="bipolar", **SMALL)
    expected = direct(
        clean_data,
        electrodes,
        lambda x, e: x[e] - x[neighbours[e][0]],
        EVENTS,
        bin_times(0.1, 0.05, -1, 1),
        0.1,
    )
    assert np.abs(expected).max() > 1
    np.testing.assert_allclose(got.responses, expected, atol=2e-3)


@pytest.mark.parametrize("fault", [None, "nan"])
def test_car_matches_direct(tmp_path, clean_data, fault):
    data = clean_data if fault is None else plant(clean_data, fault)
    write_h5(tmp_path / "r.h5", data)
    electrodes, _ = select("car")
    assert electrodes == ["A1", "A2", "A3", "A4", "A5", "A6", "B1", "B2", "B3", "B4"]
    good = [e for e in electrodes if fault is None or e != "A3"]
    with Recording(tmp_path / "r.h5", LABELS, SFREQ) as rec:
        got = event_responses(
            rec, electrodes, None, EVENTS, rereference="car", n_jobs=2, group_size=3, **SMALL
        )

    def car(x, e):
        return x[e] - np.mean([x[g] for g in good], axis=0)

    expected = direct(np.nan_to_num(data), good, car, EVENTS, bin_times(0.1, 0.05, -1, 1), 0.1)
    assert got.electrodes == good
    np.testing.assert_allclose(got.responses, expected, atol=2e-3)


def test_channel_screen_finds_faults_chunk_by_chunk():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 20, (5, 100)).astype(np.float32)
    x[1, 70] = np.nan
    x[2, 30:] = np.inf
    x[3] = 7.0
    x[4, 10] = -np.inf
    screen = ChannelScreen(5)
    for start in range(0, 100, 40):  # chunks of 40: the first bad sample of each channel is kept
        chunk = screen(x[:, start : start + 40].copy(), 1000 + start)
        assert np.isfinite(chunk).all()
    assert screen.reasons() == {
        1: "NaN at sample 1070",
        2: "inf at sample 1030",
        3: "flat (peak-to-peak 0 µV, below 0.001 µV)",
        4: "-inf at sample 1010",
    }
    assert ChannelScreen(2).reasons() == {}  # nothing screened: nothing is flat


@pytest.fixture(scope="module")
def tiny_model():
    from mmsites.brainmodels import BrainBERT

    return BrainBERT("tiny", seed=0, preprocessor="stft")


@pytest.mark.parametrize("rereference", ["laplacian", "bipolar", "car"])
@pytest.mark.parametrize("fault", ["nan", "flat"])
def test_embeddings_exclude_bad_channels_alike(tmp_path, tiny_model, rereference, fault):
    from mmsites.brainmodels.responses import event_embeddings

    sfreq = 2048.0
    data = line_noise_signal(sfreq, 12.0, seed=3).astype(np.float32)
    bad_sample = int(6.0 * sfreq)
    data[LABELS.index("A3"), bad_sample] = np.nan if fault == "nan" else 0.0
    if fault == "flat":
        data[LABELS.index("A3")] = 0.0
    write_h5(tmp_path / "r.h5", data)
    electrodes, neighbours = select(rereference)
    good = [e for e in electrodes if e not in USES_A3[rereference]]
    events = np.array([4.0, 6.5, 8.0]) * sfreq
    with Recording(tmp_path / "r.h5", LABELS, sfreq) as rec:
        got = event_embeddings(
            rec,
            electrodes,
            neighbours,
            events,
            tiny_model,
            rereference=rereference,
            chunk_s=2.0,
            progress=False,
        )
        alone = event_embeddings(
            rec, good, neighbours, events, tiny_model, rereference=rereference, chunk_s=2.0, progress=False
        )
    reason = f"NaN at sample {bad_sample}" if fault == "nan" else "flat (peak-to-peak 0 µV, below 0.001 µV)"
    assert got.excluded == [e for e in electrodes if e in USES_A3[rereference]]
    assert got.reasons["A3"] == reason and alone.excluded == [] and alone.reasons == {}
    rows = [electrodes.index(e) for e in good]
    assert np.isnan(got.embeddings[:, [electrodes.index(e) for e in got.excluded]]).all()
    # the model embeds each window alone: the good rows are those of a call without the bad ones
    np.testing.assert_allclose(got.embeddings[:, rows], alone.embeddings, rtol=1e-5, atol=1e-6)


def test_spectrogram_car_agrees_across_bands_on_a_fault_one_band_alone_reads(tmp_path, clean_data):
    # each band reads up to its own group delay after the last window: a NaN just past the
    # high-gamma span is read by theta only; car must leave A3 out of every band's mean
    from mmsites.recordings.responses import window_offsets
    from mmsites.recordings.spectral import band_delay_s

    bands = [(4.0, 8.0), (70.0, 150.0)]
    offsets, n_window = window_offsets(bin_times(0.1, 0.05, -1.0, 1.0), 0.1, SFREQ)
    ends = [
        int(EVENTS.max()) + int(offsets[-1]) + n_window + round(band_delay_s(b, SFREQ) * SFREQ) for b in bands
    ]
    assert ends[0] > ends[1]  # theta reads further
    broken = clean_data.copy()
    broken[LABELS.index("A3"), ends[1]] = np.nan
    write_h5(tmp_path / "r.h5", broken)
    electrodes, _ = select("car")
    good = [e for e in electrodes if e != "A3"]
    options = dict(SMALL, rereference="car", kind="spectrogram", bands_hz=bands)
    with Recording(tmp_path / "r.h5", LABELS, SFREQ) as rec:
        theta, gamma = (
            event_responses(rec, electrodes, None, EVENTS, **dict(options, kind="band_power", band_hz=b))
            for b in bands
        )
        got = event_responses(rec, electrodes, None, EVENTS, **options)
        alone = event_responses(rec, good, None, EVENTS, **options)
    assert list(theta.excluded) == ["A3"] and gamma.excluded == {}  # the bands alone disagree
    assert got.excluded == {"A3": f"NaN at sample {ends[1]}"} and got.electrodes == good
    np.testing.assert_array_equal(got.responses, alone.responses)
