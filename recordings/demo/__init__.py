"""A deterministic synthetic Brain Treebank dataset with planted vision, language and
multimodal electrodes: the demo data of mmsites (and null variants of it without any).

:func:`generate_demo` writes, into a folder, exactly the layout of the real release (see
``braintreebank-format.md`` §10 in the shared reference notes) for a few subjects who watch one
synthetic movie, ``mmsites-demo``::

    ROOT/all_subject_data/sub_<s>_trial000.h5          group data, electrode_0..K-1, float32 µV
    ROOT/electrode_labels/sub_<s>/electrode_labels.json
    ROOT/corrupted_elec.json
    ROOT/localization/sub_<s>/depth-wm.csv
    ROOT/localization/elec_coords_full.csv
    ROOT/subject_metadata/sub_<s>_trial000_metadata.json
    ROOT/subject_timings/sub_<s>_trial000_timings.csv
    ROOT/transcripts/mmsites-demo/features.csv
    ROOT/movies/mmsites-demo.mp4                       H.264, procedurally drawn scenes
    ROOT/scenes/mmsites-demo.csv                       true cut times (column time_s)
    ROOT/truth_features/{vision,language,multimodal}/mmsites-demo_{language,vision}.parquet
    ROOT/truth.csv                                     subject, electrode, kind (one of ELECTRODE_KINDS)

The model of the data
---------------------
* **Movie.** Scenes of 0.8–1.6 s (``SCENE_S``; a modern film's shots average 2–3 s, shorter scenes give
  the vision-aligned analysis more events); scene j has a visual latent ``v_j`` (5 dims, uniform with zero
  mean and unit variance) drawn as background hue, background brightness, disc size, disc
  position and stripe frequency. Saturation alternates between scenes and hue jumps by a
  large amount at every cut, so a content detector finds every cut at its exact first frame.
* **Transcript.** Sentences of 3–15 tokens drawn from a vocabulary of pseudo-words; each word
  type has a verbal latent ``w`` (5 dims, standard normal). A sentence's latent is the mean
  ``w`` of its tokens, scaled to unit variance over sentences.
* **Events.** A word event is each unique finite word onset; it sees the first frame at or
  after the onset (so the ``v`` of that frame's scene) and its first token's ``w``. A scene
  event is each cut; it sees the new scene's ``v`` and the latent of the last sentence whose
  first word started at or before the cut (zeros before the first sentence).
* **Drives.** Per event, the drive of a kind is ``f_vision = v``, ``f_language = w`` and
  ``f_multimodal = v * w`` (elementwise; both zero-mean and independent, so neither alone
  predicts it linearly). These are exactly the columns of the truth features.
* **Neural signal.** Pink (1/f) noise, 60 and 120 Hz line noise, quantised to ADC steps, plus
  at every event ``(a_e · f_kind(event)) * kernel(t - onset)`` with a Gaussian kernel peaking
  at :data:`KERNEL_LATENCY_S` with width :data:`KERNEL_SD_S`. Responses are planted in the
  **Laplacian** reference: a responsive contact's response is spread over its shaft as a
  tent (``1 - |c - c_e|``, mean removed), which the Laplacian ``x_c - (x_{c-1} + x_{c+1})/2``
  maps back exactly to the responsive contact and to zero everywhere else. So, after the
  Laplacian, neighbours of a responsive contact carry nothing and ``truth.csv`` is exact;
  with no re-referencing, whole shafts look responsive.
* **Time.** Events are placed at the sample that :func:`recordings.braintreebank.movie_to_sample`
  gives from the written trigger table (nearest trigger), so a reader recovers them exactly.
  Trigger movie times lie on a 1/64 s grid so every number in the table is exact in binary.

Variants (null data for false-positive rates)
---------------------------------------------
``generate_demo(variant=...)`` chooses what the electrodes that ``"planted"`` (the default)
makes multimodal do; every other file and electrode is the same for the same ``seed`` (same
movie, transcript, truth features, timings, localization, noise, and the same vision, language
and none electrodes with the same weights). Only the raw-reference signals of the other contacts
on those electrodes' shafts change (the tent), never their Laplacian beyond ADC rounding.

* ``"planted"``: they respond to ``v * w`` (kind ``"multimodal"``).
* ``"no_multimodal"``: they respond to nothing (kind ``"none"``): no multimodal site exists.
* ``"linear"``: they respond to a *linear* mix ``v @ a1 + w @ a2`` (kind ``"linear"``), with
  ``|a1| = |a2| = RESPONSE_UV * u / sqrt(2)`` (``u`` the same 0.8–1.2 gain a multimodal electrode
  would get), so the drive variance equals a multimodal electrode's. ``a1`` is the direction the
  multimodal electrode would have had, ``a2`` comes from a separate stream. The truth features
  are unchanged (``truth_features/multimodal`` still holds ``v, w, v*w``), so the multimodal
  truth model and a concatenation of the vision and language truth models predict these
  electrodes equally well: any multimodal site called there is a false positive.
  :func:`kind_drive` of ``"linear"`` is ``[v, w]`` and their weights are ``(a1, a2)``.

Everything is drawn from ``numpy.random.default_rng`` streams derived from ``seed``: the same
arguments give byte-identical files (the mp4 included on one machine).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.fft
import scipy.signal
from tqdm.auto import tqdm

from mmsites.constants import ELECTRODE_KINDS, PLANTED_KINDS
from mmsites.recordings.braintreebank import (
    clean_label,
    movie_to_sample,
    select_electrodes,
    shaft_and_contact,
)
from mmsites.timing import TIME_TOL_S, next_frame_time

logger = logging.getLogger(__name__)

__all__ = [
    "DemoInfo",
    "generate_demo",
    "VARIANTS",
    "MOVIE_ID",
    "MOVIE_TITLE",
    "KERNEL_LATENCY_S",
    "KERNEL_SD_S",
    "N_LATENT",
    "kind_drive",
    "response_kernel",
    "tent_weights",
    "pink_noise",
]

MOVIE_ID = "mmsites-demo"
MOVIE_TITLE = "mmsites demo"
#: Electrode kinds, in the order used everywhere (truth.csv ``kind`` column). ``"linear"``
#: occurs only in the ``"linear"`` variant (see the module docstring).
#: Kinds that :func:`generate_demo` plants (before a variant replaces ``"multimodal"``).
#: What a variant makes of the electrodes planted as multimodal: ``variant -> kind``.
VARIANTS = {"planted": "multimodal", "no_multimodal": "none", "linear": "linear"}
#: Peak time (s after the event onset) and Gaussian width (s) of the planted response.
KERNEL_LATENCY_S = 0.25
KERNEL_SD_S = 0.08
#: Dimension of the visual latent v and of the verbal latent w.
N_LATENT = 5
#: Standard deviation of the background pink noise of every neural channel (µV).
NOISE_UV = 20.0
#: Peak response (µV, Laplacian reference) per unit of drive; drives have unit variance.
RESPONSE_UV = 30.0
#: Shortest and longest scene of the demo movie, seconds.
SCENE_S = (0.8, 1.6)
#: Line noise amplitudes (µV) at 60 Hz and its first harmonic.
LINE_NOISE_UV = {60.0: 12.0, 120.0: 4.0}
#: ADC step of the real recordings (µV): values are multiples of it.
ADC_STEP_UV = 0.2658
#: Trigger movie times lie on this grid (s): exact in binary and in decimal.
_TRIGGER_GRID_S = 1.0 / 64.0
#: Events are kept this far (s) from the movie pause so every nearest-trigger rule agrees.
_PAUSE_CLEARANCE_S = 0.8
#: Neural data recorded after the last trigger (s), so late responses fit in the file.
_TAIL_S = 3.0

_STEMS = (
    "T1aIb",
    "F10Fa",
    "LT2aA",
    "RF1aCaOF",
    "O1bId",
    "P2Ie",
    "T3bHa",
    "F2aCb",
    "RT3aHa",
    "LF3aOFb",
    "T2cA",
    "P1bSa",
)
# Cortical region of the outer contacts of each shaft (deep contacts are white matter).
_REGIONS = (
    "superiortemporal",
    "caudalmiddlefrontal",
    "middletemporal",
    "lateralorbitofrontal",
    "lateraloccipital",
    "inferiorparietal",
    "insula",
    "superiorfrontal",
    "supramarginal",
    "parsopercularis",
    "inferiortemporal",
    "superiorparietal",
)
_DESTRIEUX = {
    "superiortemporal": "G_temp_sup-Lateral",
    "caudalmiddlefrontal": "G_front_middle",
    "middletemporal": "G_temporal_middle",
    "lateralorbitofrontal": "G_orbital",
    "lateraloccipital": "G_occipital_middle",
    "inferiorparietal": "G_pariet_inf-Angular",
    "insula": "G_insular_short",
    "superiorfrontal": "G_front_sup",
    "supramarginal": "G_pariet_inf-Supramar",
    "parsopercularis": "G_front_inf-Opercular",
    "inferiortemporal": "G_temporal_inf",
    "superiorparietal": "G_parietal_sup",
}
_POS = ("NOUN", "VERB", "ADJ", "ADV", "DET", "PRON", "ADP", "PUNCT", "AUX", "CCONJ")
_DEPREL = ("nsubj", "obj", "root", "det", "amod", "advmod", "case", "punct", "conj", "obl")
_SYLLABLES = ("ba", "ko", "mi", "tu", "ra", "ne", "so", "li", "da", "pe", "zu", "ga", "fo", "ki")
_PARTICLES = ("'s", "n't", "na", "'re")
_TRANSCRIPT_FEATURES = (
    "gpt2_surprisal",
    "rms",
    "pitch",
    "delta_rms",
    "delta_pitch",
    "max_mean_pixel_brightness",
    "max_global_magnitude",
    "max_global_angle",
    "max_vector_magnitude",
    "max_vector_angle",
)


@dataclass(frozen=True)
class DemoInfo:
    """What :func:`generate_demo` wrote and planted.

    Attributes
    ----------
    root : Path
        The dataset root.
    movie_id, title : str
        ``"mmsites-demo"`` and ``"mmsites demo"``.
    subjects : tuple of int
        Subject numbers, each with one session, trial 0.
    sfreq : dict of int to float
        Sampling rate per subject (Hz).
    n_samples : dict of int to int
        Length of each subject's h5 datasets (samples).
    duration_s, fps : float
        Movie length (s) and frame rate (frames/s).
    n_events : dict of str to int
        Events per alignment, the rows of the truth features: ``"language"`` (unique finite
        word onsets) and ``"vision"`` (scene cuts). The few after a subject's last trigger
        have no response in the recording.
    cut_times : ndarray of float64, shape (n_cuts,)
        Planted scene-cut times (s of movie time), the first frame of each new scene.
    kernel_latency_s, kernel_sd_s : float
        Peak time (s after onset) and width (s) of the planted Gaussian response.
    kinds : dict of int to dict of str to str
        Per subject, every electrode that survives the Laplacian selection (cleaned label)
        -> its kind, one of :data:`mmsites.constants.ELECTRODE_KINDS`.
    weights : dict of int to dict of str to ndarray of shape (N_LATENT,) or (2 * N_LATENT,)
        Per subject, each responsive electrode -> ``a_e`` (µV of Laplacian response peak per
        unit of each drive dimension): the response to an event is ``a_e @ f_kind(event)``
        (``kind_drive``); ``(a1, a2)``, of length ``2 * N_LATENT``, for a ``"linear"`` one.
    variant : str
        The variant written, a key of :data:`VARIANTS`.
    pauses : dict of int to tuple of (float, float)
        Per subject, (movie time of the pause (s), its length (s of recording)).
    paths : dict of str to Path
        ``"movie"``, ``"scenes"``, ``"transcript"``, ``"truth"``, ``"truth_features"``,
        ``"corrupted"``, and ``"h5_<s>"``, ``"timings_<s>"`` per subject.
    """

    root: Path
    movie_id: str
    title: str
    subjects: tuple
    sfreq: dict
    n_samples: dict
    duration_s: float
    fps: float
    n_events: dict
    cut_times: np.ndarray
    kernel_latency_s: float
    kernel_sd_s: float
    kinds: dict
    weights: dict
    pauses: dict
    paths: dict = field(default_factory=dict)
    variant: str = "planted"

    def electrodes_of_kind(self, subject: int, kind: str) -> list[str]:
        """Cleaned labels of one subject's electrodes of one kind, in channel order."""
        if kind not in ELECTRODE_KINDS:
            raise ValueError(f"kind must be one of {ELECTRODE_KINDS}, got {kind!r}")
        return [label for label, k in self.kinds[subject].items() if k == kind]


# --------------------------------------------------------------------------------------------
# Small maths helpers (public for tests and notebooks)
# --------------------------------------------------------------------------------------------
def response_kernel(
    sfreq: float, latency_s: float = KERNEL_LATENCY_S, sd_s: float = KERNEL_SD_S
) -> tuple[np.ndarray, int]:
    """The planted response shape, a unit-peak Gaussian bump sampled at ``sfreq``.

    Parameters
    ----------
    sfreq : float
        Sampling rate (Hz).
    latency_s, sd_s : float
        Peak time after the event (s) and standard deviation (s).

    Returns
    -------
    kernel : ndarray of float64, shape (n_lags,)
        Values at lags ``first_lag .. first_lag + n_lags - 1`` samples from the onset,
        covering ±5 sd around the peak; the value at the peak lag is 1 when
        ``latency_s * sfreq`` is whole.
    first_lag : int
        Lag (samples from the event onset, may be negative) of ``kernel[0]``.
    """
    if sd_s <= 0 or sfreq <= 0:
        raise ValueError(f"sfreq and sd_s must be positive, got sfreq={sfreq}, sd_s={sd_s}")
    first = int(np.floor((latency_s - 5 * sd_s) * sfreq))
    last = int(np.ceil((latency_s + 5 * sd_s) * sfreq))
    lags = np.arange(first, last + 1) / sfreq
    return np.exp(-0.5 * ((lags - latency_s) / sd_s) ** 2), first


def tent_weights(contacts: np.ndarray, source: int) -> np.ndarray:
    """Raw-reference weights that a source at one contact puts on every contact of its shaft.

    ``t_c = 1 - |c - source|`` minus its mean over the shaft: linear away from the source,
    so the Laplacian ``t_c - (t_{c-1} + t_{c+1}) / 2`` is 1 at the source and 0 at every
    other contact that has both neighbours.

    Parameters
    ----------
    contacts : ndarray of int, shape (n_contacts,)
        Contact numbers of the shaft (consecutive integers).
    source : int
        Contact number of the responsive electrode.

    Returns
    -------
    weights : ndarray of float64, shape (n_contacts,)
    """
    contacts = np.asarray(contacts, dtype=np.float64)
    tent = 1.0 - np.abs(contacts - source)
    return tent - tent.mean()


def pink_noise(n_samples: int, sfreq: float, rng: np.random.Generator, fmin: float = 0.5) -> np.ndarray:
    """Gaussian noise with a 1/f power spectrum above ``fmin`` (flat below), unit variance.

    Parameters
    ----------
    n_samples : int
        Length (samples).
    sfreq : float
        Sampling rate (Hz).
    rng : numpy.random.Generator
        Source of randomness.
    fmin : float
        Frequency (Hz) below which the spectrum is flat, to bound slow drift.

    Returns
    -------
    noise : ndarray of float64, shape (n_samples,)
        Zero mean, unit standard deviation (dimensionless).
    """
    n_fft = scipy.fft.next_fast_len(n_samples, real=True)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sfreq)
    spectrum = rng.standard_normal(freqs.size) + 1j * rng.standard_normal(freqs.size)
    spectrum /= np.sqrt(np.maximum(freqs, fmin))
    spectrum[0] = 0.0
    noise = scipy.fft.irfft(spectrum, n_fft)[:n_samples]
    noise -= noise.mean()
    return noise / noise.std()


# --------------------------------------------------------------------------------------------
# Movie
# --------------------------------------------------------------------------------------------
def _plan_scenes(rng: np.random.Generator, duration_s: float, fps: float):
    """Scene start frames (first is 0) and the visual latent of each scene."""
    n_frames = int(round(duration_s * fps))
    lo, hi = int(np.ceil(SCENE_S[0] * fps - 1e-9)), int(np.floor(SCENE_S[1] * fps + 1e-9))
    starts = [0]
    while True:
        nxt = starts[-1] + int(rng.integers(lo, hi + 1))
        if nxt > n_frames - lo:
            break
        starts.append(nxt)
    half = np.sqrt(3.0)  # uniform on [-√3, √3] has unit variance
    latents = []
    for j in range(len(starts)):
        while True:
            v = rng.uniform(-half, half, N_LATENT)
            # a strong hue jump at every cut (the alternating saturation does the rest)
            if j == 0 or abs(v[0] - latents[-1][0]) > 1.0:
                break
        latents.append(v)
    return n_frames, np.asarray(starts, dtype=np.int64), np.asarray(latents)


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV (h in degrees [0, 360), s and v in [0, 1]) -> uint8 RGB, all shapes broadcast."""
    c = v * s
    hp = (h % 360.0) / 60.0
    x = c * (1 - np.abs(hp % 2 - 1))
    z = np.zeros_like(c)
    sector = np.floor(hp).astype(int) % 6
    r = np.choose(sector, [c, x, z, z, x, c])
    g = np.choose(sector, [x, c, c, x, z, z])
    b = np.choose(sector, [z, z, x, c, c, x])
    m = v - c
    rgb = np.stack([r + m, g + m, b + m], axis=-1)
    return np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


def _scene_background(v: np.ndarray, j: int, width: int, height: int) -> np.ndarray:
    """Static background of scene j, uint8 RGB (height, width, 3)."""
    u = (v + np.sqrt(3.0)) / (2 * np.sqrt(3.0))  # each latent mapped to [0, 1]
    hue = 300.0 * u[0]  # stay away from the red wrap-around so distinct hues look distinct
    sat = 0.95 if j % 2 == 0 else 0.35
    val = 0.35 + 0.55 * u[1]
    cycles = 1.0 + 7.0 * u[4]  # stripe frequency across the width
    x = np.arange(width) / width
    stripes = 0.12 * np.sin(2 * np.pi * cycles * x)[None, :] * np.ones((height, 1))
    return _hsv_to_rgb(
        np.full((height, width), hue), np.full((height, width), sat), np.clip(val + stripes, 0, 1)
    )


def _render_movie(path: Path, starts, latents, n_frames, fps, frame_size, progress) -> np.ndarray:
    """Write the H.264 mp4; return the mean grey level of every frame, shape (n_frames,)."""
    import av  # heavy import, only needed here

    width, height = frame_size
    yy, xx = np.mgrid[0:height, 0:width]
    brightness = np.empty(n_frames)
    scene_of = np.searchsorted(starts, np.arange(n_frames), side="right") - 1
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.logging.Capture() as messages, av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # one thread and fixed options: x264 output is then reproducible byte for byte
        stream.options = {"crf": "16", "threads": "1", "preset": "medium", "bf": "0"}
        background = None
        for i in tqdm(
            range(n_frames), desc="demo movie", unit="frame", disable=not progress or None, leave=False
        ):
            j = scene_of[i]
            v = latents[j]
            u = (v + np.sqrt(3.0)) / (2 * np.sqrt(3.0))
            if i == starts[j]:
                background = _scene_background(v, j, width, height)
            frame = background.copy()
            # a disc whose size and position encode v[2], v[3]; it drifts slowly within a scene
            radius = (0.08 + 0.22 * u[2]) * height
            cx = (0.2 + 0.6 * u[3]) * width + 0.4 * (i - starts[j])
            cy = 0.5 * height
            disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
            frame[disc] = _hsv_to_rgb(np.array(300.0 * u[0] + 180.0), np.array(0.2), np.array(1.0))
            brightness[i] = frame.mean()
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    for _level, source, message in messages:  # the encoder's chatter goes to the debug log
        logger.debug("%s: %s", source, str(message).rstrip())
    return brightness


def _frame_index(times_s: np.ndarray, fps: float, n_frames: int) -> np.ndarray:
    """Index of the first frame at or after each time (the events' rule), int64 (n_times,).

    Times after the last frame get the last frame.
    """
    frame_times = np.arange(n_frames) / fps
    shown = next_frame_time(np.minimum(times_s, frame_times[-1]), frame_times)
    return np.rint(shown * fps).astype(np.int64)


# --------------------------------------------------------------------------------------------
# Transcript
# --------------------------------------------------------------------------------------------
def _vocabulary(rng: np.random.Generator, n_types: int = 160):
    words, seen = [], set()
    while len(words) < n_types:
        word = "".join(rng.choice(_SYLLABLES, size=int(rng.integers(1, 4))))
        if word not in seen:
            seen.add(word)
            words.append(word)
    latents = rng.standard_normal((n_types, N_LATENT))
    pos = rng.choice(np.array(_POS[:7]), size=n_types)  # PUNCT etc. are for particles
    return np.array(words, dtype=object), latents, pos


def _plan_transcript(
    rng: np.random.Generator,
    duration_s: float,
    quiet_s: float,
    n_frames: int,
    fps: float,
    brightness: np.ndarray,
):
    """Word table (the features.csv columns) and each token's verbal latent.

    Returns
    -------
    table : DataFrame, one row per token
    token_w : ndarray, shape (n_tokens, N_LATENT)
    token_sentence : ndarray of int, shape (n_tokens,)
    """
    words, w_types, pos_types = _vocabulary(rng)
    zipf = 1.0 / np.arange(1, len(words) + 1) ** 0.9
    zipf /= zipf.sum()
    # centre the latents under the token distribution: frequent words would otherwise give w a
    # non-zero mean, and v * w a component linear in v
    w_types = w_types - zipf @ w_types
    particle_latents = rng.standard_normal((len(_PARTICLES), N_LATENT))
    rows, token_w, token_sentence = [], [], []
    t = 2.0 + rng.uniform(0.0, 0.5)
    sentence_idx = 0
    end_limit = duration_s - 0.3
    while t < end_limit - 0.5:
        n_words = int(rng.integers(3, 16))
        durations = rng.uniform(0.15, 0.40, n_words)
        gaps = rng.uniform(0.02, 0.12, n_words)
        onsets = t + np.concatenate([[0.0], np.cumsum(durations + gaps)[:-1]])
        # keep every onset away from the movie pause
        if np.any(np.abs(onsets - quiet_s) < _PAUSE_CLEARANCE_S):
            t = max(t, quiet_s + _PAUSE_CLEARANCE_S + 0.05)
            onsets = t + np.concatenate([[0.0], np.cumsum(durations + gaps)[:-1]])
        keep = onsets < end_limit
        onsets, durations = onsets[keep], durations[keep]
        if len(onsets) < 3:
            break
        types = rng.choice(len(words), size=len(onsets), p=zipf)
        tokens = []
        for k, (onset, dur, ty) in enumerate(zip(onsets, durations, types)):
            tokens.append(
                dict(text=words[ty], start=onset, end=onset + dur, pos=pos_types[ty], w=w_types[ty])
            )
            # now and then a particle split off the word, without timing (real 'word particles')
            if k > 0 and rng.random() < 0.03:
                p = int(rng.integers(len(_PARTICLES)))
                tokens.append(
                    dict(text=_PARTICLES[p], start=np.nan, end=np.nan, pos="PART", w=particle_latents[p])
                )
        n_tok = len(tokens)
        sentence = " ".join(tok["text"] for tok in tokens)
        speaker = f"SPEAKER_{int(rng.integers(0, 4)):02d}"
        for k, tok in enumerate(tokens):
            rows.append(
                dict(
                    text=tok["text"],
                    start=tok["start"],
                    end=tok["end"],
                    sentence=sentence,
                    is_onset=int(k == 0),
                    is_offset=int(k == n_tok - 1),
                    idx_in_sentence=k,
                    pos=tok["pos"],
                    speaker=speaker,
                    sentence_idx=sentence_idx,
                    head=int(rng.integers(0, n_tok)),
                    deprel=_DEPREL[int(rng.integers(len(_DEPREL)))],
                )
            )
            token_w.append(tok["w"])
            token_sentence.append(sentence_idx)
        sentence_idx += 1
        t = onsets[-1] + durations[-1] + rng.uniform(0.4, 2.0)
    table = pd.DataFrame(rows)
    if sentence_idx < 2:
        raise ValueError(f"duration_s={duration_s} is too short for a transcript; use at least 30 s")
    n = len(table)
    table["lemma"] = table["text"].str.lower()
    table["word_idx"] = np.arange(n)
    table["bin_head"] = (table["head"] == table["idx_in_sentence"]).astype(int)
    table["word_length"] = table["text"].str.len()
    for name in _TRANSCRIPT_FEATURES:
        table[name] = rng.standard_normal(n)
    table["gpt2_surprisal"] = np.abs(table["gpt2_surprisal"]) * 4 + 2
    table["face_num"] = rng.integers(0, 3, n)
    for name in ("rms", "pitch", "max_mean_pixel_brightness", "max_global_magnitude", "max_vector_magnitude"):
        table[name] = np.abs(table[name])
    # quirks: one token sharing its start (and end) with the previous one (a split contraction)
    start = table["start"].to_numpy()
    finite = np.flatnonzero(np.isfinite(start))
    candidates = [
        i
        for i in finite[1:]
        if table.at[i, "idx_in_sentence"] > 0 and np.isfinite(start[i - 1]) and i < n - 1
    ]
    dup = candidates[len(candidates) // 3]
    table.loc[dup, ["start", "end"]] = table.loc[dup - 1, ["start", "end"]].to_numpy()
    start = table["start"].to_numpy()
    timed = np.isfinite(start)
    brightness_at = np.full(n, np.nan)
    brightness_at[timed] = brightness[_frame_index(start[timed], fps, n_frames)] / 255.0
    table["mean_pixel_brightness"] = brightness_at
    prev_end = table["end"].shift()
    table["word_diff"] = table["start"] - prev_end  # NaN in the first row and after particles
    onset_diff = table["start"] - table["start"].shift()
    onset_diff[rng.random(n) < 0.02] = np.nan
    table["onset_diff"] = onset_diff
    # one infinite value (the real files have ±inf in some feature columns)
    table.at[candidates[len(candidates) // 2], "gpt2_surprisal"] = np.inf
    order = [
        "text",
        "start",
        "end",
        "sentence",
        "is_onset",
        "is_offset",
        "idx_in_sentence",
        "pos",
        "bin_head",
        "gpt2_surprisal",
        "word_length",
        "rms",
        "pitch",
        "delta_rms",
        "delta_pitch",
        "mean_pixel_brightness",
        "max_mean_pixel_brightness",
        "max_global_magnitude",
        "max_global_angle",
        "max_vector_magnitude",
        "max_vector_angle",
        "face_num",
        "word_diff",
        "onset_diff",
        "speaker",
        "sentence_idx",
        "word_idx",
        "lemma",
        "head",
        "deprel",
    ]
    return table[order], np.asarray(token_w), np.asarray(token_sentence)


# --------------------------------------------------------------------------------------------
# Events and their drives (the truth features)
# --------------------------------------------------------------------------------------------
def _truth_features(table, token_w, token_sentence, starts, latents, fps, n_frames):
    """Drive tables per alignment: movie_time, v0.., w0.., vw0.. (see the module docstring)."""
    start = table["start"].to_numpy(np.float64)
    is_onset = table["is_onset"].to_numpy() == 1
    finite = np.flatnonzero(np.isfinite(start))
    # word events: unique finite onsets; the first token at that onset gives w
    order = finite[np.argsort(start[finite], kind="stable")]
    first = np.r_[True, np.diff(start[order]) != 0]
    rows = order[first]
    onset = start[rows]
    scene = np.searchsorted(starts, _frame_index(onset, fps, n_frames), side="right") - 1
    v_lang, w_lang = latents[scene], token_w[rows]

    # sentence latents: mean token w, scaled to unit variance over sentences
    n_sent = token_sentence.max() + 1
    sums = np.zeros((n_sent, N_LATENT))
    np.add.at(sums, token_sentence, token_w)
    means = sums / np.bincount(token_sentence, minlength=n_sent)[:, None]
    means /= np.sqrt(np.mean(means**2))
    sent_start = start[is_onset]  # sentence-initial tokens always have a finite start
    cut_frames = starts[1:]
    cut_times = cut_frames / fps
    which = np.searchsorted(sent_start, cut_times + TIME_TOL_S, side="right") - 1
    w_cut = np.where(which[:, None] >= 0, means[np.maximum(which, 0)], 0.0)
    v_cut = latents[1:]

    def frames(times, v, w):
        data = {"movie_time": times}
        data.update({f"v{i}": v[:, i] for i in range(N_LATENT)})
        data.update({f"w{i}": w[:, i] for i in range(N_LATENT)})
        data.update({f"vw{i}": v[:, i] * w[:, i] for i in range(N_LATENT)})
        return pd.DataFrame(data)

    return {"language": frames(onset, v_lang, w_lang), "vision": frames(cut_times, v_cut, w_cut)}


def kind_drive(features: pd.DataFrame, kind: str) -> np.ndarray:
    """Drive matrix of one electrode kind, from a multimodal truth-features table.

    Parameters
    ----------
    features : DataFrame, shape (n_events, 1 + 3 * N_LATENT)
        ``truth_features/multimodal/<movie>_<alignment>.parquet`` (columns ``v*``, ``w*``,
        ``vw*``).
    kind : {"vision", "language", "multimodal", "linear"}

    Returns
    -------
    drive : ndarray of float64, shape (n_events, N_LATENT) or (n_events, 2 * N_LATENT)
        ``v``, ``w`` or ``v * w``, or ``[v, w]`` (columns ``v0..v4, w0..w4``) for ``"linear"``;
        an electrode's planted peak response (µV, Laplacian reference) to each event is
        ``drive @ DemoInfo.weights[subject][label]``.
    """
    if kind not in ELECTRODE_KINDS[1:]:
        raise ValueError(f"kind must be one of {ELECTRODE_KINDS[1:]}, got {kind!r}")
    prefixes = {"vision": ("v",), "language": ("w",), "multimodal": ("vw",), "linear": ("v", "w")}[kind]
    return features[[f"{p}{i}" for p in prefixes for i in range(N_LATENT)]].to_numpy(np.float64)


# --------------------------------------------------------------------------------------------
# Subjects: montage, timings, signals
# --------------------------------------------------------------------------------------------
def _montage(subject_pos: int, n_shafts: int, contacts_per_shaft: int):
    """Raw labels (h5 order, incl. trigger channels), shaft of each (-1: not neural), stems,
    the raw label of the corrupted contact and the cleaned label left out of localization."""
    stems = list(_STEMS[:n_shafts])
    raw, shaft_of = [], []
    for s, stem in enumerate(stems):
        for c in range(1, contacts_per_shaft + 1):
            label = f"{stem}{c}"
            if stem == "F10Fa" and c == 5:
                label = "F1*0Fa5"  # as in the real sub_1 list: cleans to F10Fa5
            elif s == 0 and c == 3:
                label = f"{stem}{c}#"
            elif s == 2:
                label = f"{stem}{c}*"
            raw.append(label)
            shaft_of.append(s)
        if s == 1:
            raw.append("DC4")
            shaft_of.append(-1)
    raw.append("DC10")
    shaft_of.append(-1)
    if subject_pos == 0:
        raw.append("TRIG4")
        shaft_of.append(-1)
    # corrupted: contact 3 of the last shaft; its contact 1 has no localization. With 3 gone,
    # contacts 2 and 4 have no Laplacian anyway, so dropping contact 1 changes no selection.
    last = n_shafts - 1
    corrupted = next(lab for lab in raw if clean_label(lab) == f"{stems[last]}3")  # raw, as the real lists
    omitted = f"{stems[last]}1"
    return raw, np.asarray(shaft_of), stems, corrupted, omitted


def _responsive_candidates(eligible: list[str], rng: np.random.Generator | None = None) -> list[str]:
    """A largest set of eligible electrodes with no two on adjacent contacts.

    Every run of consecutive eligible contacts of a shaft contributes every other contact,
    from an end chosen by ``rng`` (the first end when None).
    """
    by_shaft: dict[str, list[int]] = {}
    for label in eligible:
        shaft, contact = shaft_and_contact(label)
        by_shaft.setdefault(shaft, []).append(contact)
    name = {shaft_and_contact(label): label for label in eligible}
    candidates = []
    for shaft, contacts in by_shaft.items():
        contacts = sorted(contacts)
        for run in np.split(np.asarray(contacts), np.flatnonzero(np.diff(contacts) > 1) + 1):
            start = int(rng.integers(0, 2)) if rng is not None and len(run) % 2 == 0 else 0
            candidates += [name[(shaft, int(c))] for c in run[start::2]]
    return candidates


def _n_per_kind(eligible: list[str]) -> int:
    return max(2, len(eligible) // 8)


def _assign_kinds(rng: np.random.Generator, eligible: list[str]) -> dict[str, str]:
    """Kinds of the eligible electrodes: _n_per_kind of each responsive kind, the rest 'none'."""
    candidates = _responsive_candidates(eligible, rng)
    n = 3 * _n_per_kind(eligible)
    chosen = [candidates[i] for i in rng.permutation(len(candidates))[:n]]
    kinds = {label: "none" for label in eligible}
    for k, label in enumerate(chosen):
        kinds[label] = PLANTED_KINDS[k % 3]
    return kinds


def _subject_montage(pos: int, n_shafts: int, contacts_per_shaft: int):
    """Montage of the subject at position ``pos`` plus its corrupted list and Laplacian set."""
    raw, shaft_of, stems, corrupted, omitted = _montage(pos, n_shafts, contacts_per_shaft)
    bad = [lab for lab in raw if clean_label(lab).upper().startswith(("DC", "TRIG"))] + [corrupted]
    eligible, _ = select_electrodes(raw, bad, "laplacian")
    n_free = len(_responsive_candidates(eligible))
    if n_free < 3 * _n_per_kind(eligible):
        raise ValueError(
            f"n_shafts={n_shafts} x contacts_per_shaft={contacts_per_shaft} leaves only {n_free} "
            f"non-adjacent Laplacian electrodes for {3 * _n_per_kind(eligible)} responsive ones "
            "(2 per kind at least); use more shafts or contacts_per_shaft"
        )
    return raw, shaft_of, stems, corrupted, omitted, bad, eligible


def _timings(rng, sfreq: float, duration_s: float, pause_time_s: float, end_time_s: float):
    """Trigger table and its pause; movie times on the 1/64 s grid, indices whole samples."""
    grid = _TRIGGER_GRID_S
    per_tick = int(round(sfreq * grid))
    offset = int(rng.integers(int(3 * sfreq), int(6 * sfreq)))  # recording starts before the movie
    pause_samples = int(rng.integers(int(3 * sfreq), int(8 * sfreq)))
    pause_tick, end_tick = int(round(pause_time_s / grid)), int(round(end_time_s / grid))
    ticks = [0]
    while ticks[-1] < end_tick:
        ticks.append(ticks[-1] + int(rng.integers(7, 33)))  # 0.11-0.5 s apart
    ticks = sorted(set(t for t in ticks if t < end_tick) | {pause_tick, end_tick})
    ticks = np.asarray(ticks, dtype=np.int64)
    at_pause = int(np.flatnonzero(ticks == pause_tick)[0])
    ticks = np.insert(ticks, at_pause + 1, pause_tick)  # the movie stands still during the pause
    index = offset + ticks * per_tick
    index[at_pause + 1 :] += pause_samples
    n = len(ticks)
    kind = np.full(n, "trigger", dtype=object)
    kind[0], kind[-1] = "beginning", "end"
    trig = np.full(n, "sync", dtype=object)
    trig[0], trig[-1] = "movie beginning", "movie end"
    trig[at_pause], trig[at_pause + 1] = "pause", "unpause"
    wall = 1.6e9 + rng.uniform(0, 1e7) + index / sfreq
    table = pd.DataFrame(
        {
            "type": kind,
            "movie_time": ticks * grid,
            "start_time": wall,
            "end_time": wall + 0.05,
            "trig_type": trig,
            "index": index,
            "diff": np.r_[np.nan, np.diff(wall)],
        }
    )
    return table, pause_samples / sfreq


def _localization(rng, subject: int, raw: list[str], shaft_of, stems, omitted: str):
    """depth-wm.csv rows (shuffled, one omitted) and elec_coords_full.csv rows."""
    depth, coords = [], []
    default_left = bool(rng.integers(0, 2))
    for s, stem in enumerate(stems):
        left = stem.startswith("L") or (not stem.startswith("R") and default_left)
        sign = 1 if left else -1  # L axis: left is +
        entry = np.array([128 + sign * rng.uniform(55, 65), rng.uniform(70, 180), rng.uniform(80, 170)])
        direction = np.array([-sign * 1.0, rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3)])
        direction *= 3.5 / np.linalg.norm(direction)  # 3.5 mm between contacts
        region = _REGIONS[s % len(_REGIONS)]
        hemi = "lh" if left else "rh"
        labels = [lab for lab, sh in zip(raw, shaft_of) if sh == s]
        n = len(labels)
        for label in labels:
            if clean_label(label) == omitted:
                continue
            contact = shaft_and_contact(label)[1]
            lpi = np.round(entry + direction * (n - contact)).astype(int)  # contact 1 deepest
            cortical = contact > n // 2
            dk = (
                f"ctx-{hemi}-{region}"
                if cortical
                else ("Left" if left else "Right") + "-Cerebral-White-Matter"
            )
            destrieux = f"ctx_{hemi}_{_DESTRIEUX[region]}" if cortical else dk
            depth.append(
                {
                    "Electrode": label,
                    "L": lpi[0],
                    "P": lpi[1],
                    "I": lpi[2],
                    "Hemisphere": int(left),
                    "DesikanKilliany": dk,
                    "Destrieux": destrieux,
                }
            )
            coords.append(
                {
                    "ID": f"sub_{subject}-{clean_label(label)}",
                    "X": round(128.0 - lpi[0], 2),
                    "Y": round(128.0 - lpi[1], 2),
                    "Z": round(128.0 - lpi[2], 2),
                    "Hemisphere": int(left),
                    "Subject": f"sub_{subject}",
                    "Electrode": label.replace("#", ""),
                    "Region": region if cortical else "white-matter",
                }
            )
    depth = pd.DataFrame(depth)
    depth = depth.iloc[rng.permutation(len(depth))].reset_index(drop=True)
    return depth, pd.DataFrame(coords)


def _write_signals(
    path: Path,
    rng_seq: np.random.SeedSequence,
    raw,
    shaft_of,
    n_samples,
    sfreq,
    corrupted: str,
    onsets: dict,
    drives: dict,
    trigger_index,
    extra_channel: bool,
    progress: bool,
    desc: str,
):
    """Synthesise every channel and write the h5 file, one channel at a time.

    ``corrupted`` is the raw label of the broken contact; ``onsets[alignment]`` are event
    samples (int64, planted events only); ``drives[label]`` is, per alignment, the per-event
    peak response (µV, Laplacian reference) of a responsive electrode; ``trigger_index`` are
    the samples of the trigger pulses written on DC4/TRIG4.
    """
    kernel, first_lag = response_kernel(sfreq)
    # Laplacian-space response of each responsive electrode, (n_samples,) float64
    laplacian = {}
    pad = max(0, -first_lag)  # impulse k sits at onset + first_lag + pad: never negative
    for label, per_alignment in drives.items():
        impulses = np.zeros(n_samples + pad + len(kernel))
        for alignment, amplitude in per_alignment.items():
            np.add.at(impulses, onsets[alignment] + first_lag + pad, amplitude)
        # full[n] = sum_k amp_k kernel[n - p_k]: kernel[j] lands on sample onset_k + first_lag + j
        laplacian[label] = scipy.signal.oaconvolve(impulses, kernel)[pad : pad + n_samples]
    cleaned = [clean_label(lab) for lab in raw]
    shafts: dict[int, list[int]] = {}
    for i, s in enumerate(shaft_of):
        if s >= 0:
            shafts.setdefault(int(s), []).append(i)
    seeds = rng_seq.spawn(len(raw) + 1)
    t = np.arange(n_samples) / sfreq
    pulses = np.zeros(n_samples, dtype=np.float32)
    width = int(0.01 * sfreq)
    for k in trigger_index:
        pulses[k : k + width] = 5000.0
    with h5py.File(path, "w", libver="earliest") as f:
        group = f.create_group("data", track_order=True)
        n_channels = len(raw) + int(extra_channel)
        for i in tqdm(
            range(n_channels), desc=desc, unit="channel", disable=not progress or None, leave=False
        ):
            rng = np.random.default_rng(seeds[i])
            if i == len(raw):  # the trailing channel sub_1 has beyond its label list
                x = rng.standard_normal(n_samples) * 2.0
            elif shaft_of[i] < 0:  # DC/TRIG channel: trigger pulses, otherwise flat
                x = (
                    pulses + rng.standard_normal(n_samples)
                    if cleaned[i] != "DC10"
                    else rng.standard_normal(n_samples)
                )
            elif raw[i] == corrupted:  # broken contact: saturating junk
                x = np.clip(rng.standard_normal(n_samples) * 3000.0 + 1500.0, -5000.0, 5000.0)
            else:
                x = NOISE_UV * pink_noise(n_samples, sfreq, rng)
                for freq, amp in LINE_NOISE_UV.items():
                    x += amp * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
                members = shafts[int(shaft_of[i])]
                contacts = np.array([shaft_and_contact(cleaned[m])[1] for m in members])
                contact = shaft_and_contact(cleaned[i])[1]
                for label, response in laplacian.items():
                    if label in (cleaned[m] for m in members):
                        weights = tent_weights(contacts, shaft_and_contact(label)[1])
                        x += weights[contacts == contact][0] * response
            x = np.round(x / ADC_STEP_UV) * ADC_STEP_UV
            group.create_dataset(f"electrode_{i}", data=x.astype(np.float32), track_times=False)


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------
def _write_csv(table: pd.DataFrame, path: Path, index: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=index)


def _write_json(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1) + "\n")


def generate_demo(
    root,
    *,
    seed: int = 0,
    duration_s: float = 360.0,
    subjects=(1, 2),
    n_shafts: int = 6,
    contacts_per_shaft: int = 8,
    fps: float = 10,
    frame_size=(128, 96),
    progress: bool = True,
    variant: str = "planted",
) -> DemoInfo:
    """Write a synthetic Brain Treebank dataset with planted electrode kinds into ``root``.

    See the module docstring for the files and the generative model.

    Parameters
    ----------
    root : path-like
        Output folder; created if missing. Files of an earlier demo in it are overwritten;
        nothing else is removed.
    seed : int
        Seed of every random choice. The movie and transcript depend on it only; each
        subject's montage, timings and signals depend on it and on the subject's position.
    duration_s : float
        Movie length (s), at least 30.
    subjects : sequence of int
        Subject numbers (each watches the movie once, trial 0). The first runs at 2048 Hz,
        the second at 1024 Hz (like the real sub_9), then alternating.
    n_shafts : int
        Depth shafts per subject, 3 to 12.
    contacts_per_shaft : int
        Contacts per shaft, 6 to 16.
    fps : float
        Frame rate of the movie (frames/s).
    frame_size : (int, int)
        Frame (width, height) in pixels, both even.
    progress : bool
        Show progress bars (they also vanish when stderr is not a terminal).
    variant : {"planted", "no_multimodal", "linear"}
        What the would-be multimodal electrodes do (module docstring, "Variants"):
        respond to ``v * w`` (the demo), to nothing (kind ``"none"``), or to a linear mix of
        ``v`` and ``w`` (kind ``"linear"``). All else is identical for the same ``seed``.

    Returns
    -------
    DemoInfo
        Paths, rates, event counts, cut times and the planted electrode kinds.
    """
    root = Path(root)
    subjects = tuple(int(s) for s in subjects)
    if not subjects or len(set(subjects)) != len(subjects) or min(subjects) < 1:
        raise ValueError(f"subjects must be distinct positive subject numbers, got {subjects}")
    if not duration_s >= 30:
        raise ValueError(f"duration_s must be at least 30 s for a usable demo, got {duration_s}")
    if not 3 <= n_shafts <= len(_STEMS):
        raise ValueError(f"n_shafts must be between 3 and {len(_STEMS)}, got {n_shafts}")
    if not 6 <= contacts_per_shaft <= 16:
        raise ValueError(f"contacts_per_shaft must be between 6 and 16, got {contacts_per_shaft}")
    width, height = (int(x) for x in frame_size)
    if width < 32 or height < 32 or width % 2 or height % 2:
        raise ValueError(f"frame_size must be (width, height), even and >= 32, got {frame_size}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {tuple(VARIANTS)}, got {variant!r}")
    montages = [_subject_montage(pos, n_shafts, contacts_per_shaft) for pos in range(len(subjects))]
    root.mkdir(parents=True, exist_ok=True)
    seq = np.random.SeedSequence(seed)
    movie_seq, text_seq, *subject_seqs = seq.spawn(2 + len(subjects))

    # -- movie ---------------------------------------------------------------------------
    movie_rng = np.random.default_rng(movie_seq)
    n_frames, starts, latents = _plan_scenes(movie_rng, duration_s, fps)
    movie_path = root / "movies" / f"{MOVIE_ID}.mp4"
    brightness = _render_movie(movie_path, starts, latents, n_frames, fps, (width, height), progress)
    cut_times = starts[1:] / fps
    scenes_path = root / "scenes" / f"{MOVIE_ID}.csv"
    _write_csv(pd.DataFrame({"time_s": cut_times, "frame": starts[1:]}), scenes_path)
    # the movie pauses in the middle of a scene near 45 %: far from every cut
    mid = (starts[:-1] + starts[1:]) / 2 / fps
    pause_time = (
        round(float(mid[np.argmin(np.abs(mid - 0.45 * duration_s))]) / _TRIGGER_GRID_S) * _TRIGGER_GRID_S
    )

    # -- transcript and truth features ---------------------------------------------------
    text_rng = np.random.default_rng(text_seq)
    table, token_w, token_sentence = _plan_transcript(
        text_rng, duration_s, pause_time, n_frames, fps, brightness
    )
    transcript_path = root / "transcripts" / MOVIE_ID / "features.csv"
    _write_csv(table, transcript_path, index=True)  # first column: the unnamed index
    features = _truth_features(table, token_w, token_sentence, starts, latents, fps, n_frames)
    truth_dir = root / "truth_features"
    for kind in ("vision", "language", "multimodal"):
        prefixes = {"vision": ("v",), "language": ("w",), "multimodal": ("v", "w", "vw")}[kind]
        for alignment, frame in features.items():
            columns = ["movie_time"] + [f"{p}{i}" for p in prefixes for i in range(N_LATENT)]
            path = truth_dir / kind / f"{MOVIE_ID}_{alignment}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            frame[columns].to_parquet(path, index=False)
    # the recording stops during the last words: at least 3 onsets after the last trigger
    finite_starts = np.sort(table["start"].dropna().unique())
    end_time = np.floor((finite_starts[-3] - 0.05) / _TRIGGER_GRID_S) * _TRIGGER_GRID_S

    # -- subjects ------------------------------------------------------------------------
    paths = {
        "movie": movie_path,
        "scenes": scenes_path,
        "transcript": transcript_path,
        "truth_features": truth_dir,
        "corrupted": root / "corrupted_elec.json",
        "truth": root / "truth.csv",
    }
    corrupted_all, coords_all, truth_rows = {}, [], []
    sfreqs, n_samples_all, kinds_all, weights_all, pauses = {}, {}, {}, {}, {}
    for pos, (subject, sub_seq) in enumerate(zip(subjects, subject_seqs)):
        plan_seq, signal_seq = sub_seq.spawn(2)
        rng = np.random.default_rng(plan_seq)
        sfreq = 2048.0 if pos % 2 == 0 else 1024.0
        raw, shaft_of, stems, corrupted, omitted, bad, eligible = montages[pos]
        corrupted_all[f"sub_{subject}"] = bad
        planted = _assign_kinds(rng, eligible)
        kinds = {lab: VARIANTS[variant] if k == "multimodal" else k for lab, k in planted.items()}
        # the linear variant's second weight vectors: a separate stream, so rng is untouched
        linear_rng = np.random.default_rng(sub_seq.spawn(1)[0]) if variant == "linear" else None
        timings, pause_s = _timings(rng, sfreq, duration_s, pause_time, end_time)
        n_samples = int(timings["index"].iloc[-1] + _TAIL_S * sfreq)
        onsets, keep = {}, {}
        for alignment, frame in features.items():
            sample = movie_to_sample(frame["movie_time"].to_numpy(), timings, sfreq)
            keep[alignment] = np.isfinite(sample)
            onsets[alignment] = sample[keep[alignment]].astype(np.int64)
        weights, drives = {}, {}
        for label, planted_kind in planted.items():
            if planted_kind == "none":
                continue
            # drawn for every planted electrode whatever the variant: the others keep their draws
            direction = rng.standard_normal(N_LATENT)
            a = RESPONSE_UV * rng.uniform(0.8, 1.2) * direction / np.linalg.norm(direction)
            kind = kinds[label]
            if kind == "none":  # no_multimodal: drawn, not planted
                continue
            if kind == "linear":  # a1 along the drawn direction, a2 random; each of norm |a|/sqrt(2)
                other = linear_rng.standard_normal(N_LATENT)
                norm = np.linalg.norm(a)
                a = np.concatenate([a, norm * other / np.linalg.norm(other)]) / np.sqrt(2.0)
            weights[label] = a
            drives[label] = {al: kind_drive(features[al][keep[al]], kind) @ a for al in features}
        h5_path = root / "all_subject_data" / f"sub_{subject}_trial000.h5"
        h5_path.parent.mkdir(parents=True, exist_ok=True)
        _write_signals(
            h5_path,
            signal_seq,
            raw,
            shaft_of,
            n_samples,
            sfreq,
            corrupted,
            onsets,
            drives,
            timings["index"].to_numpy()[1:-1],
            pos == 0,
            progress,
            f"demo sub_{subject}",
        )
        _write_json(raw, root / "electrode_labels" / f"sub_{subject}" / "electrode_labels.json")
        _write_json(
            {"filename": MOVIE_ID, "title": MOVIE_TITLE},
            root / "subject_metadata" / f"sub_{subject}_trial000_metadata.json",
        )
        timings_path = root / "subject_timings" / f"sub_{subject}_trial000_timings.csv"
        _write_csv(timings, timings_path)
        depth, coords = _localization(rng, subject, raw, shaft_of, stems, omitted)
        _write_csv(depth, root / "localization" / f"sub_{subject}" / "depth-wm.csv")
        coords_all.append(coords)
        truth_rows += [{"subject": subject, "electrode": lab, "kind": k} for lab, k in kinds.items()]
        sfreqs[subject], n_samples_all[subject] = sfreq, n_samples
        kinds_all[subject], weights_all[subject] = kinds, weights
        pauses[subject] = (float(pause_time), float(pause_s))
        paths[f"h5_{subject}"], paths[f"timings_{subject}"] = h5_path, timings_path
        logger.info(
            "demo sub_%d: %d channels at %g Hz, %d samples, %s",
            subject,
            len(raw),
            sfreq,
            n_samples,
            {k: list(kinds.values()).count(k) for k in ELECTRODE_KINDS},
        )
    _write_json(corrupted_all, root / "corrupted_elec.json")
    coords = pd.concat(coords_all, ignore_index=True)
    _write_csv(coords, root / "localization" / "elec_coords_full.csv")
    _write_csv(pd.DataFrame(truth_rows, columns=["subject", "electrode", "kind"]), root / "truth.csv")
    n_events = {al: int(len(frame)) for al, frame in features.items()}
    logger.info(
        "demo (%s) written to %s: %d word events, %d scene cuts, %d subjects",
        variant,
        root,
        n_events["language"],
        n_events["vision"],
        len(subjects),
    )
    return DemoInfo(
        root=root,
        movie_id=MOVIE_ID,
        title=MOVIE_TITLE,
        subjects=subjects,
        sfreq=sfreqs,
        n_samples=n_samples_all,
        duration_s=float(duration_s),
        fps=float(fps),
        n_events=n_events,
        cut_times=cut_times,
        kernel_latency_s=KERNEL_LATENCY_S,
        kernel_sd_s=KERNEL_SD_S,
        kinds=kinds_all,
        weights=weights_all,
        pauses=pauses,
        paths=paths,
        variant=variant,
    )
