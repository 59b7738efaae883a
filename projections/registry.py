"""Every projection the workers apply, rebuild replays and readiness watches. Add one here."""

from __future__ import annotations

from projections.chat import CHAT
from projections.projection import Projection

ALL: tuple[Projection, ...] = (CHAT,)


def named(name: str) -> Projection:
    for projection in ALL:
        if projection.name == name:
            return projection
    raise KeyError(f"no projection {name!r}; known: {', '.join(p.name for p in ALL)}")
