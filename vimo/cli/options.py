"""Typer commands generated from config dataclasses: one option per field, its help text the field's docstring.

A command's configuration is written once, in its dataclass (fields with a docstring under each, the form every
vimo config uses); `config_parameters` turns the fields into typer parameters and `explicit_fields` tells which
of them the user gave on the command line (click's parameter source), so an option given explicitly with its
default value still wins over a config file.
"""
from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer

#: "no command-line default of its own" (dataclasses.MISSING cannot be a field default)
UNSET: Any = type("Unset", (), {"__repr__": lambda self: "UNSET"})()
#: prefix of the generated parameter names (keeps them apart from a command's own parameters)
PREFIX = "cfg_"


@dataclass(frozen=True)
class Spec:
    """How one config field appears on the command line (everything optional)."""

    flag: str | None = None
    """option name instead of --<field-name> (e.g. '--rvq' for rvq_dir)"""
    short: str | None = None
    """short alias, e.g. '-o' or '-w'"""
    argument: bool = False
    """positional argument instead of an option"""
    optional: bool = False
    """a required field becomes optional on the command line (the command checks it, e.g. with --config)"""
    help: str | None = None
    """help text instead of the field's docstring"""
    default: Any = UNSET
    """command-line default instead of the field's"""
    cli_type: Any = None
    """type given on the command line instead of the field's (e.g. str for a 'WxH' size); with `parse`"""
    parse: Callable[[Any], Any] | None = None
    """turns the command-line value into the field's value (not called on None)"""


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> its docstring (the string literal right under the field), over the class and its bases;
    `field.metadata['help']` when a field has one."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in zip(body, body[1:] + [None]):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(after, ast.Expr) \
                    and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
                docs[node.target.id] = " ".join(after.value.value.split())
    for f in dataclasses.fields(cls):
        if f.metadata.get("help"):
            docs[f.name] = f.metadata["help"]
    return docs


def _cli_type(hint: Any) -> tuple[Any, bool]:
    """(type typer understands, is_list) for a field's type hint."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and typing.get_origin(args[0]) in (list, List):
            return _cli_type(args[0])  # `list[str] | None`: a repeatable option
        simple = [a for a in args if a in (str, int, float, bool, Path)]
        inner = simple[0] if simple else str  # e.g. `str | Preset` is given as a name
        return Optional[inner], False
    if origin in (list, List):
        (inner,) = typing.get_args(hint) or (str,)
        return Optional[List[inner]], True
    return hint, False


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def config_parameters(cls: type, specs: dict[str, Spec] | None = None, skip: tuple[str, ...] = ()
                      ) -> list[inspect.Parameter]:
    """Typer parameters (keyword-only, named PREFIX + field) for the fields of a config dataclass."""
    specs = specs or {}
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    params = []
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        spec = specs.get(f.name, Spec())
        annotation, is_list = _cli_type(hints[f.name]) if spec.cli_type is None else (spec.cli_type, False)
        if spec.default is not UNSET:
            default = spec.default
        elif is_list or f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = None  # the dataclass's factory applies when not given
        elif f.default is not dataclasses.MISSING:
            default = f.default
        else:
            default = None if spec.optional else ...
        if default is None and typing.get_origin(annotation) not in (typing.Union, types.UnionType):
            annotation = Optional[annotation]
        help_text = spec.help if spec.help is not None else docs.get(f.name, "")
        if spec.argument:
            info = typer.Argument(default, help=help_text, show_default=False, metavar=f.name.upper())
        else:
            names = [spec.flag or option_name(f.name)]
            if annotation is bool:
                names = [f"{names[0]}/--no-{names[0][2:]}"]
            if spec.short:
                names.append(spec.short)
            info = typer.Option(default, *names, help=help_text)
        params.append(inspect.Parameter(PREFIX + f.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                        default=info))
    return params


def config_values(kwargs: dict[str, Any], cls: type, specs: dict[str, Spec] | None = None) -> dict[str, Any]:
    """The config fields among a generated command's arguments, parsed by their Spec (lists left out when not
    given, so that the dataclass's default factory applies)."""
    specs = specs or {}
    out = {}
    for f in dataclasses.fields(cls):
        key = PREFIX + f.name
        if key in kwargs and not (kwargs[key] in (None, [], ()) and f.default_factory is not dataclasses.MISSING):  # type: ignore[misc]
            value = kwargs[key]
            value = list(value) if isinstance(value, (list, tuple)) else value
            if value == [] and f.default is None:  # a repeatable option not given: the field's None
                value = None
            parse = specs.get(f.name, Spec()).parse
            out[f.name] = parse(value) if parse is not None and value is not None else value
    return out


def explicit_fields(ctx: typer.Context, cls: type) -> set[str]:
    """Fields the user gave on the command line or through the environment (not defaults)."""
    given = set()
    for f in dataclasses.fields(cls):
        source = ctx.get_parameter_source(PREFIX + f.name)  # an enum of typer's bundled click: compare by name
        if getattr(source, "name", None) in ("COMMANDLINE", "ENVIRONMENT"):
            given.add(f.name)
    return given


def with_signature(fn: Any, params: list[inspect.Parameter], *, name: str, doc: str | None) -> Any:
    """`fn(**kwargs)` presented to typer with `params` (a leading `ctx: typer.Context` when fn takes one)."""
    fn.__signature__ = inspect.Signature(params)
    fn.__name__ = name
    fn.__doc__ = doc
    return fn
