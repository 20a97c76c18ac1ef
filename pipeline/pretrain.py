"""``mmsites pretrain brainbert`` and ``mmsites pretrain popt``: pretraining on the dataset's recordings.

Not a stage of the demo (nor of ``dvc.yaml``): a long run, on a GPU for the published sizes,
that writes a checkpoint the embedding recipe can load (:meth:`mmsites.brainmodels.BrainBERT.
from_pretrained`). Everything is read and written as the stages do: the sessions that
``data.subjects`` and ``data.trials`` select (:func:`pipeline.sessions.list_sessions`), paths
relative to the working directory, files written atomically.

**Windows.** Per subject, the electrodes of the responses stage
(:func:`mmsites.recordings.braintreebank.select_electrodes`: trigger and corrupted channels
dropped; with the Laplacian only contacts with both shaft neighbours). Each session is streamed
from its first sample (``responses.chunk_s`` at a time): re-referenced
(``responses.rereference``), notched (``responses.notch_hz``, ``notch_q``; causal, as
BrainBERT) and high-passed if ``responses.highpass_hz`` says so, the filter's state carried
from chunk to chunk (the re-reference and the filter are linear, so their order does not
matter). From every electrode, 5 s windows: every consecutive one (upstream:
``data/electrode_subject_data.py`` cuts each session into back-to-back windows), or
``pretrain.windows_per_electrode`` of them per session at positions drawn from ``(seed,
subject, trial, electrode)`` (they may overlap). Each window's STFT spectrogram
(:func:`mmsites.recordings.spectral.stft_spectrogram`: brought to 2048 Hz, 40 bins z-scored
over time, 186 frames) is written to a ``.npy`` file read back as a memory map, so the training
data never needs to fit in memory.

**Held out.** A fraction ``pretrain.val_fraction`` of the electrodes (subject, label pairs,
drawn from ``pretrain.seed``), all their windows: the masked loss on them is compared with the
mean-prediction baseline (upstream holds out random windows instead, so neighbouring windows of
one electrode fall on both sides).

**Files**, beside ``pretrain.checkpoint`` (``work/brainbert/`` by default):
``windows_train.npy``, ``windows_val.npy`` (float32, windows x 186 x 40), ``windows.parquet``
(one row per window: ``split, row, subject, trial, electrode, start_sample, sfreq``),
``windows.json`` (the content key: the windows are reused while the sessions, electrodes and
preprocessing are unchanged), the checkpoint itself (official layout, every
``pretrain.checkpoint_every`` steps and at the end; a rerun resumes from it) and
``history.json`` (the losses per step, the held-out losses and the baseline).

**PopT** (``mmsites pretrain popt``, the ``pretrain_popt:`` section): the same sessions and
electrodes, minus those without a row in ``localization/sub_N/depth-wm.csv`` (their integer
``L, I, P`` are PopT's coordinates, :func:`mmsites.brainmodels.lip_coordinates`). Each session
is cut into 5 s windows starting every ``pretrain_popt.window_step_s`` (upstream: 0.2 s) from
its first sample, at most ``pretrain_popt.max_windows`` of them (the first ones), and each
window of each electrode embedded by the BrainBERT of ``responses.brainbert`` with the
published recipe (:func:`mmsites.brainmodels.responses.event_embeddings` on "events" at the
windows' centres, preprocessing as ``responses`` says). The embeddings are cached beside the
checkpoint (``embeddings/sub_S_trialTTT.npy``, float32 windows x electrodes x d, with a
``.json`` stamp holding the content key and the electrodes): reused while the model, the
preprocessing, the electrodes and the windows are unchanged. An electrode whose embeddings are
not finite (non-finite samples) is left out. **Held out:** the last ``pretrain_popt.val_fraction``
of each session's windows, after a gap of windows such that no held-out window overlaps a
training one (upstream holds out random pairs, so overlapping windows fall on both sides).
Training (:func:`mmsites.brainmodels.popt_pretrain.pretrain_popt`) writes the checkpoint
(upstream's layout; a rerun resumes from it) and ``history.json`` (losses per step; held-out
accuracy and ROC-AUC of both tasks).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from mmsites.brainmodels import PRESETS, BrainBERT, PopT, lip_coordinates
from mmsites.brainmodels.popt_pretrain import PoptSeries, pretrain_popt
from mmsites.brainmodels.pretrain import pretrain
from mmsites.recordings.preprocessing import StreamingFilter, apply_reference, design_filter
from mmsites.recordings.responses import reference_rows
from mmsites.recordings.spectral import stft_frame_times, stft_spectrogram

from .io import atomic_path, content_key, is_up_to_date, write_json, write_parquet
from .params import Params
from .paths import Layout
from .sessions import (
    Session,
    clean_electrodes,
    list_sessions,
    open_dataset,
    preprocessing_kwargs,
    preprocessing_settings,
)

log = logging.getLogger(__name__)

#: Models ``mmsites pretrain`` can train.
PRETRAINABLE = ("brainbert", "popt")
#: Length of a window (s): BrainBERT's.
WINDOW_S = 5.0
#: Windows per STFT call (bounds the complex STFT's memory: ~0.7 MB a window).
_STFT_GROUP = 128
_N_BINS = 40


def split_electrodes(pairs: list[tuple[int, str]], val_fraction: float, seed: int) -> set[tuple[int, str]]:
    """The electrodes held out for validation.

    Parameters
    ----------
    pairs : list of (int, str)
        Every (subject, electrode label) that gives windows, in a fixed order.
    val_fraction : float
        Fraction held out, ``0 <= val_fraction < 1`` (``pretrain.val_fraction``); at least one
        electrode when positive.
    seed : int
        Seed of the draw (``pretrain.seed``).

    Returns
    -------
    set of (int, str)
        The held-out pairs.

    Raises
    ------
    ValueError
        If holding out leaves no training electrode (names ``pretrain.val_fraction``).
    """
    if val_fraction <= 0 or not pairs:
        return set()
    n_val = max(1, int(round(val_fraction * len(pairs))))
    if n_val >= len(pairs):
        raise ValueError(
            f"pretrain.val_fraction {val_fraction} holds out {n_val} of the {len(pairs)} electrodes, "
            "leaving none to train on: lower it (or 0 for no held-out check), or add subjects"
        )
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7]))
    chosen = rng.choice(len(pairs), size=n_val, replace=False)
    return {pairs[i] for i in sorted(chosen)}


def window_starts(
    n_samples: int, window: int, per_electrode: int | None, seed_keys: tuple[int, ...]
) -> np.ndarray:
    """Start samples of one electrode's windows in one session.

    Parameters
    ----------
    n_samples : int
        Length of the session (samples).
    window : int
        Samples per window.
    per_electrode : int or None
        Windows at random positions (``pretrain.windows_per_electrode``); None: every
        consecutive window from sample 0 (the remainder dropped).
    seed_keys : tuple of int
        Seed of the positions, e.g. ``(seed, subject, trial, electrode index)``.

    Returns
    -------
    ndarray of int64
        Sorted starts, each with ``start + window <= n_samples``; empty when the session is
        shorter than a window.
    """
    if n_samples < window:
        return np.zeros(0, dtype=np.int64)
    if per_electrode is None:
        return np.arange(0, n_samples - window + 1, window, dtype=np.int64)
    rng = np.random.default_rng(np.random.SeedSequence([int(k) for k in seed_keys]))
    return np.sort(rng.integers(0, n_samples - window + 1, size=int(per_electrode))).astype(np.int64)


def stream_windows(
    recording,
    electrodes: list[str],
    neighbours: dict,
    starts: list[np.ndarray],
    window: int,
    *,
    rereference: str | None,
    sos: np.ndarray | None,
    chunk: int,
):
    """Stream a session once, yielding the preprocessed windows as they become complete.

    Parameters
    ----------
    recording : mmsites.recordings.braintreebank.Recording
        The open session.
    electrodes : list of str
        Labels of the electrodes to cut windows from.
    neighbours : dict of str to (str, str)
        Their Laplacian neighbours (``select_electrodes``); unused without the Laplacian.
    starts : list of ndarray
        Sorted start samples of each electrode's windows (:func:`window_starts`).
    window : int
        Samples per window.
    rereference : {"laplacian", "bipolar", "car", None}
        Re-referencing (:func:`pipeline.sessions.preprocessing_kwargs`; ``"none"`` is None).
    sos : ndarray or None
        The preprocessing filter (notches, high-pass) as second-order sections, run from the
        session's first sample with its state carried; None: no filter.
    chunk : int
        Samples read per step.

    Yields
    ------
    rows : list of (int, int)
        (electrode position, window position in its ``starts``) of each window.
    signals : ndarray of float32, shape (len(rows), window)
        The windows (µV).
    """
    channels, where = reference_rows(recording, electrodes, neighbours, rereference)
    filt = None if sos is None else StreamingFilter(sos, len(electrodes))
    n = recording.n_samples
    buffer = np.zeros((len(electrodes), 0), dtype=np.float32)
    buffer_start = 0
    pending = [0] * len(electrodes)
    for first in range(0, n, chunk):
        last = min(n, first + chunk)
        raw = recording.read(channels, first, last)
        ref = apply_reference(raw, where, rereference)
        if filt is not None:
            ref = filt(ref).astype(np.float32)
        buffer = np.concatenate([buffer, ref], axis=1)
        rows, signals = [], []
        for e, s in enumerate(starts):
            k = pending[e]
            while k < len(s) and s[k] + window <= last:
                a = int(s[k]) - buffer_start
                rows.append((e, k))
                signals.append(buffer[e, a : a + window])
                k += 1
            pending[e] = k
        if rows:
            yield rows, np.stack(signals)
        waiting = [int(s[k]) for s, k in zip(starts, pending) if k < len(s)]
        if not waiting:
            return
        keep = min(min(waiting), last)
        buffer = buffer[:, keep - buffer_start :]
        buffer_start = keep


class _SessionInfo(NamedTuple):
    """One selected session, as both commands read it."""

    session: Session
    electrodes: list[str]  # clean_electrodes
    neighbours: dict
    sfreq: float
    window: int  # samples of a 5 s window
    n_samples: int


def _select_sessions(params: Params, layout: Layout) -> tuple[object, list[_SessionInfo]]:
    """The sessions ``data`` selects, each with its electrodes, sampling rate, window and length."""
    dataset = open_dataset(params, layout)
    electrodes: dict[int, tuple[list[str], dict]] = {}
    out = []
    for session in list_sessions(params, layout):
        if session.subject not in electrodes:
            electrodes[session.subject] = clean_electrodes(params, dataset, session.subject)
        sfreq = dataset.sfreq(session.subject, session.trial)
        with dataset.open_recording(session.subject, session.trial, sfreq=sfreq) as recording:
            n_samples = recording.n_samples
        window = int(round(WINDOW_S * sfreq))
        out.append(_SessionInfo(session, *electrodes[session.subject], sfreq, window, n_samples))
    return dataset, out


def _write_windows(params: Params, layout: Layout, out_dir: Path) -> dict:
    """Compute (or reuse) the train and held-out spectrograms; their paths and counts."""
    pp, pre = params.pretrain, preprocessing_kwargs(params)
    dataset, sessions = _select_sessions(params, layout)
    per_subject = {info.session.subject: info.electrodes for info in sessions}
    pairs = [(s, label) for s, labels in per_subject.items() for label in labels]
    held_out = split_electrodes(pairs, pp.val_fraction, pp.seed)

    plan = []  # one entry per session: what to cut and where it goes
    counts = {"train": 0, "val": 0}
    for info in sessions:
        session = info.session
        starts = [
            window_starts(
                info.n_samples,
                info.window,
                pp.windows_per_electrode,
                (pp.seed, session.subject, session.trial, e),
            )
            for e in range(len(info.electrodes))
        ]
        if not len(starts[0]):
            log.warning(
                "sub_%d trial%03d: %.1f s long, shorter than one %g s window: skipped",
                session.subject,
                session.trial,
                info.n_samples / info.sfreq,
                WINDOW_S,
            )
        split = ["val" if (session.subject, label) in held_out else "train" for label in info.electrodes]
        first_row = []
        for e in range(len(info.electrodes)):
            first_row.append(counts[split[e]])
            counts[split[e]] += len(starts[e])
        plan.append(dict(info=info, starts=starts, split=split, first=first_row))

    if counts["train"] == 0:
        raise ValueError(
            f"no training window: the sessions of data.subjects {params.data.subjects} give no 5 s "
            "window on a training electrode (check data.subjects, data.trials and pretrain.val_fraction)"
        )
    frames = {len(stft_frame_times(p["info"].window, p["info"].sfreq)) for p in plan if len(p["starts"][0])}
    if len(frames) != 1:
        raise ValueError(f"the sessions' 5 s windows give different numbers of STFT frames {sorted(frames)}")
    n_frames = frames.pop()
    settings = dict(
        sessions=[(p["info"].session.subject, p["info"].session.trial) for p in plan],
        electrodes={str(s): labels for s, labels in per_subject.items()},
        held_out=sorted(f"sub_{s}:{label}" for s, label in held_out),
        **preprocessing_settings(params),
        windows_per_electrode=pp.windows_per_electrode,
        seed=pp.seed,
        window_s=WINDOW_S,
        recipe="stft",
    )
    sessions = [p["info"].session for p in plan]
    key = content_key(settings, [f for s in sessions for f in dataset.recording_files(s.subject, s.trial)])
    paths = {split: out_dir / f"windows_{split}.npy" for split in ("train", "val")}
    stamp, table_path = out_dir / "windows.json", out_dir / "windows.parquet"
    result = dict(paths=paths, counts=counts, table=table_path, frames=n_frames)
    if all(is_up_to_date(paths[s], stamp, key) for s in paths) and table_path.is_file():
        log.info("pretrain windows up to date (%d train, %d held out)", counts["train"], counts["val"])
        return result

    table = []
    with atomic_path(paths["train"]) as tmp_train, atomic_path(paths["val"]) as tmp_val:
        arrays = {
            split: np.lib.format.open_memmap(
                tmp, mode="w+", dtype=np.float32, shape=(counts[split], n_frames, _N_BINS)
            )
            for split, tmp in (("train", tmp_train), ("val", tmp_val))
        }
        for p in plan:
            session, electrodes, _, sfreq, window, _ = p["info"]
            sos = design_filter(sfreq, pre["notch_hz"], pre["notch_q"], pre["highpass_hz"])
            written = 0
            with dataset.open_recording(session.subject, session.trial, sfreq=sfreq) as recording:
                chunk = max(int(round(pre["chunk_s"] * sfreq)), window)
                stream = stream_windows(
                    recording,
                    electrodes,
                    p["info"].neighbours,
                    p["starts"],
                    window,
                    rereference=pre["rereference"],
                    sos=sos,
                    chunk=chunk,
                )
                for rows, signals in stream:
                    for g in range(0, len(rows), _STFT_GROUP):
                        spec = stft_spectrogram(signals[g : g + _STFT_GROUP], sfreq)
                        for (e, k), x in zip(rows[g : g + _STFT_GROUP], spec):
                            split = p["split"][e]
                            row = p["first"][e] + k
                            arrays[split][row] = x
                            table.append(
                                (
                                    split,
                                    row,
                                    session.subject,
                                    session.trial,
                                    electrodes[e],
                                    int(p["starts"][e][k]),
                                    sfreq,
                                )
                            )
                    written += len(rows)
            log.info(
                "sub_%d trial%03d: %d windows of %d electrodes (%g Hz)",
                session.subject,
                session.trial,
                written,
                len(electrodes),
                sfreq,
            )
        for array in arrays.values():
            array.flush()
        del arrays
    columns = ["split", "row", "subject", "trial", "electrode", "start_sample", "sfreq"]
    write_parquet(pd.DataFrame(table, columns=columns).sort_values(["split", "row"]), table_path)
    write_json(dict(key=key, counts=counts, frames=n_frames, settings=settings), stamp)
    return result


# ---------------------------------------------------------------------------------------------
# PopT: BrainBERT embeddings of consecutive windows
# ---------------------------------------------------------------------------------------------

#: Windows embedded per call of ``event_embeddings`` (bounds the embeddings held in memory).
_EMBED_BLOCK = 512


def popt_window_starts(n_samples: int, window: int, step: int, max_windows: int | None) -> np.ndarray:
    """Start samples of a session's consecutive PopT windows.

    Parameters
    ----------
    n_samples : int
        Length of the session (samples).
    window : int
        Samples per window (5 s).
    step : int
        Samples between window starts (``pretrain_popt.window_step_s``).
    max_windows : int or None
        Keep only the first windows (``pretrain_popt.max_windows``); None: all.

    Returns
    -------
    ndarray of int64
        ``0, step, 2 step, ...`` while ``start + window <= n_samples``; empty when the session
        is shorter than a window.
    """
    if n_samples < window:
        return np.zeros(0, dtype=np.int64)
    starts = np.arange(0, n_samples - window + 1, step, dtype=np.int64)
    return starts if max_windows is None else starts[: int(max_windows)]


def split_windows(n_windows: int, val_fraction: float, gap: int) -> tuple[slice, slice | None]:
    """Training and held-out windows of one session: the held-out ones last, after a gap.

    Parameters
    ----------
    n_windows : int
        Consecutive windows of the session.
    val_fraction : float
        Fraction held out (``pretrain_popt.val_fraction``); at least 2 windows when positive.
    gap : int
        Windows dropped between the two parts (so that no held-out window overlaps a training
        one: ``ceil(5 s / step) - 1``).

    Returns
    -------
    train : slice
        The first windows.
    val : slice or None
        The last windows; None when ``val_fraction`` is 0.

    Raises
    ------
    ValueError
        If fewer than 2 training windows would be left (names ``pretrain_popt.val_fraction``).
    """
    if val_fraction <= 0:
        return slice(0, n_windows), None
    n_val = max(2, int(round(val_fraction * n_windows)))
    n_train = n_windows - n_val - gap
    if n_train < 2:
        raise ValueError(
            f"pretrain_popt.val_fraction {val_fraction} holds out {n_val} of {n_windows} windows and the "
            f"{gap} windows before them overlap both sides, leaving {max(n_train, 0)} to train on: lower "
            "val_fraction, raise max_windows or use longer sessions"
        )
    return slice(0, n_train), slice(n_windows - n_val, n_windows)


class _ElectrodeSubset:
    """The electrodes ``keep`` of an array (n_windows, n_electrodes, d), read a window at a time."""

    def __init__(self, array, keep: np.ndarray):
        self.array, self.keep = array, np.asarray(keep)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (int(self.array.shape[0]), len(self.keep), int(self.array.shape[2]))

    def __getitem__(self, index):
        return np.asarray(self.array[index])[..., self.keep, :]


def _check_widths(config: str, popt_width: int, brainbert_width: int) -> None:
    if popt_width != brainbert_width:
        raise ValueError(
            f"pretrain_popt.config {config!r} reads {popt_width}-wide embeddings but the BrainBERT of "
            f"responses.brainbert gives {brainbert_width}-wide ones: pair a tiny PopT with a tiny "
            "BrainBERT, the published one with a large one"
        )


def _popt_embeddings(params: Params, layout: Layout, out_dir: Path, input_dim: int) -> list[dict]:
    """Compute (or reuse) every session's window embeddings; what each series is."""
    from mmsites.brainmodels.responses import event_embeddings

    from .neural_models import brainbert_model, located_electrodes

    pp, bp = params.pretrain_popt, params.responses.brainbert
    dataset, sessions = _select_sessions(params, layout)
    model = None
    out = []
    for session, electrodes, neighbours, sfreq, window, n_samples in sessions:
        table = dataset.localization(session.subject)
        placed = located_electrodes(electrodes, table, subject=session.subject)
        if len(placed) < 2:
            raise ValueError(
                f"sub_{session.subject}: {len(placed)} electrode(s) with coordinates: PopT's tasks need at "
                "least 2; drop the subject from data.subjects"
            )
        coords = lip_coordinates(table.loc[placed])
        step = int(round(pp.window_step_s * sfreq))
        if step < 1:
            raise ValueError(f"pretrain_popt.window_step_s {pp.window_step_s} is below one sample")
        starts = popt_window_starts(n_samples, window, step, pp.max_windows)
        name = f"sub_{session.subject}_trial{session.trial:03d}"
        if len(starts) < 2:
            log.warning("%s: %.1f s long, fewer than 2 windows: skipped", name, n_samples / sfreq)
            continue
        settings = dict(
            brainbert=bp.model_dump(exclude={"components", "device", "batch_size", "offset_s"}),
            preprocessing=preprocessing_settings(params),
            electrodes=placed,
            window_s=WINDOW_S,
            window_step=step,
            n_windows=len(starts),
            sfreq=sfreq,
        )
        files = dataset.recording_files(session.subject, session.trial)
        if bp.checkpoint:
            files.append(Path(bp.checkpoint))
        key = content_key(settings, files)
        path = out_dir / "embeddings" / f"{name}.npy"
        stamp = path.with_suffix(".json")
        if is_up_to_date(path, stamp, key):
            excluded = json.loads(stamp.read_text()).get("excluded", [])
            log.info("%s: %d window embeddings up to date", name, len(starts))
        else:
            if model is None:
                model = brainbert_model(params)
                _check_widths(pp.config, input_dim, model.config.hidden_dim)
            hidden = model.config.hidden_dim
            excluded = set()
            with atomic_path(path) as tmp:
                array = np.lib.format.open_memmap(
                    tmp, mode="w+", dtype=np.float32, shape=(len(starts), len(placed), hidden)
                )
                with dataset.open_recording(session.subject, session.trial, sfreq=sfreq) as recording:
                    for first in range(0, len(starts), _EMBED_BLOCK):
                        block = starts[first : first + _EMBED_BLOCK]
                        result = event_embeddings(
                            recording,
                            placed,
                            neighbours,
                            block + window // 2,
                            model,
                            layer=bp.layer,
                            batch_size=bp.batch_size,
                            bf16=bp.bf16,
                            progress=False,
                            **preprocessing_kwargs(params),
                        )
                        if not result.kept.all():
                            raise RuntimeError(f"{name}: a window inside the recording was dropped")
                        array[first : first + len(block)] = result.embeddings
                        excluded.update(result.excluded)
                array.flush()
                del array
            excluded = [e for e in placed if e in excluded]
            write_json(dict(key=key, electrodes=placed, excluded=excluded, settings=settings), stamp)
            log.info("%s: embedded %d windows of %d electrodes", name, len(starts), len(placed))
        keep = np.array([i for i, e in enumerate(placed) if e not in set(excluded)], dtype=np.int64)
        if excluded:
            log.warning("%s: electrodes %s left out (non-finite samples)", name, excluded)
        if len(keep) < 2:
            log.warning("%s: fewer than 2 electrodes with finite embeddings: skipped", name)
            continue
        out.append(
            dict(
                name=name,
                path=path,
                keep=keep,
                electrodes=[placed[i] for i in keep],
                coords=coords[keep],
                n_windows=len(starts),
                step_s=step / sfreq,
            )
        )
    if not out:
        raise ValueError(
            f"no session of data.subjects {params.data.subjects} gives 2 windows of 5 s for PopT "
            "(check data.subjects, data.trials and pretrain_popt.max_windows)"
        )
    return out


def _checkpoint_path(params: Params, layout: Layout, section: str) -> Path:
    """The ``.pth`` file ``<section>.checkpoint`` names, resolved against the working directory."""
    value = getattr(params, section).checkpoint
    checkpoint = layout.resolve(value)
    if checkpoint.suffix != ".pth" or checkpoint.is_dir():
        raise ValueError(f"{section}.checkpoint must name a .pth file, got {value!r}")
    return checkpoint


def _train(params: Params, section: str, fit, net, data, checkpoint: Path, **options) -> dict:
    """``fit(net, data, ...)`` with the optimisation settings of ``<section>``; errors name its keys."""
    pp = getattr(params, section)
    try:
        return fit(
            net,
            data,
            steps=pp.steps,
            batch_size=pp.batch_size,
            lr=pp.lr,
            warmup_steps=pp.warmup_steps,
            optimizer=pp.optimizer,
            schedule=pp.schedule,
            clip_norm=pp.clip_norm,
            checkpoint=checkpoint,
            checkpoint_every=pp.checkpoint_every,
            resume=pp.resume,
            device=pp.device,
            bf16=pp.bf16,
            seed=pp.seed,
            **options,
        )
    except ValueError as err:
        message = str(err).replace("pass resume=False", f"set {section}.resume: false")
        where = f"{section}.checkpoint {pp.checkpoint}" if "checkpoint" in message else section
        raise ValueError(f"{where}: {message}") from None


def run_popt(params: Params, workdir: Path) -> dict:
    """Pretrain PopT on the dataset's recordings (``mmsites pretrain popt``).

    Parameters
    ----------
    params : Params
        Validated params: ``data`` (the sessions), ``responses`` (the preprocessing and, in
        ``responses.brainbert``, the BrainBERT that embeds the windows) and ``pretrain_popt``
        (the windows, the held-out part, the optimisation, the checkpoint).
    workdir : Path
        The working directory every path of the params is relative to.

    Returns
    -------
    dict
        The training history (:func:`mmsites.brainmodels.popt_pretrain.pretrain_popt`), also
        written to ``history.json`` beside the checkpoint with the numbers of windows.

    Raises
    ------
    ValueError
        If no series is left, the BrainBERT's width is not PopT's input width, or the
        checkpoint to resume belongs to another model or optimizer (the message names the
        params keys).
    FileNotFoundError
        If a recording, its localization table or the BrainBERT checkpoint is missing.
    """
    pp = params.pretrain_popt
    layout = Layout(Path(workdir), params)
    checkpoint = _checkpoint_path(params, layout, "pretrain_popt")
    out_dir = checkpoint.parent
    net = PopT(pp.config, seed=pp.seed)
    bp = params.responses.brainbert
    if not bp.checkpoint:
        _check_widths(pp.config, net.config.input_dim, PRESETS[bp.config].hidden_dim)
    series = _popt_embeddings(params, layout, out_dir, net.config.input_dim)
    train, val, counts = [], [], {"train": 0, "val": 0}
    for s in series:
        array = np.load(s["path"], mmap_mode="r")
        _check_widths(pp.config, net.config.input_dim, int(array.shape[2]))
        gap = max(0, math.ceil(WINDOW_S / s["step_s"] - 1e-9) - 1)
        train_part, val_part = split_windows(s["n_windows"], pp.val_fraction, gap)
        for part, target in ((train_part, train), (val_part, val)):
            if part is None:
                continue
            view = array[part]
            if len(s["keep"]) < array.shape[1]:
                view = _ElectrodeSubset(view, s["keep"])
            target.append(PoptSeries(view, s["coords"], s["name"]))
        counts["train"] += train_part.stop - train_part.start
        counts["val"] += 0 if val_part is None else val_part.stop - val_part.start
    log.info(
        "pretraining PopT %s on %d windows of %d session(s) (%d held out), %d steps of %d",
        pp.config,
        counts["train"],
        len(series),
        counts["val"],
        pp.steps,
        pp.batch_size,
    )
    history = _train(
        params,
        "pretrain_popt",
        pretrain_popt,
        net,
        train,
        checkpoint,
        val=val or None,
        replace_from=pp.replace_from,
    )
    write_json(
        dict(
            history,
            model="popt",
            config=pp.config,
            windows=counts,
            sessions=[
                dict(name=s["name"], electrodes=s["electrodes"], n_windows=s["n_windows"]) for s in series
            ],
            checkpoint=pp.checkpoint,
        ),
        out_dir / "history.json",
    )
    if history["val_step"]:
        log.info(
            "held-out after %d steps: ensemble task AUC %.3f, channel task AUC %.3f",
            history["val_step"][-1],
            history["val_cls_auc"][-1],
            history["val_token_auc"][-1],
        )
    return history


def run(params: Params, workdir: Path, model: str = "brainbert") -> dict:
    """Pretrain a model on the dataset's recordings (``mmsites pretrain brainbert|popt``).

    Parameters
    ----------
    params : Params
        Validated params: ``data`` (the sessions), ``responses`` (the preprocessing) and
        ``pretrain`` (BrainBERT: the windows, the held-out electrodes, the optimisation, the
        checkpoint) or ``pretrain_popt`` (PopT: :func:`run_popt`).
    workdir : Path
        The working directory every path of the params is relative to.
    model : str
        The model, one of :data:`PRETRAINABLE` (``"brainbert"``, ``"popt"``).

    Returns
    -------
    dict
        The training history (:func:`mmsites.brainmodels.pretrain.pretrain` or
        :func:`mmsites.brainmodels.popt_pretrain.pretrain_popt`), also written to
        ``history.json`` beside the checkpoint with the numbers of windows.

    Raises
    ------
    ValueError
        If the model is unknown, no training window is left, or the checkpoint to resume
        belongs to another model or optimizer (the message names the params keys).
    FileNotFoundError
        If a recording or its metadata is missing under ``data.root``.
    """
    if model not in PRETRAINABLE:
        raise ValueError(f"mmsites pretrain: unknown model {model!r}; choose one of {list(PRETRAINABLE)}")
    if model == "popt":
        return run_popt(params, workdir)
    pp = params.pretrain
    layout = Layout(Path(workdir), params)
    checkpoint = _checkpoint_path(params, layout, "pretrain")
    out_dir = checkpoint.parent
    windows = _write_windows(params, layout, out_dir)
    train = np.load(windows["paths"]["train"], mmap_mode="r")
    val = np.load(windows["paths"]["val"], mmap_mode="r") if windows["counts"]["val"] else None
    log.info(
        "pretraining BrainBERT %s on %d windows (%d held out), %d steps of %d",
        pp.config,
        len(train),
        0 if val is None else len(val),
        pp.steps,
        pp.batch_size,
    )
    net = BrainBERT(pp.config, seed=pp.seed, preprocessor="stft")
    history = _train(params, "pretrain", pretrain, net, train, checkpoint, val_windows=val)
    write_json(
        dict(history, model=model, config=pp.config, windows=windows["counts"], checkpoint=pp.checkpoint),
        out_dir / "history.json",
    )
    if history["val_step"]:
        log.info(
            "held-out masked L1 %.4f after %d steps (mean-prediction baseline %.4f)",
            history["val_l1"][-1],
            history["val_step"][-1],
            history["val_baseline_l1"],
        )
    return history
