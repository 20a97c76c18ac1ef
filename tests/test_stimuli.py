"""Generic stimulus tables (features/stimuli.py): words and scene cuts from any CSV/TSV."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsites.features.events import language_events
from mmsites.features.stimuli import read_scene_table, read_word_table


def write(path, table, sep="\t"):
    table.to_csv(path, sep=sep, index=False, na_rep="n/a")
    return path


WORDS = pd.DataFrame(
    {
        "tmin_ms": [1000, 1500, 2100, 4000, 4400, 5000],
        "tmax_ms": [1400, 2000, 2600, 4300, 4900, 5600],
        "token": ["The", "dog", "ran.", "It", "was", "fast!"],
        "sent": [7, 7, 7, 8, 8, 8],
        "pitch": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    }
)


def test_word_table_with_sentence_ids_and_milliseconds(tmp_path):
    path = write(tmp_path / "words.tsv", WORDS)
    words = read_word_table(
        path, onset="tmin_ms", offset="tmax_ms", word="token", sentence="sent", time_unit="ms"
    )
    assert list(words.columns[:6]) == ["text", "start", "end", "sentence", "is_onset", "idx_in_sentence"]
    np.testing.assert_allclose(words["start"], WORDS["tmin_ms"] / 1000)
    np.testing.assert_allclose(words["end"], WORDS["tmax_ms"] / 1000)
    assert words["sentence"].tolist() == ["The dog ran."] * 3 + ["It was fast!"] * 3
    assert words["is_onset"].tolist() == [1, 0, 0, 1, 0, 0]
    assert words["idx_in_sentence"].tolist() == [0, 1, 2, 0, 1, 2]
    assert words["pitch"].tolist() == WORDS["pitch"].tolist()  # other columns travel
    # the events stage reads it as a Brain Treebank transcript
    events = language_events(words, None, "film", text_context="sentence")
    assert events["text"].tolist() == words["sentence"].tolist()
    assert events["word"].tolist() == words["text"].tolist()


def test_word_table_sentence_text_and_no_sentences(tmp_path):
    table = WORDS.assign(sent=["the dog ran"] * 3 + ["it was fast"] * 3)
    path = write(tmp_path / "words.csv", table, sep=",")
    words = read_word_table(path, onset="tmin_ms", offset=None, word="token", sentence="sent", time_unit="ms")
    assert words["sentence"].tolist() == table["sent"].tolist()  # the given text, not the joined words
    # no offsets: a word lasts until the next starts
    np.testing.assert_allclose(words["end"].iloc[:-1], words["start"].iloc[1:])
    # no sentence column: sentences end at . ! ?
    bare = read_word_table(path, onset="tmin_ms", offset=None, word="token", sentence=None, time_unit="ms")
    assert bare["is_onset"].tolist() == [1, 0, 0, 1, 0, 0]


def test_word_table_faults_name_file_and_column(tmp_path):
    path = write(tmp_path / "words.tsv", WORDS)
    with pytest.raises(ValueError, match=r"words.tsv has no column 'onset' for the word onsets"):
        read_word_table(path)
    bad = write(
        tmp_path / "bad.tsv",
        WORDS.assign(tmin_ms=WORDS["tmin_ms"].astype(object).where(WORDS.index != 2, "x")),
    )
    with pytest.raises(ValueError, match=r"bad.tsv: column 'tmin_ms' .* data row 2 \(line 4\)"):
        read_word_table(bad, onset="tmin_ms", offset="tmax_ms", word="token", sentence="sent", time_unit="ms")
    backwards = write(tmp_path / "back.tsv", WORDS.iloc[::-1])
    with pytest.raises(ValueError, match="must not decrease"):
        read_word_table(backwards, onset="tmin_ms", offset="tmax_ms", word="token", sentence="sent")
    swapped = write(tmp_path / "swap.tsv", WORDS)
    with pytest.raises(ValueError, match="before it starts"):
        read_word_table(swapped, onset="tmax_ms", offset="tmin_ms", word="token", sentence="sent")
    with pytest.raises(FileNotFoundError, match="missing.tsv"):
        read_word_table(tmp_path / "missing.tsv")
    (tmp_path / "cut.tsv").write_bytes(b'onset\tword\n1.0\t"unterminated\n2.0')
    with pytest.raises(ValueError, match="cut.tsv"):
        read_word_table(tmp_path / "cut.tsv", offset=None, sentence=None)


def test_word_table_drops_untimed_rows(tmp_path):
    table = WORDS.assign(tmin_ms=WORDS["tmin_ms"].astype(float).where(WORDS.index != 1))
    words = read_word_table(
        write(tmp_path / "w.tsv", table), onset="tmin_ms", offset="tmax_ms", word="token", sentence="sent"
    )
    assert words["text"].tolist() == ["The", "ran.", "It", "was", "fast!"]


@settings(max_examples=40, deadline=None)
@given(ids=st.lists(st.integers(0, 3), min_size=1, max_size=25))
def test_sentences_are_runs_of_one_id(tmp_path_factory, ids):
    """Oracle: a sentence is a maximal run of equal ids; its text joins its words."""
    n = len(ids)
    table = pd.DataFrame({"onset": np.arange(n, dtype=float), "word": [f"w{i}" for i in range(n)], "s": ids})
    path = write(tmp_path_factory.mktemp("w") / "w.tsv", table)
    words = read_word_table(path, offset=None, sentence="s")
    runs, start = [], 0
    for i in range(1, n + 1):
        if i == n or ids[i] != ids[i - 1]:
            runs.append(range(start, i))
            start = i
    expect_onset = np.zeros(n, int)
    expect_text = [""] * n
    for run in runs:
        expect_onset[run.start] = 1
        for i in run:
            expect_text[i] = " ".join(f"w{j}" for j in run)
    assert words["is_onset"].tolist() == expect_onset.tolist()
    assert words["sentence"].tolist() == expect_text


def test_scene_table(tmp_path):
    path = write(tmp_path / "scenes.tsv", pd.DataFrame({"t": [0.0, 12.5, 3.25, 12.5, np.nan]}))
    np.testing.assert_array_equal(read_scene_table(path, onset="t"), [3.25, 12.5])
    ms = write(tmp_path / "ms.csv", pd.DataFrame({"onset": [3250, 12500]}), sep=",")
    np.testing.assert_array_equal(read_scene_table(ms, time_unit="ms"), [3.25, 12.5])
    with pytest.raises(ValueError, match="negative"):
        read_scene_table(write(tmp_path / "neg.tsv", pd.DataFrame({"onset": [-1.0, 2.0]})))
    with pytest.raises(ValueError, match="no column 'onset'"):
        read_scene_table(path)
