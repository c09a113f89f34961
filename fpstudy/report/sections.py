"""One experiment's part of the report, drawn once and kept beside its results.

Drawing a section (its figures, its tables, its rows of the overview) needs that experiment's
results alone, so each is drawn on its own and kept in results/<name>/report_section.json: the
section as Markdown and as HTML, its rows of the overview, its formats, and the sha256 of every
figure file it wrote. `fpstudy report` reuses a kept section that is still valid and draws
only the missing or stale ones; `fpstudy report --only NAME` draws one section, so make can
draw each as soon as its experiment has run, while others still run.

A section is valid when its key is the key the section would be drawn with now, and every
figure file it lists has the bytes it wrote (an interrupted redraw, or a figure deleted or
edited, makes it stale). The key is the sha256 of everything a section is drawn from:
- the experiment's records.parquet, summary.csv and meta.json (a rerun changes them);
- the source of fpstudy: the report package and the modules it reads the results and the
  formats with; to be safe, every module but those that cannot change a drawing (the
  command line, the error messages, the package's front door: the Makefile's NOT_NUMERICS);
- the versions of Python and of the libraries that read or draw (matplotlib, numpy, pandas,
  pyarrow, mpmath, ml_dtypes), and SECTION_VERSION.
Code patched at run time (a test's monkeypatch) is not in the key: redraw (`redraw=True`,
`fpstudy report --redraw`) to draw it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from .. import results as _results
from ..data import sha256_of
from .tables import Cell

SECTION_FILE = "report_section.json"
# History of the section file's layout:
#   1  key, name, dtypes, overview rows, markdown, html, figures (path -> sha256)
SECTION_VERSION = 1
# fpstudy modules that cannot change a drawing (the Makefile's NOT_NUMERICS)
NOT_DRAWING = ("cli.py", "errors.py", "__init__.py", "__main__.py")
LIBRARIES = ("matplotlib", "numpy", "pandas", "pyarrow", "mpmath", "ml_dtypes")


@dataclass
class Drawn:
    """One experiment's section as the pages need it: drawn now or read back."""

    name: str
    dtypes: list[str]
    overview: list[tuple[Cell, str, dict]]  # tables.overview_rows
    markdown: str
    html: str
    figures: dict[str, str]  # figure file (relative to the results directory) -> sha256
    written: list[Path] = field(default_factory=list, compare=False)  # files written now


def section_path(directory: Path) -> Path:
    return Path(directory) / SECTION_FILE


PACKAGE = Path(__file__).resolve().parent.parent  # fpstudy/


@lru_cache(maxsize=1)
def code_key() -> str:
    """The part of every section's key that is not the experiment: code and versions."""
    return package_key(PACKAGE)


def package_key(package: Path) -> str:
    """sha256 of the package's modules (but NOT_DRAWING), the versions and SECTION_VERSION."""
    digest = hashlib.sha256(f"section {SECTION_VERSION}\n".encode())
    for path in sorted(Path(package).rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        if rel in NOT_DRAWING:
            continue
        digest.update(f"{rel}\n".encode() + path.read_bytes() + b"\n")
    versions = [f"python {platform.python_version()}"]
    for lib in LIBRARIES:
        try:
            versions.append(f"{lib} {metadata.version(lib)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{lib} absent")
    digest.update("\n".join(versions).encode())
    return digest.hexdigest()


def section_key(directory: Path) -> str:
    """The key a section of this experiment would be drawn with now."""
    p = _results.paths(Path(directory).parent, Path(directory).name)
    digest = hashlib.sha256(code_key().encode())
    for part in ("meta", "records", "summary"):
        digest.update(f"\n{part} {sha256_of(p[part])}".encode())
    return digest.hexdigest()


def cached(directory: Path, key: str) -> Drawn | None:
    """The kept section of this experiment if it is valid for `key`, else None."""
    directory = Path(directory)
    try:
        kept = json.loads(section_path(directory).read_text(encoding="utf-8"))
        if not isinstance(kept, dict) or kept.get("version") != SECTION_VERSION \
                or kept.get("key") != key:
            return None
        drawn = Drawn(name=kept["name"], dtypes=list(kept["dtypes"]),
                      overview=[(Cell(**name), sweep, {d: Cell(**c) for d, c in cells.items()})
                                for name, sweep, cells in kept["overview"]],
                      markdown=kept["markdown"], html=kept["html"], figures=kept["figures"])
        for rel, sha in drawn.figures.items():
            if sha256_of(directory.parent / rel) != sha:
                return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):  # missing, half-kept
        return None  # or foreign: draw it again
    return drawn


def draw(directory: Path, key: str | None = None) -> Drawn:
    """Draw one experiment's section (figures first), then keep it in report_section.json."""
    from . import _section, render, tables
    from .cases import HOOKS
    from .study import load_study

    directory = Path(directory)
    results = directory.parent
    key = key or section_key(directory)
    study = load_study(directory)
    section = _section(study, HOOKS.get(study.case))
    for f in section.figures:
        f.figure = None  # written; keeping every drawn figure would only cost memory
    files = [p for f in section.figures for p in (f.png, f.svg)]
    drawn = Drawn(name=study.name, dtypes=list(study.dtypes),
                  overview=tables.overview_rows(study),
                  markdown=render.section_markdown(section, results),
                  html=render.section_html(section, results),
                  figures={_relative(p, results): sha256_of(p) for p in files})
    kept = {"version": SECTION_VERSION, "key": key, "name": drawn.name, "dtypes": drawn.dtypes,
            "overview": [[vars(name), sweep, {d: vars(c) for d, c in cells.items()}]
                         for name, sweep, cells in drawn.overview],
            "markdown": drawn.markdown, "html": drawn.html, "figures": drawn.figures}
    path = section_path(directory)
    _results.atomic_write_text(path, json.dumps(kept, indent=1, ensure_ascii=False) + "\n")
    drawn.written = [*files, path]
    return drawn


def _relative(path: Path, results: Path) -> str:
    try:
        return Path(path).relative_to(results).as_posix()
    except ValueError:  # a figure outside the results directory: kept by its full path
        return Path(path).as_posix()


def sections(directories: list[Path], jobs: int = 1, redraw: bool = False) -> list[Drawn]:
    """Every experiment's section, in order: kept ones reused, the others drawn (in a pool of
    `jobs` processes when there are several to draw)."""
    keys = [section_key(d) for d in directories]
    found = [None if redraw else cached(d, k) for d, k in zip(directories, keys, strict=True)]
    for d, s in zip(directories, found, strict=True):
        if s is not None:  # reused: newer than its inputs, for make
            _touch(section_path(d))
    todo = [i for i, s in enumerate(found) if s is None]
    if jobs > 1 and len(todo) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(jobs, len(todo))) as pool:
            futures = {i: pool.submit(draw, directories[i], keys[i]) for i in todo}
            for i, future in futures.items():
                found[i] = future.result()
    else:
        for i in todo:
            found[i] = draw(directories[i], keys[i])
    return found


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:  # a read-only results folder: the section is still valid
        pass
