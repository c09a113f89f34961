"""The user's own numbers: arrays read from the files a config's `[data]` table names.

    [data]
    logits = "logits.npy"          # relative to the config file's folder
    weights = "model.npz"          # a whole archive: W1, W2, ... (and b1, b2, ...)
    x = "model.npz:x"              # one array of an archive

Formats: .npy, .npz (whole, or ``name.npz:key``), .csv (one sample per line, comma-separated,
an optional header line) and .parquet (numeric columns; one sample per row). Every array is
checked as it is read and converted exactly to float64 (float16, float32, float64, and
integers float64 holds exactly). Any problem -- another suffix, a missing file, a key the
archive lacks, a dtype or shape the case cannot use, a non-finite entry, a file larger than the
memory available -- is one ConfigError naming the config file, the `data.<name>` key and what
is allowed, raised while the config is read, before anything runs or is written.

What a case accepts is its ``DATA`` table: input name -> `DataSpec`. A loaded file is a
`DataFile`; its `ref` (path, key, sha256) is what a worker process needs to read it again, and
`describe()` is what meta.json records.
"""

from __future__ import annotations

import csv
import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dataspec import SUFFIXES, resolve, split
from .errors import ConfigError, ParamError, UserError

# The records column that numbers the rows of a data file (from 0). It is a case parameter
# (one grid point per row) so summaries and truths are per sample; kept here so a records
# schema module can take it over in one place.
SAMPLE_COLUMN = "sample"
REAL_KINDS = "fiu"  # float, signed and unsigned integer
ALLOWED_DTYPES = "float16, float32, float64 or integers"


@dataclass(frozen=True)
class DataSpec:
    """One `[data]` input of a case: what it is and which arrays it may be.

    ndims: the allowed numbers of dimensions of one array (e.g. (1, 2): one vector or one per
    row). archive: a whole .npz (several named arrays) is allowed; the case interprets names.
    shape: the words for the allowed shapes, for messages.
    """

    help: str
    ndims: tuple[int, ...]
    shape: str
    archive: bool = False


@dataclass(frozen=True)
class DataRef:
    """Where one input's data lives, enough to read it again in another process."""

    name: str  # the [data] key: logits, weights, x, ...
    text: str  # the value as written in the config
    path: str  # the file, resolved against the config's folder
    key: str | None  # the array of an .npz, or None
    sha256: str  # of the whole file


@dataclass
class DataFile:
    ref: DataRef
    value: np.ndarray | dict  # float64 array, or {name: float64 array} for a whole archive
    dtype: str | dict  # the dtype(s) in the file

    def describe(self) -> dict:
        """What meta.json records: path, key, shape, dtype and sha256."""
        if isinstance(self.value, dict):
            shape = {k: list(v.shape) for k, v in self.value.items()}
        else:
            shape = list(self.value.shape)
        return {"file": self.ref.text, "path": self.ref.path, "key": self.ref.key,
                "shape": shape, "dtype": self.dtype, "sha256": self.ref.sha256}


def available_memory() -> int:
    """Bytes of memory available now (MemAvailable; physical pages where /proc is absent)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: do not refuse


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Bad(Exception):
    """A problem with the file, in words; load() adds the config, key and file."""


def load(name: str, text, config_path, spec: DataSpec) -> DataFile:
    """Read, check and convert one `[data]` entry; ConfigError on any problem."""
    key_name = f"data.{name}"

    def fail(message):
        raise ConfigError(config_path, key_name, message)

    if not isinstance(text, str) or not text:
        fail(f"{text!r} is not allowed; expected a file name (.npy, .npz, .csv or .parquet)")
    file, key = split(text)
    suffix = Path(file).suffix.lower()
    if ":" in file and Path(file.rpartition(":")[0]).suffix.lower() in SUFFIXES:
        fail(f"{text!r}: only an .npz takes ':key' (the name of one of its arrays)")
    if suffix not in SUFFIXES:
        fail(f"{text!r} is not a file fpstudy reads; use .npy, .npz (whole, or name.npz:key), "
             ".csv or .parquet")
    path = resolve(text, config_path)
    if not path.is_file():
        fail(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        raw = _READERS[suffix](path, key, spec)
    except _Bad as e:
        fail(f"{path}{':' + key if key else ''}: {e}")
    except OSError as e:
        fail(f"{path}: cannot read: {e.strerror or e}")
    if suffix == ".npz" and key is None and not isinstance(raw, dict):
        with np.load(path, allow_pickle=False) as archive:
            key = archive.files[0]  # the archive's one array, named so a worker reads it
    where = f"{path}{':' + key if key else ''}"
    if isinstance(raw, dict):
        value = {k: _checked(v, spec, f"{where}:{k}", fail) for k, v in raw.items()}
        dtype = {k: v.dtype.name for k, v in raw.items()}
    else:
        value, dtype = _checked(raw, spec, where, fail), raw.dtype.name
    ref = DataRef(name=name, text=text, path=str(path), key=key, sha256=sha256_of(path))
    _CACHE[ref] = value
    return DataFile(ref=ref, value=value, dtype=dtype)


def _checked(a: np.ndarray, spec: DataSpec, where: str, fail) -> np.ndarray:
    """The array in float64, after its dtype, shape and entries are checked."""
    if a.dtype.kind not in REAL_KINDS:
        fail(f"{where} holds {a.dtype.name} values; expected real numbers ({ALLOWED_DTYPES})")
    if a.dtype.kind == "f" and a.dtype.itemsize > 8:
        fail(f"{where} holds {a.dtype.name} values, which float64 does not hold exactly; "
             f"expected {ALLOWED_DTYPES}")
    if a.ndim not in spec.ndims:
        fail(f"{where} has shape {_shape(a.shape)}; expected {spec.shape}")
    if a.size == 0:
        fail(f"{where} has shape {_shape(a.shape)}, no entries; expected {spec.shape}")
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a)
        if np.any(bad):
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            fail(f"{where} has {int(bad.sum())} non-finite entries (the first, at "
                 f"{list(first)}, is {a[first]}); every entry must be a finite number")
        return a.astype(np.float64)
    wide = a.astype(np.float64)
    if np.any(wide.astype(a.dtype) != a) or np.any(np.abs(wide) > 2.0**53):
        fail(f"{where} holds integers beyond 2**53, which float64 does not hold exactly")
    return wide


def _shape(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _need(count: int) -> None:
    """Refuse `count` float64 entries when they would not fit in the memory available."""
    need, have = 8 * count, available_memory()
    if need > have:
        raise _Bad(f"too large: {count} entries need {need / 1e9:.3g} GB as float64, more than "
                   f"the {have / 1e9:.3g} GB of memory available")


def _read_npy(path: Path, key, spec) -> np.ndarray:
    try:
        header = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as e:  # object arrays, or not an .npy at all
        raise _Bad(f"not a readable .npy file ({e})") from None
    _need(int(np.prod(header.shape, dtype=np.int64)))
    return np.array(header)


def _read_npz(path: Path, key, spec):
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, zipfile.BadZipFile, EOFError) as e:
        raise _Bad(f"not a readable .npz file ({e})") from None
    with archive:
        names = list(archive.files)
        if not names:
            raise _Bad("the archive holds no arrays")
        if key is None and not spec.archive:
            if len(names) > 1:
                raise _Bad(f"the archive holds {len(names)} arrays ({', '.join(names)}); name "
                           f"one: '{path.name}:{names[0]}'")
            key = names[0]
        wanted = names if key is None else [key]
        if key is not None and key not in names:
            raise _Bad(f"no array {key!r} in the archive; it holds {', '.join(names)}")
        with zipfile.ZipFile(path) as z:
            count = 0
            for n in wanted:
                with z.open(n + ".npy") as f:
                    version = np.lib.format.read_magic(f)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape = read_header(f)[0]
                count += int(np.prod(shape, dtype=np.int64))
        _need(count)
        try:
            arrays = {n: archive[n] for n in wanted}
        except ValueError as e:
            raise _Bad(f"cannot read it ({e})") from None
    return arrays if key is None else arrays[key]


def _read_csv(path: Path, key, spec) -> np.ndarray:
    _need(path.stat().st_size // 2)  # every number takes at least a digit and a separator
    rows, width, header = [], None, False
    with open(path, newline="", encoding="utf-8") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            if not row or all(not c.strip() for c in row):
                continue
            try:
                values = [float(c) for c in row]
            except ValueError:
                if not rows and not header:  # a header line names the columns
                    header = True
                    continue
                bad = next(c for c in row if not _is_float(c))
                raise _Bad(f"line {line_no}: {bad.strip()!r} is not a number") from None
            if width is None:
                width = len(values)
            elif len(values) != width:
                raise _Bad(f"line {line_no} has {len(values)} values; the lines before have "
                           f"{width} (one sample per line, the same length each)")
            rows.append(values)
    if not rows:
        raise _Bad("no numbers in it (one sample per line, comma-separated)")
    return np.array(rows, dtype=np.float64)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_parquet(path: Path, key, spec) -> np.ndarray:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as e:  # pyarrow raises its own error types for a bad file
        raise _Bad(f"not a readable .parquet file ({e})") from None
    _need(meta.num_rows * meta.num_columns)
    table = pq.read_table(path).to_pandas()
    wrong = [f"{c} ({t})" for c, t in table.dtypes.items() if t.kind not in REAL_KINDS]
    if wrong:
        raise _Bad(f"columns {', '.join(wrong)} are not numeric; every column must hold "
                   f"numbers ({ALLOWED_DTYPES}): one sample per row")
    if table.isna().any().any():
        raise _Bad("has missing entries; every entry must be a finite number")
    return np.column_stack([table[c].to_numpy() for c in table.columns]) \
        if len(table.columns) else np.empty((len(table), 0))


_READERS = {".npy": _read_npy, ".npz": _read_npz, ".csv": _read_csv, ".parquet": _read_parquet}

# Arrays already read and checked in this process, by reference (path, key, sha256).
_CACHE: dict[DataRef, object] = {}


def read(ref: DataRef):
    """The checked float64 value of a reference, read again if this process has not (a worker);
    a file that changed since the config was checked is an error, not silently other data."""
    if ref in _CACHE:
        return _CACHE[ref]
    path = Path(ref.path)
    if not path.is_file() or sha256_of(path) != ref.sha256:
        raise UserError(f"{ref.path}: changed while the experiment ran (data.{ref.name}); "
                        "run it again")
    file, _ = split(ref.text)
    suffix = Path(file).suffix.lower()
    spec = DataSpec("", tuple(range(8)), "any", archive=ref.key is None)
    raw = _READERS[suffix](path, ref.key, spec)
    if isinstance(raw, dict):
        value = {k: v.astype(np.float64) for k, v in raw.items()}
    else:
        value = raw.astype(np.float64)
    _CACHE[ref] = value
    return value


def set_samples(grid: dict, given, count: int, what: str) -> None:
    """grid's sample axis for a file of `count` rows: every row, or the rows the config names,
    each checked to be one of them (ParamError naming grid.sample[i] and `what` otherwise)."""
    if SAMPLE_COLUMN not in given:
        grid[SAMPLE_COLUMN] = list(range(count))
        return
    for i, s in enumerate(grid[SAMPLE_COLUMN]):
        if s >= count:
            raise ParamError(f"grid.{SAMPLE_COLUMN}[{i}]", f"{s} is out of range; {what} has "
                             f"{count} rows (0 to {count - 1})")
