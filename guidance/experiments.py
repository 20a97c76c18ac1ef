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

import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from .data import PARITY_PAD, copy_paste_data, copy_paste_vocab, digits_data, parity_data
from .models import DigitsCNN, DigitsFCN, SequenceRNN, TinyTransformer
from .training import evaluate, guided_train

__all__ = ["EXPERIMENTS", "digits_experiment", "sequence_experiment", "run_experiments", "plot_curves"]

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


def _summarise(runs: list[dict], keys: Sequence[str]) -> dict:
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
        "summary": _summarise(runs, keys),
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
        "summary": _summarise(runs, keys),
        "histories": histories,
    }


def plot_curves(result: Mapping):
    """Loss and accuracy curves of one experiment, both arms, every seed.

    Parameters
    ----------
    result : mapping
        What :func:`digits_experiment` or :func:`sequence_experiment` returns.

    Returns
    -------
    matplotlib.figure.Figure
        Four panels: task loss per update (moving mean of 20), test accuracy per epoch, the
        train - test gap per epoch, the mean CKA of the mapped layers with the guide per epoch;
        unguided grey, guided blue, one line per seed.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    colours = {"unguided": "0.45", "guided": "tab:blue"}
    for key, history in result["histories"].items():
        arm = key.split("/")[1]
        label = arm if key.startswith(f"seed{result['settings']['seeds'][0]}/") else None
        loss = np.asarray(history["steps"]["task_loss"], dtype=float)
        k = min(20, len(loss))
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid") if k else loss
        axes[0].plot(np.arange(len(smooth)) + k - 1, smooth, color=colours[arm], lw=1, label=label)
        e = history["epochs"]
        axes[1].plot(e["epoch"], e["test_accuracy"], color=colours[arm], lw=1, label=label)
        axes[2].plot(e["epoch"], e["gap"], color=colours[arm], lw=1, label=label)
        axes[3].plot(e["epoch"], [np.mean(c) for c in e["layer_cka"]], color=colours[arm], lw=1, label=label)
    titles = ("task loss (nats)", "test accuracy", "train - test accuracy", "mean CKA with the guide")
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("update" if ax is axes[0] else "epoch")
    axes[0].set_yscale("log")
    axes[0].legend(frameon=False, fontsize=8)
    fig.suptitle(f"guidance: {result['experiment']}", fontsize=11)
    fig.tight_layout()
    return fig


def _write_atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_experiments(settings: Mapping, out_dir: str | os.PathLike) -> dict:
    """Run the experiments a settings mapping names and write their results (``mmsites guide``).

    Parameters
    ----------
    settings : mapping
        ``experiments`` (names from :data:`EXPERIMENTS`), ``seeds``, optionally the shared
        ``device``, ``bf16``, ``resume`` and ``checkpoint_every``, and one mapping per
        experiment (``digits``, ``parity``, ``copy_paste``) of the other keyword arguments of
        :func:`digits_experiment` / :func:`sequence_experiment` (the ``guide:`` section of the
        params, as a mapping).
    out_dir : str or PathLike
        Written (atomically): ``summary.json`` (every experiment's settings, guides, runs and
        summary; the entries of experiments not run this time are kept),
        ``<experiment>/history.json`` (the histories) and
        ``<experiment>/curves.png`` (:func:`plot_curves`); checkpoints under
        ``<experiment>/seed<s>/``.

    Returns
    -------
    dict
        Per experiment run: its result without the histories.

    Raises
    ------
    ValueError
        If an experiment is unknown.
    """
    out = Path(out_dir)
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    shared = {k: settings[k] for k in ("device", "bf16", "resume", "checkpoint_every") if k in settings}
    done = {}
    for name in settings["experiments"]:
        if name not in EXPERIMENTS:
            raise ValueError(f"unknown guidance experiment {name!r}; choose from {list(EXPERIMENTS)}")
        kwargs = dict(settings.get(name) or {}) | shared | {"seeds": list(settings["seeds"]), "out_dir": out}
        if name == "digits":
            result = digits_experiment(**kwargs)
        else:
            result = sequence_experiment(name, **kwargs)
        histories = result.pop("histories")
        _write_atomic(out / name / "history.json", lambda p, h=histories: Path(p).write_text(json.dumps(h)))
        fig = plot_curves(result | {"histories": histories})
        _write_atomic(out / name / "curves.png", lambda p, f=fig: f.savefig(p, format="png", dpi=110))
        import matplotlib.pyplot as plt

        plt.close(fig)
        summary[name] = done[name] = result
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
        _write_atomic(summary_path, lambda p: Path(p).write_text(json.dumps(summary, indent=2)))
    return done
