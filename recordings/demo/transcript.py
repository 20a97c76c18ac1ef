"""The demo transcript: pseudo-words, sentences, each word's verbal latent, the features.csv table.

Sentences of 3-15 tokens are drawn from a vocabulary of 160 pseudo-words (Zipf-distributed)
and read out one after another, away from the movie pause. Each word type has a verbal latent
``w`` (:data:`~mmsites.recordings.demo.movie.N_LATENT` dimensions, standard normal, centred
under the token distribution); a few untimed particles (``'s``, ``n't``, ...) are split off
words as in the real transcripts. The table has every column of the Brain Treebank's
``transcripts/<movie>/features.csv`` and its quirks: untimed particles, one token sharing its
start with the previous one, one infinite surprisal, missing ``onset_diff`` values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .arguments import MIN_DURATION_S
from .movie import N_LATENT, frame_index

__all__ = ["PAUSE_CLEARANCE_S", "plan_transcript"]

#: Word onsets are kept this far (s) from the movie pause so every nearest-trigger rule agrees.
PAUSE_CLEARANCE_S = 0.8

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


def _vocabulary(rng: np.random.Generator, n_types: int = 160):
    """Word types: pseudo-words (object array), their latents (n_types, N_LATENT), their POS."""
    words, seen = [], set()
    while len(words) < n_types:
        word = "".join(rng.choice(_SYLLABLES, size=int(rng.integers(1, 4))))
        if word not in seen:
            seen.add(word)
            words.append(word)
    latents = rng.standard_normal((n_types, N_LATENT))
    pos = rng.choice(np.array(_POS[:7]), size=n_types)  # PUNCT etc. are for particles
    return np.array(words, dtype=object), latents, pos


def plan_transcript(
    rng: np.random.Generator,
    duration_s: float,
    quiet_s: float,
    n_frames: int,
    fps: float,
    brightness: np.ndarray,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Draw the transcript: the word table of features.csv and each token's verbal latent.

    Parameters
    ----------
    rng : numpy.random.Generator
        The transcript's random stream (vocabulary, sentences, then the feature columns).
    duration_s : float
        Movie length (s); every word starts before ``duration_s - 0.3``.
    quiet_s : float
        Movie time of the pause (s): no word starts within :data:`PAUSE_CLEARANCE_S` of it.
    n_frames : int
        Number of frames of the movie.
    fps : float
        Frame rate of the movie (frames/s).
    brightness : ndarray of float64, shape (n_frames,)
        Mean grey level (0-255) of every frame, for the ``mean_pixel_brightness`` column.

    Returns
    -------
    table : pandas.DataFrame
        One row per token, the columns of the real ``features.csv`` in their order (``text``,
        ``start`` and ``end`` in s of movie time, NaN for untimed particles, ``sentence``,
        ``is_onset``, ..., ``deprel``), index 0..n_tokens-1.
    token_w : ndarray of float64, shape (n_tokens, N_LATENT)
        Verbal latent ``w`` of each token (row order of ``table``).
    token_sentence : ndarray of int64, shape (n_tokens,)
        Sentence number of each token (0, 1, ...), the ``sentence_idx`` column.

    Raises
    ------
    ValueError
        If the movie is too short for two sentences (never from
        :data:`~mmsites.recordings.demo.arguments.MIN_DURATION_S` on).
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
        if np.any(np.abs(onsets - quiet_s) < PAUSE_CLEARANCE_S):
            t = max(t, quiet_s + PAUSE_CLEARANCE_S + 0.05)
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
        raise ValueError(
            f"duration_s={duration_s} is too short for a transcript; use at least {MIN_DURATION_S:g} s"
        )
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
    brightness_at[timed] = brightness[frame_index(start[timed], fps, n_frames)] / 255.0
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
