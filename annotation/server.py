"""A local Label Studio server for one workspace: start, stop, status, and the API client.

The server is Label Studio Community 1.23.2 in its own virtualenv (its pins clash with vimo's), found
through $VIMO_LABEL_STUDIO_BIN, then `.venv-ls/bin/label-studio` beside the repository, then PATH.
It runs with a clean environment (Label Studio also reads bare names such as USERNAME, HOST, PORT),
bound to 127.0.0.1 on a port we choose and check (the CLI silently moves to the next port when
its port is busy), with a SQLite data dir inside the workspace, Sentry, analytics and version
checks off, and local-files serving rooted at the workspace's videos.

The API token comes only from the environment ($LABEL_STUDIO_API_KEY: a legacy token or a personal
access token); vimo never writes it to disk or logs. On the first start of a fresh data dir the
token becomes the admin's legacy token (legacy tokens enabled for the organisation).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vimo.atomic import write_json
from vimo.errors import VimoError, WorkspaceError
from vimo.workspace import annotation_dir, pid_alive, videos_dir

LABEL_STUDIO_VERSION = "1.23.2"
BIN_ENV = "VIMO_LABEL_STUDIO_BIN"
TOKEN_ENV = "LABEL_STUDIO_API_KEY"
URL_ENV = "LABEL_STUDIO_URL"
PASSWORD_ENV = "LABEL_STUDIO_PASSWORD"
DEFAULT_ADMIN = "vimo-admin@example.com"
HOST = "127.0.0.1"
#: variables passed through from our environment; everything else is dropped
_PASS_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "SYSTEMROOT")
_REPO_ROOT = Path(__file__).resolve().parent.parent

INSTALL_HINT = (f"python3 -m venv .venv-ls && .venv-ls/bin/pip install label-studio=={LABEL_STUDIO_VERSION} "
                f"(in the vimo repository), or set {BIN_ENV} to a label-studio executable")


class LabelStudioError(VimoError):
    """The Label Studio server cannot be found, started, reached or authenticated against."""


@dataclass(frozen=True)
class ServerPaths:
    """Where a workspace keeps its Label Studio server."""

    root: Path
    """<workspace>/annotation"""
    data_dir: Path
    """Label Studio data dir: SQLite file, media, exports, the .env holding SECRET_KEY"""
    state: Path
    """server.json: pid, port, url, started_at (never the token)"""
    log: Path
    media_root: Path
    """the workspace's videos: each round's local storage points here"""

    @property
    def document_root(self) -> Path:
        """LOCAL_FILES_DOCUMENT_ROOT: the parent of the videos folder (Label Studio refuses a storage
        path equal to the root); only files under a storage path (the videos) are ever served."""
        return self.media_root.parent

    @classmethod
    def of(cls, workspace: str | Path, media_root: str | Path | None = None) -> "ServerPaths":
        ws = Path(workspace).resolve()
        root = annotation_dir(ws)
        return cls(root, root / "label-studio", root / "server.json", root / "server.log",
                   Path(media_root).resolve() if media_root else videos_dir(ws))


@dataclass
class ServerState:
    pid: int
    port: int
    url: str
    data_dir: str
    document_root: str
    started_at: str
    label_studio_version: str = LABEL_STUDIO_VERSION


def find_label_studio(explicit: str | Path | None = None) -> Path:
    """The label-studio executable: `explicit`, $VIMO_LABEL_STUDIO_BIN, .venv-ls/bin, then PATH."""
    candidates: list[tuple[str, Path]] = []
    if explicit:
        candidates.append(("argument", Path(explicit)))
    if os.environ.get(BIN_ENV):
        candidates.append((BIN_ENV, Path(os.environ[BIN_ENV])))
    candidates.append(("default", _REPO_ROOT / ".venv-ls" / "bin" / "label-studio"))
    for origin, path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
        if origin != "default":
            raise LabelStudioError(f"label-studio executable from {origin} does not exist or is not executable",
                                   path=path, fix=INSTALL_HINT)
    on_path = shutil.which("label-studio")
    if on_path:
        return Path(on_path)
    raise LabelStudioError("label-studio is not installed", fix=INSTALL_HINT)


def free_port(host: str = HOST) -> int:
    """A TCP port on `host` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_in_use(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def server_env(paths: ServerPaths, *, first_start: bool, admin_email: str = DEFAULT_ADMIN,
               admin_password: str | None = None, token: str | None = None) -> dict[str, str]:
    """The complete environment of the server process (nothing else leaks in).

    On `first_start` the admin user is created with `token` as its legacy API token.
    """
    env = {k: os.environ[k] for k in _PASS_THROUGH if k in os.environ}
    env.update({
        "LABEL_STUDIO_BASE_DATA_DIR": str(paths.data_dir),
        "DJANGO_DB": "sqlite",
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(paths.document_root),
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
        "COLLECT_ANALYTICS": "false",
        "LATEST_VERSION_CHECK": "false",
        "PYTHONUNBUFFERED": "1",
    })
    if first_start:
        if not token:
            raise LabelStudioError(f"${TOKEN_ENV} is not set; the first start needs it to create the admin's token",
                                   fix=f"export {TOKEN_ENV}=$(python3 -c 'import secrets; print(secrets.token_hex(20))')")
        if token.count(".") == 2:
            raise LabelStudioError(f"${TOKEN_ENV} holds a personal access token (JWT); a fresh server needs a "
                                   "legacy token to create its admin",
                                   fix=f"export {TOKEN_ENV}=$(python3 -c 'import secrets; print(secrets.token_hex(20))')")
        if len(token) < 6:
            raise LabelStudioError(f"${TOKEN_ENV} is too short (Label Studio needs more than 5 characters)",
                                   fix=f"export {TOKEN_ENV}=$(python3 -c 'import secrets; print(secrets.token_hex(20))')")
        import secrets

        env.update({
            "LABEL_STUDIO_USERNAME": admin_email,
            "LABEL_STUDIO_PASSWORD": admin_password or secrets.token_urlsafe(18),
            "LABEL_STUDIO_USER_TOKEN": token,
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        })
    return env


def health(url: str, timeout: float = 2.0) -> bool:
    """True when GET <url>/health answers {"status": "UP"} (no auth needed)."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=timeout) as r:
            return r.status == 200 and json.loads(r.read().decode() or "{}").get("status") == "UP"
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class LabelStudioServer:
    """One Label Studio process serving one data dir on 127.0.0.1:<port>."""

    def __init__(self, paths: ServerPaths, executable: str | Path | None = None):
        self.paths = paths
        self.executable = executable
        self.process: subprocess.Popen | None = None
        self.state: ServerState | None = self.read_state()

    # ---- state file ----------------------------------------------------------------------
    def read_state(self) -> ServerState | None:
        if not self.paths.state.is_file():
            return None
        try:
            return ServerState(**json.loads(self.paths.state.read_text()))
        except (ValueError, TypeError) as exc:
            raise WorkspaceError(f"server state is unreadable ({exc})", path=self.paths.state,
                                 fix="stop any running Label Studio by hand and delete this file") from None

    @property
    def url(self) -> str:
        if self.state is None:
            raise LabelStudioError("the server is not running", path=self.paths.state,
                                   fix="vimo annotate server start --workspace WS")
        return self.state.url

    def running(self) -> bool:
        """True if the recorded process is alive, is a label-studio, and answers /health."""
        st = self.state
        if st is None or not pid_alive(st.pid):
            return False
        cmd = _cmdline(st.pid)
        if cmd and ("label-studio" not in cmd and "label_studio" not in cmd):
            return False
        return health(st.url)

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self, *, port: int | None = None, token: str | None = None, admin_email: str = DEFAULT_ADMIN,
              admin_password: str | None = None, timeout: float = 120.0) -> ServerState:
        """Start the server (detached) and wait until /health answers on our port.

        `token` defaults to $LABEL_STUDIO_API_KEY; it is needed only on a fresh data dir.
        """
        if self.state is not None and self.running():
            return self.state
        exe = find_label_studio(self.executable)
        self.paths.data_dir.mkdir(parents=True, exist_ok=True)
        self.paths.media_root.mkdir(parents=True, exist_ok=True)
        first = not (self.paths.data_dir / "label_studio.sqlite3").exists()
        env = server_env(self.paths, first_start=first, admin_email=admin_email,
                         admin_password=admin_password or os.environ.get(PASSWORD_ENV),
                         token=token if token is not None else os.environ.get(TOKEN_ENV))
        port = port or free_port()
        if port_in_use(port):
            raise LabelStudioError(f"port {port} on {HOST} is busy", fix="leave --port out to pick a free port")
        url = f"http://{HOST}:{port}"
        cmd = [str(exe), "start", "--no-browser", "--internal-host", HOST, "--port", str(port),
               "--data-dir", str(self.paths.data_dir), "--log-level", "WARNING"]
        log = open(self.paths.log, "ab")
        try:
            # cwd = data dir: a CWD holding mydata/ would auto-enable serving of that folder (1.23)
            self.process = subprocess.Popen(cmd, env=env, cwd=self.paths.data_dir, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        finally:
            log.close()
        state = ServerState(self.process.pid, port, url, str(self.paths.data_dir), str(self.paths.document_root),
                            datetime.now(timezone.utc).isoformat(timespec="seconds"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise LabelStudioError(f"label-studio exited with code {code} during start-up",
                                       path=self.paths.log, fix="read the log; a broken data dir can be moved away")
            if health(url, timeout=1.0):
                break
            time.sleep(0.3)
        else:
            self._terminate(self.process.pid)
            raise LabelStudioError(f"label-studio did not answer {url}/health within {timeout:.0f} s",
                                   path=self.paths.log, fix="read the log; a first start migrates for ~40 s")
        self.state = state
        write_json(self.paths.state, asdict(state))
        return state

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop the recorded server (SIGTERM, then SIGKILL); False if none was running."""
        st = self.state
        stopped = False
        if st is not None and pid_alive(st.pid):
            cmd = _cmdline(st.pid)
            if not cmd or "label-studio" in cmd or "label_studio" in cmd:
                self._terminate(st.pid, timeout)
                stopped = True
        if self.process is not None:
            self.process.poll()
        self.paths.state.unlink(missing_ok=True)
        self.state = None
        return stopped

    def kill(self) -> None:
        """SIGKILL the server with no chance to clean up (crash tests); the state file stays."""
        st = self.state
        if st is None:
            return
        try:
            os.killpg(st.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._reap(st.pid, 10.0)

    def _terminate(self, pid: int, timeout: float = 15.0) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pid, sig)  # the group we created with start_new_session
            except ProcessLookupError:
                return
            if self._reap(pid, timeout):
                return

    def _reap(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.pid == pid:
                if self.process.poll() is not None:
                    return True
            elif not pid_alive(pid):
                return True
            time.sleep(0.1)
        return False

    def status(self) -> dict[str, Any]:
        st = self.state
        return {"running": self.running(), "url": st.url if st else None, "pid": st.pid if st else None,
                "data_dir": str(self.paths.data_dir), "media_root": str(self.paths.media_root),
                "started_at": st.started_at if st else None, "label_studio_version": LABEL_STUDIO_VERSION}


# ----------------------------------------------------------------------------------------------
# the API client


def connect(url: str, api_key: str | None = None, *, timeout: float = 120.0):
    """A label_studio_sdk.LabelStudio client; the key defaults to $LABEL_STUDIO_API_KEY.

    The key is used in memory only. A personal access token (JWT) is exchanged for access tokens
    by the SDK; anything else is sent as a legacy `Token`.
    """
    from vimo.extras import require

    require("annotate", "label_studio_sdk")
    from label_studio_sdk import LabelStudio

    key = api_key if api_key is not None else os.environ.get(TOKEN_ENV)
    if not key:
        raise LabelStudioError(f"${TOKEN_ENV} is not set",
                               fix=f"export {TOKEN_ENV}=<the admin's legacy token or a personal access token>")
    return LabelStudio(base_url=url, api_key=key, timeout=timeout, max_retries=2)


def connect_workspace(workspace: str | Path, api_key: str | None = None):
    """Client for the workspace's local server ($LABEL_STUDIO_URL overrides it: a shared deployment)."""
    url = os.environ.get(URL_ENV)
    if not url:
        server = LabelStudioServer(ServerPaths.of(workspace))
        if not server.running():
            raise LabelStudioError("the workspace's Label Studio server is not running", path=server.paths.state,
                                   fix=f"vimo annotate server start --workspace {workspace}")
        url = server.url
    return connect(url, api_key)
