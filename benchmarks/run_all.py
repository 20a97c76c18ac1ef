"""Run every benchmark of mmsites in one go (``make bench``).

Each ``benchmarks/bench_*.py`` (and ``gpu_check.py``, the GPU-vs-CPU check, which says so and
checks nothing where there is no CUDA device) has a ``main(argv)``; this runs them in turn, so
their tables come out in one log. ``--quick`` passes ``--quick`` to each (small sizes, a smoke run).
"""

from __future__ import annotations

import argparse
import importlib.util
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


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    # registered before it runs: dataclasses and pickling (worker processes) look modules up
    # in sys.modules by name
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


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
        try:
            code = _load(name).main(["--quick"] if args.quick else [])
        except Exception as err:  # keep going: one broken benchmark must not hide the others
            print(f"{name} failed: {type(err).__name__}: {err}", flush=True)
            code = 1
        if code:
            failed.append(name)
        print(f"=== {name}: {time.perf_counter() - start:.1f} s ===", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
