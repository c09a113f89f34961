"""Per-case report hooks: a module here whose CASE names a case adds to that case's section.

A new case needs nothing here: every experiment gets the generic tables and figures from its
records. A hook module adds what only that case can say, and defines any of:

    CASE: str                         the case it is for (required; a registered case)
    error_references(study, labels, rows) -> list[Reference]
        reference curves for the error figure of one panel (fpstudy.report.figures.Reference:
        label, dtype, x, y, dash pattern, and what the curve is in one sentence for the
        caption), e.g. k*u and sqrt(k)*u for the deep product; the legend and the caption
        name exactly the curves the hook returns
    figures(study) -> list[FigureFile]
        extra figures, drawn with fpstudy.report.style (format colours, save)
    tables(study) -> list[Table]
        extra tables (fpstudy.report.tables.Table), after the generic ones

Hook modules are checked when they are loaded, as cases are: CASE must name a case, and every
public function must be one of the hooks above with its arguments, so a misspelt hook
(`figure`, `reference_curves`) is an error instead of silently never called. Helpers' names
start with '_'. A hook that fails while drawing (its case's records lack a column it needs,
say) costs only its own additions: the report notes the failure and renders everything else.
"""

from __future__ import annotations

import inspect
from types import ModuleType

from ...cases import CASES, discover

# hook name -> its parameters
HOOK_FUNCTIONS = {
    "error_references": ("study", "labels", "rows"),
    "figures": ("study",),
    "tables": ("study",),
}


def check_hooks(hooks: dict[str, ModuleType]) -> dict[str, ModuleType]:
    """The hooks, each checked against the contract above; ImportError naming what is wrong."""
    for case, module in hooks.items():
        name = module.__name__
        if case not in CASES:
            raise ImportError(f"report hook {name}: CASE = {case!r} is not a case; "
                              f"choose from {', '.join(CASES)}")
        for attr, value in vars(module).items():
            if attr.startswith("_") or not inspect.isfunction(value) \
                    or value.__module__ != name:
                continue
            if attr not in HOOK_FUNCTIONS:
                raise ImportError(f"report hook {name} defines {attr}(), which is not a hook; "
                                  f"hooks are {', '.join(HOOK_FUNCTIONS)} (a helper's name "
                                  "starts with '_')")
            params = tuple(inspect.signature(value).parameters)
            if params != HOOK_FUNCTIONS[attr]:
                raise ImportError(f"report hook {name}.{attr}({', '.join(params)}): expected "
                                  f"{attr}({', '.join(HOOK_FUNCTIONS[attr])})")
    return hooks


HOOKS: dict[str, ModuleType] = check_hooks(discover(__path__, __name__, "CASE"))
