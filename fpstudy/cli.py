"""The command line: `fpstudy run | report | check | formats | list`.

Each subcommand is a plain function taking the parsed arguments and returning an exit status,
so tests call them without a subprocess. UserError is caught once, in `main`: one line on
stderr, exit status 2 (``--debug`` shows the traceback). Anything else is an internal failure,
exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import mpmath

from .errors import UserError, one_line
from .formats import FORMATS, get_format
from .schema import SUMMARY_COLUMNS


def cmd_run(args) -> int:
    from . import config, estimate, results, runner, truth
    from .pipeline import run_experiment

    experiments = [config.load(path) for path in args.configs]  # all validated before any run
    engine = getattr(args, "truth_engine", None)
    if engine is not None:  # the command line's choice overrides every config's [truth] engine
        if not truth.engine_available(engine):
            raise UserError(f"--truth-engine {engine}: {truth.engine_missing(engine)}")
        for exp in experiments:
            exp.truth_engine = engine
    seen: dict[str, Path] = {}
    for exp in experiments:
        if exp.name in seen:
            raise UserError(f"{exp.path}: name {exp.name!r} is also the name of {seen[exp.name]}; "
                            "results would overwrite each other")
        seen[exp.name] = exp.path
    if args.jobs < 1:
        raise UserError(f"--jobs {args.jobs}: expected an integer >= 1")
    timeout = _point_timeout(args.point_timeout)
    limit, source = estimate.memory_limit(args.memory_limit)
    for exp in experiments:  # the size first: check_inputs itself allocates the weights
        estimate.check_fits(exp, estimate.estimate(exp, jobs=args.jobs), limit, source)
    for exp in experiments:
        runner.check_inputs(exp)
    results.check_writable(Path(args.results))  # before hours of computing, not after
    for exp in experiments:
        result = run_experiment(exp, jobs=args.jobs, executor=args.executor,
                                scheduler=args.scheduler, check=False, timeout=timeout)
        where = result.save(args.results)
        print(f"{exp.name}: {len(result.records)} records from {len(exp.runs())} (point, format) "
              f"computations, {result.meta['wall_time_s']:.1f} s -> {where}")
        for line in outcome_lines(result.summary, exp):
            print("  " + line)
        unproven = int((~result.records["truth_settled"].astype(bool)).sum())
        if unproven:
            print(f"  {unproven} records whose truth is not proven (truth_settled = false): "
                  "raise [truth] max_precision")
        if args.draw:  # its report section, in this process (what `report --only` draws)
            from .report import write_report
            for path in write_report(Path(args.results), only=[exp.name]):
                print(path)
    return 0


def outcome_lines(table, exp, per_format: int = 8, max_runs: int = 6) -> list[str]:
    """A few readable lines per format: the outcome runs of each group."""
    sweep = exp.case.SWEEP
    # a parameter with several values, whether the config or its [data] (samples) set them
    varying = [k for k in exp.grid if len(exp.grid[k]) > 1 and k != sweep]
    label_cols = [c for c in ("impl", "quantity") if table[c].nunique() > 1]
    label_cols += [k for k in varying if k not in label_cols]
    label_cols += [c for c in ("rounding", "subnormals", "overflow") if c in table
                   and table[c].nunique() > 1]
    if "trial" in table:  # the printout shows trial 0; summary.csv has every trial
        table = table[table["trial"] == 0]
    group_cols = [c for c in table.columns if c not in SUMMARY_COLUMNS]
    lines = []
    for dtype in exp.dtypes:
        sub = table[table["dtype"] == dtype]
        if sub.empty:
            continue
        groups = list(sub.groupby(group_cols, sort=False, dropna=False))
        for i, (_, g) in enumerate(groups):
            if i == per_format:
                lines.append(f"{dtype:<14} ... {len(groups) - per_format} more groups "
                             "in summary.csv")
                break
            first = g.iloc[0]
            label = " ".join(f"{c}={first[c]}" for c in label_cols)
            spans = " | ".join(_span(r) for r in g.head(max_runs).itertuples(index=False))
            if len(g) > max_runs:
                spans += f" | ... {len(g) - max_runs} more runs"
            lines.append(f"{dtype:<14} {label + ': ' if label else ''}{spans}")
    return lines


def _span(run) -> str:
    def fmt(v):
        return f"{v:g}" if isinstance(v, float) else str(v)
    where = fmt(run.start) if run.start == run.stop else f"{fmt(run.start)}..{fmt(run.stop)}"
    return f"{run.outcome} {where}"


def cmd_report(args) -> int:
    from .report import write_report

    if args.jobs < 1:
        raise UserError(f"--jobs {args.jobs}: give at least 1")
    for path in write_report(Path(args.results), only=args.only, jobs=args.jobs,
                             redraw=args.redraw):
        print(path)
    return 0


def cmd_check(args) -> int:
    """Check every config, print each one's size and estimate; exit 2 if any failed."""
    from . import config, estimate, runner

    limit, source = estimate.memory_limit(args.memory_limit)
    failed = 0
    for path in args.configs:
        try:
            exp = config.load(path)
            est = estimate.estimate(exp)
            estimate.check_fits(exp, est, limit, source)  # before check_inputs allocates
            runner.check_inputs(exp)
        except UserError as e:
            if args.debug:
                raise
            print(f"fpstudy: {one_line(str(e))}", file=sys.stderr)
            failed += 1
            continue
        rules = exp.rules
        per_run = sum(exp.trials if r.stochastic else 1 for r in rules)
        rule_text = "" if per_run == 1 else (
            f" x {len(rules)} rounding rules" + (f" ({exp.trials} trials of each stochastic)"
                                                 if exp.trials > 1 else ""))
        print(f"{path}: ok: case {exp.case.NAME}, {len(exp.points)} grid points x "
              f"{len(exp.dtypes)} formats = {len(exp.runs())} runs{rule_text}, sweep axis "
              f"{exp.case.SWEEP}, results in {Path(args.results) / exp.name}")
        print(f"  estimate: {est.describe()}; memory limit {estimate.size(limit)} ({source})")
    return 2 if failed else 0


def _point_timeout(text) -> float | None:
    """--point-timeout SECONDS (or FPSTUDY_POINT_TIMEOUT): a positive number, or none."""
    import math
    import os

    where = "--point-timeout"
    if text is None:
        text, where = os.environ.get(POINT_TIMEOUT_ENV) or None, POINT_TIMEOUT_ENV
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise UserError(f"{where} {text!r}: expected a number of seconds > 0")
    return seconds


POINT_TIMEOUT_ENV = "FPSTUDY_POINT_TIMEOUT"


FORMAT_FIELDS = ("bits", "precision", "max", "smallest_normal", "smallest_subnormal",
                 "unit_roundoff", "ln_max", "ln_smallest_subnormal", "ln_smallest_normal",
                 "sigmoid_saturation", "has_inf", "has_nan", "negative_zero", "subnormals",
                 "arithmetic", "notes")


def format_table(names) -> list[dict]:
    """Per format: its limits and the thresholds derived from them (exact, via mpmath)."""
    from .exact import to_mpf

    rows = []
    for name in names:
        fmt = get_format(name)
        with mpmath.workprec(113):
            rows.append({
                "format": name,
                "bits": fmt.bits,
                "precision": fmt.precision,
                "max": _show(fmt.max),
                "smallest_normal": _show(fmt.smallest_normal),
                "smallest_subnormal": _show(fmt.smallest_subnormal),
                "unit_roundoff": mpmath.nstr(mpmath.ldexp(1, -fmt.precision), 6),
                "ln_max": mpmath.nstr(mpmath.log(to_mpf(fmt.max)), 8),
                "ln_smallest_subnormal": mpmath.nstr(mpmath.log(to_mpf(fmt.smallest_subnormal)),
                                                     8),
                "ln_smallest_normal": mpmath.nstr(mpmath.log(to_mpf(fmt.smallest_normal)), 8),
                "sigmoid_saturation": mpmath.nstr(sigmoid_saturation(fmt), 8),
                "has_inf": "yes" if fmt.has_inf else (
                    "no (overflow gives NaN)" if fmt.has_nan else "no (overflow saturates)"),
                "has_nan": "yes" if fmt.has_nan else "no",
                "negative_zero": "yes" if fmt.has_negative_zero else "no (-0 reads as +0)",
                "subnormals": "yes" if fmt.has_subnormals else "no",
                "arithmetic": ("float64, rounded per op" if fmt.emulated else "native")
                + ("" if fmt.storage == "native" else "; values held in float64")
                + ("" if fmt.computable else "; not computed in"),
                "notes": fmt.note or "-",
            })
    return rows


def sigmoid_saturation(fmt) -> mpmath.mpf:
    """The z from which sigmoid(z) = 1/(1 + e^-z) rounds to 1 in the format (nearest-even):
    where 1 - sigmoid(z) = sigmoid(-z) falls to half the gap below 1, h = 2**-(p+1) (the tie
    goes to 1, the even neighbour; h is larger where the numbers below 1 are subnormal, as in
    float4_e2m1fn): z = ln(1/h - 1)."""
    half_gap = mpmath.ldexp(1, max(-1, fmt.min_exponent) - fmt.precision)
    return mpmath.log(1 / half_gap - 1)


def _show(v) -> str:
    from .exact import to_mpf
    return mpmath.nstr(to_mpf(v), 8)


def cmd_formats(args) -> int:
    from . import config
    for path in args.config or ():
        config.load(path)  # registers its [formats.NAME]
    rows = format_table(args.dtypes or list(FORMATS))
    width = max(len(f) for f in FORMAT_FIELDS)
    for row in rows:
        print(row["format"])
        for key in FORMAT_FIELDS:
            print(f"  {key:<{width}}  {row[key]}")
    return 0


def cmd_list(args) -> int:
    from .cases import CASES, impls
    from .params import REQUIRED

    print("cases:")
    for name, case in CASES.items():
        print(f"  {name}  (sweep axis: {case.SWEEP}; quantities: {', '.join(case.QUANTITIES)})")
        print(f"    {case.DESCRIPTION}")
        for pname, param in case.PARAMS.items():
            default = "required" if param.default is REQUIRED else f"default {param.default!r}"
            print(f"    {pname:<12} {param.allowed()}; {default}. {param.help}")
        if impls(case):
            print(f"    implementations: {', '.join(impls(case))}")
    print("formats: " + ", ".join(FORMATS))
    print('accumulate: "format" (round every product and sum) or a wider format name')
    from .rounding import RULE_AXES
    print("[arith] rounding rules (a value or a list of them): " + "; ".join(
        f"{k}: {', '.join(v)}" for k, v in RULE_AXES.items()) + "; trials: repetitions of "
        "stochastic rounding")
    return 0


MEMORY_LIMIT_HELP = ("refuse an experiment estimated to need more memory, e.g. 16G; default: "
                     "$FPSTUDY_MEMORY_LIMIT or the machine's available memory")

EXAMPLE = """example:
  fpstudy run experiments/deep_product.toml     # results/deep_product/
  fpstudy report                                # results/report.html"""


def build_parser() -> argparse.ArgumentParser:
    from . import __doc__ as package_doc
    from . import __version__
    from .truth import DEFAULT_ENGINE, ENGINES

    parser = argparse.ArgumentParser(prog="fpstudy", description=package_doc.splitlines()[0],
                                     epilog=EXAMPLE,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run experiments and write results/<name>/")
    run.add_argument("configs", nargs="+", metavar="CONFIG", help="experiment TOML files")
    run.add_argument("--results", default="results", metavar="DIR",
                     help="write DIR/<name>/ for each experiment (default: %(default)s)")
    run.add_argument("--jobs", type=int, default=1, metavar="N",
                     help="grid points run in parallel (local process pool)")
    run.add_argument("--executor", choices=("local", "dask"), default="local",
                     help="where grid points run: this machine, or a dask cluster "
                          "(pip install 'fpstudy[dask]'); records are the same "
                          "(default: %(default)s)")
    run.add_argument("--scheduler", metavar="ADDR",
                     help="the dask scheduler's address, e.g. tcp://host:8786 (default: start "
                          "a local cluster)")
    run.add_argument("--memory-limit", metavar="SIZE", help=MEMORY_LIMIT_HELP)
    run.add_argument("--point-timeout", metavar="SECONDS",
                     help="stop a grid point that runs longer (a user function that hangs); "
                          f"default: ${POINT_TIMEOUT_ENV} or no limit; local executor only")
    run.add_argument("--truth-engine", choices=tuple(ENGINES), metavar="ENGINE",
                     help="prove the truths with this enclosure engine, overriding every "
                          "config's [truth] engine: " + ", ".join(ENGINES) + " (arb needs "
                          "pip install 'fpstudy[arb]'); default: the config's, else "
                          f"{DEFAULT_ENGINE}")
    run.add_argument("--draw", action="store_true",
                     help="after each run, draw its report section (figures and tables, as "
                          "`fpstudy report --only NAME` does), in the same process")
    run.set_defaults(func=cmd_run)

    report = sub.add_parser("report", help="write results/report.md and report.html")
    report.add_argument("--results", default="results", metavar="DIR",
                        help="draw every experiment under DIR and write DIR/report.md and "
                             "DIR/report.html (default: %(default)s)")
    report.add_argument("--only", action="append", metavar="NAME",
                        help="draw only experiment NAME's section (figures, tables), kept in "
                             "DIR/NAME/report_section.json for the full report to reuse; "
                             "no pages written (repeat for several)")
    report.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="draw sections in N processes (default: %(default)s)")
    report.add_argument("--redraw", action="store_true",
                        help="draw every section afresh instead of reusing the kept ones "
                             "(the pages are the same)")
    report.set_defaults(func=cmd_report)

    check = sub.add_parser("check", help="validate configs and print their size")
    check.add_argument("configs", nargs="+", metavar="CONFIG", help="experiment TOML files")
    check.add_argument("--results", default="results", metavar="DIR",
                       help="where `run` would write (printed; nothing is written; "
                            "default: %(default)s)")
    check.add_argument("--memory-limit", metavar="SIZE", help=MEMORY_LIMIT_HELP)
    check.set_defaults(func=cmd_check)

    formats = sub.add_parser("formats", help="limits and thresholds of each format")
    formats.add_argument("dtypes", nargs="*", metavar="DTYPE",
                         help="formats to show (default: all)")
    formats.add_argument("--config", action="append", metavar="CONFIG",
                         help="also a config's user-defined formats ([formats.NAME])")
    formats.set_defaults(func=cmd_formats)

    lst = sub.add_parser("list", help="cases, parameters, implementations, formats")
    lst.set_defaults(func=cmd_list)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        if args.debug:
            raise
        print(f"fpstudy: {one_line(str(e))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`fpstudy list | head`): not a failure
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("fpstudy: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # an internal failure: say so briefly, --debug for the traceback
        if args.debug:
            raise
        print(f"fpstudy: internal error: {type(e).__name__}: {e} (rerun with --debug)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
