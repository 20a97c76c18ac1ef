"""Calibration, measured: false-positive rates of the signal test, the paired comparisons and
the multimodal-site rule on simulated data where the truth is known (issue #8).

Usage: ``python benchmarks/bench_calibration.py [--quick] [--datasets N] [--seed S]
[--workers W] [--json PATH]``

Every shipped combination of ``stats.mode`` (refit | fast) × ``stats.permutation_kind``
(block | circular) × ``stats.comparison`` (permutation | bootstrap) runs the pipeline's recipe
(``stats/__init__.py``, ``pipeline/stages/encode.py``, ``pipeline/stages/stats.py``) on many
simulated datasets per scenario:

1. ``white``     white-noise responses and features (φ = 0);
2. ``ar0.9``     AR(1) responses and features, φ = 0.9;
3. ``ar0.98``    AR(1) responses and features, φ = 0.98;
4. ``sentence``  features constant within "sentences" of 5–15 events, responses white noise
                 plus a slow AR(1) drift (φ = 0.99) of the same variance;
5. ``equal``     responses driven by a *linear* mix of a vision set V and a language set L
                 (population r 0.3–0.5 at half of the electrodes), 7 multimodal models whose
                 features are different random linear mixes of [V, L] (+ 10 % noise),
                 MultiConcat = [V, L], a vision model (V) and a language model (L).

Scenarios 1–4 are null data (responses independent of every feature) with the roster two
vision, two language and two multimodal models, a random twin of one model of each family,
and MultiConcat = [vision 1, language 1]; every site call is false there. In scenario 5 the
multimodal models carry real signal but no more than MultiConcat, so every
``multimodal_language`` site is false too.

Recipe per dataset (one subject, alignment "language"): purged folds
``contiguous_folds(n, 5, times=t, gap_s=4.2)`` on events every 0.3 s; a ``CVEngine`` fit per
model (float64, CPU); permutations drawn once and shared by the models, row 0 the identity —
refit: ``block_permutations`` of ~10 s blocks over all events (kind block or circular), fast:
``fold_permutations(part="both")`` — turned into nulls by ``signal_null`` and p-values by
``SequentialPvalues(h=10)`` fed in chunks of 50 rows, later chunks only for the targets still
open (as ``encode._null_rounds``); signal bins = validation p < 0.05; moving-block
``bootstrap_indices`` within ``fold_segments`` and ``bootstrap_scores`` (refit:
``fit_resampled``; fast: ``fast_bootstrap``); ``block_swaps``; ``build_comparisons``
(``tail_fit=True``) and ``build_sites(fdr_q=0.05)``.

Quantities per (scenario, combination), each with its Monte Carlo standard error (datasets
are the independent units: ratios use cluster-robust standard errors over datasets):

* signal FPR (val, test): fraction of null targets (every target in 1–4, the targets of the
  signal-free electrodes in 5, all models) with validation-r p < 0.05 (what selects signal
  bins) and with test-r p < 0.05 (the reported per-bin p);
* paired FPR: fraction of tested electrodes with p < 0.05 in comparisons of equally good
  models (1–4: every comparison row; 5: the ``multimodal_vs_multiconcat`` rows);
* site FDR: mean over datasets of V / max(R, 1), R the electrodes called
  ``multimodal_language``, V the false calls (every call, in every scenario here, so the FDR
  equals the fraction of datasets with any call, printed too).

A cell PASSes when each of its rates is at most 0.05 + 2 MC SE; fast + circular is refused by
the library (``fold_permutations`` and ``stats`` params) and printed as REFUSED. The goal:
every cell of the default (refit, block, permutation) passes. The refit bootstrap (a whole CV
refit per resample) runs on the first ``--refit-boot-datasets`` datasets of each scenario only.

Speed: a refit null of one permutation chunk is computed as one ``signal_null("refit", ...)``
call on the permuted copies of the open targets stacked side by side with the identity
permutation — exactly ``fit_permuted`` on each permutation (every target is cross-validated on
its own), but one pass instead of one per permutation. The first dataset of every scenario
checks this against the per-permutation call and prints the largest difference;
``--direct`` uses the per-permutation call throughout (slower).

Runtime: the default (40 datasets per scenario, refit bootstrap on 8) takes ~10 min on 2 cores
(~1,100 CPU seconds: a third refit nulls, a third refit bootstrap); ``--quick`` (6 and 2) ~2 min.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmsites.encoding.folds import contiguous_folds, fold_segments  # noqa: E402
from mmsites.encoding.ridge import CVEngine  # noqa: E402
from mmsites.stats.bootstrap import bootstrap_scores  # noqa: E402
from mmsites.stats.resampling import (
    block_permutations,
    block_swaps,
    bootstrap_indices,  # noqa: E402
    chunks,
    fold_permutations,
    part_block,
)
from mmsites.stats.signal import SequentialPvalues, signal_bins, signal_null  # noqa: E402
from mmsites.stats.simulate import ar1  # noqa: E402
from mmsites.stats.sites import ModelInfo, ModelScores, Unit, build_comparisons, build_sites  # noqa: E402

# ---------------------------------------------------------------------------- settings
N_EVENTS = 500  # events per dataset
SPACING_S = 0.3  # seconds between events
GAP_S = 4.2  # purge gap (the pipeline's auto gap)
BLOCK_S = 10.0  # permutation / swap / bootstrap blocks, seconds
N_FOLDS = 5
N_ELEC, N_BINS = 16, 4  # electrode-major targets: 64
N_PERM, STOP_H, CHUNK = 200, 10, 50
N_SWAPS, N_BOOT = 2000, 100
ALPHA, FDR_Q = 0.05, 0.05
#: Signal bins a model needs at an electrode (the pipeline's 10 is for ~160 bins; with 4 bins
#: per electrode 1 is the analogue, and it lets the null comparisons be tested at all).
MIN_SIGNAL_BINS = 1

SCENARIOS = [
    ("white", "white-noise responses and features (phi 0)"),
    ("ar0.9", "AR(1) responses and features, phi 0.9"),
    ("ar0.98", "AR(1) responses and features, phi 0.98"),
    ("sentence", "piecewise-constant features (sentences of 5-15 events) + AR(0.99) drift"),
    ("equal", "linear V+L signal; 7 multimodal mixes of [V, L] vs MultiConcat, V, L"),
]
COMBOS = [("refit", "block"), ("refit", "circular"), ("fast", "block"), ("fast", "circular")]
COMPARISONS = ("permutation", "bootstrap")
DEFAULT = ("refit", "block", "permutation")
NULL_TESTS = [
    "trained_vs_random",
    "multimodal_vs_vision",
    "multimodal_vs_language",
    "multimodal_vs_multiconcat",
]
EQUAL_TESTS = ["multimodal_vs_vision", "multimodal_vs_language", "multimodal_vs_multiconcat"]


def block_events() -> int:
    return max(2, int(round(BLOCK_S / SPACING_S)))


# ---------------------------------------------------------------------------- data
def _seed(rng) -> int:
    return int(rng.integers(2**32))


def _responses(rng, phi: float, n: int) -> np.ndarray:
    """(n, E, B) noise: an electrode component shared by its bins + one per bin (corr 0.5)."""
    common = ar1(n, N_ELEC, phi=phi, seed=_seed(rng))[:, :, None]
    own = ar1(n, N_ELEC * N_BINS, phi=phi, seed=_seed(rng)).reshape(n, N_ELEC, N_BINS)
    return np.sqrt(0.5) * common + np.sqrt(0.5) * own


def _sentences(rng, n: int, k: int) -> np.ndarray:
    """(n, k) features constant within sentences of 5-15 events."""
    lengths = []
    while sum(lengths) < n:
        lengths.append(int(rng.integers(5, 16)))
    labels = np.repeat(np.arange(len(lengths)), lengths)[:n]
    return rng.standard_normal((len(lengths), k))[labels]


def _null_roster(feats):
    """The null scenarios' models: 2 vision, 2 language, 2 multimodal, a random twin of one model
    of each family, MultiConcat = [vision 1, language 1]."""
    infos, X = [], {}
    dims = {"vision": 8, "language": 8, "multimodal": 12}
    for fam, short in (("vision", "vis"), ("language", "lang"), ("multimodal", "mm")):
        for i in (1, 2):
            mid = f"{short}{i}"
            infos.append(ModelInfo(mid, fam, random_twin=f"{mid}_random" if i == 1 else None))
            X[mid] = feats(dims[fam])
        infos.append(ModelInfo(f"{short}1_random", fam, random=True))
        X[f"{short}1_random"] = feats(dims[fam])
    infos.append(ModelInfo("multiconcat", "multimodal", baseline="multiconcat"))
    X["multiconcat"] = np.hstack([X["vis1"], X["lang1"]])
    return infos, X


def make_dataset(scenario: str, rng):
    """(infos, X by model id, Y (n, E*B), null-target mask (E*B,))."""
    n = N_EVENTS
    if scenario in ("white", "ar0.9", "ar0.98"):
        phi = {"white": 0.0, "ar0.9": 0.9, "ar0.98": 0.98}[scenario]
        infos, X = _null_roster(lambda k: ar1(n, k, phi=phi, seed=_seed(rng)))
        Y = _responses(rng, phi, n)
        return infos, X, Y.reshape(n, -1), np.ones(N_ELEC * N_BINS, bool)
    if scenario == "sentence":
        infos, X = _null_roster(lambda k: _sentences(rng, n, k))
        drift = ar1(n, N_ELEC, phi=0.99, seed=_seed(rng))[:, :, None]
        Y = _responses(rng, 0.0, n) + drift
        return infos, X, Y.reshape(n, -1), np.ones(N_ELEC * N_BINS, bool)
    if scenario == "equal":
        V = ar1(n, 4, phi=0.5, seed=_seed(rng))
        L = ar1(n, 4, phi=0.5, seed=_seed(rng))
        VL = np.hstack([V, L])
        Y = _responses(rng, 0.5, n)
        signal_el = rng.permutation(N_ELEC)[: N_ELEC // 2]
        for e in signal_el:
            w = rng.standard_normal(8)
            for b in range(N_BINS):
                wb = w + 0.3 * rng.standard_normal(8)
                sv, sl = V @ wb[:4], L @ wb[4:]
                # Vision and language contribute equally: a linear integration site.
                s = sv / sv.std() + sl / sl.std()
                s = (s - s.mean()) / s.std()
                r = rng.uniform(0.3, 0.5)
                Y[:, e, b] = r * s + np.sqrt(1 - r**2) * Y[:, e, b]
        infos = [ModelInfo(f"mm{k}", "multimodal") for k in range(1, 8)]
        X = {}
        for k in range(1, 8):
            mix = VL @ rng.standard_normal((8, 12))
            X[f"mm{k}"] = mix + 0.1 * mix.std(0) * rng.standard_normal(mix.shape)
        infos += [
            ModelInfo("multiconcat", "multimodal", baseline="multiconcat"),
            ModelInfo("vision", "vision"),
            ModelInfo("language", "language"),
        ]
        X.update(multiconcat=VL, vision=V, language=L)
        null = np.ones((N_ELEC, N_BINS), bool)
        null[signal_el] = False
        return infos, X, Y.reshape(n, -1), null.ravel()
    raise ValueError(f"unknown scenario {scenario!r}")


# ---------------------------------------------------------------------------- the recipe
def refit_null(engine, Y, perms, direct: bool):
    """``signal_null("refit", Y, perms, engine=engine)``; stacked unless ``direct``."""
    if direct:
        return signal_null("refit", Y, perms, engine=engine)
    n, T = Y.shape
    stacked = np.concatenate([Y[p] for p in perms], axis=1)
    t, v = signal_null("refit", stacked, np.arange(n)[None], engine=engine)
    return t.reshape(len(perms), T), v.reshape(len(perms), T)


def sequential_pvalues(null_fn, n_targets: int):
    """encode._null_rounds for one fit: (test p, val p), each (n_targets,)."""
    test = val = None
    for k, sl in enumerate(chunks(N_PERM + 1, CHUNK)):
        if k == 0:
            t, v = null_fn(sl, np.arange(n_targets))
            test, val = SequentialPvalues(t[0], STOP_H), SequentialPvalues(v[0], STOP_H)
            test.update(t[1:])
            val.update(v[1:])
            continue
        open_ = np.flatnonzero(test.active | val.active)
        if not open_.size:
            break
        t, v = null_fn(sl, open_)
        test.update(t, open_)
        val.update(v, open_)
    return test.pvalues(), val.pvalues()


def run_dataset(scenario_index: int, d: int, seed: int, refit_boot: bool, direct: bool, check: bool) -> dict:
    """Everything measured on one dataset: per cell counts, plus timings."""
    scenario = SCENARIOS[scenario_index][0]
    ss = np.random.SeedSequence([seed, scenario_index, d])
    data_ss, idx_ss = ss.spawn(2)
    s_perm, s_boot, s_swap = (int(x) for x in idx_ss.generate_state(3))
    infos, X, Y, null_t = make_dataset(scenario, np.random.default_rng(data_ss))
    n, T = Y.shape
    block = block_events()
    times = np.arange(n) * SPACING_S
    folds = contiguous_folds(n, N_FOLDS, times=times, gap_s=GAP_S)
    clock = {}
    t0 = time.process_time()
    engines = {m.id: CVEngine(X[m.id], folds, device="cpu", dtype=torch.float64) for m in infos}
    fits = {mid: e.fit(Y) for mid, e in engines.items()}
    clock["fit"] = time.process_time() - t0
    ident = np.arange(n, dtype=np.int64)[None]
    perms = {
        ("refit", "block"): block_permutations(n, N_PERM, block=block, seed=s_perm, kind="block"),
        ("refit", "circular"): block_permutations(n, N_PERM, block=block, seed=s_perm, kind="circular"),
        ("fast", "block"): fold_permutations(folds, n, N_PERM, block=block, seed=s_perm, part="both"),
    }
    perms = {k: np.vstack([ident, p]) for k, p in perms.items()}
    out = {"scenario": scenario, "dataset": d, "cells": {}, "clock": clock, "check": None}
    if scenario == "equal":
        out["signal_r"] = (
            float(fits["multiconcat"].test_r[~null_t].mean()),
            float(fits["vision"].test_r[~null_t].mean()),
        )
    if check and not direct:
        e0 = next(iter(engines.values()))
        p5 = perms[("refit", "block")][:6]
        a, b = signal_null("refit", Y, p5, engine=e0), refit_null(e0, Y, p5, direct=False)
        out["check"] = float(max(np.abs(a[0] - b[0]).max(), np.abs(a[1] - b[1]).max()))
    signals = {}
    for combo, P in perms.items():
        t0 = time.process_time()
        sig, k_val, k_test, m = {}, 0, 0, 0
        for mid, res in fits.items():
            if combo[0] == "refit":

                def fn(sl, targets, e=engines[mid], P=P):
                    return refit_null(e, Y[:, targets], P[sl], direct)
            else:

                def fn(sl, targets, res=res, P=P):
                    return signal_null(
                        "fast",
                        Y[:, targets],
                        P[sl],
                        folds=folds,
                        predictions=res.predictions[:, targets],
                        block=block,
                    )

            p_test, p_val = sequential_pvalues(fn, T)
            p_test = np.where(res.valid, p_test, np.nan)
            p_val = np.where(res.valid, p_val, np.nan)
            sig[mid] = signal_bins("permutation", pvalues=p_val, alpha=ALPHA) & res.valid
            k_val += int((np.nan_to_num(p_val, nan=1.0)[null_t] < ALPHA).sum())
            k_test += int((np.nan_to_num(p_test, nan=1.0)[null_t] < ALPHA).sum())
            m += int(null_t.sum())
        signals[combo] = sig
        out["cells"][combo] = {"signal": (k_val, k_test, m)}
        clock[f"null {combo[0]} {combo[1]}"] = time.process_time() - t0
    boots = bootstrap_indices(n, N_BOOT, seed=s_boot, block=block, segments=fold_segments(folds, n))
    t0 = time.process_time()
    boot = {
        "fast": {
            mid: bootstrap_scores("fast", Y, boots, folds=folds, predictions=res.predictions)[0]
            for mid, res in fits.items()
        }
    }
    clock["boot fast"] = time.process_time() - t0
    if refit_boot:
        t0 = time.process_time()
        boot["refit"] = {mid: bootstrap_scores("refit", Y, boots, engine=engines[mid])[0] for mid in fits}
        clock["boot refit"] = time.process_time() - t0
    swaps = block_swaps(n, N_SWAPS, block=block, seed=s_swap)
    tests = EQUAL_TESTS if scenario == "equal" else NULL_TESTS
    electrodes = [f"e{i:02d}" for i in range(N_ELEC)]
    for combo, sig in signals.items():
        for method in COMPARISONS:
            if method == "bootstrap" and combo[0] not in boot:
                continue
            t0 = time.process_time()
            unit = Unit("s1", "language", electrodes, N_BINS, Y=Y, folds=folds, swaps=swaps)
            for mid, res in fits.items():
                unit.scores[mid] = ModelScores(
                    res.test_r,
                    sig[mid],
                    res.val_r,
                    predictions=res.predictions,
                    test_r_boot=boot[combo[0]][mid] if method == "bootstrap" else None,
                )
            comp = build_comparisons(
                [unit],
                infos,
                tests=tests,
                comparison=method,
                min_signal_bins=MIN_SIGNAL_BINS,
                fdr_q=FDR_Q,
                tail_fit=True,
            )
            sites = build_sites(comp, [unit], infos, min_signal_bins=MIN_SIGNAL_BINS, fdr_q=FDR_Q)
            rows = comp[comp["test"] == "multimodal_vs_multiconcat"] if scenario == "equal" else comp
            p = rows["p_value"].to_numpy(dtype=float)
            tested = np.isfinite(p)
            calls = int(sites["multimodal_language"].astype(bool).sum())
            cell = {
                "paired": (int((p[tested] < ALPHA).sum()), int(tested.sum())),
                "site": (calls, calls),  # (R, V): every call is false
                "by_test": {},
            }
            for test, g in comp.groupby("test"):
                pt = g["p_value"].to_numpy(dtype=float)
                pt = pt[np.isfinite(pt)]
                cell["by_test"][test] = (int((pt < ALPHA).sum()), int(pt.size))
            if scenario == "equal":
                # Power check: at the signal electrodes, does the best multimodal model beat
                # the vision and the language model (both p < 0.05)? Without that the site rule
                # would never be put to the test by MultiConcat.
                sig_el = ~null_t.reshape(N_ELEC, N_BINS).any(1)
                beats = np.ones(N_ELEC, bool)
                for test in ("multimodal_vs_vision", "multimodal_vs_language"):
                    pt = comp[comp["test"] == test].set_index("electrode")["p_value"]
                    beats &= pt.reindex(electrodes).to_numpy(dtype=float) < ALPHA
                cell["power"] = (int(beats[sig_el].sum()), int(sig_el.sum()))
            out["cells"][combo][method] = cell
            clock["compare"] = clock.get("compare", 0.0) + time.process_time() - t0
    return out


# ---------------------------------------------------------------------------- workers
def _worker(tasks, results, threads: int) -> None:
    torch.set_num_threads(threads)
    _quiet()
    while True:
        task = tasks.get()
        if task is None:
            return
        try:
            results.put(("ok", run_dataset(*task)))
        except Exception as err:  # report, never hang the parent
            results.put(("error", f"{task[:2]}: {type(err).__name__}: {err}"))


def run_all(tasks: list, workers: int, threads: int, progress) -> list[dict]:
    if workers <= 1:
        return [progress(run_dataset(*t)) for t in tasks]
    ctx = mp.get_context("fork")
    task_q, result_q = ctx.Queue(), ctx.Queue()
    for t in tasks:
        task_q.put(t)
    procs = [
        ctx.Process(target=_worker, args=(task_q, result_q, threads), daemon=True) for _ in range(workers)
    ]
    for _ in procs:
        task_q.put(None)
    for p in procs:
        p.start()
    out = []
    try:
        for _ in tasks:
            status, value = result_q.get()
            if status == "error":
                raise RuntimeError(f"dataset {value}")
            out.append(progress(value))
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()
    return out


def _quiet() -> None:
    # The library warns per call about coarse part blocks and few swaps; the header says it once.
    for name in ("mmsites.stats", "mmsites.encoding", "mmsites.pipeline"):
        logging.getLogger(name).setLevel(logging.ERROR)


# ---------------------------------------------------------------------------- summary
class Est:
    """A rate, its Monte Carlo SE, and the datasets behind it. (A plain class: run_all loads
    this file without registering it in sys.modules, which dataclasses need.)"""

    def __init__(self, value: float, se: float, n: int):
        self.value, self.se, self.n = value, se, n

    def passes(self, level=ALPHA) -> bool:
        se = self.se if np.isfinite(self.se) else 0.0  # one dataset: no SE, no allowance
        return not np.isfinite(self.value) or self.value <= level + 2 * se

    def fmt(self) -> str:
        if not np.isfinite(self.value):
            return f"{'-':>13s}"
        return f"{self.value:6.3f}±{self.se:5.3f} " if self.se < 1 else f"{self.value:13.3f}"


def ratio_est(pairs) -> Est:
    """Σk / Σm over datasets with a cluster-robust (delta-method) standard error."""
    k = np.array([p[0] for p in pairs], float)
    m = np.array([p[1] for p in pairs], float)
    D = len(pairs)
    if D == 0 or m.sum() == 0:
        return Est(float("nan"), float("nan"), D)
    r = k.sum() / m.sum()
    se = np.sqrt(np.sum((k - r * m) ** 2) * D / max(D - 1, 1)) / m.sum() if D > 1 else float("nan")
    return Est(float(r), float(se), D)


def mean_est(values) -> Est:
    v = np.asarray(values, float)
    if v.size == 0:
        return Est(float("nan"), float("nan"), 0)
    se = v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else float("nan")
    return Est(float(v.mean()), float(se), int(v.size))


def summarize(results: list[dict], refused: dict, scenarios) -> dict:
    table = {}
    for sc, _ in scenarios:
        rs = sorted((r for r in results if r["scenario"] == sc), key=lambda r: r["dataset"])
        for combo in COMBOS:
            for method in COMPARISONS:
                key = (sc, combo[0], combo[1], method)
                if combo in refused:
                    table[key] = {"refused": refused[combo]}
                    continue
                cells = [r["cells"][combo] for r in rs]
                done = [c[method] for c in cells if method in c]
                site = [c["site"] for c in done]
                table[key] = {
                    "signal_val": ratio_est([(c["signal"][0], c["signal"][2]) for c in cells]),
                    "signal_test": ratio_est([(c["signal"][1], c["signal"][2]) for c in cells]),
                    "paired": ratio_est([c["paired"] for c in done]),
                    "site_fdr": mean_est([v / max(R, 1) for R, v in site]),
                    "any_call": mean_est([float(R > 0) for R, _ in site]),
                    "calls": float(np.mean([R for R, _ in site])) if site else float("nan"),
                    "tested": float(np.mean([c["paired"][1] for c in done])) if done else float("nan"),
                    "power": (ratio_est([c["power"] for c in done]) if done and "power" in done[0] else None),
                    "by_test": {
                        t: ratio_est([c["by_test"].get(t, (0, 0)) for c in done])
                        for t in sorted({t for c in done for t in c["by_test"]})
                    },
                    "datasets": len(cells),
                    "compared": len(done),
                }
    return table


def verdict(cell: dict) -> tuple[str, list[str]]:
    if "refused" in cell:
        return "REFUSED", []
    bad = [name for name in ("signal_val", "signal_test", "paired", "site_fdr") if not cell[name].passes()]
    return ("FAIL" if bad else "PASS"), bad


def print_table(table: dict, results: list[dict], scenarios) -> tuple[bool, list[str]]:
    head = (
        f"{'mode':5s} {'kind':8s} {'comparison':11s} {'n':>4s} {'signal FPR val':>14s} "
        f"{'signal FPR test':>15s} {'paired FPR':>14s} {'site FDR':>14s} {'any call':>8s} "
        f"{'calls/ds':>8s} {'tests/ds':>8s}  verdict"
    )
    unsafe: dict = {}
    default_ok = True
    for sc, desc in scenarios:
        i = [s for s, _ in SCENARIOS].index(sc) + 1
        n_ds = sum(r["scenario"] == sc for r in results)
        print(f"\n{i}. {sc}: {desc} ({n_ds} datasets)")
        sr = [r["signal_r"] for r in results if r["scenario"] == sc and "signal_r" in r]
        if sr:
            pw = table[(sc, *DEFAULT)]["power"]
            print(
                f"   signal electrodes: mean test r MultiConcat {np.mean([a for a, _ in sr]):.3f}, "
                f"vision alone {np.mean([b for _, b in sr]):.3f}; default cell: best multimodal "
                f"beats vision and language (both p < 0.05) at {pw.value:.2f}±{pw.se:.2f} of them"
            )
        print(head)
        for combo in COMBOS:
            for method in COMPARISONS:
                cell = table[(sc, combo[0], combo[1], method)]
                v, bad = verdict(cell)
                if v == "REFUSED":
                    print(f"{combo[0]:5s} {combo[1]:8s} {method:11s} {'':>4s} refused: {cell['refused']}")
                    continue
                print(
                    f"{combo[0]:5s} {combo[1]:8s} {method:11s} {cell['compared']:4d} "
                    f"{cell['signal_val'].fmt():>14s} {cell['signal_test'].fmt():>15s} "
                    f"{cell['paired'].fmt():>14s} {cell['site_fdr'].fmt():>14s} "
                    f"{cell['any_call'].value:8.3f} {cell['calls']:8.2f} {cell['tested']:8.1f}  "
                    f"{v}{' (' + ', '.join(bad) + ')' if bad else ''}"
                )
                if bad:
                    unsafe.setdefault((*combo, method), []).append(f"{sc}: {', '.join(bad)}")
                    if (*combo, method) == DEFAULT:
                        default_ok = False
        by = table[(sc, *DEFAULT)]["by_test"]
        print(
            "   default cell, share of tested electrodes with p < 0.05 by test (all rows): "
            + ", ".join(f"{t} {e.value:.3f}±{e.se:.3f}" for t, e in by.items())
        )
    lines = [f"{m} + {k} + {c}: " + "; ".join(why) for (m, k, c), why in unsafe.items()]
    return default_ok, lines


# ---------------------------------------------------------------------------- main
def check_refused(folds, n: int) -> dict:
    """Combinations the library refuses, with its reason (cut to one clause)."""
    refused = {}
    try:
        fold_permutations(folds, n, 1, block=block_events(), seed=0, kind="circular", part="both")
    except ValueError as err:
        refused[("fast", "circular")] = str(err).split(" (")[0]
    return refused


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few datasets (~2 min; a smoke run)")
    parser.add_argument(
        "--datasets", type=int, default=None, help="datasets per scenario (default 40, --quick 6)"
    )
    parser.add_argument(
        "--refit-boot-datasets",
        type=int,
        default=None,
        help="datasets per scenario that also run the refit bootstrap (default 8, --quick 2)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument(
        "--direct", action="store_true", help="refit nulls one fit_permuted pass per permutation (slow)"
    )
    parser.add_argument("--scenarios", nargs="*", default=None, help=f"subset of {[s for s, _ in SCENARIOS]}")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here")
    parser.add_argument("--events", type=int, default=N_EVENTS, help="events per dataset")
    parser.add_argument(
        "--block-s",
        type=float,
        default=BLOCK_S,
        help="permutation/swap/bootstrap blocks (s); must exceed the drift's time scale",
    )
    args = parser.parse_args(argv)
    # Module settings read by the worker processes (forked after this point).
    globals().update(N_EVENTS=args.events, BLOCK_S=args.block_s)
    torch.set_num_threads(args.threads)
    _quiet()
    D = args.datasets if args.datasets is not None else (6 if args.quick else 40)
    DB = args.refit_boot_datasets if args.refit_boot_datasets is not None else (2 if args.quick else 8)
    DB = min(max(DB, 2), D)
    names = [s for s, _ in SCENARIOS]
    wanted = names if not args.scenarios else args.scenarios
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        parser.error(f"unknown scenarios {unknown}")
    n, block = N_EVENTS, block_events()
    folds = contiguous_folds(n, N_FOLDS, times=np.arange(n) * SPACING_S, gap_s=GAP_S)
    refused = check_refused(folds, n)
    parts = sorted(
        {
            (len(f.val), part_block(len(f.val), block), len(f.test), part_block(len(f.test), block))
            for f in folds
        }
    )
    print(
        f"bench_calibration: {n} events every {SPACING_S} s, {N_FOLDS} purged folds (gap {GAP_S} s; "
        f"val/test parts {parts[0][0]}/{parts[0][2]} events), {N_ELEC} electrodes x {N_BINS} bins, "
        f"blocks of {block} events ({BLOCK_S:g} s; fast: {parts[0][1]}/{parts[0][3]} inside val/test "
        f"parts)"
    )
    stacked = ", stacked refit" if not args.direct else ""
    print(
        f"permutations {N_PERM} (chunks of {CHUNK}, stop h={STOP_H}{stacked}), "
        f"swaps {N_SWAPS} (GPD tail), bootstrap {N_BOOT} (moving blocks in fold segments), "
        f"min_signal_bins {MIN_SIGNAL_BINS}, alpha {ALPHA}, fdr_q {FDR_Q}; float64 CPU, "
        f"{args.workers} processes x {args.threads} thread(s), seed {args.seed}"
    )
    print(
        f"{D} datasets per scenario; the refit bootstrap (a CV refit per resample) on the first "
        f"{DB} of them only (column n: datasets in the paired/site numbers)",
        flush=True,
    )
    tasks = [(names.index(sc), d, args.seed, d < DB, args.direct, d == 0) for sc in wanted for d in range(D)]
    # Expensive tasks (with the refit bootstrap) first, so the workers finish together.
    tasks.sort(key=lambda t: (not t[3], t[0], t[1]))
    start = time.perf_counter()
    done = {"n": 0}

    def progress(r):
        done["n"] += 1
        if done["n"] % max(1, len(tasks) // 10) == 0 or done["n"] == len(tasks):
            print(f"  {done['n']}/{len(tasks)} datasets, {time.perf_counter() - start:.0f} s", flush=True)
        return r

    results = run_all(tasks, args.workers, args.threads, progress)
    elapsed = time.perf_counter() - start
    checks = [r["check"] for r in results if r["check"] is not None]
    if checks:
        print(
            f"stacked refit null vs per-permutation fit_permuted (first dataset of each scenario, "
            f"5 permutations): max |diff| {max(checks):.1e}"
        )
    scenarios = [s for s in SCENARIOS if s[0] in wanted]
    table = summarize(results, refused, scenarios)
    default_ok, lines = print_table(table, results, scenarios)
    clock: dict = {}
    for r in results:
        for k, v in r["clock"].items():
            clock[k] = clock.get(k, 0.0) + v
    print(
        "\ntime per stage (process CPU seconds, all datasets): "
        + ", ".join(f"{k} {v:.0f}" for k, v in clock.items())
    )
    print(
        "legend: rates with Monte Carlo SE; every site call is false here, so site FDR = any "
        "call; PASS = each rate <= 0.05 + 2 SE"
    )
    print(f"unsafe combinations: {'none' if not lines else ''}")
    for line in lines:
        print(f"  {line}")
    print(
        f"goal: every default cell (mode refit, kind block, comparison permutation) <= 0.05 + 2 MC SE: "
        f"{'MET' if default_ok else 'NOT MET'}"
    )
    print(f"total {elapsed:.0f} s wall")
    if args.json:

        def enc(x):
            if isinstance(x, Est):
                return {"value": x.value, "se": x.se, "n": x.n}
            if isinstance(x, dict):
                return {k: enc(v) for k, v in x.items()}
            return x

        payload = {
            "settings": {
                "events": n,
                "spacing_s": SPACING_S,
                "gap_s": GAP_S,
                "block": block,
                "electrodes": N_ELEC,
                "bins": N_BINS,
                "permutations": N_PERM,
                "stop_h": STOP_H,
                "swaps": N_SWAPS,
                "bootstrap": N_BOOT,
                "datasets": D,
                "refit_boot_datasets": DB,
                "seed": args.seed,
                "min_signal_bins": MIN_SIGNAL_BINS,
            },
            "cells": [
                {
                    "scenario": k[0],
                    "mode": k[1],
                    "kind": k[2],
                    "comparison": k[3],
                    "verdict": verdict(v)[0],
                    **{a: enc(b) for a, b in v.items()},
                }
                for k, v in table.items()
            ],
            "default_goal_met": default_ok,
            "seconds": elapsed,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=1, default=float))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
