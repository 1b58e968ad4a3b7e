"""Release recipes (TOML): the release section, filters and split policy of a build."""
from __future__ import annotations

import json
import re
import sys
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping


from vimo.splits import SplitPolicy
from vimo.release.layout import ReleaseError

#: a release name or version: letters, digits, dot, dash, underscore; no leading punctuation
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

@dataclass
class ReleaseSection:
    """The [release] table of a recipe."""

    name: str
    """release name, e.g. 'vimo-base' (the folder is <name>-<version>)"""
    version: str
    """release version, e.g. '1.0.0'; a version once built never changes"""
    workspace: Path
    """the workspace the pairs come from (relative paths: relative to the recipe file)"""
    internal: bool = False
    """an internal build may hold data whose licence forbids redistribution (Inter-X); the card says so"""
    out: Path | None = None
    """folder that receives the release (default: <workspace>/releases)"""
    description: str = ""
    """one paragraph for the data card"""
    follow: Path | None = None
    """an earlier release whose pairs keep their split (stable splits across versions)"""


@dataclass
class ReleaseFilters:
    """The [filters] table of a recipe: which pairs go in."""

    status: str = "accepted"
    """pair status to include"""
    min_motion_quality: float | None = None
    """minimum mean motion-quality rating (1-5); genuine source pairs without ratings pass"""
    min_reaction_plausibility: float | None = None
    """minimum mean reaction-plausibility rating (1-5); genuine source pairs without ratings pass"""
    sources: list[str] | None = None
    """only these motion sources (None: all)"""
    exclude_sources: list[str] = field(default_factory=list)
    """never these motion sources"""
    licences: list[str] | None = None
    """only pairs whose licence id is in this list (None: all)"""
    video_kinds: list[str] | None = None
    """only these video kinds: real, rendered, restyled, external (None: all)"""
    allow_flagged: bool = False
    """include clips the converter flagged in QA (quarantined clips never go in)"""
    drop_flags: list[str] = field(default_factory=list)
    """QA flags whose clips never go in, even with allow_flagged (e.g. ["order_suspect"]: Inter-X clips whose
    labelled reactor starts moving before the labelled actor)"""
    min_frames: int = 20
    """shortest motion (feature rows) kept; HERO's evaluation loader needs >= 20"""
    max_frames: int = 200
    """longest motion kept; HERO's max_motion_length is 200"""


@dataclass
class Recipe:
    release: ReleaseSection
    filters: ReleaseFilters
    split: SplitPolicy
    raw: dict[str, Any]
    path: Path | None = None

    @property
    def folder_name(self) -> str:
        return f"{self.release.name}-{self.release.version}"


def _type_name(tp: Any) -> str:
    """A declared field type as a recipe writer reads it: 'int', 'list[str]', 'path', 'float or nothing'."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        named = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(named)
    if origin in (list, tuple):
        return f"list[{_type_name(args[0])}]" if args else "list"
    if tp is Path:
        return "str (a path)"
    return getattr(tp, "__name__", str(tp))


def _type_problem(value: Any, tp: Any, key: str) -> str | None:
    """Why `value` (a TOML value) does not fit the declared type `tp`, naming the key or list item; None when it
    fits. TOML integers pass for floats; lists pass for tuples; strings for paths."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        problems = [_type_problem(value, a, key) for a in args if a is not type(None)]
        if any(p is None for p in problems):
            return None
        nested = [p for p in problems if p and not p.startswith(f"{key} is ")]
        return nested[0] if nested else f"{key} is {value!r} ({type(value).__name__}), expected {_type_name(tp)}"
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return f"{key} is {value!r} ({type(value).__name__}), expected {_type_name(tp)}"
        for i, item in enumerate(value):
            problem = _type_problem(item, args[0], f"{key}[{i}]") if args else None
            if problem:
                return problem
        return None
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif tp is str:
        ok = isinstance(value, str)
    elif tp is Path:
        ok = isinstance(value, (str, Path))
    else:
        ok = True
    return None if ok else f"{key} is {value!r} ({type(value).__name__}), expected {_type_name(tp)}"


def _example(f: Any) -> str:
    default = f.default_factory() if f.default_factory is not MISSING else f.default
    if default is MISSING or default is None or (isinstance(default, (list, tuple)) and not default):
        return ""
    return f", e.g. {f.name} = {json.dumps(list(default) if isinstance(default, tuple) else default)}"


def check_types(cls: type, table: Mapping[str, Any], where: str, path: Path | None) -> None:
    """ReleaseError (one line: recipe file, [table], key, found value and type, expected type) when a value of
    `table` does not fit the declared type of its field in the dataclass `cls`; unknown keys are left to
    `_section`."""
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if f.name not in table:
            continue
        problem = _type_problem(table[f.name], hints[f.name], f.name)
        if problem:
            raise ReleaseError(f"[{where}] {problem}", path=path,
                               fix=f"set {f.name} to a value of type {_type_name(hints[f.name])}{_example(f)}")


def _section(cls: type, table: Mapping[str, Any], where: str, path: Path | None) -> Any:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(table) - names)
    if unknown:
        raise ReleaseError(f"[{where}] has unknown keys {unknown}", path=path,
                           fix=f"use only {', '.join(sorted(names))}")
    try:
        return cls(**table)
    except TypeError as exc:
        raise ReleaseError(f"[{where}] is incomplete ({exc})", path=path, fix="add the missing keys") from None


def _toml_loads(text: str, path: Path | None) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise ReleaseError("reading TOML recipes on Python 3.10 needs tomli", path=path,
                               fix="pip install tomli (or use Python 3.11+)") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ReleaseError(f"is not valid TOML ({exc})", path=path, fix="fix the recipe's syntax") from None


def recipe_from_dict(raw: Mapping[str, Any], *, base: Path | None = None, path: Path | None = None) -> Recipe:
    """A Recipe from its TOML tables; relative paths are taken relative to `base`."""
    unknown = sorted(set(raw) - {"release", "filters", "split"})
    if unknown:
        raise ReleaseError(f"has unknown tables {unknown}", path=path, fix="use [release], [filters] and [split]")
    if "release" not in raw:
        raise ReleaseError("has no [release] table", path=path, fix="add [release] with name, version, workspace")
    drop = raw.get("filters", {}).get("drop_flags", []) if isinstance(raw.get("filters", {}), Mapping) else []
    if not isinstance(drop, list) or not all(isinstance(x, str) for x in drop):
        raise ReleaseError(f"[filters] drop_flags must be a list of QA flag names, got {drop!r}",
                           path=path, fix='e.g. drop_flags = ["order_suspect"]')
    for where, cls in (("release", ReleaseSection), ("filters", ReleaseFilters), ("split", SplitPolicy)):
        table = raw.get(where, {})
        if not isinstance(table, Mapping):
            raise ReleaseError(f"[{where}] is {table!r} ({type(table).__name__}), expected a table", path=path,
                               fix=f"write it as a [{where}] table of keys")
        check_types(cls, table, where, path)
    rel_table = dict(raw["release"])
    for key in ("workspace", "out", "follow"):
        if rel_table.get(key) is not None:
            p = Path(str(rel_table[key]))
            rel_table[key] = p if p.is_absolute() or base is None else (base / p)
    release = _section(ReleaseSection, rel_table, "release", path)
    if not _NAME.fullmatch(release.name) or not _NAME.fullmatch(release.version):
        raise ReleaseError(f"name {release.name!r} / version {release.version!r} must be letters, digits, '.', "
                           "'-' or '_'", path=path, fix="e.g. name = 'vimo-base', version = '1.0.0'")
    filters = _section(ReleaseFilters, dict(raw.get("filters", {})), "filters", path)
    split_table = dict(raw.get("split", {}))
    for key in ("unseen_sub_categories", "reactions_per_video", "guard", "unseen_guard"):
        if key in split_table:
            split_table[key] = tuple(split_table[key])
    policy = _section(SplitPolicy, split_table, "split", path)
    return Recipe(release, filters, policy, json.loads(json.dumps(dict(raw), default=str)), path)


def load_recipe(path: str | Path) -> Recipe:
    """Read a TOML recipe (see data_cards/README.md for an example)."""
    p = Path(path)
    if not p.is_file():
        raise ReleaseError("recipe file does not exist", path=p, fix="check the path")
    data = p.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ReleaseError(f"is not UTF-8 (byte 0x{data[exc.start]:02x} on line {line}); TOML files are UTF-8",
                           path=p, fix="save the recipe as UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None
    return recipe_from_dict(_toml_loads(text, p), base=p.parent.resolve(), path=p)
