"""The one module that writes under results/: paths, atomic writes, the result format.

Every file is written to a temporary file in the same directory and renamed over the old one,
so a reader never sees half a file and a failed run leaves the previous results intact.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UserError
from .schema import FORMAT_VERSION, KNOWN_VERSIONS, MEASURE_COLUMNS, SUMMARY_NAN_COLUMNS

RECORDS, SUMMARY, META = "records.parquet", "summary.csv", "meta.json"
DEFAULT_RESULTS = Path("results")
PACKAGES = ("fpstudy", "numpy", "ml_dtypes", "mpmath", "gmpy2", "pandas", "pyarrow",
            "matplotlib")


def experiment_dir(results: Path, name: str) -> Path:
    """results/<name>/, where everything of one experiment lives."""
    return Path(results) / name


def paths(results: Path, name: str) -> dict[str, Path]:
    d = experiment_dir(results, name)
    return {"dir": d, "records": d / RECORDS, "summary": d / SUMMARY, "meta": d / META,
            "figures": d / "figures"}


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call write(tmp) on a temporary file beside `path`, then rename it to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; results are for sharing
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_experiment(results: Path, name: str, records: pd.DataFrame, summary: pd.DataFrame,
                     meta: dict) -> dict[str, Path]:
    """Write records.parquet, summary.csv and meta.json (last, so it marks a complete run)."""
    p = paths(results, name)
    atomic_write(p["records"], lambda tmp: records.to_parquet(tmp, index=False))
    atomic_write(p["summary"], lambda tmp: summary.to_csv(tmp, index=False, na_rep="nan"))
    atomic_write_text(p["meta"], json.dumps(meta, indent=2, default=str) + "\n")
    return p


def environment() -> dict:
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {"python": sys.version.split()[0], "platform": platform.platform(),
            "machine": platform.machine(), "packages": versions}


def read_meta(directory: Path) -> dict:
    path = Path(directory) / META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no results here (run `fpstudy run` first)") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON: {e}") from None
    version = meta.get("format_version")
    if version not in KNOWN_VERSIONS:
        raise UserError(f"{path}: format_version {version!r} is not one this fpstudy reads "
                        f"({', '.join(map(str, KNOWN_VERSIONS))})")
    return meta


def _experiment_path(path) -> Path:
    path = Path(path)
    return path.parent if path.is_file() or path.suffix in (".parquet", ".csv", ".json") else path


def load(path) -> pd.DataFrame:
    """The records of one experiment (its directory, or any file in it) as a DataFrame,
    in the current schema whatever version wrote them."""
    d = _experiment_path(path)
    meta = read_meta(d)
    return upgrade(pd.read_parquet(d / RECORDS), meta["format_version"])


def upgrade(records: pd.DataFrame, version: int) -> pd.DataFrame:
    """Records of an older format version in the current schema (fpstudy.schema.HISTORY)."""
    if version >= FORMAT_VERSION:
        return records
    records = records.copy()
    if "value_log10" not in records:  # version 1 before value_log10: float64 is all there is
        with np.errstate(divide="ignore"):
            records["value_log10"] = np.log10(np.abs(records["value"].to_numpy(dtype=float)))
    if "truth_bound" not in records:  # version 1 truths were agreed, not proven
        records["truth_bound"] = np.nan
    measures = list(MEASURE_COLUMNS)
    first = records.columns.get_loc("value")
    before = [c for c in records.columns[:first] if c not in measures]
    after = [c for c in records.columns[first:] if c not in measures]
    return records[before + measures + after]


def summary(path) -> pd.DataFrame:
    """The summary table of one experiment (its directory, or any file in it)."""
    d = _experiment_path(path)
    read_meta(d)
    # Only the numeric columns may hold NaN; "nan" in `outcome` is an outcome, "" an impl.
    return pd.read_csv(d / SUMMARY, keep_default_na=False,
                       na_values={c: ["nan"] for c in SUMMARY_NAN_COLUMNS})


def experiments(results: Path) -> list[Path]:
    """Every complete experiment directory under `results` (those with a meta.json)."""
    return sorted(p.parent for p in Path(results).glob(f"*/{META}"))
