"""Open-loop arrivals: prompts at a fixed mean rate, with exponential gaps (a Poisson process),
whatever the system does. A closed loop waits for each answer before the next prompt, so a slow
system slows its own load and its queueing never shows. Pure functions."""

from __future__ import annotations

import numpy as np


def poisson(rate: float, duration_s: float, seed: int = 0) -> list[float]:
    """Arrival offsets in ``[0, duration_s)`` seconds at ``rate`` per second on average."""
    if rate <= 0 or duration_s <= 0:
        return []
    rng = np.random.default_rng(seed)
    # Enough gaps to pass the end with overwhelming probability; topped up if not.
    expected = rate * duration_s
    times: list[float] = []
    last = 0.0
    while last < duration_s:
        gaps = rng.exponential(1.0 / rate, size=int(expected + 6 * expected**0.5 + 16))
        offsets = last + np.cumsum(gaps)
        times.extend(float(t) for t in offsets if t < duration_s)
        last = float(offsets[-1])
    return times


def share(times: list[float], parts: int, index: int) -> list[float]:
    """Every ``parts``-th arrival from ``index``: one load generator's share of one schedule, so
    several processes together keep the schedule's exact times."""
    return times[index::parts]


def sockets_needed(rate: float, answer_s: float, spare: float = 2.0) -> int:
    """Sockets to hold: the mean number of answers in flight (Little's law), with room for bursts
    and a slower system. An arrival that finds every socket busy waits, and the wait counts in its
    time to first token (it is measured from the scheduled arrival)."""
    return max(4, int(np.ceil(rate * answer_s * spare)) + 4)
