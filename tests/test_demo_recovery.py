"""The site calls recover the demo's planted multimodal electrodes (issue #4's acceptance check).

The full-size demo (the `make demo` dataset: 8 minutes, two subjects) run with its truth
models and both linear-integration baselines through the pipeline's own stages: the planted
multimodal electrodes must be found (recall >= 0.8) and the planted unimodal ones must not be
called multimodal (precision >= 0.9, no unimodal electrode called).
"""

import json

import pytest
import yaml

from mmsites.pipeline.cli import main

REPO_PARAMS = "params.yaml"


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recovery(tmp_path_factory):
    from pathlib import Path

    repo = yaml.safe_load((Path(__file__).resolve().parents[1] / REPO_PARAMS).read_text())
    root = tmp_path_factory.mktemp("recovery")
    params = {
        # no video: the truth models need no frames, and the demo's true scene cuts are what
        # the detector finds (tests/test_demo.py), so decoding the movie would only cost time
        "data": {**repo["data"], "movies": None, "scenes": "data/demo/scenes"},
        "demo": repo["demo"],
        "events": repo["events"],
        # the voltage kind (the study's); band power and BrainBERT are checked by `make demo`
        "responses": {**repo["responses"], "n_jobs": 1, "kinds": ["voltage"]},
        "models": [m for m in repo["models"] if m["family"] == "precomputed"],
        "baselines": repo["baselines"],
        # Fewer swaps than the demo's 10,000 and permutations than its 1000 keep the test short;
        # the GPD tail gives the swaps' resolution, 1/401 is far below the planted sites' p-values.
        "stats": {**repo["stats"], "bootstrap": 0, "swaps": 2999, "permutations": 400},
        "compute": {"executor": "local", "workers": 1},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    args = ["--params", str(root / "params.yaml"), "--workdir", str(root)]
    assert main(["run", *args, "--until", "encode"]) == 0
    assert main(["regions", *args]) == 0 and main(["stats", *args]) == 0
    return json.loads((root / "results" / "demo_recovery.json").read_text())["voltage"]


@pytest.mark.parametrize("column", ["multimodal_language", "multimodal_strict"])
def test_planted_multimodal_sites_are_found(recovery, column):
    rec = recovery[column]
    assert rec["n_true"] == 8
    assert rec["recall"] >= 0.8, rec
    assert rec["precision"] >= 0.9, rec


@pytest.mark.parametrize("column", ["multimodal_language", "multimodal_vision", "multimodal_strict"])
def test_unimodal_electrodes_are_not_called_multimodal(recovery, column):
    fpr = recovery[column]["false_positive_rate"]
    assert fpr["vision"] == 0 and fpr["language"] == 0, fpr
    assert fpr["none"] <= 0.05, fpr
