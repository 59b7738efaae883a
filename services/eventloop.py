"""The event loop of Parley's own services: uvloop where it is installed (uvicorn[standard]
brings it on Linux and macOS), asyncio's otherwise. Generation and projections spend much of
their time in socket writes and scheduling, which uvloop does in C; the edge gets it from uvicorn."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

try:
    import uvloop
except ImportError:  # Windows
    uvloop = None

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on uvloop when available."""
    return uvloop.run(main) if uvloop is not None else asyncio.run(main)
