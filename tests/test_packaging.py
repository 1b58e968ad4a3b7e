"""The distribution: a non-editable install puts only `vimo` into site-packages, with the
top-level folders mapped to vimo.pipelines, vimo.annotation and vimo.models."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_has_only_the_vimo_package(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    wheel = next(tmp_path.glob("vimo-0.1.0-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"vimo", "vimo-0.1.0.dist-info"}, tops
    for module in ("vimo/__init__.py", "vimo/pipelines/__init__.py", "vimo/annotation/__init__.py",
                   "vimo/models/__init__.py", "vimo/motion/features.py", "vimo/cli/__init__.py"):
        assert module in names
    assert not any(n.startswith("vimo/tests") for n in names)
    entry = zipfile.ZipFile(wheel).read("vimo-0.1.0.dist-info/entry_points.txt").decode()
    assert "vimo = vimo.cli:main" in entry
    meta = zipfile.ZipFile(wheel).read("vimo-0.1.0.dist-info/METADATA").decode()
    for extra in ("render", "annotate", "train", "ray", "test", "all"):
        assert f"Provides-Extra: {extra}" in meta
