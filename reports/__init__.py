"""Reports of the study: table reductions, figures and self-contained HTML pages.

Three modules, one concept each:

- :mod:`mmsites.reports.tables`: pandas reductions of the result tables (per-electrode
  scores, site calls, region fractions, planted vs found);
- :mod:`mmsites.reports.figures`: matplotlib / nilearn figures drawn from those tables (the
  response kinds compared among them);
- :mod:`mmsites.reports.html`: the overview of the response kinds, and per kind the study's
  page and one page per subject.

Besides, :mod:`mmsites.reports.guidance` draws the guidance page of ``mmsites guide`` (learning
curves and results, guided vs unguided), imported by its module name.

Imports only :mod:`mmsites.atlases` and the shared root modules (:mod:`mmsites.constants`):
the statistics arrive as columns of the tables (e.g. the scores table's ``signal``).
"""

from mmsites import require_namespace

require_namespace(__name__)

from mmsites.reports.figures import (
    KIND_LABELS,
    figure_to_png,
    kind_label,
    plot_best_models,
    plot_coverage,
    plot_decoding,
    plot_planted_vs_found,
    plot_region_fractions,
    plot_response_kinds,
    plot_site_timecourses,
    plot_trained_vs_random,
    response_kind_bars,
    study_figures,
    subject_figures,
)
from mmsites.reports.html import (
    decoding_html,
    render_index,
    render_overview,
    render_subject,
    render_subject_overview,
    summary_rows,
)
from mmsites.reports.tables import (
    as_bool,
    called_sites,
    planted_kinds,
    planted_vs_found,
    region_fractions,
    top_sites,
)

__all__ = [
    "KIND_LABELS",
    "as_bool",
    "called_sites",
    "decoding_html",
    "figure_to_png",
    "kind_label",
    "planted_kinds",
    "planted_vs_found",
    "plot_best_models",
    "plot_coverage",
    "plot_decoding",
    "plot_planted_vs_found",
    "plot_region_fractions",
    "plot_response_kinds",
    "plot_site_timecourses",
    "plot_trained_vs_random",
    "region_fractions",
    "render_index",
    "render_overview",
    "render_subject",
    "render_subject_overview",
    "response_kind_bars",
    "study_figures",
    "subject_figures",
    "summary_rows",
    "top_sites",
]
