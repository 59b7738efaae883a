"""The results of a run as files: ``results.json`` (everything), ``results.md`` (the tables for
the README) and ``latency.png`` (token latency distributions, Parley next to the baseline).
``targets`` and ``markdown`` are pure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.bench import curve, goals, sections


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issues 10 and 17 with what was measured (``goals.py``)."""
    return goals.evaluate(results)


def _n(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _dist(summary: dict[str, Any] | None, keys: tuple[str, ...] = ("p50", "p90", "p99", "max")) -> str:
    if not summary or not summary.get("n"):
        return "–"
    return " / ".join(_n(summary[k]) for k in keys)


def _cores(cpu: dict[str, Any], top: int = 4) -> str:
    parts = sorted(((k, v["cores"]) for k, v in cpu.items() if k != "total"), key=lambda kv: -kv[1])
    shown = ", ".join(f"{k} {v:.2f}" for k, v in parts[:top])
    return f"{cpu.get('total', {}).get('cores', 0):.2f} ({shown})"


def _side_rows(s: dict[str, Any], side: str) -> dict[str, str]:
    m = s.get(side)
    if not m:
        return {}
    lag = m.get("projection_lag")
    return {
        "token latency p50 / p90 / p99 / max (ms)": _dist(m["latency_ms"]),
        "time to first token p50 / p99 (ms)": _dist(m["ttft_ms"], ("p50", "p99")),
        "TTFT overhead over the provider's p50 / p99 (ms)": _dist(m["ttft_overhead_ms"], ("p50", "p99")),
        "prompt sent → provider has the request p50 / p99 (ms)": _dist(m.get("request_path_ms"), ("p50", "p99")),
        "delivered tokens/s": _n(m["tokens_per_s"]),
        "frames/s, all / token frames (tokens per token frame)": f"{_n(m['frames_per_s'])} / "
        f"{_n(m['token_frames_per_s'])} ({_n(m['tokens_per_token_frame'], 2)})",
        "answers completed / s": _n(m["answers_per_s"]),
        "projection lag p50 / p99 (ms)": _dist(lag["ms"], ("p50", "p99")) if lag else "n/a",
        "projection lag p50 / p99 (events)": _dist(lag["events"], ("p50", "p99")) if lag else "n/a",
        "stream and projection idle, s after the deadline": _n(m.get("idle_after_deadline_s"), 2)
        if "idle_after_deadline_s" in m
        else "n/a",
        "errors / gaps / duplicates (unfinished at the end)": f"{m['errors']} / {m['gaps'] + m['shorts']} / "
        f"{m['duplicates'] + m['overruns']} ({m.get('unfinished', 0)})",
        "reconnects (close code: n) / restarted answers": (
            ", ".join(f"{k}: {v}" for k, v in m["reconnects"].items()) or "0"
        )
        + f" / {m.get('restarts', 0)}",
        "socket-process RSS, connected → peak (MiB)": f"{_n(m['rss']['connected_mib'])} → {_n(m['rss']['peak_mib'])}",
        "CPU, cores (busiest)": _cores(m["cpu"]),
        "CPU per delivered token, all processes (µs)": _n(
            m["cpu"]["total"]["cores"] / m["tokens_per_s"] * 1e6 if m["tokens_per_s"] else None, 0
        ),
        "load generator CPU (s)": _n(m["loadgen_cpu_s"], 2),
        **sections.side_rows(m),
    }


def cpu_table(results: dict[str, Any]) -> list[str]:
    """Cores each process kept busy during each measurement window (2.00 = the whole machine)."""
    columns = [
        (f"{s['name']} {side}", s[side]["cpu"])
        for s in results.get("scenarios", [])
        for side in ("parley", "baseline")
        if side in s
    ]
    if not columns:
        return []
    names = list(dict.fromkeys(n for _, cpu in columns for n in cpu if n != "total"))
    lines = [
        "### CPU by process (cores busy during the measurement window)",
        "",
        "| process | " + " | ".join(title for title, _ in columns) + " |",
        "| --- |" + " --- |" * len(columns),
    ]
    for name in [*names, "total"]:
        cells = [f"{cpu[name]['cores']:.2f}" if name in cpu else "–" for _, cpu in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    settings = results.get("settings", {})
    lines = [
        f"## Parley benchmark ({results['mode']} mode, {results['started_at']})",
        "",
        f"Machine: {m['cores']} cores ({m['cpu_model']}), {m['memory_gib']} GiB, {m['os']}, Python {m['python']}, "
        f"{m['nats_server']}, {m['postgres']}. Load average before / after the run: "
        f"{results['load_average_before'][0]} / {results.get('load_average_after', ['?'])[0]}. Wall time "
        f"{results.get('wall_s', '?')} s.",
        "",
        *(
            [f"**This run was cut short ({results['cut_short']}): only what it measured is here.**", ""]
            if results.get("cut_short")
            else []
        ),
        *(
            [f"**Warning: the machine was busy before the run (load {busy}); the numbers are polluted.**", ""]
            if (busy := results["load_average_before"][0]) > 1.5
            else []
        ),
        f"System under test: 1 edge, {settings.get('generation_workers', '?')} generation workers (concurrency "
        f"{settings.get('PARLEY_GENERATION_CONCURRENCY', '?')} each), 1 projection worker, NATS (file store, "
        f"GOMAXPROCS {settings.get('PARLEY_NATS_PROCS', '?')}) and "
        f"PostgreSQL (fsync on) on the same machine; chunk flush {settings.get('PARLEY_CHUNK_FLUSH_MS', '?')} ms "
        f"(≤ {settings.get('PARLEY_CHUNK_MAX_TOKENS', '?')} tokens, up to "
        f"{settings.get('PARLEY_CHUNK_BUDGET_MS', '?')} ms under load), projection flush "
        f"{settings.get('PARLEY_PROJECTION_FLUSH_MS', '?')} ms, settle {settings.get('PARLEY_PROJECTION_SETTLE_MS', '?')} ms, "
        f"nice {settings.get('PARLEY_PROJECTION_NICE', '?')}. Baseline: one FastAPI/uvicorn process streaming from "
        "the provider in-process (Parley's provider client), no bus, no persistence, one frame per token. Provider: the scripted "
        "OpenAI-compatible server (one process, shared). Clients: "
        f"{results['options']['loadgens']} load-generator process(es) (asyncio + uvloop + websockets, no compression).",
        "",
    ]
    for s in results.get("scenarios", []):
        lines += [
            f"### {s['name']}: {s['clients']} streams × {s['rate']:g} tokens/s ({s['tokens']}-token answers, "
            f"{s['duration_s']:g} s, offered {s['offered_tokens_per_s']:,.0f} tokens/s, measured over "
            f"{s['parley']['window_s']} s after warm-up)",
            "",
            "| metric | Parley | baseline | Parley / baseline |",
            "| --- | --- | --- | --- |",
        ]
        ours, theirs = _side_rows(s, "parley"), _side_rows(s, "baseline")
        ratios = s.get("ratios") or {}
        ratio_of = {
            "token latency p50 / p90 / p99 / max (ms)": f"p50 {_n(ratios.get('latency_p50'), 2)}×, "
            f"p99 {_n(ratios.get('latency_p99'), 2)}×",
            "time to first token p50 / p99 (ms)": f"p50 {_n(ratios.get('ttft_p50'), 2)}×",
            "delivered tokens/s": f"{_n(ratios.get('tokens_per_s'), 3)}×",
        }
        for key, value in ours.items():
            lines.append(f"| {key} | {value} | {theirs.get(key, '–')} | {ratio_of.get(key, '') if ratios else ''} |")
        lines.append("")
    lines += cpu_table(results)
    lines += curve.markdown(results.get("scaling", []))
    lines += sections.waterfall(results)
    lines += sections.storage(results)
    lines += sections.nats_sync(results)
    lines += ["### Targets (2-core machine; reported, not asserted)", ""]
    lines += ["| issue | target | load | measured | met | miss |", "| --- | --- | --- | --- | --- | --- |"]
    for t in targets(results):
        met = "–" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(
            f"| {t['issue']} | {t['target']} | {t['load'] or '–'} | {_n(t['measured'], 2)} | {met} | {t['miss'] or ''} |"
        )
    lines += ["", "### Connections, resume, replay, rebuild", "", "| measurement | value |", "| --- | --- |"]
    for side, idle in results.get("idle", {}).items():
        lines.append(
            f"| {side}: memory per idle connection ({idle['connections']} sockets) | {_n(idle['per_connection_kib'])} KiB "
            f"(RSS {idle['rss_before_mib']} → {idle['rss_open_mib']} MiB; opened in {idle['connect_s']} s; "
            f"{idle['errors']} errors) |"
        )
    r = results.get("resume")
    if r:
        lines.append(
            f"| reload in the middle of a {r['tokens']:,}-token answer: reconnect until live, p50 / max "
            f"| {_dist(r['mid_answer_live_ms'], ('p50', 'max'))} ms |"
        )
        lines.append(
            f"| replay of the whole {r['tokens']:,}-token answer after reconnect (`after_seq`), p50 / max "
            f"| {_dist(r['full_replay_ms'], ('p50', 'max'))} ms ({_n(r['full_replay_events_per_s'], 0)} events/s; "
            f"{r['rounds'][0]['full_replay_frames'] if r['rounds'] else '–'} frames) |"
        )
        lines.append(f"| resume: gaps or duplicates / errors | {r['gaps_or_duplicates']} / {r['errors']} |")
    for name, rp in (results.get("replay") or {}).items():
        if "error" in rp:
            lines.append(f"| full-session replay ({name}) | error: {rp['error']} |")
            continue
        lines.append(
            f"| full-session replay over the socket, {name} ({rp['sessions']} sessions, {rp['events']:,} events) "
            f"| {_n(rp['events_per_s'], 0)} events/s (per session p50 {_n(rp['per_session_ms']['p50'])} ms) |"
        )
    rb = results.get("rebuild")
    if rb:
        value = (
            rb["error"]
            if "error" in rb
            else f"{_n(rb['events_per_s'], 0)} events/s ({rb['events']:,} events in {rb['seconds']} s)"
        )
        lines.append(f"| `parley projections rebuild` | {value} |")
    lines.append("")
    for key, title in (("profile", "Parley"), ("profile_baseline", "baseline")):
        prof = results.get(key)
        if not prof:
            continue
        lines += [f"### Profile ({title}, py-spy, {prof['scenario']} load, on-CPU samples)", ""]
        for proc, p in prof.get("profile", {}).items():
            if not isinstance(p, dict) or "error" in p:
                lines.append(f"- {proc}: {p.get('error') if isinstance(p, dict) else p}")
                continue
            if not p.get("samples"):
                continue
            packages = ", ".join(f"{n} {v}%" for n, v in p["packages"][:6])
            frames = "; ".join(f"`{n}` {v}%" for n, v in p["self"][:6])
            lines.append(
                f"- **{proc}** (busy {p['active_share']:.0%} of a core): by package {packages}. Hottest: {frames}"
            )
            if p["own_inclusive"]:
                own = "; ".join(f"`{n}` {v}%" for n, v in p["own_inclusive"][:5])
                lines.append(f"  - our code, inclusive: {own}")
        lines += sections.nats_profile(prof.get("nats_pprof"))
        lines.append("")
    return "\n".join(lines)


def plot(latencies: dict[tuple[str, str], list[float]], path: Path) -> Path | None:
    """Token latency CDFs, one panel per scenario, Parley and baseline on a log axis."""
    if not any(latencies.values()):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    scenarios = list(dict.fromkeys(name for name, _ in latencies))
    if len(scenarios) > 6:  # the scaling curve has its own plot: here only the points with targets
        scenarios = [n for n in scenarios if not n.startswith("scale-") or n in ("scale-100x40", "scale-200x40")]
    columns = min(3, len(scenarios))
    rows = -(-len(scenarios) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 4.2 * rows), squeeze=False)
    for ax in axes.flat[len(scenarios) :]:
        ax.set_visible(False)
    for ax, scenario in zip(axes.flat, scenarios, strict=False):
        for target, color in (("parley", "tab:blue"), ("baseline", "tab:orange")):
            values = np.sort(np.asarray(latencies.get((scenario, target), []), dtype=float) * 1000)
            if values.size == 0:
                continue
            values = np.clip(values, 0.01, None)
            ax.plot(
                values, np.arange(1, values.size + 1) / values.size, label=f"{target} (n={values.size:,})", color=color
            )
            p99 = np.percentile(values, 99, method="inverted_cdf")
            ax.axvline(p99, color=color, linestyle=":", linewidth=1)
        ax.axvline(30, color="tab:red", linestyle="--", linewidth=1, label="30 ms (p99 target at 200 × 30)")
        ax.axhline(0.99, color="grey", linewidth=0.5)
        ax.set_xscale("log")
        ax.set_xlabel("provider emit → WebSocket client receive (ms)")
        ax.set_ylabel("fraction of tokens")
        ax.set_title(f"token delivery latency: {scenario}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(results: dict[str, Any], latencies: dict[tuple[str, str], list[float]], directory: Path) -> str:
    """Write the three files; return the Markdown."""
    directory.mkdir(parents=True, exist_ok=True)
    results["targets"] = targets(results)
    text = markdown(results)
    (directory / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (directory / "results.md").write_text(text + "\n")
    if curve.plot(results.get("scaling", []), directory / "scaling.png"):
        text += "\n![scaling curve](scaling.png)\n"
    if plot(latencies, directory / "latency.png"):
        text += "\n![token latency](latency.png)\n"
    (directory / "results.md").write_text(text + "\n")
    return text
