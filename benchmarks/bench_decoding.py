"""Benchmark: PopT throughput, the decode stage on the demo, and how decoding scales (CPU).

Issue #11, "Speed and memory". Three measurements, each printed as a table (with its goal
where the issue sets one):

* ``popt``: :meth:`mmsites.brainmodels.popt.PopT.tokens` (numpy in and out: validation,
  padding mask, CLS row, position encoding, batching, NaN at padded rows) of the published
  PopT (768 in, 512 wide, 6 layers) on batches of sets of electrodes (some padded), against a
  bare ``torch.no_grad()`` pass of the same module on tensors built beforehand. Two floors:
  ``hidden_states`` (the same computation as ``tokens``: the encoder, no heads; the goal is
  judged on it) and the module's ``forward`` (the encoder plus every pretraining head, so
  more work than ``tokens`` does). Sets/s, ratio = ours / bare (goal >= 0.9), from the median
  of interleaved repeats after a warm-up (the best repeat's too, to show the noise), torch
  threads 2.
* ``stage``: ``mmsites decode`` alone on a demo generated in a temporary folder at the
  shipped demo size (``params.yaml``'s ``demo`` and ``decoding`` blocks; only the truth models
  are extracted, which is all the stage reads, and the responses stage, which it does not
  read, is skipped), once with the representations voltage + band_power and once with
  brainbert (the stage then embeds every event x electrode window with BrainBERT: about 3
  minutes on 2 idle cores, several times that on a busy machine; ``--brainbert-per-class``
  lowers its ``decoding.max_per_class``, 0 skips it): wall seconds of the child process, the
  stage's own seconds (its log line) and the child's peak resident memory
  (``/usr/bin/time -v`` when present, else ``getrusage(RUSAGE_CHILDREN)`` in a wrapper
  process). No goal in the issue: recorded.
* ``scaling``: :func:`mmsites.decoding.decode` (2 purged within-session folds, 3 inner
  folds, 9 values of C, 1000 bootstrap resamples, one BLAS thread as the stage runs it) on
  synthetic events, against the number of events at a fixed number of features and against
  the number of features (electrodes x bins) at a fixed number of events; the fitted
  exponent is the log-log slope of seconds on size.

Usage: ``python benchmarks/bench_decoding.py [--quick] [--repeats 7] [--brainbert-per-class N]
[--skip popt stage scaling]``. ``--quick`` (under a minute): fewer PopT sets, a 120 s demo
without the brainbert run, smaller scaling sizes.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

POPT_GOAL = 0.9
TRUTH_MODELS = ("truth-vision", "truth-language")
CLI = "import sys; from mmsites.pipeline.cli import main; sys.exit(main())"


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------
# PopT throughput
# ---------------------------------------------------------------------------------------------


def popt_table(n_sets: int, batch: int, n_electrodes: int, repeats: int) -> dict:
    """Sets/s of ``PopT.tokens`` and of the bare module on the same sets (median of repeats)."""
    import torch

    from mmsites.brainmodels.popt import PopT

    torch.set_num_threads(2)
    model = PopT("published", seed=0).eval()
    dim = model.config.input_dim
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((n_sets, n_electrodes, dim)).astype(np.float32)
    lip = rng.integers(40, 220, (n_sets, n_electrodes, 3)).astype(np.int64)
    sizes = rng.integers(3 * n_electrodes // 4, n_electrodes + 1, n_sets)  # sets of different sizes
    sizes[0] = n_electrodes - 1  # at least one padded set, so the mask is used
    mask = np.arange(n_electrodes)[None, :] >= sizes[:, None]
    batches = [
        (
            torch.from_numpy(
                np.where(mask[s : s + batch, :, None], 0.0, emb[s : s + batch]).astype(np.float32)
            ),
            torch.from_numpy(np.where(mask[s : s + batch, :, None], 0, lip[s : s + batch])),
            torch.from_numpy(mask[s : s + batch]),
        )
        for s in range(0, n_sets, batch)
    ]

    def ours():
        model.tokens(emb, lip, padding_mask=mask, batch_size=batch)

    def bare_encoder():
        with torch.no_grad():
            for x, c, m in batches:
                model.hidden_states(x, c, None, m)[-1]

    def bare_forward():
        with torch.no_grad():
            for x, c, m in batches:
                model(x, c, None, m)

    for fn in (ours, bare_encoder, bare_forward):  # warm-up (allocator, oneDNN kernels)
        fn()
    times: dict[str, list[float]] = {"ours": [], "encoder": [], "forward": []}
    for _ in range(repeats):  # interleaved, so all three see the same machine load
        times["ours"].append(_seconds(ours))
        times["encoder"].append(_seconds(bare_encoder))
        times["forward"].append(_seconds(bare_forward))
    rate = {k: n_sets / float(np.median(v)) for k, v in times.items()}
    best = {k: n_sets / float(np.min(v)) for k, v in times.items()}
    return {
        "sets": n_sets,
        "batch": batch,
        "electrodes": n_electrodes,
        "padded_sets": int((sizes < n_electrodes).sum()),
        "threads": torch.get_num_threads(),
        "repeats": repeats,
        "ours_sets_s": rate["ours"],
        "encoder_sets_s": rate["encoder"],
        "forward_sets_s": rate["forward"],
        "ratio_encoder": rate["ours"] / rate["encoder"],
        "ratio_forward": rate["ours"] / rate["forward"],
        "best": best,
    }


def print_popt(row: dict) -> bool:
    print(
        f"\nPopT (published, 6 x 512) tokens() vs bare torch.no_grad() pass, CPU, torch threads "
        f"{row['threads']}; {row['sets']} sets of up to {row['electrodes']} electrodes x 768 "
        f"({row['padded_sets']} padded), batches of {row['batch']}; median and best of "
        f"{row['repeats']} interleaved repeats after a warm-up"
    )
    best = row["best"]
    print(f"{'path':<44} {'sets/s':>9} {'ours/bare':>10} {'best sets/s':>12} {'ours/bare':>10}")
    print(
        f"{'ours: tokens() (numpy in/out, mask, LIP PE)':<44} {row['ours_sets_s']:>9.1f} {'':>10} "
        f"{best['ours']:>12.1f}"
    )
    for key, label in (
        ("encoder", "bare: hidden_states()[-1] (same work)"),
        ("forward", "bare: forward() (encoder + every head)"),
    ):
        print(
            f"{label:<44} {row[key + '_sets_s']:>9.1f} {row['ratio_' + key]:>10.2f} {best[key]:>12.1f} "
            f"{best['ours'] / best[key]:>10.2f}"
        )
    ok = row["ratio_encoder"] >= POPT_GOAL
    print(
        f"goal: ours / bare (same work, medians) >= {POPT_GOAL}: {row['ratio_encoder']:.2f} "
        f"{'PASS' if ok else 'FAIL'}"
    )
    return ok


# ---------------------------------------------------------------------------------------------
# the decode stage on the demo
# ---------------------------------------------------------------------------------------------


def demo_params(quick: bool) -> dict:
    """The shipped params (demo size, decoding block), truth models only; quick: a small demo."""
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["models"] = [m for m in params["models"] if m["id"] in TRUTH_MODELS]
    params["baselines"]["multiconcat"] = list(TRUTH_MODELS)
    params["baselines"]["multilin"] = list(TRUTH_MODELS)
    if quick:  # the size tests/test_decode_stage.py uses
        params["demo"].update(duration_s=120, n_shafts=4, contacts_per_shaft=8)
        params["events"]["frame_size"] = 64
        params["decoding"]["n_boot"] = 200
    return params


def _cli(args: list[str]) -> list[str]:
    return [sys.executable, "-c", CLI, *args]


def measure(cmd: list[str], cwd: Path) -> dict:
    """Wall seconds, peak RSS (MiB) and stderr of one child process."""
    gnu_time = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if gnu_time:
        start = time.perf_counter()
        out = subprocess.run([gnu_time, "-v", *cmd], cwd=cwd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
        if peak is not None:
            return {
                "rc": out.returncode,
                "wall_s": wall,
                "peak_mib": int(peak.group(1)) / 1024,
                "log": out.stderr,
            }
    # a wrapper process: its RUSAGE_CHILDREN covers this one command only
    wrapper = (
        "import json, resource, subprocess, sys, time\n"
        "t = time.perf_counter(); p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "w = time.perf_counter() - t; sys.stderr.write(p.stderr)\n"
        "print(json.dumps({'rc': p.returncode, 'wall_s': w,\n"
        "  'peak_kib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], cwd=cwd, capture_output=True, text=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return {"rc": res["rc"], "wall_s": res["wall_s"], "peak_mib": res["peak_kib"] / 1024, "log": out.stderr}


def stage_table(quick: bool, brainbert_per_class: int | None) -> list[dict]:
    """Build a demo up to its features, then time ``mmsites decode`` per set of representations.

    ``brainbert_per_class``: ``decoding.max_per_class`` of the brainbert run (None: the
    shipped value; 0: no such run); its cost is the embedding of every (event, electrode)
    window, linear in the events.
    """
    import yaml

    params = demo_params(quick)
    shipped = params["decoding"]["max_per_class"]
    runs = [("voltage+band_power", ["voltage", "band_power"], shipped)]
    if brainbert_per_class is None:
        brainbert_per_class = shipped
    if brainbert_per_class:
        runs.append(("brainbert", ["brainbert"], brainbert_per_class))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_decoding_") as tmp:
        work = Path(tmp)
        (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        start = time.perf_counter()
        for stage in ("demo-data", "events", "features"):  # the decode stage's inputs
            out = subprocess.run(
                _cli([stage, "--params", "params.yaml", "--workdir", "."]),
                cwd=work,
                capture_output=True,
                text=True,
            )
            if out.returncode:
                raise RuntimeError(f"mmsites {stage} failed ({out.returncode}):\n{out.stderr[-3000:]}")
        setup_s = time.perf_counter() - start
        for label, reps, per_class in runs:
            p = dict(params, decoding=dict(params["decoding"], representations=reps, max_per_class=per_class))
            name = f"params_{'_'.join(reps)}.yaml"
            (work / name).write_text(yaml.safe_dump(p, sort_keys=False))
            res = measure(_cli(["decode", "--params", name, "--workdir", "."]), work)
            if res["rc"]:
                raise RuntimeError(f"mmsites decode ({label}) failed ({res['rc']}):\n{res['log'][-3000:]}")
            stage = re.search(r"stage decode: done in ([0-9.]+) s", res["log"])
            n_rows = len((work / "results" / "decoding.csv").read_text().strip().splitlines()) - 1
            rows.append(
                {
                    "representations": label,
                    "per_class": per_class,
                    "wall_s": res["wall_s"],
                    "stage_s": float(stage.group(1)) if stage else float("nan"),
                    "peak_mib": res["peak_mib"],
                    "rows": n_rows,
                }
            )
    demo = params["demo"]
    meta = {
        "setup_s": setup_s,
        "demo": (
            f"{demo['duration_s']} s, subjects {demo['subjects']}, {demo['n_shafts']} shafts x "
            f"{demo['contacts_per_shaft']} contacts"
        ),
        "tasks": len(params["decoding"]["tasks"]) + len(params["decoding"]["feature_tasks"]),
        "n_boot": params["decoding"]["n_boot"],
        "brainbert": params["responses"]["brainbert"]["config"],
    }
    return [meta, *rows]


def print_stage(table: list[dict]) -> None:
    meta, rows = table[0], table[1:]
    print(
        f"\nmmsites decode alone on the demo ({meta['demo']}; {meta['tasks']} tasks, "
        f"{meta['n_boot']} bootstrap resamples, "
        f"BrainBERT {meta['brainbert']}); inputs built in {meta['setup_s']:.0f} s (demo-data, events, "
        "features)"
    )
    print(
        f"{'representations':<20} {'events/class':>12} {'wall s':>8} {'stage s':>8} "
        f"{'peak MiB':>9} {'rows':>5}"
    )
    for r in rows:
        print(
            f"{r['representations']:<20} {'<= ' + str(r['per_class']):>12} {r['wall_s']:>8.1f} "
            f"{r['stage_s']:>8.1f} {r['peak_mib']:>9.0f} {r['rows']:>5}"
        )
    print(
        "wall = the child process (start-up and imports included); stage = its own log line; events/class "
        "= decoding.max_per_class (brainbert: its time is the embedding of every event x electrode "
        "window, linear in the events); no goal set"
    )


# ---------------------------------------------------------------------------------------------
# scaling of decode()
# ---------------------------------------------------------------------------------------------


def synthetic(n_events: int, n_features: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events 0.5 s apart, balanced labels, a weak signal (d' = 1) along one random direction."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n_events) % 2)
    direction = rng.standard_normal(n_features)
    direction /= np.linalg.norm(direction)
    X = rng.standard_normal((n_events, n_features)) + np.outer(y - 0.5, direction)
    return X.astype(np.float32), y, np.arange(n_events) * 0.5


def decode_seconds(n_events: int, n_features: int, n_boot: int, repeats: int) -> float:
    from threadpoolctl import threadpool_limits

    from mmsites.decoding import decode, within_session_splits

    X, y, t = synthetic(n_events, n_features)
    splits = within_session_splits(t, n_folds=2, window_s=1.0)
    best = float("inf")
    with threadpool_limits(1):  # as the stage runs it
        for _ in range(repeats):
            best = min(best, _seconds(lambda: decode(X, y, t, splits, n_boot=n_boot, seed=0)))
    return best


def slope(sizes, seconds) -> float:
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def scaling_table(
    events: list[int], features: list[int], fixed_events: int, fixed_features: int, n_boot: int, repeats: int
) -> dict:
    decode_seconds(100, 20, n_boot, 1)  # warm-up: imports, sklearn's first fit
    by_events = [(n, decode_seconds(n, fixed_features, n_boot, repeats)) for n in events]
    by_features = [(f, decode_seconds(fixed_events, f, n_boot, repeats)) for f in features]
    return {
        "n_boot": n_boot,
        "repeats": repeats,
        "fixed_events": fixed_events,
        "fixed_features": fixed_features,
        "by_events": by_events,
        "by_features": by_features,
        "exp_events": slope(*zip(*by_events)),
        "exp_features": slope(*zip(*by_features)),
        "tail_events": slope(*zip(*by_events[-2:])),
        "tail_features": slope(*zip(*by_features[-2:])),
    }


def print_scaling(row: dict) -> None:
    print(
        f"\ndecode() on synthetic events (2 purged folds x 3 inner folds x 9 C, {row['n_boot']} bootstrap "
        f"resamples, 1 BLAS thread), best of {row['repeats']}"
    )
    print(f"{'events':>7} {'features':>9} {'seconds':>8}")
    for n, s in row["by_events"]:
        print(f"{n:>7} {row['fixed_features']:>9} {s:>8.2f}")
    print(
        f"time ~ events^{row['exp_events']:.2f} (log-log slope over all sizes; {row['tail_events']:.2f} "
        f"between the two largest), {row['fixed_features']} features"
    )
    print(f"{'events':>7} {'features':>9} {'seconds':>8}")
    for f, s in row["by_features"]:
        print(f"{row['fixed_events']:>7} {f:>9} {s:>8.2f}")
    print(
        f"time ~ features^{row['exp_features']:.2f} (log-log slope over all sizes; "
        f"{row['tail_features']:.2f} between the two largest), {row['fixed_events']} events"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: a smoke run (< 1 min), not the goal"
    )
    parser.add_argument("--repeats", type=int, default=None, help="PopT repeats (the median is kept)")
    parser.add_argument(
        "--brainbert-per-class",
        type=int,
        default=None,
        help="decoding.max_per_class of the brainbert decode run (default: the shipped one, about 3 min "
        "on 2 idle cores; --quick: 0, no run)",
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=["popt", "stage", "scaling"])
    args = parser.parse_args(argv)
    ok = True
    if "popt" not in args.skip:
        if args.quick:
            row = popt_table(n_sets=16, batch=16, n_electrodes=32, repeats=args.repeats or 3)
        else:
            row = popt_table(n_sets=64, batch=32, n_electrodes=64, repeats=args.repeats or 7)
        ok = print_popt(row) and ok
        sys.stdout.flush()
    if "stage" not in args.skip:
        per_class = args.brainbert_per_class
        print_stage(stage_table(args.quick, 0 if args.quick and per_class is None else per_class))
        sys.stdout.flush()
    if "scaling" not in args.skip:
        if args.quick:
            row = scaling_table([100, 200, 400], [50, 200], 200, 100, n_boot=200, repeats=1)
        else:
            row = scaling_table(
                [200, 400, 800, 1600, 3200], [100, 400, 1600, 6400, 25600], 400, 400, n_boot=1000, repeats=3
            )
        print_scaling(row)
    # the goals are reported, not enforced: timings on a shared machine are noisy
    if not ok:
        print("note: a goal was missed (see above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
