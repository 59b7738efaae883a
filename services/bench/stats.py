"""Summaries of measured values: percentiles, rates, ratios. Pure functions."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

PERCENTILES = (50, 90, 99)


def summary(values: Sequence[float], scale: float = 1000.0) -> dict[str, float | int | None]:
    """n, p50, p90, p99, max and mean of ``values`` times ``scale`` (seconds to ms by default).

    Percentiles are nearest-rank ("inverted_cdf"): every number reported was really observed.
    """
    if len(values) == 0:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    array = np.asarray(values, dtype=np.float64) * scale
    p50, p90, p99 = np.percentile(array, PERCENTILES, method="inverted_cdf")
    return {
        "n": len(array),
        "p50": round(float(p50), 3),
        "p90": round(float(p90), 3),
        "p99": round(float(p99), 3),
        "max": round(float(array.max()), 3),
        "mean": round(float(array.mean()), 3),
    }


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """``ours / theirs``, or None when either is missing or ``theirs`` is zero."""
    if ours is None or theirs is None or theirs == 0 or math.isnan(theirs):
        return None
    return round(ours / theirs, 3)


def rate(count: float, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def in_window(times: Sequence[float], start: float, end: float) -> int:
    """How many of ``times`` fall in ``[start, end)``."""
    return sum(1 for t in times if start <= t < end)


def fixed_and_marginal(points: Sequence[tuple[float, float, float]]) -> tuple[float, float] | None:
    """``(cpu per answer, cpu per token)`` from ``(cores, answers/s, tokens/s)`` points, by least
    squares on ``cores = per_answer * answers/s + per_token * tokens/s`` (no intercept: nothing
    runs without load). Two points of the same streams with short and long answers separate the
    fixed cost of an answer from the cost of its tokens. None when they cannot be told apart."""
    usable = [(c, a, t) for c, a, t in points if a > 0 and t > 0]
    if len(usable) < 2:
        return None
    x = np.asarray([[a, t] for _, a, t in usable], dtype=np.float64)
    y = np.asarray([c for c, _, _ in usable], dtype=np.float64)
    if np.linalg.matrix_rank(x) < 2:
        return None
    (per_answer, per_token), *_ = np.linalg.lstsq(x, y, rcond=None)
    return float(per_answer), float(per_token)
