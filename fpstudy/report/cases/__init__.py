"""Per-case report hooks: a module here whose CASE names a case adds to that case's section.

A new case needs nothing here: every experiment gets the generic tables and figures from its
records. A hook module adds what only that case can say, and defines any of:

    CASE: str                         the case it is for (required)
    error_references(study, labels, rows) -> list[Reference]
        reference curves for the error figure of one panel (fpstudy.report.figures.Reference:
        (label, dtype, x, y, dash pattern)), e.g. k*u and sqrt(k)*u for the deep product
    figures(study) -> list[FigureFile]
        extra figures, drawn with fpstudy.report.style (format colours, save)

A hook that fails (its case's records lack a column it needs, say) costs only its own
additions: the report notes the failure and renders everything else.
"""

from __future__ import annotations

from types import ModuleType

from ...cases import discover

HOOKS: dict[str, ModuleType] = discover(__path__, __name__, "CASE")
