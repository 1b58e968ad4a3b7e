"""QA flags in releases: flagged clips stay out by default, `allow_flagged` lets them in, `[filters] drop_flags`
keeps chosen flags out even then; the data card counts each flag with its reason."""
from __future__ import annotations

import json

import pytest

from tests.dataset.conftest import write_recipe
from vimo.release import ReleaseError, build_release, load_recipe, read_manifest
from vimo.workspace import Workspace

#: Inter-X clips of the dataset fixture marked as the converter marks a mislabelled order
SUSPECT = ("interx/G001T000A007R000", "interx/G002T000A000R000")
#: and one clip with another flag, which drop_flags = ["order_suspect"] must not touch
SKATING = "interx/G003T000A001R000"


@pytest.fixture
def flagged_ws(fresh_ws):
    with Workspace.open(fresh_ws) as ws:
        for cid in SUSPECT:
            ws.catalog.add_clip(clip_id=cid, status="flagged", reason="order_suspect",
                                qa={"flags": ["order_suspect"]})
        ws.catalog.add_clip(clip_id=SKATING, status="flagged", reason="reactor_foot_skate_mps_high",
                            qa={"flags": ["reactor_foot_skate_mps_high"]})
    return fresh_ws


def released_clips(release):
    return {r["clip_id"] for r in read_manifest(release)}


def info_of(release):
    return json.loads((release / "meta" / "info.json").read_text())


def card_line(release, flag):
    text = (release / "README.md").read_text()
    return next(line for line in text.splitlines() if line.startswith(f"- `{flag}`"))


def test_flagged_clips_stay_out_by_default_and_the_card_says_why(flagged_ws, tmp_path):
    rel = build_release(write_recipe(tmp_path / "r.toml", flagged_ws, version="1.0.0")).path
    assert not released_clips(rel) & {*SUSPECT, SKATING}
    excluded = info_of(rel)["excluded"]
    assert excluded["clip flagged: order_suspect"] == 2
    assert excluded["clip flagged: reactor_foot_skate_mps_high"] == 1
    line = card_line(rel, "order_suspect")
    assert "0 released pairs, 2 pairs left out" in line
    assert "labelled reactor starts moving clearly before the labelled actor" in line


def test_drop_flags_keeps_order_suspect_out_even_when_flagged_clips_are_allowed(flagged_ws, tmp_path):
    allow = build_release(write_recipe(tmp_path / "a.toml", flagged_ws, version="1.1.0",
                                       filters="allow_flagged = true")).path
    assert {*SUSPECT, SKATING} <= released_clips(allow)
    assert info_of(allow)["qa_flags"] == {"order_suspect": 2, "reactor_foot_skate_mps_high": 1}
    assert "2 released pairs, 0 pairs left out" in card_line(allow, "order_suspect")

    drop = build_release(write_recipe(tmp_path / "d.toml", flagged_ws, version="1.2.0",
                                      filters='allow_flagged = true\ndrop_flags = ["order_suspect"]')).path
    kept = released_clips(drop)
    assert not kept & set(SUSPECT) and SKATING in kept
    assert len(kept) == len(released_clips(allow)) - 2
    assert info_of(drop)["excluded"]["clip flagged: order_suspect"] == 2
    assert info_of(drop)["qa_flags"] == {"reactor_foot_skate_mps_high": 1}
    assert "0 released pairs, 2 pairs left out" in card_line(drop, "order_suspect")
    assert "1 released pairs, 0 pairs left out" in card_line(drop, "reactor_foot_skate_mps_high")


def test_unflagged_release_card_has_no_flag_lines(built_release):
    assert info_of(built_release)["qa_flags"] == {}
    assert "QA flags" not in (built_release / "README.md").read_text()


def test_drop_flags_must_be_a_list(tmp_path, fresh_ws):
    recipe = write_recipe(tmp_path / "bad.toml", fresh_ws, filters='drop_flags = "order_suspect"')
    with pytest.raises(ReleaseError, match=r"bad\.toml: \[filters\] drop_flags must be a list .*fix: e\.g\."):
        load_recipe(recipe)
