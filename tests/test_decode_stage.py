"""The decode stage on a small demo: tasks from the transcript and from the planted latents,
every representation, results/decoding.csv."""

import logging

import numpy as np
import pandas as pd
import pytest
import yaml

from mmsites.decoding import TABLE_COLUMNS
from mmsites.pipeline.cli import main
from mmsites.pipeline.params import load_params

TRUTH = [
    {
        "id": f"truth-{kind}",
        "family": "precomputed",
        "path": f"data/demo/truth_features/{kind}",
        "input": given,
        "trained_on": kind,
    }
    for kind, given in (("vision", "image"), ("language", "text"))
]


def _params(**decoding):
    return {
        "data": {"format": "demo", "root": "data/demo", "movies": "data/demo/movies", "subjects": [1, 2]},
        "demo": {"seed": 0, "duration_s": 120, "subjects": [1, 2], "n_shafts": 4, "contacts_per_shaft": 8},
        "events": {"frame_size": 64},
        "responses": {"n_jobs": 1, "brainbert": {"config": "tiny", "device": "cpu"}},
        "models": TRUTH,
        "decoding": {
            "tasks": ["volume", "sentence_onset"],
            "feature_tasks": [
                {"model": "truth-language", "alignment": "language", "dim": 0},
                {"model": "truth-vision", "alignment": "vision", "dim": 0},
            ],
            "representations": ["voltage", "brainbert", "popt", "popt_finetuned"],
            "finetune": {"steps": 40, "eval_every": 20, "tasks": ["truth-vision[0]@vision"]},
            "pad_s": 0.3,
            "n_boot": 200,
            **decoding,
        },
        "compute": {"executor": "local", "workers": 1},
    }


def _write(root, params):
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return ["--params", str(root / "params.yaml"), "--workdir", str(root)]


@pytest.mark.slow
def test_decode_writes_one_row_per_subject_task_representation(tmp_path):
    args = _write(tmp_path, _params())
    assert main(["run", *args, "--until", "features"]) == 0
    assert main(["decode", *args]) == 0
    table = pd.read_csv(tmp_path / "results/decoding.csv")
    assert list(table.columns) == list(TABLE_COLUMNS)
    tasks = ["volume", "sentence_onset", "truth-language[0]@language", "truth-vision[0]@vision"]
    reps = ("voltage", "brainbert", "popt")
    tuned = "truth-vision[0]@vision"
    expected = {(s, t, "within_session", r) for s in (1, 2) for t in tasks for r in reps}
    expected |= {(s, t, "cross_subject", "popt") for s in (1, 2) for t in tasks}  # a shared space
    expected |= {
        (s, tuned, split, "popt_finetuned") for s in (1, 2) for split in ("within_session", "cross_subject")
    }
    # one session per demo subject: no cross_session row
    assert set(zip(table["subject"], table["task"], table["split"], table["representation"])) == expected
    assert (table["auc_lo"] <= table["auc"]).all() and (table["auc"] <= table["auc_hi"]).all()
    assert (table["chance"] == 0.5).all()
    assert (table.loc[table["split"] == "within_session", "n_folds"] == 2).all()
    assert (table.loc[table["split"] == "cross_subject", "n_folds"] == 1).all()
    # the planted visual latent is in the vision electrodes' voltage: decoded above chance
    planted = table[(table["task"] == "truth-vision[0]@vision") & (table["representation"] == "voltage")]
    assert (planted["auc_lo"] > 0.5).all(), planted
    _shuffled_labels_are_at_chance(tmp_path)


def _shuffled_labels_are_at_chance(workdir):
    """The planted task's labels shuffled (5 seeds), the same voltage features: chance."""
    from mmsites.decoding import decode, within_session_splits
    from mmsites.pipeline.paths import Layout
    from mmsites.pipeline.sessions import list_sessions
    from mmsites.pipeline.stages.decode import session_features, span_s, task_tables
    from mmsites.recordings.braintreebank import BrainTreebank

    params = load_params(workdir / "params.yaml")
    layout = Layout(workdir, params)
    dataset = BrainTreebank(layout.data_root)
    session = list_sessions(params, layout)[0]
    table = task_tables(params, layout, dataset, session.movie)["truth-vision[0]@vision"]
    times = np.unique(table["time_s"].to_numpy())
    feats = session_features(params, dataset, session, times, ["voltage"])["voltage"]
    rows = feats.row_of[np.searchsorted(times, table["time_s"].to_numpy())]
    X, t = feats.take(rows[rows >= 0]), table["time_s"].to_numpy()[rows >= 0]
    y = table["label"].to_numpy()[rows >= 0]
    splits = within_session_splits(t, n_folds=2, window_s=span_s(params, "voltage"))
    assert decode(X, y, t, splits, n_boot=200).summary()["auc_lo"] > 0.5  # the real labels
    covered = []
    for seed in range(5):
        shuffled = np.random.default_rng(seed).permutation(y)
        summary = decode(X, shuffled, t, splits, n_boot=200, seed=seed).summary()
        covered.append(summary["auc_lo"] <= 0.5 <= summary["auc_hi"])
    assert sum(covered) >= 4, covered  # 95 % intervals: all five cover chance with probability ~0.77


@pytest.mark.slow
def test_tasks_without_contrast_are_left_out_with_a_warning(tmp_path, caplog):
    # with Neuroprobe's 2 s pad the demo's movie has no silence: onset is left out, volume stays
    args = _write(
        tmp_path, _params(tasks=["onset", "volume"], feature_tasks=[], representations=["voltage"], pad_s=2.0)
    )
    assert main(["run", *args, "--until", "features"]) == 0
    with caplog.at_level(logging.WARNING):
        assert main(["decode", *args]) == 0
    assert "decoding task 'onset' left out" in caplog.text
    table = pd.read_csv(tmp_path / "results/decoding.csv")
    assert set(table["task"]) == {"volume"} and np.isfinite(table["auc"]).all()


def test_feature_tasks_must_name_a_model(tmp_path):
    bad = _params(feature_tasks=[{"model": "nope", "alignment": "language"}])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError, match="decoding.feature_tasks names 'nope'"):
        load_params(tmp_path / "params.yaml")
    bad = _params(bin_s=2.0)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError, match="decoding.bin_s"):
        load_params(tmp_path / "params.yaml")


@pytest.mark.slow
def test_cross_session_rows_where_a_subject_has_two_sessions(tmp_path):
    """A second session of sub_1 (a copy of its first, as a repeated viewing): cross_session rows."""
    import shutil

    params = _params(
        tasks=["sentence_onset"],
        feature_tasks=[{"model": "truth-vision", "alignment": "vision", "dim": 0}],
        representations=["voltage"],
    )
    params["data"].update(subjects=[1], trials="all")
    params["demo"]["subjects"] = [1, 2]
    args = _write(tmp_path, params)
    assert main(["run", *args, "--until", "demo-data"]) == 0
    root = tmp_path / "data/demo"
    for folder, name in (
        ("all_subject_data", "sub_1_trial{:03d}.h5"),
        ("subject_timings", "sub_1_trial{:03d}_timings.csv"),
        ("subject_metadata", "sub_1_trial{:03d}_metadata.json"),
    ):
        shutil.copy(root / folder / name.format(0), root / folder / name.format(1))
    for stage in ("events", "responses", "features", "decode"):  # `run` would rewrite the demo
        assert main([stage, *args]) == 0
    table = pd.read_csv(tmp_path / "results/decoding.csv")
    keys = set(zip(table["task"], table["split"]))
    tasks = ("sentence_onset", "truth-vision[0]@vision")
    assert keys == {(t, s) for t in tasks for s in ("within_session", "cross_session")}
    cross = table[table["split"] == "cross_session"]
    assert (cross["n_folds"] == 2).all()  # 0->1 and 1->0
    # the same recording twice: the planted latent is read out across the sessions too
    planted = cross[cross["task"] == "truth-vision[0]@vision"]
    assert (planted["auc_lo"] > 0.5).all(), planted
