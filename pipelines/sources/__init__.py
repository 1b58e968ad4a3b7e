"""Motion sources: one module per dataset, registered by name (`vimo convert <name>`)."""
from vimo.pipelines.sources import amass, egohumans, harmony4d, interx, joints  # noqa: F401  (registration)
from vimo.pipelines.sources.base import SOURCES, ClipRef, Source, SourceConfig, TwoPersonMotion, get_source

__all__ = ["SOURCES", "ClipRef", "Source", "SourceConfig", "TwoPersonMotion", "get_source"]
