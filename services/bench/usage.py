"""CPU time and memory of the processes under test (psutil), for per-phase accounting."""

from __future__ import annotations

from dataclasses import dataclass

import psutil


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU seconds of ``pid`` (and its live children: PostgreSQL's backends)."""
    total = 0.0
    for proc in _tree(pid) if children else _tree(pid)[:1]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def rss_bytes(pid: int) -> int:
    try:
        return psutil.Process(pid).memory_info().rss
    except psutil.NoSuchProcess:
        return 0


@dataclass(frozen=True, slots=True)
class Watched:
    name: str
    pid: int
    children: bool = False


def snapshot(watched: list[Watched]) -> dict[str, float]:
    return {w.name: cpu_seconds(w.pid, w.children) for w in watched}


def cpu_share(before: dict[str, float], after: dict[str, float], wall_s: float) -> dict[str, dict[str, float]]:
    """Per process: CPU seconds used between two snapshots, and as a share of one core."""
    out = {}
    for name, end in after.items():
        used = max(0.0, end - before.get(name, 0.0))
        out[name] = {"cpu_s": round(used, 2), "cores": round(used / wall_s, 3) if wall_s > 0 else 0.0}
    return out
