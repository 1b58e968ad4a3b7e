"""The `vimo` command line: a lazy group so `vimo --help` imports no command module.

Each entry of COMMANDS names the module that holds a typer app (a command group) or a single
command, its one-line help, and the extra it needs. A command whose extra is missing still shows
in `--help`, marked with the pip command that installs it.
"""
from __future__ import annotations

import importlib
import sys

import click

#: name -> (module, attribute, short help, extra or None)
COMMANDS: dict[str, tuple[str, str, str, str | None]] = {
    "info": ("vimo.cli.info", "info", "Versions of vimo and its dependencies, EGL support (for bug reports).", None),
    "init": ("vimo.cli.workspace", "init", "Create a build workspace (folders, config, SQLite catalog).", None),
    "workspace": ("vimo.cli.workspace", "app", "Inspect a workspace: status, tables, migrate.", None),
    "motion": ("vimo.cli.motion", "app", "HumanML3D 263-d features: encode, decode, statistics.", None),
    "synth": ("vimo.cli.synth", "app", "Synthetic two-person interactions (the embedded default data).", None),
    "demo": ("vimo.cli.demo", "demo", "Run the mission end to end on synthetic data.", None),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, attr, short, extra = COMMANDS[name]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            return _missing_extra_command(name, short, extra, exc)
        obj = getattr(module, attr)
        import typer

        if isinstance(obj, typer.Typer):
            cmd = typer.main.get_group(obj) if obj.registered_groups or len(obj.registered_commands) != 1 \
                else typer.main.get_command(obj)
        elif isinstance(obj, click.Command):
            cmd = obj
        else:  # a plain function: wrap it as a one-command typer app
            app = typer.Typer(add_completion=False)
            app.command(name=name)(obj)
            cmd = typer.main.get_command(app)
        cmd.name = name
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from vimo.extras import install_hint, missing

        rows = []
        for name, (_m, _a, short, extra) in COMMANDS.items():
            if extra and missing(extra):
                short = f"{short} [needs: {install_hint(extra)}]"
            rows.append((name, short))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _missing_extra_command(name: str, short: str, extra: str | None, exc: ImportError) -> click.Command:
    from vimo.extras import install_hint

    hint = install_hint(extra) if extra else "pip install -e . (reinstall vimo)"

    @click.command(name=name, help=f"{short} [needs: {hint}]",
                   context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def _cmd() -> None:
        click.secho(f"vimo {name}: cannot load ({exc}) (fix: {hint})", fg="red", err=True)
        sys.exit(3)

    return _cmd


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]},
             help="vimo: build, annotate, release and benchmark ViMo video -> reaction datasets.\n\n"
                  "Examples:\n\n  vimo demo --out demo_out\n\n  vimo motion encode joints.npy -o features.npy\n\n"
                  "  vimo init ws/ && vimo workspace status ws/")
@click.version_option(package_name="vimo", prog_name="vimo")
def cli() -> None:
    pass


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the CLI; library errors become one red line and a non-zero exit."""
    from vimo.errors import VimoError

    try:
        cli.main(args=argv, prog_name="vimo", standalone_mode=False)
    except VimoError as err:
        click.secho(f"error: {err.one_line()}", fg="red", err=True)
        return err.exit_code
    except click.exceptions.Abort:
        click.secho("aborted", fg="red", err=True)
        return 130
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except click.exceptions.Exit as ex:
        return ex.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
