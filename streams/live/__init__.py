"""The live page (placeholder until the page lands)."""

from __future__ import annotations

from typing import Any

__all__ = ["mount"]


def mount(app: Any, sink: Any, metrics: Any, call: Any) -> None:
    """Register ``/`` and the page's static files."""
