"""Test families and site rules on simulated electrodes with planted (or no) effects."""

import json

import numpy as np
import pandas as pd
import pytest

from mmsites.encoding.folds import contiguous_folds
from mmsites.stats.bootstrap import fast_bootstrap
from mmsites.stats.resampling import block_swaps, bootstrap_indices, fold_permutations
from mmsites.stats.signal import fast_permutation_null, fold_average_r, permutation_pvalues, signal_bins
from mmsites.stats.simulate import ar1
from mmsites.stats.sites import (
    COMPARISON_COLUMNS,
    SITE_COLUMNS,
    ModelInfo,
    ModelScores,
    Unit,
    build_comparisons,
    build_sites,
    demo_recovery,
    summarize,
)

N_EVENTS, N_BINS = 200, 10
MIN_BINS = 6  # of N_BINS; the study's 10 of 161, scaled down
MODELS = [
    ModelInfo("mm", "multimodal", random_twin="mm-rand", slip_role="combo"),
    ModelInfo("mm-rand", "multimodal", random=True),
    ModelInfo("vis", "vision", slip_role="simclr"),
    ModelInfo("lang", "language"),
    ModelInfo("concat", "multimodal", baseline="multiconcat"),
]
#: Latent sources each model's prediction sees: vision V, language L, their interaction M.
SEES = {"mm": "VLM", "mm-rand": "", "vis": "V", "lang": "L", "concat": "VL"}


def simulate_unit(kinds, seed, alignment="language", subject="1", shared=False):
    """One (subject, alignment) with one electrode per entry of ``kinds``.

    An electrode of kind vision/language/multimodal is driven by V, L or V+L+M; a model predicts
    the part of the response carried by the sources it sees, plus its own noise. With
    ``shared=True`` every electrode is instead driven by one source that every trained
    model sees equally: there is no multimodal effect anywhere.
    """
    rng = np.random.default_rng(seed)
    n, E, nb = N_EVENTS, len(kinds), N_BINS
    src = {k: ar1(n, 1, phi=0.3, seed=seed * 10 + i)[:, 0] for i, k in enumerate("VLMS")}
    # A multimodal electrode also carries vision and language signal, so that every model
    # has signal bins there and the multimodal model must win real tests, not by default.
    drive = {"vision": "V", "language": "L", "multimodal": "VLM", "none": ""}
    signal = np.zeros((n, E * nb))
    parts = {m: np.zeros((n, E * nb)) for m in SEES}
    for e, kind in enumerate(kinds):
        cols = slice(e * nb, (e + 1) * nb)
        srcs = "S" if shared else drive[kind]
        for s in srcs:
            gain = rng.uniform(0.6, 1.0, nb)
            signal[:, cols] += np.outer(src[s], gain)
            for m, seen in SEES.items():
                if s in seen or (s == "S" and m not in ("mm-rand", "concat")):
                    parts[m][:, cols] += np.outer(src[s], gain)
    Y = signal + ar1(n, E * nb, phi=0.5, seed=seed + 1)
    folds = contiguous_folds(n, 5)
    perms = fold_permutations(folds, n, 49, block=5, seed=seed, part="val")
    boot = bootstrap_indices(n, 99, seed=seed)  # shared by all models
    scores = {}
    for i, m in enumerate(SEES):
        pred = parts[m] + 0.5 * ar1(n, E * nb, phi=0.5, seed=seed * 100 + i + 7)
        r = fold_average_r(pred, Y, folds)
        # Signal bins are chosen on the validation halves.
        val = fold_average_r(pred, Y, folds, part="val")
        p = permutation_pvalues(val, fast_permutation_null(pred, Y, folds, perms, part="val", block=5))
        scores[m] = ModelScores(
            test_r=r,
            signal=signal_bins("permutation", pvalues=p),
            val_r=val,
            predictions=pred,
            test_r_boot=fast_bootstrap(pred, Y, folds, boot)[0],
        )
    return Unit(
        subject=subject,
        alignment=alignment,
        electrodes=[f"E{e}" for e in range(E)],
        n_bins=nb,
        scores=scores,
        Y=Y,
        folds=folds,
        swaps=block_swaps(n, 99, block=5, seed=seed),
    )


KINDS = ["multimodal"] * 3 + ["vision"] * 2 + ["language"] * 2 + ["none"]


@pytest.fixture(scope="module")
def planted():
    units = [simulate_unit(KINDS, 1, "language"), simulate_unit(KINDS, 2, "vision")]
    comps = build_comparisons(units, MODELS, min_signal_bins=MIN_BINS)
    return units, comps


def test_comparisons_table_contract(planted):
    _, comps = planted
    assert list(comps.columns) == COMPARISON_COLUMNS
    assert set(comps["test"]) == {
        "trained_vs_random",
        "multimodal_vs_vision",
        "multimodal_vs_language",
        "multimodal_vs_multiconcat",
        "slip_combo_vs_simclr",
    }
    # One row per (subject, electrode, alignment, test) here (one trained model has a twin).
    assert not comps.duplicated(["subject", "electrode", "alignment", "test"]).any()
    tested = comps["p_value"].notna()
    assert (comps.loc[~tested, "q_value"].isna()).all()
    assert (comps.loc[tested, "q_value"] >= comps.loc[tested, "p_value"]).all()
    assert np.allclose(comps["delta"], comps["score_a"] - comps["score_b"], equal_nan=True)


def test_planted_multimodal_electrodes_are_found(planted):
    units, comps = planted
    sites = build_sites(comps, units, MODELS, min_signal_bins=MIN_BINS)
    assert list(sites.columns) == SITE_COLUMNS
    mm = sites["electrode"].isin(["E0", "E1", "E2"])
    assert sites.loc[mm, "multimodal_strict"].all()
    assert not sites.loc[~mm, "multimodal_language"].any()
    assert not sites.loc[~mm, "multimodal_vision"].any()
    assert (sites.loc[mm, "best_model_language"] == "mm").all()
    # Found by significant tests, not by default wins.
    rule = comps[comps["electrode"].isin(["E0", "E1", "E2"]) & comps["test"].str.startswith("multimodal_vs")]
    assert rule["p_value"].notna().all() and rule["significant"].all()
    # The vision-driven electrodes: best model is vision or a tie-winner, never the random twin.
    assert not sites["best_model_language"].isin(["mm-rand", "concat"]).any()
    truth = pd.DataFrame({"subject": "1", "electrode": [f"E{e}" for e in range(8)], "kind": KINDS})
    rec = demo_recovery(sites, truth)
    assert rec["precision"] == 1.0 and rec["recall"] == 1.0
    assert rec["false_positive_rate"] == {"none": 0.0, "vision": 0.0, "language": 0.0}
    summary = summarize(sites, comps)
    json.dumps(summary)  # JSON-serialisable
    assert summary["n_electrodes"] == 8
    assert summary["tests"]["site_strict"]["n_multimodal"] == 3
    assert summary["subjects"]["1"]["tests"]["site_strict"]["percent_multimodal"] == 37.5
    # The random twin loses at the electrodes that carry signal.
    tvr = comps[(comps["test"] == "trained_vs_random") & comps["electrode"].isin(["E0", "E1"])]
    assert tvr["a_wins"].all()


def test_no_planted_effect_calls_at_most_the_fdr_level():
    kinds = ["multimodal"] * 12
    rates = []
    for seed in (11, 12, 13):
        unit = simulate_unit(kinds, seed, shared=True)
        comps = build_comparisons(
            [unit], MODELS, tests=["multimodal_vs_vision", "multimodal_vs_language"], min_signal_bins=MIN_BINS
        )
        assert comps["p_value"].notna().all()  # all tested, no default winners
        sites = build_sites(comps, [unit], MODELS, min_signal_bins=MIN_BINS)
        rates.append(sites["multimodal_language"].mean())
    assert np.mean(rates) <= 0.05


def test_bootstrap_comparisons_find_the_same_sites(planted):
    units, _ = planted
    comps = build_comparisons(units, MODELS, comparison="bootstrap", min_signal_bins=MIN_BINS)
    sites = build_sites(comps, units, MODELS, min_signal_bins=MIN_BINS)
    mm = sites["electrode"].isin(["E0", "E1", "E2"])
    assert sites.loc[mm, "multimodal_strict"].all()
    assert not sites.loc[~mm, ["multimodal_language", "multimodal_vision"]].any().any()
    with pytest.raises(ValueError, match="bootstrapped test r"):
        units_nb = [
            Unit(
                u.subject,
                u.alignment,
                u.electrodes,
                u.n_bins,
                {k: ModelScores(v.test_r, v.signal, v.val_r) for k, v in u.scores.items()},
                folds=u.folds,
            )
            for u in units
        ]
        build_comparisons(units_nb, MODELS, comparison="bootstrap", min_signal_bins=MIN_BINS)


def test_electrodes_table_fills_regions(planted):
    units, comps = planted
    el = pd.DataFrame(
        {
            "subject": [1, 1],
            "electrode": ["E0", "E3"],
            "hemisphere": ["left", "right"],
            "region": ["superiortemporal", "insula"],
            "x": [1.0, 2.0],
            "y": [0.0, 0.0],
            "z": [3.0, 4.0],
        }
    )
    sites = build_sites(comps, units, MODELS, electrodes=el, min_signal_bins=MIN_BINS)
    row = sites.set_index("electrode")
    assert row.loc["E0", "region"] == "superiortemporal" and row.loc["E3", "z"] == 4.0
    assert row.loc["E5", "region"] == "" and np.isnan(row.loc["E5", "x"])
    with pytest.raises(ValueError, match="lacks columns"):
        build_sites(comps, units, MODELS, electrodes=el.drop(columns="region"))


def test_missing_models_error_or_skip(caplog):
    unit = simulate_unit(["none", "vision"], 3)
    no_baseline = [m for m in MODELS if m.baseline is None]
    with pytest.raises(ValueError, match="multimodal_vs_multilin.*multilin"):
        build_comparisons([unit], no_baseline, tests=["multimodal_vs_multilin"])
    with caplog.at_level("WARNING"):
        comps = build_comparisons([unit], no_baseline)
    assert "skipping test multimodal_vs_multiconcat" in caplog.text
    assert "multimodal_vs_multiconcat" not in set(comps["test"])
    with pytest.raises(ValueError, match="random twin 'ghost'"):
        build_comparisons(
            [unit], [ModelInfo("vis", "vision", random_twin="ghost")], tests=["trained_vs_random"]
        )
    bad = Unit(unit.subject, unit.alignment, unit.electrodes, unit.n_bins + 1, unit.scores)
    with pytest.raises(ValueError, match="model mm: test_r has shape"):
        build_comparisons([bad], MODELS)
    with pytest.raises(ValueError, match="no scores for models"):
        build_comparisons([unit], MODELS + [ModelInfo("extra", "vision")])


def test_site_p_is_the_intersection_union_p_corrected_once(planted):
    from mmsites.stats.fdr import fdr_bh

    units, comps = planted
    sites = build_sites(comps, units, MODELS, min_signal_bins=MIN_BINS, fdr_q=0.05)
    rule = ("multimodal_vs_vision", "multimodal_vs_language", "multimodal_vs_multiconcat")
    for al in ("language", "vision"):
        c = comps[(comps["alignment"] == al) & comps["test"].isin(rule)]
        p_max = c.groupby("electrode")["p_value"].max()
        complete = c.groupby("electrode")["p_value"].apply(lambda p: p.notna().all() and len(p) == 3)
        got = sites.set_index("electrode")[f"p_site_{al}"]
        for el in got.index:
            if complete.get(el, False):
                assert got[el] == p_max[el]
            else:
                assert np.isnan(got[el])
        # One BH over the site p-values, not an AND of separately corrected tests.
        q, sig = fdr_bh(sites[f"p_site_{al}"].to_numpy(), 0.05)
        np.testing.assert_allclose(sites[f"q_site_{al}"], q, equal_nan=True)
        np.testing.assert_array_equal(sites[f"multimodal_{al}"], sig)
    strict = np.maximum(sites["p_site_language"], sites["p_site_vision"])
    np.testing.assert_allclose(sites["p_site_strict"], strict, equal_nan=True)
    np.testing.assert_array_equal(sites["multimodal_strict"], fdr_bh(strict.to_numpy(), 0.05)[1])


def test_best_models_are_chosen_on_validation_scores():
    """A model that is best on the test halves but worse on validation is not named best."""
    unit = simulate_unit(["multimodal"] * 3 + ["vision"] * 2, 21)
    mm = unit.scores["mm"]
    # A second multimodal model: same signal, worse validation r, better test r.
    unit.scores["mm2"] = ModelScores(
        test_r=mm.test_r + 0.2, signal=mm.signal, val_r=mm.val_r - 0.2, predictions=mm.predictions
    )
    models = MODELS + [ModelInfo("mm2", "multimodal")]
    comps = build_comparisons([unit], models, tests=["multimodal_vs_vision"], min_signal_bins=MIN_BINS)
    sites = build_sites(comps, [unit], models, min_signal_bins=MIN_BINS)
    assert "mm2" not in set(comps["model_a"]) and "mm2" not in set(sites["best_model_language"])
    assert comps[["val_score_a", "val_score_b"]].notna().any().all()
    # Swap the roles: now mm2 is better on validation and must be chosen.
    unit.scores["mm2"] = ModelScores(
        test_r=mm.test_r - 0.2, signal=mm.signal, val_r=mm.val_r + 0.2, predictions=mm.predictions
    )
    comps = build_comparisons([unit], models, tests=["multimodal_vs_vision"], min_signal_bins=MIN_BINS)
    assert set(comps.loc[comps["electrode"].isin(["E0", "E1", "E2"]), "model_a"]) == {"mm2"}


@pytest.mark.parametrize("rule", ["test", "count", "none"])
def test_default_winner_is_forwarded(rule):
    unit = simulate_unit(["vision", "vision", "multimodal"], 31)
    # The language model gets no signal bins anywhere: only one side of each pair is eligible.
    s = unit.scores["lang"]
    unit.scores["lang"] = ModelScores(s.test_r, np.zeros_like(s.signal), s.val_r, predictions=s.predictions)
    comps = build_comparisons(
        [unit], MODELS, tests=["multimodal_vs_language"], min_signal_bins=MIN_BINS, default_winner=rule
    )
    eligible = comps["n_signal_a"] >= MIN_BINS
    assert eligible.any()
    if rule == "test":
        assert comps.loc[eligible, "p_value"].notna().all() and (comps["default_winner"] == "").all()
    elif rule == "count":
        assert comps.loc[eligible, "p_value"].isna().all()
        assert (comps.loc[eligible, "default_winner"] == comps.loc[eligible, "model_a"]).all()
        assert comps.loc[eligible, "a_wins"].all()
    else:
        assert comps["p_value"].isna().all() and not comps["a_wins"].any()


# ------------------------------------------------------------------ demo recovery by response kind
#: A demo truth with every kind: two electrodes of each, A-L.
_TRUTH = pd.DataFrame(
    {
        "subject": [1] * 6 + [2] * 6,
        "electrode": list("ABCDEFGHIJKL"),
        "kind": ["multimodal", "highgamma", "none", "vision", "language", "none"] * 2,
    }
)


def _called(*electrodes):
    sites = _TRUTH[["subject", "electrode"]].copy()
    sites["multimodal_strict"] = sites["electrode"].isin(electrodes)
    return sites


def test_demo_recovery_scores_the_kinds_the_responses_can_see():
    """Voltage responses count the multimodal electrodes as planted, band power the highgamma
    ones; every other kind gets its false-positive rate, the other one's included."""
    from mmsites.constants import MULTIMODAL_KINDS

    # a voltage run: both multimodal electrodes found, the highgamma ones unseen
    voltage = demo_recovery(_called("A", "G"), _TRUTH, multimodal_kinds=MULTIMODAL_KINDS["voltage"])
    assert voltage["multimodal_kinds"] == ["multimodal"]
    assert (voltage["precision"], voltage["recall"], voltage["n_true"], voltage["n_called"]) == (
        1.0,
        1.0,
        2,
        2,
    )
    assert voltage["false_positive_rate"] == {"none": 0.0, "vision": 0.0, "language": 0.0, "highgamma": 0.0}
    assert list(voltage["false_positive_rate"]) == ["none", "vision", "language", "highgamma"]
    # the same calls scored for a band-power run: nothing planted found, multimodal called
    band = demo_recovery(_called("A", "G"), _TRUTH, multimodal_kinds=MULTIMODAL_KINDS["band_power"])
    assert band["multimodal_kinds"] == ["highgamma"]
    assert (band["precision"], band["recall"], band["n_true"]) == (0.0, 0.0, 2)
    assert band["false_positive_rate"] == {"none": 0.0, "vision": 0.0, "language": 0.0, "multimodal": 1.0}
    # a band-power run that finds one highgamma electrode and calls one none electrode
    band = demo_recovery(_called("B", "C"), _TRUTH, multimodal_kinds=("highgamma",))
    assert (band["precision"], band["recall"], band["n_called"]) == (0.5, 0.5, 2)
    assert band["false_positive_rate"]["none"] == 0.25 and band["false_positive_rate"]["multimodal"] == 0.0
    # both kinds at once; the default is the voltage one
    both = demo_recovery(_called("A", "B", "G", "H"), _TRUTH, multimodal_kinds=("multimodal", "highgamma"))
    assert (both["precision"], both["recall"], both["n_true"]) == (1.0, 1.0, 4)
    assert set(both["false_positive_rate"]) == {"none", "vision", "language"}
    assert demo_recovery(_called("A", "G"), _TRUTH) == voltage
    # the site column is honoured and a string is one kind
    sites = _called("B").rename(columns={"multimodal_strict": "multimodal_language"})
    rec = demo_recovery(sites, _TRUTH, column="multimodal_language", multimodal_kinds="highgamma")
    assert rec["column"] == "multimodal_language" and rec["recall"] == 0.5 and rec["precision"] == 1.0


def test_demo_recovery_without_highgamma_electrodes_reports_the_old_kinds():
    """A truth without highgamma (an older demo) keeps the old keys: none, vision, language."""
    old = _TRUTH[_TRUTH["kind"] != "highgamma"]
    rec = demo_recovery(_called("A"), old)
    assert rec["false_positive_rate"] == {"none": 0.0, "vision": 0.0, "language": 0.0}
    assert rec["recall"] == 0.5 and rec["precision"] == 1.0
    # band power on such a demo: nothing is planted for it; NaN-free
    band = demo_recovery(_called("A"), old, multimodal_kinds=("highgamma",))
    assert (band["precision"], band["recall"], band["n_true"]) == (0.0, 0.0, 0)
    assert band["false_positive_rate"]["multimodal"] == 0.5


@pytest.mark.parametrize(
    "kinds, match",
    [((), "multimodal_kinds"), (("gamma",), "multimodal_kinds"), (("none",), "multimodal_kinds")],
)
def test_demo_recovery_refuses_unknown_kinds(kinds, match):
    with pytest.raises(ValueError, match=match):
        demo_recovery(_called("A"), _TRUTH, multimodal_kinds=kinds)
    with pytest.raises(ValueError, match="unknown kinds"):
        demo_recovery(_called("A"), _TRUTH.assign(kind="gamma"))


def test_stats_stage_scores_the_demo_by_the_response_kind(tmp_path, monkeypatch):
    """The stats stage tests each of responses.kinds and writes, per kind, the kinds it
    counted as planted into demo_recovery.json, and a response_kind column into the tables."""
    import mmsites.pipeline.stages.stats as stage
    from mmsites.pipeline.params import Params

    (tmp_path / "data").mkdir()
    _TRUTH.to_csv(tmp_path / "data" / "truth.csv", index=False)
    sites = _called("A", "B", "G")
    for name in ("multimodal_language", "multimodal_vision"):
        sites[name] = sites["multimodal_strict"]
    # the stage's own recovery code on these sites: no responses, scores or comparisons needed
    monkeypatch.setattr(stage, "load_unit", lambda *args: None)
    monkeypatch.setattr(stage, "build_comparisons", lambda *args, **kwargs: pd.DataFrame())
    monkeypatch.setattr(stage, "build_sites", lambda *args, **kwargs: sites.copy())
    monkeypatch.setattr(stage, "summarize", lambda *args: {"tests": {}})
    params = Params.model_validate(
        {
            "data": {"format": "demo", "root": "data", "subjects": [1, 2]},
            "responses": {"kinds": ["voltage", "band_power", "brainbert"]},
        }
    )
    stage.run(params, tmp_path)
    recovery = json.loads((tmp_path / "results" / "demo_recovery.json").read_text())
    assert set(recovery) == {"voltage", "band_power", "brainbert"}
    for kind, planted, recall, precision in (
        ("voltage", ["multimodal"], 1.0, 2 / 3),
        ("band_power", ["highgamma"], 0.5, 1 / 3),
        ("brainbert", ["highgamma"], 0.5, 1 / 3),
    ):
        assert set(recovery[kind]) == {"multimodal_language", "multimodal_vision", "multimodal_strict"}
        for rec in recovery[kind].values():
            assert rec["multimodal_kinds"] == planted
            assert rec["recall"] == pytest.approx(recall) and rec["precision"] == pytest.approx(precision)
            assert not set(planted) & set(rec["false_positive_rate"])
    written = pd.read_csv(tmp_path / "results" / "sites.csv")
    assert list(written["response_kind"]) == [
        k for k in ("voltage", "band_power", "brainbert") for _ in sites.index
    ]
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert set(summary) == {"voltage", "band_power", "brainbert"}
