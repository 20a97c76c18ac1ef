"""Guidance: train a network with the task loss plus α · Σ (1 − CKA) to a frozen guide's layers.

``mmsites.guidance`` implements *guidance* (Subramaniam et al. 2024, "Training the
Untrainable: Introducing Inductive Bias via Representational Alignment", arXiv 2410.20035;
code vsubramaniam851/untrainable-networks) as a library on arrays: no params, no stages.
Public API:

* training (:mod:`~mmsites.guidance.training`): :func:`~mmsites.guidance.training.guided_train`
  (task loss + α · Σ distances, guide frozen, noise or early-stopped guidance, CKA or RSA,
  bit-exact resumable checkpoints, CUDA/bf16), :func:`~mmsites.guidance.training.evaluate`,
  :func:`~mmsites.guidance.training.read_checkpoint`;
* fixed guides (:mod:`~mmsites.guidance.fixed`): :class:`~mmsites.guidance.fixed.FixedGuide`,
  a guide given as fixed representations per example (e.g. neural responses);
* the loss (:mod:`~mmsites.guidance.loss`): :func:`~mmsites.guidance.loss.layer_pairs`,
  :func:`~mmsites.guidance.loss.pair_distances`;
* layers (:mod:`~mmsites.guidance.hooks`): :class:`~mmsites.guidance.hooks.LayerRecorder`,
  :func:`~mmsites.guidance.hooks.layer_activations`, :data:`~mmsites.guidance.hooks.LAYER_TYPES`;
* models (:mod:`~mmsites.guidance.models`): :class:`~mmsites.guidance.models.DigitsCNN`,
  :class:`~mmsites.guidance.models.DigitsFCN`, :class:`~mmsites.guidance.models.SequenceRNN`,
  :class:`~mmsites.guidance.models.TinyTransformer`;
* data (:mod:`~mmsites.guidance.data`): digits, parity, copy-paste, noise inputs;
* experiments (:mod:`~mmsites.guidance.experiments`): the digits and sequence experiments
  over several seeds, and the arms of a fixed-guide experiment (what ``mmsites guide`` runs;
  the brain as guide is put together by the pipeline, which also writes the results).
"""

from mmsites import require_namespace

require_namespace(__name__)

from .data import copy_paste_data, digits_data, noise_like, parity_data
from .fixed import FixedGuide
from .hooks import LAYER_TYPES, LayerRecorder, layer_activations
from .loss import DISTANCES, layer_pairs, pair_distances
from .models import DigitsCNN, DigitsFCN, SequenceRNN, TinyTransformer
from .training import OPTIMIZERS, epoch_batches, evaluate, fingerprint, guided_train, read_checkpoint

__all__ = [
    "guided_train",
    "FixedGuide",
    "evaluate",
    "read_checkpoint",
    "epoch_batches",
    "fingerprint",
    "OPTIMIZERS",
    "DISTANCES",
    "layer_pairs",
    "pair_distances",
    "LAYER_TYPES",
    "LayerRecorder",
    "layer_activations",
    "DigitsCNN",
    "DigitsFCN",
    "SequenceRNN",
    "TinyTransformer",
    "digits_data",
    "parity_data",
    "copy_paste_data",
    "noise_like",
]
