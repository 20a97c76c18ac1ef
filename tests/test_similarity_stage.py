"""The similarity stage on a small synthetic workdir: tables, a planted relation, event matching,
the layer sweep, the cache, the disabled stage and params errors.

The workdir is written directly (events, features, a layer sweep, responses, electrodes.csv)
on top of the shared demo dataset (its sessions give the movie list), so the stage runs in a
few seconds: no responses or features stage.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
import yaml

from mmsites.pipeline.cli import main
from mmsites.pipeline.io import write_responses
from mmsites.pipeline.params import load_params
from mmsites.pipeline.stages.similarity import BRAIN_COLUMNS, MODEL_COLUMNS
from mmsites.stats.simulate import ar1

MOVIE, N_EVENTS, SPACING_S, N_PERM = "mmsites-demo", 240, 0.3, 99
#: electrode -> region in electrodes.csv (E6 has none: "unassigned")
REGIONS = {
    "E0": "regionA",
    "E1": "regionA",
    "E2": "regionA",
    "E3": "regionB",
    "E4": "regionB",
    "E5": "regionB",
}
ELECTRODES = [*REGIONS, "E6"]
BIN_TIMES = np.round(np.arange(-0.2, 0.81, 0.1), 3)


def _models():
    return [
        {
            "id": name,
            "family": "precomputed",
            "path": f"data/{name}",
            "input": "text",
            "trained_on": "language",
        }
        for name in ("planted", "copy", "noise")
    ]


def _params(demo_root, **similarity):
    return {
        "data": {"format": "demo", "root": str(demo_root), "subjects": [1]},
        "events": {"alignments": ["language"]},
        "responses": {"kinds": ["voltage"]},
        "models": _models(),
        "stats": {"block_events": 10},
        "similarity": {"enabled": True, "permutations": N_PERM, "measures": ["cka", "rsa"], **similarity},
    }


def _build(root, demo_root, *, shuffle_features=False, **similarity):
    """Write the workdir; return the mmsites arguments."""
    rng = np.random.default_rng(0)
    times = 1.0 + SPACING_S * np.arange(N_EVENTS)
    events = pd.DataFrame(
        {
            "movie": MOVIE,
            "alignment": "language",
            "movie_time": times,
            "text": "w",
            "word": "w",
            "frame_time": times,
        }
    )
    (root / "work/events").mkdir(parents=True)
    events.to_parquet(root / f"work/events/{MOVIE}_language.parquet", index=False)
    latent = ar1(N_EVENTS, 4, phi=0.5, seed=1)
    features = {
        "planted": latent,
        "copy": 3.0 * latent @ np.linalg.qr(rng.standard_normal((4, 4)))[0],  # CKA 1 with planted
        "noise": ar1(N_EVENTS, 5, phi=0.5, seed=2),
    }
    if shuffle_features:
        features["planted"] = features["planted"][rng.permutation(N_EVENTS)]
    for name, X in features.items():
        out = root / f"work/features/{name}"
        out.mkdir(parents=True)
        np.save(out / f"{MOVIE}_language.npy", X.astype(np.float32))
    # a layer sweep of "planted": an early layer (noise) and a late one (the latent, noisier)
    sweep = root / "work/features/planted"
    layers = {
        "early": ar1(N_EVENTS, 6, phi=0.5, seed=3),
        "late": latent + 0.5 * rng.standard_normal((N_EVENTS, 4)),
    }
    for name, X in layers.items():
        (sweep / "layers" / name).mkdir(parents=True)
        np.save(sweep / "layers" / name / f"{MOVIE}_language.npy", X.astype(np.float32))
    (sweep / "layers.json").write_text(
        json.dumps(
            {
                "layers": [
                    {"name": "early", "type": "Linear", "depth": 0.0},
                    {"name": "late", "type": "Linear", "depth": 1.0},
                ]
            }
        )
    )
    # responses of the events but the first three (as the responses stage drops edge events):
    # regionA follows the latent in the bins after onset, the rest is noise
    keep = np.arange(3, N_EVENTS)
    n = len(keep)
    resp = 0.5 * rng.standard_normal((n, len(ELECTRODES), len(BIN_TIMES)))
    after = (BIN_TIMES >= 0) & (BIN_TIMES <= 0.5)
    drive = latent[keep] @ rng.standard_normal((4, 3))
    resp[:, :3, :] += drive[:, :, None] * after
    write_responses(
        root / "work/responses/voltage/sub-1_language.h5",
        responses=resp.astype(np.float32),
        electrodes=ELECTRODES,
        bin_times=BIN_TIMES,
        event_movie_time=times[keep],
        event_sample=(times[keep] * 1000).astype(np.int64),
        event_movie=[MOVIE] * n,
        sfreq=1000.0,
        attrs={"kind": "voltage"},
    )
    (root / "results").mkdir()
    pd.DataFrame({"subject": 1, "electrode": list(REGIONS), "region": list(REGIONS.values())}).to_csv(
        root / "results/electrodes.csv", index=False
    )
    (root / "params.yaml").write_text(yaml.safe_dump(_params(demo_root, **similarity)))
    return ["similarity", "--params", str(root / "params.yaml"), "--workdir", str(root)]


@pytest.fixture(scope="module")
def tables(tmp_path_factory, demo_root):
    root = tmp_path_factory.mktemp("similarity")
    assert main(_build(root, demo_root)) == 0
    return (
        root,
        pd.read_csv(root / "results/similarity_models.csv"),
        pd.read_csv(root / "results/similarity_brain.csv"),
    )


def test_tables_have_their_columns_and_rows(tables):
    _, models, brain = tables
    assert list(models.columns) == list(MODEL_COLUMNS)
    assert list(brain.columns) == list(BRAIN_COLUMNS)
    reps = {
        ("planted", "output"),
        ("planted", "early"),
        ("planted", "late"),
        ("copy", "output"),
        ("noise", "output"),
    }
    assert set(zip(models["model_a"], models["layer_a"])) == reps
    assert len(models) == 2 * len(reps) ** 2  # cka and rsa, every ordered pair with the diagonal
    assert set(models["measure"]) == {"cka_debiased", "rsa_correlation_spearman"}
    assert (models["n_events"] == N_EVENTS).all()
    depth = dict(zip(zip(models["model_a"], models["layer_a"]), models["depth_a"]))
    assert depth[("planted", "early")] == 0.0 and depth[("planted", "output")] == 1.0
    # brain: groups all, regionA, regionB, unassigned x 5 representations x 1 window x cka
    assert set(brain["region"]) == {"all", "regionA", "regionB", "unassigned"}
    assert len(brain) == 4 * len(reps)
    n_elec = dict(zip(brain["region"], brain["n_electrodes"]))
    assert n_elec == {"all": 7, "regionA": 3, "regionB": 3, "unassigned": 1}
    assert (brain["n_events"] == N_EVENTS - 3).all() and (brain["n_permutations"] == N_PERM).all()
    assert ((brain["window_start_s"] == 0.0) & (brain["window_end_s"] == 0.5)).all()
    assert brain["p_value"].between(1 / (N_PERM + 1), 1).all() and brain["q_value"].notna().all()


def test_model_matrix_is_symmetric_with_ones_on_the_diagonal(tables):
    _, models, _ = tables
    for measure, table in models.groupby("measure"):
        m = table.pivot_table(index=["model_a", "layer_a"], columns=["model_b", "layer_b"], values="value")
        assert np.allclose(m.to_numpy(), m.to_numpy().T), measure
        assert np.allclose(np.diag(m.to_numpy()), 1.0), measure
    cka = models[models["measure"] == "cka_debiased"].set_index(["model_a", "layer_a", "model_b", "layer_b"])[
        "value"
    ]
    assert abs(cka[("planted", "output", "noise", "output")]) < 0.1
    # CKA is invariant to rotation and scaling: a rotated, scaled copy has the same geometry
    assert cka[("planted", "output", "copy", "output")] == pytest.approx(1.0, abs=1e-6)


def test_a_planted_relation_is_found_and_noise_is_not(tables):
    _, _, brain = tables
    b = brain.set_index(["model", "layer", "region"])
    for model, layer in (("planted", "output"), ("copy", "output"), ("planted", "late")):
        hit = b.loc[(model, layer, "regionA")]
        assert (
            hit["value"] > 0.3 and hit["p_value"] == pytest.approx(1 / (N_PERM + 1)) and hit["q_value"] < 0.05
        )
    assert b.loc[("planted", "output", "regionA"), "value"] > b.loc[("planted", "output", "all"), "value"]
    noise = b.loc[("noise", "output", "regionB")]
    assert abs(noise["value"]) < 0.1 and noise["q_value"] > 0.05
    # the late layer, which carries the latent, beats the early one
    assert (
        b.loc[("planted", "late", "regionA"), "value"] > b.loc[("planted", "early", "regionA"), "value"] + 0.3
    )


def test_feature_rows_are_matched_to_the_responses_events(tmp_path, demo_root, tables):
    """Shuffled feature rows destroy the similarity: the stage pairs rows with events."""
    assert main(_build(tmp_path, demo_root, shuffle_features=True)) == 0
    brain = pd.read_csv(tmp_path / "results/similarity_brain.csv").set_index(["model", "layer", "region"])
    assert abs(brain.loc[("planted", "output", "regionA"), "value"]) < 0.1
    assert brain.loc[("planted", "output", "regionA"), "p_value"] > 0.05
    _, _, good = tables
    assert good.set_index(["model", "layer", "region"]).loc[("planted", "output", "regionA"), "value"] > 0.3


def test_a_rerun_is_up_to_date_and_a_params_change_recomputes(tables, caplog):
    root = tables[0]
    args = ["similarity", "--params", str(root / "params.yaml"), "--workdir", str(root)]
    with caplog.at_level(logging.INFO, logger="mmsites.pipeline.stages.similarity"):
        assert main(args) == 0
    assert "up to date" in caplog.text
    again = pd.read_csv(root / "results/similarity_brain.csv")
    pd.testing.assert_frame_equal(again, tables[2])


def test_windows_and_rsa_in_the_brain_table(tmp_path, demo_root):
    args = _build(
        tmp_path,
        demo_root,
        windows_s=[[0.0, 0.5], [0.6, 0.8]],
        brain_measures=["cka", "rsa"],
        regions=False,
        permutation_kind="block",  # blocks of stats.block_events (10)
    )
    assert main(args) == 0
    brain = pd.read_csv(tmp_path / "results/similarity_brain.csv")
    assert set(brain["region"]) == {"all"}
    assert set(zip(brain["window_start_s"], brain["window_end_s"])) == {(0.0, 0.5), (0.6, 0.8)}
    assert set(brain["measure"]) == {"cka_debiased", "rsa_correlation_spearman"}
    b = brain.set_index(["model", "layer", "window_start_s", "measure"])
    # after 0.5 s nothing is planted
    assert b.loc[("planted", "output", 0.0, "cka_debiased"), "value"] > 0.2
    assert abs(b.loc[("planted", "output", 0.6, "cka_debiased"), "value"]) < 0.1
    assert b.loc[("planted", "output", 0.0, "rsa_correlation_spearman"), "p_value"] < 0.05


def test_disabled_writes_empty_tables_with_headers(tmp_path, demo_root, caplog):
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump({**_params(demo_root), "similarity": {"enabled": False}})
    )
    with caplog.at_level(logging.INFO):
        assert (
            main(["similarity", "--params", str(tmp_path / "params.yaml"), "--workdir", str(tmp_path)]) == 0
        )
    assert "similarity.enabled is false" in caplog.text
    models = pd.read_csv(tmp_path / "results/similarity_models.csv")
    brain = pd.read_csv(tmp_path / "results/similarity_brain.csv")
    assert models.empty and list(models.columns) == list(MODEL_COLUMNS)
    assert brain.empty and list(brain.columns) == list(BRAIN_COLUMNS)
    assert load_params(tmp_path / "params.yaml").similarity.enabled is False
    # the section is optional: older params files keep working, with the stage off
    (tmp_path / "old.yaml").write_text(yaml.safe_dump({"data": {"subjects": [1]}}))
    assert load_params(tmp_path / "old.yaml").similarity.enabled is False


def test_errors_name_the_params_key(tmp_path, demo_root, caplog):
    bad = _params(demo_root, windows_s=[[0.5, 0.1]])
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError, match="similarity.windows_s"):
        load_params(tmp_path / "bad.yaml")
    args = _build(tmp_path / "w", demo_root, windows_s=[[2.0, 3.0]])
    with caplog.at_level(logging.ERROR):
        assert main(args) == 2
    assert "similarity.windows_s" in caplog.text and "[2.0, 3.0]" in caplog.text
    args = _build(tmp_path / "k", demo_root, kinds=["band_power"])
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        assert main(args) == 2
    assert "similarity.kinds" in caplog.text


def test_the_report_page_renders_the_tables_and_is_skipped_without_them(tables, tmp_path, caplog):
    from mmsites.pipeline.paths import Layout
    from mmsites.pipeline.stages.report import similarity_page
    from mmsites.reports.html import render_overview

    root = tables[0]
    params = load_params(root / "params.yaml")
    assert similarity_page(params, Layout(root, params))
    page = (root / "results/report/similarity.html").read_text()
    assert "Representational similarity" in page and "similarity-brain" in page and "data:image/png" in page
    figures = sorted(p.name for p in (root / "results/report/figures").glob("similarity_*.png"))
    assert figures == [
        "similarity_layer_profiles.png",
        "similarity_model_x_brain_sub-1.png",
        "similarity_model_x_model_cka_debiased.png",
        "similarity_model_x_model_rsa_correlation_spearman.png",
    ]
    # empty tables (the stage off): no page, a log line
    (tmp_path / "results").mkdir()
    for name, columns in (("models", MODEL_COLUMNS), ("brain", BRAIN_COLUMNS)):
        pd.DataFrame(columns=list(columns)).to_csv(tmp_path / f"results/similarity_{name}.csv", index=False)
    with caplog.at_level(logging.INFO):
        assert not similarity_page(params, Layout(tmp_path, params))
    assert "no similarity page" in caplog.text and not (tmp_path / "results/report/similarity.html").exists()
    overview = render_overview({}, [1], {}, {}, pages={"Similarity": "similarity.html"})
    assert '<a href="similarity.html">Similarity</a>' in overview


def test_the_stage_on_a_demo_run(tmp_path):
    """The real path: demo data, events, responses, features, regions, then the stage; the
    truth models find the electrodes planted with their latents."""
    from conftest import truth_models, write_params

    params = {
        "data": {"format": "demo", "root": "data/demo", "movies": "data/demo/movies", "subjects": [1]},
        "demo": {"seed": 0, "duration_s": 120, "subjects": [1], "n_shafts": 4, "contacts_per_shaft": 8},
        "events": {"frame_size": 64},
        "responses": {"kinds": ["voltage"], "n_jobs": 1},
        "models": truth_models(),
        "similarity": {"enabled": True, "permutations": 199},
        "compute": {"workers": 1},
    }
    args = write_params(tmp_path, params)
    assert main(["run", *args, "--until", "features"]) == 0
    assert main(["regions", *args]) == 0
    assert main(["similarity", *args]) == 0
    models = pd.read_csv(tmp_path / "results/similarity_models.csv")
    brain = pd.read_csv(tmp_path / "results/similarity_brain.csv")
    assert set(models["alignment"]) == {"language", "vision"} and set(brain["alignment"]) == {
        "language",
        "vision",
    }
    everyone = brain[(brain["region"] == "all") & (brain["measure"] == "cka_debiased")]
    assert (everyone["q_value"] < 0.05).all(), everyone  # every truth model drives some electrodes
