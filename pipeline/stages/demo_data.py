"""Stage ``demo-data``: generate the bundled demo dataset (Brain Treebank layout, movie, truth)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from mmsites.recordings.demo import generate_demo

from ..io import atomic_path
from ..params import Params
from ..paths import Layout

log = logging.getLogger(__name__)


def run(params: Params, workdir: Path) -> None:
    """Run the demo-data stage: write the synthetic Brain Treebank dataset of the ``demo:`` params.

    Writes ``data.root`` (``data/demo/`` by default): the recordings, labels, localization,
    timings, transcript, movie, scene cuts, ``truth.csv`` and the truth features
    (:func:`mmsites.recordings.demo.generate_demo`); with ``demo.layout: bids`` the same
    dataset as a BIDS-iEEG tree (:func:`mmsites.recordings.demo.bids.write_bids`: BrainVision
    recordings, ``channels.tsv``, ``electrodes.tsv``, ``events.tsv``, the words in
    ``stimuli/<movie>_words.tsv`` and the movie in ``stimuli/``) with the scene cuts
    (``scenes/``) and the truth beside it.

    Parameters
    ----------
    params : Params
        The run's params (``demo``, ``data.root``).
    workdir : Path
        The work directory.
    """
    layout = Layout(workdir, params)
    root = layout.data_root
    demo = params.demo
    arguments = dict(
        seed=demo.seed,
        duration_s=demo.duration_s,
        subjects=tuple(demo.subjects),
        n_shafts=demo.n_shafts,
        contacts_per_shaft=demo.contacts_per_shaft,
        variant=demo.variant,
    )
    with atomic_path(root) as tmp:
        if demo.layout == "bids":
            from mmsites.recordings.demo.bids import write_bids  # mne and mne-bids only when needed

            # the same dataset, generated in the Brain Treebank layout beside the target and
            # rewritten as BIDS-iEEG (the movie goes to stimuli/, the truth to the root); the
            # true scene cuts travel too
            with tempfile.TemporaryDirectory(dir=tmp.parent, prefix=".demo-source-") as source:
                info = generate_demo(Path(source) / "bt", **arguments)
                write_bids(Path(source) / "bt", tmp, task=params.data.bids.task or "movie")
                if (Path(source) / "bt" / "scenes").is_dir():
                    shutil.copytree(Path(source) / "bt" / "scenes", tmp / "scenes")
        else:
            info = generate_demo(tmp, **arguments)
    log.info("demo dataset written to %s (%s, variant %s)", root, info.movie_id, info.variant)
