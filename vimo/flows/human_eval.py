"""Human evaluation of generated reactions: a BLIND rating round of benchmark samples, and its report.

Glue between vimo.models (the samples), vimo.pipelines (the renderer, optional) and vimo.annotation (the
rating round): a flow, above the wings (vimo.flows).

Blindness: each task shows an input video and one reaction (a variant's generation or the ground truth); its
id, file names and data carry no variant name, and the tasks are pushed in an order shuffled with a fixed seed.
The task -> (variant, pair) mapping stays on our side, in `<bench>/human_eval/<name>.json` (written before the
push); the round's ledger record keeps only that file's path and the sha256 of its tasks.
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from vimo.atomic import save_npy, write_json, write_text
from vimo.errors import InputFormatError, MissingExtraError, VimoError, check_format_version

MAPPING_FORMAT = "vimo-human-eval/1"
DIMENSIONS = ("motion_quality", "reaction_plausibility")


@dataclass
class HumanEvalPush:
    """What `push_human_eval` did."""

    name: str
    round_id: str
    mapping: Path
    tasks: int
    rendered: bool


def mapping_path(bench_dir: str | Path, name: str) -> Path:
    """`<bench>/human_eval/<name>.json`, the private task -> variant mapping of a round."""
    if not name or any(c in name for c in "/\\") or name.startswith("."):
        raise InputFormatError(f"'{name}' is not a usable round name", fix="use letters, digits, '-' and '_'")
    return Path(bench_dir) / "human_eval" / f"{name}.json"


def joints_path(bench_dir: str | Path, name: str, task_id: str) -> Path:
    """`<bench>/human_eval/<name>.joints/<task>.npy`: the (T, 22, 3) joints of a task's reaction (private, like
    the mapping), read for the rank correlations of the reaction measures with the ratings."""
    return mapping_path(bench_dir, name).with_suffix(".joints") / f"{task_id}.npy"


def tasks_digest(tasks: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a mapping's tasks (kept in the round's ledger record)."""
    return hashlib.sha256(json.dumps(tasks, sort_keys=True).encode()).hexdigest()


def default_renderer() -> Callable[[np.ndarray, Path], Path] | None:
    """Renders (T, 22, 3) joints to an mp4 when vimo.pipelines.video can be used, else None."""
    try:
        from vimo.extras import require

        require("render")
        import vimo.pipelines.video.render  # noqa: F401  (pyrender / EGL importable)
    except (MissingExtraError, ImportError, OSError):
        return None
    from vimo.flows.generate import render_reaction_mp4

    return lambda joints, path: render_reaction_mp4(joints, path)


def push_human_eval(samples: Sequence[Any], rounds: Any, bench_dir: str | Path, name: str, *, seed: int = 10107,
                    overlap: int = 3, renderer: Callable[[np.ndarray, Path], Path] | None = None) -> HumanEvalPush:
    """Write the media of `samples` (vimo.models.bench.ReactionSample) under the workspace's videos folder,
    create a rating round and push one task per sample in a seeded shuffled order, without variant names.

    With a `renderer` each reaction becomes an mp4; without one the reaction's joints (.npy) are written and
    the task references them next to the input video (rate after rendering them elsewhere)."""
    mapping_file = mapping_path(bench_dir, name)
    if mapping_file.is_file():
        raise InputFormatError("a human-evaluation round of this name exists", path=mapping_file,
                               fix="choose another --human-eval name, or report it: vimo bench human-eval-report")
    if not samples:
        raise InputFormatError("no samples to rate", fix="benchmark a release with test pairs")
    from vimo.annotation.rounds import TaskItem

    order = np.random.default_rng(seed).permutation(len(samples))
    inputs: dict[Path, str] = {}
    tasks: dict[str, dict[str, Any]] = {}
    items = []
    for position, k in enumerate(order):
        s = samples[int(k)]
        task_id = f"{name}-{position:03d}"
        if s.video_path not in inputs:  # one copy of each input video, named by its order of first use
            rel = f"human_eval/{name}/input-{len(inputs):03d}{s.video_path.suffix}"
            (rounds.media_root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(s.video_path, rounds.media_root / rel)
            inputs[s.video_path] = rel
        if renderer is not None:
            reaction = f"human_eval/{name}/{task_id}.mp4"
            renderer(s.joints, rounds.media_root / reaction)
        else:
            reaction = f"human_eval/{name}/{task_id}.joints.npy"
            save_npy(rounds.media_root / reaction, s.joints)
        save_npy(joints_path(bench_dir, name, task_id), s.joints)  # ours: the reaction measures of the sample
        tasks[task_id] = {"variant": s.variant, "video": s.pair[0], "motion": s.pair[1],
                          "input_media": inputs[s.video_path], "reaction_media": reaction,
                          "frames": int(s.joints.shape[0])}
        items.append(TaskItem(task_id, media={"input_video": inputs[s.video_path], "reaction_video": reaction}))
    mapping = {"format": MAPPING_FORMAT, "name": name, "round": None, "seed": seed, "rendered": renderer is not None,
               "bench": str(Path(bench_dir)), "workspace": str(rounds.workspace),
               "variants": sorted({t["variant"] for t in tasks.values()}), "tasks": tasks}
    write_json(mapping_file, mapping)  # ours before anything reaches the server
    record = rounds.create("rating", "main", overlap=overlap, title=f"ViMo human evaluation {name}",
                           params={"human_eval": name, "mapping": str(mapping_file.resolve()),
                                   "tasks_sha256": tasks_digest(tasks)})
    mapping["round"] = record.id
    write_json(mapping_file, mapping)
    rounds.push(record.id, items)
    return HumanEvalPush(name, record.id, mapping_file, len(items), renderer is not None)


def read_mapping(bench_dir: str | Path, name: str) -> dict[str, Any]:
    """The mapping file of round `name` of a benchmark folder, checked."""
    path = mapping_path(bench_dir, name)
    if not path.is_file():
        raise InputFormatError(f"has no human-evaluation round '{name}'", path=path.parent,
                               fix="push one first: vimo bench RELEASE --human-eval NAME --workspace WS")
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise InputFormatError(f"is not valid JSON ({exc})", path=path, fix="restore the file from a backup") from None
    check_format_version(data.get("format") if isinstance(data, dict) else None, MAPPING_FORMAT,
                         what="human-evaluation mapping", path=path,
                         older_fix="push the round again under a new name with this vimo")
    if not data.get("round"):
        raise InputFormatError(f"is not a {MAPPING_FORMAT} mapping with a round", path=path,
                               fix="push the round again under a new name")
    return data


def _mean_ci(values: Sequence[float]) -> dict[str, float]:
    from vimo.models.metrics import ci95

    arr = np.asarray(values, dtype=float)
    return {"mean": float(arr.mean()), "ci95": ci95(arr, ddof=1), "n": int(len(arr))}


def score_variants(ratings: Sequence[Any], tasks: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Counted ratings (vimo.annotation.agreement.Rating) joined to variants through the mapping: per variant
    and dimension the mean of the per-task mean scores and its 95 % CI over tasks (1.96 * sd / sqrt(tasks))."""
    per_task: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in ratings:
        if r.task not in tasks:
            raise VimoError(f"rated task '{r.task}' is not in the round's mapping",
                            fix="report the round with the benchmark folder that pushed it")
        if r.dimension in DIMENSIONS:
            per_task[(r.task, r.dimension)].append(r.score)
    out: dict[str, dict[str, Any]] = {}
    variants = list(dict.fromkeys(["ground_truth"] + sorted(t["variant"] for t in tasks.values())))
    for v in variants:
        ids = [t for t, info in tasks.items() if info["variant"] == v]
        if not ids:
            continue
        row: dict[str, Any] = {"tasks": len(ids)}
        for dim in DIMENSIONS:
            means = [float(np.mean(per_task[(t, dim)])) for t in ids if per_task.get((t, dim))]
            if means:
                row[dim] = _mean_ci(means)
        out[v] = row
    return out


def _task_plausibility(ratings: Sequence[Any]) -> dict[str, float]:
    per_task: dict[str, list[float]] = defaultdict(list)
    for r in ratings:
        if r.dimension == "reaction_plausibility":
            per_task[r.task].append(float(r.score))
    return {t: float(np.mean(v)) for t, v in per_task.items()}


def measure_correlations(bench_dir: str | Path, name: str, results: dict[str, Any], tasks: dict[str, dict[str, Any]],
                         ratings: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Spearman rank correlation with the mean reaction plausibility of each rated sample: of each reaction measure
    (per sample whose pair is an original pair of the benchmarked release: its joints against the pair's actor)
    and of FID (per generated variant, its test-set FID against the variant's mean plausibility)."""
    from vimo.metrics.reaction import SUMMARY_KEYS, clip_measures
    from vimo.models.metrics import spearman

    plaus = _task_plausibility(ratings)
    out: dict[str, dict[str, Any]] = {}
    release = Path(results.get("provenance", {}).get("release_path", ""))
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    if (release / "manifest.csv").is_file():
        from vimo.release.layout import read_manifest
        from vimo.release.measures import is_two_person

        rows = {(r["video_path"], r["motion_path"]): r for r in read_manifest(release) if is_two_person(r)}
    values: dict[str, list[float]] = defaultdict(list)
    scores: list[float] = []
    for task_id, info in sorted(tasks.items()):
        row = rows.get((info["video"], info["motion"]))
        path = joints_path(bench_dir, name, task_id)
        if row is None or task_id not in plaus or not path.is_file():
            continue
        joints = np.load(path)
        actor = np.load(release / row["actor_joints_path"])[:joints.shape[0]]
        m = clip_measures(joints[:actor.shape[0]], actor, 20.0, volume=False).as_dict()
        scores.append(plaus[task_id])
        for key in SUMMARY_KEYS:
            if key not in ("early_reactions", "penetration_volume"):
                values[key].append(np.nan if m.get(key) is None else float(m[key]))
    for key, vals in values.items():
        out[key] = {"level": "sample", "n": int(np.isfinite(vals).sum()), "rho": spearman(vals, scores)}
    variants = results.get("variants") or {}
    fids, plaus_v = [], []
    for variant in sorted({t["variant"] for t in tasks.values()} - {"ground_truth"}):
        sets = (variants.get(variant) or {}).get("sets") or (results.get("sets") if not variants else None)
        ids = [t for t, info in tasks.items() if info["variant"] == variant and t in plaus]
        if sets and ids:
            fids.append(sets["test"]["metrics"]["fid"]["mean"])
            plaus_v.append(float(np.mean([plaus[t] for t in ids])))
    out["fid"] = {"level": "variant", "n": len(fids), "rho": spearman(fids, plaus_v)}
    return out


def human_eval_report(bench_dir: str | Path, name: str, rounds: Any, *, pull: bool = True) -> dict[str, Any]:
    """Pull the round (unless `pull` is False), join its scores to the variants, add them with the round's
    agreement to `<bench>/results.json` under human_eval[name], and re-render report.md. Returns the entry."""
    from vimo.annotation.agreement import round_summary
    from vimo.models.report import read_results, render_report

    bench_dir = Path(bench_dir)
    results = read_results(bench_dir)
    mapping = read_mapping(bench_dir, name)
    round_id = mapping["round"]
    recorded = (rounds.ledger.round(round_id).params or {}).get("tasks_sha256")
    if recorded and recorded != tasks_digest(mapping["tasks"]):
        raise InputFormatError(f"tasks differ from those pushed to round {round_id} (sha256 mismatch)",
                               path=mapping_path(bench_dir, name), fix="restore the mapping file as written by the push")
    if pull:
        rounds.pull(round_id)
    ratings = rounds.ratings(round_id)
    summary = round_summary(ratings)

    def finite(d: dict[str, float]) -> dict[str, float | None]:
        return {k: (v if v is not None and math.isfinite(v) else None) for k, v in d.items()}

    entry = {"round": round_id, "rendered": mapping["rendered"], "seed": mapping["seed"],
             "annotators": summary.annotators, "ratings": summary.ratings, "rated_tasks": summary.rated_tasks,
             "tasks": len(mapping["tasks"]), "variants": score_variants(ratings, mapping["tasks"]),
             "agreement": {"alpha_ordinal": finite(summary.alpha_ordinal),
                           "alpha_interval": finite(summary.alpha_interval),
                           "pairable_tasks": summary.pairable_tasks},
             "correlations": measure_correlations(bench_dir, name, results, mapping["tasks"], ratings)}
    results.pop("_path", None)
    results.setdefault("human_eval", {})
    results["human_eval"].pop(name, None)
    results["human_eval"][name] = entry  # the latest report of a round is the newest entry
    write_json(bench_dir / "results.json", results)
    write_text(bench_dir / "report.md", render_report(results))
    write_json(mapping_path(bench_dir, name).with_suffix(".report.json"), entry)
    return entry
