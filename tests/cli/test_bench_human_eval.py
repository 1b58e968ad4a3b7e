"""`vimo bench --human-eval` / `vimo bench human-eval-report` against a real Label Studio server (the session
fixture of tests/annotation/conftest.py), with SIMULATED annotators: the blind round hides the variant names from
everything the server holds, and the report joins the pulled scores to the right variants."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.annotation.conftest import TEST_TOKEN, live_server  # noqa: F401  (session fixture: a real server)
from tests.models.conftest import write_tiny_release
from vimo.annotation.rounds import Rounds
from vimo.annotation.simulated import SimulatedAnnotator, ensure_user, rating_region, submit
from vimo.cli.bench import bench_app
from vimo.flows.human_eval import read_mapping
from vimo.errors import InputFormatError

SEED = 10107
SHOWN = ("ground_truth", "hero", "vqvae")


@pytest.fixture(scope="module")
def pushed(live_server, tmp_path_factory):  # noqa: F811
    mp = pytest.MonkeyPatch()
    mp.setenv("LABEL_STUDIO_API_KEY", TEST_TOKEN)
    mp.delenv("LABEL_STUDIO_URL", raising=False)
    tmp = tmp_path_factory.mktemp("human_eval")
    release = write_tiny_release(tmp / "release", n_train=6, n_test=6)
    out = tmp / "bench"
    r = CliRunner().invoke(bench_app, [str(release), "--out", str(out), "--preset", "tiny", "--replications", "2",
                                       "--no-subsets", "--epochs", "1", "--no-progress", "--variant", "hero",
                                       "--variant", "vqvae", "--human-eval", "study1",
                                       "--workspace", str(live_server.workspace), "--human-eval-pairs", "3",
                                       "--human-eval-overlap", "2", "--no-render"])
    assert r.exit_code == 0, (r.output, r.exception)
    yield out, Rounds(live_server.workspace, live_server.client())
    mp.undo()


def test_round_is_blind_shuffled_and_seeded(pushed, live_server):  # noqa: F811
    out, rounds = pushed
    mapping = read_mapping(out, "study1")
    tasks = mapping["tasks"]
    assert len(tasks) == 9 and mapping["rendered"] is False
    assert sorted(t["variant"] for t in tasks.values()) == sorted(SHOWN * 3)
    record = rounds.ledger.round(mapping["round"])
    assert record.kind == "rating" and record.overlap == 2
    # what the server holds: task data and meta, media URLs, project title / description
    server_tasks = rounds._server_tasks(record.project_id)
    assert len(server_tasks) == 9
    project = rounds.client.projects.get(record.project_id)
    visible = json.dumps([{"data": t["data"], "meta": t.get("meta")} for t in server_tasks]) + \
        str(project.title) + str(project.description)
    for word in ("hero", "vqvae", "ground", "truth", "variant", "real", "gt"):
        assert word not in visible.lower().replace("/data/local-files", ""), word
    # media files carry no variant name either, and the reaction joints are there (no renderer: .npy)
    media = sorted(p.name for p in (live_server.workspace / "videos" / "human_eval" / "study1").iterdir())
    assert not any(w in m for m in media for w in ("hero", "vqvae", "ground"))
    for t in tasks.values():
        joints = np.load(rounds.media_root / t["reaction_media"])
        assert joints.shape == (t["frames"], 22, 3) and np.isfinite(joints).all()
    # the push order is the seeded shuffle of [ground truth x3, hero x3, vqvae x3], not grouped by variant
    order = [tasks[t]["variant"] for t in sorted(tasks)]
    unshuffled = [v for v in SHOWN for _ in range(3)]
    assert order == [unshuffled[k] for k in np.random.default_rng(SEED).permutation(9)]
    assert order != unshuffled
    by_pair = {}
    for t in tasks.values():
        by_pair.setdefault(t["motion"], set()).add(t["variant"])
    assert len(by_pair) == 3 and all(v == set(SHOWN) for v in by_pair.values())  # same pairs for every variant


def test_report_joins_scores_to_variants(pushed, live_server):  # noqa: F811
    out, rounds = pushed
    mapping = read_mapping(out, "study1")
    pairs = sorted({t["motion"] for t in mapping["tasks"].values()})
    base = {"ground_truth": (5, 4), "hero": (4, 3), "vqvae": (2, 1)}

    def truth(info):  # per-pair spread so the CI is not zero: +1 reaction plausibility on the first pair
        mq, rp = base[info["variant"]]
        return mq, rp + (1 if info["motion"] == pairs[0] else 0)

    ls_ids = {t: v["ls_task_id"] for t, v in rounds.ledger.tasks(mapping["round"]).items()}
    for name in ("he1", "he2"):  # exact raters: their scores are the truth
        uid = ensure_user(rounds.client, SimulatedAnnotator(name))
        for task_id, info in mapping["tasks"].items():
            mq, rp = truth(info)
            submit(rounds.client, ls_ids[task_id], uid, [rating_region("motion_quality", mq),
                                                         rating_region("reaction_plausibility", rp)])
    r = CliRunner().invoke(bench_app, ["human-eval-report", "study1", "--bench", str(out),
                                       "--workspace", str(live_server.workspace)],
                           env={"LABEL_STUDIO_API_KEY": TEST_TOKEN})
    assert r.exit_code == 0, (r.output, r.exception)
    entry = json.loads((out / "results.json").read_text())["human_eval"]["study1"]
    assert entry["round"] == mapping["round"] and entry["ratings"] == 18 and entry["annotators"] == 2
    for variant, (mq, _) in base.items():
        row = entry["variants"][variant]
        rp_tasks = [truth(i)[1] for i in mapping["tasks"].values() if i["variant"] == variant]
        assert row["tasks"] == 3
        assert row["motion_quality"] == {"mean": mq, "ci95": 0.0, "n": 3}
        assert row["reaction_plausibility"]["mean"] == pytest.approx(np.mean(rp_tasks))
        assert row["reaction_plausibility"]["ci95"] == pytest.approx(1.96 * np.std(rp_tasks, ddof=1) / math.sqrt(3))
    assert entry["agreement"]["alpha_ordinal"]["reaction_plausibility"] == pytest.approx(1.0)
    report = (out / "report.md").read_text()
    tab3 = report[report.index("seed Tab. 3"):]
    assert "| Real | - | - | - | 4.33 ± 0.65 | 5.00 ± 0.00 |" in tab3
    assert "| vqvae | " in tab3 and "| 1.33 ± 0.65 | 2.00 ± 0.00 |" in tab3
    assert "## Human evaluation" in report and "Krippendorff" in report


def test_names_and_tampered_mappings_are_refused(pushed, live_server, tmp_path):  # noqa: F811
    out, rounds = pushed
    from vimo.flows.human_eval import human_eval_report, mapping_path

    with pytest.raises(InputFormatError, match="no human-evaluation round 'nope'"):
        human_eval_report(out, "nope", rounds)
    with pytest.raises(InputFormatError, match="usable round name"):
        mapping_path(out, "../x")
    path = mapping_path(out, "study1")
    original = path.read_text()
    data = json.loads(original)
    data["tasks"][sorted(data["tasks"])[0]]["variant"] = "no-iie"  # a relabelled task
    path.write_text(json.dumps(data))
    try:
        with pytest.raises(InputFormatError, match="sha256 mismatch"):
            human_eval_report(out, "study1", rounds, pull=False)
    finally:
        path.write_text(original)


def test_a_mapping_of_another_format_version_says_which_way(tmp_path):
    from vimo.errors import FormatVersionError
    from vimo.flows.human_eval import mapping_path

    path = mapping_path(tmp_path, "study")
    path.parent.mkdir(parents=True)
    for tag, match in (("vimo-human-eval/0", "older.*push the round again"), ("vimo-human-eval/2", "newer.*upgrade"),
                       ("something-else/1", "not one this vimo reads")):
        path.write_text(json.dumps({"format": tag, "round": "rating-main-001", "tasks": {}}))
        with pytest.raises(FormatVersionError, match=match):
            read_mapping(tmp_path, "study")
