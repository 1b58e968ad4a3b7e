"""`vimo motion`: HumanML3D 263-d features from joints and back, and their statistics.

Examples:
    vimo motion encode joints.npy -o features.npy
    vimo motion encode new_joints/ -o new_joint_vecs/          # a folder, batched, bad files quarantined
    vimo motion decode features.npy -o joints.npy --method rot
    vimo motion stats vector_263/ -o stats/                     # Mean.npy, Std.npy
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
console = Console(stderr=True)
result = Console()  # results on stdout; progress, notes and errors on stderr


def _file_output(out: Path, src: Path) -> None:
    """-o must name a file when SRC is one file: an existing folder there is refused before any work."""
    from vimo.errors import InputFormatError

    if out.is_dir():
        raise InputFormatError("is a folder, but -o must name the output .npy file when SRC is one file", path=out,
                               fix=f"give a file name, e.g. -o {out / (src.stem + '.npy')}; or pass a folder as SRC "
                                   "to write one file per input into the folder")
    if out.parent != Path("") and out.parent.exists() and not out.parent.is_dir():
        raise InputFormatError(f"cannot be written: {out.parent} is a file, not a folder", path=out,
                               fix="choose an output path inside a folder")


def _folder_output(out: Path) -> None:
    """-o must name a folder (new or existing) when the outputs are several files."""
    from vimo.errors import InputFormatError

    if out.exists() and not out.is_dir():
        raise InputFormatError("is a file, but -o must name the output folder here", path=out,
                               fix="give a folder path (it is created when missing)")


@app.command()
def encode(src: Path = typer.Argument(..., help="(T, 22, 3) joints .npy (metres, Y up, 20 fps, SMPL order), or a folder of them"),
           out: Path = typer.Option(..., "-o", "--out", help="output .npy (or folder when SRC is a folder)"),
           first_22: bool = typer.Option(False, "--first-22", help="take joints[:, :22] of 24/52/55-joint arrays"),
           force: bool = typer.Option(False, "--force", help="re-encode outputs that already exist"),
           as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Joints -> (T-1, 263) features, exactly as the official HumanML3D pipeline.

    vimo motion encode joints.npy -o features.npy\n
    vimo motion encode joints_dir/ -o features_dir/ --first-22
    """
    from vimo.motion.files import encode_file, encode_folder

    if src.is_dir():
        _folder_output(out)
        report = encode_folder(src, out, first_22=first_22, overwrite=force)
        if as_json:
            typer.echo(json.dumps({"out": str(out), **asdict(report)}, indent=2))
            return
        result.print(f"[green]encoded[/] {report.summary()} -> {out}")
        for name, reason in report.quarantined.items():
            console.print(f"[yellow]quarantined[/] {name}: {reason}")
        if report.quarantined:
            result.print(f"reasons listed in {out / 'quarantine.tsv'}")
        return
    _file_output(out, src)
    feats = encode_file(src, out, first_22=first_22)
    if as_json:
        typer.echo(json.dumps({"out": str(out), "shape": list(feats.shape)}))
        return
    result.print(f"[green]wrote[/] {out} {feats.shape} float32")


@app.command()
def decode(src: Path = typer.Argument(..., help="(T, 263) features .npy"),
           out: Path = typer.Option(..., "-o", "--out", help="output joints .npy (T, 22, 3)"),
           method: str = typer.Option("ric", help="ric (positions, dims 4:67) or rot (6D rotations + FK)"),
           as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Features -> (T, 22, 3) joints.

    vimo motion decode features.npy -o joints.npy --method ric
    """
    from vimo.motion.files import decode_file

    _file_output(out, src)
    joints = decode_file(src, out, method=method)
    if as_json:
        typer.echo(json.dumps({"out": str(out), "shape": list(joints.shape)}))
        return
    result.print(f"[green]wrote[/] {out} {joints.shape}")


@app.command()
def stats(src: Path = typer.Argument(..., help="folder of (T, 263) feature .npy files"),
          out: Path = typer.Option(..., "-o", "--out", help="folder for Mean.npy and Std.npy"),
          group_average: bool = typer.Option(True, "--group-average/--per-dim", help="average the std per feature "
                                             "group as the official files (--per-dim keeps per-dim std)"),
          as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Mean.npy / Std.npy as the official HumanML3D statistics (population std, group-averaged).

    vimo motion stats vector_263/ -o stats/
    """
    from vimo.motion.files import stats_folder

    _folder_output(out)
    mean, std, report = stats_folder(src, out, group_average=group_average)
    if as_json:
        typer.echo(json.dumps({"mean": str(out / "Mean.npy"), "std": str(out / "Std.npy"), **asdict(report)}, indent=2))
        return
    result.print(f"[green]wrote[/] {out / 'Mean.npy'}, {out / 'Std.npy'} from {len(report.written)} files, "
                  f"{report.frames} rows")
    for name, reason in report.quarantined.items():
        console.print(f"[yellow]skipped[/] {name}: {reason}")
