"""SLIP / CLIP / SimCLR family: official checkpoint layout, strict loading, features."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsites.features.zoo import ModelSpec, build_extractor
from mmsites.features.zoo.slip import (
    SLIP_ARCHS,
    SLIPModel,
    load_slip_checkpoint,
    tokenize,
)

# a small architecture with the real tokenizer vocabulary (49408 ids)
TINY = dict(
    image_size=32,
    patch_size=8,
    vision_width=32,
    vision_layers=2,
    vision_heads=2,
    embed_dim=16,
    context_length=16,
    text_width=24,
    text_layers=2,
    text_heads=2,
    ssl_mlp_dim=40,
    ssl_emb_dim=8,
)
OBJECTIVES = {"slip_vitb16": "slip", "clip_vitb16": "clip", "simclr_vitb16": "simclr"}
TEXTS = [
    "a man walks into the room",
    "she laughs",
    "a man walks into the room",
    "the quick brown fox jumps over the lazy dog " * 4,
]


def spec(arch="slip_vitb16", input="image", **kw):
    kw.setdefault("init", "random")
    kw.setdefault("config", TINY)
    return ModelSpec(
        id=f"{arch}-{input}",
        family="slip",
        input=input,
        trained_on="vision" if arch == "simclr_vitb16" else "multimodal",
        arch=arch,
        **kw,
    )


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(3, 40, 52, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def events():
    return pd.DataFrame(
        {
            "movie": "m",
            "alignment": "language",
            "movie_time": np.arange(4.0),
            "text": TEXTS,
            "word": "w",
            "frame_time": np.arange(4.0),
        }
    )


FRAME_INDEX = np.array([0, 1, 0, 2])


def save_official(model: SLIPModel, path):
    """Write ``model`` the way SLIP's main.py does: DDP-prefixed keys plus pickled args."""
    args = argparse.Namespace(
        model="SLIP_VITB16", ssl_mlp_dim=TINY["ssl_mlp_dim"], ssl_emb_dim=TINY["ssl_emb_dim"]
    )
    sd = {"module." + k: v.clone() for k, v in model.state_dict().items()}
    torch.save({"epoch": 25, "state_dict": sd, "args": args, "best_acc1": 0.0}, path)


# ----------------------------------------------------------------------------- key layout
def _official_keys(objective: str, vision_layers: int, text_layers: int) -> set[str]:
    """Parameter names of facebookresearch/SLIP models.py (CLIP/SIMCLR/SLIP classes with a
    timm ``vit_base_patch16_224(num_classes=0)`` image tower), written out by hand."""
    keys = {
        "visual.cls_token",
        "visual.pos_embed",
        "visual.patch_embed.proj.weight",
        "visual.patch_embed.proj.bias",
        "visual.norm.weight",
        "visual.norm.bias",
    }
    for i in range(vision_layers):
        for name in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"):
            keys |= {f"visual.blocks.{i}.{name}.weight", f"visual.blocks.{i}.{name}.bias"}
    if objective in ("clip", "slip"):
        keys |= {
            "token_embedding.weight",
            "positional_embedding",
            "ln_final.weight",
            "ln_final.bias",
            "image_projection",
            "text_projection",
            "logit_scale",
        }
        for i in range(text_layers):
            p = f"transformer.resblocks.{i}."
            keys |= {
                p + "attn.in_proj_weight",
                p + "attn.in_proj_bias",
                p + "attn.out_proj.weight",
                p + "attn.out_proj.bias",
            }
            for name in ("ln_1", "mlp.c_fc", "mlp.c_proj", "ln_2"):
                keys |= {p + name + ".weight", p + name + ".bias"}
    if objective in ("slip", "simclr"):
        for name in ("layer1", "layer2", "layer3"):
            keys |= {f"image_mlp.{name}.weight", f"image_mlp.{name}.bias"}
        for name in ("bn1", "bn2"):  # SyncBatchNorm state
            keys |= {
                f"image_mlp.{name}.{s}"
                for s in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
            }
    return keys


@pytest.mark.parametrize("objective", ["slip", "clip", "simclr"])
def test_state_dict_keys_are_the_official_ones(objective):
    model = SLIPModel(objective, **TINY)
    assert set(model.state_dict()) == _official_keys(objective, 2, 2)


def test_official_key_names_spot_check():
    keys = set(SLIPModel("slip", **TINY).state_dict())
    for k in [
        "visual.blocks.0.attn.qkv.weight",
        "visual.patch_embed.proj.weight",
        "transformer.resblocks.0.attn.in_proj_weight",
        "transformer.resblocks.1.mlp.c_proj.weight",
        "image_mlp.layer1.weight",
        "image_mlp.bn2.running_var",
        "token_embedding.weight",
        "positional_embedding",
        "ln_final.weight",
        "image_projection",
        "text_projection",
        "logit_scale",
    ]:
        assert k in keys


def test_vision_tower_is_timm_vit_base_patch16_224():
    # SLIP builds its tower with timm.create_model('vit_base_patch16_224', num_classes=0)
    import timm

    ref = timm.create_model(
        "vit_base_patch16_224",
        pretrained=False,
        num_classes=0,
        img_size=32,
        patch_size=8,
        embed_dim=32,
        depth=2,
        num_heads=2,
    )
    ours = SLIPModel("simclr", **TINY).visual
    assert {k: v.shape for k, v in ref.state_dict().items()} == {
        k: v.shape for k, v in ours.state_dict().items()
    }


def test_vitb16_shapes_match_the_released_checkpoints():
    with torch.device("meta"):  # shapes only: no memory, no init cost
        sd = SLIPModel("slip").state_dict()
    assert set(sd) == _official_keys("slip", 12, 12)
    expect = {
        "visual.pos_embed": (1, 197, 768),
        "visual.patch_embed.proj.weight": (768, 3, 16, 16),
        "visual.blocks.11.attn.qkv.weight": (2304, 768),
        "token_embedding.weight": (49408, 512),
        "positional_embedding": (77, 512),
        "image_projection": (768, 512),
        "text_projection": (512, 512),
        "transformer.resblocks.0.attn.in_proj_weight": (1536, 512),
        "image_mlp.layer1.weight": (4096, 768),
        "image_mlp.layer3.weight": (256, 4096),
        "logit_scale": (),
    }
    assert {k: tuple(sd[k].shape) for k in expect} == expect


# ----------------------------------------------------------------------------- loading
@pytest.mark.parametrize("arch", sorted(SLIP_ARCHS))
def test_official_checkpoint_round_trip(arch, tmp_path, frames, events):
    """A checkpoint written under the released files' key names (SLIP's models.py, written
    out by hand in _official_keys, not read from our model) loads into every parameter."""
    input = "image" if arch == "simclr_vitb16" else "text"
    ours = build_extractor(spec(arch, input, seed=3)).model.state_dict()
    official = _official_keys(OBJECTIVES[arch], TINY["vision_layers"], TINY["text_layers"])
    assert official <= ours.keys(), f"official names our model lacks: {sorted(official - ours.keys())}"
    gen = torch.Generator().manual_seed(7)
    released = {}
    for key in sorted(official):
        like = ours[key]
        if not like.is_floating_point():
            released[key] = like.clone()  # num_batches_tracked
        elif key.endswith("running_var"):
            released[key] = torch.rand(like.shape, generator=gen) + 0.5
        else:
            released[key] = torch.randn(like.shape, generator=gen, dtype=like.dtype)
    path = tmp_path / "ckpt.pt"
    args = argparse.Namespace(
        model="SLIP_VITB16", ssl_mlp_dim=TINY["ssl_mlp_dim"], ssl_emb_dim=TINY["ssl_emb_dim"]
    )
    torch.save(
        {"epoch": 25, "state_dict": {"module." + k: v for k, v in released.items()}, "args": args}, path
    )
    loaded = build_extractor(spec(arch, input, init="trained", weights=str(path)))
    # every parameter and buffer is the released one, bit for bit (strict: none left over)
    b = loaded.model.state_dict()
    assert b.keys() == released.keys() and all(torch.equal(b[k], released[k]) for k in b)
    src = build_extractor(spec(arch, input, seed=3))
    src.model.load_state_dict(released)
    x_src = src.extract(events, frames, FRAME_INDEX, progress=False)
    x_loaded = loaded.extract(events, frames, FRAME_INDEX, progress=False)
    np.testing.assert_array_equal(x_src, x_loaded)
    # and loading changed something: another seed gives other features
    other = build_extractor(spec(arch, input, seed=4)).extract(events, frames, FRAME_INDEX, progress=False)
    assert not np.allclose(other, x_loaded)


def _broken(tmp_path, edit):
    model = SLIPModel("clip", **TINY)
    sd = {"module." + k: v for k, v in model.state_dict().items()}
    edit(sd)
    path = tmp_path / "bad.pt"
    torch.save({"state_dict": sd}, path)
    return model, path


def test_renamed_key_is_listed(tmp_path):
    def rename(sd):
        sd["module.visual.blocks.0.attn.qkv_renamed.weight"] = sd.pop(
            "module.visual.blocks.0.attn.qkv.weight"
        )

    model, path = _broken(tmp_path, rename)
    with pytest.raises(ValueError) as err:
        load_slip_checkpoint(model, path)
    msg = str(err.value)
    assert "missing keys ['visual.blocks.0.attn.qkv.weight']" in msg
    assert "unexpected keys ['visual.blocks.0.attn.qkv_renamed.weight']" in msg
    assert str(path) in msg


def test_missing_key_and_shape_mismatch_are_listed(tmp_path):
    def edit(sd):
        del sd["module.ln_final.bias"]
        sd["module.text_projection"] = torch.zeros(5, 5)

    model, path = _broken(tmp_path, edit)
    with pytest.raises(
        ValueError,
        match=r"missing keys \['ln_final.bias'\].*text_projection: "
        r"checkpoint \(5, 5\) vs model \(24, 16\)",
    ):
        load_slip_checkpoint(model, path)


def test_wrong_architecture_checkpoint_is_an_error(tmp_path):
    sd = {"module." + k: v for k, v in SLIPModel("simclr", **TINY).state_dict().items()}
    with pytest.raises(ValueError, match="missing keys.*token_embedding.weight.*unexpected keys.*image_mlp"):
        load_slip_checkpoint(SLIPModel("clip", **TINY), {"state_dict": sd})


# ----------------------------------------------------------------------------- checkpoint safety
#: what unpickling the hostile checkpoint below would run; must stay empty
_EXECUTED: list[str] = []


def _record(what: str) -> str:
    _EXECUTED.append(what)
    return what


class _Payload:
    """Unpickles by calling :func:`_record`: stands for any code a checkpoint could smuggle."""

    def __reduce__(self):
        return (_record, ("payload ran",))


class _Config:
    """An ordinary (harmless, but not allow-listed) object: refused all the same."""

    def __init__(self):
        self.depth = 2


def test_checkpoint_with_the_official_layout_loads_weights_only(tmp_path):
    # the allowed layout: DDP-prefixed state dict, args as argparse.Namespace, plain extras
    src = SLIPModel("slip", **TINY)
    path = tmp_path / "official.pt"
    save_official(src, path)
    loaded = load_slip_checkpoint(SLIPModel("slip", **TINY), path)
    a, b = src.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("obj", [_Payload(), _Config()], ids=["code", "object"])
def test_checkpoint_with_an_arbitrary_object_is_refused(tmp_path, obj):
    sd = {"module." + k: v for k, v in SLIPModel("clip", **TINY).state_dict().items()}
    path = tmp_path / "hostile.pt"
    torch.save({"state_dict": sd, "args": argparse.Namespace(model="CLIP_VITB16"), "extra": obj}, path)
    name = f"{__name__}.{'_record' if isinstance(obj, _Payload) else '_Config'}"
    with pytest.raises(ValueError, match=rf"hostile.pt holds a pickled '{name}' object and was refused"):
        load_slip_checkpoint(SLIPModel("clip", **TINY), path)
    with pytest.raises(ValueError, match=r"model 'clip_vitb16-image'.*refused.*arbitrary code"):
        build_extractor(spec("clip_vitb16", init="trained", weights=str(path)))
    assert _EXECUTED == []  # refused before anything in the file was called


def test_unreadable_checkpoint_is_named(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="notes.pt is not a readable torch checkpoint"):
        load_slip_checkpoint(SLIPModel("clip", **TINY), path)


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="slip-x.*nope.pt"):
        build_extractor(
            ModelSpec(
                id="slip-x",
                family="slip",
                input="image",
                trained_on="multimodal",
                arch="slip_vitb16",
                config=TINY,
                weights=str(tmp_path / "nope.pt"),
            )
        )


def test_trained_without_weights_names_the_file():
    with pytest.raises(ValueError, match="clip_base_25ep.pt"):
        build_extractor(spec("clip_vitb16", init="trained"))


# ----------------------------------------------------------------------------- errors
def test_simclr_has_no_text_tower():
    with pytest.raises(ValueError, match="no text tower"):
        build_extractor(spec("simclr_vitb16", "text"))


def test_unknown_arch_lists_valid():
    with pytest.raises(ValueError, match=r"'vit_b16'.*clip_vitb16.*simclr_vitb16.*slip_vitb16"):
        build_extractor(spec("vit_b16"))


def test_unknown_config_key():
    with pytest.raises(ValueError, match=r"slip_vitb16-image.*\['widht'\]"):
        build_extractor(spec(config={**TINY, "widht": 3}))


def test_joint_input_is_rejected():
    with pytest.raises(ValueError, match="image\\+text"):
        build_extractor(spec(input="image+text"))


# ----------------------------------------------------------------------------- features
def test_feature_shapes_and_documented_defaults(frames, events):
    img = build_extractor(spec())
    x = img.extract(events, frames, FRAME_INDEX, progress=False)
    assert x.shape == (4, TINY["vision_width"]) and x.dtype == np.float32
    np.testing.assert_array_equal(x[0], x[2])  # same frame, same features
    # the default is the ViT head (study's Identity-51) output
    head = build_extractor(spec(layer="visual.head")).extract(events, frames, FRAME_INDEX, progress=False)
    np.testing.assert_allclose(head, x, rtol=1e-6, atol=1e-6)
    proj = build_extractor(spec(config={**TINY, "project": True})).extract(
        events, frames, FRAME_INDEX, progress=False
    )
    np.testing.assert_allclose(proj, x @ img.model.image_projection.detach().numpy(), rtol=1e-4, atol=1e-5)

    txt = build_extractor(spec(input="text"))
    t = txt.extract(events, progress=False)
    assert t.shape == (4, TINY["text_width"])
    np.testing.assert_array_equal(t[0], t[2])


def test_text_feature_is_the_end_token_row_of_ln_final(events):
    # oracle: the whole ln_final output (study's LayerNorm-50), then the end token picked by hand
    full = build_extractor(spec(input="text", layer="ln_final")).extract(events, progress=False)
    ctx, width = TINY["context_length"], TINY["text_width"]
    assert full.shape == (4, ctx * width)
    tokens, _ = tokenize(TEXTS, ctx)
    eot = tokens.argmax(1).numpy()
    picked = full.reshape(4, ctx, width)[np.arange(4), eot]
    pooled = build_extractor(spec(input="text")).extract(events, progress=False)
    np.testing.assert_allclose(pooled, picked, rtol=1e-5, atol=1e-5)


def test_text_tower_is_causal():
    model = SLIPModel("clip", **TINY).eval()
    tokens, _ = tokenize(["one two three"], TINY["context_length"])
    eot = int(tokens.argmax())
    changed = tokens.clone()
    changed[0, eot + 1 :] = 7  # tokens after the end token must not reach it
    with torch.no_grad():
        torch.testing.assert_close(model.encode_text(tokens), model.encode_text(changed))
        before = tokens.clone()
        before[0, 1] = 7  # a token before it must
        assert not torch.allclose(model.encode_text(tokens), model.encode_text(before))


def test_random_twin_is_reproducible(frames, events):
    a = build_extractor(spec(seed=5)).extract(events, frames, FRAME_INDEX, progress=False)
    torch.manual_seed(123)  # global state must not matter
    b = build_extractor(spec(seed=5)).extract(events, frames, FRAME_INDEX, progress=False)
    c = build_extractor(spec(seed=6)).extract(events, frames, FRAME_INDEX, progress=False)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


# ----------------------------------------------------------------------------- tokenizer, pixels
def test_tokenize_matches_open_clip_and_counts_truncation():
    import open_clip

    texts = ["Hello, World!", "  spaced   out  ", "é accents and numbers 123", "word " * 30]
    ours, n_cut = tokenize(texts, 77, max_length=20)
    ref = open_clip.tokenize(texts, context_length=20)
    assert n_cut == 1
    torch.testing.assert_close(ours[:, :20], ref)
    assert (ours[:, 20:] == 0).all()
    assert ours[3, 19] == open_clip.tokenizer._tokenizer.eot_token_id  # end token kept last


def test_max_length_truncation_is_counted(events, caplog):
    ext = build_extractor(spec(input="text", max_length=7))
    with caplog.at_level("WARNING"):
        ext.extract(events, progress=False)
    assert "2 of 3 unique texts were longer than 7 tokens" in caplog.text


def test_preprocessing_matches_slip_eval_transform(frames):
    # SLIP's eval transform (eval_zeroshot.py): PIL Resize(224), CenterCrop(224), ImageNet norm
    from PIL import Image
    from torchvision import transforms

    from mmsites.features.zoo.preprocess import preprocess_images
    from mmsites.features.zoo.slip import IMAGENET_MEAN, IMAGENET_STD

    ref_tf = transforms.Compose(
        [
            transforms.Resize(32),
            transforms.CenterCrop(32),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    ref = torch.stack([ref_tf(Image.fromarray(f)) for f in frames])
    ours = preprocess_images(frames, 32, IMAGENET_MEAN, IMAGENET_STD, interpolation="bilinear")
    assert ours.shape == ref.shape
    # PIL and torch antialiased bilinear differ by rounding (< 2/255 in pixel units)
    assert (ours - ref).abs().max() < 2 / 255 / min(IMAGENET_STD)


@settings(max_examples=40, deadline=None)
@given(texts=st.lists(st.text(max_size=60), min_size=1, max_size=3), limit=st.integers(2, 20))
def test_tokenize_properties(texts, limit):
    import open_clip

    tokens, n_cut = tokenize(texts, 24, max_length=limit)
    ref = open_clip.tokenize(texts, context_length=limit)  # open_clip's truncation rule
    torch.testing.assert_close(tokens[:, :limit], ref)
    assert (tokens[:, limit:] == 0).all()
    eot = open_clip.tokenizer._tokenizer.eot_token_id
    # exactly one end token per row, at the position the text tower pools (the row's argmax)
    assert ((tokens == eot).sum(1) == 1).all()
    assert (tokens.argmax(1) == (tokens == eot).int().argmax(1)).all()
    full = [len(open_clip.tokenizer._tokenizer.encode(t)) + 2 for t in texts]
    assert n_cut == sum(n > limit for n in full)
