"""The pipeline's core: params validation, atomic outputs, the responses contract, the CLI."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from mmsites.pipeline.cli import main, run_all
from mmsites.pipeline.io import atomic_path, read_responses, write_json, write_responses
from mmsites.pipeline.params import Params, load_params
from mmsites.recordings.responses import bin_times

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path, data) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "name", ["params.yaml", "params/braintreebank.yaml", "params/bids.yaml", "params/demo_bids.yaml"]
)
def test_repository_params_are_consistent(name):
    """The shipped params files load, give the study's 161 bins, and reference what exists."""
    params = load_params(REPO / name)
    rp = params.responses
    assert len(bin_times(rp.window_s, rp.step_s, rp.tmin_s, rp.tmax_s)) == 161
    ids = [m.id for m in params.models]
    assert len(ids) == len(set(ids))
    for model in params.models:  # a declared twin is the same network, randomly initialised
        if model.random_twin:
            twin = params.model(model.random_twin)
            assert twin.init == "random" and model.init == "trained"
            assert (twin.family, twin.arch, twin.name, twin.input) == (
                model.family,
                model.arch,
                model.name,
                model.input,
            )
    for baseline in ("multiconcat", "multilin"):
        for model_id in getattr(params.baselines, baseline) or []:
            params.model(model_id)  # raises for an unknown id


def test_unknown_field_is_named(tmp_path):
    path = _write(tmp_path, {"encoding": {"folds": 5, "alphass": [1]}})
    with pytest.raises(ValueError, match=r"encoding\.alphass"):
        load_params(path)


def test_wrong_type_is_named(tmp_path):
    path = _write(tmp_path, {"stats": {"permutations": "many"}})
    with pytest.raises(ValueError, match=r"stats\.permutations"):
        load_params(path)


def test_missing_params_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_params(tmp_path / "nope.yaml")


def test_random_twin_must_exist(tmp_path):
    model = {"id": "a", "family": "timm", "input": "image", "trained_on": "vision", "random_twin": "b"}
    with pytest.raises(ValueError, match="random_twin 'b'"):
        Params.model_validate({"models": [model]})


# a tiny SLIP (random init) to carry a model spec from a params file into an extractor
_TINY_SLIP = {
    "image_size": 32,
    "patch_size": 8,
    "vision_width": 32,
    "vision_layers": 1,
    "vision_heads": 2,
    "embed_dim": 16,
    "context_length": 16,
    "text_width": 24,
    "text_layers": 1,
    "text_heads": 2,
    "ssl_mlp_dim": 40,
    "ssl_emb_dim": 8,
}


def test_model_spec_reaches_the_extractor_whole(tmp_path):
    # The params' model entries are the zoo's ModelSpec: fields the zoo does not read itself
    # (slip_role, random_twin) reach the extractor, and a relative `weights` is resolved.
    import argparse

    import torch

    from mmsites.features.zoo import ModelSpec, build_extractor
    from mmsites.features.zoo.slip import SLIPModel
    from mmsites.pipeline.paths import Layout
    from mmsites.pipeline.stages.features import resolve_spec, spec_key

    (tmp_path / "ckpt").mkdir()
    state = {"module." + k: v for k, v in SLIPModel("slip", **_TINY_SLIP).state_dict().items()}
    torch.save({"state_dict": state, "args": argparse.Namespace(model="SLIP_VITB16")}, tmp_path / "ckpt/s.pt")
    common = {"family": "slip", "arch": "slip_vitb16", "input": "image", "trained_on": "multimodal"}
    trained = {"id": "combo", **common, "weights": "ckpt/s.pt", "random_twin": "combo-random"}
    models = [{**trained, "config": _TINY_SLIP, "slip_role": "combo"}, {"id": "combo-random", **common}]
    models[1].update(init="random", config=_TINY_SLIP)
    params = load_params(_write(tmp_path, {"models": models}))
    model = params.model("combo")
    assert isinstance(model, ModelSpec) and model.slip_role == "combo"
    extractor = build_extractor(resolve_spec(model, Layout(tmp_path, params)))
    spec = extractor.spec
    assert (spec.slip_role, spec.random_twin) == ("combo", "combo-random")
    assert spec.weights == str(tmp_path / "ckpt/s.pt")
    assert spec == model.replace(weights=str(tmp_path / "ckpt/s.pt"))
    # the features' cache key reads the params' spec as written, every field included
    key = spec_key(model, params, [])
    assert key != spec_key(model.replace(slip_role="simclr"), params, [])
    assert key == spec_key(ModelSpec.model_validate(models[0]), params, [])


def test_unknown_model_field_is_named(tmp_path):
    good = {"id": "a", "family": "timm", "input": "image", "trained_on": "vision"}
    typo = {"id": "b", "family": "slip", "input": "image", "trained_on": "vision", "slip_rol": "combo"}
    with pytest.raises(ValueError, match=r"models\.1\.slip_rol: Extra inputs are not permitted"):
        load_params(_write(tmp_path, {"models": [good, typo]}))
    wrong = {"id": "b", "family": "slip", "input": "image", "trained_on": "vision", "slip_role": "combi"}
    with pytest.raises(ValueError, match=r"models\.1\.slip_role: .*model 'b': field 'slip_role' is 'combi'"):
        load_params(_write(tmp_path, {"models": [good, wrong]}))


def test_baseline_must_pair_vision_and_language():
    models = [
        {"id": "v", "family": "timm", "input": "image", "trained_on": "vision"},
        {"id": "v2", "family": "timm", "input": "image", "trained_on": "vision"},
    ]
    with pytest.raises(ValueError, match="unimodal vision and a unimodal language"):
        Params.model_validate({"models": models, "baselines": {"multiconcat": ["v", "v2"]}})


def test_dask_needs_scheduler():
    with pytest.raises(ValueError, match="dask_scheduler"):
        Params.model_validate({"compute": {"executor": "dask"}})


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    write_json({"a": 1}, target)
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half written")
            raise RuntimeError("interrupted")
    assert yaml.safe_load(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_atomic_path_replaces_directories(tmp_path):
    target = tmp_path / "d"
    for value in ("one", "two"):
        with atomic_path(target) as tmp:
            tmp.mkdir()
            (tmp / "f.txt").write_text(value)
    assert (target / "f.txt").read_text() == "two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_responses_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    resp = rng.standard_normal((5, 3, 161)).astype(np.float32)
    path = tmp_path / "sub-1_language.h5"
    write_responses(
        path,
        responses=resp,
        electrodes=["T1a2", "T1a3", "F10Fa4"],
        bin_times=np.linspace(-2, 2, 161),
        event_movie_time=np.arange(5.0),
        event_sample=np.arange(5) * 2048,
        event_movie=["m"] * 5,
        sfreq=2048.0,
    )
    back = read_responses(path)
    np.testing.assert_array_equal(back["responses"], resp)
    meta = read_responses(path, data=False)
    assert (
        meta["responses"] is None and meta["shape"] == resp.shape and meta["electrodes"] == back["electrodes"]
    )
    assert back["electrodes"] == ["T1a2", "T1a3", "F10Fa4"]
    assert back["event_movie"] == ["m"] * 5 and back["sfreq"] == 2048.0
    with pytest.raises(ValueError, match="disagree"):
        write_responses(
            path,
            responses=resp,
            electrodes=["a"],
            bin_times=np.zeros(161),
            event_movie_time=np.arange(5.0),
            event_sample=np.arange(5),
            event_movie=["m"] * 5,
            sfreq=2048.0,
        )


def test_cli_reports_bad_params_without_traceback(tmp_path, caplog):
    path = _write(tmp_path, {"stats": {"fdr_q": 2}})
    assert main(["events", "--params", str(path), "--workdir", str(tmp_path)]) == 2
    assert "stats.fdr_q" in caplog.text


def test_run_all_rejects_unknown_stage(tmp_path):
    with pytest.raises(ValueError, match="not a stage"):
        run_all(REPO / "params.yaml", tmp_path, until="fit")
