"""The scaling curve: Parley and the baseline side by side at 25 … 800 streams, with short and
long answers. ``rows`` and ``markdown`` are pure; ``plot`` draws it.

CPU per answer (the fixed cost) is not measured directly: at each stream count the short- and
long-answer runs give two equations ``cores = per_answer × answers/s + per_token × tokens/s``,
solved for the two unknowns (``stats.fixed_and_marginal``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.bench import stats

SIDES = ("parley", "baseline")


def _side(m: dict[str, Any]) -> dict[str, Any]:
    cores = m["cpu"]["total"]["cores"]
    tps = m["tokens_per_s"]
    return {
        "tokens_per_s": tps,
        "answers_per_s": m.get("answers_per_s"),
        "cores": cores,
        "token_p50_ms": m["latency_ms"]["p50"],
        "token_p99_ms": m["latency_ms"]["p99"],
        "ttft_overhead_p50_ms": m["ttft_overhead_ms"]["p50"],
        "ttft_overhead_p99_ms": m["ttft_overhead_ms"]["p99"],
        "cpu_per_token_us": round(cores / tps * 1e6, 1) if tps else None,
        "unfinished": m.get("unfinished", 0),
        "errors": m.get("errors", 0),
    }


def rows(scenarios: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per scaling point (streams × answer length), both sides, plus the fixed cost per
    answer and the marginal cost per token fitted over the answer lengths of that stream count."""
    # The scaling points, and any other closed-loop run at a point's streams and rate (quick mode
    # pairs its latency run with one longer-answer point: enough for the fit).
    marked = {(s["clients"], s["rate"]) for s in scenarios if s.get("group") == "scaling"}
    points = [
        s
        for s in scenarios
        if (s["clients"], s["rate"]) in marked and not s.get("arrival_rate") and ("parley" in s or "baseline" in s)
    ]
    points.sort(key=lambda s: (s["clients"], s["tokens"]))
    out = []
    for s in points:
        row: dict[str, Any] = {"clients": s["clients"], "rate": s["rate"], "tokens": s["tokens"]}
        for side in SIDES:
            if side in s:
                row[side] = _side(s[side])
        out.append(row)
    for row in out:
        for side in SIDES:
            same = [r[side] for r in out if r["clients"] == row["clients"] and side in r]
            if side not in row:
                continue
            fit = stats.fixed_and_marginal([(m["cores"], m["answers_per_s"] or 0, m["tokens_per_s"]) for m in same])
            row[side]["fit"] = [round(fit[0] * 1e3, 3), round(fit[1] * 1e6, 1)] if fit else None
            # A negative cost is noise (or a saturated run), not a measurement: left out.
            sound = fit is not None and fit[0] >= 0 and fit[1] >= 0
            row[side]["cpu_per_answer_ms"] = round(fit[0] * 1e3, 2) if sound else None
            row[side]["marginal_cpu_per_token_us"] = round(fit[1] * 1e6, 1) if sound else None
        if "parley" in row and "baseline" in row:
            row["cpu_per_token_ratio"] = stats.ratio(
                row["parley"]["cpu_per_token_us"], row["baseline"]["cpu_per_token_us"]
            )
            row["tokens_per_s_ratio"] = stats.ratio(row["parley"]["tokens_per_s"], row["baseline"]["tokens_per_s"])
    return out


def _n(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def markdown(points: list[dict[str, Any]]) -> list[str]:
    if not points:
        return []
    lines = [
        "### Scaling curve (each cell: Parley / baseline)",
        "",
        "| streams × tok/s | answer tokens | delivered tok/s | token p50 (ms) | token p99 (ms) "
        "| TTFT overhead p50 (ms) | TTFT overhead p99 (ms) | CPU per token (µs) | CPU per answer (ms, fitted) "
        "| Parley / baseline CPU per token | answers/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in points:
        p, b = r.get("parley", {}), r.get("baseline", {})

        def pair(key: str, digits: int = 1, p=p, b=b) -> str:
            return f"{_n(p.get(key), digits)} / {_n(b.get(key), digits)}"

        lines.append(
            f"| {r['clients']} × {r['rate']:g} | {r['tokens']} | {pair('tokens_per_s', 0)} | {pair('token_p50_ms')} "
            f"| {pair('token_p99_ms')} | {pair('ttft_overhead_p50_ms')} | {pair('ttft_overhead_p99_ms')} "
            f"| {pair('cpu_per_token_us', 0)} | {pair('cpu_per_answer_ms', 2)} "
            f"| {_n(r.get('cpu_per_token_ratio'), 2)}× | {pair('answers_per_s', 1)} |"
        )
    lines += [
        "",
        "CPU per token: all processes' CPU over the window / tokens delivered in it. CPU per answer: the "
        "fixed cost of one answer, fitted from the short- and long-answer runs at the same stream count "
        '(`cores = a × answers/s + b × tokens/s`); "–" where the fit came out negative (the two runs could not '
        "separate the costs: noise, or saturation changing them; the raw fit is in results.json).",
        "",
    ]
    return lines


def plot(points: list[dict[str, Any]], path: Path) -> Path | None:
    """Four panels against streams (log axis): delivered tok/s, CPU per token, token p99, TTFT
    overhead p99; Parley solid, baseline dashed, one colour per answer length."""
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        ("tokens_per_s", "delivered tokens/s"),
        ("cpu_per_token_us", "CPU per delivered token (µs, all processes)"),
        ("token_p99_ms", "token latency p99 (ms)"),
        ("ttft_overhead_p99_ms", "TTFT overhead p99 (ms)"),
    )
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    lengths = sorted({r["tokens"] for r in points})
    colours = dict(zip(lengths, ("tab:blue", "tab:orange", "tab:green", "tab:red"), strict=False))
    for ax, (key, title) in zip(axes.flat, panels, strict=True):
        for tokens in lengths:
            mine = sorted((r for r in points if r["tokens"] == tokens), key=lambda r: r["clients"])
            for side, style in (("parley", "-"), ("baseline", "--")):
                xs = [r["clients"] for r in mine if r.get(side, {}).get(key) is not None]
                ys = [r[side][key] for r in mine if r.get(side, {}).get(key) is not None]
                if xs:
                    ax.plot(
                        xs, ys, style, marker="o", color=colours.get(tokens), label=f"{side}, {tokens}-token answers"
                    )
        ax.set_xscale("log")
        ax.set_xticks(sorted({r["clients"] for r in points}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        # A log axis labels its minor ticks too (3 × 10^1 …), over the stream counts.
        ax.get_xaxis().set_minor_formatter(matplotlib.ticker.NullFormatter())
        if key != "tokens_per_s":
            ax.set_yscale("log")
        ax.set_xlabel(f"concurrent streams ({points[0]['rate']:g} tok/s each)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
