"""Tests of the decoding tasks (decoding.tasks): counts, labels, quartiles, the silence rule."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsites.decoding import tasks
from mmsites.decoding.tasks import build_task, build_tasks, clear_windows, quartile_labels


def _words():
    """Two sentences with 9 s of silence between them, one more after a short pause.

    Sentence 0: 10.0-10.3, 10.4-10.7 (gap 0.1), 10.8-11.0 (gap 0.1)
    silence 11.0 .. 20.0
    Sentence 1: 20.0-20.2, 20.5-20.9 (gap 0.3), 21.5-21.8 (gap 0.6), 21.9-22.0 (gap 0.1)
    pause 22.0 .. 23.0 (too short for silence)
    Sentence 2: 23.0-23.4, 23.6-23.8 (gap 0.2)
    """
    rows = [
        (10.0, 10.3, "a b c", 1, 0),
        (10.4, 10.7, "a b c", 0, 1),
        (10.8, 11.0, "a b c", 0, 2),
        (20.0, 20.2, "d e f g", 1, 0),
        (20.5, 20.9, "d e f g", 0, 1),
        (21.5, 21.8, "d e f g", 0, 2),
        (21.9, 22.0, "d e f g", 0, 3),
        (23.0, 23.4, "h i", 1, 0),
        (23.6, 23.8, "h i", 0, 1),
    ]
    table = pd.DataFrame(rows, columns=["start", "end", "sentence", "is_onset", "idx_in_sentence"])
    table.insert(0, "text", list("abcdefghi"))
    table["rms"] = np.arange(len(table), dtype=float)
    table["pitch"] = -np.arange(len(table), dtype=float)
    return table


def test_silence_windows_follow_the_stated_rule():
    w = _words()
    # only the 11.0-20.0 gap holds silence. Neuroprobe: starts 13.0, 13.5, ..., 16.0 (the last
    # window ends pad + window = 3 s before 20.0); symmetric: up to 17.0 (ends 2 s before)
    np.testing.assert_allclose(clear_windows(w["start"], w["end"]), np.arange(13.0, 16.01, 0.5))
    sym = clear_windows(w["start"], w["end"], rule="symmetric")
    np.testing.assert_allclose(sym, np.arange(13.0, 17.01, 0.5))
    # a shorter pad and window open the 1-s pause too
    for rule in tasks.SILENCE_RULES:
        got = clear_windows(w["start"], w["end"], window_s=0.3, pad_s=0.1, step_s=0.1, rule=rule)
        assert np.any((got > 22.0) & (got < 23.0))
    # span tiles the ends of the film as well
    got = clear_windows(w["start"], w["end"], span=(0.0, 30.0), rule="symmetric")
    assert got[0] == 0.0 and got[-1] + 1.0 <= 30.0 and got[-1] >= 23.8 + 2.0
    got = clear_windows(w["start"], w["end"], span=(0.0, 30.0))
    assert got[0] == 0.0 and got[np.flatnonzero(got < 10)[-1]] == 6.0  # 3 s before the first word
    with pytest.raises(ValueError, match="unknown silence rule"):
        clear_windows(w["start"], w["end"], rule="loose")


@settings(max_examples=60, deadline=None)
@given(
    starts=st.lists(st.floats(0, 200, allow_nan=False), min_size=1, max_size=40),
    durs=st.lists(st.floats(0, 5, allow_nan=False), min_size=40, max_size=40),
    window=st.floats(0.1, 2.0),
    pad=st.floats(0.0, 3.0),
    step=st.floats(0.1, 1.0),
)
def test_no_silence_window_comes_near_a_word(starts, durs, window, pad, step):
    s = np.array(starts)
    e = s + np.array(durs[: s.size])
    t = clear_windows(s, e, window_s=window, pad_s=pad, step_s=step, rule="symmetric")
    assert np.all(np.diff(t) > 0)
    for a in t:  # no word intersects (a - pad, a + window + pad)
        assert not np.any((s < a + window + pad - 1e-9) & (e > a - pad + 1e-9))
    # Neuroprobe's rule on sorted words that do not overlap: a subset, one window further
    # from the next word (no word intersects (a - pad, a + 2 window + pad))
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    e = np.minimum(e, np.r_[s[1:], np.inf])
    npr = clear_windows(s, e, window_s=window, pad_s=pad, step_s=step)
    assert np.all(np.diff(npr) > 0)
    sym = clear_windows(s, e, window_s=window, pad_s=pad, step_s=step, rule="symmetric")
    assert np.isin(npr, sym).all()
    for a in npr:
        assert not np.any((s < a + 2 * window + pad - 1e-9) & (e > a - pad + 1e-9))


def test_onset_and_speech_labels_and_counts():
    w = _words()
    onset = build_task("onset", w)
    speech = build_task("speech", w)
    assert list(onset.columns) == ["time_s", "label"] and onset["label"].dtype == np.int64
    # 3 sentence onsets vs 7 silence windows: balanced to 3 + 3
    assert onset["label"].sum() == 3 and len(onset) == 6
    assert set(onset.loc[onset.label == 1, "time_s"]) == {10.0, 20.0, 23.0}
    assert onset.loc[onset.label == 0, "time_s"].between(13.0, 16.0).all()
    # 9 words vs 7 silence windows: 7 + 7
    assert len(speech) == 14 and speech["label"].sum() == 7
    np.testing.assert_allclose(speech.loc[speech.label == 0, "time_s"], np.arange(13.0, 16.01, 0.5))
    assert np.all(np.diff(speech["time_s"]) > 0)
    # the symmetric rule: 9 windows up to 17.0, nothing dropped
    sym = build_task("speech", w, silence="symmetric")
    assert len(sym) == 18
    np.testing.assert_allclose(sym.loc[sym.label == 0, "time_s"], np.arange(13.0, 17.01, 0.5))


def test_quartile_tasks_keep_the_top_and_bottom_quarters():
    rng = np.random.default_rng(0)
    n = 100
    w = pd.DataFrame({"start": np.arange(n) * 2.0, "end": np.arange(n) * 2.0 + 1, "rms": rng.permutation(n)})
    w["pitch"] = w["rms"] * 10.0
    for name in ("volume", "pitch"):
        table = build_task(name, w)
        value = w.set_index("start").loc[table["time_s"], "rms"].to_numpy()
        # percentile = value / 100: 24 above .75 (76..99), 25 below .25
        assert len(table) == 48 and table["label"].sum() == 24
        assert np.all(value[table["label"] == 1] >= 76) and np.all(value[table["label"] == 0] < 25)
    # quartile rule itself: fraction strictly smaller > .75 (>= .75 for word_gap) / < .25;
    # NaN unlabelled and left out of the fractions, inf the largest value
    v = np.r_[np.arange(8.0), np.nan, np.inf]
    np.testing.assert_array_equal(quartile_labels(v), [0, 0, 0, -1, -1, -1, -1, 1, -1, 1])
    np.testing.assert_array_equal(quartile_labels(np.arange(8.0)), [0, 0, -1, -1, -1, -1, -1, 1])
    np.testing.assert_array_equal(
        quartile_labels(np.arange(8.0), top_inclusive=True), [0, 0, -1, -1, -1, -1, 1, 1]
    )


def test_word_gap_uses_gaps_within_sentences():
    w = _words()
    # gaps within sentences: .1 .1 | .3 .6 .1 | .2 (first words have none)
    table = build_task("word_gap", w)
    gaps = {10.4: 0.1, 10.8: 0.1, 20.5: 0.3, 21.5: 0.6, 21.9: 0.1, 23.6: 0.2}
    labelled = dict(zip(table["time_s"], table["label"]))
    assert set(labelled) <= set(gaps)
    assert all(gaps[t] >= 0.3 for t, lab in labelled.items() if lab == 1)
    assert all(gaps[t] <= 0.1 + 1e-9 for t, lab in labelled.items() if lab == 0)
    assert sum(labelled.values()) == len(labelled) / 2 >= 1
    # sentence_idx works as the sentence key too
    w["sentence_idx"] = w["sentence"].factorize()[0]
    pd.testing.assert_frame_equal(table, build_task("word_gap", w, sentence_column="sentence_idx"))


def test_word_index_and_sentence_onset():
    w = _words()
    wi = build_task("word_index", w)
    assert set(wi.loc[wi.label == 1, "time_s"]) == {10.0, 20.0, 23.0}
    assert set(wi.loc[wi.label == 0, "time_s"]) == {10.4, 20.5, 23.6}
    so = build_task("sentence_onset", w, seed=3)
    assert set(so.loc[so.label == 1, "time_s"]) == {10.0, 20.0, 23.0}
    assert so["label"].sum() == 3 and len(so) == 6
    non_initial = set(w.loc[w.is_onset == 0, "start"])
    assert set(so.loc[so.label == 0, "time_s"]) <= non_initial


def test_scene_cut_negatives_stay_away_from_cuts():
    cuts = np.array([10.0, 20.0, 21.0, 40.0])
    table = build_task("scene_cut", cut_times=cuts, seed=1)
    neg = table.loc[table.label == 0, "time_s"].to_numpy()
    assert table["label"].sum() == 4 and neg.size == 4
    for t in neg:
        assert np.all((cuts <= t - 2.0) | (cuts >= t + 1.0 + 2.0))
    all_neg = clear_windows(cuts, cuts, rule="symmetric")
    np.testing.assert_allclose(all_neg, np.r_[np.arange(12.0, 17.01, 0.5), np.arange(23.0, 37.01, 0.5)])


def test_balance_is_deterministic_and_drops_conflicts():
    w = _words()
    a, b = build_task("speech", w, seed=5, max_per_class=4), build_task("speech", w, seed=5, max_per_class=4)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 8 and a["label"].sum() == 4
    c = build_task("speech", w, seed=6, max_per_class=4)
    assert not a.equals(c)
    out = tasks.balance([1.0, 1.0, 2.0, 3.0, 3.0, 4.0], [1, 0, 1, 0, 0, 0], seed=0)
    # time 1.0 carries both labels: dropped; 3.0 twice: kept once
    assert out["time_s"].tolist() in ([2.0, 3.0], [2.0, 4.0])


def test_unsorted_table_missing_end_and_particles():
    w = _words()
    shuffled = w.sample(frac=1.0, random_state=0)
    # the symmetric rule ignores the row order; Neuroprobe's pairs consecutive rows
    sym = dict(silence="symmetric")
    pd.testing.assert_frame_equal(build_task("speech", w, **sym), build_task("speech", shuffled, **sym))
    assert not build_task("speech", w).equals(build_task("speech", shuffled))
    # an untimed particle (NaN start) is ignored, as the transcript reader does
    particle = pd.DataFrame([{"text": "'s", "start": np.nan, "end": np.nan, "sentence": "a b c"}])
    with_particle = pd.concat([w.iloc[:2], particle, w.iloc[2:]], ignore_index=True)
    pd.testing.assert_frame_equal(build_task("onset", w), build_task("onset", with_particle))
    # a word without an end blocks silence until the next word
    no_end = w.copy()
    no_end.loc[2, "end"] = np.nan
    assert len(clear_windows(no_end["start"], no_end["end"])) == 0


def test_neuroprobe_word_set_drops_incomplete_rows():
    w = _words()
    w["pos"] = "NOUN"
    w["word_diff"] = np.nan  # Neuroprobe drops word_diff and onset_diff before its dropna
    base = build_task("word_index", w)
    pd.testing.assert_frame_equal(base, build_task("word_index", w.drop(columns="word_diff")))
    w.loc[3, "pos"] = np.nan  # 20.0, an onset: not a word for Neuroprobe
    got = build_task("word_index", w)
    assert 20.0 not in set(got["time_s"]) and len(got) == 4
    pd.testing.assert_frame_equal(base, build_task("word_index", w, complete_words=False))
    # and not a word for the silence rule either: the gap runs from 11.0 to 20.5
    got = build_task("speech", w)
    assert got.loc[got.label == 0, "time_s"].max() == 16.5
    got = build_task("speech", w, complete_words=False)
    assert got.loc[got.label == 0, "time_s"].max() == 16.0


def test_bad_inputs_are_clear_errors():
    w = _words()
    with pytest.raises(ValueError, match="no column"):
        build_task("volume", w.drop(columns="rms"))
    bad = w.astype({"rms": object})
    bad.loc[3, "rms"] = "loud"
    with pytest.raises(ValueError, match="'rms' is not numeric"):
        build_task("volume", bad)
    with pytest.raises(ValueError, match="unknown decoding task"):
        build_task("loudness", w)
    with pytest.raises(ValueError, match="one class is empty"):
        build_task("onset", w.iloc[:3])
    with pytest.raises(ValueError, match="differ in length"):
        clear_windows([1.0], [0.5, 2.0])
    with pytest.raises(ValueError, match="needs the scene cuts"):
        build_task("scene_cut", w)


def test_tasks_read_the_transcript_tables_of_the_reader():
    """The columns of a real features.csv (the demo writes every one, with its quirks)."""
    from mmsites.recordings.demo.transcript import plan_transcript

    rng = np.random.default_rng(0)
    words, _, _ = plan_transcript(rng, 200.0, 100.0, 2000, 10.0, np.full(2000, 128.0))
    # short windows: the demo leaves at most ~2 s between sentences
    got = build_tasks(words, np.arange(5.0, 200.0, 3.0), window_s=0.3, pad_s=0.3, step_s=0.25)
    assert list(got) == list(tasks.TASKS)
    for name, table in got.items():
        assert len(table) >= 10, name
        assert table["label"].mean() == 0.5
        assert np.isfinite(table["time_s"]).all()
