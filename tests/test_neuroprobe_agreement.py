"""Our decoding tasks against Neuroprobe's own code and tables (issue #11, item 3).

Neuroprobe 0.1.8 (``pip install neuroprobe==0.1.8``, installed by ``make setup``'s test
dependencies) ships, per session, the word table it uses (``*_words_df.csv``: the Brain
Treebank's ``features.csv`` rows it keeps, with ``start``/``end`` in movie seconds and
``est_idx``/``est_end_idx`` in samples of the 2048-Hz recording) and its non-verbal windows
(``*_nonverbal_df.csv``). Its dataset class builds each task from those tables plus the
movie's ``features.csv`` (for ``is_onset``, ``sentence``, ``idx_in_sentence``, ``rms``) and,
for ``pitch``, the ``enhanced_pitch`` of the JSON it ships. The Brain Treebank's
``features.csv`` is not here, so each test writes one in ``tmp_path`` in the dataset's layout
from the shipped word table (sentences from its ``context`` column, loudness from the
shipped ``raw_volume``), runs Neuroprobe's :class:`BrainTreebankSubjectTrialBenchmarkDataset`
on it (a stand-in subject object: the labels need no recording), runs our task on the same
word table, and checks that both pick the same events with the same labels.

Clocks: the word tasks compare movie seconds (``start``). ``onset`` and ``speech`` compare
recording seconds (``est_idx / 2048``): Neuroprobe tiles its non-verbal windows in recording
samples, so our silence rule is run on the words' recording times there.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmsites.decoding import tasks

# neuroprobe.config reads ROOT_DIR_BRAINTREEBANK at import time; each test points the
# dataset module at its own tmp_path afterwards
_had_root = "ROOT_DIR_BRAINTREEBANK" in os.environ
os.environ.setdefault("ROOT_DIR_BRAINTREEBANK", tempfile.gettempdir())
try:
    npd = pytest.importorskip("neuroprobe.datasets", reason="neuroprobe==0.1.8 is not installed")
    npc = pytest.importorskip("neuroprobe.config")
finally:
    if not _had_root:
        os.environ.pop("ROOT_DIR_BRAINTREEBANK", None)

SR = npc.SAMPLING_RATE  # 2048
TABLES = Path(npc.SAVE_SUBJECT_TRIAL_DF_DIR)
#: Sessions of Neuroprobe Lite (the benchmark's default): time-sorted word tables and ones
#: that are not (cars-2, venom), with overlapping words (venom: 33).
SESSIONS = [(1, 1), (2, 0), (10, 0), (4, 1)]
#: Neuroprobe Lite's cap: 3,500 events per task, 1,750 per class.
LITE_PER_CLASS = npc.NEUROPROBE_LITE_MAX_SAMPLES // 2
#: Tolerance on recording seconds (s): float rounding of sample / 2048, far below a sample.
TOL_S = 1e-9


class _Subject:
    """What the dataset class reads of a BrainTreebankSubject when it only labels events."""

    def __init__(self, subject_id: int):
        self.subject_id = subject_id
        self.subject_identifier = f"btbank{subject_id}"
        self.electrode_labels: list[str] = []

    def get_electrode_coordinates(self):
        return np.zeros((0, 3))

    def load_neural_data(self, *args, **kwargs):  # no recording: output_indices only
        return None


def _movie(subject: int, trial: int) -> str:
    return npc.BRAINTREEBANK_SUBJECT_TRIAL_MOVIE_NAME_MAPPING[f"btbank{subject}_{trial}"]


def _shipped(subject: int, trial: int, kind: str) -> pd.DataFrame:
    return pd.read_csv(TABLES / f"subject{subject}_trial{trial}_{kind}_df.csv")


def _features(words_df: pd.DataFrame, movie: str) -> pd.DataFrame:
    """A features.csv for the shipped words (indexed by ``original_index``), realistic columns."""
    onset = words_df["context"].isna().to_numpy()
    sent_id = np.cumsum(onset)
    text = words_df["full_word"].astype(str)
    sentence = text.groupby(sent_id).transform(" ".join)  # equal texts in a row merge, as in the data
    with open(Path(npc.PITCH_VOLUME_FEATURES_DIR) / f"{movie}_pitch_volume_features.json") as f:
        pvf = {f"{float(k):.5f}": v for k, v in json.load(f).items()}
    rms = [pvf[f"{s:.5f}"]["raw_volume"] for s in words_df["start"]]
    feats = pd.DataFrame(
        {
            "is_onset": onset.astype(int),
            "idx_in_sentence": pd.Series(sent_id).groupby(sent_id).cumcount().to_numpy(),
            "sentence": sentence.to_numpy(),
            "rms": rms,
        },
        index=words_df["original_index"].to_numpy(),
    )
    # the pitch Neuroprobe reads for its ``pitch`` task, joined as it does (start to 5 decimals)
    feats["enhanced_pitch"] = [pvf[f"{s:.5f}"]["enhanced_pitch"] for s in words_df["start"]]
    return feats


@pytest.fixture(scope="module")
def session():
    """``session(subject, trial)``: our word table of a session, its features.csv written.

    Neuroprobe's dataset module reads ``features.csv`` under a fake Brain Treebank root
    and the shipped tables from a folder that a test may replace (a shortened session).
    """
    root = Path(tempfile.mkdtemp(prefix="neuroprobe-root-"))
    cache: dict[tuple[int, int], pd.DataFrame] = {}

    def make(subject: int, trial: int) -> pd.DataFrame:
        if (subject, trial) not in cache:
            movie = _movie(subject, trial)
            words_df = _shipped(subject, trial, "words")
            feats = _features(words_df, movie)
            out = root / "transcripts" / movie
            out.mkdir(parents=True, exist_ok=True)
            feats.drop(columns="enhanced_pitch").to_csv(out / "features.csv")  # 'Unnamed: 0' index
            # our input: the features.csv rows of Neuroprobe's words (its columns added after
            # its dropna, e.g. ``context``, NaN at every sentence onset, are left out)
            timed = words_df[["original_index", "start", "end", "est_idx", "est_end_idx"]]
            cache[(subject, trial)] = timed.join(feats, on="original_index")
        return cache[(subject, trial)]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(npd, "ROOT_DIR", str(root))
        yield make
    shutil.rmtree(root, ignore_errors=True)


def _neuroprobe(subject: int, trial: int, eval_name: str, lite: bool = True, every: int = 97):
    """Neuroprobe's dataset for a task; its items (every ``every``-th and the last ones) checked."""
    ds = npd.BrainTreebankSubjectTrialBenchmarkDataset(
        _Subject(subject), trial, dtype=None, eval_name=eval_name, output_indices=True, lite=lite
    )
    for i in sorted({*range(0, len(ds), every), *range(max(len(ds) - 4, 0), len(ds))}):
        item = ds[i]
        # items alternate label 1, 0, 1, ...; their window starts at the row's est_idx (0 s before)
        label, row = (i + 1) % 2, ds.label_indices[(i + 1) % 2][i // 2]
        src = ds.nonverbal_df if (eval_name in ("onset", "speech") and label == 0) else ds.all_words_df
        assert item["label"] == label and item["data"][0] == int(src.iloc[row]["est_idx"])
    return ds


def _neuroprobe_table(ds, clock: str) -> pd.DataFrame:
    """Neuroprobe's events as a ``time_s, label`` table on the given clock, sorted."""
    times = {}
    for lab in (0, 1):
        speech_task = ds.eval_name in ("onset", "speech")
        table = (ds.nonverbal_df if (speech_task and lab == 0) else ds.all_words_df).iloc[
            np.asarray(ds.label_indices[lab], dtype=int)
        ]
        times[lab] = table["est_idx"].to_numpy() / SR if clock == "recording" else table["start"].to_numpy()
    out = pd.DataFrame(
        {"time_s": np.r_[times[1], times[0]], "label": np.r_[np.ones(len(times[1])), np.zeros(len(times[0]))]}
    )
    return (
        out.astype({"label": np.int64}).sort_values(["time_s", "label"], kind="stable").reset_index(drop=True)
    )


def _recording_clock(words: pd.DataFrame) -> pd.DataFrame:
    out = words.copy()
    out["start"], out["end"] = out["est_idx"] / SR, out["est_end_idx"] / SR
    return out


def _assert_same(ours: pd.DataFrame, theirs: pd.DataFrame, tol: float = 0.0):
    assert len(ours) == len(theirs) and ours["label"].sum() == theirs["label"].sum()
    np.testing.assert_array_equal(ours["label"].to_numpy(), theirs["label"].to_numpy())
    np.testing.assert_allclose(ours["time_s"].to_numpy(), theirs["time_s"].to_numpy(), rtol=0, atol=tol)


# -- the non-verbal windows: every shipped session ---------------------------------------
def test_silence_windows_are_neuroprobes_shipped_windows_on_every_session():
    n_sessions = n_windows = 0
    for path in sorted(TABLES.glob("*_words_df.csv")):
        words = pd.read_csv(path)
        shipped = pd.read_csv(str(path).replace("_words_df", "_nonverbal_df"))
        ours = tasks.clear_windows(words["est_idx"] / SR, words["est_end_idx"] / SR)
        assert ours.size == len(shipped), path.name
        np.testing.assert_allclose(ours, shipped["start"].to_numpy(), rtol=0, atol=TOL_S, err_msg=path.name)
        # the old (symmetric) rule adds windows in front of the next word: it disagrees
        old = tasks.clear_windows(words["est_idx"] / SR, words["est_end_idx"] / SR, rule="symmetric")
        assert old.size > len(shipped), path.name
        n_sessions += 1
        n_windows += ours.size
    assert n_sessions == 26 and n_windows == 115_990


# -- the tasks, by Neuroprobe's dataset class -------------------------------------------
def _ours(task: str, words: pd.DataFrame, **options) -> pd.DataFrame:
    table = _recording_clock(words) if task in ("onset", "speech") else words
    return tasks.build_task(task, table, pitch_column="enhanced_pitch", **options)


def _check_task(session, subject: int, trial: int, task: str, lite: bool = True):
    words = session(subject, trial)
    clock = "recording" if task in ("onset", "speech") else "movie"
    theirs = _neuroprobe_table(_neuroprobe(subject, trial, task, lite=lite), clock)
    ours = _ours(task, words, max_per_class=LITE_PER_CLASS if lite else None)
    _assert_same(ours, theirs, tol=TOL_S if clock == "recording" else 0.0)
    return ours


@pytest.mark.parametrize("task", ["onset", "speech", "volume", "pitch", "word_index"])
def test_tasks_agree_with_neuroprobe_lite(session, task):
    """megamind, subject 4 trial 1 (Lite): word rows not sorted by time, one overlapping."""
    ours = _check_task(session, 4, 1, task)
    if task in ("speech", "volume", "pitch"):  # fewer than 1,750 onsets and second words
        assert len(ours) == 2 * LITE_PER_CLASS


@pytest.fixture
def short_session(session, tmp_path, monkeypatch):
    """The first 1,000 words of subject 4 trial 1, as Neuroprobe's tables and as ours."""
    n = 1000
    words = _shipped(4, 1, "words").iloc[:n]
    windows = _shipped(4, 1, "nonverbal")
    windows = windows.loc[windows["est_idx"] < words["est_idx"].max()]  # the gaps between them
    words.to_csv(tmp_path / "subject4_trial1_words_df.csv", index=False)
    windows.to_csv(tmp_path / "subject4_trial1_nonverbal_df.csv", index=False)
    monkeypatch.setattr(npd, "SAVE_SUBJECT_TRIAL_DF_DIR", str(tmp_path))
    return session(4, 1).iloc[:n]


def test_word_gap_agrees_with_neuroprobe_on_a_shortened_session(short_session):
    """word_gap on a shortened session (Neuroprobe's loop reads its table row by row)."""
    theirs = _neuroprobe_table(_neuroprobe(4, 1, "word_gap", lite=False), "movie")
    _assert_same(tasks.build_task("word_gap", short_session), theirs)
    assert len(theirs) > 150


@pytest.mark.slow
@pytest.mark.parametrize("subject,trial", SESSIONS)
@pytest.mark.parametrize("task", ["onset", "speech", "volume", "pitch", "word_gap", "word_index"])
def test_every_task_agrees_with_neuroprobe_lite_on_more_sessions(session, subject, trial, task):
    _check_task(session, subject, trial, task)


@pytest.mark.slow
@pytest.mark.parametrize("task", ["onset", "speech", "volume", "pitch", "word_gap", "word_index"])
def test_every_task_agrees_with_neuroprobe_full(session, task):
    """Neuroprobe-Full (no cap) on subject 6 trial 4: every event of the session."""
    _check_task(session, 6, 4, task, lite=False)


# -- the test can fail: the old rules disagree ------------------------------------------
def test_the_old_rules_disagree_with_neuroprobe(short_session):
    """Our rules before this agreement (symmetric silence, >= .75 for volume, default_rng)
    do not pick Neuroprobe's events: this file fails on them."""
    words = short_session
    rec = _recording_clock(words)
    theirs = _neuroprobe_table(_neuroprobe(4, 1, "speech", lite=False), "recording")
    _assert_same(tasks.build_task("speech", rec), theirs, tol=TOL_S)
    old = tasks.build_task("speech", rec, silence="symmetric")
    assert len(old) > len(theirs)  # more windows, then more words kept to balance them
    # 1,000 words: the word at exactly .75 is label 1 by the old >= rule, not by Neuroprobe's
    theirs = _neuroprobe_table(_neuroprobe(4, 1, "volume", lite=False), "movie")
    _assert_same(tasks.build_task("volume", words), theirs)
    old_labels = tasks.quartile_labels(words["rms"], top_inclusive=True)
    assert len(theirs) == 2 * 249 and len(tasks.balance(words["start"], old_labels)) == 2 * 250
    # the old generator (default_rng, same order: label 1 then 0) drops another low word
    labels = tasks.quartile_labels(words["rms"])
    rng = np.random.default_rng(tasks.SEED)
    old_drawn = [
        np.sort(rng.choice(np.flatnonzero(labels == lab), size=249, replace=False)) for lab in (1, 0)
    ]
    theirs_neg = theirs.loc[theirs.label == 0, "time_s"].to_numpy()
    assert not np.array_equal(words["start"].to_numpy()[old_drawn[1]], theirs_neg)
