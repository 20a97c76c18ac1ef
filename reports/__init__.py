"""mmsites reports: figures (matplotlib, nilearn glass brains) and self-contained HTML pages."""

from mmsites import require_namespace

require_namespace(__name__)

from mmsites.reports.figures import (
    called_sites,
    electrode_scores,
    figure_to_png,
    plot_best_models,
    plot_coverage,
    plot_planted_vs_found,
    plot_region_fractions,
    plot_site_timecourses,
    plot_trained_vs_random,
    region_fractions,
    study_figures,
    subject_figures,
)
from mmsites.reports.html import render_index, render_subject, summary_rows

__all__ = [
    "called_sites",
    "electrode_scores",
    "figure_to_png",
    "plot_best_models",
    "plot_coverage",
    "plot_planted_vs_found",
    "plot_region_fractions",
    "plot_site_timecourses",
    "plot_trained_vs_random",
    "region_fractions",
    "study_figures",
    "subject_figures",
    "render_index",
    "render_subject",
    "summary_rows",
]
