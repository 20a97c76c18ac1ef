"""``benchmarks/gpu_check.py``, the GPU-vs-CPU check script, tested on the CPU.

``--device cpu --quick`` runs every check with the CPU standing in for the GPU (a run of the
script's whole plumbing: every group, every row); without ``--device`` on a machine without
CUDA it must say so and exit 0. The comparison rules (NaN pattern, tolerances, alpha ties) are
checked directly on hand-made results.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mmsites.encoding.ridge import CVResult

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def _load():
    """The script as a module (registered first: dataclasses look their module up by name).

    Returns
    -------
    module
        ``benchmarks/gpu_check.py``, imported as ``gpu_check``.
    """
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    return module


gpu_check = _load()


def _run(*args: str) -> subprocess.CompletedProcess:
    """Run the script in a child process (offline, one torch thread).

    Parameters
    ----------
    *args : str
        Command-line arguments of the script.

    Returns
    -------
    subprocess.CompletedProcess
        Its exit code, stdout and stderr.
    """
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )


def _rows(stdout: str) -> list[list[str]]:
    """The check lines of the script's output, split into fields.

    Parameters
    ----------
    stdout : str
        What the script printed.

    Returns
    -------
    list of list of str
        Per check line: name, "abs", value, "rel", value, "tol", tolerance, status, ...
    """
    rows = [line.split() for line in stdout.splitlines()]
    return [f for f in rows if len(f) >= 8 and f[1] == "abs" and f[3] == "rel" and f[5] == "tol"]


def test_cpu_self_check_passes_every_check():
    out = _run("--device", "cpu", "--quick", "--threads", "1")
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    rows = _rows(out.stdout)
    assert {r[0].split(".")[0] for r in rows} == set(gpu_check.GROUPS)
    assert len(rows) >= 30
    failed = [" ".join(r) for r in rows if r[7] != "PASS"]
    assert not failed, "\n".join(failed)
    assert f"{len(rows)} checks: {len(rows)} PASS, 0 FAIL, 0 SKIP" in out.stdout
    assert "TF32 off (IEEE float32) for every check" in out.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_without_cuda_nothing_is_checked():
    out = _run()
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == gpu_check.NO_CUDA


def test_compare_rules(capsys):
    ck = gpu_check.Checker(torch.device("cpu"))
    ref = np.array([1.0, -2.0, np.nan, 4.0])
    assert ck.compare("a", ref + 1e-6, ref, atol=1e-5)
    assert not ck.compare("b", ref + 1e-3, ref, atol=1e-5)
    assert ck.compare("c", ref * (1 + 1e-5), ref, rtol=1e-4)
    assert not ck.compare("d", np.nan_to_num(ref), ref, atol=1.0)  # NaN moved
    assert not ck.compare("e", ref[:3], ref, atol=1.0)  # shape
    assert [r.status for r in ck.rows] == ["PASS", "FAIL", "PASS", "FAIL", "FAIL"]
    assert ck.rows[2].max_rel == pytest.approx(4e-5 / 4.0)
    assert "NaN/inf at 1 other places" in capsys.readouterr().out


def _result(alpha, val_r_alphas, test_r):
    """A CVResult of 3 targets on the grid (1, 10, 100) with the given choices.

    Parameters
    ----------
    alpha : array, shape (3,)
        Chosen alphas.
    val_r_alphas : array, shape (3, 3)
        Validation r of each alpha (rows) and target (columns).
    test_r : array, shape (3,)
        Test r per target.

    Returns
    -------
    CVResult
        Two folds, predictions 0, every target valid.
    """
    alpha, test_r = np.asarray(alpha, float), np.asarray(test_r, float)
    val_r = np.asarray(val_r_alphas).max(0)
    return CVResult(
        test_r=test_r,
        val_r=val_r,
        alpha=alpha,
        test_r_folds=np.stack([test_r, test_r]),
        val_r_folds=np.stack([val_r, val_r]),
        predictions=np.zeros((5, 3), np.float32),
        valid=np.ones(3, bool),
        val_r_alphas=np.asarray(val_r_alphas, float),
        alphas=np.array([1.0, 10.0, 100.0]),
    )


@pytest.mark.parametrize(("gap", "status"), [(1e-7, "PASS"), (1e-2, "FAIL")])
def test_alpha_choices_may_differ_only_at_ties(capsys, gap, status):
    curve = np.array([[0.1, 0.3, 0.2], [0.2, 0.3 - gap, 0.1], [0.0, 0.1, 0.3]])
    rc = _result([10.0, 1.0, 100.0], curve, [0.1, 0.2, 0.3])
    # target 1 picks alpha 10 instead of 1 on the device, with a very different test r there
    rd = _result([10.0, 10.0, 100.0], curve, [0.1, -0.5, 0.3])
    ck = gpu_check.Checker(torch.device("cpu"))
    gpu_check._fit_rows(ck, "ridge.fit", rc, rd, 1.0, 0.5)
    by_name = {r.name: r for r in ck.rows}
    assert by_name["ridge.fit.alpha"].status == status
    assert by_name["ridge.fit.alpha"].max_abs == pytest.approx(gap)
    assert by_name["ridge.fit.test_r"].status == "PASS"  # the tied target is left out
    assert "1 of 3 differ" in capsys.readouterr().out
