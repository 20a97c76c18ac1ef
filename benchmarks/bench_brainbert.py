"""Benchmark: BrainBERT's front end and embeddings, against their bare floors.

Three measurements, each printed as a table with its goal:

* ``spectrogram``: :func:`mmsites.recordings.spectral.stft_spectrogram` on a batch of 5 s
  windows (channels x 10240 samples at 2048 Hz) against a bare ``scipy.signal.stft`` of the
  same data (the recipe's unavoidable cost). Ratio = bare time / ours (goal >= 0.8).
* ``embedding``: :meth:`mmsites.brainmodels.BrainBERT.embed` on the same windows (spectrogram,
  transformer, mean of the 10 middle tokens) against the bare STFT plus one forward of the
  model's layers over the whole batch of spectrograms. Ratio = bare / ours (goal >= 0.9).
* ``memory``: peak resident memory of :func:`mmsites.brainmodels.responses.event_embeddings`
  (one event per second of an h5 recording, streamed in 60 s chunks) for two recording
  lengths (goal: flat in length), each in its own child process.

Usage: ``python benchmarks/bench_brainbert.py [--quick] [--config base|large|tiny]
[--windows 64] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy import signal as sp_signal

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mmsites.recordings.spectral import BRAINBERT_SFREQ, stft_spectrogram  # noqa: E402

WINDOW = 10240  # 5 s at 2048 Hz


def best_of(fn, repeat: int) -> float:
    """Fastest wall time of ``repeat`` calls of ``fn`` (the machine may be shared)."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bare_stft(x: np.ndarray) -> np.ndarray:
    """The recipe's floor: the STFT itself and the magnitude of its first 40 bins."""
    _, _, z = sp_signal.stft(x, BRAINBERT_SFREQ, nperseg=400, noverlap=350)
    return np.abs(z[..., :40, :])


def spectrogram_table(windows: int, repeat: int) -> dict:
    x = np.random.default_rng(0).standard_normal((windows, WINDOW)).astype(np.float32)
    ours = best_of(lambda: stft_spectrogram(x, BRAINBERT_SFREQ), repeat)
    bare = best_of(lambda: bare_stft(x), repeat)
    return {"windows": windows, "ours_s": ours, "bare_s": bare, "ratio": bare / ours}


def embedding_table(windows: int, repeat: int, config: str) -> dict:
    import torch

    from mmsites.brainmodels import BrainBERT

    model = BrainBERT(config, seed=0, preprocessor="stft")
    x = np.random.default_rng(1).standard_normal((windows, WINDOW)).astype(np.float32)
    ours = best_of(lambda: model.embed(x, BRAINBERT_SFREQ), repeat)
    spec = torch.from_numpy(np.ascontiguousarray(stft_spectrogram(x, BRAINBERT_SFREQ)))
    model.eval()

    def bare():
        bare_stft(x)
        with torch.inference_mode():
            model.hidden_states(spec)  # every layer once, the whole batch in one pass

    floor = best_of(bare, repeat)
    return {"windows": windows, "config": config, "ours_s": ours, "bare_s": floor, "ratio": floor / ours}


def _memory_child(minutes: float, config: str) -> None:
    """Embed one event per second of a ``minutes``-long h5 recording, streamed in 60 s chunks.

    The full path of :func:`mmsites.brainmodels.responses.event_embeddings` (notch, Laplacian
    of one electrode and its two neighbours, 5 s windows, the model).
    """
    import tempfile

    import h5py

    from mmsites.brainmodels import BrainBERT
    from mmsites.brainmodels.responses import event_embeddings
    from mmsites.recordings.braintreebank import Recording

    model = BrainBERT(config, seed=0, preprocessor="stft")
    rng = np.random.default_rng(2)
    n = int(minutes * 60 * BRAINBERT_SFREQ)
    labels = ["A1", "A2", "A3"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rec.h5"
        with h5py.File(path, "w") as f:
            for i in range(len(labels)):
                ds = f.create_dataset(f"data/electrode_{i}", shape=(n,), dtype=np.float32)
                for start in range(0, n, 1 << 20):
                    stop = min(n, start + (1 << 20))
                    ds[start:stop] = 20 * rng.standard_normal(stop - start).astype(np.float32)
        rec = Recording(path, labels, BRAINBERT_SFREQ)
        events = np.arange(3.0, minutes * 60 - 3.0, 1.0) * BRAINBERT_SFREQ
        event_embeddings(rec, ["A2"], {"A2": ("A1", "A3")}, events, model, progress=False)
        rec.close()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"minutes": minutes, "peak_mib": peak_kib / 1024}))


def memory_table(lengths: list[float], config: str) -> list[dict]:
    rows = []
    for minutes in lengths:
        out = subprocess.run(
            [sys.executable, __file__, "--child-memory", str(minutes), "--config", config],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not the goals")
    parser.add_argument("--config", default="base", help="BrainBERT size: tiny, base or large")
    parser.add_argument("--windows", type=int, default=64, help="5 s windows per batch")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child-memory", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_memory is not None:
        _memory_child(args.child_memory, args.config)
        return 0
    windows, repeat = (8, 1) if args.quick else (args.windows, args.repeat)
    config = "tiny" if args.quick else args.config
    lengths = [1.0, 2.0] if args.quick else [5.0, 20.0]

    spec = spectrogram_table(windows, repeat)
    print("\nspectrogram (BrainBERT STFT recipe) vs bare scipy.signal.stft, 5 s windows at 2048 Hz")
    print(f"{'windows':>8} {'ours s':>9} {'bare s':>9} {'bare/ours':>10}  goal >= 0.8")
    print(f"{spec['windows']:>8} {spec['ours_s']:>9.4f} {spec['bare_s']:>9.4f} {spec['ratio']:>10.2f}")

    emb = embedding_table(windows, repeat, config)
    print(f"\nembedding (BrainBERT {config}) vs bare STFT + transformer forward")
    print(f"{'windows':>8} {'ours s':>9} {'bare s':>9} {'bare/ours':>10}  goal >= 0.9")
    print(f"{emb['windows']:>8} {emb['ours_s']:>9.4f} {emb['bare_s']:>9.4f} {emb['ratio']:>10.2f}")

    mem = memory_table(lengths, config)
    print(f"\npeak memory embedding one event per second (BrainBERT {config}), goal: flat in length")
    print(f"{'minutes':>8} {'peak MiB':>9}")
    for row in mem:
        print(f"{row['minutes']:>8g} {row['peak_mib']:>9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
