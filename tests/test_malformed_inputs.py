"""Malformed inputs of issue #16: each ends as ONE line naming the file, the problem and the fix.

Four classes of bad input that used to end badly:
  * tracebacks: a non-UTF-8 source file name, a corrupt workspace catalog, recipes with a Latin-1 byte or
    values of the wrong type, `vimo motion encode -o <existing folder>`, results.json without its evaluator
    block or without a test FID;
  * "unexpected <Exception>" quarantine lines: zero-frame Inter-X / AMASS files, a NaN or empty AMASS
    frame rate, Ego-Humans / Harmony4D frames numbered from 00000 or joints stored as an object array;
  * label text files that are not UTF-8 (Inter-X action_setting.txt, texts/): read as shipped, with the
    encoding recorded in the clip's provenance, never failing the unit;
  * silent wrong results: an AMASS file fitted in a Y-up world (a body lying flat), and a leaderboard that
    ranks a NaN FID or two benchmarks of one release and split evaluated on test sets of different sizes.

Every batch case also checks that nothing partial is left for the bad unit and that the good unit beside
it still converts. The inputs are synthesised here (tiny body models, fake trees); no real data.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from vimo.cli import main
from vimo.pipelines.body import forward_joints, load_body_model, rest_joints
from vimo.pipelines.convert import ConvertOptions, convert, list_clips
from vimo.pipelines.samples.sources import (
    EgoSequence, fit_body_params, write_amass_tree, write_egohumans_tree, write_harmony4d_tree,
)
from vimo.pipelines.sources import get_source
from vimo.synthetic import generate


@pytest.fixture(scope="module")
def amass_base(tmp_path_factory, models):
    return write_amass_tree(tmp_path_factory.mktemp("amass"), models, n=2, write_models=False)


@pytest.fixture(scope="module")
def ego_base(tmp_path_factory):
    return write_egohumans_tree(tmp_path_factory.mktemp("eh"), [
        EgoSequence("01_tagging", "001_tagging", kind="handshake", seed=1, duration_s=3.0),
        EgoSequence("01_tagging", "002_tagging", kind="hug", seed=2, duration_s=3.0)])


@pytest.fixture(scope="module")
def h4d_base(tmp_path_factory):
    return write_harmony4d_tree(tmp_path_factory.mktemp("h4d"), [
        EgoSequence("01_hugging", "001_hugging", kind="hug", split="train", duration_s=3.0),
        EgoSequence("02_grappling", "003_grappling", kind="handshake", split="test", duration_s=3.0)])


def _npz_edit(path: Path, **changes) -> None:
    data = dict(np.load(path))
    for k, v in changes.items():
        data[k] = v(data[k]) if callable(v) else v
    np.savez(path, **data)


def _frames(root: Path, rel: str) -> list[Path]:
    return sorted((root / rel / "processed_data/smpl").iterdir())


def _edit_frame(path: Path, edit) -> None:
    d = np.load(path, allow_pickle=True).item()
    edit(d)
    np.save(path, d, allow_pickle=True)


def assert_one_clean_line(reason: str, where: str, what: str) -> None:
    """One line naming the file and the problem, with a fix; no exception class name dump."""
    assert "\n" not in reason, reason
    assert "unexpected" not in reason and "Traceback" not in reason, reason
    assert where in reason and what in reason, (where, what, reason)
    assert "(fix: " in reason, reason


def assert_quarantined(summary, ws: Path, source: str, bad_key: str, where: str, what: str, n_good: int) -> str:
    assert summary.quarantined == 1 and summary.converted == n_good, summary
    ((key, reason),) = summary.quarantine
    assert key == bad_key
    assert_one_clean_line(reason, where, what)
    rec = json.loads((ws / "quarantine" / source / f"{rec_name(bad_key)}.json").read_text())
    assert rec["reason"] == reason and rec["outcome"] != "unexpected"
    clips = list_clips(ws)
    assert clips and all(c["unit"] != bad_key for c in clips)  # nothing partial from the bad unit
    assert len({c["unit"] for c in clips}) == n_good
    assert not [p for p in (ws / "clips").iterdir() if p.name.startswith(".")]
    return reason


def rec_name(key: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key)


# ----------------------------------------------------------------------------- batch: one unit quarantined

def ix_zero_frames(root, seq, models):
    for person in ("P1", "P2"):
        _npz_edit(root / "motions" / seq / f"{person}.npz",
                  **{k: (lambda a: a[:0]) for k in ("root_orient", "pose_body", "pose_lhand", "pose_rhand", "trans")})
    return f"{seq}/P1.npz", "0 frames"


def ix_z_up_world(root, seq, models):
    """The sequence re-fitted in a Z-up world: Inter-X declares +y, the bodies say +z."""
    from vimo.pipelines.samples.sources import write_interx_person

    x = generate("handshake", seed=11, fps=120, duration_s=3.0)
    y_to_z = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
    for name, j, gender in (("P1", x.actor, "male"), ("P2", x.reactor, "female")):
        model = load_body_model(models, "smplx", gender)
        write_interx_person(root / "motions" / seq / f"{name}.npz", j.astype(np.float64) @ y_to_z.T, model,
                            np.zeros(10), gender)
    return f"{seq}/P1.npz", "from the declared +y axis"


INTERX_CASES = [ix_zero_frames, ix_z_up_world]


@pytest.mark.parametrize("case", INTERX_CASES, ids=lambda f: f.__name__)
def test_interx_bad_unit_is_quarantined_in_one_line(case, interx_base, models, tmp_path):
    root = tmp_path / "ix"
    shutil.copytree(interx_base.root, root)
    seq = sorted(interx_base.sequences)[0]
    where, what = case(root, seq, models)
    cls = get_source("interx")
    ws = tmp_path / "ws"
    summary = convert(cls(root, cls.config_class(body_models=models)), ConvertOptions(workspace=ws))
    assert_quarantined(summary, ws, "interx", seq, where, what, n_good=1)


def amass_zero_frames(path: Path, models):
    _npz_edit(path, poses=lambda a: a[:0], trans=lambda a: a[:0], dmpls=lambda a: a[:0])
    return "0 frames"


def amass_framerate_nan(path: Path, models):
    _npz_edit(path, mocap_framerate=np.array(np.nan))
    return "mocap_framerate is nan"


def amass_framerate_empty(path: Path, models):
    _npz_edit(path, mocap_framerate=np.zeros(0))
    return "mocap_framerate is empty"


def amass_y_up_world(path: Path, models):
    """The body fitted in a Y-up world (AMASS declares Z up): converted as is, it would lie flat."""
    x = generate("wave", seed=3, fps=120, duration_s=4.0)
    model = load_body_model(models, "smplh", "male")
    betas = np.zeros(16)
    go, bp, tr = fit_body_params(x.reactor.astype(np.float64), rest_joints(model, betas[:10]))
    t = len(go)
    np.savez(path, poses=np.concatenate([go, bp, np.zeros((t, 90))], axis=1), trans=tr, betas=betas,
             gender=np.array("male"), mocap_framerate=np.array(120.0), dmpls=np.zeros((t, 8)))
    return "from the declared +z axis"


AMASS_CASES = [amass_zero_frames, amass_framerate_nan, amass_framerate_empty, amass_y_up_world]


@pytest.mark.parametrize("case", AMASS_CASES, ids=lambda f: f.__name__)
def test_amass_bad_unit_is_quarantined_in_one_line(case, amass_base, models, tmp_path):
    root = tmp_path / "amass"
    shutil.copytree(amass_base.root, root)
    rel = amass_base.files[0]
    what = case(root / f"{rel}.npz", models)
    cls = get_source("amass")
    ws = tmp_path / "ws"
    summary = convert(cls(root, cls.config_class(body_models=models)), ConvertOptions(workspace=ws))
    assert_quarantined(summary, ws, "amass", rel.replace("/", "-"), f"{rel}.npz", what, n_good=1)


def test_amass_z_up_file_passes_the_declared_up_check(amass_base, models, tmp_path):
    """The check of the Y-up case does not refuse the good (Z-up) files: their clips stand upright."""
    cls = get_source("amass")
    ws = tmp_path / "ws"
    summary = convert(cls(amass_base.root, cls.config_class(body_models=models)), ConvertOptions(workspace=ws))
    assert summary.quarantined == 0 and summary.converted == 2
    for clip in list_clips(ws):
        j = np.load(ws / "clips" / clip["clip_id"] / "joints_reactor.npy")
        assert float(np.median(j[:, 15, 1] - j[:, 0, 1])) > 0.3  # head above the pelvis, Y up


def eh_frames_from_zero(root, rel):
    for p in _frames(root, rel):
        n = int(p.stem)
        p.rename(p.with_name(f"{n - 1:05d}.npy"))
    return f"{rel}/processed_data/smpl", "starts at 00000"


def eh_object_joints(root, rel):
    path = _frames(root, rel)[6]

    def edit(d):
        d["aria01"]["joints"] = d["aria01"]["joints"].astype(object)
    _edit_frame(path, edit)
    return f"{rel}/processed_data/smpl/{path.name}", "dtype object"


def eh_frame_gap_from_zero(root, rel):
    """Numbered from 00000 and with a hole: the message names the numbering, not an IndexError."""
    eh_frames_from_zero(root, rel)
    (root / rel / "processed_data/smpl/00030.npy").unlink()
    return f"{rel}/processed_data/smpl", "starts at 00000"


EGO_CASES = [eh_frames_from_zero, eh_object_joints, eh_frame_gap_from_zero]


#: (source, base-tree fixture, sequence folder, unit key, cases): Harmony4D reads frames as Ego-Humans does
PER_FRAME = [("egohumans", "ego_base", "01_tagging/001_tagging", "01_tagging-001_tagging", EGO_CASES),
             ("harmony4d", "h4d_base", "test/02_grappling/003_grappling", "test-02_grappling-003_grappling",
              EGO_CASES[:2])]


@pytest.mark.parametrize("source,base,rel,key,case",
                         [(src, base, rel, key, case) for src, base, rel, key, cases in PER_FRAME for case in cases],
                         ids=lambda v: v.__name__ if callable(v) else v if v in ("egohumans", "harmony4d") else "")
def test_per_frame_bad_unit_is_quarantined_in_one_line(source, base, rel, key, case, request, tmp_path):
    root = tmp_path / source
    shutil.copytree(request.getfixturevalue(base).root, root)
    where, what = case(root, rel)
    cls = get_source(source)
    ws = tmp_path / "ws"
    summary = convert(cls(root, cls.config_class()), ConvertOptions(workspace=ws))
    assert_quarantined(summary, ws, source, key, where, what, n_good=1)


# ----------------------------------------------------------------------------- non-UTF-8 file names

BAD = os.fsdecode(b"bad\xff")  # 'bad\udcff': the name as Python sees undecodable bytes


def _joints_root(tmp_path: Path) -> Path:
    x = generate("wave", seed=5, fps=20, duration_s=3.0)
    root = tmp_path / "j"
    root.mkdir()
    np.save(root / "good_reactor.npy", x.reactor)
    np.save(root / "good_actor.npy", x.actor)
    np.save(root / f"{BAD}_reactor.npy", x.reactor)
    np.save(root / f"{BAD}_actor.npy", x.actor)
    return root


def test_joints_non_utf8_name_is_quarantined_and_the_good_unit_converts(tmp_path):
    root = _joints_root(tmp_path)
    cls = get_source("joints")
    ws = tmp_path / "ws"
    summary = convert(cls(root, cls.config_class(fps=20.0)), ConvertOptions(workspace=ws))
    reason = assert_quarantined(summary, ws, "joints", "bad\\xff", "bad\\xff_reactor.npy", "not valid UTF-8",
                                n_good=1)
    reason.encode("utf-8")  # printable: the undecodable byte is shown escaped
    from vimo.workspace import Workspace

    with Workspace.open(ws) as w:
        jobs = {j["unit"]: j["status"] for j in w.catalog.jobs()}
    assert jobs == {"good": "done", "bad\\xff": "quarantined"}


def test_joints_non_utf8_name_through_the_cli(tmp_path, capsys):
    root = _joints_root(tmp_path)
    ws = tmp_path / "ws"
    rc = main(["convert", "joints", str(root), "-w", str(ws), "--fps", "20"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "Traceback" not in err and "unexpected" not in err
    assert "1 converted" in out and "1 quarantined" in out
    assert "bad\\xff_reactor.npy" in err and "not valid UTF-8" in err and "rename" in err


def test_amass_non_utf8_name_is_quarantined(amass_base, models, tmp_path):
    root = tmp_path / "amass"
    shutil.copytree(amass_base.root, root)
    rel = amass_base.files[0]
    src = root / f"{rel}.npz"
    src.rename(src.with_name(f"{BAD}_poses.npz"))
    cls = get_source("amass")
    ws = tmp_path / "ws"
    summary = convert(cls(root, cls.config_class(body_models=models)), ConvertOptions(workspace=ws))
    key = (str(Path(rel).parent / "bad\\xff_poses")).replace("/", "-")
    assert_quarantined(summary, ws, "amass", key, "bad\\xff_poses.npz", "not valid UTF-8", n_good=1)


# ----------------------------------------------------------------------------- label texts as shipped

def ix_action_setting_latin1(root, seq):
    path = root / "annots" / "action_setting.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[0] = "Begrüßung"
    path.write_bytes("\n".join(lines).encode("latin-1"))
    return "annots/action_setting.txt"


def ix_texts_latin1(root, seq):
    (root / "texts").mkdir(exist_ok=True)
    (root / "texts" / f"{seq}.txt").write_bytes("Der eine grüßt, der andere antwortet.\n".encode("latin-1"))
    return f"texts/{seq}.txt"


@pytest.mark.parametrize("case", [ix_action_setting_latin1, ix_texts_latin1], ids=lambda f: f.__name__)
def test_interx_latin1_label_text_is_read_as_shipped(case, interx_base, models, tmp_path):
    root = tmp_path / "ix"
    shutil.copytree(interx_base.root, root)
    seq = sorted(interx_base.sequences)[0]
    rel = case(root, seq)
    cls = get_source("interx")
    ws = tmp_path / "ws"
    summary = convert(cls(root, cls.config_class(body_models=models)), ConvertOptions(workspace=ws))
    assert summary.quarantined == 0 and summary.converted == 2, summary.quarantine
    clips = [c for c in list_clips(ws) if c["sequence_id"] == seq]
    assert clips
    meta = json.loads((ws / "clips" / clips[0]["clip_id"] / "meta.json").read_text())
    notes = meta["provenance"]["text_encodings"]
    assert any(n.startswith(rel) and "not UTF-8" in n and "latin-1" in n for n in notes), notes
    text = " ".join([meta["labels"].get("action") or "", *meta["labels"].get("texts", [])])
    if case is ix_texts_latin1:
        assert "grüßt" in text
    elif meta["labels"]["action_id"] == 0:
        assert "Begrüßung" in text


# ----------------------------------------------------------------------------- CLI: one red line

def run_cli(args: list[str], capsys) -> tuple[int, str]:
    """rc and stderr of `vimo ARGS`; an exception that escapes the CLI edge fails the test as a traceback."""
    try:
        rc = main(args)
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"traceback: {type(exc).__name__}: {exc}")
    _, err = capsys.readouterr()
    return rc, err


def assert_one_red_line(rc: int, err: str, where: str, what: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip() and "━" not in ln]  # a progress bar is no message
    assert rc != 0 and len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert_one_clean_line(lines[0], where, what)
    return lines[0]


def _workspace(tmp_path: Path) -> Path:
    from vimo.workspace import Workspace

    ws = tmp_path / "ws"
    Workspace.init(ws).close()
    return ws


def catalog_random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(8192))


def catalog_cut_in_half(path: Path) -> None:
    from vimo.catalog import Catalog

    with Catalog(path) as cat:  # enough rows for several pages, then a checkpoint into the main file
        for i in range(300):
            cat.add_clip(clip_id=f"c{i:04d}", source="joints", sequence_id=f"s{i}", n_frames=40,
                         labels={"text": "x" * 200})
        cat.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("corrupt", [catalog_random_bytes, catalog_cut_in_half], ids=lambda f: f.__name__)
@pytest.mark.parametrize("command", ["status", "convert"])
def test_corrupt_catalog_is_one_line(corrupt, command, tmp_path, capsys):
    ws = _workspace(tmp_path)
    corrupt(ws / "catalog.sqlite")
    if command == "status":
        args = ["workspace", "status", "-w", str(ws)]
    else:
        root = _joints_root(tmp_path)
        args = ["convert", "joints", str(root), "-w", str(ws), "--fps", "20"]
    rc, err = run_cli(args, capsys)
    line = assert_one_red_line(rc, err, str(ws / "catalog.sqlite"), "not a readable vimo catalog")
    assert "backup" in line


def test_the_corrupt_catalog_fix_works(tmp_path, capsys):
    """What the fix says: with catalog.sqlite and vimo-workspace.json moved aside, a re-run of convert
    re-registers the finished clips (skipped, not re-converted)."""
    from vimo.workspace import Workspace

    root = _joints_root(tmp_path)
    ws = tmp_path / "ws"
    assert main(["convert", "joints", str(root), "-w", str(ws), "--fps", "20"]) == 0
    with Workspace.open(ws) as w:
        before = sorted(c["clip_id"] for c in w.catalog.clips())
    catalog_random_bytes(ws / "catalog.sqlite")
    for name in ("catalog.sqlite", "vimo-workspace.json"):
        (ws / name).rename(ws / f"{name}.broken")
    capsys.readouterr()
    assert main(["convert", "joints", str(root), "-w", str(ws), "--fps", "20"]) == 0
    out, _ = capsys.readouterr()
    assert "0 converted, 1 skipped" in out
    with Workspace.open(ws) as w:
        assert sorted(c["clip_id"] for c in w.catalog.clips()) == before and before


RECIPE = """[release]
name = "vimo-test"
version = "1.0.0"
workspace = "ws"
description = "{description}"

[filters]
{filters}

[split]
{split}
"""


@pytest.mark.parametrize("description, filters, split, what", [
    ("caf\xe9", "", "", "is not UTF-8"),
    ("ok", 'min_frames = "forty"', "", "[filters] min_frames is 'forty' (str), expected int"),
    ("ok", "", 'reactions_per_video = ["two"]', "[split] reactions_per_video[0] is 'two' (str), expected int"),
    ("ok", "allow_flagged = 1", "", "[filters] allow_flagged is 1 (int), expected bool"),
    ("ok", "", "test_fraction = \"0.2\"", "[split] test_fraction is '0.2' (str), expected float"),
    ("ok", 'sources = "interx"', "", "[filters] sources is 'interx' (str), expected list[str]"),
], ids=["latin1_byte", "min_frames_str", "reactions_str", "bool_as_int", "fraction_str", "list_as_str"])
def test_recipe_of_the_wrong_type_is_one_line(description, filters, split, what, tmp_path, capsys):
    _workspace(tmp_path)  # the recipe's workspace exists: only the recipe is wrong
    recipe = tmp_path / "recipe.toml"
    text = RECIPE.format(description=description, filters=filters, split=split)
    recipe.write_bytes(text.encode("latin-1"))
    rc, err = run_cli(["split", str(recipe)], capsys)
    assert_one_red_line(rc, err, str(recipe), what)


def test_recipe_int_for_float_is_accepted(tmp_path):
    from vimo.release.recipe import load_recipe

    recipe = tmp_path / "recipe.toml"
    recipe.write_text(RECIPE.format(description="ok", filters="min_motion_quality = 3", split="test_fraction = 0"))
    rec = load_recipe(recipe)
    assert rec.filters.min_motion_quality == 3 and rec.split.test_fraction == 0


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_motion_output_naming_an_existing_folder_is_one_line(command, tmp_path, capsys):
    src = tmp_path / "in.npy"
    x = generate("wave", seed=5, fps=20, duration_s=3.0)
    if command == "encode":
        np.save(src, x.reactor)
    else:
        from vimo.motion import joints_to_features

        np.save(src, joints_to_features(x.reactor))
    out = tmp_path / "out"
    out.mkdir()
    rc, err = run_cli(["motion", command, str(src), "-o", str(out)], capsys)
    assert_one_red_line(rc, err, str(out), "is a folder")
    assert list(out.iterdir()) == []  # nothing written


@pytest.mark.parametrize("command", ["encode", "stats"])
def test_motion_folder_output_naming_an_existing_file_is_one_line(command, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    np.save(src / "a.npy", generate("wave", seed=5, fps=20, duration_s=3.0).reactor)
    out = tmp_path / "out.npy"
    out.write_bytes(b"keep me")
    rc, err = run_cli(["motion", command, str(src), "-o", str(out)], capsys)
    assert_one_red_line(rc, err, str(out), "is a file")
    assert out.read_bytes() == b"keep me"


# ----------------------------------------------------------------------------- leaderboard

def _set(size=40, fid=0.5):
    ladder = {"real_vs_real": 0.2, "reconstruction": 0.1, "generation": fid, "random_codes": 9.0,
              "constant_codes": 12.0, "halves": [size // 2] * 2, "notes": []}
    metric = {"mean": fid, "ci95": 0.01, "n": 2, "values": [fid, fid]}
    return {"size": size, "metrics": {"fid": metric, "diversity": {**metric, "mean": 5.0},
                                      "diversity_real": {**metric, "mean": 5.5}},
            "notes": [], "sanity": {"ladder": ladder,
                                    "collapse": {"distinct_base_sequences": size, "pairs": size,
                                                 "diversity_ratio": 0.9},
                                    "chance": {"hits": 20, "pairs": size, "pools": [32, 8], "expected": 1.25,
                                               "p_value": 1e-6}}}


def _results(name="rel", sha="ab", **set_kw):
    return {"format": "vimo-bench/1", "evaluator": {"id": "vimo-0123", "kind": "vimo-contrastive"},
            "protocol": {"preset": "tiny", "replications": 2, "select_on": "val"},
            "provenance": {"release_name": name, "release_sha256": sha * 32, "train_pairs": 10},
            "sets": {"test": _set(**set_kw)}, "reconstruction": {"fid": {"mean": 0.1, "ci95": 0, "values": [0.1]}},
            "valid": True, "invalid_reasons": []}


def _bench(folder: Path, results: dict) -> Path:
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(results))
    return folder


def no_evaluator(r):
    del r["evaluator"]
    return "has no 'evaluator'"


def evaluator_not_a_dict(r):
    r["evaluator"] = "vimo-0123"
    return "'evaluator' is a str"


def no_test_fid(r):
    del r["sets"]["test"]["metrics"]["fid"]
    return "set 'test' has no 'fid'"


def no_provenance_name(r):
    del r["provenance"]["release_name"]
    return "has no 'provenance.release_name'"


def sets_not_a_dict(r):
    r["sets"] = []
    return "'sets' is a list"


@pytest.mark.parametrize("break_it", [no_evaluator, evaluator_not_a_dict, no_test_fid, no_provenance_name,
                                      sets_not_a_dict], ids=lambda f: f.__name__)
@pytest.mark.parametrize("show_invalid", [False, True])
def test_leaderboard_on_malformed_results_is_one_line(break_it, show_invalid, tmp_path, capsys):
    good = _bench(tmp_path / "good", _results("good"))
    r = _results("bad", sha="cd")
    what = break_it(r)
    bad = _bench(tmp_path / "bad", r)
    rc, err = run_cli(["leaderboard", str(good), str(bad), "--out", str(tmp_path / "lb")]
                      + (["--show-invalid"] if show_invalid else []), capsys)
    assert_one_red_line(rc, err, str(bad / "results.json"), what)
    assert not (tmp_path / "lb").exists()


def test_leaderboard_never_ranks_a_nan_fid(tmp_path, capsys):
    good = _bench(tmp_path / "good", _results("good", fid=0.5))
    nan = _bench(tmp_path / "nan", _results("nan", sha="cd", fid=float("nan")))
    rc, err = run_cli(["leaderboard", str(good), str(nan), "--out", str(tmp_path / "lb")], capsys)
    assert_one_red_line(rc, err, str(nan / "results.json"), "not finite")
    assert not (tmp_path / "lb").exists()
    # listed apart with --show-invalid: no rank, after the ranked rows, labelled
    rc, err = run_cli(["leaderboard", str(nan), str(good), "--out", str(tmp_path / "lb"), "--show-invalid", "--json"],
                      capsys)
    assert rc == 0, err
    from vimo.models.report import write_leaderboard

    rows = write_leaderboard([nan, good], tmp_path / "lb2")
    assert [r["release"] for r in rows] == ["good", "nan"]
    assert rows[0]["rank"] == 1 and rows[1]["rank"] is None and not rows[1]["valid"]
    assert math.isnan(rows[1]["fid"]) and "not finite" in rows[1]["invalid_reason"]
    md = (tmp_path / "lb2/leaderboard.md").read_text()
    assert "| 1 | good |" in md and "| - | nan |" in md


def test_leaderboard_refuses_one_release_and_split_on_test_sets_of_different_sizes(tmp_path, capsys):
    full = _bench(tmp_path / "full", _results("rel", fid=0.6, size=40))
    part = _bench(tmp_path / "part", _results("rel", fid=0.4, size=24))
    rc, err = run_cli(["leaderboard", str(full), str(part), "--out", str(tmp_path / "lb")], capsys)
    line = assert_one_red_line(rc, err, str(part / "results.json"), "24 test pairs")
    assert "40" in line and str(full / "results.json") in line
    assert not (tmp_path / "lb").exists()
    # two releases (or two splits) on test sets of different sizes are different benchmarks: ranked
    other = _bench(tmp_path / "other", _results("other", sha="cd", fid=0.4, size=24))
    rc, err = run_cli(["leaderboard", str(full), str(other), "--out", str(tmp_path / "lb")], capsys)
    assert rc == 0, err
