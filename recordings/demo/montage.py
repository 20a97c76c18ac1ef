"""The demo montage: depth shafts, their contacts and labels, each contact's coordinates and kind.

Every subject has ``n_shafts`` depth shafts of ``contacts_per_shaft`` contacts (contact 1
deepest), with the label quirks of the real electrode lists (``#`` and ``*`` suffixes, a ``*``
inside a label, trigger channels ``DC4``, ``DC10`` and, for the first subject, ``TRIG4``),
one corrupted contact and one contact missing from the localization. Outer contacts lie in
cortex (a Desikan-Killiany and a Destrieux region per shaft), deep ones in white matter.

Among the electrodes that the Laplacian reference keeps, :func:`assign_kinds` chooses the
responsive ones (vision, language, multimodal and highgamma), never two on adjacent contacts,
so that after the Laplacian every responsive electrode carries its own response only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from mmsites.constants import PLANTED_KINDS
from mmsites.recordings.braintreebank import clean_label, select_electrodes, shaft_and_contact

__all__ = [
    "Montage",
    "assign_kinds",
    "localization",
    "subject_montage",
]

_STEMS = (
    "T1aIb",
    "F10Fa",
    "LT2aA",
    "RF1aCaOF",
    "O1bId",
    "P2Ie",
    "T3bHa",
    "F2aCb",
    "RT3aHa",
    "LF3aOFb",
    "T2cA",
    "P1bSa",
)
# Cortical region of the outer contacts of each shaft (deep contacts are white matter).
_REGIONS = (
    "superiortemporal",
    "caudalmiddlefrontal",
    "middletemporal",
    "lateralorbitofrontal",
    "lateraloccipital",
    "inferiorparietal",
    "insula",
    "superiorfrontal",
    "supramarginal",
    "parsopercularis",
    "inferiortemporal",
    "superiorparietal",
)
_DESTRIEUX = {
    "superiortemporal": "G_temp_sup-Lateral",
    "caudalmiddlefrontal": "G_front_middle",
    "middletemporal": "G_temporal_middle",
    "lateralorbitofrontal": "G_orbital",
    "lateraloccipital": "G_occipital_middle",
    "inferiorparietal": "G_pariet_inf-Angular",
    "insula": "G_insular_short",
    "superiorfrontal": "G_front_sup",
    "supramarginal": "G_pariet_inf-Supramar",
    "parsopercularis": "G_front_inf-Opercular",
    "inferiortemporal": "G_temporal_inf",
    "superiorparietal": "G_parietal_sup",
}


class Montage(NamedTuple):
    """One subject's electrode list, as :func:`subject_montage` builds it.

    Attributes
    ----------
    raw : list of str
        Raw electrode labels in h5 channel order (``electrode_labels.json``), trigger channels
        included.
    shaft_of : ndarray of int, shape (n_channels,)
        Shaft number (0-based, the position in the montage) of each label; -1 for a trigger
        (DC/TRIG) channel.
    stems : list of str
        Shaft names, in shaft order.
    corrupted : str
        Raw label of the broken contact (contact 3 of the last shaft).
    omitted : str
        Cleaned label of the contact left out of the localization (contact 1 of the last shaft).
    bad : list of str
        Raw labels of the subject's ``corrupted_elec.json`` entry: trigger channels and the
        broken contact.
    eligible : list of str
        Cleaned labels of the electrodes that the Laplacian reference keeps, in channel order.
    """

    raw: list
    shaft_of: np.ndarray
    stems: list
    corrupted: str
    omitted: str
    bad: list
    eligible: list


def _montage(subject_pos: int, n_shafts: int, contacts_per_shaft: int):
    """Raw labels (h5 order, incl. trigger channels), shaft of each (-1: not neural), stems,
    the raw label of the corrupted contact and the cleaned label left out of localization."""
    stems = list(_STEMS[:n_shafts])
    raw, shaft_of = [], []
    for s, stem in enumerate(stems):
        for c in range(1, contacts_per_shaft + 1):
            label = f"{stem}{c}"
            if stem == "F10Fa" and c == 5:
                label = "F1*0Fa5"  # as in the real sub_1 list: cleans to F10Fa5
            elif s == 0 and c == 3:
                label = f"{stem}{c}#"
            elif s == 2:
                label = f"{stem}{c}*"
            raw.append(label)
            shaft_of.append(s)
        if s == 1:
            raw.append("DC4")
            shaft_of.append(-1)
    raw.append("DC10")
    shaft_of.append(-1)
    if subject_pos == 0:
        raw.append("TRIG4")
        shaft_of.append(-1)
    # corrupted: contact 3 of the last shaft; its contact 1 has no localization. With 3 gone,
    # contacts 2 and 4 have no Laplacian anyway, so dropping contact 1 changes no selection.
    last = n_shafts - 1
    corrupted = next(lab for lab in raw if clean_label(lab) == f"{stems[last]}3")  # raw, as the real lists
    omitted = f"{stems[last]}1"
    return raw, np.asarray(shaft_of), stems, corrupted, omitted


def _responsive_candidates(eligible: list[str], rng: np.random.Generator | None = None) -> list[str]:
    """A largest set of eligible electrodes with no two on adjacent contacts.

    Every run of consecutive eligible contacts of a shaft contributes every other contact,
    from an end chosen by ``rng`` (the first end when None).
    """
    by_shaft: dict[str, list[int]] = {}
    for label in eligible:
        shaft, contact = shaft_and_contact(label)
        by_shaft.setdefault(shaft, []).append(contact)
    name = {shaft_and_contact(label): label for label in eligible}
    candidates = []
    for shaft, contacts in by_shaft.items():
        contacts = sorted(contacts)
        for run in np.split(np.asarray(contacts), np.flatnonzero(np.diff(contacts) > 1) + 1):
            start = int(rng.integers(0, 2)) if rng is not None and len(run) % 2 == 0 else 0
            candidates += [name[(shaft, int(c))] for c in run[start::2]]
    return candidates


def _n_per_kind(eligible: list[str]) -> int:
    """Electrodes of each planted kind for a subject with these Laplacian electrodes."""
    return max(2, len(eligible) // 8)


def assign_kinds(rng: np.random.Generator, eligible: list[str]) -> dict[str, str]:
    """Choose the planted kind of every electrode that the Laplacian reference keeps.

    ``n = max(2, len(eligible) // 8)`` electrodes of each planted kind, no two of them on
    adjacent contacts; every other one is ``"none"``. One random order of the non-adjacent
    candidates decides: its first ``3 n`` become vision, language, multimodal in turn, the
    next ``n`` highgamma. The highgamma electrodes were ``"none"`` before that kind existed
    and take no draw of their own, so every other electrode keeps its kind and ``rng`` its
    state.

    Parameters
    ----------
    rng : numpy.random.Generator
        The subject's planning stream.
    eligible : list of str
        Cleaned labels of the Laplacian electrodes (:attr:`Montage.eligible`).

    Returns
    -------
    kinds : dict of str to str
        Each eligible label, in the order of ``eligible``, -> its kind, ``"none"`` or one of
        :data:`mmsites.constants.PLANTED_KINDS`.
    """
    candidates = _responsive_candidates(eligible, rng)
    n = _n_per_kind(eligible)
    order = rng.permutation(len(candidates))
    kinds = {label: "none" for label in eligible}
    for k, i in enumerate(order[: 3 * n]):  # the voltage kinds, in turn
        kinds[candidates[i]] = ("vision", "language", "multimodal")[k % 3]
    for i in order[3 * n : 4 * n]:
        kinds[candidates[i]] = "highgamma"
    return kinds


def subject_montage(pos: int, n_shafts: int, contacts_per_shaft: int) -> Montage:
    """Build the electrode list of one subject, its corrupted channels and its Laplacian set.

    Parameters
    ----------
    pos : int
        Position of the subject in the demo (0 for the first): only the first has a ``TRIG4``
        channel (like the real sub_1).
    n_shafts : int
        Depth shafts, at most as many as there are shaft names (12; see
        :mod:`~mmsites.recordings.demo.arguments` for the bounds).
    contacts_per_shaft : int
        Contacts per shaft.

    Returns
    -------
    Montage
        Labels, shafts, corrupted and omitted contacts, and the Laplacian electrodes.

    Raises
    ------
    ValueError
        If the Laplacian electrodes leave too few non-adjacent electrodes for 2 of each
        planted kind (:data:`mmsites.constants.PLANTED_KINDS`; never within the bounds of
        the generator's arguments).
    """
    raw, shaft_of, stems, corrupted, omitted = _montage(pos, n_shafts, contacts_per_shaft)
    bad = [lab for lab in raw if clean_label(lab).upper().startswith(("DC", "TRIG"))] + [corrupted]
    eligible, _ = select_electrodes(raw, bad, "laplacian")
    n_free = len(_responsive_candidates(eligible))
    n_needed = len(PLANTED_KINDS) * _n_per_kind(eligible)
    if n_free < n_needed:
        raise ValueError(
            f"n_shafts={n_shafts} x contacts_per_shaft={contacts_per_shaft} leaves only {n_free} "
            f"non-adjacent Laplacian electrodes for {n_needed} responsive ones "
            "(2 per kind at least); use more shafts or contacts_per_shaft"
        )
    return Montage(raw, shaft_of, stems, corrupted, omitted, bad, eligible)


def localization(
    rng: np.random.Generator,
    subject: int,
    raw: list[str],
    shaft_of: np.ndarray,
    stems: list[str],
    omitted: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Place every contact in the brain: the two localization tables of one subject.

    Each shaft enters one hemisphere (by its ``L``/``R`` prefix, else a side drawn once per
    subject) from the side, contacts 3.5 mm apart, contact 1 deepest; the outer half of the
    contacts lie in the shaft's cortical region, the rest in white matter.

    Parameters
    ----------
    rng : numpy.random.Generator
        The subject's planning stream.
    subject : int
        Subject number (for the ``ID`` and ``Subject`` columns).
    raw : list of str
        Raw labels in channel order (:attr:`Montage.raw`).
    shaft_of : ndarray of int, shape (len(raw),)
        Shaft of each label, -1 for trigger channels (:attr:`Montage.shaft_of`).
    stems : list of str
        Shaft names (:attr:`Montage.stems`).
    omitted : str
        Cleaned label of the contact left out of both tables.

    Returns
    -------
    depth : pandas.DataFrame
        Rows of ``localization/sub_<s>/depth-wm.csv`` in shuffled order: ``Electrode`` (raw
        label), ``L``, ``P``, ``I`` (native-space mm, whole numbers), ``Hemisphere`` (1 left,
        0 right), ``DesikanKilliany``, ``Destrieux``.
    coords : pandas.DataFrame
        This subject's rows of ``localization/elec_coords_full.csv`` in channel order: ``ID``
        (``sub_<s>-<cleaned label>``), ``X``, ``Y``, ``Z`` (mm, ``128 - L``, ``128 - P``,
        ``128 - I``: the atlas coordinates of the release), ``Hemisphere``, ``Subject``,
        ``Electrode`` (raw label without ``#``), ``Region``.
    """
    depth, coords = [], []
    default_left = bool(rng.integers(0, 2))
    for s, stem in enumerate(stems):
        left = stem.startswith("L") or (not stem.startswith("R") and default_left)
        sign = 1 if left else -1  # L axis: left is +
        entry = np.array([128 + sign * rng.uniform(55, 65), rng.uniform(70, 180), rng.uniform(80, 170)])
        direction = np.array([-sign * 1.0, rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3)])
        direction *= 3.5 / np.linalg.norm(direction)  # 3.5 mm between contacts
        region = _REGIONS[s % len(_REGIONS)]
        hemi = "lh" if left else "rh"
        labels = [lab for lab, sh in zip(raw, shaft_of) if sh == s]
        n = len(labels)
        for label in labels:
            if clean_label(label) == omitted:
                continue
            contact = shaft_and_contact(label)[1]
            lpi = np.round(entry + direction * (n - contact)).astype(int)  # contact 1 deepest
            cortical = contact > n // 2
            dk = (
                f"ctx-{hemi}-{region}"
                if cortical
                else ("Left" if left else "Right") + "-Cerebral-White-Matter"
            )
            destrieux = f"ctx_{hemi}_{_DESTRIEUX[region]}" if cortical else dk
            depth.append(
                {
                    "Electrode": label,
                    "L": lpi[0],
                    "P": lpi[1],
                    "I": lpi[2],
                    "Hemisphere": int(left),
                    "DesikanKilliany": dk,
                    "Destrieux": destrieux,
                }
            )
            coords.append(
                {
                    "ID": f"sub_{subject}-{clean_label(label)}",
                    "X": round(128.0 - lpi[0], 2),
                    "Y": round(128.0 - lpi[1], 2),
                    "Z": round(128.0 - lpi[2], 2),
                    "Hemisphere": int(left),
                    "Subject": f"sub_{subject}",
                    "Electrode": label.replace("#", ""),
                    "Region": region if cortical else "white-matter",
                }
            )
    depth = pd.DataFrame(depth)
    depth = depth.iloc[rng.permutation(len(depth))].reset_index(drop=True)
    return depth, pd.DataFrame(coords)
