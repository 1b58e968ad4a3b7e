"""Versioned labeling configs and annotation instructions, kept as files.

Layout (the shipped set lives in `annotation/templates/`; a workspace adds its own bumped versions in
`<workspace>/annotation/templates/` with the same layout):

    configs/<kind>/v<N>.xml          Label Studio labeling config
    instructions/<kind>/v<N>.html    instructions shown to annotators; the first line is
                                     <!-- vimo-instructions {json: kind, version, based_on, trial_round} -->

A round records the versions and md5s it used, so a release's card can name them.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from vimo.atomic import write_text
from vimo.errors import InputFormatError

KINDS: tuple[str, ...] = ("screening", "rating", "pairing", "inspection")
PACKAGE_TEMPLATES = Path(__file__).resolve().parent / "templates"
_HEADER = re.compile(r"^<!-- vimo-instructions (\{.*\}) -->\s*$")
_VERSION = re.compile(r"^v(\d+)\.(xml|html)$")


@dataclass(frozen=True)
class TemplateFile:
    kind: str
    version: int
    path: Path
    text: str

    @property
    def md5(self) -> str:
        return hashlib.md5(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Instructions(TemplateFile):
    based_on: int | None = None
    trial_round: str | None = None

    @property
    def body(self) -> str:
        """The HTML without the metadata line (what annotators see)."""
        return self.text.split("\n", 1)[1] if self.text.startswith("<!--") else self.text


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InputFormatError(f"unknown round kind {kind!r}", fix=f"use one of {', '.join(KINDS)}")


def _versions(dirs: Sequence[Path], sub: str, kind: str, suffix: str) -> dict[int, Path]:
    found: dict[int, Path] = {}
    for d in dirs:
        folder = d / sub / kind
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            m = _VERSION.match(p.name)
            if m and m.group(2) == suffix:
                found.setdefault(int(m.group(1)), p)  # earlier dirs win (the shipped set is first)
    return found


class Templates:
    """Configs and instructions from the shipped set plus an optional workspace folder."""

    def __init__(self, extra: str | Path | None = None):
        self.extra = Path(extra) if extra else None
        self.dirs: list[Path] = [PACKAGE_TEMPLATES] + ([self.extra] if self.extra else [])

    def config_versions(self, kind: str) -> list[int]:
        _check_kind(kind)
        return sorted(_versions(self.dirs, "configs", kind, "xml"))

    def instruction_versions(self, kind: str) -> list[int]:
        _check_kind(kind)
        return sorted(_versions(self.dirs, "instructions", kind, "html"))

    def config(self, kind: str, version: int | None = None) -> TemplateFile:
        """The labeling config of `kind` (latest version unless given)."""
        found = _versions(self.dirs, "configs", kind, "xml") if kind in KINDS else _check_kind(kind)
        if not found:
            raise InputFormatError(f"no labeling config for {kind}", path=PACKAGE_TEMPLATES / "configs" / kind,
                                   fix="reinstall vimo; the shipped templates are missing")
        v = max(found) if version is None else version
        if v not in found:
            raise InputFormatError(f"{kind} labeling config v{v} does not exist (have {sorted(found)})",
                                   fix="pick an existing version")
        return TemplateFile(kind, v, found[v], found[v].read_text(encoding="utf-8"))

    def instructions(self, kind: str, version: int | None = None) -> Instructions:
        """The instructions of `kind` (latest version unless given), with their metadata."""
        found = _versions(self.dirs, "instructions", kind, "html") if kind in KINDS else _check_kind(kind)
        if not found:
            raise InputFormatError(f"no instructions for {kind}", path=PACKAGE_TEMPLATES / "instructions" / kind,
                                   fix="reinstall vimo; the shipped templates are missing")
        v = max(found) if version is None else version
        if v not in found:
            raise InputFormatError(f"{kind} instructions v{v} do not exist (have {sorted(found)})",
                                   fix="pick an existing version or run `vimo annotate instructions bump`")
        return read_instructions(found[v])

    def bump_instructions(self, kind: str, changes: Iterable[str], trial_round: str | None = None,
                          disagreements: Sequence[str] = (), body: str | None = None) -> Instructions:
        """Write instructions v<N+1> of `kind` into the workspace folder.

        `body` replaces the text (default: the current text); `changes` are listed in a "What changed"
        section; `disagreements` are lines about the trial tasks with the largest disagreement.
        """
        if self.extra is None:
            raise InputFormatError("bumping instructions needs a workspace templates folder",
                                   fix="pass the workspace (vimo annotate instructions bump --workspace WS)")
        current = self.instructions(kind)
        changes = [c.strip() for c in changes if c.strip()]
        if not changes:
            raise InputFormatError("an instructions bump needs at least one change",
                                   fix="pass --change 'what was clarified' (repeatable)")
        new_v = current.version + 1
        meta = {"kind": kind, "version": new_v, "based_on": current.version, "trial_round": trial_round}
        text = (body if body is not None else _strip_changes(current.body)).rstrip() + "\n"
        text += f'<h3 class="vimo-changes">What changed in version {new_v}</h3>\n<ul>\n'
        text += "".join(f"  <li>{_escape(c)}</li>\n" for c in changes) + "</ul>\n"
        if disagreements:
            text += "<p>Examples the trial disagreed on most:</p>\n<ul>\n"
            text += "".join(f"  <li>{_escape(d)}</li>\n" for d in disagreements) + "</ul>\n"
        path = self.extra / "instructions" / kind / f"v{new_v}.html"
        write_text(path, f"<!-- vimo-instructions {json.dumps(meta)} -->\n" + text)
        return read_instructions(path)


def _strip_changes(body: str) -> str:
    """Drop the previous version's generated 'What changed' section (the history lives in the files)."""
    i = body.find('<h3 class="vimo-changes">')
    return body if i < 0 else body[:i]


def _escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def read_instructions(path: str | Path) -> Instructions:
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    first = text.split("\n", 1)[0]
    m = _HEADER.match(first)
    if not m:
        raise InputFormatError("instructions file does not start with its vimo-instructions metadata line",
                               path=path, fix='start it with <!-- vimo-instructions {"kind": ..., "version": N} -->')
    try:
        meta = json.loads(m.group(1))
        return Instructions(meta["kind"], int(meta["version"]), path, text, meta.get("based_on"),
                            meta.get("trial_round"))
    except (ValueError, KeyError) as exc:
        raise InputFormatError(f"instructions metadata is not valid ({exc})", path=path,
                               fix="fix the JSON of the first line") from None
