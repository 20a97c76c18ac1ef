"""The demo generator's arguments: their bounds, the variants, and the one check of them all.

This module imports nothing heavy, so the params schema (:class:`mmsites.pipeline.params.DemoParams`)
takes its bounds from here and checks a ``demo:`` block with :func:`check_arguments`, the same
function :func:`~mmsites.recordings.demo.generate_demo` calls before it writes anything.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "MAX_CONTACTS",
    "MAX_SHAFTS",
    "MIN_CONTACTS",
    "MIN_DURATION_S",
    "MIN_FRAME_PX",
    "MIN_SHAFTS",
    "VARIANTS",
    "check_arguments",
]

#: Shortest movie (s): a transcript of several sentences with words on both sides of the movie
#: pause, and at least 3 word onsets after the recordings stop.
MIN_DURATION_S = 30.0
#: Depth shafts per subject: at most one per shaft name of the montage
#: (:mod:`~mmsites.recordings.demo.montage`).
MIN_SHAFTS, MAX_SHAFTS = 3, 12
#: Contacts per shaft. 3 shafts of 8 contacts is the smallest montage whose Laplacian
#: electrodes hold 2 non-adjacent electrodes of each planted kind, highgamma included (3
#: shafts of 7 hold 7, one short of 8); every montage within these bounds does.
MIN_CONTACTS, MAX_CONTACTS = 8, 16
#: Smallest frame width and height (pixels); both must also be even (H.264 4:2:0).
MIN_FRAME_PX = 32
#: What a variant makes of the electrodes planted as multimodal: ``variant -> kind`` (see
#: "Variants" in :mod:`mmsites.recordings.demo`).
VARIANTS = {"planted": "multimodal", "no_multimodal": "none", "linear": "linear"}


def check_arguments(
    *,
    duration_s: float,
    subjects: Sequence[int],
    n_shafts: int,
    contacts_per_shaft: int,
    fps: float = 10,
    frame_size: Sequence[int] = (128, 96),
    variant: str = "planted",
) -> tuple[tuple[int, ...], tuple[int, int]]:
    """Check the arguments of :func:`~mmsites.recordings.demo.generate_demo` against their bounds.

    Parameters
    ----------
    duration_s : float
        Movie length (s), at least :data:`MIN_DURATION_S`.
    subjects : sequence of int
        Subject numbers: at least one, distinct, each at least 1.
    n_shafts : int
        Depth shafts per subject, :data:`MIN_SHAFTS` to :data:`MAX_SHAFTS`.
    contacts_per_shaft : int
        Contacts per shaft, :data:`MIN_CONTACTS` to :data:`MAX_CONTACTS`.
    fps : float
        Frame rate of the movie (frames/s), positive.
    frame_size : sequence of int
        Frame (width, height) in pixels, both even and at least :data:`MIN_FRAME_PX`.
    variant : str
        A key of :data:`VARIANTS`.

    Returns
    -------
    subjects : tuple of int
        The subject numbers, as ints, in order.
    frame_size : tuple of (int, int)
        Frame width and height (pixels).

    Raises
    ------
    ValueError
        If an argument is out of its bounds; the message names the argument.
    """
    subjects = tuple(int(s) for s in subjects)
    if not subjects or len(set(subjects)) != len(subjects) or min(subjects) < 1:
        raise ValueError(f"subjects must be distinct positive subject numbers, got {subjects}")
    if not duration_s >= MIN_DURATION_S:
        raise ValueError(
            f"duration_s must be at least {MIN_DURATION_S:g} s for a usable demo, got {duration_s}"
        )
    if not MIN_SHAFTS <= n_shafts <= MAX_SHAFTS:
        raise ValueError(f"n_shafts must be between {MIN_SHAFTS} and {MAX_SHAFTS}, got {n_shafts}")
    if not MIN_CONTACTS <= contacts_per_shaft <= MAX_CONTACTS:
        raise ValueError(
            f"contacts_per_shaft must be between {MIN_CONTACTS} and {MAX_CONTACTS}, got {contacts_per_shaft}"
        )
    width, height = (int(x) for x in frame_size)
    if width < MIN_FRAME_PX or height < MIN_FRAME_PX or width % 2 or height % 2:
        raise ValueError(f"frame_size must be (width, height), even and >= {MIN_FRAME_PX}, got {frame_size}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {tuple(VARIANTS)}, got {variant!r}")
    return subjects, (width, height)
