"""Run every benchmark of mmsites in one go (``make bench``).

Each ``benchmarks/bench_*.py`` (and ``gpu_check.py``, the GPU-vs-CPU check, which says so and
checks nothing where there is no CUDA device) runs in turn in a process of its own, so that
their tables come out in one log and the peak memory each reports is its own (one process
for all would carry the largest peak so far into every later report). ``--quick`` passes
``--quick`` to each (small sizes, a smoke run).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    "bench_responses",
    "bench_features",
    "bench_ridge",
    "bench_brainbert",
    "bench_calibration",
    "bench_decoding",
    "bench_similarity",
    "bench_similarity_calibration",
    "bench_scale",
    # last: on a machine without CUDA it says so and checks nothing
    "gpu_check",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run, not the goals)")
    parser.add_argument("--only", nargs="*", default=None, help="run only these benchmarks")
    args = parser.parse_args(argv)
    names = [n for n in ORDER if (HERE / f"{n}.py").is_file() and (not args.only or n in args.only)]
    failed = []
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        start = time.perf_counter()
        # keep going: one broken benchmark must not hide the others
        command = [sys.executable, str(HERE / f"{name}.py"), *(["--quick"] * args.quick)]
        code = subprocess.run(command).returncode
        if code:
            print(f"{name} failed (exit status {code})", flush=True)
            failed.append(name)
        print(f"=== {name}: {time.perf_counter() - start:.1f} s ===", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
