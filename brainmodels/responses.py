"""BrainBERT embeddings as event-locked responses: one vector per event and electrode.

The official recipe (BrainBERT ``preprocessors/spec_pretrained.py``): for each event and
electrode, the 5 s of the preprocessed signal centred on the onset (from -2.5 s to +2.5 s),
its spectrogram by the checkpoint's recipe, the transformer, and the mean of the 10 middle
tokens of a layer (the last by default): a ``hidden_dim``-vector (768 for the published model).

The preprocessing is the voltage path's (:func:`mmsites.recordings.responses.event_responses`):
the notch cascade (causal, as BrainBERT's ``lfilter``), optionally a high-pass, and the
re-reference (Laplacian, bipolar, common average or none). A session is streamed: read per
time chunk, filtered with carried state from where the filter has settled before the first
window, and each event's window cut once the chunk that ends it has been read, so memory does
not grow with the recording length.

Events whose window leaves the recording are dropped and counted. Bad channels are screened
as in the voltage path (:class:`mmsites.recordings.responses.ChannelScreen`: a non-finite
sample anywhere in the samples read, or a peak-to-peak below ``flat_uv``): an electrode whose
channel, or a channel its re-reference uses, is bad is excluded: its rows are NaN, it is
listed in :attr:`EmbeddingSet.excluded` and its reason in :attr:`EmbeddingSet.reasons`; the
other electrodes go on, unchanged (every step before the model works row by row, and the
model embeds each window on its own).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from mmsites.recordings.braintreebank import Recording
from mmsites.recordings.preprocessing import (
    NOTCH_HZ,
    StreamingFilter,
    apply_reference,
    design_filter,
    settle_samples,
)
from mmsites.recordings.responses import (
    FLAT_UV,
    ChannelScreen,
    exclusions,
    reference_rows,
    screen_channels,
)

from .brainbert import BrainBERT

logger = logging.getLogger(__name__)

__all__ = ["EmbeddingSet", "WINDOW_S", "event_embeddings"]

#: Seconds of signal around each event that one embedding reads (centred on the onset).
WINDOW_S = 5.0


@dataclass
class EmbeddingSet:
    """BrainBERT embeddings of one session's events.

    Attributes
    ----------
    embeddings : numpy.ndarray of float32, shape (n_kept_events, n_electrodes, hidden_dim)
        The embedding of each kept event at each electrode; NaN rows for excluded electrodes.
    kept : numpy.ndarray of bool, shape (n_events,)
        Which input events have a row (in input order).
    electrodes : list of str, length n_electrodes
        Labels, in the order of the electrode axis.
    n_dropped : int
        Events left out because their 5 s window leaves the recording (or their sample is NaN).
    sfreq : float
        Sampling rate of the recording (Hz).
    excluded : list of str
        Electrodes whose channel, or a channel their re-reference uses, is bad (non-finite
        or flat), in electrode order.
    reasons : dict of str to str
        Each excluded electrode -> why, as :attr:`mmsites.recordings.responses.ResponseSet.excluded`
        says it (e.g. ``"Laplacian neighbour A3 is bad: NaN at sample 12345"``).
    """

    embeddings: np.ndarray
    kept: np.ndarray
    electrodes: list
    n_dropped: int
    sfreq: float
    excluded: list = field(default_factory=list)
    reasons: dict = field(default_factory=dict)


def event_embeddings(
    recording: Recording,
    electrodes: Sequence[str],
    neighbours: Mapping[str, tuple[str, str]] | None,
    event_samples,
    model: BrainBERT,
    *,
    layer: int = -1,
    notch_hz: Sequence[float] | None = NOTCH_HZ,
    notch_q: float = 30.0,
    rereference: str | None = "laplacian",
    highpass_hz: float | None = None,
    chunk_s: float = 60.0,
    batch_size: int = 64,
    bf16: bool = False,
    progress: bool = True,
    flat_uv: float = FLAT_UV,
) -> EmbeddingSet:
    """BrainBERT embedding of the 5 s around each event, for each electrode.

    Parameters
    ----------
    recording : Recording
        Open session (any sampling rate the spectral front end accepts; 1024 Hz sessions are
        brought onto the model's 2048-Hz grid by :func:`mmsites.recordings.spectral.to_model_rate`).
    electrodes : sequence of str, length n_electrodes
        Labels to embed, e.g. from :func:`mmsites.recordings.braintreebank.select_electrodes`.
    neighbours : mapping of str to tuple of str, or None
        Each electrode's two shaft neighbours (``"laplacian"``) or partner (``"bipolar"``),
        as :func:`mmsites.recordings.braintreebank.select_electrodes` returns them.
    event_samples : array-like of float, shape (n_events,)
        Onset sample of each event; NaN events are dropped.
    model : BrainBERT
        The model, with its spectrogram recipe (``preprocessor``) set.
    layer : int
        Which hidden layer's middle tokens are averaged (-1: the last, the official recipe).
    notch_hz : sequence of float or None
        Notch frequencies (Hz); None or empty for no notch.
    notch_q : float
        Notch quality factor.
    rereference : {"laplacian", "bipolar", "car", "none", None}
        Re-referencing scheme. ``"car"`` subtracts the mean of the good electrodes of
        ``electrodes``; it screens them first in a read-only pass over the samples to be
        read (:func:`mmsites.recordings.responses.screen_channels`), so that a channel found
        bad late never enters the mean.
    highpass_hz : float or None
        Cutoff of an optional 2nd-order Butterworth high-pass (Hz).
    chunk_s : float
        Seconds of signal read per step (memory is about ``n_electrodes * (chunk_s + 5) *
        sfreq * 8`` bytes).
    batch_size : int
        Windows per forward pass of the model.
    bf16 : bool
        Run the model under bfloat16 autocast on CUDA (about 1e-2 relative error); no effect
        on the CPU.
    progress : bool
        Show a progress bar.
    flat_uv : float
        Peak-to-peak (µV) over the samples read below which a channel is flat, hence bad
        (as :func:`mmsites.recordings.responses.event_responses`); 0 turns the check off.

    Returns
    -------
    EmbeddingSet
        ``embeddings`` (float32, (n_kept_events, n_electrodes, hidden_dim)), which events
        were kept, the electrodes, the count of dropped events and the excluded electrodes
        (NaN rows) with their reasons.

    Raises
    ------
    ValueError
        If there are no electrodes, a Laplacian neighbour or bipolar partner is missing,
        ``rereference`` is unknown, or ``chunk_s`` or ``batch_size`` is not positive.
    """
    sfreq = recording.sfreq
    electrodes = list(electrodes)
    if not electrodes:
        raise ValueError("no electrodes to embed")
    if chunk_s <= 0 or batch_size < 1:
        raise ValueError(f"chunk_s and batch_size must be positive, got {chunk_s} and {batch_size}")
    channels, where = reference_rows(recording, electrodes, neighbours, rereference)
    length = int(round(WINDOW_S * sfreq))
    half = int(round(WINDOW_S / 2 * sfreq))

    events = np.asarray(event_samples, dtype=np.float64).ravel()
    kept = np.isfinite(events)
    starts = np.where(kept, np.round(events), 0).astype(np.int64) - half
    kept &= (starts >= 0) & (starts + length <= recording.n_samples)
    n_dropped = int((~kept).sum())
    if n_dropped:
        logger.warning(
            "%s: dropped %d of %d events whose %g s window leaves the recording (or whose sample is NaN)",
            recording.path,
            n_dropped,
            len(events),
            WINDOW_S,
        )
    starts = starts[kept]
    hidden = model.config.hidden_dim
    out = np.full((len(starts), len(electrodes), hidden), np.nan, dtype=np.float32)
    result = EmbeddingSet(out, kept, electrodes, n_dropped, sfreq)
    if len(starts) == 0:
        return result

    sos = design_filter(sfreq, notch_hz, notch_q, highpass_hz)
    order = np.argsort(starts, kind="stable")
    begin = max(0, int(starts.min()) - settle_samples(sos))
    end = int(starts.max()) + length
    chunk = max(1, int(round(chunk_s * sfreq)))
    stream = StreamingFilter(sos, len(electrodes)) if sos is not None else None
    scheme = "none" if rereference is None else rereference
    # the label of every channel read (the electrode's own, or one its reference uses)
    label_of = dict(zip(channels[where[0]].tolist(), electrodes))
    for k in range(1, len(where)):
        label_of.update(zip(channels[where[k]].tolist(), (neighbours[e][k - 1] for e in electrodes)))
    reference = None
    if scheme == "car":
        # the mean must not hold a channel found bad later: screen every channel first
        early = screen_channels(recording, channels, begin, end, chunk, progress=progress).reasons(flat_uv)
        early = exclusions(
            electrodes, None, scheme, {label_of[int(channels[r])]: x for r, x in early.items()}
        )
        reference = [int(r) for r, e in zip(where[0], electrodes) if e not in early]
    screen = ChannelScreen(len(channels))
    # the last `length` filtered samples before the current chunk: windows may start there
    carried = np.zeros((len(electrodes), 0))
    carried_from = begin
    next_event = 0
    bar = tqdm(
        total=len(starts), desc="brainbert", unit="event", disable=(None if progress else True), leave=False
    )
    with bar:
        for chunk_start in range(begin, end, chunk):
            chunk_stop = min(chunk_start + chunk, end)
            raw = screen(recording.read(channels, chunk_start, chunk_stop, allow_nonfinite=True), chunk_start)
            if reference == []:  # every channel is bad: nothing to average, all excluded
                data = np.zeros((len(electrodes), raw.shape[1]), dtype=raw.dtype)
            else:
                data = apply_reference(raw, where, scheme, reference)
            data = stream(data) if stream is not None else np.asarray(data, dtype=np.float64)
            buffer = np.concatenate([carried, data], axis=1)
            # events whose window ends inside what has been read so far
            done = next_event
            while done < len(order) and starts[order[done]] + length <= chunk_stop:
                done += 1
            todo = order[next_event:done]
            for first in range(0, len(todo), max(1, batch_size // len(electrodes))):
                ids = todo[first : first + max(1, batch_size // len(electrodes))]
                windows = np.stack(
                    [buffer[:, starts[i] - carried_from : starts[i] - carried_from + length] for i in ids]
                )  # (events, electrodes, samples)
                emb = model.embed(
                    windows.reshape(-1, length).astype(np.float32),
                    sfreq,
                    layer=layer,
                    batch_size=batch_size,
                    bf16=bf16,
                )
                out[ids] = emb.reshape(len(ids), len(electrodes), hidden)
                bar.update(len(ids))
            next_event = done
            keep_from = max(0, buffer.shape[1] - length)
            carried = buffer[:, keep_from:]
            carried_from = chunk_stop - carried.shape[1]

    bad = {label_of[int(channels[row])]: reason for row, reason in screen.reasons(flat_uv).items()}
    result.reasons = exclusions(electrodes, neighbours, scheme, bad)
    if result.reasons:
        result.excluded = list(result.reasons)
        out[:, [i for i, e in enumerate(electrodes) if e in result.reasons]] = np.nan
        logger.warning(
            "%s: %d of %d electrode(s) excluded (bad channels: non-finite or flat; NaN rows): %s",
            recording.path,
            len(result.excluded),
            len(electrodes),
            "; ".join(f"{label}: {reason}" for label, reason in result.reasons.items()),
        )
    return result
