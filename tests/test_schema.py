"""The result schema: one source for the columns, their meaning and the format version."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import load_experiment

import fpstudy
from fpstudy import results, schema
from fpstudy.cases import CASES
from fpstudy.errors import UserError

ROOT = Path(__file__).parent.parent


def test_readme_records_table_is_the_schema():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert schema.records_table() in readme, (
        "README.md's records table differs from fpstudy.schema; paste "
        "fpstudy.schema.records_table() over it")


def test_truth_bound_follows_truth_precision():
    names = list(schema.MEASURE_COLUMNS)
    assert names.index("truth_bound") == names.index("truth_precision") + 1


def test_every_version_has_its_history_and_the_newest_is_written():
    assert schema.FORMAT_VERSION == max(schema.HISTORY)
    assert list(schema.KNOWN_VERSIONS) == sorted(schema.HISTORY)
    assert all(text.strip() for text in schema.HISTORY.values())


@pytest.mark.parametrize("name", CASES)
def test_record_columns_of_every_case_are_identity_params_sweep_measures_extras(name):
    case = CASES[name]
    cols = schema.record_columns(case)
    assert cols[:5] == ["experiment", "case", "dtype", "impl", "quantity"]
    assert case.SWEEP in cols and len(set(cols)) == len(cols)
    first = cols.index("value")
    assert tuple(cols[first:first + len(schema.MEASURES)]) == schema.MEASURE_COLUMNS
    assert tuple(cols[first + len(schema.MEASURES):]) == tuple(getattr(case, "EXTRA_COLUMNS",
                                                                       ()))


def test_a_run_writes_the_schema(tmp_path):
    exp = load_experiment(tmp_path, "softmax", 'c = [0.0, 20.0]\nimpl = ["naive", "max_shift"]',
                          dtypes=("float16",))
    result = fpstudy.run_experiment(exp, progress=False)
    assert isinstance(result, fpstudy.Result)
    assert list(result.records.columns) == schema.record_columns(exp.case)
    tail = list(result.summary.columns[-len(schema.SUMMARY_COLUMNS):])
    assert tail == list(schema.SUMMARY_COLUMNS)
    assert tuple(result.meta) == schema.META_KEYS
    kinds = {"float": "f", "int": "iu", "bool": "b", "str": "O"}
    for column in (*schema.IDENTITY, *schema.MEASURES):
        assert result.records[column.name].dtype.kind in kinds[column.type], column
    for column in schema.META:
        types = {"str": str, "int": int, "float": float, "dict": dict}[column.type]
        value = result.meta[column.name]
        assert isinstance(value, types) or (value is None and column.name ==
                                            "config_file_sha256"), column
    assert result.meta["sweep"] == "c" and result.meta["arith"]["math"] in ("mpfr", "numpy")
    where = result.save(tmp_path / "res")
    assert where == tmp_path / "res" / exp.name
    back = fpstudy.load(where)
    pd.testing.assert_frame_equal(back, result.records)
    assert json.loads((where / "meta.json").read_text())["time_s"].keys() == \
        {"compute", "truth", "measure"}


def test_a_version_1_result_is_read_in_the_current_schema(tmp_path):
    exp = load_experiment(tmp_path, "deep_product", "scale = 1.5\nmax_depth = 30")
    result = fpstudy.run_experiment(exp, progress=False)
    old = result.records.drop(columns=["value_log10", "truth_bound"])
    meta = {**result.meta, "format_version": 1}
    where = results.write_experiment(tmp_path / "res", exp.name, old, result.summary, meta)
    back = fpstudy.load(where["dir"])
    assert list(back.columns) == schema.record_columns(exp.case)
    value = result.records["value"].to_numpy()
    with np.errstate(divide="ignore"):
        np.testing.assert_array_equal(back["value_log10"], np.log10(np.abs(value)))
    assert back["truth_bound"].isna().all()


def test_an_unknown_version_is_refused(tmp_path):
    exp = load_experiment(tmp_path, "deep_product", "max_depth = 3")
    result = fpstudy.run_experiment(exp, progress=False)
    where = results.write_experiment(tmp_path / "res", exp.name, result.records,
                                     result.summary, {**result.meta, "format_version": 99})
    with pytest.raises(UserError, match="format_version 99 is not one this fpstudy reads"):
        fpstudy.load(where["dir"])
