"""The demo generator: checks the arguments, draws every random stream in a fixed order, and
has each module draw and write its part (see :mod:`mmsites.recordings.demo` for the model).

The seed tree, whose order fixes every file: ``SeedSequence(seed)`` spawns the movie's stream,
the transcript's stream and one stream per subject; each subject's spawns four children: its
planning stream (kinds, trigger table, response weights of the voltage kinds, localization, in
that order), its signal seed (one child per channel), the stream of the second weights of the
``"linear"`` variant (used in that variant only), and the highgamma stream (the highgamma
electrodes' weights, then their carriers, in channel order), which no other draw uses: the
highgamma electrodes change no other electrode's draws.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmsites.constants import ELECTRODE_KINDS

from . import clock, writer
from .arguments import VARIANTS, check_arguments
from .montage import assign_kinds, localization, subject_montage
from .movie import MOVIE_ID, MOVIE_TITLE, plan_scenes, render_movie
from .signals import (
    KERNEL_LATENCY_S,
    KERNEL_SD_S,
    electrode_drives,
    highgamma_carriers,
    laplacian_responses,
    response_weights,
    shared_state_amplitude,
    synthesize_channels,
    truth_features,
)
from .transcript import plan_transcript

logger = logging.getLogger(__name__)

__all__ = ["DemoInfo", "generate_demo"]


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
        (``kind_drive``); ``(a1, a2)``, of length ``2 * N_LATENT``, for a ``"linear"`` one;
        for a ``"highgamma"`` one the peak relative change of its carrier's power per unit of
        ``v * w`` (dimensionless; see :mod:`~mmsites.recordings.demo.signals`).
    pauses : dict of int to tuple of (float, float)
        Per subject, (movie time of the pause (s), its length (s of recording)).
    paths : dict of str to Path
        ``"movie"``, ``"scenes"``, ``"transcript"``, ``"truth"``, ``"truth_features"``,
        ``"corrupted"``, and ``"h5_<s>"``, ``"timings_<s>"`` per subject.
    variant : str
        The variant written, a key of :data:`VARIANTS`.
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
        """List one subject's electrodes of one kind.

        Parameters
        ----------
        subject : int
            Subject number, one of :attr:`subjects`.
        kind : str
            One of :data:`mmsites.constants.ELECTRODE_KINDS`.

        Returns
        -------
        list of str
            Cleaned labels of the subject's Laplacian electrodes of that kind, in channel order
            (empty when there are none).

        Raises
        ------
        ValueError
            If ``kind`` is not an electrode kind.
        """
        if kind not in ELECTRODE_KINDS:
            raise ValueError(f"kind must be one of {ELECTRODE_KINDS}, got {kind!r}")
        return [label for label, k in self.kinds[subject].items() if k == kind]


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

    See the module docstring for the files and the generative model. Every argument is
    checked before anything is written.

    Parameters
    ----------
    root : path-like
        Output folder; created if missing. Files of an earlier demo in it are overwritten;
        nothing else is removed.
    seed : int
        Seed of every random choice. The movie and transcript depend on it only; each
        subject's montage, timings and signals depend on it and on the subject's position.
    duration_s : float
        Movie length (s), at least :data:`MIN_DURATION_S` (30).
    subjects : sequence of int
        Distinct subject numbers, at least 1 (each watches the movie once, trial 0). The first
        runs at 2048 Hz, the second at 1024 Hz (like the real sub_9), then alternating.
    n_shafts : int
        Depth shafts per subject, :data:`MIN_SHAFTS` (3) to :data:`MAX_SHAFTS` (12).
    contacts_per_shaft : int
        Contacts per shaft, :data:`MIN_CONTACTS` (8) to :data:`MAX_CONTACTS` (16).
    fps : float
        Frame rate of the movie (frames/s), positive.
    frame_size : tuple of (int, int)
        Frame (width, height) in pixels, both even and at least 32.
    progress : bool
        Show progress bars (they also vanish when stderr is not a terminal).
    variant : {"planted", "no_multimodal", "linear"}
        What the would-be multimodal electrodes do (module docstring, "Variants"):
        respond to ``v * w`` (the demo), to nothing (kind ``"none"``), or to a linear mix of
        ``v`` and ``w`` (kind ``"linear"``). All else is identical for the same ``seed``, the
        highgamma electrodes included.

    Returns
    -------
    DemoInfo
        Paths, rates, event counts, cut times and the planted electrode kinds.

    Raises
    ------
    ValueError
        If an argument is out of its bounds; the message names the argument.
    """
    root = Path(root)
    subjects, (width, height) = check_arguments(
        duration_s=duration_s,
        subjects=subjects,
        n_shafts=n_shafts,
        contacts_per_shaft=contacts_per_shaft,
        fps=fps,
        frame_size=frame_size,
        variant=variant,
    )
    montages = [subject_montage(pos, n_shafts, contacts_per_shaft) for pos in range(len(subjects))]
    root.mkdir(parents=True, exist_ok=True)
    seq = np.random.SeedSequence(seed)
    movie_seq, text_seq, *subject_seqs = seq.spawn(2 + len(subjects))

    # -- movie ---------------------------------------------------------------------------
    movie_rng = np.random.default_rng(movie_seq)
    n_frames, starts, latents = plan_scenes(movie_rng, duration_s, fps)
    movie_path = root / "movies" / f"{MOVIE_ID}.mp4"
    brightness = render_movie(movie_path, starts, latents, n_frames, fps, (width, height), progress)
    cut_times = starts[1:] / fps
    scenes_path = writer.write_scenes(root, starts, fps)
    pause_time = clock.pause_time(starts, fps, duration_s)

    # -- transcript and truth features ---------------------------------------------------
    text_rng = np.random.default_rng(text_seq)
    table, token_w, token_sentence = plan_transcript(
        text_rng, duration_s, pause_time, n_frames, fps, brightness
    )
    transcript_path = writer.write_transcript(root, table)
    features = truth_features(table, token_w, token_sentence, starts, latents, fps, n_frames)
    truth_dir = writer.write_truth_features(root, features)
    end_time = clock.end_time(table)

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
        plan_seq, signal_seq, linear_seq, highgamma_seq, state_seq = sub_seq.spawn(5)
        rng = np.random.default_rng(plan_seq)
        sfreq = clock.sampling_rate(pos)
        montage = montages[pos]
        corrupted_all[f"sub_{subject}"] = montage.bad
        planted = assign_kinds(rng, montage.eligible)
        kinds = {lab: VARIANTS[variant] if k == "multimodal" else k for lab, k in planted.items()}
        # the linear variant's second weight vectors: a separate stream, so rng is untouched
        linear_rng = np.random.default_rng(linear_seq) if variant == "linear" else None
        highgamma_rng = np.random.default_rng(highgamma_seq)  # highgamma weights, then carriers
        timings, pause_s = clock.trigger_table(rng, sfreq, pause_time, end_time)
        n_samples = clock.n_samples(timings, sfreq)
        onsets, keep = clock.event_samples(features, timings, sfreq)
        weights = response_weights(rng, linear_rng, planted, kinds, highgamma_rng)
        drives = electrode_drives(weights, kinds, features, keep)
        # voltage responses; a highgamma electrode's time course drives its carrier's power
        voltage = {lab: d for lab, d in drives.items() if kinds[lab] != "highgamma"}
        courses = {lab: d for lab, d in drives.items() if kinds[lab] == "highgamma"}
        laplacian = laplacian_responses(onsets, voltage, n_samples, sfreq)
        laplacian.update(
            highgamma_carriers(highgamma_rng, laplacian_responses(onsets, courses, n_samples, sfreq), sfreq)
        )
        channels = synthesize_channels(
            signal_seq,
            montage.raw,
            montage.shaft_of,
            n_samples,
            sfreq,
            montage.corrupted,
            laplacian,
            timings["index"].to_numpy()[1:-1],
            extra_channel=pos == 0,
            state=(state_seq, shared_state_amplitude(np.random.default_rng(state_seq), n_samples, sfreq)),
        )
        h5_path = writer.h5_path(root, subject)
        writer.write_recording(
            h5_path, channels, len(montage.raw) + int(pos == 0), progress, f"demo sub_{subject}"
        )
        depth, coords = localization(
            rng, subject, montage.raw, montage.shaft_of, montage.stems, montage.omitted
        )
        timings_path = writer.write_subject_files(root, subject, montage.raw, timings, depth)
        coords_all.append(coords)
        truth_rows += [{"subject": subject, "electrode": lab, "kind": k} for lab, k in kinds.items()]
        sfreqs[subject], n_samples_all[subject] = sfreq, n_samples
        kinds_all[subject], weights_all[subject] = kinds, weights
        pauses[subject] = (float(pause_time), float(pause_s))
        paths[f"h5_{subject}"], paths[f"timings_{subject}"] = h5_path, timings_path
        logger.info(
            "demo sub_%d: %d channels at %g Hz, %d samples, %s",
            subject,
            len(montage.raw),
            sfreq,
            n_samples,
            {k: list(kinds.values()).count(k) for k in ELECTRODE_KINDS},
        )
    writer.write_dataset_tables(root, corrupted_all, coords_all, truth_rows)
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
