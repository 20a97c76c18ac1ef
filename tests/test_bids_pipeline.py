"""The pipeline on a BIDS-iEEG dataset: the demo written as BIDS finds the planted sites.

The demo-data stage writes the demo in the BIDS layout (``demo.layout: bids``: BrainVision
recordings, ``channels.tsv`` with the bad channels, ``electrodes.tsv`` in MNI space,
``events.tsv`` carrying the triggers' movie times, the words in ``stimuli/``); the rest of the
pipeline then reads it as any BIDS dataset (``data.format: bids``) and the word table through
``data.stimuli.words``.
"""

import numpy as np
import pandas as pd
import pytest
from conftest import truth_models, write_params

from mmsites.pipeline.cli import main

pytestmark = pytest.mark.slow

ROOT = "data/demo"


def _params(fmt: str) -> dict:
    return {
        "data": {
            "format": fmt,
            "root": ROOT,
            "movies": f"{ROOT}/stimuli",
            "scenes": f"{ROOT}/scenes",
            "subjects": [1, 2],
            "bids": {"task": "movie"},
            "stimuli": {"words": {"path": "stimuli/{movie}_words.tsv"}},
        },
        "demo": {
            "seed": 0,
            "duration_s": 300,
            "subjects": [1, 2],
            "n_shafts": 4,
            "contacts_per_shaft": 8,
            "layout": "bids",
        },
        "events": {"frame_size": 32},
        "responses": {"n_jobs": 1},
        "models": truth_models(),
        "baselines": {"multiconcat": None, "multilin": None},
        # 5 s blocks (60 in the 300 s demo): p-values fine enough for FDR, as in test_stats_pipeline
        "stats": {
            "permutations": 199,
            "swaps": 1999,
            "bootstrap": 0,
            "mode": "fast",
            "block_s": 5.0,
            "min_signal_bins": 5,
        },
        "compute": {"executor": "local", "workers": 1},
    }


@pytest.fixture(scope="module")
def bids_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bids")
    assert main(write_params(root, _params("demo"), "demo-data")) == 0
    # from here on the tree is read as any BIDS dataset
    argv = write_params(root, _params("bids"), "run", "--from", "events", "--until", "stats")
    assert main(argv) == 0
    return root


def test_bids_tree_is_what_mne_bids_reads(bids_run):
    mne_bids = pytest.importorskip("mne_bids")
    root = bids_run / ROOT
    paths = mne_bids.find_matching_paths(root, datatypes="ieeg", suffixes="ieeg", extensions=".vhdr")
    assert len(paths) == 2
    raw = mne_bids.read_raw_bids(paths[0], verbose="error")
    assert "seeg" in raw.get_channel_types()
    assert (root / "stimuli" / "mmsites-demo_words.tsv").is_file()


def test_bids_demo_finds_the_planted_sites(bids_run):
    sites = pd.read_csv(bids_run / "results/sites.csv")
    truth = pd.read_csv(bids_run / ROOT / "truth.csv")
    merged = sites.merge(truth, on=["subject", "electrode"], how="left")
    assert merged["kind"].notna().all()  # every analysed electrode is a planted one
    for alignment in ("language", "vision"):
        called = merged[f"multimodal_{alignment}"].astype(bool)
        planted = merged["kind"] == "multimodal"
        assert planted.sum() > 0
        recall = (called & planted).sum() / planted.sum()
        precision = (called & planted).sum() / max(called.sum(), 1)
        assert recall >= 0.8 and precision >= 0.8, (alignment, recall, precision)


def test_bids_regions_come_from_mni_electrodes(bids_run):
    electrodes = pd.read_csv(bids_run / "results/electrodes.csv")
    assert set(electrodes["space"]) == {"MNI152NLin2009cAsym"}
    analysed = electrodes[electrodes["analysed"]]
    assert np.isfinite(analysed[["x", "y", "z"]].to_numpy()).all()
    assert (analysed["region"] != "unlocalised").mean() > 0.5
