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
            "representations": ["voltage", "brainbert", "popt"],
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
    expected = {(s, t, "within_session", r) for s in (1, 2) for t in tasks for r in reps}
    assert set(zip(table["subject"], table["task"], table["split"], table["representation"])) == expected
    assert (table["auc_lo"] <= table["auc"]).all() and (table["auc"] <= table["auc_hi"]).all()
    assert (table["n_folds"] == 2).all() and (table["chance"] == 0.5).all()
    # the planted visual latent is in the vision electrodes' voltage: decoded above chance
    planted = table[(table["task"] == "truth-vision[0]@vision") & (table["representation"] == "voltage")]
    assert (planted["auc_lo"] > 0.5).all(), planted


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
