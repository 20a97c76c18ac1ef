"""``responses.kinds: [band_power]`` through the pipeline's own stages, demo data to encode."""

import json
import logging
import re

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from mmsites.pipeline.cli import main
from mmsites.pipeline.io import read_responses
from mmsites.pipeline.params import load_params
from mmsites.pipeline.paths import Layout
from mmsites.pipeline.stages.report import provenance

#: The demo's truth models (precomputed features: no model to load).
TRUTH = [
    {
        "id": f"truth-{kind}",
        "family": "precomputed",
        "path": f"data/demo/truth_features/{kind}",
        "input": given,
        "trained_on": kind,
    }
    for kind, given in (("vision", "image"), ("language", "text"), ("multimodal", "image+text"))
]


def _params(**responses):
    return {
        "data": {"format": "demo", "root": "data/demo", "movies": None, "subjects": [1, 2]},
        "demo": {"seed": 1, "duration_s": 120, "subjects": [1, 2], "n_shafts": 4, "contacts_per_shaft": 8},
        "events": {"alignments": ["language"]},
        "responses": {"n_jobs": 1, **responses},
        "models": TRUTH,
        "stats": {"permutations": 19, "stop_exceedances": 5, "bootstrap": 0, "min_signal_bins": 5},
        "compute": {"executor": "local", "workers": 1},
    }


def _write(root, params):
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return ["--params", str(root / "params.yaml"), "--workdir", str(root)]


@pytest.mark.slow
def test_band_power_runs_to_encode_and_says_its_kind(tmp_path):
    # about 5 s: not in the slow lane
    # subject 1 is sampled at 2048 Hz, subject 2 at 1024 Hz (its own delay in samples)
    args = _write(tmp_path, _params(kinds=["band_power"]))
    assert main(["run", *args, "--until", "encode"]) == 0
    for subject, sfreq, delay in ((1, 2048.0, 21), (2, 1024.0, 11)):
        path = tmp_path / f"work/responses/band_power/sub-{subject}_language.h5"
        resp = read_responses(path)
        assert resp["kind"] == "band_power" and resp["sfreq"] == sfreq
        assert resp["attrs"]["kind"] == "band_power"
        assert json.loads(resp["attrs"]["band_hz"]) == [70.0, 150.0]
        assert resp["attrs"]["band_delay_s"] == pytest.approx(delay / sfreq)
        assert resp["responses"].shape[1:] == (21, 161) and np.isfinite(resp["responses"]).all()
        assert resp["responses"].min() > 0  # power (µV²), never negative without a baseline
        scores = pd.read_parquet(
            tmp_path / f"work/scores/band_power/sub-{subject}_language_truth-language.parquet"
        )
        assert len(scores) == 21 * 161 and scores["test_r"].notna().any()
    params = load_params(tmp_path / "params.yaml")
    prov = provenance(params, Layout(tmp_path, params))
    assert prov["preprocessing"]["response"].startswith("band power (µV², 70–150 Hz")


@pytest.mark.slow
def test_spectrogram_targets_are_electrode_band_bin(tmp_path):
    bands = [[13, 30], [70, 150]]
    args = _write(tmp_path, _params(kinds=["spectrogram"], bands_hz=bands))
    assert main(["run", *args, "--until", "encode"]) == 0
    resp = read_responses(tmp_path / "work/responses/spectrogram/sub-2_language.h5")
    assert resp["kind"] == "spectrogram" and json.loads(resp["attrs"]["bands_hz"]) == [
        [13.0, 30.0],
        [70.0, 150.0],
    ]
    assert resp["responses"].shape[1:] == (21, 2, 161) and resp["responses"].min() > 0
    scores = pd.read_parquet(tmp_path / "work/scores/spectrogram/sub-2_language_truth-language.parquet")
    assert len(scores) == 21 * 2 * 161
    first = scores[scores["electrode"] == scores["electrode"].iloc[0]]
    assert list(first["band"]) == ["13-30 Hz"] * 161 + ["70-150 Hz"] * 161
    np.testing.assert_allclose(first["time_s"].to_numpy(), np.tile(resp["bin_times"], 2))


@pytest.mark.slow
def test_voltage_is_the_default_kind_in_the_file(tmp_path):
    # the responses stage alone, on the demo data the demo-data stage writes
    args = _write(tmp_path, _params())
    assert main(["run", *args, "--until", "responses"]) == 0
    path = tmp_path / "work/responses/voltage/sub-1_language.h5"
    with h5py.File(path, "r") as f:
        assert f.attrs["kind"] == "voltage" and f.attrs["band_hz"] == "[]" and f.attrs["band_delay_s"] == 0.0
    params = load_params(tmp_path / "params.yaml")
    prov = provenance(params, Layout(tmp_path, params))
    assert prov["preprocessing"]["response"] == "voltage (µV)"


def test_a_band_above_a_sessions_nyquist_is_refused_by_key(tmp_path, caplog):
    # sub_2 is sampled at 1024 Hz: 600 Hz is above its Nyquist frequency, not above sub_1's
    args = _write(tmp_path, _params(kinds=["band_power"], band_hz=[300, 600]))
    assert main(["run", *args, "--until", "events"]) == 0
    with caplog.at_level(logging.ERROR):
        assert main(["responses", *args]) != 0
    assert re.search(r"responses\.band_hz \[300\.0, 600\.0\].*512 Hz of sub_2 trial000", caplog.text)
    # refused before any subject was computed
    assert not list(tmp_path.glob("work/responses/**/*.h5"))


@pytest.mark.parametrize("band", [[0, 150], [150, 70], [-10, 20]])
def test_band_order_is_checked_in_the_params(tmp_path, band):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(_params(kinds=["band_power"], band_hz=band)))
    with pytest.raises(ValueError, match=r"responses\.band_hz"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(_params(bands_hz=[[4, 8], band])))
    with pytest.raises(ValueError, match=r"responses\.bands_hz"):
        load_params(tmp_path / "params.yaml")


def test_a_spectrogram_band_above_a_sessions_nyquist_is_refused_by_key(tmp_path, caplog):
    args = _write(tmp_path, _params(kinds=["voltage", "spectrogram"], bands_hz=[[4, 8], [300, 600]]))
    assert main(["run", *args, "--until", "events"]) == 0
    with caplog.at_level(logging.ERROR):
        assert main(["responses", *args]) != 0
    assert re.search(r"responses\.bands_hz \[300\.0, 600\.0\].*512 Hz of sub_2 trial000", caplog.text)
    assert not list(tmp_path.glob("work/responses/**/*.h5"))
