"""The report's decoding section: every split scheme drawn and tabled, and the study summary."""

import matplotlib
import pandas as pd

matplotlib.use("Agg")

from mmsites.reports.figures import plot_decoding  # noqa: E402
from mmsites.reports.html import decoding_html  # noqa: E402


def _table():
    rows = []
    for subject in (1, 2):
        for task in ("onset", "truth-vision[0]@vision"):
            for split, rep in (
                ("within_session", "voltage"),
                ("within_session", "popt_finetuned"),
                ("cross_subject", "popt"),
                ("cross_session", "voltage"),
            ):
                auc = 0.8 if task.startswith("truth") else 0.5
                rows.append((subject, task, split, rep, auc, auc - 0.05, auc + 0.05, 100, 200, 2, 0.5))
    return pd.DataFrame(
        rows,
        columns=["subject", "task", "split", "representation", "auc", "auc_lo", "auc_hi"]
        + ["n_train", "n_test", "n_folds", "chance"],
    )


def test_figure_draws_one_series_per_representation_and_split():
    fig = plot_decoding(_table())
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == [
        "voltage",
        "PopT (fine-tuned)",
        "PopT (frozen) (cross-subject)",
        "voltage (cross-session)",
    ]
    assert len(fig.axes) == 2  # one panel per subject


def test_html_tables_every_row_and_summarises_the_study():
    html = decoding_html(_table())
    assert html.count("cross_subject") >= 4 and "Across subjects" in html
    assert 'id="decoding-study"' in html
    one = decoding_html(_table(), subject=1)
    assert "Across subjects" not in one  # a subject's page has no study summary
