"""Every projection the workers apply, rebuild replays and readiness watches. Add one here."""

from __future__ import annotations

from projections.chat import CHAT
from projections.projection import Projection
from projections.usage import USAGE

ALL: tuple[Projection, ...] = (CHAT, USAGE)


def named(name: str) -> Projection:
    for projection in ALL:
        if projection.name == name:
            return projection
    raise KeyError(f"no projection {name!r}; known: {', '.join(p.name for p in ALL)}")


def selected(names: list[str]) -> tuple[Projection, ...]:
    """The projections named (all when none is); ``KeyError`` names an unknown one."""
    return tuple(named(n) for n in names) if names else ALL
