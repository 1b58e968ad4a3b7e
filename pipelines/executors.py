"""Where units of work run: this process, a local process pool (default), or a Ray cluster.

Every executor has one method, `map(fn, jobs)`, yielding fn(job) for every job in completion
order. `fn` must be a module-level function and jobs picklable; results are plain data.

The local pool forks its workers by default (warm imports, no re-import of the caller's main
module). Work that holds native state that does not survive a fork asks for `start_method="spawn"`
(the renderer: a child forked from a process that holds an EGL / llvmpipe context hangs).

Pool workers die with their parent: a `kill -9` of the main process of `vimo convert` / `vimo render`
takes its workers with it (`die_with_parent`), so a re-run never races against orphans still writing.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator, Protocol

from vimo.errors import VimoError

EXECUTORS = ("local", "ray")
START_METHODS = ("fork", "spawn", "forkserver")


class Executor(Protocol):
    def map(self, fn: Callable[[Any], Any], jobs: Iterable[Any]) -> Iterator[Any]: ...

    def close(self) -> None: ...


class InlineExecutor:
    """Runs every job in this process, in order (workers = 1; also what tests step through)."""

    workers = 1

    def map(self, fn: Callable[[Any], Any], jobs: Iterable[Any]) -> Iterator[Any]:
        for job in jobs:
            yield fn(job)

    def close(self) -> None:
        pass


#: linux/prctl.h
PR_SET_PDEATHSIG = 1
#: seconds between two looks of a worker's watchdog at its parent
WATCHDOG_PERIOD_S = 0.5


def die_with_parent(parent_pid: int | None, pdeathsig: bool = True) -> None:
    """Pool worker initializer: end this process when `parent_pid` (the main process) dies; None: when
    the parent it has now dies (forkserver workers are children of the fork server, which itself ends
    with the main process).

    On Linux the kernel sends SIGKILL at the parent's death (prctl PR_SET_PDEATHSIG; `pdeathsig` is
    False when the pool is started from a thread other than the main one, since the signal follows the
    thread that forked). Everywhere a daemon thread also checks every WATCHDOG_PERIOD_S that the parent
    is still this process's parent (an orphan is re-parented) and exits at once when it is not."""
    if pdeathsig and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still applies
    if parent_pid is None:
        parent_pid = os.getppid()
    elif os.getppid() != parent_pid:  # the parent died before the line above ran
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(WATCHDOG_PERIOD_S)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="vimo-die-with-parent", daemon=True).start()


class LocalExecutor:
    """A pool of `workers` processes; at most 2 x workers jobs are in flight, so a long job list is
    never pickled all at once. `start_method` (one of START_METHODS) says how workers start; None
    forks where the OS can (no re-import of the caller's main module, warm imports), else spawns."""

    def __init__(self, workers: int, start_method: str | None = None):
        if workers < 1:
            raise VimoError(f"--workers must be >= 1, got {workers}", fix="pass e.g. --workers 2")
        available = multiprocessing.get_all_start_methods()
        if start_method is None:
            start_method = "fork" if "fork" in available else "spawn"
        elif start_method not in START_METHODS:
            raise VimoError(f"unknown start method {start_method!r}", fix=f"use one of: {', '.join(START_METHODS)}")
        elif start_method not in available:
            raise VimoError(f"start method {start_method!r} is not available on this system",
                            fix=f"use one of: {', '.join(m for m in START_METHODS if m in available)}")
        self.workers = workers
        self.start_method = start_method
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context(start_method), initializer=die_with_parent,
            initargs=(None if start_method == "forkserver" else os.getpid(),
                      threading.current_thread() is threading.main_thread()))

    def map(self, fn: Callable[[Any], Any], jobs: Iterable[Any]) -> Iterator[Any]:
        it = iter(jobs)
        pending = set()
        for job in it:
            pending.add(self._pool.submit(fn, job))
            if len(pending) >= 2 * self.workers:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                nxt = next(it, None)
                if nxt is not None:
                    pending.add(self._pool.submit(fn, nxt))
                yield fut.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Runs jobs as Ray tasks. Connects to `address` (or RAY_ADDRESS); with neither, starts a local
    instance with `workers` CPUs. A Ray instance that is already initialised is reused as is."""

    def __init__(self, workers: int | None = None, address: str | None = None):
        from vimo.extras import require

        self.ray = require("ray", "ray")
        self.workers = workers
        self._started = False
        if not self.ray.is_initialized():
            address = address or os.environ.get("RAY_ADDRESS") or None
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address is None and workers:
                kwargs["num_cpus"] = workers
            self.ray.init(address=address, **kwargs)
            self._started = True

    def map(self, fn: Callable[[Any], Any], jobs: Iterable[Any]) -> Iterator[Any]:
        ray = self.ray
        remote = ray.remote(num_cpus=1)(fn)
        limit = 2 * int(ray.available_resources().get("CPU", 1) or 1) + 2
        it = iter(jobs)
        pending = []
        for job in it:
            pending.append(remote.remote(job))
            if len(pending) >= limit:
                break
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            nxt = next(it, None)
            if nxt is not None:
                pending.append(remote.remote(nxt))
            yield ray.get(done[0])

    def close(self) -> None:
        if self._started:
            self.ray.shutdown()


def make_executor(kind: str, workers: int, ray_address: str | None = None, *,
                  start_method: str | None = None) -> Executor:
    """'local' with workers = 1 runs inline; 'local' with more uses a process pool whose workers
    start by `start_method` (see LocalExecutor); 'ray' uses Ray (its workers are their own processes)."""
    if start_method is not None and start_method not in START_METHODS:
        raise VimoError(f"unknown start method {start_method!r}", fix=f"use one of: {', '.join(START_METHODS)}")
    if kind == "local":
        return InlineExecutor() if workers == 1 else LocalExecutor(workers, start_method)
    if kind == "ray":
        return RayExecutor(workers, ray_address)
    raise VimoError(f"unknown executor {kind!r}", fix=f"use one of: {', '.join(EXECUTORS)}")
