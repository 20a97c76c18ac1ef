"""Pretraining BrainBERT (mmsites.brainmodels.pretrain, mmsites pretrain brainbert).

The masking is checked span by span against its rules (hypothesis) and, in distribution,
against a plain re-statement of upstream's per-frame loop (``create_masked_intervals`` and
``fixed_mask_inputs``, czlwang/BrainBERT@beec35d ``util/mask_utils.py``, written out here in
Python's ``random``); the loss against a direct oracle on hand-made tensors; the training loop
by what it must do (the loss falls, the held-out loss ends below the mean-prediction baseline,
an interrupted run resumed equals an uninterrupted one bit for bit, the checkpoint is in the
official layout); the command on a small demo dataset.
"""

from __future__ import annotations

import json
import random

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
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal as sp_signal

from mmsites.brainmodels import BrainBERT, BrainBERTConfig, read_checkpoint
from mmsites.brainmodels.pretrain import (
    _generator,
    bin_means,
    draw_spans,
    learning_rate,
    mask_spectrograms,
    masked_l1_loss,
    masked_validation,
    pretrain,
)
from mmsites.pipeline.cli import STAGES, main
from mmsites.pipeline.pretrain import split_electrodes, stream_windows, window_starts
from mmsites.recordings.preprocessing import design_filter, laplacian

#: A small model for the loop's tests (the ``tiny`` preset is 2 layers x 64).
MICRO = BrainBERTConfig(hidden_dim=16, num_layers=1, num_heads=2, ffn_dim=32)


def smooth_fields(n: int, frames: int = 64, bins: int = 40, seed: int = 0) -> np.ndarray:
    """Spectrogram-like smooth random fields: sums of separable cosines, z-scored per bin."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None] / 64.0
    f = np.arange(bins)[None] / bins
    out = np.zeros((n, frames, bins))
    for _ in range(6):
        a = rng.normal(size=(n, 1, 1))
        wt, wf = rng.uniform(0.5, 3, size=(2, n, 1, 1))
        pt, pf = rng.uniform(0, 2 * np.pi, size=(2, n, 1, 1))
        out += a * np.cos(2 * np.pi * wt * t + pt) * np.cos(2 * np.pi * wf * f + pf)
    out -= out.mean(axis=1, keepdims=True)
    out /= out.std(axis=1, keepdims=True) + 1e-6
    return out.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# masking
# ---------------------------------------------------------------------------------------------


def spans_of(draw, row: int) -> list[tuple[int, int, int, int]]:
    """(start, length, action, source) of each span of one row."""
    starts = torch.nonzero(draw.start[row]).flatten().tolist()
    return [(i, int(draw.length[row, i]), int(draw.action[row, i]), int(draw.source[row, i])) for i in starts]


@settings(max_examples=60, deadline=None)
@given(
    batch=st.integers(1, 6),
    n=st.integers(4, 300),
    lo=st.integers(1, 4),
    extra=st.integers(0, 3),
    p=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32),
)
def test_spans_follow_the_rules(batch, n, lo, extra, p, seed):
    hi = lo + extra
    if n <= hi:
        with pytest.raises(ValueError, match="positions"):
            draw_spans(batch, n, span=(lo, hi), p=p)
        return
    draw = draw_spans(batch, n, span=(lo, hi), p=p, generator=torch.Generator().manual_seed(seed))
    assert draw.start.shape == (batch, n)
    for row in range(batch):
        previous_end = -1
        for start, length, action, source in spans_of(draw, row):
            assert start < n - hi  # upstream's valid starts: range(n - max)
            assert lo <= length <= hi
            assert start > previous_end  # spans never touch
            previous_end = start + length
            assert action in (0, 1, 2)
            if action == 1:
                assert 0 <= source < n - hi
            else:
                assert source == -1
        assert previous_end <= n - 1  # the last position is never masked
    off = ~draw.start
    assert (draw.length[off] == 0).all() and (draw.action[off] == -1).all() and (draw.source[off] == -1).all()
    if p == 0.0:
        assert not draw.start.any()
    if p == 1.0:  # every candidate: each span starts right after the previous one's end
        for row in range(batch):
            spans = spans_of(draw, row)
            assert spans[0][0] == 0
            assert all(b[0] == a[0] + a[1] + 1 for a, b in zip(spans, spans[1:]))


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 4),
    frames=st.integers(6, 80),
    bins=st.integers(3, 40),
    seed=st.integers(0, 2**32),
    bug=st.booleans(),
)
def test_masked_cells_are_what_the_spans_say(batch, frames, bins, seed, bug):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, frames, bins, generator=gen) + 10.0  # no zero in the input
    masked, mask, ts, fs = mask_spectrograms(x, gen, time_p=0.3, freq_p=0.3, upstream_bug=bug)
    for b in range(batch):
        expected = x[b].clone()
        rows = torch.zeros(frames, dtype=torch.bool)
        for start, length, action, source in spans_of(ts, b):
            rows[start : start + length] = True
            if action == 0:
                expected[start : start + length] = 0
            elif action == 1:
                expected[start : start + length] = x[b, source : source + length]
        cols = torch.zeros(bins, dtype=torch.bool)
        for start, length, action, source in spans_of(fs, b):
            cols[start : start + length] = True
            if action == 0:
                expected[:, start : start + length] = 0
            elif action == 1:  # the unmasked content, over every frame
                expected[:, start : start + length] = x[b, :, source : source + length]
        assert torch.equal(masked[b], expected)
        if bug:  # upstream: the bins numbered like the masked frames, no frequency labels
            cols = torch.zeros(bins, dtype=torch.bool)
            k = min(frames, bins)
            cols[:k] = rows[:k]
        assert torch.equal(mask[b], rows[:, None] | cols[None, :])


def test_masking_is_seeded_and_keeps_a_2d_input_2d():
    x = torch.randn(186, 40)
    a = mask_spectrograms(x, torch.Generator().manual_seed(3))
    b = mask_spectrograms(x.numpy(), torch.Generator().manual_seed(3))
    c = mask_spectrograms(x, torch.Generator().manual_seed(4))
    assert a.masked.shape == x.shape and a.mask.shape == x.shape
    assert torch.equal(a.masked, b.masked) and torch.equal(a.mask, b.mask)
    assert not torch.equal(a.mask, c.mask)


def upstream_intervals(n: int, lo: int, hi: int, p: float, rng: random.Random) -> list[tuple[int, int]]:
    """upstream ``create_masked_intervals``, restated."""
    steps = []
    for i in range(n - hi):
        if rng.random() < p and (not steps or steps[-1][1] < i):
            steps.append((i, i + rng.randint(lo, hi)))
    return steps


def test_masking_matches_upstreams_distribution():
    """Frame, bin and cell rates, span lengths and the 80/10/10 split vs upstream's loop."""
    rng = random.Random(0)
    n, frames, bins = 4000, 186, 40
    up_frames = np.zeros(frames)
    up_bins = np.zeros(bins)
    up_lengths, up_dice = [], []
    for _ in range(n):
        t = upstream_intervals(frames, 1, 5, 0.05, rng)
        for a, b in t:
            up_frames[a:b] += 1
            up_lengths.append(b - a)
            up_dice.append(rng.random())
        for a, b in upstream_intervals(bins, 1, 2, 0.05, rng):
            up_bins[a:b] += 1
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, frames, bins, generator=gen)
    masked, mask, ts, fs = mask_spectrograms(x, gen)
    ours_frames = _covered(ts).float().sum(0).numpy()
    ours_bins = _covered(fs).float().sum(0).numpy()
    # per-position masking rates agree (binomial sd of a difference ~0.0075 here)
    np.testing.assert_allclose(ours_frames / n, up_frames / n, atol=0.035)
    np.testing.assert_allclose(ours_bins / n, up_bins / n, atol=0.035)
    assert abs(ours_frames.sum() / (n * frames) - up_frames.sum() / (n * frames)) < 0.004
    lengths = ts.length[ts.start].numpy()
    assert abs(lengths.mean() - np.mean(up_lengths)) < 0.05 and set(lengths) == {1, 2, 3, 4, 5}
    actions = np.concatenate([ts.action[ts.start].numpy(), fs.action[fs.start].numpy()])
    shares = np.bincount(actions, minlength=3) / len(actions)  # zero, swap, keep
    np.testing.assert_allclose(shares, [0.8, 0.1, 0.1], atol=0.01)
    # the loss mask covers the time spans' frames and the frequency spans' bins (~18.6 %)
    assert 0.17 < mask.float().mean() < 0.20


def _covered(draw) -> torch.Tensor:
    covered = torch.zeros_like(draw.start)
    for d in range(int(draw.length.max())):
        rows, starts = torch.nonzero(draw.start & (draw.length > d), as_tuple=True)
        covered[rows, starts + d] = True
    return covered


def test_masking_refuses_too_short_axes():
    with pytest.raises(ValueError, match="time masking needs more than 5"):
        mask_spectrograms(torch.zeros(2, 5, 40))
    with pytest.raises(ValueError, match="frequency masking needs more than 2"):
        mask_spectrograms(torch.zeros(2, 50, 2))
    with pytest.raises(ValueError, match="shape"):
        mask_spectrograms(torch.zeros(50))


# ---------------------------------------------------------------------------------------------
# loss, schedule, baseline
# ---------------------------------------------------------------------------------------------


def test_loss_against_a_direct_oracle():
    target = torch.tensor([[[0.5, -2.0, 1.5], [3.0, 0.0, -0.2]], [[1.0, 1.01, -1.2], [0.0, 0.3, 2.0]]])
    prediction = torch.tensor([[[0.0, -1.0, 1.0], [1.0, 0.5, 0.0]], [[2.0, 0.0, 0.0], [1.0, 1.0, 1.0]]])
    mask = torch.tensor([[[1, 1, 0], [1, 0, 1]], [[1, 1, 1], [0, 0, 1]]], dtype=torch.bool)
    cells = [(b, t, f) for b in range(2) for t in range(2) for f in range(3) if mask[b, t, f]]
    errors = [abs(float(target[c]) - float(prediction[c])) for c in cells]
    content = [e for c, e in zip(cells, errors) if abs(float(target[c])) > 1]
    l1, c_l1 = sum(errors) / len(errors), sum(content) / len(content)
    result = masked_l1_loss(prediction, target, mask)
    assert result.n_masked == 8 and result.n_content == len(content) == 5
    assert result.l1.item() == pytest.approx(l1)
    assert result.content_l1.item() == pytest.approx(c_l1)
    assert result.loss.item() == pytest.approx(l1 + 2 * c_l1)
    # upstream's expression, term for term
    t, p = target.masked_select(mask), prediction.masked_select(mask)
    big = t.abs() > 1
    upstream = torch.mean(torch.abs(t - p)) + 2 * torch.mean(torch.abs(t[big] - p[big]))
    assert result.loss.item() == pytest.approx(upstream.item())


def test_loss_of_empty_sets_is_zero_and_differentiable():
    p = torch.zeros(1, 6, 3, requires_grad=True)
    t = torch.full((1, 6, 3), 0.5)
    out = masked_l1_loss(p, t, torch.ones_like(t, dtype=torch.bool))
    assert out.n_content == 0 and out.content_l1.item() == 0.0 and out.loss.item() == pytest.approx(0.5)
    out.loss.backward()
    none = masked_l1_loss(p, t, torch.zeros_like(t, dtype=torch.bool))
    assert none.loss.item() == 0.0 and none.n_masked == 0
    with pytest.raises(ValueError, match="same shape"):
        masked_l1_loss(p, t[:, :3], torch.ones_like(t, dtype=torch.bool))


def test_learning_rate_schedules():
    lr = 1e-4
    assert learning_rate(0, lr=lr, steps=1000, warmup_steps=25) == 0.0  # upstream's first step
    assert learning_rate(10, lr=lr, steps=1000, warmup_steps=25) == pytest.approx(0.4 * lr)
    assert learning_rate(25, lr=lr, steps=1000, warmup_steps=25) == lr
    # StepLR(step_size=(1000 - 25) / 100 = 9.75, gamma=0.99) after the warm-up
    assert learning_rate(35, lr=lr, steps=1000, warmup_steps=25) == lr
    assert learning_rate(36, lr=lr, steps=1000, warmup_steps=25) == pytest.approx(0.99 * lr)
    assert learning_rate(999, lr=lr, steps=1000, warmup_steps=25) == pytest.approx(0.99**99 * lr)
    assert learning_rate(999, lr=lr, steps=1000, warmup_steps=25, schedule="constant") == lr
    # warmup None: 2.5 % of the steps
    assert learning_rate(6, lr=lr, steps=500, warmup_steps=None) == pytest.approx(0.5 * lr)
    with pytest.raises(ValueError, match="schedule"):
        learning_rate(0, lr=lr, steps=10, schedule="cosine")


def test_baseline_predicts_the_training_mean_of_each_bin():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(30, 20, 40)).astype(np.float32) + np.arange(40, dtype=np.float32)
    means = bin_means(train)
    np.testing.assert_allclose(means, train.mean(axis=(0, 1)), rtol=1e-5)
    np.testing.assert_allclose(bin_means(train, max_windows=2), train[[0, 29]].mean(axis=(0, 1)), rtol=1e-5)
    val = rng.normal(size=(10, 20, 40)).astype(np.float32) + np.arange(40, dtype=np.float32)
    model = BrainBERT(MICRO, seed=0)
    scores = masked_validation(model, val, batch_size=4, seed=1, means=means)
    again = masked_validation(model, val, batch_size=4, seed=1, means=means)
    assert scores == again  # the same masks every time
    # oracle: the same masks, the baseline's error computed directly
    cells, errors = 0, 0.0
    for b, start in enumerate(range(0, 10, 4)):
        x = torch.from_numpy(val[start : start + 4])
        _, mask, *_ = mask_spectrograms(x, _generator(1, 3, b))
        errors += float((x - torch.from_numpy(means)).abs()[mask].double().sum())
        cells += int(mask.sum())
    assert scores["baseline_l1"] == pytest.approx(errors / cells) and scores["n_masked"] == cells


# ---------------------------------------------------------------------------------------------
# the training loop
# ---------------------------------------------------------------------------------------------


def test_pretraining_learns_structured_spectrograms():
    """Fast variant: smooth random fields (64 frames), the tiny config, 160 steps."""
    train, val = smooth_fields(512, seed=1), smooth_fields(64, seed=2)
    model = BrainBERT("tiny", seed=0)
    history = pretrain(
        model,
        train,
        steps=160,
        batch_size=16,
        lr=3e-3,
        warmup_steps=16,
        optimizer="adamw",
        schedule="constant",
        val_windows=val,
        val_every=80,
        progress=False,
    )
    loss = np.asarray(history["train_loss"])
    assert len(loss) == 160 and history["step"] == list(range(1, 161))
    assert loss[-20:].mean() < 0.8 * loss[:20].mean()
    assert history["val_step"] == [0, 80, 160]
    assert history["val_l1"][-1] < history["val_baseline_l1"]
    assert history["val_loss"][-1] < history["val_baseline_loss"]
    assert model.training


def run_micro(windows, steps, checkpoint=None, **kw):
    model = BrainBERT(MICRO, seed=0, preprocessor="stft")
    options = dict(batch_size=4, lr=1e-3, warmup_steps=4, optimizer="adamw", progress=False, seed=5)
    options.update(kw)
    history = pretrain(model, windows, steps=steps, checkpoint=checkpoint, **options)
    return model, history


def test_two_runs_of_ten_steps_equal_one_of_twenty(tmp_path):
    windows = smooth_fields(24, frames=32, seed=3)
    val = smooth_fields(6, frames=32, seed=4)
    kw = dict(schedule="constant", val_windows=val, checkpoint_every=10)
    whole, h_whole = run_micro(windows, 20, tmp_path / "whole.pth", **kw)
    run_micro(windows, 10, tmp_path / "parts.pth", **kw)
    resumed, h_parts = run_micro(windows, 20, tmp_path / "parts.pth", **kw)
    assert_same_weights(whole, resumed)
    assert h_parts == h_whole  # losses of every step, evaluations at 0, 10, 20
    assert h_parts["step"] == list(range(1, 21)) and h_parts["val_step"] == [0, 10, 20]


def test_an_interrupted_run_resumed_equals_an_uninterrupted_one(tmp_path):
    pytest.importorskip("torch_optimizer")
    windows = smooth_fields(24, frames=32, seed=3)
    kw = dict(optimizer="lamb", schedule="official", checkpoint_every=5, lr=1e-3)
    whole, h_whole = run_micro(windows, 20, tmp_path / "whole.pth", **kw)
    with pytest.raises(Interrupted):  # killed while reading step 13's batch (4 windows a step)
        run_micro(Interrupting(windows, limit=4 * 13 + 2), 20, tmp_path / "cut.pth", **kw)
    assert read_checkpoint(tmp_path / "cut.pth")["scheduler"]["step"] == 10
    resumed, h_resumed = run_micro(windows, 20, tmp_path / "cut.pth", **kw)
    assert_same_weights(whole, resumed)
    assert h_resumed["train_loss"] == h_whole["train_loss"]
    # a finished run resumed does nothing
    again, h_again = run_micro(windows, 20, tmp_path / "cut.pth", **kw)
    assert_same_weights(whole, again) and h_again == h_resumed


def test_checkpoint_is_in_the_official_layout(tmp_path):
    windows = smooth_fields(12, frames=32, seed=3)
    model, _ = run_micro(windows, 6, tmp_path / "ck.pth", checkpoint_every=4)
    checkpoint = read_checkpoint(tmp_path / "ck.pth")
    assert set(checkpoint) == {"model", "optim", "scheduler", "model_cfg"}
    assert checkpoint["model_cfg"].name == "masked_tf_model"
    assert checkpoint["model_cfg"].hidden_dim == 16 and checkpoint["model_cfg"].encoder_num_layers == 1
    assert set(checkpoint["optim"]) == {"state", "param_groups"}
    state = checkpoint["scheduler"]
    assert state["name"] == "mmsites.pretrain" and state["step"] == 6
    assert state["run"]["optimizer"] == "adamw" and len(state["history"]["train_loss"]) == 6
    loaded = BrainBERT.from_pretrained(tmp_path / "ck.pth")
    assert loaded.preprocessor == "stft"
    assert_same_weights(loaded, model.cpu())


def test_resume_refuses_another_model_and_restarts_when_asked(tmp_path, caplog):
    windows = smooth_fields(12, frames=32, seed=3)
    run_micro(windows, 4, tmp_path / "ck.pth")
    other = BrainBERT(BrainBERTConfig(hidden_dim=8, num_layers=1, num_heads=2, ffn_dim=8))
    with pytest.raises(ValueError, match="another model"):
        pretrain(other, windows, steps=8, batch_size=4, optimizer="adamw", checkpoint=tmp_path / "ck.pth")
    with pytest.raises(ValueError, match="optimizer 'adamw'"):
        run_micro(windows, 8, tmp_path / "ck.pth", optimizer="lamb")
    _, history = run_micro(windows, 3, tmp_path / "ck.pth", resume=False)
    assert history["step"] == [1, 2, 3] and read_checkpoint(tmp_path / "ck.pth")["scheduler"]["step"] == 3


def test_pretrain_checks_its_arguments():
    model = BrainBERT(MICRO)
    good = smooth_fields(4, frames=32)
    for kwargs, match in [
        (dict(windows=np.zeros((4, 32, 39), np.float32)), "shape"),
        (dict(windows=np.zeros((4, 5, 40), np.float32)), "frames"),
        (dict(steps=0), "steps"),
        (dict(optimizer="sgd"), "optimizer"),
        (dict(seed=-1), "seed"),
        (dict(windows=np.full((4, 32, 40), np.nan, np.float32)), "NaN"),
    ]:
        args = dict(windows=good, steps=2, batch_size=2, optimizer="adamw", progress=False) | kwargs
        with pytest.raises(ValueError, match=match):
            pretrain(model, **args)


def test_distributed_path_with_one_process_equals_the_plain_run(tmp_path):
    windows = smooth_fields(16, frames=32, seed=3)
    assert_one_process_ddp_equals_the_plain_run(run_micro, windows, tmp_path, "BrainBERT")


# ---------------------------------------------------------------------------------------------
# the pipeline command
# ---------------------------------------------------------------------------------------------


class FakeRecording:
    """What stream_windows reads of a Recording."""

    def __init__(self, data: np.ndarray, labels: list[str]):
        self.data, self.labels = data, labels
        self.n_samples = data.shape[1]

    def channel_index(self, label):
        return self.labels.index(label)

    def read(self, channels, start, stop):
        return self.data[list(channels), start:stop].astype(np.float32)


@pytest.mark.parametrize("per_electrode", [None, 7])
def test_streamed_windows_equal_the_whole_signal_filtered_at_once(per_electrode):
    rng = np.random.default_rng(0)
    sfreq, n, window = 512.0, 9000, 1000
    labels = ["A1", "A2", "A3", "A4", "B1", "B2", "B3"]
    data = rng.normal(scale=50, size=(len(labels), n)).astype(np.float32)
    electrodes = ["A2", "A3", "B2"]
    neighbours = {"A2": ("A1", "A3"), "A3": ("A2", "A4"), "B2": ("B1", "B3")}
    starts = [window_starts(n, window, per_electrode, (0, 1, 0, e)) for e in range(3)]
    sos = design_filter(sfreq, [60.0, 120.0], 30.0, 0.5)
    got = {}
    recording = FakeRecording(data, labels)
    stream = stream_windows(
        recording, electrodes, neighbours, starts, window, rereference="laplacian", sos=sos, chunk=700
    )
    for rows, signals in stream:
        for (e, k), x in zip(rows, signals):
            got[(e, k)] = x
    idx = [labels.index(x) for x in electrodes]
    lo = [labels.index(neighbours[x][0]) for x in electrodes]
    hi = [labels.index(neighbours[x][1]) for x in electrodes]
    whole = sp_signal.sosfilt(sos, laplacian(data, idx, lo, hi), axis=1)
    expected = {(e, k): whole[e, s : s + window] for e in range(3) for k, s in enumerate(starts[e])}
    assert got.keys() == expected.keys()
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], atol=1e-3, rtol=1e-4)
    if per_electrode is None:
        assert [len(s) for s in starts] == [9, 9, 9] and starts[0][-1] == 8000
    else:
        assert all(len(s) == 7 and s.max() <= n - window for s in starts)


def test_held_out_electrodes():
    pairs = [(1, f"A{i}") for i in range(10)] + [(2, f"B{i}") for i in range(10)]
    held = split_electrodes(pairs, 0.2, seed=0)
    assert len(held) == 4 and held <= set(pairs) and held == split_electrodes(pairs, 0.2, seed=0)
    assert split_electrodes(pairs, 0.0, seed=0) == set()
    assert len(split_electrodes(pairs, 0.01, seed=0)) == 1
    with pytest.raises(ValueError, match="pretrain.val_fraction"):
        split_electrodes(pairs[:2], 0.9, seed=0)


def test_pretrain_is_a_command_not_a_stage(tmp_path):
    assert "pretrain" not in STAGES
    with pytest.raises(SystemExit):
        main(["pretrain", "gpt2", "--params", str(tmp_path / "p.yaml")])


@pytest.mark.slow
def test_pretrain_command_on_the_demo(tmp_path):
    """The tiny config on a 60-s, one-subject demo: windows, training, held-out check, resume."""
    run = dict(steps=300, batch_size=8, lr=2e-3, warmup_steps=30, val_fraction=0.2, checkpoint_every=100)
    args = pretrain_on_a_demo(tmp_path, "brainbert", 60, run)
    assert main(args) == 0
    out = tmp_path / "work" / "brainbert"
    history = json.loads((out / "history.json").read_text())
    counts = history["windows"]
    assert counts["train"] > 0 and counts["val"] > 0
    train = np.load(out / "windows_train.npy", mmap_mode="r")
    assert train.shape == (counts["train"], 186, 40)
    loss = np.asarray(history["train_loss"])
    print(f"demo: first-20 {loss[:20].mean():.3f} last-20 {loss[-20:].mean():.3f}")
    print("demo: held-out", history["val_step"], history["val_loss"], history["val_baseline_loss"])
    assert loss[-20:].mean() < 0.9 * loss[:20].mean()
    assert history["val_loss"][-1] < history["val_baseline_loss"]
    model = BrainBERT.from_pretrained(out / "checkpoint.pth")
    assert model.config == BrainBERTConfig.preset("tiny") and model.preprocessor == "stft"
    # a second call reuses the windows and resumes the finished run: nothing to do
    stamp = (out / "windows.json").stat().st_mtime_ns
    assert main(args) == 0
    assert (out / "windows.json").stat().st_mtime_ns == stamp
    assert json.loads((out / "history.json").read_text())["train_loss"] == history["train_loss"]
