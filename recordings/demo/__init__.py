"""A deterministic synthetic Brain Treebank dataset with planted vision, language and
multimodal electrodes, and electrodes whose high-gamma power (not their voltage) is
multimodal: the demo data of mmsites (and null variants of it without voltage multimodal ones).

:func:`generate_demo` writes, into a folder, exactly the layout of the real release (the one
:mod:`mmsites.recordings.braintreebank` reads) for a few subjects who watch one synthetic
movie, ``mmsites-demo``::

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

The package, one module per part of the model:

* :mod:`~mmsites.recordings.demo.generator`: :func:`generate_demo` (the seed tree, the order of
  the draws) and :class:`DemoInfo`.
* :mod:`~mmsites.recordings.demo.arguments`: the bounds of its arguments (``MIN_DURATION_S``,
  ``MIN_SHAFTS``, ...), the variants and their check; light, for the params schema.
* :mod:`~mmsites.recordings.demo.movie`: scenes, their visual latent, frames, the mp4.
* :mod:`~mmsites.recordings.demo.transcript`: words, sentences, their verbal latent, the
  ``features.csv`` table.
* :mod:`~mmsites.recordings.demo.montage`: shafts, contacts, labels, coordinates, and which
  electrodes respond to what.
* :mod:`~mmsites.recordings.demo.clock`: sampling rates and the trigger table (where the movie
  starts, pauses and ends in each recording).
* :mod:`~mmsites.recordings.demo.signals`: the events' drives (truth features), the planted
  responses, the noise, every channel.
* :mod:`~mmsites.recordings.demo.writer`: the files of the release layout.

Importing the package imports only :mod:`~mmsites.recordings.demo.arguments`; the other names
below are imported from their modules on first use.

Everything is drawn from ``numpy.random.default_rng`` streams derived from ``seed``: the same
arguments give byte-identical files (the mp4 included on one machine).

Notes
-----
**The model of the data.**

* **Movie.** Scenes of 0.8–1.6 s (``SCENE_S``; a modern film's shots average 2–3 s, shorter
  scenes give the vision-aligned analysis more events); scene j has a visual latent ``v_j``
  (5 dims, uniform with zero mean and unit variance) drawn as background hue, background
  brightness, disc size, disc position and stripe frequency. Saturation alternates between
  scenes and hue jumps by a large amount at every cut, so a content detector finds every cut at
  its exact first frame.
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
* **High gamma (kind ``"highgamma"``).** These electrodes respond in power, not voltage: on
  top of the same noise they carry a carrier, Gaussian noise band-limited to 80-140 Hz
  (:data:`HIGHGAMMA_BAND_HZ`), whose power is ``HIGHGAMMA_UV**2 * max(0.05, 1 + s(t))``
  smoothed over 50 ms, where ``s(t) = sum over events of (a_e · v*w) * kernel(t - onset)`` is
  the time course a multimodal electrode has in voltage (``a_e``: relative power per unit of
  drive, norm :data:`HIGHGAMMA_GAIN` times 0.8-1.2). A 200-ms mean of the voltage averages
  the carrier away (nothing of it below 80 Hz, its sign random): voltage responses find
  nothing there, while the band power (70-150 Hz, :func:`mmsites.recordings.spectral.band_power`)
  follows ``1 + s(t)``: multimodal sites that only band-power responses can find. Planted in
  the Laplacian reference like the others (the tent). They are ``n`` more of the non-adjacent
  candidates in the same random order that picks the voltage kinds, electrodes that were
  ``"none"`` before this kind existed; their weights and carriers come from a stream of their
  own, so every other electrode, weight and file is as it was (only the raw-reference signals of
  the other contacts on their shafts change, by the tent, never their Laplacian beyond ADC
  rounding).
* **Shared slow state.** Every neural channel also carries its own Gaussian noise band-limited
  to 8-55 Hz (:data:`STATE_BAND_HZ`) whose power, one envelope for all channels of a subject,
  follows a slow state: ``STATE_UV**2 * exp(1.5 z(t) - 1.125)`` with ``z`` an Ornstein-Uhlenbeck
  process of unit variance and 1.5 s time constant (:func:`shared_state_amplitude`), as slow
  fluctuations of arousal modulate background rhythms across a real brain. It is unrelated to
  the stimulus (not event-locked, zero mean in voltage), so it is noise to the encoding models;
  it is what a population model can learn from (PopT pretraining tells consecutive windows
  from random ones by it). It comes from a stream of its own: no other draw changes.
* **Time.** Events are placed at the sample that :func:`recordings.braintreebank.movie_to_sample`
  gives from the written trigger table (nearest trigger), so a reader recovers them exactly.
  Trigger movie times lie on a 1/64 s grid so every number in the table is exact in binary.

**Variants (null data for false-positive rates).** ``generate_demo(variant=...)`` chooses what
the electrodes that ``"planted"`` (the default) makes multimodal do; every other file and
electrode is the same for the same ``seed`` (same movie, transcript, truth features, timings,
localization, noise, and the same vision, language, highgamma and none electrodes with the
same weights). The highgamma electrodes keep their band-power effect in every variant: the
variants are nulls for voltage responses.
Only the raw-reference signals of the other contacts on those electrodes' shafts change (the
tent), never their Laplacian beyond ADC rounding.

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
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .arguments import (
    MAX_CONTACTS,
    MAX_SHAFTS,
    MIN_CONTACTS,
    MIN_DURATION_S,
    MIN_FRAME_PX,
    MIN_SHAFTS,
    VARIANTS,
    check_arguments,
)

if TYPE_CHECKING:
    from .generator import DemoInfo, generate_demo
    from .movie import MOVIE_ID, MOVIE_TITLE, N_LATENT, SCENE_S
    from .signals import (
        HIGHGAMMA_BAND_HZ,
        HIGHGAMMA_GAIN,
        HIGHGAMMA_UV,
        KERNEL_LATENCY_S,
        KERNEL_SD_S,
        RESPONSE_UV,
        band_noise,
        highgamma_envelope,
        kind_drive,
        pink_noise,
        response_kernel,
        shared_state_amplitude,
        tent_weights,
    )

#: The public names imported on first use: name -> its module in this package.
_LAZY = {
    "DemoInfo": "generator",
    "generate_demo": "generator",
    "MOVIE_ID": "movie",
    "MOVIE_TITLE": "movie",
    "N_LATENT": "movie",
    "SCENE_S": "movie",
    "HIGHGAMMA_BAND_HZ": "signals",
    "HIGHGAMMA_GAIN": "signals",
    "HIGHGAMMA_UV": "signals",
    "KERNEL_LATENCY_S": "signals",
    "KERNEL_SD_S": "signals",
    "RESPONSE_UV": "signals",
    "band_noise": "signals",
    "highgamma_envelope": "signals",
    "shared_state_amplitude": "signals",
    "kind_drive": "signals",
    "pink_noise": "signals",
    "response_kernel": "signals",
    "tent_weights": "signals",
}

__all__ = [
    "DemoInfo",
    "generate_demo",
    "check_arguments",
    "VARIANTS",
    "MIN_DURATION_S",
    "MIN_SHAFTS",
    "MAX_SHAFTS",
    "MIN_CONTACTS",
    "MAX_CONTACTS",
    "MIN_FRAME_PX",
    "MOVIE_ID",
    "MOVIE_TITLE",
    "N_LATENT",
    "SCENE_S",
    "KERNEL_LATENCY_S",
    "KERNEL_SD_S",
    "RESPONSE_UV",
    "HIGHGAMMA_BAND_HZ",
    "HIGHGAMMA_GAIN",
    "HIGHGAMMA_UV",
    "kind_drive",
    "response_kernel",
    "tent_weights",
    "pink_noise",
    "band_noise",
    "highgamma_envelope",
    "shared_state_amplitude",
]


def __getattr__(name: str):
    """Import a public name of the package from its module on first use."""
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """Names of the package, the lazily imported ones included."""
    return sorted(set(globals()) | set(_LAZY))
