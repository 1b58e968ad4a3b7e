"""The shared executors: inline, a local pool whose workers fork / spawn / forkserver as asked, and
the bounded completion-order map; bad settings fail with one line."""
from __future__ import annotations

import multiprocessing
import os

import pytest

from vimo.errors import VimoError
from vimo.pipelines.executors import InlineExecutor, LocalExecutor, START_METHODS, make_executor

#: changed by the test process after import: a forked worker inherits the change, a spawned or
#: forkserver worker imports this module afresh and sees the original value
MARK = "as imported"


def where(job: int) -> tuple[int, int, str]:
    return job * job, os.getpid(), MARK


def fails_on_three(job: int) -> int:
    if job == 3:
        raise ValueError("three")
    return job


@pytest.fixture
def marked(monkeypatch):
    monkeypatch.setitem(globals(), "MARK", "changed by the parent")


@pytest.mark.parametrize("method", [m for m in START_METHODS if m in multiprocessing.get_all_start_methods()])
def test_local_pool_starts_workers_the_way_it_is_asked(method, marked):
    ex = LocalExecutor(2, start_method=method)
    try:
        out = list(ex.map(where, range(7)))
    finally:
        ex.close()
    assert ex.start_method == method
    assert sorted(r[0] for r in out) == [k * k for k in range(7)]
    assert os.getpid() not in {r[1] for r in out}  # ran in worker processes
    marks = {r[2] for r in out}
    assert marks == ({"changed by the parent"} if method == "fork" else {"as imported"})


def test_default_start_method_stays_fork_and_make_executor_passes_it_on():
    ex = make_executor("local", 2)
    try:
        assert isinstance(ex, LocalExecutor) and ex.start_method == "fork"
    finally:
        ex.close()
    ex = make_executor("local", 2, start_method="spawn")
    try:
        assert ex.start_method == "spawn" and len(list(ex.map(where, range(3)))) == 3
    finally:
        ex.close()
    assert isinstance(make_executor("local", 1, start_method="spawn"), InlineExecutor)


def test_bad_settings_fail_with_one_line(monkeypatch):
    with pytest.raises(VimoError, match="unknown start method 'thread'.*fork, spawn, forkserver"):
        LocalExecutor(2, start_method="thread")
    with pytest.raises(VimoError, match="unknown start method"):
        make_executor("local", 1, start_method="threads")
    with pytest.raises(VimoError, match="--workers must be >= 1"):
        LocalExecutor(0)
    with pytest.raises(VimoError, match="unknown executor"):
        make_executor("dask", 2)
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])  # as on Windows
    with pytest.raises(VimoError, match="'fork' is not available on this system.*use one of: spawn"):
        LocalExecutor(2, start_method="fork")
    ex = LocalExecutor(1)
    try:
        assert ex.start_method == "spawn"  # the default falls back where fork is missing
    finally:
        ex.close()


def test_map_yields_every_result_with_bounded_submission_and_raises_a_worker_error():
    ex = LocalExecutor(2)
    try:
        submitted = []
        real_submit = ex._pool.submit

        def counting(fn, job):
            submitted.append(job)
            return real_submit(fn, job)

        ex._pool.submit = counting
        it = ex.map(where, range(20))
        first = next(it)
        assert first[0] in {k * k for k in range(20)} and len(submitted) <= 2 * 2 + 1  # not all pickled at once
        rest = list(it)
        assert sorted([first[0]] + [r[0] for r in rest]) == [k * k for k in range(20)]
        with pytest.raises(ValueError, match="three"):
            list(ex.map(fails_on_three, range(5)))
    finally:
        ex.close()
    assert list(InlineExecutor().map(fails_on_three, [1, 2])) == [1, 2]
