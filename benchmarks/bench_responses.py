"""Benchmark: event-locked responses from a Brain-Treebank-sized recording.

Writes a synthetic 128-electrode, 2048 Hz float32 h5 of 15 and of 60 minutes, then in one run
measures (each case in its own child process, so its peak memory is its own):

* ``read``: plain h5 read of every electrode over the whole length, in 60 s chunks;
* ``responses``: the full path of :func:`recordings.responses.event_responses` (6 notches,
  Laplacian, 161 bins of 200 ms around ~1 event/s) on the same file;

and prints samples/s for both (electrodes x recording samples / wall time), their ratio
(goal >= 0.5) and the peak resident memory of each (goal <= 1.5 GB, flat with length), plus
the full path with ``--jobs`` threads over electrode groups.
A second table compares forms of the notch cascade (the hot loop).

Usage: ``python benchmarks/bench_responses.py [--quick] [--tmpdir DIR] [--minutes 15 60]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from recordings.braintreebank import Recording, select_electrodes  # noqa: E402
from recordings.preprocessing import StreamingFilter, notch_sos  # noqa: E402
from recordings.responses import event_responses  # noqa: E402

SFREQ = 2048.0
N_SHAFTS, N_CONTACTS = 8, 16  # 128 electrodes


def labels() -> list[str]:
    return [f"S{shaft}x{contact}" for shaft in range(N_SHAFTS) for contact in range(1, N_CONTACTS + 1)]


def write_recording(path: Path, minutes: float, seed: int = 0) -> None:
    """Synthetic float32 recording: shifted copies of one noise block plus 60 Hz line noise."""
    n = int(minutes * 60 * SFREQ)
    rng = np.random.default_rng(seed)
    block = 1 << 20
    noise = (20 * rng.standard_normal(block + 1024 * N_SHAFTS * N_CONTACTS)).astype(np.float32)
    line = (30 * np.sin(2 * np.pi * 60 * np.arange(block) / SFREQ)).astype(np.float32)
    with h5py.File(path, "w") as f:
        for i in range(N_SHAFTS * N_CONTACTS):
            ds = f.create_dataset(f"data/electrode_{i}", shape=(n,), dtype=np.float32)
            piece = noise[i * 1024 : i * 1024 + block] + line
            for start in range(0, n, block):
                stop = min(start + block, n)
                ds[start:stop] = piece[: stop - start]


def event_samples(n_samples: int, seed: int = 0) -> np.ndarray:
    """About one event per second, jittered, away from the edges."""
    rng = np.random.default_rng(seed)
    seconds = np.arange(3.0, n_samples / SFREQ - 3.0)
    return np.round((seconds + rng.uniform(-0.4, 0.4, len(seconds))) * SFREQ)


def run_case(case: str, path: str, jobs: int = 1) -> dict:
    """Run one case in this process; returns its timing and peak memory."""
    names = labels()
    with Recording(path, names, SFREQ) as rec:
        n = rec.n_samples
        start, cpu_start = time.perf_counter(), time.process_time()
        if case == "read":
            chunk = int(60 * SFREQ)
            channels = list(range(len(names)))
            for c0 in range(0, n, chunk):
                rec.read(channels, c0, min(c0 + chunk, n))
        else:
            electrodes, neighbours = select_electrodes(names, set())
            event_responses(rec, electrodes, neighbours, event_samples(n), n_jobs=jobs, progress=False)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return {"case": case, "seconds": seconds, "cpu_seconds": cpu, "samples_per_s": len(names) * n / seconds,
            "peak_mb": peak_mb}


def child(case: str, path: Path, jobs: int = 1) -> dict:
    out = subprocess.run([sys.executable, __file__, "--case", case, "--file", str(path), "--jobs", str(jobs)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def filter_forms(n_channels: int = 32, seconds: float = 30.0) -> list[tuple[str, float]]:
    """Throughput (samples/s) of ways to run the 6-notch cascade on (n_channels, n) data."""
    from scipy import signal

    x64 = np.random.default_rng(0).normal(0, 20, (n_channels, int(seconds * SFREQ)))
    x32 = x64.astype(np.float32)
    sos = notch_sos(SFREQ)
    forms = {
        "sosfilt 2-D float64 (used)": lambda: StreamingFilter(sos, n_channels, np.float64)(x64),
        "sosfilt 2-D float32": lambda: StreamingFilter(sos, n_channels, np.float32)(x32),
        "sosfilt per channel float64": lambda: [signal.sosfilt(sos, row) for row in x64],
        "lfilter x6 (BrainBERT)": lambda: [signal.lfilter(s[:3], s[3:], x64, axis=1) for s in sos],
    }
    results = []
    for name, run in forms.items():
        start = time.perf_counter()
        run()
        results.append((name, x64.size / (time.perf_counter() - start)))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 and 4 minutes (a smoke run)")
    parser.add_argument("--minutes", type=float, nargs="*", default=None, help="recording lengths")
    parser.add_argument("--tmpdir", default=None, help="where to write the synthetic h5 files")
    parser.add_argument("--case", choices=["read", "responses"], help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, default=2, help="threads for the extra 'full, n threads' column")
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(args.case, args.file, args.jobs)))
        return 0
    minutes = args.minutes or ([1.0, 4.0] if args.quick else [15.0, 60.0])
    print(f"{N_SHAFTS * N_CONTACTS} electrodes, {SFREQ:g} Hz, float32; samples/s = electrodes x "
          "samples / wall s; machine shared, timings noisy; CPU-s ratio = read CPU s / full CPU s "
          "(1 thread), steadier under load")
    print(f"{'minutes':>8} {'read Msamp/s':>13} {'full Msamp/s':>13} {'ratio':>6} "
          f"{'read peak MB':>13} {'full peak MB':>13} {'full s':>7} {f'full {args.jobs} thr':>11} "
          f"{'ratio':>6} {'CPU-s ratio':>11}")
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        for length in minutes:
            path = Path(tmp) / f"bench_{length:g}min.h5"
            write_recording(path, length)
            read, full = child("read", path), child("responses", path)
            threads = child("responses", path, args.jobs)
            print(f"{length:>8g} {read['samples_per_s'] / 1e6:>13.1f} {full['samples_per_s'] / 1e6:>13.1f} "
                  f"{full['samples_per_s'] / read['samples_per_s']:>6.2f} {read['peak_mb']:>13.0f} "
                  f"{full['peak_mb']:>13.0f} {full['seconds']:>7.1f} "
                  f"{threads['samples_per_s'] / 1e6:>11.1f} "
                  f"{threads['samples_per_s'] / read['samples_per_s']:>6.2f} "
                  f"{read['cpu_seconds'] / full['cpu_seconds']:>11.2f}", flush=True)
            path.unlink()
    print("\nnotch cascade forms (32 channels x 30 s):")
    for name, rate in filter_forms(seconds=5.0 if args.quick else 30.0):
        print(f"  {name:<30} {rate / 1e6:8.1f} Msamp/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
