"""Provenance (release / file checksums, hardware), benchmark reports (report.md, plots) and the leaderboard.

A benchmark folder holds `results.json` (format `vimo-bench/1`): provenance, protocol, evaluator id and, per
evaluated set, each metric's mean, 95 % half-width and raw replication values. The leaderboard compares such
folders and refuses to rank results whose evaluator or protocol differ.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import platform
from pathlib import Path
from typing import Any, Iterable

from vimo.atomic import sha256_file, write_bytes, write_text
from vimo.errors import FormatVersionError, InputFormatError, VimoError

RESULTS_FORMAT = "vimo-bench/1"


class LeaderboardMismatchError(VimoError):
    """Benchmark results that cannot be ranked together (different evaluator or protocol)."""


file_sha256 = sha256_file  # the name the models use


def release_checksum(root: str | Path) -> str:
    """Identity of a release folder: sha256 of its CHECKSUMS.sha256 when present (it covers every file),
    else sha256 over the sorted (relpath, file sha256) of every file under the root."""
    root = Path(root)
    listing = root / "CHECKSUMS.sha256"
    if listing.is_file():
        return file_sha256(listing)
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(f"{p.relative_to(root).as_posix()}\0{file_sha256(p)}\n".encode())
    return h.hexdigest()


def hardware() -> dict[str, Any]:
    """Machine description for a report: platform, CPU count, torch version and accelerator."""
    import torch

    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpus": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["cuda"] = torch.version.cuda
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# --- report.md and plots -----------------------------------------------------------------------------------


def _fmt(entry: dict | None, digits: int = 3) -> str:
    if not entry:
        return "-"
    mean, ci = entry["mean"], entry["ci95"]
    if mean != 0 and abs(mean) < 10 ** -digits:  # tiny values (undertrained tiny models) stay readable
        return f"{mean:.2e} ± {ci:.1e}"
    return f"{mean:.{digits}f} ± {ci:.{digits}f}"


def render_report(results: dict[str, Any]) -> str:
    """Markdown report in the form of the seed's tables (Tab. 3 reconstruction, Tab. 4-8 generation)."""
    prov, proto = results["provenance"], results["protocol"]
    lines = [f"# Benchmark of {prov['release_name']}", "",
             f"Evaluator `{results['evaluator']['id']}` ({results['evaluator']['kind']}). ± is the 95 % confidence "
             f"interval over {proto['replications']} replications (1.96·std/√n). Numbers from different "
             f"evaluators are never comparable.", ""]
    split = results_split(results)
    lines += [f"Training split `{split['name']}`: trained on `{split['train_list']}`, tested on "
              f"`{split['test_list']}`{' (the Unseen set)' if split['name'] == 'seen_unseen' else ''}, statistics "
              f"`{split['statistics']}`.", ""]
    rec = results.get("reconstruction")
    if rec:
        lines += ["## Reconstruction (RVQ-VAE, test motions)", "", "| Method | FID↓ | MPJPE (mm)↓ | Diversity→ | Real diversity |",
                  "|---|---|---|---|---|",
                  f"| RVQ-VAE | {_fmt(rec['fid'])} | {rec['mpjpe']['mean'] * 1000:.1f} | {_fmt(rec['diversity'])} | "
                  f"{_fmt(rec['diversity_real'])} |", ""]
    lines += ["## Generation", "", "| Set | N | FID↓ | Diversity→ | MModality↑ | R-precision top-1/2/3↑ | Matching↓ |",
              "|---|---|---|---|---|---|---|"]
    for name, s in results["sets"].items():
        rp = "-"
        if "r_precision_top1" in s["metrics"]:
            rp = " / ".join(f"{s['metrics'][f'r_precision_top{k}']['mean']:.3f}" for k in (1, 2, 3))
        lines.append(f"| {name} R. | {s['size']} | - | {_fmt(s['metrics'].get('diversity_real'))} | - | "
                     f"{_real_rp(s)} | {_fmt(s['metrics'].get('matching_score_real'))} |")
        lines.append(f"| {name} | {s['size']} | {_fmt(s['metrics'].get('fid'))} | "
                     f"{_fmt(s['metrics'].get('diversity'))} | {_fmt(s['metrics'].get('multimodality'))} | {rp} | "
                     f"{_fmt(s['metrics'].get('matching_score'))} |")
    notes = [f"- {n}" for s in results["sets"].values() for n in s.get("notes", [])]
    notes += [f"- {n}" for n in (rec or {}).get("notes", [])]
    if notes:
        lines += ["", "Notes:", *dict.fromkeys(notes)]
    if results.get("variants"):
        lines += ["", *render_variants(results)]
    if results.get("human_eval"):
        lines += ["", *render_human_eval(results)]
    lines += ["", "## Protocol", "", *[f"- {k}: {v}" for k, v in proto.items()],
              "", "## Provenance", "", *[f"- {k}: {v}" for k, v in prov.items() if k != "checkpoints"],
              *[f"- checkpoint {k}: `{v['path']}` sha256 {v['sha256']}" for k, v in prov.get("checkpoints", {}).items()],
              "", "## Timing", "", *[f"- {k}: {v:.2f} s" for k, v in results.get("timing", {}).items()], ""]
    return "\n".join(lines)


BASE_SPLIT_RECORD = {"name": "base", "train_list": "train.txt", "test_list": "test.txt", "statistics": "Mean.npy"}


def results_split(results: dict[str, Any]) -> dict[str, str]:
    """The training split a benchmark records (results from before splits were recorded: the base lists)."""
    return {**BASE_SPLIT_RECORD, **(results.get("split") or {})}


def latest_human_eval(results: dict[str, Any]) -> dict[str, Any] | None:
    """The most recently added human-evaluation round of a results dict, if any."""
    rounds = results.get("human_eval") or {}
    return rounds[list(rounds)[-1]] if rounds else None


def _human(human: dict | None, variant: str, dim: str) -> str:
    entry = (human or {}).get("variants", {}).get(variant, {}).get(dim)
    return _fmt(entry, 2) if entry else "-"


def render_variants(results: dict[str, Any]) -> list[str]:
    """The variants as rows in the form of the seed's Tab. 3 (VQ-VAE vs RVQ-VAE, with Re.Plau. from the latest
    human evaluation) and Tab. 4 / 7 (one table per evaluated set, the real motions' Diversity as its own row)."""
    variants = results["variants"]
    human = latest_human_eval(results)
    names = list(variants)
    lines = ["## Variants", "", *[f"- `{n}`: {v['description']}" for n, v in variants.items()], "",
             "### Reconstruction and generation (seed Tab. 3)", "",
             "| Variant | Rec. FID↓ | MPJPE (mm)↓ | Gen. FID↓ | Re.Plau.↑ | Motion quality↑ |", "|---|---|---|---|---|---|"]
    if human:
        lines.append(f"| Real | - | - | - | {_human(human, 'ground_truth', 'reaction_plausibility')} | "
                     f"{_human(human, 'ground_truth', 'motion_quality')} |")
    for n in names:
        v = variants[n]
        rec = v["reconstruction"]
        lines.append(f"| {n} | {_fmt(rec['fid'])} | {rec['mpjpe']['mean'] * 1000:.1f} | "
                     f"{_fmt(v['sets']['test']['metrics'].get('fid'))} | {_human(human, n, 'reaction_plausibility')} | "
                     f"{_human(human, n, 'motion_quality')} |")
    if human:
        lines += ["", f"Re.Plau. / motion quality: mean of the per-task mean scores (1-5) ± 95 % CI over tasks, "
                      f"blind round `{human['round']}`."]
    for set_name in variants[names[0]]["sets"]:
        first = variants[names[0]]["sets"][set_name]
        lines += ["", f"### Generation on `{set_name}` (N = {first['size']}; seed Tab. 4 / 7)", "",
                  "| Variant | FID↓ | Diversity→ | MModality↑ |", "|---|---|---|---|",
                  f"| Real | - | {_fmt(first['metrics'].get('diversity_real'))} | - |"]
        for n in names:
            m = variants[n]["sets"][set_name]["metrics"]
            lines.append(f"| {n} | {_fmt(m.get('fid'))} | {_fmt(m.get('diversity'))} | {_fmt(m.get('multimodality'))} |")
    return lines


def render_human_eval(results: dict[str, Any]) -> list[str]:
    """One table per human-evaluation round: mean scores per variant with 95 % CI, and the round's agreement."""
    lines = ["## Human evaluation"]
    for name, h in results["human_eval"].items():
        lines += ["", f"### `{name}` (round `{h['round']}`, {h['annotators']} annotators, {h['ratings']} ratings)", "",
                  "| Shown | Tasks | Motion quality↑ | Reaction plausibility↑ |", "|---|---|---|---|"]
        for v, row in h["variants"].items():
            lines.append(f"| {'Real' if v == 'ground_truth' else v} | {row['tasks']} | "
                         f"{_fmt(row.get('motion_quality'), 2)} | {_fmt(row.get('reaction_plausibility'), 2)} |")
        agree = h.get("agreement", {})
        for dim in ("motion_quality", "reaction_plausibility"):
            a_ord = agree.get("alpha_ordinal", {}).get(dim)
            a_int = agree.get("alpha_interval", {}).get(dim)
            lines.append(f"- Krippendorff's alpha, {dim.replace('_', ' ')}: ordinal "
                         f"{'-' if a_ord is None else f'{a_ord:.3f}'}, interval {'-' if a_int is None else f'{a_int:.3f}'}")
    return lines


def _real_rp(s: dict) -> str:
    m = s["metrics"]
    if "r_precision_real_top1" not in m:
        return "-"
    return " / ".join(f"{m[f'r_precision_real_top{k}']['mean']:.3f}" for k in (1, 2, 3))


def plot_results(results: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """`fid_by_set.png` (FID with CI per evaluated set) and `replications.png` (raw replication values)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    written = []
    sets = results["sets"]
    names = list(sets)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(names)), 3.2))
    ax.bar(names, [sets[n]["metrics"]["fid"]["mean"] for n in names],
           yerr=[sets[n]["metrics"]["fid"]["ci95"] for n in names], capsize=4, color="#4c72b0")
    ax.set_ylabel("FID ↓")
    ax.set_title(f"{results['provenance']['release_name']} — evaluator {results['evaluator']['id'][:24]}", fontsize=8)
    ax.tick_params(axis="x", rotation=30, labelsize=8)
    fig.tight_layout()
    written.append(_save_png(fig, out_dir / "fid_by_set.png"))
    plt.close(fig)

    keys = [k for k in ("fid", "diversity", "diversity_real", "multimodality") if k in sets[names[0]]["metrics"]]
    fig, axes = plt.subplots(1, len(keys), figsize=(3 * len(keys), 2.8), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for i, n in enumerate(names):
            vals = sets[n]["metrics"][key]["values"]
            ax.scatter([i] * len(vals), vals, s=8, alpha=0.6)
        ax.set_xticks(range(len(names)), names, rotation=30, fontsize=7)
        ax.set_title(key, fontsize=9)
    fig.tight_layout()
    written.append(_save_png(fig, out_dir / "replications.png"))
    plt.close(fig)
    return written


def _save_png(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return write_bytes(path, buf.getvalue())


# --- leaderboard -------------------------------------------------------------------------------------------


def read_results(path: str | Path) -> dict[str, Any]:
    """results.json of a benchmark folder (or the file itself), format-checked."""
    p = Path(path)
    p = p / "results.json" if p.is_dir() else p
    if not p.is_file():
        raise InputFormatError("has no results.json", path=p.parent if p.name == "results.json" else p,
                               fix="pass the output folder of `vimo bench`")
    try:
        data = json.loads(p.read_text())
    except ValueError as exc:
        raise InputFormatError(f"is not valid JSON ({exc})", path=p, fix="re-run `vimo bench`") from None
    if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise FormatVersionError(f"has format {found!r}, expected {RESULTS_FORMAT}", path=p,
                                 fix="re-run `vimo bench` with this vimo version")
    data["_path"] = str(p)
    return data


def leaderboard_rows(results: Iterable[dict[str, Any]], set_name: str = "test") -> list[dict[str, Any]]:
    """One row per benchmark (sorted by FID); raises LeaderboardMismatchError when evaluators or protocols
    differ, naming the first result that differs from the first one."""
    results = list(results)
    if not results:
        raise InputFormatError("no benchmark results given", fix="pass one or more `vimo bench` folders")
    ref = results[0]
    for r in results[1:]:
        if r["evaluator"]["id"] != ref["evaluator"]["id"]:
            raise LeaderboardMismatchError(
                f"evaluator {r['evaluator']['id']} differs from {ref['evaluator']['id']} of {ref['_path']}",
                path=r["_path"], fix="benchmark every release with the same --evaluator")
        if r["protocol"] != ref["protocol"]:
            diff = sorted(k for k in set(r["protocol"]) | set(ref["protocol"])
                          if r["protocol"].get(k) != ref["protocol"].get(k))
            raise LeaderboardMismatchError(f"protocol differs from {ref['_path']} in {', '.join(diff)}",
                                           path=r["_path"], fix="re-run the benchmarks with the same protocol")
    rows = []
    for r in results:
        if set_name not in r["sets"]:
            raise InputFormatError(f"has no evaluated set '{set_name}'", path=r["_path"],
                                   fix=f"choose one of: {', '.join(r['sets'])}")
        m = r["sets"][set_name]["metrics"]
        split = results_split(r)
        row = {"release": r["provenance"]["release_name"], "split": split["name"],
               "release_sha256": r["provenance"]["release_sha256"][:16], "preset": r["protocol"]["preset"],
               "train_list": split["train_list"], "test_list": split["test_list"],
               "n_train": r["provenance"].get("train_pairs"), "n_test": r["sets"][set_name]["size"]}
        for key in ("fid", "diversity", "diversity_real", "multimodality", "r_precision_top1", "matching_score"):
            if key in m:
                row[key] = m[key]["mean"]
                row[f"{key}_ci95"] = m[key]["ci95"]
        row["folder"] = str(Path(r["_path"]).parent)
        rows.append(row)
    rows.sort(key=lambda row: row["fid"])
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows


def leaderboard_csv(rows: list[dict[str, Any]]) -> str:
    cols = ["rank"] + [k for k in dict.fromkeys(k for r in rows for k in r) if k != "rank"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def leaderboard_markdown(rows: list[dict[str, Any]], evaluator_id: str) -> str:
    """Markdown table in the form of the seed's Tab. 8 (one row per benchmark: a release, or one training split
    of a release such as base / T2 / T3 / Seen-Unseen; real diversity first)."""
    def cell(row, key):
        return f"{row[key]:.3f} ± {row[f'{key}_ci95']:.3f}" if key in row else "-"

    lines = [f"Evaluator `{evaluator_id}`; ± = 95 % CI.", "",
             "| Rank | Release | Split | Train pairs | Test set | Test pairs | FID↓ | Diversity→ | Real diversity | "
             "MModality↑ |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['rank']} | {r['release']} | {r.get('split', 'base')} | {r['n_train']} | "
                     f"`{r.get('test_list', 'test.txt')}` | {r['n_test']} | {cell(r, 'fid')} | "
                     f"{cell(r, 'diversity')} | {cell(r, 'diversity_real')} | {cell(r, 'multimodality')} |")
    return "\n".join(lines) + "\n"


def write_leaderboard(folders: Iterable[str | Path], out: str | Path, set_name: str = "test") -> list[dict]:
    """Write `leaderboard.csv` and `leaderboard.md` under `out` from benchmark folders; returns the rows."""
    results = [read_results(f) for f in folders]
    rows = leaderboard_rows(results, set_name)
    out = Path(out)
    write_text(out / "leaderboard.csv", leaderboard_csv(rows))
    write_text(out / "leaderboard.md", leaderboard_markdown(rows, results[0]["evaluator"]["id"]))
    return rows
