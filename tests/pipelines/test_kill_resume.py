"""Kill -9 and resume, concurrent runs, paths that leave a clip folder.

Real `vimo convert`, `vimo render` and `vimo release build` processes are killed with SIGKILL at
three points each, re-run, and compared with one uninterrupted run: the bytes of every file (hidden
leftovers included) and every catalog row (all columns but timestamps). Killing only the main process
must take its pool workers (and their ffmpeg children) with it; two runs started at once on one
workspace must end like one run; a meta.json naming a file outside its clip folder is invalid.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
from typer.testing import CliRunner

from vimo.atomic import save_npy
from vimo.errors import InputFormatError
from vimo.pipelines.convert import list_clips, validate_clip
from vimo.synthetic import generate_many

#: catalog columns that hold wall-clock times (the only ones allowed to differ between runs)
TIMES = {"created_at", "started_at", "finished_at"}
#: how long a killed run's workers may take to go
WORKERS_GONE_S = 5.0


# ----------------------------------------------------------------------------- helpers

def vimo(*args: str) -> list[str]:
    return [sys.executable, "-m", "vimo", *args]


def run_vimo(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(vimo(*args), capture_output=True, text=True, timeout=timeout)


def start_vimo(*args: str) -> subprocess.Popen:
    """A vimo process whose output goes to files, not pipes: workers that outlive a killed main process
    (the bug these tests catch) hold inherited pipes open, and reading them would hang the test."""
    import tempfile

    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(vimo(*args), stdout=subprocess.DEVNULL, stderr=log, text=True)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def stderr_of(proc: subprocess.Popen) -> str:
    proc.log.seek(0)  # type: ignore[attr-defined]
    return proc.log.read()  # type: ignore[attr-defined]


def kill_when(proc: subprocess.Popen, ready: Callable[[], bool], timeout: float = 90) -> set[int]:
    """SIGKILL the main process of `proc` as soon as `ready()`; returns the descendants it had then."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (rc {proc.returncode}) before the kill point: "
                                 f"{stderr_of(proc)[-2000:]}")
        assert time.monotonic() < deadline, "the kill point was never reached"
        time.sleep(0.01)
    family = descendants(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return family


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a live process, None when it is gone (a zombie counts as gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    state, ppid = text[text.rindex(")") + 2:].split()[:2]
    return None if state in ("Z", "X") else (state, int(ppid))


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc: no psutil)."""
    parents: dict[int, int] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and (st := _stat(int(p.name))) is not None:
            parents[int(p.name)] = st[1]
    found, frontier = set(), {pid}
    while frontier:
        frontier = {c for c, pp in parents.items() if pp in frontier} - found
        found |= frontier
    return found


def survivors(pids: set[int], within: float = WORKERS_GONE_S) -> set[int]:
    deadline = time.monotonic() + within
    while (alive := {p for p in pids if _stat(p) is not None}) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def digest(root: Path, *folders: str) -> dict[str, str]:
    """relative path -> sha256 of every file under `folders` (hidden files included)."""
    out = {}
    for folder in folders:
        for p in sorted((root / folder).rglob("*")):
            if p.is_file():
                out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def rows(ws: Path, table: str) -> list[dict]:
    """Every row of a catalog table, timestamps left out, in primary-key order."""
    con = sqlite3.connect(ws / "catalog.sqlite")
    con.row_factory = sqlite3.Row
    try:
        out = [{k: r[k] for k in r.keys() if k not in TIMES} for r in con.execute(f"SELECT * FROM {table}")]
    finally:
        con.close()
    return sorted(out, key=lambda r: json.dumps(r, sort_keys=True, default=str))


def status(ws: Path) -> dict:
    """`vimo workspace status --json` (in this process: the command only reads)."""
    from vimo.cli.workspace import app

    res = CliRunner().invoke(app, ["status", "-w", str(ws), "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def clip_folders(ws: Path) -> set[str]:
    return {d.name for d in (ws / "clips").iterdir() if d.is_dir() and not d.name.startswith(".")}


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def joints_src(tmp_path_factory) -> Path:
    """10 units: 8 synthetic pairs and 2 single-person files (reactor only)."""
    root = tmp_path_factory.mktemp("joints")
    for x in generate_many(8, seed=11, fps=20):
        save_npy(root / f"{x.id}_actor.npy", x.actor)
        save_npy(root / f"{x.id}_reactor.npy", x.reactor)
    solo = generate_many(2, seed=12, fps=20)
    for i, x in enumerate(solo):
        save_npy(root / f"solo{i}.npy", x.reactor)
    return root


def convert_args(src: Path, ws: Path, workers: int = 2) -> list[str]:
    return ["convert", "joints", str(src), "--workspace", str(ws), "--workers", str(workers)]


@pytest.fixture(scope="module")
def converted(joints_src, tmp_path_factory) -> Path:
    """One uninterrupted `vimo convert` (the reference)."""
    ws = tmp_path_factory.mktemp("reference") / "ws"
    res = run_vimo(*convert_args(joints_src, ws))
    assert res.returncode == 0, res.stderr
    return ws


# ----------------------------------------------------------------------------- convert

def test_catalog_rows_name_the_files_and_checksums_of_each_clip(converted):
    clips = {r["clip_id"]: r for r in rows(converted, "clips")}
    assert len(clips) == 10 and set(clips) == clip_folders(converted)
    solo = [r for r in clips.values() if "solo" in r["clip_id"]]
    assert len(solo) == 2
    for r in clips.values():
        meta = json.loads((converted / "clips" / r["clip_id"] / "meta.json").read_text())
        assert r["checksum"] == meta["files"]["features_reactor"]["sha256"]
        for column, name in (("reactor_features", "features_reactor"), ("actor_features", "features_actor"),
                             ("reactor_joints", "joints_reactor"), ("actor_joints", "joints_actor")):
            if name in meta["files"]:
                assert (converted / r[column]).is_file()
            else:
                assert r[column] is None, (r["clip_id"], column)
    assert all(r["actor_features"] is None and r["actor_joints"] is None for r in solo)
    assert status(converted)["consistency"]["consistent"] is True


@pytest.mark.parametrize("after", [1, 4, 8])
def test_killed_convert_resumes_to_the_files_and_rows_of_one_run(joints_src, converted, tmp_path, after):
    ws = tmp_path / "ws"
    items = ws / "convert" / "joints" / "items"
    proc = start_vimo(*convert_args(joints_src, ws))
    family = kill_when(proc, lambda: items.is_dir() and len(list(items.glob("*.json"))) >= after)
    assert not survivors(family), "workers outlived the killed main process"
    # what `vimo workspace status` says after the kill is what the disk and the catalog hold
    st = status(ws)["consistency"]
    registered = {r["clip_id"] for r in rows(ws, "clips")}
    assert set(st["clips_not_in_catalog"]) == {f"clips/{c}: on disk, not in the catalog"
                                               for c in clip_folders(ws) - registered}
    assert st["consistent"] is (clip_folders(ws) == registered and not st["clips_differ"])
    res = run_vimo(*convert_args(joints_src, ws))
    assert res.returncode == 0, res.stderr
    assert digest(ws, "clips", "convert/joints/items", "quarantine") == \
        digest(converted, "clips", "convert/joints/items", "quarantine")
    for table in ("clips", "jobs"):
        assert rows(ws, table) == rows(converted, table), table
    st = status(ws)["consistency"]
    assert st["consistent"] and st["leftovers"] == [] and st["checked"]["clips"] == 10


def test_leftovers_of_a_killed_convert_are_removed_by_the_next_run(joints_src, converted, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(converted, ws)
    victim = sorted(clip_folders(ws))[0]
    shutil.copytree(ws / "clips" / victim, ws / "clips" / f".tmp-{victim}-999999")
    (ws / "convert" / "joints" / "items" / ".x.json.abc123.tmp").write_text("{")
    assert len(status(ws)["consistency"]["leftovers"]) == 2
    res = run_vimo(*convert_args(joints_src, ws))
    assert res.returncode == 0, res.stderr
    assert status(ws)["consistency"]["leftovers"] == []
    assert digest(ws, "clips") == digest(converted, "clips")


def test_workers_die_with_a_killed_vimo_convert(tmp_path):
    src = tmp_path / "src"
    for x in generate_many(24, seed=5, fps=20):
        save_npy(src / f"{x.id}_actor.npy", x.actor)
        save_npy(src / f"{x.id}_reactor.npy", x.reactor)
    proc = start_vimo(*convert_args(src, tmp_path / "ws", workers=3))
    family = kill_when(proc, lambda: len(descendants(proc.pid)) >= 3)
    assert len(family) >= 3
    assert survivors(family) == set()


# ----------------------------------------------------------------------------- render

RENDER = ("--size", "64x48", "--fps", "10", "--limit", "2")


@pytest.fixture(scope="module")
def rendered(converted, tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("rendered") / "ws"
    shutil.copytree(converted, ws)
    res = run_vimo("render", "-w", str(ws), *RENDER)
    assert res.returncode == 0, res.stderr
    assert len(list((ws / "videos").rglob("*.mp4"))) == 2
    return ws


def _mp4s(ws: Path) -> tuple[int, int]:
    """(finished videos, temporary files) under videos/."""
    files = [p.name for p in (ws / "videos").rglob("*.mp4")]
    return sum(not n.startswith(".") for n in files), sum(n.endswith(".tmp.mp4") for n in files)


#: where a render is killed: holding the lock before any video; encoding the first; encoding the second
RENDER_KILLS = {"started": lambda ws: _writer(ws) is not None, "first": lambda ws: _mp4s(ws)[1] >= 1,
                "second": lambda ws: _mp4s(ws)[0] >= 1 and _mp4s(ws)[1] >= 1}


def _writer(ws: Path):
    from vimo.workspace import current_writer

    return current_writer(ws)


@pytest.mark.parametrize("point", list(RENDER_KILLS))
def test_killed_render_resumes_to_the_files_and_rows_of_one_run(converted, rendered, tmp_path, point):
    ws = tmp_path / "ws"
    shutil.copytree(converted, ws)
    proc = start_vimo("render", "-w", str(ws), *RENDER)
    family = kill_when(proc, lambda: RENDER_KILLS[point](ws))
    assert not survivors(family)
    if point != "started":  # killed while a video was being encoded: its temporary file stays behind
        assert [p for p in status(ws)["consistency"]["leftovers"] if p.endswith(".tmp.mp4")]
    res = run_vimo("render", "-w", str(ws), *RENDER)
    assert res.returncode == 0, res.stderr
    assert digest(ws, "videos") == digest(rendered, "videos")
    for table in ("videos", "jobs"):
        assert rows(ws, table) == rows(rendered, table), table
    st = status(ws)["consistency"]
    assert st["consistent"] and st["leftovers"] == []


def test_render_workers_and_their_encoders_die_with_a_killed_vimo_render(converted, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(converted, ws)
    proc = start_vimo("render", "-w", str(ws), "--size", "64x48", "--workers", "2")
    family = kill_when(proc, lambda: _mp4s(ws)[1] >= 1, timeout=120)  # a worker is encoding
    assert len(family) >= 2
    assert survivors(family) == set()


def test_a_temporary_mp4_of_a_live_process_is_kept(converted, rendered, tmp_path):
    from vimo.pipelines.video.render import remove_video_leftovers

    ws = tmp_path / "ws"
    shutil.copytree(rendered, ws)
    mine = ws / "videos" / f".a.{os.getpid()}.tmp.mp4"
    dead = ws / "videos" / ".b.999999999.tmp.mp4"
    mine.write_bytes(b"x")
    dead.write_bytes(b"x")
    assert remove_video_leftovers(ws) == [dead]
    assert mine.exists() and not dead.exists()


# ----------------------------------------------------------------------------- release build

@pytest.fixture(scope="module")
def release_ws(tmp_path_factory) -> dict:
    """A workspace with accepted pairs (tests/dataset), its recipe, a pristine copy, and the files and
    rows of one uninterrupted build. Every test rebuilds at the same path (the recipe, which names the
    workspace, is part of the release)."""
    from tests.dataset.conftest import build_workspace, write_recipe

    root = tmp_path_factory.mktemp("release")
    ws = build_workspace(root / "ws")
    recipe = write_recipe(root / "r.toml", ws)
    pristine = root / "pristine"
    shutil.copytree(ws, pristine)
    res = run_vimo("release", "build", str(recipe))
    assert res.returncode == 0, res.stderr
    return {"ws": ws, "recipe": recipe, "pristine": pristine, "files": digest(ws, "releases"),
            "rows": rows(ws, "releases")}


@pytest.mark.parametrize("share", [0.0, 0.4, 0.8])
def test_killed_release_build_resumes_to_the_files_and_rows_of_one_run(release_ws, share):
    ws, recipe = release_ws["ws"], release_ws["recipe"]
    shutil.rmtree(ws)
    shutil.copytree(release_ws["pristine"], ws)
    total = len(release_ws["files"])

    def staged() -> bool:
        stages = list((ws / "releases").glob(".*.staging"))
        return bool(stages) and sum(1 for p in stages[0].rglob("*") if p.is_file()) >= share * total

    proc = start_vimo("release", "build", str(recipe))
    kill_when(proc, staged)
    assert [p for p in status(ws)["consistency"]["leftovers"] if p.endswith(".staging")]
    res = run_vimo("release", "build", str(recipe))
    assert res.returncode == 0, res.stderr
    assert digest(ws, "releases") == release_ws["files"]
    assert rows(ws, "releases") == release_ws["rows"]
    st = status(ws)["consistency"]
    assert st["consistent"] and st["leftovers"] == []


# ----------------------------------------------------------------------------- concurrency

def test_two_converts_at_once_end_like_one(joints_src, converted, tmp_path):
    """The second run to reach the workspace stops at once with one line naming the first; the
    workspace then equals one run's."""
    ws = tmp_path / "ws"
    a, b = start_vimo(*convert_args(joints_src, ws, workers=1)), start_vimo(*convert_args(joints_src, ws, workers=1))
    outs = {p.pid: (p.wait(timeout=120), stderr_of(p)) for p in (a, b)}
    assert sorted(rc for rc, _ in outs.values()) == [0, 1], outs
    (winner,) = [pid for pid, (rc, _) in outs.items() if rc == 0]
    (loser_err,) = [err for rc, err in outs.values() if rc == 1]
    assert f"another vimo convert (pid {winner}) is using this workspace" in " ".join(loser_err.split())
    assert "Traceback" not in loser_err
    assert digest(ws, "clips", "convert/joints/items") == digest(converted, "clips", "convert/joints/items")
    for table in ("clips", "jobs"):
        assert rows(ws, table) == rows(converted, table), table
    assert status(ws)["consistency"]["consistent"]


def test_a_held_lock_refuses_other_writers_and_is_reentrant(converted, tmp_path):
    from vimo.workspace import WorkspaceBusyError, current_writer, writer_lock

    ws = tmp_path / "ws"
    shutil.copytree(converted, ws)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from vimo.workspace import writer_lock\n"
                               "with writer_lock(sys.argv[1], 'render'):\n print('held', flush=True); time.sleep(60)",
                               str(ws)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert current_writer(ws) == {"pid": holder.pid, "command": "render"}
        with pytest.raises(WorkspaceBusyError, match=rf"another vimo render \(pid {holder.pid}\)"):
            with writer_lock(ws, "convert"):
                pass
        res = run_vimo("render", "-w", str(ws), "--size", "64x48")
        assert res.returncode == 1 and f"another vimo render (pid {holder.pid})" in " ".join(res.stderr.split())
    finally:
        holder.kill()
        holder.wait()
    assert current_writer(ws) is None  # the kernel released the killed holder's lock
    with writer_lock(ws, "convert"):
        with writer_lock(ws, "render"):  # the same process may nest its commands
            assert current_writer(ws) == {"pid": os.getpid(), "command": "convert"}
        assert json.loads((ws / "vimo.lock").read_text())["pid"] == os.getpid()


# ----------------------------------------------------------------------------- paths in meta.json

def test_a_clip_naming_a_file_outside_its_folder_is_invalid(converted, tmp_path):
    from vimo.cli.clips import app

    ws = tmp_path / "ws"
    shutil.copytree(converted, ws)
    clip = ws / "clips" / sorted(clip_folders(ws))[0]
    meta = json.loads((clip / "meta.json").read_text())
    outside = tmp_path / "outside.npy"
    shutil.copy(clip / "features_reactor.npy", outside)  # same bytes: only the path gives it away
    meta["files"]["features_reactor"]["path"] = "../../../outside.npy"
    assert (clip / meta["files"]["features_reactor"]["path"]).resolve() == outside.resolve()
    (clip / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(InputFormatError, match="outside the clip folder"):
        validate_clip(clip)
    listed = {c["clip_id"]: c for c in list_clips(ws)}
    assert "outside the clip folder" in listed[clip.name]["error"]
    assert sum("error" in c for c in listed.values()) == 1
    out = CliRunner().invoke(app, ["list", "--workspace", str(ws), "--json"])
    assert out.exit_code == 0
    assert [c["clip_id"] for c in json.loads(out.stdout) if "error" in c] == [clip.name]
    # a symlink to the same file escapes as well
    meta["files"]["features_reactor"]["path"] = "features_reactor.npy"
    (clip / "meta.json").write_text(json.dumps(meta))
    (clip / "features_reactor.npy").unlink()
    (clip / "features_reactor.npy").symlink_to(outside)
    with pytest.raises(InputFormatError, match="outside the clip folder"):
        validate_clip(clip)
