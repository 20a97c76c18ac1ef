"""The report per response kind: the kinds-compared figure, and the stage on synthetic results."""

import json
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402
from test_reports import MODALITY, TWINS, _check_in_browser, make_tables, needs_chromium  # noqa: E402

from mmsites.pipeline.params import Params  # noqa: E402
from mmsites.pipeline.paths import Layout  # noqa: E402
from mmsites.pipeline.stages import report  # noqa: E402
from mmsites.reports import figures as F  # noqa: E402
from mmsites.reports.html import render_index, render_overview, render_subject  # noqa: E402

KINDS = ["voltage", "brainbert"]


def _per_electrode(seed=0):
    """2 kinds x 2 alignments x 3 models x 2 subjects x 5 electrodes, some without signal."""
    rng = np.random.default_rng(seed)
    rows = []
    for kind in KINDS:
        for al in ("language", "vision"):
            for model in ("m-low", "m-high", "m-mid"):
                level = {"m-low": 0.0, "m-mid": 0.05, "m-high": 0.1}[model]
                for s in (1, 2):
                    for e in range(5):
                        n_signal = int(rng.integers(0, 3))
                        score = level + rng.normal(0, 0.02) if n_signal else np.nan
                        rows.append((kind, s, al, model, f"E{e}", score, n_signal))
    columns = ["response_kind", "subject", "alignment", "model", "electrode", "score", "n_signal_bins"]
    return pd.DataFrame(rows, columns=columns)


def _bars(ax):
    """Each kind's bars of one panel, by legend label."""
    return {c.get_label(): c for c in ax.containers if isinstance(c, BarContainer)}


def test_response_kind_bars_are_means_with_no_signal_as_zero():
    table = _per_electrode()
    fig = F.plot_response_kinds(table, kinds=KINDS)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["Language-aligned", "Vision-aligned"]
    for ax, al in zip(axes, ("language", "vision")):
        models = [t.get_text() for t in ax.get_xticklabels()]
        assert models == ["m-high", "m-mid", "m-low"]  # best mean electrode score first
        bars = _bars(ax)
        assert list(bars) == ["voltage", "BrainBERT"]
        for kind, label in (("voltage", "voltage"), ("brainbert", "BrainBERT")):
            heights = [p.get_height() for p in bars[label].patches]
            expected = [
                table[(table.response_kind == kind) & (table.alignment == al) & (table.model == m)]["score"]
                .fillna(0.0)
                .mean()
                for m in models
            ]
            np.testing.assert_allclose(heights, expected)
        # the fraction of electrodes with any signal is written above each bar
        texts = [t.get_text() for t in ax.texts]
        sel = table[(table.response_kind == "voltage") & (table.alignment == al) & (table.model == "m-high")]
        assert f"{100 * (sel.n_signal_bins > 0).mean():.0f}%" in texts
    legend = [t.get_text() for t in axes[-1].get_legend().get_texts()]
    assert legend == ["voltage", "BrainBERT"]
    plt.close(fig)


def test_response_kind_figure_chooses_models_and_handles_edges():
    table = _per_electrode()
    nums = F.response_kind_bars(table, n_models=2)
    assert list(dict.fromkeys(nums["model"])) == ["m-high", "m-mid"]
    assert len(nums) == 2 * 2 * 2  # alignments x models x kinds
    one = F.plot_response_kinds(table[table.response_kind == "voltage"], subject=2)
    assert "sub-2" in one._suptitle.get_text()
    ax = next(ax for ax in one.axes if ax.get_title())
    assert list(_bars(ax)) == ["voltage"]
    plt.close(one)
    band = F.plot_response_kinds(table.assign(response_kind="band_power"))
    assert list(_bars(band.axes[0])) == ["high-gamma power"]
    plt.close(band)
    # a kind without rows for a model: no bar, marked n/a
    missing = table[~((table.response_kind == "brainbert") & (table.model == "m-low"))]
    fig = F.plot_response_kinds(missing)
    assert "n/a" in [t.get_text() for t in fig.axes[0].texts]
    plt.close(fig)
    empty = F.plot_response_kinds(table.iloc[:0])
    assert any("No electrode scores" in t.get_text() for t in empty.axes[0].texts)
    plt.close(empty)
    with pytest.raises(ValueError, match="lacks column"):
        F.plot_response_kinds(table.drop(columns="response_kind"))


def test_figures_without_time_courses(tmp_path):
    t = make_tables(n_electrodes=4, n_bins=8)
    scores = t["scores"].assign(time_s=np.nan)
    per_electrode = report.electrode_table(scores)
    names = F.study_figures(
        t["sites"],
        t["comparisons"],
        t["electrodes"],
        scores,
        per_electrode,
        twins=TWINS,
        timecourses=False,
        unit="components",
        dpi=None,
    )
    assert not [n for n in names if n.startswith("timecourses")]
    assert "components" in names["trained_vs_random"].axes[0].get_ylabel()
    for fig in names.values():
        plt.close(fig)


def test_pages_name_their_kind(tmp_path):
    t = make_tables(n_electrodes=4)
    args = (t["summary"], t["sites"], t["comparisons"], t["electrodes"], {}, {})
    page = render_index(*args, kind="band_power", response="band power (µV², 70–150 Hz)")
    assert "Responses: <b>band power (µV², 70–150 Hz)</b>" in page and "high-gamma power" in page
    sub = render_subject(1, *args[1:], kind="brainbert", links={"overview": "../index.html"})
    assert "signal components" in sub and "signal bins" not in sub and 'href="../index.html"' in sub
    assert "signal bins" in render_subject(1, *args[1:], kind="voltage")
    overview = render_overview({"voltage": t["summary"]}, [1, 2], {}, {})
    assert 'href="voltage/index.html"' in overview and 'href="voltage/sub-2.html"' in overview


# ------------------------------------------------------------------------- the stage, end to end

MODELS = [
    {
        "id": m,
        "family": "precomputed",
        "path": f"features/{m}",
        "input": "image+text",
        "trained_on": MODALITY.get(m, "multimodal"),
        **({"random_twin": TWINS[m]} if m in TWINS else {"init": "random"}),
    }
    for m in list(MODALITY) + list(TWINS.values())
]
N_COMPONENTS = 4


def _params(kinds):
    return Params.model_validate(
        {
            "data": {"format": "demo", "root": "data/demo", "subjects": [1, 2]},
            "responses": {"kinds": kinds, "brainbert": {"components": N_COMPONENTS}},
            "models": MODELS,
        }
    )


def _write_results(workdir, params):
    """Results of the stats and regions stages and the encode stage's scores, for every kind."""
    layout = Layout(workdir, params)
    sites, comparisons, summary, recovery = [], [], {}, {}
    for k, kind in enumerate(params.responses.kinds):
        brainbert = kind == "brainbert"
        t = make_tables(seed=k, n_electrodes=6, n_bins=N_COMPONENTS if brainbert else 17)
        sites.append(t["sites"].assign(response_kind=kind))
        comparisons.append(t["comparisons"].assign(response_kind=kind))
        summary[kind] = t["summary"]
        recovery[kind] = {
            col: {
                "n_true": 4,
                "n_called": 3,
                "precision": 1.0,
                "recall": 0.75,
                "multimodal_kinds": ["multimodal"],
            }
            for col in ("multimodal_language", "multimodal_vision", "multimodal_strict")
        }
        scores = t["scores"].assign(time_s=np.nan) if brainbert else t["scores"]
        for (s, al, model), table in scores.groupby(["subject", "alignment", "model"], sort=False):
            path = layout.for_kind(kind).scores(s, al, model)
            path.parent.mkdir(parents=True, exist_ok=True)
            table.drop(columns=["subject", "alignment", "model"]).to_parquet(path)
    results = layout.results
    results.mkdir(parents=True)
    t["electrodes"].to_csv(results / "electrodes.csv", index=False)
    for name, parts in (("sites", sites), ("comparisons", comparisons)):
        table = pd.concat(parts, ignore_index=True)
        table.insert(0, "response_kind", table.pop("response_kind"))
        table.to_csv(results / f"{name}.csv", index=False)
    (results / "summary.json").write_text(json.dumps(summary))
    (results / "demo_recovery.json").write_text(json.dumps(recovery))
    layout.data_root.mkdir(parents=True)
    t["truth"].to_csv(layout.data_root / "truth.csv", index=False)
    return layout


def _run_without_glass_brains(params, workdir):
    """The stage, with the glass brains (slow; tested in test_reports) drawn as empty figures."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("plot_coverage", "plot_best_models"):
            mp.setattr(F, name, lambda *args, _name=name, **kwargs: F._empty(_name, "not drawn in this test"))
        report.run(params, workdir)


@pytest.fixture(scope="module")
def two_kinds(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("report-kinds")
    params = _params(KINDS)
    layout = _write_results(workdir, params)
    _run_without_glass_brains(params, workdir)
    return layout.report


def test_stage_writes_every_kind_and_the_overview(two_kinds):
    out = two_kinds
    for path in (
        "index.html",
        "sub-1.html",
        "sub-2.html",
        "figures/response_kinds.png",
        "figures/sub-1_response_kinds.png",
        "figures/sub-2_response_kinds.png",
    ):
        assert (out / path).is_file(), path
    for kind in KINDS:
        for path in ("index.html", "sub-1.html", "sub-2.html", "figures/coverage.png"):
            assert (out / kind / path).is_file(), (kind, path)
        assert (out / kind / "figures/planted_vs_found.png").is_file()
    overview = (out / "index.html").read_text(encoding="utf-8")
    for kind in KINDS:
        assert f'href="{kind}/index.html"' in overview
        assert f'href="{kind}/sub-1.html"' in overview and f'href="{kind}/sub-2.html"' in overview
        assert f'id="summary-table-{kind}"' in overview
    assert 'id="recovery-table"' in overview and overview.count("<td>BrainBERT</td>") == 3
    assert 'id="fig-response_kinds"' in overview
    subject = (out / "sub-1.html").read_text(encoding="utf-8")
    assert 'href="voltage/sub-1.html"' in subject and 'href="brainbert/sub-1.html"' in subject
    assert 'id="fig-response_kinds"' in subject
    assert not re.search(r'(src|href)="(https?:)?//', overview + subject)


def test_each_kind_page_names_its_kind(two_kinds):
    out = two_kinds
    voltage = (out / "voltage/index.html").read_text(encoding="utf-8")
    assert "Responses: <b>voltage (µV)</b>" in voltage
    brainbert = (out / "brainbert/index.html").read_text(encoding="utf-8")
    assert (
        "Responses: <b>BrainBERT embeddings (random tiny (seed 0), layer -1, "
        f"{N_COMPONENTS} principal components per electrode fitted on each fold&#x27;s training "
        "events)</b>"
    ) in brainbert
    sub = (out / "brainbert/sub-1.html").read_text(encoding="utf-8")
    assert "Responses: <b>BrainBERT embeddings" in sub and "signal components" in sub
    assert 'href="../sub-1.html"' in sub and 'href="../index.html"' in sub
    assert "Responses: <b>voltage (µV)</b>" in (out / "voltage/sub-2.html").read_text(encoding="utf-8")
    # each kind's page shows that kind's recovery only
    assert voltage.count("<td>BrainBERT</td>") == 0 and brainbert.count("<td>BrainBERT</td>") == 3


@needs_chromium
def test_overview_in_headless_chromium(two_kinds, tmp_path):
    for page in ("index.html", "sub-1.html"):
        dom, widths = _check_in_browser(two_kinds / page, tmp_path)
        assert len(widths) == 1 and widths[0] > 0, (page, widths)


def test_brainbert_has_no_time_courses(two_kinds):
    out = two_kinds
    assert {p.name for p in (out / "voltage/figures").glob("*timecourses*")} >= {
        "timecourses_language.png",
        "timecourses_vision.png",
        "sub-1_timecourses_language.png",
    }
    assert not list((out / "brainbert/figures").glob("*timecourses*"))
    for page in ("index.html", "sub-1.html"):
        assert 'id="fig-timecourses' not in (out / "brainbert" / page).read_text(encoding="utf-8")
    assert 'id="fig-timecourses_vision"' in (out / "voltage/index.html").read_text(encoding="utf-8")


def test_one_kind_keeps_the_structure(tmp_path):
    params = _params(["voltage"])
    layout = _write_results(tmp_path, params)
    _run_without_glass_brains(params, tmp_path)
    out = layout.report
    assert (out / "index.html").is_file() and (out / "voltage/index.html").is_file()
    assert (out / "voltage/sub-2.html").is_file() and (out / "sub-2.html").is_file()
    assert 'href="voltage/index.html"' in (out / "index.html").read_text(encoding="utf-8")
    assert report.provenance(params, layout)["preprocessing"]["response"] == "voltage (µV)"


def test_results_before_kinds_are_refused(tmp_path):
    params = _params(["voltage"])
    layout = _write_results(tmp_path, params)
    summary = json.loads((layout.results / "summary.json").read_text())
    (layout.results / "summary.json").write_text(json.dumps(summary["voltage"]))
    with pytest.raises(ValueError, match="rerun the stats stage"):
        report.run(params, tmp_path)


def test_which_kinds_have_time_courses():
    t = make_tables(subjects=(1,), n_electrodes=2, n_bins=6)["scores"]
    assert report.has_timecourses(t)
    assert not report.has_timecourses(t.assign(time_s=np.nan))  # brainbert components
    bands = np.where(t["bin"] < 3, "4-8 Hz", "70-150 Hz")  # spectrogram: band x bin targets
    assert not report.has_timecourses(t.assign(band=bands))
    assert report.has_timecourses(t.assign(band="70-150 Hz"))


def test_provenance_describes_every_kind(tmp_path):
    params = Params.model_validate(
        {
            "responses": {
                "kinds": ["voltage", "band_power", "spectrogram", "brainbert"],
                "brainbert": {"checkpoint": "ckpt/stft_large_pretrained.pth"},
            }
        }
    )
    layout = Layout(tmp_path, params)
    layout.data_root.mkdir(parents=True)
    text = report.provenance(params, layout)["preprocessing"]["response"]
    parts = text.split(" | ")
    assert parts[0] == "voltage (µV)" and parts[1].startswith("band power (µV², 70–150 Hz")
    assert "BrainBERT embeddings (ckpt/stft_large_pretrained.pth, layer -1, 8 principal components" in text
    assert parts[2].startswith("spectrogram: band power (µV²) in 5 band(s), 4–8 Hz, 8–13 Hz")
