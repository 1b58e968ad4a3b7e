"""The `vimo` command line. Lazy: only the module of the command being run is imported, so
`vimo --help` imports no command module.

COMMANDS maps a command name to (module, attribute, short help, extra). The attribute is a typer
app (a command group) or a function (a single command). A command whose module cannot be imported
because an extra is missing still shows in `--help`, marked with the pip command that installs it,
and says so when run.
"""
from __future__ import annotations

import importlib
import sys

import typer

from vimo import __version__

#: name -> (module, attribute, short help, extra or None)
COMMANDS: dict[str, tuple[str, str, str, str | None]] = {
    "info": ("vimo.cli.info", "info", "Versions of vimo and its dependencies, EGL support (for bug reports).", None),
    "init": ("vimo.cli.workspace", "init", "Create a build workspace (folders, config, SQLite catalog).", None),
    "workspace": ("vimo.cli.workspace", "app", "Inspect a workspace: status, tables, migrate.", None),
    "motion": ("vimo.cli.motion", "app", "HumanML3D 263-d features: encode, decode, statistics.", None),
    "convert": ("vimo.cli.convert", "app",
                "Convert a source (Inter-X, Ego-Humans, Harmony4D, AMASS, joints) into workspace clips.", None),
    "clips": ("vimo.cli.clips", "app", "List the clips of a workspace; cut real video clips for them.", None),
    "pairs": ("vimo.cli.pairs", "app", "Assemble source pairs (video of the actor + the reaction); list pairs.",
              None),
    "videos": ("vimo.cli.videos", "app",
               "Import videos without a recorded reaction (external); list videos; the motion library.", None),
    "render": ("vimo.cli.video", "render",
               "Render each clip's actor (--subject reactor: its reaction) to an H.264 video (headless EGL).",
               "render"),
    "restyle": ("vimo.cli.video", "restyle_app", "Restyle rendered videos through Runway: submit, status, fetch.",
                None),
    "annotate": ("vimo.cli.annotate", "app",
                 "Label Studio rounds: server, rounds (create/push/pull/status/close), instructions.", "annotate"),
    "train": ("vimo.cli.train", "train", "Train the reference HERO (rvq, mask or res) on a release.", "train"),
    "generate": ("vimo.cli.generate", "generate", "Reaction motions for a video from HERO checkpoints.", "train"),
    "split": ("vimo.cli.release", "split", "Dry run of a release recipe's split: counts per split and held-out sub-categories.", None),
    "release": ("vimo.cli.release", "app", "Build, verify, diff and list immutable releases.", None),
    "card": ("vimo.cli.release", "card", "Render a release's data card (README.md + figures).", None),
    "export": ("vimo.cli.release", "export_app", "Export a release (humanml3d: plain HumanML3D layout).", None),
    "bench": ("vimo.cli.bench", "bench_app",
              "Benchmark a release with HERO and its variants (FID, Diversity, MultiModality, 95% CI); human eval.",
              "train"),
    "leaderboard": ("vimo.cli.leaderboard", "leaderboard", "Rank benchmark results; refuses different evaluators or protocols.",
                    None),
    "synth": ("vimo.cli.synth", "app", "Synthetic two-person interactions (the embedded default data).", None),
    "demo": ("vimo.cli.demo", "demo", "Run the mission end to end on synthetic data.", None),
}

HELP = ("vimo: build, annotate, release and benchmark ViMo (video -> human reaction) datasets.\n\n"
        "Examples:\n\n"
        "  vimo demo --out demo_out\n\n"
        "  vimo motion encode joints.npy -o features.npy\n\n"
        "  vimo init ws/ && vimo workspace status -w ws/")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vimo {__version__}")
        raise typer.Exit()


def _placeholder(name: str):
    def run() -> None:  # never selected: the real command is loaded when it is the one invoked
        raise typer.Exit(0)

    run.__name__ = name.replace("-", "_")
    return run


def _missing(name: str, extra: str | None, exc: ImportError):
    from vimo.errors import MissingExtraError
    from vimo.extras import install_hint

    def run() -> None:
        raise MissingExtraError(f"'vimo {name}' cannot load ({exc})",
                                fix=install_hint(extra) if extra else "reinstall vimo: pip install -e .")

    return run


def build_app(selected: str | None = None) -> typer.Typer:
    """The root app; only `selected` (the command being run) is imported for real."""
    from rich.markup import escape

    from vimo.extras import install_hint, missing

    root = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False, rich_markup_mode="rich",
                       context_settings={"help_option_names": ["-h", "--help"]})

    @root.callback()
    def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                           help="print the version and exit")) -> None:
        pass

    for name, (module_name, attr, short, extra) in COMMANDS.items():
        if extra and missing(extra):
            short = f"{short} " + escape(f"[needs: {install_hint(extra)}]")
        if name != selected:
            root.command(name=name, help=short, add_help_option=False,
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})(
                _placeholder(name))
            continue
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except ImportError as exc:
            root.command(name=name, help=short, context_settings={"ignore_unknown_options": True,
                                                                  "allow_extra_args": True})(
                _missing(name, extra, exc))
            continue
        if isinstance(obj, typer.Typer):
            root.add_typer(obj, name=name)
        else:
            root.command(name=name)(obj)
    return root


def main(argv: list[str] | None = None) -> int:
    """Entry point: library errors become one red line on stderr and a non-zero exit code."""
    from vimo.errors import VimoError

    args = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in args if not a.startswith("-")), None)
    command = typer.main.get_command(build_app(selected))
    try:
        command.main(args=args, prog_name="vimo", standalone_mode=True)
    except VimoError as err:
        typer.secho(f"error: {err.one_line()}", fg="red", err=True)
        return err.exit_code
    except SystemExit as ex:
        return ex.code if isinstance(ex.code, int) else (0 if ex.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
