"""Stage ``encode``: cross-validated ridge for every (subject, alignment, model), with the
signal permutation test and the bootstrap.

Work units, run by the executor of ``compute`` (worker processes or a dask cluster):

1. ``fit`` — one per (subject, alignment, model): the CV fit (``encoding.CVEngine``) on the
   purged folds of :func:`mmsites.pipeline.cv.response_folds`, whose out-of-fold predictions go to
   ``work/scores/..._pred.npy`` (read memory-mapped afterwards, so a subject's many models never
   need to sit in memory together) and its scores to ``...npz``. MultiLin is fitted once per
   candidate size (``baselines.multilin_components``) and each target keeps the size with
   the best validation r.
2. ``null`` chunks, in rounds — slices of the permutation index array (row 0 the identity:
   the observed statistic comes from the same function as its null), drawn once per subject
   and alignment (``work/resampling/sub-<s>_<alignment>.npz``) and shared by every model.
   Both the validation r (signal bins are chosen on it) and the test r (the reported
   per-bin p-value) get a null. After each round, targets whose p-values are settled
   (``stats.stop_exceedances`` null values reached the observed r, Besag–Clifford) drop out,
   so the next round refits only the open targets.
3. ``boot`` chunks — moving-block bootstrap resamples drawn within fold segments.
4. merge — p-values, signal bins and bootstrap CIs per (electrode, bin), written to the scores
   parquet of docs/architecture.md (``electrode, bin, time_s, test_r, val_r, alpha, boot_mean, boot_lo,
   boot_hi, val_lo, val_hi`` plus ``p_value`` (test r), ``val_p_value`` (validation r),
   ``n_permutations``, ``signal`` and, for MultiLin, ``components``).

Results do not depend on the executor or on the chunking: chunks are slices of shared index
arrays, and the rounds' target sets are decided in the main process.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mmsites.encoding.folds import fold_segments
from mmsites.encoding.ridge import CVEngine, select_result
from mmsites.stats.bootstrap import bootstrap_scores, bootstrap_summary
from mmsites.stats.pvalues import n_distinct_block_permutations, warn_if_few_permutations
from mmsites.stats.resampling import (
    block_permutations,
    bootstrap_indices,
    chunks,
    fold_permutations,
    part_block,
)
from mmsites.stats.signal import SequentialPvalues, max_over_bins_pvalues, signal_bins, signal_null

from ..cv import block_length, encoded_models, gap_seconds, response_folds
from ..design import candidate_designs, event_features
from ..executors import make_executor
from ..io import (
    content_key,
    is_up_to_date,
    load_array,
    read_responses,
    write_json,
    write_npy,
    write_npz,
    write_parquet,
)
from ..params import Params
from ..paths import Layout
from ..targets import EMBEDDING_KINDS, components, encoding_targets, target_labels, target_shape

log = logging.getLogger(__name__)

__all__ = ["run", "run_unit"]


@dataclass(frozen=True)
class Unit:
    """One work unit of the encode stage.

    Attributes
    ----------
    subject : int
        Subject number.
    alignment : str
        ``"language"`` or ``"vision"``.
    model : str
        Model id or baseline (``"multiconcat"``, ``"multilin"``).
    part : str
        ``"fit"`` (the CV fit), ``"null"`` (a chunk of permutations), ``"boot"`` (a chunk
        of bootstrap resamples) or ``"layers"`` (the CV fits of a model's layer sweep).
    chunk : slice or None
        Rows of the shared permutation or bootstrap index array.
    targets : tuple of int or None
        Null rounds: the targets whose p-values are still open (None: all).
    kind : str or None
        Response kind (``responses.kinds``); None: the first.
    """

    subject: int
    alignment: str
    model: str
    part: str = "fit"  # fit | null | boot | layers
    chunk: slice | None = None
    targets: tuple | None = None  # null rounds: the open targets (None: all)
    kind: str | None = None


FIT_ARRAYS = ("test_r", "val_r", "alpha", "test_r_folds", "val_r_folds", "valid")
#: Stats params that change the encode stage's outputs (the others belong to the stats stage).
ENCODE_STATS_FIELDS = (
    "permutations",
    "stop_exceedances",
    "bootstrap",
    "mode",
    "signal",
    "signal_alpha",
    "max_stat",
    "permutation_kind",
    "block_s",
    "block_events",
    "seed",
)


def _targets(params: Params, layout: Layout, unit: Unit):
    """The targets (:class:`~mmsites.pipeline.targets.EncodingTargets`), the folds, and the
    responses file's event tables."""
    resp = read_responses(layout.responses(unit.subject, unit.alignment))
    folds = response_folds(params, resp)
    return encoding_targets(params, resp, folds), folds, resp


def _columns(Y, cols):
    """Columns ``cols`` of a target matrix, or of each fold's (per-fold targets)."""
    if isinstance(Y, list):
        return [y[:, cols] for y in Y]
    return Y[:, cols]


def _designs(params: Params, layout: Layout, unit: Unit, resp: dict, folds) -> tuple[list, list | None]:
    return candidate_designs(params, layout, unit.model, unit.alignment, resp, folds)


def _engines(params: Params, designs: list, folds) -> list[CVEngine]:
    return [
        CVEngine(
            X,
            folds,
            params.encoding.alphas,
            device=params.encoding.device,
            target_batch=params.encoding.target_batch,
        )
        for X in designs
    ]


def _limit_threads(threads: int) -> None:
    """Run every work unit with the same number of torch and BLAS threads, whatever the executor:
    float32 sums depend on how they are split between threads, and the tables must not depend on
    which executor (or how many workers) ran them."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)


def run_unit(params: Params, workdir: Path, unit: Unit):
    """Execute one work unit (a top-level function, so worker processes and dask can run it).

    Parameters
    ----------
    params : Params
        The run's params.
    workdir : Path
        The work directory.
    unit : Unit
        What to compute.

    Returns
    -------
    dict
        ``fit``: the fit's arrays (``FIT_ARRAYS``, MultiLin's ``components``); ``null``: the
        chunk's null test and validation r (``test``, ``val``: permutations × targets);
        ``boot``: the chunk's bootstrap test and validation r.
    """
    _limit_threads(params.compute.threads_per_worker)
    layout = Layout(Path(workdir), params, unit.kind)
    targets, folds, resp = _targets(params, layout, unit)
    # Y: what the fits see (one matrix per fold for per-fold targets); held: what out-of-fold
    # predictions are compared with (the fast nulls and bootstrap).
    Y, held = targets.fit, targets.held_out
    n_targets = held.shape[1]
    sp = params.stats
    if unit.part == "fit":
        designs, sizes = _designs(params, layout, unit, resp, folds)
        results = [engine.fit(Y) for engine in _engines(params, designs, folds)]
        result, choice = (
            select_result(results) if len(results) > 1 else (results[0], np.zeros(n_targets, int))
        )
        extra = {} if sizes is None else {"components": np.asarray(sizes)[choice]}
        # The worker writes the (large) predictions itself: nothing large travels back.
        write_npy(
            np.asarray(result.predictions, dtype=np.float32),
            layout.predictions(unit.subject, unit.alignment, unit.model),
        )
        write_npz(
            layout.score_arrays(unit.subject, unit.alignment, unit.model),
            choice=choice,
            **extra,
            **{k: np.asarray(getattr(result, k)) for k in FIT_ARRAYS},
        )
        return None
    if unit.part == "layers":
        return _layer_sweep(params, layout, unit, Y, resp, folds)
    indices = load_array(layout.resampling(unit.subject, unit.alignment), "resampling file")
    path = layout.predictions(unit.subject, unit.alignment, unit.model)
    predictions = load_array(path, "predictions file", mmap_mode="r")
    if unit.part == "null":
        cols = slice(None) if unit.targets is None else np.asarray(unit.targets, dtype=np.int64)
        # Fast mode works on the held-out predictions: only refit needs the features (and MultiLin's fits).
        engine = (
            _engines(params, _designs(params, layout, unit, resp, folds)[0], folds)
            if sp.mode == "refit"
            else None
        )
        test, val = signal_null(
            sp.mode,
            _columns(Y, cols) if engine else held[:, cols],
            indices["permutations"][unit.chunk],
            folds=folds,
            predictions=None if engine else np.asarray(predictions[:, cols]),
            engine=engine,
            block=int(indices["block"]),
        )
        return {"test": test.astype(np.float32), "val": val.astype(np.float32)}
    if unit.part == "boot":
        engine = (
            _engines(params, _designs(params, layout, unit, resp, folds)[0], folds)
            if sp.mode == "refit"
            else [None]
        )
        if len(engine) > 1:
            # MultiLin: each target keeps its size, as in the fit.
            arrays = layout.score_arrays(unit.subject, unit.alignment, unit.model)
            choice = load_array(arrays, "score arrays")["choice"]
            test_r = np.zeros((unit.chunk.stop - unit.chunk.start, n_targets))
            val_r = np.zeros_like(test_r)
            for c, e in enumerate(engine):
                cols = np.flatnonzero(choice == c)
                if cols.size:
                    test_r[:, cols], val_r[:, cols] = bootstrap_scores(
                        sp.mode, _columns(Y, cols), indices["bootstrap"][unit.chunk], folds=folds, engine=e
                    )
        else:
            test_r, val_r = bootstrap_scores(
                sp.mode,
                Y if engine[0] is not None else held,
                indices["bootstrap"][unit.chunk],
                folds=folds,
                predictions=predictions,
                engine=engine[0],
            )
        return {"test_r": test_r.astype(np.float32), "val_r": val_r.astype(np.float32)}
    raise ValueError(f"unknown work unit part {unit.part!r}")


def swept_layers(layout: Layout, model: str) -> list[dict]:
    """The layers of a model's sweep as the features stage listed them (depth order).

    Parameters
    ----------
    layout : Layout
        The work directory's layout.
    model : str
        Model id.

    Returns
    -------
    list of dict
        ``name, type, depth`` per layer.

    Raises
    ------
    FileNotFoundError
        When the layer index is missing (the features stage did not run the sweep).
    """
    path = layout.layer_index(model)
    if not path.is_file():
        raise FileNotFoundError(
            f"model {model!r} declares models[].layers but {path} is missing: run the features stage"
        )
    return json.loads(path.read_text())["layers"]


def _layer_sweep(params: Params, layout: Layout, unit: Unit, Y, resp: dict, folds) -> None:
    """Fit every swept layer of a model (the CV fit only: no nulls), write the per-target table."""
    n_elec, n_bins = target_shape(params, resp)
    times, bands = target_labels(resp, n_bins)
    tables = []
    for layer in swept_layers(layout, unit.model):
        X = event_features(
            layout, unit.model, unit.alignment, resp["event_movie"], resp["event_movie_time"], layer["name"]
        )
        result = _engines(params, [X], folds)[0].fit(Y)
        table = {
            "layer": layer["name"],
            "type": layer["type"],
            "depth": layer["depth"],
            "electrode": np.repeat(np.asarray(resp["electrodes"], dtype=object), n_bins),
            "bin": np.tile(np.arange(n_bins), n_elec),
            "time_s": np.tile(times, n_elec),
            "test_r": np.asarray(result.test_r),
            "val_r": np.asarray(result.val_r),
            "alpha": np.asarray(result.alpha),
        }
        if bands is not None:
            table["band"] = np.tile(np.asarray(bands, dtype=object), n_elec)
        tables.append(pd.DataFrame(table))
    write_parquet(
        pd.concat(tables, ignore_index=True), layout.layer_scores(unit.subject, unit.alignment, unit.model)
    )
    return None


def resampling_indices(params: Params, layout: Layout, subject: int, alignment: str) -> None:
    """Draw the permutations and bootstrap resamples of one subject and alignment, once.

    ``permutations`` has ``stats.permutations + 1`` rows, the first the identity (the observed
    statistic is computed by the same function as its null). Written to
    ``work/resampling/sub-<s>_<alignment>.npz``; kept when its key is unchanged.

    Parameters
    ----------
    params : Params
        The run's params (``stats``: permutations, bootstrap, blocks, seed; ``encoding``).
    layout : Layout
        The work directory's layout.
    subject : int
        Subject number.
    alignment : str
        ``"language"`` or ``"vision"``.
    """
    sp = params.stats
    resp = read_responses(layout.responses(subject, alignment), data=False)
    n = resp["shape"][0]
    block = block_length(params, resp["event_movie_time"])
    log.info(
        "sub_%d %s: permutation blocks of %d events (%.1f s), purge gap %.1f s",
        subject,
        alignment,
        block,
        sp.block_s,
        gap_seconds(params),
    )
    folds = response_folds(params, resp)
    # Independent, reproducible streams per subject and alignment.
    seeds = np.random.SeedSequence(
        [sp.seed, subject, params.events.alignments.index(alignment)]
    ).generate_state(3)
    if sp.mode == "refit":
        perms = block_permutations(
            n, sp.permutations, block=block, seed=int(seeds[0]), kind=sp.permutation_kind
        )
        distinct = (
            n_distinct_block_permutations([block] * -(-n // block))
            if sp.permutation_kind == "block"
            else float(max(1, n - 2 * block + 1))
        )
    else:
        perms = fold_permutations(folds, n, sp.permutations, block=block, seed=int(seeds[0]), part="both")
        distinct = float(
            np.prod(
                [
                    n_distinct_block_permutations(
                        [1] * max(1, len(getattr(f, part)) // part_block(len(getattr(f, part)), block))
                    )
                    for f in folds
                    for part in ("val", "test")
                ]
            )
        )
    warn_if_few_permutations(distinct, alpha=sp.signal_alpha, what=f"sub_{subject} {alignment} permutations")
    arrays = {
        "permutations": np.vstack([np.arange(n, dtype=np.int64)[None], perms]),
        "block": np.array(block),
        "swap_seed": np.array(int(seeds[2])),
    }
    if sp.bootstrap:
        arrays["bootstrap"] = bootstrap_indices(
            n, sp.bootstrap, seed=int(seeds[1]), block=block, segments=fold_segments(folds, n)
        )
    write_npz(layout.resampling(subject, alignment), **arrays)


@dataclass
class _NullState:
    """The running permutation p-values of one fit: test r (reported) and validation r (selection)."""

    test: SequentialPvalues
    val: SequentialPvalues
    chunks: list  # (test, val) arrays, kept only for the max statistic

    @property
    def open_targets(self) -> np.ndarray:
        return np.flatnonzero(self.test.active | self.val.active)


def _start_state(params: Params, out: dict) -> _NullState:
    """State from the first chunk, whose row 0 is the identity (the observed statistics)."""
    h = None if params.stats.max_stat else params.stats.stop_exceedances
    state = _NullState(SequentialPvalues(out["test"][0], h), SequentialPvalues(out["val"][0], h), [])
    _update_state(params, state, {"test": out["test"][1:], "val": out["val"][1:]}, None)
    return state


def _update_state(params: Params, state: _NullState, out: dict, targets) -> None:
    state.test.update(out["test"], targets)
    state.val.update(out["val"], targets)
    if params.stats.max_stat:
        state.chunks.append((out["test"], out["val"]))


def merge(params: Params, layout: Layout, unit: Unit, fitted: dict, state: _NullState, boots: list) -> None:
    """Write a model's scores table from its fit, its permutation nulls and its bootstrap.

    Writes ``work/scores/sub-<s>_<alignment>_<model>.parquet`` (the contract in
    docs/architecture.md) and its ``.json`` key.

    Parameters
    ----------
    params : Params
        The run's params.
    layout : Layout
        The work directory's layout.
    unit : Unit
        The fit's unit (subject, alignment, model).
    fitted : dict
        The fit's arrays (:func:`run_unit` with part ``"fit"``).
    state : _NullState
        The permutation rounds' state: null r of every target that was refitted.
    boots : list of dict
        The bootstrap chunks' outputs, in order.
    """
    sp = params.stats
    resp = read_responses(layout.responses(unit.subject, unit.alignment), data=False)
    n_elec, n_bins = target_shape(params, resp)  # bins, bands x bins, or components
    times, bands = target_labels(resp, n_bins)
    test_r = fitted["test_r"]
    if sp.max_stat:
        null_t = np.concatenate([c[0] for c in state.chunks])
        null_v = np.concatenate([c[1] for c in state.chunks])
        p = max_over_bins_pvalues(state.test.observed, null_t, n_bins)
        p_val = max_over_bins_pvalues(state.val.observed, null_v, n_bins)
    else:
        p, p_val = state.test.pvalues(), state.val.pvalues()
    p = np.where(fitted["valid"], p, np.nan)
    p_val = np.where(fitted["valid"], p_val, np.nan)
    table = {
        "electrode": np.repeat(np.asarray(resp["electrodes"], dtype=object), n_bins),
        "bin": np.tile(np.arange(n_bins), n_elec),
        "time_s": np.tile(times, n_elec),
        "test_r": test_r,
        "val_r": fitted["val_r"],
        "alpha": fitted["alpha"],
    }
    summary = None
    if boots:
        boot_test_r = np.concatenate([c["test_r"] for c in boots])
        summary = bootstrap_summary(boot_test_r, np.concatenate([c["val_r"] for c in boots]))
        table.update(summary)
        # Kept for the paired bootstrap comparison (the same resamples for every model).
        write_npy(boot_test_r, layout.score_boot(unit.subject, unit.alignment, unit.model))
    table["p_value"] = p
    table["val_p_value"] = p_val
    table["n_permutations"] = np.maximum(state.test.n_evaluated, state.val.n_evaluated)
    # Signal bins are a choice: made on the validation r only.
    table["signal"] = (
        signal_bins(
            sp.signal,
            pvalues=p_val,
            val_lo=None if summary is None else summary["val_lo"],
            alpha=sp.signal_alpha,
        )
        & fitted["valid"]
    )
    if bands is not None:  # spectrogram: the band of each target
        table["band"] = np.tile(np.asarray(bands, dtype=object), n_elec)
    if "components" in fitted:
        table["components"] = fitted["components"]
    df = pd.DataFrame(table)
    write_parquet(df, layout.scores(unit.subject, unit.alignment, unit.model))
    log.info(
        "sub_%d %s %s: median test r %.3f, %d signal bins over %d electrodes (mean %.0f permutations per "
        "target)",
        unit.subject,
        unit.alignment,
        unit.model,
        float(np.nanmedian(test_r)),
        int(df["signal"].sum()),
        n_elec,
        float(df["n_permutations"].mean()),
    )


def _feature_inputs(params: Params, layout: Layout, unit: Unit) -> list[Path]:
    """The feature files a unit's design matrix is built from."""
    if unit.model in ("multiconcat", "multilin"):
        sources = list(getattr(params.baselines, unit.model)) + (
            [unit.model] if unit.model == "multiconcat" else []
        )
    else:
        sources = [unit.model]
    movies = sorted(
        {
            p.stem.rsplit("_", 1)[0]
            for m in sources
            for p in (layout.workdir / "work" / "features" / m).glob(f"*_{unit.alignment}.npy")
        }
    )
    return [layout.features(m, movie, unit.alignment) for m in sources for movie in movies]


def _encode_config(params: Params, kind: str) -> dict:
    """The params the encode stage's outputs depend on (``stats.fdr_q`` and the like do not)."""
    stats = params.stats.model_dump()
    config = {
        "encoding": params.encoding.model_dump(),
        "gap_s": gap_seconds(params),
        "stats": {k: stats[k] for k in ENCODE_STATS_FIELDS},
    }
    if kind in EMBEDDING_KINDS:
        config["components"] = components(params, kind)
    return config


def unit_key(params: Params, layout: Layout, unit: Unit) -> str:
    """A fingerprint of everything a model's scores depend on.

    The model or baseline definition, the encoding params and the encode stage's statistics
    params (``ENCODE_STATS_FIELDS``), the responses, the features and the shared resamples.

    Parameters
    ----------
    params : Params
        The run's params.
    layout : Layout
        The work directory's layout.
    unit : Unit
        The fit's unit.

    Returns
    -------
    str
        A hex digest; equal keys mean the stored scores can be kept.
    """
    definition = (
        params.model(unit.model).model_dump(exclude={"layers"})  # a sweep does not change the fit
        if unit.model not in ("multiconcat", "multilin")
        else {"baseline": unit.model, **params.baselines.model_dump()}
    )
    return content_key(
        {"model": definition, **_encode_config(params, layout.kind)},
        [
            layout.responses(unit.subject, unit.alignment),
            layout.resampling(unit.subject, unit.alignment),
            *_feature_inputs(params, layout, unit),
        ],
    )


def _resampling_key(params: Params, layout: Layout, subject: int, alignment: str) -> str:
    return content_key(_encode_config(params, layout.kind), [layout.responses(subject, alignment)])


def run(params: Params, workdir: Path) -> None:
    """Run the encode stage: every (subject, alignment, model) fit, its nulls and bootstrap.

    Reads ``work/responses/``, ``work/features/`` and ``work/events/``; writes
    ``work/resampling/sub-<s>_<alignment>.{npz,json}`` and, per model,
    ``work/scores/sub-<s>_<alignment>_<model>.{parquet,npz,json}``, ``_pred.npy`` and
    ``_boot.npy``. Models whose key is unchanged are kept.

    Parameters
    ----------
    params : Params
        The run's params (``models``, ``baselines``, ``encoding``, ``stats``, ``compute``).
    workdir : Path
        The work directory.
    """
    with make_executor(
        params.compute.executor, workers=params.compute.workers, scheduler=params.compute.dask_scheduler
    ) as executor:
        _run(params, workdir, executor)


def _run(params: Params, workdir: Path, executor) -> None:
    base = Layout(workdir, params)
    sp = params.stats
    for kind in params.responses.kinds:
        layout = base.for_kind(kind)
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
    for kind in params.responses.kinds:
        layout = base.for_kind(kind)
        for s in params.data.subjects:
            for a in params.events.alignments:
                for m in encoded_models(params):
                    unit = Unit(s, a, m, kind=kind)
                    keys[unit] = unit_key(params, layout, unit)
                    if is_up_to_date(
                        layout.scores(s, a, m), layout.scores(s, a, m).with_suffix(".json"), keys[unit]
                    ):
                        log.info("sub_%d %s %s (%s): scores up to date", s, a, m, kind)
                        continue
                    fits.append(unit)
    _layer_sweeps(params, workdir, executor, base)
    if not fits:
        return
    log.info("encode: %d CV fits on the %s executor", len(fits), params.compute.executor)
    executor.map(_call, [(params, str(workdir), u) for u in fits])
    states = _null_rounds(params, workdir, executor, fits)
    boot_units = [
        Unit(u.subject, u.alignment, u.model, "boot", c, kind=u.kind)
        for u in fits
        for c in (chunks(sp.bootstrap, sp.chunk) if sp.bootstrap else [])
    ]
    log.info("encode: %d bootstrap chunks (%s mode)", len(boot_units), sp.mode)
    boots: dict = {}
    for unit, out in zip(boot_units, executor.map(_call, [(params, str(workdir), u) for u in boot_units])):
        boots.setdefault((unit.subject, unit.alignment, unit.model, unit.kind), []).append(out)
    for unit in fits:
        layout = base.for_kind(unit.kind)
        arrays = layout.score_arrays(unit.subject, unit.alignment, unit.model)
        fitted = dict(load_array(arrays, "score arrays"))
        merge(
            params,
            layout,
            unit,
            fitted,
            states[unit],
            boots.get((unit.subject, unit.alignment, unit.model, unit.kind), []),
        )
        write_json(
            {
                "key": keys[unit],
                "mode": sp.mode,
                "permutations": sp.permutations,
                "bootstrap": sp.bootstrap,
                "signal": sp.signal,
            },
            layout.scores(unit.subject, unit.alignment, unit.model).with_suffix(".json"),
        )


def _layer_key(params: Params, layout: Layout, unit: Unit) -> str:
    """A fingerprint of a layer sweep's fits: the model, the encoding params, responses, layers."""
    # every movie's file of each layer: the layout's path with the movie as a wildcard
    patterns = [
        layout.layer_features(unit.model, layer["name"], "*", unit.alignment)
        for layer in swept_layers(layout, unit.model)
    ]
    files = sorted(path for pattern in patterns for path in pattern.parent.glob(pattern.name))
    return content_key(
        {
            "model": params.model(unit.model).model_dump(),
            "encoding": params.encoding.model_dump(),
            "gap_s": gap_seconds(params),
            "components": components(params, layout.kind) if layout.kind in EMBEDDING_KINDS else None,
        },
        [layout.responses(unit.subject, unit.alignment), *files],
    )


def _layer_sweeps(params: Params, workdir: Path, executor, base: Layout) -> None:
    """The CV fits of every layer of every model with a layer sweep (``models[].layers``).

    Each layer is encoded as a model is (same folds, penalties and targets), without the
    permutation and bootstrap nulls: the stats stage picks each electrode's best layer on the
    validation r and reports the test r there (``results/layers.csv``).
    """
    units, keys = [], {}
    for kind in params.responses.kinds:
        layout = base.for_kind(kind)
        for s in params.data.subjects:
            for a in params.events.alignments:
                for model in params.models:
                    if model.layers is None:
                        continue
                    unit = Unit(s, a, model.id, "layers", kind=kind)
                    keys[unit] = _layer_key(params, layout, unit)
                    path = layout.layer_scores(s, a, model.id)
                    if is_up_to_date(path, path.with_suffix(".json"), keys[unit]):
                        log.info("sub_%d %s %s (%s): layer sweep up to date", s, a, model.id, kind)
                        continue
                    units.append(unit)
    if not units:
        return
    log.info("encode: layer sweeps of %d (subject, alignment, model, kind)", len(units))
    executor.map(_call, [(params, str(workdir), u) for u in units])
    for unit in units:
        path = base.for_kind(unit.kind).layer_scores(unit.subject, unit.alignment, unit.model)
        write_json({"key": keys[unit]}, path.with_suffix(".json"))


def _null_rounds(params: Params, workdir: Path, executor, fits: list) -> dict:
    """The permutation nulls, one chunk of permutations per round for the targets still open."""
    sp = params.stats
    states: dict = {}
    for k, chunk in enumerate(chunks(sp.permutations + 1, sp.chunk)):
        units = []
        for fit in fits:
            if k == 0:
                units.append(Unit(fit.subject, fit.alignment, fit.model, "null", chunk, kind=fit.kind))
                continue
            open_targets = states[fit].open_targets
            if open_targets.size:
                units.append(
                    Unit(
                        fit.subject,
                        fit.alignment,
                        fit.model,
                        "null",
                        chunk,
                        tuple(open_targets.tolist()),
                        kind=fit.kind,
                    )
                )
        if not units:
            break
        log.info(
            "encode: permutations %d-%d for %d fits (%s mode)",
            chunk.start,
            chunk.stop - 1,
            len(units),
            sp.mode,
        )
        for unit, out in zip(units, executor.map(_call, [(params, str(workdir), u) for u in units])):
            fit = Unit(unit.subject, unit.alignment, unit.model, kind=unit.kind)
            if k == 0:
                states[fit] = _start_state(params, out)
            else:
                _update_state(params, states[fit], out, np.asarray(unit.targets))
    return states


def _call(args):
    params, workdir, unit = args
    return run_unit(params, Path(workdir), unit)
