"""BrainTreebank.mni_coordinates: the atlas-space coordinates of localization/elec_coords_full.csv."""

import logging

import numpy as np
import pandas as pd
import pytest

from mmsites.recordings.braintreebank import BrainTreebank


def _root(tmp_path, table: pd.DataFrame | None):
    (tmp_path / "localization").mkdir(parents=True)
    if table is not None:
        table.to_csv(tmp_path / "localization" / "elec_coords_full.csv", index=False)
    return BrainTreebank(tmp_path)


def test_rows_of_the_subject_with_cleaned_labels(tmp_path):
    table = pd.DataFrame(
        {
            "ID": ["sub_1-T1a2*", "sub_1-F10Fa13", "sub_10-T1a2", "sub_1-P2a3#"],
            "X": [-40.0, 12.5, 3.0, "nan"],
            "Y": [1.0, 2.0, 3.0, 4.0],
            "Z": [5.0, 6.0, 7.0, np.inf],
            "Hemisphere": [1, 0, 1, 1],
            "Subject": ["sub_1", "sub_1", "sub_10", "sub_1"],
            "Electrode": ["T1a2*", "F10Fa13", "T1a2", "P2a3#"],
            "Region": ["a", "b", "c", "d"],
        }
    )
    coords = _root(tmp_path, table).mni_coordinates(1)
    assert list(coords.index) == ["T1a2", "F10Fa13", "P2a3"]
    assert coords.at["T1a2", "X"] == -40.0 and coords.at["F10Fa13", "Hemisphere"] == 0
    # Non-numbers and infinities become NaN rather than wrong positions.
    assert np.isnan(coords.at["P2a3", "X"]) and np.isnan(coords.at["P2a3", "Z"])
    assert list(_root(tmp_path / "b", table).mni_coordinates(10).index) == ["T1a2"]


def test_id_column_alone_is_enough(tmp_path):
    table = pd.DataFrame({"ID": ["sub_2-LT1aA4", "sub_3-LT1aA4"], "X": [1, 2], "Y": [3, 4], "Z": [5, 6]})
    coords = _root(tmp_path, table).mni_coordinates(2)
    assert list(coords.index) == ["LT1aA4"] and coords.at["LT1aA4", "Y"] == 3


def test_missing_file_is_a_warning_and_an_empty_table(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    coords = _root(tmp_path, None).mni_coordinates(1)
    assert coords.empty and "elec_coords_full.csv" in caplog.text


def test_missing_columns_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"lacks the coordinate columns \['Z'\]"):
        _root(tmp_path, pd.DataFrame({"ID": ["sub_1-A1"], "X": [1], "Y": [2]})).mni_coordinates(1)
    with pytest.raises(ValueError, match="'ID' column"):
        _root(tmp_path / "b", pd.DataFrame({"X": [1], "Y": [2], "Z": [3]})).mni_coordinates(1)
