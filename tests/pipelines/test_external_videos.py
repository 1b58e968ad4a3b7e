"""`vimo videos add`: real small files written by ffmpeg in the test (good, re-encodable, duplicate, truncated,
unlabelled, licence-less, mislabelled) imported from a folder and from a CSV manifest."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vimo.errors import InputFormatError
from vimo.pipelines.video import encode
from vimo.pipelines.video.external import ImportOptions, import_videos, licence_redistributable, video_id_for
from vimo.atomic import sha256_file
from vimo.taxonomy import Taxonomy, TaxonomyError
from vimo.workspace import Workspace


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def make_video(path: Path, *, pattern: str = "testsrc", size: str = "96x64", fps: int = 20, seconds: float = 1.0,
               codec: tuple[str, ...] = ("-c:v", "libx264", "-pix_fmt", "yuv420p")) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([_ffmpeg(), "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"{pattern}=size={size}:rate={fps}", "-t", str(seconds), *codec, str(path)], check=True)
    return path


def sidecar(video: Path, **labels: str) -> None:
    video.with_name(video.name + ".json").write_text(json.dumps(labels))


@pytest.fixture()
def ws(tmp_path) -> Path:
    Workspace.init(tmp_path / "ws").close()
    return tmp_path / "ws"


@pytest.fixture()
def folder(tmp_path) -> Path:
    """good.mp4 (H.264 yuv420p, 20 frames at 20 fps), same/copy.mp4 (the same bytes), clip.webm (VP8, 30 frames
    at 15 fps), odd.mp4 (H.264 yuv444p, 97x65), broken.mp4 (a 2 s H.264 file cut in half), unlabelled.mp4,
    nolicence.mp4, typo.mp4 (a sub-category that does not exist)."""
    d = tmp_path / "clips"
    good = make_video(d / "good.mp4")
    sidecar(good, sub_category="dog_approaching", licence="CC-BY-4.0", emotion="happily", source_url="https://x/1")
    (d / "same").mkdir()
    shutil.copyfile(good, d / "same" / "copy.mp4")
    sidecar(d / "same" / "copy.mp4", sub_category="dog_approaching", licence="CC-BY-4.0")
    webm = make_video(d / "clip.webm", pattern="testsrc2", fps=15, seconds=2.0,
                      codec=("-c:v", "libvpx", "-b:v", "200k"))
    sidecar(webm, sub_category="Automobile rushing towards", licence="proprietary", note="dashcam")
    odd = make_video(d / "odd.mp4", pattern="mandelbrot", size="97x65",
                     codec=("-c:v", "libx264", "-pix_fmt", "yuv444p"))
    sidecar(odd, sub_category="lion_approaching", licence="CC-BY-NC-4.0")
    whole = make_video(tmp_path / "whole.mp4", pattern="testsrc2", seconds=2.0,
                       codec=("-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart"))
    data = whole.read_bytes()
    (d / "broken.mp4").write_bytes(data[: len(data) // 2])
    sidecar(d / "broken.mp4", sub_category="explosion", licence="CC0-1.0")
    sidecar(make_video(d / "unlabelled.mp4", pattern="smptebars"), licence="CC0-1.0")
    sidecar(make_video(d / "nolicence.mp4", pattern="rgbtestsrc"), sub_category="explosion")
    sidecar(make_video(d / "typo.mp4", pattern="yuvtestsrc"), sub_category="doggo_approaching", licence="CC0-1.0")
    return d


def test_a_folder_is_imported_checked_deduplicated_and_quarantined(ws, folder):
    summary = import_videos(ImportOptions(src=folder, workspace=ws))
    status = {r.unit: r for r in summary.results}
    assert {u: r.status for u, r in status.items()} == {
        "broken.mp4": "quarantined", "same/copy.mp4": "duplicate", "good.mp4": "imported",
        "nolicence.mp4": "quarantined",
        "clip.webm": "imported", "odd.mp4": "imported", "typo.mp4": "quarantined", "unlabelled.mp4": "quarantined"}
    assert "not decodable" in status["broken.mp4"].reason and "0x" not in status["broken.mp4"].reason
    assert "no licence" in status["nolicence.mp4"].reason
    assert "no sub-category" in status["unlabelled.mp4"].reason
    assert "unknown sub-category 'doggo_approaching'" in status["typo.mp4"].reason
    assert "did you mean dog_approaching" in status["typo.mp4"].reason
    good_id = video_id_for(sha256_file(folder / "good.mp4"))
    assert status["same/copy.mp4"].video_id == status["good.mp4"].video_id == good_id
    with Workspace.open(ws) as w:
        videos = {v["video_id"]: v for v in w.catalog.query("videos")}
        assert set(videos) == {good_id, status["clip.webm"].video_id, status["odd.mp4"].video_id}
        good, webm, odd = (videos[good_id], videos[status["clip.webm"].video_id], videos[status["odd.mp4"].video_id])
        # copied as is: same bytes, 20 frames of 96x64 at 20 fps
        assert sha256_file(w.resolve(good["path"])) == sha256_file(folder / "good.mp4") == good["checksum"]
        assert (good["kind"], good["status"], good["clip_id"], good["licence"]) == ("external", "ok", None, "CC-BY-4.0")
        assert (good["n_frames"], good["fps"], good["width"], good["height"]) == (20, 20.0, 96, 64)
        assert good["path"] == f"videos/external/dog_approaching/{good_id}.mp4"
        assert good["provenance"]["labels"] == {"broad_category": "Animal-Human", "sub_category": "dog_approaching",
                                                "emotion": "happily"}
        assert good["provenance"]["reencoded"] == [] and good["provenance"]["redistributable"] is True
        # re-encoded: VP8 in webm -> H.264 yuv420p mp4, all 30 frames at 15 fps kept
        stored = encode.probe(w.resolve(webm["path"]))
        assert (stored.codec, stored.pix_fmt, stored.width, stored.height) == ("h264", "yuv420p", 96, 64)
        assert (stored.n_frames, stored.fps) == (30, 15.0) and (webm["n_frames"], webm["fps"]) == (30, 15.0)
        assert webm["provenance"]["reencoded"] == ["container .webm", "codec vp8"]
        assert webm["provenance"]["labels"]["sub_category"] == "automobile_rush_towards"
        assert webm["provenance"]["redistributable"] is False and webm["provenance"]["note"] == "dashcam"
        # yuv444p with odd sides -> yuv420p cut to even sides
        assert odd["provenance"]["reencoded"] == ["pixel format yuv444p", "odd size 97x65"]
        assert (odd["width"], odd["height"], odd["n_frames"]) == (96, 64, 20)
        assert encode.probe(w.resolve(odd["path"])).pix_fmt == "yuv420p"
        jobs = {j["unit"]: j for j in w.catalog.jobs("videos:external")}
        assert sorted(u for u, j in jobs.items() if j["status"] == "quarantined") == [
            "clips:broken.mp4", "clips:nolicence.mp4", "clips:typo.mp4", "clips:unlabelled.mp4"]
    reasons = {p.name: json.loads(p.read_text())["reason"] for p in (ws / "quarantine" / "external").glob("*.json")}
    assert set(reasons) == {"broken.mp4.json", "nolicence.mp4.json", "typo.mp4.json", "unlabelled.mp4.json"}
    # a re-run imports nothing new: the files are known by their content
    again = import_videos(ImportOptions(src=folder, workspace=ws))
    assert again.imported == 0 and sorted(r.unit for r in again.results if r.status == "existing") == [
        "clip.webm", "good.mp4", "odd.mp4", "same/copy.mp4"]
    with Workspace.open(ws) as w:
        assert len(w.catalog.query("videos")) == 3


def test_a_manifest_with_a_bad_row(ws, folder, tmp_path):
    make_video(tmp_path / "more" / "ball.mov", pattern="testsrc2", fps=25, seconds=1.2, codec=("-c:v", "mpeg4"))
    manifest = tmp_path / "more" / "manifest.csv"
    manifest.write_text("path,sub_category,emotion,licence,source_url,note\n"
                        "ball.mov,explosion,angrily,CC-BY-SA-4.0,https://example.org/ball,thrown\n"
                        f"{folder / 'good.mp4'},lion approaching,,MIT,,\n"
                        "ball.mov,lion_aproaching,,MIT,,\n"
                        "missing.mp4,explosion,,MIT,,\n"
                        ",explosion,,MIT,,\n"
                        "ball.mov,explosion,sadly,MIT,,\n")
    summary = import_videos(ImportOptions(src=manifest, workspace=ws, max_failures=3))
    got = [(r.unit, r.status) for r in summary.results]
    assert got == [("row 2 (ball.mov)", "imported"), (f"row 3 ({folder / 'good.mp4'})", "imported"),
                   ("row 4 (ball.mov)", "quarantined"), ("row 5 (missing.mp4)", "quarantined"),
                   ("row 6", "quarantined"), ("row 7 (ball.mov)", "quarantined")]
    reasons = [r.reason for r in summary.results]
    assert "did you mean lion_approaching" in reasons[2]
    assert "missing.mp4 does not exist" in reasons[3] and reasons[4] == "manifest row has no path"
    assert "unknown emotion 'sadly'" in reasons[5]
    assert summary.failed  # 4 quarantined > --max-failures 3
    with Workspace.open(ws) as w:
        ball = w.catalog.get("videos", summary.results[0].video_id)
        assert ball["provenance"]["labels"] == {"broad_category": "Scene-Human", "sub_category": "explosion",
                                                "emotion": "angrily"}
        assert ball["provenance"]["source_url"] == "https://example.org/ball" and ball["n_frames"] == 30
        assert ball["provenance"]["reencoded"] == ["container .mov", "codec mpeg4"]
        lion = w.catalog.get("videos", summary.results[1].video_id)
        assert lion["provenance"]["labels"]["broad_category"] == "Animal-Human"


def test_a_manifest_without_the_required_columns_is_refused(ws, tmp_path):
    bad = tmp_path / "m.csv"
    bad.write_text("file,label\nx.mp4,explosion\n")
    with pytest.raises(InputFormatError, match=r"lacks the column\(s\) path, sub_category, licence"):
        import_videos(ImportOptions(src=bad, workspace=ws))


def test_close_sub_categories_and_licences():
    tax = Taxonomy.load()
    assert tax.resolve_sub_category("Dog approaching").slug == "dog_approaching"
    assert tax.suggest("explosions")[0] == "explosion"
    with pytest.raises(TaxonomyError, match="did you mean automobile_rush_towards"):
        tax.resolve_sub_category("automobile_rush")
    assert licence_redistributable("CC-BY-4.0") and licence_redistributable("cc0") and licence_redistributable("MIT")
    assert not licence_redistributable("CC-BY-ND-4.0") and not licence_redistributable("all rights reserved")


def test_the_cli_imports_with_defaults_and_fails_past_max_failures(ws, tmp_path):
    from vimo.cli.videos import app

    d = tmp_path / "cli"
    make_video(d / "a.mp4")
    make_video(d / "b.mp4", pattern="testsrc2")
    (d / "c.mp4").write_bytes(b"not a video")
    runner = CliRunner()
    res = runner.invoke(app, ["add", str(d), "-w", str(ws), "--sub-category", "explosion", "--licence", "CC0-1.0",
                              "--synthetic", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["imported"], out["quarantined"]) == (2, 1)
    res = runner.invoke(app, ["add", str(d), "-w", str(ws), "--sub-category", "explosion", "--licence", "CC0-1.0",
                              "--max-failures", "0"])
    assert res.exit_code == 1 and "2 already in the workspace, 1 quarantined" in res.stdout
    listed = json.loads(runner.invoke(app, ["list", "-w", str(ws), "--kind", "external", "--json"]).stdout)
    assert len(listed) == 2 and all(v["provenance"]["synthetic"] for v in listed)
