"""Observability: log fields bound per execution and request, the stage hook (metrics and traces join it)."""

from sandbox.observability import exposition, metrics
from sandbox.observability.context import bind, bind_forever, fields, stage

__all__ = ["bind", "bind_forever", "exposition", "fields", "metrics", "stage"]
