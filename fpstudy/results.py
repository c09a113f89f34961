"""The one module that writes under results/: paths, atomic writes, the result format.

An experiment's directory results/<name>/ is replaced as a whole: records, summary and meta are
written into a hidden staging directory beside it, which is then swapped in by one atomic
rename (Linux's renameat2 RENAME_EXCHANGE; elsewhere two renames, retried). So a reader, a
crash, a full disk or a second run of the same experiment never leaves records of one run with
the meta of another, and a failed write leaves the previous results as they were. Single files
(figures, the report pages) are written to a temporary file and renamed over the old one.
Every failure to write is a ResultsError naming the path (exit status 2), and no temporary
file or directory is left behind.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import json
import os
import platform
import secrets
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ResultsError, UserError
from .schema import (
    FORMAT_VERSION,
    KNOWN_VERSIONS,
    MEASURE_COLUMNS,
    RULE_COLUMNS,
    RULE_DEFAULTS,
    SUMMARY_NAN_COLUMNS,
)

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
    """Call write(tmp) on a temporary file beside `path`, then rename it to `path`.

    An OSError (no permission, disk full, a file where a directory should be) becomes a
    ResultsError naming `path`; the temporary file is removed and `path` is left as it was.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temporary(path)
        write(Path(tmp))
        os.replace(tmp, path)
    except OSError as e:
        raise cannot_write(path, e) from e
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def cannot_write(path: Path, error: OSError) -> ResultsError:
    """The one-line error for a failed write under results/."""
    reason = error.strerror or str(error)
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        reason += "; free some space and run again"
    return ResultsError(f"{path}: cannot write: {reason}; earlier results there are kept")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_texts(texts: dict[Path, str]) -> None:
    """Write several text files that belong together (report.md and report.html): every one
    to a temporary file first, and only when all are written rename them in place, so a
    failed write (a full disk) changes none of them. If a rename fails after an earlier one
    succeeded, the files already replaced get their previous contents back (kept as hard
    links until the end): both or neither."""
    written: dict[Path, str] = {}
    kept: dict[Path, str | None] = {}  # path -> a link to its previous file (None: none)
    current = None
    try:
        for path, text in texts.items():
            current = path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            written[path] = tmp = _temporary(path)
            Path(tmp).write_text(text, encoding="utf-8")
        for path, tmp in written.items():
            current = path
            kept[path] = _keep(path)
            os.replace(tmp, path)
    except OSError as e:
        for path, old in kept.items():
            if path == current:
                break
            try:
                if old is None:
                    path.unlink(missing_ok=True)
                else:
                    os.replace(old, path)
            except OSError:
                pass  # the error below names the write that failed
        raise cannot_write(current, e) from e
    finally:
        for tmp in [*written.values(), *(old for old in kept.values() if old)]:
            Path(tmp).unlink(missing_ok=True)


def _keep(path: Path) -> str | None:
    """A copy of the file at `path` beside it (a hard link where the file system has them),
    or None when there is no file there."""
    if not path.is_file():
        return None
    old = _temporary(path, ".old")
    try:
        os.unlink(old)
        os.link(path, old)
    except OSError:
        shutil.copy2(path, old)
    return old


def _temporary(path: Path, suffix: str = ".tmp") -> str:
    """A new empty hidden file beside `path` (its name), with the mode the umask gives a new
    file (mkstemp makes it 0600; results are for sharing)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
    except OSError:
        os.unlink(tmp)
        raise
    return tmp


def check_writable(results: Path) -> None:
    """Raise ResultsError unless results/ is (or can be made) a writable directory.

    Checked before an experiment runs, so a mistyped --results costs no computing time. The
    nearest existing ancestor must be a directory this process may write into; a file on the
    way is refused.
    """
    results = Path(results)
    probe = results
    try:
        while not probe.exists():
            if probe.is_symlink():  # a dangling link: makedirs would fail on it
                raise ResultsError(f"--results {results}: {probe} is a broken symbolic link")
            if probe.parent == probe:
                break
            probe = probe.parent
    except PermissionError:  # a directory on the way that may not be searched: the nearest
        locked = probe.parent  # ancestor that can be seen
        while locked.parent != locked and not _visible(locked):
            locked = locked.parent
        raise ResultsError(f"--results {results}: no permission to look into {locked}") from None
    if probe.exists() and not probe.is_dir():
        raise ResultsError(f"--results {results}: {probe} is a file, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ResultsError(f"--results {results}: no permission to write in {probe}")


def _visible(path: Path) -> bool:
    try:
        return path.exists()
    except PermissionError:
        return False


def write_experiment(results: Path, name: str, records: pd.DataFrame, summary: pd.DataFrame,
                     meta: dict) -> dict[str, Path]:
    """Write records.parquet, summary.csv and meta.json as one new results/<name>/.

    The files are written into a staging directory beside results/<name>/, which then
    replaces it atomically (`swap_in`): a reader sees the old directory or the new one, never
    a mix, and two runs writing the same experiment at once leave one of them whole.
    """
    check_writable(results)
    p = paths(results, name)
    with staging_dir(Path(results), name) as stage:
        def put(filename, write):
            try:
                write(stage / filename)
            except OSError as e:  # named by where it was going, not by the staging path
                raise cannot_write(p["dir"] / filename, e) from e
        put(RECORDS, lambda f: records.to_parquet(f, index=False))
        put(SUMMARY, lambda f: summary.to_csv(f, index=False, na_rep="nan"))
        put(META, lambda f: f.write_text(json.dumps(meta, indent=2, default=str) + "\n",
                                         encoding="utf-8"))
        swap_in(stage, p["dir"])
    return p


# A staging directory is ".<name>" + STAGE_MARK + "<host>-<pid>-<random>": the owner is
# recorded so that one left by a killed run on this machine can be removed by the next.
STAGE_MARK = ".stage-"


@contextmanager
def staging_dir(results: Path, name: str):
    """A new hidden directory beside results/<name>/, removed on leaving unless swapped in."""
    try:
        results.mkdir(parents=True, exist_ok=True)
        _remove_stale_stages(results, name)
        stage = results / (f".{name}{STAGE_MARK}{socket.gethostname()}-{os.getpid()}-"
                           f"{secrets.token_hex(4)}")
        stage.mkdir(mode=0o777)
    except OSError as e:
        raise cannot_write(experiment_dir(results, name), e) from e
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _remove_stale_stages(results: Path, name: str) -> None:
    """Remove staging directories of this experiment left by dead processes of this host."""
    host = socket.gethostname()
    for stage in results.glob(f".{name}{STAGE_MARK}{host}-*"):
        pid = stage.name[len(f".{name}{STAGE_MARK}{host}-"):].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stage, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def swap_in(stage: Path, final: Path) -> None:
    """Make the complete directory `stage` be `final`, atomically where the system can.

    Afterwards `stage` no longer exists (the previous `final`, if any, went with it). A
    concurrent swap_in to the same `final` may win or lose; either way `final` is one whole
    directory.
    """
    try:
        while True:
            try:
                os.rename(stage, final)  # atomic when final does not exist
                return
            except OSError as e:
                if e.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                    raise
            if final.is_symlink() or not final.is_dir():
                raise ResultsError(f"{final}: is a file or a link, not a results directory; "
                                   "move it away (nothing was written)")
            if _exchange(stage, final):  # final is new, stage holds the old directory
                shutil.rmtree(stage, ignore_errors=True)
                return
            old = stage.with_name(stage.name + ".old")
            try:
                os.rename(final, old)
            except FileNotFoundError:  # another run moved it; try again
                continue
            try:
                os.rename(stage, final)
            except OSError as e:
                if e.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    # another run's directory landed in between: ours replaces it next time
                    shutil.rmtree(old, ignore_errors=True)
                    continue
                _restore(old, final)
                raise
            shutil.rmtree(old, ignore_errors=True)
            return
    except OSError as e:
        raise cannot_write(final, e) from e


def _restore(old: Path, final: Path) -> None:
    try:
        os.rename(old, final)
    except OSError:  # another run's directory is in place now: ours is not needed
        shutil.rmtree(old, ignore_errors=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories atomically (Linux renameat2); False where that is unsupported."""
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # the file system cannot exchange: fall back to two renames
    raise OSError(code, os.strerror(code), str(b))


def _libc():
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL(None, use_errno=True)
        except OSError:
            _LIBC = False
    return _LIBC or None


_LIBC = None


def environment() -> dict:
    """This Python, platform and the versions of PACKAGES, for meta.json."""
    python, system, machine, versions = _environment(PACKAGES)
    return {"python": python, "platform": system, "machine": machine,
            "packages": dict(versions)}


@functools.lru_cache(maxsize=4)
def _environment(packages: tuple) -> tuple:
    """Read once per process: each version is a search of sys.path's package metadata (some
    ms a run), and the modules this process imported do not change while it runs."""
    versions = []
    for pkg in packages:
        try:
            versions.append((pkg, metadata.version(pkg)))
        except metadata.PackageNotFoundError:
            versions.append((pkg, None))
    return sys.version.split()[0], platform.platform(), platform.machine(), tuple(versions)


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
    for c in RULE_COLUMNS:  # before version 4 every format rounded by IEEE's default rule
        if c not in records:
            records[c] = RULE_DEFAULTS[c]
    measures = list(MEASURE_COLUMNS)
    rule = list(RULE_COLUMNS)
    first = records.columns.get_loc("value")
    before = [c for c in records.columns[:first] if c not in measures and c not in rule]
    after = [c for c in records.columns[first:] if c not in measures and c not in rule]
    return records[before + rule + measures + after]


def summary(path) -> pd.DataFrame:
    """The summary table of one experiment (its directory, or any file in it)."""
    d = _experiment_path(path)
    read_meta(d)
    # Only the numeric columns may hold NaN; "nan" in `outcome` is an outcome, "" an impl.
    return pd.read_csv(d / SUMMARY, keep_default_na=False,
                       na_values={c: ["nan"] for c in SUMMARY_NAN_COLUMNS})


def experiments(results: Path) -> list[Path]:
    """Every complete experiment directory under `results` (those with a meta.json); hidden
    staging directories are not experiments."""
    return sorted(p.parent for p in Path(results).glob(f"*/{META}")
                  if not p.parent.name.startswith("."))
