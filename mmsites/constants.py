"""Names shared by every package: alignments, the events table's columns, electrode kinds.

Defined once here; the params, the events stage, the extractors, the statistics and the
reports all import them. Depends on nothing.
"""

from __future__ import annotations

__all__ = ["ALIGNMENTS", "EVENT_COLUMNS", "ELECTRODE_KINDS", "MULTIMODAL_KINDS", "PLANTED_KINDS"]

#: The two event alignments: word onsets (language) and scene cuts (vision).
ALIGNMENTS = ("language", "vision")

#: Columns of an events table (one row per event), in order; see docs/architecture.md.
EVENT_COLUMNS = ("movie", "alignment", "movie_time", "text", "word", "frame_time")

#: Ground-truth kinds of the demo's electrodes: what each one responds to. ``vision``,
#: ``language``, ``multimodal`` and ``linear`` (a null variant's) respond in their voltage;
#: ``highgamma`` electrodes carry the multimodal drive ``v * w`` in the power of a high-gamma
#: (80-140 Hz) carrier only, which the 200-ms voltage means average away: band-power responses
#: see them, voltage responses do not.
ELECTRODE_KINDS = ("none", "vision", "language", "multimodal", "linear", "highgamma")

#: The kinds whose electrodes carry a planted response to the stimulus (in the planted demo).
PLANTED_KINDS = ("vision", "language", "multimodal", "highgamma")

#: Response kind (``responses.kinds``) -> the demo kinds that count as planted multimodal for
#: it: the voltage sees ``v * w`` in the ``multimodal`` electrodes' voltage, band power in the
#: ``highgamma`` electrodes' high-gamma power. The band spectrogram and BrainBERT (whose
#: spectrogram is a magnitude) see the high-gamma power too, but not the sign of the
#: multimodal electrodes' zero-mean voltage response, which no linear model of the stimulus
#: predicts from a power.
MULTIMODAL_KINDS = {
    "voltage": ("multimodal",),
    "band_power": ("highgamma",),
    "spectrogram": ("highgamma",),
    "brainbert": ("highgamma",),
}
