"""Stage ``similarity``: CKA and RSA between models, layers and the brain, with block-permutation p-values.

Two tables (``similarity:`` params; :mod:`mmsites.similarity`):

1. ``results/similarity_models.csv``: for each alignment, on the events of every movie of the
   run (concatenated in movie order, at most ``similarity.max_events`` evenly spaced), each
   ``similarity.measures`` value between every ordered pair of (model, layer), both orders
   and the diagonal. A model's layers are its own features (layer ``"output"``, or the
   spec's ``layer``) and, when it has a layer sweep, every layer its
   ``work/features/<model>/layers.json`` lists, in depth order.
2. ``results/similarity_brain.csv``: for each response kind with time bins, subject,
   alignment, electrode group (``all``, and with ``similarity.regions`` every region of
   ``results/electrodes.csv``; an electrode without a region is ``unassigned``) and window of
   ``similarity.windows_s`` (each electrode's bins whose centres lie in the window,
   averaged: an events x electrodes matrix), each ``similarity.brain_measures`` value
   between each (model, layer)'s features of the subject's events (matched to the responses'
   events by :func:`mmsites.pipeline.design.event_features`, the encode stage's rule) and
   that matrix, with a p-value from ``similarity.permutations`` re-pairings of the events
   that keep their autocorrelation (``similarity.permutation_kind``: circular shifts, or
   block permutations with the encode stage's blocks, :func:`mmsites.pipeline.cv.block_length`;
   one draw per subject and alignment, shared by every test of it) and a Benjamini-Hochberg q-value
   per family (response kind, subject, alignment, measure).

Each (kind, subject, alignment)'s rows are kept in ``work/similarity/<kind>/sub-<s>_<alignment>.parquet``
with a content key (params, features and responses fingerprints): a rerun computes only what
changed, and an interrupted run resumes. With ``similarity.enabled: false`` both tables are
written with their headers only.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mmsites.similarity.pairwise import pairwise_similarity
from mmsites.similarity.permutation import permutation_test
from mmsites.stats.fdr import fdr_bh
from mmsites.stats.pvalues import bh_floor_warning
from mmsites.stats.resampling import block_permutations

from ..cv import block_length
from ..design import event_features
from ..io import (
    content_key,
    is_up_to_date,
    read_csv,
    read_events,
    read_responses,
    write_csv,
    write_json,
    write_parquet,
)
from ..params import Params
from ..paths import Layout
from ..sessions import list_sessions, movies

log = logging.getLogger(__name__)

__all__ = ["run", "representations", "model_table", "brain_unit", "MODEL_COLUMNS", "BRAIN_COLUMNS"]

MODEL_COLUMNS = (
    "alignment",
    "model_a",
    "layer_a",
    "depth_a",
    "model_b",
    "layer_b",
    "depth_b",
    "measure",
    "value",
    "n_events",
)
BRAIN_COLUMNS = (
    "response_kind",
    "subject",
    "alignment",
    "region",
    "window_start_s",
    "window_end_s",
    "n_electrodes",
    "model",
    "layer",
    "depth",
    "measure",
    "value",
    "p_value",
    "q_value",
    "n_permutations",
    "n_events",
)
#: Response kinds whose responses are per (electrode, [band,] time bin): what a window averages.
TIME_KINDS = ("voltage", "band_power", "spectrogram")
#: The group of every electrode, and of those without a region.
ALL, UNASSIGNED = "all", "unassigned"


@dataclass(frozen=True)
class Representation:
    """One (model, layer) whose features are compared.

    Attributes
    ----------
    model : str
        Model id.
    layer : str
        The label in the tables: ``"output"`` (or the spec's ``layer``) for the model's own
        features, else the swept layer's module name.
    depth : float
        Position in the network in [0, 1] (the sweep's ``depth``); 1.0 for ``"output"``; NaN
        for a named ``layer`` that the sweep does not list.
    sweep_layer : str or None
        The layer's name under ``work/features/<model>/layers/``; None for the model's own
        features.
    """

    model: str
    layer: str
    depth: float
    sweep_layer: str | None = None


def _layer_index(path: Path) -> list[dict]:
    try:
        layers = json.loads(path.read_text())["layers"]
        return [{"name": str(e["name"]), "depth": float(e["depth"])} for e in layers]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ValueError(
            f"{path} is not a layer index ({{'layers': [{{'name', 'type', 'depth'}}, ...]}}): {err}; "
            "rerun the features stage"
        ) from None


def representations(params: Params, layout: Layout) -> list[Representation]:
    """Every (model, layer) of ``params.models``: the model's features, then its swept layers.

    Parameters
    ----------
    params : Params
        Validated params; ``models`` matters.
    layout : Layout
        Where the layer indexes (``work/features/<model>/layers.json``) are.

    Returns
    -------
    list of Representation
        Model by model in params order; a swept layer that is the model's own ``layer`` is
        listed once (as the model's features).

    Raises
    ------
    ValueError
        If a layer index exists but is not ``{"layers": [{"name", "depth"}, ...]}``.
    """
    reps = []
    for spec in params.models:
        path = layout.layer_index(spec.id)
        swept = _layer_index(path) if path.is_file() else []
        depths = {e["name"]: e["depth"] for e in swept}
        label = spec.layer or "output"
        depth = 1.0 if spec.layer is None else depths.get(spec.layer, math.nan)
        reps.append(Representation(spec.id, label, depth))
        reps += [
            Representation(spec.id, e["name"], e["depth"], e["name"])
            for e in swept
            if e["name"] != spec.layer
        ]
    return reps


def _features(layout: Layout, rep: Representation, alignment: str, event_movie, event_times) -> np.ndarray:
    X = event_features(
        layout, rep.model, alignment, list(event_movie), np.asarray(event_times), layer=rep.sweep_layer
    )
    return np.asarray(X, dtype=np.float32)


def _feature_files(layout: Layout, rep: Representation, movie_ids, alignment: str) -> list[Path]:
    return [
        layout.features(rep.model, m, alignment)
        if rep.sweep_layer is None
        else layout.layer_features(rep.model, rep.sweep_layer, m, alignment)
        for m in movie_ids
    ]


def _rsa_usable(params: Params, width: int) -> bool:
    """Whether RSA is defined for a representation of ``width`` columns (correlation needs 2)."""
    return params.similarity.rsa_similarity != "correlation" or width >= 2


def _measure_name(params: Params, measure: str) -> str:
    """The measure as the tables name it: ``cka_debiased``, ``cka``, ``rsa_correlation_spearman``."""
    sp = params.similarity
    if measure == "cka":
        return "cka_debiased" if sp.debiased else "cka"
    return f"rsa_{sp.rsa_similarity}_{sp.rsa_compare}"


def model_table(params: Params, layout: Layout, reps: list[Representation]) -> pd.DataFrame:
    """Model x model similarities on every movie's events of each alignment.

    Parameters
    ----------
    params : Params
        Validated params; ``similarity`` (measures, debiased, rsa_*, max_events),
        ``events.alignments`` and ``data`` (the movies of the run) matter.
    layout : Layout
        The file layout: events tables and features.
    reps : list of Representation
        The (model, layer)s (:func:`representations`).

    Returns
    -------
    DataFrame
        Columns :data:`MODEL_COLUMNS`: every ordered pair, the diagonal included (the value is
        symmetric; each unordered pair is computed once).
    """
    sp = params.similarity
    movie_list = movies(list_sessions(params, layout))
    rows = []
    for alignment in params.events.alignments:
        tables = [read_events(layout.events(m, alignment)) for m in movie_list]
        event_movie = np.concatenate([np.full(len(t), m, dtype=object) for m, t in zip(movie_list, tables)])
        times = np.concatenate([t["movie_time"].to_numpy(float) for t in tables])
        keep = np.arange(len(times))
        if sp.max_events is not None and len(keep) > sp.max_events:
            keep = np.unique(np.linspace(0, len(times) - 1, sp.max_events).round().astype(int))
            log.info(
                "similarity.max_events: model x model on %d of %d %s events", len(keep), len(times), alignment
            )
        feats = [_features(layout, r, alignment, event_movie[keep], times[keep]) for r in reps]
        for measure in sp.measures:
            name = _measure_name(params, measure)
            usable = [i for i, X in enumerate(feats) if measure == "cka" or _rsa_usable(params, X.shape[1])]
            if len(usable) < len(reps):
                log.info(
                    "%s: %d representation(s) of one feature left out (RSA by correlation needs 2)",
                    name,
                    len(reps) - len(usable),
                )
            values = pairwise_similarity(
                [feats[i] for i in usable],
                measure,
                debiased=sp.debiased,
                similarity=sp.rsa_similarity,
                compare=sp.rsa_compare,
            )
            for a, i in enumerate(usable):
                for b, j in enumerate(usable):
                    x, y = reps[i], reps[j]
                    rows.append(
                        (
                            alignment,
                            x.model,
                            x.layer,
                            x.depth,
                            y.model,
                            y.layer,
                            y.depth,
                            name,
                            values[a, b],
                            len(keep),
                        )
                    )
        log.info("model x model (%s): %d representations on %d events", alignment, len(reps), len(keep))
    return pd.DataFrame(rows, columns=list(MODEL_COLUMNS))


def brain_kinds(params: Params) -> list[str]:
    """The response kinds the model x brain table tests.

    Parameters
    ----------
    params : Params
        Validated params; ``similarity.kinds`` and ``responses.kinds`` matter.

    Returns
    -------
    list of str
        ``similarity.kinds``, or (None) every kind of ``responses.kinds`` with time bins.

    Raises
    ------
    ValueError
        If ``similarity.kinds`` names a kind that ``responses.kinds`` does not compute.
    """
    asked = params.similarity.kinds
    if asked is None:
        return [k for k in params.responses.kinds if k in TIME_KINDS]
    missing = [k for k in asked if k not in params.responses.kinds]
    if missing:
        raise ValueError(
            f"similarity.kinds names {missing}, which responses.kinds ({list(params.responses.kinds)}) "
            "does not compute"
        )
    return list(asked)


def electrode_groups(
    params: Params, electrodes: pd.DataFrame | None, subject: int, labels: list[str]
) -> dict:
    """The electrode groups of one subject: ``all``, then each region (``unassigned`` last).

    Parameters
    ----------
    params : Params
        Validated params; ``similarity.regions`` matters.
    electrodes : DataFrame or None
        ``results/electrodes.csv`` (``subject``, ``electrode``, ``region``), or None.
    subject : int
        Subject number.
    labels : list of str
        The electrodes of the responses file, in its order.

    Returns
    -------
    dict
        Group name -> indices into ``labels`` (int arrays, never empty).
    """
    groups = {ALL: np.arange(len(labels))}
    if not params.similarity.regions or electrodes is None:
        return groups
    own = electrodes[electrodes["subject"].astype(str) == str(subject)]
    region_of = dict(zip(own["electrode"].astype(str), own["region"]))
    names = []
    for label in labels:
        region = region_of.get(label)
        names.append(UNASSIGNED if not isinstance(region, str) or region in ("", "unlocalised") else region)
    names = np.asarray(names, dtype=object)
    for region in sorted(set(names) - {UNASSIGNED}) + ([UNASSIGNED] if UNASSIGNED in names else []):
        groups[region] = np.flatnonzero(names == region)
    return groups


def _window_bins(bin_times: np.ndarray, window, path: Path) -> np.ndarray:
    start, end = window
    inside = np.flatnonzero((bin_times >= start - 1e-9) & (bin_times <= end + 1e-9))
    if not inside.size:
        raise ValueError(
            f"similarity.windows_s: no bin of {path} has its centre in [{start}, {end}] s (bins span "
            f"{bin_times[0]:g} to {bin_times[-1]:g} s)"
        )
    return inside


def brain_unit(
    params: Params, layout: Layout, reps: list[Representation], subject: int, alignment: str, electrodes
) -> pd.DataFrame:
    """Model x brain similarities and p-values of one (response kind, subject, alignment).

    Parameters
    ----------
    params : Params
        Validated params; ``similarity`` and ``stats.block_s`` / ``stats.block_events`` matter.
    layout : Layout
        The file layout of the kind (``layout.kind``).
    reps : list of Representation
        The (model, layer)s.
    subject : int
        Subject number.
    alignment : str
        Event alignment.
    electrodes : DataFrame or None
        ``results/electrodes.csv``.

    Returns
    -------
    DataFrame
        Columns :data:`BRAIN_COLUMNS`, ``q_value`` not yet filled (NaN).

    Raises
    ------
    ValueError
        If a window holds no bin (names ``similarity.windows_s``), the responses have no time
        bins, or an event has no feature row.
    """
    sp = params.similarity
    path = layout.responses(subject, alignment)
    resp = read_responses(path)
    if resp["bin_times"] is None:
        raise ValueError(
            f"similarity.kinds: {path} ({resp['kind']}) has no time bins to average over a window"
        )
    responses = resp["responses"]
    n = responses.shape[0]
    groups = electrode_groups(params, electrodes, subject, resp["electrodes"])
    block = block_length(params, resp["event_movie_time"])
    seed = int(
        np.random.SeedSequence([sp.seed, subject, params.events.alignments.index(alignment)]).generate_state(
            1
        )[0]
    )
    try:
        # circular: every shift 1..n-1 (the whole group of shifts: exact for stationary series)
        shift = 1 if sp.permutation_kind == "circular" else block
        perms = block_permutations(n, sp.permutations, block=shift, seed=seed, kind=sp.permutation_kind)
    except ValueError as err:
        raise ValueError(
            f"similarity.permutation_kind={sp.permutation_kind!r} with blocks of {block} events "
            f"(stats.block_s / stats.block_events) on {n} events of {path}: {err}"
        ) from None
    log.info(
        "%s sub_%d %s: %d events, %d electrodes in %d groups, %d %s permutations (shift/block %d)",
        layout.kind,
        subject,
        alignment,
        n,
        responses.shape[1],
        len(groups),
        sp.permutations,
        sp.permutation_kind,
        shift,
    )
    # per window, every electrode's (and band's) bins averaged: events x columns; the groups are
    # columns of it (``all`` and the regions share columns: their CKA cross terms are computed once)
    width = int(np.prod(responses.shape[2:-1], dtype=int))  # bands per electrode (spectrogram), else 1
    columns = {region: (idx[:, None] * width + np.arange(width)).ravel() for region, idx in groups.items()}
    windows = [
        (window, responses[..., _window_bins(resp["bin_times"], window, path)].mean(-1).reshape(n, -1))
        for window in sp.windows_s
    ]
    rows = []
    for rep in reps:
        X = _features(layout, rep, alignment, resp["event_movie"], resp["event_movie_time"])
        for measure in sp.brain_measures:
            name = _measure_name(params, measure)
            tested = [r for r, cols in columns.items() if measure == "cka" or _rsa_usable(params, len(cols))]
            if len(tested) < len(columns):
                log.info(
                    "%s: %d group(s) of one column left out (RSA by correlation needs 2)",
                    name,
                    len(columns) - len(tested),
                )
            if not tested:
                continue
            for window, Y in windows:
                results = permutation_test(
                    X,
                    Y,
                    perms,
                    groups=[columns[r] for r in tested],
                    statistic=measure,
                    debiased=sp.debiased,
                    similarity=sp.rsa_similarity,
                    compare=sp.rsa_compare,
                )
                for region, res in zip(tested, results):
                    rows.append(
                        (
                            layout.kind,
                            subject,
                            alignment,
                            region,
                            float(window[0]),
                            float(window[1]),
                            len(groups[region]),
                            rep.model,
                            rep.layer,
                            rep.depth,
                            name,
                            res.observed,
                            res.p_value,
                            math.nan,
                            sp.permutations,
                            n,
                        )
                    )
    return pd.DataFrame(rows, columns=list(BRAIN_COLUMNS))


def _unit_path(layout: Layout, subject: int, alignment: str) -> Path:
    return layout.workdir / "work" / "similarity" / layout.kind / f"sub-{subject}_{alignment}.parquet"


def _unit_key(
    params: Params, layout: Layout, reps, subject: int, alignment: str, electrodes_path: Path
) -> str:
    resp_path = layout.responses(subject, alignment)
    movie_ids = sorted(set(read_responses(resp_path, data=False)["event_movie"]))
    files = [resp_path, electrodes_path] + [
        f for r in reps for f in _feature_files(layout, r, movie_ids, alignment)
    ]
    settings = {
        "similarity": params.similarity.model_dump(exclude={"enabled", "measures", "max_events", "fdr_q"}),
        "block": [params.stats.block_s, params.stats.block_events],
        "reps": [(r.model, r.layer, r.depth, r.sweep_layer) for r in reps],
        "alignments": list(params.events.alignments),
        "version": 1,
    }
    return content_key(settings, files)


def brain_table(params: Params, layout: Layout, reps: list[Representation]) -> pd.DataFrame:
    """Model x brain similarities, p-values and q-values of every kind, subject and alignment.

    Parameters
    ----------
    params : Params
        Validated params.
    layout : Layout
        The file layout.
    reps : list of Representation
        The (model, layer)s.

    Returns
    -------
    DataFrame
        Columns :data:`BRAIN_COLUMNS`; ``q_value`` by Benjamini-Hochberg per (response kind,
        subject, alignment, measure).
    """
    sp = params.similarity
    electrodes_path = layout.results / "electrodes.csv"
    electrodes = read_csv(electrodes_path, "electrodes table") if electrodes_path.is_file() else None
    if electrodes is None and sp.regions:
        log.warning(
            "%s is missing (run the regions stage): only the 'all' electrode group is tested", electrodes_path
        )
    parts = []
    for kind in brain_kinds(params):
        kl = layout.for_kind(kind)
        for subject in params.data.subjects:
            for alignment in params.events.alignments:
                out = _unit_path(kl, subject, alignment)
                stamp = out.with_suffix(".json")
                key = _unit_key(params, kl, reps, subject, alignment, electrodes_path)
                if is_up_to_date(out, stamp, key):
                    log.info("%s sub_%d %s: up to date (%s)", kind, subject, alignment, out)
                    parts.append(pd.read_parquet(out))
                    continue
                start = time.perf_counter()
                table = brain_unit(params, kl, reps, subject, alignment, electrodes)
                write_parquet(table, out)
                write_json({"key": key, "seconds": round(time.perf_counter() - start, 3)}, stamp)
                parts.append(table)
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(BRAIN_COLUMNS))
    if table.empty:
        return pd.DataFrame(columns=list(BRAIN_COLUMNS))
    family = ["response_kind", "subject", "alignment", "measure"]
    for _, idx in table.groupby(family, sort=False).groups.items():
        table.loc[idx, "q_value"] = fdr_bh(table.loc[idx, "p_value"].to_numpy(float), sp.fdr_q)[0]
        bh_floor_warning(sp.permutations, len(idx), sp.fdr_q, n_true=max(1, len(idx) // 10), logger=log)
    n_sig = int((table["q_value"] < sp.fdr_q).sum())
    log.info("model x brain: %d tests, %d with q < %g", len(table), n_sig, sp.fdr_q)
    return table


def run(params: Params, workdir: Path) -> None:
    """Run the similarity stage (the module docstring says what it computes).

    Reads ``work/events/<movie>_<alignment>.parquet``, each model's
    ``work/features/<model>/<movie>_<alignment>.npy`` (and, for a layer sweep, its
    ``layers.json`` and ``layers/<layer>/`` files), ``work/responses/<kind>/sub-<s>_<alignment>.h5``
    and ``results/electrodes.csv``; writes ``results/similarity_models.csv``,
    ``results/similarity_brain.csv`` and the per-unit ``work/similarity/`` cache.

    Parameters
    ----------
    params : Params
        Validated params; ``similarity``, ``models``, ``data``, ``events.alignments``,
        ``responses.kinds`` and ``stats.block_s`` / ``stats.block_events`` matter.
    workdir : Path
        The working directory every path above is relative to.

    Raises
    ------
    FileNotFoundError
        If features, events or responses are missing (run the earlier stages).
    ValueError
        If a params value cannot be used (the message names the key) or an event has no
        feature row.
    """
    layout = Layout(workdir, params)
    models_path = layout.results / "similarity_models.csv"
    brain_path = layout.results / "similarity_brain.csv"
    if not params.similarity.enabled:
        log.info("similarity.enabled is false: writing empty %s and %s", models_path.name, brain_path.name)
        write_csv(pd.DataFrame(columns=list(MODEL_COLUMNS)), models_path)
        write_csv(pd.DataFrame(columns=list(BRAIN_COLUMNS)), brain_path)
        return
    brain_kinds(params)  # a params error before any work
    reps = representations(params, layout)
    if not reps:
        log.warning("no models in params: the similarity tables are empty")
    start = time.perf_counter()
    models = model_table(params, layout, reps) if reps else pd.DataFrame(columns=list(MODEL_COLUMNS))
    log.info("model x model: %d rows in %.1f s", len(models), time.perf_counter() - start)
    start = time.perf_counter()
    brain = brain_table(params, layout, reps) if reps else pd.DataFrame(columns=list(BRAIN_COLUMNS))
    log.info("model x brain: %d rows in %.1f s", len(brain), time.perf_counter() - start)
    write_csv(models, models_path)
    write_csv(brain, brain_path)
