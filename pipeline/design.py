"""Design matrices of the encode stage: each model's features, row for row with the responses.

The responses file lists its events (movie and movie time); the features stage wrote one
feature row per event of the events table. Rows are matched on movie time within
:data:`mmsites.timing.TIME_TOL_S` (both times were written by the pipeline), so a mismatch
means the events changed after one of the two stages ran, and is an error that says which.
MultiLin's candidate designs (one per size of ``baselines.multilin_components``) are learned
on each fold's training events only.
"""

from __future__ import annotations

import numpy as np

from mmsites.features.baselines import MultiLin
from mmsites.timing import TIME_TOL_S, match_times

from .io import load_array, read_events
from .params import Params
from .paths import Layout

__all__ = ["event_features", "candidate_designs"]


def _feature_rows(
    layout: Layout, model: str, movie: str, alignment: str, layer: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    path = (
        layout.features(model, movie, alignment)
        if layer is None
        else layout.layer_features(model, layer, movie, alignment)
    )
    if not path.is_file():
        what = f"features of {model!r}" + ("" if layer is None else f" (layer {layer!r})")
        raise FileNotFoundError(
            f"{what} for {movie} ({alignment}) are missing at {path}: run the features stage"
        )
    X = load_array(path, "features file")
    times = read_events(layout.events(movie, alignment))["movie_time"].to_numpy()
    if X.shape[0] != len(times):
        raise ValueError(
            f"{path} has {X.shape[0]} rows but the events table of {movie} ({alignment}) has "
            f"{len(times)}: rerun the features stage"
        )
    return X, times


def event_features(
    layout: Layout,
    model: str,
    alignment: str,
    event_movie: list[str],
    event_movie_time: np.ndarray,
    layer: str | None = None,
) -> np.ndarray:
    """Feature rows of ``model`` for the events of a responses file, in its order.

    Parameters
    ----------
    layout : Layout
        Where the features (``work/features/<model>/<movie>_<alignment>.npy``) and the events
        tables (``work/events/<movie>_<alignment>.parquet``) are.
    model : str
        Model id (``models[].id``).
    alignment : {"language", "vision"}
        The event alignment.
    event_movie : list of str, length n_events
        Movie of each event of the responses file.
    event_movie_time : numpy.ndarray of float, shape (n_events,)
        Onset of each event, seconds of movie time.
    layer : str, optional
        A layer of the model's sweep (``work/features/<model>/layers/<layer>/``); None = the
        model's own features.

    Returns
    -------
    X : numpy.ndarray of float32, shape (n_events, n_features)
        Row ``i`` is the feature row of the event at ``event_movie_time[i]`` in
        ``event_movie[i]``.

    Raises
    ------
    FileNotFoundError
        When a movie's features are missing (the features stage did not run).
    ValueError
        When an event has no feature row, or two movies' features differ in width.
    """
    X_out = None
    event_movie = np.asarray(event_movie)
    for movie in dict.fromkeys(event_movie):
        X, times = _feature_rows(layout, model, movie, alignment, layer)
        mask = event_movie == movie
        wanted = event_movie_time[mask]
        idx = match_times(wanted, times, tol=TIME_TOL_S)
        bad = idx < 0
        if bad.any():
            raise ValueError(
                f"{int(bad.sum())} events of the responses ({movie}, {alignment}) have no row in the "
                f"features of {model!r} (first at movie time {wanted[bad][0]:.3f} s): the events "
                "changed after the features were computed; rerun the features stage"
            )
        if X_out is None:
            X_out = np.empty((len(event_movie), X.shape[1]), dtype=np.float32)
        elif X.shape[1] != X_out.shape[1]:
            raise ValueError(
                f"features of {model!r} have {X.shape[1]} columns for {movie} but "
                f"{X_out.shape[1]} for another movie"
            )
        X_out[mask] = X[idx]
    return X_out


def candidate_designs(
    params: Params, layout: Layout, model: str, alignment: str, resp: dict, folds: list
) -> tuple[list, list | None]:
    """The candidate design matrices of one model or baseline for one responses file.

    Parameters
    ----------
    params : Params
        The run's params (``baselines.multilin`` and ``baselines.multilin_components`` for
        MultiLin).
    layout : Layout
        The work directory's layout.
    model : str
        Model id, or ``"multilin"``.
    alignment : {"language", "vision"}
        The event alignment.
    resp : dict
        :func:`mmsites.pipeline.io.read_responses` output (``event_movie``,
        ``event_movie_time``).
    folds : list of Fold
        The responses' folds (:func:`mmsites.pipeline.cv.response_folds`).

    Returns
    -------
    designs : list
        ``[X]`` with ``X`` of shape (n_events, n_features) for a model; for MultiLin one entry
        per candidate size, each a list of per-fold designs (n_events, 2 * size) whose
        projections were learned on that fold's training events only.
    sizes : list of int or None
        MultiLin's candidate sizes (those not wider than the narrower feature set), None for
        a model.
    """
    args = (alignment, resp["event_movie"], resp["event_movie_time"])
    if model != "multilin":
        return [event_features(layout, model, *args)], None
    vision, language = params.baselines.multilin
    Xv = event_features(layout, vision, *args)
    Xl = event_features(layout, language, *args)
    # Sizes beyond the narrower feature set add nothing: they are dropped (that width at most).
    limit = min(Xv.shape[1], Xl.shape[1])
    grid = [c for c in params.baselines.multilin_components if c <= limit] or [limit]
    designs = []
    for n_components in grid:
        X = []
        for fold in folds:
            projection = MultiLin(n_components=n_components).fit(Xv[fold.train], Xl[fold.train])
            X.append(np.asarray(projection.transform(Xv, Xl), dtype=np.float32))
        designs.append(X)
    return designs, grid
