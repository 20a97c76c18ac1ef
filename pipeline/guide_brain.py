"""The brain as guide: a network's layer matched to a subject's responses, then encoded.

``mmsites guide`` experiment ``brain`` (``guide.brain:`` params). Inputs come from a pipeline
workdir that ran the events, responses and features stages:

- the **stimulus**: a frozen model's features of each event of one alignment
  (``work/features/<model>/<movie>_<alignment>.npy``), row for row with the responses by
  :func:`mmsites.pipeline.design.event_features` (the encode stage's time matching);
- the **brain representation**: the subject's responses
  (``work/responses/<kind>/sub-<s>_<alignment>.h5``) averaged over the bins whose centres lie
  in ``window_s`` after onset: (n_events, n_electrodes).

The events are split by the project's one fold scheme (:func:`mmsites.pipeline.cv.response_folds`
rules: :func:`mmsites.encoding.folds.contiguous_folds` with the purge gap ``encoding.gap_s``,
sessions kept apart): ``guide.brain.folds`` contiguous folds; each held-out fold in turn
(``test_folds``) gives validation events (its first half) and test events (its second half),
and the training events are the rest minus the purged ones.

Per held-out fold and seed (:func:`mmsites.guidance.experiments.fixed_guide_arms`): a small MLP
reads the features (z-scored with training statistics) and is trained on the **training
events only** with ``alpha * (1 - CKA)`` between its layer ``layer`` and the responses
(z-scored with training statistics) of each minibatch, the only loss; the unguided arm is the
same MLP at the same initial weights, untrained. The validation events give the curves (CKA
per epoch); nothing is chosen from the test events. Then both arms' layer features of every
event are

- **encoded like any model**: ridge of each electrode's window-averaged response on the
  features (:class:`mmsites.encoding.CVEngine` with one design per fold, the network trained
  on that fold's training events: z-scored on them, the penalty from ``encoding.alphas``
  chosen per electrode on the fold's validation events), test r per electrode and fold;
- compared with the responses on the **test** events by linear CKA (biased, as trained, and
  the unbiased estimator, which is near 0 for unrelated data at small n). Read the unbiased
  one: the biased CKA of the guided arm rises even under the null control (measured on the
  demo: +0.12 with block-shuffled responses), because fitting any guide on the training
  events reshapes the layer's spectrum, which moves the biased estimator whatever the data.

Results: per (fold, seed, arm) and per seed (mean over folds), mean ± sd over seeds per arm and
of the paired difference guided − unguided, and per electrode the test r of both arms (mean
over folds and seeds). ``shuffle_blocks`` runs the null control: the responses' events are
permuted in blocks first, so the relation to the stimulus is gone.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from mmsites.encoding import CVEngine
from mmsites.encoding.folds import contiguous_folds
from mmsites.guidance.experiments import ARMS, fixed_guide_arms, standardise, summarise_runs
from mmsites.similarity import linear_cka
from mmsites.stats.resampling import block_permutations

from .cv import event_times, gap_seconds
from .design import event_features
from .io import read_responses
from .params import Params
from .paths import Layout

__all__ = ["brain_inputs", "window_mean", "brain_experiment", "run_brain"]

log = logging.getLogger(__name__)

#: The ``guide.brain`` keys that are arguments of the arms' training (fixed_guide_arms).
_ARM_KEYS = ("hidden", "depth", "layer", "alpha", "distance", "epochs", "batch_size", "lr", "weight_decay")

#: The numbers summarised over seeds (each a mean over the held-out folds).
SUMMARY_KEYS = ("test_cka", "test_cka_debiased", "test_r", "val_cka_end")


def window_mean(responses: np.ndarray, bin_times: np.ndarray, window_s) -> np.ndarray:
    """Each electrode's response averaged over the bins whose centres lie in a window.

    Parameters
    ----------
    responses : ndarray, shape (n_events, n_electrodes, n_bins)
        Event-locked responses (µV or µV²).
    bin_times : ndarray, shape (n_bins,)
        Bin centres, seconds from onset.
    window_s : (float, float)
        Start and end, seconds from onset (inclusive).

    Returns
    -------
    ndarray, float64, shape (n_events, n_electrodes)
        Row ``i``, column ``e``: electrode ``e``'s mean response to event ``i`` over the window.

    Raises
    ------
    ValueError
        If the responses are not 3-D or no bin centre lies in the window.
    """
    responses = np.asarray(responses)
    if responses.ndim != 3:
        raise ValueError(
            f"responses must be (events, electrodes, bins), got shape {responses.shape}: "
            "guide.brain.kind needs a kind with time bins (voltage, band_power)"
        )
    t = np.asarray(bin_times, dtype=float)
    keep = (t >= window_s[0] - 1e-9) & (t <= window_s[1] + 1e-9)
    if not keep.any():
        raise ValueError(
            f"guide.brain.window_s {list(window_s)}: no bin centre in it (bins {t.min():g} .. {t.max():g} s)"
        )
    return responses[:, :, keep].mean(axis=2, dtype=np.float64)


def brain_inputs(params: Params, workdir: str | Path) -> dict:
    """Read the brain experiment's arrays from a pipeline workdir.

    Parameters
    ----------
    params : Params
        Validated params; ``guide.brain``, ``data.subjects``, ``responses``, ``models`` and
        ``encoding`` matter.
    workdir : str or Path
        ``mmsites guide``'s workdir; ``guide.brain.workdir`` is resolved against it.

    Returns
    -------
    dict
        ``features`` (float32, (n_events, p): the model's features of each event of the
        responses file, in its order), ``brain`` (float64, (n_events, n_electrodes): the window
        means), ``electrodes``, ``times`` (event times on one axis, sessions apart: for the
        purge), ``subject``, ``kind``, ``paths`` (the responses and features files read).

    Raises
    ------
    ValueError
        If ``guide.brain.model`` is not set or not a model of ``models``, or the subject or
        kind is not one of the params'; the messages name the params keys.
    FileNotFoundError
        If the responses or features are missing (the stage to run is named).
    """
    b = params.guide.brain
    models = [m.id for m in params.models]
    if b.model is None:
        raise ValueError(
            f"guide.brain.model must name the model whose features the MLP reads; one of {models}"
        )
    if b.model not in models:
        raise ValueError(f"guide.brain.model {b.model!r} is not a model of the params' models: {models}")
    subject = params.data.subjects[0] if b.subject is None else b.subject
    if subject not in params.data.subjects:
        raise ValueError(f"guide.brain.subject {subject} is not one of data.subjects {params.data.subjects}")
    kind = params.responses.kinds[0] if b.kind is None else b.kind
    if kind not in params.responses.kinds:
        raise ValueError(f"guide.brain.kind {kind!r} is not one of responses.kinds {params.responses.kinds}")
    root = Path(workdir) / b.workdir
    layout = Layout(root.resolve(), params, kind)
    path = layout.responses(subject, b.alignment)
    resp = read_responses(path)
    if resp["bin_times"] is None:
        raise ValueError(f"guide.brain.kind {kind!r}: {path} has no time bins; use voltage or band_power")
    brain = window_mean(resp["responses"], resp["bin_times"], b.window_s)
    features = event_features(layout, b.model, b.alignment, resp["event_movie"], resp["event_movie_time"])
    if not np.isfinite(brain).all():
        raise ValueError(f"{path}: the window means hold NaN or inf")
    log.info(
        "brain: subject %s, %s responses (%d events x %d electrodes, window %s s), %s features (%d)",
        subject,
        kind,
        *brain.shape,
        list(b.window_s),
        b.model,
        features.shape[1],
    )
    return {
        "features": features,
        "brain": brain,
        "electrodes": list(resp["electrodes"]),
        "times": event_times(resp),
        "subject": subject,
        "kind": kind,
        "paths": [str(path), str(layout.features(b.model, resp["event_movie"][0], b.alignment))],
    }


def brain_experiment(
    features,
    brain,
    folds,
    *,
    seeds=(0, 1, 2),
    alphas=(0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5),
    checkpoint_dir: str | Path | None = None,
    **arms,
) -> dict:
    """Guided vs unguided target on each held-out fold: test CKA with the brain and encoding r.

    Parameters
    ----------
    features : array, shape (n_events, p)
        The target's input per event.
    brain : array, shape (n_events, n_electrodes)
        The brain representation per event (raw window means; z-scored here with each fold's
        training statistics for the guide and the CKA; the ridge reads them as they are).
    folds : sequence of Fold
        The held-out folds (training, validation and test events of each).
    seeds : sequence of int
        Seeds of both arms.
    alphas : sequence of float
        Ridge penalties; each electrode's is chosen on the fold's validation events.
    checkpoint_dir : str or Path, optional
        Checkpoints under ``<checkpoint_dir>/fold<k>/seed<s>/``.
    **arms
        Keyword arguments of :func:`mmsites.guidance.experiments.fixed_guide_arms`
        (``hidden``, ``depth``, ``layer``, ``alpha``, ``epochs``, ...).

    Returns
    -------
    dict
        ``fold_runs`` (per fold, seed and arm: ``test_cka``, ``test_cka_debiased``, ``test_r``
        (mean over electrodes), ``val_cka_start``, ``val_cka_end``, event counts), ``runs``
        (per seed and arm: the means over folds), ``summary``
        (:func:`~mmsites.guidance.experiments.summarise_runs` of :data:`SUMMARY_KEYS`),
        ``electrode_test_r`` (per arm: list, mean over folds and seeds, per electrode),
        ``histories`` (per ``fold<k>/seed<s>/<arm>``).
    """
    features = np.asarray(features, dtype=np.float32)
    brain = np.asarray(brain, dtype=np.float64)
    folds = list(folds)
    fold_runs, histories, designs = [], {}, {}
    for k, fold in enumerate(folds):
        fold_dir = None if checkpoint_dir is None else Path(checkpoint_dir) / f"fold{k}"
        out = fixed_guide_arms(
            features, brain, fold.train, fold.val, seeds=seeds, checkpoint_dir=fold_dir, **arms
        )
        z = standardise(brain, fold.train)
        for run in out["runs"]:
            F = run["features"]
            designs.setdefault((run["seed"], run["arm"]), []).append(F)
            fold_runs.append(
                {
                    "fold": k,
                    "seed": run["seed"],
                    "arm": run["arm"],
                    "test_cka": float(linear_cka(F[fold.test], z[fold.test])),
                    "test_cka_debiased": float(linear_cka(F[fold.test], z[fold.test], debiased=True)),
                    "val_cka_start": run["val_cka_start"],
                    "val_cka_end": run["val_cka_end"],
                    "n_train": int(fold.train.size),
                    "n_val": int(fold.val.size),
                    "n_test": int(fold.test.size),
                }
            )
        histories.update({f"fold{k}/{key}": h for key, h in out["histories"].items()})
    # Encoded like any model: each fold's own design (the network trained on its training
    # events), ridge z-scored on them, penalty per electrode chosen on its validation events.
    # CVEngine needs two folds or more: a single held-out fold is given twice (same numbers).
    per_electrode = {arm: [] for arm in ARMS}
    twice = len(folds) == 1
    for (seed, arm), xs in designs.items():
        fit = CVEngine(
            xs * 2 if twice else xs,
            folds * 2 if twice else folds,
            np.asarray(alphas, dtype=float),
            device="cpu",
        ).fit(brain)
        r_folds = np.where(fit.valid, fit.test_r_folds, np.nan)
        per_electrode[arm].append(np.nanmean(r_folds, 0))
        for k in range(len(folds)):
            row = next(r for r in fold_runs if (r["fold"], r["seed"], r["arm"]) == (k, seed, arm))
            row["test_r"] = float(np.nanmean(r_folds[k]))
    for row in fold_runs:
        log.info(
            "brain fold %d seed %d %s: test CKA %.3f (unbiased %.3f), test r %.3f",
            row["fold"],
            row["seed"],
            row["arm"],
            row["test_cka"],
            row["test_cka_debiased"],
            row["test_r"],
        )
    runs = []
    for seed in seeds:
        for arm in ARMS:
            rows = [r for r in fold_runs if r["seed"] == seed and r["arm"] == arm]
            runs.append(
                {"seed": seed, "arm": arm}
                | {key: float(np.mean([r[key] for r in rows])) for key in (*SUMMARY_KEYS, "val_cka_start")}
            )
    return {
        "fold_runs": fold_runs,
        "runs": runs,
        "summary": summarise_runs(runs, SUMMARY_KEYS),
        "electrode_test_r": {
            arm: [None if np.isnan(v) else float(v) for v in np.nanmean(np.stack(per_electrode[arm]), 0)]
            for arm in ARMS
        },
        "histories": histories,
    }


def run_brain(params: Params, workdir: str | Path, checkpoint_dir: str | Path | None = None) -> dict:
    """The ``brain`` experiment of ``mmsites guide``: read the workdir, split, train, score.

    Parameters
    ----------
    params : Params
        Validated params (``guide``, ``guide.brain``, ``encoding``, ...).
    workdir : str or Path
        ``mmsites guide``'s workdir.
    checkpoint_dir : str or Path, optional
        Where the runs' checkpoints go
        (``<dir>/sub-<s>_<kind>_<alignment>_<model>/fold<k>/seed<s>/<arm>.pt``: another subject,
        kind or model starts its own runs).

    Returns
    -------
    dict
        ``experiment`` ("brain"; "brain_null" for the null control), ``settings`` (the block,
        resolved: subject, kind, gap, folds held out, event counts), ``electrodes`` and what
        :func:`brain_experiment` returns.

    Raises
    ------
    ValueError
        If the params do not fit the data (each message names the params key).
    """
    b = params.guide.brain
    data = brain_inputs(params, workdir)
    brain = data["brain"]
    if b.shuffle_blocks is not None:
        order = block_permutations(len(brain), 1, block=b.shuffle_blocks, seed=int(params.guide.seeds[0]))[0]
        brain = brain[order]
        log.info("brain: null control, responses permuted in blocks of %d events", b.shuffle_blocks)
    gap = gap_seconds(params)
    try:
        folds = contiguous_folds(len(brain), b.folds, times=data["times"], gap_s=gap)
    except ValueError as err:
        raise ValueError(f"guide.brain.folds={b.folds}, encoding.gap_s={gap:g}: {err}") from None
    chosen = list(range(b.folds)) if b.test_folds is None else list(b.test_folds)
    bad = [k for k in chosen if not 0 <= k < b.folds]
    if bad or not chosen:
        raise ValueError(f"guide.brain.test_folds {b.test_folds}: folds are 0 .. {b.folds - 1}")
    arms = b.model_dump(include=set(_ARM_KEYS)) | params.guide.model_dump(
        include={"device", "resume", "checkpoint_every"}
    )
    result = brain_experiment(
        data["features"],
        brain,
        [folds[k] for k in chosen],
        seeds=list(params.guide.seeds),
        alphas=params.encoding.alphas,
        checkpoint_dir=(
            None
            if checkpoint_dir is None
            else Path(checkpoint_dir) / f"sub-{data['subject']}_{data['kind']}_{b.alignment}_{b.model}"
        ),
        **arms,
    )
    settings = b.model_dump() | {
        "subject": data["subject"],
        "kind": data["kind"],
        "seeds": list(params.guide.seeds),
        "gap_s": gap,
        "test_folds": chosen,
        "n_events": int(len(brain)),
        "n_electrodes": int(brain.shape[1]),
        "n_features": int(data["features"].shape[1]),
        "inputs": data["paths"],
    }
    s = result["summary"]
    log.info(
        "brain: test CKA unguided %.3f ± %.3f, guided %.3f ± %.3f; test r unguided %.3f ± %.3f, "
        "guided %.3f ± %.3f (mean ± sd over %d seeds)",
        s["unguided"]["test_cka"]["mean"],
        s["unguided"]["test_cka"]["sd"],
        s["guided"]["test_cka"]["mean"],
        s["guided"]["test_cka"]["sd"],
        s["unguided"]["test_r"]["mean"],
        s["unguided"]["test_r"]["sd"],
        s["guided"]["test_r"]["mean"],
        s["guided"]["test_r"]["sd"],
        len(params.guide.seeds),
    )
    name = "brain" if b.shuffle_blocks is None else "brain_null"
    return {"experiment": name, "settings": settings, "electrodes": data["electrodes"]} | result
