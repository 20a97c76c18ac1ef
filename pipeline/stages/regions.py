"""Stage ``regions``: each analysed electrode's brain region and hemisphere.

Uses the dataset's own labels (Brain Treebank ``localization/sub_N/depth-wm.csv``:
``DesikanKilliany``, ``Destrieux``, ``Hemisphere``) where it has them, and otherwise looks the
electrode's MNI coordinate (``localization/elec_coords_full.csv``) up in the atlas volumes
(:func:`mmsites.atlases.regions.electrode_regions`). Writes ``results/electrodes.csv``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from mmsites.atlases.regions import electrode_regions

from ..io import read_responses, write_csv
from ..params import Params
from ..paths import Layout
from ..sessions import open_dataset

log = logging.getLogger(__name__)


def electrode_table(params: Params, layout: Layout) -> pd.DataFrame:
    """One row per analysed electrode with the dataset's labels and MNI coordinates.

    The analysed electrodes are those of each subject's responses files (every kind of
    ``responses.kinds``) of the first alignment in ``events.alignments``.

    Parameters
    ----------
    params : Params
        Validated params; ``data.subjects`` and ``events.alignments`` matter.
    layout : Layout
        The file layout: the responses files and ``data.root``.

    Returns
    -------
    DataFrame
        Columns ``subject``, ``electrode``; where the dataset has them, ``DesikanKilliany``,
        ``Destrieux``, ``Hemisphere`` (``localization/sub_<s>/depth-wm.csv``, else the
        hemisphere of ``localization/elec_coords_full.csv``) and ``x``, ``y``, ``z`` (MNI mm,
        ``elec_coords_full.csv``).

    Raises
    ------
    FileNotFoundError
        If a responses file is missing (the responses stage has not run).
    """
    dataset = open_dataset(params, layout)
    rows = []
    for subject in params.data.subjects:
        # every kind's electrodes (brainbert may exclude some that others keep), in file order
        electrodes = list(
            dict.fromkeys(
                e
                for kind in params.responses.kinds
                if kind != "popt"  # its one unit is the population, not an electrode
                for e in read_responses(
                    layout.for_kind(kind).responses(subject, params.events.alignments[0]), data=False
                )["electrodes"]
            )
        )
        try:
            loc = dataset.localization(subject)
        except FileNotFoundError as err:
            log.warning("sub_%d: %s; its electrodes are placed from MNI coordinates only", subject, err)
            loc = pd.DataFrame()
        coords = dataset.mni_coordinates(subject)
        for electrode in electrodes:
            row = {"subject": subject, "electrode": electrode}
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
    table = electrode_regions(electrode_table(params, layout), radius_mm=params.regions.radius_mm)
    unplaced = int((table["region"] == "unlocalised").sum())
    if unplaced:
        log.warning(
            "%d of %d electrodes are unlocalised (no region label and no usable coordinate)",
            unplaced,
            len(table),
        )
    write_csv(table, layout.results / "electrodes.csv")
