"""`fpstudy report`: results/report.md, results/report.html and every experiment's figures.

Everything is drawn from what `fpstudy run` wrote, for every complete experiment under the
results directory. Every experiment gets the generic tables (formats side by side, largest
error, avoidable failures) and figures (magnitude, outcome map, error); a case may add to its
section with a hook in fpstudy/report/cases/. Files are written through fpstudy.results'
atomic writers, figures first and the pages last.

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


def write_report(results_dir) -> list[Path]:
    """Draw the figures and write report.md and report.html; return every path written."""
    from . import render, tables
    from .cases import HOOKS
    from .study import load_study

    results_dir = Path(results_dir)
    directories = _results.experiments(results_dir)
    if not directories:
        raise UserError(f"{results_dir}: no experiment results here; run "
                        f"`fpstudy run CONFIG --results {results_dir}` first")
    studies = [load_study(d) for d in directories]
    written: list[Path] = []
    sections = []
    for study in studies:
        section = _section(study, HOOKS.get(study.case))
        for f in section.figures:
            f.figure = None  # written; keeping every drawn figure would only cost memory
        written += [p for f in section.figures for p in (f.png, f.svg)]
        sections.append(section)
    overview = tables.overview(studies)
    used = [d for s in studies for d in s.dtypes]
    formats = render.formats_table(list(dict.fromkeys(
        [d for d in _format_order() if d in used] + used)))
    md_path, html_path = results_dir / REPORT_MD, results_dir / REPORT_HTML
    _results.atomic_write_texts({  # both or neither: a full disk leaves the old pair
        md_path: render.markdown(overview, formats, sections, results_dir),
        html_path: render.page(overview, formats, sections, results_dir)})
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
