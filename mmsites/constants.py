"""Names shared by every package: alignments, the events table's columns, electrode kinds.

Defined once here; the params, the events stage, the extractors, the statistics and the
reports all import them. Depends on nothing.
"""

from __future__ import annotations

__all__ = ["ALIGNMENTS", "EVENT_COLUMNS", "ELECTRODE_KINDS", "PLANTED_KINDS"]

#: The two event alignments: word onsets (language) and scene cuts (vision).
ALIGNMENTS = ("language", "vision")

#: Columns of an events table (one row per event), in order; see docs/architecture.md.
EVENT_COLUMNS = ("movie", "alignment", "movie_time", "text", "word", "frame_time")

#: Ground-truth kinds of the demo's electrodes: what each one responds to.
ELECTRODE_KINDS = ("none", "vision", "language", "multimodal", "linear")

#: The kinds whose electrodes carry a planted response to the stimulus.
PLANTED_KINDS = ("vision", "language", "multimodal")
