"""How grid points are batched for a process pool (runner.chunks) and that batching changes
no record."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from fpstudy import runner


@given(st.lists(st.floats(1, 1e6), min_size=1, max_size=300), st.integers(2, 4))
def test_every_point_once_dearest_first_within_budget(costs, jobs):
    batches = runner.chunks(costs, jobs)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(costs)))
    assert [costs[i] for i in flat] == sorted(costs, reverse=True)
    budget = sum(costs) / (jobs * 16)
    for b in batches:
        assert len(b) <= 64
        assert len(b) == 1 or sum(costs[i] for i in b) <= budget


def test_a_dear_point_goes_alone_and_first_cheap_ones_together():
    costs = [1.0] * 200 + [1000.0]
    batches = runner.chunks(costs, jobs=2)
    assert batches[0] == [200]
    # the budget is (1000 + 200) / (2 jobs * 16) = 37.5: 37 cheap points a batch, in grid order
    assert [len(b) for b in batches[1:]] == [37, 37, 37, 37, 37, 15]
    assert batches[1] == list(range(37))


def test_pool_runs_in_grid_order_with_identical_records(tmp_path):
    from fpstudy.config import parse

    exp = parse({"case": "softmax", "dtypes": ["float16", "float32"],
                 "grid": {"n": [10, 200], "c": [-20.0, 0.0, 5.0], "impl": ["naive", "max_shift"]}},
                tmp_path / "pool.toml")
    serial = pd.DataFrame([r for p in runner.run(exp, jobs=1, progress=False) for r in p.rows])
    pooled = pd.DataFrame([r for p in runner.run(exp, jobs=2, progress=False) for r in p.rows])
    assert len(serial) == 2 * 2 * 3 * 2 * 3  # n, c, impl, formats, quantities
    assert pooled.equals(serial)


def test_a_point_with_many_records_keeps_them_as_frames_with_the_same_records(tmp_path,
                                                                               monkeypatch):
    """Past FRAME_RECORDS a point's records become DataFrames as it goes; the experiment's
    records are the same as when they stay tuples."""
    import fpstudy
    from fpstudy.config import parse

    exp = parse({"case": "deep_product", "dtypes": ["float16", "bfloat16", "float32"],
                 "grid": {"init": "gaussian", "width": 3, "max_depth": 7, "scale": [1.0, 3.0]}},
                tmp_path / "frames.toml")
    tuples = fpstudy.run_experiment(exp, progress=False).records
    monkeypatch.setattr(runner, "FRAME_RECORDS", 5)
    (job, _) = runner.jobs_of(exp)
    point = runner.run_point(job)
    assert [len(f) for f in point.frames] == [5, 5, 5, 5] and len(point.values) == 1
    framed = fpstudy.run_experiment(exp, progress=False).records
    assert len(tuples) == 2 * 3 * 7 and framed.equals(tuples)


@given(st.lists(st.tuples(st.floats(1, 1e6), st.integers(0, 5)), min_size=1, max_size=100))
def test_points_that_share_truths_travel_together(points):
    costs = [c for c, _ in points]
    groups = [g for _, g in points]
    batches = runner.chunks(costs, 2, groups=groups)
    assert sorted(i for b in batches for i in b) == list(range(len(points)))
    where = {i: k for k, b in enumerate(batches) for i in b}
    for g in set(groups):
        assert len({where[i] for i, h in enumerate(groups) if h == g}) == 1


def test_truth_groups_leave_out_what_the_truth_does_not_depend_on(tmp_path):
    from fpstudy.config import parse

    exp = parse({"case": "softmax", "grid": {"n": [10, 20], "impl": ["naive", "max_shift"]}},
                tmp_path / "g.toml")
    groups = runner._truth_groups(exp)
    by_n = {}
    for point, g in zip(exp.points, groups, strict=True):
        by_n.setdefault(point["n"], set()).add(g)
    assert all(len(v) == 1 for v in by_n.values()) and by_n[10] != by_n[20]
