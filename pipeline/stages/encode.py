"""Stage ``encode``: cross-validated ridge for every (subject, alignment, model), with the
signal permutation test and the bootstrap.

Work units, run by the executor of ``compute`` (worker processes or a dask cluster):

1. ``fit`` — one per (subject, alignment, model): the CV fit (``encoding.CVEngine``), whose
   out-of-fold predictions go to ``work/scores/..._pred.npy`` (read memory-mapped afterwards, so a
   subject's many models never need to sit in memory together) and its scores to ``...npz``.
2. ``null`` / ``boot`` chunks — slices of the permutation and bootstrap index arrays, drawn
   once per subject and alignment (``work/resampling/sub-<s>_<alignment>.npz``) and shared by
   every model, so paired comparisons see the same resamples and results do not depend on the
   executor or the chunking.
3. merge — p-values, signal bins and bootstrap CIs per (electrode, bin), written to the scores
   parquet of DESIGN.md (``electrode, bin, time_s, test_r, val_r, alpha, boot_mean, boot_lo,
   boot_hi, val_lo, val_hi`` plus ``p_value`` and ``signal``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from encoding.folds import contiguous_folds
from encoding.ridge import CVEngine
from features.baselines import MultiLin
from features.zoo.precomputed import match_times
from stats.bootstrap import bootstrap_scores, bootstrap_summary
from stats.resampling import block_permutations, bootstrap_indices, chunks, fold_permutations
from stats.signal import max_over_bins_pvalues, permutation_pvalues, signal_bins, signal_null

from ..executors import make_executor
from ..io import content_key, is_up_to_date, read_events, read_responses, write_json, write_npy, write_npz, write_parquet
from ..params import Params
from ..paths import Layout

log = logging.getLogger(__name__)


def encoded_models(params: Params) -> list[str]:
    """Ids of everything the encode stage fits: the models and the configured baselines."""
    return [m.id for m in params.models] + params.baseline_ids()


def _feature_rows(layout: Layout, model: str, movie: str, alignment: str) -> tuple[np.ndarray, np.ndarray]:
    path = layout.features(model, movie, alignment)
    if not path.is_file():
        raise FileNotFoundError(f"features of {model!r} for {movie} ({alignment}) are missing at {path}: "
                                "run the features stage")
    X = np.load(path)
    times = read_events(layout.events(movie, alignment))["movie_time"].to_numpy()
    if X.shape[0] != len(times):
        raise ValueError(f"{path} has {X.shape[0]} rows but the events table of {movie} ({alignment}) has "
                         f"{len(times)}: rerun the features stage")
    return X, times


def event_features(layout: Layout, model: str, alignment: str, event_movie: list[str],
                   event_movie_time: np.ndarray) -> np.ndarray:
    """Feature rows of ``model`` for the events of a responses file, in its order.

    Returns
    -------
    X : ndarray, float32, shape (n_events, n_features)
    """
    X_out = None
    event_movie = np.asarray(event_movie)
    for movie in dict.fromkeys(event_movie):
        X, times = _feature_rows(layout, model, movie, alignment)
        mask = event_movie == movie
        wanted = event_movie_time[mask]
        idx = match_times(wanted, times, tol=1e-6)
        bad = idx < 0
        if bad.any():
            raise ValueError(f"{int(bad.sum())} events of the responses ({movie}, {alignment}) have no row in the "
                             f"features of {model!r} (first at movie time {wanted[bad][0]:.3f} s): the events "
                             "changed after the features were computed; rerun the features stage")
        if X_out is None:
            X_out = np.empty((len(event_movie), X.shape[1]), dtype=np.float32)
        elif X.shape[1] != X_out.shape[1]:
            raise ValueError(f"features of {model!r} have {X.shape[1]} columns for {movie} but "
                             f"{X_out.shape[1]} for another movie")
        X_out[mask] = X[idx]
    return X_out


@dataclass(frozen=True)
class Unit:
    subject: int
    alignment: str
    model: str
    part: str = "fit"          # fit | null | boot
    chunk: slice | None = None


FIT_ARRAYS = ("test_r", "val_r", "alpha", "test_r_folds", "val_r_folds", "valid")


def _targets(params: Params, layout: Layout, unit: Unit):
    """Y (n_events, n_targets), the folds, and the responses file's event tables."""
    resp = read_responses(layout.responses(unit.subject, unit.alignment))
    Y = resp["responses"].reshape(resp["responses"].shape[0], -1)
    return Y, contiguous_folds(Y.shape[0], params.encoding.folds), resp


def _design(params: Params, layout: Layout, unit: Unit, resp: dict, folds):
    """X: the model's features for the responses' events, or for MultiLin a per-fold list of
    projections learned on each fold's training events."""
    args = (unit.alignment, resp["event_movie"], resp["event_movie_time"])
    if unit.model != "multilin":
        return event_features(layout, unit.model, *args)
    vision, language = params.baselines.multilin
    Xv = event_features(layout, vision, *args)
    Xl = event_features(layout, language, *args)
    X = []
    for fold in folds:
        projection = MultiLin(n_components=params.baselines.multilin_components).fit(Xv[fold.train], Xl[fold.train])
        X.append(np.asarray(projection.transform(Xv, Xl), dtype=np.float32))
    return X


def _engine(params: Params, X, folds):
    return CVEngine(X, folds, params.encoding.alphas, device=params.encoding.device,
                    target_batch=params.encoding.target_batch)


def _limit_threads(workers: int) -> None:
    """Share the cores between the workers: never more torch threads than cores / workers, and
    never more than the caller already allowed (oversubscribed thread pools spin and crawl)."""
    import torch
    torch.set_num_threads(max(1, min(torch.get_num_threads(), (os.cpu_count() or 1) // max(1, workers))))


def run_unit(params: Params, workdir: Path, unit: Unit):
    """Execute one work unit (a top-level function, so worker processes and dask can run it)."""
    _limit_threads(params.compute.workers)
    layout = Layout(Path(workdir), params)
    Y, folds, resp = _targets(params, layout, unit)
    sp = params.stats
    if unit.part == "fit":
        # The worker writes the (large) predictions itself: nothing large travels back.
        result = _engine(params, _design(params, layout, unit, resp, folds), folds).fit(Y)
        write_npy(np.asarray(result.predictions, dtype=np.float32),
                  layout.predictions(unit.subject, unit.alignment, unit.model))
        write_npz(layout.score_arrays(unit.subject, unit.alignment, unit.model),
                  **{k: np.asarray(getattr(result, k)) for k in FIT_ARRAYS})
        return None
    indices = np.load(layout.resampling(unit.subject, unit.alignment))
    predictions = np.load(layout.predictions(unit.subject, unit.alignment, unit.model), mmap_mode="r")
    # Fast mode works on the held-out predictions: only refit needs the features (and MultiLin's fits).
    engine = _engine(params, _design(params, layout, unit, resp, folds), folds) if sp.mode == "refit" else None
    if unit.part == "null":
        perms = indices["permutations"][unit.chunk]
        null = signal_null(sp.mode, Y, perms, folds=folds, predictions=predictions, engine=engine,
                           block=int(indices["block"]))
        return {"null": null.astype(np.float32)}
    if unit.part == "boot":
        test_r, val_r = bootstrap_scores(sp.mode, Y, indices["bootstrap"][unit.chunk], folds=folds,
                                         predictions=predictions, engine=engine)
        return {"test_r": test_r.astype(np.float32), "val_r": val_r.astype(np.float32)}
    raise ValueError(f"unknown work unit part {unit.part!r}")


def block_length(params: Params, event_movie_time: np.ndarray) -> int:
    """Events per permutation block: ``stats.block_events``, or ``stats.block_s`` seconds of
    movie time divided by the median spacing of the events (at least 2)."""
    sp = params.stats
    if sp.block_events is not None:
        return sp.block_events
    gaps = np.diff(np.asarray(event_movie_time, dtype=float))
    gaps = gaps[gaps > 0]
    spacing = float(np.median(gaps)) if gaps.size else sp.block_s
    return max(2, int(round(sp.block_s / spacing)))


def resampling_indices(params: Params, layout: Layout, subject: int, alignment: str) -> None:
    """Draw the permutations and bootstrap resamples of one subject and alignment, once."""
    sp = params.stats
    resp = read_responses(layout.responses(subject, alignment), data=False)
    n = resp["shape"][0]
    block = block_length(params, resp["event_movie_time"])
    log.info("sub_%d %s: permutation blocks of %d events (%.1f s)", subject, alignment, block, sp.block_s)
    folds = contiguous_folds(n, params.encoding.folds)
    # Independent, reproducible streams per subject and alignment.
    seeds = np.random.SeedSequence([sp.seed, subject, params.events.alignments.index(alignment)]).generate_state(3)
    if sp.mode == "refit":
        perms = block_permutations(n, sp.permutations, block=block, seed=int(seeds[0]), kind=sp.permutation_kind)
    else:
        perms = fold_permutations(folds, n, sp.permutations, block=block, seed=int(seeds[0]),
                                  kind=sp.permutation_kind)
    arrays = {"permutations": perms, "block": np.array(block), "swap_seed": np.array(int(seeds[2]))}
    if sp.bootstrap:
        arrays["bootstrap"] = bootstrap_indices(n, sp.bootstrap, seed=int(seeds[1]))
    write_npz(layout.resampling(subject, alignment), **arrays)


def merge(params: Params, layout: Layout, unit: Unit, fitted: dict, nulls: list, boots: list) -> None:
    """Turn the fit and its resampling chunks into the scores table of DESIGN.md."""
    sp = params.stats
    resp = read_responses(layout.responses(unit.subject, unit.alignment), data=False)
    _, n_elec, n_bins = resp["shape"]
    test_r = fitted["test_r"]
    null = np.concatenate([c["null"] for c in nulls], axis=0)
    if sp.max_stat:
        p = max_over_bins_pvalues(test_r, null, n_bins)
    else:
        p = permutation_pvalues(test_r, null)
    p = np.where(fitted["valid"], p, np.nan)
    table = {
        "electrode": np.repeat(np.asarray(resp["electrodes"], dtype=object), n_bins),
        "bin": np.tile(np.arange(n_bins), n_elec),
        "time_s": np.tile(resp["bin_times"], n_elec),
        "test_r": test_r, "val_r": fitted["val_r"], "alpha": fitted["alpha"],
    }
    summary = None
    if boots:
        boot_test_r = np.concatenate([c["test_r"] for c in boots])
        summary = bootstrap_summary(boot_test_r, np.concatenate([c["val_r"] for c in boots]))
        table.update(summary)
        # Kept for the paired bootstrap comparison (the same resamples for every model).
        write_npy(boot_test_r, layout.score_boot(unit.subject, unit.alignment, unit.model))
    table["p_value"] = p
    table["signal"] = signal_bins(sp.signal, pvalues=p, val_lo=None if summary is None else summary["val_lo"],
                                  alpha=sp.signal_alpha) & fitted["valid"]
    df = pd.DataFrame(table)
    write_parquet(df, layout.scores(unit.subject, unit.alignment, unit.model))
    log.info("sub_%d %s %s: median test r %.3f, %d signal bins over %d electrodes", unit.subject, unit.alignment,
             unit.model, float(np.nanmedian(test_r)), int(df["signal"].sum()), n_elec)


def _feature_inputs(params: Params, layout: Layout, unit: Unit) -> list[Path]:
    """The feature files a unit's design matrix is built from."""
    if unit.model in ("multiconcat", "multilin"):
        sources = list(getattr(params.baselines, unit.model)) + ([unit.model] if unit.model == "multiconcat" else [])
    else:
        sources = [unit.model]
    movies = sorted({p.stem.rsplit("_", 1)[0] for m in sources
                     for p in (layout.workdir / "work" / "features" / m).glob(f"*_{unit.alignment}.npy")})
    return [layout.features(m, movie, unit.alignment) for m in sources for movie in movies]


def unit_key(params: Params, layout: Layout, unit: Unit) -> str:
    """A fingerprint of everything a model's scores depend on: the model or baseline definition,
    the encoding and statistics params, the responses, the features and the shared resamples."""
    definition = (params.model(unit.model).model_dump() if unit.model not in ("multiconcat", "multilin")
                  else {"baseline": unit.model, **params.baselines.model_dump()})
    return content_key({"model": definition, "encoding": params.encoding.model_dump(),
                        "stats": params.stats.model_dump()},
                       [layout.responses(unit.subject, unit.alignment), layout.resampling(unit.subject, unit.alignment),
                        *_feature_inputs(params, layout, unit)])


def _resampling_key(params: Params, layout: Layout, subject: int, alignment: str) -> str:
    return content_key({"stats": params.stats.model_dump(), "folds": params.encoding.folds},
                       [layout.responses(subject, alignment)])


def run(params: Params, workdir: Path) -> None:
    layout = Layout(workdir, params)
    sp = params.stats
    executor = make_executor(params.compute.executor, workers=params.compute.workers,
                             scheduler=params.compute.dask_scheduler)
    for s in params.data.subjects:
        for a in params.events.alignments:
            path = layout.resampling(s, a)
            key = _resampling_key(params, layout, s, a)
            if is_up_to_date(path, path.with_suffix(".json"), key):
                continue
            resampling_indices(params, layout, s, a)
            write_json({"key": key}, path.with_suffix(".json"))
    # A rerun picks up where it stopped: fits whose scores exist with the same key are kept.
    fits, keys = [], {}
    for s in params.data.subjects:
        for a in params.events.alignments:
            for m in encoded_models(params):
                unit = Unit(s, a, m)
                keys[unit] = unit_key(params, layout, unit)
                if is_up_to_date(layout.scores(s, a, m), layout.scores(s, a, m).with_suffix(".json"), keys[unit]):
                    log.info("sub_%d %s %s: scores up to date", s, a, m)
                    continue
                fits.append(unit)
    if not fits:
        return
    log.info("encode: %d CV fits on the %s executor", len(fits), params.compute.executor)
    executor.map(_call, [(params, str(workdir), u) for u in fits])
    chunked = []
    for unit in fits:
        chunked += [Unit(unit.subject, unit.alignment, unit.model, "null", c) for c in chunks(sp.permutations, sp.chunk)]
        if sp.bootstrap:
            chunked += [Unit(unit.subject, unit.alignment, unit.model, "boot", c) for c in chunks(sp.bootstrap, sp.chunk)]
    log.info("encode: %d permutation/bootstrap chunks (%s mode)", len(chunked), sp.mode)
    outputs = executor.map(_call, [(params, str(workdir), u) for u in chunked])
    by_fit: dict = {}
    for unit, out in zip(chunked, outputs):
        by_fit.setdefault((unit.subject, unit.alignment, unit.model), {"null": [], "boot": []})[unit.part].append(out)
    for unit in fits:
        parts = by_fit.get((unit.subject, unit.alignment, unit.model), {"null": [], "boot": []})
        fitted = dict(np.load(layout.score_arrays(unit.subject, unit.alignment, unit.model)))
        merge(params, layout, unit, fitted, parts["null"], parts["boot"])
        write_json({"key": keys[unit], "mode": sp.mode, "permutations": sp.permutations,
                    "bootstrap": sp.bootstrap, "signal": sp.signal},
                   layout.scores(unit.subject, unit.alignment, unit.model).with_suffix(".json"))


def _call(args):
    params, workdir, unit = args
    return run_unit(params, Path(workdir), unit)
