"""The ``mmsites`` command line: run one stage, or all of them in order, with or without DVC.

Examples
--------
``mmsites run --params params.yaml --workdir .`` runs every stage in order, in process;
``mmsites run --until responses`` stops after that stage; ``mmsites encode --params params.yaml``
runs one stage (what each DVC stage calls). ``mmsites pretrain brainbert --params FILE`` pretrains
BrainBERT on the dataset's recordings (``pretrain:`` section; not a stage, not in ``dvc.yaml``),
``mmsites pretrain popt`` PopT on their BrainBERT embeddings (``pretrain_popt:`` section).
``mmsites guide --params FILE`` runs the guidance experiments (``guide:`` section; not a stage).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from pathlib import Path

from .io import sweep_stale_temporaries
from .params import load_params
from .paths import Layout

#: Stage name -> module under pipeline.stages, in pipeline order.
STAGES = {
    "demo-data": "demo_data",
    "events": "events",
    "responses": "responses",
    "features": "features",
    "encode": "encode",
    "regions": "regions",
    "stats": "stats",
    "decode": "decode",
    "similarity": "similarity",
    "report": "report",
}

#: Models ``mmsites pretrain`` can train (pipeline/pretrain.py); not stages.
PRETRAINABLE = ("brainbert", "popt")

log = logging.getLogger("mmsites")


def run_stage(name: str, params_path: str | Path, workdir: str | Path = ".") -> None:
    """Run one stage by name with the params file and working directory given.

    Parameters
    ----------
    name : str
        Stage name, a key of :data:`STAGES` (``"events"``, ``"encode"``, ...).
    params_path : str or Path
        The params YAML file (validated by :func:`pipeline.params.load_params`).
    workdir : str or Path
        Working directory; every ``data/``, ``work/`` and ``results/`` path of the params and
        the layout (:class:`pipeline.paths.Layout`) is relative to it.

    Raises
    ------
    ValueError
        If ``name`` is not a stage, or the params file is invalid.
    FileNotFoundError
        If the params file does not exist.
    """
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}; stages are {list(STAGES)}")
    params = load_params(params_path)
    workdir = Path(workdir).resolve()
    module = importlib.import_module(f"mmsites.pipeline.stages.{STAGES[name]}")
    start = time.perf_counter()
    log.info("stage %s: start (workdir %s)", name, workdir)
    _sweep_killed_writes(workdir, params)
    module.run(params, workdir)
    log.info("stage %s: done in %.1f s", name, time.perf_counter() - start)


def _sweep_killed_writes(workdir: Path, params, *extra: Path) -> None:
    # A run killed mid-write (SIGKILL, OOM, a cluster's time limit) leaves its atomic_path
    # temporary behind, as large as the output; the next run clears those of dead processes.
    layout = Layout(workdir, params)
    folders = [workdir / "work", layout.results, *extra]
    if params.data.format == "demo":  # the demo-data stage writes data.root whole, beside itself
        folders.append(layout.data_root.parent)
    for folder in folders:
        sweep_stale_temporaries(folder)


def run_pretrain(model: str, params_path: str | Path, workdir: str | Path = ".") -> None:
    """Pretrain a model on the dataset's recordings (``mmsites pretrain <model>``).

    Parameters
    ----------
    model : str
        One of :data:`PRETRAINABLE` (``"brainbert"``, ``"popt"``).
    params_path : str or Path
        The params YAML file; its ``pretrain:`` (BrainBERT) or ``pretrain_popt:`` (PopT)
        section says how.
    workdir : str or Path
        Working directory; ``pretrain.checkpoint`` and the windows are written under it.

    Raises
    ------
    ValueError
        If ``model`` is unknown, the params file is invalid, or the run cannot start (the
        message names the params key).
    FileNotFoundError
        If the params file or a recording does not exist.
    """
    if model not in PRETRAINABLE:
        raise ValueError(f"unknown model {model!r} to pretrain; choose one of {list(PRETRAINABLE)}")
    params = load_params(params_path)
    workdir = Path(workdir).resolve()
    module = importlib.import_module("mmsites.pipeline.pretrain")
    start = time.perf_counter()
    log.info("pretrain %s: start (workdir %s)", model, workdir)
    _sweep_killed_writes(workdir, params)
    module.run(params, workdir, model)
    log.info("pretrain %s: done in %.1f s", model, time.perf_counter() - start)


def run_guide(
    params_path: str | Path, workdir: str | Path = ".", experiments: list[str] | None = None
) -> None:
    """Run the guidance experiments (``mmsites guide``; :mod:`mmsites.pipeline.guide`).

    Parameters
    ----------
    params_path : str or Path
        The params YAML file; its ``guide:`` section says which experiments and how.
    workdir : str or Path
        Working directory; ``guide.out_dir`` (results, curves, checkpoints) is under it.
    experiments : list of str, optional
        Run these instead of ``guide.experiments`` (``digits``, ``parity``, ``copy_paste``,
        ``brain``).

    Raises
    ------
    ValueError
        If the params file is invalid, an experiment is unknown or a run cannot start.
    FileNotFoundError
        If the params file does not exist.
    """
    params = load_params(params_path)
    workdir = Path(workdir).resolve()
    module = importlib.import_module("mmsites.pipeline.guide")
    start = time.perf_counter()
    log.info("guide %s: start (workdir %s)", experiments or params.guide.experiments, workdir)
    _sweep_killed_writes(workdir, params, workdir / params.guide.out_dir)
    module.run_guidance(params, workdir, experiments)
    log.info(
        "guide: done in %.1f s; results and the page (index.html) in %s",
        time.perf_counter() - start,
        workdir / params.guide.out_dir,
    )


def run_all(
    params_path: str | Path, workdir: str | Path = ".", until: str | None = None, start_at: str | None = None
) -> None:
    """Run the stages in order (the same code DVC runs, without DVC).

    The ``demo-data`` stage runs only when ``data.format`` is ``demo``.

    Parameters
    ----------
    params_path : str or Path
        The params YAML file.
    workdir : str or Path
        Working directory the stages read from and write to.
    until : str, optional
        Last stage to run (``--until``); default: the last stage, ``report``.
    start_at : str, optional
        First stage to run (``--from``); default: the first stage, ``demo-data``.

    Raises
    ------
    ValueError
        If ``until`` or ``start_at`` is not a stage, or the params file is invalid.
    FileNotFoundError
        If the params file does not exist.
    """
    names = list(STAGES)
    if until is not None and until not in STAGES:
        raise ValueError(f"--until {until!r} is not a stage; stages are {names}")
    if start_at is not None and start_at not in STAGES:
        raise ValueError(f"--from {start_at!r} is not a stage; stages are {names}")
    first = names.index(start_at) if start_at else 0
    last = names.index(until) if until else len(names) - 1
    params = load_params(params_path)
    for name in names[first : last + 1]:
        if name == "demo-data" and params.data.format != "demo":
            log.info("stage demo-data: skipped (data.format is %s)", params.data.format)
            continue
        run_stage(name, params_path, workdir)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmsites", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="debug logging; a failure shows its traceback",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--params", default="params.yaml", help="params YAML file (default params.yaml)")
    # also after the command (``mmsites run --debug``); SUPPRESS keeps the top-level value
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--workdir", default=".", help="working directory for data/work/results (default .)")
    run = sub.add_parser("run", parents=[common], help="run every stage in order")
    run.add_argument("--until", default=None, help="stop after this stage")
    run.add_argument("--from", dest="start_at", default=None, help="start at this stage")
    for name in STAGES:
        sub.add_parser(name, parents=[common], help=f"run the {name} stage")
    pre = sub.add_parser(
        "pretrain", parents=[common], help="pretrain a model on the dataset's recordings (not a stage)"
    )
    pre.add_argument("model", choices=PRETRAINABLE, help="the model to pretrain")
    guide = sub.add_parser("guide", parents=[common], help="run the guidance experiments (not a stage)")
    guide.add_argument(
        "experiments",
        nargs="*",
        metavar="experiment",
        help="digits, parity, copy_paste or brain (default: guide.experiments of the params)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mmsites`` command: parse the arguments and run.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments without the program name; default: ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 on success; 2 when a stage (or ``pretrain``, ``guide``) stops on bad
        input (``ValueError``, ``OSError`` such as a missing, unreadable or truncated file,
        ``KeyError``, ``EOFError``): its message, which names the file and what was expected,
        is logged as one line; 1 on any other error (one line too, saying it is unexpected).
        ``--debug`` (or ``-vv``) re-raises instead, with the traceback.
    """
    args = _parser().parse_args(argv)
    debug = args.debug or args.verbose > 1
    level = logging.DEBUG if debug else logging.INFO
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    for noisy in ("matplotlib", "PIL", "h5py", "urllib3", "filelock", "fsspec", "numexpr"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        if args.command == "run":
            run_all(args.params, args.workdir, until=args.until, start_at=args.start_at)
        elif args.command == "pretrain":
            run_pretrain(args.model, args.params, args.workdir)
        elif args.command == "guide":
            run_guide(args.params, args.workdir, args.experiments)
        else:
            run_stage(args.command, args.params, args.workdir)
    except INPUT_ERRORS as err:
        # Errors for people: the message says what and where; no traceback unless asked.
        if debug:
            raise
        log.error("%s", _one_line(err))
        return 2
    except Exception as err:  # noqa: BLE001 - the command's last word: one line, not a traceback
        if debug:
            raise
        log.error(
            "unexpected %s: %s (rerun with --debug for the traceback, and report it)",
            type(err).__name__,
            _one_line(err),
        )
        return 1
    return 0


#: What bad input raises: a missing, unreadable or truncated file (OSError: h5py, PyAV), a
#: wrong layout or value (ValueError, KeyError), a file that ends early (EOFError: numpy).
INPUT_ERRORS = (ValueError, OSError, KeyError, EOFError)


def _one_line(err: BaseException) -> str:
    """An exception's message, with its cause's when it adds one, as one log line."""
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    cause = err.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text} ({type(cause).__name__}: {cause})"
    return " | ".join(line.strip() for line in text.splitlines() if line.strip()) or type(err).__name__


if __name__ == "__main__":
    sys.exit(main())
