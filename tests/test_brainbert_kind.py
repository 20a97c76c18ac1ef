"""The ``brainbert`` response kind through the pipeline's own stages: embeddings per event and
electrode, reduced per fold, encoded and tested like the other kinds."""

import json
import logging

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import truth_models, write_params

from mmsites.encoding.targets import fold_pca_targets
from mmsites.pipeline.cli import main
from mmsites.pipeline.cv import response_folds
from mmsites.pipeline.io import read_responses
from mmsites.pipeline.params import load_params
from mmsites.pipeline.targets import encoding_targets

COMPONENTS = 4


def _params(**responses):
    return {
        "data": {"format": "demo", "root": "data/demo", "movies": None, "subjects": [1, 2]},
        "demo": {"seed": 2, "duration_s": 90, "subjects": [1, 2], "n_shafts": 3, "contacts_per_shaft": 8},
        "events": {"alignments": ["language"]},
        "responses": {
            "n_jobs": 1,
            "kinds": ["voltage", "brainbert", "popt"],
            "popt": {"config": "tiny", "components": COMPONENTS},
            "brainbert": {
                "config": "tiny",
                "components": COMPONENTS,
                "device": "cpu",
                "batch_size": 32,
                "offset_s": 0.25,  # where the demo's responses peak
            },
            **responses,
        },
        "models": truth_models(),
        "stats": {"permutations": 19, "stop_exceedances": 5, "bootstrap": 0, "min_signal_bins": 5},
        "compute": {"executor": "local", "workers": 1},
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("brainbert-kind")
    args = write_params(root, _params())
    assert main(["run", *args, "--until", "stats"]) == 0
    return root, args


@pytest.mark.slow
def test_embeddings_file_scores_and_results(run):
    root, _ = run
    params = load_params(root / "params.yaml")
    for subject in (1, 2):
        path = root / f"work/responses/brainbert/sub-{subject}_language.h5"
        resp = read_responses(path)
        voltage = read_responses(root / f"work/responses/voltage/sub-{subject}_language.h5", data=False)
        assert resp["kind"] == "brainbert" and resp["bin_times"] is None
        assert resp["responses"].shape[1:] == (len(resp["electrodes"]), 64)  # tiny: hidden 64
        assert np.isfinite(resp["responses"]).all()
        # the 5 s window drops the events within 2.5 s of the recording's edges (or none)
        assert resp["shape"][0] <= voltage["shape"][0]
        info = json.loads(resp["attrs"]["brainbert"])
        assert (
            info["layer"] == -1 and info["hidden_dim"] == 64 and info["checkpoint"].startswith("random tiny")
        )
        scores = pd.read_parquet(
            root / f"work/scores/brainbert/sub-{subject}_language_truth-multimodal.parquet"
        )
        n_elec = len(resp["electrodes"])
        assert len(scores) == n_elec * COMPONENTS
        assert list(scores["bin"][:COMPONENTS]) == list(range(COMPONENTS)) and scores["time_s"].isna().all()
        assert scores["test_r"].notna().all() and scores["p_value"].between(0, 1).all()
        # the stats stage's targets are the encode stage's held-out projections
        folds = response_folds(params, resp)
        targets = encoding_targets(params, resp, folds)
        direct = fold_pca_targets(resp["responses"], folds, COMPONENTS)
        np.testing.assert_array_equal(targets.held_out, direct.held_out)
        assert len(targets.fit) == len(folds)
        # the high-gamma electrodes' power is in the embeddings' first component
        truth = pd.read_csv(root / "data/demo/truth.csv").query("subject == @subject")
        highgamma = scores[scores["electrode"].isin(truth.loc[truth["kind"] == "highgamma", "electrode"])]
        silent = scores[scores["electrode"].isin(truth.loc[truth["kind"] == "none", "electrode"])]
        assert len(highgamma) and highgamma.query("bin == 0")["test_r"].min() > 0.4
        # silent electrodes: their embeddings follow the demo's slow shared state, which a slow
        # feature can track by chance over 90 s (max |r| 0.35 measured): centred on 0, mostly small
        assert abs(silent["test_r"].mean()) < 0.1 and silent["test_r"].abs().quantile(0.9) < 0.3
        # the population code: PopT's CLS token per event, one unit, reduced per fold alike
        code = read_responses(root / f"work/responses/popt/sub-{subject}_language.h5")
        assert code["electrodes"] == ["population"] and code["responses"].shape == (resp["shape"][0], 1, 32)
        assert json.loads(code["attrs"]["popt"])["checkpoint"].startswith("random tiny")
        pop = pd.read_parquet(root / f"work/scores/popt/sub-{subject}_language_truth-multimodal.parquet")
        assert list(pop["electrode"]) == ["population"] * COMPONENTS and pop["test_r"].notna().all()
    sites = pd.read_csv(root / "results/sites.csv")
    assert set(sites["response_kind"]) == {"voltage", "brainbert", "popt"}
    assert list(sites.loc[sites["response_kind"] == "popt", "electrode"]) == ["population"] * 2
    electrodes = pd.read_csv(root / "results/electrodes.csv")
    assert "population" not in set(electrodes["electrode"])
    recovery = json.loads((root / "results/demo_recovery.json").read_text())
    assert recovery["brainbert"]["multimodal_strict"]["multimodal_kinds"] == ["highgamma"]
    assert "popt" not in recovery  # no electrode kind is planted for the population code


@pytest.mark.slow
def test_embeddings_are_cached_and_rekeyed(run, caplog):
    root, args = run
    cache = sorted((root / "work/brainbert_embeddings").glob("*.npz"))
    assert [p.name for p in cache] == ["sub-1_trial000_language.npz", "sub-2_trial000_language.npz"]
    before = [p.stat().st_mtime_ns for p in cache]
    caplog.set_level(logging.INFO)
    assert main(["responses", *args]) == 0
    assert "BrainBERT embeddings from" in caplog.text
    assert [p.stat().st_mtime_ns for p in cache] == before
    # another layer is another embedding: recomputed
    params = _params(
        brainbert={"config": "tiny", "components": COMPONENTS, "device": "cpu", "layer": 0, "offset_s": 0.25}
    )
    args = write_params(root, params)
    assert main(["responses", *args]) == 0
    assert all(p.stat().st_mtime_ns != b for p, b in zip(cache, before))
    with h5py.File(root / "work/responses/brainbert/sub-1_language.h5") as f:
        assert json.loads(f.attrs["brainbert"])["layer"] == 0


def test_a_missing_checkpoint_is_one_clear_error(tmp_path, caplog):
    args = write_params(
        tmp_path, _params(kinds=["brainbert"], brainbert={"checkpoint": str(tmp_path / "no.pth")})
    )
    assert main(["run", *args, "--until", "events"]) == 0
    with caplog.at_level(logging.ERROR):
        assert main(["responses", *args]) != 0
    assert "responses.brainbert.checkpoint" in caplog.text and "no.pth" in caplog.text


def test_params_check_the_components(tmp_path):
    bad = _params(brainbert={"components": 2})
    bad["stats"]["min_signal_components"] = 3
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError, match="min_signal_components"):
        load_params(tmp_path / "params.yaml")
    old = _params()
    old["responses"].pop("kinds")
    old["responses"]["kind"] = "band_power"  # the single-kind key of older params files
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(old))
    assert load_params(tmp_path / "params.yaml").responses.kinds == ["band_power"]
    old["responses"]["kinds"] = ["voltage"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(old))
    with pytest.raises(ValueError, match="either kind"):
        load_params(tmp_path / "params.yaml")
