"""The report as Markdown and as one HTML page (no script; figures linked, so it opens fast).

Both are rendered from the same `Section`s, so they say the same thing: an overview across
experiments, the formats' limits, then one section per experiment with its tables and figures.
A section is rendered on its own (`section_markdown`, `section_html`), so it can be kept and
reused (fpstudy/report/sections.py); the pages put the kept parts together.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import mpmath

from ..formats import FORMATS
from .study import Study
from .style import FigureFile
from .tables import Cell, Table, anchor

LONG_TABLE, SHOWN_ROWS = 30, 20  # HTML tables longer than this fold all but their first rows
TITLE = "fpstudy report: floating-point formats side by side"


@dataclass
class Section:
    study: Study
    tables: list[Table]
    figures: list[FigureFile]
    notes: list[str] = field(default_factory=list)


def formats_table(dtypes: list[str]) -> Table:
    """The limits of every format the report mentions, from finfo via fpstudy.formats."""
    rows = []
    for d in dtypes:
        fmt = FORMATS.get(d)
        if fmt is None:
            continue
        rows.append([d, fmt.bits, fmt.precision, _num(fmt.max), _num(fmt.smallest_normal),
                     _num(fmt.smallest_subnormal), _num(fmt.unit_roundoff),
                     "yes" if fmt.has_inf else "no (overflow gives NaN)"])
    return Table("Formats", ["format", "bits", "precision p", "max", "smallest normal",
                             "smallest subnormal", "u = 2^-p", "has inf"], rows,
                 "Limits read from numpy / ml_dtypes finfo. u is the unit roundoff.")


def _num(v) -> str:
    from ..exact import to_mpf
    return mpmath.nstr(to_mpf(v), 5)


def _config_path(study: Study) -> str:
    return str(study.meta.get("config_path", ""))


def run_line(study: Study) -> str:
    m = study.meta
    pk = m.get("packages", {})
    versions = ", ".join(f"{k} {pk[k]}" for k in ("fpstudy", "numpy", "ml_dtypes", "mpmath")
                         if pk.get(k))
    return (f"{m.get('records', len(study.records))} records from `{_config_path(study)}` "
            f"(sha256 {str(m.get('config_sha256', ''))[:12]}), {m.get('wall_time_s', '?')} s, "
            f"finished {m.get('finished', '?')}; {_arith_words(m.get('arith'))}; "
            f"{truth_words(study.records, m.get('truth'))}; {versions}.")


def truth_words(records, truth_meta=None) -> str:
    """How the records' truths were proven (by which engine, meta.json's truth entry), and how
    many were not, in words."""
    if "truth_bound" not in records or not len(records):
        return "truth agreed between two precisions (format version 1: not proven)"
    engine = _engine_words(truth_meta)
    bound = records["truth_bound"]
    settled = records["truth_settled"].astype(bool)
    exact = int((bound == 0).sum())
    enclosed = int((settled & (bound > 0)).sum())
    unproven = int((~settled).sum())
    parts = []
    if exact:
        parts.append(f"{exact} exact")
    if enclosed:
        parts.append(f"{enclosed} by enclosures (widest bound {bound[settled].max():.1e})")
    text = "truth proven for " + (" and ".join(parts) if parts else "no record") + engine
    if unproven:
        text += (f"; **{unproven} records whose truth is not proven** (truth_settled = false:"
                 " raise [truth] max_precision)")
    return text


def _engine_words(truth_meta) -> str:
    """', by the arb engine (python-flint 0.9.0)' from meta.json's truth entry ('' without)."""
    if not isinstance(truth_meta, dict) or not truth_meta.get("engine"):
        return ""
    library = {"arb": "python-flint", "mpmath": "mpmath"}.get(truth_meta["engine"], "")
    version = f" ({library} {truth_meta['version']})" if library and truth_meta.get("version") \
        else ""
    return f", by the {truth_meta['engine']} engine{version}"


def _arith_words(arith) -> str:
    """meta.json's arith in words: who computed exp, log, ... ("numpy" before version 2)."""
    if not isinstance(arith, dict):
        return "elementwise functions by numpy"
    library = arith.get("library") or arith.get("math", "?")
    how = "correctly rounded" if arith.get("correctly_rounded") else "the platform's library"
    return f"elementwise functions by {library} ({how})"


# --------------------------------------------------------------------------- Markdown

def _md_cell(cell) -> str:
    text = str(cell) if not isinstance(cell, Cell) else \
        (f"[{cell.text}]({cell.href})" if cell.href else cell.text) + \
        (f"<br>*{cell.detail}*" if cell.detail else "")
    return text.replace("|", "\\|").replace("\n", " ")


_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?inf$|^nan$")


def numeric_columns(t: Table) -> list[bool]:
    """Which columns hold numbers only (right-aligned); the label columns never do."""
    out = []
    for i in range(len(t.columns)):
        cells = [str(row[i]) for row in t.rows if not isinstance(row[i], Cell) and str(row[i])]
        out.append(i >= t.label_columns and bool(cells) and all(_NUMBER.match(c) for c in cells)
                   and all(not isinstance(row[i], Cell) for row in t.rows))
    return out


def md_table(t: Table, level: int = 3) -> str:
    out = [f"{'#' * level} {t.title}", ""]
    if t.note:
        out += [t.note, ""]
    if not t.rows:
        return "\n".join(out + ["(nothing to show)", ""])
    numeric = numeric_columns(t)
    out.append("| " + " | ".join(t.columns) + " |")
    out.append("|" + "|".join("---:" if n else ":---" for n in numeric) + "|")
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
    return "\n".join(out + [""])


def markdown(overview: Table, formats: Table, sections: list, results: Path) -> str:
    """The whole report.md: its head, then each section's Markdown (`section_markdown`)."""
    out = [f"# {TITLE}", "",
           f"{_count(len(sections), 'experiment')} from `{results}`. Every number below "
           "comes from the records (`fpstudy.load(path)` in a notebook); figures are PNG "
           "here with an SVG beside each for papers.", ""]
    out += [md_table(overview, 2), md_table(formats, 2)]
    out += [s.markdown for s in sections]
    return "\n".join(out).rstrip() + "\n"


def section_markdown(s: Section, results: Path) -> str:
    """One experiment's part of report.md (figures linked relative to `results`)."""
    st = s.study
    out = [f'<a id="{anchor(st.name)}"></a>', "", f"## {st.name}", "",
           st.description, "", f"**Config:** {st.config_brief()}", "",
           f"**Run:** {run_line(st)}", ""]
    out += [f"> {n}\n" for n in s.notes]
    out += [md_table(t) for t in s.tables]
    out += ["### Figures", ""]
    for f in s.figures:
        png, svg = _rel(f.png, results), _rel(f.svg, results)
        out += [f"![{f.title}]({png})", "", f"*{f.caption}* ([SVG]({svg}))", ""]
    return "\n".join(out)


def _rel(path: Path, results: Path) -> str:
    try:
        return Path(path).relative_to(results).as_posix()
    except ValueError:
        return Path(path).as_posix()


# --------------------------------------------------------------------------- HTML

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
       max-width: 1200px; padding: 1.5em 2em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 2px solid #ccc; padding-bottom: 0.2em; margin-top: 2.2em; }
h3 { margin-top: 1.6em; }
p.note, figcaption, .run { color: #555; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.6em 0 1em; font-size: 0.88em; }
th, td { border: 1px solid #d4d4d4; padding: 0.3em 0.6em; vertical-align: top; }
th { background: #f2f2f2; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td .detail { display: block; color: #777; font-size: 0.85em; }
tr:nth-child(even) td { background: #fafafa; }
figure { margin: 1.2em 0 2em; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
.warn { background: #fff4e5; border-left: 4px solid #e69f00; padding: 0.4em 0.8em; }
nav a { margin-right: 1em; }
details { margin: -0.6em 0 1em; }
summary { cursor: pointer; color: #0b5cad; font-size: 0.9em; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _h(text) -> str:
    return html.escape(str(text), quote=True)


def _inline_md(text: str) -> str:
    """The little Markdown the report's own prose uses: `code` and **bold**."""
    parts = _h(text).split("`")
    out = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    parts = out.split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))


def _html_cell(cell, numeric: bool) -> str:
    cls = ' class="num"' if numeric else ""
    if isinstance(cell, Cell):
        text = _h(cell.text)
        if cell.href:
            text = f'<a href="{_h(cell.href)}">{text}</a>'
        if cell.detail:
            text += f'<span class="detail">{_h(cell.detail)}</span>'
        return f"<td{cls}>{text}</td>"
    return f"<td{cls}>{_inline_md(str(cell))}</td>"


def html_table(t: Table, level: int = 3) -> str:
    out = [f"<h{level}>{_h(t.title)}</h{level}>"]
    if t.note:
        out.append(f'<p class="note">{_inline_md(t.note)}</p>')
    if not t.rows:
        return "\n".join(out + ["<p>(nothing to show)</p>"])
    numeric = numeric_columns(t)
    head = ("<table><thead><tr>" + "".join(f"<th>{_h(c)}</th>" for c in t.columns)
            + "</tr></thead><tbody>")

    def body(rows):
        return [head] + ["<tr>" + "".join(_html_cell(c, numeric[i]) for i, c in enumerate(row))
                         + "</tr>" for row in rows] + ["</tbody></table>"]

    if len(t.rows) <= LONG_TABLE:
        return "\n".join(out + body(t.rows))
    # a long table shows its first rows; the rest opens in place (<details>, no script)
    shown, rest = t.rows[:SHOWN_ROWS], t.rows[SHOWN_ROWS:]
    return "\n".join(out + body(shown) + [f"<details><summary>{len(rest)} more rows</summary>"]
                     + body(rest) + ["</details>"])


def _img(path: Path, alt: str, results: Path) -> str:
    """The figure's PNG, linked relative to the report (which lies in `results`)."""
    return f'<img alt="{_h(alt)}" src="{_h(_rel(path, results))}" loading="lazy">'


def page(overview: Table, formats: Table, sections: list, results: Path) -> str:
    """The whole report.html: its head, then each section's HTML (`section_html`)."""
    nav = " ".join(f'<a href="#{anchor(s.name)}">{_h(s.name)}</a>' for s in sections)
    body = [f"<h1>{_h(TITLE)}</h1>",
            f'<p class="run">{_count(len(sections), "experiment")} from '
            f"<code>{_h(results)}</code>. Figures are the PNG files in "
            "<code>&lt;experiment&gt;/figures/</code> beside this page, each with an SVG for "
            "papers: keep the directory together.</p>",
            f"<nav>{nav}</nav>", html_table(overview, 2), html_table(formats, 2)]
    body += [s.html for s in sections]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{_h(TITLE)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


def section_html(s: Section, results: Path) -> str:
    """One experiment's part of report.html (figures linked relative to `results`)."""
    st = s.study
    body = [f'<h2 id="{anchor(st.name)}">{_h(st.name)}</h2>',
            f"<p>{_inline_md(st.description)}</p>",
            f"<p><strong>Config:</strong> {_inline_md(st.config_brief())}</p>",
            f'<p class="run"><strong>Run:</strong> {_inline_md(run_line(st))}</p>']
    body += [f'<p class="warn">{_inline_md(n)}</p>' for n in s.notes]
    body += [html_table(t) for t in s.tables]
    body.append("<h3>Figures</h3>")
    for f in s.figures:
        svg = _rel(f.svg, results)
        body.append(f"<figure>{_img(f.png, f.title, results)}<figcaption>{_h(f.caption)} "
                    f'<a href="{_h(svg)}">SVG</a></figcaption></figure>')
    return "\n".join(body)
