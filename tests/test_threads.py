"""vimo.threads: torch's intra-op threads follow the CPU affinity, OMP_NUM_THREADS / VIMO_THREADS override it,
busy cores and worker processes shrink it, and `vimo info` says what it chose and why."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import vimo
from vimo.errors import VimoError
from vimo.threads import busy_cores, cgroup_quota, cpu_affinity, plan_threads

#: the folder holding the vimo package under test, so that a subprocess imports the same code
SOURCE_ROOT = str(Path(vimo.__file__).resolve().parents[1])

_CHILD = textwrap.dedent("""
    import json, os, sys
    os.sched_setaffinity(0, set(json.loads(sys.argv[1])))
    import torch
    from vimo.threads import configure_torch_threads
    plan = configure_torch_threads(measure_load=False)
    print(json.dumps({"plan": plan.threads, "torch": torch.get_num_threads(), "why": plan.describe()}))
""")


def _child(cpus: set[int], **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "VIMO_THREADS")}
    environ.update(env, PYTHONPATH=SOURCE_ROOT + os.pathsep + environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(sorted(cpus))], capture_output=True, text=True,
                          env=environ, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_thread_count_follows_a_restricted_affinity():
    allowed = sorted(cpu_affinity())
    for cpus in ({allowed[0]}, set(allowed)):
        got = _child(cpus)
        assert got["plan"] == got["torch"] == len(cpus)
        assert f"CPU affinity {len(cpus)} core" in got["why"] and "OMP_NUM_THREADS unset" in got["why"]


def test_omp_num_threads_and_vimo_threads_override_the_affinity():
    one = {sorted(cpu_affinity())[0]}
    got = _child(one, OMP_NUM_THREADS="3")
    assert got["plan"] == got["torch"] == 3 and got["why"] == "3 (OMP_NUM_THREADS=3; CPU affinity 1 core)"
    got = _child(one, OMP_NUM_THREADS="3", VIMO_THREADS="2")
    assert got["plan"] == got["torch"] == 2 and got["why"].startswith("2 (VIMO_THREADS=2;")


def test_busy_cores_workers_and_quota_shrink_the_plan():
    assert plan_threads(2, environ={}).threads == 2
    assert plan_threads(2, busy=1.0, environ={}).threads == 1
    assert plan_threads(2, busy=0.2, environ={}).threads == 2
    assert plan_threads(8, busy=7.9, environ={}).threads == 1  # never 0
    assert plan_threads(8, workers=4, environ={}).threads == 2
    assert plan_threads(2, workers=3, environ={}).threads == 1  # a pool of 3 on 2 cores: 1 thread each
    assert plan_threads(16, quota=2.0, environ={}).threads == 2
    assert plan_threads(2, busy=1.0, environ={"OMP_NUM_THREADS": "4,1"}).threads == 4
    plan = plan_threads(2, busy=1.3, environ={})
    assert plan.describe() == "1 (CPU affinity 2 cores, 1.3 busy with other processes; OMP_NUM_THREADS unset)"
    with pytest.raises(VimoError, match="VIMO_THREADS='many' is not a positive thread count"):
        plan_threads(2, environ={"VIMO_THREADS": "many"})


def test_cgroup_quota_v2_and_v1(tmp_path):
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "cpu.max").write_text("150000 100000\n")
    assert cgroup_quota(tmp_path / "v2") == 1.5
    (tmp_path / "v2" / "cpu.max").write_text("max 100000\n")
    assert cgroup_quota(tmp_path / "v2") is None
    v1 = tmp_path / "v1" / "cpu,cpuacct"
    v1.mkdir(parents=True)
    (v1 / "cpu.cfs_quota_us").write_text("200000\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_quota(tmp_path / "v1") == 2.0
    (v1 / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_quota(tmp_path / "v1") is None


def test_a_process_spinning_on_a_cpu_counts_as_busy():
    cpu = sorted(cpu_affinity())[0]
    spin = subprocess.Popen([sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"])
    try:
        busy = busy_cores({cpu}, seconds=0.5)
    finally:
        spin.kill()
        spin.wait()
    assert busy is not None and busy >= 0.5


def test_vimo_info_prints_the_threads_and_why(monkeypatch):
    from vimo.cli.info import info

    app = typer.Typer()
    app.command("info")(info)
    app.command("other")(lambda: None)
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    monkeypatch.delenv("VIMO_THREADS", raising=False)
    n = len(cpu_affinity())
    res = CliRunner().invoke(app, ["info", "--no-egl"])
    assert res.exit_code == 0, res.output
    assert f"torch threads: 5 (OMP_NUM_THREADS=5; CPU affinity {n} core" in res.stdout
    data = json.loads(CliRunner().invoke(app, ["info", "--no-egl", "--json"]).stdout)
    assert data["torch_threads"]["threads"] == 5 and data["torch_threads"]["source"] == "OMP_NUM_THREADS"
    monkeypatch.setenv("VIMO_THREADS", "1")
    res = CliRunner().invoke(app, ["info", "--no-egl"])
    assert "torch threads: 1 (VIMO_THREADS=1;" in res.stdout


def test_the_load_is_measured_only_when_asked(monkeypatch):
    """A thread count that follows the load makes repeated and resumed runs differ (float sums depend on it):
    by default the plan ignores busy cores; VIMO_THREADS=load subtracts them."""
    import vimo.threads as threads

    monkeypatch.setattr(threads, "busy_cores", lambda cpus, seconds=threads.SAMPLE_SECONDS: float(len(cpus)))
    monkeypatch.setattr(threads, "cpu_affinity", lambda: {0, 1})
    monkeypatch.setattr(threads, "cgroup_quota", lambda: None)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("VIMO_THREADS", raising=False)
    assert threads.current_plan().threads == 2 and threads.current_plan().busy is None
    monkeypatch.setenv("VIMO_THREADS", "load")
    plan = threads.current_plan()
    assert plan.threads == 1 and plan.busy == 2.0
    monkeypatch.setenv("VIMO_THREADS", "lots")
    with pytest.raises(VimoError, match="VIMO_THREADS='lots' is not a positive thread count"):
        threads.current_plan()
