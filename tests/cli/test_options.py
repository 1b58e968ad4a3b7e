"""Commands generated from config dataclasses (vimo.cli.options): every field is an option whose help is the
field's docstring, flags given explicitly are told from defaults, and the five config-backed commands cover
their configs field for field."""
from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from vimo.cli.options import PREFIX, Spec, config_parameters, config_values, explicit_fields, field_docs, \
    with_signature


@dataclass
class _Demo:
    root: Path
    """where it happens"""
    count: int = 3
    """how many"""
    fast: bool = False
    """go fast"""
    names: list[str] = field(default_factory=lambda: ["a"])
    """names (repeatable)"""
    size: tuple[int, int] = (4, 2)
    """WxH"""


def _app(fn):
    app = typer.Typer()
    app.command()(fn)
    app.command("noop")(lambda: None)
    return app


def _command(seen: dict):
    specs = {"root": Spec(argument=True), "names": Spec(flag="--name"),
             "size": Spec(cli_type=str, default="4x2", parse=lambda t: tuple(int(v) for v in t.split("x")))}

    def run(ctx: typer.Context, **kwargs):
        seen["values"] = config_values(kwargs, _Demo, specs)
        seen["explicit"] = explicit_fields(ctx, _Demo)

    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
    return with_signature(run, params + config_parameters(_Demo, specs), name="demo", doc="A demo command.")


def test_field_docs_read_the_docstring_under_each_field():
    assert field_docs(_Demo) == {"root": "where it happens", "count": "how many", "fast": "go fast",
                                 "names": "names (repeatable)", "size": "WxH"}


def test_generated_command_parses_every_field_and_knows_what_was_given():
    seen: dict = {}
    app = _app(_command(seen))
    r = CliRunner().invoke(app, ["demo", "/tmp/x", "--count", "3", "--name", "p", "--name", "q", "--fast",
                                 "--size", "8x6"])
    assert r.exit_code == 0, r.output
    assert seen["values"] == {"root": Path("/tmp/x"), "count": 3, "fast": True, "names": ["p", "q"], "size": (8, 6)}
    assert seen["explicit"] == {"root", "count", "names", "fast", "size"}  # --count 3 is its default, still given
    r = CliRunner().invoke(app, ["demo", "/tmp/x"])
    assert r.exit_code == 0, r.output
    assert _Demo(**seen["values"]) == _Demo(Path("/tmp/x"), size=(4, 2))  # defaults and factories apply
    assert seen["explicit"] == {"root"}
    help_text = CliRunner().invoke(app, ["demo", "--help"]).output
    for text in ("where it happens", "how many", "--no-fast", "names (repeatable)", "--name"):
        assert text in help_text


def _commands():
    from vimo.cli.bench import HIDDEN, bench
    from vimo.cli.train import train
    from vimo.cli.video import clips_cut, render, restyle_submit
    from vimo.models.bench import BenchConfig
    from vimo.models.train import TrainConfig
    from vimo.pipelines.video.clips import CutOptions
    from vimo.pipelines.video.render import RenderOptions
    from vimo.pipelines.video.restyle import RestyleOptions

    return [(train, TrainConfig, ()), (bench, BenchConfig, HIDDEN), (render, RenderOptions, ()),
            (clips_cut, CutOptions, ()), (restyle_submit, RestyleOptions, ())]


@pytest.mark.parametrize("index", range(5))
def test_config_backed_commands_offer_every_field_with_its_documented_help(index):
    command, config, hidden = _commands()[index]
    params = inspect.signature(command).parameters
    docs = field_docs(config)
    for f in dataclasses.fields(config):
        if f.name in hidden:
            continue
        assert PREFIX + f.name in params, (config.__name__, f.name)
        assert docs.get(f.name), f"{config.__name__}.{f.name} has no docstring (its --help text)"
