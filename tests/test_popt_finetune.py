"""PopT fine-tuned end to end (mmsites.brainmodels.popt_finetune): the published downstream recipe.

Checked by what it must do: it learns a label carried by the embeddings (held-out test AUC
well above chance), it stays at chance on labels independent of the data, the step it keeps is
chosen on the validation events only (the test events change no choice), it never changes the
model it starts from, it is reproducible, and it scores test events of other electrodes (another
subject) through their coordinates.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmsites.brainmodels import PopT
from mmsites.brainmodels.popt_finetune import ENCODER_LR, FINETUNE_STEPS, HEAD_LR, finetune_popt


def _data(n_events=240, n_electrodes=8, d=64, signal=1.0, seed=0):
    """Embeddings whose label shifts every electrode along one direction (plus noise)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n_events)
    direction = rng.normal(size=d) / np.sqrt(d)
    x = rng.normal(size=(n_events, n_electrodes, d)) + signal * (2 * y - 1)[:, None, None] * direction * 3
    lip = rng.integers(40, 220, size=(n_electrodes, 3))
    return x.astype(np.float32), lip, y


def _auc(scores, y):
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(y, scores)


def _parts(n):
    idx = np.arange(n)
    return idx[: n // 2], idx[n // 2 : 3 * n // 4], idx[3 * n // 4 :]


def test_published_recipe_constants():
    assert (FINETUNE_STEPS, HEAD_LR, ENCODER_LR) == (2000, 5e-4, 5e-5)


def test_learns_a_planted_label_and_leaves_the_model_untouched():
    x, lip, y = _data()
    model = PopT("tiny", seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit, val, test = _parts(len(y))
    result = finetune_popt(model, x, lip, y, fit, val, test, steps=120, eval_every=20, seed=0)
    assert _auc(result.scores, y[test]) > 0.85
    assert result.curve[0, 0] == 0 and result.curve[-1, 0] == 120
    assert result.val_auc == result.curve[:, 1].max()
    assert result.step == int(result.curve[np.argmax(result.curve[:, 1]), 0])  # the earliest best
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not hasattr(model, "finetune_head")


def test_chance_on_labels_independent_of_the_data():
    aucs = []
    for seed in range(4):
        x, lip, _ = _data(n_events=400, signal=0.0, seed=seed)
        y = np.random.default_rng(100 + seed).integers(0, 2, len(x))
        fit, val, test = _parts(len(y))
        result = finetune_popt(PopT("tiny", seed=0), x, lip, y, fit, val, test, steps=60, eval_every=20)
        aucs.append(_auc(result.scores, y[test]))
    # 100 test events: the AUC's sd under the null is ~0.058, that of the mean of four ~0.029
    assert abs(np.mean(aucs) - 0.5) < 0.1, aucs


def test_test_labels_change_nothing_and_runs_repeat():
    x, lip, y = _data(n_events=120)
    fit, val, test = _parts(len(y))
    model = PopT("tiny", seed=0)
    a = finetune_popt(model, x, lip, y, fit, val, test, steps=30, eval_every=10, seed=3)
    flipped = y.copy()
    flipped[test] = 1 - flipped[test]
    b = finetune_popt(model, x, lip, flipped, fit, val, test, steps=30, eval_every=10, seed=3)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.step == b.step


def test_scores_other_electrodes_through_their_coordinates():
    x, lip, y = _data(n_events=200, n_electrodes=8, seed=1)
    x2, lip2, y2 = _data(n_events=80, n_electrodes=5, seed=2)
    fit, val = np.arange(120), np.arange(120, 200)
    result = finetune_popt(
        PopT("tiny", seed=0),
        x,
        lip,
        y,
        fit,
        val,
        np.arange(80),
        steps=20,
        eval_every=10,
        test_embeddings=x2,
        test_coords=lip2,
    )
    assert result.scores.shape == (80,) and np.isfinite(result.scores).all()


def test_arguments_are_checked():
    x, lip, y = _data(n_events=40)
    fit, val, test = _parts(40)
    model = PopT("tiny", seed=0)
    with pytest.raises(ValueError, match="embeddings must be"):
        finetune_popt(model, x[:, :, :10], lip, y, fit, val, test, steps=1)
    with pytest.raises(ValueError, match="coords_lip"):
        finetune_popt(model, x, lip[:3], y, fit, val, test, steps=1)
    with pytest.raises(ValueError, match="both classes"):
        finetune_popt(model, x, lip, np.zeros(40, int), fit, val, test, steps=1)
    with pytest.raises(ValueError, match="indices must lie"):
        finetune_popt(model, x, lip, y, fit, val, np.array([40]), steps=1)
    with pytest.raises(ValueError, match="test_coords are required"):
        finetune_popt(model, x, lip, y, fit, val, test, steps=1, test_embeddings=x)
