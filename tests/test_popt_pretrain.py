"""Pretraining PopT (mmsites.brainmodels.popt_pretrain, mmsites pretrain popt).

The pairs, channel subsets and replaced tokens are checked against the rules of the official
code (czlwang/PopulationTransformer@dadb55b: ``data/make_pretrain_replace_manifest.py``
``make_negative_any_task``, ``datasets/nsp_replace_only_pretrain.py``), reading each token's
provenance off embeddings that encode their own (window, electrode); the loss against
upstream's criterion written out (``criterions/nsp_replace_only_pretrain.py``); the training
loop by what it must do (both held-out tasks learnt on data with structure, an interrupted run
resumed equals an uninterrupted one bit for bit, the checkpoint is in the official layout and
loads with ``PopT.from_pretrained``); the command on a small demo dataset.

The demo: every channel carries an 8-55 Hz rhythm whose power follows one slow state of the
subject (recordings.demo.signals.shared_state_amplitude), as slow fluctuations of arousal do in
a real brain. The slow demo test measures that the electrodes' embeddings share it from one
window to the next, and that a tiny PopT pretrained on them learns both tasks on held-out
windows (AUC above chance) once the random BrainBERT's embeddings are standardised.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from conftest import (
    Interrupted,
    Interrupting,
    assert_one_process_ddp_equals_the_plain_run,
    assert_same_weights,
    pretrain_on_a_demo,
)

from mmsites.brainmodels import PopT, PopTConfig, read_checkpoint
from mmsites.brainmodels.popt_pretrain import (
    CHANNEL_CHOICES,
    PoptSeries,
    build_batch,
    pair_manifest,
    popt_learning_rate,
    popt_pretrain_loss,
    popt_validation,
    pretrain_popt,
    roc_auc,
)
from mmsites.brainmodels.pretrain import learning_rate
from mmsites.pipeline.cli import PRETRAINABLE, main
from mmsites.pipeline.params import Params, PoptPretrainParams
from mmsites.pipeline.pretrain import popt_window_starts, split_windows

#: A small model for the loop's tests.
MICRO = PopTConfig(input_dim=8, hidden_dim=16, num_layers=1, num_heads=2, ffn_dim=16)
#: The run that learns both tasks from embeddings with structure (the tiny config, 400 steps).
LEARN = dict(
    steps=400, batch_size=32, lr=2e-3, optimizer="adamw", schedule="constant", warmup_steps=10, progress=False
)


def tagged(n_windows: int, n_electrodes: int, d: int = 8, seed: int = 0) -> np.ndarray:
    """Embeddings whose first two values are their own window and electrode."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_windows, n_electrodes, d)).astype(np.float32)
    x[:, :, 0] = np.arange(n_windows)[:, None]
    x[:, :, 1] = np.arange(n_electrodes)[None, :]
    return x


def lip(n_electrodes: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(40, 220, size=(n_electrodes, 3))


def structured(n_windows: int, n_electrodes: int = 12, d: int = 64, seed: int = 0) -> tuple:
    """Embeddings with structure both tasks can use.

    A slow latent shared by every electrode (AR(1), rho 0.95 per window, read through one
    mixing matrix) makes consecutive windows agree across electrodes; a fixed signature per
    electrode betrays a token replaced from another electrode; plus white noise.
    """
    rng = np.random.default_rng(seed)
    k, rho = 4, 0.95
    z = np.zeros((n_windows, k))
    z[0] = rng.normal(size=k)
    for t in range(1, n_windows):
        z[t] = rho * z[t - 1] + math.sqrt(1 - rho**2) * rng.normal(size=k)
    mixing = rng.normal(size=(k, d)) / math.sqrt(k)
    signature = rng.normal(size=(n_electrodes, d))
    noise = 0.5 * rng.normal(size=(n_windows, n_electrodes, d))
    x = signature[None] + (z @ mixing)[:, None, :] + noise
    return x.astype(np.float32), lip(n_electrodes, seed)


# ---------------------------------------------------------------------------------------------
# the pairs
# ---------------------------------------------------------------------------------------------


def test_pairs_follow_upstreams_negative_any_task():
    n = [400, 3, 250]
    manifest = pair_manifest(n, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(manifest, pair_manifest(n, seed=1)))  # seeded
    assert not np.array_equal(manifest.label, pair_manifest(n, seed=2).label)
    # one row per window but the last, series by series
    assert np.array_equal(manifest.series, np.repeat([0, 1, 2], [399, 2, 249]))
    assert np.array_equal(manifest.window, np.concatenate([np.arange(k - 1) for k in n]))
    consecutive = manifest.label == 0
    assert np.array_equal(manifest.partner[consecutive], manifest.window[consecutive] + 1)
    sizes = np.array(n)[manifest.series]
    for values in (manifest.partner, manifest.third):
        assert (values >= 0).all() and (values < sizes).all()
    assert 0.43 < consecutive.mean() < 0.57  # a fair coin over 650 rows
    # the random partner is uniform over the series (it may be t or t + 1, as upstream's)
    random = manifest.partner[~consecutive & (manifest.series == 0)]
    assert random.min() < 40 and random.max() > 360
    # "same_channel": the replacements never come from the window they replace
    other = pair_manifest(n, seed=1, replace_from="same_channel")
    assert (other.third != other.window).all() and (other.third < np.array(n)[other.series]).all()
    with pytest.raises(ValueError, match="at least 2"):
        pair_manifest([5, 1], seed=0)
    with pytest.raises(ValueError, match="replace_from"):
        pair_manifest([5], seed=0, replace_from="nearby")


# ---------------------------------------------------------------------------------------------
# the examples
# ---------------------------------------------------------------------------------------------


def check_example(batch, b: int, x: np.ndarray, coords: np.ndarray, manifest, replace_from: str) -> dict:
    """Check example ``b`` against the rules; return its halves and labels."""
    row = int(batch.example[b])
    t, partner, third = manifest.window[row], manifest.partner[row], manifest.third[row]
    valid = ~batch.padding_mask[b].numpy()
    m = int(valid.sum())
    assert valid[:m].all() and not valid[m:].any()  # padding at the end only
    seq = batch.seq_id[b, :m].numpy()
    n1 = int((seq == 0).sum())
    assert (seq[:n1] == 0).all() and (seq[n1:] == 1).all()
    channels = batch.channel[b, :m]
    h1, h2 = channels[:n1], channels[n1:]
    n_electrodes = x.shape[1]
    k = len(h1) + len(h2)
    assert k == n_electrodes or k in CHANNEL_CHOICES  # 10, 20, ..., 100, or every electrode
    assert len(h1) == k // 2  # upstream: half = int(len / 2)
    assert np.all(np.diff(h1) > 0) and np.all(np.diff(h2) > 0)  # each half in electrode order
    assert not set(h1) & set(h2)  # disjoint
    np.testing.assert_array_equal(batch.coords[b, :m].numpy(), coords[channels])
    assert batch.cls_label[b] == manifest.label[row]
    labels = batch.token_label[b, :m].numpy()
    assert set(labels) <= {0, 1, 2} and (batch.token_label[b, m:] == -1).all()
    emb = batch.embeddings[b, :m].numpy()
    window_of = np.where(seq == 0, t, partner)
    replaced = labels == 1
    src_w, src_c = batch.source_window[b, :m], batch.source_channel[b, :m]
    # tokens not replaced (kept-and-scored ones included) are their own electrode's embedding
    np.testing.assert_array_equal(emb[~replaced], x[window_of[~replaced], channels[~replaced]])
    # replaced tokens: the third window, at a random electrode (upstream) or at their own
    assert (src_w[replaced] == third).all()
    np.testing.assert_array_equal(emb[replaced], x[third, src_c[replaced]])
    np.testing.assert_array_equal(emb[:, 0][replaced], np.full(replaced.sum(), third, np.float32))
    if replace_from == "same_channel":
        assert (src_c == channels).all() and third != t
    assert (emb[:, 1][~replaced] == channels[~replaced]).all()
    assert not batch.embeddings[b, m:].any()
    return dict(labels=labels, k=k, n1=len(h1), channels=channels, source=src_c, replaced=replaced)


@pytest.mark.parametrize("replace_from", ["random_channel", "same_channel"])
@pytest.mark.parametrize("n_electrodes", [3, 17, 130])
def test_examples_follow_the_published_rules(replace_from, n_electrodes):
    x = tagged(30, n_electrodes)
    coords = lip(n_electrodes)
    series = [PoptSeries(x, coords, "s")]
    manifest = pair_manifest([30], seed=0, replace_from=replace_from)
    rows = np.arange(len(manifest.window)).repeat(4)
    batch = build_batch(series, manifest, rows, np.random.default_rng(3), replace_from=replace_from)
    assert batch.embeddings.shape[0] == len(rows)
    for b in range(len(rows)):
        check_example(batch, b, x, coords, manifest, replace_from)
    again = build_batch(series, manifest, rows, np.random.default_rng(3), replace_from=replace_from)
    assert torch.equal(batch.embeddings, again.embeddings) and torch.equal(
        batch.token_label, again.token_label
    )


def test_replacement_and_subset_rates():
    """5 % replaced, 5 % of the rest kept and scored; subset sizes uniform over 10..100."""
    n_electrodes = 120
    x = tagged(50, n_electrodes)
    series = [PoptSeries(x, lip(n_electrodes), "s")]
    manifest = pair_manifest([50], seed=0)
    rows = np.arange(len(manifest.window)).repeat(40)  # 1960 examples
    batch = build_batch(series, manifest, rows, np.random.default_rng(0))
    labels = batch.token_label.numpy()
    tokens = labels >= 0
    n = tokens.sum()
    replaced, kept = (labels == 1).sum() / n, (labels == 2).sum() / n
    assert abs(replaced - 0.05) < 0.004 and abs(kept - 0.05 * 0.95) < 0.004
    sizes = (~batch.padding_mask).sum(1).numpy()
    assert set(sizes) == set(CHANNEL_CHOICES)
    counts = np.bincount(sizes // 10, minlength=11)[1:]
    assert counts.min() > 0.07 * len(rows) and counts.max() < 0.13 * len(rows)
    # upstream shuffles the third window's electrodes: a replacement is a random electrode's
    swapped = labels == 1
    same = batch.source_channel[swapped] == batch.channel[swapped]
    assert same.mean() < 0.03  # 1/120 expected


def test_build_batch_refuses_non_finite_embeddings():
    x = tagged(6, 4)
    x[2, 1, 3] = np.nan
    manifest = pair_manifest([6], seed=0)
    with pytest.raises(ValueError, match="NaN"):
        build_batch([PoptSeries(x, lip(4))], manifest, np.arange(5).repeat(5), np.random.default_rng(0))


# ---------------------------------------------------------------------------------------------
# loss, schedule, metrics
# ---------------------------------------------------------------------------------------------


def bce(logit: float, target: float) -> float:
    p = 1 / (1 + math.exp(-logit))
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


def test_loss_against_upstreams_criterion():
    cls_logits = torch.tensor([[0.3], [-1.2], [2.0]])
    cls_label = torch.tensor([1.0, 0.0, 0.0])
    token_logits = torch.tensor([[[0.5], [-0.4], [1.5], [0.0]], [[2.0], [0.1], [-3.0], [9.0]], [[1.0]] * 4])
    token_label = torch.tensor([[0, 1, 2, 0], [1, 0, 2, -1], [0, 0, 0, -1]])
    result = popt_pretrain_loss(cls_logits, token_logits, cls_label, token_label)
    expected_cls = np.mean([bce(0.3, 1), bce(-1.2, 0), bce(2.0, 0)])
    expected_tok = np.mean([bce(-0.4, 1), bce(1.5, 0), bce(2.0, 1), bce(-3.0, 0)])
    assert result.n_tokens == 4
    assert result.cls_loss.item() == pytest.approx(expected_cls, rel=1e-6)
    assert result.token_loss.item() == pytest.approx(expected_tok, rel=1e-6)
    assert result.loss.item() == pytest.approx(expected_cls + expected_tok, rel=1e-6)
    # upstream's expression, term for term
    loss_fn = torch.nn.BCEWithLogitsLoss()
    label = token_label.float()[:, :].flatten()
    out = token_logits.flatten()
    keep = (label == 1) | (label == 2)
    out, label = out[keep], label[keep]
    label[label == 2] = 0
    upstream = loss_fn(cls_logits.squeeze(), cls_label) + loss_fn(out.squeeze(), label)
    assert result.loss.item() == pytest.approx(upstream.item(), rel=1e-6)
    # no scored token: the term is 0 (upstream: NaN), still differentiable
    logits = torch.zeros(3, 4, 1, requires_grad=True)
    none = popt_pretrain_loss(cls_logits, logits, cls_label, torch.zeros(3, 4, dtype=torch.long))
    assert none.n_tokens == 0 and none.token_loss.item() == 0.0
    none.loss.backward()


def test_learning_rate_is_upstreams_ramp_up():
    lr = 5e-4
    assert popt_learning_rate(0, lr=lr, steps=1000, warmup_steps=25) == 0.0
    assert popt_learning_rate(10, lr=lr, steps=1000, warmup_steps=25) == pytest.approx(0.4 * lr)
    assert popt_learning_rate(25, lr=lr, steps=1000, warmup_steps=25) == lr
    # StepLR(step_size=int(975 / 100) = 9): PopT's ramp_up truncates, BrainBERT's does not
    assert popt_learning_rate(34, lr=lr, steps=1000, warmup_steps=25) == lr
    assert popt_learning_rate(35, lr=lr, steps=1000, warmup_steps=25) == pytest.approx(0.99 * lr)
    assert learning_rate(35, lr=lr, steps=1000, warmup_steps=25) == lr
    assert popt_learning_rate(999, lr=lr, steps=1000, warmup_steps=25) == pytest.approx(
        0.99 ** (973 // 9) * lr
    )
    assert popt_learning_rate(6, lr=lr, steps=500) == pytest.approx(0.5 * lr)  # 2.5 % warm-up
    assert popt_learning_rate(60, lr=lr, steps=80, warmup_steps=2) == pytest.approx(
        0.99**57 * lr
    )  # size >= 1
    assert popt_learning_rate(999, lr=lr, steps=1000, schedule="constant") == lr
    with pytest.raises(ValueError, match="schedule"):
        popt_learning_rate(0, lr=lr, steps=10, schedule="cosine")


def test_roc_auc_is_the_mann_whitney_statistic():
    labels = np.array([0, 0, 1, 1, 0, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.4, 0.4])
    pairs = [(p, q) for p in scores[labels == 1] for q in scores[labels == 0]]
    expected = np.mean([1.0 if p > q else 0.5 if p == q else 0.0 for p, q in pairs])
    assert roc_auc(labels, scores) == pytest.approx(expected)
    assert roc_auc([1, 1], [0.2, 0.3]) != roc_auc([1, 1], [0.2, 0.3])  # NaN: one class


def test_validation_is_fixed_by_its_seed():
    x, coords = structured(60, n_electrodes=6, d=8)
    model = PopT(MICRO, seed=0)
    a = popt_validation(model, [(x, coords)], batch_size=16, seed=3, n_samples=100)
    b = popt_validation(model, [(x, coords)], batch_size=16, seed=3, n_samples=100)
    c = popt_validation(model, [(x, coords)], batch_size=16, seed=4, n_samples=100)
    assert a == b and a != c
    assert a["n_examples"] == 100 and a["n_tokens"] > 0
    assert 0.5 <= a["cls_majority"] <= 1 and 0 <= a["cls_auc"] <= 1
    assert model.training  # put back as it was


# ---------------------------------------------------------------------------------------------
# the training loop
# ---------------------------------------------------------------------------------------------


def test_pretraining_learns_both_tasks_on_structured_data():
    """The tiny config on 560 windows of 12 electrodes; held out: 100 later windows."""
    x, coords = structured(700)
    train, val = x[:560], x[600:]
    model = PopT("tiny", seed=0)
    history = pretrain_popt(
        model, [(train, coords)], val=[(val, coords)], val_every=200, val_samples=512, **LEARN
    )
    print("structured: held-out AUC", history["val_cls_auc"], history["val_token_auc"])
    assert history["step"] == list(range(1, 401)) and history["val_step"] == [0, 200, 400]
    loss = np.asarray(history["train_loss"])
    assert loss[-40:].mean() < 0.8 * loss[:40].mean()
    assert history["val_cls_auc"][-1] > 0.65 and history["val_token_auc"][-1] > 0.75
    assert history["val_cls_accuracy"][-1] > history["val_cls_majority"] + 0.05
    assert history["val_token_accuracy"][-1] > history["val_token_majority"] + 0.05
    assert model.training


def run_micro(data, steps, checkpoint=None, **kw):
    model = PopT(MICRO, seed=0)
    options = dict(batch_size=6, lr=1e-3, warmup_steps=4, optimizer="adamw", progress=False, seed=5)
    options.update(kw)
    history = pretrain_popt(model, data, steps=steps, checkpoint=checkpoint, **options)
    return model, history


def micro_data(seed: int = 3):
    return [
        structured(30, n_electrodes=7, d=8, seed=seed),
        structured(25, n_electrodes=12, d=8, seed=seed + 1),
    ]


def test_two_runs_of_ten_steps_equal_one_of_twenty(tmp_path):
    data, val = micro_data(), [structured(12, n_electrodes=5, d=8, seed=9)]
    kw = dict(schedule="constant", val=val, checkpoint_every=10, val_samples=24)
    whole, h_whole = run_micro(data, 20, tmp_path / "whole.pth", **kw)
    run_micro(data, 10, tmp_path / "parts.pth", **kw)
    resumed, h_parts = run_micro(data, 20, tmp_path / "parts.pth", **kw)
    assert_same_weights(whole, resumed)
    assert h_parts == h_whole
    assert h_parts["step"] == list(range(1, 21)) and h_parts["val_step"] == [0, 10, 20]


def test_an_interrupted_run_resumed_equals_an_uninterrupted_one(tmp_path):
    pytest.importorskip("torch_optimizer")
    data = micro_data()
    kw = dict(optimizer="lamb", schedule="official", checkpoint_every=5, lr=1e-3)
    whole, h_whole = run_micro(data, 20, tmp_path / "whole.pth", **kw)
    (x0, c0), rest = data[0], data[1:]
    # each example reads 2 or 3 windows; 6 examples a step: killed during step 13 or so
    cut = [PoptSeries(Interrupting(x0, limit=6 * 12), c0, "cut"), *rest]
    with pytest.raises(Interrupted):
        run_micro(cut, 20, tmp_path / "cut.pth", **kw)
    stopped = read_checkpoint(tmp_path / "cut.pth", kind="PopT")["scheduler"]["step"]
    assert stopped in (5, 10, 15)
    resumed, h_resumed = run_micro(data, 20, tmp_path / "cut.pth", **kw)
    assert_same_weights(whole, resumed)
    assert h_resumed["train_loss"] == h_whole["train_loss"]
    again, h_again = run_micro(data, 20, tmp_path / "cut.pth", **kw)  # finished: nothing to do
    assert_same_weights(whole, again) and h_again == h_resumed


def test_checkpoint_is_in_the_official_layout_and_loads(tmp_path):
    model, _ = run_micro(micro_data(), 6, tmp_path / "ck.pth", checkpoint_every=4)
    checkpoint = read_checkpoint(tmp_path / "ck.pth", kind="PopT")
    assert set(checkpoint) == {"model", "optim", "scheduler", "model_cfg"}
    cfg = checkpoint["model_cfg"]
    assert cfg.name == "pt_model_custom" and cfg.position_encoding == "multi_subj_position_encoding"
    assert cfg.hidden_dim == 16 and cfg.n_layers == 1 and cfg.use_token_cls_head is True
    assert set(checkpoint["optim"]) == {"state", "param_groups"}
    state = checkpoint["scheduler"]
    assert state["name"] == "mmsites.popt_pretrain" and state["step"] == 6
    assert state["run"]["optimizer"] == "adamw" and len(state["history"]["train_loss"]) == 6
    loaded = PopT.from_pretrained(tmp_path / "ck.pth")
    assert loaded.config == MICRO
    assert_same_weights(loaded, model.cpu())


def test_resume_refuses_another_model_and_restarts_when_asked(tmp_path):
    data = micro_data()
    run_micro(data, 4, tmp_path / "ck.pth")
    other = PopT(PopTConfig(input_dim=8, hidden_dim=8, num_layers=1, num_heads=2, ffn_dim=8))
    with pytest.raises(ValueError, match="another model"):
        pretrain_popt(other, data, steps=8, batch_size=4, optimizer="adamw", checkpoint=tmp_path / "ck.pth")
    with pytest.raises(ValueError, match="optimizer 'adamw'"):
        run_micro(data, 8, tmp_path / "ck.pth", optimizer="lamb")
    _, history = run_micro(data, 3, tmp_path / "ck.pth", resume=False)
    assert history["step"] == [1, 2, 3]
    assert read_checkpoint(tmp_path / "ck.pth", kind="PopT")["scheduler"]["step"] == 3


def test_pretrain_checks_its_arguments():
    model = PopT(MICRO)
    good = [structured(6, n_electrodes=3, d=8)]
    x, coords = good[0]
    for kwargs, match in [
        (dict(data=[(x[..., :7], coords)]), "7 wide"),
        (dict(data=[(x[:1], coords)]), "n_windows >= 2"),
        (dict(data=[(x, coords[:2])]), "coords must have shape"),
        (dict(data=[(x, coords - 100)]), r"\[0, 4999\]"),
        (dict(data=[(x, coords + 0.5)]), "whole numbers"),
        (dict(data="x"), "must be a PoptSeries"),
        (dict(steps=0), "steps"),
        (dict(optimizer="sgd"), "optimizer"),
        (dict(replace_from="nearby"), "replace_from"),
        (dict(seed=-1), "seed"),
        (dict(data=[(np.full_like(x, np.nan), coords)]), "NaN"),
    ]:
        args = dict(data=good, steps=2, batch_size=2, optimizer="adamw", progress=False) | kwargs
        with pytest.raises(ValueError, match=match):
            pretrain_popt(model, **args)
    headless = PopT(PopTConfig(input_dim=8, hidden_dim=16, num_layers=1, num_heads=2, token_cls_head=False))
    with pytest.raises(ValueError, match="token_cls_head"):
        pretrain_popt(headless, good, steps=2, progress=False)


def test_distributed_path_with_one_process_equals_the_plain_run(tmp_path):
    assert_one_process_ddp_equals_the_plain_run(run_micro, micro_data(), tmp_path, "PopT")


# ---------------------------------------------------------------------------------------------
# the pipeline command
# ---------------------------------------------------------------------------------------------


def test_windows_and_the_held_out_split():
    starts = popt_window_starts(10_000, 2048, 410, None)
    assert starts[0] == 0 and np.all(np.diff(starts) == 410) and starts[-1] + 2048 <= 10_000
    assert starts[-1] + 410 + 2048 > 10_000
    assert len(popt_window_starts(10_000, 2048, 410, 3)) == 3
    assert len(popt_window_starts(2000, 2048, 410, None)) == 0
    step_s = 0.2
    gap = math.ceil(5.0 / step_s - 1e-9) - 1
    train, val = split_windows(300, 0.1, gap)
    assert (train, val) == (slice(0, 246), slice(270, 300))
    # the last training window ends where the first held-out one starts: no overlap
    assert (val.start - (train.stop - 1)) * step_s == pytest.approx(5.0)
    assert split_windows(300, 0.0, gap) == (slice(0, 300), None)
    with pytest.raises(ValueError, match="pretrain_popt.val_fraction"):
        split_windows(30, 0.2, gap)


def test_left_out_electrodes_are_skipped_when_read():
    """The command leaves out electrodes without finite embeddings by a view, not a copy."""
    from mmsites.pipeline.pretrain import _ElectrodeSubset

    x = tagged(12, 6)
    x[:, 2] = np.nan
    keep = np.array([0, 1, 3, 4, 5])
    view = _ElectrodeSubset(x[2:10], keep)
    assert view.shape == (8, 5, 8)
    np.testing.assert_array_equal(view[3], x[5][keep])
    manifest = pair_manifest([8], seed=0)
    batch = build_batch(
        [PoptSeries(view, lip(5))], manifest, np.arange(7).repeat(3), np.random.default_rng(0)
    )
    assert np.isfinite(batch.embeddings.numpy()).all()
    real = batch.embeddings[..., 1][~batch.padding_mask].numpy()  # the tagged electrode numbers
    assert set(real) <= {0.0, 1.0, 3.0, 4.0, 5.0}


def test_params_defaults_are_the_published_run():
    params = Params()
    pp = params.pretrain_popt
    assert isinstance(pp, PoptPretrainParams)
    assert (pp.config, pp.steps, pp.batch_size, pp.lr, pp.optimizer, pp.clip_norm) == (
        "published",
        500_000,
        256,
        5e-4,
        "lamb",
        1.0,
    )
    assert pp.window_step_s == 0.2 and pp.replace_from == "random_channel"
    assert pp.checkpoint == "work/popt/checkpoint.pth"
    assert params.pretrain.config == "large"  # BrainBERT's section untouched
    assert "popt" in PRETRAINABLE


@pytest.mark.slow
def test_pretrain_popt_command_on_the_demo(tmp_path):
    """The tiny config on a one-subject demo: embeddings, training, held-out check, resume.

    Then what the demo's shared slow state puts in the embeddings the command cached, and a
    tiny PopT pretrained on them learning both tasks on the held-out windows.
    """
    run = dict(
        steps=20,
        batch_size=16,
        lr=1e-3,
        warmup_steps=4,
        max_windows=440,
        val_fraction=0.2,
        checkpoint_every=10,
    )
    brainbert = dict(config="tiny", device="cpu", batch_size=256)
    args = pretrain_on_a_demo(tmp_path, "popt", 90, run, responses=dict(brainbert=brainbert))
    assert main(args) == 0
    out = tmp_path / "work" / "popt"
    history = json.loads((out / "history.json").read_text())
    counts = history["windows"]
    assert counts == {"train": 440 - 88 - 24, "val": 88}  # the last 20 %, after a 24-window gap
    assert history["step"] == list(range(1, 21)) and history["val_step"] == [0, 10, 20]
    for key in ("val_cls_auc", "val_token_auc", "val_cls_accuracy", "val_token_accuracy"):
        assert all(0.0 <= v <= 1.0 for v in history[key])
    (session,) = history["sessions"]
    cache = out / "embeddings" / f"{session['name']}.npy"
    embeddings = np.load(cache, mmap_mode="r")
    assert embeddings.shape == (440, len(session["electrodes"]), 64) and session["n_windows"] == 440
    assert np.isfinite(embeddings).all()
    model = PopT.from_pretrained(out / "checkpoint.pth")
    assert model.config == PopTConfig.preset("tiny")
    # a second call reuses the embeddings and resumes the finished run: nothing to do
    stamp = cache.with_suffix(".json").stat().st_mtime_ns
    assert main(args) == 0
    assert cache.with_suffix(".json").stat().st_mtime_ns == stamp
    assert json.loads((out / "history.json").read_text())["train_loss"] == history["train_loss"]
    print("demo: held-out AUC", history["val_cls_auc"], history["val_token_auc"])

    # What the demo gives PopT to learn: every channel's 8-55 Hz rhythm follows one slow state
    # of the subject (recordings.demo.signals.shared_state_amplitude), so the electrodes'
    # embeddings share a direction that persists from one window (0.2 s) to the next.
    x = np.asarray(embeddings, dtype=np.float64)
    z = (x - x.mean(0)) / (x.std(0) + 1e-9)
    shared = np.linalg.svd(z.mean(1) - z.mean((0, 1)), full_matrices=False)[2][0]
    proj = z @ shared  # (windows, electrodes)
    agree = np.median(
        [np.corrcoef(proj[:, e], np.delete(proj, e, 1).mean(1))[0, 1] for e in range(z.shape[1])]
    )
    lag1 = np.corrcoef(proj.mean(1)[:-1], proj.mean(1)[1:])[0, 1]
    print(
        f"demo: electrode vs others on the shared direction r {agree:.2f}, lag-1 autocorrelation {lag1:.2f}"
    )
    assert agree > 0.5 and lag1 > 0.5

    # Both tasks are learnt from it on the held-out windows (measured: 0.52 -> 0.62 and 0.46 ->
    # 0.60 in 800 steps; with 45 s of demo, 152 training windows, neither rose). The random tiny BrainBERT's
    # embeddings share a large offset that the state's direction hides under: they are
    # standardised per dimension with the training windows' statistics first (without it the
    # training loss stays at 2 ln 2 for 600 steps).
    gap = math.ceil(5.0 / 0.2 - 1e-9) - 1
    train, val = split_windows(len(x), 0.2, gap)
    mean, sd = x[train].mean((0, 1)), x[train].std((0, 1))
    standard = ((x - mean) / sd).astype(np.float32)
    coords = _coords(tmp_path, session["electrodes"])
    learnt = pretrain_popt(
        PopT("tiny", seed=0),
        [(standard[train], coords)],
        val=[(standard[val], coords)],
        steps=800,
        batch_size=32,
        lr=5e-4,
        optimizer="adamw",
        schedule="constant",
        warmup_steps=10,
        val_every=800,
        val_samples=512,
        progress=False,
    )
    print("demo, standardised: held-out AUC", learnt["val_cls_auc"], learnt["val_token_auc"])
    for task in ("cls", "token"):
        before, after = learnt[f"val_{task}_auc"]
        assert after > 0.58 and after > before + 0.04


def _coords(root, electrodes):
    from mmsites.brainmodels import lip_coordinates
    from mmsites.recordings.braintreebank import BrainTreebank

    return lip_coordinates(BrainTreebank(root / "data").localization(1).loc[electrodes])
