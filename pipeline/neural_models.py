"""The neural-signal models the params name (``responses.brainbert``), built once for every stage.

The responses stage embeds events with it, the decode stage decoding windows, and
``mmsites pretrain popt`` the windows PopT is pretrained on: one place says which model the
params mean.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

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


def located_electrodes(electrodes, coords, *, subject=None) -> list:
    """The electrodes PopT can read: those with a row in the localization table.

    Parameters
    ----------
    electrodes : list of str
        Electrode labels.
    coords : DataFrame
        The subject's localization table (``localization/sub_<s>/depth-wm.csv``), indexed by
        electrode.
    subject : int, optional
        Named in the warning.

    Returns
    -------
    list of str
        ``electrodes`` in order, less those without a row (logged as left out of PopT).
    """
    placed = [e for e in electrodes if e in coords.index]
    if len(placed) < len(electrodes):
        log.warning(
            "%s%d electrode(s) without a row in depth-wm.csv left out of PopT: %s",
            "" if subject is None else f"sub_{subject}: ",
            len(electrodes) - len(placed),
            sorted(set(electrodes) - set(placed)),
        )
    return placed


#: The one unit of the ``popt`` kind's responses: the subject's population code.
POPULATION = "population"


def population_code(embeddings: np.ndarray, electrodes, excluded, coords, popt) -> np.ndarray:
    """PopT's CLS token over the electrodes' BrainBERT embeddings, per event.

    Parameters
    ----------
    embeddings : ndarray of float32, shape (n_events, n_electrodes, hidden)
        BrainBERT embeddings (NaN rows for excluded electrodes).
    electrodes : list of str, length n_electrodes
        Their labels.
    excluded : iterable of str
        Electrodes left out (non-finite samples).
    coords : DataFrame
        The subject's localization table, indexed by electrode, with ``L``, ``I``, ``P``.
    popt : PopT
        The model; its input width must be ``hidden``.

    Returns
    -------
    ndarray of float32, shape (n_events, 1, popt hidden)
        The CLS token of each event; electrodes without coordinates or excluded are not
        among PopT's inputs (logged).
    """
    from mmsites.brainmodels.popt import lip_coordinates

    excluded = set(excluded)
    placed = set(located_electrodes(electrodes, coords))
    located = [i for i, e in enumerate(electrodes) if e not in excluded and e in placed]
    if not located:
        raise ValueError("no electrode with coordinates and finite samples: PopT has no input")
    lip = lip_coordinates(coords.loc[[electrodes[i] for i in located]])
    emb = embeddings[:, located]
    cls = popt.tokens(emb, np.broadcast_to(lip, (len(emb), *lip.shape)))[:, 0]
    return cls[:, None, :].astype(np.float32)
