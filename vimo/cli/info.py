"""`vimo info`: what a bug report needs: versions, optional extras, whether headless EGL rendering works, and how
many threads torch gets in vimo's training and benchmark commands (vimo.threads).

Examples:
    vimo info
    vimo info --json
"""
from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib import metadata

import typer

PACKAGES = ("vimo", "torch", "numpy", "scipy", "pandas", "numba", "typer", "smplx", "pyrender", "trimesh",
            "imageio-ffmpeg", "label-studio-sdk", "ray")

_EGL_PROBE = """
import os
os.environ["PYOPENGL_PLATFORM"] = "egl"
import pyrender
r = pyrender.OffscreenRenderer(16, 16)
r.delete()
print("ok")
"""


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def egl_status(timeout: float = 30.0) -> str:
    """'ok', 'pyrender not installed', or the first line of the failure (probed in a subprocess)."""
    try:
        metadata.version("pyrender")
    except metadata.PackageNotFoundError:
        return "pyrender not installed (pip install 'vimo[render]')"
    try:
        proc = subprocess.run([sys.executable, "-c", _EGL_PROBE], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"no answer within {timeout:.0f} s"
    if proc.returncode == 0 and proc.stdout.strip().endswith("ok"):
        return "ok"
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    return f"fails: {lines[-1] if lines else 'exit ' + str(proc.returncode)} (see docs: apt packages in README)"


def collect(probe_egl: bool = True) -> dict:
    from vimo.threads import current_plan

    plan = current_plan()
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "egl": egl_status() if probe_egl else "not probed",
        "torch_threads": {"threads": plan.threads, "why": plan.describe(), "affinity": plan.affinity,
                          "quota": plan.quota, "busy": plan.busy, "source": plan.source},
    }


def info(as_json: bool = typer.Option(False, "--json", help="print machine-readable JSON"),
         no_egl: bool = typer.Option(False, "--no-egl", help="skip the EGL rendering probe")) -> None:
    """Versions of Python, vimo and its dependencies, whether headless EGL rendering works, torch's threads.

    vimo info\n
    vimo info --json --no-egl
    """
    data = collect(probe_egl=not no_egl)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="vimo info", show_header=False)
    table.add_row("python", data["python"])
    table.add_row("platform", data["platform"])
    for name, version in data["packages"].items():
        table.add_row(name, version or "[dim]not installed[/]")
    table.add_row("EGL rendering", data["egl"])
    Console().print(table)
    typer.echo(f"torch threads: {data['torch_threads']['why']}")
