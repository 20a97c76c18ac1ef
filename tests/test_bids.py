"""Tests of the BIDS-iEEG reader (recordings/bids.py) and the BIDS writer of the demo
(recordings/demo/bids.py).

A tiny demo (30 s, subjects 1 at 2048 Hz and 2 at 1024 Hz, 3 shafts of 8 contacts) is written
in the Brain Treebank layout and converted to BIDS once per module. Oracles: mne-bids'
``read_raw_bids``, the project's Brain Treebank reader on the source (the same subjects,
labels, bad channels, timings and samples must come back), and ``features.events``' sentence
rule. The fault tests change a copy of one subject's files.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from mmsites.recordings.bids import MNI_SPACES, BidsIEEG
from mmsites.recordings.braintreebank import BrainTreebank, is_trigger_label, movie_to_sample
from mmsites.recordings.demo import generate_demo
from mmsites.recordings.demo.bids import write_bids

mne_bids = pytest.importorskip("mne_bids")

#: BrainVision as mne-bids writes it: float32 of µV / 0.1, so values of up to ~5000 µV come
#: back within float32 rounding (about 3e-4 µV); EDF is 16-bit over the channel type's range.
BV_ATOL_UV = 1e-3
LOGGER = "mmsites.recordings.bids"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(Brain Treebank root, BIDS root) of a tiny demo and its BIDS conversion."""
    base = tmp_path_factory.mktemp("bids")
    generate_demo(
        base / "bt",
        seed=1,
        duration_s=30.0,
        subjects=(1, 2),
        n_shafts=3,
        contacts_per_shaft=8,
        frame_size=(32, 32),
        progress=False,
    )
    write_bids(base / "bt", base / "bids")
    return base / "bt", base / "bids"


def _one_subject_copy(bids_root: Path, dest: Path, subject: str = "02") -> Path:
    """A BIDS root holding a copy of one subject (sub-02: the smaller, 1024 Hz recording)."""
    dest.mkdir(parents=True)
    shutil.copyfile(bids_root / "dataset_description.json", dest / "dataset_description.json")
    shutil.copytree(bids_root / f"sub-{subject}", dest / f"sub-{subject}")
    return dest


def _run_file(root: Path, suffix: str, subject: str = "02", run: str = "01") -> Path:
    return root / f"sub-{subject}" / "ses-01" / "ieeg" / f"sub-{subject}_ses-01_task-movie_run-{run}_{suffix}"


# --------------------------------------------------------------------------------------------
# The conversion and the reader agree with the source
# --------------------------------------------------------------------------------------------
def test_mne_bids_reads_the_conversion(tiny):
    source, root = tiny
    bt = BrainTreebank(source)
    for subject in bt.subjects():
        path = mne_bids.BIDSPath(
            subject=f"{subject:02d}", session="01", task="movie", run="01", datatype="ieeg", root=root
        )
        raw = mne_bids.read_raw_bids(path, verbose="error")
        assert raw.ch_names == bt.labels(subject)
        assert raw.info["sfreq"] == bt.sfreq(subject, 0)
        with bt.open_recording(subject, 0) as rec:
            assert raw.n_times == rec.n_samples
        assert set(raw.info["bads"]) == bt.corrupted(subject)
        types = dict(zip(raw.ch_names, raw.get_channel_types()))
        assert {lab for lab, t in types.items() if t == "seeg"} == {
            lab for lab in bt.labels(subject) if not is_trigger_label(lab)
        }
        # the events.tsv triggers come back as annotations at the trigger samples
        onsets = np.round(raw.annotations.onset * raw.info["sfreq"])
        np.testing.assert_array_equal(onsets, bt.timings(subject, 0)["index"].to_numpy())


def test_reader_gives_what_the_brain_treebank_reader_gives(tiny):
    source, root = tiny
    bt, bids = BrainTreebank(source), BidsIEEG(root)
    assert bids.subjects() == bt.subjects() == [1, 2]
    for subject in bt.subjects():
        assert bids.trials(subject) == bt.trials(subject) == [0]
        assert bids.labels(subject) == [lab for lab in bt.labels(subject) if not is_trigger_label(lab)]
        assert bids.corrupted(subject) == bt.corrupted(subject)
        assert bids.sfreq(subject, 0) == bt.sfreq(subject, 0)
        assert bids.movie_id(subject, 0) == bt.movie_id(subject, 0) == "mmsites-demo"
        assert bids.coordinate_space(subject) == "MNI152NLin2009cAsym"
        mine, theirs = bids.mni_coordinates(subject), bt.mni_coordinates(subject)
        assert set(mine.index) == set(theirs.index)
        np.testing.assert_allclose(
            mine.loc[theirs.index, ["X", "Y", "Z"]].to_numpy(float), theirs[["X", "Y", "Z"]].to_numpy(float)
        )
        np.testing.assert_array_equal(mine.loc[theirs.index, "Hemisphere"], theirs["Hemisphere"])
        loc = bids.localization(subject)
        assert (loc["space"] == "MNI152NLin2009cAsym").all()
        # PopT's grid, the Brain Treebank's convention: the demo's depth-wm.csv L, I, P back
        placed = loc.dropna(subset=["x"])
        np.testing.assert_array_equal(placed["L"], 128 - placed["x"])
        np.testing.assert_array_equal(placed["I"], 128 - placed["z"])
        np.testing.assert_array_equal(placed["P"], 128 - placed["y"])
        depth = bt.localization(subject)
        np.testing.assert_array_equal(placed[["L", "I", "P"]], depth.loc[placed.index, ["L", "I", "P"]])
        assert (placed[["L", "I", "P"]] >= 0).all().all()
        # timings: the same triggers, so the one alignment function maps every time alike
        t_bids, t_bt = bids.timings(subject, 0), bt.timings(subject, 0)
        np.testing.assert_array_equal(t_bids["movie_time"], t_bt["movie_time"])
        np.testing.assert_array_equal(t_bids["index"], t_bt["index"])
        assert list(t_bids["trial_type"]) == list(t_bt["trig_type"])
        words = bt.transcript(bt.movie_id(subject, 0))["start"].to_numpy()
        times = np.r_[words, np.arange(-1.0, 31.0, 0.0137)]
        sfreq = bids.sfreq(subject, 0)
        np.testing.assert_array_equal(
            movie_to_sample(times, t_bids, sfreq), movie_to_sample(times, t_bt, sfreq)
        )
    with pytest.raises(FileNotFoundError, match="data.stimuli.words"):
        bids.transcript("mmsites-demo")


def test_signals_match_the_h5(tiny):
    source, root = tiny
    bt, bids = BrainTreebank(source), BidsIEEG(root)
    for subject in bt.subjects():
        with bids.open_recording(subject, 0) as rec, h5py.File(bt.h5_path(subject, 0)) as h5:
            assert rec.labels == bt.labels(subject)
            n = rec.n_samples
            assert n == h5["data/electrode_0"].shape[0]
            for label in bids.labels(subject):  # the electrodes, in µV
                expected = h5[f"data/electrode_{bt.labels(subject).index(label)}"][:]
                got = rec.read([rec.channel_index(label)], 0, n)[0]
                assert got.dtype == np.float32
                np.testing.assert_allclose(got, expected, rtol=0, atol=BV_ATOL_UV)
            # any order, repeats and slices
            picks = [5, 1, 5]
            part = rec.read(picks, 1000, 1500)
            whole = np.stack([h5[f"data/electrode_{c}"][1000:1500] for c in picks])
            np.testing.assert_allclose(part, whole, rtol=0, atol=BV_ATOL_UV)
            assert rec.read([0], 7, 7).shape == (1, 0)
            with pytest.raises(ValueError, match="outside the recording"):
                rec.read([0], 0, n + 1)
            with pytest.raises(IndexError):
                rec.read([len(rec.labels)], 0, 10)
            with pytest.raises(KeyError, match="not in"):
                rec.channel_index("NOPE1")
        assert rec._raw is None  # closed
    assert [p.name for p in bids.recording_files(1, 0)] == [
        f"sub-01_ses-01_task-movie_run-01_{s}"
        for s in ("ieeg.vhdr", "ieeg.eeg", "ieeg.vmrk", "channels.tsv", "events.tsv", "ieeg.json")
    ]


def test_word_table_and_copies(tiny):
    from mmsites.features.events import _sentence_ids  # the oracle: the rule the events use

    source, root = tiny
    transcript = pd.read_csv(source / "transcripts" / "mmsites-demo" / "features.csv", index_col=0)
    words = pd.read_csv(root / "stimuli" / "mmsites-demo_words.tsv", sep="\t")
    assert list(words.columns) == ["onset", "offset", "word", "sentence"]
    np.testing.assert_array_equal(words["sentence"], _sentence_ids(transcript.reset_index(drop=True)))
    np.testing.assert_array_equal(words["onset"], transcript["start"])
    np.testing.assert_array_equal(words["offset"], transcript["end"])
    assert list(words["word"]) == list(transcript["text"])
    assert (root / "truth.csv").read_bytes() == (source / "truth.csv").read_bytes()
    assert sorted(p.name for p in (root / "truth_features").rglob("*.parquet")) == sorted(
        p.name for p in (source / "truth_features").rglob("*.parquet")
    )
    events = pd.read_csv(_run_file(root, "events.tsv", "01"), sep="\t")
    assert set(events["stim_file"]) == {"mmsites-demo.mp4"}
    assert (root / "stimuli" / "mmsites-demo.mp4").is_file()


def test_write_bids_is_deterministic_and_writes_edf(tiny, tmp_path):
    source, root = tiny
    again = write_bids(source, tmp_path / "again")
    files = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    different = [f for f in files if (root / f).read_bytes() != (again / f).read_bytes()]
    assert not different, different

    edf = write_bids(source, tmp_path / "edf", fmt="EDF")
    bt, bids = BrainTreebank(source), BidsIEEG(edf)
    assert bids.recording_files(2, 0)[0].suffix == ".edf"
    with bids.open_recording(2, 0) as rec, h5py.File(bt.h5_path(2, 0)) as h5:
        # EDF pads the last data record: the file may be longer than the source, never shorter
        n = h5["data/electrode_0"].shape[0]
        assert rec.n_samples >= n
        seeg = [bt.labels(2).index(label) for label in bids.labels(2)]
        assert seeg == [rec.channel_index(label) for label in bids.labels(2)]
        got = rec.read(seeg, 0, n)
        expected = np.stack([h5[f"data/electrode_{i}"][:] for i in seeg])
        # 16 bits over the seeg range: half a step of (max - min) / 65535
        step = (expected.max() - expected.min()) / 65535
        np.testing.assert_allclose(got, expected, rtol=0, atol=step)
    np.testing.assert_array_equal(bids.timings(2, 0)["index"], bt.timings(2, 0)["index"])
    with pytest.raises(ValueError, match="fmt must be one of"):
        write_bids(source, tmp_path / "x", fmt="FIF")


# --------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------
def test_truncated_signal_file_is_one_clear_error(tiny, tmp_path):
    _, root = tiny
    copy = _one_subject_copy(root, tmp_path / "a")
    data = _run_file(copy, "ieeg.eeg")
    frame = 26 * 4  # 26 channels of float32
    with open(data, "r+b") as f:  # cut mid-sample
        f.truncate(data.stat().st_size - 3)
    with pytest.raises(ValueError, match=re.escape(str(data)) + ".*truncated"):
        BidsIEEG(copy).open_recording(2, 0)

    copy = _one_subject_copy(root, tmp_path / "b")
    data = _run_file(copy, "ieeg.eeg")
    with open(data, "r+b") as f:  # cut whole samples: mne alone would read a shorter file
        f.truncate(data.stat().st_size - 1000 * frame)
    with pytest.raises(ValueError, match=re.escape(str(_run_file(copy, "ieeg.vhdr"))) + " is truncated"):
        BidsIEEG(copy).open_recording(2, 0)


def test_channels_tsv_disagreeing_with_the_header_names_both_files(tiny, tmp_path):
    _, root = tiny
    copy = _one_subject_copy(root, tmp_path / "a")
    tsv = _run_file(copy, "channels.tsv")
    table = pd.read_csv(tsv, sep="\t", dtype=str, keep_default_na=False)
    table.loc[3, "name"] = "T1aIb99"
    table.to_csv(tsv, sep="\t", index=False)
    vhdr = _run_file(copy, "ieeg.vhdr")
    with pytest.raises(ValueError) as err:
        BidsIEEG(copy).open_recording(2, 0)
    assert str(vhdr) in str(err.value) and str(tsv) in str(err.value)
    assert "'T1aIb4'" in str(err.value) and "'T1aIb99'" in str(err.value)

    table.drop(index=3).to_csv(tsv, sep="\t", index=False)  # one row fewer
    with pytest.raises(ValueError, match=r"\(26\) and of .*\(25\) disagree"):
        BidsIEEG(copy).open_recording(2, 0)

    tsv.unlink()  # a missing sidecar names the file expected
    with pytest.raises(FileNotFoundError, match=re.escape(str(tsv))):
        BidsIEEG(copy).open_recording(2, 0)


def test_electrodes_in_a_non_mni_space(tiny, tmp_path, caplog):
    _, root = tiny
    copy = _one_subject_copy(root, tmp_path / "a")
    folder = copy / "sub-02" / "ses-01" / "ieeg"
    before = BidsIEEG(root).localization(2)
    for path in folder.glob("*space-MNI152NLin2009cAsym*"):
        path.rename(folder / path.name.replace("MNI152NLin2009cAsym", "ACPC"))
    coordsystem = folder / "sub-02_ses-01_space-ACPC_coordsystem.json"
    meta = json.loads(coordsystem.read_text())
    meta.update(iEEGCoordinateSystem="ACPC", iEEGCoordinateUnits="m")
    coordsystem.write_text(json.dumps(meta))
    electrodes = folder / "sub-02_ses-01_space-ACPC_electrodes.tsv"
    table = pd.read_csv(electrodes, sep="\t")
    table[["x", "y", "z"]] /= 1000  # in metres now
    table.to_csv(electrodes, sep="\t", index=False, na_rep="n/a")

    bids = BidsIEEG(copy)
    assert bids.coordinate_space(2) == "ACPC"
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        mni = bids.mni_coordinates(2)
    assert mni.empty
    assert "ACPC" in caplog.text and "MNI" in caplog.text
    loc = bids.localization(2)
    assert (loc["space"] == "ACPC").all()
    np.testing.assert_allclose(loc[["x", "y", "z", "L", "I", "P"]], before[["x", "y", "z", "L", "I", "P"]])
    assert "ACPC" not in MNI_SPACES

    (folder / "sub-02_ses-01_space-ACPC_electrodes.tsv").unlink()
    with pytest.raises(FileNotFoundError, match="no electrodes.tsv"):
        bids.localization(2)
    assert bids.mni_coordinates(2).empty


def test_events_without_movie_time(tiny, tmp_path):
    _, root = tiny
    copy = _one_subject_copy(root, tmp_path / "a")
    events = _run_file(copy, "events.tsv")
    table = pd.read_csv(events, sep="\t")
    onset_sample = int(table["sample"].iloc[0])
    table.drop(columns=["movie_time", "stim_file"]).to_csv(events, sep="\t", index=False)

    with pytest.raises(ValueError) as err:
        BidsIEEG(copy).timings(2, 0)
    assert str(events) in str(err.value)
    assert "data.bids.movie_time_column" in str(err.value) and "data.bids.movie_onset" in str(err.value)

    bids = BidsIEEG(copy, movie_onset="movie beginning")
    timings = bids.timings(2, 0)
    with bids.open_recording(2, 0) as rec:
        last = rec.n_samples - 1
    np.testing.assert_array_equal(timings["index"], [onset_sample, last])
    np.testing.assert_array_equal(timings["movie_time"], [0.0, (last - onset_sample) / 1024.0])
    assert bids.movie_id(2, 0) == "movie"  # no stim_file: the task

    with pytest.raises(ValueError, match="no event of trial_type 'film onset'"):
        BidsIEEG(copy, movie_onset="film onset").timings(2, 0)

    table["movie_time"] = table["movie_time"].astype(object)
    table.loc[4, "movie_time"] = "soon"  # a non-numeric movie time names its line
    table.to_csv(events, sep="\t", index=False)
    message = re.escape(f"{events}: column 'movie_time' is not numeric") + ".*line 6"
    with pytest.raises(ValueError, match=message):
        BidsIEEG(copy).timings(2, 0)


def test_subject_labels(tiny, tmp_path, caplog):
    _, root = tiny
    copy = _one_subject_copy(root, tmp_path / "a")
    odd = copy / "sub-pt03" / "ses-01" / "ieeg"
    odd.mkdir(parents=True)
    for path in _run_file(copy, "ieeg.vhdr").parent.glob("*run-01*"):
        shutil.copyfile(path, odd / path.name.replace("sub-02", "sub-pt03"))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert BidsIEEG(copy).subjects() == [2]
    assert "'pt03'" in caplog.text and "not supported" in caplog.text

    twin = copy / "sub-2" / "ses-01" / "ieeg"
    twin.mkdir(parents=True)
    shutil.copyfile(_run_file(copy, "channels.tsv"), twin / "sub-2_ses-01_task-movie_run-01_channels.tsv")
    with pytest.raises(ValueError) as err:
        BidsIEEG(copy).subjects()
    assert str(copy / "sub-02") in str(err.value) and str(copy / "sub-2") in str(err.value)


def test_runs_are_trials_and_must_share_electrodes(tiny, tmp_path):
    _, root = tiny
    copy = _one_subject_copy(root, tmp_path / "a")
    folder = _run_file(copy, "ieeg.vhdr").parent
    for path in sorted(folder.glob("*run-01*")):
        shutil.copyfile(path, folder / path.name.replace("run-01", "run-02"))
    bids = BidsIEEG(copy)
    assert bids.trials(2) == [0, 1]
    assert bids.signal_path(2, 1).name == "sub-02_ses-01_task-movie_run-02_ieeg.vhdr"
    assert BidsIEEG(copy, runs=["2"]).signal_path(2, 0).name == "sub-02_ses-01_task-movie_run-02_ieeg.vhdr"
    assert BidsIEEG(copy, task="rest").trials(2) == []
    assert bids.labels(2) == BidsIEEG(root).labels(2)

    second = _run_file(copy, "channels.tsv", run="02")
    table = pd.read_csv(second, sep="\t", dtype=str, keep_default_na=False)
    table.loc[0, "name"] = "T1aIb0"
    table.to_csv(second, sep="\t", index=False)
    with pytest.raises(ValueError) as err:
        BidsIEEG(copy).labels(2)
    message = str(err.value)
    assert str(_run_file(copy, "channels.tsv")) in message and str(second) in message
    assert "T1aIb1" in message and "T1aIb0" in message
