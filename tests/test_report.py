"""The report: tables, figures, pages, drawn from tiny results made here.

Expected values are derived by hand from the formats' limits (finfo), never from the report's
own output: for float16 with W = 1.5*I, width 2, the computed value stays within about 27u
(1.3 %) of 1.5^d, and 1.5^27 = 56815 < 65504 = max < 65520 (the overflow threshold,
max + ulp/2) < 0.987 * 1.5^28 = 84115, so depth 28 overflows and depth 29 is NaN (inf times
the zero off-diagonal weight). With W = 0.5*I every value is exact: 2^-d goes subnormal
below the smallest normal 2^minexp and rounds to 0 at 2^(log2(smallest subnormal) - 1),
a tie to even.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fpstudy
from fpstudy.cli import main
from fpstudy.errors import UserError
from fpstudy.formats import FORMATS
from fpstudy.report import tables, write_report
from fpstudy.report.study import load_study

DATA = Path(__file__).parent / "data"
CONFIGS = sorted(DATA.glob("report_*.toml"))
FIGURES = ("magnitude", "outcome_map", "error")

F16 = np.finfo(np.float16)
FIRST_SUBNORMAL = 1 - int(F16.minexp)  # 2^-d < 2^minexp  <=>  d > -minexp
FIRST_ZERO = 1 - int(math.log2(float(F16.smallest_subnormal)))  # 2^-d = smallest_sub / 2


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("results")
    assert main(["run", *map(str, CONFIGS), "--results", str(out)]) == 0
    assert main(["report", "--results", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def markdown(results) -> str:
    return (results / "report.md").read_text(encoding="utf-8")


def md_row(markdown: str, section: str, first_cell: str) -> dict[str, str]:
    """The side-by-side row of one experiment's section whose first cell is `first_cell`."""
    part = markdown.split(f"## {section}\n", 1)[1].split("### Formats side by side", 1)[1]
    lines = [ln for ln in part.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split(" | ")]
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip().strip("|").split(" | ")]
        if cells[0] == first_cell:
            return dict(zip(header, cells, strict=True))
    raise AssertionError(f"no row {first_cell!r} in {section}")


def test_the_results_the_report_draws_are_the_hand_derived_ones(results):
    # the identities the expectations rest on...
    assert 1.5**27 < float(F16.max) < 1.5**28 * (1 - 27 * 2.0**-F16.nmant)
    assert (FIRST_SUBNORMAL, FIRST_ZERO) == (15, 25)
    # ...and the records and the summary (measured and predicted starts) the report reads
    rec = fpstudy.load(results / "report_deep_product")
    f16 = rec[rec["dtype"] == "float16"]

    def first(scale, outcome):
        rows = f16[(f16["scale"] == scale) & (f16["outcome"] == outcome)]
        return int(rows["depth"].min())

    assert (first(1.5, "overflow"), first(1.5, "nan")) == (28, 29)
    assert (first(0.5, "subnormal"), first(0.5, "underflow")) == (FIRST_SUBNORMAL, FIRST_ZERO)
    table = fpstudy.summary(results / "report_deep_product")
    runs = table[table["dtype"] == "float16"].set_index(["scale", "outcome"])
    for (scale, outcome), start in {(1.5, "overflow"): 28, (1.5, "nan"): 29,
                                    (0.5, "subnormal"): FIRST_SUBNORMAL,
                                    (0.5, "underflow"): FIRST_ZERO}.items():
        assert runs.loc[(scale, outcome), ["start", "predicted_start"]].tolist() == [start, start]


def test_report_has_an_overview_and_a_section_per_experiment(results, markdown):
    assert markdown.startswith("# ")
    assert "## Overview" in markdown
    for config in CONFIGS:
        assert f"\n## {config.stem}\n" in markdown
    html = (results / "report.html").read_text(encoding="utf-8")
    for config in CONFIGS:
        assert f'id="exp-{config.stem}"' in html


def test_side_by_side_cells_give_measured_and_predicted_boundaries(markdown):
    row = md_row(markdown, "report_deep_product", "scale=1.5")
    assert row["float16"].startswith("overflow @28, nan @29")
    assert "as predicted" in row["float16"]
    assert row["float32"] == "ok throughout"
    row = md_row(markdown, "report_deep_product", "scale=0.5")
    assert row["float16"].startswith(f"subnormal @{FIRST_SUBNORMAL}, underflow @{FIRST_ZERO}")


def test_side_by_side_table_from_the_library(results):
    study = load_study(results / "report_deep_product")
    table = tables.side_by_side(study)
    assert table.columns == ["point", "float16", "float32"]
    cells = {row[0]: row[1:] for row in table.rows}
    assert cells["scale=1.5"][0].text == "overflow @28, nan @29"
    assert cells["scale=1.5"][0].detail == "as predicted"
    assert cells["scale=0.5"][1].text == "ok throughout"


def test_a_prediction_that_differs_is_shown_beside_the_measurement():
    runs = [("ok", 1, 219, np.nan), ("overflow", 220, 220, 219.0), ("nan", 221, 400, 220.0)]
    cell = tables.describe_runs(runs)
    assert cell.text == "overflow @220, nan @221"
    assert cell.detail == "predicted: overflow @219, nan @220"


def test_failure_at_the_start_of_the_sweep_is_listed():
    runs = [("nan", -20, -10, np.nan), ("ok", 0, 10, np.nan), ("nan", 20, 20, np.nan)]
    assert tables.describe_runs(runs).text == "nan @-20, ok @0, nan @20"


def test_a_flickering_outcome_is_summarised():
    runs = [("ok", 1, 13, np.nan)]
    for k in range(14, 24, 2):
        runs += [("subnormal", k, k, np.nan), ("ok", k + 1, k + 1, np.nan)]
    runs.append(("underflow", 24, 40, np.nan))
    # 12 runs, 11 changes: subnormal first at 14, underflow first at 24
    assert tables.describe_runs(runs).text == "subnormal @14, underflow @24, 11 changes in all"


def test_error_table_reports_bits_and_unit_roundoff(markdown, results):
    study = load_study(results / "report_deep_product")
    table = tables.error_table(study)
    by_format = {row[0]: row for row in table.rows}
    u16 = FORMATS["float16"].unit_roundoff
    assert u16 == 2.0**-11
    assert by_format["float16"][4] == f"{u16:.3g}"
    ok = study.records[(study.records["dtype"] == "float16")
                       & (study.records["outcome"] == "ok")]
    assert float(by_format["float16"][1]) == pytest.approx(ok["rel_error"].max(), rel=1e-2)
    # s = 0.5 is exact, s = 1.5 rounds: some error, but within the k*u bound (k = 2 * 27)
    assert 0 < ok["rel_error"].max() <= 2 * 27 * u16


def test_bits_of_error_is_herbies_measure():
    assert tables.bits_of_error([0.0, 1.0, 3.0, 2.0**11 - 1]).tolist() == [0, 1, 2, 11]


def test_avoidable_and_unavoidable_counts_for_the_deep_product(results):
    counts = tables.failure_counts(fpstudy.load(results / "report_deep_product"))
    by = counts.set_index("dtype")
    # float16: s = 1.5 fails at depths 28..40 (13), s = 0.5 at 15..40 (26); every one has a
    # truth out of the format's range (overflows; subnormal or underflows): none avoidable.
    failed = (40 - 28 + 1) + (40 - FIRST_SUBNORMAL + 1)
    assert by.loc["float16", ["points", "failed", "avoidable", "unavoidable"]].tolist() == \
        [80, failed, 0, failed]
    assert by.loc["float32", ["points", "failed", "avoidable", "unavoidable"]].tolist() == \
        [80, 0, 0, 0]


def test_avoidable_rule_on_hand_made_records():
    rows = pd.DataFrame({
        "dtype": ["float16"] * 8, "impl": ["naive"] * 6 + ["stable"] * 2,
        "outcome": ["ok", "underflow", "underflow", "subnormal", "subnormal", "nan",
                    "overflow", "nan"],
        "truth_class": ["normal", "normal", "underflows", "normal", "subnormal", "overflows",
                        "overflows", "normal"],
    })
    failed, avoidable = tables.avoidable_mask(rows)
    assert failed.tolist() == [False] + [True] * 7
    assert avoidable.tolist() == [False, True, False, True, False, False, False, True]
    counts = tables.failure_counts(rows).set_index("impl")
    assert counts.loc["naive", ["failed", "avoidable", "unavoidable"]].tolist() == [5, 2, 3]
    assert counts.loc["stable", ["failed", "avoidable", "unavoidable"]].tolist() == [2, 1, 1]
    assert counts.loc["naive", "avoidable_underflow"] == 1


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
@pytest.mark.parametrize("figure", FIGURES)
def test_every_experiment_has_its_figures_as_png_and_svg(results, config, figure):
    folder = results / config.stem / "figures"
    png, svg = folder / f"{figure}.png", folder / f"{figure}.svg"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 5000
    head = svg.read_text(encoding="utf-8")
    assert "<svg" in head[:2000] and head.rstrip().endswith("</svg>")


def test_case_hooks_add_their_figures(results, markdown):
    assert (results / "report_softmax" / "figures" / "softmax_map.png").stat().st_size > 5000
    assert "report_softmax/figures/softmax_map.png" in markdown


def test_html_links_its_figures_and_has_no_script(results):
    html = (results / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)=["']https?:""", html)
    assert "base64" not in html and len(html.encode()) < 200_000  # opens fast
    images = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert len(images) >= len(CONFIGS) * len(FIGURES)
    for src in images:  # relative to the page, and there
        assert not Path(src).is_absolute() and (results / src).read_bytes()[:4] == b"\x89PNG"
    assert "overflow @28, nan @29" in html


def test_report_is_stable_when_redrawn(results):
    before = {p: p.read_bytes() for p in (results / "report.md",
                                           results / "report_deep_product/figures/error.svg")}
    write_report(results, redraw=True)
    assert all(p.read_bytes() == data for p, data in before.items())


# -- sections kept beside the results and reused ---------------------------------------------

@pytest.fixture
def kept(results, tmp_path) -> Path:
    """A copy of the results with every section kept (drawn by the `results` fixture)."""
    import shutil

    out = tmp_path / "kept"
    shutil.copytree(results, out)
    write_report(out)  # the pages name the results folder: now this one
    return out


@pytest.fixture
def draws(monkeypatch) -> list[str]:
    """The names of the experiments whose sections are drawn from here on."""
    from fpstudy.report import sections

    drawn, real = [], sections.draw

    def counted(directory, key=None):
        drawn.append(Path(directory).name)
        return real(directory, key)
    monkeypatch.setattr(sections, "draw", counted)
    return drawn


def page_bytes(results: Path) -> dict[str, bytes]:
    return {name: (results / name).read_bytes() for name in ("report.md", "report.html")}


def test_kept_sections_are_reused_when_nothing_changed(kept, draws):
    from fpstudy.report.sections import SECTION_FILE

    figures = {p: p.stat().st_mtime_ns for p in kept.rglob("figures/*")}
    before = page_bytes(kept)
    written = write_report(kept)
    assert draws == []
    assert {p.name for p in written} == {"report.md", "report.html"}
    assert {p: p.stat().st_mtime_ns for p in kept.rglob("figures/*")} == figures
    assert page_bytes(kept) == before
    assert all((kept / c.stem / SECTION_FILE).is_file() for c in CONFIGS)


def test_pages_from_kept_sections_are_those_drawn_afresh(kept):
    reused = page_bytes(kept)  # the `kept` fixture wrote them from the kept sections
    written = write_report(kept, redraw=True, jobs=2)  # afresh, in two processes
    assert {p.name for p in written} >= {"magnitude.png", "report_section.json", "report.md"}
    assert page_bytes(kept) == reused


def test_a_section_is_redrawn_when_its_meta_changes(kept, draws):
    import json

    meta = kept / "report_deep_product" / "meta.json"
    data = json.loads(meta.read_text(encoding="utf-8"))
    data["wall_time_s"] = 12345.5
    meta.write_text(json.dumps(data), encoding="utf-8")
    write_report(kept)
    assert draws == ["report_deep_product"]
    assert "12345.5 s" in (kept / "report.md").read_text(encoding="utf-8")
    write_report(kept)  # kept again: drawn once
    assert draws == ["report_deep_product"]


def test_a_section_is_redrawn_when_its_records_change(kept, draws):
    path = kept / "report_deep_product" / "records.parquet"
    records = pd.read_parquet(path)
    records.loc[0, "rel_error"] = 0.25
    records.to_parquet(path, index=False)
    write_report(kept)
    assert draws == ["report_deep_product"]


@pytest.mark.parametrize("change", ["delete", "edit"])
def test_a_section_whose_figure_changed_is_redrawn(kept, draws, change):
    figure = kept / "report_deep_product" / "figures" / "error.png"
    data = figure.read_bytes()
    if change == "delete":
        figure.unlink()
    else:
        figure.write_bytes(data[:-10])
    write_report(kept)
    assert draws == ["report_deep_product"] and figure.read_bytes() == data


@pytest.mark.parametrize("text", ['{"version": 1, "key"', "[]", ""],
                         ids=["half-written", "foreign", "empty"])
def test_a_half_written_or_foreign_section_file_is_redrawn(kept, draws, text):
    from fpstudy.report.sections import SECTION_FILE

    (kept / "report_deep_product" / SECTION_FILE).write_text(text)
    before = page_bytes(kept)
    write_report(kept)
    assert draws == ["report_deep_product"]
    assert page_bytes(kept) == before


def test_the_code_key_covers_the_report_code_but_not_the_command_line(tmp_path):
    import shutil

    from fpstudy.report import sections

    package = tmp_path / "fpstudy"
    shutil.copytree(sections.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    key = sections.package_key(package)
    assert sections.package_key(package) == key
    (package / "cli.py").write_text("# the command line cannot change a figure\n")
    same = sections.package_key(package)
    (package / "report" / "figures.py").write_text("# a figure drawn differently\n")
    assert same == key != sections.package_key(package)


def test_only_draws_one_section_and_no_pages(kept, draws, run_cli):
    from fpstudy.report.sections import SECTION_FILE

    (kept / "report_deep_product" / SECTION_FILE).unlink()
    pages = page_bytes(kept)
    status, out, _ = run_cli("report", "--results", kept, "--only", "report_deep_product")
    assert status == 0 and draws == ["report_deep_product"]
    assert (kept / "report_deep_product" / SECTION_FILE).is_file()
    assert "report.md" not in out and page_bytes(kept) == pages
    status, out, _ = run_cli("report", "--results", kept, "--only", "report_deep_product")
    assert status == 0 and draws == ["report_deep_product"] and out == ""  # kept: nothing to draw


def test_only_an_unknown_experiment_is_a_user_error(kept, run_cli):
    status, out, err = run_cli("report", "--results", kept, "--only", "report_softmx")
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "'report_softmx'" in err and "report_softmax" in err


def test_notebook_access_load_and_summary(results):
    records = fpstudy.load(results / "report_deep_product")
    assert isinstance(records, pd.DataFrame)
    assert len(records) == 2 * 2 * 40  # formats x scales x depths
    table = fpstudy.summary(results / "report_deep_product" / "summary.csv")
    f16 = table[(table["dtype"] == "float16") & (table["scale"] == 1.5)]
    assert f16[["outcome", "start"]].values.tolist() == [["ok", 1], ["overflow", 28],
                                                         ["nan", 29]]


def test_report_of_an_empty_directory_is_a_user_error(tmp_path, run_cli):
    with pytest.raises(UserError, match="no experiment results"):
        write_report(tmp_path)
    status, _, err = run_cli("report", "--results", tmp_path)
    assert status == 2 and err.count("\n") == 1


def test_a_failing_case_hook_costs_only_its_own_part(results, tmp_path, monkeypatch):
    from fpstudy.report import cases

    def broken(study):
        raise KeyError("column the hook needs")

    monkeypatch.setattr(cases.HOOKS["softmax"], "figures", broken)
    out = tmp_path / "copy"
    assert main(["run", str(DATA / "report_softmax.toml"), "--results", str(out)]) == 0
    paths = write_report(out)
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "report hook could not draw its part" in text
    assert "### Formats side by side" in text
    assert {p.name for p in paths} >= {"report.md", "report.html", "magnitude.png"}


def test_overview_leads_with_the_ok_range_and_the_avoidable_failures(results):
    study = load_study(results / "report_deep_product")
    table = tables.overview([study])
    row = dict(zip(table.columns, table.rows[0], strict=True))
    # float16 is ok at every grid point up to depth 14: s = 0.5 goes subnormal at 15; every
    # failure is the truth leaving the range (none avoidable): 13 at s = 1.5, 26 at s = 0.5
    assert row["float16"].text == f"ok at 1..{FIRST_SUBNORMAL - 1}"
    assert row["float16"].detail == f"unavoidable: {13 + 40 - FIRST_SUBNORMAL + 1} records"
    # float32 holds 2^-40 and 1.5^40 ~ 1.1e7 as normal numbers: it never fails here
    assert (row["float32"].text, row["float32"].detail) == ("ok throughout", "no failures")
    assert "float64" not in row


def test_overview_names_avoidable_failures_first_per_implementation(results):
    # naive softmax of n equal logits c in float16 (exact answer 1/n, always normal): exp(-20)
    # = 2.1e-9 is below half the smallest subnormal (3e-8), so 0/0 at c = -20; exp(10) * 100
    # = 2.2e6 > 65504 overflows the sum (n = 100: every output 0, underflow); exp(20) = 4.9e8
    # overflows (inf/inf); c = -10 (exp = 4.5e-5, subnormal, but the ratio is ok) and 0 are ok
    assert math.exp(-20) < float(F16.smallest_subnormal) / 2 < math.exp(-10)
    assert 100 * math.exp(10) > float(F16.max) > math.exp(10)
    study = load_study(results / "report_softmax")
    rows = {r[0].text: dict(zip(tables.overview([study]).columns, r, strict=True))
            for r in tables.overview([study]).rows}
    naive = rows["report_softmax: naive"]["float16"]
    assert naive.text == "ok at -10..0"
    assert naive.detail.startswith("avoidable (")
    assert "nan @-20 (softmax, n=1" in naive.detail and "underflow @10 (softmax, n=100)" \
        in naive.detail and "unavoidable" not in naive.detail
    stable = rows["report_softmax: max_shift"]["float16"]
    assert (stable.text, stable.detail) == ("ok throughout", "no failures")


def test_softmax_map_gives_an_implementation_ok_everywhere_one_line(results):
    from matplotlib.collections import QuadMesh

    from fpstudy.report.cases import HOOKS

    study = load_study(results / "report_softmax")
    (drawn,) = HOOKS["softmax"].figures(study)
    meshes = [ax for ax in drawn.figure.axes if any(isinstance(c, QuadMesh)
                                                    for c in ax.collections)]
    assert [ax.get_ylabel() for ax in meshes] == ["naive\nn"]  # no row of grey for max_shift
    legend = drawn.figure.legends[0].get_title().get_text()
    assert legend.startswith("ok everywhere") and legend.endswith(": max_shift")
    names, _ = map_cells(meshes[0])
    assert names.tolist() == [["nan", "ok", "ok", "ok", "nan"],          # n = 1
                              ["nan", "ok", "ok", "underflow", "nan"]]   # n = 100
    only_ok = study.subset(study.records["impl"] == "max_shift")
    (line_only,) = HOOKS["softmax"].figures(only_ok)
    assert not any(isinstance(c, QuadMesh) for ax in line_only.figure.axes
                   for c in ax.collections)
    assert "ok everywhere" in line_only.figure.texts[0].get_text()


# -- the hook contract ----------------------------------------------------------------------

def fake_hook(case="softmax", **functions):
    from types import ModuleType

    module = ModuleType("fpstudy.report.cases.fake")
    module.CASE = case
    for name, fn in functions.items():
        fn.__module__ = module.__name__
        setattr(module, name, fn)
    return module


def test_the_shipped_hooks_keep_the_contract():
    from fpstudy.cases import CASES
    from fpstudy.report.cases import HOOK_FUNCTIONS, HOOKS, check_hooks

    assert check_hooks(HOOKS) is HOOKS and set(HOOKS) <= set(CASES)
    assert set(HOOK_FUNCTIONS) == {"error_references", "figures", "tables"}


@pytest.mark.parametrize("hook, message", [
    (fake_hook(figure=lambda study: []), r"defines figure\(\), which is not a hook"),
    (fake_hook(tables=lambda s: []), r"tables\(s\): expected tables\(study\)"),
    (fake_hook("softmaks", figures=lambda study: []), "CASE = 'softmaks' is not a case"),
])
def test_a_misspelt_hook_is_an_error(hook, message):
    from fpstudy.report.cases import check_hooks

    with pytest.raises(ImportError, match=message):
        check_hooks({hook.CASE: hook})


def test_helpers_and_imports_in_a_hook_are_not_hooks():
    from fpstudy.report.cases import check_hooks

    hook = fake_hook(_helper=lambda x: x, figures=lambda study: [])
    hook.imported = np.sqrt  # not defined in the module: ignored
    assert check_hooks({"softmax": hook})


def test_a_tables_hook_adds_its_tables(results, tmp_path, monkeypatch):
    import shutil

    from fpstudy.report import cases

    def extra(study):
        return [tables.Table("From the tables hook", ["point", "n"],
                             [["all", str(len(study.records))]])]

    monkeypatch.setattr(cases.HOOKS["deep_product"], "tables", extra, raising=False)
    out = tmp_path / "copy"
    shutil.copytree(results / "report_deep_product", out / "report_deep_product")
    write_report(out, redraw=True)  # a patched hook is not in the kept section's key
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "### From the tables hook" in text and "| all | 160 |" in text


# -- figures, read back from what matplotlib drew ------------------------------------------

@pytest.fixture(scope="module")
def deep_study(results, tmp_path_factory):
    import shutil

    out = tmp_path_factory.mktemp("figures")
    shutil.copytree(results / "report_deep_product", out / "report_deep_product")
    return load_study(out / "report_deep_product")


def panels(figure_file) -> dict:
    """The visible panels of a drawn figure, by their title."""
    return {ax.get_title(loc="left"): ax for ax in figure_file.figure.axes
            if ax.get_visible() and ax.get_title(loc="left")}


def line(ax, label):
    found = [ln for ln in ax.get_lines() if ln.get_label() == label]
    assert len(found) == 1, (label, [ln.get_label() for ln in ax.get_lines()])
    return found[0].get_xdata().astype(float), found[0].get_ydata().astype(float)


def legend_texts(figure_file) -> list[str]:
    return [t.get_text() for legend in figure_file.figure.legends for t in legend.get_texts()]


def test_magnitude_figure_draws_the_computed_and_exact_magnitudes(deep_study):
    from fpstudy.report import figures

    drawn = figures.magnitude(deep_study)
    axes = panels(drawn)
    assert set(axes) == {"scale=0.5", "scale=1.5"}
    depth = np.arange(1, 41, dtype=float)
    for scale, ax in (("0.5", axes["scale=0.5"]), ("1.5", axes["scale=1.5"])):
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("depth", "log10 |value|")
        x, exact = line(ax, "exact float16")
        np.testing.assert_array_equal(x, depth)
        # x = ones, s exact in float16: the truth is s^d, log10 s^d = d log10 s
        np.testing.assert_allclose(exact, depth * math.log10(float(scale)), rtol=1e-12)
    x, computed = line(axes["scale=1.5"], "computed float16")
    # within 27u of 1.5^d up to depth 27; from 28 on inf or NaN: not on the curve (strips)
    np.testing.assert_allclose(computed[:27], depth[:27] * math.log10(1.5),
                               atol=math.log10(1 + 27 * 2.0**-11))
    assert np.isnan(computed[27:]).all()
    _, computed = line(axes["scale=0.5"], "computed float16")
    # 2^-d exact while representable (normal or subnormal); 0 from FIRST_ZERO on
    np.testing.assert_allclose(computed[:FIRST_ZERO - 1], -depth[:FIRST_ZERO - 1] * math.log10(2),
                               rtol=1e-15)
    assert np.isnan(computed[FIRST_ZERO - 1:]).all()
    labels = legend_texts(drawn)
    assert {"float16", "float32", "computed", "exact", "max"} <= set(labels)


def test_error_figure_draws_the_errors_and_the_hooks_reference_curves(deep_study):
    from fpstudy.report import figures
    from fpstudy.report.cases import HOOKS

    hook = HOOKS["deep_product"]
    drawn = figures.error(deep_study, hook.error_references)
    ax = panels(drawn)["scale=1.5"]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "depth"
    rec = deep_study.records
    f16 = rec[(rec["dtype"] == "float16") & (rec["scale"] == 1.5)].sort_values("depth")
    x, err = line(ax, "error float16")
    want = f16["rel_error"].to_numpy(dtype=float)
    want = np.where(np.isfinite(want) & (want > 0), want, np.nan)
    np.testing.assert_array_equal(x, f16["depth"].to_numpy(dtype=float))
    np.testing.assert_array_equal(err, want)
    assert np.isfinite(err[:27]).sum() > 20 and np.isnan(err[27:]).all()
    # Higham & Mary's k*u and sqrt(k)*u with k = depth * width (width 2), u = 2^-11
    depth = np.arange(1, 41, dtype=float)
    _, ku = line(ax, "k·u float16")
    _, sqrt_ku = line(ax, "√k·u float16")
    np.testing.assert_allclose(ku, 2 * depth * 2.0**-11)
    np.testing.assert_allclose(sqrt_ku, np.sqrt(2 * depth) * 2.0**-11)
    assert {"k·u", "√k·u"} <= set(legend_texts(drawn))
    assert "Higham & Mary" in drawn.caption


def test_another_cases_reference_curves_carry_their_own_labels(deep_study):
    from fpstudy.report import figures

    def twice_u(study, labels, rows):
        x = np.sort(rows["depth"].unique()).astype(float)
        return [figures.Reference("2u", "float16", x, np.full_like(x, 2.0**-10), (0, (3, 1)),
                                  "2u (dashed) is twice the unit roundoff.")]

    drawn = figures.error(deep_study, twice_u)
    texts = legend_texts(drawn)
    assert "2u" in texts and "k·u" not in texts and "√k·u" not in texts
    assert "2u (dashed) is twice the unit roundoff." in drawn.caption
    assert "Higham" not in drawn.caption
    plain = figures.error(deep_study)
    assert not {"k·u", "2u"} & set(legend_texts(plain)) and "Thin curves" not in plain.caption


def map_cells(ax):
    """(row labels, outcome names, RGBA colours) of an outcome map panel's mesh."""
    from matplotlib.collections import QuadMesh

    from fpstudy.metrics import OUTCOMES

    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    codes = np.ma.masked_invalid(mesh.get_array()).reshape(mesh.get_coordinates().shape[0] - 1,
                                                            -1)
    colours = mesh.cmap(mesh.norm(codes))
    names = np.array([[OUTCOMES[int(c)] if c is not np.ma.masked else "" for c in row]
                      for row in codes])
    return names, colours


def test_outcome_map_cells_have_the_outcome_and_its_colour(deep_study):
    from matplotlib.colors import to_rgba

    from fpstudy.report import figures
    from fpstudy.report.style import OUTCOME_COLOURS

    drawn = figures.outcome_map(deep_study)
    ax = drawn.figure.axes[0]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    groups = {t.get_text(): t.xy[1] for t in ax.texts}  # a point's label, left of its block
    assert rows == ["float16", "float32", "float16", "float32"]
    assert set(groups) == {"scale=0.5", "scale=1.5"}
    names, colours = map_cells(ax)
    row_05, row_15 = int(groups["scale=0.5"]), int(groups["scale=1.5"])
    # hand-derived (module docstring): columns are depths 1..40
    expect_15 = ["ok"] * 27 + ["overflow"] + ["nan"] * 12
    expect_05 = (["ok"] * (FIRST_SUBNORMAL - 1) + ["subnormal"] * (FIRST_ZERO - FIRST_SUBNORMAL)
                 + ["underflow"] * (40 - FIRST_ZERO + 1))
    assert names[row_15].tolist() == expect_15
    assert names[row_05].tolist() == expect_05
    assert (names[row_15 + 1] == "ok").all() and (names[row_05 + 1] == "ok").all()  # float32
    for r in range(len(rows)):
        for c in range(names.shape[1]):
            assert tuple(colours[r, c]) == to_rgba(OUTCOME_COLOURS[names[r, c]]), (r, c)


@pytest.mark.parametrize("arith, words", [
    ({"math": "mpfr", "correctly_rounded": True, "library": "MPFR 4.2.2"},
     "elementwise functions by MPFR 4.2.2 (correctly rounded)"),
    ({"math": "numpy", "correctly_rounded": False, "library": "numpy 2.4.0"},
     "elementwise functions by numpy 2.4.0 (the platform's library)"),
    (None, "elementwise functions by numpy"),  # format version 1
])
def test_run_line_says_who_computed_the_elementwise_functions(arith, words):
    from fpstudy.report.render import _arith_words

    assert _arith_words(arith) == words


def test_the_report_counts_truths_not_proven(tmp_path):
    config = tmp_path / "unproven.toml"
    config.write_text('case = "sigmoid_saturation"\ndtypes = ["float16"]\n'
                      '[truth]\nprecision = 16\nmax_precision = 24\n'
                      '[grid]\nz = [1.0, 2.0]\n')
    assert main(["run", str(config), "--results", str(tmp_path / "r")]) == 0
    write_report(tmp_path / "r")
    text = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    # two z values x two quantities (sigmoid, derivative), none proven at 24 bits
    assert "**4 records whose truth is not proven**" in text


def test_the_report_says_how_truths_were_proven(results):
    text = (results / "report.md").read_text(encoding="utf-8")
    # the deep product's powers of s are exact dyadic numbers: 2 formats x 2 scales x 40
    assert "truth proven for 160 exact" in text
    assert "not proven" not in text


def test_run_draw_draws_the_section_that_report_only_would(tmp_path, draws, run_cli):
    """`fpstudy run --draw` draws the experiment's section right after its run, in the same
    process: the same section `report --only` draws (its figures byte for byte), so a
    `report --only` after it finds the section kept and draws nothing."""
    from fpstudy.report.sections import SECTION_FILE

    config = next(c for c in CONFIGS if c.stem == "report_deep_product")
    drawn_by_run = tmp_path / "by_run"
    status, out, _ = run_cli("run", config, "--results", drawn_by_run, "--draw")
    section = drawn_by_run / "report_deep_product" / SECTION_FILE
    assert status == 0 and draws == ["report_deep_product"] and section.is_file()
    assert str(section) in out.splitlines()
    status, out, _ = run_cli("report", "--results", drawn_by_run, "--only",
                             "report_deep_product")
    assert status == 0 and draws == ["report_deep_product"] and out == ""  # nothing drawn
    drawn_apart = tmp_path / "apart"
    assert run_cli("run", config, "--results", drawn_apart)[0] == 0
    assert not (drawn_apart / "report_deep_product" / SECTION_FILE).exists()
    assert run_cli("report", "--results", drawn_apart, "--only", "report_deep_product")[0] == 0
    figures = sorted((drawn_by_run / "report_deep_product" / "figures").glob("*.png"))
    assert figures and all(
        f.read_bytes() == (drawn_apart / "report_deep_product" / "figures" / f.name).read_bytes()
        for f in figures)


# -- drawing cheaply, the same bytes --------------------------------------------------------

@pytest.fixture(scope="module")
def softmax_study(results, tmp_path_factory):
    import shutil

    out = tmp_path_factory.mktemp("softmax_figures")
    shutil.copytree(results / "report_softmax", out / "report_softmax")
    return load_study(out / "report_softmax")


def figure_drawers(deep_study, softmax_study) -> dict:
    """Each kind of figure whose panels have titles, drawn as the report draws it."""
    from fpstudy.report import figures
    from fpstudy.report.cases import HOOKS

    return {"magnitude": lambda: figures.magnitude(deep_study),
            "error": lambda: figures.error(deep_study, HOOKS["deep_product"].error_references),
            "outcome_map": lambda: figures.outcome_map(softmax_study),  # a panel per quantity
            "softmax_map": lambda: HOOKS["softmax"].figures(softmax_study)[-1]}


def drawn_bytes(draw) -> tuple[bytes, bytes]:
    import matplotlib

    from fpstudy.report.style import RC

    with matplotlib.rc_context(RC):
        drawn = draw()
    return drawn.png.read_bytes(), drawn.svg.read_bytes()


@pytest.mark.parametrize("kind", ["magnitude", "error", "outcome_map", "softmax_map"])
def test_panel_titles_are_where_automatic_placement_puts_them(kind, deep_study, softmax_study,
                                                              monkeypatch):
    """Panel titles are set at y=TITLE_Y, which turns matplotlib's automatic placement off:
    the files are byte for byte those drawn with it on (y=None, matplotlib's default)."""
    from fpstudy.report import figures
    from fpstudy.report.cases import HOOKS

    draw = figure_drawers(deep_study, softmax_study)[kind]
    fixed = drawn_bytes(draw)
    for module in (figures, HOOKS["softmax"]):
        monkeypatch.setattr(module, "TITLE_Y", None)
    assert drawn_bytes(draw) == fixed


def _ok_ranges_by_hand(outcomes: list[str], sweeps: list) -> tuple[list[tuple], bool]:
    """ok_ranges written as the definition reads: the sorted distinct sweep values, each ok
    when every record there is, cut into maximal runs of ok values."""
    values = sorted(set(sweeps))
    flags = [all(o == "ok" for o, s in zip(outcomes, sweeps, strict=True) if s == v) for v in values]
    ranges, start = [], None
    for k, (v, f) in enumerate(zip(values, flags, strict=True)):
        if f and start is None:
            start = v
        if start is not None and (not f or k == len(values) - 1):
            ranges.append((start, v if f else values[k - 1]))
            start = None
    return ranges, all(flags)


@pytest.mark.parametrize("seed", range(40))
def test_ok_ranges_agree_with_the_definition(seed):
    """Runs of sweep values where every record is ok, on random records: several records per
    sweep value in random order, a few or many failures, one value or many."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    sweeps = rng.choice(np.arange(-5.0, 5.0, 0.5), size=n).tolist()
    fail = [0.0, 0.05, 0.3, 1.0][seed % 4]
    outcomes = [str(rng.choice(["overflow", "nan", "underflow"])) if rng.random() < fail
                else "ok" for _ in range(n)]
    frame = pd.DataFrame({"outcome": pd.Series(outcomes, dtype="string[pyarrow]"),
                          "z": sweeps})
    got, throughout = tables.ok_ranges(frame, "z")
    want, want_throughout = _ok_ranges_by_hand(outcomes, sweeps)
    assert [(float(a), float(b)) for a, b in got] == want
    assert throughout == want_throughout


def test_ok_ranges_of_a_single_failing_record_among_ok_ones():
    """One sweep value with an ok and a failing record is not ok: the range splits there."""
    frame = pd.DataFrame({"outcome": ["ok", "ok", "nan", "ok", "ok"], "d": [1, 2, 2, 3, 4]})
    assert tables.ok_ranges(frame, "d") == ([(1, 1), (3, 4)], False)
    assert tables.describe_ok(*tables.ok_ranges(frame, "d")) == "ok at 1, 3..4"


def _runs_by_group_by_definition(study) -> list[tuple[dict, dict]]:
    """runs_by_group as the side-by-side table once made it: each group of study.groups, its
    rows per dtype (in order of appearance), sorted by start."""
    out = []
    for labels, group in study.groups(study.summary):
        by_dtype = {}
        for d, rows in group.groupby("dtype", sort=False):
            rows = rows.sort_values("start", kind="stable")
            pred = rows["predicted_start"] if "predicted_start" in rows else \
                [np.nan] * len(rows)
            by_dtype[d] = list(zip(rows["outcome"], rows["start"], rows["stop"], pred,
                                   strict=True))
        out.append((labels, by_dtype))
    return out


def _same(a, b) -> bool:
    """Equal, NaN equal to NaN (labels and runs hold NaN where a value is missing)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return a == b


def test_runs_by_group_of_the_test_results_agree_with_the_definition(results):
    for config in CONFIGS:
        study = load_study(results / config.stem)
        assert _same(tables.runs_by_group(study), _runs_by_group_by_definition(study))


@pytest.mark.parametrize("seed", range(12))
def test_runs_by_group_of_a_shuffled_summary_agree_with_the_definition(results, seed):
    """The summary's rows shuffled (groups met in another order, runs out of sweep order,
    equal starts in two dtypes), a missing label value, and no label keys at all."""
    base = load_study(results / "report_deep_product")
    rng = np.random.default_rng(seed)
    table = base.summary.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    if seed % 3 == 1:
        table.loc[rng.integers(len(table)), "scale"] = np.nan
    keys = [] if seed % 3 == 2 else base.label_keys
    study = replace(base, summary=table, label_keys=keys)
    got, want = tables.runs_by_group(study), _runs_by_group_by_definition(study)
    assert len(want) >= 1 and _same(got, want)
    empty = replace(study, summary=table.iloc[:0])
    assert _same(tables.runs_by_group(empty), _runs_by_group_by_definition(empty))
