"""Self-contained HTML reports: the overview of the response kinds, and per kind the study's
page and one page per subject.

Pages carry their images as base64 PNG and their CSS/JS inline, so they open from disk with no
network. Tables follow the result-table contracts of ``docs/architecture.md``; the numbers in
them come from :mod:`mmsites.reports.tables`.
"""

from __future__ import annotations

import base64
import html
import json
import logging
from importlib import resources

import numpy as np
import pandas as pd

from mmsites.constants import ALIGNMENTS
from mmsites.reports.figures import kind_label
from mmsites.reports.tables import (
    COMPARISON_TESTS,
    SITE_TESTS,
    as_bool,
    multimodal_any,
    region_fractions,
)

logger = logging.getLogger(__name__)

# Display names of the tests as summary.json may spell them.
_TEST_LABELS = {
    **SITE_TESTS,
    **COMPARISON_TESTS,
    "site": SITE_TESTS["multimodal"],
    "slip_combo_vs_simclr": "SLIP-Combo vs SLIP-SimCLR",
    "multimodal_vs_vision": "multimodal vs vision",
    "multimodal_vs_language": "multimodal vs language",
    "trained_vs_random": "trained vs random (every model)",
}
# Rows of summary.json that are site calls (shown in the headline), as opposed to single tests.
_RULES = ("site", "multimodal", "slip")
_SUBJECT_KEYS = {"subjects", "per_subject", "by_subject"}
_CONTAINER_KEYS = {"tests", "per_test", "by_test", "alignments", "by_alignment", "overall", "all"}

# A few lines of inline JS: click a header to sort by that column (numbers numerically).
_SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var asc = !th.classList.contains('asc');
      table.querySelectorAll('th').forEach(function (h) { h.classList.remove('asc', 'desc'); });
      th.classList.add(asc ? 'asc' : 'desc');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var key = function (row) {
        var t = row.cells[col].getAttribute('data-sort') || row.cells[col].textContent.trim();
        var v = parseFloat(t);
        return (t !== '' && !isNaN(v) && isFinite(t)) ? [0, v] : [1, t.toLowerCase()];
      };
      rows.sort(function (a, b) {
        var ka = key(a), kb = key(b);
        var r = ka[0] - kb[0] || (ka[1] < kb[1] ? -1 : ka[1] > kb[1] ? 1 : 0);
        return asc ? r : -r;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _esc(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return html.escape(str(value))


def _css() -> str:
    return resources.files("mmsites.reports").joinpath("style.css").read_text(encoding="utf-8")


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_esc(title)}</title>\n<style>\n{_css()}</style>\n</head>\n<body>\n{body}\n"
        f"<script>\n{_SORT_JS}</script>\n</body>\n</html>\n"
    )


def _cell(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, (int, np.integer)):
        return f'<td class="num">{value}</td>'
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return '<td class="num" data-sort=""></td>'
        text = f"{value:.3g}" if abs(value) < 1e-2 and value != 0 else f"{value:.3f}"
        return f'<td class="num" data-sort="{value!r}">{text}</td>'
    return f"<td>{_esc(value)}</td>"


def html_table(
    table: pd.DataFrame, *, sortable: bool = False, row_classes=None, table_id: str | None = None
) -> str:
    """Write a DataFrame as an HTML ``<table>`` (escaped; numbers right-aligned).

    Parameters
    ----------
    table : DataFrame
        Rows and columns to show (the index is not shown). Bools show as ``yes``/``no``,
        floats with 3 decimals (3 significant digits below 0.01), NaN and None as blanks.
    sortable : bool
        Add the class that the inline script makes sortable by clicking a header.
    row_classes : sequence of str, optional
        CSS class per row (same length as ``table``; an empty string for none).
    table_id : str, optional
        ``id`` attribute of the ``<table>``.

    Returns
    -------
    str
        The table wrapped in a horizontally scrolling ``<div class="scroll">``.
    """
    attrs = (f' id="{_esc(table_id)}"' if table_id else "") + (' class="sortable"' if sortable else "")
    head = "".join(f"<th>{_esc(c)}</th>" for c in table.columns)
    rows = []
    for k, row in enumerate(table.itertuples(index=False)):
        cls = f' class="{row_classes[k]}"' if row_classes is not None and row_classes[k] else ""
        rows.append(f"<tr{cls}>" + "".join(_cell(v) for v in row) + "</tr>")
    return (
        f'<div class="scroll"><table{attrs}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody>\n</table></div>"
    )


def _figures_html(figures: dict) -> str:
    if not figures:
        return "<p>No figures.</p>"
    parts = []
    for name, png in figures.items():
        if not isinstance(png, (bytes, bytearray)) or not png.startswith(b"\x89PNG"):
            raise ValueError(
                f"figure {name!r} is not PNG bytes; render it with mmsites.reports.figure_to_png."
            )
        data = base64.b64encode(png).decode("ascii")
        caption = name.replace("_", " ")
        parts.append(
            f'<figure id="fig-{_esc(name)}"><img alt="{_esc(caption)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{_esc(caption)}'
            "</figcaption></figure>"
        )
    return "\n".join(parts)


def summary_rows(summary: dict) -> pd.DataFrame:
    """Flatten ``results/summary.json`` into one row per scope, test and alignment.

    Parameters
    ----------
    summary : dict
        ``results/summary.json``. Accepts nesting such as ``{"tests": {test: {alignment:
        {"n_multimodal": .., "percent_multimodal": ..}}}, "subjects": {s: {...}}}`` as well
        as ``{"n_multimodal": {test: {alignment: n}}}``; ``n_electrodes`` is taken from the
        nearest enclosing level.

    Returns
    -------
    DataFrame, one row per count found
        ``scope`` (``all`` or ``sub-<s>``), ``test`` (display name), ``alignment``
        (``language``, ``vision``, ``strict`` or empty), ``n_electrodes``,
        ``n_multimodal``, ``percent_multimodal`` (0-100; derived from the counts where
        absent) and ``rule`` (bool: the row is a site call, not a single test).
    """
    records = []

    def _leaves(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                yield from _leaves(v, path + (str(k),))
        else:
            yield path, node

    def _emit(path, n_el, n_mm, pct):
        scope, rest, k = "all", [], 0
        while k < len(path):
            if path[k] in _SUBJECT_KEYS and k + 1 < len(path):
                sid = path[k + 1]
                scope = sid if sid.startswith("sub") else f"sub-{sid}"
                k += 2
                continue
            if path[k] not in _CONTAINER_KEYS:
                rest.append(path[k])
            k += 1
        align = next((p for p in rest if p in ALIGNMENTS), "")
        rest = [p for p in rest if p not in ALIGNMENTS]
        if not align and rest:
            # stats.sites.summarize spells rules as site_language, slip_vision, site_strict
            for suffix in (*ALIGNMENTS, "strict"):
                if rest[-1].endswith("_" + suffix):
                    align, rest[-1] = suffix, rest[-1][: -len(suffix) - 1]
                    break
        test = "/".join(rest) or "multimodal"
        records.append((scope, test, align, n_el, n_mm, pct))

    def _walk(node, path, n_el):
        if not isinstance(node, dict):
            return
        n_el = node.get("n_electrodes", n_el)
        n_mm, pct = node.get("n_multimodal"), node.get("percent_multimodal")
        if isinstance(n_mm, dict) or isinstance(pct, dict):
            n_flat = dict(_leaves(n_mm, ())) if isinstance(n_mm, dict) else {}
            p_flat = dict(_leaves(pct, ())) if isinstance(pct, dict) else {}
            for sub in dict.fromkeys(list(n_flat) + list(p_flat)):
                n_el_sub = n_el.get(sub[0], n_el) if isinstance(n_el, dict) else n_el
                _emit(path + sub, n_el_sub, n_flat.get(sub), p_flat.get(sub))
        elif n_mm is not None or pct is not None:
            _emit(path, n_el, n_mm, pct)
        for k, v in node.items():
            if k not in ("n_multimodal", "percent_multimodal") and isinstance(v, dict):
                _walk(v, path + (str(k),), n_el)

    _walk(summary, (), summary.get("n_electrodes") if isinstance(summary, dict) else None)
    out = pd.DataFrame(
        records, columns=["scope", "test", "alignment", "n_electrodes", "n_multimodal", "percent_multimodal"]
    )
    missing = out["percent_multimodal"].isna() & out["n_multimodal"].notna()
    n_el = pd.to_numeric(out["n_electrodes"], errors="coerce")
    out.loc[missing, "percent_multimodal"] = 100 * out.loc[missing, "n_multimodal"] / n_el[missing]
    out["rule"] = out["test"].isin(_RULES)
    out["test"] = out["test"].map(lambda t: _TEST_LABELS.get(t, t.replace("_", " ")))
    return out


def _headline(summary: dict, table_id: str = "summary-table") -> str:
    rows = summary_rows(summary) if summary else pd.DataFrame()
    if rows.empty:
        return (
            '<p class="notice">summary.json holds no multimodal counts '
            "(n_multimodal / percent_multimodal).</p>"
        )
    overall = rows[rows["scope"] == "all"]
    n_total = summary.get("n_electrodes", overall["n_electrodes"].max() if len(overall) else "?")
    lead = overall[overall["rule"]] if overall["rule"].any() else overall
    lines = [
        f"<li><b>{_esc(r.test)}</b>, {_esc(r.alignment) or 'either alignment'}: "
        f"<b>{_esc(r.n_multimodal)}</b> of {_esc(r.n_electrodes)} electrodes "
        f"({float(r.percent_multimodal):.2f} %)</li>"
        for r in lead.itertuples()
        if r.percent_multimodal == r.percent_multimodal
    ]
    # One row per test and alignment, one column per scope (study-wide first, then subjects).
    scopes = ["all"] + sorted((s for s in rows["scope"].unique() if s != "all"), key=lambda s: (len(s), s))
    cell = {
        (r.scope, r.test, r.alignment): (
            f"{int(r.n_multimodal)}/{int(r.n_electrodes)} ({float(r.percent_multimodal):.1f} %)"
            if r.n_multimodal == r.n_multimodal
            and r.n_electrodes == r.n_electrodes
            and r.percent_multimodal == r.percent_multimodal
            else ""
        )
        for r in rows.itertuples()
    }
    keys = list(dict.fromkeys(zip(rows["test"], rows["alignment"])))
    table = pd.DataFrame(
        [[t, a] + [cell.get((sc, t, a), "") for sc in scopes] for t, a in keys],
        columns=["test", "alignment"] + scopes,
    )
    return (
        f'<div class="headline"><p>{_esc(n_total)} electrodes analysed.</p><ul>'
        + "".join(lines)
        + "</ul></div>\n<h3>Every test, per subject</h3>\n"
        + html_table(table, sortable=True, table_id=table_id)
    )


def _region_table(sites: pd.DataFrame, comparisons: pd.DataFrame) -> str:
    if sites is None or sites.empty:
        return "<p>No sites.</p>"
    fr = region_fractions(sites, comparisons)
    if fr.empty:
        return "<p>No site calls.</p>"
    fr = fr.assign(
        col=fr["test"] + " (" + fr["alignment"] + ")",
        text=[
            f"{m}/{n} ({100 * f:.0f} %)"
            for m, n, f in zip(fr["n_multimodal"], fr["n_electrodes"], fr["fraction"])
        ],
    )
    wide = fr.pivot_table(index="region", columns="col", values="text", aggfunc="first")
    wide = wide.reindex(columns=list(dict.fromkeys(fr["col"])))
    n = fr.groupby("region")["n_electrodes"].max()
    strict = fr.groupby("region")["strict"].any()
    wide.insert(0, "electrodes", n.reindex(wide.index).to_numpy())
    wide.insert(1, "strict site", strict.reindex(wide.index).to_numpy())
    wide = wide.reset_index()
    classes = ["strict" if s else "" for s in wide["strict site"]]
    return html_table(wide, sortable=True, row_classes=classes, table_id="region-table")


def _provenance(provenance: dict) -> str:
    provenance = dict(provenance or {})
    parts = []
    fp = provenance.pop("data_fingerprint", None) or provenance.pop("fingerprint", None)
    if fp is not None:
        parts.append(
            f"<p>Data fingerprint: <code>{_esc(fp if isinstance(fp, str) else json.dumps(fp))}</code></p>"
        )
    versions = provenance.pop("versions", None) or provenance.pop("packages", None)
    if isinstance(versions, dict):
        parts.append(
            "<h3>Package versions</h3>"
            + html_table(pd.DataFrame(sorted(versions.items()), columns=["package", "version"]))
        )
    params = provenance.pop("params", None)
    if params is not None:
        parts.append(
            "<h3>Parameters</h3><pre>"
            + _esc(json.dumps(params, indent=2, sort_keys=False, default=str, ensure_ascii=False))
            + "</pre>"
        )
    if provenance:
        parts.append(
            "<h3>Other</h3><pre>"
            + _esc(json.dumps(provenance, indent=2, default=str, ensure_ascii=False))
            + "</pre>"
        )
    return "\n".join(parts) or "<p>No provenance given.</p>"


def _subjects(*tables) -> list[str]:
    ids = set()
    for t in tables:
        if t is not None and "subject" in t.columns:
            ids |= set(t["subject"].astype(str))
    return sorted(ids, key=lambda s: (len(s), s))


def _recovery(by_kind: dict) -> str:
    """The demo's planted-vs-found numbers (``results/demo_recovery.json``) as a table.

    ``by_kind`` maps a response kind (None: unknown) to that kind's site column -> recovery.
    """
    rows = []
    for kind, recovery in by_kind.items():
        for column, rec in recovery.items():
            fpr = rec.get("false_positive_rate", {})
            rows.append(
                {
                    # what the responses could see: v*w in the voltage or in high-gamma power
                    "responses": kind_label(kind or rec.get("response_kind", "voltage")),
                    "site call": column,
                    "planted kinds": ", ".join(rec.get("multimodal_kinds", ["multimodal"])),
                    "planted multimodal": rec.get("n_true"),
                    "called": rec.get("n_called"),
                    "precision": rec.get("precision"),
                    "recall": rec.get("recall"),
                    # every other kind the demo planted (``linear`` in that variant)
                    **{f"called among {k}": rate for k, rate in fpr.items()},
                }
            )
    return (
        "<p>The demo plants electrodes of known kinds; this is how many of the planted "
        "multimodal electrodes the site rule found, and how often electrodes of the other kinds "
        "were called multimodal (fraction). Voltage responses can see the <code>multimodal</code> "
        "electrodes (the product of the latents in their voltage), band-power responses the "
        "<code>highgamma</code> ones (the same product in their high-gamma power); each row "
        "lists the planted kinds its responses can see.</p>"
        + html_table(pd.DataFrame(rows), table_id="recovery-table")
    )


def _unit(kind: str | None) -> str:
    """What one target of an electrode is: components for BrainBERT and PopT embeddings, else bins."""
    return "components" if kind in ("brainbert", "popt") else "bins"


def _links(links: dict | None) -> str:
    """Extra navigation links (label -> relative href), or nothing."""
    return "".join(f'<a href="{_esc(href)}">{_esc(label)}</a>' for label, href in (links or {}).items())


def _response_line(kind: str | None, response: str | None) -> str:
    """The line at the top of a kind's page that says which responses its results are for."""
    if kind is None and response is None:
        return ""
    text = response or kind_label(kind)
    return f'<p class="headline" id="response-kind">Responses: <b>{_esc(text)}</b></p>'


def render_index(
    summary: dict,
    sites: pd.DataFrame,
    comparisons: pd.DataFrame,
    electrodes: pd.DataFrame,
    figures: dict,
    provenance: dict,
    recovery: dict | None = None,
    *,
    kind: str | None = None,
    response: str | None = None,
    links: dict | None = None,
) -> str:
    """Render the study's report page of one response kind (``results/report/<kind>/index.html``).

    Parameters
    ----------
    summary : dict
        ``results/summary.json``.
    sites : DataFrame
        ``results/sites.csv``: the region table and the subject list.
    comparisons : DataFrame
        ``results/comparisons.csv``: the baseline tests of the region table.
    electrodes : DataFrame
        ``results/electrodes.csv``: the subject list and the unlocalised count.
    figures : dict of str to bytes
        Figure name -> PNG bytes (:func:`mmsites.reports.figures.figure_to_png`), shown in
        order, captioned by their names.
    provenance : dict
        ``params`` (dict), ``versions`` (package -> version), ``data_fingerprint`` (str), and
        anything else (shown as JSON).
    recovery : dict, optional
        The kind's entry of ``results/demo_recovery.json`` (site column -> precision, recall,
        ...): on the demo, a section that says how well the planted multimodal electrodes
        were found.
    kind : str, optional
        The response kind the results are for (``voltage``, ``band_power``, ``brainbert``):
        named in the title and at the top of the page.
    response : str, optional
        The kind's description with its unit (e.g. ``"voltage (µV)"``), said at the top of
        the page (default: the kind's display name).
    links : dict of str to str, optional
        Extra navigation links, label -> relative href (e.g. to the overview page).

    Returns
    -------
    html : str
        A self-contained page.
    """
    subjects = _subjects(sites, electrodes)
    n_unloc = 0
    if electrodes is not None and "region" in electrodes.columns:
        n_unloc = int((electrodes["region"].astype(str) == "unlocalised").sum())
    nav = " ".join(f'<a href="sub-{_esc(s)}.html">sub-{_esc(s)}</a>' for s in subjects)
    title = "mmsites: sites of vision–language integration" + (f" ({kind_label(kind)})" if kind else "")
    body = [
        f"<h1>{_esc(title)}</h1>",
        _response_line(kind, response),
        f"<nav>{_links(links)}Subjects: {nav or 'none'}</nav>",
        "<h2>Headline</h2>",
        _headline(summary),
    ]
    if recovery:
        body += ["<h2>Demo: planted multimodal electrodes found</h2>", _recovery({kind: recovery})]
    if n_unloc:
        body.append(
            f"<p>{n_unloc} electrode(s) unlocalised (no region label or coordinates); "
            "they are listed under region <i>unlocalised</i>.</p>"
        )
    body += [
        "<h2>Regions</h2><p>Multimodal electrodes per Desikan–Killiany region, per test and "
        "alignment (highlighted: region holds a strict site, multimodal under both "
        "alignments).</p>",
        _region_table(sites, comparisons),
        "<h2>Figures</h2>",
        _figures_html(figures),
        "<h2>Provenance</h2>",
        _provenance(provenance),
        "<footer>Generated by mmsites. Self-contained: opens from disk.</footer>",
    ]
    return _page("mmsites report" + (f": {kind_label(kind)}" if kind else ""), "\n".join(body))


def _subject_electrode_table(subject: str, sites, comparisons, electrodes) -> pd.DataFrame:
    """One row per electrode of the subject: place, calls, best models, scores, q-values."""

    def of(t):
        if t is None or t.empty or "subject" not in t.columns:
            return None
        t = t[t["subject"].astype(str) == subject]
        return t.assign(electrode=t["electrode"].astype(str))

    el, st, cp = of(electrodes), of(sites), of(comparisons)
    names = list(
        dict.fromkeys(
            (el["electrode"].tolist() if el is not None else [])
            + (st["electrode"].tolist() if st is not None else [])
        )
    )
    out = pd.DataFrame({"electrode": names})
    place = st if st is not None and "region" in st.columns else el
    if el is not None:
        place = el if "region" in el.columns else place
    for col in ("region", "hemisphere", "x", "y", "z"):
        if place is not None and col in place.columns:
            out[col] = out["electrode"].map(place.drop_duplicates("electrode").set_index("electrode")[col])
    if "region" in out.columns:
        out["region"] = out["region"].fillna("unlocalised")
    else:
        out["region"] = "unlocalised"
    if st is not None:
        st = st.drop_duplicates("electrode").set_index("electrode")
        for al in ALIGNMENTS:
            for col in (f"signal_bins_{al}", f"best_model_{al}", f"multimodal_{al}"):
                if col in st.columns:
                    vals = st[col] if not col.startswith("multimodal") else as_bool(st[col])
                    out[col] = out["electrode"].map(vals)
        if "multimodal_strict" in st.columns:
            out["strict"] = out["electrode"].map(as_bool(st["multimodal_strict"]))
    if cp is not None and len(cp):
        mm = cp[cp["test"].isin(["multimodal_vs_vision", "multimodal_vs_language"])]
        for al in ALIGNMENTS:
            sel = mm[mm["alignment"] == al]
            if sel.empty:
                continue
            g = sel.groupby("electrode")
            out[f"score_{al}"] = out["electrode"].map(g["score_a"].max())
            # A site needs both comparisons: the larger q is the one that decides.
            out[f"q_{al}"] = out["electrode"].map(g["q_value"].max())
    for c in ("x", "y", "z"):
        if c in out.columns:
            out[c] = pd.to_numeric(out[c], errors="coerce").round(1)
    order = (
        ["electrode", "region", "hemisphere", "x", "y", "z"]
        + [
            f"{c}_{al}"
            for al in ALIGNMENTS
            for c in ("multimodal", "best_model", "score", "q", "signal_bins")
        ]
        + ["strict"]
    )
    return out[[c for c in order if c in out.columns]]


def _display_names(columns) -> dict:
    """Short headers for the subject's electrode table (``multimodal_language`` -> ``lang:
    multimodal``)."""
    short = {"language": "lang", "vision": "vis"}
    names = {}
    for c in columns:
        for al, ab in short.items():
            if c.endswith(f"_{al}"):
                names[c] = f"{ab}: {c[: -len(al) - 1].replace('_', ' ')}"
    return names


def render_subject(
    subject,
    sites: pd.DataFrame,
    comparisons: pd.DataFrame,
    electrodes: pd.DataFrame,
    figures: dict,
    provenance: dict,
    *,
    kind: str | None = None,
    response: str | None = None,
    links: dict | None = None,
) -> str:
    """Render one subject's report page of one response kind (``results/report/<kind>/sub-<s>.html``).

    Parameters
    ----------
    subject : int or str
        Subject id as in the tables' ``subject`` column.
    sites : DataFrame
        Study-wide ``results/sites.csv`` (rows of other subjects are ignored).
    comparisons : DataFrame
        Study-wide ``results/comparisons.csv`` (rows of other subjects are ignored).
    electrodes : DataFrame
        Study-wide ``results/electrodes.csv`` (rows of other subjects are ignored).
    figures : dict of str to bytes
        This subject's figures, name -> PNG bytes (:func:`mmsites.reports.subject_figures`).
    provenance : dict
        As for :func:`render_index`.
    kind : str, optional
        The response kind the results are for: named at the top; for ``brainbert`` the
        electrode table counts signal components, not bins.
    response : str, optional
        The kind's description with its unit, said at the top of the page.
    links : dict of str to str, optional
        Extra navigation links, label -> relative href.

    Returns
    -------
    html : str
        A self-contained page; a subject without results gets a clear notice.
    """
    sid = str(subject)
    table = _subject_electrode_table(sid, sites, comparisons, electrodes)
    body = [
        f"<h1>sub-{_esc(sid)}" + (f" ({_esc(kind_label(kind))})" if kind else "") + "</h1>",
        _response_line(kind, response),
        f'<nav><a href="index.html">← study report</a>{_links(links)}</nav>',
    ]
    has_results = (
        sites is not None and "subject" in sites.columns and (sites["subject"].astype(str) == sid).any()
    )
    if not has_results:
        logger.warning("report for sub-%s: no results for this subject", sid)
        body.append(
            f'<p class="notice" id="no-results">No results for sub-{_esc(sid)}: the '
            "subject has no rows in sites.csv (not analysed, or every electrode was "
            "dropped). Check the subject list in params and the stage logs.</p>"
        )
    if not table.empty:
        mm_any = multimodal_any(table)
        strict = (
            as_bool(table["strict"]).to_numpy()
            if "strict" in table.columns
            else np.zeros(len(table), dtype=bool)
        )
        n_mm = int(mm_any.sum())
        n_unloc = int((table["region"] == "unlocalised").sum())
        body.append(
            f'<p class="headline">{len(table)} electrodes, {n_mm} multimodal under at '
            f"least one alignment, {int(strict.sum())} strict (both); "
            f"{n_unloc} unlocalised.</p>"
        )
        body.append("<h2>Electrodes</h2><p>Click a column header to sort.</p>")
        classes = ["strict" if s else "multimodal" if m else "" for s, m in zip(strict, mm_any)]
        names = {
            c: n.replace("signal bins", f"signal {_unit(kind)}")
            for c, n in _display_names(table.columns).items()
        }
        body.append(
            html_table(
                table.rename(columns=names),
                sortable=True,
                row_classes=classes,
                table_id="electrode-table",
            )
        )
    body += ["<h2>Figures</h2>", _figures_html(figures)]
    if not table.empty and has_results and mm_any.any():
        body.append("<h2>Multimodal sites</h2>")
        comp = (
            comparisons[comparisons["subject"].astype(str) == sid]
            if comparisons is not None and len(comparisons)
            else pd.DataFrame()
        )
        for k in np.flatnonzero(mm_any):
            row = table.iloc[k]
            als = [al for al in ALIGNMENTS if multimodal_any(table.iloc[[k]], [al])[0]]
            body.append(
                f'<div class="site" id="site-{_esc(row["electrode"])}">'
                f"<h3>{_esc(row['electrode'])}{' (strict)' if strict[k] else ''}</h3>"
                f"<p>Region {_esc(row['region'])}, hemisphere {_esc(row.get('hemisphere'))}; "
                f"multimodal under {', '.join(als)}-aligned events; best models: "
                + ", ".join(f"{al}: {_esc(row.get(f'best_model_{al}'))}" for al in ALIGNMENTS)
                + "</p>"
            )
            if len(comp):
                rows = comp[comp["electrode"].astype(str) == str(row["electrode"])]
                cols = [
                    c
                    for c in (
                        "alignment",
                        "test",
                        "model_a",
                        "model_b",
                        "score_a",
                        "score_b",
                        "delta",
                        "p_value",
                        "q_value",
                        "significant",
                    )
                    if c in rows.columns
                ]
                if "significant" in rows.columns:
                    rows = rows.assign(significant=as_bool(rows["significant"]).to_numpy())
                body.append(html_table(rows[cols].sort_values(["alignment", "test"])))
            body.append("</div>")
    body += [
        "<h2>Provenance</h2>",
        _provenance(provenance),
        "<footer>Generated by mmsites. Self-contained: opens from disk.</footer>",
    ]
    return _page(f"mmsites: sub-{sid}" + (f" ({kind_label(kind)})" if kind else ""), "\n".join(body))


def render_overview(
    summaries: dict,
    subjects,
    figures: dict,
    provenance: dict,
    *,
    responses: dict | None = None,
    recovery: dict | None = None,
    decoding: str | None = None,
    pages: dict | None = None,
) -> str:
    """Render the overview of every response kind (``results/report/index.html``).

    One section per kind with its headline numbers and links to its pages
    (``<kind>/index.html``, ``<kind>/sub-<s>.html``), the demo's recovery of every kind,
    the figures (the response kinds compared) and the provenance.

    Parameters
    ----------
    summaries : dict of str to dict
        ``results/summary.json``: response kind -> that kind's summary, in the order of the
        sections.
    subjects : iterable
        Subject ids: links to ``sub-<s>.html`` (the subject's overview) and, per kind, to
        ``<kind>/sub-<s>.html``.
    figures : dict of str to bytes
        Figure name -> PNG bytes, shown in order, captioned by their names.
    provenance : dict
        As for :func:`render_index`.
    responses : dict of str to str, optional
        Response kind -> its description with its unit (default: the display names).
    recovery : dict, optional
        ``results/demo_recovery.json``: response kind -> site column -> precision, recall,
        ...; on the demo, a table of every kind's recovery of the planted electrodes.
    decoding : str, optional
        The decoding section (:func:`decoding_html`).
    pages : dict of str to str, optional
        Further pages of the report, title -> href (e.g. ``{"Similarity": "similarity.html"}``),
        linked under the subjects.

    Returns
    -------
    html : str
        A self-contained page.
    """
    subjects = [str(s) for s in subjects]
    responses = responses or {}
    kinds = list(summaries)
    nav = " ".join(f'<a href="sub-{_esc(s)}.html">sub-{_esc(s)}</a>' for s in subjects)
    body = [
        "<h1>mmsites: sites of vision–language integration</h1>",
        "<p>Response kinds: "
        + ", ".join(f'<a href="#kind-{_esc(k)}">{_esc(kind_label(k))}</a>' for k in kinds)
        + ". Each kind is encoded and tested on its own (FDR within the kind); its full report "
        "has the figures, regions and per-subject pages.</p>",
        f"<nav>Subjects, every kind: {nav or 'none'}</nav>",
    ]
    if pages:
        body.append(
            "<nav>More: "
            + " ".join(f'<a href="{_esc(h)}">{_esc(t)}</a>' for t, h in pages.items())
            + "</nav>"
        )
    for kind in kinds:
        sub_nav = " ".join(f'<a href="{_esc(kind)}/sub-{_esc(s)}.html">sub-{_esc(s)}</a>' for s in subjects)
        body += [
            f'<section class="kind" id="kind-{_esc(kind)}">',
            f"<h2>{_esc(kind_label(kind))}</h2>",
            _response_line(kind, responses.get(kind)),
            f'<nav><a href="{_esc(kind)}/index.html">Full report: {_esc(kind_label(kind))}</a> '
            f"Subjects: {sub_nav or 'none'}</nav>",
            _headline(summaries[kind], table_id=f"summary-table-{kind}"),
            "</section>",
        ]
    if recovery:
        body += ["<h2>Demo: planted multimodal electrodes found</h2>", _recovery(recovery)]
    body += ["<h2>Response kinds compared</h2>", _figures_html(figures)]
    if decoding is not None:
        body += ['<h2 id="decoding">Decoding</h2>', decoding]
    body += [
        "<h2>Provenance</h2>",
        _provenance(provenance),
        "<footer>Generated by mmsites. Self-contained: opens from disk.</footer>",
    ]
    return _page("mmsites report", "\n".join(body))


def decoding_html(decoding: pd.DataFrame | None, figures: dict | None = None, *, subject=None) -> str:
    """The decoding section: the table of ``results/decoding.csv`` and its figure.

    Parameters
    ----------
    decoding : DataFrame or None
        ``results/decoding.csv`` (:func:`mmsites.decoding.decoding_table`); None or empty: a
        notice.
    figures : dict of str to bytes, optional
        The decoding figure(s), name -> PNG bytes.
    subject : int or str, optional
        Show this subject's rows only.

    Returns
    -------
    str
        HTML: a sentence on the method, the table (task, split, representation, AUC and its
        interval, whether the interval excludes chance, events) and the figures.
    """
    if decoding is None or decoding.empty:
        return '<p class="notice">No decoding results (results/decoding.csv is empty or missing).</p>'
    rows = decoding if subject is None else decoding[decoding["subject"].astype(str) == str(subject)]
    shown = rows.assign(
        above_chance=rows["auc_lo"] > rows["chance"],
        interval=[f"[{lo:.3f}, {hi:.3f}]" for lo, hi in zip(rows["auc_lo"], rows["auc_hi"])],
    )
    columns = [c for c in ("subject", "task", "split", "representation") if subject is None or c != "subject"]
    shown = shown[[*columns, "auc", "interval", "above_chance", "n_train", "n_test", "n_folds"]]
    study = ""
    if subject is None and rows["subject"].nunique() > 1:
        grouped = rows.groupby(["task", "split", "representation"], sort=False)
        summary = grouped.agg(
            subjects=("subject", "nunique"),
            mean_auc=("auc", "mean"),
            min_auc=("auc", "min"),
            max_auc=("auc", "max"),
            above_chance=("auc_lo", lambda lo: int((lo > 0.5).sum())),
        ).reset_index()
        study = (
            "<h3>Across subjects</h3><p>Per task, split scheme and representation: the mean, lowest "
            "and highest test AUC over subjects, and how many subjects' intervals exclude chance.</p>"
            + html_table(summary, sortable=True, table_id="decoding-study")
        )
    return (
        "<p>Linear probes (logistic regression, C chosen by inner cross-validation on the "
        "training part) read each event's window and are scored by test ROC-AUC; PopT fine-tuned "
        "end to end keeps the step chosen on an inner validation fold. Split schemes: "
        "<em>within_session</em> (contiguous, purged folds in time), <em>cross_session</em> "
        "(train on another session of the subject) and <em>cross_subject</em> (train on another "
        "subject; shared-space representations only, the row under the test subject). The "
        "interval is a moving-block bootstrap over test events. Chance is 0.5.</p>"
        + html_table(shown, sortable=True, table_id="decoding-table")
        + study
        + (_figures_html(figures) if figures else "")
    )


def render_subject_overview(
    subject,
    kinds,
    figures: dict,
    provenance: dict,
    *,
    responses: dict | None = None,
    decoding: str | None = None,
) -> str:
    """Render one subject's overview (``results/report/sub-<s>.html``): its page of every kind.

    Parameters
    ----------
    subject : int or str
        Subject id.
    kinds : iterable of str
        The response kinds: one link each to ``<kind>/sub-<s>.html``.
    figures : dict of str to bytes
        The subject's figures (the response kinds compared), name -> PNG bytes.
    provenance : dict
        As for :func:`render_index`.
    responses : dict of str to str, optional
        Response kind -> its description with its unit (default: the display names).
    decoding : str, optional
        The subject's decoding section (:func:`decoding_html` with ``subject``).

    Returns
    -------
    html : str
        A self-contained page.
    """
    sid = str(subject)
    responses = responses or {}
    items = "".join(
        f'<li><a href="{_esc(k)}/sub-{_esc(sid)}.html">{_esc(kind_label(k))}</a>: '
        f"{_esc(responses.get(k, kind_label(k)))}</li>"
        for k in kinds
    )
    body = [
        f"<h1>sub-{_esc(sid)}</h1>",
        '<nav><a href="index.html">← overview</a></nav>',
        f"<h2>Pages per response kind</h2><ul>{items}</ul>",
        "<h2>Response kinds compared</h2>",
        _figures_html(figures),
        *(['<h2 id="decoding">Decoding</h2>', decoding] if decoding is not None else []),
        "<h2>Provenance</h2>",
        _provenance(provenance),
        "<footer>Generated by mmsites. Self-contained: opens from disk.</footer>",
    ]
    return _page(f"mmsites: sub-{sid}", "\n".join(body))
