"""Videos without a recorded reaction (ViMo's Animal-Human and Scene-Human stimuli, or any filmed or generated
clip): imported into a workspace as `external` videos.

    vimo videos add my_clips/ --workspace ws --sub-category dog_approaching --licence CC-BY-4.0
    vimo videos add manifest.csv --workspace ws

A source is a folder of .mp4 / .webm / .mov files or a CSV manifest with the columns

    path, sub_category, licence          (required; a relative path is relative to the manifest's folder)
    emotion, source_url, note, redistributable, synthetic      (optional)

In a folder, the labels of a file come from a sidecar `<file>.json` (e.g. `dog.mp4.json`, same keys as the
manifest's columns); an empty manifest cell or a key missing from a sidecar takes the default given on the
command line. Every video needs a licence and a
sub-category of the workspace's taxonomy (unknown ones are refused in one line naming the close ones).

Each file is decoded in full (a truncated or corrupt file is caught here, not in an annotation round),
probed (frames, fps, size, duration within `ImportOptions` limits), content-hashed (sha256 of its bytes:
the same file twice, under any name, is one video, id `ext-<16 hex>`) and stored as
`videos/external/<sub_category>/<video_id>.mp4`: copied when it is already H.264 yuv420p in an mp4 with even
sides, else re-encoded to that (the release's format; audio dropped). Its catalog row (kind `external`,
status `ok`, no clip) keeps the source path, hash, URL, note, labels, licence, `redistributable` (the release's
licence gate) and what the original was. A screening round then judges it; pairing proposals come from the
workspace's motion library (vimo.pairs).

A bad item (missing, undecodable, out of limits, unlabelled, licence-less, bad manifest row) is quarantined:
`quarantine/external/<name>.json` with its one-line reason, a `quarantined` job of kind `videos:external`;
the run goes on and the summary lists it. A re-run skips what is already imported (by content hash).
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from vimo import __version__, atomic
from vimo.errors import InputFormatError, VimoError
from vimo.pipelines.video import encode
from vimo.taxonomy import Taxonomy
from vimo.workspace import Workspace, quarantine_dir, videos_dir, writer_lock

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov")
REQUIRED_COLUMNS = ("path", "sub_category", "licence")
OPTIONAL_COLUMNS = ("emotion", "source_url", "note", "redistributable", "synthetic")
JOB_KIND = "videos:external"
QUARANTINE = "external"
#: the release's video format: what a stored external video is
TARGET_CODEC, TARGET_PIX_FMT = "h264", "yuv420p"
#: licence ids (lower case) whose terms allow passing the video on; any other needs an explicit
#: `redistributable` (manifest / sidecar / --redistributable), else the release treats it as internal-only
OPEN_LICENCES = ("cc0", "cc0-1.0", "public-domain", "pd", "cc-by", "cc-by-4.0", "cc-by-3.0", "cc-by-sa",
                 "cc-by-sa-4.0", "cc-by-nc", "cc-by-nc-4.0", "cc-by-nc-sa", "cc-by-nc-sa-4.0", "mit", "apache-2.0")
_TRUE, _FALSE = {"1", "true", "yes", "y"}, {"0", "false", "no", "n"}


@dataclass
class ImportOptions:
    """How `vimo videos add` runs. Defaults apply to files that carry no label of their own."""

    src: Path
    """a folder of .mp4 / .webm / .mov files, or a CSV manifest"""
    workspace: Path
    """the build workspace"""
    sub_category: str | None = None
    """sub-category of files without their own (folder imports: no sidecar or no key)"""
    emotion: str | None = None
    """emotion of files without their own (optional)"""
    licence: str | None = None
    """licence of files without their own (required somewhere: a video without one is quarantined)"""
    source_url: str | None = None
    """where files without their own come from (recorded, not fetched)"""
    redistributable: bool | None = None
    """whether files without their own may be passed on (default: from the licence id)"""
    synthetic: bool = False
    """files without their own flag are generated (recorded in provenance and the manifest)"""
    min_seconds: float = 0.5
    """shortest usable video"""
    max_seconds: float = 60.0
    """longest usable video"""
    min_fps: float = 5.0
    """lowest usable frame rate"""
    max_fps: float = 120.0
    """highest usable frame rate"""
    min_side: int = 64
    """smallest usable width / height in pixels"""
    max_failures: int | None = None
    """the command fails when more than this many items are quarantined (default: no limit)"""

    def __post_init__(self) -> None:
        self.src, self.workspace = Path(self.src).expanduser(), Path(self.workspace).expanduser()


@dataclass
class ExternalEntry:
    """One video to import: a manifest row or a folder file, with its labels."""

    unit: str
    """what the summary calls it: the file's path relative to the folder, or 'row N' of a manifest"""
    path: Path | None
    sub_category: str | None = None
    emotion: str | None = None
    licence: str | None = None
    source_url: str | None = None
    note: str | None = None
    redistributable: bool | None = None
    synthetic: bool = False
    problem: str | None = None
    """a problem found before the file is opened (a bad manifest row or sidecar)"""


@dataclass
class ImportResult:
    unit: str
    status: str
    """imported | duplicate (the same bytes earlier in this run) | existing (imported by an earlier run) |
    quarantined"""
    video_id: str | None = None
    reason: str | None = None
    reencoded: bool = False
    source: str | None = None


@dataclass
class ImportSummary:
    results: list[ImportResult] = field(default_factory=list)
    max_failures: int | None = None
    seconds: float = 0.0

    def _of(self, status: str) -> list[ImportResult]:
        return [r for r in self.results if r.status == status]

    @property
    def imported(self) -> int:
        return len(self._of("imported"))

    @property
    def quarantined(self) -> int:
        return len(self._of("quarantined"))

    @property
    def failed(self) -> bool:
        return self.max_failures is not None and self.quarantined > self.max_failures

    def as_dict(self) -> dict[str, Any]:
        counts = {s: len(self._of(s)) for s in ("imported", "duplicate", "existing", "quarantined")}
        return {**counts, "reencoded": sum(r.reencoded for r in self.results), "seconds": round(self.seconds, 2),
                "videos": [asdict(r) for r in self.results]}

    def lines(self) -> list[str]:
        d = self.as_dict()
        out = [f"{d['imported']} external videos imported ({d['reencoded']} re-encoded to H.264 yuv420p), "
               f"{d['duplicate']} duplicates of another file, {d['existing']} already in the workspace, "
               f"{d['quarantined']} quarantined"]
        out += [f"  duplicate    {r.unit}: same content as {r.video_id}" for r in self._of("duplicate")]
        out += [f"  quarantined  {r.unit}: {r.reason}" for r in self._of("quarantined")]
        return out


# ----------------------------------------------------------------------------------------------
# reading the source: manifest rows, folder files and sidecars

def _flag(value: Any, where: str, key: str) -> bool | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InputFormatError(f"{where}: {key} is {value!r}, not yes/no", fix=f"write {key} as yes or no")


def _text(value: Any) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None


def _entry(unit: str, path: Path | None, row: dict[str, Any], opts: ImportOptions) -> ExternalEntry:
    """An entry from one row / sidecar; empty fields fall back to the options' defaults."""
    e = ExternalEntry(unit, path, sub_category=_text(row.get("sub_category")) or opts.sub_category,
                      emotion=_text(row.get("emotion")) or opts.emotion,
                      licence=_text(row.get("licence")) or opts.licence,
                      source_url=_text(row.get("source_url")) or opts.source_url, note=_text(row.get("note")))
    try:
        red = _flag(row.get("redistributable"), unit, "redistributable")
        e.redistributable = opts.redistributable if red is None else red
        syn = _flag(row.get("synthetic"), unit, "synthetic")
        e.synthetic = opts.synthetic if syn is None else syn
    except InputFormatError as exc:
        e.problem = exc.problem
    return e


def read_manifest(path: Path, opts: ImportOptions) -> list[ExternalEntry]:
    """The rows of a CSV manifest as entries (a row whose path is empty carries a problem); a manifest
    without the required columns is an error for the whole file."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputFormatError(f"is not a readable CSV manifest ({exc})", path=path,
                               fix="save it as UTF-8 CSV with a header row") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InputFormatError(f"manifest lacks the column(s) {', '.join(missing)} (has: {', '.join(header) or '-'})",
                               path=path, fix=f"give a header row with {', '.join(REQUIRED_COLUMNS)} "
                                              f"(optional: {', '.join(OPTIONAL_COLUMNS)})")
    out = []
    for i, raw in enumerate(rows, start=2):  # line 1 is the header
        row = {(k or "").strip(): v for k, v in raw.items()}
        rel = _text(row.get("path"))
        unit = f"row {i}" + (f" ({rel})" if rel else "")
        video = None if rel is None else (Path(rel) if Path(rel).is_absolute() else path.parent / rel)
        e = _entry(unit, video, row, opts)
        if rel is None:
            e.problem = "manifest row has no path"
        elif None in raw:  # more cells than header columns
            e.problem = f"manifest row has {len(header) + len(raw[None])} cells for {len(header)} columns"
        out.append(e)
    return out


def scan_folder(folder: Path, opts: ImportOptions) -> list[ExternalEntry]:
    """The video files under `folder` (sorted) as entries, labelled by their sidecars or the defaults."""
    out = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.suffix.lower() not in VIDEO_SUFFIXES or p.name.startswith("."):
            continue
        unit = p.relative_to(folder).as_posix()
        row: dict[str, Any] = {}
        problem = None
        for side in (p.with_name(p.name + ".json"), p.with_suffix(".json")):
            if side.is_file():
                try:
                    row = json.loads(side.read_text(encoding="utf-8"))
                    if not isinstance(row, dict):
                        raise ValueError("not a JSON object")
                except (ValueError, OSError) as exc:
                    problem = f"sidecar {side.name} is not a JSON object of labels ({exc})"
                break
        e = _entry(unit, p, row, opts)
        e.problem = e.problem or problem
        out.append(e)
    return out


def entries(opts: ImportOptions) -> list[ExternalEntry]:
    src = opts.src
    if src.is_dir():
        found = scan_folder(src, opts)
        if not found:
            raise InputFormatError(f"holds no {' / '.join(VIDEO_SUFFIXES)} file", path=src,
                                   fix="pass a folder of videos or a CSV manifest")
        return found
    if src.is_file() and src.suffix.lower() == ".csv":
        return read_manifest(src, opts)
    if src.is_file():
        raise InputFormatError("is neither a folder of videos nor a .csv manifest", path=src,
                               fix="pass a folder (its videos are imported) or a CSV manifest")
    raise InputFormatError("does not exist", path=src, fix="check the path")


# ----------------------------------------------------------------------------------------------
# checks

class _Bad(Exception):
    """An item to quarantine; its message is the one-line reason."""


def licence_redistributable(licence: str) -> bool:
    """Whether a licence id allows passing the video on (OPEN_LICENCES; no-derivatives ones do not, since the
    release may re-encode)."""
    lic = licence.strip().lower().replace(" ", "-").replace("_", "-")
    return lic in OPEN_LICENCES and "-nd" not in lic


def check_labels(e: ExternalEntry, taxonomy: Taxonomy) -> dict[str, Any]:
    """{"broad_category", "sub_category", "emotion"} of an entry, or _Bad naming what is missing / unknown."""
    if not e.licence:
        raise _Bad("no licence (every external video needs one; fix: a licence column / sidecar key, or --licence)")
    if not e.sub_category:
        raise _Bad("no sub-category (fix: a sub_category column / sidecar key, or --sub-category)")
    try:
        sub = taxonomy.resolve_sub_category(e.sub_category)
        label = taxonomy.check(sub.broad, sub.slug, e.emotion)
    except VimoError as exc:
        raise _Bad(f"{exc.problem} (fix: {exc.fix})" if exc.fix else exc.problem) from None
    return {"broad_category": label.broad_category, "sub_category": label.sub_category, "emotion": label.emotion}


def _ffmpeg_exe() -> str:
    return encode._ffmpeg().get_ffmpeg_exe()


def decode_problem(path: Path) -> str | None:
    """None when every frame of the first video stream decodes, else ffmpeg's first complaint."""
    cmd = [_ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-xerror", "-i", str(path), "-map", "0:v:0",
           "-f", "null", "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=600)
    except subprocess.TimeoutExpired:
        return "decoding took over 10 minutes"
    text = proc.stderr.strip()
    if proc.returncode != 0 or text:
        first = text.splitlines()[0] if text else f"ffmpeg exit code {proc.returncode}"
        first = re.sub(r"^\[[^\]]*\]\s*", "", first)  # "[h264 @ 0x55...] Invalid NAL unit size" -> the message
        return first.replace(str(path), path.name).rstrip(".")
    return None


def probe_checked(path: Path, opts: ImportOptions) -> encode.VideoInfo:
    """Decode and probe `path`; _Bad when it is not decodable or outside the limits."""
    problem = decode_problem(path)
    if problem:
        raise _Bad(f"not decodable: {problem} (fix: re-export the video; it may be truncated)")
    try:
        info = encode.probe(path)
    except VimoError as exc:
        raise _Bad(exc.problem) from None
    if info.n_frames < 1 or info.fps <= 0:
        raise _Bad(f"holds no video frames ({info.n_frames} frames at {info.fps} fps)")
    seconds = info.n_frames / info.fps
    if not opts.min_fps <= info.fps <= opts.max_fps:
        raise _Bad(f"frame rate {info.fps:g} fps is outside {opts.min_fps:g}-{opts.max_fps:g}")
    if not opts.min_seconds <= seconds <= opts.max_seconds:
        raise _Bad(f"duration {seconds:.2f} s is outside {opts.min_seconds:g}-{opts.max_seconds:g} s "
                   "(fix: cut it, or change the limits)")
    if min(info.width, info.height) < opts.min_side:
        raise _Bad(f"size {info.width}x{info.height} is below {opts.min_side} pixels a side")
    return info


def codec_name(info: encode.VideoInfo) -> str:
    """The codec's short name ('vp8,' as ffmpeg's banner reports it -> 'vp8')."""
    return info.codec.strip(" ,").lower()


def reencode_reasons(path: Path, info: encode.VideoInfo) -> list[str]:
    """Why a video is not stored as it is (empty: it already is the release's format)."""
    why = []
    if path.suffix.lower() != ".mp4":
        why.append(f"container {path.suffix.lower()}")
    if codec_name(info) != TARGET_CODEC:
        why.append(f"codec {codec_name(info)}")
    if info.pix_fmt.lower() != TARGET_PIX_FMT:
        why.append(f"pixel format {info.pix_fmt}")
    if info.width % 2 or info.height % 2:
        why.append(f"odd size {info.width}x{info.height}")
    return why


def reencode(src: Path, dst: Path) -> None:
    """`src` as an H.264 yuv420p mp4 with even sides and a constant frame rate (no audio), written
    atomically to `dst`."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.stem}.{os.getpid()}.tmp.mp4")
    cmd = [_ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-y", "-i", str(src), "-map", "0:v:0", "-an",
           "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-c:v", "libx264", "-pix_fmt", TARGET_PIX_FMT,
           "-crf", str(encode.CRF), "-preset", encode.PRESET, "-fps_mode", "cfr", "-movflags", "+faststart",
           str(tmp)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=3600)
        if proc.returncode != 0:
            first = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[0]
            raise _Bad(f"re-encoding to H.264 failed: {first}")
        os.replace(tmp, dst)
    finally:
        if tmp.exists():
            tmp.unlink()


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.stem}.{os.getpid()}.tmp.mp4")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        if tmp.exists():
            tmp.unlink()


def video_id_for(sha256: str) -> str:
    """The id of an external video: its content hash."""
    return f"ext-{sha256[:16]}"


def external_path(sub_category: str, video_id: str) -> str:
    """Where an external video lives, relative to the workspace root."""
    return f"videos/external/{sub_category}/{video_id}.mp4"


def _quarantine_name(unit: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", unit).strip("_")[:120] or "item"


# ----------------------------------------------------------------------------------------------
# the run

def import_one(ws: Workspace, e: ExternalEntry, opts: ImportOptions, taxonomy: Taxonomy,
               earlier: dict[str, str], this_run: dict[str, str]) -> ImportResult:
    """Import one entry (see the module docstring). `earlier` / `this_run` map the source hashes of videos
    imported by earlier runs / this run to their ids; `this_run` grows."""
    source = None if e.path is None else str(e.path)
    try:
        if e.problem:
            raise _Bad(e.problem)
        if not e.path.is_file():
            raise _Bad(f"{e.path} does not exist")
        if e.path.suffix.lower() not in VIDEO_SUFFIXES:
            raise _Bad(f"{e.path.name} is not a {' / '.join(VIDEO_SUFFIXES)} file")
        labels = check_labels(e, taxonomy)
        sha = atomic.sha256_file(e.path)
        if sha in this_run:
            return ImportResult(e.unit, "duplicate", this_run[sha], source=source)
        if sha in earlier:
            return ImportResult(e.unit, "existing", earlier[sha], source=source)
        info = probe_checked(e.path, opts)
        vid = video_id_for(sha)
        rel = external_path(labels["sub_category"], vid)
        dst = ws.resolve(rel)
        why = reencode_reasons(e.path, info)
        if why:
            reencode(e.path, dst)
        else:
            _copy(e.path, dst)
        stored = encode.probe(dst)
        if (codec_name(stored), stored.pix_fmt) != (TARGET_CODEC, TARGET_PIX_FMT):
            raise _Bad(f"stored copy is {stored.codec} {stored.pix_fmt}, not {TARGET_CODEC} {TARGET_PIX_FMT}")
        redistributable = e.redistributable if e.redistributable is not None else licence_redistributable(e.licence)
        ws.catalog.add_video(
            video_id=vid, kind="external", clip_id=None, path=rel, checksum=atomic.sha256_file(dst),
            status="ok", licence=e.licence, **stored.as_record(),
            provenance={"source_path": source, "source_sha256": sha, "source_url": e.source_url, "note": e.note,
                        "labels": labels, "synthetic": e.synthetic, "redistributable": redistributable,
                        "reencoded": why,
                        "original": {**info.as_record(), "codec": codec_name(info), "pix_fmt": info.pix_fmt},
                        "imported_by": f"vimo {__version__} videos add", "imported_at": time.time()})
        this_run[sha] = vid
        ws.catalog.finish(JOB_KIND, vid)
        return ImportResult(e.unit, "imported", vid, reencoded=bool(why), source=source)
    except _Bad as bad:
        reason = str(bad)
        atomic.write_json(quarantine_dir(ws.root, QUARANTINE) / f"{_quarantine_name(e.unit)}.json",
                          {"unit": e.unit, "path": source, "reason": reason, "source": str(opts.src),
                           "at": time.time()})
        ws.catalog.fail(JOB_KIND, f"{opts.src.name}:{e.unit}", reason, quarantine=True)
        return ImportResult(e.unit, "quarantined", reason=reason, source=source)


def known_external(ws: Workspace) -> dict[str, str]:
    """source sha256 -> video id of the workspace's external videos."""
    out = {}
    for v in ws.catalog.query("videos", "kind='external'"):
        sha = (v.get("provenance") or {}).get("source_sha256")
        if sha:
            out[sha] = v["video_id"]
    return out


def import_videos(opts: ImportOptions, *, taxonomy: Taxonomy | None = None,
                  progress: Callable[[ImportResult, int, int], None] | None = None) -> ImportSummary:
    """Import the videos of `opts.src` into the workspace (see the module docstring)."""
    t0 = time.perf_counter()
    todo = entries(opts)
    summary = ImportSummary(max_failures=opts.max_failures)
    with writer_lock(opts.workspace, "vimo videos add"), Workspace.open(opts.workspace) as ws:
        taxonomy = taxonomy or Taxonomy.for_workspace(ws.root)
        earlier, this_run = known_external(ws), {}
        for i, e in enumerate(todo, 1):
            result = import_one(ws, e, opts, taxonomy, earlier, this_run)
            summary.results.append(result)
            if progress:
                progress(result, i, len(todo))
    summary.seconds = time.perf_counter() - t0
    return summary
