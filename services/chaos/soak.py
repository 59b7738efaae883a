"""``just soak``: a moderate steady load for a long time (30 min by default), sampling every
process's resident memory and open file descriptors and the chat stream's JetStream consumers.
Growth is the last fifth of the run against the fifth after warm-up (the first fifth is warm-up:
caches, pools and JIT-like lazy imports fill then); every figure must stay under 5 %.

    python -m services.chaos.soak [--minutes 30] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from services import bus
from services.bench.harness import Infra, System
from services.chaos import checks
from services.chaos.load import VISIBLE, Load

LIMIT = 0.05


@dataclass(frozen=True, slots=True)
class Sample:
    at: float
    values: dict[str, float]  # "edge-0 rss", "edge-0 fds", ..., "consumers"


def growth(samples: list[Sample], key: str) -> tuple[float, float, float]:
    """(after warm-up, at the end, relative growth) of one figure; pure."""
    n = len(samples)
    fifth = max(1, n // 5)
    early = [s.values[key] for s in samples[fifth : 2 * fifth] if key in s.values]
    late = [s.values[key] for s in samples[n - fifth :] if key in s.values]
    if not early or not late:
        return 0.0, 0.0, 0.0
    a, b = statistics.mean(early), statistics.mean(late)
    return a, b, (b - a) / a if a else 0.0


def tree_figures(pid: int, private: bool = False) -> tuple[float, float]:
    """Memory and open files of a process and its children. ``private``: memory no other process
    shares (USS), for PostgreSQL: its backends' RSS counts the shared buffer cache once per backend
    that touched a page, so it grows as the cache fills with a growing table, by design, up to
    ``shared_buffers``; a backend's own leak shows in its private memory."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0, 0.0
    memory = fds = 0.0
    for proc in procs:
        try:
            memory += proc.memory_full_info().uss if private else proc.memory_info().rss
            fds += proc.num_fds()
        except psutil.NoSuchProcess:
            pass
    return memory, fds


async def sample(infra: Infra, system: System, js) -> Sample:
    pids = {p.name: p.pid for p in system.processes if p.alive}
    pids["nats-server"] = infra.nats.proc.pid
    pids["postgres"] = infra.postgres.proc.pid  # with its backends
    values = {}
    for name, pid in pids.items():
        private = name == "postgres"
        memory, fds = tree_figures(pid, private)
        values[f"{name} {'private' if private else 'rss'}"], values[f"{name} fds"] = memory, fds
    values["consumers"] = float(len(await checks.consumer_names(js)))
    return Sample(time.time(), values)


def report(samples: list[Sample], minutes: float, answers: int, lost: int, duplicated: int) -> tuple[str, bool]:
    keys = sorted({k for s in samples for k in s.values})
    rows = [
        f"soak: {minutes:g} min, {len(samples)} samples, {answers} answers, {lost} lost, {duplicated} duplicated",
        "",
        "| figure | after warm-up | at the end | growth |",
        "| --- | ---: | ---: | ---: |",
    ]
    ok = lost == 0 and duplicated == 0
    for key in keys:
        a, b, g = growth(samples, key)
        shown = (lambda v: f"{v / 2**20:.1f} MiB") if key.endswith(("rss", "private")) else (lambda v: f"{v:.1f}")
        flag = "" if g < LIMIT else " **over 5 %**"
        ok = ok and g < LIMIT
        rows.append(f"| {key} | {shown(a)} | {shown(b)} | {g * 100:+.1f} %{flag} |")
    return "\n".join(rows), ok


async def soak(workdir: Path, minutes: float, clients: int, every_s: float) -> tuple[str, bool]:
    infra = await Infra(workdir / "infra").start()
    system = System(
        infra.nats_url,
        infra.database_url,
        workdir / "system",
        generation_workers=2,
        edges=1,
        llm_args=["--tokens-per-s", "0"],
    )
    samples: list[Sample] = []
    try:
        await asyncio.to_thread(system.start)
        load = Load(system.edge_urls, clients, tokens=40, rate=20.0, answer_timeout_s=60)
        await load.start()
        nc = await bus.connect(infra.nats_url, "soak-sampler")
        try:
            end = time.monotonic() + minutes * 60
            while time.monotonic() < end:
                samples.append(await sample(infra, system, nc.jetstream()))
                await asyncio.sleep(every_s)
        finally:
            await nc.close()
        await load.pause(90)
        answers = load.answers()
        lost = sum(a.outcome not in VISIBLE for a in answers)
        lost += sum(a.startswith(("gap", "short")) for a in load.anomalies())
        duplicated = sum(a.startswith(("duplicate", "overrun")) for a in load.anomalies())
        await load.stop()
    finally:
        await asyncio.to_thread(system.stop)
        infra.stop()
    return report(samples, minutes, len(answers), lost, duplicated)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=8, help="concurrent chat streams (moderate load)")
    parser.add_argument("--every", type=float, default=None, help="seconds between samples (default: 60 samples)")
    args = parser.parse_args(argv)
    every = args.every or max(1.0, args.minutes * 60 / 60)
    text, ok = asyncio.run(soak(Path(tempfile.mkdtemp(prefix="parley-soak-")), args.minutes, args.clients, every))
    print(text)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
