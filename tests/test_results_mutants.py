"""fpstudy.results as a user of the results folder relies on it, where its mutants showed the
other tests silent: a single file written atomically (the old file or the new one, no temporary
left, permissions from the umask, UTF-8 whatever the locale); results/<name>/ swapped in whole,
by renameat2's exchange or by two renames, and kept when the swap fails; staging directories
of dead runs removed, those of live runs left alone; files of older format versions read in
the current schema; errors that name the file.

Failures that cannot be provoked for real here (the tests may run as root, who may write
anywhere; races with another run) are injected with monkeypatch at the system call they would
come from.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import datetime
import errno
import json
import locale
import math
import os
import platform
import re
import socket
import subprocess
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from fpstudy import results, schema
from fpstudy.errors import ResultsError, UserError

# Text that ASCII cannot encode: a results file must hold it as UTF-8 bytes.
UNICODE = "max_rel_error ≤ 2⁻⁸⁰ — café\n"


def hidden(directory: Path) -> list[str]:
    """Names of the hidden entries of `directory`: temporary files, staging directories."""
    return sorted(p.name for p in Path(directory).iterdir() if p.name.startswith("."))


def stage_name(name: str, pid: int) -> str:
    """The name of a staging directory of experiment `name` made by `pid` on this host."""
    return f".{name}{results.STAGE_MARK}{socket.gethostname()}-{pid}-0000"


def dead_pid() -> int:
    """The pid of a process that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def tagged_dir(path: Path, tag: str) -> Path:
    """A directory holding one file, `who`, whose text tells which one it is."""
    path.mkdir(parents=True)
    (path / "who").write_text(tag)
    return path


def write(res: Path, tag: str, name: str = "exp") -> dict[str, Path]:
    """write_experiment of a small experiment whose meta.json carries `tag`."""
    records = pd.DataFrame({"dtype": ["float16", "float32"], "depth": [1, 2],
                            "value": [0.5, 1.5]})
    summary = pd.DataFrame({"dtype": ["float16"], "outcome": ["ok"], "max_rel_error": [0.0]})
    meta = {"format_version": schema.FORMAT_VERSION, "tag": tag}
    return results.write_experiment(res, name, records, summary, meta)


def tag_of(directory: Path) -> str:
    return json.loads((directory / "meta.json").read_text(encoding="utf-8"))["tag"]


@pytest.fixture(params=[(0o022, 0o644), (0o027, 0o640)], ids=["umask022", "umask027"])
def umask_and_mode(request):
    """A umask and the mode 0o666 & ~umask a new file gets under it (worked out by hand)."""
    mask, mode = request.param
    old = os.umask(mask)
    yield mask, mode
    os.umask(old)


@pytest.fixture
def ascii_locale():
    """The C locale, whose encoding is ASCII (on a Python in UTF-8 mode this changes nothing
    and the tests using it check less)."""
    old = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    yield
    locale.setlocale(locale.LC_CTYPE, old)


def cannot_remove(monkeypatch, match):
    """Directories whose name `match` accepts cannot be removed (EBUSY, as a directory on NFS
    still holding a file a reader keeps open); the files in them can."""
    real = os.rmdir

    def rmdir(path, *args, **kwargs):
        if match(os.path.basename(os.fsdecode(path))):
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), path)
        return real(path, *args, **kwargs)
    monkeypatch.setattr(os, "rmdir", rmdir)


# -- single files ------------------------------------------------------------------------------


def test_a_file_is_written_into_directories_made_on_the_way(tmp_path):
    path = tmp_path / "res" / "exp" / "figures" / "depth.svg"
    results.atomic_write(path, lambda tmp: tmp.write_bytes(b"<svg/>"))
    assert path.read_bytes() == b"<svg/>"
    results.atomic_write_texts({tmp_path / "a" / "b" / "report.md": "# r\n",
                                tmp_path / "c" / "d" / "report.html": "<p>r</p>\n"})
    assert (tmp_path / "a" / "b" / "report.md").read_text() == "# r\n"
    assert (tmp_path / "c" / "d" / "report.html").read_text() == "<p>r</p>\n"


def test_the_temporary_file_is_hidden_beside_its_target(tmp_path):
    """Beside it, so the rename is on one file system and atomic; hidden, named after its
    target and ending .tmp, so one left by kill -9 is not taken for a figure."""
    target = tmp_path / "figures" / "depth.svg"
    seen = []

    def draw(tmp):
        seen.append(tmp)
        tmp.write_text("<svg/>")
    results.atomic_write(target, draw)
    (tmp,) = seen
    assert tmp.parent == target.parent
    assert tmp.name.startswith(".depth.svg.") and tmp.name.endswith(".tmp")
    assert not tmp.exists() and target.read_text() == "<svg/>"
    assert hidden(target.parent) == []


def test_the_temporary_files_of_a_pair_are_hidden_beside_their_targets(tmp_path, monkeypatch):
    moves = []
    real = os.replace

    def replace(src, dst):
        moves.append((Path(src), Path(dst)))
        return real(src, dst)
    monkeypatch.setattr(os, "replace", replace)
    md, html = tmp_path / "report.md", tmp_path / "site" / "report.html"
    results.atomic_write_texts({md: "# r\n", html: "<p>r</p>\n"})
    assert [dst for _, dst in moves] == [md, html]
    for src, dst in moves:
        assert src.parent == dst.parent
        assert src.name.startswith(f".{dst.name}.") and src.name.endswith(".tmp")
    assert hidden(tmp_path) == [] and hidden(tmp_path / "site") == []


def test_written_files_get_the_mode_the_umask_allows(tmp_path, umask_and_mode):
    _, mode = umask_and_mode
    one, two, three = tmp_path / "one.png", tmp_path / "report.md", tmp_path / "report.html"
    results.atomic_write(one, lambda tmp: tmp.write_bytes(b"png"))
    results.atomic_write_texts({two: "# r\n", three: "<p>r</p>\n"})
    for path in (one, two, three):
        assert os.stat(path).st_mode & 0o777 == mode, path


def test_text_files_are_utf8_whatever_the_locale(tmp_path, ascii_locale):
    one, two, three = tmp_path / "kept.json", tmp_path / "report.md", tmp_path / "report.html"
    results.atomic_write_text(one, UNICODE)
    results.atomic_write_texts({two: UNICODE, three: UNICODE})
    for path in (one, two, three):
        assert path.read_bytes() == UNICODE.encode("utf-8"), path


def test_a_failed_write_names_the_file_and_keeps_the_old_one(tmp_path):
    path = tmp_path / "depth.png"
    path.write_bytes(b"old")

    def fail(tmp):  # Pillow says "cannot write mode RGBA as JPEG" so: no errno, no strerror
        tmp.write_bytes(b"half")
        raise OSError("cannot write mode RGBA as JPEG")
    with pytest.raises(ResultsError) as e:
        results.atomic_write(path, fail)
    assert str(e.value).startswith(f"{path}: cannot write: cannot write mode RGBA as JPEG")
    assert path.read_bytes() == b"old" and hidden(tmp_path) == []


def test_a_file_where_the_directory_should_be_is_an_error_naming_the_target(tmp_path):
    (tmp_path / "figures").write_text("not a directory")
    path = tmp_path / "figures" / "depth.png"
    with pytest.raises(ResultsError) as e:
        results.atomic_write(path, lambda tmp: tmp.write_bytes(b"png"))
    assert str(e.value).startswith(f"{path}: cannot write: ")
    assert (tmp_path / "figures").read_text() == "not a directory"


def test_a_pair_whose_second_file_cannot_be_written_changes_neither(tmp_path):
    md = tmp_path / "report.md"
    md.write_text("old md")
    (tmp_path / "site").write_text("a file, not a directory")
    html = tmp_path / "site" / "report.html"
    with pytest.raises(ResultsError) as e:
        results.atomic_write_texts({md: "new md", html: "new html"})
    assert str(e.value).startswith(f"{html}: cannot write: ")
    assert md.read_text() == "old md" and hidden(tmp_path) == []


def test_a_pair_whose_second_rename_fails_puts_the_first_file_back(tmp_path):
    """report.md is replaced, then report.html cannot be (a directory is in the way): report.md
    gets its old contents back, and a report.md that did not exist is removed again."""
    md, html = tmp_path / "report.md", tmp_path / "report.html"
    html.mkdir()
    md.write_text("old md")
    with pytest.raises(ResultsError) as e:
        results.atomic_write_texts({md: "new md", html: "new html"})
    assert str(e.value).startswith(f"{html}: cannot write: ")
    assert md.read_text() == "old md" and html.is_dir() and hidden(tmp_path) == []
    md.unlink()
    with pytest.raises(ResultsError):
        results.atomic_write_texts({md: "new md", html: "new html"})
    assert not md.exists() and hidden(tmp_path) == []


def test_a_pair_replaces_both_files_when_every_rename_succeeds(tmp_path):
    md, html = tmp_path / "report.md", tmp_path / "report.html"
    md.write_text("old md")
    results.atomic_write_texts({md: "new md", html: "new html"})
    assert (md.read_text(), html.read_text()) == ("new md", "new html")
    assert hidden(tmp_path) == []


def test_a_pair_whose_first_target_is_a_directory_changes_neither(tmp_path):
    """The rename fails (a directory named report.html is in the way): the error names it."""
    html, md = tmp_path / "report.html", tmp_path / "report.md"
    html.mkdir()
    md.write_text("old md")
    with pytest.raises(ResultsError) as e:
        results.atomic_write_texts({html: "new html", md: "new md"})
    assert str(e.value).startswith(f"{html}: cannot write: ")
    assert md.read_text() == "old md" and html.is_dir() and hidden(tmp_path) == []


# -- checking --results before a run -----------------------------------------------------------


def test_a_broken_link_on_the_way_is_named(tmp_path):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(ResultsError) as e:
        results.check_writable(link / "res")
    assert str(e.value) == f"--results {link / 'res'}: {link} is a broken symbolic link"


def test_a_directory_this_user_may_not_write_into_is_refused(tmp_path, monkeypatch):
    if os.geteuid() == 0:  # root may write anywhere: answer as for the unprivileged owner
        def access(path, wanted, **kwargs):  # R_OK, W_OK, X_OK are the bits 4, 2, 1 of rwx
            owner = os.stat(path).st_mode >> 6 & 0o7
            return wanted & ~owner == 0
        monkeypatch.setattr(os, "access", access)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(ResultsError) as e:
            results.check_writable(locked / "res")
        assert str(e.value) == f"--results {locked / 'res'}: no permission to write in {locked}"
    finally:
        locked.chmod(0o755)


def test_a_directory_on_the_way_that_may_not_be_searched_is_refused(tmp_path, monkeypatch):
    """Looking for the nearest existing ancestor inside a directory without x permission
    raises PermissionError (as for a non-root user): a one-line error naming it, not a crash."""
    locked = tmp_path / "locked"
    (locked / "a").mkdir(parents=True)
    real_exists = Path.exists

    def exists(self, *args, **kwargs):
        if locked in self.parents:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_exists(self, *args, **kwargs)
    monkeypatch.setattr(Path, "exists", exists)
    with pytest.raises(ResultsError) as e:
        results.check_writable(locked / "a" / "res")
    assert str(e.value) == (f"--results {locked / 'a' / 'res'}: no permission to look into "
                            f"{locked}")


# -- results/<name>/ ---------------------------------------------------------------------------


def test_the_figures_live_in_the_experiments_directory(tmp_path):
    # results/README.md and docs/report.md: results/<name>/figures/
    assert results.paths(tmp_path, "exp")["figures"] == tmp_path / "exp" / "figures"


def test_no_index_is_written_for_a_filtered_frame(tmp_path):
    """Records and summary cut from bigger frames carry an index of their own: not written."""
    records = pd.DataFrame({"dtype": ["float16", "float32", "float64"], "depth": [1, 2, 3],
                            "value": [0.5, 1.5, 2.5]}).iloc[[0, 2]]
    summary = pd.DataFrame({"dtype": ["float16", "float64"], "outcome": ["ok", "ok"],
                            "max_rel_error": [0.0, 0.0]}).iloc[[1]]
    meta = {"format_version": schema.FORMAT_VERSION}
    d = results.write_experiment(tmp_path / "res", "exp", records, summary, meta)["dir"]
    assert pq.read_schema(d / "records.parquet").names == ["dtype", "depth", "value"]
    with open(d / "summary.csv", newline="", encoding="utf-8") as f:
        assert list(csv.reader(f)) == [["dtype", "outcome", "max_rel_error"],
                                       ["float64", "ok", "0.0"]]
    back = results.load(d)
    assert list(back.index) == [0, 1] and back["depth"].tolist() == [1, 3]


def test_a_nan_in_the_summary_is_nan_where_a_number_is_and_text_elsewhere(tmp_path):
    """NaN numbers are written as "nan"; read back they are NaN in max_rel_error and
    predicted_start, while "nan" in outcome is the outcome and "" in impl the plain one."""
    summary = pd.DataFrame({"impl": ["", "naive"], "outcome": ["ok", "nan"],
                            "points": [4, 5], "max_rel_error": [1e-3, math.nan],
                            "predicted_start": [math.nan, math.nan]})
    records = pd.DataFrame({"value": [1.0]})
    d = results.write_experiment(tmp_path / "res", "exp", records, summary,
                                 {"format_version": schema.FORMAT_VERSION})["dir"]
    with open(d / "summary.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows == [{"impl": "", "outcome": "ok", "points": "4", "max_rel_error": "0.001",
                     "predicted_start": "nan"},
                    {"impl": "naive", "outcome": "nan", "points": "5", "max_rel_error": "nan",
                     "predicted_start": "nan"}]
    back = results.summary(d)
    assert back["impl"].tolist() == ["", "naive"]
    assert back["outcome"].tolist() == ["ok", "nan"]
    assert back["max_rel_error"].dtype == np.float64
    assert back["max_rel_error"].iloc[0] == 1e-3 and math.isnan(back["max_rel_error"].iloc[1])
    assert back["predicted_start"].dtype == np.float64
    assert back["predicted_start"].isna().all()


def test_meta_json_holds_paths_and_times_as_text_one_key_a_line(tmp_path):
    meta = {"format_version": schema.FORMAT_VERSION,
            "config_path": Path("experiments") / "a.toml",
            "finished": datetime.datetime(2024, 1, 2, 3, 4, 5)}
    d = results.write_experiment(tmp_path / "res", "exp", pd.DataFrame({"value": [1.0]}),
                                 pd.DataFrame({"outcome": ["ok"]}), meta)["dir"]
    text = (d / "meta.json").read_text(encoding="utf-8")
    assert json.loads(text) == {"format_version": schema.FORMAT_VERSION,
                                "config_path": "experiments/a.toml",
                                "finished": "2024-01-02 03:04:05"}
    # readable, and a rerun's diff shows which key changed: "{", a line a key, "}", "\n"
    lines = text.split("\n")
    assert len(lines) == len(meta) + 3 and lines[-2:] == ["}", ""]
    assert [line.split(":")[0].strip() for line in lines[1:-2]] == [f'"{k}"' for k in meta]


def test_hidden_directories_are_not_experiments(tmp_path):
    res = tmp_path / "res"
    for name in ("exp", stage_name("exp", 1234)):  # a stage holds a meta.json before its swap
        (res / name).mkdir(parents=True)
        (res / name / "meta.json").write_text("{}")
    assert results.experiments(res) == [res / "exp"]


# -- staging directories of other runs ---------------------------------------------------------


def test_the_stage_of_a_dead_run_is_removed_even_if_partly(tmp_path, monkeypatch):
    """A stale stage that cannot be removed completely does not stop the run."""
    res = tmp_path / "res"
    stale = tagged_dir(res / stage_name("exp", dead_pid()), "stale")
    cannot_remove(monkeypatch, lambda name: name == stale.name)
    write(res, "new")
    assert tag_of(res / "exp") == "new"
    assert list(stale.iterdir()) == []  # its files went; the directory could not


def test_the_stage_of_a_live_run_is_left_alone_and_the_run_not_signalled(tmp_path):
    res = tmp_path / "res"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tagged_dir(res / stage_name("exp", other.pid), "live")
        write(res, "new")
        assert (live / "who").read_text() == "live"
        assert other.poll() is None  # asking whether it lives did not end it
    finally:
        other.kill()
        other.wait()
    assert tag_of(res / "exp") == "new"


def test_the_stage_of_another_users_process_is_left_alone(tmp_path, monkeypatch):
    """kill(pid, 0) answers EPERM for a live process of another user: it is alive."""
    res = tmp_path / "res"
    pid = dead_pid()
    theirs = tagged_dir(res / stage_name("exp", pid), "theirs")
    real = os.kill

    def kill(target, signal):
        if target == pid:
            raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))
        return real(target, signal)
    monkeypatch.setattr(os, "kill", kill)
    write(res, "new")
    assert (theirs / "who").read_text() == "theirs"


def test_a_stage_not_swapped_in_leaves_nothing(tmp_path):
    """staging_dir removes its directory when the writing in it fails."""
    with contextlib.suppress(RuntimeError), results.staging_dir(tmp_path, "exp") as stage:
        (stage / "records.parquet").write_bytes(b"half")
        raise RuntimeError("the run failed")
    assert list(tmp_path.iterdir()) == []


# -- swapping results/<name>/ in ---------------------------------------------------------------


class RefusingLibc:
    """A C library whose renameat2 the file system refuses with `code`."""

    def __init__(self, code):
        self.code = code

    def renameat2(self, *args):
        ctypes.set_errno(self.code)
        return -1


def no_c_library(monkeypatch):
    monkeypatch.setattr(results, "_LIBC", None)

    def cdll(*args, **kwargs):
        raise OSError("dlopen(NULL) is not supported here")
    monkeypatch.setattr(ctypes, "CDLL", cdll)


def c_library(libc):
    """Make `libc` the C library results uses (None: loaded afresh)."""
    return lambda monkeypatch: monkeypatch.setattr(results, "_LIBC", libc)


EXCHANGES = {
    "renameat2": c_library(None),
    "no-renameat2": c_library(types.SimpleNamespace()),
    "no-c-library": no_c_library,
    **{f"fs-{errno.errorcode[code]}": c_library(RefusingLibc(code))
       for code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP)},
}


@pytest.mark.parametrize("exchange", EXCHANGES.values(), ids=EXCHANGES)
def test_swap_in_replaces_the_directory_and_leaves_nothing_else(tmp_path, monkeypatch,
                                                                exchange):
    """With renameat2 or without it (no such function, no C library, a file system that
    cannot exchange): the new directory is in place, the stage and the old one are gone.
    Relative paths, as with the default --results results."""
    monkeypatch.chdir(tmp_path)
    exchange(monkeypatch)
    final = tagged_dir(Path("results") / "exp", "old")
    stage = tagged_dir(Path("results") / ".exp.stage-test", "new")
    results.swap_in(stage, final)
    assert (final / "who").read_text() == "new"
    assert sorted(p.name for p in final.iterdir()) == ["who"]
    assert not stage.exists() and hidden(Path("results")) == []


def test_swap_in_where_there_was_nothing(tmp_path):
    stage = tagged_dir(tmp_path / ".exp.stage-test", "new")
    results.swap_in(stage, tmp_path / "exp")
    assert (tmp_path / "exp" / "who").read_text() == "new" and hidden(tmp_path) == []


@pytest.mark.parametrize("kind", ["file", "link"])
def test_a_file_or_link_in_place_of_the_results_directory_is_left_alone(tmp_path, kind):
    final = tmp_path / "exp"
    if kind == "file":
        final.write_text("notes")
    else:
        final.symlink_to(tagged_dir(tmp_path / "elsewhere", "theirs"))
    stage = tagged_dir(tmp_path / ".exp.stage-test", "new")
    with pytest.raises(ResultsError) as e:
        results.swap_in(stage, final)
    assert str(e.value).startswith(f"{final}: ")
    assert str(e.value).endswith("; move it away (nothing was written)")
    assert (final.read_text() == "notes") if kind == "file" else (
        final.is_symlink() and (final / "who").read_text() == "theirs")


def renameat2_can_exchange(directory: Path) -> bool:
    """Whether this system exchanges two directories of `directory` (the test's own call)."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "renameat2"):
        return False
    a, b = directory / "probe-a", directory / "probe-b"
    a.mkdir()
    b.mkdir()
    done = libc.renameat2(-100, os.fsencode(a), -100, os.fsencode(b), 2) == 0  # AT_FDCWD
    a.rmdir()
    b.rmdir()
    return done


def test_exchange_swaps_two_directories_in_one_step(tmp_path, monkeypatch):
    if not renameat2_can_exchange(tmp_path):
        pytest.skip("no renameat2 RENAME_EXCHANGE here")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(results, "_LIBC", None)  # loaded afresh
    a, b = tagged_dir(Path("a"), "a"), tagged_dir(Path("b"), "b")
    assert results._exchange(a, b) is True
    assert (a / "who").read_text() == "b" and (b / "who").read_text() == "a"


def test_a_failed_exchange_is_the_systems_error_naming_the_target(tmp_path, monkeypatch):
    if not renameat2_can_exchange(tmp_path):
        pytest.skip("no renameat2 RENAME_EXCHANGE here")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(results, "_LIBC", None)
    a = tagged_dir(Path("a"), "a")
    with pytest.raises(OSError) as e:
        results._exchange(a, Path("missing"))
    assert (e.value.errno, e.value.strerror, e.value.filename) == \
        (errno.ENOENT, os.strerror(errno.ENOENT), "missing")
    assert (a / "who").read_text() == "a"


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_an_old_directory_that_cannot_be_removed_does_not_fail_the_run(tmp_path, monkeypatch,
                                                                       exchange):
    """The new results are in place; the old ones, moved aside, are removed as far as they can
    be."""
    res = tmp_path / "res"
    write(res, "old")
    if not exchange:
        monkeypatch.setattr(results, "_exchange", lambda a, b: False)
    cannot_remove(monkeypatch, lambda name: name.startswith(".exp" + results.STAGE_MARK))
    write(res, "new")
    assert tag_of(res / "exp") == "new"


def test_two_renames_when_another_run_moved_the_old_directory_away_first(tmp_path,
                                                                        monkeypatch):
    monkeypatch.setattr(results, "_exchange", lambda a, b: False)
    final = tagged_dir(tmp_path / "exp", "old")
    stage = tagged_dir(tmp_path / ".exp.stage-mine", "new")
    theirs = tmp_path / ".exp.stage-theirs.old"
    real = os.rename

    def rename(src, dst):
        if Path(src) == final and not theirs.exists():  # the other run's rename came first
            real(final, theirs)
        return real(src, dst)
    monkeypatch.setattr(os, "rename", rename)
    results.swap_in(stage, final)
    assert (final / "who").read_text() == "new" and not stage.exists()


def test_two_renames_that_fail_halfway_put_the_old_results_back(tmp_path, monkeypatch):
    res = tmp_path / "res"
    write(res, "old")
    monkeypatch.setattr(results, "_exchange", lambda a, b: False)
    real, failed = os.rename, []

    def rename(src, dst):  # moving the new directory into the vacated place fails, once
        if Path(dst) == res / "exp" and not Path(dst).exists() and not failed:
            failed.append(src)
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(dst))
        return real(src, dst)
    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(ResultsError) as e:
        write(res, "new")
    assert str(e.value) == (f"{res / 'exp'}: cannot write: {os.strerror(errno.EIO)}; "
                            "earlier results there are kept")
    assert tag_of(res / "exp") == "old" and hidden(res) == []


def test_two_renames_overtaken_by_another_run_leave_one_whole_result(tmp_path, monkeypatch):
    """Between moving the old directory aside and moving ours in, another run puts its own in
    place: ours replaces it in turn, the run succeeds, and nothing else is left."""
    res = tmp_path / "res"
    write(res, "old")
    monkeypatch.setattr(results, "_exchange", lambda a, b: False)
    real, overtaken = os.rename, []

    def rename(src, dst):  # the other run's rename into the vacated place comes first, once
        if Path(dst) == res / "exp" and not Path(dst).exists() and not overtaken:
            overtaken.append(src)
            tagged_dir(res / "exp", "other")
            (res / "exp" / "meta.json").write_text(json.dumps({"tag": "other"}))
        return real(src, dst)
    monkeypatch.setattr(os, "rename", rename)
    write(res, "new")  # both runs finish (README: "two runs at once both finish")
    assert overtaken and tag_of(res / "exp") == "new" and hidden(res) == []


# -- reading results ---------------------------------------------------------------------------


def test_the_environment_is_this_python_and_these_packages(monkeypatch):
    monkeypatch.setattr(results, "PACKAGES", ("numpy", "pandas", "fpstudy-no-such-package"))
    env = results.environment()
    assert env["python"] == platform.python_version()
    assert env["packages"] == {"numpy": np.__version__, "pandas": pd.__version__,
                               "fpstudy-no-such-package": None}


def test_the_environment_is_read_once_and_handed_out_as_a_copy(monkeypatch):
    calls = []
    real = results.metadata.version
    monkeypatch.setattr(results, "PACKAGES", ("numpy", "pandas", "fpstudy-read-once"))
    monkeypatch.setattr(results.metadata, "version", lambda p: calls.append(p) or real(p))
    results._environment.cache_clear()  # (an earlier run of this test in this process)
    first = results.environment()
    first["packages"]["numpy"] = "changed by a caller"
    again = results.environment()
    assert calls == ["numpy", "pandas", "fpstudy-read-once"]  # metadata read once
    assert again["packages"] == {"numpy": np.__version__, "pandas": pd.__version__,
                                 "fpstudy-read-once": None}


def test_no_meta_json_is_an_error_naming_it(tmp_path):
    with pytest.raises(UserError) as e:
        results.read_meta(tmp_path)
    assert str(e.value) == f"{tmp_path / 'meta.json'}: no results here (run `fpstudy run` first)"


def test_meta_json_that_is_not_json_is_an_error_naming_it(tmp_path):
    (tmp_path / "meta.json").write_text('{"format_version": 4,')
    with pytest.raises(UserError) as e:
        results.read_meta(tmp_path)
    assert str(e.value).startswith(f"{tmp_path / 'meta.json'}: not valid JSON: ")


def test_an_unknown_version_is_refused_listing_the_known_ones(tmp_path):
    (tmp_path / "meta.json").write_text('{"format_version": 99}')
    with pytest.raises(UserError) as e:
        results.read_meta(tmp_path)
    message = str(e.value)
    assert message.startswith(f"{tmp_path / 'meta.json'}: format_version 99 is not one ")
    known = re.fullmatch(r".*\((\d+(?:, \d+)*)\)", message)
    assert known and [int(v) for v in known[1].split(", ")] == sorted(schema.HISTORY)


def test_meta_json_is_read_as_utf8_whatever_the_locale(tmp_path, ascii_locale):
    (tmp_path / "meta.json").write_bytes(
        json.dumps({"format_version": 4, "description": UNICODE},
                   ensure_ascii=False).encode("utf-8"))
    assert results.read_meta(tmp_path)["description"] == UNICODE


@pytest.mark.parametrize("name", ["records.parquet", "summary.csv", "meta.json", "notes.txt"])
def test_any_file_of_an_experiment_stands_for_it(tmp_path, name):
    d = write(tmp_path / "res", "new")["dir"]
    (d / "notes.txt").write_text("a note of the user's")
    pd.testing.assert_frame_equal(results.load(d / name), pd.read_parquet(d / "records.parquet"))
    assert results.summary(d / name)["outcome"].tolist() == ["ok"]


@pytest.mark.parametrize("name", ["records.parquet", "summary.csv", "meta.json"])
def test_a_file_of_a_missing_experiment_names_its_meta_json(tmp_path, name):
    where = tmp_path / "res" / "exp"
    for read in (results.load, results.summary):
        with pytest.raises(UserError) as e:
            read(where / name)
        assert str(e.value).startswith(f"{where / 'meta.json'}: no results here")


# -- older format versions ---------------------------------------------------------------------

IDENTITY = ["experiment", "case", "dtype", "impl", "quantity"]
RULE = ["rounding", "subnormals", "overflow", "trial"]
MEASURES = ["value", "value_log10", "truth", "truth_log10", "rel_error", "ulp_error",
            "outcome", "truth_class", "fp_flags", "truth_precision", "truth_bound",
            "truth_settled"]


def old_records(version: int, values, **columns) -> pd.DataFrame:
    """Records as `version` wrote them: identity, a parameter (scale), the sweep (depth), the
    measures of that version, an extra column of the case (n_terms); no rule before 4."""
    n = len(values)
    measures = {"value": values, "value_log10": [0.0] * n, "truth": values,
                "truth_log10": [0.0] * n, "rel_error": [0.0] * n, "ulp_error": [0.0] * n,
                "outcome": ["ok"] * n, "truth_class": ["normal"] * n, "fp_flags": [""] * n,
                "truth_precision": [53] * n, "truth_bound": [0.0] * n,
                "truth_settled": [True] * n}
    if version == 1:
        del measures["value_log10"], measures["truth_bound"]
    frame = {**{c: ["x"] * n for c in IDENTITY}, "scale": [1.5] * n, "depth": list(range(n)),
             **measures, "n_terms": [7] * n}
    frame.update(columns)
    return pd.DataFrame(frame)


def test_a_version_1_file_gets_value_log10_from_its_values_without_a_warning():
    records = old_records(1, [100.0, -0.001, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = results.upgrade(records, 1)
    assert back["value_log10"].tolist() == [2.0, -3.0, -math.inf]
    assert back["truth_bound"].dtype == np.float64 and back["truth_bound"].isna().all()


def test_a_version_1_file_with_value_log10_keeps_it():
    """value_log10 was added to version 1 without a bump: where it is, it is exact (finite for
    a longdouble value past float64's range, which reads inf)."""
    records = old_records(1, [math.inf], value_log10=[4000.5])
    assert results.upgrade(records, 1)["value_log10"].tolist() == [4000.5]


@pytest.mark.parametrize("version", [1, 2, 3])
def test_an_older_file_reads_as_ieees_default_rule_in_the_current_column_order(version):
    """schema.HISTORY 4: an older file reads as nearest_even, gradual, inf, trial 0; the
    rule comes after the sweep, before the measures; the case's own columns stay last."""
    records = old_records(version, [0.5, 1.5])
    back = results.upgrade(records, version)
    assert list(back.columns) == [*IDENTITY, "scale", "depth", *RULE, *MEASURES, "n_terms"]
    assert back[RULE].to_dict("list") == {"rounding": ["nearest_even"] * 2,
                                          "subnormals": ["gradual"] * 2,
                                          "overflow": ["inf"] * 2, "trial": [0, 0]}
    assert back["n_terms"].tolist() == [7, 7] and back["value"].tolist() == [0.5, 1.5]
    if version > 1:  # a proven bound is kept
        assert back["truth_bound"].tolist() == [0.0, 0.0]


def test_a_file_that_has_its_rule_keeps_it():
    records = old_records(3, [0.5], rounding=["toward_zero"], trial=[2])
    back = results.upgrade(records, 3)
    assert back["rounding"].tolist() == ["toward_zero"] and back["trial"].tolist() == [2]
    assert back["subnormals"].tolist() == ["gradual"]

