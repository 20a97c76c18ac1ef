"""The guidance experiments that run offline on a CPU: digits, parity and copy-paste.

- :func:`digits_experiment`: a fully connected network (:class:`~.models.DigitsFCN`) on
  scikit-learn's digits, unguided vs guided by a small CNN (:class:`~.models.DigitsCNN`,
  trained first on the same training images, or left untrained); the overfitting gap
  (train − test accuracy at the end of training) of both, per seed and as mean ± sd;
- :func:`sequence_experiment`: the parity or copy-paste task, a plain RNN
  (:class:`~.models.SequenceRNN`) unguided vs guided by a small transformer
  (:class:`~.models.TinyTransformer`, trained first or untrained); test accuracy of both.

In each seed both arms start from the same initial weights and see the same batches; the
unguided arm is trained with ``alpha=0`` against the same guide, so its updates are plain
training's while the CKA of its layers with the guide's is still measured.
:func:`run_experiments` runs a list of them and writes their results, histories and
curves (what ``mmsites guide`` calls).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from .data import PARITY_PAD, copy_paste_data, copy_paste_vocab, digits_data, parity_data
from .fixed import FixedGuide
from .hooks import layer_activations
from .models import DigitsCNN, DigitsFCN, SequenceRNN, TinyTransformer
from .training import evaluate, guided_train

__all__ = [
    "EXPERIMENTS",
    "ARMS",
    "digits_experiment",
    "sequence_experiment",
    "run_experiments",
    "summarise_runs",
    "standardise",
    "fixed_guide_arms",
]

log = logging.getLogger(__name__)

#: The experiments :func:`run_experiments` knows.
EXPERIMENTS: tuple[str, ...] = ("digits", "parity", "copy_paste")
#: The networks of the sequence experiments (target or guide).
SEQUENCE_MODELS: tuple[str, ...] = ("rnn", "transformer")

ARMS = ("unguided", "guided")


def _seeded(seed: int, build):
    """Build a module with torch's RNG seeded, leaving the caller's RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _checkpoint(out_dir, *parts) -> Path | None:
    return None if out_dir is None else Path(out_dir).joinpath(*parts)


def _mean_sd(values: Sequence[float]) -> dict:
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "values": v.tolist()}


def summarise_runs(runs: list[dict], keys: Sequence[str]) -> dict:
    """Mean ± sd over seeds of each arm, and of the paired difference guided - unguided.

    Parameters
    ----------
    runs : list of dict
        One per seed and arm: ``seed``, ``arm`` (``"unguided"`` or ``"guided"``) and a number
        per key.
    keys : sequence of str
        The numbers summarised.

    Returns
    -------
    dict
        Per arm and key ``{"mean", "sd" (ddof 1; 0 for one seed), "values"}``, and
        ``<key>_difference``: the same of guided - unguided, seed by seed.
    """
    out = {}
    for arm in ARMS:
        rows = [r for r in runs if r["arm"] == arm]
        out[arm] = {k: _mean_sd([r[k] for r in rows]) for k in keys}
    seeds = sorted({r["seed"] for r in runs})
    for k in keys:
        diff = [
            next(r[k] for r in runs if r["seed"] == s and r["arm"] == "guided")
            - next(r[k] for r in runs if r["seed"] == s and r["arm"] == "unguided")
            for s in seeds
        ]
        out[f"{k}_difference"] = _mean_sd(diff)
    return out


def _run_arms(build_target, guide, train, test, seed, common, out_dir, experiment) -> tuple[list, dict]:
    runs, histories = [], {}
    for arm in ARMS:
        target = _seeded(10_000 + seed, build_target)
        alpha = common["alpha"] if arm == "guided" else 0.0
        history = guided_train(
            target,
            train,
            test,
            guide=guide,
            **{**common, "alpha": alpha},
            seed=seed,
            checkpoint=_checkpoint(out_dir, experiment, f"seed{seed}", f"{arm}.pt"),
        )
        e = history["epochs"]
        runs.append(
            {
                "seed": seed,
                "arm": arm,
                "train_accuracy": e["train_accuracy"][-1],
                "test_accuracy": e["test_accuracy"][-1],
                "gap": e["gap"][-1],
                "mean_layer_cka_start": float(np.mean(e["layer_cka"][0])),
                "mean_layer_cka_end": float(np.mean(e["layer_cka"][-1])),
                "seconds": history["seconds"],
            }
        )
        histories[f"seed{seed}/{arm}"] = history
        log.info(
            "%s seed %d %s: train %.3f test %.3f gap %.3f, mean layer CKA %.2f -> %.2f",
            experiment,
            seed,
            arm,
            runs[-1]["train_accuracy"],
            runs[-1]["test_accuracy"],
            runs[-1]["gap"],
            runs[-1]["mean_layer_cka_start"],
            runs[-1]["mean_layer_cka_end"],
        )
    return runs, histories


def _common(settings: Mapping) -> dict:
    keys = (
        "alpha",
        "distance",
        "guide_noise",
        "guidance_steps",
        "device",
        "bf16",
        "resume",
        "checkpoint_every",
    )
    return {k: settings[k] for k in keys} | {"log_every": 0}


def digits_experiment(
    seeds: Sequence[int] = (0, 1, 2),
    *,
    n_train: int = 300,
    epochs: int = 40,
    batch_size: int = 32,
    lr: float = 1e-3,
    hidden: int = 128,
    depth: int = 3,
    channels: int = 16,
    trained_guide: bool = False,
    guide_epochs: int = 30,
    alpha: float = 3.0,
    distance: str = "cka",
    guide_noise: bool = False,
    guidance_steps: int | None = None,
    device="cpu",
    bf16: bool = False,
    out_dir: str | os.PathLike | None = None,
    resume: bool = True,
    checkpoint_every: int | None = None,
) -> dict:
    """A fully connected network on the digits, unguided vs guided by a small CNN, per seed.

    Each seed draws its own train/test split, guide and target initialisation (both arms
    start from the same one).

    Parameters
    ----------
    seeds : sequence of int
        One run of both arms per seed.
    n_train : int
        Training images (the other 1797 - n_train are the test set).
    epochs : int
        Epochs of the target's training.
    batch_size : int
        Examples per update (also the minibatch CKA is computed on).
    lr : float
        Adam's learning rate.
    hidden, depth : int
        The FCN's hidden width and number of hidden layers.
    channels : int
        The CNN's first-layer channels.
    trained_guide : bool
        Train the guide on the training images first (``guide_epochs``, plain); False: an
        untrained (randomly initialised) guide.
    guide_epochs : int
        Epochs of the guide's training.
    alpha : float
        Guidance weight of the guided arm (published: 1; here 3 by default, see the README).
    distance : {"cka", "rsa"}
        Representational distance.
    guide_noise : bool
        The guide sees noise instead of the images.
    guidance_steps : int, optional
        Guide only the first updates.
    device : str or torch.device
        Where to train.
    bf16 : bool
        Use bfloat16 autocast on CUDA.
    out_dir : str or PathLike, optional
        Checkpoints go to ``out_dir/digits/seed<s>/{guide,unguided,guided}.pt``; None: none.
    resume : bool
        Continue from existing checkpoints.
    checkpoint_every : int, optional
        Also checkpoint every this many updates.

    Returns
    -------
    dict
        ``experiment``, ``settings``, ``guides`` (per seed: the guide's train and test
        accuracy), ``runs`` (per seed and arm: final ``train_accuracy``, ``test_accuracy``,
        ``gap`` = train - test, mean layer CKA with the guide at the start and end,
        ``seconds``), ``summary`` (per arm and key: ``mean``, ``sd`` (ddof 1), ``values``;
        ``<key>_difference``: guided - unguided per seed) and ``histories`` (per
        ``seed<s>/<arm>``: :func:`~.training.guided_train`'s history).
    """
    settings = {k: v for k, v in locals().items() if k != "out_dir"} | {"seeds": list(seeds)}
    common = _common(settings) | {"epochs": epochs, "batch_size": batch_size, "lr": lr}
    runs, histories, guides = [], {}, {}
    for seed in seeds:
        train, test = digits_data(n_train, seed)
        guide = _seeded(seed, lambda: DigitsCNN(channels=channels))
        if trained_guide:
            guided_train(
                guide,
                train,
                test,
                epochs=guide_epochs,
                batch_size=batch_size,
                lr=lr,
                seed=seed,
                device=device,
                bf16=bf16,
                checkpoint=_checkpoint(out_dir, "digits", f"seed{seed}", "guide.pt"),
                resume=resume,
                log_every=0,
            )
        guides[seed] = {
            "train_accuracy": evaluate(guide, *train, device=device)[1],
            "test_accuracy": evaluate(guide, *test, device=device)[1],
        }
        r, h = _run_arms(
            lambda: DigitsFCN(hidden=hidden, depth=depth), guide, train, test, seed, common, out_dir, "digits"
        )
        runs += r
        histories.update(h)
    keys = ("train_accuracy", "test_accuracy", "gap", "mean_layer_cka_end")
    return {
        "experiment": "digits",
        "settings": settings,
        "guides": guides,
        "runs": runs,
        "summary": summarise_runs(runs, keys),
        "histories": histories,
    }


def sequence_experiment(
    task: str = "parity",
    seeds: Sequence[int] = (0, 1, 2),
    *,
    n_train: int = 2000,
    n_test: int = 1000,
    min_length: int | None = None,
    max_length: int | None = None,
    symbols: int = 8,
    epochs: int = 20,
    batch_size: int = 64,
    lr: float = 1e-3,
    target: str | None = None,
    guide: str | None = None,
    rnn_hidden: int = 64,
    rnn_layers: int = 2,
    tf_width: int = 32,
    tf_layers: int = 2,
    tf_heads: int = 4,
    trained_guide: bool = True,
    guide_epochs: int = 20,
    alpha: float = 1.0,
    distance: str = "cka",
    guide_noise: bool = False,
    guidance_steps: int | None = None,
    device="cpu",
    bf16: bool = False,
    out_dir: str | os.PathLike | None = None,
    resume: bool = True,
    checkpoint_every: int | None = None,
) -> dict:
    """Parity or copy-paste: a sequence network unguided vs guided by another, per seed.

    Parity: one label per sequence (the RNN reads its state at the last bit; the
    transformer averages over the bits, padding masked); copy-paste: one label per position
    after the copy token (both networks causal). Each seed draws its own data, guide and target
    initialisation (both arms start from the same one).

    Parameters
    ----------
    task : {"parity", "copy_paste"}
        The task (:func:`~.data.parity_data`, :func:`~.data.copy_paste_data`).
    seeds : sequence of int
        One run of both arms per seed.
    n_train, n_test : int
        Training and test sequences (test sequences are drawn independently: they may
        repeat training ones when the lengths are short).
    min_length, max_length : int, optional
        Range of the bit-string (parity) or copied-sequence (copy-paste) lengths; None: 2-16
        (parity), 5-10 (copy-paste).
    symbols : int
        Distinct symbols of copy-paste.
    epochs : int
        Epochs of the target's training.
    batch_size : int
        Examples per update.
    lr : float
        Adam's learning rate.
    target, guide : {"rnn", "transformer"}, optional
        The trained network and the guide: a plain RNN (:class:`~.models.SequenceRNN`) or a
        transformer (:class:`~.models.TinyTransformer`). None: as published, a transformer
        guided by an RNN on parity, an RNN guided by a transformer on copy-paste.
    rnn_hidden, rnn_layers : int
        The RNN's hidden size and number of recurrent layers.
    tf_width, tf_layers, tf_heads : int
        The transformer's width, blocks and heads.
    trained_guide : bool
        Train the guide on the task first (``guide_epochs``, plain); False: untrained.
    guide_epochs : int
        Epochs of the guide's training.
    alpha : float
        Guidance weight of the guided arm.
    distance : {"cka", "rsa"}
        Representational distance.
    guide_noise : bool
        The guide sees random tokens instead of the sequences.
    guidance_steps : int, optional
        Guide only the first updates.
    device : str or torch.device
        Where to train.
    bf16 : bool
        Use bfloat16 autocast on CUDA.
    out_dir : str or PathLike, optional
        Checkpoints go to ``out_dir/<task>/seed<s>/{guide,unguided,guided}.pt``; None: none.
    resume : bool
        Continue from existing checkpoints.
    checkpoint_every : int, optional
        Also checkpoint every this many updates.

    Returns
    -------
    dict
        As :func:`digits_experiment` (accuracy per sequence for parity, per scored position
        for copy-paste).

    Raises
    ------
    ValueError
        If ``task`` is unknown.
    """
    settings = {k: v for k, v in locals().items() if k != "out_dir"} | {"seeds": list(seeds)}
    if task not in ("parity", "copy_paste"):
        raise ValueError(f"task must be 'parity' or 'copy_paste', got {task!r}")
    published = {"parity": ("transformer", "rnn", 2, 16), "copy_paste": ("rnn", "transformer", 5, 10)}[task]
    target = published[0] if target is None else target
    guide = published[1] if guide is None else guide
    min_length = published[2] if min_length is None else min_length
    max_length = published[3] if max_length is None else max_length
    for role, kind in (("target", target), ("guide", guide)):
        if kind not in SEQUENCE_MODELS:
            raise ValueError(f"{role} must be one of {SEQUENCE_MODELS}, got {kind!r}")
    settings |= {"target": target, "guide": guide, "min_length": min_length, "max_length": max_length}
    common = _common(settings) | {"epochs": epochs, "batch_size": batch_size, "lr": lr}
    if task == "parity":
        vocab, classes, pad, causal, length = 3, 2, PARITY_PAD, False, max_length
        pools = {"rnn": "last", "transformer": "mean"}
    else:
        vocab = classes = copy_paste_vocab(symbols)
        pad, causal, length = None, True, 2 * max_length + 2
        pools = {"rnn": "none", "transformer": "none"}

    def _build(kind: str):
        if kind == "rnn":
            return SequenceRNN(
                vocab, classes, hidden=rnn_hidden, layers=rnn_layers, pool=pools[kind], pad=pad
            )
        return TinyTransformer(
            vocab,
            classes,
            width=tf_width,
            layers=tf_layers,
            heads=tf_heads,
            max_length=length,
            pool=pools[kind],
            pad=pad,
            causal=causal,
        )

    runs, histories, guides = [], {}, {}
    for seed in seeds:
        if task == "parity":
            train = parity_data(n_train, max_length, min_length, seed=2 * seed)
            test = parity_data(n_test, max_length, min_length, seed=2 * seed + 1)
        else:
            train = copy_paste_data(n_train, min_length, max_length, symbols, seed=2 * seed)
            test = copy_paste_data(n_test, min_length, max_length, symbols, seed=2 * seed + 1)
        guide_net = _seeded(seed, lambda: _build(guide))
        if trained_guide:
            guided_train(
                guide_net,
                train,
                test,
                epochs=guide_epochs,
                batch_size=batch_size,
                lr=lr,
                seed=seed,
                device=device,
                bf16=bf16,
                checkpoint=_checkpoint(out_dir, task, f"seed{seed}", "guide.pt"),
                resume=resume,
                log_every=0,
            )
        guides[seed] = {
            "train_accuracy": evaluate(guide_net, *train, device=device)[1],
            "test_accuracy": evaluate(guide_net, *test, device=device)[1],
        }
        r, h = _run_arms(lambda: _build(target), guide_net, train, test, seed, common, out_dir, task)
        runs += r
        histories.update(h)
    keys = ("train_accuracy", "test_accuracy", "gap", "mean_layer_cka_end")
    return {
        "experiment": task,
        "settings": settings,
        "guides": guides,
        "runs": runs,
        "summary": summarise_runs(runs, keys),
        "histories": histories,
    }


def run_experiments(settings: Mapping, checkpoint_dir: str | os.PathLike | None = None) -> dict:
    """Run the experiments a settings mapping names (``mmsites guide``), returning their results.

    Parameters
    ----------
    settings : mapping
        ``experiments`` (names; those of :data:`EXPERIMENTS` are run, others are left to the
        caller), ``seeds``, optionally the shared ``device``, ``bf16``, ``resume`` and
        ``checkpoint_every``, and one mapping per experiment (``digits``, ``parity``,
        ``copy_paste``) of the other keyword arguments of :func:`digits_experiment` /
        :func:`sequence_experiment` (the ``guide:`` section of the params, as a mapping).
    checkpoint_dir : str or PathLike, optional
        Checkpoints go to ``<checkpoint_dir>/<experiment>/seed<s>/``; None: none.

    Returns
    -------
    dict
        Per experiment run: its result (with its ``histories``).

    Raises
    ------
    ValueError
        If no experiment named is one of :data:`EXPERIMENTS`.
    """
    shared = {k: settings[k] for k in ("device", "bf16", "resume", "checkpoint_every") if k in settings}
    names = [name for name in settings["experiments"] if name in EXPERIMENTS]
    if not names:
        raise ValueError(
            f"unknown guidance experiments {list(settings['experiments'])}; choose from {list(EXPERIMENTS)}"
        )
    done = {}
    for name in names:
        kwargs = dict(settings.get(name) or {}) | shared
        kwargs |= {"seeds": list(settings["seeds"]), "out_dir": checkpoint_dir}
        if name == "digits":
            result = digits_experiment(**kwargs)
        else:
            result = sequence_experiment(name, **kwargs)
        done[name] = result
        s = result["summary"]
        log.info(
            "%s: gap unguided %.3f ± %.3f, guided %.3f ± %.3f; test accuracy unguided %.3f ± %.3f, "
            "guided %.3f ± %.3f (mean ± sd over %d seeds)",
            name,
            s["unguided"]["gap"]["mean"],
            s["unguided"]["gap"]["sd"],
            s["guided"]["gap"]["mean"],
            s["guided"]["gap"]["sd"],
            s["unguided"]["test_accuracy"]["mean"],
            s["unguided"]["test_accuracy"]["sd"],
            s["guided"]["test_accuracy"]["mean"],
            s["guided"]["test_accuracy"]["sd"],
            len(result["settings"]["seeds"]),
        )
    return done


def standardise(values, rows) -> np.ndarray:
    """Z-score every column with the mean and sd of some rows only (e.g. the training events).

    Parameters
    ----------
    values : array, shape (n, p)
        Real, finite values.
    rows : array of int, shape (m,)
        The rows whose statistics are used (m >= 2).

    Returns
    -------
    ndarray, float32, shape (n, p)
        ``(values - mean) / sd`` with the mean and sd (ddof 0) of ``values[rows]``; a column
        constant on those rows is only centred.

    Raises
    ------
    ValueError
        If ``values`` is not 2-D and finite or fewer than 2 rows are given.
    """
    values = np.asarray(values, dtype=np.float64)
    rows = np.asarray(rows)
    if values.ndim != 2 or not np.isfinite(values).all():
        raise ValueError(f"values must be a finite 2-D array, got shape {values.shape}")
    if rows.size < 2:
        raise ValueError(f"standardising needs at least 2 rows, got {rows.size}")
    mean, sd = values[rows].mean(0), values[rows].std(0)
    return ((values - mean) / np.where(sd > 0, sd, 1.0)).astype(np.float32)


def fixed_guide_arms(
    inputs,
    guide,
    train,
    val,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    hidden: int = 64,
    depth: int = 2,
    layer: int = -1,
    alpha: float = 1.0,
    distance: str = "cka",
    epochs: int = 100,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    device="cpu",
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = True,
    checkpoint_every: int | None = None,
) -> dict:
    """A small MLP guided by fixed representations of its examples vs the same MLP unguided.

    The target (:class:`~.models.DigitsFCN`: ``depth`` hidden linear layers of width
    ``hidden``) reads ``inputs`` (z-scored with the training rows' statistics) and its recorded
    layer ``layer`` is matched to ``guide`` (z-scored the same way) by ``alpha * (1 - CKA)``
    on minibatches of the training rows: the only loss (no task). The unguided arm starts
    from the same weights (seeded by ``10000 + seed``) and, with nothing to train on, stays
    there: the control is the untrained network. Only ``train`` rows of ``guide`` are used for
    training and ``val`` rows for the curves; other rows (the caller's test rows) are never
    read from ``guide``.

    Parameters
    ----------
    inputs : array, shape (n, p)
        The target's input per example (e.g. a frozen model's features of each event).
    guide : array, shape (n, q)
        The guide's representation per example (e.g. a subject's responses to each event).
        Rows outside ``train`` and ``val`` may hold anything finite (they are not read).
    train, val : array of int
        Rows that train the target and rows on which the CKA is followed during training.
    seeds : sequence of int
        One run of both arms per seed (initial weights and batch order).
    hidden, depth : int
        The MLP's width and number of hidden layers.
    layer : int
        The recorded hidden layer (pre-activation) matched to the guide and returned; negative
        counts from the last.
    alpha : float
        Weight of the guidance loss of the guided arm (> 0).
    distance : {"cka", "rsa"}
        1 - linear CKA or 1 - RSA.
    epochs, batch_size : int
        Adam's training of the guided arm: epochs, and examples per batch (capped at the
        training rows).
    lr, weight_decay : float
        Adam's learning rate and weight decay.
    device : str or torch.device
        Where to train.
    checkpoint_dir : str or PathLike, optional
        Checkpoints go to ``<checkpoint_dir>/seed<s>/<arm>.pt``; None: none.
    resume : bool
        As :func:`~.training.guided_train`.
    checkpoint_every : int or None
        As :func:`~.training.guided_train`.

    Returns
    -------
    dict
        ``runs``: per seed and arm ``seed``, ``arm``, ``features`` (float32, (n, hidden): the
        matched layer's activations of every example, eval mode), ``val_cka_start`` and
        ``val_cka_end`` (CKA with the guide on ``val`` before and after training), ``seconds``;
        ``histories``: per ``seed<s>/<arm>`` :func:`~.training.guided_train`'s history.

    Raises
    ------
    ValueError
        If the shapes disagree, ``train`` or ``val`` is too small or overlaps, or ``alpha`` is
        not positive.
    """
    X = np.asarray(inputs)
    G = np.asarray(guide)
    train, val = np.asarray(train, dtype=np.int64), np.asarray(val, dtype=np.int64)
    if X.ndim != 2 or G.ndim != 2 or len(X) != len(G):
        raise ValueError(f"inputs and guide must be (n, p) and (n, q) arrays, got {X.shape} and {G.shape}")
    if train.size < 4 or val.size < 2:
        raise ValueError(f"need at least 4 training and 2 validation rows, got {train.size} and {val.size}")
    if np.intersect1d(train, val).size:
        raise ValueError("training and validation rows overlap")
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0 for the guided arm, got {alpha!r}")
    Xz = standardise(X, train)
    Gz = np.zeros(G.shape, dtype=np.float32)
    known = np.concatenate([train, val])
    Gz[known] = standardise(G[known], np.arange(train.size))
    runs, histories = [], {}
    for seed in seeds:
        for arm in ARMS:
            target = _seeded(
                10_000 + seed, lambda: DigitsFCN(hidden=hidden, depth=depth, classes=1, inputs=X.shape[1])
            )
            history = guided_train(
                target,
                (Xz[train], None),
                (Xz[val], None),
                guide=FixedGuide(Gz[train], Gz[val], names=["guide"], target_layers=[layer]),
                alpha=alpha if arm == "guided" else 0.0,
                distance=distance,
                epochs=epochs,
                batch_size=min(batch_size, train.size),
                lr=lr,
                weight_decay=weight_decay,
                seed=seed,
                device=device,
                checkpoint=_checkpoint(checkpoint_dir, f"seed{seed}", f"{arm}.pt"),
                resume=resume,
                checkpoint_every=checkpoint_every,
                eval_examples=max(val.size, 1),
                log_every=0,
            )
            target.eval()
            with torch.no_grad():
                _, maps = layer_activations(target, torch.from_numpy(Xz).to(next(target.parameters()).device))
            cka = history["epochs"]["layer_cka"]
            runs.append(
                {
                    "seed": seed,
                    "arm": arm,
                    "features": maps[layer][1].float().cpu().numpy(),
                    "val_cka_start": float(cka[0][0]),
                    "val_cka_end": float(cka[-1][0]),
                    "seconds": history["seconds"],
                }
            )
            histories[f"seed{seed}/{arm}"] = history
            log.info(
                "fixed guide seed %d %s: validation CKA %.3f -> %.3f",
                seed,
                arm,
                runs[-1]["val_cka_start"],
                runs[-1]["val_cka_end"],
            )
    return {"runs": runs, "histories": histories}
