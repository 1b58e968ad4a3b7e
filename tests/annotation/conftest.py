"""A real Label Studio server for the annotation tests, started once per session.

Recipe (spec annotation_runway.md §2.2): a template data dir is migrated once and cached in pytest's
cache (keyed on the Label Studio version); each session copies it into a temporary workspace and
starts the server on 127.0.0.1 with a free port. The token below belongs to that throwaway test
server only; it is handed to vimo through arguments, never through files.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from vimo.workspace import Workspace

from vimo.annotation.server import (LABEL_STUDIO_VERSION, INSTALL_HINT, LabelStudioError, LabelStudioServer,
                                    ServerPaths, connect, find_label_studio)

TEST_TOKEN = "vimo0test0token0" + "0123456789abcdef01234567"
ADMIN = "vimo-admin@example.com"


@dataclass
class LiveServer:
    workspace: Path
    server: LabelStudioServer
    token: str = TEST_TOKEN

    @property
    def url(self) -> str:
        return self.server.url

    def client(self):
        return connect(self.url, self.token)


def _template(cache_dir: Path) -> Path:
    """The migrated template, made once; parallel test workers (pytest-xdist) wait on a lock beside it."""
    from tests.locking import exclusive

    with exclusive(f"{cache_dir}.lock"):
        return _make_template(cache_dir)


def _make_template(cache_dir: Path) -> Path:
    data = cache_dir / "label-studio"
    if (cache_dir / "ready").is_file():
        return data
    shutil.rmtree(cache_dir, ignore_errors=True)
    cache_dir.mkdir(parents=True)
    paths = ServerPaths(cache_dir, data, cache_dir / "server.json", cache_dir / "server.log", cache_dir / "videos")
    server = LabelStudioServer(paths)
    server.start(token=TEST_TOKEN, admin_email=ADMIN, timeout=180)
    server.stop()
    (cache_dir / "ready").write_text(LABEL_STUDIO_VERSION + "\n")
    return data


@pytest.fixture(scope="session")
def live_server(request, tmp_path_factory) -> LiveServer:
    try:
        find_label_studio()
    except LabelStudioError as exc:
        pytest.fail(f"the annotation tests need a Label Studio server: {exc.one_line()} ({INSTALL_HINT})")
    template = _template(Path(request.config.cache.mkdir(f"label-studio-{LABEL_STUDIO_VERSION}-template")))
    ws = tmp_path_factory.mktemp("annotation_ws")
    Workspace.init(ws).close()  # a real workspace: its catalog holds the rounds and takes their results
    shutil.copytree(template, ws / "annotation" / "label-studio")
    server = LabelStudioServer(ServerPaths.of(ws))
    server.start(token=TEST_TOKEN)
    yield LiveServer(ws, server)
    server.stop()
