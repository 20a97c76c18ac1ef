"""BrainBERT (mmsites.brainmodels): the official architecture, safe checkpoints, the API.

The key names and shapes below are written by hand from the official code
(czlwang/BrainBERT@beec35d, models/masked_tf_model.py, transformer_encoder_input.py,
spec_prediction_head.py), not read from our model, so a naming drift fails. The fixture
``data/brainbert_official_tiny.npz`` holds the official code's own outputs: its model files were
run once, unmodified, outside the repository (2 layers, width 32, 4 heads, FFN 64; initialised
by its ``build_model`` under ``torch.manual_seed(1234)``, then every parameter perturbed by
``0.1 * randn`` from a generator seeded 99, and a random (2, 30, 40) input): the state dict
(without the 5000-row positional table, sampled at 69 rows instead), a fingerprint of the
official initialisation (sum, sum of |x|, first and last value per tensor), the hidden states
after the input encoding and each layer (forward hooks), ``forward(..., intermediate_rep=True)``
and the head's output, with and without a padding mask.
"""

from __future__ import annotations

import fractions
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import (
    RunsCode,
    hydra_like,
    init_fingerprint,
    load_fixture_state,
    official_encoder_keys,
    save_code_running_checkpoint,
)
from omegaconf import OmegaConf

from mmsites.brainmodels import (
    PRESETS,
    BrainBERT,
    BrainBERTConfig,
    config_from_official,
    load_checkpoint,
    official_config,
    read_checkpoint,
    save_checkpoint,
)
from mmsites.recordings.spectral import stft_spectrogram

FIXTURE = Path(__file__).parent / "data" / "brainbert_official_tiny.npz"

#: upstream conf/model/masked_tf_model_large.yaml
LARGE_YAML = {
    "name": "masked_tf_model",
    "hidden_dim": 768,
    "layer_dim_feedforward": 3072,
    "layer_activation": "gelu",
    "nhead": 12,
    "encoder_num_layers": 6,
    "input_dim": 40,
}


def official_keys(d: int = 768, layers: int = 6, ffn: int = 3072, n_in: int = 40) -> dict[str, tuple]:
    """The official state dict's names and shapes, from the official code (by hand)."""
    return official_encoder_keys("transformer.layers.", d, layers, ffn, n_in, pe=d)


def hydra_like_cfg(model: dict, preprocessor: str | None = "stft"):
    """``cfg.model`` of an upstream Hydra run (:func:`conftest.hydra_like`)."""
    root = {
        "exp": {"runner": {"lr": 1e-4, "optim": "LAMB", "total_steps": 400000}},
        "data": {"name": "masked_tf_dataset", "brain_runs": ["trial000", "trial001"]},
        "model": model,
    }
    if preprocessor is not None:
        root["preprocessor"] = {"name": preprocessor, "freq_channel_cutoff": 40, "nperseg": 400}
    return hydra_like(root, "mmsites_test_now", "2022-07-19")


def tiny_official(hidden=64, layers=2, heads=4, ffn=128) -> dict:
    return dict(
        LARGE_YAML, hidden_dim=hidden, encoder_num_layers=layers, nhead=heads, layer_dim_feedforward=ffn
    )


def fixture_model() -> tuple[BrainBERT, dict]:
    z = dict(np.load(FIXTURE))
    cfg = dict(zip(z["config_keys"].tolist(), z["config_values"].tolist()))
    config = config_from_official(dict(cfg, name="masked_tf_model", layer_activation="gelu"))
    # the official table is too large for the fixture; ours is checked against its rows below
    return load_fixture_state(BrainBERT(config, seed=0), z), z


# ---------------------------------------------------------------------------------------------
# architecture
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["large", "base"])
def test_state_dict_names_and_shapes_are_the_official_ones(preset):
    with torch.device("meta"):
        model = BrainBERT(preset)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == official_keys(layers=PRESETS[preset].num_layers)
    assert list(ours) == list(official_keys(layers=PRESETS[preset].num_layers))  # and their order
    if preset == "large":
        n_params = sum(p.numel() for p in model.parameters())
        assert 43_000_000 < n_params < 43_300_000
    layer = model.transformer.layers[0]
    assert not layer.self_attn.batch_first and not layer.norm_first  # sequence-first, post-LN


def test_official_outputs_are_reproduced():
    model, z = fixture_model()
    x = torch.from_numpy(z["input"])
    with torch.no_grad():
        states = model.hidden_states(x)
        assert len(states) == 3
        for k, h in enumerate(states):
            np.testing.assert_allclose(h.numpy(), z[f"official/hidden_{k}"], atol=1e-5, rtol=0)
        np.testing.assert_allclose(states[-1].numpy(), z["official/intermediate_rep"], atol=1e-5, rtol=0)
        np.testing.assert_allclose(model(x).numpy(), z["official/head"], atol=1e-5, rtol=0)
        mask = torch.from_numpy(z["padding_mask"])
        padded = model.hidden_states(x, mask)[-1]
        np.testing.assert_allclose(padded.numpy(), z["official/intermediate_rep_padded"], atol=1e-5, rtol=0)
        np.testing.assert_allclose(model(x, mask).numpy(), z["official/head_padded"], atol=1e-5, rtol=0)
    # the positional table: shape, sampled rows, and the slice upstream's forward returns
    pe = model.input_encoding.positional_encoding.pe
    assert tuple(pe.shape) == tuple(z["pe_shape"])
    np.testing.assert_allclose(pe[0, z["pe_rows_index"]].numpy(), z["pe_rows"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(pe[:, : x.shape[1]].numpy(), z["official/pos_enc"], atol=1e-6, rtol=0)
    # the numpy API: any layer, one spectrogram or a batch, negative indices from the end
    for layer, k in ((0, 0), (1, 1), (2, 2), (-1, 2), (-3, 0)):
        np.testing.assert_allclose(
            model.tokens(z["input"], layer=layer), z[f"official/hidden_{k}"], atol=1e-5
        )
        np.testing.assert_allclose(
            model.tokens(z["input"][1], layer=layer), z[f"official/hidden_{k}"][1], atol=1e-5
        )


def test_seeded_init_is_the_official_one():
    """Upstream's build_model under torch.manual_seed(s) and BrainBERT(config, seed=s) agree."""
    z = dict(np.load(FIXTURE))
    cfg = dict(zip(z["config_keys"].tolist(), z["config_values"].tolist()))
    config = config_from_official(dict(cfg, name="masked_tf_model", layer_activation="gelu"))
    before = torch.random.get_rng_state()
    state = BrainBERT(config, seed=int(z["init_seed"])).state_dict()
    assert torch.equal(torch.random.get_rng_state(), before)  # the global RNG is left alone
    assert list(state) == z["init_keys"].tolist()
    np.testing.assert_allclose(init_fingerprint(state), z["init_fingerprint"], atol=1e-5, rtol=1e-6)
    other = BrainBERT(config, seed=int(z["init_seed"]) + 1).state_dict()
    assert not torch.equal(other["input_encoding.in_proj.weight"], state["input_encoding.in_proj.weight"])


def test_config_presets_and_validation():
    assert PRESETS["large"] == BrainBERTConfig()
    assert (PRESETS["base"].num_layers, PRESETS["base"].hidden_dim) == (3, 768)
    assert (PRESETS["tiny"].num_layers, PRESETS["tiny"].hidden_dim, PRESETS["tiny"].num_heads) == (2, 64, 4)
    assert config_from_official(LARGE_YAML) == PRESETS["large"]
    assert official_config(PRESETS["large"]) == LARGE_YAML
    with pytest.raises(ValueError, match="divisible by num_heads"):
        BrainBERTConfig(hidden_dim=64, num_heads=5)
    with pytest.raises(ValueError, match="unknown BrainBERT preset"):
        BrainBERT("huge")
    with pytest.raises(ValueError, match="finetune_model"):
        config_from_official(dict(LARGE_YAML, name="finetune_model"))
    with pytest.raises(ValueError, match="nhead"):
        config_from_official({k: v for k, v in LARGE_YAML.items() if k != "nhead"})


# ---------------------------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------------------------


def test_a_checkpoint_of_the_published_architecture_loads_every_key(tmp_path):
    """Upstream's layout for the large model (names and shapes by hand, a Hydra-made config
    with its parent and resolver cache, an optimizer state): every key lands where it should."""
    keys = official_keys()
    state = {k: torch.full(shape, 1e-3 * i) for i, (k, shape) in enumerate(keys.items())}
    optim = {
        "state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(4)}},
        "param_groups": [{"lr": 1e-4}],
    }
    path = tmp_path / "stft_large_pretrained.pth"
    cfg = hydra_like_cfg(LARGE_YAML, preprocessor="stft")
    torch.save({"model": state, "optim": optim, "scheduler": None, "model_cfg": cfg}, path)
    model = BrainBERT.from_pretrained(path)
    assert model.config == PRESETS["large"] and model.preprocessor == "stft" and not model.training
    loaded = model.state_dict()
    assert set(loaded) == set(keys)
    for i, k in enumerate(keys):
        assert torch.all(loaded[k] == 1e-3 * i), k


def test_our_checkpoints_round_trip_in_the_official_layout(tmp_path):
    model = BrainBERT("tiny", seed=7, preprocessor="superlet")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(2, 12, 40)).square().mean().backward()
    opt.step()
    path = save_checkpoint(model, tmp_path / "ours.pth", optim_state=opt.state_dict())
    raw = read_checkpoint(path)
    assert set(raw) == {"model", "optim", "scheduler", "model_cfg"}
    assert raw["scheduler"] is None
    assert OmegaConf.to_container(raw["model_cfg"]) == official_config(model.config)
    assert list(official_config(model.config)) == list(LARGE_YAML)  # upstream's keys, in its order
    assert OmegaConf.to_container(raw["model_cfg"]._get_root())["preprocessor"] == {"name": "superlet"}
    assert torch.equal(raw["optim"]["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    again = load_checkpoint(path)
    assert again.config == model.config and again.preprocessor == "superlet"
    for (k, a), (k2, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    # a bare state dict saves with its config; a missing config or a wrong dict is refused
    save_checkpoint(model.state_dict(), tmp_path / "bare_stft.pth", config=model.config)
    assert load_checkpoint(tmp_path / "bare_stft.pth").preprocessor == "stft"  # from the file name
    with pytest.raises(ValueError, match="needs its BrainBERTConfig"):
        save_checkpoint(model.state_dict(), tmp_path / "x.pth")
    with pytest.raises(ValueError, match="disagrees with its weights"):
        save_checkpoint(model.state_dict(), tmp_path / "x.pth", config=PRESETS["base"])
    assert not (tmp_path / "x.pth").exists()


def _save_official(path, state, model_cfg=None):
    cfg = hydra_like_cfg(tiny_official(), preprocessor=None) if model_cfg is None else model_cfg
    torch.save({"model": state, "optim": None, "scheduler": None, "model_cfg": cfg}, path)
    return path


def test_extra_missing_and_misshaped_keys_are_all_listed(tmp_path):
    state = BrainBERT("tiny").state_dict()
    extra = dict(state, **{"transformer.layers.0.extra.weight": torch.zeros(3)})
    with pytest.raises(ValueError, match=r"1 unexpected: transformer\.layers\.0\.extra\.weight"):
        load_checkpoint(_save_official(tmp_path / "extra.pth", extra))
    missing = {k: v for k, v in state.items() if k != "spec_prediction_head.output.bias"}
    with pytest.raises(ValueError, match=r"1 missing: spec_prediction_head\.output\.bias"):
        load_checkpoint(_save_official(tmp_path / "missing.pth", missing))
    shaped = dict(state, **{"transformer.layers.1.norm2.weight": torch.zeros(65)})
    with pytest.raises(ValueError, match=r"norm2\.weight \(65,\) \(model \(64,\)\)"):
        load_checkpoint(_save_official(tmp_path / "shaped.pth", shaped))
    all_three = {k: v for k, v in shaped.items() if k != "spec_prediction_head.output.bias"}
    all_three["surplus"] = torch.zeros(1)
    with pytest.raises(ValueError) as info:
        load_checkpoint(_save_official(tmp_path / "all.pth", all_three))
    message = str(info.value)
    assert "1 missing" in message and "1 unexpected: surplus" in message and "1 mis-shaped" in message
    assert "all.pth" in message


def test_a_config_that_disagrees_with_the_weights_is_refused(tmp_path):
    state = BrainBERT("tiny").state_dict()
    path = _save_official(tmp_path / "c.pth", state, hydra_like_cfg(tiny_official(hidden=128), None))
    with pytest.raises(ValueError, match=r"hidden_dim = 128 but the weights have 64"):
        load_checkpoint(path)
    path = _save_official(tmp_path / "d.pth", state, hydra_like_cfg(tiny_official(layers=3), None))
    with pytest.raises(ValueError, match=r"encoder_num_layers = 3 but the weights have 2"):
        load_checkpoint(path)
    path = _save_official(
        tmp_path / "e.pth", state, OmegaConf.create(dict(tiny_official(), name="seeg_wav2vec"))
    )
    with pytest.raises(ValueError, match="seeg_wav2vec"):
        load_checkpoint(path)


def test_a_pickled_call_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "ran"
    path = save_code_running_checkpoint(tmp_path / "evil.pth", BrainBERT("tiny").state_dict(), marker)
    with pytest.raises(ValueError) as info:
        BrainBERT.from_pretrained(path)
    assert f"'{os.system.__module__}.system'" in str(info.value) and str(path) in str(info.value)
    assert "allow-list" in str(info.value)
    assert not marker.exists()
    # the legacy (pre-zip) format goes through the same unpickler
    torch.save({"model_cfg": RunsCode(marker)}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match="system"):
        read_checkpoint(path)
    assert not marker.exists()


def test_a_harmless_unlisted_class_is_refused_too(tmp_path):
    state = BrainBERT("tiny").state_dict()
    path = tmp_path / "f.pth"
    payload = {"model": state, "optim": {"note": fractions.Fraction(1, 3)}, "model_cfg": tiny_official()}
    torch.save(payload, path)
    with pytest.raises(ValueError, match=r"'fractions\.Fraction'.*not on the allow-list"):
        load_checkpoint(path)


def test_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_checkpoint(tmp_path / "absent.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="not a readable torch checkpoint"):
        read_checkpoint(junk)
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="holds a list"):
        read_checkpoint(tmp_path / "list.pth")
    torch.save({"model": {}}, tmp_path / "nocfg.pth")
    with pytest.raises(ValueError, match="lacks \\['model_cfg'\\]"):
        load_checkpoint(tmp_path / "nocfg.pth")


def test_the_recorded_preprocessor_wins_over_a_contradiction(tmp_path):
    state = BrainBERT("tiny").state_dict()
    path = _save_official(tmp_path / "m.pth", state, hydra_like_cfg(tiny_official(), "superlet"))
    assert load_checkpoint(path).preprocessor == "superlet"
    with pytest.raises(ValueError, match="trained on 'superlet' spectrograms, not 'stft'"):
        load_checkpoint(path, preprocessor="stft")
    unnamed = _save_official(tmp_path / "n.pth", state)
    assert load_checkpoint(unnamed).preprocessor is None
    assert load_checkpoint(unnamed, preprocessor="stft").preprocessor == "stft"
    with pytest.raises(ValueError, match="no spectrogram recipe"):
        load_checkpoint(unnamed).spectrogram(np.zeros(10240), 2048.0)


# ---------------------------------------------------------------------------------------------
# tokens and embeddings
# ---------------------------------------------------------------------------------------------


def _windows(n: int, n_samples: int = 10240, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / 2048.0
    return rng.standard_normal((n, n_samples)) * 20 + 50 * np.sin(2 * np.pi * 12 * t)


def test_tokens_and_embeddings_do_not_depend_on_the_batch():
    model = BrainBERT("tiny", seed=3, preprocessor="stft")
    specs = np.random.default_rng(1).standard_normal((5, 186, 40)).astype(np.float32)
    batched = model.tokens(specs, batch_size=5)
    single = np.stack([model.tokens(s, batch_size=1) for s in specs])
    assert batched.shape == (5, 186, 64) and batched.dtype == np.float32
    np.testing.assert_allclose(batched, single, atol=1e-5, rtol=0)
    np.testing.assert_allclose(model.tokens(specs, batch_size=2), batched, atol=1e-5, rtol=0)
    windows = _windows(5)
    emb = model.embed(windows, 2048.0, batch_size=5)
    assert emb.shape == (5, 64) and emb.dtype == np.float32
    one_by_one = np.stack([model.embed(w, 2048.0) for w in windows])
    np.testing.assert_allclose(emb, one_by_one, atol=1e-5, rtol=0)
    np.testing.assert_allclose(model.embed(windows, 2048.0, batch_size=2), emb, atol=1e-5, rtol=0)


def test_embed_is_the_official_recipe():
    """Spectrogram, last layer, mean of the 10 middle tokens (186 frames: 88 .. 97)."""
    model = BrainBERT("tiny", seed=4, preprocessor="stft")
    window = _windows(1, seed=2)[0]
    spec = stft_spectrogram(window, 2048.0)
    assert spec.shape == (186, 40)
    np.testing.assert_array_equal(model.spectrogram(window, 2048.0), spec)
    tokens = model.tokens(spec)
    np.testing.assert_allclose(model.embed(window, 2048.0), tokens[88:98].mean(axis=0), atol=1e-6)
    first = model.tokens(spec, layer=1)
    np.testing.assert_allclose(model.embed(window, 2048.0, layer=1), first[88:98].mean(axis=0), atol=1e-6)
    # 1024 Hz is brought to 2048 Hz by the spectral front end: same number of frames
    assert model.embed(window[::2], 1024.0).shape == (64,)
    with pytest.raises(ValueError, match="middle 10"):
        model.embed(np.zeros((1, 1000)) + np.arange(1000), 2048.0)


def test_inference_is_eval_mode_and_leaves_the_mode_alone():
    model = BrainBERT("tiny", seed=5)
    spec = np.random.default_rng(2).standard_normal((40, 40)).astype(np.float32)
    model.train()
    a, b = model.tokens(spec), model.tokens(spec)
    np.testing.assert_array_equal(a, b)  # no dropout
    assert model.training
    with torch.no_grad():
        expected = model.eval().hidden_states(torch.from_numpy(spec)[None])[-1][0].numpy()
    np.testing.assert_allclose(a, expected, atol=1e-6)


def test_bad_inputs_get_clear_errors():
    model = BrainBERT("tiny")
    with pytest.raises(ValueError, match="layer must be an integer in \\[-3, 2\\]"):
        model.tokens(np.zeros((10, 40)), layer=3)
    with pytest.raises(ValueError, match=r"\(frames, 40\)"):
        model.tokens(np.zeros((10, 39)))
    with pytest.raises(ValueError, match="NaN"):
        model.tokens(np.full((10, 40), np.nan))
    with pytest.raises(ValueError, match="between 1 and 5000 frames"):
        model.tokens(np.zeros((5001, 40)))
    with pytest.raises(ValueError, match="batch_size"):
        model.tokens(np.zeros((10, 40)), batch_size=0)
    with pytest.raises(ValueError, match="no spectrogram recipe"):
        model.embed(np.zeros(10240), 2048.0)
    with pytest.raises(ValueError, match="preprocessor must be one of"):
        BrainBERT("tiny", preprocessor="morlet")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_and_bf16_agree_with_the_cpu():
    model = BrainBERT("tiny", seed=6)
    spec = np.random.default_rng(3).standard_normal((3, 186, 40)).astype(np.float32)
    cpu = model.tokens(spec)
    model.to("cuda")
    np.testing.assert_allclose(model.tokens(spec), cpu, atol=1e-4)
    np.testing.assert_allclose(model.tokens(spec, bf16=True), cpu, atol=0.1)
