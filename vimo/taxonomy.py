"""The ViMo taxonomy as data: broad category -> (group) -> sub-category, the emotions, and how each
source's own labels (Inter-X's 40 actions, Ego-Humans' and Harmony4D's activities, synthetic kinds)
map onto it, with each source's licence.

The default lives in `vimo/data/taxonomy.json`; a workspace overrides it with `<ws>/taxonomy.json`
(same schema). `Taxonomy.label_for(source, labels)` is how an unlabelled pair gets its labels.
"""
from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from vimo.errors import InputFormatError, VimoError, check_format_version

FORMAT_VERSION = 1
WORKSPACE_FILE = "taxonomy.json"


class TaxonomyError(VimoError):
    """A label that the taxonomy does not know, or a taxonomy file that breaks the schema."""


@dataclass(frozen=True)
class SubCategory:
    slug: str
    name: str
    broad: str
    group: str | None
    emotions: tuple[str, ...] = ()
    """emotions this sub-category is filmed with (empty: any of the taxonomy's emotions, or none)"""
    evidence: str = "vimo"
    """'paper' / 'official-code': name seen in the HERO material; 'vimo': this project's reconstruction"""


@dataclass(frozen=True)
class SourceLicence:
    id: str
    name: str
    redistributable: bool
    url: str | None = None
    citation: str | None = None


@dataclass(frozen=True)
class Label:
    """Taxonomy labels of one pair."""

    broad_category: str
    sub_category: str
    emotion: str | None = None


@dataclass
class Taxonomy:
    name: str
    version: str
    broad_categories: dict[str, tuple[str, ...]]
    """broad category -> its groups (Human-Human: daily socialising, sports, ...)"""
    emotions: tuple[str, ...]
    sub_categories: dict[str, SubCategory]
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    checksum: str = ""
    path: str = ""

    # -- loading -------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, path: str = "<dict>") -> "Taxonomy":
        def bad(problem: str) -> TaxonomyError:
            return TaxonomyError(problem, path=path, fix="follow the schema of vimo/data/taxonomy.json")

        if not isinstance(data, Mapping):
            raise bad("is not a JSON object")
        check_format_version(data.get("format_version"), FORMAT_VERSION, what="taxonomy", path=path,
                             error=TaxonomyError, older_fix="rewrite it to the schema of vimo/data/taxonomy.json "
                                                            f"(format_version {FORMAT_VERSION})")
        for key in ("broad_categories", "emotions", "sub_categories"):
            if key not in data:
                raise bad(f"lacks the key '{key}'")
        broad = {str(k): tuple(v.get("groups", ())) for k, v in data["broad_categories"].items()}
        emotions = tuple(data["emotions"])
        subs = {}
        for slug, entry in data["sub_categories"].items():
            if not re.fullmatch(r"[a-z0-9_]+", slug):
                raise bad(f"sub-category id {slug!r} is not lower_snake_case")
            if entry.get("broad") not in broad:
                raise bad(f"sub-category {slug} has unknown broad category {entry.get('broad')!r}")
            group = entry.get("group")
            if group is not None and group not in broad[entry["broad"]]:
                raise bad(f"sub-category {slug} has group {group!r}, not one of {entry['broad']}'s groups")
            emo = tuple(entry.get("emotions", ()))
            unknown = [e for e in emo if e not in emotions]
            if unknown:
                raise bad(f"sub-category {slug} lists unknown emotions {unknown}")
            subs[slug] = SubCategory(slug, entry.get("name", slug), entry["broad"], group, emo,
                                     entry.get("evidence", "vimo"))
        sources = dict(data.get("sources", {}))
        for src, spec in sources.items():
            wrong = sorted({v for v in spec.get("map", {}).values() if v not in subs})
            if wrong:
                raise bad(f"source {src} maps onto unknown sub-categories {wrong}")
            lic = spec.get("licence")
            if lic is not None and not {"id", "name", "redistributable"} <= set(lic):
                raise bad(f"source {src}'s licence needs id, name and redistributable")
        checksum = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
        return cls(str(data.get("name", "taxonomy")), str(data.get("version", "0")), broad, emotions, subs, sources,
                   checksum, path)

    @staticmethod
    def default_data() -> dict[str, Any]:
        """vimo's default taxonomy as the JSON data it is stored as (to extend into a workspace's taxonomy.json)."""
        return json.loads(resources.files("vimo").joinpath("data", "taxonomy.json").read_text(encoding="utf-8"))

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Taxonomy":
        """The taxonomy in `path`, or vimo's default when None."""
        if path is None:
            text = resources.files("vimo").joinpath("data", "taxonomy.json").read_text(encoding="utf-8")
            where = "vimo/data/taxonomy.json"
        else:
            p = Path(path)
            if not p.is_file():
                raise InputFormatError("taxonomy file does not exist", path=p, fix="check the path")
            text, where = p.read_text(encoding="utf-8"), str(p)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TaxonomyError(f"is not valid JSON ({exc})", path=where, fix="fix the JSON syntax") from None
        return cls.from_dict(data, path=where)

    @classmethod
    def for_workspace(cls, root: str | Path) -> "Taxonomy":
        """`<root>/taxonomy.json` when the workspace has one, else the default."""
        own = Path(root) / WORKSPACE_FILE
        return cls.load(own if own.is_file() else None)

    # -- queries -------------------------------------------------------------------------------
    def sub(self, slug: str) -> SubCategory:
        if slug not in self.sub_categories:
            raise TaxonomyError(f"unknown sub-category {slug!r}", path=self.path,
                                fix="use one of the taxonomy's sub-categories (vimo split --taxonomy shows them)")
        return self.sub_categories[slug]

    def check(self, broad: str | None, sub: str | None, emotion: str | None = None) -> Label:
        """The label if it is consistent with the taxonomy, else TaxonomyError."""
        if not sub:
            raise TaxonomyError("pair has no sub-category", path=self.path, fix="label the pair or map its source")
        entry = self.sub(sub)
        if broad and broad != entry.broad:
            raise TaxonomyError(f"sub-category {sub} belongs to {entry.broad}, not {broad}", path=self.path,
                                fix="correct the pair's broad category")
        if emotion:
            if emotion not in self.emotions:
                raise TaxonomyError(f"unknown emotion {emotion!r}", path=self.path,
                                    fix=f"use one of {', '.join(self.emotions)}")
            if entry.emotions and emotion not in entry.emotions:
                raise TaxonomyError(f"sub-category {sub} is not filmed {emotion}", path=self.path,
                                    fix=f"use one of {', '.join(entry.emotions)}")
        return Label(entry.broad, sub, emotion or None)

    def suggest(self, text: str, n: int = 3) -> list[str]:
        """The sub-categories closest to `text` (slugs and names compared, best first; may be empty)."""
        key = _slugify(text)
        names = {_slugify(e.name): slug for slug, e in self.sub_categories.items()}
        names.update({slug: slug for slug in self.sub_categories})
        close = difflib.get_close_matches(key, list(names), n=n * 2, cutoff=0.5)
        close += [k for k in names if key and (key in k or k in key) and k not in close]
        out: list[str] = []
        for k in close:
            if names[k] not in out:
                out.append(names[k])
        return out[:n]

    def resolve_sub_category(self, text: str, *, path: str | Path | None = None) -> SubCategory:
        """The sub-category a user wrote, by slug or name ('Dog approaching' -> dog_approaching); an unknown
        one is a TaxonomyError whose one line lists the close ones."""
        key = _slugify(text or "")
        if key in self.sub_categories:
            return self.sub_categories[key]
        for entry in self.sub_categories.values():
            if _slugify(entry.name) == key:
                return entry
        close = self.suggest(text or "")
        fix = (f"did you mean {', '.join(close)}?" if close else
               "use a sub-category of the taxonomy (vimo split --taxonomy lists them)")
        fix += " A workspace may extend the taxonomy in <workspace>/taxonomy.json"
        raise TaxonomyError(f"unknown sub-category {text!r}", path=path or self.path, fix=fix)

    def subs_of(self, broad: str) -> list[str]:
        return [s for s, e in self.sub_categories.items() if e.broad == broad]

    def source_label(self, source: str, labels: Mapping[str, Any]) -> str | None:
        """The source's own label of a clip (e.g. Inter-X 'Hug', Harmony4D 'grappling')."""
        spec = self.sources.get(source)
        if spec is None:
            return None
        key = spec.get("label")
        value = labels.get(key) if key else None
        if value is None and source == "interx" and isinstance(labels.get("action_id"), int):
            actions = spec.get("actions", [])
            value = actions[labels["action_id"]] if 0 <= labels["action_id"] < len(actions) else None
        return None if value is None else str(value)

    def label_for(self, source: str, labels: Mapping[str, Any]) -> Label | None:
        """Map a clip's source labels onto the taxonomy (None when the source or label is not mapped).
        Activity names are matched without a trailing number ('grappling2' -> 'grappling')."""
        spec = self.sources.get(source)
        raw = self.source_label(source, labels)
        if spec is None or raw is None:
            return None
        table = spec.get("map", {})
        sub = table.get(raw)
        if sub is None:
            sub = table.get(re.sub(r"\d+$", "", re.sub(r"^\d+_", "", raw)))
        return None if sub is None else Label(self.sub_categories[sub].broad, sub, None)

    def licence(self, source: str) -> SourceLicence | None:
        spec = self.sources.get(source, {}).get("licence")
        if spec is None:
            return None
        return SourceLicence(spec["id"], spec["name"], bool(spec["redistributable"]), spec.get("url"),
                             spec.get("citation"))

    def summary(self) -> dict[str, Any]:
        """Broad category -> group -> sub-categories, for printing and the data card."""
        out: dict[str, Any] = {}
        for slug, e in self.sub_categories.items():
            out.setdefault(e.broad, {}).setdefault(e.group or "-", []).append(slug)
        return out


def _slugify(text: str) -> str:
    """'Dog approaching ' -> 'dog_approaching' (how users' labels are compared with the taxonomy)."""
    return re.sub(r"[^a-z0-9]+", "_", str(text).strip().lower()).strip("_")
