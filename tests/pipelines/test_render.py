"""Rendering the actor's motion: mannequin geometry, camera paths, real H.264 files decoded and
checked (codec, size, frames, body in frame, lit, moving), catalog rows, re-runs, bad input. Most
tests render the plain look (--no-floor: the body over the flat background, where a pixel mask
finds it); the floor, shadows, horizon and camera track have their own tests at the end."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vimo.atomic import sha256_file
from vimo.pipelines.samples.video import BACKGROUND_RGB, body_mask, write_synthetic_workspace
from vimo.errors import MotionError, VimoError
from vimo.pipelines.video import encode
from vimo.pipelines.video.camera import camera_path, look_at
from vimo.pipelines.video.mannequin import build_mannequin
from vimo.pipelines.video.render import RenderOptions, render_workspace, video_id
from vimo.synthetic import generate
from vimo.workspace import Workspace

W, H = 160, 120


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return write_synthetic_workspace(tmp_path_factory.mktemp("render") / "ws")


def _clip_id(ws, k: int) -> str:
    w = Workspace.open(ws)
    try:
        return w.catalog.clips()[k]["clip_id"]
    finally:
        w.close()


def _render_cli():
    import typer

    from vimo.cli.video import render

    app = typer.Typer()
    app.command()(render)
    app.command("unused")(lambda: None)  # keeps typer in multi-command mode, as in the vimo group
    return app


@pytest.fixture(scope="module")
def rendered(ws):
    summary = render_workspace(RenderOptions(workspace=ws, size=(W, H), floor=False))
    return summary


def test_mannequin_is_closed_outward_and_follows_the_joints():
    x = generate("wave", seed=0, fps=20, duration_s=2.0)
    m = build_mannequin(x.actor, drop_hidden=False)
    t, v, _ = m.vertices.shape
    assert t == len(x.actor) and m.normals.shape == m.vertices.shape and m.faces.max() < v
    tri = m.vertices[0][m.faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    assert (np.linalg.norm(fn, axis=1) > 1e-10).all()  # no zero-area triangles (poles are one vertex)
    assert (np.einsum("ij,ij->i", fn, m.normals[0][m.faces[:, 0]]) > 0).all()  # counter-clockwise outside
    # closed: every edge is shared by exactly two triangles, once in each direction
    edges = np.concatenate([m.faces[:, [0, 1]], m.faces[:, [1, 2]], m.faces[:, [2, 0]]])
    assert len({tuple(e) for e in edges}) == len(edges) and {tuple(e) for e in edges} == {tuple(e[::-1]) for e in edges}
    # the mesh hugs the skeleton: every joint lies within 12 cm of a vertex, and the head is on top
    d = np.linalg.norm(m.vertices[:, None, :, :] - x.actor[:, :, None, :].astype(np.float32), axis=-1).min(-1)
    assert d.max() < 0.12
    assert m.vertices[:, :, 1].max() > x.actor[:, 15, 1].max() + 0.08
    with pytest.raises(MotionError, match=r"\(T, 22, 3\)"):
        build_mannequin(np.zeros((5, 21, 3)))
    bad = x.actor.copy()
    bad[3, 4, 0] = np.nan
    with pytest.raises(MotionError, match="NaN"):
        build_mannequin(bad)


def test_mannequin_capsules_are_tessellated_to_one_outline_error():
    """Narrow capsules get fewer segments, the fewest that keep their outline within the widest capsule's
    error; error_m=0 gives every capsule the widest one's tessellation; the silhouettes stay the same."""
    from vimo.pipelines.video.mannequin import BONES, WIDEST_M, bone_tessellation
    from vimo.pipelines.video.render import get_renderer

    error = WIDEST_M * (1 - np.cos(np.pi / 14))
    counts = [bone_tessellation(max(r0, r1), 5, 14, error) for _, _, r0, r1 in BONES]
    for (_, _, r0, r1), (rings, n) in zip(BONES, counts):
        r = max(r0, r1)
        assert 6 <= n <= 14 and 2 <= rings <= 5
        assert r * (1 - np.cos(np.pi / n)) <= error + 1e-12  # within the error ...
        assert n == 6 or r * (1 - np.cos(np.pi / (n - 1))) > error  # ... with the fewest segments
    assert max(n for _, n in counts) == 14 and min(n for _, n in counts) == 6
    assert bone_tessellation(0.05, 5, 14, 0.0) == (5, 14)
    x = generate("wave", seed=0, fps=20, duration_s=0.5)
    fine, lean = build_mannequin(x.actor, error_m=0.0, drop_hidden=False), build_mannequin(x.actor, drop_hidden=False)
    assert len(fine.faces) == len(BONES) * 2 * 14 * (2 * 5) and len(lean.faces) < 0.6 * len(fine.faces)
    # drawn from the same camera, the two meshes cover the same pixels but for a thin outline
    path = camera_path("front", x.actor, x.reactor, fps=20, aspect=W / H)
    r = get_renderer(W, H)
    masks = [body_mask(r.frame(m.vertices[5], m.normals[5], m.faces, path.poses[5], path.yfov)) for m in (fine, lean)]
    assert masks[0].mean() > 0.01
    inner = masks[0].copy()
    for axis in (0, 1):
        inner &= np.roll(masks[0], 1, axis) & np.roll(masks[0], -1, axis)
    outline = masks[0] & ~inner
    near = outline.copy()  # within two pixels of the outline
    for axis in (0, 1):
        for step in (1, 2, -1, -2):
            near |= np.roll(outline, step, axis)
    changed = masks[0] ^ masks[1]
    assert changed.any() and not changed[~near].any() and changed.sum() < 0.3 * outline.sum()


def test_mannequin_leaves_out_only_capsule_halves_that_are_never_seen():
    """Halves inside another capsule at the same joint are left out, and every camera sees the same pixels."""
    from vimo.pipelines.video.mannequin import BONES, WIDEST_M, bone_tessellation, hidden_caps
    from vimo.pipelines.video.render import get_renderer

    x = generate("hug", seed=3, fps=20, duration_s=0.5)
    whole, lean = build_mannequin(x.actor, drop_hidden=False), build_mannequin(x.actor)
    assert len(lean.faces) < 0.92 * len(whole.faces)
    tess = [bone_tessellation(max(r0, r1), 5, 14, WIDEST_M * (1 - np.cos(np.pi / 14))) for _, _, r0, r1 in BONES]
    hidden = hidden_caps(tess, np.full(len(BONES), 0.3))
    names = {(BONES[b][0], BONES[b][1], end) for b, end in hidden}
    assert (9, 13, 0) in names and (13, 16, 0) in names  # a shoulder's start inside the chest, the collar
    # the outer tips (hands, head top, nose) and the feet belong to no other capsule: they always stay
    assert not [(a, b, e) for a, b, e in names if b < 0 and e == 1] and not {(7, 10, 1), (8, 11, 1)} & names
    assert hidden_caps(tess, np.full(len(BONES), 0.01)) < hidden  # too short a host hides less
    r = get_renderer(W, H)
    for kind in ("front", "orbit", "reactor-view"):
        path = camera_path(kind, x.actor, x.reactor, fps=20, aspect=W / H)
        for t in (0, 5):
            a, b = (r.frame(m.vertices[t], m.normals[t], m.faces, path.poses[t], path.yfov) for m in (whole, lean))
            assert body_mask(a).mean() > 0.005 and np.array_equal(a, b), (kind, t)


def _project(pose: np.ndarray, yfov: float, aspect: float, point: np.ndarray) -> np.ndarray:
    cam = np.linalg.inv(pose) @ np.append(point, 1.0)
    f = 1 / np.tan(yfov / 2)
    return np.array([f / aspect * cam[0] / -cam[2], f * cam[1] / -cam[2], -cam[2]])


@pytest.mark.parametrize("kind", ["reactor-view", "front", "orbit"])
def test_camera_paths_keep_the_actor_in_view(kind):
    x = generate("handshake", seed=2, fps=20, duration_s=3.0)
    path = camera_path(kind, x.actor, x.reactor, fps=20, aspect=4 / 3)
    assert path.poses.shape == (len(x.actor), 4, 4)
    rot = path.poses[:, :3, :3]
    assert np.allclose(rot @ rot.transpose(0, 2, 1), np.eye(3), atol=1e-9)
    for t in range(0, len(x.actor), 10):
        ndc = _project(path.poses[t], path.yfov, 4 / 3, x.actor[t, 9])  # the actor's chest
        assert ndc[2] > 0.3 and abs(ndc[0]) < 0.8 and abs(ndc[1]) < 0.9, (t, ndc)
    if kind == "reactor-view":  # at the reactor's head
        assert np.linalg.norm(path.poses[:, :3, 3] - x.reactor[:, 15], axis=-1).max() < 0.25
    if kind == "front":
        assert np.allclose(path.poses, path.poses[0])
    if kind == "orbit":
        assert not np.allclose(path.poses[0, :3, 3], path.poses[-1, :3, 3])
    with pytest.raises(VimoError, match="unknown camera"):
        camera_path("top", x.actor, x.reactor)
    with pytest.raises(MotionError, match="reactor"):
        camera_path("reactor-view", x.actor, None)


def test_look_at_points_the_camera_minus_z_at_the_target():
    pose = look_at(np.array([[0.0, 1.0, 5.0]]), np.array([[0.0, 1.0, 0.0]]))[0]
    assert np.allclose(pose[:3, 2], [0, 0, 1]) and np.allclose(pose[:3, 1], [0, 1, 0])


def test_rendered_files_are_browser_h264_with_the_clip_frames(ws, rendered):
    assert rendered.rendered == 2 and rendered.failed == 0, rendered.failures
    w = Workspace.open(ws)
    try:
        clips = {c["clip_id"]: c for c in w.catalog.clips()}
        videos = w.catalog.query("videos", "kind='rendered'")
        assert len(videos) == 2
        for v in videos:
            assert v["video_id"] == video_id(v["clip_id"], "reactor-view")
            path = w.resolve(v["path"])
            info = encode.probe(path)
            assert (info.codec, info.pix_fmt, info.width, info.height) == ("h264", "yuv420p", W, H)
            assert info.n_frames == clips[v["clip_id"]]["n_frames"] == v["n_frames"]
            assert info.fps == 20.0 and v["checksum"] == sha256_file(path)
            assert v["provenance"]["body"] == "mannequin" and v["licence"] == "CC0 (synthetic)"
            assert path.read_bytes()[4:8] == b"ftyp"
            head = path.read_bytes()[:4096]
            assert b"moov" in head  # faststart: the index comes first, so browsers can start playing
    finally:
        w.close()


def test_decoded_frames_show_a_lit_moving_body_in_frame(ws, rendered):
    w = Workspace.open(ws)
    try:
        v = w.catalog.query("videos", "kind='rendered'")[0]
        frames = np.stack(list(encode.read_frames(w.resolve(v["path"]))))
    finally:
        w.close()
    assert frames.shape == (v["n_frames"], H, W, 3)
    masks = np.stack([body_mask(f) for f in frames])
    coverage = masks.mean(axis=(1, 2))
    assert (coverage > 0.01).all() and (coverage < 0.6).all()  # a body, not an empty or flooded frame
    # in frame: the body's pixels stay off the left/right borders and its centre near the middle
    assert not masks[:, :, :2].any() and not masks[:, :, -2:].any()
    ys, xs = np.nonzero(masks[len(masks) // 2])
    assert 0.2 * W < xs.mean() < 0.8 * W and 0.15 * H < ys.mean() < 0.85 * H
    # lit: body pixels are bright clay with shading, never black
    body = frames[masks]
    lum = body.astype(np.float64).mean(-1)
    assert lum.mean() > 120 and np.percentile(lum, 5) > 40 and lum.std() > 8
    bg = frames[~masks].astype(np.float64).mean(0)
    assert np.abs(bg - BACKGROUND_RGB).max() < 6
    # moving: the silhouette changes over the clip
    change = (masks[1:] ^ masks[:-1]).mean(axis=(1, 2))
    assert change.sum() > 0.05 and (masks[0] ^ masks[-1]).sum() > 30


def test_rerun_skips_valid_videos_and_redoes_a_damaged_one(ws, rendered):
    again = render_workspace(RenderOptions(workspace=ws, size=(W, H), floor=False))
    assert (again.skipped, again.rendered) == (2, 0)
    w = Workspace.open(ws)
    try:
        v = w.catalog.query("videos", "kind='rendered'")[0]
        path = w.resolve(v["path"])
        path.write_bytes(path.read_bytes()[:1000])  # truncated
        third = render_workspace(RenderOptions(workspace=ws, size=(W, H), floor=False))
        assert (third.skipped, third.rendered) == (1, 1)
        assert encode.probe(path).n_frames == v["n_frames"]
        assert {j["status"] for j in w.catalog.jobs("render:reactor-view")} == {"done"}
    finally:
        w.close()


def test_front_camera_and_a_clip_selection(ws, rendered):
    cid = _clip_id(ws, 0)
    s = render_workspace(RenderOptions(workspace=ws, size=(W, H), floor=False, camera="front", clip_ids=[cid]))
    assert s.rendered == 1
    w = Workspace.open(ws)
    try:
        row = w.catalog.get("videos", video_id(cid, "front"))
        assert row["path"] == f"videos/rendered/front/{cid}.mp4" and row["n_frames"] > 0
    finally:
        w.close()
    with pytest.raises(VimoError, match="not an ok two-person clip"):
        render_workspace(RenderOptions(workspace=ws, size=(W, H), floor=False, clip_ids=["nope"]))


def test_a_damaged_clip_fails_alone_with_a_one_line_reason(tmp_path):
    ws = write_synthetic_workspace(tmp_path / "ws", kinds=("wave", "bow"))
    w = Workspace.open(ws)
    bad = w.catalog.clips()[0]["clip_id"]
    w.close()
    p = ws / "clips" / bad / "joints_actor.npy"
    p.write_bytes(p.read_bytes()[:200])
    s = render_workspace(RenderOptions(workspace=ws, size=(W, H), floor=False, camera="front"))
    assert (s.rendered, s.failed) == (1, 1)
    cid, reason = s.failures[0]
    assert cid == bad and "joints_actor.npy" in reason and "\n" not in reason and "vimo convert" in reason
    w = Workspace.open(ws)
    try:
        job = [j for j in w.catalog.jobs("render:front") if j["unit"] == bad][0]
        assert job["status"] == "failed" and "checksum" in job["reason"]
    finally:
        w.close()


def test_options_reject_bad_sizes_and_cameras(tmp_path):
    with pytest.raises(VimoError, match="WIDTHxHEIGHT"):
        encode.parse_size("1280x721")
    assert encode.parse_size("640x360") == (640, 360)
    with pytest.raises(VimoError, match="unknown camera"):
        RenderOptions(workspace=tmp_path, camera="drone")
    with pytest.raises(VimoError, match="not a vimo workspace"):
        render_workspace(RenderOptions(workspace=tmp_path / "none", size=(W, H)))


def test_write_mp4_is_atomic_and_checks_frames(tmp_path):
    out = tmp_path / "v.mp4"
    frames = [np.full((32, 48, 3), 30 * i, np.uint8) for i in range(5)]
    assert encode.write_mp4(out, frames, fps=20) == 5
    before = out.read_bytes()

    def broken():
        yield frames[0]
        yield np.zeros((30, 48, 3), np.uint8)

    with pytest.raises(VimoError, match="one size"):
        encode.write_mp4(out, broken(), fps=20)
    assert out.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["v.mp4"]
    info = encode.probe(out)
    assert (info.n_frames, info.width, info.height) == (5, 48, 32)
    (tmp_path / "junk.mp4").write_bytes(b"not a video" * 10)
    with pytest.raises(VimoError, match="junk.mp4"):
        encode.probe(tmp_path / "junk.mp4")
    assert json.dumps(info.as_record())


def test_fit_pose_points_every_bone_of_a_body_model_along_the_clip(tmp_path):
    from vimo.pipelines.samples.body_models import write_body_model
    from vimo.pipelines.body import forward_joints, load_body_model, rest_joints
    from vimo.pipelines.video.posing import PARENTS, fit_pose

    write_body_model(tmp_path / "models", "smpl", "neutral")
    model = load_body_model(tmp_path / "models", "smpl")
    x = generate("push", seed=5, fps=20, duration_s=2.0)
    rest = rest_joints(model)
    go, bp, tr = fit_pose(x.actor, rest)
    fk = forward_joints(model, rest, go, bp, tr)
    assert np.abs(fk[:, 0] - x.actor[:, 0]).max() < 1e-9
    for k in range(1, 22):
        a, b = fk[:, k] - fk[:, PARENTS[k]], x.actor[:, k] - x.actor[:, PARENTS[k]]
        cos = np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
        # bones off a branching joint (hips, collars) keep the model's own rest angle to the spine
        assert cos.min() > (0.98 if k in (1, 2, 13, 14) else 0.9999), k


def test_render_with_body_model_files_poses_the_smpl_mesh(ws, rendered, tmp_path):
    from vimo.pipelines.samples.body_models import write_body_model

    write_body_model(tmp_path / "models", "smpl", "neutral")
    cid = _clip_id(ws, 1)
    s = render_workspace(RenderOptions(workspace=ws, size=(W, H), floor=False, camera="orbit", clip_ids=[cid],
                                       body_models=tmp_path / "models"))
    assert s.rendered == 1, s.failures
    w = Workspace.open(ws)
    try:
        row = w.catalog.get("videos", video_id(cid, "orbit"))
        assert row["provenance"]["body"].startswith("smpl-neutral:")
        frames = np.stack(list(encode.read_frames(w.resolve(row["path"]))))
    finally:
        w.close()
    masks = np.stack([body_mask(f) for f in frames])
    assert len(frames) == row["n_frames"] and (masks.mean(axis=(1, 2)) > 0.005).all()
    assert (masks[0] ^ masks[-1]).sum() > 20
    missing = render_workspace(RenderOptions(workspace=ws, size=(W, H), floor=False, camera="orbit", clip_ids=[cid],
                                             force=True, body_models=tmp_path / "none"))
    assert missing.failed == 1 and "SMPL neutral model file not found" in missing.failures[0][1]


def test_vimo_render_command(ws, rendered):
    from typer.testing import CliRunner

    app = _render_cli()
    out = CliRunner().invoke(app, ["render", "--workspace", str(ws), "--size", f"{W}x{H}", "--no-floor", "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout[out.stdout.index("{"):])
    assert summary["skipped"] == 2 and summary["camera"] == "reactor-view"
    bad = CliRunner().invoke(app, ["render", "--workspace", str(ws), "--size", "100x75"])
    assert bad.exit_code != 0 and "WIDTHxHEIGHT" in str(bad.exception)


def test_two_spawned_workers_render_after_this_process_has_rendered(ws, rendered):
    # forked children of a process holding an EGL context hang; the local pool spawns them
    s = render_workspace(RenderOptions(workspace=ws, size=(W, H), floor=False, camera="front", workers=2, force=True))
    assert (s.rendered, s.failed) == (2, 0), s.failures
    w = Workspace.open(ws)
    try:
        for row in w.catalog.query("videos", "video_id LIKE '%.render-front'"):
            assert encode.probe(w.resolve(row["path"])).n_frames == row["n_frames"]
    finally:
        w.close()


def test_reactor_subject_renders_the_reaction_told_apart_from_the_actor(ws, rendered):
    from vimo.annotation.selection import reaction_videos
    from vimo.pipelines.video.render import load_clip_joints

    cid = _clip_id(ws, 0)
    # the actor of this clip from the same camera, and then the reactor of every clip (default camera: front)
    actor = render_workspace(RenderOptions(workspace=ws, size=(W, H), floor=False, camera="front", clip_ids=[cid]))
    assert actor.failed == 0 and actor.subject == "actor"
    s = render_workspace(RenderOptions(workspace=ws, size=(W, H), floor=False, subject="reactor"))
    assert (s.rendered, s.failed, s.camera, s.subject) == (2, 0, "front", "reactor"), s.failures
    w = Workspace.open(ws)
    try:
        a_row = w.catalog.get("videos", video_id(cid, "front"))
        r_row = w.catalog.get("videos", video_id(cid, "front", "reactor"))
        assert a_row["video_id"] == f"{cid}.render-front" and r_row["video_id"] == f"{cid}.reaction-front"
        assert r_row["path"] == f"videos/rendered/reaction/front/{cid}.mp4" != a_row["path"]
        assert (a_row["provenance"]["subject"], r_row["provenance"]["subject"]) == ("actor", "reactor")
        meta = json.loads((ws / "clips" / cid / "meta.json").read_text())
        assert r_row["provenance"]["clip_checksum"] == meta["files"]["joints_reactor"]["sha256"]
        assert a_row["provenance"]["clip_checksum"] == meta["files"]["joints_actor"]["sha256"]
        assert {j["status"] for j in w.catalog.jobs("render-reaction:front")} == {"done"}
        # what a rating round shows as the rendered reaction: the reactor render, never an actor one
        picked = reaction_videos(w.catalog)
        assert {c["clip_id"] for c in w.catalog.clips()} == set(picked)
        assert all(v["provenance"]["subject"] == "reactor" for v in picked.values())
        assert picked[cid]["video_id"] == r_row["video_id"]
        r_frames = np.stack(list(encode.read_frames(w.resolve(r_row["path"]))))
        a_frames = np.stack(list(encode.read_frames(w.resolve(a_row["path"]))))
    finally:
        w.close()
    assert len(r_frames) == r_row["n_frames"] == meta["n_frames"]
    r_masks = np.stack([body_mask(f) for f in r_frames])
    a_masks = np.stack([body_mask(f) for f in a_frames])
    assert (r_masks.mean(axis=(1, 2)) > 0.01).all() and not r_masks[:, :, :2].any() and not r_masks[:, :, -2:].any()
    lum = r_frames[r_masks].astype(np.float64).mean(-1)
    assert lum.mean() > 120 and np.percentile(lum, 5) > 40  # lit
    assert (r_masks ^ a_masks).mean() > 0.01  # another body than the actor's
    # the body on screen is the reactor: its pelvis projects inside the silhouette's box every 10 frames
    _, actor_j, reactor_j = load_clip_joints(ws / "clips" / cid)
    path = camera_path("front", reactor_j, actor_j, fps=20, aspect=W / H)
    for t in range(0, len(r_frames), 10):
        x, y, _ = _project(path.poses[t], path.yfov, W / H, reactor_j[t, 0])
        px, py = (x + 1) / 2 * W, (1 - y) / 2 * H
        ys, xs = np.nonzero(r_masks[t])
        assert xs.min() - 2 <= px <= xs.max() + 2 and ys.min() - 2 <= py <= ys.max() + 2, (t, px, py)


def test_actor_rows_from_before_subjects_get_labelled_and_options_check_the_subject(ws, rendered, tmp_path):
    w = Workspace.open(ws)
    try:
        row = w.catalog.query("videos", "video_id LIKE '%.render-reactor-view'")[0]
        prov = {k: v for k, v in row["provenance"].items() if k != "subject"}  # as written before subjects
        w.catalog.add_video(video_id=row["video_id"], provenance=prov)
        again = render_workspace(RenderOptions(workspace=ws, size=(W, H), floor=False))
        assert again.rendered == 0 and again.skipped == 2  # same settings: not rendered again
        assert w.catalog.get("videos", row["video_id"])["provenance"]["subject"] == "actor"
    finally:
        w.close()
    with pytest.raises(VimoError, match="cannot show the reactor"):
        RenderOptions(workspace=tmp_path, subject="reactor", camera="reactor-view")
    with pytest.raises(VimoError, match="unknown subject"):
        RenderOptions(workspace=tmp_path, subject="both")
    assert RenderOptions(workspace=tmp_path).camera == "reactor-view"
    assert RenderOptions(workspace=tmp_path, subject="reactor").camera == "front"


def test_vimo_render_subject_flag(ws, rendered):
    from typer.testing import CliRunner

    app = _render_cli()
    out = CliRunner().invoke(app, ["render", "--workspace", str(ws), "--size", f"{W}x{H}", "--no-floor",
                                   "--subject", "reactor",
                                   "--camera", "orbit", "--limit", "1", "--x264-preset", "veryfast", "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout[out.stdout.index("{"):])
    assert (summary["subject"], summary["camera"], summary["rendered"]) == ("reactor", "orbit", 1)
    w = Workspace.open(ws)
    try:
        rows = w.catalog.query("videos", "video_id LIKE '%.reaction-orbit'")
        assert len(rows) == 1 and rows[0]["provenance"]["subject"] == "reactor"
        assert rows[0]["provenance"]["settings"]["preset"] == "veryfast"
        assert encode.probe(w.resolve(rows[0]["path"])).pix_fmt == "yuv420p"
    finally:
        w.close()
    bad = CliRunner().invoke(app, ["render", "--workspace", str(ws), "--x264-preset", "warp"])
    assert bad.exit_code != 0 and "unknown x264 preset" in str(bad.exception)


def test_clay_program_draws_the_pixels_of_pyrenders_shader():
    """The fast path (clay program + colour-only read-back) against pyrender's own shader and read-back."""
    from vimo.pipelines.video import clay_gl
    from vimo.pipelines.video.render import body_meshes, get_renderer, render_frames

    x = generate("hug", seed=3, fps=20, duration_s=1.0)
    meshes = body_meshes(x.actor)
    out = {}
    for kind in ("reactor-view", "orbit"):
        path = camera_path(kind, x.actor, x.reactor, fps=20, aspect=W / H)
        for fast in (False, True):
            out[kind, fast] = np.stack(list(render_frames(meshes, path, W, H, fast=fast)))
        assert get_renderer(W, H).fast and get_renderer(W, H)._renderer._renderer._program_cache.clay_programs == 1
        ref, fast = out[kind, False].astype(int), out[kind, True].astype(int)
        assert body_mask(out[kind, True][0]).mean() > 0.01  # something was drawn
        diff = np.abs(ref - fast)
        # within a grey level but for a few in 10^5 pixels (the gamma polynomial's 0.018 of a level
        # tips a rounding now and then; at an edge two samples' roundings can add up)
        assert diff.max() <= 2 and (diff > 1).mean() < 1e-4 and (diff > 0).mean() < 5e-3, (
            kind, diff.max(), (diff > 1).mean(), (diff > 0).mean())
    # other programs (textures, vertex colours, shadows, other shaders) stay pyrender's
    assert clay_gl.clay_applies("mesh.vert", "mesh.frag", None, {"NORMAL_LOC": 1, "INST_M_LOC": 2,
                                "MAX_DIRECTIONAL_LIGHTS": 4, "MAX_SPOT_LIGHTS": 4, "MAX_POINT_LIGHTS": 4,
                                "USE_METALLIC_MATERIAL": 1})
    for extra in ("HAS_BASE_COLOR_TEX", "COLOR_0_LOC", "DIRECTIONAL_LIGHT_SHADOWS", "TEXCOORD_0_LOC"):
        assert not clay_gl.clay_applies("mesh.vert", "mesh.frag", None, {"NORMAL_LOC": 1, "INST_M_LOC": 2,
                                        "MAX_DIRECTIONAL_LIGHTS": 4, "USE_METALLIC_MATERIAL": 1, extra: 1})
    assert not clay_gl.clay_applies("flat.vert", "flat.frag", None, {"INST_M_LOC": 2})
    # the clay renderer's scene holds directional lights only (the clay program ignores the others)
    import pyrender

    lights = get_renderer(W, H).scene.lights
    assert lights and all(isinstance(light, pyrender.DirectionalLight) for light in lights)


def test_clay_gamma_polynomial_is_within_a_fiftieth_of_a_grey_level():
    """The clay program's stand-in for pow(c, 1 / 2.2), evaluated as the shader does (float32, Horner)."""
    from vimo.pipelines.video.clay_gl import GAMMA_POLY

    c = np.linspace(0.0, 1.0, 200001)
    q = np.sqrt(np.sqrt(c)).astype(np.float32)
    y = np.float32(GAMMA_POLY[-1])
    for k in reversed(GAMMA_POLY[:-1]):
        y = y * q + np.float32(k)
    err = np.abs(y.astype(np.float64) - c ** (1 / 2.2)) * 255
    assert err.max() < 0.02 and np.all(np.diff(y) >= -1e-6)  # close, and it never turns back


def test_frames_reach_ffmpeg_in_order_and_a_failing_pipe_stops_the_producer(tmp_path):
    out = tmp_path / "order.mp4"
    values = [20, 200, 60, 140, 100, 240, 0, 180, 40, 220]  # more frames than the feeder's queue
    assert encode.write_mp4(out, (np.full((64, 96, 3), v, np.uint8) for v in values), fps=20) == len(values)
    means = [f.mean() for f in encode.read_frames(out)]
    assert np.allclose(means, values, atol=3)

    class BrokenPipe:
        def __init__(self):
            self.sent = 0

        def send(self, frame):
            if self.sent == 2:
                raise BrokenPipeError("ffmpeg exited")
            self.sent += 1

    feeder = encode._PipeFeeder(BrokenPipe())
    with pytest.raises(BrokenPipeError, match="ffmpeg exited"):
        for _ in range(50):  # would block forever if the feeder stopped taking frames after the error
            feeder.put(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(BrokenPipeError):
        feeder.finish()


@pytest.mark.filterwarnings(r"ignore:.*tostring\(\) is deprecated:DeprecationWarning")  # PyOpenGL 3.1.0
def test_renders_that_ask_for_depth_still_get_it_from_the_fast_renderer():
    import pyrender

    from vimo.pipelines.video.render import get_renderer

    r = get_renderer(W, H)
    body = build_mannequin(generate("bow", seed=1).actor[:1])
    camera = look_at(np.array([[0.0, 0.0, 4.0]]), np.array([[0.0, 0.0, 0.0]]))[0]
    r.frame(body.vertices[0], body.normals[0], body.faces, camera, np.radians(40))
    depth = r._renderer.render(r.scene, pyrender.RenderFlags.DEPTH_ONLY)
    assert depth.shape == (H, W) and depth.dtype == np.float32
    assert 3.0 < depth[depth > 0].min() < depth.max() < 5.0  # metres from the camera to the body
    rgba, _ = r._renderer.render(r.scene, pyrender.RenderFlags.RGBA)
    assert rgba.shape == (H, W, 4)


def _floor_frames(kind: str = "wave", size: tuple[int, int] = (320, 180), t: int = 10):
    """One frame of a clip from the front camera: plain, floor without shadows, floor with shadows."""
    from vimo.pipelines.video.render import body_meshes, get_renderer
    from vimo.pipelines.video.scenery import clip_scenery

    x = generate(kind, seed=4, fps=20, duration_s=1.0)
    meshes = body_meshes(x.actor)
    w, h = size
    path = camera_path("front", x.actor, x.reactor, fps=20, aspect=w / h)
    lit = clip_scenery(x.actor, meshes.vertices)
    r = get_renderer(w, h)
    args = (meshes.vertices[t], meshes.normals[t], meshes.faces, path.poses[t], path.yfov)
    plain = r.frame(*args)
    bare = r.frame(*args, floor_y=lit.floor_y)
    shaded = r.frame(*args, floor_y=lit.floor_y, casters=lit.casters[t])
    return x, meshes, path, lit, plain, bare, shaded


def _floor_hit(pose: np.ndarray, yfov: float, w: int, h: int, col: int, row: int, floor_y: float):
    """(floor point, distance) seen through the centre of pixel (col, row from the top), hand-computed."""
    ndc = np.array([(col + 0.5) / w * 2 - 1, 1 - (row + 0.5) / h * 2])
    ray = pose[:3, :3] @ np.array([ndc[0] * np.tan(yfov / 2) * w / h, ndc[1] * np.tan(yfov / 2), -1.0])
    t = (floor_y - pose[1, 3]) / ray[1]
    return pose[:3, 3] + t * ray, t * np.linalg.norm(ray)


def _grow(mask: np.ndarray, n: int = 2) -> np.ndarray:
    out = mask.copy()
    for axis in (0, 1):
        for k in range(1, n + 1):
            out |= np.roll(mask, k, axis) | np.roll(mask, -k, axis)
    return out


def test_floor_and_horizon_appear_below_the_horizon_only():
    from vimo.pipelines.video import scenery as sc

    x, meshes, path, lit, plain, bare, shaded = _floor_frames()
    h, w = plain.shape[:2]
    body = _grow(body_mask(plain, tol=1))  # the body and its antialiased edge
    pose = path.poses[10]
    # the horizon: the row where a ray through the image centre column turns level (hand-computed)
    rows = np.arange(h) + 0.5
    ndc_y = 1 - 2 * rows / h
    rays = pose[:3, :3] @ np.stack([np.zeros(h), ndc_y * np.tan(path.yfov / 2), -np.ones(h)])
    horizon = int(np.argmax(rays[1] < 0))
    assert 5 < horizon < h - 5
    sky_rows, floor_rows = slice(0, horizon - 2), slice(horizon + 2, h)
    background = np.round(np.array(sc.SKY) * 255)
    # above the horizon: the old flat background, to the grey level
    assert np.abs(bare[sky_rows][~body[sky_rows]] - background).max() <= 1
    # below it: the floor, which differs from the background everywhere
    floor_px = bare[floor_rows][~body[floor_rows]].astype(float)
    assert (np.abs(floor_px - background).max(-1) > 6).mean() > 0.99
    # the far floor fades into the haze; the near floor is the floor colour (or a grid line)
    near = bare[-3, 5].astype(float) / 255
    assert np.abs(near - np.array(sc.FLOOR)).max() < 0.04 or np.abs(near - np.array(sc.GRID)).max() < 0.04
    assert np.abs(bare[horizon + 2, 5] / 255 - np.array(sc.HAZE)).max() < 0.04
    # grid lines: the near floor's bottom row dips darker where a line crosses it (a few, narrow)
    lum = bare[-3].astype(float).mean(-1)
    dips = np.median(lum) - lum > 3
    assert 2 <= dips.sum() < 0.2 * w
    # --no-floor: the plain frame is the body over the flat background
    assert np.abs(plain[~body] - background).max() <= 1
    core = ~_grow(~body_mask(plain))  # inside the body, away from its edge
    same = np.abs(plain[core].astype(int) - bare[core]).max(-1)
    assert core.sum() > 100 and np.percentile(same, 99) <= 1  # the same body on both (gaps between limbs aside)


def test_contact_shadows_darken_the_floor_under_the_feet_as_the_numpy_twin_says():
    from vimo.pipelines.video import scenery as sc

    x, meshes, path, lit, plain, bare, shaded = _floor_frames()
    h, w = plain.shape[:2]
    body = _grow(body_mask(plain, tol=1))
    diff = bare.astype(int) - shaded  # how much the shadows darken, 0-255
    assert diff.min() >= -1  # shadows only darken
    assert diff.max() > 15  # and visibly so
    # floor pixels near the feet, off grid lines and off the body: the darkening equals the numpy
    # twin's at the pixel's floor point, times the floor colour, faded by the haze like the floor
    t = 10
    pose = path.poses[t]
    feet = x.actor[t, [7, 8, 10, 11]].mean(0)
    x_, y_, _ = _project(pose, path.yfov, w / h, np.array([feet[0], lit.floor_y, feet[2]]))
    c0, r0 = int((x_ + 1) / 2 * w), int((1 - y_) / 2 * h)
    checked = 0
    for row in range(max(r0 - 12, 0), min(r0 + 12, h)):
        for col in range(max(c0 - 40, 0), min(c0 + 40, w)):
            if body[row, col]:
                continue
            p, dist = _floor_hit(pose, path.yfov, w, h, col, row, lit.floor_y)
            if min(abs(p[0] - np.round(p[0])), abs(p[2] - np.round(p[2]))) < 0.1:
                continue  # near a grid line
            dark = sc.shadow_darkening(p, lit.floor_y, lit.casters[t])
            expected = np.exp(-dist / sc.HAZE_DISTANCE_M) * np.array(sc.FLOOR) * dark * 255
            assert np.abs(diff[row, col] - expected).max() <= 2.5, (row, col, diff[row, col], expected)
            checked += 1 if dark > 0.1 else 0
    assert checked >= 20  # pixels in a visible shadow
    # far from the body, no shadow at all
    assert np.abs(diff[-2, :5]).max() <= 1 and np.abs(diff[-2, -5:]).max() <= 1


def test_fast_path_with_floor_agrees_with_pyrenders_shader_and_per_pixel_shadows():
    """The documented tolerance: within 2 grey levels, on under 2 % of the pixels (the shadow map is
    a 128^2 texture; the reference computes the shadows per pixel over the whole frame)."""
    from vimo.pipelines.video.render import body_meshes, render_frames
    from vimo.pipelines.video.scenery import clip_scenery

    x = generate("dodge", seed=6, fps=20, duration_s=0.6)
    meshes = body_meshes(x.actor)
    scenery = clip_scenery(x.actor, meshes.vertices)
    for kind in ("reactor-view", "orbit"):
        path = camera_path(kind, x.actor, x.reactor, fps=20, aspect=W / H)
        fast = np.stack(list(render_frames(meshes, path, W, H, scenery=scenery))).astype(int)
        ref = np.stack(list(render_frames(meshes, path, W, H, fast=False, scenery=scenery)))
        diff = np.abs(fast - ref)
        assert diff.max() <= 2 and (diff > 0).mean() < 0.02, (kind, diff.max(), (diff > 0).mean())
        assert (np.abs(fast - np.round(np.array((0.62, 0.63, 0.65)) * 255)).max(-1) > 6).mean() > 0.2  # a floor


def test_each_rendered_video_has_its_camera_track(tmp_path):
    from vimo.pipelines.video.render import camera_track_path, load_clip_joints

    ws = write_synthetic_workspace(tmp_path / "ws", kinds=("handshake",))
    s = render_workspace(RenderOptions(workspace=ws, size=(W, H)))
    assert (s.rendered, s.failed) == (1, 0), s.failures
    w = Workspace.open(ws)
    try:
        row = w.catalog.query("videos", "kind='rendered'")[0]
        video = w.resolve(row["path"])
        frames = np.stack(list(encode.read_frames(video)))
    finally:
        w.close()
    sidecar = camera_track_path(video)
    assert sidecar == video.parent / f"{video.stem}.camera.json" and sidecar.is_file()
    track = json.loads(sidecar.read_text())
    assert track["format"] == "vimo-camera-track-v1" and track["convention"] == "opengl-camera-to-world"
    assert (track["width"], track["height"], track["fps"], track["frame"]) == (W, H, 20.0, "clip")
    poses = np.array(track["camera_to_world"])
    assert poses.shape == (row["n_frames"], 4, 4) == (len(frames), 4, 4)
    # the same camera as an independent call for the clip's joints, at the reactor's eyes
    _, actor, reactor = load_clip_joints(ws / "clips" / row["clip_id"])
    expected = camera_path("reactor-view", actor, reactor, fps=20, aspect=W / H)
    assert np.abs(poses - expected.poses).max() < 1e-6 and abs(track["yfov_rad"] - expected.yfov) < 1e-9
    assert row["provenance"]["camera_track"] == {"file": sidecar.name, "sha256": sha256_file(sidecar),
                                                 "frames": len(frames)}
    assert row["provenance"]["settings"]["floor"] is True
    # the default look has a floor: the bottom rows are not the flat background
    assert (np.abs(frames[:, -3:].astype(float) - BACKGROUND_RGB).max(-1) > 6).mean() > 0.9
    # a re-run skips the clip; a lost sidecar makes it render again
    assert render_workspace(RenderOptions(workspace=ws, size=(W, H))).skipped == 1
    sidecar.unlink()
    again = render_workspace(RenderOptions(workspace=ws, size=(W, H)))
    assert again.rendered == 1 and sidecar.is_file()


def test_render_device_is_chosen_by_egl_index_and_a_missing_one_is_named(tmp_path):
    from vimo.pipelines.video.render import egl_devices, get_renderer, parse_device

    assert parse_device("egl:0") == 0 and parse_device("egl:3") == 3 and parse_device(None) is None
    with pytest.raises(VimoError, match="not egl:N"):
        RenderOptions(workspace=tmp_path, device="cuda:0")
    n = egl_devices()
    assert n >= 1
    r = get_renderer(W, H, device=0)
    body = build_mannequin(generate("bow", seed=1).actor[:1])
    camera = look_at(np.array([[0.0, 0.0, 4.0]]), np.array([[0.0, 0.0, 0.0]]))[0]
    frame = r.frame(body.vertices[0], body.normals[0], body.faces, camera, np.radians(40))
    assert r.device == 0 and body_mask(frame).mean() > 0.01
    with pytest.raises(VimoError, match=f"EGL device {n + 5} does not exist: this machine has {n}"):
        get_renderer(W, H, device=n + 5)


def test_a_machine_without_egl_devices_says_so(monkeypatch):
    from vimo.pipelines.video import render as rd

    monkeypatch.setattr(rd, "egl_devices", lambda: 0)
    with pytest.raises(VimoError, match=r"EGL device 0 does not exist: this machine has none \(fix"):
        rd._offscreen_renderer(rd._pyrender(), W, H, 0)


def test_render_summary_says_the_rate_and_projects_the_clips_left(ws, rendered):
    from typer.testing import CliRunner

    w = Workspace.open(ws)
    try:
        clips = w.catalog.clips()
    finally:
        w.close()
    out = CliRunner().invoke(_render_cli(), ["render", "--workspace", str(ws), "--size", f"{W}x{H}", "--no-floor",
                                             "--camera", "front", "--limit", "1", "--force", "--json"])
    assert out.exit_code == 0, out.output
    s = json.loads(out.stdout[out.stdout.index("{"):])
    left = clips[1]["n_frames"]  # --limit 1: the second clip is left, at the clip's own 20 fps
    assert (s["rendered"], s["remaining_clips"], s["remaining_frames"]) == (1, 1, left)
    assert s["fps"] == pytest.approx(clips[0]["n_frames"] / s["seconds"])
    assert s["realtime"] == pytest.approx(s["fps"] / 20) and s["projected_s"] == pytest.approx(left / s["fps"])
    text = CliRunner().invoke(_render_cli(), ["render", "--workspace", str(ws), "--size", f"{W}x{H}", "--no-floor",
                                              "--camera", "front", "--limit", "1", "--force"])
    assert text.exit_code == 0, text.output
    assert "frames/s = " in text.stdout and "x real time" in text.stdout
    assert f"1 clips ({left} frames) left to render: about" in text.stdout


def _bt601(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y, U, V (0-255 floats) of RGB frames (..., H, W, 3) by hand: BT.601 limited range, chroma from
    each 2x2 block's mean."""
    rgb = np.asarray(rgb, dtype=float)
    h, w = rgb.shape[-3:-1]
    y = 16 + rgb @ np.array([65.481, 128.553, 24.966]) / 255
    block = rgb.reshape(*rgb.shape[:-3], h // 2, 2, w // 2, 2, 3).mean((-4, -2))
    u = 128 + block @ np.array([-37.797, -74.203, 112.0]) / 255
    v = 128 + block @ np.array([112.0, -93.786, -18.214]) / 255
    return y, u, v


#: the yuv frame converts the unrounded colour, the RGB frame is rounded to 8 bits first: the two
#: differ by at most 0.5 (the plane's rounding) + 0.5 * 219 / 255 (the RGB rounding through the
#: luma weights, which sum to 219 / 255) = 0.93 of a level
YUV_BUDGET = 0.5 + 0.5 * 219 / 255 + 0.005


def _assert_yuv_of(yuv: np.ndarray, rgb: np.ndarray) -> None:
    """yuv420p frames (..., H * 3 / 2, W) are the BT.601 conversion of RGB frames (..., H, W, 3)."""
    h, w = rgb.shape[-3:-1]
    y, u, v = _bt601(rgb)
    planes = yuv.astype(float)
    dy = np.abs(planes[..., :h, :] - y)
    du = np.abs(planes[..., h:h + h // 4, :].reshape(u.shape) - u)
    dv = np.abs(planes[..., h + h // 4:, :].reshape(v.shape) - v)
    assert dy.max() <= 1.1 and (dy > YUV_BUDGET).mean() < 1e-4, (dy.max(), (dy > YUV_BUDGET).mean())
    assert du.max() <= YUV_BUDGET and dv.max() <= YUV_BUDGET, (du.max(), dv.max())


def test_yuv420p_from_gl_is_bt601_of_the_rgb_frame_and_encodes(tmp_path):
    """The clay path hands x264 planar yuv420p: the same frame as RGB converted by hand (BT.601 limited
    range, chroma from each 2x2 block's mean), to the rounding of both (YUV_BUDGET)."""
    from vimo.pipelines.video.render import body_meshes, render_frames
    from vimo.pipelines.video.scenery import clip_scenery

    w, h = 96, 64
    x = generate("push", seed=2, fps=20, duration_s=0.4)
    meshes = body_meshes(x.actor)
    path = camera_path("reactor-view", x.actor, x.reactor, fps=20, aspect=w / h)
    look = clip_scenery(x.actor, meshes.vertices)
    rgb = np.stack(list(render_frames(meshes, path, w, h, scenery=look))).astype(float)
    yuv = np.stack(list(render_frames(meshes, path, w, h, scenery=look, yuv=True)))
    assert yuv.shape == (len(rgb), h * 3 // 2, w) and yuv.dtype == np.uint8
    _assert_yuv_of(yuv, rgb)
    out = encode.write_mp4(tmp_path / "yuv.mp4", list(yuv), fps=20, pix_fmt="yuv420p")
    decoded = np.stack(list(encode.read_frames(tmp_path / "yuv.mp4"))).astype(float)
    assert out == len(rgb) and decoded.shape == rgb.shape
    assert 10 * np.log10(255 ** 2 / np.mean((decoded - rgb) ** 2)) > 35  # what went in came out
    with pytest.raises(VimoError, match="expected yuv420p"):
        encode.write_mp4(tmp_path / "yuv.mp4", [rgb[0].astype(np.uint8)], fps=20, pix_fmt="yuv420p")



def _pose_looking(pitch_deg: float, roll_deg: float = 0.0, height: float = 1.6) -> np.ndarray:
    """Camera-to-world pose at `height` looking along -Z, pitched up by `pitch_deg`, rolled by `roll_deg`."""
    p, r = np.radians(pitch_deg), np.radians(roll_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    pose = np.eye(4)
    pose[:3, :3] = rx @ rz
    pose[1, 3] = height
    return pose


@pytest.mark.parametrize("pitch,roll", [(0.0, 0.0), (-12.0, 15.0), (10.0, -40.0), (-89.0, 0.0), (89.0, 0.0)])
def test_the_fast_backdrop_shades_only_below_the_horizon_and_the_sky_is_exact(pitch, roll):
    """floor_region cuts the frame at the horizon line: straight up no floor, straight down no sky. The
    reference shades every pixel; outside the region its pixels are the sky exactly, and the fast path
    (clear there, shade the region) gives the same frame."""
    from vimo.pipelines.video import scenery as sc
    from vimo.pipelines.video.compose_gl import floor_region
    from vimo.pipelines.video.render import get_renderer

    w, h, yfov = 320, 180, np.radians(40.0)
    pose = _pose_looking(pitch, roll)
    corners = floor_region(pose, yfov, w, h)
    # which pixel centres lie inside the convex polygon (corners in NDC; rows from the top, as read back,
    # and the backdrop's NDC y points down the image)
    cols, rows = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    px, py = cols / w * 2 - 1, rows / h * 2 - 1
    inside = np.ones((h, w), bool)
    if len(corners) < 3:
        inside[:] = False
    else:
        area = np.sum(corners[:, 0] * np.roll(corners[:, 1], -1) - np.roll(corners[:, 0], -1) * corners[:, 1])
        for k in range(len(corners)):
            a, b = corners[k], corners[(k + 1) % len(corners)]
            inside &= np.sign(area) * ((b[0] - a[0]) * (py - a[1]) - (b[1] - a[1]) * (px - a[0])) >= -1e-9
    share = inside.mean()
    if pitch >= 89:
        assert share == 0.0
    elif pitch <= -89:
        assert share == 1.0
    else:
        assert 0.1 < share < 0.95
    frames, yuv = {}, {}
    away = (np.zeros((3, 3), np.float32) + [0, 50, -50], np.tile([[0, 0, 1]], (3, 1)).astype(np.float32),
            np.array([[0, 1, 2]], np.int32))  # a body out of view: the backdrop alone
    for fast in (True, False):
        r = get_renderer(w, h, fast=fast)
        frames[fast] = r.frame(*away, pose, yfov, floor_y=0.0)
        yuv[fast] = r.frame(*away, pose, yfov, floor_y=0.0, yuv=True)
    # the fused yuv pass (sky blocks, floor blocks) covers every block and converts the same frame
    for fast in (True, False):
        _assert_yuv_of(yuv[fast], frames[False])
    sky = np.round(np.array(sc.SKY) * 255)
    ref, fast = frames[False].astype(int), frames[True].astype(int)
    assert np.abs(ref[~inside] - sky).max(initial=0) == 0  # outside the region the shader draws sky only
    assert np.abs(ref - fast).max() <= 1 and (np.abs(ref - fast) > 0).mean() < 1e-3
    if 0 < share < 1:  # and the region is not wasteful: it ends within two pixels of the floor
        floor = np.abs(ref - sky).max(-1) > 0
        assert (inside & ~_grow(floor, 3)).sum() == 0


def test_a_raised_casters_shadow_reaches_where_it_fades_to_the_cut():
    """shadow_reach: a caster on the floor reaches SHADOW_REACH_SIGMA standard deviations; a raised one
    (fainter) reaches where its darkening falls to the darkening a floor caster has at that distance,
    which the numpy twin confirms; one too faint for that reaches nowhere."""
    from vimo.pipelines.video import scenery as sc
    from vimo.pipelines.video.compose_gl import SHADOW_REACH_SIGMA as S

    casters = np.array([[0.0, 0.0, 0.0, 0.1], [0.0, 0.45, 0.0, 0.1], [0.0, 0.87, 0.0, 0.1], [0.0, 1.2, 0.0, 0.1]])
    live, reach = sc.shadow_reach(0.0, casters, S)
    assert live.tolist() == [True, True, False, False]
    assert reach[0] == pytest.approx(S * 0.1)
    cut = sc.SHADOW_STRENGTH * np.exp(-S ** 2 / 2)
    raised = casters[1:2]
    at_reach = sc.shadow_darkening(np.array([reach[1], 0.0, 0.0]), 0.0, raised)
    assert at_reach == pytest.approx(cut, rel=1e-6)
    assert sc.shadow_darkening(np.array([reach[1] + 0.01, 0.0, 0.0]), 0.0, raised) < cut
    assert reach[1] < S * (0.1 + 0.35 * 0.45)  # shorter than the plain sigma rule would say
    assert sc.shadow_darkening(np.array([0.0, 0.0, 0.0]), 0.0, casters[2:3]) < cut  # not live: under the cut


def test_the_clay_programs_light_count_is_a_ceiling_not_a_requirement():
    """The clay program's loop runs N_LIGHTS times; a program compiled for more lights than the scene has
    draws the same pixels (the extra lights add nothing)."""
    from vimo.pipelines.video import clay_gl
    from vimo.pipelines.video.render import LIGHT_RIG, body_meshes, get_renderer, render_frames

    x = generate("wave", seed=2, fps=20, duration_s=0.3)
    meshes = body_meshes(x.actor)
    path = camera_path("front", x.actor, x.reactor, fps=20, aspect=W / H)
    inner = get_renderer(W, H)._renderer._renderer
    exact = np.stack(list(render_frames(meshes, path, W, H)))
    kept = inner._program_cache
    try:
        inner._program_cache = clay_gl.program_cache(len(LIGHT_RIG) + 2)
        more = np.stack(list(render_frames(meshes, path, W, H)))
        assert inner._program_cache.clay_programs == 1
    finally:
        inner._program_cache = kept
    assert body_mask(exact[0]).mean() > 0.01 and np.array_equal(exact, more)
    with pytest.raises(ValueError, match="at least one light"):
        clay_gl.program_cache(0)
