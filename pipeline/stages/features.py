"""Stage ``features``: every model's features for every event of every movie and alignment.

Writes ``work/features/<model>/<movie>_<alignment>.npy`` (float32, one row per row of the
events table, same order) and a ``.json`` beside it (the model spec, shape, reduction). A model
whose outputs exist with the same spec is skipped, so adding a model to params.yaml computes
only that model. Frames come from the events stage's cache: each frame is decoded once per
movie and shared by every model; each unique frame and text is encoded once per model. The
cache is memory-mapped and each batch's frames are copied from it as the model reads them, so
memory stays flat in the number of events.

A model with a ``layer`` whose width exceeds the Johnson–Lindenstrauss dimension of the events
is reduced once per alignment over all movies together (one projection fit on every movie's
events, ``jl_dim`` of their total), so all movies share the same columns; the ``.json`` records
that joint reduction (method, from, n_components, movies).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from mmsites.device import resolve_device
from mmsites.features.baselines import multiconcat
from mmsites.features.reduction import jl_dim, random_projector, reduce_jointly
from mmsites.features.zoo import build_extractor
from mmsites.features.zoo.spec import ModelSpec
from mmsites.timing import TIME_TOL_S, match_times

from ..io import content_key, is_up_to_date, load_array, read_events, write_json, write_npy
from ..params import Params
from ..paths import Layout
from ..sessions import list_sessions, movies

log = logging.getLogger(__name__)


def resolve_spec(model: ModelSpec, layout: Layout) -> ModelSpec:
    """The params' model with ``path`` and ``weights`` resolved against the workdir where they exist.

    Parameters
    ----------
    model : ModelSpec
        A model of the params, as written (relative paths are relative to the workdir).
    layout : Layout
        The run's file layout (its ``workdir``).

    Returns
    -------
    ModelSpec
        ``model`` itself, or a validated copy whose existing relative ``path`` / ``weights``
        are absolute; every other field (``slip_role``, ``random_twin``, ...) unchanged.
    """
    changes = {}
    for key in ("path", "weights"):
        value = getattr(model, key)
        if value and (layout.workdir / value).exists():
            changes[key] = str(layout.resolve(value))
    return model.replace(**changes) if changes else model


def spec_key(model: ModelSpec, params: Params, inputs: list[Path], extra: dict | None = None) -> str:
    """A fingerprint of everything that determines a model's features.

    Parameters
    ----------
    model : ModelSpec
        The model.
    params : Params
        The run's params (the ``features:`` section enters the key).
    inputs : list of Path
        The input files (events table, frame cache, precomputed files), fingerprinted.
    extra : dict, optional
        Further settings, e.g. the movies reduced together.

    Returns
    -------
    str
        A hex digest; equal keys mean stored features can be kept.
    """
    # A layer sweep's layers do not change the model's own features: they are not in its key.
    settings = {"model": model.model_dump(exclude={"layers"}), "features": params.features.model_dump()}
    if extra:
        settings.update(extra)
    return content_key(settings, inputs)


def frame_index(frame_times: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Row of the frame cache shown at each event (frame times matched to 1 µs).

    Parameters
    ----------
    frame_times : numpy.ndarray of float, shape (n_frames,)
        The frame cache's presentation times, seconds.
    wanted : numpy.ndarray of float, shape (n_events,)
        The events' ``frame_time`` column, seconds.

    Returns
    -------
    numpy.ndarray of int64, shape (n_events,)
        Row of the frame cache for each event.

    Raises
    ------
    ValueError
        When an event's frame is not in the cache (the events stage must be rerun).
    """
    idx = match_times(wanted, frame_times, tol=TIME_TOL_S)
    bad = idx < 0
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} events show frames missing from the frame cache "
            f"(first at {wanted[bad][0]:.3f} s): rerun the events stage"
        )
    return idx


def read_frame_cache(layout: Layout, movie: str) -> tuple[np.ndarray, np.ndarray]:
    """Open a movie's frame cache: the frames memory-mapped (read-only), their times in memory.

    Nothing is read from the frames file here: the extractor gathers each batch's rows from the
    map (a copy of that batch only), so memory stays flat in the number of events.

    Parameters
    ----------
    layout : Layout
        The work directory's layout (``Layout.frames``).
    movie : str
        Movie id.

    Returns
    -------
    frames : numpy.memmap of uint8, shape (n_frames, side, side, 3)
        The RGB frames, read-only, backed by ``work/frames/<movie>/frames.npy``.
    times : numpy.ndarray of float64, shape (n_frames,)
        Each frame's presentation time, seconds.

    Raises
    ------
    FileNotFoundError
        If a file of the cache is missing.
    ValueError
        If a file cannot be read (truncated, overwritten) or the two disagree; the message
        names the file.
    """
    frames_path, times_path = layout.frames(movie, "frames"), layout.frames(movie, "times")
    frames = load_array(frames_path, "frame cache", mmap_mode="r")
    times = load_array(times_path, "frame cache")
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(
            f"frame cache {frames_path} holds {frames.dtype} of shape {frames.shape}, expected uint8 "
            "(n_frames, side, side, 3): rerun the events stage"
        )
    if times.ndim != 1 or len(times) != len(frames) or not np.issubdtype(times.dtype, np.floating):
        raise ValueError(
            f"frame cache {times_path} holds {times.dtype} of shape {times.shape}, expected float "
            f"({len(frames)},) (one time per frame of {frames_path.name}): rerun the events stage"
        )
    return frames, times


def movie_inputs(model: ModelSpec, layout: Layout, movie: str, alignment: str) -> list[Path]:
    """The files a model's features of one movie and alignment are computed from.

    Parameters
    ----------
    model : ModelSpec
        The model.
    layout : Layout
        The work directory's layout.
    movie : str
        Movie id.
    alignment : str
        ``"language"`` or ``"vision"``.

    Returns
    -------
    list of Path
        The events table, the frame cache's two files (image models) and the precomputed file
        (``family: precomputed``).
    """
    inputs = [layout.events(movie, alignment)]
    if model.input != "text" and model.family != "precomputed":
        inputs += [layout.frames(movie, "frames"), layout.frames(movie, "times")]
    if model.family == "precomputed" and model.path:
        inputs.append(layout.resolve(model.path) / f"{movie}_{alignment}.parquet")
    return inputs


def feature_groups(model: ModelSpec, params: Params, layout: Layout, movie_list: list[str]) -> list:
    """The (alignment, movies, key) groups whose features are computed together.

    A model with a ``layer`` is reduced once over all movies of an alignment (one projection,
    so every movie gets the same columns): its group is every movie, and each movie's key
    depends on every movie's inputs. Other models have one group per movie.

    Parameters
    ----------
    model : ModelSpec
        The model.
    params : Params
        The run's params (``events.alignments``, ``features``).
    layout : Layout
        The work directory's layout.
    movie_list : list of str
        The movies of the run.

    Returns
    -------
    list of tuple
        ``(alignment, movies, key)`` per group.
    """
    groups = []
    for alignment in params.events.alignments:
        if model.layer is not None or model.layers is not None:
            inputs = [path for movie in movie_list for path in movie_inputs(model, layout, movie, alignment)]
            extra = {"joint_movies": list(movie_list)} if len(movie_list) > 1 else None
            groups.append((alignment, list(movie_list), spec_key(model, params, inputs, extra)))
        else:
            for movie in movie_list:
                key = spec_key(model, params, movie_inputs(model, layout, movie, alignment))
                groups.append((alignment, [movie], key))
    return groups


def extract_movie(
    model: ModelSpec, params: Params, layout: Layout, extractor, movie: str, alignment: str, reduce=None
):
    """A model's (unreduced) features of one movie's events of one alignment.

    With a layer sweep (``model.layers``), also the swept layers' features, from the same
    forward passes.

    Parameters
    ----------
    model : ModelSpec
        The model.
    params : Params
        The run's params (``features.batch_size``).
    layout : Layout
        The work directory's layout.
    extractor : Extractor
        The model's extractor (:func:`mmsites.features.zoo.build_extractor`).
    movie : str
        Movie id.
    alignment : str
        ``"language"`` or ``"vision"``.
    reduce : callable, optional
        For a sweep: ``reduce(layer, width)`` (see
        :meth:`~mmsites.features.zoo.base.Extractor.extract_layers`).

    Returns
    -------
    numpy.ndarray of float32, shape (n_events, n_features), or (that array, LayerSweep)
        One row per event of the events table; with a layer sweep, also the
        :class:`~mmsites.features.zoo.base.LayerSweep` of the same events.

    Raises
    ------
    FileNotFoundError
        When an image model needs a movie's frames and the movie has none.
    """
    events = read_events(layout.events(movie, alignment))
    frames = index = None
    if model.input != "text" and model.family != "precomputed":
        if not layout.frames(movie).is_dir():
            raise FileNotFoundError(
                f"model {model.id!r} reads images, but movie {movie!r} has no frames: put its video at "
                f"{layout.movies_dir or '<data.movies>'}/{movie}.mp4 and rerun the events stage, or drop "
                "the image models from params.models"
            )
        frames, times = read_frame_cache(layout, movie)  # frames memory-mapped, not loaded
        index = frame_index(times, events["frame_time"].to_numpy())
    if reduce is not None or model.layers is not None:
        return extractor.extract_layers(
            events, frames, index, batch_size=params.features.batch_size, reduce=reduce
        )
    return extractor.extract(events, frames, index, batch_size=params.features.batch_size)


def model_features(model: ModelSpec, params: Params, layout: Layout, movie_list: list[str]) -> None:
    """Compute and write one model's features for every movie and alignment not up to date.

    Parameters
    ----------
    model : ModelSpec
        The model.
    params : Params
        The run's params.
    layout : Layout
        The work directory's layout (writes ``work/features/<model>/<movie>_<alignment>.npy``).
    movie_list : list of str
        The movies of the run.
    """
    todo = []
    for alignment, group, key in feature_groups(model, params, layout, movie_list):
        outs = [layout.features(model.id, movie, alignment) for movie in group]
        if all(is_up_to_date(out, out.with_suffix(".json"), key) for out in outs) and _sweep_up_to_date(
            model, layout, group, alignment, key
        ):
            log.info("%s %s %s: up to date", model.id, "+".join(group), alignment)
            continue
        todo.append((alignment, group, key))
    if not todo:
        return
    device = str(resolve_device(params.features.device))
    extractor = build_extractor(resolve_spec(model, layout), device=device)
    fp = params.features
    for alignment, group, key in todo:
        reduce = None
        if model.layers is not None:  # the projection's dimension is needed before extraction
            n_sweep = sum(len(read_events(layout.events(movie, alignment))) for movie in group)
            reduce = _sweep_reducer(params, n_sweep)
        blocks, seconds, sweeps = [], [], []
        for movie in group:
            start = time.perf_counter()
            out = extract_movie(model, params, layout, extractor, movie, alignment, reduce)
            if model.layers is not None:
                out, sweep = out
                sweeps.append(sweep)
            blocks.append(out)
            seconds.append(time.perf_counter() - start)
        reduced = None
        n_events = sum(len(X) for X in blocks)
        width = blocks[0].shape[1]
        if model.layer is not None and n_events and width > jl_dim(n_events, fp.jl_eps):
            # One projection for all movies of the alignment: same columns in every movie.
            blocks = reduce_jointly(blocks, method=fp.reduction, eps=fp.jl_eps, seed=fp.seed)
            reduced = _reduction(fp, width, blocks[0].shape[1], n_events, group)
            log.info(
                "%s %s: %s of %d features to %d, fit jointly on %d events of %d movie(s) %s",
                model.id,
                alignment,
                fp.reduction,
                width,
                blocks[0].shape[1],
                n_events,
                len(group),
                group,
            )
        for movie, X, secs in zip(group, blocks, seconds):
            out = layout.features(model.id, movie, alignment)
            write_npy(np.ascontiguousarray(X, dtype=np.float32), out)
            write_json(
                {
                    "key": key,
                    "model": model.model_dump(),
                    "movie": movie,
                    "alignment": alignment,
                    "shape": list(X.shape),
                    "reduction": reduced,
                    "device": device,
                    "seconds": round(secs, 3),
                },
                out.with_suffix(".json"),
            )
            log.info("%s %s %s: features %s in %.1f s", model.id, movie, alignment, X.shape, secs)
        if sweeps:
            write_sweep(model, params, layout, group, alignment, key, sweeps, n_events)


def _reduction(fp, width: int, n_components: int, n_events: int, group: list[str]) -> dict:
    """The ``reduction`` entry of a features ``.json``: how a wide layer was reduced."""
    return {
        "method": fp.reduction,
        "from": int(width),
        "n_components": int(n_components),
        "n_events": int(n_events),
        "movies": list(group),
        "seed": fp.seed,
        "eps": fp.jl_eps,
    }


def _sweep_key(model: ModelSpec, key: str) -> str:
    """The key of a sweep's layer files: the model's features key and the layers asked for."""
    return content_key({"features_key": key, "layers": model.layers}, [])


def _sweep_up_to_date(model: ModelSpec, layout: Layout, group: list[str], alignment: str, key: str) -> bool:
    """Whether a model's layer sweep (if any) is stored for these movies with this key."""
    if model.layers is None:
        return True
    index = layout.layer_index(model.id)
    if not index.is_file():
        return False
    layers = json.loads(index.read_text()).get("layers", [])
    sweep_key = _sweep_key(model, key)
    return bool(layers) and all(
        is_up_to_date(path, path.with_suffix(".json"), sweep_key)
        for layer in layers
        for path in (layout.layer_features(model.id, layer["name"], movie, alignment) for movie in group)
    )


def _sweep_reducer(params: Params, n_events: int):
    """``reduce(layer, width)`` for a sweep: the streamed random projection of wide layers.

    A layer wider than the Johnson-Lindenstrauss dimension of the alignment's events (all
    movies) is projected batch by batch as it is computed, with the same random matrix
    (``features.seed``) for every movie, so a sweep never holds a wide layer unreduced. PCA
    (``features.reduction: pca``) needs every row at once: the layers are kept and reduced
    jointly afterwards.
    """
    fp = params.features
    if fp.reduction != "srp" or n_events == 0:
        return None
    n_components = jl_dim(n_events, fp.jl_eps)
    projectors: dict = {}

    def reduce(_layer: str, width: int):
        if width <= n_components:
            return None
        if width not in projectors:
            projectors[width] = random_projector(width, n_components, seed=fp.seed)
        return projectors[width]

    return reduce


def write_sweep(
    model: ModelSpec,
    params: Params,
    layout: Layout,
    group: list[str],
    alignment: str,
    key: str,
    sweeps: list,
    n_events: int,
) -> None:
    """Write a model's swept layers: one ``.npy`` per (layer, movie) and the layer index.

    Parameters
    ----------
    model : ModelSpec
        The model (``model.layers`` set).
    params : Params
        The run's params (``features``: the reduction of wide layers).
    layout : Layout
        Writes ``work/features/<model>/layers/<layer>/<movie>_<alignment>.npy`` (+ ``.json``)
        and ``work/features/<model>/layers.json``.
    group : list of str
        The movies, in the order of ``sweeps``.
    alignment : str
        ``"language"`` or ``"vision"``.
    key : str
        The model's features key for this alignment (the layer files' key derives from it).
    sweeps : list of LayerSweep
        One per movie of ``group``.
    n_events : int
        The alignment's events over all movies (the JL dimension of the reduction).
    """
    fp = params.features
    layers = sweeps[0].layers
    names = [layer["name"] for layer in layers]
    for sweep, movie in zip(sweeps[1:], group[1:]):
        if [layer["name"] for layer in sweep.layers] != names:
            raise ValueError(
                f"model {model.id!r}: the swept layers differ between movies ({movie}: "
                f"{[layer['name'] for layer in sweep.layers]} vs {names})"
            )
    sweep_key = _sweep_key(model, key)
    for layer in layers:
        name = layer["name"]
        blocks = [sweep.features[name] for sweep in sweeps]
        reduced = None
        if blocks[0].shape[1] < layer["width"]:  # projected while extracted
            reduced = _reduction(fp, layer["width"], blocks[0].shape[1], n_events, group)
        elif fp.reduction == "pca" and n_events and layer["width"] > jl_dim(n_events, fp.jl_eps):
            blocks = reduce_jointly(blocks, method="pca", eps=fp.jl_eps, seed=fp.seed)
            reduced = _reduction(fp, layer["width"], blocks[0].shape[1], n_events, group)
        for movie, X in zip(group, blocks):
            out = layout.layer_features(model.id, name, movie, alignment)
            write_npy(np.ascontiguousarray(X, dtype=np.float32), out)
            write_json(
                {
                    "key": sweep_key,
                    "model": model.id,
                    "layer": name,
                    "type": layer["type"],
                    "depth": layer["depth"],
                    "movie": movie,
                    "alignment": alignment,
                    "shape": list(X.shape),
                    "reduction": reduced,
                },
                out.with_suffix(".json"),
            )
    write_json(
        {"model": model.id, "layers_asked": model.layers, "layers": layers}, layout.layer_index(model.id)
    )
    log.info(
        "%s %s: layer sweep of %d layers (%s ... %s)", model.id, alignment, len(layers), names[0], names[-1]
    )


def baseline_features(params: Params, layout: Layout, movie_list: list[str]) -> None:
    """Write the MultiConcat features (MultiLin is learned per CV fold in the encode stage).

    Parameters
    ----------
    params : Params
        The run's params (``baselines.multiconcat``).
    layout : Layout
        The work directory's layout.
    movie_list : list of str
        The movies of the run.
    """
    pair = params.baselines.multiconcat
    if pair is None:
        return
    for movie in movie_list:
        for alignment in params.events.alignments:
            parts = [load_array(layout.features(mid, movie, alignment), "features file") for mid in pair]
            X = multiconcat(*parts)
            out = layout.features("multiconcat", movie, alignment)
            write_npy(np.ascontiguousarray(X, dtype=np.float32), out)
            write_json(
                {
                    "model": "multiconcat",
                    "of": list(pair),
                    "movie": movie,
                    "alignment": alignment,
                    "shape": list(X.shape),
                },
                out.with_suffix(".json"),
            )


def run(params: Params, workdir: Path) -> None:
    """Run the features stage: every model's features of every movie's events.

    Reads ``work/events/`` and ``work/frames/``; writes
    ``work/features/<model>/<movie>_<alignment>.npy`` with its ``.json`` (one row per event,
    same order as the events table). Models whose key is unchanged are kept.

    Parameters
    ----------
    params : Params
        The run's params (``models``, ``features``, ``baselines.multiconcat``).
    workdir : Path
        The work directory.
    """
    layout = Layout(workdir, params)
    if not params.models:
        raise ValueError("params.models is empty: declare at least one model (see params.yaml)")
    movie_list = movies(list_sessions(params, layout))
    for model in params.models:
        model_features(model, params, layout, movie_list)
    baseline_features(params, layout, movie_list)
