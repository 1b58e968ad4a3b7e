"""Which videos `vimo restyle submit` sends: the stimulus (the actor's render), never the rendered
reaction; a restyled video keeps the subject of its source (against the local Runway STAND-IN)."""
from __future__ import annotations

from vimo.pipelines.video.render import RenderOptions, render_workspace
from vimo.pipelines.video.restyle import RestyleOptions, RunwayClient, RunwayConfig, fetch, submit
from vimo.pipelines.samples.runway_standin import RunwayStandin
from vimo.pipelines.samples.video import write_synthetic_workspace
from vimo.workspace import Workspace


def test_rendered_reactions_are_never_restyled(tmp_path):
    ws = write_synthetic_workspace(tmp_path / "ws", kinds=("wave",), duration_s=2.0)
    for subject in ("actor", "reactor"):
        assert render_workspace(RenderOptions(workspace=ws, size=(64, 48), subject=subject)).rendered == 1
    standin = RunwayStandin().start()
    try:
        client = RunwayClient(RunwayConfig(base_url=standin.url, api_key=standin.api_key), sleep=lambda s: None)
        s = submit(RestyleOptions(workspace=ws), client)
        assert len(s.submitted) == 1 and standin.creates == 1
        fetch(ws, client)
    finally:
        standin.stop()
    with Workspace.open(ws) as w:
        (restyled,) = w.catalog.query("videos", "kind='restyled'")
        parent = w.catalog.get("videos", restyled["parent_video_id"])
    assert parent["provenance"]["subject"] == "actor" and restyled["provenance"]["subject"] == "actor"
    assert restyled["status"] == "pending_screening"
