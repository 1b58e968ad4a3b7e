"""The bad-input corpus: every case is quarantined with a one-line reason naming the file; the run
does not crash and writes no clip for the bad unit (the good unit beside it still converts)."""
from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from vimo.pipelines.samples.sources import (
    EgoSequence, write_amass_tree, write_egohumans_tree, write_harmony4d_tree,
    write_interx_person,
)
from vimo.pipelines.body import load_body_model
from vimo.pipelines.convert import ConvertOptions, convert, list_clips
from vimo.pipelines.sources import get_source
from vimo.synthetic import generate


class Evil:
    """Pickles to a call of os.system: the restricted unpicklers must refuse it."""

    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


@pytest.fixture(scope="module")
def ego_base(tmp_path_factory):
    return write_egohumans_tree(tmp_path_factory.mktemp("eh"), [
        EgoSequence("01_tagging", "001_tagging", kind="handshake", seed=1, duration_s=3.0),
        EgoSequence("01_tagging", "002_tagging", kind="hug", seed=2, duration_s=3.0)])


# ----------------------------------------------------------------------------- corruptions

def _npz_edit(path: Path, **changes) -> None:
    data = dict(np.load(path))
    for k, v in changes.items():
        if v is None:
            data.pop(k)
        else:
            data[k] = v(data[k]) if callable(v) else v
    np.savez(path, **data)


def ix_truncated(root, seq):
    p = root / "motions" / seq / "P1.npz"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    return f"{seq}/P1.npz", "truncated"


def ix_missing_key(root, seq):
    _npz_edit(root / "motions" / seq / "P2.npz", pose_body=None)
    return f"{seq}/P2.npz", "no key 'pose_body'"


def ix_nan_frames(root, seq):
    def nan(t):
        t = t.copy()
        t[10:13] = np.nan
        return t
    _npz_edit(root / "motions" / seq / "P1.npz", trans=nan)
    return f"{seq}/P1.npz", "NaN"


def ix_length_mismatch(root, seq):
    _npz_edit(root / "motions" / seq / "P2.npz", **{k: (lambda a: a[:-30]) for k in
                                                     ("root_orient", "pose_body", "pose_lhand", "pose_rhand", "trans")})
    return f"{seq}/P2.npz", "P1 has"


def ix_wrong_gender(root, seq):
    _npz_edit(root / "motions" / seq / "P1.npz", gender=np.array("mal"))
    return f"{seq}/P1.npz", "'gender' is 'mal'"


def ix_wrong_shape(root, seq):
    _npz_edit(root / "motions" / seq / "P1.npz", pose_body=lambda a: a[:, :20])
    return f"{seq}/P1.npz", "'pose_body' has shape"


def ix_missing_order(root, seq):
    path = root / "annots" / "interaction_order.pkl"
    table = pickle.loads(path.read_bytes())
    table.pop(seq)
    path.write_bytes(pickle.dumps(table, protocol=2))
    return "interaction_order.pkl", f"no entry for {seq}"


def ix_bad_order_value(root, seq):
    path = root / "annots" / "interaction_order.pkl"
    table = pickle.loads(path.read_bytes())
    table[seq] = 2
    path.write_bytes(pickle.dumps(table, protocol=2))
    return "interaction_order.pkl", "expected 0 or 1"


def ix_too_short(root, seq):
    _npz_edit(root / "motions" / seq / "P1.npz", **{k: (lambda a: a[:180]) for k in
                                                     ("root_orient", "pose_body", "pose_lhand", "pose_rhand", "trans")})
    _npz_edit(root / "motions" / seq / "P2.npz", **{k: (lambda a: a[:180]) for k in
                                                     ("root_orient", "pose_body", "pose_lhand", "pose_rhand", "trans")})
    return f"{seq}/P1.npz", "30 frames at 20 fps"


def ix_millimetres(root, seq):
    _npz_edit(root / "motions" / seq / "P1.npz", trans=lambda t: t * 1000.0)
    return f"{seq}/P1.npz", "millimetres"


def ix_tilted(root, seq, models=None):
    """The whole sequence re-fitted in a world tilted 30 degrees about X."""
    x = generate("handshake", seed=11, fps=120, duration_s=3.0)
    t = np.radians(30.0)
    rot = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    for name, j, gender in (("P1", x.actor, "male"), ("P2", x.reactor, "female")):
        model = load_body_model(models, "smplx", gender)
        write_interx_person(root / "motions" / seq / f"{name}.npz", j.astype(np.float64) @ rot.T, model,
                            np.zeros(10), gender)
    return f"{seq}/P1.npz", "from the declared +y axis"


def ix_symlink_escape(root, seq):
    outside = root.parent / f"outside-{root.name}"
    shutil.move(str(root / "motions" / seq), outside)
    os.symlink(outside, root / "motions" / seq)
    return f"motions/{seq}/P1.npz", "outside the root"


def ix_evil_pickle(root, seq):
    (root / "annots" / "interaction_order.pkl").write_bytes(pickle.dumps(Evil()))
    return "interaction_order.pkl", "refused global"


def ix_gender_object_pickle(root, seq):
    """gender stored as a 0-d object array holding a malicious object."""
    data = dict(np.load(root / "motions" / seq / "P1.npz"))
    data["gender"] = np.array(Evil(), dtype=object)
    np.savez(root / "motions" / seq / "P1.npz", **data)
    return f"{seq}/P1.npz", "refused global"


def eh_frame_missing(root, rel):
    (root / rel / "processed_data/smpl/00017.npy").unlink()
    return f"{rel}/processed_data/smpl/00017.npy", "is missing"


def eh_truncated_frame(root, rel):
    p = root / rel / "processed_data/smpl/00005.npy"
    p.write_bytes(p.read_bytes()[:300])
    return f"{rel}/processed_data/smpl/00005.npy", "not a readable"


def eh_no_joints_key(root, rel):
    p = root / rel / "processed_data/smpl/00009.npy"
    d = np.load(p, allow_pickle=True).item()
    d["aria01"].pop("joints")
    np.save(p, d, allow_pickle=True)
    return f"{rel}/processed_data/smpl/00009.npy", "has no 'joints' key"


def eh_wrong_joint_shape(root, rel):
    p = root / rel / "processed_data/smpl/00003.npy"
    d = np.load(p, allow_pickle=True).item()
    d["aria02"]["joints"] = d["aria02"]["joints"][:10]
    np.save(p, d, allow_pickle=True)
    return f"{rel}/processed_data/smpl/00003.npy", "has shape (10, 3)"


def eh_no_pair_together(root, rel):
    """aria02 leaves after row 19 of 60: no pair shares the 40 frames of --min-seconds 2."""
    for n in range(21, 61):
        p = root / rel / f"processed_data/smpl/{n:05d}.npy"
        d = np.load(p, allow_pickle=True).item()
        d.pop("aria02")
        np.save(p, d, allow_pickle=True)
    return f"{rel}/processed_data/smpl", "no (reactor, actor) pair is present together for >= 40 frames"


def eh_millimetres(root, rel):
    for p in sorted((root / rel / "processed_data/smpl").iterdir()):
        d = np.load(p, allow_pickle=True).item()
        for v in d.values():
            v["joints"] = v["joints"] * 1000.0
        np.save(p, d, allow_pickle=True)
    return f"{rel}/processed_data/smpl", "millimetres"


def eh_symlink_escape(root, rel):
    p = root / rel / "processed_data/smpl/00020.npy"
    outside = root.parent / f"outside-{root.name}.npy"
    shutil.move(str(p), outside)
    os.symlink(outside, p)
    return f"{rel}/processed_data/smpl/00020.npy", "outside the root"


def eh_evil_frame(root, rel):
    np.save(root / rel / "processed_data/smpl/00002.npy", np.array(Evil(), dtype=object), allow_pickle=True)
    return f"{rel}/processed_data/smpl/00002.npy", "refused global"


def eh_not_a_dict(root, rel):
    np.save(root / rel / "processed_data/smpl/00004.npy", np.zeros((45, 3)))
    return f"{rel}/processed_data/smpl/00004.npy", "expected a dict"


INTERX_CASES = [ix_truncated, ix_missing_key, ix_nan_frames, ix_length_mismatch, ix_wrong_gender, ix_wrong_shape,
                ix_missing_order, ix_bad_order_value, ix_too_short, ix_millimetres, ix_tilted, ix_symlink_escape,
                ix_gender_object_pickle]
# A person absent in some frames, or with NaN joints in some, is not broken input: those frames are
# not available for that person and the other frames still give clips (tests/pipelines/test_partial_persons.py).
EGO_CASES = [eh_frame_missing, eh_truncated_frame, eh_no_joints_key, eh_wrong_joint_shape, eh_no_pair_together,
             eh_millimetres, eh_symlink_escape, eh_evil_frame, eh_not_a_dict]


def assert_quarantined(summary, ws: Path, source: str, bad_key: str, where: str, what: str, n_good: int):
    assert summary.quarantined == 1 and summary.converted == n_good, summary
    ((key, reason),) = summary.quarantine
    assert key == bad_key
    assert where in reason and what in reason, reason
    assert "\n" not in reason and "(fix: " in reason
    rec = json.loads((ws / "quarantine" / source / f"{bad_key}.json").read_text())
    assert rec["reason"] == reason
    clips = list_clips(ws)
    assert clips and all(c["unit"] != bad_key for c in clips)  # nothing partial from the bad unit
    assert not [p for p in (ws / "clips").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("case", INTERX_CASES, ids=lambda f: f.__name__)
def test_interx_bad_input(case, interx_base, models, tmp_path):
    root = tmp_path / "ix"
    shutil.copytree(interx_base.root, root, symlinks=True)
    seq = sorted(interx_base.sequences)[0]
    where, what = case(root, seq, models) if case is ix_tilted else case(root, seq)
    cls = get_source("interx")
    ws = tmp_path / "ws"
    summary = convert(cls(root, cls.config_class(body_models=models)), ConvertOptions(workspace=ws))
    assert_quarantined(summary, ws, "interx", seq, where, what, n_good=1)


def test_interx_evil_order_pickle_quarantines_every_unit(interx_base, models, tmp_path):
    root = tmp_path / "ix"
    shutil.copytree(interx_base.root, root)
    where, what = ix_evil_pickle(root, None)
    cls = get_source("interx")
    summary = convert(cls(root, cls.config_class(body_models=models)), ConvertOptions(workspace=tmp_path / "ws"))
    assert summary.quarantined == 2 and summary.converted == 0
    assert all(where in r and what in r for _, r in summary.quarantine)


@pytest.mark.parametrize("case", EGO_CASES, ids=lambda f: f.__name__)
def test_egohumans_bad_input(case, ego_base, tmp_path):
    root = tmp_path / "eh"
    shutil.copytree(ego_base.root, root, symlinks=True)
    rel = "01_tagging/001_tagging"
    where, what = case(root, rel)
    cls = get_source("egohumans")
    ws = tmp_path / "ws"
    summary = convert(cls(root, cls.config_class()), ConvertOptions(workspace=ws))
    assert_quarantined(summary, ws, "egohumans", "01_tagging-001_tagging", where, what, n_good=1)


def test_harmony4d_person_missing_everywhere(tmp_path):
    tree = write_harmony4d_tree(tmp_path / "h4d", [
        EgoSequence("01_hugging", "001_hugging", kind="hug", split="train", duration_s=3.0),
        EgoSequence("02_grappling", "003_grappling", kind="handshake", split="test", duration_s=3.0)])
    smpl = tree.root / "test/02_grappling/003_grappling/processed_data/smpl"
    for p in smpl.iterdir():
        d = np.load(p, allow_pickle=True).item()
        d.pop("aria02")
        np.save(p, d, allow_pickle=True)
    cls = get_source("harmony4d")
    ws = tmp_path / "ws"
    summary = convert(cls(tree.root, cls.config_class()), ConvertOptions(workspace=ws))
    assert_quarantined(summary, ws, "harmony4d", "test-02_grappling-003_grappling",
                       "test/02_grappling/003_grappling/processed_data/smpl", "aria02 never appears", n_good=1)


def test_amass_missing_poses(tmp_path, models):
    tree = write_amass_tree(tmp_path / "amass", models, n=2, write_models=False)
    bad = tree.root / f"{tree.files[0]}.npz"
    _npz_edit(bad, poses=None)
    cls = get_source("amass")
    ws = tmp_path / "ws"
    summary = convert(cls(tree.root, cls.config_class(body_models=models)), ConvertOptions(workspace=ws))
    assert_quarantined(summary, ws, "amass", tree.files[0].replace("/", "-"), f"{tree.files[0]}.npz",
                       "no key 'poses'", n_good=1)


@pytest.mark.parametrize("kind", ["wrong_shape", "nan", "mismatch", "too_short", "pickled"])
def test_joints_bad_input(kind, tmp_path):
    x = generate("wave", seed=5, fps=20, duration_s=3.0)
    root = tmp_path / "j"
    root.mkdir()
    np.save(root / "good_reactor.npy", x.reactor)
    np.save(root / "good_actor.npy", x.actor)
    reactor, actor = x.reactor.copy(), x.actor.copy()
    if kind == "wrong_shape":
        reactor = reactor[:, :21]
        what = "expected (T, 22, 3)"
    elif kind == "nan":
        reactor[7, 3] = np.nan
        what = "NaN"
    elif kind == "mismatch":
        actor = actor[:-5]
        what = "frames, the reactor file has"
    elif kind == "too_short":
        reactor, actor = reactor[:30], actor[:30]
        what = "30 frames at 20 fps"
    np.save(root / "bad_reactor.npy", reactor)
    np.save(root / "bad_actor.npy", actor)
    where = "bad_actor.npy" if kind == "mismatch" else "bad_reactor.npy"
    if kind == "pickled":
        np.save(root / "bad_reactor.npy", np.array({"joints": reactor}, dtype=object), allow_pickle=True)
        what = "pickled object"
    cls = get_source("joints")
    ws = tmp_path / "ws"
    summary = convert(cls(root, cls.config_class(fps=20.0)), ConvertOptions(workspace=ws))
    assert_quarantined(summary, ws, "joints", "bad", where, what, n_good=1)


def test_corpus_has_at_least_twenty_cases():
    assert len(INTERX_CASES) + 1 + len(EGO_CASES) + 1 + 1 + 5 >= 20
