"""Split policies: determinism, disjointness, leakage guards, T2/T3, Seen/Unseen, subsets."""
from __future__ import annotations

import pytest

from vimo.splits import (GUARD_KINDS, LeakageError, SplitError, SplitItem, SplitPolicy, check_leakage, leakage_keys,
                         make_splits)

SUBS = ["hugging", "pushing", "walking_towards", "waving", "hitting", "dancing", "chasing", "explosion"]


def _items(n_groups: int = 12) -> list[SplitItem]:
    """Inter-X-like pairs: subject groups x actions (a group links its pairs), plus a video reused by
    two Ego-Humans captures, plus extra reactions for the first videos."""
    items = []
    for g in range(1, n_groups + 1):
        for a, sub in enumerate(SUBS):
            seq = f"G{g:03d}T000A{a:03d}R000"
            emotion = ("happily", "angrily", "expressionlessly")[g % 3] if sub == "walking_towards" else None
            keys = leakage_keys(video_id=f"v-{seq}", motion_id=f"m-{seq}", motion_source="interx",
                                motion_sequence=seq, video_source="interx", video_sequence=seq)
            items.append(SplitItem(f"p-{seq}", f"v-{seq}", f"m-{seq}", "Human-Human", sub, emotion, keys, "source",
                                   4.0))
    for c in range(20):
        seq = f"0{c % 5}_tagging/00{c}_tagging"
        keys = leakage_keys(video_id=f"eh-v{c}", motion_id=f"eh-m{c}", motion_source="egohumans",
                            motion_sequence=seq, video_source="egohumans", video_sequence=seq)
        items.append(SplitItem(f"eh-{c:02d}", f"eh-v{c}", f"eh-m{c}", "Human-Human", "chasing", None, keys, "source",
                               3.5))
    # extra reactions (pairing rounds) for the Ego-Humans videos: motions of other captures
    for c in range(20):
        for k in (1, 2):
            j = (c + 7 * k) % 20
            seq = f"0{j % 5}_tagging/00{j}_tagging"
            keys = leakage_keys(video_id=f"eh-v{c}", motion_id=f"eh-m{j}", motion_source="egohumans",
                                motion_sequence=seq)
            items.append(SplitItem(f"eh-{c:02d}-x{k}", f"eh-v{c}", f"eh-m{j}", "Human-Human", "chasing", None, keys,
                                   "pairing", 3.0 - k * 0.1))
    return items


def test_same_seed_same_split_other_seed_other_split():
    items = _items()
    a = make_splits(items, SplitPolicy(seed=1))
    b = make_splits(list(reversed(items)), SplitPolicy(seed=1))
    c = make_splits(items, SplitPolicy(seed=2))
    assert a.assignment == b.assignment and a.lists == b.lists
    assert a.assignment != c.assignment


def test_splits_are_disjoint_and_leak_free():
    items = _items()
    s = make_splits(items, SplitPolicy(seed=0, test_fraction=0.2, val_fraction=0.1))
    train, val, test = (set(s.lists[k]) for k in ("train", "val", "test"))
    assert train and val and test
    assert not (train & val or train & test or val & test)
    assert train | val | test == set(s.assignment)
    assert check_leakage(items, s.assignment, GUARD_KINDS) == []
    # Inter-X subject groups are whole: every pair of a group sits in one split
    for g in range(1, 13):
        assert len({s.assignment[it.pair_id] for it in items if it.pair_id.startswith(f"p-G{g:03d}")}) == 1
    assert 0.1 < len(test) / len(s.assignment) < 0.35


def test_t2_t3_share_the_base_test_set_and_add_reactions():
    items = _items()
    s = make_splits(items, SplitPolicy(seed=0, reactions_per_video=(2, 3)))
    by_id = {it.pair_id: it for it in items}
    base_train = set(s.lists["train"])
    for k in (2, 3):
        tk = s.lists[f"t{k}/train"]
        assert base_train <= set(tk)
        per_video = {}
        for p in tk:
            per_video.setdefault(by_id[p].video_id, []).append(p)
        assert max(len(v) for v in per_video.values()) == k
        assert all(len(v) <= k for v in per_video.values())
        # no T<k> reaction touches a test key
        test_keys = {key for p in s.lists["test"] for ks in by_id[p].keys.values() for key in ks}
        assert not any(key in test_keys for p in tk for ks in by_id[p].keys.values() for key in ks)
    assert "t2/test" not in s.lists and s.lists["test"] == sorted(s.lists["test"])
    assert len(s.lists["t3/train"]) > len(s.lists["t2/train"]) > len(s.lists["train"])


def test_held_out_sub_categories_are_absent_from_seen_training():
    items = _items()
    by_id = {it.pair_id: it for it in items}
    s = make_splits(items, SplitPolicy(seed=0, unseen_sub_categories=("hitting", "dancing")))
    seen = s.lists["seen_unseen/train"]
    unseen = s.lists["seen_unseen/test"]
    assert seen and unseen
    assert not {by_id[p].sub_category for p in seen} & {"hitting", "dancing"}
    assert {by_id[p].sub_category for p in unseen} == {"hitting", "dancing"}
    assert len(unseen) == 2 * 12  # every primary pair of the held-out sub-categories
    auto = make_splits(items, SplitPolicy(seed=3, n_unseen=6))
    assert len(auto.unseen_sub_categories) == 6
    assert auto.unseen_sub_categories == make_splits(items, SplitPolicy(seed=3, n_unseen=6)).unseen_sub_categories
    with pytest.raises(SplitError, match="no accepted pairs"):
        make_splits(items, SplitPolicy(unseen_sub_categories=("lion_approaching",)))


def test_per_category_and_emotion_subsets_partition_the_test_set():
    s = make_splits(_items(), SplitPolicy(seed=0))
    test = set(s.lists["test"])
    subs = [k for k in s.lists if k.startswith("sub-")]
    assert set().union(*(set(s.lists[k]) for k in subs)) == test
    assert set(s.lists["broad-human_human"]) == test
    emotions = [k for k in s.lists if k.startswith("emotion-")]
    assert emotions and all(set(s.lists[k]) <= test for k in emotions)


def test_planted_violation_is_caught():
    items = _items()
    # pin two pairs of the same Inter-X subject group (different sequences) to train and test
    previous = {"p-G001T000A000R000": "train", "p-G001T000A001R000": "test"}
    with pytest.raises(LeakageError, match="interx-group:G001") as info:
        make_splits(items, SplitPolicy(seed=0), previous)
    assert "\n" not in str(info.value) and "allow_leakage" in str(info.value)
    s = make_splits(items, SplitPolicy(seed=0, allow_leakage=True), previous)
    assert any(v.key == "interx-group:G001" and v.kind == "subject_group" for v in s.violations)
    # and check_leakage finds a hand-planted video shared between train and test
    planted = {"eh-00": "train", "eh-00-x1": "test"}
    found = check_leakage(items, planted, ("video",))
    assert [v.key for v in found] == ["video:eh-v0"]
    assert "train" in found[0].describe() and "test" in found[0].describe()


def test_previous_assignment_is_kept_for_stability():
    items = _items()
    first = make_splits(items, SplitPolicy(seed=0))
    second = make_splits(items, SplitPolicy(seed=99), previous=first.assignment)
    assert second.assignment == first.assignment


@pytest.mark.parametrize("policy,message", [
    (SplitPolicy(test_fraction=1.2), "test_fraction"),
    (SplitPolicy(test_fraction=0.6, val_fraction=0.5), "below 1"),
    (SplitPolicy(guard=("video", "planet")), "unknown guard"),
    (SplitPolicy(reactions_per_video=(1,)), "reactions_per_video"),
])
def test_bad_policies_are_refused(policy, message):
    with pytest.raises(SplitError, match=message):
        make_splits(_items(2), policy)


def test_leakage_keys_of_sources():
    ix = leakage_keys(video_id="v", motion_id="m", motion_source="interx", motion_sequence="G007T001A002R003")
    assert ix["subject_group"] == ("interx-group:G007",) and ix["capture"] == ()
    h4d = leakage_keys(video_id="v", motion_id="m", motion_source="harmony4d",
                       motion_sequence="train/01_hugging/001_hugging")
    assert h4d["capture"] == ("capture:harmony4d/train/01_hugging/001_hugging",)
    assert h4d["subject_group"] == ()


def test_default_policy_has_a_validation_split_even_for_small_releases():
    """val_fraction defaults to 0.1; a release too small for any stratum's share still gets 2 val pairs (whole
    leakage components, taken from train while train keeps a pair of every stratum it had, and one at least)."""
    assert SplitPolicy().val_fraction == 0.1
    items = _items(n_groups=12)
    s = make_splits(items, SplitPolicy(seed=0))
    assert s.lists["val"] and check_leakage(items, s.assignment, GUARD_KINDS) == []
    # 6 videos in 3 sub-categories (2 each): 0.1 x 2 < 0.5 pair, so the stratified pass alone leaves val empty
    tiny = [SplitItem(f"p{i}", f"v{i}", f"m{i}", "Human-Human", SUBS[i % 3], None,
                      leakage_keys(video_id=f"v{i}", motion_id=f"m{i}", motion_source="interx",
                                   motion_sequence=f"G{i:03d}T000A000R000"), "source", 4.0) for i in range(6)]
    s = make_splits(tiny, SplitPolicy(seed=0, test_fraction=0.3))
    assert len(s.lists["val"]) >= 2 and len(s.lists["test"]) >= 2 and s.lists["train"]  # a FID needs 2 samples
    assert not set(s.lists["val"]) & set(s.lists["test"])
    # no val asked: none made; two pairs: train keeps one, so nothing is moved to val
    assert make_splits(tiny, SplitPolicy(seed=0, test_fraction=0.3, val_fraction=0)).lists["val"] == []
    two = make_splits(tiny[:2], SplitPolicy(seed=0, test_fraction=0.3))
    assert two.lists["train"] and two.lists["test"] and not two.lists["val"]


def test_seen_unseen_validation_holds_no_unseen_pair():
    """splits/seen_unseen/val: the base val pairs of the Seen sub-categories only, so a Seen/Unseen benchmark
    never selects checkpoints on Unseen pairs (the base val set has some)."""
    items = _items()
    by_id = {it.pair_id: it for it in items}
    s = make_splits(items, SplitPolicy(seed=0, val_fraction=0.2, unseen_sub_categories=("hitting", "dancing")))
    val = s.lists["seen_unseen/val"]
    assert val and set(val) <= set(s.lists["val"])
    assert any(by_id[p].sub_category in ("hitting", "dancing") for p in s.lists["val"])
    assert not {by_id[p].sub_category for p in val} & {"hitting", "dancing"}
    assert not set(val) & set(s.lists["seen_unseen/test"]) and not set(val) & set(s.lists["seen_unseen/train"])
    assert s.notes["seen_unseen"]["seen_val_pairs"] == len(val)
