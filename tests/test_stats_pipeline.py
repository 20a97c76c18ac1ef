"""The statistics through the pipeline's own stages: refit mode end to end, the encode stage on
every executor, and the site calls on null variants of the demo (issue #8's acceptance checks)."""

import json
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from mmsites.pipeline.cli import main

#: The demo's truth models: the latent variables each kind of planted electrode responds to.
TRUTH = [
    {
        "id": f"truth-{kind}",
        "family": "precomputed",
        "path": f"data/demo/truth_features/{kind}",
        "input": given,
        "trained_on": kind,
    }
    for kind, given in (("vision", "image"), ("language", "text"), ("multimodal", "image+text"))
]
BASELINES = {
    "multiconcat": ["truth-vision", "truth-language"],
    "multilin": ["truth-vision", "truth-language"],
    "multilin_components": [2, 5],
}


def _params(root, **stats):
    return {
        "data": {"format": "demo", "root": "data/demo", "movies": None, "subjects": [1]},
        "demo": {"seed": 1, "duration_s": 120, "subjects": [1], "n_shafts": 4, "contacts_per_shaft": 8},
        "events": {"alignments": ["language"]},
        "responses": {"n_jobs": 1},
        "models": TRUTH,
        "baselines": BASELINES,
        "stats": {
            "permutations": 59,
            "stop_exceedances": 5,
            "swaps": 999,
            "bootstrap": 8,
            "chunk": 20,
            "mode": "refit",
            "min_signal_bins": 5,
            **stats,
        },
        "compute": {"executor": "local", "workers": 1},
    }


def _run(root, params, *stages, until=None):
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    args = ["--params", str(root / "params.yaml"), "--workdir", str(root)]
    if until:
        assert main(["run", *args, "--until", until]) == 0
    for stage in stages:
        assert main([stage, *args]) == 0


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Demo data, events, responses and features of a small text-only language analysis."""
    root = tmp_path_factory.mktemp("refit")
    _run(root, _params(root), until="features")
    return root


@pytest.fixture(scope="module")
def refit_run(prepared):
    _run(prepared, _params(prepared), "encode", "regions", "stats")
    return prepared


@pytest.mark.slow
def test_refit_mode_end_to_end(refit_run):
    root = refit_run
    scores = pd.read_parquet(root / "work/scores/voltage/sub-1_language_truth-multimodal.parquet")
    for col in ("test_r", "val_r", "p_value", "val_p_value", "n_permutations", "signal"):
        assert col in scores.columns
    assert scores["p_value"].between(0, 1).all() and scores["val_p_value"].between(0, 1).all()
    # Signal bins are chosen on the validation r only.
    np.testing.assert_array_equal(scores["signal"], scores["val_p_value"] < 0.05)
    # Sequential permutations: settled targets stop early, open ones run all 59.
    assert scores["n_permutations"].max() == 59 and scores["n_permutations"].min() < 59
    multilin = pd.read_parquet(root / "work/scores/voltage/sub-1_language_multilin.parquet")
    assert set(multilin["components"]) <= {2, 5}
    comparisons = pd.read_csv(root / "results/comparisons.csv")
    assert {"val_score_a", "val_score_b"} <= set(comparisons.columns)
    sites = pd.read_csv(root / "results/sites.csv")
    assert {"p_site_language", "q_site_language"} <= set(sites.columns)
    # The planted multimodal electrodes carry the smallest site p-values.
    truth = pd.read_csv(root / "data/demo/truth.csv")
    merged = sites.merge(truth, on=["subject", "electrode"])
    mm = merged["kind"] == "multimodal"
    assert merged.loc[mm, "p_site_language"].median() < merged.loc[~mm, "p_site_language"].min()


@pytest.mark.slow
def test_refit_observed_statistic_comes_from_the_null_function(refit_run):
    """Row 0 of the permutations is the identity: the p-values use the same code path as the fit."""
    root = refit_run
    perms = np.load(root / "work/resampling/voltage/sub-1_language.npz")["permutations"]
    np.testing.assert_array_equal(perms[0], np.arange(perms.shape[1]))
    assert perms.shape[0] == 60


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["workers", "dask"])
def test_encode_tables_identical_on_every_executor(prepared, tmp_path, executor):
    """Same params and seed: identical score tables, and identical result tables, whether the
    encode stage runs in process, on two worker processes or on a dask cluster."""
    reference = prepared / "work/scores"
    if not (prepared / "results/sites.csv").exists():
        _run(prepared, _params(prepared), "encode", "regions", "stats")
    root = tmp_path / executor
    shutil.copytree(prepared / "data", root / "data")
    shutil.copytree(prepared / "work", root / "work", ignore=shutil.ignore_patterns("scores", "resampling"))
    params = _params(root)
    if executor == "workers":
        params["compute"] = {"executor": "local", "workers": 2}
        _run(root, params, "encode")
    else:
        distributed = pytest.importorskip("dask.distributed")
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster:
            params["compute"] = {
                "executor": "dask",
                "workers": 2,
                "dask_scheduler": cluster.scheduler_address,
            }
            _run(root, params, "encode", "regions", "stats")
    tables = sorted(reference.rglob("*.parquet"))
    assert tables  # under work/scores/<kind>/
    for path in tables:
        pd.testing.assert_frame_equal(
            pd.read_parquet(root / "work/scores" / path.relative_to(reference)), pd.read_parquet(path)
        )
    if executor == "dask":  # the stats stage is one process: identical scores give identical results
        for name in ("comparisons.csv", "sites.csv", "electrodes.csv", "summary.json"):
            assert (root / "results" / name).read_bytes() == (prepared / "results" / name).read_bytes(), name


@pytest.mark.slow
def test_responses_identical_across_worker_threads(prepared, tmp_path):
    """The responses stage with 2 threads over electrode groups writes the same array as with 1."""
    root = tmp_path / "threads"
    shutil.copytree(prepared / "data", root / "data")
    shutil.copytree(prepared / "work/events", root / "work/events")
    params = _params(root)
    params["responses"] = {"n_jobs": 2}
    _run(root, params, "responses")
    with (
        h5py.File(prepared / "work/responses/voltage/sub-1_language.h5") as a,
        h5py.File(root / "work/responses/voltage/sub-1_language.h5") as b,
    ):
        np.testing.assert_array_equal(a["responses"][()], b["responses"][()])
        assert list(a["electrodes"][()]) == list(b["electrodes"][()])


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["planted", "no_multimodal", "linear"])
def test_null_demo_variants_call_few_sites(tmp_path, variant):
    """No planted integration (nothing, or a linear mix of vision and language): <= 5 % called;
    the same small demo with planted sites finds them (so the null runs have the power to call)."""
    called = total = found = planted = 0
    # 5 s blocks: longer than the 4.2 s a response spans (the demo's noise does not drift).
    for seed in (0,) if variant == "planted" else (0, 1):
        root = tmp_path / f"seed{seed}"
        params = _params(root, mode="fast", permutations=199, swaps=1999, bootstrap=0, block_s=5.0)
        params["demo"].update(seed=seed, variant=variant, duration_s=300, n_shafts=5)
        _run(root, params, "regions", "stats", until="encode")
        sites = pd.read_csv(root / "results/sites.csv")
        called += int(sites["multimodal_language"].sum())
        total += len(sites)
        truth = pd.read_csv(root / "data/demo/truth.csv").merge(sites, on=["subject", "electrode"])
        is_mm = truth["kind"] == "multimodal"
        found += int(truth.loc[is_mm, "multimodal_language"].sum())
        planted += int(is_mm.sum())
        if variant == "linear":
            recovery = json.loads((root / "results/demo_recovery.json").read_text())
            assert recovery["voltage"]["multimodal_language"]["false_positive_rate"]["linear"] <= 0.5
    if variant == "planted":
        assert planted and found / planted >= 0.8, (found, planted)
        assert called - found <= 0.05 * (total - planted), (called, found, total)
    else:
        assert planted == 0 and called / total <= 0.05, (called, total)


@pytest.mark.parametrize(
    "stats, message",
    [
        (
            {"mode": "fast", "permutation_kind": "circular"},
            "permutation_kind 'circular' with stats.mode 'fast'",
        ),
        ({"mode": "fast", "comparison": "bootstrap"}, "comparison 'bootstrap' with stats.mode 'fast'"),
        ({"stop_exceedances": 0}, "stop_exceedances"),
    ],
)
def test_uncalibrated_combinations_are_refused(tmp_path, stats, message):
    from mmsites.pipeline.params import load_params

    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"stats": stats}))
    with pytest.raises(ValueError, match=message):
        load_params(path)


def test_real_data_params_are_the_publishable_ones():
    from pathlib import Path

    from mmsites.pipeline.params import load_params

    params = load_params(Path(__file__).resolve().parents[1] / "params" / "braintreebank.yaml")
    assert params.data.format == "braintreebank" and params.stats.mode == "refit"
    assert params.stats.permutation_kind == "block" and params.stats.comparison == "permutation"
    assert params.encoding.gap_s == "auto" and params.stats.cv_correction and params.stats.tail_fit
    assert len(params.baselines.multilin_components) > 1


@pytest.mark.slow
def test_encode_cache_key_hashes_only_what_encode_uses(refit_run):
    from mmsites.pipeline.params import Params
    from mmsites.pipeline.paths import Layout
    from mmsites.pipeline.stages.encode import Unit, unit_key

    base = yaml.safe_load((refit_run / "params.yaml").read_text())

    def key(**stats):
        params = Params.model_validate({**base, "stats": {**base["stats"], **stats}})
        return unit_key(params, Layout(refit_run, params), Unit(1, "language", "truth-multimodal"))

    same = key()
    # The stats stage's params do not refit any model ...
    assert key(fdr_q=0.01) == same and key(swaps=5000) == same and key(default_winner="count") == same
    assert key(min_signal_bins=3) == same and key(chunk=7) == same
    # ... the encode stage's own do.
    assert key(permutations=99) != same and key(signal_alpha=0.01) != same
