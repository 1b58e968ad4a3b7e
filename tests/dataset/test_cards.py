"""Data cards: front matter, counts, figures, annotation summary, internal notice, template errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vimo.cards import CardError, annotation_summary, render_card
from vimo.release import read_manifest
from vimo.workspace import Workspace


def _front_matter(text: str) -> dict[str, str]:
    assert text.startswith("---\n")
    block = text.split("---\n")[1]
    return {ln.split(":", 1)[0]: ln.split(":", 1)[1].strip() for ln in block.splitlines() if not ln.startswith("-")}


def test_release_card_has_sections_counts_and_plots(built_release):
    import matplotlib.image as mpimg

    text = (built_release / "README.md").read_text()
    fm = _front_matter(text)
    assert fm["license"] == '"other"' and fm["pretty_name"] == '"vimo-test-1.0.0"'
    for section in ("# Dataset Card for vimo-test-1.0.0", "## Dataset Structure", "### Data Splits",
                    "### Annotations", "## Bias, Risks, and Limitations", "## Licensing Information", "## Citation"):
        assert section in text, section
    rows = read_manifest(built_release)
    n_test = sum(r["split"] == "test" for r in rows)
    assert f"| test | {n_test} |" in text
    n_happy = sum(r["emotion"] == "happily" and r["split"] in ("train", "val", "test") for r in rows)
    assert any(line.startswith("| happily |") and line.endswith(f"| {n_happy} |") for line in text.splitlines())
    assert "Internal build" in text and "Inter-X-NC-ND" in text and "HERO: Human Reaction Generation" in text
    for name in ("motion_lengths.png", "video_distribution.png", "motion_distribution.png"):
        path = built_release / "meta" / "figures" / name
        assert f"meta/figures/{name}" in text
        img = mpimg.imread(path)
        assert img.ndim == 3 and img.shape[0] > 100 and img.std() > 0


def test_annotation_summary_from_rounds(fresh_ws, built_release, tmp_path):
    with Workspace.open(fresh_ws) as ws:
        ws.catalog.add_round(id="rating-main-1", kind="rating", stage="main", status="closed", title="t",
                             instructions_version=2, instructions_md5="x", config_version=1, config_md5="y",
                             overlap=2, created_at="2025-01-01T00:00:00Z")
        for i, (who, mq, rp) in enumerate([("ann1", 4, 5), ("ann2", 2, 3), ("ann1", 5, 5)]):
            ws.catalog.add_annotation(round_id="rating-main-1", ls_annotation_id=i, task_id=f"t{i}", ls_task_id=i,
                                      annotator=who, result=[], answer={"motion_quality": mq,
                                                                        "reaction_plausibility": rp},
                                      validity="valid", status="counted", export_md5="m")
    report = fresh_ws / "annotation" / "rounds" / "rating-main-1" / "report.json"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps({"summary": {"alpha_ordinal": {"motion_quality": 0.71,
                                                                "reaction_plausibility": 0.64}}}))
    summary = annotation_summary(fresh_ws)
    r = summary["rounds"][0]
    assert r["annotators"] == 2 and r["annotations"] == 3
    assert r["mean"]["motion_quality"] == pytest.approx(11 / 3)
    assert r["alpha_ordinal"]["motion_quality"] == 0.71
    readme = render_card(built_release, out=tmp_path / "card", workspace=fresh_ws)
    text = readme.read_text()
    assert "| rating-main-1 | rating | main | closed | 2 | 3 |" in text and "motion_quality 0.71" in text
    assert (tmp_path / "card" / "meta" / "figures" / "motion_lengths.png").is_file()
    without = render_card(built_release, out=tmp_path / "card2").read_text()
    assert "not available (the card was rendered without its workspace)" in without


def test_card_rendering_is_deterministic(built_release, tmp_path):
    a = render_card(built_release, out=tmp_path / "a")
    b = render_card(built_release, out=tmp_path / "b")
    assert a.read_text() == b.read_text()
    for name in ("motion_lengths.png", "motion_distribution.png"):
        assert (tmp_path / "a/meta/figures" / name).read_bytes() == (tmp_path / "b/meta/figures" / name).read_bytes()


def test_bad_template_is_a_one_line_error(built_release, tmp_path):
    tpl = tmp_path / "t.md"
    tpl.write_text("# $title\n$no_such_field\n")
    with pytest.raises(CardError, match="unknown or malformed placeholder"):
        render_card(built_release, out=tmp_path / "c", template=tpl)
    tpl.write_text("# $title\n\n$split_table\n")
    text = render_card(built_release, out=tmp_path / "c", template=tpl).read_text()
    assert text.startswith("# vimo-test-1.0.0") and "| train |" in text


def test_length_histogram_counts(built_release):
    rows = read_manifest(built_release)
    lengths = np.array([int(r["n_frames"]) for r in rows if r["split"] in ("train", "val", "test")])
    text = (built_release / "README.md").read_text()
    assert f"Motion lengths: {lengths.min()}-{lengths.max()} frames" in text


def test_card_gives_reaction_measures_per_sub_category_and_lists_a_penetrating_pair(built_release, tmp_path):
    import shutil

    from vimo.release.measures import two_person_rows

    release = tmp_path / "release"
    shutil.copytree(built_release, release)
    rows = [r for r in two_person_rows(release) if r["split"] in ("train", "val", "test")]
    target = rows[0]
    # the actor put exactly where the reactor is: every frame overlaps by twice the largest capsule radius
    np.save(release / target["actor_joints_path"], np.load(release / target["joints_path"]))
    render_card(release, out=release)
    text = (release / "README.md").read_text()
    data = json.loads((release / "meta" / "reaction_measures.json").read_text())
    assert data["all"]["pairs"] == len(rows) and set(data["pairs"]) == {r["pair_id"] for r in rows}
    assert data["pairs"][target["pair_id"]]["max_penetration_depth"] == pytest.approx(0.24)
    assert data["pairs"][target["pair_id"]]["penetration_frames"] == 1.0
    assert target["pair_id"] in data["outliers"]["penetrating"]
    section = text[text.index("### Reaction measures"):text.index("## Dataset Creation")]
    assert f"`{target['pair_id']}`" in section.split("penetrating (a frame deeper than 5 cm)")[1].splitlines()[0]
    for sub in {r["sub_category"] for r in rows}:
        line = next(ln for ln in section.splitlines() if ln.startswith(f"| {sub} |"))
        n = sum(r["sub_category"] == sub for r in rows)
        assert line.split("|")[2].strip() == str(n)
        assert data["by_sub_category"][sub]["pairs"] == n
    other = sum(r["video_actor"] == "other" for r in read_manifest(release))
    assert f"{other} pairs react to a video of another person" in section
    assert "mesh penetrating frames" not in section and data["mesh_body_model"] is None  # no body models given
    assert "meta/figures/reaction_measures.png" in section
    assert (release / "meta" / "figures" / "reaction_measures.png").stat().st_size > 1000


def test_card_with_body_models_measures_mesh_penetration(built_release, tmp_path, capsys):
    """`vimo card --body-models`: both bodies of every original pair posed as SMPL meshes (a synthetic model
    file), their penetration beside the capsules'. A pair whose actor stands 15 cm beside the reactor's own
    pose penetrates in (nearly) every frame; pairs whose capsules stay 30 cm apart have no mesh penetration."""
    import shutil

    from vimo.cli import main
    from vimo.pipelines.samples.body_models import write_body_model
    from vimo.release.measures import two_person_rows

    release = tmp_path / "release"
    shutil.copytree(built_release, release)
    rows = [r for r in two_person_rows(release) if r["split"] in ("train", "val", "test")]
    target = rows[0]
    np.save(release / target["actor_joints_path"], np.load(release / target["joints_path"]) + [0.15, 0.0, 0.0])
    write_body_model(tmp_path / "models", "smpl", "neutral")
    out = tmp_path / "card"
    assert main(["card", str(release), "--out", str(out), "--body-models", str(tmp_path / "models")]) == 0
    data = json.loads((out / "meta" / "reaction_measures.json").read_text())
    assert data["mesh_body_model"] == "smpl neutral" and data["all"]["mesh_pairs"] == len(rows)
    hit = data["pairs"][target["pair_id"]]
    assert hit["mesh_penetration_frames"] > 0.9 and hit["mesh_max_penetration_depth"] > 0.02
    apart = [p for p in data["pairs"].values() if p["min_distance"] > 0.3]
    assert apart and all(p["mesh_penetration_frames"] == 0.0 for p in apart)
    section = (out / "README.md").read_text().split("### Reaction measures")[1]
    assert "mesh penetrating frames" in section and "smpl neutral" in section
    capsys.readouterr()
    assert main(["card", str(release), "--out", str(tmp_path / "plain"), "--body-models", str(tmp_path)]) != 0
    assert "model file not found" in capsys.readouterr().err
