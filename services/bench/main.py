"""``parley bench [--quick] [options]`` (``just bench``): the whole system under WebSocket load,
next to a direct baseline; results in ``bench-results/<timestamp>/`` (results.json, results.md,
latency.png) and the table on stdout.

Two load scenarios run on Parley and then on the baseline: ``latency`` (``--clients`` streams at
``--rate`` tokens/s; full default 200 × 30) and ``throughput`` (``--throughput-clients`` at
``--throughput-rate``; full default 1,000 × 20). ``--quick`` is a smaller run for CI-like checks
(under two minutes). The system runs with the settings of this environment (PARLEY_CHUNK_FLUSH_MS,
PARLEY_PROJECTION_FLUSH_MS, ...), so ``PARLEY_CHUNK_FLUSH_MS=5 just bench`` measures that choice.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from services import logs
from services.bench import profile, report
from services.bench.errors import BadArguments, BenchError
from services.bench.runner import Load, Options, Run
from services.settings import Settings

# (full, quick) defaults
DEFAULTS = {
    "clients": (200, 40),
    "rate": (30.0, 30.0),
    "tokens": (60, 40),
    "duration": (30.0, 6.0),
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
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="parley bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small loads, short phases: under two minutes")
    p.add_argument("--clients", type=int, help="latency scenario: concurrent streams (full 200, quick 40)")
    p.add_argument("--rate", type=float, help="latency scenario: tokens/s per stream (30)")
    p.add_argument("--tokens", type=int, help="latency scenario: tokens per answer (full 60, quick 40)")
    p.add_argument("--duration", type=float, help="seconds per scenario and system (full 30, quick 6)")
    p.add_argument(
        "--throughput-clients", type=int, help="throughput scenario: streams (full 1000, quick 150; 0: skip)"
    )
    p.add_argument("--throughput-rate", type=float, help="throughput scenario: tokens/s per stream (20)")
    p.add_argument("--throughput-tokens", type=int, help="throughput scenario: tokens per answer (40)")
    p.add_argument("--idle", type=int, help="idle sockets for the memory measurement (full 1000, quick 200)")
    p.add_argument("--loadgens", type=int, help="load-generator processes (full 2, quick 1)")
    p.add_argument("--generation-workers", type=int, default=2, help="generation processes (2)")
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

    for name in ("clients", "tokens", "idle", "loadgens", "resume_repeats", "replay_sessions"):
        if value(name) < 1:
            raise BadArguments(f"--{name.replace('_', '-')} must be at least 1, got {value(name)}")
    for name in ("throughput_clients",):
        if value(name) < 0:
            raise BadArguments(f"--{name.replace('_', '-')} must be 0 or more, got {value(name)}")
    for name in ("rate", "throughput_rate", "duration"):
        if value(name) <= 0:
            raise BadArguments(f"--{name.replace('_', '-')} must be above 0, got {value(name)}")
    if args.generation_workers < 1:
        raise BadArguments(f"--generation-workers must be at least 1, got {args.generation_workers}")
    if args.resume_tokens < 2 or value("resume_rate") <= 0:
        raise BadArguments("--resume-tokens must be at least 2 and --resume-rate above 0")
    if value("profile") < 0:
        raise BadArguments(f"--profile must be 0 or more seconds, got {value('profile')}")
    loads = [Load("latency", value("clients"), value("rate"), value("tokens"), value("duration"))]
    if value("throughput_clients"):
        loads.append(
            Load(
                "throughput",
                value("throughput_clients"),
                value("throughput_rate"),
                value("throughput_tokens"),
                value("duration"),
            )
        )
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
        baseline=not args.no_baseline,
        out=args.out,
        keep_work=args.keep_work,
    )


def main(settings: Settings, argv: list[str]) -> None:
    chosen = options(argv)
    if chosen.profile_s and profile.available() is None:
        logs.get("bench").warning("py-spy is not installed (pip install py-spy): running without the profile")
    directory = chosen.out / time.strftime("%Y%m%d-%H%M%S")
    run = Run(chosen, settings)
    try:
        results = asyncio.run(run(directory))
    except BenchError:
        raise
    except Exception as exc:
        raise BenchError(f"{type(exc).__name__}: {exc} (process logs in {directory / 'logs'})") from exc
    text = report.write(results, run.latencies, directory)
    print(text)
    print(f"\nresults: {directory}/results.json, results.md, latency.png")
