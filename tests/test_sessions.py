"""Session selection (data.trials), per-session demeaning of pooled responses, and the joint
reduction of layer features over several movies."""

import json
import logging
import os
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from mmsites.features.reduction import jl_dim, reduce_features, reduce_jointly
from mmsites.pipeline.io import read_responses, write_parquet, write_responses
from mmsites.pipeline.params import DataParams, Params, load_params
from mmsites.pipeline.paths import Layout
from mmsites.pipeline.sessions import list_sessions, select_trials
from mmsites.pipeline.stages import events as events_stage
from mmsites.pipeline.stages import features as features_stage
from mmsites.pipeline.stages import responses as responses_stage
from mmsites.recordings.braintreebank import BrainTreebank, estimate_sfreq, movie_to_sample, select_electrodes
from mmsites.recordings.responses import _blas_controller, event_responses

SHIFT = 1024  # samples: trial001 of sub_1 sees the movie 0.5 s later in the same recording


@pytest.fixture(scope="module")
def multi_root(demo_root, tmp_path_factory):
    """The shared demo with more sessions, all links to its files.

    sub_1: trial000 (movie ``mmsites-demo``) and trial001 (movie ``mmsites-demo-b``: the same
    transcript, the same recording, triggers shifted by SHIFT samples); sub_2: trials 3 and 5.
    """
    root = tmp_path_factory.mktemp("multi") / "bt"
    root.mkdir()
    for name in ("electrode_labels", "localization", "corrupted_elec.json", "scenes"):
        os.symlink(demo_root / name, root / name)
    (root / "transcripts").mkdir()
    for movie in ("mmsites-demo", "mmsites-demo-b"):
        os.symlink(demo_root / "transcripts" / "mmsites-demo", root / "transcripts" / movie)
    for folder in ("all_subject_data", "subject_metadata", "subject_timings"):
        (root / folder).mkdir()
    sessions = {
        (1, 0): (1, "mmsites-demo", 0),
        (1, 1): (1, "mmsites-demo-b", SHIFT),
        (2, 3): (2, "mmsites-demo", 0),
        (2, 5): (2, "mmsites-demo", 0),
    }
    for (subject, trial), (source, movie, shift) in sessions.items():
        os.symlink(
            demo_root / "all_subject_data" / f"sub_{source}_trial000.h5",
            root / "all_subject_data" / f"sub_{subject}_trial{trial:03d}.h5",
        )
        (root / "subject_metadata" / f"sub_{subject}_trial{trial:03d}_metadata.json").write_text(
            json.dumps({"filename": movie, "title": movie})
        )
        timings = pd.read_csv(demo_root / "subject_timings" / f"sub_{source}_trial000_timings.csv")
        timings["index"] += shift
        timings.to_csv(root / "subject_timings" / f"sub_{subject}_trial{trial:03d}_timings.csv", index=False)
    return root


def make_params(root, trials=None, subjects=(1, 2)):
    return Params.model_validate(
        {
            "data": {"format": "demo", "root": str(root), "subjects": list(subjects), "trials": trials},
            "events": {"alignments": ["language"]},
            "responses": {"n_jobs": 1, "step_s": 0.1, "tmin_s": -0.5, "tmax_s": 0.5},
        }
    )


# ----------------------------------------------------------------------------------------------
# data.trials
def test_trials_param_values(tmp_path):
    assert DataParams().trials is None
    assert DataParams(trials="all").trials == "all"
    assert DataParams(trials={1: [0, 2]}).trials == {1: [0, 2]}
    for bad, match in (
        ("al", "data.trials must be null.*'all'.*got 'al'"),
        ({1: []}, "subject 1 must be a non-empty list"),
        ({1: [0, 0]}, "distinct"),
        (["0"], "data.trials"),
    ):
        path = tmp_path / "p.yaml"
        path.write_text(yaml.safe_dump({"data": {"trials": bad}}))
        with pytest.raises(ValueError, match=match) as err:
            load_params(path)
        assert "data.trials" in str(err.value)


def test_select_trials_semantics():
    found = [3, 5, 8]
    assert select_trials(found, None, 2) == [3]  # default: the first trial found
    assert select_trials(found, "all", 2) == [3, 5, 8]
    assert select_trials(found, {2: [8, 5]}, 2) == [8, 5]  # explicit, in the order given
    assert select_trials(found, {1: [0]}, 2) == [3]  # subjects not listed: the first trial
    with pytest.raises(ValueError, match=r"sub_2 trials \[4\], but only \[3, 5, 8\]"):
        select_trials(found, {2: [4, 5]}, 2)


def test_list_sessions(multi_root, tmp_path, caplog):
    layout = lambda params: Layout(tmp_path, params)  # noqa: E731
    with caplog.at_level(logging.INFO, logger="mmsites.pipeline.sessions"):
        default = list_sessions(make_params(multi_root), layout(make_params(multi_root)))
    assert [(s.subject, s.trial, s.movie) for s in default] == [
        (1, 0, "mmsites-demo"),
        (2, 3, "mmsites-demo"),
    ]
    assert "sub_2: trials [3] of [3, 5] (the first trial found" in caplog.text
    params = make_params(multi_root, "all")
    assert [(s.subject, s.trial, s.movie) for s in list_sessions(params, layout(params))] == [
        (1, 0, "mmsites-demo"),
        (1, 1, "mmsites-demo-b"),
        (2, 3, "mmsites-demo"),
        (2, 5, "mmsites-demo"),
    ]
    params = make_params(multi_root, {1: [1]})
    assert [(s.subject, s.trial) for s in list_sessions(params, layout(params))] == [(1, 1), (2, 3)]
    params = make_params(multi_root, {2: [4]})
    with pytest.raises(ValueError, match=r"sub_2 trials \[4\].*under"):
        list_sessions(params, layout(params))


# ----------------------------------------------------------------------------------------------
# responses of pooled sessions
@pytest.fixture(scope="module")
def pooled(multi_root, tmp_path_factory):
    """Responses of sub_1 written with trials 0 only, 1 only, and both (``all``)."""
    out = {}
    for name, trials in (("first", None), ("second", {1: [1]}), ("all", "all")):
        workdir = tmp_path_factory.mktemp(f"resp-{name}")
        params = make_params(multi_root, trials, subjects=[1])
        events_stage.run(params, workdir)
        responses_stage.run(params, workdir)
        path = Layout(workdir, params).responses(1, "language")
        with h5py.File(path) as f:
            assert "event_session" in f and f["event_session"].dtype == np.int64
        out[name] = (read_responses(path), params, workdir)
    yield out
    # recordings.responses scans the loaded BLAS libraries once, at its first call; forget that
    # scan so a later test in this worker (after, say, cv2 loaded its own OpenBLAS) rescans.
    _blas_controller.cache_clear()


def test_one_session_is_written_as_binned(pooled, multi_root):
    resp, params, workdir = pooled["first"]
    assert not resp["attrs"]["session_demeaned"]
    np.testing.assert_array_equal(resp["event_session"], np.zeros(resp["shape"][0], np.int64))
    # Bit for bit what the binning gives (nothing subtracted).
    dataset = BrainTreebank(multi_root)
    rp = params.responses
    electrodes, neighbours = select_electrodes(
        dataset.labels(1), dataset.corrupted(1), rereference=rp.rereference
    )
    timings = dataset.timings(1, 0)
    sfreq = estimate_sfreq(timings)
    events = pd.read_parquet(Layout(workdir, params).events("mmsites-demo", "language"))
    sample = movie_to_sample(events["movie_time"].to_numpy(), timings, sfreq)
    with dataset.open_recording(1, 0) as rec:
        direct = event_responses(
            rec,
            electrodes,
            neighbours,
            sample[np.isfinite(sample)].astype(np.int64),
            window_s=rp.window_s,
            step_s=rp.step_s,
            tmin_s=rp.tmin_s,
            tmax_s=rp.tmax_s,
            notch_hz=tuple(rp.notch_hz),
            notch_q=rp.notch_q,
            rereference=rp.rereference,
            chunk_s=rp.chunk_s,
            n_jobs=1,
            progress=False,
        )
    np.testing.assert_array_equal(resp["responses"], direct.responses)


def test_pooled_sessions_are_demeaned_per_session_and_target(pooled):
    first, second, both = (pooled[k][0] for k in ("first", "second", "all"))
    n0, n1 = first["shape"][0], second["shape"][0]
    assert n0 > 10 and n1 > 10
    assert both["shape"] == (n0 + n1,) + first["shape"][1:]
    assert both["attrs"]["session_demeaned"]
    assert json.loads(both["attrs"]["trials"]) == [0, 1]
    np.testing.assert_array_equal(both["event_session"], np.r_[np.zeros(n0, int), np.ones(n1, int)])
    assert both["event_movie"] == ["mmsites-demo"] * n0 + ["mmsites-demo-b"] * n1
    Y = both["responses"]
    scale = np.abs(Y).mean()
    for session in (0, 1):
        rows = Y[both["event_session"] == session].astype(np.float64)
        assert np.abs(rows.mean(axis=0)).max() < 1e-5 * scale  # every (electrode, bin)
    # The pooled file is each session's own responses minus that session's mean.
    for rows, single in ((slice(0, n0), first), (slice(n0, None), second)):
        expected = single["responses"] - single["responses"].mean(axis=0, dtype=np.float64)
        np.testing.assert_allclose(Y[rows], expected, rtol=0, atol=1e-4 * scale)
    # The two sessions really had different offsets, now removed.
    offset = first["responses"].mean(axis=0, dtype=np.float64) - second["responses"].mean(
        axis=0, dtype=np.float64
    )
    assert np.abs(offset).max() > 1e-2 * scale


def test_demean_sessions_unit():
    rng = np.random.default_rng(0)
    Y = rng.normal(size=(9, 2, 3)).astype(np.float32) + 5
    sessions = np.array([4, 4, 7, 7, 7, 4, 9, 9, 9])  # not contiguous for session 4
    out = responses_stage.demean_sessions(Y.copy(), sessions)
    assert out.dtype == np.float32
    for s in (4, 7, 9):
        np.testing.assert_allclose(out[sessions == s], Y[sessions == s] - Y[sessions == s].mean(0), atol=1e-5)
    with pytest.raises(ValueError, match="event_session"):
        responses_stage.demean_sessions(Y, sessions[:-1])


def test_old_responses_files_read_with_session_zero(tmp_path):
    path = tmp_path / "r.h5"
    resp = np.ones((4, 2, 3), np.float32)
    write_responses(
        path,
        responses=resp,
        electrodes=["A1", "A2"],
        bin_times=np.arange(3.0),
        event_movie_time=np.arange(4.0),
        event_sample=np.arange(4),
        event_movie=["m"] * 4,
        sfreq=2048.0,
        event_session=np.array([2, 2, 3, 3]),
    )
    np.testing.assert_array_equal(read_responses(path, data=False)["event_session"], [2, 2, 3, 3])
    with h5py.File(path, "a") as f:
        del f["event_session"]
    back = read_responses(path)
    assert back["event_session"].dtype == np.int64
    np.testing.assert_array_equal(back["event_session"], np.zeros(4))
    with pytest.raises(ValueError, match="event_session has 3 entries for 4 events"):
        write_responses(
            path,
            responses=resp,
            electrodes=["A1", "A2"],
            bin_times=np.arange(3.0),
            event_movie_time=np.arange(4.0),
            event_sample=np.arange(4),
            event_movie=["m"] * 4,
            sfreq=2048.0,
            event_session=np.array([1, 2, 3]),
        )


# ----------------------------------------------------------------------------------------------
# joint reduction over movies
@pytest.mark.parametrize("method", ["srp", "pca"])
def test_reduce_jointly_is_reduce_features_of_the_stack(method):
    rng = np.random.default_rng(0)
    d = 5000
    blocks = [rng.normal(size=(n, d)).astype(np.float32) for n in (40, 25, 0, 7)]
    out = reduce_jointly(blocks, method=method, eps=0.1, seed=0)
    k = jl_dim(72, 0.1) if method == "srp" else 72
    assert [y.shape for y in out] == [(40, k), (25, k), (0, k), (7, k)]
    assert all(y.dtype == np.float32 for y in out)
    stacked = reduce_features(np.concatenate(blocks), method=method, eps=0.1, seed=0)
    np.testing.assert_allclose(np.concatenate(out), stacked, rtol=1e-5, atol=1e-5)
    # Per-block reduction gives widths that depend on the block (what crashed the encode stage).
    assert (
        reduce_features(blocks[0], method=method).shape[1]
        != reduce_features(blocks[1], method=method).shape[1]
    )


@pytest.mark.parametrize("method", ["srp", "pca"])
def test_reduce_jointly_one_block_is_unchanged(method):
    X = np.random.default_rng(1).normal(size=(30, 6000))
    np.testing.assert_array_equal(
        reduce_jointly([X], method=method, seed=3)[0], reduce_features(X, method=method, seed=3)
    )


def test_reduce_jointly_pass_through_and_errors():
    rng = np.random.default_rng(2)
    small = [rng.normal(size=(20, 10)), rng.normal(size=(5, 10))]
    for y, x in zip(reduce_jointly(small), small):
        np.testing.assert_array_equal(y, x.astype(np.float32))
    with pytest.raises(ValueError, match="different numbers of features"):
        reduce_jointly([np.zeros((3, 4)), np.zeros((3, 5))])
    with pytest.raises(ValueError, match="at least one block"):
        reduce_jointly([])
    bad = rng.normal(size=(5, 10))
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="block 1 has 1 non-finite"):
        reduce_jointly([rng.normal(size=(5, 10)), bad])


class FakeExtractor:
    """Wide deterministic features of each event (from its movie time); counts its calls."""

    calls = 0

    def __init__(self, width):
        self.width = width

    def extract(self, events, frames, index, batch_size=32):
        FakeExtractor.calls += 1
        t = events["movie_time"].to_numpy()[:, None]
        return np.sin(t * np.linspace(0.1, 50, self.width)[None]).astype(np.float32)


def write_movie_events(layout, movie, times):
    table = pd.DataFrame(
        {
            "movie": movie,
            "alignment": "language",
            "movie_time": times,
            "text": "a b",
            "word": "b",
            "frame_time": np.nan,
        }
    )
    write_parquet(table, layout.events(movie, "language"))


@pytest.mark.parametrize("reduction", ["srp", "pca"])
def test_features_stage_reduces_all_movies_together(tmp_path, monkeypatch, reduction):
    width = 6000
    monkeypatch.setattr(features_stage, "build_extractor", lambda spec, device="cpu": FakeExtractor(width))
    model = {"id": "deep", "family": "fake", "input": "text", "trained_on": "language", "layer": "block.3"}
    params = Params.model_validate(
        {
            "data": {"format": "demo"},
            "events": {"alignments": ["language"]},
            "features": {"device": "cpu", "reduction": reduction},
            "models": [model],
        }
    )
    layout = Layout(tmp_path, params)
    times = {"m1": np.arange(1, 61) * 0.7, "m2": np.arange(1, 26) * 1.3}
    for movie, t in times.items():
        write_movie_events(layout, movie, t)
    FakeExtractor.calls = 0
    features_stage.model_features(params.models[0], params, layout, ["m1", "m2"])
    X1, X2 = (np.load(layout.features("deep", m, "language")) for m in ("m1", "m2"))
    k = jl_dim(85, 0.1) if reduction == "srp" else 85
    assert X1.shape == (60, k) and X2.shape == (25, k)
    meta = json.loads(layout.features("deep", "m2", "language").with_suffix(".json").read_text())
    assert meta["reduction"]["from"] == width and meta["reduction"]["n_components"] == k
    assert meta["reduction"]["movies"] == ["m1", "m2"] and meta["reduction"]["method"] == reduction
    # One projection: the same as reducing the stacked features.
    raw = [FakeExtractor(width).extract(pd.DataFrame({"movie_time": t}), None, None) for t in times.values()]
    stacked = reduce_features(np.concatenate(raw), method=reduction)
    np.testing.assert_allclose(np.concatenate([X1, X2]), stacked, rtol=1e-5, atol=1e-5)
    # A rerun is up to date; new events for one movie recompute both (they share the projection).
    calls = FakeExtractor.calls
    features_stage.model_features(params.models[0], params, layout, ["m1", "m2"])
    assert FakeExtractor.calls == calls
    write_movie_events(layout, "m2", np.arange(1, 31) * 1.3)
    features_stage.model_features(params.models[0], params, layout, ["m1", "m2"])
    assert FakeExtractor.calls == calls + 2
    assert (
        np.load(layout.features("deep", "m1", "language")).shape[1]
        == np.load(layout.features("deep", "m2", "language")).shape[1]
    )

    # One movie: exactly the per-movie reduction of before.
    one = tmp_path / "one"
    layout1 = Layout(one, params)
    write_movie_events(layout1, "m1", times["m1"])
    features_stage.model_features(params.models[0], params, layout1, ["m1"])
    np.testing.assert_array_equal(
        np.load(layout1.features("deep", "m1", "language")),
        reduce_features(raw[0], method=reduction, eps=0.1, seed=0),
    )


def test_features_stage_models_without_layer_stay_per_movie(tmp_path, monkeypatch):
    monkeypatch.setattr(features_stage, "build_extractor", lambda spec, device="cpu": FakeExtractor(6000))
    model = {"id": "pooled", "family": "fake", "input": "text", "trained_on": "language"}
    params = Params.model_validate(
        {
            "data": {"format": "demo"},
            "events": {"alignments": ["language"]},
            "features": {"device": "cpu"},
            "models": [model],
        }
    )
    layout = Layout(tmp_path, params)
    write_movie_events(layout, "m1", np.arange(1, 11) * 0.7)
    write_movie_events(layout, "m2", np.arange(1, 6) * 1.3)
    features_stage.model_features(params.models[0], params, layout, ["m1", "m2"])
    assert np.load(layout.features("pooled", "m1", "language")).shape == (10, 6000)
    FakeExtractor.calls = 0
    write_movie_events(layout, "m2", np.arange(1, 7) * 1.3)
    features_stage.model_features(params.models[0], params, layout, ["m1", "m2"])
    assert FakeExtractor.calls == 1  # only the movie whose events changed
    shutil.rmtree(tmp_path / "work")
