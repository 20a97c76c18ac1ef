"""Benchmark of linear CKA (mmsites.similarity) against its floor, the bare cross products.

Issue #12, "Speed": CKA of 10k x 4k against 10k x 4k features vs the bare Gram products,
goal ratio floor / ours >= 0.8.

* ``ours``: :func:`mmsites.similarity.linear_cka` as a caller uses it (validation, the
  finite check, centring, the three feature-space products, their norms), biased and
  debiased, on tensors on the device and, on the CPU, on numpy arrays too.
* ``floor``: the same three matrix products alone (``Yc.T @ Xc``, ``Xc.T @ Xc``,
  ``Yc.T @ Yc``) on data centred beforehand: the work no implementation of the feature-space
  form can skip. (The n x n Gram products would cost more for n > p.)
* ``accumulator``: :class:`mmsites.similarity.CKAAccumulator` over batches of rows, for the
  record (no goal).

Layer sweep (issue #12, "Speed": layer-sweep extraction vs one bare forward per model, goal
>= 0.8: all layers in one pass):

* ``bare``: :meth:`Extractor.extract` of a random ViT (timm ``vit_tiny_patch16_224``): the
  same preprocessing, batching and forward passes, the final features only;
* ``sweep``: :meth:`Extractor.extract_layers` with ``layers: all`` (every layer of the hooked
  types, about 80 for this ViT: each output captured by a hook, flattened and copied out), and
  ``sweep+projection`` with every layer wider than the JL dimension projected batch by batch
  as the features stage does. One pass per layer would cost the number of layers times ``bare``.

Seconds are the median of interleaved repeats after a warm-up (CUDA synchronised). The goals
are reported (PASS/FAIL), not enforced: the exit status is 0, as for the other benchmarks.

Usage: ``python benchmarks/bench_similarity.py [--quick] [--device auto|cpu|cuda]
[--dtype float32|float64] [--repeats 3] [--n N] [--p P] [--images 64] [--part cka sweep]``.
``--quick``: 2000 x 800, 16 images.
Timings on a shared machine are noisy: read the ratios, and rerun when in doubt.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mmsites.device import resolve_device  # noqa: E402
from mmsites.similarity import CKAAccumulator, linear_cka  # noqa: E402

GOAL = 0.8


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _seconds(fn, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def make_data(n: int, p: int, q: int, dtype: np.dtype, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two related representations (Y partly a linear map of X), ``dtype``, C order."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p), dtype=np.float32) + 0.5
    W = rng.standard_normal((p, q), dtype=np.float32) / np.sqrt(p)
    Y = X @ W + rng.standard_normal((n, q), dtype=np.float32)
    return X.astype(dtype, copy=False), Y.astype(dtype, copy=False)


def run(n: int, p: int, q: int, device: torch.device, dtype: str, repeats: int, batch: int) -> dict:
    """Median seconds of every path, and the CKA values (to show they agree)."""
    X, Y = make_data(n, p, q, np.dtype(dtype))
    Xt, Yt = torch.from_numpy(X).to(device), torch.from_numpy(Y).to(device)
    Xc, Yc = Xt - Xt.mean(0), Yt - Yt.mean(0)
    values: dict[str, float] = {}

    def floor():
        Yc.T @ Xc
        Xc.T @ Xc
        Yc.T @ Yc

    def ours_tensor():
        values["biased"] = float(linear_cka(Xt, Yt))

    def ours_tensor_debiased():
        values["debiased"] = float(linear_cka(Xt, Yt, debiased=True))

    def ours_numpy():
        values["numpy"] = linear_cka(X, Y)

    def accumulator():
        acc = CKAAccumulator()
        for s in range(0, n, batch):
            acc.update(Xt[s : s + batch], Yt[s : s + batch])
        values["accumulator"] = acc.value()

    paths = {
        "floor": floor,
        "ours": ours_tensor,
        "ours_debiased": ours_tensor_debiased,
        "accumulator": accumulator,
    }
    if device.type == "cpu":
        paths["ours_numpy"] = ours_numpy
    # warm-up (BLAS and cuBLAS handles, kernels) on a slice, so it costs little at full size
    CKAAccumulator().update(Xt[:256], Yt[:256]).value()
    linear_cka(Xt[:256], Yt[:256], debiased=True)
    linear_cka(X[:256], Y[:256])
    Xc[:256].T @ Xc[:256]
    times: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(repeats):  # interleaved: every path sees the same machine load
        for k, fn in paths.items():
            times[k].append(_seconds(fn, device))
    return {
        "seconds": {k: float(np.median(v)) for k, v in times.items()},
        "best": {k: float(np.min(v)) for k, v in times.items()},
        "values": values,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2000 x 800 (a smoke run, not the goal)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n", type=int, default=None, help="examples (rows); default 10000")
    parser.add_argument("--p", type=int, default=None, help="features of each side; default 4000")
    parser.add_argument("--images", type=int, default=None, help="layer sweep: images; default 64")
    parser.add_argument("--part", nargs="*", default=["cka", "sweep"], choices=["cka", "sweep"])
    args = parser.parse_args(argv)
    if "sweep" in args.part:
        code = _cka_part(args) if "cka" in args.part else 0
        sweep_part(args.images or (16 if args.quick else 64), resolve_device(args.device), args.repeats)
        return code
    return _cka_part(args)


def _cka_part(args) -> int:
    n = args.n or (2000 if args.quick else 10000)
    p = args.p or (800 if args.quick else 4000)
    device = resolve_device(args.device)
    batch = max(n // 8, 1)
    threads = torch.get_num_threads() if device.type == "cpu" else "-"
    print(
        f"linear CKA of {n} x {p} against {n} x {p} ({args.dtype}, {device}, torch threads {threads}); "
        f"median and best of {args.repeats} interleaved repeats after a warm-up on a slice"
    )
    res = run(n, p, p, device, args.dtype, args.repeats, batch)
    sec, best = res["seconds"], res["best"]
    labels = {
        "floor": "floor: Yc'Xc, Xc'Xc, Yc'Yc alone",
        "ours": "ours: linear_cka (tensors)",
        "ours_debiased": "ours: linear_cka debiased (tensors)",
        "ours_numpy": "ours: linear_cka (numpy arrays)",
        "accumulator": f"CKAAccumulator, batches of {batch} rows",
    }
    print(f"{'path':<42} {'s':>9} {'floor/ours':>11} {'best s':>9} {'floor/ours':>11}")
    for key, label in labels.items():
        if key not in sec:
            continue
        ratio = "" if key == "floor" else f"{sec['floor'] / sec[key]:.2f}"
        ratio_best = "" if key == "floor" else f"{best['floor'] / best[key]:.2f}"
        print(f"{label:<42} {sec[key]:>9.3f} {ratio:>11} {best[key]:>9.3f} {ratio_best:>11}")
    vals = res["values"]
    print("values: " + ", ".join(f"{k} {v:.6f}" for k, v in vals.items()))
    judged = [k for k in ("ours", "ours_debiased", "ours_numpy") if k in sec]
    worst = min(sec["floor"] / sec[k] for k in judged)
    ok = worst >= GOAL
    verdict = "PASS" if ok else "FAIL"
    note = " (quick sizes: a smoke run; the goal is set at 10000 x 4000)" if args.quick else ""
    print(f"goal: floor / ours >= {GOAL} (every linear_cka path, medians): {worst:.2f} {verdict}{note}")
    # the goal is reported, not enforced (as the other benchmarks): timings on a shared machine are noisy
    return 0


def sweep_part(n_images: int, device: torch.device, repeats: int) -> None:
    """Time a layer sweep of every layer against the plain extraction; print the ratios."""
    import pandas as pd

    from mmsites.features.reduction import jl_dim, random_projector
    from mmsites.features.zoo import ModelSpec, build_extractor

    spec = ModelSpec(
        id="vit",
        family="timm",
        arch="vit_tiny_patch16_224",
        input="image",
        trained_on="vision",
        init="random",
    )
    bare = build_extractor(spec, device=str(device))
    swept = build_extractor(spec.replace(layers="all"), device=str(device))
    swept.model = bare.model  # the same network: only the hooks differ
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (n_images, 224, 224, 3), dtype=np.uint8)
    events = pd.DataFrame({"movie_time": np.arange(n_images, dtype=float)})
    index = np.arange(n_images)
    k = jl_dim(n_images)
    projectors: dict = {}

    def reduce(_name, width):
        if width <= k:
            return None
        if width not in projectors:
            projectors[width] = random_projector(width, k)
        return projectors[width]

    out: dict = {}
    paths = {
        "bare": lambda: bare.extract(events, frames, index, batch_size=16, progress=False),
        "sweep": lambda: out.setdefault(
            "sweep", swept.extract_layers(events, frames, index, batch_size=16, progress=False)
        ),
        "sweep+projection": lambda: swept.extract_layers(
            events, frames, index, batch_size=16, progress=False, reduce=reduce
        ),
    }
    bare.extract(events.iloc[:2], frames, index[:2], progress=False)  # warm-up
    swept.extract_layers(events.iloc[:2], frames, index[:2], progress=False, reduce=reduce)
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(repeats):
        for name, fn in paths.items():
            times[name].append(_seconds(fn, device))
    sec = {name: float(np.median(v)) for name, v in times.items()}
    n_layers = len(out["sweep"][1].layers)
    mib = sum(X.nbytes for X in out["sweep"][1].features.values()) / 2**20
    print(
        f"\nlayer sweep of a random ViT-Tiny (timm vit_tiny_patch16_224) on {n_images} images of 224 px "
        f"({device}, torch threads {torch.get_num_threads() if device.type == 'cpu' else '-'}): "
        f"{n_layers} layers, {mib:.0f} MiB of unreduced layer features; "
        f"median of {repeats} interleaved repeats"
    )
    print(f"{'path':<42} {'s':>9} {'bare/path':>11}")
    for name in paths:
        print(f"{name:<42} {sec[name]:>9.3f} {sec['bare'] / sec[name]:>11.2f}")
    print(f"{'one pass per layer (estimate)':<42} {n_layers * sec['bare']:>9.3f} {1 / n_layers:>11.2f}")
    # What a sweep cannot skip besides the forward, timed alone in this process: writing every
    # layer's rows to memory never touched before (the features must land somewhere: the
    # operating system maps and zeroes each page on its first write), and, with projection,
    # the projections of every wide layer's rows, batch by batch.
    widths = {layer["name"]: layer["width"] for layer in out["sweep"][1].layers}
    touch = _seconds(lambda: np.ones((n_images, sum(widths.values())), dtype=np.float32), device)
    rows = {w: rng.standard_normal((16, w), dtype=np.float32) for w in set(widths.values()) if w > k}

    def project_all():
        for _ in range(0, n_images, 16):
            for w in widths.values():
                if w > k:
                    projectors[w](rows[w])

    project = min(_seconds(project_all, device) for _ in range(repeats))
    floors = {"sweep": sec["bare"] + touch, "sweep+projection": sec["bare"] + project}
    print(
        f"floors: bare + first write of the {mib:.0f} MiB of layer features ({touch:.3f} s alone) = "
        f"{floors['sweep']:.3f} s; bare + the projections alone ({project:.3f} s) = "
        f"{floors['sweep+projection']:.3f} s"
    )
    for name in ("sweep", "sweep+projection"):
        ratio = sec["bare"] / sec[name]
        line = f"goal: bare / {name} >= {GOAL}: {ratio:.2f} {'PASS' if ratio >= GOAL else 'FAIL'}"
        if ratio < GOAL:
            cap = sec["bare"] / floors[name]
            line += f"; floor {cap:.2f} = bare / that floor, ours {floors[name] / sec[name]:.2f} of it"
            if cap < GOAL:
                line += ": what the floor adds to the forward alone exceeds what the goal allows"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
