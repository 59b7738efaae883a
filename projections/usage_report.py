"""Reading the usage projection: hourly rows in a time range, summed by one dimension (pure sum)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

import asyncpg

from projections import store
from projections.usage import BUCKET_NAMES, BUCKETS_MS, HOURS, UsageHour

GroupBy = Literal["model", "provider", "user", "hour"]
_COUNTERS = ("answers", "completed", "failed", "cancelled", "prompt_tokens", "completion_tokens")


async def hourly(
    conn: asyncpg.Connection | asyncpg.Pool, start: datetime, end: datetime, user_id: str | None = None
) -> list[UsageHour]:
    """Rows whose hour lies in [start, end); one user's, or everyone's when ``user_id`` is None."""
    sql = f"SELECT * FROM {HOURS.name} WHERE hour >= $1 AND hour < $2"
    args: list[Any] = [start, end]
    if user_id is not None:
        sql += " AND user_id = $3"
        args.append(user_id)
    records = await conn.fetch(sql + " ORDER BY hour, id", *args)
    return [store._from_db(HOURS, r) for r in records]  # the one decoder of a table's rows


def group_key(row: UsageHour, group_by: GroupBy) -> str:
    match group_by:
        case "model":
            return f"{row.llm_provider}/{row.llm_model}"
        case "provider":
            return row.llm_provider
        case "user":
            return row.user_id
        case "hour":
            return row.hour.isoformat().replace("+00:00", "Z")
        case _:
            raise ValueError(f"unknown group_by {group_by!r}")


def _merge(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in sorted({*a, *b})}


def _timing(count: int, total: int, hist: dict[str, int]) -> dict[str, Any]:
    return {
        "count": count,
        "mean_ms": round(total / count) if count else None,
        "p50_ms": quantile(hist, count, 0.5),
        "p95_ms": quantile(hist, count, 0.95),
        "buckets": {name: hist.get(name, 0) for name in BUCKET_NAMES},
    }


def quantile(hist: dict[str, int], count: int, q: float) -> int | None:
    """The upper bound (ms) of the bucket holding the q-quantile; None above the last bound or with no data."""
    if not count:
        return None
    seen = 0
    for bound, name in zip((*BUCKETS_MS, None), BUCKET_NAMES, strict=True):
        seen += hist.get(name, 0)
        if seen >= q * count:
            return bound
    return None


def summarize(rows: Iterable[UsageHour], group_by: GroupBy) -> dict[str, Any]:
    """Totals and one entry per group (sorted by key), every counter summed, histograms merged."""
    groups: dict[str, dict[str, Any]] = {}
    everything: dict[str, Any] = _empty()
    for row in rows:
        for acc in (groups.setdefault(group_key(row, group_by), _empty()), everything):
            for name in _COUNTERS:
                acc[name] += getattr(row, name)
            acc["errors"] = _merge(acc["errors"], row.errors)
            for part in ("ttft", "total"):
                acc[f"{part}_count"] += getattr(row, f"{part}_count")
                acc[f"{part}_sum_ms"] += getattr(row, f"{part}_sum_ms")
                acc[f"{part}_hist"] = _merge(acc[f"{part}_hist"], getattr(row, f"{part}_hist"))
    return {
        "totals": _shape(everything),
        "groups": [{"key": key, **_shape(acc)} for key, acc in sorted(groups.items())],
    }


def _empty() -> dict[str, Any]:
    acc: dict[str, Any] = dict.fromkeys(_COUNTERS, 0)
    acc["errors"] = {}
    for part in ("ttft", "total"):
        acc |= {f"{part}_count": 0, f"{part}_sum_ms": 0, f"{part}_hist": {}}
    return acc


def _shape(acc: dict[str, Any]) -> dict[str, Any]:
    out = {name: acc[name] for name in _COUNTERS}
    out["tokens"] = acc["prompt_tokens"] + acc["completion_tokens"]
    out["errors"] = acc["errors"]
    out["time_to_first_token"] = _timing(acc["ttft_count"], acc["ttft_sum_ms"], acc["ttft_hist"])
    out["total_time"] = _timing(acc["total_count"], acc["total_sum_ms"], acc["total_hist"])
    return out
