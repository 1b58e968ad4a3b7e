"""Restyle rendered videos through Runway's video-to-video API (a `requests` client), with a
billing-safe job ledger in the workspace catalog.

    export RUNWAYML_API_SECRET=...            # the key comes from the environment only, never logged
    vimo restyle submit --workspace ws --style photoreal-v1 --budget 300
    vimo restyle status --workspace ws
    vimo restyle fetch  --workspace ws

API contract (docs/restyle.md §2): base URL https://api.dev.runwayml.com (or
RUNWAYML_BASE_URL), `Authorization: Bearer <key>`, `X-Runway-Version: 2024-11-06`;
POST /v1/video_to_video -> {"id"}; GET /v1/tasks/{id} -> status PENDING | THROTTLED | RUNNING |
SUCCEEDED (output: [url]) | FAILED (failureCode) | CANCELLED; GET /v1/organization -> creditBalance.

Billing safety. A create call costs credits and has no idempotency key, so:
  1. before the POST, the unit's job row (kind "restyle:<preset>") is set `running` (intent);
  2. the POST is retried only when it provably did not create a task: connection refused or a
     connect timeout, 429 (daily limit; the batch stops when it persists), 502, 503;
  3. the returned task id is written to the catalog first (a `restyled` video row with status
     `submitted` and a "runway-task" job), before anything else happens;
  4. a unit left `running` with no recorded task (a crash or a read timeout between POST and
     record) is reported as `unknown` and never resubmitted unless asked (--resubmit-unknown).
Polls are GETs: retried on 429 / 5xx / timeouts with exponential backoff and up to 50 % jitter
(Retry-After honoured up to 60 s), at least 5 s apart. SAFETY failures are reported and never
retried. Outputs are downloaded as soon as a task succeeds (their URLs expire: an expired URL is
refreshed by re-reading the task), checksummed and probed; the video then waits in
`pending_screening` until a screening round accepts it.
"""
from __future__ import annotations

import base64
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from vimo import __version__
from vimo.errors import VimoError

API_VERSION = "2024-11-06"
DEFAULT_BASE_URL = "https://api.dev.runwayml.com"
KEY_ENV = "RUNWAYML_API_SECRET"
BASE_URL_ENV = "RUNWAYML_BASE_URL"
#: the SDK documents 5 MB for aleph2 data URIs (the general table says 16 MB): stay at the lower figure
DATA_URI_MAX_BYTES = 5 * 1024 * 1024
MIN_POLL_S = 5.0
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
#: failure codes that may be submitted again (docs/restyle.md §4); SAFETY.* never is
RETRYABLE_FAILURES = ("INTERNAL.BAD_OUTPUT", "INPUT_PREPROCESSING.INTERNAL")
TASK_JOB = "runway-task"


@dataclass(frozen=True)
class StylePreset:
    """A versioned restyle prompt. Changing the prompt means a new version (a new video id)."""

    name: str
    version: int
    prompt: str
    model: str = "aleph2"
    seed: int = 20251
    #: credits per output second, for the budget guard (gen4_aleph was 15; check Runway's live pricing)
    credits_per_second: float = 15.0

    @property
    def key(self) -> str:
        return f"{self.name}-v{self.version}"


PRESETS: dict[str, StylePreset] = {p.key: p for p in (
    StylePreset("photoreal", 1, (
        "Turn the clay mannequin into a real person filmed with a handheld phone camera: natural skin, "
        "everyday casual clothes, soft indoor daylight, a plain living room behind them. Keep the body's "
        "pose, motion, timing and camera movement exactly as in the input; one person only; no text.")),
    StylePreset("street", 1, (
        "Turn the clay mannequin into a real adult wearing casual street clothes on a quiet city sidewalk "
        "in overcast daylight. Keep the pose, motion, timing and camera movement exactly as in the input; "
        "one person only; no text.")),
)}
DEFAULT_PRESET = "photoreal-v1"


class RunwayError(VimoError):
    """A Runway call that failed in a way the caller must see (not retried further)."""


class SubmitOutcomeUnknown(RunwayError):
    """The create call may have reached Runway (read timeout, reset): a task may exist and bill."""


class DailyLimitReached(RunwayError):
    """Create keeps answering 429: the organization's daily generation limit is reached."""


def get_preset(name: str) -> StylePreset:
    if name not in PRESETS:
        raise VimoError(f"unknown style preset {name!r}", fix=f"use one of: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]


# ----------------------------------------------------------------------------- the HTTP client

@dataclass
class RunwayConfig:
    """Connection and retry settings. The key is read from the environment (`from_env`) and is kept
    out of repr() and of every message."""

    base_url: str = DEFAULT_BASE_URL
    api_key: str = field(default="", repr=False)
    api_version: str = API_VERSION
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    max_retries: int = 5
    backoff_base_s: float = 2.0
    backoff_max_s: float = 60.0
    poll_interval_s: float = 6.0
    poll_jitter_s: float = 1.5
    #: a task still not terminal after this long is left for the next `fetch`
    poll_deadline_s: float = 1800.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> "RunwayConfig":
        import os

        env = os.environ if environ is None else environ
        key = env.get(KEY_ENV, "")
        if not key:
            raise RunwayError(f"no Runway API key: {KEY_ENV} is not set",
                              fix=f"export {KEY_ENV}=<your key> (from the Runway developer portal)")
        return cls(base_url=env.get(BASE_URL_ENV, DEFAULT_BASE_URL).rstrip("/"), api_key=key, **overrides)


class RunwayClient:
    """The four calls vimo needs. `sleep` and `rng` are injectable so tests run without waiting."""

    def __init__(self, config: RunwayConfig, *, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None):
        import requests

        self.config = config
        self.sleep = sleep
        self.rng = rng or random.Random()
        self._requests = requests
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {config.api_key}",
                                     "X-Runway-Version": config.api_version, "Content-Type": "application/json"})
        #: how many retries each kind of answer caused (for summaries and tests)
        self.retries: dict[str, int] = {}

    def _url(self, path: str) -> str:
        return f"{self.config.base_url}{path}"

    def _backoff(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after is not None:
            try:
                return min(float(retry_after), 60.0)
            except ValueError:
                pass
        base = min(self.config.backoff_base_s * 2 ** attempt, self.config.backoff_max_s)
        return base * (1 + 0.5 * self.rng.random())  # up to 50 % jitter

    def _count(self, what: str) -> None:
        self.retries[what] = self.retries.get(what, 0) + 1

    def _get(self, path: str, *, stream: bool = False):
        """A GET, retried on 429 / 5xx / connection errors / timeouts; other statuses raise RunwayError."""
        req = self._requests
        for attempt in range(self.config.max_retries + 1):
            try:
                r = self.session.get(self._url(path), timeout=(self.config.connect_timeout_s,
                                                               self.config.read_timeout_s), stream=stream)
            except (req.ConnectionError, req.Timeout) as exc:
                if attempt == self.config.max_retries:
                    raise RunwayError(f"GET {path} failed {attempt + 1} times ({type(exc).__name__})",
                                      fix="check the network and RUNWAYML_BASE_URL, then run again") from None
                self._count(type(exc).__name__)
                self.sleep(self._backoff(attempt))
                continue
            if r.status_code == 429 or r.status_code >= 500:
                if attempt == self.config.max_retries:
                    raise RunwayError(f"GET {path} answered {r.status_code} {attempt + 1} times",
                                      fix="Runway is overloaded or down; run the command again later")
                self._count(str(r.status_code))
                self.sleep(self._backoff(attempt, r.headers.get("Retry-After")))
                continue
            if r.status_code >= 400:
                raise RunwayError(f"GET {path} answered {r.status_code}: {_error_text(r)}",
                                  fix=_fix_for_status(r.status_code))
            return r
        raise AssertionError("unreachable")

    def organization(self) -> dict[str, Any]:
        """GET /v1/organization (not billed): creditBalance and tier limits."""
        return self._get("/v1/organization").json()

    def create_video_to_video(self, body: dict[str, Any]) -> str:
        """POST /v1/video_to_video -> the task id. Retried only when no task can have been created."""
        req = self._requests
        for attempt in range(self.config.max_retries + 1):
            try:
                r = self.session.post(self._url("/v1/video_to_video"), json=body,
                                      timeout=(self.config.connect_timeout_s, self.config.read_timeout_s))
            except (req.ConnectionError, req.Timeout) as exc:
                if _never_sent(req, exc):
                    if attempt == self.config.max_retries:
                        raise RunwayError(f"could not connect to Runway ({type(exc).__name__})",
                                          fix="check the network and RUNWAYML_BASE_URL") from None
                    self._count("connect")
                    self.sleep(self._backoff(attempt))
                    continue
                raise SubmitOutcomeUnknown(
                    f"the create call may have reached Runway ({type(exc).__name__}); a task may exist and bill",
                    fix="look for it in the Runway dashboard; re-submit only with --resubmit-unknown") from None
            if r.status_code in (429, 502, 503):
                if attempt == self.config.max_retries:
                    if r.status_code == 429:
                        raise DailyLimitReached("create answered 429 after every retry (daily generation limit)",
                                                fix="wait for the rolling 24 h window or raise the tier")
                    raise RunwayError(f"create answered {r.status_code} {attempt + 1} times",
                                      fix="Runway is overloaded; run submit again later")
                self._count(str(r.status_code))
                self.sleep(self._backoff(attempt, r.headers.get("Retry-After")))
                continue
            if r.status_code >= 500:  # 500 / 504: the task may have been created
                raise SubmitOutcomeUnknown(f"create answered {r.status_code}; a task may exist and bill",
                                           fix="look for it in the Runway dashboard; re-submit only with "
                                               "--resubmit-unknown")
            if r.status_code >= 400:
                raise RunwayError(f"create answered {r.status_code}: {_error_text(r)}",
                                  fix=_fix_for_status(r.status_code))
            task_id = (r.json() or {}).get("id")
            if not task_id:
                raise SubmitOutcomeUnknown("create answered without a task id", fix="check the Runway dashboard")
            return str(task_id)
        raise AssertionError("unreachable")

    def task(self, task_id: str) -> dict[str, Any]:
        """GET /v1/tasks/{id}."""
        return self._get(f"/v1/tasks/{task_id}").json()

    def cancel(self, task_id: str) -> None:
        """DELETE /v1/tasks/{id} (cancels a pending task; deletes a finished one)."""
        r = self.session.delete(self._url(f"/v1/tasks/{task_id}"),
                                timeout=(self.config.connect_timeout_s, self.config.read_timeout_s))
        if r.status_code >= 400 and r.status_code != 404:
            raise RunwayError(f"DELETE task answered {r.status_code}", fix=_fix_for_status(r.status_code))

    def wait(self, task_id: str, deadline_s: float | None = None) -> dict[str, Any]:
        """Poll a task until it is terminal (every >= 5 s, with jitter) or the deadline passes
        (then the last answer is returned, not terminal)."""
        deadline = time.monotonic() + (self.config.poll_deadline_s if deadline_s is None else deadline_s)
        while True:
            t = self.task(task_id)
            if t.get("status") in TERMINAL or time.monotonic() >= deadline:
                return t
            self._count(f"poll:{t.get('status')}")
            pause = max(MIN_POLL_S, self.config.poll_interval_s + self.rng.uniform(-1, 1) * self.config.poll_jitter_s)
            self.sleep(pause)

    def download(self, url: str, dest: Path) -> tuple[int, str]:
        """Stream an output to `dest` atomically; returns (bytes, sha256). Raises ExpiredOutput on 401/403/404/410."""
        import hashlib
        import os

        try:
            # output URLs are pre-signed: our Authorization header must not travel to the storage host
            r = self._requests.get(url, stream=True, timeout=(self.config.connect_timeout_s,
                                                              self.config.read_timeout_s))
        except (self._requests.ConnectionError, self._requests.Timeout) as exc:
            raise ExpiredOutput(f"download failed ({type(exc).__name__})") from None
        if r.status_code >= 400:
            raise ExpiredOutput(f"output URL answered {r.status_code}")
        ctype = r.headers.get("Content-Type", "")
        if not ctype.startswith("video/"):
            raise RunwayError(f"the output is {ctype or 'of no content type'}, not a video", path=dest,
                              fix="look at the task in the Runway dashboard")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        h = hashlib.sha256()
        size = 0
        try:
            with open(tmp, "wb") as f:
                for chunk in r.iter_content(1 << 20):
                    f.write(chunk)
                    h.update(chunk)
                    size += len(chunk)
                f.flush()
                os.fsync(f.fileno())
            expected = r.headers.get("Content-Length")
            if expected is not None and int(expected) != size:
                raise ExpiredOutput(f"download ended after {size} of {expected} bytes")
            os.replace(tmp, dest)
        finally:
            if tmp.exists():
                tmp.unlink()
        return size, h.hexdigest()


class ExpiredOutput(Exception):
    """An output URL that no longer serves the file (expired or cut short); re-read the task."""


def _never_sent(req: Any, exc: Exception) -> bool:
    """True when a failed request provably never reached the server: a connect timeout, a refused
    connection or a failed name lookup (urllib3's NewConnectionError / NameResolutionError)."""
    if isinstance(exc, req.ConnectTimeout):
        return True
    seen = exc
    for _ in range(4):
        reason = getattr(seen, "reason", None) or (seen.args[0] if getattr(seen, "args", None) else None)
        if reason is None or reason is seen:
            break
        if type(reason).__name__ in ("NewConnectionError", "NameResolutionError", "ConnectionRefusedError"):
            return True
        seen = reason
    return False


def _error_text(r: Any) -> str:
    try:
        body = r.json()
        return str(body.get("error") or body)[:200]
    except ValueError:
        return r.text[:200]


def _fix_for_status(code: int) -> str:
    return {401: f"check {KEY_ENV} (the key is wrong or revoked)",
            400: "the request was refused; check the preset and the input video",
            404: "the task or route does not exist; check RUNWAYML_BASE_URL"}.get(code, "see Runway's error docs")


# ----------------------------------------------------------------------------- inputs

def video_uri(path: Path, rel: str, url_prefix: str | None) -> str:
    """A data URI for files up to DATA_URI_MAX_BYTES, else `url_prefix` + the workspace path."""
    size = path.stat().st_size
    if url_prefix:
        if not url_prefix.startswith("https://"):
            raise VimoError(f"--url-prefix must be an HTTPS URL, got {url_prefix!r}",
                            fix="serve the workspace videos over HTTPS (a domain name, no redirects)")
        return url_prefix.rstrip("/") + "/" + rel
    if size > DATA_URI_MAX_BYTES:
        raise VimoError(f"is {size / 1e6:.1f} MB, over the {DATA_URI_MAX_BYTES / 1e6:.1f} MB data-URI limit",
                        path=path, fix="host the videos and pass --url-prefix https://your.host/ws")
    return "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


# ----------------------------------------------------------------------------- the ledger

@dataclass
class RestyleOptions:
    """How `vimo restyle submit` runs. Each field is also a flag (vimo.cli.options)."""

    workspace: Path
    """the build workspace"""
    preset: str = DEFAULT_PRESET
    """versioned style preset (NAME-vN)"""
    budget: float | None = None
    """stop before this run's estimated credits pass this many"""
    dry_run: bool = False
    """list what would be submitted; call nothing"""
    source_kind: str = "rendered"
    """restyle rendered (default) or real videos"""
    url_prefix: str | None = None
    """HTTPS prefix where the workspace's files are hosted (for inputs over 5 MB)"""
    limit: int | None = None
    """submit at most N videos"""
    resubmit_unknown: bool = False
    """submit again videos whose earlier create call has an unknown outcome (may pay twice)"""
    resubmit_failed: bool = False
    """submit again retryable failures"""

    def __post_init__(self) -> None:
        self.workspace = Path(self.workspace).expanduser()
        get_preset(self.preset)


@dataclass
class RestyleSummary:
    submitted: list[str] = field(default_factory=list)
    would_submit: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    safety: list[tuple[str, str]] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    waiting: list[tuple[str, str]] = field(default_factory=list)
    estimated_credits: float = 0.0
    credit_balance: float | None = None
    stopped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def job_kind(preset: StylePreset) -> str:
    return f"restyle:{preset.key}"


def restyled_id(source_video_id: str, preset: StylePreset) -> str:
    return f"{source_video_id}.restyle-{preset.key}"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _estimate(video: dict[str, Any], preset: StylePreset) -> float:
    seconds = (video.get("n_frames") or 0) / (video.get("fps") or 20.0)
    return round(seconds * preset.credits_per_second, 2)


def submit(options: RestyleOptions, client: RunwayClient | None = None) -> RestyleSummary:
    """Submit every source video of the workspace not yet restyled with the preset (see the module
    docstring for the billing rules). `client` None: built from the environment (not needed for a dry run)."""
    from vimo.workspace import Workspace

    preset = get_preset(options.preset)
    kind = job_kind(preset)
    summary = RestyleSummary()
    ws = Workspace.open(options.workspace)
    try:
        # the stimulus only: a rendered reaction (provenance.subject "reactor") is what rating tasks
        # show next to the input video, never an input video itself
        sources = [v for v in ws.catalog.query("videos", "kind=? AND status='ok'", (options.source_kind,))
                   if (v.get("provenance") or {}).get("subject") != "reactor"]
        jobs = {j["unit"]: j for j in ws.catalog.jobs(kind)}
        todo = []
        for v in sources:
            vid = v["video_id"]
            row = ws.catalog.get("videos", restyled_id(vid, preset))
            job = jobs.get(vid)
            if row is not None and row["status"] not in ("failed_retryable",):
                summary.already.append(vid)
                continue
            if row is not None and not options.resubmit_failed:
                summary.failed.append((vid, f"{row['provenance'].get('failure_code')}: pass --resubmit-failed"))
                continue
            if job is not None and job["status"] in ("running", "quarantined") and row is None:
                # intent recorded, no task id: the previous run died between the POST and the record
                reason = job["reason"] or "submitted, outcome not recorded"
                if not options.resubmit_unknown:
                    summary.unknown.append((vid, reason))
                    if job["status"] == "running":
                        ws.catalog.fail(kind, vid, f"unknown: {reason}; a task may exist and bill (check the Runway "
                                                   "dashboard; re-submit with --resubmit-unknown)", quarantine=True)
                    continue
            todo.append(v)
        if options.limit is not None:
            todo = todo[: options.limit]
        if options.dry_run:
            for v in todo:
                summary.would_submit.append(v["video_id"])
                summary.estimated_credits += _estimate(v, preset)
            return summary
        if not todo:
            return summary
        client = client or RunwayClient(RunwayConfig.from_env())
        org = client.organization()
        balance = org.get("creditBalance")
        summary.credit_balance = None if balance is None else float(balance)
        limit = min(x for x in (options.budget, summary.credit_balance, float("inf")) if x is not None)
        for v in todo:
            vid = v["video_id"]
            cost = _estimate(v, preset)
            if summary.estimated_credits + cost > limit:
                summary.stopped = (f"budget: {summary.estimated_credits + cost:.0f} credits would pass the limit of "
                                   f"{limit:.0f} (budget {options.budget}, balance {summary.credit_balance})")
                break
            path = ws.resolve(v["path"])
            try:
                uri = video_uri(path, v["path"], options.url_prefix)
            except VimoError as exc:
                summary.failed.append((vid, exc.one_line()))
                continue
            body = {"model": preset.model, "videoUri": uri, "promptText": preset.prompt, "seed": preset.seed}
            _set_job(ws, kind, vid, "running", f"submitting at {_now()}")  # 1. intent, before the POST
            try:
                task_id = client.create_video_to_video(body)
            except SubmitOutcomeUnknown as exc:
                ws.catalog.fail(kind, vid, f"unknown: {exc.problem}", quarantine=True)
                summary.unknown.append((vid, exc.problem))
                continue
            except DailyLimitReached as exc:
                ws.catalog.fail(kind, vid, exc.problem)
                summary.stopped = exc.one_line()
                break
            except RunwayError as exc:
                ws.catalog.fail(kind, vid, exc.problem)
                summary.failed.append((vid, exc.one_line()))
                if "401" in exc.problem:
                    summary.stopped = exc.one_line()
                    break
                continue
            record_task(ws, v, preset, task_id, cost, options)  # 2. the task id, first thing
            summary.submitted.append(vid)
            summary.estimated_credits += cost
    finally:
        ws.close()
    return summary


def record_task(ws: Any, source: dict[str, Any], preset: StylePreset, task_id: str, estimate: float,
                options: RestyleOptions) -> None:
    """Write a returned task id to the catalog (one transaction): the restyled video row (status
    `submitted`) and the runway-task job. Called before anything else once create has answered."""
    vid = source["video_id"]
    with ws.catalog.transaction():
        ws.catalog.add_video(
            video_id=restyled_id(vid, preset), kind="restyled", clip_id=source.get("clip_id"), parent_video_id=vid,
            path=f"videos/restyled/{preset.key}/{vid}.mp4", status="submitted", licence=source.get("licence"),
            provenance={"task_id": task_id, "model": preset.model, "api_version": API_VERSION,
                        "preset": preset.key, "prompt": preset.prompt, "seed": preset.seed,
                        "input_checksum": source.get("checksum"), "input_fps": source.get("fps"),
                        "input_frames": source.get("n_frames"),
                        "input_transport": "url" if options.url_prefix else "data-uri",
                        "estimated_credits": estimate, "submitted_at": _now(), "vimo_version": __version__,
                        **({"subject": source["provenance"]["subject"]}
                           if (source.get("provenance") or {}).get("subject") else {})})
        _set_job(ws, TASK_JOB, task_id, "running", restyled_id(vid, preset))
        _set_job(ws, job_kind(preset), vid, "running", f"task {task_id}")


def _set_job(ws: Any, kind: str, unit: str, status: str, reason: str) -> None:
    ws.catalog.upsert("jobs", {"kind": kind, "unit": unit, "status": status, "reason": reason,
                               "started_at": time.time()})


def _restyled(ws: Any, statuses: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    marks = ",".join("?" * len(statuses))
    yield from ws.catalog.query("videos", f"kind='restyled' AND status IN ({marks})", statuses)


def status(workspace: Path, client: RunwayClient | None = None) -> list[dict[str, Any]]:
    """One GET per submitted task; returns rows (video id, task id, status, progress) and stores the
    last seen status (THROTTLED kept apart from RUNNING) in each row's provenance."""
    from vimo.workspace import Workspace

    ws = Workspace.open(workspace)
    out = []
    try:
        rows = list(_restyled(ws, ("submitted",)))
        if rows:
            client = client or RunwayClient(RunwayConfig.from_env())
        for row in rows:
            task = client.task(row["provenance"]["task_id"])
            prov = dict(row["provenance"], last_status=task.get("status"), last_checked_at=_now())
            ws.catalog.upsert("videos", {"video_id": row["video_id"], "provenance": prov})
            out.append({"video_id": row["video_id"], "task_id": prov["task_id"], "status": task.get("status"),
                        "progress": task.get("progress")})
        for row in ws.catalog.query("videos", "kind='restyled' AND status != 'submitted'"):
            out.append({"video_id": row["video_id"], "task_id": row["provenance"].get("task_id"),
                        "status": row["status"], "progress": None})
    finally:
        ws.close()
    return out


def fetch(workspace: Path, client: RunwayClient | None = None, *, wait: bool = True,
          deadline_s: float | None = None) -> RestyleSummary:
    """Poll every submitted task (until terminal when `wait`) and download each output at once:
    checksum, probe, status `pending_screening`. Failures are recorded; SAFETY ones are final."""
    from vimo.pipelines.video import encode
    from vimo.workspace import Workspace

    summary = RestyleSummary()
    ws = Workspace.open(workspace)
    try:
        rows = list(_restyled(ws, ("submitted",)))
        if rows:
            client = client or RunwayClient(RunwayConfig.from_env())
        for row in rows:
            prov = dict(row["provenance"])
            task_id = prov["task_id"]
            preset_kind = f"restyle:{prov['preset']}"
            task = client.wait(task_id, deadline_s) if wait else client.task(task_id)
            state = task.get("status")
            prov["last_status"] = state
            if state not in TERMINAL:
                ws.catalog.upsert("videos", {"video_id": row["video_id"], "provenance": prov})
                summary.waiting.append((row["video_id"], str(state)))
                continue
            prov["finished_at"] = _now()
            if "cost" in task:
                prov["cost_credits"] = (task.get("cost") or {}).get("credits")
            if state == "SUCCEEDED":
                dest = ws.resolve(row["path"])
                size, sha = _download_fresh(client, task, task_id, dest)
                info = encode.probe(dest)
                prov.update(output_bytes=size, downloaded_at=_now(), pix_fmt=info.pix_fmt)
                ws.catalog.upsert("videos", {"video_id": row["video_id"], "status": "pending_screening",
                                             "checksum": sha, "provenance": prov, **info.as_record()})
                ws.catalog.finish(TASK_JOB, task_id)
                ws.catalog.finish(preset_kind, row["parent_video_id"])
                summary.fetched.append(row["video_id"])
                continue
            code = str(task.get("failureCode") or state)
            prov["failure_code"] = code  # logged for us; Runway asks not to show it to end users
            if code.startswith("SAFETY") or ".SAFETY" in code:
                new_status = "rejected_safety"
                summary.safety.append((row["video_id"], code))
            elif state == "FAILED" and code.startswith(RETRYABLE_FAILURES):
                new_status = "failed_retryable"
                summary.failed.append((row["video_id"], code))
            else:
                new_status = "cancelled" if state == "CANCELLED" else "failed"
                summary.failed.append((row["video_id"], code))
            ws.catalog.upsert("videos", {"video_id": row["video_id"], "status": new_status, "provenance": prov})
            ws.catalog.fail(TASK_JOB, task_id, code)
            ws.catalog.fail(preset_kind, row["parent_video_id"], code, quarantine=new_status == "rejected_safety")
    finally:
        ws.close()
    return summary


def _download_fresh(client: RunwayClient, task: dict[str, Any], task_id: str, dest: Path, tries: int = 3
                    ) -> tuple[int, str]:
    """Download output[0]; an expired URL is replaced by re-reading the task (fresh signed URLs)."""
    for attempt in range(tries):
        outputs = task.get("output") or []
        if not outputs:
            raise RunwayError(f"task {task_id} succeeded without an output", path=dest,
                              fix="check the Runway dashboard")
        try:
            return client.download(outputs[0], dest)
        except ExpiredOutput as exc:
            if attempt == tries - 1:
                raise RunwayError(f"output of task {task_id} could not be downloaded ({exc})", path=dest,
                                  fix="run `vimo restyle fetch` again (task outputs stay for 24-48 h)") from None
            client._count("expired_output")
            task = client.task(task_id)
    raise AssertionError("unreachable")
