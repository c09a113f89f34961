"""Shared fixtures and capability groups for the fpstudy tests."""

from __future__ import annotations

import pytest

from fpstudy.cli import main
from fpstudy.formats import FORMATS

ALL_FORMATS = list(FORMATS)
HEADLINE = ["float16", "bfloat16", "float32", "float64"]
WITH_INF = [n for n, f in FORMATS.items() if f.has_inf]
WITHOUT_INF = [n for n, f in FORMATS.items() if not f.has_inf]
COMPUTABLE = [n for n, f in FORMATS.items() if f.computable]  # not float8_e8m0fnu (no zero)
EMULATED = [n for n, f in FORMATS.items() if f.emulated and f.computable]


# A two-format, two-scale deep product: the smallest experiment with every outcome run.
TINY = """
case = "deep_product"
description = "tiny"
dtypes = ["float16", "float64"]
[grid]
scale = [0.5, 1.5]
max_depth = 30
"""


@pytest.fixture
def run_cli(capsys):
    """Call the CLI in-process: returns (exit status, stdout, stderr)."""
    def call(*argv):
        status = main([str(a) for a in argv])
        out = capsys.readouterr()
        return status, out.out, out.err
    return call


@pytest.fixture
def write_config(tmp_path):
    """Write a TOML config into tmp_path and return its path."""
    def write(text: str, name: str = "exp.toml"):
        path = tmp_path / name
        path.write_text(text)
        return path
    return write


def load_experiment(tmp_path, case: str, grid: str, dtypes=("float16",)):
    """A validated Experiment from a case name and the text of its [grid] table."""
    from fpstudy import config

    path = tmp_path / f"{case}.toml"
    dtype_list = "[" + ", ".join(f'"{d}"' for d in dtypes) + "]"
    path.write_text(f'case = "{case}"\ndtypes = {dtype_list}\n[grid]\n{grid}\n')
    return config.load(path)


def compute_records(exp) -> list[dict]:
    """Every record of an experiment, computed in this process (no files written)."""
    from fpstudy import run_experiment

    return run_experiment(exp, progress=False).records.to_dict("records")
