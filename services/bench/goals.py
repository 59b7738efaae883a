"""The targets of issues 10 (performance) and 17 (storage) for a 2-core machine, read from one
run's results: what was measured, met or not, and by how much it was missed. Reported, never
asserted. Pure functions."""

from __future__ import annotations

from collections.abc import Callable
from statistics import median
from typing import Any

Found = tuple[float | None, str | None]  # (measured value, the load it was measured at)


def _scenarios(results: dict[str, Any]) -> list[dict[str, Any]]:
    return results.get("scenarios", [])


def _at(results: dict[str, Any], clients: int, rate: float) -> list[dict[str, Any]]:
    """Closed-loop scenarios at ``clients`` × ``rate``, shortest answers first."""
    found = [
        s for s in _scenarios(results) if s["clients"] == clients and s["rate"] == rate and not s.get("arrival_rate")
    ]
    return sorted(found, key=lambda s: s["tokens"])


def _load(s: dict[str, Any]) -> str:
    return f"{s['clients']} × {s['rate']:g} tok/s, {s['tokens']}-token answers"


def _cpu_per_token(side: dict[str, Any]) -> float | None:
    tps = side.get("tokens_per_s")
    return side["cpu"]["total"]["cores"] / tps * 1e6 if tps else None


def cpu_per_token_ratio(results: dict[str, Any]) -> Found:
    """The worst Parley / baseline CPU per delivered token over every scenario."""
    worst: tuple[float, str] | None = None
    for s in _scenarios(results):
        if "parley" not in s or "baseline" not in s:
            continue
        ours, theirs = _cpu_per_token(s["parley"]), _cpu_per_token(s["baseline"])
        if ours and theirs and (worst is None or ours / theirs > worst[0]):
            worst = (ours / theirs, f"worst: {s['name']}")
    return (round(worst[0], 2), worst[1]) if worst else (None, None)


def cpu_per_answer(results: dict[str, Any]) -> Found:
    """Median over the stream counts of Parley's fitted fixed CPU per answer (ms)."""
    fits = {r["clients"]: r["parley"].get("cpu_per_answer_ms") for r in results.get("scaling", []) if "parley" in r}
    values = [v for v in fits.values() if v is not None]
    if not values:
        return None, None
    return round(median(values), 2), f"median over {len(values)} stream counts"


def delivered_ratio(clients: int, rate: float) -> Callable[[dict[str, Any]], Found]:
    def measure(results: dict[str, Any]) -> Found:
        found = [s for s in _at(results, clients, rate) if (s.get("ratios") or {}).get("tokens_per_s") is not None]
        return (found[0]["ratios"]["tokens_per_s"], _load(found[0])) if found else (None, None)

    return measure


def ttft_overhead_p99(clients: int, rate: float) -> Callable[[dict[str, Any]], Found]:
    def measure(results: dict[str, Any]) -> Found:
        found = [s for s in _at(results, clients, rate) if "parley" in s]
        return (found[0]["parley"]["ttft_overhead_ms"]["p99"], _load(found[0])) if found else (None, None)

    return measure


def token_p99_over_baseline(clients: int, rate: float) -> Callable[[dict[str, Any]], Found]:
    def measure(results: dict[str, Any]) -> Found:
        found = [s for s in _at(results, clients, rate) if "parley" in s and "baseline" in s]
        if not found:
            return None, None
        ours, theirs = found[0]["parley"]["latency_ms"]["p99"], found[0]["baseline"]["latency_ms"]["p99"]
        return (round(ours - theirs, 2), _load(found[0])) if ours is not None and theirs is not None else (None, None)

    return measure


def token_p99(clients: int, rate: float) -> Callable[[dict[str, Any]], Found]:
    def measure(results: dict[str, Any]) -> Found:
        found = [s for s in _at(results, clients, rate) if "parley" in s]
        return (found[0]["parley"]["latency_ms"]["p99"], _load(found[0])) if found else (None, None)

    return measure


def idle_ttft_overhead(results: dict[str, Any]) -> Found:
    found = [s for s in _scenarios(results) if s["name"] == "single" and "parley" in s]
    return (found[0]["parley"]["ttft_overhead_ms"]["p50"], "1 stream, one prompt at a time") if found else (None, None)


def cpu_per_token_spread(results: dict[str, Any]) -> Found:
    """Largest deviation (%) of Parley's CPU per token from its value at the fewest streams,
    per answer length."""
    worst: tuple[float, str] | None = None
    curve = results.get("scaling", [])
    for tokens in {r["tokens"] for r in curve}:
        mine = sorted((r for r in curve if r["tokens"] == tokens and "parley" in r), key=lambda r: r["clients"])
        values = [(r["clients"], r["parley"]["cpu_per_token_us"]) for r in mine if r["parley"]["cpu_per_token_us"]]
        if len(values) < 2:
            continue
        first = values[0][1]
        for clients, value in values[1:]:
            spread = abs(value / first - 1) * 100
            if worst is None or spread > worst[0]:
                worst = (spread, f"{clients} vs {values[0][0]} streams, {tokens}-token answers")
    return (round(worst[0], 1), worst[1]) if worst else (None, None)


def rebuild_rate(results: dict[str, Any]) -> Found:
    rebuild = results.get("rebuild") or {}
    return (rebuild.get("events_per_s"), f"{rebuild.get('events', 0):,} events") if rebuild else (None, None)


def idle_memory(results: dict[str, Any]) -> Found:
    idle = results.get("idle", {}).get("parley", {})
    return idle.get("per_connection_kib"), f"{idle.get('connections', 0)} idle sockets"


def _storage_at(results: dict[str, Any], rate: float) -> dict[str, float]:
    """Stored bytes, tokens and text bytes added up over Parley's scenarios at ``rate`` tok/s."""
    total = {"permanent": 0.0, "all": 0.0, "tokens": 0.0, "text": 0.0}
    for s in _scenarios(results):
        stored = (s.get("parley") or {}).get("storage")
        if s["rate"] != rate or not stored or not stored["tokens"]:
            continue
        total["permanent"] += stored["permanent"]["bytes"]
        total["all"] += stored["all"]["bytes"]
        total["tokens"] += stored["tokens"]
        total["text"] += stored["text_bytes"]
    return total


def permanent_log(results: dict[str, Any]) -> Found:
    """The permanent log's bytes as a multiple of the budget: 3 × the text + 4 bytes per token."""
    t = _storage_at(results, 30.0)
    if not t["tokens"]:
        return None, None
    budget = 3 * t["text"] + 4 * t["tokens"]
    return round(t["permanent"] / budget, 2), f"{t['permanent'] / t['tokens']:,.0f} B/token, {t['tokens']:,.0f} tokens"


def stored_per_token(results: dict[str, Any]) -> Found:
    t = _storage_at(results, 30.0)
    return (round(t["all"] / t["tokens"], 1), f"{t['tokens']:,.0f} tokens at 30 tok/s") if t["tokens"] else (None, None)


# (issue, target, measure, bound, at least?)
TARGETS: tuple[tuple[str, str, Callable[[dict[str, Any]], Found], float, bool], ...] = (
    ("10", "CPU per delivered token ≤ 1.5 × the baseline's, every scenario", cpu_per_token_ratio, 1.5, False),
    ("10", "fixed CPU per answer ≤ 3 ms, all processes", cpu_per_answer, 3.0, False),
    ("10", "delivered tok/s ≥ 0.9 × the baseline at 150 × 20", delivered_ratio(150, 20.0), 0.9, True),
    ("10", "delivered tok/s ≥ 1.0 × the baseline at 1,000 × 20", delivered_ratio(1000, 20.0), 1.0, True),
    ("10", "TTFT overhead p99 ≤ 25 ms at 100 × 30", ttft_overhead_p99(100, 30.0), 25.0, False),
    (
        "10",
        "token p99 ≤ the baseline's p99 + 10 ms at 100 × 30 (ms over)",
        token_p99_over_baseline(100, 30.0),
        10.0,
        False,
    ),
    ("10", "token p99 ≤ 30 ms at 200 × 30", token_p99(200, 30.0), 30.0, False),
    ("10", "idle, one message at a time: TTFT overhead p50 ≤ 5 ms", idle_ttft_overhead, 5.0, False),
    ("10", "CPU per token flat within ±20 % from 25 to 800 streams (% off)", cpu_per_token_spread, 20.0, False),
    ("10", "`parley projections rebuild` ≥ 50,000 events/s", rebuild_rate, 50000.0, True),
    ("10", "an idle connection ≤ 30 KiB of edge memory", idle_memory, 30.0, False),
    ("17", "permanent log ≤ 3 × the text's UTF-8 bytes + 4 B/token (× that budget)", permanent_log, 1.0, False),
    ("17", "everything stored ≤ 150 bytes per token at 30 tok/s", stored_per_token, 150.0, False),
)


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with what was measured, whether it was met, and by how much it was missed."""
    out = []
    for issue, text, measure, bound, at_least in TARGETS:
        value, load = measure(results)
        row: dict[str, Any] = {"issue": issue, "target": text, "measured": value, "met": None, "miss": None}
        row["load"] = load
        if value is not None:
            row["met"] = value >= bound if at_least else value <= bound
            if not row["met"]:
                gap = bound - value if at_least else value - bound
                row["miss"] = f"{'short' if at_least else 'over'} by {gap:,.3g} ({value / bound:.2f}× the target)"
        out.append(row)
    return out
