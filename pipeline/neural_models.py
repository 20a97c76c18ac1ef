"""The neural-signal models the params name (``responses.brainbert``), built once for every stage.

The responses stage embeds events with it, the decode stage decoding windows, and
``mmsites pretrain popt`` the windows PopT is pretrained on: one place says which model the
params mean.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .params import Params

log = logging.getLogger(__name__)


def brainbert_model(params: Params):
    """The BrainBERT the ``brainbert`` kind embeds with (``responses.brainbert``).

    Parameters
    ----------
    params : Params
        Validated params; ``responses.brainbert`` matters (and ``data.root``-relative paths
        are not involved: ``checkpoint`` is taken as given, relative to the working
        directory).

    Returns
    -------
    BrainBERT
        The checkpoint's model (strictly loaded, restricted unpickler), or a randomly
        initialised ``config`` seeded by ``seed``; in eval mode on ``device``.

    Raises
    ------
    FileNotFoundError
        If ``responses.brainbert.checkpoint`` is set and missing.
    """
    from mmsites.brainmodels import BrainBERT

    bp = params.responses.brainbert
    if bp.checkpoint:
        path = Path(bp.checkpoint)
        if not path.is_file():
            raise FileNotFoundError(
                f"responses.brainbert.checkpoint {path} does not exist: download a released "
                "checkpoint (stft_large_pretrained.pth) or write one with `mmsites pretrain "
                "brainbert`, or set it to null for a randomly initialised model"
            )
        return BrainBERT.from_pretrained(path, device=bp.device, preprocessor=bp.preprocessor)
    log.warning(
        "responses.brainbert.checkpoint is null: embedding with a randomly initialised %r "
        "BrainBERT (seed %d), not a pretrained one",
        bp.config,
        bp.seed,
    )
    from mmsites.device import resolve_device

    model = BrainBERT(bp.config, seed=bp.seed, preprocessor=bp.preprocessor)
    return model.to(resolve_device(bp.device)).eval()


def popt_model(params: Params):
    """The PopT of the ``popt`` response kind and decoding representation (``responses.popt``).

    Parameters
    ----------
    params : Params
        Validated params; ``responses.popt`` matters.

    Returns
    -------
    PopT
        The checkpoint's model (strictly loaded, restricted unpickler), or a randomly
        initialised ``config`` seeded by ``seed``; in eval mode on the CPU.

    Raises
    ------
    FileNotFoundError
        If ``responses.popt.checkpoint`` is set and missing.
    """
    from mmsites.brainmodels import PopT

    pp = params.responses.popt
    if pp.checkpoint:
        path = Path(pp.checkpoint)
        if not path.is_file():
            raise FileNotFoundError(
                f"responses.popt.checkpoint {path} does not exist: download the released "
                "pretrained_popt_brainbert_stft.pth or write one with `mmsites pretrain popt`, or "
                "set it to null for a randomly initialised model"
            )
        return PopT.from_pretrained(path)
    log.warning(
        "responses.popt.checkpoint is null: a randomly initialised %r PopT (seed %d), not a pretrained one",
        pp.config,
        pp.seed,
    )
    return PopT(pp.config, seed=pp.seed).eval()
