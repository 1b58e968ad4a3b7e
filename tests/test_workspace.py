"""The build workspace and its SQLite catalog."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from vimo import catalog as catalog_mod
from vimo.cli import main
from vimo.errors import FormatVersionError, PathEscapeError, WorkspaceError
from vimo.workspace import CATALOG_NAME, CONFIG_NAME, FOLDERS, Workspace, migrate


def _clip(i: int, **extra) -> dict:
    return dict(clip_id=f"interx/G{i:03d}/0000-0120/p1", source="interx", sequence_id=f"G{i:03d}", n_frames=120,
                reactor_features=f"clips/c{i}/reactor.npy", labels={"action": "hug"}, qa={"roundtrip_m": 1e-6},
                licence="Inter-X (non-commercial)", **extra)


@pytest.fixture
def ws(tmp_path):
    w = Workspace.init(tmp_path / "ws")
    yield w
    w.close()


def test_init_creates_everything(ws):
    for folder in FOLDERS:
        assert (ws.root / folder).is_dir()
    cfg = json.loads((ws.root / CONFIG_NAME).read_text())
    assert cfg["format_version"] == catalog_mod.FORMAT_VERSION
    assert ws.catalog.journal_mode() == "wal"
    assert set(ws.catalog.counts()) == {"clips", "videos", "pairs", "rounds", "round_tasks", "annotations", "exports",
                                            "jobs", "releases"}


def test_init_is_idempotent_and_never_wipes(ws):
    ws.catalog.add_clip(**_clip(1))
    again = Workspace.init(ws.root)
    assert again.catalog.counts()["clips"] == 1
    again.close()


def test_round_trip_and_upsert(ws):
    cat = ws.catalog
    cat.add_clip(**_clip(1))
    got = cat.get("clips", "interx/G001/0000-0120/p1")
    assert got["labels"] == {"action": "hug"} and got["qa"]["roundtrip_m"] == 1e-6 and got["status"] == "ok"
    created = got["created_at"]
    cat.add_clip(**_clip(1, status="quarantined", reason="NaN in frame 3"))
    got = cat.get("clips", "interx/G001/0000-0120/p1")
    assert got["status"] == "quarantined" and got["reason"] == "NaN in frame 3"
    assert got["created_at"] == created  # an upsert keeps the creation time
    assert cat.counts()["clips"] == 1
    assert [c["clip_id"] for c in cat.clips(status="ok")] == []


def test_pairs_view_joins_video_and_clip(ws):
    cat = ws.catalog
    cat.add_clip(**_clip(1))
    cat.add_video(video_id="v1", kind="rendered", clip_id="interx/G001/0000-0120/p1", path="videos/hug/v1.mp4",
                  n_frames=120, fps=20.0)
    cat.add_pair(pair_id="p1", video_id="v1", clip_id="interx/G001/0000-0120/p1", broad_category="Human-Human",
                 sub_category="hug", emotion="happily", scores={"rater-1": 4})
    cat.set_pair_status("p1", "accepted", motion_quality=4.5, reaction_plausibility=4.0)
    df = cat.pairs_df()
    assert len(df) == 1
    row = df.iloc[0]
    assert row.video_kind == "rendered" and row.clip_source == "interx" and row.status == "accepted"
    assert row.motion_quality == 4.5 and row.scores == {"rater-1": 4}
    assert list(cat.dataframe("clips").clip_id) == ["interx/G001/0000-0120/p1"]


def test_foreign_keys_and_checks(ws):
    with pytest.raises(WorkspaceError, match="violates"):
        ws.catalog.add_pair(pair_id="p9", video_id="missing", clip_id="missing")
    with pytest.raises(WorkspaceError, match="violates"):
        ws.catalog.add_video(video_id="v9", kind="hologram", path="videos/x.mp4")
    with pytest.raises(WorkspaceError, match="key"):
        ws.catalog.add_clip(source="interx", sequence_id="x")


def test_transaction_rolls_back_as_a_whole(ws):
    with pytest.raises(RuntimeError):
        with ws.catalog.transaction():
            ws.catalog.add_clip(**_clip(1))
            ws.catalog.add_clip(**_clip(2))
            raise RuntimeError("killed mid-way")
    assert ws.catalog.counts()["clips"] == 0


def test_jobs_resume_after_a_kill(ws):
    cat = ws.catalog
    assert cat.enqueue("convert", ["a", "b", "c"]) == 3
    assert cat.enqueue("convert", ["a", "d"]) == 1
    assert cat.claim("convert", "a")
    cat.finish("convert", "a")
    assert cat.claim("convert", "b")  # then the process dies: b stays 'running'
    cat.fail("convert", "c", "NaN in frame 2", quarantine=True)
    assert cat.pending("convert") == ["b", "d"]
    assert not cat.claim("convert", "a")  # done units are skipped
    assert cat.claim("convert", "b")
    assert cat.get("jobs", "convert", "b")["attempts"] == 2
    assert cat.get("jobs", "convert", "c")["reason"] == "NaN in frame 2"


def test_paths_are_relative_and_cannot_escape(ws, tmp_path):
    inside = ws.root / "videos" / "a.mp4"
    assert ws.rel(inside) == "videos/a.mp4"
    assert ws.resolve("videos/a.mp4") == inside.resolve()
    with pytest.raises(PathEscapeError, match="outside"):
        ws.resolve("../elsewhere.npy")
    (tmp_path / "secret").write_text("x")
    (ws.root / "videos" / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(PathEscapeError):
        ws.resolve("videos/link")


def test_not_a_workspace(tmp_path):
    with pytest.raises(WorkspaceError, match="vimo init"):
        Workspace.open(tmp_path)


def _set_version(root, version: int) -> None:
    con = sqlite3.connect(root / CATALOG_NAME)
    con.execute("UPDATE meta SET value=? WHERE key='format_version'", (str(version),))
    con.commit()
    con.close()
    cfg = json.loads((root / CONFIG_NAME).read_text())
    cfg["format_version"] = version
    (root / CONFIG_NAME).write_text(json.dumps(cfg))


def test_older_format_names_the_migrate_command_and_migrates(ws, monkeypatch):
    root = ws.root
    ws.close()
    monkeypatch.setattr(catalog_mod, "FORMAT_VERSION", 2)
    monkeypatch.setattr("vimo.workspace.FORMAT_VERSION", 2)
    with pytest.raises(FormatVersionError, match=f"vimo workspace migrate -w {root}"):
        Workspace.open(root)

    def add_column(conn):
        conn.execute("ALTER TABLE clips ADD COLUMN camera TEXT")

    monkeypatch.setitem(catalog_mod.MIGRATIONS, 1, add_column)
    assert migrate(root) == [1]
    with Workspace.open(root) as w:
        assert w.catalog.format_version() == 2
        w.catalog.add_clip(**_clip(3, camera="aria01"))
        assert w.catalog.get("clips", "interx/G003/0000-0120/p1")["camera"] == "aria01"
    assert migrate(root) == []


def test_newer_format_says_upgrade_vimo(ws):
    root = ws.root
    ws.close()
    _set_version(root, catalog_mod.FORMAT_VERSION + 1)
    with pytest.raises(FormatVersionError, match="upgrade vimo"):
        Workspace.open(root)


def test_concurrent_reader_sees_consistent_snapshots(ws):
    """A reader process polls while this process writes pairs of rows in transactions: it never
    errors ('database is locked') and never sees half a transaction (an odd count)."""
    reader = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sqlite3, time, sys
        con = sqlite3.connect({str(ws.root / CATALOG_NAME)!r}, timeout=30)
        seen, deadline = set(), time.time() + 60
        while time.time() < deadline:
            n = con.execute("SELECT COUNT(*) FROM clips").fetchone()[0]
            seen.add(n)
            if n % 2:
                print("ODD", n); sys.exit(1)
            if n >= 200:
                break
        print("OK", len(seen))
    """)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for i in range(100):
        with ws.catalog.transaction():
            ws.catalog.add_clip(**_clip(2 * i))
            ws.catalog.add_clip(**_clip(2 * i + 1))
    out, err = reader.communicate(timeout=90)
    assert reader.returncode == 0, (out, err)
    assert out.startswith("OK")


def test_cli_init_status_show(tmp_path, capsys):
    root = tmp_path / "w"
    assert main(["init", str(root)]) == 0
    assert main(["workspace", "status", "-w", str(root), "--json"]) == 0
    out = capsys.readouterr().out
    status = json.loads(out[out.index("{"):])
    assert status["counts"]["clips"] == 0 and status["journal_mode"] == "wal"
    assert main(["workspace", "show", "pairs", "-w", str(root)]) == 0
    assert "(no pairs)" in capsys.readouterr().out
    assert main(["workspace", "status", "-w", str(tmp_path / "nothing")]) == 1
    assert "vimo init" in capsys.readouterr().err
