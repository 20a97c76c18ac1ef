"""Stage ``demo-data``: generate the bundled demo dataset (Brain Treebank layout, movie, truth)."""

from __future__ import annotations

import logging
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
    (:func:`mmsites.recordings.demo.generate_demo`).

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
    with atomic_path(root) as tmp:
        info = generate_demo(
            tmp,
            seed=demo.seed,
            duration_s=demo.duration_s,
            subjects=tuple(demo.subjects),
            n_shafts=demo.n_shafts,
            contacts_per_shaft=demo.contacts_per_shaft,
            variant=demo.variant,
        )
    log.info("demo dataset written to %s (%s, variant %s)", root, info.movie_id, info.variant)
