"""Calibration and power of the similarity stage's permutation test (issue #12, item 3).

Usage: ``python benchmarks/bench_similarity_calibration.py [--quick] [--draws N] [--json PATH]``

The model x brain p-values of ``mmsites similarity`` come from
:func:`mmsites.similarity.permutation.permutation_pvalue`: debiased linear CKA (and RSA)
between a model's features and a brain matrix, re-paired by block permutations of the events
(:func:`mmsites.stats.resampling.block_permutations`). This measures, on simulated data where
the truth is known:

1. **Calibration** on null data like ours: features (p = 8) and responses (q = 4)
   independent AR(1) series over the events (phi 0.9: neighbouring events correlate 0.9, as
   a scene's or a sentence's features and a drifting voltage do). The rejection rate at
   0.05 of the stage's default, circular shifts of the events (every shift 1..n-1 equally
   likely: the whole group of shifts, an exact test for circularly stationary series), must
   be within a binomial margin of 0.05. Printed beside it, on the same data: circular shifts
   of at least 20 events (the shifts near 0 left out), block permutations (blocks of 20
   events, about the series' integral scale (1 + phi) / (1 - phi) = 19) and the naive
   row-wise permutation (block = 1). CKA is a quadratic statistic: every pair of nearby
   events contributes a term, and a block permutation loses the terms of the pairs that
   straddle a block edge, which shifts the whole null down; a circular shift keeps all of
   them but the one wrap.
2. **Power** at weak effects: each response column is a shared component (one feature
   column, AR(1) like the rest) plus independent AR(1) noise, scaled so that the
   population correlation of a response with its feature is r (0.1, 0.15, 0.2); the
   rejection rate at 0.05 of the circular-shift test.

Each cell: ``--draws`` independent datasets (default 200; ``--quick`` 60), 199 permutations
(``--quick`` 99), n = 300 events (and n = 1000 for power). A default cell PASSes when its rate is
at most 0.05 + 2 binomial SE; contrast and power cells are reported, not judged.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmsites.similarity.permutation import permutation_pvalue  # noqa: E402
from mmsites.stats.resampling import block_permutations  # noqa: E402
from mmsites.stats.simulate import ar1  # noqa: E402

PHI, BLOCK, P_FEAT, Q_RESP, ALPHA = 0.9, 20, 8, 4, 0.05


def dataset(n: int, r: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features (n, P_FEAT) and responses (n, Q_RESP); response j correlates r with feature j."""
    X = ar1(n, P_FEAT, phi=PHI, seed=2 * seed)
    noise = ar1(n, Q_RESP, phi=PHI, seed=2 * seed + 1)
    Y = r * X[:, :Q_RESP] + math.sqrt(1 - r * r) * noise
    return X, Y


def rejection_rate(
    n: int,
    r: float,
    block: int,
    draws: int,
    n_perm: int,
    statistic: str = "cka",
    seed0: int = 0,
    kind: str = "block",
) -> float:
    """Fraction of ``draws`` datasets whose permutation p-value is <= ALPHA."""
    hits = 0
    for k in range(draws):
        X, Y = dataset(n, r, seed0 + k)
        perms = block_permutations(n, n_perm, block=block, seed=10_000 + seed0 + k, kind=kind)
        hits += permutation_pvalue(X, Y, perms, statistic=statistic, debiased=True).p_value <= ALPHA
    return hits / draws


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer draws and permutations")
    parser.add_argument("--draws", type=int, default=None)
    parser.add_argument("--json", default=None, help="write the numbers here")
    args = parser.parse_args(argv)
    draws = args.draws or (60 if args.quick else 200)
    n_perm = 99 if args.quick else 199
    se = math.sqrt(ALPHA * (1 - ALPHA) / draws)
    limit = ALPHA + 2 * se
    out, ok = {"draws": draws, "permutations": n_perm, "phi": PHI, "block": BLOCK}, True
    print(f"similarity permutation test: {draws} datasets per cell, {n_perm} permutations, AR(1) phi {PHI}")
    print(f"{'cell':44s} {'rate':>6s}  verdict")
    # (statistic, kind, block, n, judged): the stage's default is circular shifts over the
    # whole group (every shift 1..n-1: block 1)
    cells = [
        ("cka", "circular", 1, 300, True),
        ("cka", "circular", 1, 1000, True),
        ("rsa", "circular", 1, 300, True),
        ("cka", "circular", BLOCK, 300, False),
        ("cka", "block", BLOCK, 300, False),
        ("cka", "block", BLOCK, 1000, False),
        ("cka", "block", 1, 300, False),
    ]
    for statistic, kind, block, n, judged in cells:
        start = time.perf_counter()
        cell_draws = max(20, draws // 4) if statistic == "rsa" else draws  # n^2 per permutation
        rate = rejection_rate(n, 0.0, block, cell_draws, n_perm, statistic, kind=kind)
        lim = ALPHA + 2 * math.sqrt(ALPHA * (1 - ALPHA) / cell_draws)
        what = (
            "naive row-wise"
            if (kind, block) == ("block", 1)
            else "circular, every shift"
            if kind == "circular" and block == 1
            else f"{kind}, block {block}"
        )
        verdict = ("PASS" if rate <= lim else "FAIL") if judged else "(not the default: shown for contrast)"
        ok &= not judged or rate <= lim
        label = f"null {statistic}, {what}, n {n}"
        print(
            f"{label:44s} {rate:6.3f}  {verdict}  [{cell_draws} draws, {time.perf_counter() - start:.1f} s]"
        )
        out[f"null_{statistic}_{kind}{block}_n{n}"] = rate
    for n in (300, 1000):
        for r in (0.1, 0.15, 0.2):
            rate = rejection_rate(n, r, 1, draws, n_perm, "cka", seed0=100_000, kind="circular")
            label = f"power cka circular, r {r:.2f} per feature, n {n}"
            print(f"{label:44s} {rate:6.3f}")
            out[f"power_cka_r{r}_n{n}"] = rate
    print(f"calibration limit: rate <= {limit:.3f} (0.05 + 2 binomial SE over {draws} draws)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
