"""Tests of the Brain Treebank reader on tiny synthetic files in the release layout."""

import json
import logging

import h5py
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsites.recordings.braintreebank import (
    BrainTreebank,
    Recording,
    clean_label,
    estimate_sfreq,
    is_trigger_label,
    movie_to_sample,
    select_electrodes,
    shaft_and_contact,
)

RAW_LABELS = ["T1aIb1", "T1aIb2*", "T1aIb3", "T1aIb4#", "F1*0Fa1", "F10Fa2", "F10Fa3", "DC4", "TRIG4"]


def make_timings(sfreq=2048.0, offset=150_000, step=0.5, n=60, pause_after=20, pause_s=7.0):
    """Trigger table: a trigger every ``step`` s of movie time, one pause of ``pause_s`` s.

    During the pause three triggers share (almost) one movie time while the sample index runs on.
    """
    movie_time = list(np.arange(n) * step)
    index = [offset + sfreq * t for t in movie_time]
    t_pause = movie_time[pause_after]
    for k in (1, 2, 3):  # triggers sent while paused
        movie_time.insert(pause_after + k, t_pause + 0.001 * k)
        index.insert(pause_after + k, offset + sfreq * t_pause + sfreq * pause_s * k / 3)
    index = [i + (sfreq * pause_s if j > pause_after + 3 else 0) for j, i in enumerate(index)]
    return pd.DataFrame({"type": "trigger", "movie_time": movie_time, "index": np.round(index)})


def write_h5(path, data, extra=None):
    """Write ``data`` (n_channels, n_samples) as data/electrode_i (plus data/<k>=v in extra)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        group = f.create_group("data")
        for i, row in enumerate(data):
            group.create_dataset(f"electrode_{i}", data=row)
        for key, value in (extra or {}).items():
            group.create_dataset(key, data=value)


def write_layout(
    root,
    subject=1,
    trial=0,
    movie="the-movie",
    sfreq=2048.0,
    n_samples=4000,
    labels=RAW_LABELS,
    in_subfolder=True,
    seed=0,
):
    """A one-session dataset in the Brain Treebank layout; returns the signal written."""
    rng = np.random.default_rng(seed)
    data = rng.normal(0, 20, (len(labels), n_samples)).astype(np.float32)
    h5 = (root / "all_subject_data" if in_subfolder else root) / f"sub_{subject}_trial{trial:03d}.h5"
    write_h5(h5, data)
    (root / "electrode_labels" / f"sub_{subject}").mkdir(parents=True, exist_ok=True)
    (root / "electrode_labels" / f"sub_{subject}" / "electrode_labels.json").write_text(json.dumps(labels))
    corrupted = root / "corrupted_elec.json"
    table = json.loads(corrupted.read_text()) if corrupted.exists() else {}
    corrupted.write_text(json.dumps({**table, f"sub_{subject}": ["T1aIb3", "DC4"]}))
    (root / "subject_metadata").mkdir(exist_ok=True)
    (root / "subject_metadata" / f"sub_{subject}_trial{trial:03d}_metadata.json").write_text(
        json.dumps({"filename": movie, "title": "The Movie"})
    )
    (root / "subject_timings").mkdir(exist_ok=True)
    make_timings(sfreq).to_csv(
        root / "subject_timings" / f"sub_{subject}_trial{trial:03d}_timings.csv", index=False
    )
    loc = root / "localization" / f"sub_{subject}"
    loc.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "Electrode": labels[::-1],
            "L": 1,
            "P": 2,
            "I": 3,
            "Hemisphere": 1,
            "DesikanKilliany": "ctx-lh-insula",
            "Destrieux": "x",
        }
    ).to_csv(loc / "depth-wm.csv", index=False)
    words = pd.DataFrame(
        {
            "text": ["a", "b", "na", "c"],
            "start": [1.0, 2.0, np.nan, 3.0],
            "end": [1.5, 2.5, np.nan, 3.5],
            "word_diff": [np.nan, 0.5, 0.1, np.inf],
        }
    )
    (root / "transcripts" / movie).mkdir(parents=True, exist_ok=True)
    words.to_csv(root / "transcripts" / movie / "features.csv")  # unnamed index column
    return data


# -- labels ---------------------------------------------------------------------------------
def test_clean_label_and_shafts():
    assert clean_label(" F1*0Fa5# ") == "F10Fa5"
    assert shaft_and_contact("F10Fa13") == ("F10Fa", 13)
    assert shaft_and_contact("RT3aHa1*") == ("RT3aHa", 1)
    assert shaft_and_contact("T2A3") == ("T2A", 3)
    for bad in ("LTa", "12", ""):
        with pytest.raises(ValueError, match="contact"):
            shaft_and_contact(bad)
    assert is_trigger_label("DC10") and is_trigger_label("trig4#") and is_trigger_label("dc4")
    assert not is_trigger_label("T1aDC1") and not is_trigger_label("F3b2")


@given(shaft=st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,6}[A-Za-z]", fullmatch=True), contact=st.integers(0, 999))
def test_shaft_and_contact_roundtrip(shaft, contact):
    assert shaft_and_contact(f"{shaft}{contact}*") == (shaft, contact)


def laplacian_oracle(labels, corrupted):
    """Slow direct rule: both contact +-1 on the same shaft among clean labels."""
    clean = [clean_label(x) for x in labels if not is_trigger_label(x) and clean_label(x) not in corrupted]
    out = {}
    for label in clean:
        s, c = shaft_and_contact(label)
        lo, hi = f"{s}{c - 1}", f"{s}{c + 1}"
        if lo in clean and hi in clean:
            out[label] = (lo, hi)
    return out


def test_select_electrodes_laplacian():
    kept, pairs = select_electrodes(RAW_LABELS, {"T1aIb3"})
    # T1aIb2 loses its upper neighbour (corrupted); T1aIb3 corrupted; shaft ends have one neighbour
    assert kept == ["F10Fa2"] and pairs == {"F10Fa2": ("F10Fa1", "F10Fa3")}
    kept, pairs = select_electrodes(RAW_LABELS, {"T1aIb3*"}, rereference=None)
    assert kept == ["T1aIb1", "T1aIb2", "T1aIb4", "F10Fa1", "F10Fa2", "F10Fa3"] and pairs == {}
    with pytest.raises(ValueError, match="not unique"):
        select_electrodes(["A1", "A1*"], set())
    with pytest.raises(ValueError, match="rereference"):
        select_electrodes(RAW_LABELS, set(), rereference="average")


def bipolar_oracle(labels, corrupted):
    """Slow direct rule: contact + 1 on the same shaft among clean labels."""
    clean = [clean_label(x) for x in labels if not is_trigger_label(x) and clean_label(x) not in corrupted]
    out = {}
    for label in clean:
        s, c = shaft_and_contact(label)
        if f"{s}{c + 1}" in clean:
            out[label] = (f"{s}{c + 1}",)
    return out


def test_select_electrodes_bipolar_and_car():
    kept, pairs = select_electrodes(RAW_LABELS, {"T1aIb3"}, rereference="bipolar")
    # T1aIb2's partner T1aIb3 is corrupted; the shafts' last contacts have no partner
    assert kept == ["T1aIb1", "F10Fa1", "F10Fa2"]
    assert pairs == {"T1aIb1": ("T1aIb2",), "F10Fa1": ("F10Fa2",), "F10Fa2": ("F10Fa3",)}
    kept, pairs = select_electrodes(RAW_LABELS, {"T1aIb3*"}, rereference="car")
    assert kept == ["T1aIb1", "T1aIb2", "T1aIb4", "F10Fa1", "F10Fa2", "F10Fa3"] and pairs == {}


@pytest.mark.parametrize("rereference", ["laplacian", "bipolar"])
def test_unparsable_montage_is_a_clear_error(rereference):
    labels = ["Fp1-REF", "Fp2-REF", "EKG", "A1", "A2", "A3", "DC4"]
    with pytest.raises(ValueError, match=r"'Fp1-REF', 'Fp2-REF', 'EKG'.*rereference: car or none"):
        select_electrodes(labels, set(), rereference=rereference)
    # corrupted or trigger channels do not count; car and none need no shafts
    assert select_electrodes(labels, {"Fp1-REF", "Fp2-REF", "EKG"}, rereference=rereference)[0]
    assert select_electrodes(labels, set(), rereference="car")[0] == labels[:-1]
    assert select_electrodes(labels, set(), rereference="none")[0] == labels[:-1]


@given(
    contacts=st.lists(
        st.tuples(st.sampled_from(["A", "Bc", "F10Fa"]), st.integers(1, 8)), unique=True, max_size=20
    ),
    data=st.data(),
)
def test_select_electrodes_matches_direct_rule(contacts, data):
    labels = [f"{s}{c}" for s, c in contacts]
    corrupted = set(data.draw(st.lists(st.sampled_from(labels), max_size=4))) if labels else set()
    kept, pairs = select_electrodes(labels, corrupted)
    assert pairs == laplacian_oracle(labels, corrupted)
    assert kept == [x for x in labels if x in pairs]
    kept, pairs = select_electrodes(labels, corrupted, rereference="bipolar")
    assert pairs == bipolar_oracle(labels, corrupted)
    assert kept == [x for x in labels if x in pairs]
    kept, pairs = select_electrodes(labels, corrupted, rereference="car")
    assert kept == [x for x in labels if x not in corrupted] and pairs == {}


# -- alignment ------------------------------------------------------------------------------
def alignment_oracle(times, timings, sfreq):
    mt, idx = timings["movie_time"].to_numpy(), timings["index"].to_numpy()
    out = []
    for t in times:
        if not (mt.min() <= t <= mt.max()):
            out.append(np.nan)
            continue
        k = int(np.argmin(np.abs(mt - t)))
        # a repeated movie time (pause and resume): after it the copy sent last, else the first
        copies = np.flatnonzero(mt == mt[k])
        k = int(copies[np.argmax(idx[copies])] if mt[k] < t else copies[np.argmin(idx[copies])])
        out.append(round(idx[k] + (t - mt[k]) * sfreq))
    return np.array(out, dtype=float)


@pytest.mark.parametrize("sfreq", [2048.0, 1024.0])
def test_estimate_sfreq_with_pause(sfreq):
    timings = make_timings(sfreq)
    # a global linear fit is far off because of the pause
    slope = np.diff(timings["index"].iloc[[0, -1]]) / np.diff(timings["movie_time"].iloc[[0, -1]])
    assert abs(slope[0] - sfreq) > 0.1 * sfreq
    assert estimate_sfreq(timings) == sfreq
    jittered = timings.assign(index=timings["index"] * 1.01)
    assert estimate_sfreq(jittered) == sfreq
    with pytest.raises(ValueError, match="1536"):
        estimate_sfreq(
            timings.assign(index=timings["index"] * 0.75 if sfreq == 2048 else timings["index"] * 1.5)
        )


@settings(max_examples=60, deadline=None)
@given(
    times=st.lists(st.floats(-5, 40, allow_nan=False), min_size=1, max_size=30),
    sfreq=st.sampled_from([1024.0, 2048.0]),
)
def test_movie_to_sample_matches_argmin(times, sfreq):
    timings = make_timings(sfreq)
    got = movie_to_sample(times, timings, sfreq)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, alignment_oracle(times, timings, sfreq))


def test_movie_to_sample_pause_and_edges():
    sfreq = 2048.0
    timings = make_timings(sfreq, offset=1000, step=0.5, pause_after=20, pause_s=7.0)
    # before the pause (10 s) and well after it (20 s): samples follow the offset, then jump by 7 s
    got = movie_to_sample([10.0, 20.0, -1.0, 100.0, np.nan], timings, sfreq)
    assert got[0] == 1000 + 10 * sfreq
    assert got[1] == 1000 + (20 + 7) * sfreq
    assert np.isnan(got[2:]).all()
    # unsorted movie times (a glitch) still give the argmin answer
    shuffled = timings.iloc[::-1].reset_index(drop=True)
    t = np.array([3.3, 10.26, 25.0])
    np.testing.assert_array_equal(movie_to_sample(t, shuffled, sfreq), alignment_oracle(t, shuffled, sfreq))


def test_movie_to_sample_event_after_resume_maps_after_it():
    """A real-shaped trigger table: ``pause`` and ``unpause`` rows share one movie time.

    Triggers every ~83 ms (12 Hz) at 2048 Hz; the movie pauses at 30.0 s for 12 s, and the
    pause and unpause triggers both carry movie_time 30.0. An event 40 ms after the resume
    must land 40 ms after the unpause sample, not 40 ms into the pause.
    """
    sfreq, offset, pause_s = 2048.0, 300_000, 12.0
    before = np.round(np.arange(0.0, 30.0, 1 / 12), 4)
    after = np.round(np.arange(30.0 + 1 / 12, 45.0, 1 / 12), 4)
    rows = [("beginning", 0.0, offset, "movie beginning")]
    rows += [("trigger", t, offset + t * sfreq, "") for t in before[1:]]
    rows += [("pause", 30.0, offset + 30.0 * sfreq, "pause")]
    rows += [("unpause", 30.0, offset + (30.0 + pause_s) * sfreq, "unpause")]
    rows += [("trigger", t, offset + (t + pause_s) * sfreq, "") for t in after]
    timings = pd.DataFrame(rows, columns=["type", "movie_time", "index", "trig_type"])
    timings["index"] = np.round(timings["index"]).astype(float)
    timings.insert(2, "start_time", 1.6e9 + timings["index"] / sfreq)
    unpause = float(timings.loc[timings["type"] == "unpause", "index"].iloc[0])
    pause = float(timings.loc[timings["type"] == "pause", "index"].iloc[0])
    got = movie_to_sample([30.04, 29.96, 30.0, 10.0], timings, sfreq)
    assert got[0] == unpause + round(0.04 * sfreq)  # after the resume
    assert got[1] == pause - round(0.04 * sfreq)  # before the pause
    assert got[2] == pause  # the paused frame itself: its first showing
    assert got[3] == offset + 10.0 * sfreq
    # the same in a table written unsorted (brute-force path)
    shuffled = timings.iloc[::-1].reset_index(drop=True)
    assert movie_to_sample([30.04, 29.96], shuffled, sfreq).tolist() == got[:2].tolist()


# -- dataset root ---------------------------------------------------------------------------
def test_dataset_files(tmp_path):
    write_layout(tmp_path)
    write_layout(tmp_path, subject=3, trial=4, in_subfolder=False)
    nested = tmp_path / "sub_3_trial001.h5"
    nested.mkdir()
    write_h5(nested / "sub_3_trial001.h5", np.zeros((9, 10), np.float32))
    bt = BrainTreebank(tmp_path)
    assert bt.subjects() == [1, 3]
    assert bt.trials(3) == [1, 4] and bt.trials(1) == [0]
    assert bt.h5_path(1, 0) == tmp_path / "all_subject_data" / "sub_1_trial000.h5"
    assert bt.h5_path(3, 1) == nested / "sub_3_trial001.h5"
    with pytest.raises(FileNotFoundError, match="sub_2_trial000.h5"):
        bt.h5_path(2, 0)
    assert bt.raw_labels(1) == RAW_LABELS
    assert bt.labels(1)[1] == "T1aIb2" and bt.labels(1)[4] == "F10Fa1"
    assert bt.corrupted(1) == {"T1aIb3", "DC4"}
    assert bt.corrupted(7) == set()
    assert bt.movie_id(1, 0) == "the-movie" and bt.metadata(1, 0)["title"] == "The Movie"
    loc = bt.localization(1)
    assert "F10Fa1" in loc.index and list(loc.columns[:3]) == ["L", "P", "I"]
    assert loc.loc["T1aIb4", "DesikanKilliany"] == "ctx-lh-insula"
    with pytest.raises(FileNotFoundError, match="sub_9"):
        bt.labels(9)
    with pytest.raises(FileNotFoundError, match="sub_1_trial009_metadata.json"):
        bt.movie_id(1, 9)
    (tmp_path / "subject_metadata" / "sub_1_trial000_metadata.json").write_text('{"title": "x"}')
    with pytest.raises(ValueError, match="no 'filename'"):
        bt.movie_id(1, 0)
    with pytest.raises(FileNotFoundError, match="localization"):
        bt.localization(2)
    with pytest.raises(FileNotFoundError):
        BrainTreebank(tmp_path / "nowhere")


def test_corrupted_file_missing_warns(tmp_path, caplog):
    write_layout(tmp_path)
    (tmp_path / "corrupted_elec.json").unlink()
    with caplog.at_level(logging.WARNING):
        assert BrainTreebank(tmp_path).corrupted(1) == set()
    assert "corrupted_elec.json" in caplog.text


def test_transcript(tmp_path, caplog):
    write_layout(tmp_path)
    bt = BrainTreebank(tmp_path)
    with caplog.at_level(logging.INFO):
        words = bt.transcript("the-movie")
    assert list(words["text"]) == ["a", "b", "c"] and list(words.index) == [0, 1, 3]
    assert np.isinf(words["word_diff"].iloc[-1]) and np.isnan(words["word_diff"].iloc[0])
    assert "dropped 1 word" in caplog.text
    with pytest.raises(FileNotFoundError, match="'other-movie'.*features.csv"):
        bt.transcript("other-movie")


def test_timings_validation(tmp_path):
    write_layout(tmp_path)
    bt = BrainTreebank(tmp_path)
    path = tmp_path / "subject_timings" / "sub_1_trial000_timings.csv"
    good = make_timings()
    assert len(bt.timings(1, 0)) == len(good)
    with_nan = good.copy()
    with_nan.loc[5, "movie_time"] = np.nan
    with_nan.to_csv(path, index=False)
    assert len(bt.timings(1, 0)) == len(good) - 1
    backwards = good.copy()
    backwards.loc[10, "index"] = 0
    backwards.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"timings.csv: 'index' decreases at data row 10"):
        bt.timings(1, 0)
    text = good.astype({"index": object})
    text.loc[3, "index"] = "oops"
    text.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"'index' is not numeric at data row 3 \(line 5\)"):
        bt.timings(1, 0)
    good.drop(columns="movie_time").to_csv(path, index=False)
    with pytest.raises(ValueError, match="movie_time"):
        bt.timings(1, 0)
    with pytest.raises(FileNotFoundError, match="trial 5"):
        bt.timings(1, 5)


# -- signals --------------------------------------------------------------------------------
def test_recording_reads_slices(tmp_path):
    data = write_layout(tmp_path)
    bt = BrainTreebank(tmp_path)
    with bt.open_recording(1, 0) as rec:
        assert rec.sfreq == 2048.0 and rec.n_samples == data.shape[1]
        assert rec.labels == bt.labels(1)
        got = rec.read([5, 0], 100, 350)
        assert got.dtype == np.float32 and got.shape == (2, 250)
        np.testing.assert_array_equal(got, data[[5, 0], 100:350])
        assert rec.channel_index("F10Fa2*") == 5
        with pytest.raises(KeyError, match="XYZ1"):
            rec.channel_index("XYZ1")
        with pytest.raises(ValueError, match="outside the recording"):
            rec.read([0], 3900, 4100)


def test_recording_channel_count_rules(tmp_path, caplog):
    labels = ["A1", "A2", "A3"]
    path = tmp_path / "r.h5"
    write_h5(path, np.ones((4, 50), np.float64))  # one extra channel: tolerated
    with caplog.at_level(logging.INFO), Recording(path, labels, 2048) as rec:
        np.testing.assert_array_equal(rec.read([2], 0, 5), np.ones((1, 5), np.float32))
    assert "electrode_3" in caplog.text
    write_h5(path, np.ones((5, 50)))
    with pytest.raises(ValueError, match=r"r.h5 holds 5 channels .* 3 labels"):
        Recording(path, labels, 2048)
    write_h5(path, np.ones((2, 50)))
    with pytest.raises(ValueError, match="2 channels .* 3 labels"):
        Recording(path, labels, 2048)
    with h5py.File(path, "w") as f:
        f.create_dataset("signal", data=np.ones(3))
    with pytest.raises(ValueError, match="no group 'data'"):
        Recording(path, labels, 2048)
    write_h5(
        path, [], extra={"electrode_0": np.ones(5), "electrode_2": np.ones(5), "electrode_3": np.ones(5)}
    )
    with pytest.raises(ValueError, match="electrode_1"):
        Recording(path, labels, 2048)
    with pytest.raises(FileNotFoundError):
        Recording(tmp_path / "absent.h5", labels, 2048)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_recording_rejects_nonfinite(tmp_path, bad):
    data = np.zeros((3, 100), np.float32)
    data[1, 42] = bad
    write_h5(tmp_path / "r.h5", data)
    with Recording(tmp_path / "r.h5", ["A1", "A2#", "A3"], 1024) as rec:
        np.testing.assert_array_equal(rec.read([0, 2], 0, 100), 0)
        with pytest.raises(ValueError, match=r"electrode 'A2' \(electrode_1\) .* at sample 42"):
            rec.read([0, 1], 10, 60)
