"""`vimo demo` on a reduced size: every artefact exists and the figures are sane."""
from __future__ import annotations

import json

import numpy as np

from vimo.cli import main


def test_demo_reduced(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--interactions", "6", "--seed", "3"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["figures"]["clips"] == 12
    assert summary["figures"]["max bone-length error of recovery (m)"] < 1e-5
    feats = sorted((out / "vector_263").glob("*.npy"))
    assert len(feats) == 12
    for f in feats:
        arr = np.load(f)
        assert arr.ndim == 2 and arr.shape[1] == 263 and np.isfinite(arr).all()
    assert np.load(out / "Std.npy").shape == (263,)
    png = (out / "demo_interactions.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    printed = capsys.readouterr().out
    assert "vimo demo: done" in printed and str(out / "summary.json") in printed
