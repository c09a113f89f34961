"""The result schema: the columns of records and summary, the keys of meta.json, what each
means, and the version of the result files with its history.

Every module that writes or reads results (runner, summarize, pipeline, results, the report)
takes its column names from here, and the README's records table is generated from
`RECORDS` (`records_table()`; a test holds them equal). Changing anything here that a reader
of old files would notice (a column added, removed, renamed or given a new meaning) bumps
FORMAT_VERSION and adds a line to HISTORY. Pure: no pandas, no files.
"""

from __future__ import annotations

from dataclasses import dataclass

# Version of the files in results/<name>/ (records.parquet, summary.csv, meta.json).
FORMAT_VERSION = 4
HISTORY = {
    1: "first release: records with truth_precision (the precision at which two successive "
       "truths agreed) and truth_settled; summary with predicted_start; value_log10 was added "
       "later without a bump, so a version-1 file may lack it",
    2: "proven truth: records gain truth_bound (certified bound on the truth's relative "
       "error) after truth_precision, which now means the enclosure engine's precision that "
       "proved the truth; truth_settled means truth_bound below the tolerance; value_log10 "
       "always present. meta gains arith (how elementwise functions were computed) and truth "
       "(how the truth was proven)",
    3: "meta: sweep (the sweep axis) required, config_file_sha256 (the config file's bytes), "
       "time_s (where the time went); every column and key declared in fpstudy.schema",
    4: "rounding rules: records gain rounding, subnormals, overflow (the rule the format's "
       "arithmetic applied) and trial (the repetition of a stochastic rounding, 0 otherwise) "
       "after the sweep axis, and so do the summary's group columns; config.arith gains "
       "rounding, subnormals, overflow, trials and the config may define formats "
       "([formats.NAME]). A file of an older version reads as nearest_even, gradual, inf, "
       "trial 0. outcome overflow also means ±max where the truth overflows the format (a "
       "saturating or directed rounding clamped it)",
}
KNOWN_VERSIONS = tuple(HISTORY)
assert FORMAT_VERSION == max(KNOWN_VERSIONS)


@dataclass(frozen=True)
class Column:
    """One column (or meta.json key): its name, its type and what it means."""

    name: str
    type: str  # str | int | float | bool | dict | list | (a parameter's type)
    meaning: str


# --------------------------------------------------------------------------- records

# What was computed: these come first in every records file.
IDENTITY = (
    Column("experiment", "str", "the experiment's name"),
    Column("case", "str", "the case computed"),
    Column("dtype", "str", "the format"),
    Column("impl", "str", "the implementation (empty for single-implementation cases)"),
    Column("quantity", "str", "what is measured (output, activation, grad, loss, softmax, ...)"),
)
# Then one column per case parameter (impl aside) and the sweep axis, named as in the config;
# then the rounding rule and trial; then the measurements; then the case's own EXTRA_COLUMNS.
RULE = (
    Column("rounding", "str",
           "the rounding of every result in the format: nearest_even (IEEE's default), "
           "toward_zero, upward, downward, stochastic (`[arith] rounding`)"),
    Column("subnormals", "str",
           "gradual (IEEE) or flush (results below the smallest normal become 0 and such "
           "operands read as 0; `[arith] subnormals`)"),
    Column("overflow", "str",
           "inf (IEEE: beyond max gives ±inf, or NaN without an infinity) or saturate "
           "(±max; `[arith] overflow`)"),
    Column("trial", "int",
           "which repetition of a stochastic rounding (0 to `[arith] trials` − 1; 0 for a "
           "deterministic rule). The truth is exact on the inputs as this trial rounded them"),
)
MEASURES = (
    Column("value", "float",
           "the computed result as float64 (infinity norm for vectors, signed for scalars)"),
    Column("value_log10", "float",
           "log10 of its magnitude from the exact value: finite where float64 says inf or 0 "
           "(a longdouble result past float64's range); inf, NaN, −inf for inf, NaN, 0"),
    Column("truth", "float",
           "the exact result rounded to float64 (±inf past its range; infinity norm for "
           "vectors)"),
    Column("truth_log10", "float",
           "log10 of the exact result's magnitude (finite for any nonzero truth, −inf for 0)"),
    Column("rel_error", "float",
           "normwise ‖value − truth‖∞ / ‖truth‖∞ from the exact values (the difference to 192 "
           "bits, ‖truth‖∞ to 53, as in `truth`; inf for an inf value, NaN for a NaN value)"),
    Column("ulp_error", "float", "‖value − truth‖∞ in units of the format's ulp at ‖truth‖∞ "
           "(the same two numbers)"),
    Column("outcome", "str",
           "ok, subnormal, underflow (0 where the truth is not), overflow (±inf where the "
           "truth is finite, or ±max where the truth overflows the format), nan; for a vector "
           "the worst element"),
    Column("truth_class", "str",
           "where the exact value lies for the format: normal, subnormal, underflows, "
           "overflows, zero (of the element that set the outcome). An outcome other than ok "
           "with truth_class normal was avoidable"),
    Column("fp_flags", "str",
           "overflow, underflow, invalid, divide raised while computing the point "
           "(cumulative along a one-pass sweep), `|`-joined"),
    Column("truth_precision", "int",
           "bits of the enclosure engine's precision that proved the truth (for an exact "
           "dyadic truth: the largest significand, in bits, it needed)"),
    Column("truth_bound", "float",
           "the certified relative bound on the truth: the exact value lies within "
           "truth_bound × ‖truth‖ of it, elementwise (0 for an exact truth)"),
    Column("truth_settled", "bool",
           "whether the truth is proven: truth_bound ≤ 2⁻⁸⁰ and every sign and class decided"),
)
MEASURE_COLUMNS = tuple(c.name for c in MEASURES)
RULE_COLUMNS = tuple(c.name for c in RULE)
# The rule of a file written before there were rules (format_version < 4): IEEE's default.
RULE_DEFAULTS = {"rounding": "nearest_even", "subnormals": "gradual", "overflow": "inf",
                 "trial": 0}
IDENTITY_COLUMNS = tuple(c.name for c in IDENTITY)
# Beside the grid parameters, these tell one group of records from another.
POINT_COLUMNS = ("impl", "quantity")


def record_columns(case) -> list[str]:
    """The records columns of a case, in order: identity, parameters, sweep, rule, measures,
    extras."""
    params = [k for k in case.PARAMS if k != "impl"]
    sweep = [] if case.SWEEP in case.PARAMS else [case.SWEEP]
    return [*IDENTITY_COLUMNS, *params, *sweep, *RULE_COLUMNS, *MEASURE_COLUMNS,
            *extra_columns(case)]


def extra_columns(case) -> tuple[str, ...]:
    """The case's own per-record columns (EXTRA_COLUMNS), empty when it has none."""
    return tuple(getattr(case, "EXTRA_COLUMNS", ()))


def group_columns(columns, sweep: str, extra=()) -> list[str]:
    """The columns of a records frame that identify a group: all but the sweep axis, the
    measurements and the case's extra columns."""
    return [c for c in columns if c not in MEASURE_COLUMNS and c != sweep and c not in extra]


# --------------------------------------------------------------------------- summary

# summary.csv: the group columns (as in records), then these.
SUMMARY = (
    Column("outcome", "str", "the outcome of this run"),
    Column("start", "sweep", "the first sweep value of the run"),
    Column("stop", "sweep", "the last sweep value of the run"),
    Column("points", "int", "how many sweep values the run holds"),
    Column("max_rel_error", "float", "the largest rel_error in the run (NaN if none is a number)"),
    Column("predicted_start", "sweep",
           "the first sweep value of this outcome predicted from the format's limits, where "
           "the case has a closed form (NaN otherwise)"),
)
SUMMARY_COLUMNS = tuple(c.name for c in SUMMARY)
# The summary's numeric columns that may hold NaN ("nan" in `outcome` is an outcome).
SUMMARY_NAN_COLUMNS = ("max_rel_error", "predicted_start")


# --------------------------------------------------------------------------- meta.json

META = (
    Column("format_version", "int", "the version of these files (fpstudy.schema.HISTORY)"),
    Column("experiment", "str", "the experiment's name"),
    Column("config_path", "str", "the config file it was run from"),
    Column("config", "dict", "the resolved config: defaults filled in"),
    Column("config_sha256", "str",
           "sha256 of the resolved config as compact JSON with sorted keys"),
    Column("config_file_sha256", "str", "sha256 of the config file's bytes (null without one)"),
    Column("case", "str", "the case"),
    Column("sweep", "str", "the sweep axis: the records column the summary runs along"),
    Column("arith", "dict",
           'how elementwise functions were computed: math "mpfr" (correctly rounded, with '
           'MPFR\'s version) or "numpy" (the platform\'s library, with the CPU features its '
           "loops were chosen by)"),
    Column("truth", "dict",
           "how the truth was proven: the enclosure engine, its version, the tolerance"),
    Column("records", "int", "the number of records"),
    Column("wall_time_s", "float", "wall time of the run"),
    Column("time_s", "dict",
           "seconds spent per part, summed over grid points: compute (in the formats), "
           "truth, measure"),
    Column("finished", "str", "when the run finished (ISO 8601, local time with offset)"),
    Column("python", "str", "the Python version"),
    Column("platform", "str", "the platform"),
    Column("machine", "str", "the machine architecture"),
    Column("packages", "dict", "versions of fpstudy and the packages it computes with"),
)
META_KEYS = tuple(c.name for c in META)


# --------------------------------------------------------------------------- documentation

def records_table() -> str:
    """The README's records table (Markdown), generated from the schema."""
    rows = [("experiment, case, dtype, impl, quantity",
             "what was computed (`impl` is empty for single-implementation cases)"),
            ("one column per case parameter, and the sweep axis",
             "the point (vectors as text, e.g. `[1, 2]`); `sample` (cases that read `[data]` "
             "files) is the row of the file, from 0 (0 without one)")]
    rows += [(c.name, c.meaning) for c in RULE]
    rows += [(c.name, c.meaning) for c in MEASURES]
    rows.append(("the case's own columns", "where a case records more (`EXTRA_COLUMNS`, "
                 "e.g. where the first NaN was produced)"))
    lines = ["| column | meaning |", "| --- | --- |"]
    lines += [f"| {name} | {_cell(meaning)} |" for name, meaning in rows]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # a bare | would end the Markdown table cell
