"""Electrode -> brain region lookup (Desikan-Killiany, Destrieux) and atlas data access."""

from mmsites import require_namespace

require_namespace(__name__)

from mmsites.atlases.regions import (
    ATLASES,
    REGION_COLUMNS,
    UNLOCALISED,
    atlas_data_dir,
    electrode_regions,
    is_region_label,
    load_atlas,
    lookup_mni,
    native_to_ras,
    normalize_label,
)

__all__ = [
    "ATLASES",
    "REGION_COLUMNS",
    "UNLOCALISED",
    "atlas_data_dir",
    "electrode_regions",
    "is_region_label",
    "load_atlas",
    "lookup_mni",
    "native_to_ras",
    "normalize_label",
]
