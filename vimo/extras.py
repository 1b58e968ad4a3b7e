"""Optional dependency groups (pyproject extras): what each needs and how to install it."""
from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from vimo.errors import MissingExtraError

#: extra name -> import names that must be present for it
EXTRAS: dict[str, tuple[str, ...]] = {
    "render": ("smplx", "pyrender", "trimesh", "imageio", "imageio_ffmpeg"),
    "annotate": ("label_studio_sdk",),
    "train": ("torch",),
    "ray": ("ray",),
}


def install_hint(extra: str) -> str:
    if extra == "train":
        return "pip install torch==2.13.0 && pip install 'vimo[train]'"
    return f"pip install 'vimo[{extra}]'"


def missing(extra: str) -> list[str]:
    """Import names of `extra` that are not installed (cheap: no import is executed)."""
    return [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]


def require(extra: str, module: str | None = None) -> ModuleType | None:
    """Import `module` (or check the whole extra); raise MissingExtraError naming the pip command."""
    names = [module] if module else list(EXTRAS[extra])
    loaded = None
    for name in names:
        try:
            loaded = importlib.import_module(name)
        except ImportError as exc:
            raise MissingExtraError(
                f"this command needs the '{extra}' extra ({name} is not importable: {exc})",
                fix=install_hint(extra),
            ) from None
    return loaded
