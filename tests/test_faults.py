"""Faults a real dataset throws at the pipeline, survived: one clear line, or nothing lost.

* every unreadable, truncated or wrongly laid out file: one error line that names the file and
  says what was expected, exit status 2, no traceback (unless ``--debug``);
* a label list that disagrees with the recording: the error names both files;
* ``kill -9`` in the middle of a stage, then a rerun: it resumes, and every table is
  bit-identical to an uninterrupted run's.
"""

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import truth_models, write_params

from mmsites.pipeline.cli import main
from mmsites.pipeline.io import (
    atomic_path,
    load_array,
    read_csv,
    read_events,
    sweep_stale_temporaries,
    write_csv,
)
from mmsites.recordings.braintreebank import BrainTreebank


def _params(root: Path, data_root: Path, **extra) -> list[str]:
    params = {
        "data": {"format": "braintreebank", "root": str(data_root), "subjects": [1]},
        "events": {"alignments": ["language"]},
        "responses": {"n_jobs": 1},
        "models": truth_models(("language",)),
        **extra,
    }
    return write_params(root, params)


@pytest.fixture
def dataset(demo_root, tmp_path):
    """A private copy of the shared demo (Brain Treebank layout) to break."""
    copy = tmp_path / "bt"
    shutil.copytree(demo_root, copy, ignore=shutil.ignore_patterns("movies", "truth_features"))
    return copy


def _fails_with_one_line(caplog, argv, *names: str) -> str:
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert main(argv) == 2
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    message = errors[0].getMessage()
    assert "\n" not in message
    for name in names:
        assert name in message, message
    return message


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_truncated_recording_is_one_line(dataset, tmp_path, caplog):
    h5 = BrainTreebank(dataset).h5_path(1, 0)
    _truncate(h5)
    argv = _params(tmp_path, dataset)
    assert main(["events", *argv[0:0], "--params", argv[1], "--workdir", argv[3]]) == 0
    message = _fails_with_one_line(caplog, ["responses", *argv], str(h5))
    assert "HDF5" in message


def test_recording_without_the_expected_layout(dataset, tmp_path, caplog):
    h5 = BrainTreebank(dataset).h5_path(1, 0)
    with h5py.File(h5, "w") as f:
        f.create_dataset("signals", data=np.zeros((3, 10), np.float32))
    argv = _params(tmp_path, dataset)
    assert main(["events", *argv]) == 0
    _fails_with_one_line(caplog, ["responses", *argv], str(h5), "data/electrode_0")


def test_label_list_disagreeing_with_the_recording_names_both_files(dataset, tmp_path, caplog):
    bt = BrainTreebank(dataset)
    labels_file = dataset / "electrode_labels" / "sub_1" / "electrode_labels.json"
    labels = json.loads(labels_file.read_text())
    labels_file.write_text(json.dumps(labels[:-3]))  # three labels short
    argv = _params(tmp_path, dataset)
    assert main(["events", *argv]) == 0
    message = _fails_with_one_line(caplog, ["responses", *argv], str(bt.h5_path(1, 0)), str(labels_file))
    assert f"{len(labels) - 3} labels" in message


@pytest.mark.parametrize(
    "relative, what",
    [
        ("electrode_labels/sub_1/electrode_labels.json", "JSON"),
        ("subject_metadata/sub_1_trial000_metadata.json", "JSON"),
        ("subject_timings/sub_1_trial000_timings.csv", "CSV"),
        ("transcripts/mmsites-demo/features.csv", "CSV"),
    ],
)
def test_unreadable_tables_are_one_line(dataset, tmp_path, caplog, relative, what):
    path = dataset / relative
    path.write_bytes(b'\x89PNG\r\n\x1a\n\x00\x00"' + bytes(range(256)) * 4)  # another file's bytes
    argv = _params(tmp_path, dataset)
    stage = "events" if "transcripts" in relative or "metadata" in relative else "responses"
    if stage == "responses":
        assert main(["events", *argv]) == 0
    _fails_with_one_line(caplog, [stage, *argv], str(path))


def test_truncated_intermediate_files_name_themselves(dataset, tmp_path, caplog):
    argv = _params(tmp_path, dataset)
    assert main(["events", *argv]) == 0
    events = tmp_path / "work/events/mmsites-demo_language.parquet"
    _truncate(events)
    with pytest.raises(ValueError, match=f"events file {events} cannot be read"):
        read_events(events)
    _fails_with_one_line(caplog, ["responses", *argv], str(events), "rerun the stage")
    npy = tmp_path / "x.npy"
    np.save(npy, np.arange(1000.0))
    _truncate(npy)
    with pytest.raises(ValueError, match=f"features file {npy} cannot be read"):
        load_array(npy, "features file")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporaries_of_killed_writers_are_swept_and_live_ones_kept(dataset, tmp_path, caplog):
    host, dead, folder = socket.gethostname(), _dead_pid(), tmp_path / "work" / "frames"
    folder.mkdir(parents=True)
    stale_dir = folder / f".movie.tmp-{dead}-0123abcd-{host}"
    (stale_dir / "inner").mkdir(parents=True)
    (stale_dir / "inner" / "frames.npy").write_bytes(b"x" * 100)
    stale_file = folder / f".scores.parquet.old-{dead}-89abcdef-{host}"
    stale_file.write_bytes(b"x")
    kept = [
        folder / f".live.parquet.tmp-{os.getpid()}-0123abcd-{host}",  # a writer still running
        folder / f".remote.parquet.tmp-{dead}-0123abcd-{host}x",  # another host's: cannot tell
        folder / ".legacy.parquet.tmp-0123abcd",  # no writer recorded
        folder / ".gitignore",
        folder / f"movie.tmp-{dead}-0123abcd-{host}",  # not hidden: not ours
    ]
    for path in kept:
        path.write_bytes(b"x")
    assert sorted(sweep_stale_temporaries(folder)) == sorted([stale_dir, stale_file])
    assert all(p.exists() for p in kept) and not stale_dir.exists() and not stale_file.exists()
    assert sweep_stale_temporaries(tmp_path / "absent") == []
    # atomic_path's own temporaries carry this process and host, so a sweep during a write
    # leaves them; a stage run sweeps its folders before it starts
    with atomic_path(folder / "out.npy") as tmp:
        tmp.write_bytes(b"x")
        assert sweep_stale_temporaries(folder) == [] and tmp.exists()
        assert tmp.name.startswith(f".out.npy.tmp-{os.getpid()}-") and tmp.name.endswith(f"-{host}")
    stale_file.write_bytes(b"x")
    with caplog.at_level(logging.WARNING):
        assert main(["events", *_params(tmp_path, dataset)]) == 0
    assert not stale_file.exists() and str(stale_file) in caplog.text


def test_result_tables_keep_names_pandas_would_read_as_missing(tmp_path):
    # A model, electrode or region called "null", "NA", "None" or "nan" is a name, not a gap;
    # only an empty field (how write_csv writes NaN and None) is missing.
    names = ["null", "NA", "None", "nan", "N/A", "clip"]
    table = pd.DataFrame(
        {"model": names, "r": [0.1, np.nan, 0.3, -np.inf, 0.5, 0.6], "region": [None] + names[1:]}
    )
    path = write_csv(table, tmp_path / "sites.csv")
    back = read_csv(path, "sites table")
    assert back["model"].tolist() == names
    assert back["region"].isna().tolist() == [True] + [False] * 5
    np.testing.assert_array_equal(back["r"].to_numpy(), table["r"].to_numpy())
    assert back["r"].dtype == np.float64
    with pytest.raises(FileNotFoundError, match="sites table .* is missing"):
        read_csv(tmp_path / "absent.csv", "sites table")
    path.write_bytes(b"\xff\xfe\x00" * 5)
    with pytest.raises(ValueError, match=f"sites table {path} cannot be read"):
        read_csv(path, "sites table")


def test_invalid_params_and_unexpected_errors_are_one_line(tmp_path, caplog, monkeypatch):
    params = tmp_path / "params.yaml"
    params.write_text("data: {format: braintreebank, subjects: [one]}\nresponses: {window_s: -1}\n")
    message = _fails_with_one_line(caplog, ["events", "--params", str(params)], str(params))
    assert "data.subjects.0" in message and "responses.window_s" in message
    # an error nobody anticipated: still one line, status 1, and --debug gives the traceback
    import mmsites.pipeline.cli as cli

    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(cli, "run_stage", boom)
    caplog.clear()
    assert main(["events", "--params", str(params)]) == 1
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "unexpected RuntimeError: kaboom (rerun with --debug for the traceback, and report it)"
    ]
    with pytest.raises(RuntimeError, match="kaboom"):
        main(["events", "--params", str(params), "--debug"])


def _cli(*args: str, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    return subprocess.Popen(
        [sys.executable, "-m", "mmsites.pipeline.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
        **kwargs,
    )


def test_no_traceback_on_the_command_line(dataset, tmp_path):
    """The real command: one line on stderr and status 2; --debug shows the traceback."""
    _truncate(BrainTreebank(dataset).h5_path(1, 0))
    argv = _params(tmp_path, dataset)
    assert main(["events", *argv]) == 0
    proc = _cli("responses", *argv)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if " ERROR " in line][0].count("sub_1_trial000.h5") >= 1
    proc = _cli("--debug", "responses", *argv)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0 and "Traceback" in err


# -- kill -9 -------------------------------------------------------------------------------------
def _run_params(root: Path, data_root: Path) -> list[str]:
    return _params(
        root,
        data_root,
        baselines={"multiconcat": None, "multilin": None},
        models=truth_models(),
        stats={"permutations": 49, "bootstrap": 10, "mode": "fast", "chunk": 10, "min_signal_bins": 5},
        compute={"executor": "local", "workers": 1, "threads_per_worker": 1},
    )


def _tables(root: Path) -> dict:
    """Every table and array the run wrote, by relative path (stamps, logs and reports aside)."""
    out = {}
    for path in sorted((root / "work").rglob("*")) + sorted((root / "results").rglob("*")):
        if path.suffix in (".parquet", ".csv", ".npy", ".npz") and "report" not in path.parts:
            out[str(path.relative_to(root))] = path.read_bytes() if path.suffix != ".parquet" else path
    return out


def _same_tables(a: Path, b: Path) -> None:
    ta, tb = _tables(a), _tables(b)
    assert sorted(ta) == sorted(tb)
    for name, value in ta.items():
        if isinstance(value, Path):
            pd.testing.assert_frame_equal(pd.read_parquet(value), pd.read_parquet(tb[name]), check_exact=True)
        else:
            assert value == tb[name], name


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 600) -> bool:
    """SIGKILL the run's whole process group once ``ready()``; False if it ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if ready():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("the run never reached the point to kill it at")


def _background(argv: list[str], log_file: Path) -> subprocess.Popen:
    """``mmsites run --until stats`` in its own process group, its log written to ``log_file``."""
    with open(log_file, "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "mmsites.pipeline.cli", "run", "--until", "stats", *argv],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1"),
            start_new_session=True,
        )


@pytest.mark.slow
def test_kill_9_mid_stage_then_rerun_gives_identical_tables(demo_root, tmp_path):
    """SIGKILL (no cleanup runs) in the responses stage, then in the encode stage with part of
    its outputs written; the third run finishes, reuses what was complete, and every table and
    array equals an uninterrupted run's, byte for byte (parquet: exactly, frame by frame)."""
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    for root in (reference, killed):
        shutil.copytree(demo_root, root / "data/demo", ignore=shutil.ignore_patterns("movies"))
    proc = _cli("run", "--until", "stats", *_run_params(reference, Path("data/demo")))
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-2000:]

    argv = _run_params(killed, Path("data/demo"))
    log_file = killed / "run.log"
    proc = _background(argv, log_file)
    assert _kill_when(proc, lambda: "stage responses: start" in log_file.read_text())
    scores = killed / "work/scores"
    proc = _background(argv, log_file)
    # a complete unit: its scores and the key beside them (written after the scores), which is
    # what lets the rerun keep it; a parquet alone may be killed before its key lands
    assert _kill_when(
        proc,
        lambda: scores.exists() and any(p.with_suffix(".json").exists() for p in scores.rglob("*.parquet")),
    )
    proc = _cli("run", "--until", "stats", *argv)
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-2000:]
    assert "scores up to date" in err  # the encode stage resumed: what was complete is kept
    _same_tables(reference, killed)
    leftovers = [*killed.rglob(".*.tmp-*"), *killed.rglob(".*.old-*")]
    assert not leftovers, f"the killed runs' temporaries were not swept: {leftovers}"


# -- bad channels --------------------------------------------------------------------------------
@pytest.mark.parametrize("rereference", ["laplacian", "bipolar"])
def test_nan_and_flat_channels_are_excluded_with_reasons(demo_root, tmp_path, rereference):
    """One channel with a NaN, one flat: those electrodes and the ones whose re-reference reads
    them are excluded and listed with the reason in results/electrodes.csv; the rest of the
    subject goes on, its responses identical to a run on the clean recording."""
    clean, broken = tmp_path / "clean", tmp_path / "broken"
    for root in (clean, broken):
        shutil.copytree(demo_root, root / "data", ignore=shutil.ignore_patterns("movies", "truth_features"))
    bt = BrainTreebank(broken / "data")
    labels = bt.labels(1)
    nan_label, flat_label = "T1aIb4", "F10Fa6"
    assert {nan_label, flat_label} <= set(labels)
    with h5py.File(bt.h5_path(1, 0), "r+") as f:
        f[f"data/electrode_{labels.index(nan_label)}"][50_000] = np.nan
        f[f"data/electrode_{labels.index(flat_label)}"][:] = 0.25
    responses = {}
    for root in (clean, broken):
        argv = _params(root, Path("data"), responses={"n_jobs": 1, "rereference": rereference})
        for stage in ("events", "responses", "regions"):
            assert main([stage, *argv]) == 0
        with h5py.File(root / "work/responses/voltage/sub-1_language.h5") as f:
            responses[root] = ([e.decode() for e in f["electrodes"][()]], f["responses"][()])
    table = pd.read_csv(broken / "results/electrodes.csv")
    excluded = table.loc[~table["analysed"]].set_index("electrode")["excluded"]
    assert "NaN at sample 50000" in excluded[nan_label]
    assert "flat" in excluded[flat_label]
    # the neighbours whose re-reference reads a bad channel go too, with that reason
    names, clean_values = responses[clean]
    contact = {"T1aIb4": ("T1aIb3", "T1aIb5"), "F10Fa6": ("F10Fa5", "F10Fa7")}
    users = {e for bad in (nan_label, flat_label) for e in contact[bad] if e in names}
    if rereference == "bipolar":  # an electrode reads its next contact only
        users = {e for e in users if int(e[-1]) < int((nan_label if e.startswith("T") else flat_label)[-1])}
    for user in users:
        assert user in excluded.index and "is bad" in excluded[user], (user, excluded.to_dict())
    kept, values = responses[broken]
    assert set(kept) == set(names) - set(excluded.index)
    np.testing.assert_array_equal(values, clean_values[:, [names.index(e) for e in kept]])
    assert table.loc[table["analysed"], "excluded"].isna().all()
