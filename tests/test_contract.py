"""Every case keeps the case contract: it runs on its defaults in every format, its truth has
exactly the keys its computation emits, and its predictions hold on its defaults."""

from pathlib import Path

import numpy as np
import pytest

import fpstudy
from fpstudy.arith import Arith, round_array
from fpstudy.cases import CASES
from fpstudy.config import parse
from fpstudy.errors import UserError
from fpstudy.exact import to_mpf_array
from fpstudy.formats import FORMATS
from fpstudy.runner import unheld_input
from fpstudy.truth import prove

# every format that can be computed in (float8_e8m0fnu, the MX scale format, is listed only)
PAIRS = [(c, d) for c in CASES for d, f in FORMATS.items() if f.computable]
# Predictions are from the exact values; a case's docstring allows the computed chain to
# drift past them. Where it does on the defaults, the pair is listed here (strict: a fix
# makes the test fail until the pair is removed).
DRIFT = {
    # the gradient's exact 0.2247^k leaves the normal range at depth 7; float8_e5m2's
    # 3-bit rounded factors keep it normal one layer longer
    ("activation_chain", "float8_e5m2"),
}


def run_pairs():
    for c, d in PAIRS:
        marks = [pytest.mark.xfail(strict=True, reason="rounding drift past the exact "
                                   "prediction")] if (c, d) in DRIFT else []
        yield pytest.param(c, d, id=f"{c}-{d}", marks=marks)


def defaults(case: str, dtype: str):
    return parse({"case": case, "dtypes": [dtype]}, Path(f"{case}.toml"))


def holdable(exp, dtype) -> bool:
    """Whether the defaults' inputs fit the format (else the config check refuses them)."""
    raw = exp.case.inputs(exp.points[0], np.random.default_rng(exp.seed))
    rounded = {k: round_array(v, FORMATS[dtype]) for k, v in raw.items()}
    return unheld_input(exp.case, raw, rounded, FORMATS[dtype]) is None


@pytest.mark.parametrize("case, dtype", PAIRS, ids=[f"{c}-{d}" for c, d in PAIRS])
def test_truth_keys_are_what_compute_emits(case, dtype):
    exp = defaults(case, dtype)
    if not holdable(exp, dtype):
        pytest.skip(f"{case}'s default inputs do not fit {dtype}")
    point = exp.points[0]
    raw = exp.case.inputs(point, np.random.default_rng(exp.seed))
    emitted = []
    with np.errstate(all="raise"):
        exp.case.compute(point, raw, Arith(FORMATS[dtype]),
                         lambda q, s, a, **extra: emitted.append((q, s)))
    exact = {k: to_mpf_array(round_array(v, FORMATS[dtype])) for k, v in raw.items()}
    truth = prove(exp.case, point, exact, start=exp.truth_precision, cap=exp.max_precision,
                  formats=[FORMATS[dtype]])
    assert emitted and len(set(emitted)) == len(emitted)
    assert set(truth.values) == set(emitted)
    assert {q for q, _ in emitted} <= set(exp.case.QUANTITIES)


@pytest.mark.parametrize("case, dtype", list(run_pairs()))
def test_runs_on_its_defaults_and_its_predictions_hold(case, dtype):
    exp = defaults(case, dtype)
    try:
        result = fpstudy.run_experiment(exp, progress=False)
    except UserError as e:
        assert not holdable(exp, dtype), e  # refused only when the inputs do not fit
        return
    assert len(result.records) > 0 and set(result.records["dtype"]) == {dtype}
    table = result.summary
    predicted = table[table["predicted_start"].notna()]
    mismatch = predicted[predicted["predicted_start"] != predicted["start"]]
    assert mismatch.empty, mismatch[["quantity", "outcome", "start", "predicted_start"]]
