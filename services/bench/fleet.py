"""The coordinator's side of the load generators: start several ``loadgen`` processes, walk
them through sessions -> connect -> ready -> go/close -> done together, merge their results."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

import msgspec

from services.bench import arrivals
from services.bench.errors import BenchError
from services.bench.plan import Plan, Result


def split(clients: int, processes: int) -> list[tuple[int, int]]:
    """``(first_client, clients)`` per process, as even as possible, no empty process."""
    processes = max(1, min(processes, clients)) if clients else 1
    base, extra = divmod(clients, processes)
    out, first = [], 0
    for i in range(processes):
        n = base + (1 if i < extra else 0)
        out.append((first, n))
        first += n
    return out


def merge(results: list[Result]) -> Result:
    merged = Result(kind=results[0].kind if results else "chat", clients=sum(r.clients for r in results))
    buckets: Counter[int] = Counter()
    by_type: Counter[str] = Counter()
    reconnects: Counter[str] = Counter()
    for r in results:
        merged.connected += r.connected
        merged.sessions += r.sessions
        merged.answers += r.answers
        merged.replays += r.replays
        merged.errors += r.errors
        merged.anomalies += r.anomalies
        merged.frames += r.frames
        merged.restarts += r.restarts
        merged.cpu_user_s += r.cpu_user_s
        merged.cpu_system_s += r.cpu_system_s
        buckets.update(r.frame_buckets)
        by_type.update(r.frames_by_type)
        reconnects.update(r.reconnects)
    merged.frame_buckets, merged.frames_by_type, merged.reconnects = dict(buckets), dict(by_type), dict(reconnects)
    merged.t0 = min((r.t0 for r in results), default=0.0)
    merged.ended_at = max((r.ended_at for r in results), default=0.0)
    return merged


def _files(workdir: Path, plan: Plan, i: int):
    """The plan file for process ``i``, and its log opened for the child's stderr."""
    path = workdir / f"loadgen-{plan.run}-{i}.json"
    path.write_bytes(msgspec.json.encode(plan))
    return path, open(workdir / f"loadgen-{plan.run}-{i}.log", "ab")


def _result(plan: Plan) -> Result:
    return msgspec.msgpack.decode(Path(plan.result_path).read_bytes(), type=Result)


class Fleet:
    """``async with Fleet(plan, processes, workdir) as fleet: await fleet.connect(); ...``"""

    def __init__(self, plan: Plan, processes: int, workdir: Path) -> None:
        self.plan, self.workdir = plan, workdir
        self.plans: list[Plan] = []
        parts = split(plan.clients, processes)
        for i, (first, n) in enumerate(parts):
            self.plans.append(
                msgspec.structs.replace(
                    plan,
                    clients=n,
                    first_client=first,
                    total_clients=plan.clients,
                    sessions=plan.sessions[first : first + n],
                    arrivals=arrivals.share(plan.arrivals, len(parts), i),
                    result_path=str(workdir / f"loadgen-{plan.run}-{i}.msgpack"),
                )
            )
        self.procs: list[asyncio.subprocess.Process] = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    async def __aenter__(self) -> Fleet:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for i, plan in enumerate(self.plans):
            path, log = _files(self.workdir, plan, i)
            self.procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "services.bench.loadgen",
                    str(path),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=log,
                )
            )
            log.close()
        await self._all_say("sessions", within=120)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    async def _all_say(self, word: str, within: float) -> None:
        async def one(i: int, proc: asyncio.subprocess.Process) -> None:
            assert proc.stdout is not None
            line = (await proc.stdout.readline()).decode().strip()
            if line != word:
                log = self.workdir / f"loadgen-{self.plan.run}-{i}.log"
                tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
                raise BenchError(f"load generator {i} said {line!r} instead of {word!r}:\n{tail}")

        try:
            async with asyncio.timeout(within):
                await asyncio.gather(*(one(i, p) for i, p in enumerate(self.procs)))
        except TimeoutError:
            raise BenchError(f"load generators did not say {word!r} within {within:.0f}s") from None

    def _tell(self, line: str) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(f"{line}\n".encode())

    async def connect(self) -> None:
        """Open every socket (each waits for ``live``)."""
        self._tell("connect")
        await self._all_say("ready", within=300)

    async def go(self, delay_s: float = 0.5) -> float:
        """Start the chat clients at a common ``t0`` (returned), shortly from now."""
        t0 = time.time() + delay_s
        self._tell(f"go {t0!r}")
        return t0

    async def finish(self, idle_close: bool = False) -> Result:
        """Wait for the end (idle fleets: close the sockets first) and merge the results."""
        if idle_close:
            self._tell("close")
        timeout = self.plan.duration_s + self.plan.drain_s + 120
        await self._all_say("done", within=timeout)
        for proc in self.procs:
            await proc.wait()
        return merge([_result(p) for p in self.plans])
