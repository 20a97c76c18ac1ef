"""Guidance (mmsites.guidance): hooks, the loss, guided training, resumption, data, experiments, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from mmsites.guidance import (
    DigitsCNN,
    DigitsFCN,
    LayerRecorder,
    SequenceRNN,
    TinyTransformer,
    copy_paste_data,
    digits_data,
    epoch_batches,
    evaluate,
    fingerprint,
    guided_train,
    layer_activations,
    layer_pairs,
    noise_like,
    pair_distances,
    parity_data,
    read_checkpoint,
)
from mmsites.guidance.data import IGNORE, PARITY_PAD, copy_paste_vocab
from mmsites.guidance.experiments import digits_experiment, run_experiments
from mmsites.similarity import layer_map, linear_cka


def _seeded(seed, build):
    torch.manual_seed(seed)
    return build()


@pytest.fixture(scope="module")
def digits():
    return digits_data(160, seed=0)


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _strip(history):
    out = json.loads(json.dumps(history))
    out.pop("seconds")
    out["settings"].pop("epochs")
    return out


# ------------------------------------------------------------------------------------------
# hooks
# ------------------------------------------------------------------------------------------


def test_recorder_records_layers_in_order_flattened_and_drops_the_head():
    cnn = _seeded(0, DigitsCNN)
    out, maps = layer_activations(cnn, torch.rand(5, 8, 8))
    assert out.shape == (5, 10)
    assert [name for name, _ in maps] == [
        "Conv2d_0",
        "Conv2d_1",
        "MaxPool2d_2",
        "Conv2d_3",
        "AdaptiveAvgPool2d_4",
    ]
    assert [tuple(a.shape) for _, a in maps] == [(5, 1024), (5, 2048), (5, 512), (5, 512), (5, 32)]
    # the hooks are gone afterwards
    assert not any(m._forward_hooks for m in cnn.modules())
    fcn = DigitsFCN(hidden=8, depth=2)
    _, maps = layer_activations(fcn, torch.rand(3, 64), drop_last=False)
    assert [name for name, _ in maps] == ["Linear_0", "Linear_1", "Linear_2"]


def test_recorder_keeps_the_rnn_output_sequence_and_the_attention_output():
    rnn = SequenceRNN(vocab=3, classes=2, hidden=6, layers=2)
    _, maps = layer_activations(rnn, torch.randint(0, 3, (4, 7)))
    assert [name for name, _ in maps] == ["RNN_0-1", "RNN_1-1"]  # the final states h_n are dropped
    assert all(a.shape == (4, 7 * 6) for _, a in maps)
    tf = TinyTransformer(vocab=3, classes=2, width=8, layers=2, heads=2, max_length=7)
    _, maps = layer_activations(tf, torch.randint(0, 3, (4, 7)))
    names = [name for name, _ in maps]
    assert len(names) == 5 * 2 + 1
    assert names[:5] == ["LayerNorm_0", "MultiheadAttention_1-1", "LayerNorm_2", "Linear_3", "Linear_4"]
    assert names[-1] == "LayerNorm_10"


def test_recorder_puts_the_examples_first():
    """A sequence-first module's output (length, n, h) is recorded as (n, length * h)."""

    class TimeFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.RNN(2, 3)  # batch_first=False
            self.head = nn.Linear(3, 1)

        def forward(self, x):
            h, _ = self.rnn(x.transpose(0, 1))
            return self.head(h[-1])

    model = TimeFirst()
    x = torch.randn(4, 6, 2)
    _, maps = layer_activations(model, x)
    ((name, acts),) = maps
    expected, _ = model.rnn(x.transpose(0, 1))
    assert name == "RNN_0-1" and acts.shape == (4, 18)
    torch.testing.assert_close(acts, expected.transpose(0, 1).reshape(4, -1))


def test_recorder_keeps_the_graph():
    fcn = DigitsFCN(hidden=4, depth=1)
    with LayerRecorder(fcn) as rec:
        fcn(torch.rand(3, 64))
    ((_, acts),) = rec.activations()
    acts.sum().backward()
    assert fcn.hidden[0].weight.grad is not None


# ------------------------------------------------------------------------------------------
# the loss
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("g, t", [(5, 3), (3, 5), (1, 4), (4, 1), (11, 2)])
def test_layer_pairs_follow_the_published_mapping(g, t):
    pairs = layer_pairs([f"g{i}" for i in range(g)], [f"t{j}" for j in range(t)])
    assert [j for _, j, _ in pairs] == layer_map(g, t)
    assert [j for _, j, _ in pairs] == [
        min(round(i * ((t - 1) / (g - 1) if g > 1 else 1)), t - 1) for i in range(g)
    ]
    assert pairs[0][2] == "g0 -> t0"
    with pytest.raises(ValueError, match="recorded layers"):
        layer_pairs([], ["t0"])


def test_pair_distances_are_one_minus_cka_and_rsa_and_differentiable():
    rng = torch.Generator().manual_seed(0)
    g = [torch.randn(20, 7, generator=rng), torch.randn(20, 3, generator=rng)]
    t = [torch.randn(20, 5, generator=rng, requires_grad=True)]
    pairs = layer_pairs(["a", "b"], ["x"])
    d = pair_distances(g, t, pairs, "cka")
    assert d.requires_grad
    for k in range(2):
        assert float(d[k].detach()) == pytest.approx(1 - float(linear_cka(t[0].detach(), g[k])), abs=1e-6)
        # the definition, written out: centred Grams
        a = t[0].detach() - t[0].detach().mean(0)
        b = g[k] - g[k].mean(0)
        K, L = a @ a.T, b @ b.T
        assert float(d[k].detach()) == pytest.approx(
            1 - float((K * L).sum() / (K.norm() * L.norm())), abs=1e-5
        )
    d.sum().backward()
    assert t[0].grad is not None and torch.isfinite(t[0].grad).all()
    # RSA: 1 - Pearson r of the full cosine-similarity matrices
    r = pair_distances(g, [t[0].detach()], pairs, "rsa")
    for k in range(2):
        s1 = nn.functional.normalize(t[0].detach(), dim=1)
        s2 = nn.functional.normalize(g[k], dim=1)
        m1, m2 = (s1 @ s1.T).flatten(), (s2 @ s2.T).flatten()
        rho = np.corrcoef(m1.numpy(), m2.numpy())[0, 1]
        assert float(r[k]) == pytest.approx(1 - rho, abs=1e-5)
    assert float(pair_distances([t[0].detach()], [t[0].detach()], [(0, 0, "")], "cka")[0]) == pytest.approx(
        0, abs=1e-6
    )
    with pytest.raises(ValueError, match="distance"):
        pair_distances(g, t, pairs, "cca")


# ------------------------------------------------------------------------------------------
# guided training
# ------------------------------------------------------------------------------------------


def test_alpha_zero_is_plain_training_step_for_step(digits):
    """alpha=0 with a guide == no guide == a hand-written Adam loop over the same batches."""
    train, test = digits
    guide = _seeded(1, DigitsCNN)
    init = _weights(_seeded(2, lambda: DigitsFCN(hidden=32, depth=2)))
    runs = {}
    for name, kwargs in {"alpha0": {"guide": guide, "alpha": 0.0}, "plain": {}}.items():
        model = DigitsFCN(hidden=32, depth=2)
        model.load_state_dict(init)
        losses = []
        h = guided_train(
            model,
            train,
            test,
            epochs=2,
            batch_size=32,
            seed=5,
            log_every=0,
            callback=lambda k, rec, losses=losses, model=model: losses.append(_weights(model)),
            **kwargs,
        )
        runs[name] = (h, losses)
    (h0, w0), (hp, wp) = runs["alpha0"], runs["plain"]
    assert h0["steps"]["task_loss"] == hp["steps"]["task_loss"]
    assert len(w0) == len(wp) == 2 * (160 // 32)
    assert all(_same_weights(a, b) for a, b in zip(w0, wp))
    assert all(v is not None for v in h0["steps"]["guidance_loss"])  # measured, not used
    assert all(v is None for v in hp["steps"]["guidance_loss"])
    # the same updates by hand
    model = DigitsFCN(hidden=32, depth=2)
    model.load_state_dict(init)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    X, y = torch.from_numpy(train[0]), torch.from_numpy(train[1])
    step = 0
    for epoch in range(2):
        for idx in epoch_batches(160, 32, seed=5, epoch=epoch):
            model.train()
            loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            assert _same_weights(_weights(model), wp[step])
            step += 1


def test_guidance_changes_the_updates_and_raises_the_cka(digits):
    train, test = digits
    guide = _seeded(1, DigitsCNN)
    init = _weights(_seeded(2, lambda: DigitsFCN(hidden=32, depth=2)))
    hist, final = {}, {}
    for alpha in (0.0, 1.0):
        model = DigitsFCN(hidden=32, depth=2)
        model.load_state_dict(init)
        hist[alpha] = guided_train(
            model, train, test, guide=guide, alpha=alpha, epochs=4, batch_size=32, log_every=0
        )
        final[alpha] = _weights(model)
    assert not _same_weights(final[0.0], final[1.0])
    g = hist[1.0]
    assert g["pairs"] == [
        "Conv2d_0 -> Linear_0",
        "Conv2d_1 -> Linear_0",
        "MaxPool2d_2 -> Linear_0",  # round(0.5) == 0, as in the guidance code
        "Conv2d_3 -> Linear_1",
        "AdaptiveAvgPool2d_4 -> Linear_1",
    ]
    d = np.array(g["steps"]["distances"])
    assert d.shape == (4 * 5, 5)
    assert d[-5:].mean() < d[:5].mean() - 0.05  # the minibatch 1 - CKA falls
    cka = np.array(g["epochs"]["layer_cka"])  # on held-out examples, every pair
    assert cka.shape == (5, 5)
    assert (cka[-1] > cka[0]).all()
    assert cka[-1].mean() > np.mean(hist[0.0]["epochs"]["layer_cka"][-1]) + 0.05
    assert g["epochs"]["epoch"] == [0, 1, 2, 3, 4]
    e = g["epochs"]
    assert e["gap"][-1] == pytest.approx(e["train_accuracy"][-1] - e["test_accuracy"][-1])


def test_guidance_steps_and_noise(digits):
    train, _ = digits
    guide = _seeded(1, DigitsCNN)
    init = _weights(_seeded(2, lambda: DigitsFCN(hidden=16, depth=1)))

    def run(**kw):
        model = DigitsFCN(hidden=16, depth=1)
        model.load_state_dict(init)
        return guided_train(model, train, guide=guide, epochs=1, batch_size=32, log_every=0, **kw)

    early = run(guidance_steps=2)
    assert [v is not None for v in early["steps"]["guidance_loss"]] == [True, True, False, False, False]
    real, noise = run(), run(guide_noise=True)
    assert real["steps"]["distances"][0] != noise["steps"]["distances"][0]
    assert run(guide_noise=True)["steps"]["distances"] == noise["steps"]["distances"]  # seeded per step
    rsa = run(distance="rsa")
    assert rsa["steps"]["distances"][0] != real["steps"]["distances"][0]


def _sequence_run(tmp_path, epochs, **kw):
    """A guided run with dropout in the target and noise for the guide: every seeded stream."""
    train = parity_data(96, max_length=6, seed=0)
    target = _seeded(
        3,
        lambda: TinyTransformer(3, 2, width=8, layers=1, heads=2, max_length=6, pad=PARITY_PAD, dropout=0.2),
    )
    guide = _seeded(4, lambda: SequenceRNN(3, 2, hidden=8, layers=2, pad=PARITY_PAD))
    h = guided_train(
        target,
        train,
        guide=guide,
        guide_noise=True,
        epochs=epochs,
        batch_size=16,
        seed=7,
        checkpoint=tmp_path / "run.pt",
        log_every=0,
        **kw,
    )
    return h, _weights(target)


def test_resume_is_bit_exact(tmp_path):
    straight, w_straight = _sequence_run(tmp_path / "a", epochs=3)
    _sequence_run(tmp_path / "b", epochs=1)
    resumed, w_resumed = _sequence_run(tmp_path / "b", epochs=3)
    assert _same_weights(w_straight, w_resumed)
    assert _strip(straight) == _strip(resumed)

    class Interrupt(Exception):
        pass

    def stop(step, record):
        if step == 8:
            raise Interrupt

    with pytest.raises(Interrupt):
        _sequence_run(tmp_path / "c", epochs=3, checkpoint_every=4, callback=stop)
    assert read_checkpoint(tmp_path / "c" / "run.pt")["step"] == 8
    again, w_again = _sequence_run(tmp_path / "c", epochs=3, checkpoint_every=4)
    assert _same_weights(w_straight, w_again)
    assert _strip(straight) == _strip(again)
    assert not list((tmp_path / "c").glob("*.tmp"))  # atomic writes leave no temporary file


def test_resume_refuses_another_run_and_can_start_over(tmp_path):
    _sequence_run(tmp_path, epochs=1)
    with pytest.raises(ValueError, match=r"another run \(alpha: 1.0 there, 0.5 now"):
        _sequence_run(tmp_path, epochs=1, alpha=0.5)
    h, _ = _sequence_run(tmp_path, epochs=1, alpha=0.5, resume=False)
    assert read_checkpoint(tmp_path / "run.pt")["settings"]["alpha"] == 0.5
    assert h["settings"]["guide_fingerprint"] == fingerprint(
        _seeded(4, lambda: SequenceRNN(3, 2, hidden=8, layers=2, pad=PARITY_PAD))
    )
    torch.save({"model": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a guidance checkpoint"):
        read_checkpoint(tmp_path / "other.pt")


def test_checkpoint_loads_with_weights_only(tmp_path):
    _sequence_run(tmp_path, epochs=1)
    payload = torch.load(tmp_path / "run.pt", weights_only=True)
    assert payload["format"] == "mmsites.guidance/1" and payload["step"] == 96 // 16
    assert json.loads(json.dumps(payload["history"]))["steps"]["step"] == list(range(6))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"alpha": -1.0}, "alpha"),
        ({"distance": "cca"}, "distance"),
        ({"batch_size": 1}, "batch_size"),
        ({"batch_size": 1000}, "batch_size"),
        ({"optimizer": "lamb"}, "optimizer"),
        ({"guidance_steps": -2}, "guidance_steps"),
        ({"epochs": 0}, "epochs"),
    ],
)
def test_bad_arguments_are_refused(digits, kwargs, match):
    with pytest.raises(ValueError, match=match):
        guided_train(DigitsFCN(hidden=4, depth=1), digits[0], **kwargs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_run(digits):
    train, test = digits
    h = guided_train(
        DigitsFCN(),
        train,
        test,
        guide=DigitsCNN(),
        epochs=2,
        batch_size=32,
        device="cuda",
        bf16=True,
        log_every=0,
    )
    assert all(np.isfinite(h["steps"]["task_loss"])) and h["settings"]["device"].startswith("cuda")


# ------------------------------------------------------------------------------------------
# models and data
# ------------------------------------------------------------------------------------------


def test_sequence_models_read_only_the_real_tokens():
    tokens = torch.tensor([[1, 0, 1, PARITY_PAD, PARITY_PAD], [0, 1, 1, 1, 0]])
    longer = torch.cat([tokens, torch.full((2, 3), PARITY_PAD)], 1)
    longer[1, 5:] = torch.tensor([1, 1, 1])  # row 1 is now 8 tokens long
    rnn = SequenceRNN(3, 2, hidden=8, pad=PARITY_PAD).eval()
    tf = TinyTransformer(3, 2, width=8, heads=2, max_length=8, pad=PARITY_PAD).eval()
    for model in (rnn, tf):
        torch.testing.assert_close(model(tokens)[0], model(longer)[0])  # padding changes nothing
    causal = TinyTransformer(5, 5, width=8, heads=2, max_length=6, pool="none", causal=True).eval()
    a = torch.tensor([[1, 2, 3, 4, 1, 2]])
    b = a.clone()
    b[0, 4:] = 0
    torch.testing.assert_close(causal(a)[0, :4], causal(b)[0, :4])  # no peeking at the future
    assert causal(a).shape == (1, 6, 5)


def test_data_sets():
    (Xtr, ytr), (Xte, yte) = digits_data(500, seed=1)
    assert Xtr.shape == (500, 8, 8) and Xte.shape == (1297, 8, 8) and Xtr.dtype == np.float32
    assert 0 <= Xtr.min() and Xtr.max() <= 1 and set(ytr) == set(range(10))
    tokens, labels = parity_data(200, max_length=9, min_length=2, seed=0)
    bits = np.where(tokens == PARITY_PAD, 0, tokens)
    assert np.array_equal(labels, bits.sum(1) % 2)
    lengths = (tokens != PARITY_PAD).sum(1)
    assert lengths.min() >= 2 and lengths.max() <= 9
    assert all((row[n:] == PARITY_PAD).all() for row, n in zip(tokens, lengths))
    tokens, labels = copy_paste_data(50, 3, 6, symbols=4, seed=0)
    assert tokens.shape == labels.shape == (50, 14) and copy_paste_vocab(4) == 7
    for row, lab in zip(tokens, labels):
        L = int(np.argmax(row == 5))  # the copy token
        assert (row[L + 1 : 2 * L + 1] == 0).all() and row[2 * L + 1] == 6
        assert np.array_equal(lab[L + 1 : 2 * L + 1], row[:L]) and lab[2 * L + 1] == 6
        assert (lab[: L + 1] == IGNORE).all() and (lab[2 * L + 2 :] == IGNORE).all()
    g = torch.Generator().manual_seed(0)
    img = noise_like(torch.zeros(4, 8, 8), g)
    assert img.shape == (4, 8, 8) and 0 <= img.min() and img.max() <= 1 and img.std() > 0.1
    tok = noise_like(torch.tensor([[0, 1, 2], [2, 2, 2]]), g)
    assert tok.dtype == torch.int64 and set(tok.flatten().tolist()) <= {0, 1, 2}


def test_evaluate_scores_only_labelled_positions():
    class Fixed(nn.Module):
        def forward(self, x):
            return nn.functional.one_hot(x, 3).float() * 10  # predicts its input token

    x = torch.tensor([[0, 1, 2], [2, 1, 0]])
    y = torch.tensor([[0, IGNORE, 1], [2, 1, IGNORE]])
    loss, acc = evaluate(Fixed(), x, y)
    assert acc == pytest.approx(3 / 4)


# ------------------------------------------------------------------------------------------
# experiments and the command
# ------------------------------------------------------------------------------------------


def _tiny_settings():
    return {
        "experiments": ["digits", "parity"],
        "seeds": [0],
        "device": "cpu",
        "bf16": False,
        "resume": True,
        "checkpoint_every": None,
        "digits": {
            "n_train": 64,
            "epochs": 1,
            "batch_size": 32,
            "hidden": 16,
            "depth": 2,
            "channels": 4,
            "guide_epochs": 1,
            "trained_guide": True,
            "alpha": 2.0,
        },
        "parity": {
            "n_train": 64,
            "n_test": 32,
            "max_length": 5,
            "epochs": 1,
            "batch_size": 32,
            "rnn_hidden": 8,
            "tf_width": 8,
            "guide_epochs": 1,
            "tf_heads": 2,
        },
    }


def test_run_experiments_returns_results_and_resumes(tmp_path):
    results = run_experiments(_tiny_settings(), tmp_path)
    assert set(results) == {"digits", "parity"}
    for name in ("digits", "parity"):
        assert set(results[name]["histories"]) == {"seed0/unguided", "seed0/guided"}
        assert {r["arm"] for r in results[name]["runs"]} == {"unguided", "guided"}
        assert set(results[name]["summary"]["guided"]) >= {"gap", "test_accuracy"}
        for f in ("guide.pt", "unguided.pt", "guided.pt"):
            assert (tmp_path / name / "seed0" / f).exists()
    # the library writes nothing but its checkpoints
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits", "parity"]
    assert not list(tmp_path.rglob("*.json")) and not list(tmp_path.rglob("*.png"))
    # a second call resumes every finished run: same numbers
    again = run_experiments(_tiny_settings() | {"experiments": ["parity"]}, tmp_path)
    assert again["parity"]["runs"][0]["test_accuracy"] == results["parity"]["runs"][0]["test_accuracy"]
    with pytest.raises(ValueError, match="unknown guidance experiments"):
        run_experiments(_tiny_settings() | {"experiments": ["mnist"]}, tmp_path)


def test_curves_and_page_from_results(tmp_path):
    from mmsites.reports import figure_to_png
    from mmsites.reports.guidance import plot_curves, render_guidance, summary_table

    results = run_experiments(_tiny_settings() | {"experiments": ["digits"]})
    result = results["digits"]
    fig = plot_curves(result)
    assert len(fig.axes) == 5  # task loss, guidance distance, test accuracy, gap, CKA
    png = figure_to_png(fig)
    table = summary_table(result)
    assert "overfitting gap (train − test accuracy)" in set(table["measure"])
    page = render_guidance({"digits": {k: v for k, v in result.items() if k != "histories"}}, {"digits": png})
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64" in page
    assert 'id="digits"' in page and "Settings" in page


def test_mmsites_guide_command(tmp_path):
    import yaml

    from mmsites.pipeline.cli import main

    section = _tiny_settings()
    section.pop("device")
    section["experiments"] = ["parity"]
    section["out_dir"] = "out"
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"guide": section}))
    assert main(["guide", "--params", str(tmp_path / "p.yaml"), "--workdir", str(tmp_path)]) == 0
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"parity"} and "histories" not in summary["parity"]
    assert (out / "parity" / "curves.png").stat().st_size > 1000
    histories = json.loads((out / "parity" / "history.json").read_text())
    assert set(histories) == {"seed0/unguided", "seed0/guided"}
    page = (out / "index.html").read_text()
    assert 'id="parity"' in page and "data:image/png;base64" in page
    assert not list(out.rglob(".*.tmp-*"))  # atomic writes leave no temporary behind
    # another experiment later: both on record and on the page
    section["experiments"] = ["digits"]
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"guide": section}))
    assert main(["guide", "--params", str(tmp_path / "p.yaml"), "--workdir", str(tmp_path)]) == 0
    assert set(json.loads((out / "summary.json").read_text())) == {"parity", "digits"}
    page = (out / "index.html").read_text()
    assert 'id="parity"' in page and 'id="digits"' in page
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"guide": {"distance": "cca"}}))
    assert main(["guide", "--params", str(tmp_path / "bad.yaml"), "--workdir", str(tmp_path)]) == 2


@pytest.mark.slow
def test_guidance_shrinks_the_digits_overfitting_gap():
    """The README's digits experiment, seeds 0-2: the guided FCN's train - test gap is smaller.

    Measured over seeds 0-9 (CPU): gap 0.071 ± 0.011 unguided, 0.050 ± 0.013 guided; the paired
    difference -0.021 ± 0.011 (every seed negative, -0.003 to -0.034), so the mean of three
    seeds has sd ~0.006: asserted as a direction with a margin of 0.005. Test accuracy does not
    change (+0.004 ± 0.014): the gap shrinks because the guided network fits its training set
    less (train accuracy 0.98 vs 1.00), so no gain in test accuracy is asserted.
    """
    result = digits_experiment(seeds=(0, 1, 2))
    s = result["summary"]
    assert s["gap_difference"]["mean"] < -0.005
    assert s["guided"]["gap"]["mean"] < s["unguided"]["gap"]["mean"]
    assert s["test_accuracy_difference"]["mean"] > -0.02
    assert s["guided"]["mean_layer_cka_end"]["mean"] > s["unguided"]["mean_layer_cka_end"]["mean"] + 0.1
