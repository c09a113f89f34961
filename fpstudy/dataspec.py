"""Where a config's `[data]` entries point: the standard library only, so make can read them.

A `[data]` value is a file name relative to the config file's folder, optionally with the name
of one array of an .npz archive after a colon: ``"logits.npy"``, ``"model.npz"``,
``"model.npz:W1"``. `split` separates the two; `data_files` lists the files of one config (for
make's dependencies: `python3 -m fpstudy.dataspec CONFIG` prints them, one per line).

    >>> split("model.npz:W1")
    ('model.npz', 'W1')
    >>> split("logits.npy")
    ('logits.npy', None)
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

SUFFIXES = (".npy", ".npz", ".csv", ".parquet")


def split(text: str) -> tuple[str, str | None]:
    """(file, key): the key is what follows the last ':' after a name ending in .npz."""
    head, sep, key = text.rpartition(":")
    if sep and head.lower().endswith(".npz"):
        return head, key
    return text, None


def resolve(text: str, config_path) -> Path:
    """The file a `[data]` value names, relative to the config file's folder."""
    file, _ = split(text)
    path = Path(file).expanduser()
    return path if path.is_absolute() else Path(config_path).parent / path


def data_files(config_path) -> list[Path]:
    """The files a config's `[data]` table names ([] when it has none or cannot be read)."""
    try:
        raw = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return []  # `fpstudy run` reports the problem itself
    table = raw.get("data", {})
    if not isinstance(table, dict):
        return []
    return [resolve(v, config_path) for v in table.values() if isinstance(v, str)]


def main(argv: list[str]) -> int:
    for config in argv:
        for path in data_files(config):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
