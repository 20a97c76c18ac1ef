"""Reports of the study: table reductions, figures and self-contained HTML pages.

Three modules, one concept each:

- :mod:`mmsites.reports.tables`: pandas reductions of the result tables (per-electrode
  scores, site calls, region fractions, planted vs found);
- :mod:`mmsites.reports.figures`: matplotlib / nilearn figures drawn from those tables;
- :mod:`mmsites.reports.html`: the study's index page and one page per subject.

Imports only :mod:`mmsites.atlases` and the shared root modules (:mod:`mmsites.constants`):
the statistics arrive as columns of the tables (e.g. the scores table's ``signal``).
"""

from mmsites import require_namespace

require_namespace(__name__)

from mmsites.reports.figures import (
    figure_to_png,
    plot_best_models,
    plot_coverage,
    plot_planted_vs_found,
    plot_region_fractions,
    plot_site_timecourses,
    plot_trained_vs_random,
    study_figures,
    subject_figures,
)
from mmsites.reports.html import render_index, render_subject, summary_rows
from mmsites.reports.tables import (
    as_bool,
    called_sites,
    planted_kinds,
    planted_vs_found,
    region_fractions,
    top_sites,
)

__all__ = [
    "as_bool",
    "called_sites",
    "figure_to_png",
    "planted_kinds",
    "planted_vs_found",
    "plot_best_models",
    "plot_coverage",
    "plot_planted_vs_found",
    "plot_region_fractions",
    "plot_site_timecourses",
    "plot_trained_vs_random",
    "region_fractions",
    "render_index",
    "render_subject",
    "study_figures",
    "subject_figures",
    "summary_rows",
    "top_sites",
]
