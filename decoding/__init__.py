"""Decoding stimulus variables from neural data: Neuroprobe-style tasks, splits and probes.

``mmsites.decoding`` is a pure library: arrays and tables in, tables out; no files, no
params (the pipeline stage that reads responses and transcripts and writes
``results/decoding.csv`` lives in ``pipeline/``). Public API:

* tasks (:mod:`~mmsites.decoding.tasks`): :func:`~mmsites.decoding.tasks.build_task`,
  :func:`~mmsites.decoding.tasks.build_tasks` and one function per task (``onset``,
  ``speech``, ``volume``, ``pitch``, ``word_gap``, ``word_index``, ``sentence_onset``,
  ``scene_cut``): a table of labelled event times ``time_s, label`` in movie seconds;
* splits (:mod:`~mmsites.decoding.splits`): :class:`~mmsites.decoding.splits.Split`,
  :func:`~mmsites.decoding.splits.within_session_splits`,
  :func:`~mmsites.decoding.splits.cross_session_splits`,
  :func:`~mmsites.decoding.splits.cross_subject_splits`,
  :func:`~mmsites.decoding.splits.purged_kfold`;
* probes (:mod:`~mmsites.decoding.probes`): :func:`~mmsites.decoding.probes.linear_probe`,
  :func:`~mmsites.decoding.probes.decode`, :func:`~mmsites.decoding.probes.roc_auc`,
  :func:`~mmsites.decoding.probes.moving_block_indices`;
* the result table (:mod:`~mmsites.decoding.table`):
  :func:`~mmsites.decoding.table.decoding_table`.
"""

from mmsites import require_namespace

require_namespace(__name__)

from .probes import DEFAULT_CS, DecodeResult, ProbeFit, decode, linear_probe, moving_block_indices, roc_auc
from .splits import Split, cross_session_splits, cross_subject_splits, purged_kfold, within_session_splits
from .table import TABLE_COLUMNS, decoding_table
from .tasks import TASKS, build_task, build_tasks

__all__ = [
    "TASKS",
    "build_task",
    "build_tasks",
    "Split",
    "purged_kfold",
    "within_session_splits",
    "cross_session_splits",
    "cross_subject_splits",
    "DEFAULT_CS",
    "ProbeFit",
    "DecodeResult",
    "linear_probe",
    "decode",
    "roc_auc",
    "moving_block_indices",
    "TABLE_COLUMNS",
    "decoding_table",
]
