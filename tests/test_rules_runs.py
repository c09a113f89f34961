"""Rounding rules in configs and records: checked keys, rule columns, trials, outcomes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import compute_records

from fpstudy import config
from fpstudy.errors import ConfigError
from fpstudy.rounding import Rule
from fpstudy.runner import jobs_of, run_point

DEEP = """
case = "deep_product"
dtypes = {dtypes}
[arith]
{arith}
[grid]
scale = {scale}
max_depth = {depth}
"""


def experiment(write_config, arith="", dtypes='["float16"]', scale="0.9", depth=200):
    return config.load(write_config(DEEP.format(arith=arith, dtypes=dtypes, scale=scale,
                                                depth=depth)))


@pytest.mark.parametrize("arith, message", [
    ('rounding = "nearest"', "arith.rounding: 'nearest' is not allowed; choose from "
                             "nearest_even, toward_zero, upward, downward, stochastic"),
    ('rounding = ["stochastic", "up"]', "arith.rounding[1]: 'up' is not allowed"),
    ('subnormals = "ftz"', "arith.subnormals: 'ftz' is not allowed; choose from gradual, flush"),
    ('overflow = "clamp"', "arith.overflow: 'clamp' is not allowed; choose from inf, saturate"),
    ("rounding = []", "arith.rounding: empty list"),
    ('overflow = ["inf", "inf"]', "arith.overflow: repeats a value"),
    ("trials = 0", "arith.trials: 0 is not allowed; expected an integer from 1"),
    ("trials = 5", "arith.trials: 5 trials repeat a stochastic rounding, but arith.rounding"),
    ("trial = 5", "arith.trial: unknown key; allowed: math, rounding, subnormals, overflow, "
                  "trials"),
    ('math = "numpy"\nsubnormals = "flush"', 'arith.math: "numpy" measures the platform'),
])
def test_bad_rule_keys_name_file_key_and_what_is_allowed(write_config, arith, message):
    with pytest.raises(ConfigError) as info:
        experiment(write_config, arith)
    assert message in str(info.value)
    assert "exp.toml" in str(info.value)


def test_scale_format_is_refused_with_its_reason(write_config):
    with pytest.raises(ConfigError, match=r"dtypes\[0\]: float8_e8m0fnu cannot be computed in "
                                          r"\(.*no zero"):
        experiment(write_config, dtypes='["float8_e8m0fnu"]')


def test_rules_are_the_product_of_the_axes(write_config):
    exp = experiment(write_config, 'rounding = ["nearest_even", "stochastic"]\n'
                                   'subnormals = ["gradual", "flush"]\ntrials = 3')
    assert exp.rules == [Rule("nearest_even", "gradual"), Rule("nearest_even", "flush"),
                         Rule("stochastic", "gradual"), Rule("stochastic", "flush")]
    assert exp.trials == 3
    assert exp.resolved()["arith"]["rounding"] == ["nearest_even", "stochastic"]


def by_rule(records, rounding, subnormals="gradual", overflow="inf", trial=0):
    return [r for r in records if (r["rounding"], r["subnormals"], r["overflow"], r["trial"])
            == (rounding, subnormals, overflow, trial)]


def test_deep_product_float16_s09_under_each_rule(write_config):
    """Nearest stagnates at 4 subnormal units (k * 0.9 rounds back to k for k <= 4), flush
    jumps from normal to 0 (an underflow whose truth is subnormal: gradual underflow would
    have kept it), toward_zero reaches 0 through the subnormals."""
    exp = experiment(write_config, 'rounding = ["nearest_even", "toward_zero"]\n'
                                   'subnormals = ["gradual", "flush"]', depth=300)
    records = compute_records(exp)
    nearest = by_rule(records, "nearest_even")
    assert nearest[-1]["value"] == 4 * 2.0 ** -24 and nearest[-1]["outcome"] == "subnormal"
    flush = by_rule(records, "nearest_even", "flush")
    outcomes = [r["outcome"] for r in flush]
    first_zero = outcomes.index("underflow")
    assert set(outcomes[:first_zero]) == {"ok"} and set(outcomes[first_zero:]) == {"underflow"}
    assert flush[first_zero]["truth_class"] == "subnormal"  # avoidable with gradual underflow
    assert flush[first_zero]["fp_flags"] == "underflow"
    toward = by_rule(records, "toward_zero")
    assert toward[-1]["value"] == 0 and toward[-1]["outcome"] == "underflow"
    assert "subnormal" in {r["outcome"] for r in toward}


def test_saturated_value_is_overflow_not_ok(write_config):
    exp = experiment(write_config, 'overflow = ["inf", "saturate"]',
                     dtypes='["float8_e4m3fn", "float16"]', scale="1.5", depth=40)
    records = compute_records(exp)
    e4 = [r for r in by_rule(records, "nearest_even", overflow="saturate")
          if r["dtype"] == "float8_e4m3fn"]
    clamped = [r for r in e4 if r["value"] == 448]
    assert clamped and all(r["outcome"] == "overflow" and r["truth_class"] == "overflows"
                           for r in clamped if r["truth_log10"] > np.log10(464))
    # the format's own max, where the truth rounds to it, is ok
    f16 = [r for r in by_rule(records, "nearest_even", overflow="saturate")
           if r["dtype"] == "float16"]
    assert any(r["value"] == 65504 and r["outcome"] == "overflow" for r in f16)
    assert not any(r["outcome"] == "nan" for r in f16)  # max * 0 is 0, never inf * 0
    plain = [r for r in by_rule(records, "nearest_even") if r["dtype"] == "float16"]
    assert plain[-1]["outcome"] == "nan"


def test_stochastic_trials_are_reproducible_independent_and_job_order_free(write_config):
    exp = experiment(write_config, 'rounding = "stochastic"\ntrials = 4',
                     dtypes='["bfloat16"]', depth=60)
    job = jobs_of(exp)[0]
    first = run_point(job).rows
    again = run_point(job).rows
    assert [r["value"] for r in first] == [r["value"] for r in again]
    assert sorted({r["trial"] for r in first}) == [0, 1, 2, 3]
    per_trial = [tuple(r["value"] for r in first if r["trial"] == t) for t in range(4)]
    assert len(set(per_trial)) > 1  # the trials draw independently
    # truth is the exact value on the inputs the format received, the same for every trial
    # here (0.9 is rounded stochastically too, but both neighbours are tried in some trial)
    for r in first:
        assert r["truth_settled"]


def test_deterministic_rules_run_one_trial(write_config):
    exp = experiment(write_config, 'rounding = ["nearest_even", "stochastic"]\ntrials = 3',
                     depth=5)
    records = compute_records(exp)
    assert {r["trial"] for r in records if r["rounding"] == "nearest_even"} == {0}
    assert {r["trial"] for r in records if r["rounding"] == "stochastic"} == {0, 1, 2}


def test_default_records_say_nearest_even(write_config):
    records = compute_records(experiment(write_config, depth=3))
    assert {(r["rounding"], r["subnormals"], r["overflow"], r["trial"]) for r in records} == {
        ("nearest_even", "gradual", "inf", 0)}


def test_predicted_thresholds_follow_the_rule(write_config):
    """With flush the deep product goes from normal straight to 0, at the depth the truth goes
    subnormal; with saturation an overflow is never followed by NaN."""
    import pandas as pd

    from fpstudy.summarize import summarize

    exp = experiment(write_config, 'subnormals = ["gradual", "flush"]\n'
                                   'overflow = ["inf", "saturate"]', scale="[0.5, 1.5]",
                     depth=40)
    table = summarize(pd.DataFrame(compute_records(exp)), exp)
    flush = table[(table["subnormals"] == "flush") & (table["scale"] == 0.5)
                  & (table["overflow"] == "inf")]
    assert list(flush["outcome"]) == ["ok", "underflow"]
    assert (flush["predicted_start"].iloc[1] == flush["start"].iloc[1] == 15)  # 2**-15 < 2**-14
    sat = table[(table["overflow"] == "saturate") & (table["scale"] == 1.5)
                & (table["subnormals"] == "gradual")]
    assert list(sat["outcome"]) == ["ok", "overflow"]
    assert sat["predicted_start"].iloc[1] == sat["start"].iloc[1] == 28


def test_trials_table_fractions_and_error_spread():
    import pandas as pd

    from fpstudy.summarize import trials

    rows = []
    for trial, (outcome, err) in enumerate([("ok", 0.1), ("ok", 0.3), ("underflow", 1.0),
                                            ("nan", np.nan)]):
        rows.append({"experiment": "e", "case": "c", "dtype": "bfloat16", "impl": "",
                     "quantity": "loss", "rounding": "stochastic", "subnormals": "gradual",
                     "overflow": "inf", "trial": trial, "step": 5, "value": 1.0, "truth": 1.0,
                     "value_log10": 0.0, "truth_log10": 0.0, "rel_error": err,
                     "ulp_error": err, "outcome": outcome, "truth_class": "normal",
                     "fp_flags": "", "truth_precision": 113, "truth_bound": 0.0,
                     "truth_settled": True})
    table = trials(pd.DataFrame(rows), "step")
    assert len(table) == 1
    row = table.iloc[0]
    assert row["trials"] == 4 and row["frac_ok"] == 0.5 and row["frac_underflow"] == 0.25
    assert row["frac_nan"] == 0.25 and row["frac_overflow"] == 0
    assert row["mean_rel_error"] == pytest.approx(1.4 / 3)
    assert row["std_rel_error"] == pytest.approx(np.std([0.1, 0.3, 1.0], ddof=1))
    assert (row["min_rel_error"], row["max_rel_error"]) == (0.1, 1.0)


def test_report_compares_rules_and_summarizes_trials(tmp_path, run_cli):
    """A stochastic experiment through run and report: rules are labelled groups in the
    side-by-side table, the trials table gives outcome shares and error spread, the trials
    figure is drawn."""
    from fpstudy.report.study import load_study

    cfg = tmp_path / "sr.toml"
    cfg.write_text('case = "deep_product"\ndtypes = ["float16"]\n'
                   '[arith]\nrounding = ["nearest_even", "stochastic"]\ntrials = 3\n'
                   '[grid]\nscale = 0.9\nmax_depth = 200\n')
    out = tmp_path / "results"
    status, stdout, _ = run_cli("run", cfg, "--results", out)
    assert status == 0 and "rounding=stochastic" in stdout
    status, _, _ = run_cli("report", "--results", out)
    assert status == 0
    md = (out / "report.md").read_text()
    assert "### Rounding rules over trials" in md
    assert "| depth=200" not in md  # the sweep value is its own column
    study = load_study(out / "sr")
    assert study.has_trials and set(study.records["trial"]) == {0}
    assert "rounding" in study.label_keys
    assert (out / "sr" / "figures" / "trials.png").exists()
    row = [line for line in md.splitlines() if "| stochastic | 200 | 3 |" in line]
    assert row and ("underflow" in row[0] or "subnormal" in row[0])


def test_jobs_give_the_same_records_for_rules_trials_and_user_formats(write_config):
    from fpstudy.runner import run

    text = DEEP.format(arith='rounding = ["stochastic", "upward"]\ntrials = 2',
                       dtypes='["bfloat16", "mine"]', scale="[0.9, 1.1]", depth=30)
    text = text.replace("[grid]", "[formats.mine]\nprecision = 5\nemax = 20\n[grid]")
    exp = config.load(write_config(text))
    serial = [r for p in run(exp, jobs=1, progress=False) for r in p.rows]
    parallel = [r for p in run(exp, jobs=2, progress=False) for r in p.rows]
    key = ("dtype", "scale", "rounding", "trial", "depth", "value", "outcome")
    assert [tuple(r[k] for k in key) for r in serial] == \
        [tuple(r[k] for k in key) for r in parallel]
    assert {r["dtype"] for r in serial} == {"bfloat16", "mine"}


TRUTH_COLUMNS = ("depth", "truth", "truth_log10", "truth_bound", "truth_class", "rel_error",
                 "outcome")


def _truths_of(rows):
    return [(r["rounding"], r["trial"], *(r[c] for c in TRUTH_COLUMNS)) for r in rows]


def test_the_truth_cache_never_gives_a_trial_or_rule_another_inputs_truth(write_config,
                                                                         monkeypatch):
    """The cross-point truth cache is keyed by the inputs as each (format, rule, trial)
    rounded them: what ran before changes no record, and a rule or trial whose rounded inputs
    differ is never measured against another's truth."""
    from fpstudy import runner

    def job_of(arith):
        return jobs_of(experiment(write_config, arith, dtypes='["bfloat16"]', depth=40))[0]

    stochastic = job_of('rounding = "stochastic"\ntrials = 3')
    directed = job_of('rounding = ["upward", "downward"]')
    monkeypatch.setattr(runner, "_TRUTHS", runner.OrderedDict())
    fresh_stochastic = _truths_of(run_point(stochastic).rows)
    runner._TRUTHS.clear()
    fresh_directed = _truths_of(run_point(directed).rows)
    # now with the cache holding the other runs' truths, in both orders
    assert _truths_of(run_point(stochastic).rows) == fresh_stochastic
    assert _truths_of(run_point(directed).rows) == fresh_directed
    # the trials rounded W differently, so their truths differ; so do upward's and downward's
    final = {}
    for rounding, trial, depth, truth, *_ in fresh_stochastic + fresh_directed:
        if depth == 40:
            final[(rounding, trial)] = truth
    assert len(set(final.values())) == len(final) == 5


def test_rules_that_round_the_inputs_alike_share_one_truth(write_config, monkeypatch):
    from fpstudy import runner

    # 0.9 * a Haar matrix is normal in float16: gradual and flush round it alike (and so do
    # inf and saturate), so the four rules need one truth per format, proven once
    exp = experiment(write_config, 'subnormals = ["gradual", "flush"]\n'
                                   'overflow = ["inf", "saturate"]', depth=30)
    monkeypatch.setattr(runner, "_TRUTHS", runner.OrderedDict())
    proofs = []
    real = runner.prove

    def counting(*args, **kwargs):
        proofs.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(runner, "prove", counting)
    rows = run_point(jobs_of(exp)[0]).rows
    assert len({(r["subnormals"], r["overflow"]) for r in rows}) == 4
    assert len(proofs) == 1
    truths = {}
    for r in rows:
        truths.setdefault(r["depth"], set()).add(r["truth"])
    assert all(len(t) == 1 for t in truths.values())
