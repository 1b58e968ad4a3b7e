"""Cutting real clips: the chosen camera's frames over each clip's frame range -> mp4 in sync with
the motion (frame numbers are painted into the fake images and read back from the decoded video)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vimo.pipelines.samples.sources import EgoSequence, write_egohumans_tree, write_harmony4d_tree
from vimo.errors import VimoError
from vimo.pipelines.convert import ConvertOptions, convert
from vimo.pipelines.sources import get_source
from vimo.pipelines.video import encode
from vimo.pipelines.video.clips import CutOptions, cut_workspace, frame_numbers
from vimo.workspace import Workspace

W, H = 64, 48
BITS = 8


def frame_image(number: int) -> np.ndarray:
    """A W x H image: 8 vertical bands = the frame number's bits (white = 1), a red top-left marker."""
    img = np.zeros((H, W, 3), np.uint8)
    for b in range(BITS):
        if number >> b & 1:
            img[16:, b * 8:(b + 1) * 8] = 255
    img[:12, :12] = (255, 0, 0)
    return img


def read_number(frame: np.ndarray) -> int:
    bands = frame[20:, :, :].astype(float).mean(axis=(0, 2)).reshape(BITS, 8).mean(axis=1)
    return sum(1 << b for b in range(BITS) if bands[b] > 128)


def write_images(folder, numbers):
    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        Image.fromarray(frame_image(n)).save(folder / f"{n:05d}.jpg", quality=95)


@pytest.fixture(scope="module")
def eh(tmp_path_factory):
    root = tmp_path_factory.mktemp("eh")
    tree = write_egohumans_tree(root / "src", [EgoSequence("01_tagging", "001_tagging", duration_s=4.0)])
    ws = root / "ws"
    cls = get_source("egohumans")
    s = convert(cls(tree.root, cls.config_class()), ConvertOptions(workspace=ws))
    assert s.clips >= 1
    seq = tree.root / "01_tagging" / "001_tagging"
    t = len(tree.written["01_tagging/001_tagging"]["aria01"])
    for person in ("aria01", "aria02"):
        write_images(seq / "ego" / person / "images" / "rgb", range(1, t + 1))
    write_images(seq / "exo" / "cam03" / "images", [n for n in range(1, t + 1) if n != 12])  # one dropped frame
    return tree, ws


def test_aria_clips_are_in_sync_with_the_motion(eh):
    tree, ws = eh
    s = cut_workspace(CutOptions("egohumans", tree.root, ws))
    assert s.cut == s.clips >= 1 and s.failed == 0, s.failures
    w = Workspace.open(ws)
    try:
        for clip in w.catalog.clips(source="egohumans"):
            v = w.catalog.get("videos", f"{clip['clip_id']}.real-aria")
            assert v["kind"] == "real" and v["clip_id"] == clip["clip_id"]
            info = encode.probe(w.resolve(v["path"]))
            assert (info.codec, info.pix_fmt, info.width, info.height) == ("h264", "yuv420p", W, H)
            assert info.n_frames == clip["n_frames"] and info.fps == 20.0
            frames = list(encode.read_frames(w.resolve(v["path"])))
            got = [read_number(f) for f in frames]
            want = [n % 256 for n in frame_numbers(clip)]
            assert got == want and got[0] == clip["frame_start"] % 256
            assert v["provenance"]["folder"].endswith(f"ego/{clip['reactor']}/images/rgb")
            assert frames[0][:8, :8, 0].mean() > 180 and frames[0][:8, :8, 2].mean() < 80  # stored orientation
    finally:
        w.close()
    again = cut_workspace(CutOptions("egohumans", tree.root, ws))
    assert again.skipped == s.cut and again.cut == 0


def test_native_orientation_resize_and_dropped_frames(eh):
    tree, ws = eh
    s = cut_workspace(CutOptions("egohumans", tree.root, ws, camera="exo:cam03", size=(32, 24)))
    assert s.cut >= 1 and s.failed == 0
    w = Workspace.open(ws)
    try:
        rows = w.catalog.query("videos", "video_id LIKE '%.real-exo-cam03'")
        assert {encode.probe(w.resolve(r["path"])).width for r in rows} == {32}
        clip_12 = [r for r in rows if r["provenance"]["first_frame"] <= 12 <= r["provenance"]["last_frame"]]
        assert all(r["provenance"]["filled_frames"] == 1 for r in clip_12) and clip_12
    finally:
        w.close()
    n = cut_workspace(CutOptions("egohumans", tree.root, ws, aria_orientation="native", force=True, limit=1))
    w = Workspace.open(ws)
    try:
        row = w.catalog.query("videos", "video_id LIKE '%.real-aria'")[0]
        frame = next(encode.read_frames(w.resolve(row["path"])))
    finally:
        w.close()
    assert n.cut == 1 and frame.shape[:2] == (W, H)  # turned a quarter: the marker is now bottom-left
    assert frame[-8:, :8, 0].mean() > 180 and frame[:8, :8, 0].mean() < 80


def test_missing_images_and_bad_options_fail_in_one_line(eh, tmp_path):
    tree, ws = eh
    s = cut_workspace(CutOptions("egohumans", tree.root, ws, camera="exo:cam09"))
    assert s.failed == s.clips and "exo/cam09/images" in s.failures[0][1] and "--camera" in s.failures[0][1]
    with pytest.raises(VimoError, match="aria or exo:camNN"):
        CutOptions("egohumans", tree.root, ws, camera="cam1")
    with pytest.raises(VimoError, match="render the clips"):
        CutOptions("interx", tree.root, ws)
    with pytest.raises(VimoError, match="does not exist"):
        cut_workspace(CutOptions("egohumans", tmp_path / "nowhere", ws))


def test_harmony4d_sequences_resolve_under_their_split(tmp_path):
    tree = write_harmony4d_tree(tmp_path / "h4d", [EgoSequence("01_hugging", "001_hugging", split="test",
                                                               duration_s=3.0)])
    cls = get_source("harmony4d")
    convert(cls(tree.root, cls.config_class()), ConvertOptions(workspace=tmp_path / "ws"))
    seq = tree.root / "test" / "01_hugging" / "001_hugging"
    t = len(tree.written["test/01_hugging/001_hugging"]["aria01"])
    for person in ("aria01", "aria02"):
        write_images(seq / "ego" / person / "images" / "rgb", range(1, t + 1))
    s = cut_workspace(CutOptions("harmony4d", tree.root, tmp_path / "ws"))
    assert s.cut == s.clips >= 1 and s.failed == 0, s.failures


def test_vimo_clips_cut_command(eh):
    import json

    import typer
    from typer.testing import CliRunner

    from vimo.cli.video import clips_cut

    tree, ws = eh
    app = typer.Typer()
    app.command("cut")(clips_cut)
    app.command("unused")(lambda: None)
    out = CliRunner().invoke(app, ["cut", "egohumans", str(tree.root), "--workspace", str(ws), "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout[out.stdout.index("{"):])
    assert summary["camera"] == "aria" and summary["cut"] + summary["skipped"] == summary["clips"] >= 1
