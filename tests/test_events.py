"""Tests of features.events: word-onset and scene-cut event tables."""

import logging

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsites.constants import EVENT_COLUMNS
from mmsites.features.events import events_frame_times, language_events, vision_events
from mmsites.timing import TIME_TOL_S

FRAME_TIMES = np.arange(0, 10, 0.04)  # 250 frames at 25 fps, last at 9.96 s


def tiny_transcript():
    """Brain-Treebank-like words: a duplicate start (gon+na), a NaN start, a word too late."""
    return pd.DataFrame(
        {
            "Unnamed: 0": range(9),
            "text": ["Hello", "there", "I'm", "gon", "na", "go", "Bye", "now", "late"],
            "start": [0.5, 0.9, 2.0, 3.0, 3.0, np.nan, 5.0, 5.5, 12.0],
            "end": [0.8, 1.2, 2.5, 3.2, 3.2, np.nan, 5.4, 5.9, 12.5],
            "sentence": ["Hello there"] * 2 + ["I'm gon na go"] * 4 + ["Bye now late"] * 3,
            "is_onset": [1, 0, 1, 0, 0, 0, 1, 0, 0],
            "pos": ["INTJ", "ADV", "PRON", "VERB", "PART", "VERB", "INTJ", "ADV", "ADV"],
        }
    ).set_index("Unnamed: 0")


def test_language_events_exact(caplog):
    with caplog.at_level(logging.INFO, logger="mmsites.features.events"):
        ev = language_events(tiny_transcript(), FRAME_TIMES, "movie-a")
    assert list(ev.columns) == list(EVENT_COLUMNS)
    assert len(ev) == 6  # 9 rows - 1 NaN start - 1 merged (na) - 1 after the last frame
    np.testing.assert_array_equal(ev["movie_time"], [0.5, 0.9, 2.0, 3.0, 5.0, 5.5])
    np.testing.assert_allclose(ev["frame_time"], [0.52, 0.92, 2.0, 3.0, 5.0, 5.52], atol=1e-12)
    assert ev["word"].tolist() == ["Hello", "there", "I'm", "gonna", "Bye", "now"]
    assert ev["text"].tolist() == ["Hello there"] * 2 + ["I'm gon na go"] * 2 + ["Bye now late"] * 2
    assert set(ev["movie"]) == {"movie-a"} and set(ev["alignment"]) == {"language"}
    assert ev["movie_time"].is_unique
    assert ev.attrs["dropped"] == {"no_onset": 1, "merged": 1, "after_last_frame": 1}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("dropped 1 words after the last movie frame" in w for w in warnings)


def test_language_events_text_contexts():
    tr = tiny_transcript()
    prefix = language_events(tr, FRAME_TIMES, "m", text_context="prefix")
    assert prefix["text"].tolist() == ["Hello", "Hello there", "I'm", "I'm gon na", "Bye", "Bye now"]
    words = language_events(tr, FRAME_TIMES, "m", text_context="word")
    assert words["text"].tolist() == words["word"].tolist()
    # The word context does not need a sentence column.
    words2 = language_events(tr.drop(columns="sentence"), FRAME_TIMES, "m", text_context="word")
    pd.testing.assert_frame_equal(words, words2)
    with pytest.raises(ValueError, match="text_context"):
        language_events(tr, FRAME_TIMES, "m", text_context="paragraph")


def test_language_events_bad_input(caplog):
    tr = tiny_transcript()
    with pytest.raises(ValueError, match=r"movie 'cars-2'.*\['sentence'\]"):
        language_events(tr.drop(columns="sentence"), FRAME_TIMES, "cars-2")
    with pytest.raises(ValueError, match=r"\['start'\]"):
        vision_events([1.0], tr.drop(columns="start"), FRAME_TIMES, "cars-2")
    with pytest.raises(TypeError, match="DataFrame"):
        language_events(tr.to_dict(), FRAME_TIMES, "cars-2")
    with pytest.raises(ValueError, match="strictly increasing"):
        language_events(tr, FRAME_TIMES[::-1], "cars-2")
    # Infinite and non-numeric onsets are dropped like NaN; a missing sentence falls back to
    # the word, with a warning.
    tr2 = tr.astype({"start": object})
    tr2.iloc[0, tr2.columns.get_loc("start")] = "n/a"
    tr2.iloc[1, tr2.columns.get_loc("start")] = np.inf
    tr2.iloc[7, tr2.columns.get_loc("sentence")] = np.nan
    with caplog.at_level(logging.WARNING, logger="mmsites.features.events"):
        ev = language_events(tr2, FRAME_TIMES, "m")
    assert ev.attrs["dropped"]["no_onset"] == 3
    assert ev["movie_time"].tolist() == [2.0, 3.0, 5.0, 5.5]
    assert ev["text"].tolist()[-1] == "now"
    assert any("no `sentence`" in r.getMessage() for r in caplog.records)


def test_language_events_sorts_out_of_order_rows(caplog):
    tr = tiny_transcript().iloc[[2, 0, 1, 3, 4, 5, 6, 7]]
    with caplog.at_level(logging.WARNING, logger="mmsites.features.events"):
        ev = language_events(tr, FRAME_TIMES, "m", text_context="word")
    assert ev["movie_time"].is_monotonic_increasing
    assert ev["word"].tolist() == ["Hello", "there", "I'm", "gonna", "Bye", "now"]
    assert any("not in time order" in r.getMessage() for r in caplog.records)


def test_vision_events_exact(caplog):
    cuts = [0.1, 0.5, 2.0 - 5e-7, 4.0, 5.7, 12.0]
    with caplog.at_level(logging.WARNING, logger="mmsites.features.events"):
        ev = vision_events(cuts, tiny_transcript(), FRAME_TIMES, "m")
    assert list(ev.columns) == list(EVENT_COLUMNS)
    np.testing.assert_array_equal(ev["movie_time"], cuts[:-1])
    np.testing.assert_allclose(ev["frame_time"], [0.12, 0.52, 2.0, 4.0, 5.72], atol=1e-12)
    # 0.5 is the exact onset of the first sentence; 2.0 - 5e-7 is within the tie tolerance.
    assert ev["text"].tolist() == ["", "Hello there", "I'm gon na go", "I'm gon na go", "Bye now late"]
    assert ev["word"].tolist() == [""] * 5
    assert set(ev["alignment"]) == {"vision"}
    assert ev.attrs["dropped"] == {"no_sentence": 1, "after_last_frame": 1}
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "1 scene cuts come before the first sentence" in messages
    assert "dropped 1 scene cuts after the last movie frame" in messages
    with pytest.raises(ValueError, match="strictly increasing"):
        vision_events([2.0, 1.0], tiny_transcript(), FRAME_TIMES, "m")


def test_vision_sentence_start_skips_nan_onset_rows():
    # The sentence's first token has no onset: the sentence starts at its first timed word.
    tr = pd.DataFrame(
        {
            "text": ["A", "b", "C", "d"],
            "start": [1.0, 1.5, np.nan, 3.0],
            "sentence": ["A b", "A b", "C d", "C d"],
        }
    )
    ev = vision_events([2.0, 2.9, 3.0], tr, FRAME_TIMES, "m")
    assert ev["text"].tolist() == ["A b", "A b", "C d"]


def test_events_frame_times():
    lang = language_events(tiny_transcript(), FRAME_TIMES, "m")
    vis = vision_events([0.5, 2.0, 4.0], tiny_transcript(), FRAME_TIMES, "m")
    got = events_frame_times(lang, vis)
    np.testing.assert_array_equal(got, np.unique(np.r_[lang["frame_time"], vis["frame_time"]]))
    assert np.all(np.diff(got) > 0) and got.size == 7
    with pytest.raises(ValueError, match="frame_time"):
        events_frame_times(lang.drop(columns="frame_time"))
    with pytest.raises(ValueError, match="non-finite"):
        events_frame_times(lang.assign(frame_time=np.nan))
    with pytest.raises(ValueError, match="at least one"):
        events_frame_times()


def test_events_table_writes_to_parquet(tmp_path):
    ev = language_events(tiny_transcript(), FRAME_TIMES, "m")
    ev.to_parquet(tmp_path / "e.parquet")
    back = pd.read_parquet(tmp_path / "e.parquet")
    pd.testing.assert_frame_equal(back, ev, check_dtype=False)


# ------------------------------------------------------------ property tests, slow oracles


@st.composite
def transcripts(draw):
    """Random transcripts: sentences of tokens, shared starts, NaN starts, late words."""
    n_sent = draw(st.integers(1, 6))
    rows, t = [], draw(st.floats(0, 2))
    for s in range(n_sent):
        n_tok = draw(st.integers(1, 4))
        toks = [draw(st.sampled_from(["a", "bb", "c'", "na", "x"])) + str(s) for _ in range(n_tok)]
        # Some sentences repeat the previous string: only is_onset separates them.
        sentence = " ".join(toks) if s == 0 or not draw(st.booleans()) else rows[-1]["sentence"]
        for i, tok in enumerate(toks):
            kind = draw(st.sampled_from(["step", "step", "same", "nan"]))
            if kind == "step" or (kind == "same" and not rows):
                t += draw(st.floats(0.01, 3))
                start = t
            elif kind == "same":
                start = t
            else:
                start = np.nan
            rows.append({"text": tok, "start": start, "sentence": sentence, "is_onset": int(i == 0)})
    df = pd.DataFrame(rows)
    if draw(st.booleans()):
        df = df.drop(columns="is_onset")
    return df


def slow_sentence_ids(df):
    ids, cur = [], 0
    for i in range(len(df)):
        if i > 0:
            new_onset = "is_onset" in df and df["is_onset"].iloc[i] == 1
            if new_onset or df["sentence"].iloc[i] != df["sentence"].iloc[i - 1]:
                cur += 1
        ids.append(cur)
    return ids


def slow_next_frame(t, ft):
    for f in ft:
        if f >= t - TIME_TOL_S:
            return f
    return None


def slow_language_events(df, ft, text_context):
    sid = slow_sentence_ids(df)
    events = {}  # start -> list of row positions
    order = sorted(
        (i for i in range(len(df)) if np.isfinite(df["start"].iloc[i])),
        key=lambda i: (df["start"].iloc[i], i),
    )
    for i in order:
        events.setdefault(df["start"].iloc[i], []).append(i)
    out = []
    for start in sorted(events):
        members = events[start]
        frame = slow_next_frame(start, ft)
        if frame is None:
            continue
        word = "".join(df["text"].iloc[i] for i in members)
        if text_context == "word":
            text = word
        elif text_context == "sentence":
            text = df["sentence"].iloc[members[0]]
        else:
            last = members[-1]
            text = " ".join(df["text"].iloc[j] for j in range(last + 1) if sid[j] == sid[last])
        out.append((start, text, word, frame))
    return out


@settings(max_examples=60, deadline=None)
@given(
    df=transcripts(),
    text_context=st.sampled_from(["sentence", "prefix", "word"]),
    n_frames=st.integers(1, 300),
)
def test_language_events_match_slow_loop(df, text_context, n_frames):
    ft = np.arange(n_frames) * 0.04
    ev = language_events(df, ft, "m", text_context=text_context)
    expected = slow_language_events(df, ft, text_context)
    got = list(zip(ev["movie_time"], ev["text"], ev["word"], ev["frame_time"]))
    assert got == expected


@settings(max_examples=60, deadline=None)
@given(df=transcripts(), cuts=st.lists(st.floats(0, 25), max_size=10, unique=True))
def test_vision_text_is_nearest_preceding_sentence(df, cuts):
    cuts = np.sort(np.array(cuts, dtype=np.float64))
    ft = np.arange(0, 20, 0.04)
    ev = vision_events(cuts, df, ft, "m")
    sid = slow_sentence_ids(df)
    # First timed word of each sentence.
    heads = {}
    for i in range(len(df)):
        if np.isfinite(df["start"].iloc[i]) and sid[i] not in heads:
            heads[sid[i]] = i
    expected = []
    for cut in cuts:
        frame = slow_next_frame(cut, ft)
        if frame is None:
            continue
        best = None
        for i in heads.values():
            start = df["start"].iloc[i]
            if start <= cut + TIME_TOL_S and (best is None or start >= df["start"].iloc[best]):
                best = i
        text = "" if best is None else df["sentence"].iloc[best]
        expected.append((cut, text, frame))
    got = list(zip(ev["movie_time"], ev["text"], ev["frame_time"]))
    assert got == expected


def test_no_timed_words_gives_empty_or_textless_tables():
    tr = tiny_transcript().assign(start=np.nan)
    ev = language_events(tr, FRAME_TIMES, "m")
    assert list(ev.columns) == list(EVENT_COLUMNS) and len(ev) == 0
    assert ev.attrs["dropped"]["no_onset"] == len(tr)
    vis = vision_events([1.0, 2.0], tr, FRAME_TIMES, "m")
    assert vis["text"].tolist() == ["", ""] and vis.attrs["dropped"]["no_sentence"] == 2
