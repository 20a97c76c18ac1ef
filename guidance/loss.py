"""The guidance loss: representational distances between mapped layers of a target and a guide.

Guide layer i (of G recorded maps) is compared with target layer
``min(round(i (T-1)/(G-1)), T-1)`` (:func:`mmsites.similarity.layer_map`), on the activations
of one minibatch flattened per example. The distance of a pair is ``1 - CKA`` (linear CKA,
biased HSIC, centred Grams: :func:`mmsites.similarity.linear_cka`) or ``1 - RSA`` (Pearson r of
the full cosine-similarity matrices, the guidance code's differentiable RSA:
:func:`mmsites.similarity.rsa` with ``full_matrix=True``), computed in float32. The guidance
loss is their sum over the G guide layers.

One departure from the guidance code: it stores the distances in a dictionary keyed by the
target layer, so when several guide layers map to one target layer (G > T) only the last of
them counts; here every guide layer's pair counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mmsites.similarity import layer_map, linear_cka, rsa

__all__ = ["DISTANCES", "layer_pairs", "pair_distances"]

#: Representational distances offered: ``1 - CKA`` (the published one) and ``1 - RSA``.
DISTANCES: tuple[str, ...] = ("cka", "rsa")


def layer_pairs(guide_names: Sequence[str], target_names: Sequence[str]) -> list[tuple[int, int, str]]:
    """Which target layer each guide layer is compared with.

    Parameters
    ----------
    guide_names : sequence of str
        The guide's recorded maps, in order (G >= 1).
    target_names : sequence of str
        The target's recorded maps, in order (T >= 1).

    Returns
    -------
    list of (int, int, str)
        One ``(guide index, target index, "guide name -> target name")`` per guide layer.

    Raises
    ------
    ValueError
        If either network has no recorded layer.
    """
    if not guide_names or not target_names:
        raise ValueError(
            f"guidance needs recorded layers in both networks; got {len(guide_names)} in the guide "
            f"and {len(target_names)} in the target (see mmsites.guidance.hooks.LAYER_TYPES)"
        )
    mapping = layer_map(len(guide_names), len(target_names))
    return [(i, j, f"{guide_names[i]} -> {target_names[j]}") for i, j in enumerate(mapping)]


def pair_distances(
    guide_acts: Sequence[torch.Tensor],
    target_acts: Sequence[torch.Tensor],
    pairs: Sequence[tuple[int, int, str]],
    distance: str = "cka",
) -> torch.Tensor:
    """Distance of each mapped pair of layers on one minibatch.

    Parameters
    ----------
    guide_acts : sequence of Tensor, each (n, p_i)
        The guide's activations (detached or not), flattened per example.
    target_acts : sequence of Tensor, each (n, q_j)
        The target's activations on the same n examples (or, with guidance on noise, on the
        batch whose noise the guide saw), flattened per example.
    pairs : sequence of (int, int, str)
        From :func:`layer_pairs`.
    distance : {"cka", "rsa"}
        ``1 - linear CKA`` or ``1 - RSA`` (cosine similarity matrices, Pearson r, full
        matrices).

    Returns
    -------
    Tensor, shape (len(pairs),)
        The distances, float32, unitless, in [0, 1] for CKA and [0, 2] for RSA;
        differentiable with respect to the activations.

    Raises
    ------
    ValueError
        If ``distance`` is unknown or the activations cannot be compared (different numbers
        of rows, fewer than 2 examples, non-finite values).
    """
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    out = []
    with torch.autocast(target_acts[0].device.type, enabled=False):
        for i, j, _ in pairs:
            g, t = guide_acts[i].float(), target_acts[j].float()
            if distance == "cka":
                sim = linear_cka(t, g)
            else:
                sim = rsa(t, g, similarity="cosine", compare="pearson", full_matrix=True)
            out.append(1.0 - sim)
    return torch.stack(out)
