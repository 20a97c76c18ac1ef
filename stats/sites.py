"""Test families and the multimodal-site rules.

Inputs are plain objects: a :class:`ModelInfo` per model (the pipeline maps ``params.models``
and ``params.baselines`` onto them) and a :class:`Unit` per (subject, alignment) holding every
model's :class:`ModelScores` there. Outputs are the contract tables of ``docs/architecture.md``:
``results/comparisons.csv`` (:func:`build_comparisons`), ``results/sites.csv``
(:func:`build_sites`), ``results/summary.json`` (:func:`summarize`) and
``results/demo_recovery.json`` (:func:`demo_recovery`).

Choose on validation, test on test
    Signal bins come from the validation r (the encode stage); the *best* model of a family
    at an electrode is the one with the highest **validation** electrode score (mean
    validation r over its signal bins) among the family's models with at least
    ``min_signal_bins`` signal bins; the reported scores (``score_a``, ``score_b``) and
    every test use the test halves only. Choosing on the test data and then testing on it
    inflates scores and false positives (best of 7 equal models vs one baseline gave
    p < 0.05 in 21 % of null cases). The validation scores are in the table too
    (``val_score_a``, ``val_score_b``).

Families and "best" models
    Trained models (not random, not a linear baseline) form three families by what they
    were trained on: vision, language, multimodal. A family with no eligible model at an
    electrode is represented there by its member with the most signal bins (for the scores
    and the default-winner rule). Random twins and the baselines never compete for "best":
    they appear only in their own tests.

Tests (the ``test`` column; ``model_a`` is the one that should win)
    ``trained_vs_random``: every trained model that declares a random twin, against it.
    ``multimodal_vs_vision`` / ``multimodal_vs_language``: best multimodal vs best vision /
    best language model. ``multimodal_vs_multiconcat`` / ``multimodal_vs_multilin``: best
    multimodal vs the MultiConcat / MultiLin baseline (the best one if several).
    ``slip_combo_vs_simclr``: SLIP-Combo vs SLIP-SimCLR (the same architecture and data,
    only the training modality differs; best of each role if several).

Winning (the ``a_wins`` column)
    Model a wins where its comparison is FDR-significant (the test is one-sided, "a beats
    b"). With ``default_winner="count"`` (the released code's rule) it also wins by default
    where it has ``min_signal_bins`` signal bins and model b (or b's whole family) does not
    (such rows have ``p_value`` NaN, ``default_winner`` = a's id, and stay out of the FDR);
    the default, ``"test"``, tests such pairs instead (:mod:`mmsites.stats.compare`).

FDR
    Benjamini–Hochberg across electrodes of all subjects, per alignment and test (and per
    model pair for ``trained_vs_random``, one family per trained model): the ``q_value``
    and ``significant`` columns, which describe each comparison on its own.

Sites (``results/sites.csv``): one FDR for the site rule
    A site needs several comparisons at once. Its p-value is the intersection–union p, the
    largest of its components' p-values (Berger 1982: the rule "all components reject" is
    a level-alpha test when each component is), and the site p-values are corrected once:
    ``multimodal_<alignment>`` (weak) is BH over the electrodes of all subjects of
    ``p_site_<alignment>`` = max of the p-values of best multimodal vs best vision, vs best
    language, and, when the non-linear tests are part of the rule (``nonlinear=True``) and
    were run, vs MultiConcat and vs MultiLin. ``multimodal_strict`` is BH once over
    ``p_site_strict`` = the larger of the two alignments' site p-values. So the site calls
    themselves hold the stated FDR (an AND of separately corrected tests would not).
    A component that model a lost by default (``default_winner="count"``) or that was not
    tested makes the electrode no site (p NaN, outside the family); a default win counts as
    p = 0, which is the released code's untested rule and is not FDR-controlled.
    ``slip_<alignment>``: SLIP-Combo beats SLIP-SimCLR in that alignment (its own BH).
    ``signal_bins_<alignment>``: the most signal bins any trained model has there;
    ``best_model_<alignment>``: the trained model with the best electrode score (eligible
    models only; empty when none is).

Missing models
    A test that lacks a model it needs raises ``ValueError`` naming the test and the model
    when the test was asked for (``tests=``), and is skipped with a logged warning when it
    was not (``tests=None``: run what the models allow).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mmsites.constants import ALIGNMENTS, ELECTRODE_KINDS

from .compare import check_swap_resolution, compare_models, cv_inflation, electrode_scores
from .fdr import fdr_bh

logger = logging.getLogger(__name__)

__all__ = [
    "ModelInfo",
    "ModelScores",
    "Unit",
    "TESTS",
    "ALIGNMENTS",
    "COMPARISON_COLUMNS",
    "SITE_COLUMNS",
    "build_comparisons",
    "build_sites",
    "summarize",
    "demo_recovery",
]

TESTS = (
    "trained_vs_random",
    "multimodal_vs_vision",
    "multimodal_vs_language",
    "multimodal_vs_multiconcat",
    "multimodal_vs_multilin",
    "slip_combo_vs_simclr",
)
COMPARISON_COLUMNS = [
    "subject",
    "electrode",
    "alignment",
    "test",
    "model_a",
    "model_b",
    "score_a",
    "score_b",
    "delta",
    "p_value",
    "q_value",
    "significant",
    "val_score_a",
    "val_score_b",
    "n_signal_a",
    "n_signal_b",
    "default_winner",
    "a_wins",
]
SITE_COLUMNS = [
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


@dataclass(frozen=True)
class ModelInfo:
    """What the tests need to know about one model.

    Attributes
    ----------
    id : str
        Unique model id (the key of :attr:`Unit.scores` and the ``model_a``/``model_b``
        values of the tables).
    trained_on : {"vision", "language", "multimodal"}
        What the model was trained on: its family.
    random : bool
        A randomly initialised twin (never "best").
    random_twin : str or None
        Id of this trained model's random twin.
    baseline : {"multiconcat", "multilin"} or None
        A linear-integration baseline (never "best").
    slip_role : {"combo", "simclr", "clip"} or None
        Role in the controlled SLIP comparison.
    """

    id: str
    trained_on: str
    random: bool = False
    random_twin: str | None = None
    baseline: str | None = None
    slip_role: str | None = None

    def __post_init__(self):
        if self.trained_on not in ("vision", "language", "multimodal"):
            raise ValueError(
                f"model {self.id!r}: trained_on must be vision, language or "
                f"multimodal, got {self.trained_on!r}"
            )
        if self.baseline not in (None, "multiconcat", "multilin"):
            raise ValueError(
                f"model {self.id!r}: baseline must be multiconcat or multilin, got {self.baseline!r}"
            )

    @property
    def competes(self) -> bool:
        """Whether the model competes for a family's "best".

        Returns
        -------
        bool
            True for a trained encoder (not a random twin, not a baseline).
        """
        return not self.random and self.baseline is None


@dataclass
class ModelScores:
    """One model's results for one (subject, alignment).

    Attributes
    ----------
    test_r : array, shape (n_electrodes * n_bins,)
        Observed fold-averaged test r, electrode-major.
    signal : bool array, shape (n_electrodes * n_bins,)
        Signal bins (:func:`mmsites.stats.signal.signal_bins`), chosen on validation data.
    val_r : array, shape (n_electrodes * n_bins,)
        Fold-averaged validation r: a family's best model is chosen on it.
    predictions : array, shape (n_events, n_electrodes * n_bins), optional
        Out-of-fold predictions, for ``comparison="permutation"``.
    test_r_boot : array, shape (n_boot, n_electrodes * n_bins), optional
        Bootstrapped test r on the unit's shared resamples, for ``comparison="bootstrap"``.
    """

    test_r: np.ndarray
    signal: np.ndarray
    val_r: np.ndarray
    predictions: np.ndarray | None = None
    test_r_boot: np.ndarray | None = None


@dataclass
class Unit:
    """Everything the comparisons need for one (subject, alignment).

    Attributes
    ----------
    subject : str
        Subject id (the ``subject`` column of the tables).
    alignment : {"language", "vision"}
        Event alignment (:data:`mmsites.constants.ALIGNMENTS`).
    electrodes : list of str, length n_electrodes
        Electrode names, in the order of the targets (electrode-major).
    n_bins : int
        Time bins per electrode.
    scores : dict of model id → ModelScores
        Every model's results for this unit.
    Y : array, shape (n_events, n_electrodes * n_bins), optional
        Responses (permutation comparisons).
    folds : sequence of Fold, optional
        The folds every model was cross-validated on; needed by permutation comparisons and
        the ``cv_correction`` of :func:`build_comparisons`.
    swaps : bool array, shape (n_perm, n_events), optional
        :func:`mmsites.stats.resampling.block_swaps`, shared by all comparisons of the unit.
    """

    subject: str
    alignment: str
    electrodes: Sequence[str]
    n_bins: int
    scores: dict = field(default_factory=dict)
    Y: np.ndarray | None = None
    folds: Sequence | None = None
    swaps: np.ndarray | None = None


def _members(models, pred) -> list[str]:
    return [m.id for m in models if pred(m)]


def _best(unit: Unit, ids: Sequence[str], min_signal_bins: int):
    """Per electrode: id of the best eligible model ('' where none is eligible), shape (E,).

    "Best" is the highest validation electrode score: the choice never sees test data.
    """
    E = len(unit.electrodes)
    best_id = np.full(E, "", dtype=object)
    best_score = np.full(E, -np.inf)
    for mid in ids:
        s = unit.scores[mid]
        score, n = electrode_scores(s.val_r, s.signal, unit.n_bins)
        better = (n >= min_signal_bins) & (score > best_score)
        best_id[better] = mid
        best_score[better] = score[better]
    return best_id


def _pair_rows(
    unit: Unit,
    test: str,
    ids_a,
    ids_b,
    *,
    min_signal_bins,
    method,
    device,
    default_winner="test",
    tail_fit=True,
    inflation=1.0,
):
    """Comparison rows of best-of-``ids_a`` vs best-of-``ids_b`` at every electrode."""
    nb = unit.n_bins
    best_a = _best(unit, ids_a, min_signal_bins)
    best_b = _best(unit, ids_b, min_signal_bins)

    # With no eligible model, a family is still represented (for the scores and the
    # default-winner rule) by its member with the most signal bins.
    def fallback(ids):
        counts = np.stack(
            [electrode_scores(unit.scores[i].test_r, unit.scores[i].signal, nb)[1] for i in ids]
        )
        return np.asarray(ids, dtype=object)[counts.argmax(0)]

    best_a = np.where(best_a == "", fallback(ids_a), best_a)
    best_b = np.where(best_b == "", fallback(ids_b), best_b)
    frames = []
    for a, b in sorted(set(zip(best_a, best_b))):
        el = np.flatnonzero((best_a == a) & (best_b == b))
        cols = (el[:, None] * nb + np.arange(nb)).ravel()
        sa, sb = unit.scores[a], unit.scores[b]

        def sub(x, cols=cols):
            """This pair's electrodes' targets (last axis) of an optional array."""
            return None if x is None else np.asarray(x)[..., cols]

        df = compare_models(
            sub(sa.test_r),
            sub(sb.test_r),
            sub(sa.signal),
            sub(sb.signal),
            nb,
            min_signal_bins=min_signal_bins,
            method=method,
            pred_a=sub(sa.predictions),
            pred_b=sub(sb.predictions),
            Y=sub(unit.Y),
            folds=unit.folds,
            swaps=unit.swaps,
            test_r_boot_a=sub(sa.test_r_boot),
            test_r_boot_b=sub(sb.test_r_boot),
            default_winner=default_winner,
            val_r_a=sub(sa.val_r),
            val_r_b=sub(sb.val_r),
            tail_fit=tail_fit,
            inflation=inflation,
            device=device,
        )
        df["default_winner"] = df["default_winner"].map({"a": a, "b": b, "": ""})
        df.insert(0, "model_b", b)
        df.insert(0, "model_a", a)
        df.insert(0, "electrode", np.asarray(unit.electrodes, dtype=object)[el])
        df.index = el
        frames.append(df)
    out = pd.concat(frames).sort_index()
    out.insert(0, "test", test)
    out.insert(0, "alignment", unit.alignment)
    out.insert(0, "subject", unit.subject)
    return out


def _require(test, ids, what, asked):
    if ids:
        return True
    if asked:
        raise ValueError(
            f"test {test!r} needs {what}, but `models` has none: add its ModelInfo to "
            f"`models` or leave the test out of `tests`"
        )
    logger.warning("skipping test %s: it needs %s, and `models` has none", test, what)
    return False


def build_comparisons(
    units: Sequence[Unit],
    models: Sequence[ModelInfo],
    *,
    tests: Sequence[str] | None = None,
    comparison: str = "permutation",
    min_signal_bins: int = 10,
    fdr_q: float = 0.05,
    default_winner: str = "test",
    tail_fit: bool = True,
    cv_correction: bool = True,
    device: str = "cpu",
) -> pd.DataFrame:
    """The comparisons table (``results/comparisons.csv``) for all units.

    Parameters
    ----------
    units : sequence of Unit
        One per (subject, alignment); every model of ``models`` must have scores in each,
        with ``test_r``, ``signal`` and ``val_r`` of n_electrodes * n_bins targets.
    models : sequence of ModelInfo
        Every model, with unique ids; random twins named by ``random_twin`` must be among
        them.
    tests : sequence of str, optional
        Tests to run (a subset of :data:`TESTS`); a missing model is then an error. ``None``
        runs every test the models allow and logs a warning for the others.
    comparison : {"permutation", "bootstrap"}
        How p-values are computed (:func:`mmsites.stats.compare.compare_models`).
    min_signal_bins : int, default 10
        Signal bins a model needs at an electrode to be eligible as a family's best and to
        be tested (:func:`mmsites.stats.compare.compare_models`).
    fdr_q : float, default 0.05
        Benjamini–Hochberg level of each family of comparisons, in (0, 1).
    default_winner : {"test", "count", "none"}, default "test"
        When only one model of a pair has enough signal bins: test the pair anyway (default),
        let it win untested (the released code), or skip it (:mod:`mmsites.stats.compare`).
    tail_fit : bool
        Generalized Pareto tail estimates for paired permutation p-values beyond the floor
        (:func:`mmsites.stats.pvalues.tail_pvalues`).
    cv_correction : bool, default True
        Correct the paired tests for the correlation of the folds' scores (Nadeau–Bengio
        variance inflation, :func:`mmsites.stats.compare.cv_inflation`); needs ``unit.folds``.
    device : str or torch.device, default "cpu"
        Device of the paired permutation nulls: ``"cpu"``, ``"cuda"`` or ``"auto"``.

    Returns
    -------
    table : DataFrame
        One row per (unit, test, model pair, electrode). Columns
        :data:`COMPARISON_COLUMNS`: the contract columns, then ``val_score_a,
        val_score_b`` (validation scores, descriptive), ``n_signal_a, n_signal_b,
        default_winner`` (model id or ""), ``a_wins``.

    Raises
    ------
    ValueError
        If ``tests`` names an unknown test or one whose models are missing, model ids repeat,
        a random twin is not among the models, a unit lacks a model's scores or has scores
        of the wrong shape, ``cv_correction`` is asked without ``unit.folds``, or the
        arguments of the comparison method are missing.
    """
    asked = tests is not None
    tests = list(TESTS if tests is None else tests)
    unknown = sorted(set(tests) - set(TESTS))
    if unknown:
        raise ValueError(f"unknown tests {unknown}; choose from {list(TESTS)}")
    by_id = {m.id: m for m in models}
    if len(by_id) != len(models):
        raise ValueError("model ids must be unique")
    fam = {
        k: _members(models, lambda m, k=k: m.competes and m.trained_on == k)
        for k in ("vision", "language", "multimodal")
    }
    base = {k: _members(models, lambda m, k=k: m.baseline == k) for k in ("multiconcat", "multilin")}
    slip = {k: _members(models, lambda m, k=k: m.competes and m.slip_role == k) for k in ("combo", "simclr")}
    plan = []  # (test, ids_a, ids_b)
    for test in tests:
        if test == "trained_vs_random":
            pairs = [(m.id, m.random_twin) for m in models if m.competes and m.random_twin]
            if _require(test, pairs, "a trained model with a random_twin", asked):
                for a, b in pairs:
                    if b not in by_id:
                        raise ValueError(
                            f"test 'trained_vs_random': model {a!r} names random twin "
                            f"{b!r}, which is not among the models"
                        )
                    plan.append((test, [a], [b]))
        elif test in ("multimodal_vs_vision", "multimodal_vs_language"):
            other = test.split("_")[-1]
            if _require(test, fam["multimodal"], "a trained multimodal model", asked) and _require(
                test, fam[other], f"a trained {other} model", asked
            ):
                plan.append((test, fam["multimodal"], fam[other]))
        elif test in ("multimodal_vs_multiconcat", "multimodal_vs_multilin"):
            kind = test.split("_")[-1]
            if _require(test, fam["multimodal"], "a trained multimodal model", asked) and _require(
                test, base[kind], f"a {kind} baseline", asked
            ):
                plan.append((test, fam["multimodal"], base[kind]))
        elif test == "slip_combo_vs_simclr":
            if _require(test, slip["combo"], "a model with slip_role 'combo'", asked) and _require(
                test, slip["simclr"], "a model with slip_role 'simclr'", asked
            ):
                plan.append((test, slip["combo"], slip["simclr"]))
    frames = []
    for unit in units:
        missing = sorted(set(by_id) - set(unit.scores))
        if missing:
            raise ValueError(
                f"subject {unit.subject}, alignment {unit.alignment}: no scores for models {missing}"
            )
        T = len(unit.electrodes) * unit.n_bins
        for mid, sc in unit.scores.items():
            for what, arr in (("test_r", sc.test_r), ("signal", sc.signal), ("val_r", sc.val_r)):
                if np.shape(arr) != (T,):
                    raise ValueError(
                        f"subject {unit.subject}, alignment {unit.alignment}, model {mid}: {what} "
                        f"has shape {np.shape(arr)} but {len(unit.electrodes)} electrodes x "
                        f"{unit.n_bins} bins make ({T},)"
                    )
        if comparison == "permutation" and plan and unit.swaps is not None and unit.folds is not None:
            check_swap_resolution(unit.swaps, unit.folds)  # once per unit, not per pair
        if cv_correction and plan and unit.folds is None:
            raise ValueError(
                f"subject {unit.subject}, alignment {unit.alignment}: cv_correction needs the "
                "unit's folds (Unit.folds)"
            )
        for test, ids_a, ids_b in plan:
            frames.append(
                _pair_rows(
                    unit,
                    test,
                    ids_a,
                    ids_b,
                    min_signal_bins=min_signal_bins,
                    method=comparison,
                    device=device,
                    default_winner=default_winner,
                    tail_fit=tail_fit,
                    inflation=cv_inflation(unit.folds) if cv_correction else 1.0,
                )
            )
    if not frames:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    table = pd.concat(frames, ignore_index=True)
    table["q_value"] = np.nan
    table["significant"] = False
    fam_key = (
        table["test"]
        + "|"
        + table["alignment"]
        + "|"
        + np.where(table["test"] == "trained_vs_random", table["model_a"] + "|" + table["model_b"], "")
    )
    for _, idx in table.groupby(fam_key).groups.items():
        q, sig = fdr_bh(table.loc[idx, "p_value"].to_numpy(), fdr_q)
        table.loc[idx, "q_value"] = q
        table.loc[idx, "significant"] = sig
    table["significant"] = table["significant"].astype(bool)
    table["a_wins"] = table["significant"] | (table["default_winner"] == table["model_a"])
    return table[COMPARISON_COLUMNS]


def build_sites(
    comparisons: pd.DataFrame,
    units: Sequence[Unit],
    models: Sequence[ModelInfo],
    *,
    electrodes: pd.DataFrame | None = None,
    min_signal_bins: int = 10,
    nonlinear: bool = True,
    fdr_q: float = 0.05,
) -> pd.DataFrame:
    """The sites table (``results/sites.csv``), one row per (subject, electrode).

    Parameters
    ----------
    comparisons : DataFrame
        From :func:`build_comparisons`.
    units : sequence of Unit
        The units the comparisons were built from (signal-bin counts and best models per
        electrode); each alignment one of :data:`mmsites.constants.ALIGNMENTS`.
    models : sequence of ModelInfo
        The models of ``units``; only competing (trained) models count for
        ``signal_bins_*`` and ``best_model_*``.
    electrodes : DataFrame, optional
        ``subject, electrode, hemisphere, region, x, y, z`` (``results/electrodes.csv``);
        the region columns stay empty without it.
    min_signal_bins : int, default 10
        Signal bins a model needs at an electrode to be its ``best_model_*``.
    nonlinear : bool, default True
        Whether the site rule also needs the multimodal model to beat MultiConcat and
        MultiLin (where those tests were run).
    fdr_q : float, default 0.05
        FDR level of the site calls (one BH per alignment, one for strict), in (0, 1).

    Returns
    -------
    sites : DataFrame
        One row per (subject, electrode), columns :data:`SITE_COLUMNS` (module docstring);
        empty with these columns when there are no electrodes.

    Raises
    ------
    ValueError
        If a unit's alignment is unknown or ``electrodes`` lacks a required column.
    """
    competes = [m.id for m in models if m.competes]
    rows = {}
    for unit in units:
        al = unit.alignment
        if al not in ALIGNMENTS:
            raise ValueError(f"alignment must be one of {ALIGNMENTS}, got {al!r}")
        counts = (
            np.stack(
                [
                    electrode_scores(unit.scores[m].test_r, unit.scores[m].signal, unit.n_bins)[1]
                    for m in competes
                ]
            )
            if competes
            else None
        )
        best = _best(unit, competes, min_signal_bins)
        for e, el in enumerate(unit.electrodes):
            row = rows.setdefault((str(unit.subject), str(el)), {})
            row[f"signal_bins_{al}"] = int(counts[:, e].max()) if counts is not None else 0
            row[f"best_model_{al}"] = best[e]
    wins, comp_p = {}, {}
    if len(comparisons):
        c = comparisons.assign(
            subject=comparisons["subject"].astype(str), electrode=comparisons["electrode"].astype(str)
        )
        # A default win is the released code's untested rule: p = 0 in the site p-value.
        p_comp = np.where(
            c["default_winner"].astype(str) == c["model_a"].astype(str),
            0.0,
            c["p_value"].to_numpy(dtype=float),
        )
        for key, a_wins, p in zip(
            zip(c["subject"], c["electrode"], c["alignment"], c["test"]), c["a_wins"], p_comp
        ):
            wins[key] = wins.get(key, True) and bool(a_wins)
            comp_p[key] = max(comp_p.get(key, -np.inf), p) if np.isfinite(p) else np.nan
    ran = set(comparisons["test"]) if len(comparisons) else set()
    rule = [t for t in ("multimodal_vs_vision", "multimodal_vs_language") if t in ran]
    if nonlinear:
        rule += [t for t in ("multimodal_vs_multiconcat", "multimodal_vs_multilin") if t in ran]
    out = []
    for (subj, el), row in rows.items():
        rec = {"subject": subj, "electrode": el}
        for al in ALIGNMENTS:
            rec[f"signal_bins_{al}"] = row.get(f"signal_bins_{al}", 0)
            rec[f"best_model_{al}"] = row.get(f"best_model_{al}", "")
            parts = [comp_p.get((subj, el, al, t), np.nan) for t in rule]
            rec[f"p_site_{al}"] = max(parts) if parts and np.all(np.isfinite(parts)) else np.nan
            rec[f"slip_{al}"] = wins.get((subj, el, al, "slip_combo_vs_simclr"), False)
        both = [rec["p_site_language"], rec["p_site_vision"]]
        rec["p_site_strict"] = max(both) if np.all(np.isfinite(both)) else np.nan
        out.append(rec)
    for name in ("language", "vision", "strict"):
        p = np.array([r[f"p_site_{name}"] for r in out], dtype=float)
        q, sig = fdr_bh(p, fdr_q) if p.size else (p, p.astype(bool))
        for r, qi, si in zip(out, q, sig):
            r[f"q_site_{name}"] = qi
            r[f"multimodal_{name}"] = bool(si)
    sites = pd.DataFrame(out)
    for col in ("hemisphere", "region", "x", "y", "z"):
        sites[col] = "" if col in ("hemisphere", "region") else np.nan
    if electrodes is not None and len(sites):
        need = {"subject", "electrode", "hemisphere", "region", "x", "y", "z"}
        lacking = sorted(need - set(electrodes.columns))
        if lacking:
            raise ValueError(f"electrodes table lacks columns {lacking}")
        el = electrodes.assign(
            subject=electrodes["subject"].astype(str), electrode=electrodes["electrode"].astype(str)
        )
        el = el.drop_duplicates(["subject", "electrode"]).set_index(["subject", "electrode"])
        key = pd.MultiIndex.from_frame(sites[["subject", "electrode"]])
        for col in ("hemisphere", "region", "x", "y", "z"):
            vals = el[col].reindex(key).to_numpy()
            sites[col] = pd.Series(vals).fillna("" if col in ("hemisphere", "region") else np.nan)
    return sites[SITE_COLUMNS] if len(sites) else pd.DataFrame(columns=SITE_COLUMNS)


def _percent(k: int, n: int) -> float:
    return 100.0 * k / n if n else 0.0


def summarize(sites: pd.DataFrame, comparisons: pd.DataFrame) -> dict:
    """Electrode counts and multimodal percentages (``results/summary.json``).

    For each test and alignment, ``n_multimodal`` counts electrodes where model a wins
    (for ``trained_vs_random``: every trained model beats its twin); the site rules add
    ``site_language``, ``site_vision``, ``site_strict``, ``slip_language`` and
    ``slip_vision``. The same numbers follow per subject under ``subjects``.

    Parameters
    ----------
    sites : DataFrame
        The sites table (:func:`build_sites`), one row per (subject, electrode).
    comparisons : DataFrame
        The comparisons table (:func:`build_comparisons`); may be empty.

    Returns
    -------
    summary : dict
        ``n_electrodes`` and ``tests`` (test or site rule → alignment → ``n_electrodes``,
        ``n_multimodal``, ``percent_multimodal``; the site rules without the alignment
        level), and ``subjects`` (subject id → the same for that subject's electrodes).
        Percentages are of the electrodes in ``sites``; 0 when there are none.
    """

    def block(s: pd.DataFrame, c: pd.DataFrame) -> dict:
        """Counts for one set of electrodes.

        Parameters
        ----------
        s : DataFrame
            Rows of the sites table.
        c : DataFrame
            The comparisons of the same electrodes.

        Returns
        -------
        dict
            ``n_electrodes`` and ``tests``, as described in :func:`summarize`.
        """
        n = int(len(s))
        res = {"n_electrodes": n, "tests": {}}
        if len(c):
            for (test, al), g in c.groupby(["test", "alignment"]):
                k = int(g.groupby(["subject", "electrode"])["a_wins"].all().sum())
                res["tests"].setdefault(test, {})[al] = {
                    "n_electrodes": n,
                    "n_multimodal": k,
                    "percent_multimodal": _percent(k, n),
                }
        rules = {
            "site_language": "multimodal_language",
            "site_vision": "multimodal_vision",
            "site_strict": "multimodal_strict",
            "slip_language": "slip_language",
            "slip_vision": "slip_vision",
        }
        for name, col in rules.items():
            k = int(s[col].astype(bool).sum()) if n else 0
            res["tests"][name] = {"n_electrodes": n, "n_multimodal": k, "percent_multimodal": _percent(k, n)}
        return res

    out = block(sites, comparisons)
    out["subjects"] = {}
    for subj in sorted(sites["subject"].astype(str).unique()):
        cs = comparisons[comparisons["subject"].astype(str) == subj] if len(comparisons) else comparisons
        out["subjects"][subj] = block(sites[sites["subject"].astype(str) == subj], cs)
    return out


def demo_recovery(
    sites: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    column: str = "multimodal_strict",
    multimodal_kinds: Sequence[str] = ("multimodal",),
) -> dict:
    """How well the sites recover the demo's planted truth.

    Parameters
    ----------
    sites : DataFrame
        From :func:`build_sites`.
    truth : DataFrame
        ``subject, electrode, kind`` with kind one of
        :data:`mmsites.constants.ELECTRODE_KINDS` (``data/demo/truth.csv``; ``linear``: the
        demo's ``linear`` null variant, electrodes driven by a linear mix of the visual and
        verbal latents; ``highgamma``: electrodes whose high-gamma power, not their voltage,
        carries the multimodal drive).
    column : str
        Site column counted as "called multimodal" (``multimodal_strict``,
        ``multimodal_language``, ``multimodal_vision``).
    multimodal_kinds : sequence of str
        The kinds that count as planted multimodal for this run: what its responses can see
        (:data:`mmsites.constants.MULTIMODAL_KINDS`): ``("multimodal",)`` for voltage
        responses, ``("highgamma",)`` for band power.

    Returns
    -------
    recovery : dict
        ``column``, ``multimodal_kinds`` (list), ``precision``, ``recall`` (electrodes of
        ``multimodal_kinds`` found / planted), ``n_called``, ``n_true``, and
        ``false_positive_rate`` per other kind (fraction of that kind called multimodal), in
        the order of :data:`~mmsites.constants.ELECTRODE_KINDS`: always ``none``, ``vision``,
        ``language``, and each other kind (``multimodal``, ``linear``, ``highgamma``) that the
        truth holds. NaN-free: an empty denominator gives 0.

    Raises
    ------
    ValueError
        If the truth lacks a column or holds an unknown kind, or ``multimodal_kinds`` is
        empty or names an unknown kind or ``none``.
    """
    lacking = sorted({"subject", "electrode", "kind"} - set(truth.columns))
    if lacking:
        raise ValueError(f"truth table lacks columns {lacking} (expected subject, electrode, kind)")
    bad = sorted(set(truth["kind"].astype(str)) - set(ELECTRODE_KINDS))
    if bad:
        raise ValueError(f"truth table has unknown kinds {bad}; expected {list(ELECTRODE_KINDS)}")
    positive = tuple(
        str(k) for k in ([multimodal_kinds] if isinstance(multimodal_kinds, str) else multimodal_kinds)
    )
    if not positive or not set(positive) <= set(ELECTRODE_KINDS[1:]):
        raise ValueError(
            f"multimodal_kinds must name one or more of {list(ELECTRODE_KINDS[1:])}, got {multimodal_kinds!r}"
        )
    t = truth.assign(subject=truth["subject"].astype(str), electrode=truth["electrode"].astype(str))
    s = sites.assign(subject=sites["subject"].astype(str), electrode=sites["electrode"].astype(str))
    m = t.merge(s[["subject", "electrode", column]], on=["subject", "electrode"], how="left")
    called = m[column].fillna(False).astype(bool)
    is_mm = m["kind"].isin(positive)
    tp = int((called & is_mm).sum())
    n_called, n_true = int(called.sum()), int(is_mm.sum())
    present = set(m["kind"])
    fpr = {}
    for kind in ELECTRODE_KINDS:
        if kind in positive or (kind not in ("none", "vision", "language") and kind not in present):
            continue
        sel = m["kind"] == kind
        fpr[kind] = float(called[sel].mean()) if sel.any() else 0.0
    return {
        "column": column,
        "multimodal_kinds": list(positive),
        "precision": tp / n_called if n_called else 0.0,
        "recall": tp / n_true if n_true else 0.0,
        "n_called": n_called,
        "n_true": n_true,
        "false_positive_rate": fpr,
    }
