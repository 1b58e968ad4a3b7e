"""How many threads torch's intra-op pool gets, and why (`vimo info` prints it; `vimo train`, `vimo bench`
and `vimo generate` apply it before any torch work).

Torch sizes its pool once, at import, to the CPUs it sees. On a machine whose cores other processes keep
busy, those threads wait for each other at every parallel operator (OpenMP barriers), and a run gets much
less than its share of the CPU. The plan, in order of precedence:

1. `VIMO_THREADS=N`: exactly N threads;
2. `OMP_NUM_THREADS=N` (the first number of a list): N threads, as OpenMP and torch read it;
3. otherwise the cores the process may use: its CPU affinity (`taskset`, cpusets), capped by a cgroup CPU
   quota (containers), shared among `workers` processes (a process pool, or torchrun's LOCAL_WORLD_SIZE); at
   least 1. With `VIMO_THREADS=load`, also less the cores other processes keep busy (sampled over a fraction
   of a second when the plan is made). That is opt-in: float sums depend on the thread count, so a count that
   follows the load makes a resumed or repeated run differ from the first (measured: a resume after a kill no
   longer matched bit for bit, and the CI's learning bench trained a different evaluator).
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from vimo.errors import VimoError

OVERRIDE = "VIMO_THREADS"
#: VIMO_THREADS=load: subtract the cores other processes keep busy (opt-in; see the module docstring)
LOAD = "load"
OMP = "OMP_NUM_THREADS"
#: how long the CPUs are watched to tell how many of them other processes keep busy
SAMPLE_SECONDS = 0.25


@dataclass(frozen=True)
class ThreadPlan:
    """The intra-op thread count for torch and what it was derived from."""

    threads: int
    affinity: int
    """CPUs in the process's affinity mask"""
    quota: float | None = None
    """cgroup CPU quota in cores (None: no quota)"""
    busy: float | None = None
    """cores of the affinity mask kept busy by other processes when sampled (None: not sampled)"""
    workers: int = 1
    """processes sharing the cores"""
    source: str = "cores"
    """'VIMO_THREADS', 'OMP_NUM_THREADS' or 'cores'"""
    omp_num_threads: str | None = None
    """OMP_NUM_THREADS as found in the environment"""

    def describe(self) -> str:
        """'2 (CPU affinity 2 cores; OMP_NUM_THREADS unset)' and the like."""
        cores = f"CPU affinity {self.affinity} core{'s' if self.affinity != 1 else ''}"
        if self.quota is not None:
            cores += f", cgroup quota {self.quota:g} cores"
        if self.busy is not None and self.source == "cores":
            cores += f", {self.busy:.1f} busy with other processes"
        if self.workers > 1 and self.source == "cores":
            cores += f", shared by {self.workers} worker processes"
        omp = f"{OMP}={self.omp_num_threads}" if self.omp_num_threads is not None else f"{OMP} unset"
        if self.source == OVERRIDE:
            return f"{self.threads} ({OVERRIDE}={self.threads}; {cores}; {omp})"
        if self.source == OMP:
            return f"{self.threads} ({omp}; {cores})"
        return f"{self.threads} ({cores}; {omp})"


def _count(environ: Mapping[str, str], name: str) -> int | None:
    raw = environ.get(name)
    if raw is None or not raw.strip() or (name == OVERRIDE and raw.strip().lower() == LOAD):
        return None
    first = raw.split(",")[0].strip()
    if not first.isdigit() or int(first) < 1:
        raise VimoError(f"environment variable {name}={raw!r} is not a positive thread count",
                        fix=f"set {name} to a number such as 2" + (f" (or {LOAD})" if name == OVERRIDE else "")
                            + ", or unset it")
    return int(first)


def plan_threads(affinity: int, *, quota: float | None = None, busy: float | None = None, workers: int = 1,
                 environ: Mapping[str, str] | None = None) -> ThreadPlan:
    """The thread plan for a process allowed `affinity` CPUs (see the module docstring for the rules)."""
    env = os.environ if environ is None else environ
    workers = max(1, int(workers))
    common = dict(affinity=affinity, quota=quota, busy=busy, workers=workers, omp_num_threads=env.get(OMP))
    pinned = _count(env, OVERRIDE)
    if pinned is not None:
        return ThreadPlan(pinned, source=OVERRIDE, **common)
    omp = _count(env, OMP)
    if omp is not None:
        return ThreadPlan(omp, source=OMP, **common)
    cores = float(affinity)
    if quota is not None:
        cores = min(cores, quota)
    if busy is not None:
        cores = min(cores, affinity - busy)
    return ThreadPlan(max(1, math.floor(cores / workers + 0.5)), **common)


# ----------------------------------------------------------------------------------- what the machine says
def cpu_affinity() -> set[int]:
    """CPU ids this process may run on (all CPUs where the OS has no affinity call)."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


def cgroup_quota(root: str | Path = "/sys/fs/cgroup") -> float | None:
    """The cgroup CPU quota in cores (cgroup v2 cpu.max, else v1 cpu.cfs_quota_us), None when there is none."""
    root = Path(root)
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    for folder in ("cpu", "cpu,cpuacct"):
        try:
            quota_us = int((root / folder / "cpu.cfs_quota_us").read_text())
            period_us = int((root / folder / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us
    return None


def _cpu_times(stat: str = "/proc/stat") -> dict[int, tuple[int, int]]:
    """cpu id -> (idle jiffies incl. iowait, total jiffies)."""
    out = {}
    for line in Path(stat).read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            values = [int(v) for v in fields[:8]]
            out[int(name[3:])] = (values[3] + values[4], sum(values))
    return out


def busy_cores(cpus: set[int], seconds: float = SAMPLE_SECONDS) -> float | None:
    """How many of `cpus` other processes keep busy, from /proc/stat over `seconds` (this process sleeps
    meanwhile); None where /proc/stat cannot be read."""
    try:
        before = _cpu_times()
        time.sleep(seconds)
        after = _cpu_times()
    except (OSError, ValueError, IndexError):
        return None
    busy = 0.0
    for cpu in cpus:
        if cpu not in before or cpu not in after:
            continue
        idle = after[cpu][0] - before[cpu][0]
        total = after[cpu][1] - before[cpu][1]
        if total > 0:
            busy += 1.0 - idle / total
    return busy


def current_plan(workers: int | None = None, *, measure_load: bool | None = None) -> ThreadPlan:
    """The thread plan of this process now: its affinity, cgroup quota and (when `measure_load`, by default
    when VIMO_THREADS=load, and nothing in the environment fixes the count) the cores other processes keep
    busy. `workers` defaults to torchrun's LOCAL_WORLD_SIZE, else 1."""
    if measure_load is None:
        measure_load = os.environ.get(OVERRIDE, "").strip().lower() == LOAD
    if workers is None:
        workers = _count(os.environ, "LOCAL_WORLD_SIZE") or 1
    cpus = cpu_affinity()
    fixed = _count(os.environ, OVERRIDE) is not None or _count(os.environ, OMP) is not None
    busy = busy_cores(cpus) if measure_load and not fixed else None
    return plan_threads(len(cpus), quota=cgroup_quota(), busy=busy, workers=workers)


_applied: dict[int | None, ThreadPlan] = {}


def configure_torch_threads(workers: int | None = None, *, measure_load: bool | None = None) -> ThreadPlan:
    """Size torch's intra-op pool by `current_plan` (once per process and `workers`; later calls return the
    same plan). Call it where torch work starts; a worker of a pool of N processes passes workers=N. Without
    torch installed the plan is returned and nothing is set."""
    if workers in _applied:
        return _applied[workers]
    plan = current_plan(workers, measure_load=measure_load)
    try:
        import torch
    except ImportError:
        return plan
    torch.set_num_threads(plan.threads)
    _applied[workers] = plan
    return plan
