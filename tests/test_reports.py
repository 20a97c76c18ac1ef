"""Tests for reports: table reductions, figures and self-contained HTML in headless Chromium."""

import ast
import base64
import io
import re
import shutil
import socket
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mmsites.atlases.regions import REGION_COLUMNS  # noqa: E402
from mmsites.constants import ALIGNMENTS  # noqa: E402
from mmsites.pipeline.stages.report import electrode_table
from mmsites.reports import figures as F  # noqa: E402
from mmsites.reports import tables as T  # noqa: E402
from mmsites.reports.html import render_index, render_subject, summary_rows  # noqa: E402
from mmsites.stats.signal import signal_bins  # noqa: E402
from mmsites.stats.sites import summarize  # noqa: E402

REPORTS_DIR = Path(T.__file__).resolve().parent

REGIONS = ["superiortemporal", "middletemporal", "insula", "precentral", "supramarginal"]
MODALITY = {
    "slip-combo-vision": "multimodal",
    "clip-language": "multimodal",
    "simclr": "vision",
    "simcse": "language",
}
TWINS = {m: f"{m}-random" for m in MODALITY}
TESTS = [
    "trained_vs_random",
    "multimodal_vs_vision",
    "multimodal_vs_language",
    "multimodal_vs_multiconcat",
    "multimodal_vs_multilin",
    "slip_combo_vs_simclr",
]


def make_tables(seed=0, subjects=(1, 2), n_electrodes=10, n_bins=17):
    """Plausible result tables with the exact contract columns of docs/architecture.md."""
    rng = np.random.default_rng(seed)
    electrodes, sites, comparisons, scores, truth = [], [], [], [], []
    times = np.linspace(-2, 2, n_bins)
    for s in subjects:
        for e in range(n_electrodes):
            name = f"T{chr(65 + e % 3)}{e + 1}"
            region = REGIONS[e % len(REGIONS)]
            xyz = (rng.uniform(-65, -40), rng.uniform(-40, 10), rng.uniform(-5, 40))
            if e == n_electrodes - 1:  # one unlocalised electrode per subject
                region, xyz = "unlocalised", (np.nan, np.nan, np.nan)
            electrodes.append(
                dict(
                    subject=s,
                    electrode=name,
                    hemisphere="lh",
                    region=region,
                    region_destrieux="G_x",
                    x=xyz[0],
                    y=xyz[1],
                    z=xyz[2],
                    region_source="atlas",
                    region_distance_mm=0.0,
                )
            )
            kind = ["none", "vision", "language", "multimodal"][e % 4]
            truth.append(dict(subject=s, electrode=name, kind=kind))
            mm = {al: kind == "multimodal" or (e == 1 and al == "vision") for al in ALIGNMENTS}
            best = {
                al: (
                    "slip-combo-vision"
                    if mm[al]
                    else {"vision": "simclr", "language": "simcse"}.get(kind, "clip-language")
                )
                for al in ALIGNMENTS
            }
            sites.append(
                dict(
                    subject=s,
                    electrode=name,
                    hemisphere="lh",
                    region=region,
                    x=xyz[0],
                    y=xyz[1],
                    z=xyz[2],
                    signal_bins_language=int(rng.integers(0, 40)),
                    signal_bins_vision=int(rng.integers(0, 40)),
                    best_model_language=best["language"] if kind != "none" else None,
                    best_model_vision=best["vision"] if kind != "none" else None,
                    multimodal_language="true" if mm["language"] else "false",
                    multimodal_vision="true" if mm["vision"] else "false",
                    multimodal_strict="true" if mm["language"] and mm["vision"] else "false",
                    slip_language="true" if mm["language"] and e % 2 else "false",
                    slip_vision="false",
                )
            )
            for al in ALIGNMENTS:
                for test in TESTS:
                    a, b = rng.uniform(0.05, 0.3), rng.uniform(-0.05, 0.1)
                    p = rng.uniform(0, 0.01) if mm[al] else rng.uniform(0, 1)
                    comparisons.append(
                        dict(
                            subject=s,
                            electrode=name,
                            alignment=al,
                            test=test,
                            model_a="slip-combo-vision",
                            model_b="simclr",
                            score_a=a,
                            score_b=b,
                            delta=a - b,
                            p_value=p,
                            q_value=min(1.0, 3 * p),
                            significant=bool(p < 0.05 / 3),
                        )
                    )
                for model in list(MODALITY) + list(TWINS.values()):
                    level = 0.0 if model.endswith("random") else rng.uniform(0.05, 0.2)
                    r = level * np.exp(-((times - 0.3) ** 2) / 0.3) + rng.normal(0, 0.02, n_bins)
                    scores.append(
                        pd.DataFrame(
                            dict(
                                subject=s,
                                alignment=al,
                                model=model,
                                electrode=name,
                                bin=np.arange(n_bins),
                                time_s=times,
                                test_r=r,
                                val_r=r,
                                alpha=100.0,
                                boot_mean=r,
                                boot_lo=r - 0.03,
                                boot_hi=r + 0.03,
                                val_lo=r - 0.03,
                                val_hi=r + 0.03,
                                # the flag the encode stage writes, by the stats library's rule
                                signal=signal_bins("bootstrap_ci", val_lo=r - 0.03),
                            )
                        )
                    )
    sites = pd.DataFrame(sites)
    comparisons = pd.DataFrame(comparisons)
    comparisons["a_wins"] = comparisons["significant"]
    # summary.json as the stats stage writes it (CSV booleans read back as bools)
    flags = [c for c in sites.columns if c.startswith(("multimodal_", "slip_"))]
    summary = summarize(sites.assign(**{c: T.as_bool(sites[c]) for c in flags}), comparisons)
    return dict(
        electrodes=pd.DataFrame(electrodes, columns=REGION_COLUMNS),
        sites=sites,
        comparisons=comparisons,
        scores=pd.concat(scores, ignore_index=True),
        truth=pd.DataFrame(truth),
        summary=summary,
    )


@pytest.fixture(scope="module")
def tables():
    return make_tables()


def _png_size(png: bytes):
    img = plt.imread(io.BytesIO(png))
    return img.shape


# ---------------------------------------------------------------- maths of the figures' tables


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(-1, 1), st.booleans()), min_size=1, max_size=30))
def test_electrode_scores_matches_direct_mean(rows):
    r = np.array([a for a, _ in rows])
    sig = np.array([b for _, b in rows])
    df = pd.DataFrame(
        dict(
            subject=1,
            alignment="vision",
            model="m",
            electrode="E1",
            bin=np.arange(len(r)),
            test_r=r,
            signal=sig,
        )
    )
    got = electrode_table(df)
    assert got["n_signal_bins"].iat[0] == sig.sum()
    if sig.any():
        assert got["score"].iat[0] == pytest.approx(r[sig].mean())
    else:
        assert np.isnan(got["score"].iat[0])


def test_electrode_scores_use_the_signal_column(tables):
    """The report takes the encode stage's signal flag as it is; it has no rule of its own."""
    sc = tables["scores"]
    got = electrode_table(sc)
    assert list(got.columns) == ["subject", "alignment", "model", "electrode", "score", "n_signal_bins"]
    one = sc[
        (sc.subject == 1) & (sc.alignment == "vision") & (sc.model == "simclr") & (sc.electrode == "TA1")
    ]
    row = got[
        (got.subject == 1) & (got.alignment == "vision") & (got.model == "simclr") & (got.electrode == "TA1")
    ].iloc[0]
    assert row["n_signal_bins"] == one["signal"].sum()
    assert row["score"] == pytest.approx(one.loc[one["signal"], "test_r"].mean())
    # other columns (p-values, CIs) do not matter
    flagged = electrode_table(sc.assign(signal=True, val_lo=-1.0, p_value=1.0))
    assert (flagged["n_signal_bins"] == 17).all()
    with pytest.raises(ValueError, match="contiguous"):
        electrode_table(sc.sample(frac=1.0, random_state=0))


def test_reports_import_no_other_package():
    """The dependency rule: reports imports mmsites.atlases and the root modules only."""
    import mmsites

    root = {f"mmsites.{p.stem}" for p in Path(mmsites.__file__).parent.glob("*.py") if p.stem != "__init__"}
    for path in sorted(REPORTS_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path.name}: relative import"
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name.startswith("mmsites."):
                    ok = name in root or name.startswith(("mmsites.reports", "mmsites.atlases"))
                    assert ok, f"reports/{path.name} imports {name}"


def test_region_fractions_direct_count(tables):
    sites, comp = tables["sites"], tables["comparisons"]
    fr = T.region_fractions(sites, comp)
    for region in REGIONS + ["unlocalised"]:
        in_region = sites[sites.region == region]
        row = fr[
            (fr.region == region) & (fr.test == T.SITE_TESTS["multimodal"]) & (fr.alignment == "language")
        ].iloc[0]
        assert row.n_electrodes == len(in_region)
        assert row.n_multimodal == (in_region.multimodal_language == "true").sum()
        assert row.strict == (in_region.multimodal_strict == "true").any()
        # tests read from comparisons.csv: count significant rows directly
        c = comp[(comp.test == "multimodal_vs_multilin") & (comp.alignment == "vision")]
        c = c.merge(in_region[["subject", "electrode"]])
        row = fr[
            (fr.region == region)
            & (fr.test == T.COMPARISON_TESTS["multimodal_vs_multilin"])
            & (fr.alignment == "vision")
        ].iloc[0]
        assert row.n_multimodal == c.significant.sum()


def test_as_bool_rejects_garbage():
    assert T.as_bool(["true", "False", 1, None]).tolist() == [True, False, True, False]
    with pytest.raises(ValueError, match="expected booleans"):
        T.as_bool(pd.Series(["yes"], name="multimodal_vision"))


def _direct_calls(sites):
    """The site calls, written out row by row (the oracle of called_sites)."""
    out = []
    for _, row in sites.iterrows():
        lang, vis = (
            str(row["multimodal_language"]).lower() == "true",
            str(row["multimodal_vision"]).lower() == "true",
        )
        out.append(T.SITE_CALLS[2] if lang and vis else T.SITE_CALLS[1] if lang or vis else T.SITE_CALLS[0])
    return out


def test_called_sites(tables):
    sites = tables["sites"]
    assert T.called_sites(sites).tolist() == _direct_calls(sites)
    assert set(_direct_calls(sites)) >= {T.SITE_CALLS[0]}


def test_summary_rows_flattens_nesting(tables):
    rows = summary_rows(tables["summary"])  # the stats stage's summary.json
    assert set(rows.scope) == {"all", "sub-1", "sub-2"}
    sites = tables["sites"]
    for scope, sel in (("all", sites), ("sub-2", sites[sites.subject == 2])):
        for al in ("language", "vision", "strict"):
            one = rows[
                (rows.scope == scope)
                & rows.rule
                & rows.test.str.startswith("multimodal site")
                & (rows.alignment == al)
            ]
            assert len(one) == 1, (scope, al)
            assert one.n_multimodal.iat[0] == (sel[f"multimodal_{al}"] == "true").sum()
            assert one.n_electrodes.iat[0] == len(sel)
    comp = rows[
        (rows.scope == "sub-1") & (rows.test == "multimodal vs MultiLin") & (rows.alignment == "vision")
    ]
    c = tables["comparisons"]
    c = c[(c.subject == 1) & (c.test == "multimodal_vs_multilin") & (c.alignment == "vision")]
    assert comp.n_multimodal.iat[0] == c.a_wins.sum()
    # other nestings: counts keyed by test and alignment, percentages derived
    flat = summary_rows({"n_electrodes": 50, "n_multimodal": {"multimodal": {"language": 5}}})
    assert flat.percent_multimodal.tolist() == [10.0]
    assert flat.alignment.tolist() == ["language"]


# ---------------------------------------------------------------------------------- figures


@pytest.fixture(scope="module")
def figs(tables):
    """Every figure, each rendered once (glass brains are slow) and shared by the tests.

    Sockets refuse to connect meanwhile: figures (nilearn's template included) are offline.
    """
    t = tables

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access while drawing figures: {args}")

    saved = socket.socket.connect, socket.socket.connect_ex
    socket.socket.connect = socket.socket.connect_ex = refuse
    try:
        figs = F.study_figures(
            t["sites"],
            t["comparisons"],
            t["electrodes"],
            t["scores"],
            electrode_table(t["scores"]),
            twins=TWINS,
            truth=t["truth"],
            dpi=None,
        )
    finally:
        socket.socket.connect, socket.socket.connect_ex = saved
    return figs


@pytest.fixture(scope="module")
def pngs(figs):
    return {k: F.figure_to_png(v, dpi=50, close=False) for k, v in figs.items()}


def test_figures_render(tables, figs, pngs):
    sc = tables["scores"]
    assert list(figs) == [
        "coverage",
        "trained_vs_random",
        "multimodal_by_region",
        "best_multimodal_model",
        "timecourses_language",
        "timecourses_vision",
        "planted_vs_found",
    ]
    assert "2 without coordinates" in figs["coverage"]._suptitle.get_text()
    # time courses: one panel per trained model (random twins left out), top 3 sites each
    panels = [ax for ax in figs["timecourses_vision"].axes if ax.get_title()]
    assert sorted(ax.get_title() for ax in panels) == sorted(MODALITY)
    assert all(1 <= len(ax.get_lines()) - 2 <= 3 for ax in panels)  # minus the 2 guide lines
    # one violin body per trained and per random model
    ax = figs["trained_vs_random"].axes[0]
    assert len(ax.collections) >= 2 * len(TWINS)
    for name, png in pngs.items():
        assert png.startswith(b"\x89PNG"), name
        h, w = _png_size(png)[:2]
        assert h > 60 and w > 150, name
    with pytest.raises(ValueError, match="pass alignment"):
        F.plot_site_timecourses(sc, electrode_table(sc))
    with pytest.raises(ValueError, match="lacks column"):
        F.plot_coverage(tables["electrodes"].drop(columns="x"))


def test_planted_vs_found_counts(tables, figs):
    truth, sites = tables["truth"], tables["sites"]
    mat = T.planted_vs_found(truth, sites)
    assert list(mat.index) == ["none", "vision", "language", "multimodal"]
    assert list(mat.columns) == list(T.SITE_CALLS)
    calls = dict(zip(zip(sites["subject"].astype(str), sites["electrode"].astype(str)), _direct_calls(sites)))
    expected = pd.DataFrame(0, index=mat.index, columns=mat.columns)
    for _, row in truth.iterrows():
        expected.loc[row["kind"], calls[(str(row["subject"]), str(row["electrode"]))]] += 1
    pd.testing.assert_frame_equal(mat, expected, check_names=False, check_dtype=False)
    # the figure shows exactly these counts
    texts = [t.get_text() for t in figs["planted_vs_found"].axes[0].texts]
    np.testing.assert_array_equal(np.array(texts, dtype=int).reshape(mat.shape), mat.to_numpy())


def test_planted_vs_found_shows_every_planted_kind(tables):
    """The demo's linear variant plants kind "linear": it gets its row, known kinds first."""
    truth, sites = tables["truth"], tables["sites"]
    truth = truth.assign(kind=truth["kind"].replace({"multimodal": "linear"}))
    truth.loc[truth.index[:2], "kind"] = "zz-other"
    extra = pd.DataFrame([dict(subject=7, electrode="X1", kind="none")])
    mat = T.planted_vs_found(pd.concat([truth, extra], ignore_index=True), sites)
    assert list(mat.index) == ["none", "vision", "language", "linear", "zz-other"]
    assert list(mat.columns) == [*T.SITE_CALLS, "not analysed"]
    assert mat.to_numpy().sum() == len(truth) + 1 and mat.loc["none", "not analysed"] == 1
    fig = F.plot_planted_vs_found(truth, sites)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(T.planted_kinds(truth))
    plt.close(fig)


# ------------------------------------------------------------------------------------- HTML


def _find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


CHROMIUM = _find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium not found (install Debian's chromium: `make system-deps`)",
)

# Injected only into the test copy of a page: after load, record each image's natural width
# and exercise the sortable table, so that --dump-dom shows the results.
_PROBE = """<script>
window.addEventListener('load', function () {
  var w = Array.prototype.map.call(document.images, function (i) {
    return i.complete ? i.naturalWidth : 0; });
  document.body.setAttribute('data-img-widths', w.join(','));
  var t = document.getElementById('electrode-table');
  if (t) {
    var th = t.querySelectorAll('th')[0];
    th.click(); th.click();  // electrode column, descending
    var first = t.tBodies[0].rows[0].cells[0].textContent;
    document.body.setAttribute('data-first-desc', first);
    t.querySelectorAll('th')[3].click();  // x (mm), ascending: numbers, blanks last
    var xs = Array.prototype.map.call(t.tBodies[0].rows, function (r) {
      return r.cells[3].textContent.trim(); });
    document.body.setAttribute('data-x-asc', xs.join('|'));
  }
});
</script></body>"""


def _chromium(args, tmp_path):
    profile = tmp_path / f"profile{len(list(tmp_path.iterdir()))}"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=5000",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


def _check_in_browser(page: Path, tmp_path: Path):
    """Open a page once: DOM after load (with the probe's marks), console lines, screenshot."""
    probe = page.with_name("probe-" + page.name)
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _PROBE, 1), encoding="utf-8")
    shot = page.with_suffix(".png")
    res = _chromium(
        ["--dump-dom", f"--screenshot={shot}", "--window-size=1200,2400", probe.as_uri()], tmp_path
    )
    assert res.returncode == 0, res.stderr[-2000:]
    console = [line for line in res.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert not console, console
    m = re.search(r'data-img-widths="([0-9,]*)"', res.stdout)
    assert m, res.stdout[:500]
    widths = [int(w) for w in m.group(1).split(",") if w]
    assert shot.exists(), res.stderr[-2000:]
    img = plt.imread(shot)
    assert img.shape[0] >= 1000 and img.shape[1] >= 1000
    assert img[..., :3].std() > 0.05  # not a blank page
    return res.stdout, widths


@pytest.fixture(scope="module")
def rendered(tables, pngs, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    t = tables
    figs = {k: pngs[k] for k in ("coverage", "trained_vs_random", "multimodal_by_region")}
    prov = {
        "params": {"stats": {"permutations": 1000, "seed": 0}},
        "versions": {"numpy": np.__version__, "pandas": pd.__version__},
        "data_fingerprint": "md5:0123456789abcdef",
    }
    (out / "index.html").write_text(
        render_index(t["summary"], t["sites"], t["comparisons"], t["electrodes"], figs, prov),
        encoding="utf-8",
    )
    sub_figs = F.subject_figures(
        1, t["sites"], t["electrodes"], t["scores"], electrode_table(t["scores"]), dpi=40
    )
    assert list(sub_figs) == ["coverage", "timecourses_language", "timecourses_vision"]
    (out / "sub-1.html").write_text(
        render_subject(1, t["sites"], t["comparisons"], t["electrodes"], sub_figs, prov), encoding="utf-8"
    )
    (out / "sub-9.html").write_text(
        render_subject(9, t["sites"], t["comparisons"], t["electrodes"], {}, prov), encoding="utf-8"
    )
    return out


def test_html_is_self_contained(rendered, tables):
    index = (rendered / "index.html").read_text(encoding="utf-8")
    for page in ("index.html", "sub-1.html", "sub-9.html"):
        text = (rendered / page).read_text(encoding="utf-8")
        assert not re.search(r'(src|href)="(https?:)?//', text), page
        assert "@import" not in text and "<link" not in text
    assert "md5:0123456789abcdef" in index and "permutations" in index
    assert index.count("data:image/png;base64,") == 3
    # the headline states the study-wide counts of summary.json
    n = tables["summary"]["tests"]["site_language"]["n_multimodal"]
    assert f"<b>{n}</b> of 20 electrodes" in index
    sub = (rendered / "sub-1.html").read_text(encoding="utf-8")
    assert "unlocalised" in sub and 'id="electrode-table"' in sub
    assert (
        sub.count('class="site"')
        == (
            (tables["sites"].subject == 1)
            & (
                (tables["sites"].multimodal_language == "true")
                | (tables["sites"].multimodal_vision == "true")
            )
        ).sum()
    )
    img = re.search(r'base64,([A-Za-z0-9+/=]+)"', sub).group(1)
    assert base64.b64decode(img).startswith(b"\x89PNG")
    assert 'id="no-results"' in (rendered / "sub-9.html").read_text(encoding="utf-8")


def test_html_rejects_non_png(tables):
    with pytest.raises(ValueError, match="not PNG bytes"):
        render_index(
            tables["summary"],
            tables["sites"],
            tables["comparisons"],
            tables["electrodes"],
            {"bad": b"GIF89a"},
            {},
        )


@needs_chromium
def test_pages_in_headless_chromium(rendered, tmp_path):
    dom, widths = _check_in_browser(rendered / "index.html", tmp_path)
    assert len(widths) == 3 and all(w > 0 for w in widths), widths
    assert 'id="region-table"' in dom
    dom, widths = _check_in_browser(rendered / "sub-1.html", tmp_path)
    assert len(widths) == 3 and all(w > 0 for w in widths), widths
    # the inline sort script ran: electrodes sorted descending by name
    names = sorted(e for e in tables_electrodes(rendered))
    assert f'data-first-desc="{names[-1]}"' in dom
    xs = re.search(r'data-x-asc="([^"]*)"', dom).group(1).split("|")
    numbers = [float(x) for x in xs if x]
    assert numbers == sorted(numbers) and len(numbers) == 9 and xs[-1] == ""
    dom, widths = _check_in_browser(rendered / "sub-9.html", tmp_path)
    assert widths == [] and "No results for sub-9" in dom


def tables_electrodes(rendered):
    sub = (rendered / "sub-1.html").read_text(encoding="utf-8")
    table = sub.split('id="electrode-table"')[1].split("</table>")[0]
    return re.findall(r"<tr[^>]*><td>([^<]+)</td>", table)


def test_pages_render_without_results():
    """A study with no rows yet (every table empty, summary empty) still gives readable pages."""
    from mmsites.atlases.regions import REGION_COLUMNS as EL_COLS
    from mmsites.stats.sites import COMPARISON_COLUMNS, SITE_COLUMNS

    sites, comp = pd.DataFrame(columns=SITE_COLUMNS), pd.DataFrame(columns=COMPARISON_COLUMNS)
    electrodes = pd.DataFrame(columns=EL_COLS)
    index = render_index({}, sites, comp, electrodes, {}, {})
    assert "summary.json holds no multimodal counts" in index and "No sites." in index
    page = render_subject(3, sites, comp, electrodes, {}, {"params": {"seed": 0}})
    assert 'id="no-results"' in page and "&quot;seed&quot;: 0" in page


def test_index_shows_demo_recovery(tables):
    recovery = {
        "multimodal_strict": {
            "n_true": 8,
            "n_called": 7,
            "precision": 1.0,
            "recall": 0.875,
            "false_positive_rate": {"vision": 0.0, "language": 0.0, "none": 0.02},
        }
    }
    page = render_index(
        tables["summary"],
        tables["sites"],
        tables["comparisons"],
        tables["electrodes"],
        {},
        {},
        recovery=recovery,
    )
    assert 'id="recovery-table"' in page and "0.875" in page and "multimodal_strict" in page
    # one kind's entry of demo_recovery.json, on that kind's page
    page = render_index(
        tables["summary"],
        tables["sites"],
        tables["comparisons"],
        tables["electrodes"],
        {},
        {},
        recovery=recovery,
        kind="band_power",
    )
    assert "<td>high-gamma power</td>" in page and "Responses: <b>high-gamma power</b>" in page
    assert 'id="recovery-table"' not in render_index(
        tables["summary"], tables["sites"], tables["comparisons"], tables["electrodes"], {}, {}
    )
