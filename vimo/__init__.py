"""vimo: build, annotate, release and benchmark ViMo (video -> human reaction) datasets."""

__version__ = "0.1.0"

from vimo.errors import VimoError  # noqa: E402  (cheap, no heavy imports)

__all__ = ["__version__", "VimoError"]
