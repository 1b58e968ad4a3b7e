"""Distributed data parallel through torchrun on CPU (gloo, 2 processes) against one process with the
doubled batch: same loss curve and weights within float tolerance (RVQ stage, deterministic settings)."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import torch

from vimo.models.configs import preset
from vimo.models.train import TrainConfig, rank_share, train

SCRIPT = """
import sys
from dataclasses import replace
from vimo.models.configs import preset
from vimo.models.train import TrainConfig, main_from_env
p = preset("tiny")
p = replace(p, rvq=replace(p.rvq, dropout=0.0, quantize_dropout_prob=0.0, sample_codebook_temp=0.0))
main_from_env(TrainConfig(stage="rvq", release=sys.argv[1], out=sys.argv[2], preset=p, batch_size=int(sys.argv[3]),
                          max_steps=4, progress=False))
"""


def _losses(run: Path) -> list[float]:
    with open(run / "metrics.csv") as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


def test_rank_share_splits_and_pads():
    assert rank_share([1, 2, 3, 4], 0, 2) == [1, 2] and rank_share([1, 2, 3, 4], 1, 2) == [3, 4]
    assert rank_share([1, 2, 3], 1, 2) == [3, 1] and rank_share([7], 1, 2) == [7]


def test_two_gloo_processes_match_one_process_with_double_batch(tiny_release, tmp_path):
    p = preset("tiny")
    p = replace(p, rvq=replace(p.rvq, dropout=0.0, quantize_dropout_prob=0.0, sample_codebook_temp=0.0))
    train(TrainConfig(stage="rvq", release=tiny_release, out=tmp_path / "one", preset=p, batch_size=8, max_steps=4,
                      progress=False))
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node=2", str(script), str(tiny_release),
                           str(tmp_path / "two"), "4"], capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(one) == len(two) == 4
    for a, b in zip(one, two):
        assert abs(a - b) <= 1e-4 * max(1.0, abs(a)), (one, two)
    wa = torch.load(tmp_path / "one/model/latest.tar", weights_only=False)["vq_model"]
    wb = torch.load(tmp_path / "two/model/latest.tar", weights_only=False)["vq_model"]
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-4), k
