"""`vimo split`, `vimo release`, `vimo card` and `vimo export`: splits, immutable releases, data cards
and a plain HumanML3D export (thin over vimo.splits / vimo.release / vimo.cards).

Examples:
    vimo split recipes/vimo-base.toml
    vimo release build recipes/vimo-base.toml
    vimo release verify ws/releases/vimo-base-1.0.0
    vimo release verify vimo-base-1.0.0/ --digest 3b0c...e9   # a release received: pin the digest its builder printed
    vimo release diff ws/releases/vimo-base-1.0.0 ws/releases/vimo-base-1.1.0
    vimo release list -w ws/
    vimo card ws/releases/vimo-base-1.0.0 --workspace ws/ --out data_cards/vimo-base-1.0.0
    vimo export humanml3d ws/releases/vimo-base-1.0.0 -o hml3d_out/
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

app = typer.Typer(help="Build, verify, diff and list releases.\n\n"
                       "  vimo release build recipes/vimo-base.toml\n\n"
                       "  vimo release verify ws/releases/vimo-base-1.0.0",
                  no_args_is_help=True, add_completion=False)
export_app = typer.Typer(help="Export a release to other layouts.\n\n"
                              "  vimo export humanml3d ws/releases/vimo-base-1.0.0 -o hml3d_out/",
                         no_args_is_help=True, add_completion=False)


def split(recipe: Path = typer.Argument(..., help="release recipe (TOML)"),
          as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
          show_taxonomy: bool = typer.Option(False, "--taxonomy", help="also print the workspace's taxonomy")) -> None:
    """Dry run of a recipe's split: counts per split and list, held-out sub-categories, exclusions.

    vimo split recipes/vimo-base.toml
    """
    from vimo.release import load_recipe, plan_splits
    from vimo.taxonomy import Taxonomy

    rec = load_recipe(recipe)
    plan = plan_splits(rec)
    lists = {k: len(v) for k, v in sorted(plan.splits.lists.items())}
    report = {"pairs": len(plan.pairs), "excluded": plan.excluded, "lists": lists,
              "unseen_sub_categories": plan.splits.unseen_sub_categories, "notes": plan.splits.notes,
              "violations": [asdict(v) for v in plan.splits.violations]}
    if show_taxonomy:
        report["taxonomy"] = Taxonomy.for_workspace(rec.release.workspace).summary()
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
        return
    typer.echo(f"{len(plan.pairs)} pairs pass the filters of {recipe}")
    for reason, n in sorted(plan.excluded.items()):
        typer.echo(f"  excluded {n:5d}  {reason}")
    for name, n in lists.items():
        typer.echo(f"  {name:<32} {n}")
    if plan.splits.unseen_sub_categories:
        typer.echo(f"  unseen sub-categories: {', '.join(plan.splits.unseen_sub_categories)}")
    for v in plan.splits.violations:
        typer.secho(f"  leakage (accepted by allow_leakage): {v.describe()}", fg="yellow")
    if show_taxonomy:
        for broad, groups in report["taxonomy"].items():
            typer.echo(broad)
            for group, subs in groups.items():
                typer.echo(f"  {group}: {', '.join(subs)}")


@app.command()
def build(recipe: Path = typer.Argument(..., help="release recipe (TOML)"),
          as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Build the release a recipe describes (a no-op when the same version exists identically).

    vimo release build recipes/vimo-base.toml
    """
    from vimo.release import build_release

    res = build_release(recipe, progress=lambda msg: typer.echo(f"... {msg}", err=True))
    if as_json:
        typer.echo(json.dumps({"status": res.status, "path": str(res.path), "digest": res.digest,
                               "counts": res.counts, "excluded": res.excluded}, indent=2, default=str))
        return
    word = "built" if res.status == "built" else "already built, identical:"
    typer.echo(f"{word} {res.path}")
    typer.echo(f"  digest {res.digest}  (sha256 of CHECKSUMS.sha256; vimo release verify checks it)")
    typer.echo(f"  pairs {res.counts['pairs']} (videos {res.counts['videos']}, motions {res.counts['motions']})")
    for name, n in res.counts["lists"].items():
        if "/" in name or name in ("train", "val", "test"):
            typer.echo(f"  {name:<24} {n}")
    for reason, n in sorted(res.excluded.items()):
        typer.echo(f"  excluded {n:5d}  {reason}")


@app.command()
def verify(release: Path = typer.Argument(..., help="release folder"),
           workspace: Path = typer.Option(None, "--workspace", "-w",
                                          help="workspace whose catalog recorded the release's digest (default: the "
                                               "workspace holding the folder, <ws>/releases/NAME-VERSION)"),
           digest: str = typer.Option(None, "--digest", help="the release digest the release must have (sha256 of "
                                                               "its CHECKSUMS.sha256, printed by vimo release build)"),
           as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Recompute checksums, check the release rules and the release digest; names every file that fails.

    The digest is compared with --digest, else with the one the workspace's catalog recorded at build time.

    vimo release verify ws/releases/vimo-base-1.0.0\n
    vimo release verify vimo-base-1.0.0/ --digest 3b0c...e9
    """
    from vimo.release import ExpectedDigest, ReleaseError, is_digest, recorded_digest, release_digest, verify_release
    from vimo.release import workspace_of

    expected = None
    if digest is not None:
        if not is_digest(digest.strip().lower()):
            raise ReleaseError(f"--digest {digest!r} is not a sha256 (64 hex characters)", path=release,
                               fix="pass the digest vimo release build printed for this release")
        expected = ExpectedDigest(digest.strip().lower(), "the one given (--digest)")
    else:
        ws = workspace or workspace_of(release)
        recorded = recorded_digest(release, ws) if ws is not None and release.is_dir() else None
        if recorded is not None:
            expected = ExpectedDigest(recorded, f"the one recorded at build time in {ws}")
        elif workspace is not None:
            raise ReleaseError(f"is not recorded in the catalog of {workspace}", path=release,
                               fix="pass the workspace it was built in, or pin its digest with --digest HEX")
    problems = verify_release(release, expected=expected)
    try:
        actual = release_digest(release)
    except ReleaseError:
        actual = None
    checked = None if expected is None else expected.source
    if as_json:
        typer.echo(json.dumps({"release": str(release), "ok": not problems, "digest": actual,
                               "digest_checked_against": checked,
                               "problems": [{"path": p.path, "problem": p.problem} for p in problems]}, indent=2))
        if problems:
            raise typer.Exit(1)
        return
    if not problems:
        how = (f"matches {checked}" if checked else "not compared: pass --digest HEX, or -w WORKSPACE of the build")
        typer.echo(f"{release}: ok (digest {actual}, {how})")
        return
    for p in problems:
        typer.secho(f"{release}/{p.path}: {p.problem}", fg="red", err=True)
    raise typer.Exit(1)


@app.command()
def diff(a: Path = typer.Argument(..., help="older release folder"),
         b: Path = typer.Argument(..., help="newer release folder"),
         as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Pairs added, removed and changed, and split moves, from release A to release B.

    vimo release diff ws/releases/vimo-base-1.0.0 ws/releases/vimo-base-1.1.0
    """
    from vimo.release import diff_releases

    d = diff_releases(a, b)
    if as_json:
        typer.echo(json.dumps(asdict(d), indent=2))
        return
    if d.identical:
        typer.echo("no differences in pairs, splits or statistics")
        return
    typer.echo(f"added {len(d.added)}, removed {len(d.removed)}, changed {len(d.changed)}, "
               f"moved {len(d.moved)}; statistics {'changed' if d.statistics_changed else 'unchanged'}")
    for pid in d.added:
        typer.echo(f"  + {pid}")
    for pid in d.removed:
        typer.echo(f"  - {pid}")
    for pid, cols in d.changed.items():
        typer.echo(f"  ~ {pid}: {', '.join(cols)}")
    for pid, (old, new) in d.moved.items():
        typer.echo(f"  > {pid}: {old} -> {new}")


@app.command("list")
def list_(workspace: Path = typer.Option(..., "--workspace", "-w", help="the build workspace"),
          as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Releases built from a workspace.

    vimo release list -w ws/
    """
    from vimo.release import list_releases

    rows = list_releases(workspace)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        typer.echo("(no releases)")
    for r in rows:
        flag = "internal" if r["internal"] else "public"
        gone = "" if r["exists"] else "  (folder missing)"
        typer.echo(f"{r['name']}-{r['version']}  {flag}  {r['pairs']} pairs  {r['path']}{gone}")


def card(release: Path = typer.Argument(..., help="release folder"),
         out: Path = typer.Option(..., "--out", "-o", help="folder for README.md and meta/figures/"),
         workspace: Path = typer.Option(None, "--workspace", "-w",
                                        help="workspace of the release (for the annotation summary)"),
         template: Path = typer.Option(None, help="card template (default: vimo's, data_cards/template.md)"),
         body_models: Path = typer.Option(None, "--body-models",
                                          help="SMPL-family model folder: also measure penetration between the "
                                               "two bodies' meshes (posed from the joints)"),
         model_type: str = typer.Option("smpl", help="smpl, smplh or smplx (with --body-models)"),
         gender: str = typer.Option("neutral", help="neutral, male or female (with --body-models)")) -> None:
    """Render the data card of a release (README.md with YAML front matter + PNG figures).

    vimo card ws/releases/vimo-base-1.0.0 --workspace ws/ --out data_cards/vimo-base-1.0.0
    vimo card ws/releases/vimo-base-1.0.0 --out data_cards/vimo-base-1.0.0 --body-models ~/body_models
    """
    from vimo.cards import CardError, render_card
    from vimo.release import CHECKSUMS

    if (out / CHECKSUMS).exists():
        raise CardError("is a built release; releases are immutable", path=out,
                        fix="render the card into another folder (the release already holds its card)")
    mesher = None
    if body_models is not None:
        from vimo.pipelines.body import load_body_model
        from vimo.pipelines.video.posing import pose_body_model
        from vimo.release.measures import Mesher

        model = load_body_model(body_models, model_type, gender)
        mesher = Mesher(lambda joints: pose_body_model(model, joints), f"{model_type} {gender}")
    path = render_card(release, out=out, workspace=workspace, template=template, mesher=mesher)
    typer.echo(f"card written: {path}")


@export_app.command()
def humanml3d(release: Path = typer.Argument(..., help="release folder"),
              out: Path = typer.Option(..., "--out", "-o", help="output folder"),
              force: bool = typer.Option(False, "--force", help="write into a non-empty folder")) -> None:
    """A plain HumanML3D layout: new_joint_vecs/, new_joints/, Mean.npy, Std.npy, train/val/test/all.txt.

    vimo export humanml3d ws/releases/vimo-base-1.0.0 -o hml3d_out/
    """
    from vimo.release import export_humanml3d

    counts = export_humanml3d(release, out, overwrite=force)
    typer.echo(f"exported {counts['motions']} motions to {out} "
               + ", ".join(f"{k} {v}" for k, v in counts.items() if k != "motions"))
