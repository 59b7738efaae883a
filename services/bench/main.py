"""``parley bench [--quick] [options]`` (``just bench``): the whole system under WebSocket load,
next to a direct baseline; results in ``bench-results/<timestamp>/`` (results.json, results.md,
latency.png) and the table on stdout.

Each scenario runs on Parley and then on the baseline: ``single`` (one stream, one prompt at a
time: the idle time to first token), ``latency`` (``--clients`` streams at ``--rate``; quick only),
``throughput`` (``--throughput-clients`` at ``--throughput-rate``; full 150 and 1,000 × 20), the
scaling curve (``--scaling`` streams × ``--scaling-tokens`` answer lengths at 30 tok/s; full
25 … 800 × 40 and 400 tokens) and ``open`` (Poisson arrivals at ``--open-rate`` prompts/s: an
open loop shows queueing that a closed loop hides). Every Parley scenario also reports the bytes
JetStream stored and, from OpenTelemetry spans, each prompt's waterfall. ``--quick`` is a
smaller run (about two minutes). The system runs with the settings of this environment (PARLEY_CHUNK_FLUSH_MS,
PARLEY_PROJECTION_FLUSH_MS, ...), so ``PARLEY_CHUNK_FLUSH_MS=5 just bench`` measures that choice.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from services import logs
from services.bench import arrivals, profile, report
from services.bench.errors import BadArguments, BenchError
from services.bench.runner import Load, Options, Run
from services.settings import Settings

# (full, quick) defaults
DEFAULTS = {
    "clients": (0, 40),
    "rate": (30.0, 30.0),
    "tokens": (60, 40),
    "duration": (10.0, 6.0),
    "throughput_clients": (1000, 150),
    "throughput_rate": (20.0, 20.0),
    "throughput_tokens": (40, 40),
    "idle": (1000, 200),
    "loadgens": (2, 1),
    "resume_repeats": (3, 1),
    # Full: slow enough that every token is its own event (the worst case to replay); quick: fast.
    "resume_rate": (50.0, 1000.0),
    "replay_sessions": (200, 40),
    "profile": (10.0, 0.0),
    "single_tokens": (20, 20),
    "single_duration": (10.0, 3.0),
    "scaling": ("25,50,100,200,400,800", "40"),
    "scaling_tokens": ("40,400", "90"),
    "scaling_rate": (30.0, 30.0),
    "open_rate": (75.0, 25.0),
    "open_tokens": (40, 40),
    "extra_throughput_clients": (150, 0),
    "sync_compare": ("always", ""),
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="parley bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small loads, short phases: under two minutes")
    p.add_argument("--clients", type=int, help="latency scenario: concurrent streams (full 0: skip, quick 40)")
    p.add_argument("--rate", type=float, help="latency scenario: tokens/s per stream (30)")
    p.add_argument("--tokens", type=int, help="latency scenario: tokens per answer (full 60, quick 40)")
    p.add_argument("--duration", type=float, help="seconds per scenario and system, at least (full 10, quick 6)")
    p.add_argument(
        "--throughput-clients", type=int, help="throughput scenario: streams (full 1000, quick 150; 0: skip)"
    )
    p.add_argument("--throughput-rate", type=float, help="throughput scenario: tokens/s per stream (20)")
    p.add_argument("--throughput-tokens", type=int, help="throughput scenario: tokens per answer (40)")
    p.add_argument("--extra-throughput-clients", type=int, help="a second throughput point (full 150, quick 0: skip)")
    p.add_argument("--single-tokens", type=int, help="one stream, one prompt at a time: tokens per answer (20)")
    p.add_argument("--single-duration", type=float, help="its seconds (full 10, quick 3; 0: skip)")
    p.add_argument("--scaling", help="scaling curve: stream counts, comma separated (full 25,...,800, quick 40)")
    p.add_argument("--scaling-tokens", help="scaling curve: answer lengths (full 40,400; quick 90; '': no curve)")
    p.add_argument("--scaling-rate", type=float, help="scaling curve: tokens/s per stream (30)")
    p.add_argument(
        "--open-rate", type=float, help="open loop: prompts per second, Poisson (full 75, quick 25; 0: skip)"
    )
    p.add_argument("--open-tokens", type=int, help="open loop: tokens per answer (40), at --rate")
    p.add_argument("--trace-sample", type=float, default=0.2, help="share of prompts traced for the waterfall (0.2)")
    p.add_argument(
        "--profile-scenario", default="", help="the scenario profiled (default: scale-100x40, else heaviest)"
    )
    p.add_argument(
        "--sync-compare",
        help="run the profiled scenario again with nats-server's sync_interval at this (full: always; '': skip)",
    )
    p.add_argument("--idle", type=int, help="idle sockets for the memory measurement (full 1000, quick 200)")
    p.add_argument("--loadgens", type=int, help="load-generator processes (full 2, quick 1)")
    p.add_argument(
        "--generation-workers",
        type=int,
        default=1,
        help="generation processes (1, as `parley up` starts by default)",
    )
    p.add_argument("--resume-tokens", type=int, default=2000, help="length of the resumed answer (2000)")
    p.add_argument("--resume-rate", type=float, help="its token rate (full 50: one event per token; quick 1000)")
    p.add_argument("--resume-repeats", type=int, help="resume rounds (full 3, quick 1)")
    p.add_argument("--replay-sessions", type=int, help="sessions replayed at once (full 200, quick 40)")
    p.add_argument("--profile", type=float, dest="profile", help="seconds of py-spy profiling (full 10, quick 0: off)")
    p.add_argument("--no-baseline", action="store_true", help="skip the direct baseline")
    p.add_argument("--out", type=Path, default=Path("bench-results"), help="results folder (bench-results)")
    p.add_argument("--keep-work", action="store_true", help="keep the temporary data (NATS, PostgreSQL, logs)")
    return p


def options(argv: list[str]) -> Options:
    args = parser().parse_args(argv)
    pick = 1 if args.quick else 0

    def value(name: str):
        given = getattr(args, name)
        return DEFAULTS[name][pick] if given is None else given

    for name in ("tokens", "idle", "loadgens", "resume_repeats", "replay_sessions", "single_tokens", "open_tokens"):
        if value(name) < 1:
            raise BadArguments(f"--{name.replace('_', '-')} must be at least 1, got {value(name)}")
    for name in ("clients", "throughput_clients", "extra_throughput_clients", "single_duration", "open_rate"):
        if value(name) < 0:
            raise BadArguments(f"--{name.replace('_', '-')} must be 0 or more, got {value(name)}")
    if not 0 <= args.trace_sample <= 1:
        raise BadArguments(f"--trace-sample must be between 0 and 1, got {args.trace_sample}")
    for name in ("rate", "throughput_rate", "duration", "scaling_rate"):
        if value(name) <= 0:
            raise BadArguments(f"--{name.replace('_', '-')} must be above 0, got {value(name)}")
    if args.generation_workers < 1:
        raise BadArguments(f"--generation-workers must be at least 1, got {args.generation_workers}")
    if args.resume_tokens < 2 or value("resume_rate") <= 0:
        raise BadArguments("--resume-tokens must be at least 2 and --resume-rate above 0")
    if value("profile") < 0:
        raise BadArguments(f"--profile must be 0 or more seconds, got {value('profile')}")
    duration, rate = value("duration"), value("rate")
    loads = []
    if value("single_duration"):
        loads.append(Load("single", 1, rate, value("single_tokens"), value("single_duration")))
    if value("clients"):
        loads.append(Load("latency", value("clients"), rate, value("tokens"), duration))
    for clients in (value("extra_throughput_clients"), value("throughput_clients")):
        if clients:
            name = "throughput" if clients == value("throughput_clients") else f"throughput-{clients}"
            loads.append(Load(name, clients, value("throughput_rate"), value("throughput_tokens"), duration))
    scale_rate = value("scaling_rate")
    for n, tokens in enumerate(_counts(value("scaling_tokens"), "--scaling-tokens")):
        for clients in _counts(value("scaling"), "--scaling"):
            # Long enough for every client to be streaming and then measured for as long again.
            seconds = max(duration, round(2.0 * tokens / scale_rate, 1))
            loads.append(Load(f"scale-{clients}x{tokens}", clients, scale_rate, tokens, seconds, group="scaling"))
        if n == 0 and value("open_rate"):  # before the long answers: the longest part of a run
            loads.append(_open(value, rate, duration))
    if value("open_rate") and not any(load.name == "open" for load in loads):
        loads.append(_open(value, rate, duration))
    if not loads:
        raise BadArguments("nothing to measure: every scenario is switched off")
    for load in loads:
        if load.answer_s > load.duration_s / 2:
            raise BadArguments(
                f"{load.name}: an answer takes {load.answer_s:g}s ({load.tokens} tokens at {load.rate:g}/s); "
                f"--duration {load.duration_s:g} must be at least twice that"
            )
    return Options(
        mode="quick" if args.quick else "full",
        loads=tuple(loads),
        loadgens=value("loadgens"),
        idle=value("idle"),
        generation_workers=args.generation_workers,
        resume_tokens=args.resume_tokens,
        resume_rate=value("resume_rate"),
        resume_repeats=value("resume_repeats"),
        replay_sessions=value("replay_sessions"),
        profile_s=value("profile"),
        trace_sample=args.trace_sample,
        sync_compare=value("sync_compare"),
        profile_scenario=args.profile_scenario
        or next((load.name for load in loads if load.name == "scale-100x40"), ""),
        baseline=not args.no_baseline,
        out=args.out,
        keep_work=args.keep_work,
    )


def _open(value, rate: float, duration: float) -> Load:
    answer_s = value("open_tokens") / rate
    sockets = arrivals.sockets_needed(value("open_rate"), answer_s)
    return Load("open", sockets, rate, value("open_tokens"), duration, arrival_rate=value("open_rate"))


def _counts(text: str, option: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BadArguments(f"{option} must be whole numbers separated by commas, got {text!r}") from None
    if any(c < 1 for c in counts):
        raise BadArguments(f"{option} must be at least 1 each, got {text!r}")
    return counts


def main(settings: Settings, argv: list[str]) -> None:
    chosen = options(argv)
    if chosen.profile_s and profile.available() is None:
        logs.get("bench").warning("py-spy is not installed (pip install py-spy): running without the profile")
    directory = chosen.out / time.strftime("%Y%m%d-%H%M%S")
    run = Run(chosen, settings)
    try:
        results = asyncio.run(run(directory))
    except (Exception, KeyboardInterrupt, asyncio.CancelledError) as exc:
        # What was measured before the failure (or Ctrl-C) is still written, marked as cut short.
        if run.results.get("scenarios"):
            run.results["cut_short"] = f"{type(exc).__name__}: {exc}"
            report.write(run.results, run.latencies, directory)
            print(f"\nthe run was cut short; what it measured: {directory}/results.md")
        if isinstance(exc, asyncio.CancelledError):
            raise SystemExit(130) from None
        if isinstance(exc, BenchError | KeyboardInterrupt):
            raise
        raise BenchError(f"{type(exc).__name__}: {exc} (process logs in {directory / 'logs'})") from exc
    text = report.write(results, run.latencies, directory)
    print(text)
    print(f"\nresults: {directory}/results.json, results.md, latency.png")
