"""A LOCAL STAND-IN for Runway's developer API, for tests and the demo. It is not Runway and restyles nothing.

Runway cannot be reached from tests (no sandbox, paid calls), so this small HTTP server on
127.0.0.1 follows the documented contract (docs/restyle.md §2) closely enough to
exercise vimo's client: Bearer key and X-Runway-Version checks, POST /v1/video_to_video ->
{"id"}, GET /v1/tasks/{id} walking PENDING -> THROTTLED -> RUNNING -> SUCCEEDED (one step per
poll), DELETE, GET /v1/organization with a credit balance, and pre-signed output URLs that expire.
Its "restyled" output is the input video returned unchanged. Every answer carries the header
`X-Standin: vimo-runway-standin` and GET / says what it is.

Faults are scripted per route: `standin.inject("POST /v1/video_to_video", 429, 500, "timeout")`
makes the next three create calls answer 429, then 500 (after creating the task, as a real
server error after the write would), then hang past the client's read timeout (also after
creating the task). `fail_next(code)` makes the next created task end FAILED with that code;
`expire_outputs()` makes every output URL issued so far answer 403.
"""
from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STANDIN_HEADER = ("X-Standin", "vimo-runway-standin")
PROGRESSION = ("PENDING", "THROTTLED", "RUNNING", "SUCCEEDED")


@dataclass
class Task:
    id: str
    body: dict[str, Any]
    video: bytes
    polls: int = 0
    failure: str | None = None
    cancelled: bool = False
    token: int = 0


@dataclass
class RunwayStandin:
    api_key: str = "test-key-not-secret"
    credit_balance: float = 1000.0
    credits_per_second: float = 15.0
    hang_s: float = 2.0
    fallback_video: bytes = b""
    tasks: dict[str, Task] = field(default_factory=dict)
    creates: int = 0
    log: list[str] = field(default_factory=list)
    _faults: dict[str, list] = field(default_factory=dict)
    _next_failures: list[str] = field(default_factory=list)
    _expired_below: int = 0
    #: this many of the next output URLs are issued already expired
    born_expired: int = 0
    _token: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- scripting
    def inject(self, route: str, *answers: int | str) -> None:
        self._faults.setdefault(route, []).extend(answers)

    def fail_next(self, code: str) -> None:
        self._next_failures.append(code)

    def expire_outputs(self) -> None:
        self._expired_below = self._token + 1

    # -- server
    def start(self) -> "RunwayStandin":
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                standin._handle(self, "GET")

            def do_POST(self) -> None:
                standin._handle(self, "POST")

            def do_DELETE(self) -> None:
                standin._handle(self, "DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- request handling
    def _send(self, h: BaseHTTPRequestHandler, code: int, body: Any = None, *, ctype: str = "application/json",
              raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(body if body is not None else {}).encode()
        h.send_response(code)
        h.send_header(*STANDIN_HEADER)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _fault(self, route: str) -> int | str | None:
        with self._lock:
            queue = self._faults.get(route)
            return queue.pop(0) if queue else None

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        path = h.path.split("?")[0]
        route = f"{method} {re.sub(r'/v1/tasks/[^/]+$', '/v1/tasks/ID', path)}"
        self.log.append(route)
        if path == "/" and method == "GET":
            return self._send(h, 200, raw=b"vimo's local stand-in for the Runway API (tests and demos only; not Runway)\n",
                              ctype="text/plain")
        if path.startswith("/outputs/"):
            return self._output(h, path)
        if h.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._send(h, 401, {"error": "Invalid API key"})
        if h.headers.get("X-Runway-Version") != "2024-11-06":
            return self._send(h, 400, {"error": "X-Runway-Version header is missing or unsupported"})
        body = None
        if method == "POST":
            length = int(h.headers.get("Content-Length") or 0)
            body = json.loads(h.rfile.read(length) or b"{}")
        fault = self._fault(route)
        if fault is not None and route != "POST /v1/video_to_video":
            if fault == "timeout":
                time.sleep(self.hang_s)
                return self._send(h, 200, {})
            return self._send(h, int(fault), {"error": f"injected {fault}"})
        if route == "GET /v1/organization":
            return self._send(h, 200, {"creditBalance": self.credit_balance,
                                       "tier": {"maxMonthlyCreditSpend": 10000,
                                                "models": {"aleph2": {"maxConcurrentGenerations": 2,
                                                                      "maxDailyGenerations": 50}}}})
        if route == "POST /v1/video_to_video":
            return self._create(h, body or {}, fault)
        if route in ("GET /v1/tasks/ID", "DELETE /v1/tasks/ID"):
            task = self.tasks.get(path.rsplit("/", 1)[1])
            if task is None:
                return self._send(h, 404, {"error": "Task not found"})
            if method == "DELETE":
                task.cancelled = True
                return self._send(h, 204, raw=b"")
            return self._send(h, 200, self._task_json(task))
        return self._send(h, 404, {"error": f"no route {route}"})

    def _create(self, h: BaseHTTPRequestHandler, body: dict[str, Any], fault: int | str | None) -> None:
        if fault in (429, 502, 503):  # refused before any task exists
            return self._send(h, int(fault), {"error": f"injected {fault}"})
        problems = [k for k in ("model", "videoUri") if not body.get(k)]
        if problems or len(body.get("promptText", "")) > 1000:
            return self._send(h, 400, {"error": f"invalid body: {problems or 'promptText too long'}"})
        uri = body["videoUri"]
        if uri.startswith("data:video/mp4;base64,"):
            video = base64.b64decode(uri.split(",", 1)[1])
        elif uri.startswith("https://"):
            video = self.fallback_video
        else:
            return self._send(h, 400, {"error": "videoUri must be an HTTPS URL or a data URI"})
        with self._lock:
            self.creates += 1
            task = Task(id=str(uuid.uuid4()), body=body, video=video,
                        failure=self._next_failures.pop(0) if self._next_failures else None)
            self.tasks[task.id] = task
        if fault == "timeout":  # the task exists, the answer never arrives in time
            time.sleep(self.hang_s)
        elif fault is not None:  # a server error after the write
            return self._send(h, int(fault), {"error": f"injected {fault}"})
        return self._send(h, 200, {"id": task.id})

    def _task_json(self, task: Task) -> dict[str, Any]:
        with self._lock:
            step = min(task.polls, len(PROGRESSION) - 1)
            task.polls += 1
        out: dict[str, Any] = {"id": task.id, "createdAt": "2026-01-01T00:00:00Z"}
        if task.cancelled:
            return dict(out, status="CANCELLED", cost={"credits": 0})
        status = PROGRESSION[step]
        if status == "SUCCEEDED" and task.failure:
            return dict(out, status="FAILED", failure="The task failed (stand-in)", failureCode=task.failure,
                        cost={"credits": 0})
        credits = 15.0
        if status == "SUCCEEDED":
            with self._lock:
                self._token += 1
                task.token = self._token
                if self.born_expired:
                    self.born_expired -= 1
                    self._expired_below = max(self._expired_below, self._token + 1)
            return dict(out, status="SUCCEEDED", output=[f"{self.url}/outputs/{task.id}.mp4?token={task.token}"],
                        cost={"credits": credits})
        extra = {"progress": 0.5} if status == "RUNNING" else {}
        return dict(out, status=status, estimatedCost={"credits": credits}, **extra)

    def _output(self, h: BaseHTTPRequestHandler, path: str) -> None:
        m = re.match(r"/outputs/([^/]+)\.mp4$", path)
        token = re.search(r"token=(\d+)", h.path)
        task = self.tasks.get(m.group(1)) if m else None
        if task is None or token is None:
            return self._send(h, 404, {"error": "no such output"})
        if int(token.group(1)) < self._expired_below:
            return self._send(h, 403, raw=b"<Error>Request has expired</Error>", ctype="application/xml")
        return self._send(h, 200, raw=task.video, ctype="video/mp4")
