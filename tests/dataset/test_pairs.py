"""Source pairs: which videos become pairs, idempotence, labels, and the CLI."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from vimo.cli.pairs import app
from vimo.pairs import assemble_pairs, source_pair_id
from vimo.pipelines.samples.video import write_synthetic_workspace
from vimo.taxonomy import Taxonomy
from vimo.workspace import Workspace


def _videos(ws) -> list[str]:
    clips = [c["clip_id"] for c in ws.catalog.clips()]
    a, b = clips[0], clips[1]
    rows = [  # (video_id, kind, clip, status, subject)
        ("a-actor", "rendered", a, "ok", "actor"),
        ("a-reaction", "rendered", a, "ok", "reactor"),
        ("a-restyled-pending", "restyled", a, "pending_screening", None),
        ("a-restyled-usable", "restyled", a, "usable", None),
        ("b-real", "real", b, "ok", None),
        ("b-restyled-bad", "restyled", b, "unusable", None),
        ("loose", "external", None, "ok", None),
    ]
    for vid, kind, clip, status, subject in rows:
        prov = {"subject": subject} if subject else {}
        ws.catalog.add_video(video_id=vid, kind=kind, clip_id=clip, path=f"videos/{vid}.mp4", status=status,
                             provenance=prov)
    return clips


def test_assemble_pairs_chooses_the_input_videos(tmp_path):
    root = write_synthetic_workspace(tmp_path / "ws", kinds=("wave", "push"))
    with Workspace.open(root) as ws:
        clips = _videos(ws)
        s = assemble_pairs(ws)
        assert sorted(s.added) == sorted(source_pair_id(v) for v in ("a-actor", "a-restyled-usable", "b-real"))
        assert s.skipped == {"rendered reaction (shown in rating tasks, not an input video)": 1,
                             "video status pending_screening": 1, "video status unusable": 1,
                             "video kind external": 1}
        pairs = {p["video_id"]: p for p in ws.catalog.pairs()}
        assert pairs["b-real"]["clip_id"] == clips[1] and pairs["a-actor"]["clip_id"] == clips[0]
        assert {p["status"] for p in pairs.values()} == {"candidate"}
        assert {p["origin"] for p in pairs.values()} == {"source"}
        tax = Taxonomy.for_workspace(root)
        for p in pairs.values():
            clip = ws.catalog.get("clips", p["clip_id"])
            label = tax.label_for(clip["source"], clip["labels"])
            assert p["sub_category"] == (label.sub_category if label else None)
        # a rating decided a pair; a re-run keeps it and adds the newly screened video only
        ws.catalog.set_pair_status(source_pair_id("a-actor"), "accepted", motion_quality=4.5,
                                   reaction_plausibility=4.0)
        ws.catalog.upsert("videos", {"video_id": "a-restyled-pending", "status": "usable"})
        again = assemble_pairs(ws)
        assert again.added == [source_pair_id("a-restyled-pending")] and again.existing == 3
        kept = ws.catalog.get("pairs", source_pair_id("a-actor"))
        assert kept["status"] == "accepted" and kept["motion_quality"] == 4.5


def test_assemble_filters_and_cli(tmp_path):
    root = write_synthetic_workspace(tmp_path / "ws", kinds=("wave", "push"))
    with Workspace.open(root) as ws:
        _videos(ws)
        # a clip flagged by QA is left out unless asked for
        clip_b = ws.catalog.get("videos", "b-real")["clip_id"]
        ws.catalog.upsert("clips", {"clip_id": clip_b, "status": "flagged"})
    runner = CliRunner()
    res = runner.invoke(app, ["assemble", "--workspace", str(root), "--kind", "real", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["added"] == 0 and summary["skipped"]["clip status flagged"] == 1
    res = runner.invoke(app, ["assemble", "--workspace", str(root), "--kind", "real", "--allow-flagged"])
    assert res.exit_code == 0 and "1 pairs added" in res.output, res.output
    res = runner.invoke(app, ["list", "--workspace", str(root), "--json"])
    rows = json.loads(res.output)
    assert [r["video_id"] for r in rows] == ["b-real"]
    res = runner.invoke(app, ["list", "--workspace", str(root), "--status", "accepted"])
    assert res.exit_code == 0 and res.output.strip().endswith("0 pairs")
