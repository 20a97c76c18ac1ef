"""PopT (mmsites.brainmodels.popt): the official architecture, safe checkpoints, coordinates.

The key names and shapes below are written by hand from the official code
(czlwang/PopulationTransformer@dadb55b: models/pt_model_custom.py, transformer_encoder_input.py,
spec_prediction_head.py, conf/model/pt_custom_model.yaml), not read from our model, so a naming
drift fails. The fixture ``data/popt_official_tiny.npz`` holds the official code's own outputs:
its ``models/`` package was run once, outside the repository, with this repository's torch
(config: ``pt_model_custom``, ``multi_subj_position_encoding``, 2 layers, 2 heads, width 32,
input 64, GELU, ``use_token_cls_head``; one shim: the default ``dim_feedforward=2048`` of its
``TransformerEncoderLayer``, which its ``build_model`` never overrides, set to 64 to keep the
file small). The model was built by its ``build_model`` under ``torch.manual_seed(1234)`` (a
fingerprint of that init is stored: sum, sum of |x|, first and last value per tensor), then
every parameter was perturbed by ``0.1 * randn`` from a generator seeded 99 and the model put in
eval mode. Input: a padded batch of 3 electrode sets (7, 4, 5 electrodes; the dataset's all-ones
CLS row first; coordinates random in [0, 256) plus (4999, 0, 1234) and (255, 3000, 17) to reach
the table's range; segment ids 0/1; ``make_pad_mask``'s padding mask). Stored: the state dict
(without the 5000-row sinusoid table, sampled at 13 rows), the input encoding's output and
position embeddings (forward hook), each layer's tokens and per-head attention weights (hooks),
``forward(..., intermediate_rep=True)``, ``forward(...)``'s spec output, CLS logit and token
logits, and the second set alone without a mask.
"""

from __future__ import annotations

import fractions
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import (
    hydra_like,
    init_fingerprint,
    load_fixture_state,
    official_encoder_keys,
    save_code_running_checkpoint,
)
from omegaconf import OmegaConf

from mmsites.brainmodels import (
    POPT_PRESETS,
    PopT,
    PopTConfig,
    lip_coordinates,
    lip_from_mni,
    load_popt_checkpoint,
    popt_config_from_official,
    popt_official_config,
    read_checkpoint,
    save_popt_checkpoint,
)

FIXTURE = Path(__file__).parent / "data" / "popt_official_tiny.npz"

#: upstream conf/model/pt_custom_model.yaml
PUBLISHED_YAML = {
    "name": "pt_model_custom",
    "position_encoding": "multi_subj_position_encoding",
    "n_head": 8,
    "n_layers": 6,
    "hidden_dim": 512,
    "input_dim": 768,
    "layer_activation": "gelu",
    "attention_weights": False,
    "use_token_cls_head": True,
}
TINY_YAML = dict(PUBLISHED_YAML, n_head=2, n_layers=2, hidden_dim=32, input_dim=64, ffn_dim=64)


def official_keys(d=512, layers=6, ffn=2048, n_in=768, token_head=True) -> dict[str, tuple]:
    """The official state dict's names and shapes, in order, from the official code (by hand)."""
    keys = official_encoder_keys("transformer_encoder.layers.", d, layers, ffn, n_in, pe=d // 4)
    keys.update({"cls_head.weight": (1, d), "cls_head.bias": (1,)})
    if token_head:
        keys.update({"token_cls_head.weight": (1, d), "token_cls_head.bias": (1,)})
    return keys


def hydra_like_cfg(model: dict):
    """``cfg.model`` of an upstream Hydra run (:func:`conftest.hydra_like`)."""
    root = {
        "exp": {
            "runner": {
                "lr": 5e-4,
                "optim": "LAMB",
                "train_batch_size": 256,
                "total_steps": 500000,
                "scheduler": {"name": "ramp_up", "total_steps": "${exp.runner.total_steps}", "warmup": 0.025},
            }
        },
        "data": {"name": "nsp_replace_only_pretrain", "val_split": 0.01, "gaussian_blur": False},
        "task": {"name": "nsp_replace_only_pretrain", "replace_p": 0.1},
        "preprocessor": {"name": "identity_preprocessor"},
        "model": model,
    }
    return hydra_like(root, "mmsites_popt_test_now", "2024-05-01")


def fixture_model() -> tuple[PopT, dict]:
    z = dict(np.load(FIXTURE))
    cfg = dict(zip(z["config_keys"].tolist(), z["config_values"].tolist()))
    assert cfg["name"] == "pt_model_custom" and cfg["position_encoding"] == "multi_subj_position_encoding"
    config = PopTConfig(
        input_dim=int(cfg["input_dim"]),
        hidden_dim=int(cfg["hidden_dim"]),
        num_layers=int(cfg["n_layers"]),
        num_heads=int(cfg["n_head"]),
        ffn_dim=int(z["ffn_dim"]),
    )
    assert config == POPT_PRESETS["tiny"]
    # the official table is too large for the fixture; ours is checked against its rows below
    return load_fixture_state(PopT(config, seed=0), z), z


def formula_table(rows: np.ndarray, dim: int) -> np.ndarray:
    """The published sinusoid, in float64: [p, 2i] = sin(p w_i), [p, 2i+1] = cos(p w_i)."""
    p = np.asarray(rows, dtype=np.float64)[..., None]
    w = 10000.0 ** (-2.0 * np.arange(dim // 2) / dim)
    out = np.empty(p.shape[:-1] + (dim,))
    out[..., 0::2] = np.sin(p * w)
    out[..., 1::2] = np.cos(p * w)
    return out


def float32_tolerance(rows: np.ndarray) -> np.ndarray:
    """Upstream computes the table in float32: the argument p w_i carries a relative rounding
    error of a few 2**-24, i.e. an absolute one that grows with the position p."""
    return 2e-7 * np.maximum(np.asarray(rows, dtype=np.float64), 1.0)[..., None] + 1e-6


# ---------------------------------------------------------------------------------------------
# architecture
# ---------------------------------------------------------------------------------------------


def test_state_dict_names_shapes_and_order_are_the_official_ones():
    with torch.device("meta"):
        model = PopT("published")
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == official_keys()
    assert list(ours) == list(official_keys())  # and their order
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == 19_967_746  # by hand from the shapes above (the table is a buffer)
    assert not model.transformer_encoder.layers[0].self_attn.batch_first  # sequence-first
    with torch.device("meta"):
        headless = PopT(
            PopTConfig(input_dim=64, hidden_dim=32, num_layers=1, num_heads=2, token_cls_head=False)
        )
    assert list(headless.state_dict()) == list(official_keys(32, 1, 2048, 64, token_head=False))


def test_official_outputs_are_reproduced():
    model, z = fixture_model()
    inputs, pad = z["inputs"], z["padding_mask"]
    assert (inputs[:, 0] == 1).all() and not pad[:, 0].any()  # the official CLS row, never padded
    x, coords, seq, mask = inputs[:, 1:], z["coords"], z["seq_id"], pad[:, 1:]
    valid = ~pad
    # float32 through 3 layers: a few ulps (1.2e-6 seen at |x| = 2.2) from the summation order
    tol = dict(atol=1e-6, rtol=1e-6)
    # the numpy API, every layer
    for k in range(3):
        tokens = model.tokens(x, coords, seq, mask, layer=k)
        assert tokens.shape == (3, 8, 32)
        np.testing.assert_allclose(tokens[valid], z[f"official/hidden_{k}"][valid], **tol)
        assert np.isnan(tokens[pad]).all()
    np.testing.assert_allclose(
        model.tokens(x, coords, seq, mask)[valid], z["official/intermediate_rep"][valid], **tol
    )
    np.testing.assert_allclose(model.cls_logit(x, coords, seq, mask), z["official/cls"][:, 0], **tol)
    logits = model.token_logits(x, coords, seq, mask)
    np.testing.assert_allclose(logits[valid[:, 1:]], z["official/token_cls"][..., 0][valid[:, 1:]], **tol)
    # the torch API: every output, padded rows included (upstream computes them too)
    t = {k: torch.from_numpy(v) for k, v in dict(x=x, coords=coords, seq=seq, mask=mask).items()}
    with torch.no_grad():
        out = model(t["x"], t["coords"], t["seq"], t["mask"])
        np.testing.assert_allclose(out.tokens.numpy(), z["official/intermediate_rep"], **tol)
        np.testing.assert_allclose(out.cls_logits.numpy(), z["official/cls"], **tol)
        np.testing.assert_allclose(out.token_logits.numpy(), z["official/token_cls"], **tol)
        np.testing.assert_allclose(out.spec.numpy(), z["official/spec"], **tol)
        for k, w in enumerate(model.attention_weights(t["x"], t["coords"], t["seq"], t["mask"]), start=1):
            np.testing.assert_allclose(w.numpy(), z[f"official/attention_{k}"], **tol)
        position = model.input_encoding.positional_encoding(t["coords"], t["seq"])
        np.testing.assert_allclose(position.numpy(), z["official/pos_embed"], **tol)
    # one set alone, no mask
    n = int(z["lengths"][1])
    single = model.tokens(x[1, :n], coords[1, :n], seq[1, :n])
    np.testing.assert_allclose(single, z["official/single_intermediate_rep"][0], **tol)
    # the sinusoid table: shape and sampled rows, bit for bit
    pe = model.input_encoding.positional_encoding.pe
    assert tuple(pe.shape) == tuple(z["pe_shape"])
    np.testing.assert_array_equal(pe[0, z["pe_rows_index"]].numpy(), z["pe_rows"])


def test_seeded_init_is_the_official_one():
    """Upstream's build_model under torch.manual_seed(s) and PopT(config, seed=s) agree."""
    z = dict(np.load(FIXTURE))
    before = torch.random.get_rng_state()
    state = PopT("tiny", seed=int(z["init_seed"])).state_dict()
    assert torch.equal(torch.random.get_rng_state(), before)  # the global RNG is left alone
    assert list(state) == z["init_keys"].tolist()
    np.testing.assert_allclose(init_fingerprint(state), z["init_fingerprint"], atol=1e-6, rtol=1e-6)
    # the heads are made after upstream's init pass: their biases keep PyTorch's default init
    assert state["cls_head.bias"].abs().item() > 0 and state["input_encoding.in_proj.bias"].abs().sum() == 0
    other = PopT("tiny", seed=int(z["init_seed"]) + 1).state_dict()
    assert not torch.equal(other["input_encoding.in_proj.weight"], state["input_encoding.in_proj.weight"])


def test_position_encodings_are_the_published_formula():
    """pe[p] = sinusoid of width d/4; an electrode gets concat(pe[L], pe[I], pe[P], pe[seq_id]),
    the CLS token pe[0] four times: checked against a direct float64 computation."""
    model = PopT("published")
    d4 = 128
    pe = model.input_encoding.positional_encoding.pe[0].numpy().astype(np.float64)
    rows = np.arange(5000)
    assert pe.shape == (5000, d4)
    assert (np.abs(pe - formula_table(rows, d4)) <= float32_tolerance(rows)).all()
    # known coordinates (L, I, P) and segment ids, batched
    coords = np.array([[[100, 120, 90], [0, 255, 17], [4999, 3, 128]], [[64, 64, 64], [1, 2, 3], [7, 7, 7]]])
    seq_id = np.array([[0, 1, 1], [0, 0, 0]])
    with torch.no_grad():
        got = model.input_encoding.positional_encoding(
            torch.from_numpy(coords), torch.from_numpy(seq_id)
        ).numpy()
    assert got.shape == (2, 4, 512)
    for b in range(2):
        np.testing.assert_allclose(got[b, 0], np.tile(formula_table(np.array(0), d4), 4), atol=1e-7)
        np.testing.assert_array_equal(got[b, 0, 0::2], 0.0)  # sin(0)
        for i in range(3):
            (L, I, P), s = coords[b, i], seq_id[b, i]
            expected = np.concatenate([formula_table(np.array(v), d4) for v in (L, I, P, s)])
            tolerance = np.concatenate([np.repeat(float32_tolerance(np.array(v)), d4) for v in (L, I, P, s)])
            assert (np.abs(got[b, i + 1] - expected) <= tolerance).all(), (b, i)


def test_config_presets_and_validation():
    published = POPT_PRESETS["published"]
    assert published == PopTConfig()
    assert (published.input_dim, published.hidden_dim, published.num_layers) == (768, 512, 6)
    assert (published.num_heads, published.ffn_dim, published.activation) == (8, 2048, "gelu")
    assert popt_config_from_official(PUBLISHED_YAML) == published
    assert popt_official_config(published) == PUBLISHED_YAML
    assert list(popt_official_config(published)) == list(PUBLISHED_YAML)  # upstream's order
    assert popt_config_from_official(popt_official_config(POPT_PRESETS["tiny"])) == POPT_PRESETS["tiny"]
    assert popt_official_config(POPT_PRESETS["tiny"])["ffn_dim"] == 64  # not upstream's fixed 2048
    # upstream: use_token_cls_head absent means no token head
    assert not popt_config_from_official(
        {k: v for k, v in PUBLISHED_YAML.items() if k != "use_token_cls_head"}
    ).token_cls_head
    with pytest.raises(ValueError, match="multiple of 8"):
        PopTConfig(hidden_dim=36, num_heads=4)
    with pytest.raises(ValueError, match="unknown PopT preset"):
        PopT("huge")
    with pytest.raises(ValueError, match="pt_downstream_model.*fine-tuned"):
        popt_config_from_official(dict(PUBLISHED_YAML, name="pt_downstream_model"))
    with pytest.raises(ValueError, match="1-D positional encoding"):
        popt_config_from_official({k: v for k, v in PUBLISHED_YAML.items() if k != "position_encoding"})
    with pytest.raises(ValueError, match="n_head"):
        popt_config_from_official({k: v for k, v in PUBLISHED_YAML.items() if k != "n_head"})


# ---------------------------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------------------------


def test_a_checkpoint_of_the_published_architecture_loads_every_key(tmp_path):
    """Upstream's runner layout for the published model (names and shapes by hand, a
    Hydra-made config with its parent and resolver cache, a LAMB-like optimizer state): every
    key lands where it should, with the file's config or without one."""
    keys = official_keys()
    state = {k: torch.full(shape, 1e-3 * i) for i, (k, shape) in enumerate(keys.items())}
    optim = {
        "state": {0: {"step": 3, "exp_avg": torch.zeros(4), "exp_avg_sq": torch.zeros(4)}},
        "param_groups": [{"lr": 5e-4, "betas": (0.9, 0.999), "eps": 1e-6, "weight_decay": 0, "adam": False}],
    }
    path = tmp_path / "pretrained_popt_brainbert_stft.pth"
    torch.save(
        {"model": state, "optim": optim, "scheduler": None, "model_cfg": hydra_like_cfg(PUBLISHED_YAML)}, path
    )
    model = PopT.from_pretrained(path)
    assert model.config == POPT_PRESETS["published"] and not model.training
    loaded = model.state_dict()
    assert set(loaded) == set(keys)
    for i, k in enumerate(keys):
        assert torch.all(loaded[k] == 1e-3 * i), k
    # the weights alone (``torch.load(...)["model"]``, no config): the published shapes
    torch.save({"model": state}, tmp_path / "bare.pth")
    assert load_popt_checkpoint(tmp_path / "bare.pth").config == POPT_PRESETS["published"]


def test_our_checkpoints_round_trip_in_the_official_layout(tmp_path):
    model = PopT("tiny", seed=7)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    emb, coords = torch.randn(2, 5, 64), torch.randint(0, 200, (2, 5, 3))
    out = model(emb, coords)
    (out.cls_logits.square().mean() + out.token_logits.square().mean()).backward()
    opt.step()
    path = save_popt_checkpoint(model, tmp_path / "ours.pth", optim_state=opt.state_dict())
    raw = read_checkpoint(path, kind="PopT")
    assert set(raw) == {"model", "optim", "scheduler", "model_cfg"} and raw["scheduler"] is None
    assert OmegaConf.to_container(raw["model_cfg"]) == popt_official_config(model.config)
    assert torch.equal(raw["optim"]["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    again = PopT.from_pretrained(path)
    assert again.config == model.config
    for (k, a), (k2, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    # a bare state dict saves with its config; a missing or wrong config is refused
    save_popt_checkpoint(model.state_dict(), tmp_path / "bare.pth", config=model.config)
    assert load_popt_checkpoint(tmp_path / "bare.pth").config == model.config
    with pytest.raises(ValueError, match="needs its PopTConfig"):
        save_popt_checkpoint(model.state_dict(), tmp_path / "x.pth")
    with pytest.raises(ValueError, match="n_layers = 3 but the weights have 2"):
        save_popt_checkpoint(
            model.state_dict(),
            tmp_path / "x.pth",
            config=PopTConfig(**{**model.config.to_dict(), "num_layers": 3}),
        )
    assert not (tmp_path / "x.pth").exists()
    # a config given to the loader must agree with the recorded one
    with pytest.raises(ValueError, match="records"):
        load_popt_checkpoint(path, config="published")


def _save(path, state, model_cfg="tiny"):
    cfg = hydra_like_cfg(TINY_YAML) if model_cfg == "tiny" else model_cfg
    torch.save({"model": state, "optim": None, "scheduler": None, "model_cfg": cfg}, path)
    return path


def test_extra_missing_and_misshaped_keys_are_each_one_clear_error(tmp_path):
    state = PopT("tiny").state_dict()
    extra = dict(state, **{"transformer_encoder.layers.0.extra.weight": torch.zeros(3)})
    with pytest.raises(ValueError, match=r"1 unexpected: transformer_encoder\.layers\.0\.extra\.weight"):
        PopT.from_pretrained(_save(tmp_path / "extra.pth", extra))
    missing = {k: v for k, v in state.items() if k != "spec_prediction_head.output.bias"}
    with pytest.raises(ValueError, match=r"1 missing: spec_prediction_head\.output\.bias"):
        PopT.from_pretrained(_save(tmp_path / "missing.pth", missing))
    shaped = dict(state, **{"transformer_encoder.layers.1.norm2.weight": torch.zeros(33)})
    with pytest.raises(ValueError, match=r"norm2\.weight \(33,\) \(model \(32,\)\)"):
        PopT.from_pretrained(_save(tmp_path / "shaped.pth", shaped))
    all_three = {k: v for k, v in shaped.items() if k != "spec_prediction_head.output.bias"}
    all_three["surplus"] = torch.zeros(1)
    with pytest.raises(ValueError) as info:
        PopT.from_pretrained(_save(tmp_path / "all.pth", all_three))
    message = str(info.value)
    assert "1 missing" in message and "1 unexpected: surplus" in message and "1 mis-shaped" in message
    assert "all.pth" in message and "PopT weights" in message
    # BrainBERT-named weights (transformer.layers.N) are not PopT's
    renamed = {k.replace("transformer_encoder.", "transformer."): v for k, v in state.items()}
    with pytest.raises(ValueError, match="24 missing"):
        PopT.from_pretrained(_save(tmp_path / "renamed.pth", renamed))


def test_a_config_that_disagrees_with_the_weights_is_refused(tmp_path):
    state = PopT("tiny").state_dict()
    with pytest.raises(ValueError, match=r"hidden_dim = 64 but the weights have 32"):
        PopT.from_pretrained(_save(tmp_path / "a.pth", state, hydra_like_cfg(dict(TINY_YAML, hidden_dim=64))))
    with pytest.raises(ValueError, match=r"n_layers = 3 but the weights have 2"):
        PopT.from_pretrained(_save(tmp_path / "b.pth", state, hydra_like_cfg(dict(TINY_YAML, n_layers=3))))
    with pytest.raises(ValueError, match=r"use_token_cls_head = False but the weights have True"):
        PopT.from_pretrained(
            _save(tmp_path / "c.pth", state, hydra_like_cfg(dict(TINY_YAML, use_token_cls_head=False)))
        )
    with pytest.raises(ValueError, match="masked_tf_model"):  # a BrainBERT checkpoint
        PopT.from_pretrained(
            _save(tmp_path / "d.pth", state, OmegaConf.create(dict(TINY_YAML, name="masked_tf_model")))
        )
    # no config and not the published shapes: the heads cannot be guessed
    torch.save({"model": state}, tmp_path / "e.pth")
    with pytest.raises(ValueError, match="pass config="):
        PopT.from_pretrained(tmp_path / "e.pth")
    assert PopT.from_pretrained(tmp_path / "e.pth", config="tiny").config == POPT_PRESETS["tiny"]


def test_a_pickled_object_outside_the_allow_list_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "ran"
    state = PopT("tiny").state_dict()
    path = save_code_running_checkpoint(tmp_path / "evil.pth", state, marker)
    with pytest.raises(ValueError) as info:
        PopT.from_pretrained(path)
    message = str(info.value)
    assert message.startswith("PopT checkpoint") and f"'{os.system.__module__}.system'" in message
    assert "allow-list" in message and str(path) in message
    assert not marker.exists()
    harmless = tmp_path / "f.pth"
    torch.save(
        {"model": state, "optim": {"note": fractions.Fraction(1, 3)}, "model_cfg": TINY_YAML}, harmless
    )
    with pytest.raises(ValueError, match=r"'fractions\.Fraction'.*not on the allow-list"):
        load_popt_checkpoint(harmless)
    with pytest.raises(FileNotFoundError, match="PopT checkpoint"):
        PopT.from_pretrained(tmp_path / "absent.pth")
    torch.save({"weights": state}, tmp_path / "g.pth")
    with pytest.raises(ValueError, match="lacks 'model'"):
        PopT.from_pretrained(tmp_path / "g.pth")


# ---------------------------------------------------------------------------------------------
# tokens and logits
# ---------------------------------------------------------------------------------------------


def _sets(sizes, seed=0):
    rng = np.random.default_rng(seed)
    emb = [rng.standard_normal((n, 64)).astype(np.float32) for n in sizes]
    lip = [rng.integers(40, 220, (n, 3)) for n in sizes]
    seq = [rng.integers(0, 2, n) for n in sizes]
    return emb, lip, seq


def _pad(arrays, n_max, fill):
    out = np.full((len(arrays), n_max) + arrays[0].shape[1:], fill, dtype=arrays[0].dtype)
    for b, a in enumerate(arrays):
        out[b, : len(a)] = a
    return out


def test_a_padded_batch_gives_the_tokens_of_separate_calls():
    model = PopT("tiny", seed=3)
    sizes = [6, 2, 9, 4]
    emb, lip, seq = _sets(sizes)
    n_max = max(sizes)
    mask = np.arange(n_max)[None] >= np.array(sizes)[:, None]
    # padded rows hold garbage (NaN embeddings, out-of-range coordinates): they must be ignored
    x, c, s = _pad(emb, n_max, np.nan), _pad(lip, n_max, -7), _pad(seq, n_max, 9999)
    tokens = model.tokens(x, c, s, mask)
    cls, logits = model.cls_logit(x, c, s, mask), model.token_logits(x, c, s, mask)
    assert tokens.shape == (4, 10, 32) and tokens.dtype == np.float32 and cls.shape == (4,)
    for b, n in enumerate(sizes):
        alone = model.tokens(emb[b], lip[b], seq[b])
        assert alone.shape == (n + 1, 32)
        np.testing.assert_allclose(tokens[b, : n + 1], alone, atol=1e-5, rtol=0)
        assert np.isnan(tokens[b, n + 1 :]).all() and np.isnan(logits[b, n:]).all()
        np.testing.assert_allclose(cls[b], model.cls_logit(emb[b], lip[b], seq[b]), atol=1e-5)
        np.testing.assert_allclose(logits[b, :n], model.token_logits(emb[b], lip[b], seq[b]), atol=1e-5)
    np.testing.assert_allclose(model.tokens(x, c, s, mask, batch_size=3), tokens, atol=1e-5, equal_nan=True)


def test_tokens_are_cls_first_and_the_heads_read_them():
    """Row 0 is the CLS token: it does not move when the electrodes are permuted (nothing in
    PopT orders them but their coordinates), while rows 1.. follow their electrodes."""
    model = PopT("tiny", seed=4)
    (emb,), (lip,), _ = _sets([7], seed=1)
    tokens = model.tokens(emb, lip)
    assert tokens.shape == (8, 32)
    order = np.random.default_rng(2).permutation(7)
    permuted = model.tokens(emb[order], lip[order])
    np.testing.assert_allclose(permuted[0], tokens[0], atol=1e-5)
    np.testing.assert_allclose(permuted[1:], tokens[1:][order], atol=1e-5)
    with torch.no_grad():
        t = torch.from_numpy(tokens)
        np.testing.assert_allclose(model.cls_logit(emb, lip), model.cls_head(t[0])[0].numpy(), atol=1e-6)
        np.testing.assert_allclose(
            model.token_logits(emb, lip), model.token_cls_head(t[1:])[:, 0].numpy(), atol=1e-6
        )
    # the coordinates matter, and so does the segment id
    assert np.abs(model.tokens(emb, lip + 1) - tokens).max() > 1e-3
    assert np.abs(model.tokens(emb, lip, np.ones(7, int)) - tokens).max() > 1e-3
    # float arrays of whole numbers are accepted (a depth-wm.csv read by pandas)
    np.testing.assert_array_equal(model.tokens(emb, lip.astype(float)), tokens)


def test_inference_is_eval_mode_and_leaves_the_mode_alone():
    model = PopT("tiny", seed=5)
    (emb,), (lip,), _ = _sets([5], seed=3)
    model.train()
    a, b = model.tokens(emb, lip), model.tokens(emb, lip)
    np.testing.assert_array_equal(a, b)  # no dropout
    assert model.training
    with torch.no_grad():
        expected = model.eval().hidden_states(torch.from_numpy(emb)[None], torch.from_numpy(lip)[None])[-1][0]
    np.testing.assert_allclose(a, expected.numpy(), atol=1e-6)


def test_bad_inputs_get_clear_errors():
    model = PopT("tiny")
    emb, lip = np.zeros((4, 64), np.float32), np.full((4, 3), 100)
    with pytest.raises(ValueError, match=r"\(n_electrodes, 64\)"):
        model.tokens(np.zeros((4, 63)), lip)
    with pytest.raises(ValueError, match=r"coords_lip must have shape \(4, 3\)"):
        model.tokens(emb, lip[:, :2])
    with pytest.raises(ValueError, match=r"\[0, 4999\].*lip_from_mni"):
        model.tokens(emb, lip - 101)
    with pytest.raises(ValueError, match=r"\[0, 4999\]"):
        model.tokens(emb, lip + 4900)
    with pytest.raises(ValueError, match="whole numbers.*lip_coordinates"):
        model.tokens(emb, lip + 0.5)
    with pytest.raises(ValueError, match="NaN"):
        model.tokens(np.full((4, 64), np.nan), lip)
    with pytest.raises(ValueError, match="padding_mask must be a bool array"):
        model.tokens(emb, lip, padding_mask=np.zeros(4, int))
    with pytest.raises(ValueError, match=r"layer must be an integer in \[-3, 2\]"):
        model.tokens(emb, lip, layer=3)
    with pytest.raises(ValueError, match="seq_id must"):
        model.tokens(emb, lip, seq_id=np.zeros(3, int))
    with pytest.raises(ValueError, match="no token_cls_head"):
        PopT(PopTConfig(**{**POPT_PRESETS["tiny"].to_dict(), "token_cls_head": False})).token_logits(emb, lip)
    with pytest.raises(ValueError, match="coords must be an integer tensor"):
        model(torch.zeros(1, 4, 64), torch.zeros(1, 4, 3))


# ---------------------------------------------------------------------------------------------
# coordinates
# ---------------------------------------------------------------------------------------------


def test_lip_coordinates_read_a_depth_wm_table_as_upstream_does():
    table = pd.DataFrame(
        {"Electrode": ["A1", "A2", "B1"], "L": [150, 151.0, 90], "P": [110, 111, 130], "I": [80.7, 81, 99]}
    )
    lip = lip_coordinates(table)
    assert lip.dtype == np.int64
    np.testing.assert_array_equal(lip, [[150, 80, 110], [151, 81, 111], [90, 99, 130]])  # L, I, P
    expected = torch.LongTensor(table[["L", "I", "P"]].to_numpy()).numpy()  # upstream's reading
    np.testing.assert_array_equal(lip, expected)
    with pytest.raises(ValueError, match=r"lacks the columns \['P'\]"):
        lip_coordinates(table.drop(columns="P"))
    with pytest.raises(ValueError, match=r"1 rows without finite L, I, P \(row positions \[1\]\)"):
        lip_coordinates(table.assign(L=[150, np.nan, 90]))


def test_lip_from_mni_is_the_stated_rule(caplog):
    # L = 128 - x, I = 128 - z, P = 128 - y; nearest integer, halves up
    np.testing.assert_array_equal(lip_from_mni([0.0, 0.0, 0.0]), [128, 128, 128])
    np.testing.assert_array_equal(lip_from_mni([[-40.4, 10.5, 20.6]]), [[168, 107, 118]])
    np.testing.assert_array_equal(lip_from_mni([[40.5, -10.0, -20.0]], centre=100.0), [[60, 120, 110]])
    # the demo dataset's convention (X, Y, Z = 128 - L, 128 - P, 128 - I) is inverted exactly
    rng = np.random.default_rng(0)
    lpi = rng.integers(50, 200, (20, 3))  # L, P, I as depth-wm.csv stores them
    xyz = 128.0 - lpi
    np.testing.assert_array_equal(lip_from_mni(xyz), lpi[:, [0, 2, 1]])
    caplog.set_level(logging.WARNING)
    np.testing.assert_array_equal(lip_from_mni([[200.0, -300.0, 0.0]]), [[0, 128, 255]])
    assert "clipped" in caplog.text
    with pytest.raises(ValueError, match="NaN"):
        lip_from_mni([[np.nan, 0, 0]])
    with pytest.raises(ValueError, match=r"shape \(3,\) or \(n_electrodes, 3\)"):
        lip_from_mni(np.zeros((2, 2)))
    # and the result is a valid model input
    assert PopT("tiny").tokens(np.zeros((20, 64), np.float32), lip_from_mni(xyz)).shape == (21, 32)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_and_bf16_agree_with_the_cpu():
    model = PopT("tiny", seed=6)
    emb, lip, seq = _sets([5, 3], seed=4)
    x, c, s = _pad(emb, 5, 0.0), _pad(lip, 5, 0), _pad(seq, 5, 0)
    mask = np.array([[False] * 5, [False] * 3 + [True] * 2])
    cpu = model.tokens(x, c, s, mask)
    model.to("cuda")
    np.testing.assert_allclose(model.tokens(x, c, s, mask), cpu, atol=1e-4, equal_nan=True)
    np.testing.assert_allclose(model.tokens(x, c, s, mask, bf16=True), cpu, atol=0.1, equal_nan=True)
