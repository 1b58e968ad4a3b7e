"""Data cards of releases: the template (vimo/data/card_template.md, linked from data_cards/) filled
with the release's counts per split / broad category / sub-category / emotion / source, its
distributions as PNG figures (motion lengths; videos and motions as the HERO supplement's Fig. 9
and 10), the annotation summary of the workspace's rounds, licences, limitations and citations.

The reaction measures of the original pairs (penetration, contact, onset lag, facing: docs/benchmark.md §8)
go into a section per sub-category, with a figure, the clips worth inspecting, and meta/reaction_measures.json
(per pair, and the real pairs' distributions the benchmark compares with).

`card_context` computes; `render_card` writes README.md, meta/figures/*.png and meta/reaction_measures.json.
Output is deterministic (no dates), so a rebuilt release checksums the same.
"""
from __future__ import annotations

import json
import math
import string
from collections import Counter, defaultdict
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from vimo import atomic
from vimo.errors import InputFormatError, VimoError
from vimo.workspace import round_dir

if TYPE_CHECKING:
    from vimo.release.measures import Mesher

FIGURES = "meta/figures"
REACTION_MEASURES = "meta/reaction_measures.json"
#: outliers listed per kind in the card (the json lists all)
MAX_OUTLIERS = 15
HERO_CITATION = """```bibtex
@inproceedings{yu2025hero,
  title     = {HERO: Human Reaction Generation from Videos},
  author    = {Yu, Chengjun and Zhai, Wei and Yang, Yuhang and Cao, Yang and Zha, Zheng-Jun},
  booktitle = {Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)},
  year      = {2025},
  note      = {arXiv:2503.08270}
}
```"""
LIMITATIONS = [
    "The taxonomy's {n_subs} sub-category names are partly a reconstruction: the HERO paper names only a few "
    "(walking towards, dribbling, shooting, lion approaching, automobile rushing towards, explosion); the "
    "others were chosen by vimo so that every source label has a home (see the taxonomy file).",
    "Actor/reactor roles of two-person captures come from a rule (Inter-X's interaction order, a proximity "
    "and facing rule for Ego-Humans / Harmony4D), not from per-clip human judgement.",
    "Rendered and restyled videos differ in appearance from real footage; a model may learn the rendering "
    "style.",
    "Sub-categories and emotions are unevenly represented (see the counts above); per-category scores of "
    "small categories have wide confidence intervals.",
    "Motions are body-only (22 joints): no hands, no face, and the HumanML3D retargeting to one skeleton "
    "removes body-shape differences.",
]


#: what each QA flag of a clip means (flags named `<who>_<figure>_high` are explained by `flag_reason`)
QA_FLAG_REASONS = {
    "order_suspect": "the labelled reactor starts moving clearly before the labelled actor (movement onsets of "
                     "root, head, wrists and toes), so the source's actor/reactor label may be reversed; the label "
                     "is kept as given (docs/sources.md §2.3)",
    "up_axis_estimated": "the up axis was estimated from the bodies and was more than 5 degrees from every axis",
    "fps_not_20": "the clip is not at 20 fps (HumanML3D's integer striding of a rate that is not a multiple of 20)",
}
_FIGURES = {"recovery_max_m": "263-d recovery error", "foot_skate_mps": "foot skating",
            "bone_cv_max": "bone-length variation"}


def flag_reason(flag: str) -> str:
    """One line saying what a clip's QA flag means."""
    if flag in QA_FLAG_REASONS:
        return QA_FLAG_REASONS[flag]
    for key, name in _FIGURES.items():
        for who in ("reactor", "actor"):
            if flag == f"{who}_{key}_high":
                return f"the {who}'s {name} is past its QA limit"
    return "a QA check of the converter"


def qa_flags_text(info: Mapping[str, Any]) -> str:
    """The card's lines on QA flags: released pairs per flag and pairs the recipe left out for flags, each
    flag with its reason ('' when no pair carries or lost a flag)."""
    from vimo.release.build import FLAGGED

    released = info.get("qa_flags") or {}
    dropped: Counter = Counter()
    for reason, n in (info.get("excluded") or {}).items():
        if reason.startswith(FLAGGED):
            for flag in reason[len(FLAGGED):].split(" + "):
                dropped[flag] += n
    flags = sorted(set(released) | set(dropped))
    if not flags:
        return ""
    lines = ["QA flags of the converted clips (a flagged clip is left out unless the recipe sets "
             "`allow_flagged`; `drop_flags` leaves out the listed flags even then):", ""]
    for flag in flags:
        lines.append(f"- `{flag}`: {released.get(flag, 0)} released pairs, {dropped[flag]} pairs left out. "
                     f"{flag_reason(flag)[0].upper()}{flag_reason(flag)[1:]}.")
    return "\n".join(lines)


class CardError(VimoError):
    """A card that cannot be rendered (missing release files, bad template)."""


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return "_none_"
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _count_table(table: Mapping[str, Mapping[str, int]], label: str, splits: Sequence[str]) -> str:
    rows = [[k] + [v.get(s, 0) for s in splits] + [sum(v.values())] for k, v in sorted(table.items())]
    return _table([label, *splits, "total"], rows)


def broad_table(counts: Mapping[str, Any], splits: Sequence[str], taxonomy: Any) -> str:
    """Pairs per broad category and split: every broad category of the taxonomy, in its order (a category
    without pairs shows 0), then any other; with a line on the pairs whose video has no recorded reaction."""
    table = counts["by_broad_category"]
    order = [b for b in taxonomy.broad_categories] + sorted(b for b in table if b not in taxonomy.broad_categories)
    rows = [[b] + [table.get(b, {}).get(s, 0) for s in splits] + [sum(table.get(b, {}).values())] for b in order]
    out = _table(["broad category", *splits, "total"], rows)
    external = sum((counts.get("by_video_kind") or {}).get("external", {}).values())
    if external:
        out += (f"\n\n{external} of these pairs show an external video (no recorded reaction: filmed or generated "
                "clips of animals and scenes); their reactions were chosen from the motion library and judged by "
                "annotators for motion quality and reaction plausibility.")
    return out


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "100K<n<1M"


def _yaml_scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(str(v))


def front_matter(fields: Mapping[str, Any]) -> str:
    """Hugging Face card metadata as YAML (scalars and lists of scalars only)."""
    lines = []
    for k, v in fields.items():
        if isinstance(v, (list, tuple)):
            lines.append(f"{k}:")
            lines += [f"- {_yaml_scalar(x)}" for x in v]
        else:
            lines.append(f"{k}: {_yaml_scalar(v)}")
    return "\n".join(lines)


def annotation_summary(workspace: str | Path | None) -> dict[str, Any] | None:
    """Rounds, annotators, counted annotations, mean scores and Krippendorff's alpha (from each closed
    round's report.json) of a workspace's annotation tables; None without a workspace."""
    if workspace is None:
        return None
    from vimo.workspace import Workspace

    with Workspace.open(workspace) as ws:
        rounds = ws.catalog.query("rounds", order="created_at, id")
        annotations = ws.catalog.query("annotations")
        root = ws.root
    per_round = []
    for r in rounds:
        mine = [a for a in annotations if a["round_id"] == r["id"] and a["status"] == "counted"]
        scores: dict[str, list[float]] = defaultdict(list)
        for a in mine:
            for dim, value in (a.get("answer") or {}).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    scores[dim].append(float(value))
        alpha: dict[str, Any] = {}
        report = round_dir(root, r["id"]) / "report.json"
        if report.is_file():
            try:
                alpha = (json.loads(report.read_text()).get("summary") or {}).get("alpha_ordinal") or {}
            except json.JSONDecodeError:
                alpha = {}
        per_round.append({"id": r["id"], "kind": r["kind"], "stage": r["stage"], "status": r["status"],
                          "instructions_version": r["instructions_version"], "overlap": r["overlap"],
                          "annotators": len({a["annotator"] for a in mine}), "annotations": len(mine),
                          "mean": {d: float(np.mean(v)) for d, v in sorted(scores.items())},
                          "alpha_ordinal": alpha})
    return {"rounds": per_round, "annotators": len({a["annotator"] for a in annotations}),
            "annotations": sum(r["annotations"] for r in per_round)}


def _fmt(v: Any) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else (
        f"{v:.2f}" if isinstance(v, float) else str(v))


def _annotation_text(summary: dict[str, Any] | None, rows: list[dict[str, str]]) -> str:
    parts = []
    genuine = sum(r.get("origin") == "source" for r in rows)
    parts.append(f"{genuine} of {len(rows)} released pairs are genuine pairs of their source dataset (the video "
                 "and the reaction were captured together); the others were paired in annotation rounds.")
    for dim in ("motion_quality", "reaction_plausibility"):
        vals = [float(r[dim]) for r in rows if r.get(dim) not in (None, "")]
        if vals:
            parts.append(f"Mean {dim.replace('_', ' ')} of the released pairs: {np.mean(vals):.2f} "
                         f"(1-5 scale, {len(vals)} rated pairs).")
    if summary is None:
        parts.append("Annotation rounds: not available (the card was rendered without its workspace).")
    elif not summary["rounds"]:
        parts.append("Annotation rounds: none recorded in the workspace.")
    else:
        parts.append(f"Annotation rounds: {len(summary['rounds'])}, {summary['annotators']} annotators, "
                     f"{summary['annotations']} counted annotations. Procedure: labeling instructions, a trial "
                     "stage with several annotators per task, instruction update, main stage, inspection.")
        table = []
        for r in summary["rounds"]:
            dims = sorted(set(r["mean"]) | set(r["alpha_ordinal"]))
            means = ", ".join(f"{d} {_fmt(r['mean'].get(d))}" for d in dims) or "-"
            alphas = ", ".join(f"{d} {_fmt(r['alpha_ordinal'].get(d))}" for d in dims) or "-"
            table.append([r["id"], r["kind"], r["stage"], r["status"], r["annotators"], r["annotations"], means,
                          alphas])
        parts.append(_table(["round", "kind", "stage", "status", "annotators", "annotations", "mean scores",
                             "Krippendorff's alpha (ordinal)"], table))
    return "\n\n".join(parts)


def _plots(rows: list[dict[str, str]], out: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = {}
    splits = [s for s in ("train", "val", "test") if any(r["split"] == s for r in rows)]
    base = [r for r in rows if r["split"] in splits]

    fig, ax = plt.subplots(figsize=(6, 3.2))
    lengths = [[int(r["n_frames"]) for r in base if r["split"] == s] for s in splits]
    bins = np.arange(0, 210, 10)
    ax.hist(lengths, bins=bins, stacked=True, label=splits)
    ax.set_xlabel("motion length (frames at 20 fps)")
    ax.set_ylabel("pairs")
    ax.set_title("Motion lengths per split")
    ax.legend()
    figures["lengths"] = _save(fig, out / "motion_lengths.png")

    videos: dict[str, dict[str, str]] = {}
    for r in base:
        videos.setdefault(r["video_id"], r)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, col, title in zip(axes, ("broad_category", "video_kind", "sub_category"),
                              ("videos per broad category", "videos per kind", "videos per sub-category")):
        c = Counter(v[col] for v in videos.values())
        names = sorted(c)
        if col == "sub_category":
            ax.barh(names, [c[n] for n in names])
            ax.tick_params(axis="y", labelsize=6)
        else:
            ax.bar(names, [c[n] for n in names])
            ax.tick_params(axis="x", labelsize=8)
        ax.set_title(title)
    fig.suptitle("Distribution of the video data")
    figures["videos"] = _save(fig, out / "video_distribution.png")

    motions: dict[str, dict[str, str]] = {}
    for r in base:
        motions.setdefault(r["motion_id"], r)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    subs = sorted({m["sub_category"] for m in motions.values()})
    sources = sorted({m["source"] for m in motions.values()})
    left = np.zeros(len(subs))
    for src in sources:
        vals = np.array([sum(1 for m in motions.values() if m["sub_category"] == s and m["source"] == src)
                         for s in subs], dtype=float)
        axes[0].barh(subs, vals, left=left, label=src)
        left += vals
    axes[0].tick_params(axis="y", labelsize=6)
    axes[0].set_title("motions per sub-category and source")
    axes[0].legend(fontsize=7)
    broads = sorted({m["broad_category"] for m in motions.values()})
    axes[1].boxplot([[int(m["n_frames"]) / 20.0 for m in motions.values() if m["broad_category"] == b]
                     for b in broads])
    axes[1].set_xticks(range(1, len(broads) + 1), broads)
    axes[1].set_ylabel("duration (s)")
    axes[1].set_title("motion durations per broad category")
    fig.suptitle("Distribution of the motion data")
    figures["motions"] = _save(fig, out / "motion_distribution.png")
    return figures


def reaction_measures(release: Path, rows: list[dict[str, str]], *, mesher: Mesher | None = None) -> dict[str, Any]:
    """Measures of the release's original pairs: per pair, per sub-category and overall summaries, outliers,
    the real pairs' reference distributions, and the pairs that could not be measured. With `mesher` (a
    body model posed on joints), the mesh penetration too."""
    from vimo.metrics.reaction import outliers, summarise
    from vimo.release.measures import measure_pairs, reference_of, two_person_rows

    chosen = [r for r in two_person_rows(release, rows) if r["split"] in ("train", "val", "test")]
    problems: list[str] = []
    measures = measure_pairs(release, chosen, problems=problems, mesher=mesher)
    sub_of = {r["pair_id"]: r["sub_category"] for r in chosen}
    per_sub: dict[str, Any] = {}
    for sub in sorted(set(sub_of.values())):
        clips = [m for pid, m in measures.items() if sub_of[pid] == sub]
        if clips:
            per_sub[sub] = {"pairs": len(clips), **summarise(clips)}
    return {"format": "vimo-reaction-measures-v1",
            "pairs": {pid: m.as_dict() for pid, m in sorted(measures.items())},
            "by_sub_category": per_sub, "all": {"pairs": len(measures), **summarise(list(measures.values()))}
            if measures else {"pairs": 0},
            "reference": reference_of(measures).as_dict() if measures else None,
            "outliers": outliers(measures), "problems": problems,
            "other_actor_pairs": sum(r.get("video_actor") == "other" for r in rows),
            "mesh_body_model": None if mesher is None else mesher.label}


def _pct(v: Any) -> str:
    return "n/a" if v is None else f"{100 * v:.0f} %"


def _reaction_text(data: Mapping[str, Any], figure: str | None) -> str:
    n = data["all"]["pairs"]
    if not n:
        return ("_No original pair of this release carries its actor's joints, so no two-person measure is "
                "given._")
    parts = [f"Measured on the {n} base pairs whose video shows their own actor (the actor's joints are in "
             f"`actor_joints/`); {data['other_actor_pairs']} pairs react to a video of another person or scene "
             "(extra T2/T3 reactions, external videos) and are not measured. Bodies are capsules on the 22-joint "
             "skeleton; formulas in docs/benchmark.md §8 of vimo. Penetration: share of frames deeper than 1 cm "
             "and mean depth; contact: share of frames under 2 cm apart; onset lag: reactor onset minus actor onset "
             "(negative: the reactor moves first); facing: angle between the head direction and the actor."]
    meshed = data.get("mesh_body_model") is not None and "mesh_penetration_frames" in data["all"]
    if meshed:
        parts.append(f"Penetration is also measured between the two bodies' meshes ({data['mesh_body_model']}, "
                     "posed from the joints: the joints' bone directions with the model's own bone lengths): "
                     "the deepest vertex of either body inside the other, per frame; the mesh columns.")
    table = []
    for name, s in [*data["by_sub_category"].items(), ("**all**", data["all"])]:
        mesh = [_pct(s.get("mesh_penetration_frames")), "n/a" if s.get("mesh_penetration_depth") is None
                else f"{100 * s['mesh_penetration_depth']:.1f}"] if meshed else []
        table.append([name, s["pairs"], _pct(s["penetration_frames"]), f"{100 * s['penetration_depth']:.1f}",
                      *mesh, _pct(s["contact_frames"]), f"{s['min_distance']:.2f}", _fmt(s["onset_lag"]),
                      _pct(s["early_reactions"]), f"{s['facing_angle']:.0f}", _pct(s["facing_frames"])])
    mesh_heads = ["mesh penetrating frames", "mesh depth (cm)"] if meshed else []
    parts.append(_table(["sub-category", "pairs", "penetrating frames", "depth (cm)", *mesh_heads, "contact frames",
                         "min distance (m)", "onset lag (s)", "reacting early", "facing angle (°)",
                         "facing frames"], table))
    cams = data["all"].get("camera_angle")
    if cams is not None:
        parts.append(f"Rendered videos with a camera track: mean angle between the reactor's head and the camera "
                     f"{cams:.0f}°, head-vs-camera speed gap {data['all']['camera_speed_gap']:.2f} m/s, turn gap "
                     f"{data['all']['camera_turn_gap']:.0f}°/s.")
    if figure:
        parts.append(f"![Reaction measures]({figure})")
    lines = []
    names = {"penetrating": "penetrating (a frame deeper than 5 cm)", "never_facing": "never facing the actor",
             "reacting_early": "reacting before the action"}
    for kind, ids in data["outliers"].items():
        shown = ", ".join(f"`{i}`" for i in ids[:MAX_OUTLIERS])
        more = f" and {len(ids) - MAX_OUTLIERS} more" if len(ids) > MAX_OUTLIERS else ""
        lines.append(f"- {names[kind]}: {len(ids)} pairs{': ' + shown + more if ids else ''}")
    parts.append("Clips to inspect (all of them, with every measure, in `meta/reaction_measures.json`):\n\n"
                 + "\n".join(lines))
    if data["problems"]:
        parts.append(f"{len(data['problems'])} pairs could not be measured: " + "; ".join(data["problems"][:5]))
    return "\n\n".join(parts)


def _reaction_plot(data: Mapping[str, Any], out: Path) -> str | None:
    if not data["pairs"]:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ref = data["reference"]
    edges = np.asarray(ref["proximity_edges"])
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].stairs(np.asarray(ref["proximity"]) / max(1.0, sum(ref["proximity"])), edges, fill=True)
    axes[0].axvline(0.0, color="k", lw=0.8)
    axes[0].set_xlabel("clearance between the bodies (m), all frames")
    axes[0].set_ylabel("share of frames")
    lags = ref["lags"]
    axes[1].hist(np.clip(lags, -3.0, 3.0), bins=np.arange(-3.0, 3.01, 0.25))
    axes[1].axvline(0.0, color="k", lw=0.8)
    axes[1].set_xlabel("onset lag (s): reactor after actor (clipped to ±3)")
    axes[1].set_ylabel("pairs")
    axes[2].hist([p["facing_angle"] for p in data["pairs"].values()], bins=np.arange(0, 181, 10))
    axes[2].set_xlabel("mean facing angle per pair (°)")
    axes[2].set_ylabel("pairs")
    fig.suptitle("Reaction measures of the original pairs")
    return _save(fig, out / "reaction_measures.png")


def _save(fig: Any, path: Path) -> str:
    import io

    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, metadata={"Software": None})
    plt.close(fig)
    atomic.write_bytes(path, buf.getvalue())
    return path.name


def load_template(path: str | Path | None = None) -> string.Template:
    if path is None:
        text = resources.files("vimo").joinpath("data", "card_template.md").read_text(encoding="utf-8")
    else:
        p = Path(path)
        if not p.is_file():
            raise InputFormatError("card template does not exist", path=p, fix="check the path")
        text = p.read_text(encoding="utf-8")
    return string.Template(text)


def card_context(release: str | Path, *, workspace: str | Path | None = None) -> dict[str, Any]:
    """Everything the template needs, computed from the release's manifest and meta/info.json."""
    from vimo.release import read_info, read_manifest

    release = Path(release)
    info = read_info(release)
    rows = read_manifest(release)
    counts = info["counts"]
    splits = [s for s in ("train", "val", "test") if s in counts.get("by_split", {})]
    internal = bool(info.get("internal"))
    licences = info.get("licences", {})
    all_mit = licences and all(k == "MIT" for k in licences)
    name = f"{info['name']}-{info['version']}"
    fm = {"pretty_name": name, "license": "mit" if all_mit else "other"}
    if not all_mit:
        fm["license_name"] = "per-source licences (see Licensing Information)"
    fm.update({"task_categories": ["other"], "tags": ["human-motion", "reaction-generation", "video", "humanml3d",
                                                      "vimo"],
               "size_categories": [_size_category(counts["pairs"])], "language": ["en"],
               "viewer": False})
    notice = ("> **Internal build.** This release holds data whose licence forbids redistribution "
              f"({', '.join(k for k, v in licences.items() if not v['redistributable'])}). "
              "Do not publish or share it outside the licensees.") if internal else (
        "> Public build: every pair's sources allow redistribution with attribution.")
    split_rows = [[s, counts["by_split"].get(s, {}).get(s, 0)] for s in splits]
    variants = []
    notes = info.get("splits", {}).get("notes", {})
    for key, value in sorted(notes.items()):
        if key.startswith("t") and key[1:].isdigit():
            variants.append(f"- **{key.upper()}** (`splits/{key}/train.txt`): {value['pairs']} training pairs "
                            f"(each training video with up to {key[1:]} accepted reactions; "
                            f"{value['videos_with_fewer_reactions']} videos have fewer); the test set is `test.txt`.")
    if "seen_unseen" in notes:
        su = notes["seen_unseen"]
        variants.append(f"- **Seen / Unseen** (`splits/seen_unseen/`): {su['seen_train_pairs']} Seen training "
                        f"pairs{_seen_val(su)}, {su['unseen_pairs']} Unseen test pairs of the held-out sub-categories "
                        f"{', '.join(su['unseen_sub_categories'])}.")
    subsets = [k for k in info.get("splits", {}).get("lists", {}) if "-" in k and "/" not in k]
    if subsets:
        variants.append(f"- Test subsets for per-category evaluation: {len(subsets)} lists in `splits/` "
                        "(`broad-*`, `sub-*`, `emotion-*`).")
    lengths = np.array([int(r["n_frames"]) for r in rows if r["split"] in splits])
    length_summary = (f"Motion lengths: {lengths.min()}-{lengths.max()} frames, median {int(np.median(lengths))} "
                      f"({np.median(lengths) / 20:.1f} s at 20 fps)." if len(lengths) else "")
    source_data = []
    for lid, entry in licences.items():
        source_data.append(f"- {', '.join(entry['sources'])}: {entry['pairs']} pairs; {entry['licence']}")
    citations = [HERO_CITATION]
    from vimo.taxonomy import Taxonomy

    try:
        taxonomy = Taxonomy.for_workspace(workspace) if workspace else Taxonomy.load()
    except VimoError:
        taxonomy = Taxonomy.load()
    for src in sorted({s for e in licences.values() for s in e["sources"]}):
        lic = taxonomy.licence(src)
        if lic and lic.citation:
            citations.append(f"- {src}: {lic.citation}" + (f" ({lic.url})" if lic.url else ""))
    licence_rows = [[lid, ", ".join(e["sources"]), e["pairs"], "yes" if e["redistributable"] else "**no**",
                     e["licence"]] for lid, e in licences.items()]
    licence_text = _table(["licence", "sources", "pairs", "redistributable", "terms"], licence_rows)
    if internal:
        licence_text += ("\n\nThis is an **internal** build: it may only be used by people bound by the licences "
                         "marked 'no' above; it must not be uploaded or shared.")
    tax = info.get("taxonomy", {})
    return {
        "front_matter": front_matter(fm), "title": name,
        "summary": info.get("description") or (f"{counts['pairs']} video-reaction pairs ({counts['videos']} videos, "
                                               f"{counts['motions']} motions) built by vimo."),
        "internal_notice": notice, "vimo_version": info["vimo_version"], "format_version": info["format_version"],
        "taxonomy": f"{tax.get('name')} {tax.get('version')} (sha256 {str(tax.get('sha256'))[:12]})",
        "val_file": "  val.txt" if "val" in splits else "",
        "split_table": _table(["split", "pairs"], split_rows),
        "variants": "\n".join(variants),
        "broad_table": broad_table(counts, splits, taxonomy),
        "sub_table": _count_table(counts["by_sub_category"], "sub-category", splits),
        "emotion_table": (_count_table(counts["by_emotion"], "emotion", splits)
                          if set(counts["by_emotion"]) - {"-"} else "_No pair carries an emotion label._"),
        "source_table": _count_table(counts["by_source"], "source", splits),
        "length_summary": length_summary,
        "source_data": "\n".join(source_data) + (f"\n\n{qa}" if (qa := qa_flags_text(info)) else ""),
        "limitations": "\n".join(f"- {x}".replace("{n_subs}", str(len(taxonomy.sub_categories)))
                                  for x in LIMITATIONS),
        "licence_table": licence_text,
        "citation": "\n".join(citations),
        "_rows": rows,
    }


def render_card(release: str | Path, *, out: str | Path, workspace: str | Path | None = None,
                template: str | Path | None = None, mesher: Mesher | None = None) -> Path:
    """Write `<out>/README.md` and `<out>/meta/figures/*.png` for a release; returns the README path. With
    `mesher` (joints -> posed body-model mesh), the reaction measures include the mesh penetration."""
    release, out = Path(release), Path(out)
    ctx = card_context(release, workspace=workspace)
    rows = ctx.pop("_rows")
    figures = _plots(rows, out / FIGURES)
    ctx.update({f"figure_{k}": f"{FIGURES}/{v}" for k, v in figures.items()})
    measures = reaction_measures(release, rows, mesher=mesher)
    atomic.write_json(out / REACTION_MEASURES, measures)
    plot = _reaction_plot(measures, out / FIGURES)
    ctx["reaction_measures"] = _reaction_text(measures, plot and f"{FIGURES}/{plot}")
    ctx["annotation_summary"] = _annotation_text(annotation_summary(workspace), rows)
    try:
        text = load_template(template).substitute(ctx)
    except (KeyError, ValueError) as exc:
        raise CardError(f"card template has an unknown or malformed placeholder ({exc})", path=template,
                        fix="use only the placeholders of vimo/data/card_template.md") from None
    return atomic.write_text(out / "README.md", text)


def _seen_val(su: dict) -> str:
    """', N Seen validation pairs' when the release records them (releases with a val split)."""
    n = su.get("seen_val_pairs")
    return f", {n} Seen validation pairs (`splits/seen_unseen/val.txt`: checkpoint selection)" if n else ""
