"""Report sections added for issues 10 and 17: the per-prompt waterfall, bytes stored, nats-server's
own profile, and extra rows of the per-scenario table. Pure: results in, Markdown lines out."""

from __future__ import annotations

from typing import Any

from services.tracing import STAGES

# What each span measures, in the report's words.
STAGE_TEXT = {
    "prompt.store": "command received → prompt stored (edge)",
    "prompt.queue": "stored → taken by a worker",
    "answer.context": "taken → context ready",
    "answer.start": "context ready → request sent",
    "provider.first_token": "request sent → first provider token",
    "chunk.store": "first token → first chunk stored",
    "frame.deliver": "first chunk stored → first frame sent (edge)",
    "total": "command received → first frame sent",
}


def _n(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def side_rows(m: dict[str, Any]) -> dict[str, str]:
    rows = {}
    wait = m.get("socket_wait_ms")
    if wait and wait.get("n"):
        rows["open loop: prompt due → sent, waiting for a free socket p50 / p99 (ms)"] = (
            f"{_n(wait['p50'])} / {_n(wait['p99'])}"
        )
    stored = m.get("storage")
    if stored and stored.get("tokens"):
        rows["bytes stored per token: permanent / short-lived / all (text: B/token)"] = (
            f"{_n(stored['permanent']['bytes_per_token'])} / {_n(stored['short_lived']['bytes_per_token'])} / "
            f"{_n(stored['all']['bytes_per_token'])} ({_n(stored['text_bytes_per_token'], 2)})"
        )
    return rows


def waterfall(results: dict[str, Any]) -> list[str]:
    """One column per scenario: each stage's p50 / p99 (ms) over its traced prompts."""
    found = [
        (s["name"], s["parley"]["waterfall"])
        for s in results.get("scenarios", [])
        if (s.get("parley") or {}).get("waterfall", {}).get("prompts")
    ]
    if not found:
        return []
    tracing = results.get("tracing", {})
    lines = [
        "### Waterfall of a prompt (OpenTelemetry spans; p50 / p99 ms of the traced prompts)",
        "",
        f"A share of {tracing.get('sample', '?')} of the prompts was traced; spans went over OTLP/HTTP to the "
        "bench's own receiver, as they would to an operator's collector.",
        "",
        "| stage | " + " | ".join(name for name, _ in found) + " |",
        "| --- |" + " --- |" * len(found),
    ]
    for stage in (*STAGES, "total"):
        cells = []
        for _, w in found:
            d = w.get(stage) or {}
            cells.append(f"{_n(d.get('p50'))} / {_n(d.get('p99'))}" if d.get("n") else "–")
        lines.append(f"| {STAGE_TEXT[stage]} | " + " | ".join(cells) + " |")
    lines.append(
        "| traced prompts (complete) | " + " | ".join(f"{w['prompts']} ({w['complete']})" for _, w in found) + " |"
    )
    return [*lines, ""]


def storage(results: dict[str, Any]) -> list[str]:
    """Bytes JetStream stored per token and per answer, per scenario (issue 17)."""
    found = [
        (s, s["parley"]["storage"]) for s in results.get("scenarios", []) if (s.get("parley") or {}).get("storage")
    ]
    found = [(s, st) for s, st in found if st.get("tokens")]
    if not found:
        return []
    lines = [
        "### Storage (JetStream bytes added by each scenario, after it settled)",
        "",
        "| scenario | answers / tokens | text B/token | permanent B/token (× text) | short-lived B/token "
        "| all B/token | all B/answer |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s, st in found:
        lines.append(
            f"| {s['name']} | {st['answers']:,} / {st['tokens']:,} | {_n(st['text_bytes_per_token'], 2)} "
            f"| {_n(st['permanent']['bytes_per_token'])} ({_n(st['permanent']['times_text'], 1)}×) "
            f"| {_n(st['short_lived']['bytes_per_token'])} | {_n(st['all']['bytes_per_token'])} "
            f"| {_n(st['all']['bytes_per_answer'], 0)} |"
        )
    types: dict[str, list[int]] = {}
    for _, st in found:
        for stream in st.get("streams", {}).values():
            for kind, v in (stream.get("types") or {}).items():
                t = types.setdefault(kind, [0, 0, 0])
                t[0] += v["messages"]
                t[1] += v["bytes"]
                t[2] += v.get("payload", 0)
    if types:
        # Framing: what the file store adds to each event's JSON (record, subject, headers); it
        # is the floor of an event's cost whatever the event holds.
        lines += [
            "",
            "| event type (all scenarios) | events | bytes | bytes per event | of which JSON / framing |",
            "| --- | --- | --- | --- | --- |",
        ]
        for kind, (count, size, payload) in sorted(types.items(), key=lambda kv: -kv[1][1]):
            split = f"{payload / count:,.0f} / {(size - payload) / count:,.0f}" if count and payload else "–"
            lines.append(
                f"| {kind} | {count:,} | {size:,} | {size / count:,.0f} | {split} |"
                if count
                else f"| {kind} | 0 | 0 | – | – |"
            )
    return [*lines, ""]


def nats_profile(p: dict[str, Any] | None) -> list[str]:
    if not p:
        return []
    if "error" in p:
        return [f"- **nats-server** (pprof): {p['error']}"]
    packages = ", ".join(f"{n} {v}%" for n, v in p["packages"][:5])
    own = "; ".join(f"`{n}` {v}%" for n, v in p["self"][:6])
    inclusive = "; ".join(f"`{n}` {v}%" for n, v in p["inclusive"][:6])
    return [
        f"- **nats-server** (Go pprof from its profiling port, {_n(p['cores'], 2)} cores busy): by package "
        f"{packages}. Hottest: {own}",
        f"  - inclusive: {inclusive}",
    ]


def nats_sync(results: dict[str, Any]) -> list[str]:
    """The same scenario under nats-server's default fsync policy and under ``always``."""
    found = results.get("nats_sync")
    if not found:
        return []
    default, synced = found["default"], found["synced"]

    def per_token(m: dict[str, Any]) -> float | None:
        return m["cpu"]["total"]["cores"] / m["tokens_per_s"] * 1e6 if m.get("tokens_per_s") else None

    def nats_cores(m: dict[str, Any]) -> float | None:
        return (m["cpu"].get("nats-server") or {}).get("cores")

    rows = (
        ("delivered tokens/s", lambda m: m["tokens_per_s"], 0),
        ("token latency p50 (ms)", lambda m: m["latency_ms"]["p50"], 1),
        ("token latency p99 (ms)", lambda m: m["latency_ms"]["p99"], 1),
        ("TTFT overhead p50 (ms)", lambda m: m["ttft_overhead_ms"]["p50"], 1),
        ("TTFT overhead p99 (ms)", lambda m: m["ttft_overhead_ms"]["p99"], 1),
        ("CPU per delivered token, all processes (µs)", per_token, 0),
        ("nats-server cores", nats_cores, 2),
        ("errors / gaps / duplicates", lambda m: f"{m['errors']} / {m['gaps']} / {m['duplicates']}", 0),
    )
    lines = [
        f"### JetStream fsync policy ({found['scenario']}, Parley; same run)",
        "",
        "`PARLEY_NATS_SYNC` is nats-server's `sync_interval`: with an interval an acknowledged event can be "
        "lost on an OS crash or power loss within that interval; `always` fsyncs before every "
        "acknowledgement. The second run restarted nats-server with it on the same store; everything else "
        "is unchanged.",
        "",
        f"| metric | {found.get('default_policy', '2m')} (as configured) | {found['policy']} |",
        "| --- | --- | --- |",
    ]
    for name, pick, digits in rows:
        lines.append(f"| {name} | {_n(pick(default), digits)} | {_n(pick(synced), digits)} |")
    return [*lines, ""]
