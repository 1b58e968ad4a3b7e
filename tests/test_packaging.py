"""The distribution: a non-editable install puts only `vimo` into site-packages, with the
top-level folders mapped to vimo.pipelines, vimo.annotation and vimo.models."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_has_only_the_vimo_package(tmp_path):
    # build from a copy so that setuptools' build/ folder never lands in the checkout
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for folder in ("vimo", "pipelines", "annotation", "models"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    wheel = next(tmp_path.glob("vimo-0.1.0-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"vimo", "vimo-0.1.0.dist-info"}, tops
    for module in ("vimo/__init__.py", "vimo/pipelines/__init__.py", "vimo/annotation/__init__.py",
                   "vimo/models/__init__.py", "vimo/motion/features.py", "vimo/cli/__init__.py",
                   "vimo/pipelines/data/egohumans_sequence_configs.csv", "vimo/pipelines/data/README.md",
                   "vimo/annotation/templates/configs/rating/v1.xml",
                   "vimo/annotation/templates/instructions/rating/v1.html"):
        assert module in names
    # every package of the mapped folders, subpackages of subpackages too (vimo.pipelines.video was once
    # left out: only an editable install, which finds modules on disk, hid it)
    for folder, prefix in (("vimo", "vimo"), ("pipelines", "vimo/pipelines"), ("annotation", "vimo/annotation"),
                           ("models", "vimo/models")):
        for init in (ROOT / folder).rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                assert f"{prefix}/{init.relative_to(ROOT / folder).as_posix()}" in names, init
    assert "vimo/pipelines/video/render.py" in names
    assert not any(n.startswith("vimo/tests") for n in names)
    entry = zipfile.ZipFile(wheel).read("vimo-0.1.0.dist-info/entry_points.txt").decode()
    assert "vimo = vimo.cli:main" in entry
    meta = zipfile.ZipFile(wheel).read("vimo-0.1.0.dist-info/METADATA").decode()
    for extra in ("render", "annotate", "train", "ray", "test", "all"):
        assert f"Provides-Extra: {extra}" in meta
