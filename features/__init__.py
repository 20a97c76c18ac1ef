"""Stimulus features of the movie events: events, scenes, frames, model-zoo features, baselines.

Installed as ``mmsites.features``: :mod:`.events` (the events tables), :mod:`.scenes` (scene
cuts), :mod:`.video` (frame decoding), :mod:`.zoo` (the model zoo's feature extractors),
:mod:`.reduction` (dimensionality reduction) and :mod:`.baselines` (linear-integration
baselines).
"""

from mmsites import require_namespace

require_namespace(__name__)
