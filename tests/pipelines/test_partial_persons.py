"""Persons missing in some frames (Ego-Humans, Harmony4D): which pairs and clips come out, how holes are
filled or split, when a sequence is quarantined, and the person-frame accounting of the convert summary
against a count made here from the fixture specs and the clip folders."""
from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from vimo.pipelines.convert import ConvertOptions, PERSON_FRAME_KEYS, convert, list_clips
from vimo.pipelines.samples.partial_persons import (
    EGO_PARTIAL, HARMONY_PARTIAL, Hole, person_frame_truth, punch_holes, write_partial_tree,
)
from vimo.pipelines.samples.sources import EgoSequence, write_egohumans_tree
from vimo.pipelines.sources import get_source
from vimo.pipelines.sources.base import NoUsablePairError
from vimo.pipelines.sources.egohumans import fill_gaps


def make(name, root, **cfg):
    cls = get_source(name)
    return cls(root, cls.config_class(**cfg))


@pytest.fixture(scope="module")
def ego(tmp_path_factory):
    return write_partial_tree(tmp_path_factory.mktemp("eh"), EGO_PARTIAL)


@pytest.fixture(scope="module")
def harmony(tmp_path_factory):
    return write_partial_tree(tmp_path_factory.mktemp("h4d"), HARMONY_PARTIAL, harmony4d=True)


@pytest.fixture(scope="module")
def ego_ws(ego, tmp_path_factory):
    ws = tmp_path_factory.mktemp("ws_eh")
    return ws, convert(make("egohumans", ego.root), ConvertOptions(workspace=ws))


def load(tree, rel, **cfg):
    src = make("egohumans" if not rel.startswith(("train/", "test/")) else "harmony4d", tree.root, **cfg)
    (ref,) = [r for r in src.discover() if r.sequence_id == rel]
    return {m.direction: m for m in src.load(ref)}


def test_late_joiner_and_leaver_keep_every_pair(ego):
    late = load(ego, "01_tagging/001_tagging")
    assert sorted(late) == ["aria01-aria02", "aria02-aria01", "aria03-aria04", "aria04-aria03"]
    assert late["aria01-aria02"].segments == [(0, 180)]           # present throughout: untouched
    assert late["aria03-aria04"].segments == [(70, 180)]          # aria03 joins at row 70
    leaver = load(ego, "01_tagging/002_tagging")
    assert leaver["aria01-aria02"].segments == [(0, 180)]
    assert leaver["aria04-aria03"].segments == [(0, 120)]         # aria04 leaves at row 120
    for m in list(late.values()) + list(leaver.values()):
        for s, e in m.segments:
            assert np.isfinite(m.reactor[s:e]).all() and np.isfinite(m.actor[s:e]).all()
    # the untouched pair's joints are exactly those written
    np.testing.assert_allclose(late["aria02-aria01"].reactor, ego.tree.expected["01_tagging/001_tagging"]["aria02"],
                               atol=1e-5)


@pytest.mark.parametrize("rel, person, rows", [("01_tagging/003_tagging", "aria01", (50, 51)),
                                               ("01_tagging/004_tagging", "aria02", (100, 103))])
def test_holes_within_the_gap_are_interpolated_linearly(ego, rel, person, rows):
    motions = load(ego, rel)
    m = motions[f"{person}-{'aria02' if person == 'aria01' else 'aria01'}"]
    assert m.segments == [(0, 180)]
    truth = ego.tree.expected[rel][person]
    s, e = rows
    before, after = truth[s - 1], truth[e]
    for i in range(s, e):
        w = (i - (s - 1)) / (e - (s - 1))
        np.testing.assert_allclose(m.reactor[i], (1 - w) * before + w * after, atol=1e-5)
    keep = np.r_[0:s, e:180]
    np.testing.assert_allclose(m.reactor[keep], truth[keep], atol=1e-5)
    assert not np.allclose(m.reactor[s], truth[s], atol=1e-3)  # a real fill, not the hidden truth


def test_a_hole_longer_than_the_gap_splits_the_span(ego):
    rel = "01_tagging/005_tagging"  # aria02 missing in rows 100-111 (12 frames)
    default = load(ego, rel)  # --max-gap-frames 10
    assert default["aria01-aria02"].segments == [(0, 100), (112, 180)]
    assert default["aria03-aria04"].segments == [(0, 180)]        # the other pair is untouched
    assert load(ego, rel, max_gap_frames=11)["aria01-aria02"].segments == [(0, 100), (112, 180)]
    closed = load(ego, rel, max_gap_frames=12)["aria01-aria02"]  # exactly the hole: closed and filled
    assert closed.segments == [(0, 180)] and np.isfinite(closed.actor).all()


def test_fill_gaps_refuses_holes_beyond_the_gap():
    j = np.arange(10 * 22 * 3, dtype=np.float64).reshape(10, 22, 3)
    finite = np.ones(10, dtype=bool)
    finite[3:6] = False
    j[3:6] = np.nan
    filled = fill_gaps(j, finite, [(0, 10)], max_gap=3)
    np.testing.assert_allclose(filled, np.arange(10 * 22 * 3, dtype=np.float64).reshape(10, 22, 3))
    with pytest.raises(ValueError, match="exceeds max_gap"):
        fill_gaps(j, finite, [(0, 10)], max_gap=2)
    with pytest.raises(ValueError, match="finite rows"):
        fill_gaps(j, finite, [(4, 10)], max_gap=3)


def test_no_usable_pair_quarantines_only_that_sequence(ego, ego_ws):
    ws, summary = ego_ws
    assert (summary.converted, summary.quarantined) == (5, 1)
    ((key, reason),) = summary.quarantine
    assert key == "01_tagging-006_tagging"
    assert "no (reactor, actor) pair is present together for >= 40 frames" in reason
    assert "006_tagging/processed_data/smpl" in reason and "(fix: " in reason
    assert summary.outcomes == {"clips": 5, "no_pair_together": 1}
    units = {c["unit"] for c in list_clips(ws)}
    assert units == {f"01_tagging-00{i}_tagging" for i in range(1, 6)}
    with pytest.raises(NoUsablePairError):
        load(ego, "01_tagging/006_tagging")
    # with a shorter --min-seconds the 30 shared frames are enough
    assert load(ego, "01_tagging/006_tagging", min_seconds=1.0)


def test_clips_never_hold_nan_and_record_their_fills(ego_ws):
    ws, _ = ego_ws
    clips = list_clips(ws)
    for c in clips:
        for path in c["paths"].values():
            assert np.isfinite(np.load(path)).all(), path
    by_id = {c["clip_id"]: c for c in clips}
    nan_clip = by_id["egohumans-01_tagging-003_tagging-aria01-aria02-00000-00180"]
    assert nan_clip["interpolated_frames"] == {"reactor": 1}
    assert "reactor_frames_interpolated" in nan_clip["qa"]["flags"]
    pf = nan_clip["provenance"]["person_frames"]["aria01"]
    assert pf == {"frames": 180, "present": 180, "finite": 179, "in_clips": 180, "interpolated": 1}
    late = by_id["egohumans-01_tagging-001_tagging-aria03-aria04-00070-00180"]
    assert late["provenance"]["person_frames"]["aria03"] == {"frames": 180, "present": 110, "finite": 110,
                                                             "in_clips": 110, "interpolated": 0}
    assert late["qa"]["flags"] == [] and late["interpolated_frames"] == {}
    split = [c for c in clips if c["unit"] == "01_tagging-005_tagging" and "aria02" in c["persons"].values()]
    assert sorted(c["rows"] for c in split) == [[0, 100], [0, 100], [112, 180], [112, 180]]


def independent_counts(tree, ws) -> dict[str, int]:
    """Where every (sequence, person, frame) of the fixture went, from its specs and the clip folders."""
    in_clip: set[tuple[str, str, int]] = set()
    for c in list_clips(ws):
        for person in c["persons"].values():
            in_clip.update((c["sequence_id"], person, row) for row in range(*c["rows"]))
    counts = dict.fromkeys(PERSON_FRAME_KEYS, 0)
    for rel, seq in tree.sequences.items():
        truth = person_frame_truth(seq)
        for person, t in truth.items():
            for row in range(seq.frames):
                counts["seen"] += 1
                others = [o for o in truth if o != person and truth[o]["finite"][row]]
                if (rel, person, row) in in_clip:
                    counts["used" if t["finite"][row] else "interpolated"] += 1
                elif not t["present"][row]:
                    counts["absent"] += 1
                elif not t["finite"][row]:
                    counts["non_finite"] += 1
                elif not others:
                    counts["no_partner"] += 1
                else:
                    counts["not_in_clip"] += 1
    return counts


def test_summary_person_frames_equal_an_independent_count(ego, ego_ws, harmony, tmp_path):
    ws, summary = ego_ws
    want = independent_counts(ego, ws)
    assert summary.person_frames == want
    assert want["seen"] == 3 * 4 * 180 + 3 * 4 * 180 - 2 * 180 and want["absent"] > 0 and want["no_partner"] > 0
    assert summary.person_frames_unknown == 0
    assert summary.as_dict()["person_frames_kept_share"] == pytest.approx(want["used"] / want["seen"], abs=1e-6)
    h_ws = tmp_path / "ws_h4d"
    h = convert(make("harmony4d", harmony.root), ConvertOptions(workspace=h_ws))
    assert (h.converted, h.quarantined) == (2, 0)
    assert h.person_frames == independent_counts(harmony, h_ws)
    assert h.person_frames["interpolated"] == 3  # aria01's 3 NaN rows, once each though both directions hold them
    split = load(harmony, "train/01_hugging/001_hugging")
    assert split["aria01-aria02"].segments == [(0, 60), (80, 180)]


def test_a_person_in_few_frames_is_unused_not_an_error(tmp_path):
    tree = write_egohumans_tree(tmp_path / "eh", [EgoSequence("01_tagging", "001_tagging", kind="handshake",
                                                              second_kind="hug", duration_s=6.0, seed=3)])
    seq = tmp_path / "eh/01_tagging/001_tagging"
    punch_holes(seq, [Hole("aria03", 0, 50), Hole("aria03", 65, 120)])  # aria03 in 15 frames only
    ws = tmp_path / "ws"
    s = convert(make("egohumans", tree.root), ConvertOptions(workspace=ws))
    assert (s.converted, s.quarantined) == (1, 0)
    pairs = {c["persons"]["reactor"] + "-" + c["persons"]["actor"] for c in list_clips(ws)}
    assert pairs == {"aria01-aria02", "aria02-aria01"}
    assert s.person_frames["absent"] == 105 and s.person_frames["used"] == 2 * 120
    assert s.person_frames["not_in_clip"] == 15 + 120  # aria03's 15 frames, all of aria04


def test_resumed_summary_still_counts_earlier_units(ego, ego_ws, tmp_path):
    ws, first = ego_ws
    again = convert(make("egohumans", ego.root), ConvertOptions(workspace=ws))
    assert (again.skipped, again.converted, again.quarantined) == (5, 0, 1)
    assert again.person_frames == first.person_frames and again.outcomes == first.outcomes
    assert any("earlier run" in line for line in again.report_lines())
    # a run killed after two units, then resumed, ends with the same counts as an uninterrupted one
    ws2 = tmp_path / "ws"

    def kill_after_two(result, done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        convert(make("egohumans", ego.root), ConvertOptions(workspace=ws2), progress=kill_after_two)
    resumed = convert(make("egohumans", ego.root), ConvertOptions(workspace=ws2))
    assert resumed.skipped == 2 and resumed.person_frames == first.person_frames
    # a record written by an older vimo (no accounting) is counted as unknown, not as zero
    rec = ws2 / "convert/egohumans/items/01_tagging-001_tagging.json"
    data = json.loads(rec.read_text())
    del data["person_frames"], data["outcome"]
    rec.write_text(json.dumps(data))
    old = convert(make("egohumans", ego.root), ConvertOptions(workspace=ws2))
    assert old.person_frames_unknown == 1 and old.outcomes["no_clip" if not data["clips"] else "clips"] >= 1
    assert old.person_frames["seen"] == first.person_frames["seen"] - 4 * 180


def test_cli_prints_the_accounting(ego, tmp_path):
    from vimo.cli.convert import app

    root = typer.Typer()
    root.add_typer(app, name="convert")
    runner = CliRunner()
    ws = tmp_path / "ws"
    res = runner.invoke(root, ["convert", "egohumans", str(ego.root), "--workspace", str(ws), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout[res.stdout.index("{"):])
    assert data["person_frames"] == independent_counts(ego, ws)
    assert data["outcomes"] == {"clips": 5, "no_pair_together": 1}
    res = runner.invoke(root, ["convert", "egohumans", str(ego.root), "--workspace", str(ws)])
    assert res.exit_code == 0, res.output
    pf, text = data["person_frames"], " ".join(res.stdout.split())
    assert f"{pf['seen']} seen, {pf['used']} kept in clips" in text
    assert f"{pf['absent']} absent" in text and "5 converted into clips" in text
    assert "including units converted by an earlier run" in text
    help_text = runner.invoke(root, ["convert", "egohumans", "--help"]).output
    assert "interpolation" in help_text and "quarantined only when no pair" in help_text
    assert "interpolated" in runner.invoke(root, ["convert", "harmony4d", "--help"]).output
