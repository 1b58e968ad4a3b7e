"""The ViMo taxonomy as data: structure, source mappings, label checks, workspace override."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vimo.taxonomy import Taxonomy, TaxonomyError
from vimo.workspace import Workspace

DATA = Path(__file__).parent / "data"


def test_default_taxonomy_has_the_papers_structure():
    tax = Taxonomy.load()
    assert set(tax.broad_categories) == {"Human-Human", "Animal-Human", "Scene-Human"}
    assert tax.broad_categories["Human-Human"] == ("daily socialising", "sports", "physical confrontation", "others")
    assert len(tax.sub_categories) == 32
    assert {"happily", "angrily", "expressionlessly"} <= set(tax.emotions)
    assert set(tax.sub("walking_towards").emotions) == {"happily", "angrily", "expressionlessly"}
    for slug in ("automobile_rush_towards", "explosion", "lion_approaching", "dribbling", "shooting"):
        assert tax.sub(slug).evidence in ("paper", "official-code")
    for broad in tax.broad_categories:
        assert tax.subs_of(broad), broad


def test_every_interx_action_maps_onto_the_taxonomy():
    tax = Taxonomy.load()
    actions = (DATA / "interx_action_setting.txt").read_text().split("\n")
    assert len(actions) == 40 and tax.sources["interx"]["actions"] == actions
    for i, name in enumerate(actions):
        by_name = tax.label_for("interx", {"action": name})
        by_id = tax.label_for("interx", {"action_id": i})
        assert by_name is not None and by_name == by_id
        assert by_name.broad_category == "Human-Human"
    assert tax.label_for("interx", {"action_id": 13}).sub_category == "walking_towards"
    assert tax.label_for("interx", {"action_id": 40}) is None


@pytest.mark.parametrize("source,activity,sub", [
    ("harmony4d", "grappling2", "grappling"), ("harmony4d", "mma5", "martial_arts"),
    ("harmony4d", "hugging", "hugging"), ("egohumans", "legoassemble", "collaborating"),
    ("egohumans", "02_lego", "collaborating"), ("egohumans", "tennis", "racket_sports"),
    ("egohumans", "fencing", "fencing"),
])
def test_capture_activities_map(source, activity, sub):
    assert Taxonomy.load().label_for(source, {"activity": activity}).sub_category == sub


def test_unmapped_labels_give_none():
    tax = Taxonomy.load()
    assert tax.label_for("harmony4d", {"activity": "juggling"}) is None
    assert tax.label_for("nosuchsource", {"activity": "hugging"}) is None
    assert tax.label_for("harmony4d", {}) is None


def test_check_rejects_inconsistent_labels():
    tax = Taxonomy.load()
    assert tax.check("Human-Human", "walking_towards", "angrily").emotion == "angrily"
    assert tax.check(None, "explosion").broad_category == "Scene-Human"
    with pytest.raises(TaxonomyError, match="unknown sub-category 'flying'"):
        tax.check("Human-Human", "flying")
    with pytest.raises(TaxonomyError, match="belongs to Scene-Human"):
        tax.check("Human-Human", "explosion")
    restricted = Taxonomy.from_dict({
        "format_version": 1, "broad_categories": {"Human-Human": {"groups": []}}, "emotions": ["happily", "sadly"],
        "sub_categories": {"waving": {"broad": "Human-Human", "group": None, "emotions": ["happily"]}}})
    with pytest.raises(TaxonomyError, match="not filmed sadly"):
        restricted.check(None, "waving", "sadly")
    with pytest.raises(TaxonomyError, match="unknown emotion"):
        tax.check(None, "walking_towards", "gleefully")


def test_workspace_overrides_the_taxonomy(tmp_path):
    data = json.loads((Path(__file__).parents[2] / "vimo" / "data" / "taxonomy.json").read_text())
    data["name"] = "my-taxonomy"
    data["sub_categories"]["cat_approaching"] = {"name": "cat approaching", "broad": "Animal-Human", "group": None}
    with Workspace.init(tmp_path / "ws") as ws:
        (ws.root / "taxonomy.json").write_text(json.dumps(data))
        tax = Taxonomy.for_workspace(ws.root)
    assert tax.name == "my-taxonomy" and tax.sub("cat_approaching").broad == "Animal-Human"
    assert tax.checksum != Taxonomy.load().checksum


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d["sub_categories"]["hugging"].update(broad="Plant-Human"), "unknown broad category"),
    (lambda d: d["sources"]["interx"]["map"].update(Hug="cuddling"), "unknown sub-categories"),
    (lambda d: d.update(format_version=99), "format version 99 is newer.*upgrade vimo"),
    (lambda d: d.update(format_version=0), "format version 0 is older.*taxonomy.json"),
    (lambda d: d["sub_categories"]["hugging"].update(emotions=["sadly"]), "unknown emotions"),
])
def test_broken_override_names_the_file(tmp_path, mutate, message):
    data = json.loads((Path(__file__).parents[2] / "vimo" / "data" / "taxonomy.json").read_text())
    mutate(data)
    path = tmp_path / "taxonomy.json"
    path.write_text(json.dumps(data))
    with pytest.raises(TaxonomyError, match=message) as info:
        Taxonomy.for_workspace(tmp_path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_invalid_json_is_one_line(tmp_path):
    (tmp_path / "taxonomy.json").write_text("{not json")
    with pytest.raises(TaxonomyError, match="not valid JSON"):
        Taxonomy.for_workspace(tmp_path)
