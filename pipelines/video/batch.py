"""What every video batch (`vimo render`, `vimo clips cut`) shares: the outcome of one clip, the
run's counts, and the loop that sends units of work through an executor and records each outcome
in the catalog (a `videos` row and a finished job, or a failed job with its one-line reason).
Runs in the main process only (one SQLite writer)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable


@dataclass
class VideoResult:
    """The outcome of one clip: `status` is the batch's done word ("rendered", "cut"), "skipped" or
    "failed"; `record` is the catalog `videos` row of a done clip, `reason` a failure's one line."""

    clip_id: str
    status: str
    record: dict[str, Any] | None = None
    reason: str | None = None
    frames: int = 0
    seconds: float = 0.0


@dataclass
class VideoSummary:
    """Counts of one batch run (subclasses add their done word's counter)."""

    camera: str
    clips: int = 0
    skipped: int = 0
    failed: int = 0
    frames: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_and_record(ws: Any, kind: str, executor: Any, fn: Callable[[Any], VideoResult], jobs: Iterable[Any],
                   summary: VideoSummary, *, done: str, total: int, first: int = 1,
                   on_done: Callable[[VideoResult], None] | None = None,
                   progress: Callable[[VideoResult, int, int], Any] | None = None) -> None:
    """fn(job) for every job through `executor` (closed at the end); a result whose status is `done`
    becomes a catalog video and a finished `kind` job and counts in `summary.<done>` and `.frames`
    (then `on_done(result)`), any other a failed job and a failure. `progress(result, i, total)`
    numbers the results from `first`."""
    try:
        for i, result in enumerate(executor.map(fn, jobs), first):
            if result.status == done:
                ws.catalog.add_video(**result.record)
                ws.catalog.finish(kind, result.clip_id)
                setattr(summary, done, getattr(summary, done) + 1)
                summary.frames += result.frames
                if on_done is not None:
                    on_done(result)
            else:
                ws.catalog.fail(kind, result.clip_id, result.reason or "")
                summary.failed += 1
                summary.failures.append((result.clip_id, result.reason or ""))
            if progress is not None:
                progress(result, i, total)
    finally:
        executor.close()
