"""Models of intracranial signals: BrainBERT (Wang et al. 2023) and PopT (Chau et al. 2024).

:mod:`.brainbert` holds the architecture (``state_dict`` keys exactly those of the official
code, czlwang/BrainBERT@beec35d) and its inference API: the hidden states of any layer for a
spectrogram (:meth:`BrainBERT.tokens`) and the published embedding recipe for a window of
signal (:meth:`BrainBERT.embed`). :mod:`.checkpoint` reads and writes the official checkpoint
layout without unpickling arbitrary objects. The spectrograms come from
:mod:`mmsites.recordings.spectral` (the STFT and superlet recipes are written once, there).
:mod:`.pretrain` pretrains a model on one's own spectrograms by the published recipe (masking,
loss, LAMB and its schedule; resumable checkpoints in the official layout). :mod:`.popt` holds
the Population Transformer over many electrodes' BrainBERT embeddings (official ``state_dict``
keys, czlwang/PopulationTransformer@dadb55b; its 3-D position encoding from the electrodes'
integer (L, I, P) coordinates; its checkpoints read by the same restricted unpickler).
:mod:`.popt_pretrain` pretrains PopT by its two published tasks (is the second half of the
electrodes from the next window or a random one; which tokens were replaced) on one's own
BrainBERT embeddings, with resumable checkpoints in the official layout. Both pretrainings run
the one training loop of :mod:`.training` (optimizer, schedule, seeds, checkpoints, resumption,
several processes).

Examples
--------
>>> from mmsites.brainmodels import BrainBERT
>>> model = BrainBERT.from_pretrained("stft_large_pretrained.pth")  # doctest: +SKIP
>>> model.embed(windows, sfreq=2048.0).shape  # (n_windows, 10240) µV  # doctest: +SKIP
(n_windows, 768)
>>> from mmsites.brainmodels import PopT, lip_coordinates
>>> popt = PopT.from_pretrained("pretrained_popt_brainbert_stft.pth")  # doctest: +SKIP
>>> popt.tokens(embeddings, lip_coordinates(depth_wm)).shape  # CLS first  # doctest: +SKIP
(n_electrodes + 1, 512)
"""

from mmsites import require_namespace

require_namespace(__name__)

from .brainbert import PRESETS, BrainBERT, BrainBERTConfig
from .checkpoint import (
    CHECKPOINT_GLOBALS,
    config_from_official,
    load_checkpoint,
    official_config,
    read_checkpoint,
    save_checkpoint,
)
from .popt import (
    POPT_PRESETS,
    PopT,
    PopTConfig,
    PopTOutput,
    lip_coordinates,
    lip_from_mni,
    load_popt_checkpoint,
    popt_config_from_official,
    popt_official_config,
    save_popt_checkpoint,
)
from .popt_pretrain import PoptSeries, popt_pretrain_loss, popt_validation, pretrain_popt
from .pretrain import mask_spectrograms, masked_l1_loss, masked_validation, pretrain

__all__ = [
    "BrainBERT",
    "BrainBERTConfig",
    "PRESETS",
    "CHECKPOINT_GLOBALS",
    "config_from_official",
    "load_checkpoint",
    "official_config",
    "read_checkpoint",
    "save_checkpoint",
    "mask_spectrograms",
    "masked_l1_loss",
    "masked_validation",
    "pretrain",
    "PopT",
    "PopTConfig",
    "PopTOutput",
    "POPT_PRESETS",
    "lip_coordinates",
    "lip_from_mni",
    "load_popt_checkpoint",
    "popt_config_from_official",
    "popt_official_config",
    "save_popt_checkpoint",
    "PoptSeries",
    "popt_pretrain_loss",
    "popt_validation",
    "pretrain_popt",
]
