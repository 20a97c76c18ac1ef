"""Benchmark: event-locked responses from a Brain-Treebank-sized recording.

Writes a synthetic 128-electrode, 2048 Hz float32 h5 of 15 and of 60 minutes, then in one run
measures (each case in its own child process, so its peak memory is its own):

* ``read``: plain h5 read of every electrode over the whole length, in 60 s chunks;
* ``responses``: the full path of :func:`recordings.responses.event_responses` (6 notches,
  Laplacian, 161 bins of 200 ms around ~1 event/s) on the same file;

and prints samples/s for both (electrodes x recording samples / wall time), their ratio and
the peak resident memory of each (goal <= 1.5 GB, flat with length), for the full path on 1
thread and on ``--jobs`` threads over electrode groups. With ``--repeat`` each case runs that
many times and the fastest run counts (the machine may be shared).

Then the goal line of each length: the 1-thread ratio against its goal (>= 0.6 of the plain
read), the ``--jobs``-thread scaling (goal: faster than 1 thread), PASS or FAIL, and the floor
the per-sample costs measured in this process put under the ratio: read / (read + channel
screen + the filter kernel), where the kernel's own cost is the filter's arithmetic (54
floating-point operations per sample for 6 notches) plus moving samples into its tile; and
the ceiling that the arithmetic alone sets: the same float64 recursion timed bare (its
channel-contiguous input and its states in cache, nothing moved, nothing read out), which
no implementation that keeps ``sosfilt``'s float64 numbers can beat on this core. The
compiled kernels are loaded (numba's on-disk cache, ~0.6 s once per process) before a
``responses`` case starts its clock; the goal line prints that time.
A second table compares ways to get the filtered running sums (the hot loop).

Usage: ``python benchmarks/bench_responses.py [--quick] [--tmpdir DIR] [--minutes 15 60]
[--jobs 2] [--repeat 3]``
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
import numba
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mmsites.recordings.braintreebank import Recording, select_electrodes  # noqa: E402
from mmsites.recordings.preprocessing import FilteredSums, StreamingFilter, notch_sos  # noqa: E402
from mmsites.recordings.responses import ChannelScreen, event_responses  # noqa: E402

SFREQ = 2048.0
N_SHAFTS, N_CONTACTS = 8, 16  # 128 electrodes
GOAL_RATIO = 0.6  # full path / plain read, one thread
ARITHMETIC = "6-notch float64 recursion alone, in cache"


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
        warm = time.perf_counter()
        if case == "responses":
            # load the compiled kernels (numba's on-disk cache) before the clock: a one-time cost
            # per process, not per sample; reported as warm_s
            electrodes, neighbours = select_electrodes(names, set())
            event_responses(rec, electrodes[:2], neighbours, event_samples(n)[:1], n_jobs=1, progress=False)
        warm = time.perf_counter() - warm
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
    return {
        "case": case,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "samples_per_s": len(names) * n / seconds,
        "peak_mb": peak_mb,
        "warm_s": warm,
    }


def child(case: str, path: Path, jobs: int = 1, repeat: int = 1) -> dict:
    """Run a case in fresh child processes; the fastest of ``repeat`` runs, the largest peak."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--case", case, "--file", str(path), "--jobs", str(jobs)],
            check=True,
            capture_output=True,
            text=True,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = min(runs, key=lambda run: run["seconds"])
    return {
        **best,
        "cpu_seconds": min(run["cpu_seconds"] for run in runs),
        "peak_mb": max(run["peak_mb"] for run in runs),
    }


def laplacian_rows(n_channels: int) -> np.ndarray:
    """Rows of each electrode and its two neighbours among ``n_channels + 2`` read rows."""
    centre = np.arange(1, n_channels + 1)
    return np.stack([centre, centre - 1, centre + 1])


@numba.njit(nogil=True)
def _recursion_alone(x, coef, state, repeats):
    """The kernel's arithmetic and nothing else: 6 notches in direct form II transposed and a
    running sum per channel, float64, over a (n_times, n_channels) block held in cache."""
    n_times, n_channels = x.shape
    n_sections = len(coef) // 5
    for _ in range(repeats):
        for t in range(n_times):
            for c in range(n_channels):
                v = x[t, c]
                for s in range(n_sections):
                    y = coef[5 * s] * v + state[2 * s, c]
                    state[2 * s, c] = coef[5 * s + 1] * v - coef[5 * s + 3] * y + state[2 * s + 1, c]
                    state[2 * s + 1, c] = coef[5 * s + 2] * v - coef[5 * s + 4] * y
                    v = y
                state[2 * n_sections, c] += v


def recursion_alone(sos: np.ndarray, n_channels: int = 64, repeat: int = 5) -> float:
    """Samples/s (CPU time, best of ``repeat``) of :func:`_recursion_alone` on 4096 samples x
    ``n_channels`` float64 (2 MB for 64 channels: in the second-level cache) passed 20 times."""
    sections = sos / sos[:, 3:4]
    coef = tuple(float(v) for section in sections for v in section[[0, 1, 2, 4, 5]])
    x = np.random.default_rng(3).normal(0, 20, (4096, n_channels))
    state = np.zeros((2 * len(sections) + 1, n_channels))
    _recursion_alone(x[:8], coef, state, 1)  # compile outside the timing
    best = np.inf
    for _ in range(repeat):
        start = time.process_time()
        _recursion_alone(x, coef, state, 20)
        best = min(best, time.process_time() - start)
    return 20 * x.size / best


def filter_forms(n_channels: int = 64, seconds: float = 60.0, repeat: int = 3) -> dict[str, float]:
    """Throughput (samples/s, CPU time, best of ``repeat``) of ways to get the running sums of
    the 6-notch-filtered signal at ~11 % of the samples (as ~1 event/s needs), one thread; and
    of the channel screen (the other per-sample step of the full path besides the read)."""
    from scipy import signal
    from threadpoolctl import threadpool_limits

    n = int(seconds * SFREQ)
    x64 = np.random.default_rng(0).normal(0, 20, (n_channels, n))
    x32 = x64.astype(np.float32)
    raw32 = np.random.default_rng(2).normal(0, 20, (n_channels + 2, n)).astype(np.float32)
    where = laplacian_rows(n_channels)
    positions = np.sort(np.random.default_rng(1).choice(n + 1, n // 9, replace=False))
    sos = notch_sos(SFREQ)

    def brainbert(x):
        for section in sos:  # one lfilter pass per notch
            x = signal.lfilter(section[:3], section[3:], x, axis=1)
        return x

    def sosfilt_sums(dtype):
        return np.cumsum(StreamingFilter(sos, n_channels, dtype)(x32), axis=1)[:, positions[1:] - 1]

    forms = {
        "FilteredSums kernel + Laplacian (used)": lambda: FilteredSums(sos, n_channels)(
            raw32, positions, where=where, rereference="laplacian"
        ),
        "FilteredSums kernel": lambda: FilteredSums(sos, n_channels)(x32, positions),
        "FilteredSums no filter (tile + sums)": lambda: FilteredSums(None, n_channels)(x32, positions),
        "sosfilt float64 + cumsum": lambda: sosfilt_sums(np.float64),
        "sosfilt float32 + cumsum": lambda: sosfilt_sums(np.float32),
        "lfilter x6 (BrainBERT) + cumsum": lambda: np.cumsum(brainbert(x64), axis=1)[:, positions[1:] - 1],
        "ChannelScreen (min + max)": lambda: ChannelScreen(n_channels + 2)(raw32, 0),
    }
    results = {}
    with threadpool_limits(1):
        forms["FilteredSums kernel"]()  # compile (or load from numba's cache) outside the timing
        for name, run in forms.items():
            best = np.inf
            for _ in range(repeat):
                start = time.process_time()
                run()
                best = min(best, time.process_time() - start)
            results[name] = x64.size / best
        results[ARITHMETIC] = recursion_alone(sos, n_channels)
    return results


def goal_line(read: dict, one: dict, many: dict, jobs: int, forms: dict[str, float]) -> str:
    """The goal verdict: 1-thread ratio >= GOAL_RATIO, ``jobs`` threads faster than 1; the floor."""
    ratio = one["samples_per_s"] / read["samples_per_s"]
    scaling = many["samples_per_s"] / one["samples_per_s"]
    ok = ratio >= GOAL_RATIO and scaling > 1.0
    # ns per sample of what the full path must do to every sample besides reading it
    read_ns = 1e9 / read["samples_per_s"]
    kernel_ns = 1e9 / forms["FilteredSums kernel + Laplacian (used)"]
    screen_ns = 1e9 / forms["ChannelScreen (min + max)"]
    tile_ns = 1e9 / forms["FilteredSums no filter (tile + sums)"]
    floor = read_ns / (read_ns + screen_ns + kernel_ns)
    arithmetic_ns = 1e9 / forms[ARITHMETIC]
    ceiling = read_ns / (read_ns + arithmetic_ns)
    line = (
        f"goal: 1 thread {ratio:.2f} of the plain read (goal >= {GOAL_RATIO}), {jobs} threads "
        f"{scaling:.2f}x 1 thread (goal > 1): {'PASS' if ok else 'FAIL'} (kernels loaded before the clock "
        f"in {one['warm_s']:.2f} s, once per process)"
    )
    if not ok:
        line += (
            f"; floor {floor:.2f} = read {read_ns:.2f} ns / (read + screen {screen_ns:.2f} + filter kernel "
            f"{kernel_ns:.2f} ns per sample, of which {tile_ns:.2f} ns moving samples into the tile and "
            f"summing, the rest the 6 notches' 54 flops)"
        )
        line += (
            f"; ceiling {ceiling:.2f} = read / (read + the recursion's arithmetic alone, "
            f"{arithmetic_ns:.2f} ns per sample: 54 float64 flops at {54 / arithmetic_ns:.1f} per ns, "
            "channel-contiguous, in cache)"
        )
        if ceiling < GOAL_RATIO:
            line += (
                f": the goal would need everything besides the read in "
                f"{read_ns * (1 / GOAL_RATIO - 1):.2f} ns per sample, less than sosfilt's float64 "
                "arithmetic alone takes on this core"
            )
        if scaling <= 1.0:
            line += f"; {jobs} threads: the h5 reads are serialised and the cores are shared"
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 and 4 minutes (a smoke run)")
    parser.add_argument("--minutes", type=float, nargs="*", default=None, help="recording lengths")
    parser.add_argument("--tmpdir", default=None, help="where to write the synthetic h5 files")
    parser.add_argument("--case", choices=["read", "responses"], help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, default=2, help="threads of the second 'full' column")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the fastest counts")
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(args.case, args.file, args.jobs)))
        return 0
    minutes = args.minutes or ([1.0, 4.0] if args.quick else [15.0, 60.0])
    forms = filter_forms(seconds=10.0 if args.quick else 60.0)
    print(
        f"{N_SHAFTS * N_CONTACTS} electrodes, {SFREQ:g} Hz, float32; samples/s = electrodes x samples / "
        f"wall s, best of {args.repeat}; ratio = full / read (goal >= {GOAL_RATIO}, 1 thread); peak = max "
        "RSS of the child (goal <= 1.5 GB, flat); CPU ratio = read CPU s / full CPU s (1 thread), steadier "
        "on a shared machine"
    )
    print(
        f"{'minutes':>8} {'read Msamp/s':>13} {'1 thr Msamp/s':>14} {'ratio':>6} "
        f"{f'{args.jobs} thr Msamp/s':>14} {'ratio':>6} {'CPU ratio':>9} {'read peak MB':>13} "
        f"{'1 thr peak MB':>14} {f'{args.jobs} thr peak MB':>14}"
    )
    goals = []
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        for length in minutes:
            path = Path(tmp) / f"bench_{length:g}min.h5"
            write_recording(path, length)
            read = child("read", path, repeat=args.repeat)
            one = child("responses", path, 1, repeat=args.repeat)
            many = child("responses", path, args.jobs, repeat=args.repeat)
            rate = read["samples_per_s"]
            print(
                f"{length:>8g} {rate / 1e6:>13.1f} {one['samples_per_s'] / 1e6:>14.1f} "
                f"{one['samples_per_s'] / rate:>6.2f} {many['samples_per_s'] / 1e6:>14.1f} "
                f"{many['samples_per_s'] / rate:>6.2f} {read['cpu_seconds'] / one['cpu_seconds']:>9.2f} "
                f"{read['peak_mb']:>13.0f} {one['peak_mb']:>14.0f} {many['peak_mb']:>14.0f}",
                flush=True,
            )
            goals.append(f"{length:g} min {goal_line(read, one, many, args.jobs, forms)}")
            path.unlink()
    print()
    for line in goals:
        print(line)
    print("\nrunning sums of the notched signal at ~11 % of the samples (64 channels, 1 thread, CPU time):")
    for name, rate in forms.items():
        print(f"  {name:<40} {rate / 1e6:8.1f} Msamp/s {1e9 / rate:6.2f} ns/sample")
    return 0


if __name__ == "__main__":
    sys.exit(main())
