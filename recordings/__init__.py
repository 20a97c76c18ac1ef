"""Intracranial recordings: the Brain Treebank reader, preprocessing, event-locked responses.

:mod:`.braintreebank` reads the release's files (labels, trigger tables, transcripts, h5
signals); :mod:`.preprocessing` filters and re-references; :mod:`.responses` averages the
signal in windows around events; :mod:`.demo` writes a synthetic dataset in the release's
layout with planted responses (the demo data and the tests' ground truth).
"""

from mmsites import require_namespace

require_namespace(__name__)
