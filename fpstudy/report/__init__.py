"""`fpstudy report`: results/report.md, results/report.html and every experiment's figures.

Everything is drawn from what `fpstudy run` wrote, for every complete experiment under the
results directory. Every experiment gets the generic tables (formats side by side, largest
error, avoidable failures) and figures (magnitude, outcome map, error); a case may add to its
section with a hook in fpstudy/report/cases/. Files are written through fpstudy.results'
atomic writers: a section's figures, then the section (kept for reuse), the pages last.

    sections.py one experiment's section, drawn on its own and kept beside its results
    study.py    one experiment's results read back, with labels
    tables.py   the tables
    figures.py  the generic figures;  style.py  colours and the figure saver
    render.py   Markdown and HTML (figures linked)
    cases/      per-case hooks
"""

from __future__ import annotations

import sys
from pathlib import Path

from .. import results as _results
from ..errors import UserError

REPORT_MD, REPORT_HTML = "report.md", "report.html"


def write_report(results_dir, only=None, jobs: int = 1, redraw: bool = False) -> list[Path]:
    """Draw what is missing or stale and write report.md and report.html; return every path
    written. With `only` (experiment names), draw and keep just those sections, no pages.

    Each experiment's section is kept beside its results (sections.py) and reused while its
    results and the code that draws it are unchanged, so the pages are the same as when every
    section is drawn afresh (`redraw=True`). `jobs` draws sections in that many processes.
    """
    from ..formats import register, user_format
    from . import render, sections, tables

    results_dir = Path(results_dir)
    directories = _results.experiments(results_dir)
    if not directories:
        raise UserError(f"{results_dir}: no experiment results here; run "
                        f"`fpstudy run CONFIG --results {results_dir}` first")
    if only is not None:
        by_name = {d.name: d for d in directories}
        unknown = [n for n in only if n not in by_name]
        if unknown:
            raise UserError(f"{results_dir}: no results of an experiment named {unknown[0]!r} "
                            f"here; experiments: {', '.join(by_name)}")
        directories = [by_name[n] for n in dict.fromkeys(only)]
    else:
        # every experiment's own formats, in order, before anything is drawn: the overview's
        # columns follow FORMATS, and one format declared twice differently is an error
        for d in directories:
            for name, spec in _results.read_meta(d).get("config", {}).get("formats", {}).items():
                register(user_format(name, **spec))
    drawn = sections.sections(directories, jobs=jobs, redraw=redraw)
    written = [p for s in drawn for p in s.written]
    if only is not None:
        return written
    overview = tables.overview_table([s.overview for s in drawn], [s.dtypes for s in drawn])
    used = [d for s in drawn for d in s.dtypes]
    formats = render.formats_table(list(dict.fromkeys(
        [d for d in _format_order() if d in used] + used)))
    md_path, html_path = results_dir / REPORT_MD, results_dir / REPORT_HTML
    _results.atomic_write_texts({  # both or neither: a full disk leaves the old pair
        md_path: render.markdown(overview, formats, drawn, results_dir),
        html_path: render.page(overview, formats, drawn, results_dir)})
    return [*written, md_path, html_path]


def _section(study, hook):
    """Draw one experiment's figures and compute its tables (with its case hook, if any)."""
    import matplotlib

    from . import figures, render, tables
    from .style import RC

    refs = None
    if hasattr(hook, "error_references"):
        def refs(*args):
            return _hooked(study, lambda: hook.error_references(*args), [])
    figs = figures.draw_generic(study, refs)
    if study.has_trials:
        with matplotlib.rc_context(RC):
            figs.append(figures.trials_figure(study))
    if hasattr(hook, "figures"):
        with matplotlib.rc_context(RC):
            figs += _hooked(study, lambda: hook.figures(study), [])
    made = [tables.side_by_side(study), tables.error_table(study),
            tables.failure_table(study), tables.diagnostics_table(study),
            tables.trials_table(study)]
    if hasattr(hook, "tables"):
        made += _hooked(study, lambda: hook.tables(study), [])
    return render.Section(study, [t for t in made if t is not None], figs, study.notes)


def _format_order():
    from ..formats import FORMATS
    return list(FORMATS)


def _hooked(study, fn, default):
    """fn() of a case hook; its failure becomes a note in the report instead of a crash."""
    try:
        return fn()
    except Exception as e:  # a hook's failure must not cost the rest of the report
        note = (f"The `{study.case}` report hook could not draw its part "
                f"({type(e).__name__}: {e}); everything else is shown.")
        if note not in study.notes:
            study.notes.append(note)
            print(f"fpstudy report: {study.name}: {note}", file=sys.stderr)
        return default
