"""Stage ``regions``: each analysed electrode's brain region and hemisphere.

Uses the dataset's own labels (Brain Treebank ``localization/sub_N/depth-wm.csv``:
``DesikanKilliany``, ``Destrieux``, ``Hemisphere``) where it has them, and otherwise looks the
electrode's MNI coordinate (``localization/elec_coords_full.csv``) up in the atlas volumes
(:func:`mmsites.atlases.regions.electrode_regions`). Writes ``results/electrodes.csv``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from mmsites.atlases.regions import electrode_regions

from ..io import read_responses, write_csv
from ..params import Params
from ..paths import Layout
from ..sessions import open_dataset

log = logging.getLogger(__name__)


def excluded_electrodes(attrs: dict) -> dict[str, str]:
    """The electrodes a responses file left out, with the reason, from its ``excluded`` attribute.

    Parameters
    ----------
    attrs : dict
        The file's attributes (:func:`pipeline.io.read_responses`, ``attrs``).

    Returns
    -------
    dict of str to str
        Electrode label -> reason (files that recorded a bare list: "non-finite samples").
    """
    raw = attrs.get("excluded", "{}")
    value = json.loads(raw) if isinstance(raw, str) else raw
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    return {str(label): "non-finite samples" for label in value}


def electrode_table(params: Params, layout: Layout) -> pd.DataFrame:
    """One row per electrode with the dataset's labels and coordinates, analysed or excluded.

    The analysed electrodes are those of each subject's responses files (every kind of
    ``responses.kinds``) of the first alignment in ``events.alignments``; the excluded ones
    are those the files record as left out (a bad channel: non-finite or flat, itself or in
    its re-reference), with the reason.

    Parameters
    ----------
    params : Params
        Validated params; ``data.subjects`` and ``events.alignments`` matter.
    layout : Layout
        The file layout: the responses files and ``data.root``.

    Returns
    -------
    DataFrame
        Columns ``subject``, ``electrode``, ``analysed`` (bool: in at least one kind's
        responses), ``excluded`` (the reason per kind that left it out, ``"<kind>: <reason>"``
        joined by ``"; "``; empty when none); where the dataset has them,
        ``DesikanKilliany``, ``Destrieux``, ``Hemisphere`` (Brain Treebank
        ``localization/sub_<s>/depth-wm.csv``, else the hemisphere of the coordinates) and
        ``x``, ``y``, ``z`` (MNI mm); ``space``, the coordinate system the dataset gives
        (``MNI`` for the Brain Treebank; a BIDS ``iEEGCoordinateSystem``: only MNI spaces are
        looked up in the atlases).

    Raises
    ------
    FileNotFoundError
        If a responses file is missing (the responses stage has not run).
    """
    dataset = open_dataset(params, layout)
    rows = []
    for subject in params.data.subjects:
        analysed: dict[str, None] = {}
        reasons: dict[str, list[str]] = {}
        for kind in params.responses.kinds:
            resp = read_responses(
                layout.for_kind(kind).responses(subject, params.events.alignments[0]), data=False
            )
            if kind != "popt":  # its one unit is the population, not an electrode
                analysed.update(dict.fromkeys(resp["electrodes"]))
            for label, reason in excluded_electrodes(resp["attrs"]).items():
                reasons.setdefault(label, []).append(f"{kind}: {reason}")
        try:
            loc = dataset.localization(subject)
        except FileNotFoundError as err:
            log.warning("sub_%d: %s; its electrodes are placed from MNI coordinates only", subject, err)
            loc = pd.DataFrame()
        coords = dataset.mni_coordinates(subject)
        space = dataset.coordinate_space(subject)
        for electrode in list(analysed) + [e for e in reasons if e not in analysed]:
            row = {
                "subject": subject,
                "electrode": electrode,
                "analysed": electrode in analysed,
                "excluded": "; ".join(reasons.get(electrode, [])),
                "space": space or "",
            }
            if electrode in loc.index:
                for col in ("DesikanKilliany", "Destrieux", "Hemisphere"):
                    if col in loc.columns:
                        row[col] = loc.at[electrode, col]
            if electrode in coords.index:
                row.update(
                    x=coords.at[electrode, "X"], y=coords.at[electrode, "Y"], z=coords.at[electrode, "Z"]
                )
                if "Hemisphere" not in row and "Hemisphere" in coords.columns:
                    row["Hemisphere"] = coords.at[electrode, "Hemisphere"]
            rows.append(row)
    return pd.DataFrame(rows)


def run(params: Params, workdir: Path) -> None:
    """Run the regions stage: place every analysed electrode in a region and hemisphere.

    Reads ``work/responses/sub-<s>_<alignment>.h5`` (its electrode list; first alignment
    only) and, under ``data.root``, ``localization/sub_<s>/depth-wm.csv`` and
    ``localization/elec_coords_full.csv``. Writes ``results/electrodes.csv``
    (:func:`mmsites.atlases.regions.electrode_regions`: one row per subject and electrode).

    Parameters
    ----------
    params : Params
        Validated params; ``data`` (root, subjects), ``events.alignments`` and
        ``regions.radius_mm`` matter.
    workdir : Path
        The working directory every path above is relative to.
    """
    layout = Layout(workdir, params)
    electrodes = electrode_table(params, layout)
    table = electrode_regions(electrodes, radius_mm=params.regions.radius_mm)
    for col in ("analysed", "excluded", "space"):
        table[col] = electrodes[col].to_numpy()
    excluded = table.loc[~table["analysed"]]
    if len(excluded):
        log.warning(
            "%d electrode(s) excluded (listed in electrodes.csv with the reason): %s",
            len(excluded),
            "; ".join(f"sub_{r.subject} {r.electrode} ({r.excluded})" for r in excluded.itertuples()),
        )
    mni = ("MNI", "FSAVERAGE", "ICBM", "IXI549")
    odd = sorted({str(x) for x in table["space"] if x and not str(x).upper().startswith(mni)})
    if odd:
        log.warning(
            "electrode coordinates in %s are not MNI: their regions come from the dataset's labels only "
            "(the atlas lookup needs MNI coordinates); the space is in electrodes.csv's 'space' column",
            odd,
        )
    unplaced = int((table["region"] == "unlocalised").sum())
    if unplaced:
        log.warning(
            "%d of %d electrodes are unlocalised (no region label and no usable coordinate)",
            unplaced,
            len(table),
        )
    write_csv(table, layout.results / "electrodes.csv")
