"""The abstract motion source, its registry, and the types every source hands to the converter.

A source module states its conventions as data at the top (fps, up axis, joint order, body model,
actor/reactor rule, licence), subclasses `Source` and registers itself with `@register_source`.
`vimo convert <name>` is generated from `SOURCES`:

    discover() -> list[ClipRef]            one unit of work per sequence, cheap (no file contents read)
    load(ref)  -> list[TwoPersonMotion]    20 fps, metres, Y up; one per (reactor, actor) direction
    preflight() -> list[str]               everything missing, before any work

A source whose persons can be missing in some frames (Ego-Humans, Harmony4D) also overrides
`load_with_coverage(ref) -> (motions, SequenceCoverage)`, which says which person-frames the files hold;
the converter turns it into the person-frame accounting of the clips and of the run summary.

Files inside the source root are read through `inside_root` (symlinks may not escape the root)
and pickled files through an allow-list unpickler (numpy arrays, numbers, strings, containers).
"""
from __future__ import annotations

import io
import os
import pickle
import shutil
import zipfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from vimo.errors import InputFormatError, MotionError, VimoError, require_inside
from vimo.pipelines.unpickle import data_loads

#: name -> Source subclass, filled by @register_source
SOURCES: dict[str, type["Source"]] = {}


def register_source(name: str):
    """Class decorator: make a Source subclass available as `vimo convert <name>`."""

    def deco(cls: type[Source]) -> type[Source]:
        if name in SOURCES and SOURCES[name] is not cls:
            raise ValueError(f"source {name!r} registered twice")
        cls.name = name
        SOURCES[name] = cls
        return cls

    return deco


def get_source(name: str) -> type["Source"]:
    """The registered source class called `name` (importing the built-in source modules first)."""
    import vimo.pipelines.sources  # noqa: F401  (registers the built-in sources)

    if name not in SOURCES:
        raise VimoError(f"unknown source {name!r}", fix=f"use one of: {', '.join(sorted(SOURCES))}")
    return SOURCES[name]


@dataclass(frozen=True)
class ClipRef:
    """One unit of work: a source sequence. `key` is unique within the source and safe as a file name;
    `paths` are relative to the source root."""

    key: str
    sequence_id: str
    paths: tuple[str, ...]
    extra: tuple[tuple[str, Any], ...] = ()

    def get(self, name: str, default: Any = None) -> Any:
        return dict(self.extra).get(name, default)


@dataclass
class TwoPersonMotion:
    """A reactor (and usually an actor) in one shared world frame at `fps`.

    reactor, actor: (T, 22, 3) float32, metres, Y up, SMPL joint order; actor is None for
    single-person motion libraries (AMASS, raw joints). source_frames: (T,) the source frame
    number of every row. segments: [start, stop) row spans eligible for clips (None: all rows); rows
    outside every segment may be NaN (a person absent there), rows inside are always finite.
    persons: {"reactor": name, "actor": name}; provenance and labels are JSON-ready dicts.
    """

    reactor: np.ndarray
    actor: np.ndarray | None
    fps: float
    source_frames: np.ndarray
    direction: str
    persons: dict[str, str]
    provenance: dict[str, Any]
    labels: dict[str, Any]
    qa_flags: list[str] = field(default_factory=list)
    segments: list[tuple[int, int]] | None = None


#: why a person-frame is not in any clip, in the order the converter tests them (docs/sources.md §1)
PERSON_FRAME_REASONS = ("absent", "non_finite", "invalid_person", "no_partner", "not_in_clip")


@dataclass
class SequenceCoverage:
    """Which person-frames one sequence's files hold, for the person-frame accounting.

    frames: T, the frames of the sequence. present: person -> (T,) bool, the person is in the frame's
    file. finite: person -> (T,) bool, present with finite joints. skipped: person -> why the person is
    not used at all (e.g. "invalid_person": listed invalid); every person of the files is a key of
    `present`, whether used or not.
    """

    frames: int
    present: dict[str, np.ndarray]
    finite: dict[str, np.ndarray]
    skipped: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_motions(cls, motions: list["TwoPersonMotion"]) -> "SequenceCoverage | None":
        """The coverage of a whole-sequence source (every person in every row), from its motions."""
        if not motions:
            return None
        frames = len(motions[0].reactor)
        present: dict[str, np.ndarray] = {}
        finite: dict[str, np.ndarray] = {}
        for m in motions:
            for who, joints in (("reactor", m.reactor), ("actor", m.actor)):
                if joints is None or len(joints) != frames:
                    continue
                name = m.persons.get(who, who)
                present[name] = np.ones(frames, dtype=bool)
                finite[name] = np.isfinite(joints).all(axis=(1, 2))
        return cls(frames=frames, present=present, finite=finite)

    def as_dict(self) -> dict[str, dict[str, int]]:
        """person -> {frames, present, finite} (JSON-ready)."""
        return {p: {"frames": self.frames, "present": int(self.present[p].sum()), "finite": int(self.finite[p].sum())}
                for p in sorted(self.present)}


class NoUsablePairError(MotionError):
    """No (reactor, actor) pair of a sequence is present together long enough for a clip; carries the
    sequence's coverage so that the run summary still counts its person-frames."""

    def __init__(self, problem: str, *, coverage: SequenceCoverage, path: str | Path | None = None,
                 fix: str | None = None):
        self.coverage = coverage
        super().__init__(problem, path=path, fix=fix)


@dataclass
class SourceConfig:
    """Options shared by every source. Each field's help text is in its metadata (the CLI flag help)."""

    body_models: Path | None = field(default=None, metadata={
        "help": "folder of SMPL-family model files laid out as smplx expects (DIR/smplx/SMPLX_MALE.npz)"})


class Source(ABC):
    """One dataset layout. Subclasses set the class constants and implement the four methods."""

    name: ClassVar[str] = ""
    config_class: ClassVar[type[SourceConfig]] = SourceConfig
    #: one line for `vimo convert --help`
    summary: ClassVar[str] = ""
    licence: ClassVar[str] = ""
    #: the folder tree preflight prints when something is missing
    expected_tree: ClassVar[str] = ""
    #: raised when the same files and config give different clips than before (part of the convert
    #: fingerprint from 2 on, so that a re-run redoes the units of this source)
    output_version: ClassVar[int] = 1

    def __init__(self, root: str | Path, config: SourceConfig | None = None):
        self.root = Path(root).expanduser().absolute()
        self.config = config if config is not None else self.config_class()

    # -- what a subclass implements
    @abstractmethod
    def preflight(self) -> list[str]:
        """Everything missing or wrong in the layout and the model files, one line each (empty: ok)."""

    @abstractmethod
    def discover(self) -> list[ClipRef]:
        """The units of work, sorted by key."""

    @abstractmethod
    def load(self, ref: ClipRef) -> list[TwoPersonMotion]:
        """The motions of one sequence (raises a VimoError naming the file for bad input)."""

    def load_with_coverage(self, ref: ClipRef) -> tuple[list[TwoPersonMotion], SequenceCoverage | None]:
        """The motions and which person-frames the files hold. By default every person is in every row
        of its motion (whole-sequence sources); per-frame sources override this."""
        motions = self.load(ref)
        return motions, SequenceCoverage.from_motions(motions)

    # -- shared helpers
    def config_dict(self) -> dict[str, Any]:
        return {f.name: (str(v) if isinstance(v := getattr(self.config, f.name), Path) else v)
                for f in fields(self.config)}

    def inside_root(self, rel: str | Path) -> Path:
        """The absolute path of `rel` under the root; PathEscapeError when it (or a link) leaves it."""
        return require_inside(self.root / rel, self.root)

    def check_names(self, ref: ClipRef) -> None:
        """InputFormatError when a file or folder name of `ref` is not UTF-8 (the catalog, the clip ids and the
        terminal need text); called first by every `load`, so such a unit is quarantined and the run goes on."""
        for rel in ref.paths:
            if not is_utf8_name(rel):
                raise InputFormatError(
                    f"the file name is not valid UTF-8 (bytes {os.fsencode(rel)!r})", path=printable_name(
                        str(self.root / rel)),
                    fix="rename the file or folder to a UTF-8 name (e.g. convmv -f latin1 -t utf8 -r --notest DIR)")

    def estimate_bytes(self, refs: list[ClipRef]) -> int:
        """A generous upper bound of the bytes the conversion of `refs` writes (for the disk check)."""
        return 2_000_000 * max(1, len(refs))


def is_utf8_name(name: str | Path) -> bool:
    """False for a name holding bytes that are not UTF-8 (Python decodes them as lone surrogates)."""
    try:
        str(name).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_name(name: str | Path) -> str:
    """`name` with the bytes that are not UTF-8 shown as \\xNN ('bad\\xff_reactor.npy'): safe to print, to
    store in the catalog and to use as a unit key."""
    text = str(name)
    if is_utf8_name(text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def read_text_lenient(path: Path) -> tuple[str, str | None]:
    """A label text file as the dataset ships it: UTF-8 (a BOM dropped); else Windows-1252, else Latin-1 (which
    decodes every byte, so nothing is lost). Returns (text, note): note is None for UTF-8, else one line
    saying which encoding was used, for the clip's provenance."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        offset = exc.start
    for encoding, label in (("cp1252", "cp1252 (Windows latin-1)"), ("latin-1", "latin-1")):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return text, f"not UTF-8 (first bad byte 0x{data[offset]:02x} at offset {offset}), read as {label}"
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def check_frame_count(frames: int, *, path: Path, fix: str) -> None:
    """InputFormatError for a motion file without frames (an empty take, an interrupted export)."""
    if frames < 1:
        raise InputFormatError("has 0 frames", path=path, fix=fix)


def check_disk(folder: Path, needed: int) -> str | None:
    """A problem line when `folder`'s file system has less than `needed` bytes free."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed:
        return f"{probe}: {free / 1e9:.2f} GB free, the conversion needs about {needed / 1e9:.2f} GB"
    return None


# ----------------------------------------------------------------------------- restricted unpickling

def read_pickle(path: Path, *, what: str) -> Any:
    """A data-only pickle file (e.g. Inter-X interaction_order.pkl)."""
    try:
        return data_loads(path.read_bytes())
    except FileNotFoundError:
        raise InputFormatError(f"{what} does not exist", path=path, fix="restore the file from the download") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise InputFormatError(f"is not a readable {what} ({type(exc).__name__}: {exc})", path=path,
                               fix="restore the file from the download") from None


def _npy_from_stream(f: io.BufferedIOBase | Any, path: Path, what: str) -> Any:
    """Read one .npy stream; object arrays go through the restricted unpickler."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        if dtype.hasobject:
            obj = data_loads(f.read())
            return obj
        count = int(np.prod(shape)) if shape else 1
        raw = f.read(count * dtype.itemsize)
        if len(raw) != count * dtype.itemsize:
            raise ValueError(f"{len(raw)} of {count * dtype.itemsize} data bytes present")
        arr = np.frombuffer(raw, dtype=dtype, count=count)
        return arr.reshape(shape, order="F" if fortran else "C")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise InputFormatError(f"is not a readable {what} ({type(exc).__name__}: {exc})", path=path,
                               fix="re-download or re-extract the file; it may be truncated") from None


def read_npy_object(path: Path, *, what: str) -> Any:
    """np.load(path, allow_pickle=True) without running arbitrary pickles; a 0-d object array
    (a per-frame dict) comes back as the object itself."""
    try:
        with open(path, "rb") as f:
            obj = _npy_from_stream(f, path, what)
    except FileNotFoundError:
        raise InputFormatError(f"{what} does not exist", path=path, fix="restore the file") from None
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject and obj.shape == ():
        return obj.item()
    return obj


def read_npz(path: Path, *, what: str) -> dict[str, Any]:
    """Every member of an .npz (object members through the restricted unpickler)."""
    out: dict[str, Any] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as f:
                    obj = _npy_from_stream(io.BufferedReader(f), path, what)  # type: ignore[arg-type]
                if isinstance(obj, np.ndarray) and obj.dtype.hasobject and obj.shape == ():
                    obj = obj.item()
                out[info.filename[:-4]] = obj
    except FileNotFoundError:
        raise InputFormatError(f"{what} does not exist", path=path, fix="restore the file") from None
    except (zipfile.BadZipFile, EOFError, OSError, zlib_error()) as exc:
        raise InputFormatError(f"is truncated or not an .npz file ({type(exc).__name__}: {exc})", path=path,
                               fix="re-download or re-extract the file") from None
    return out


def zlib_error() -> type[Exception]:
    import zlib

    return zlib.error
