"""nats-server's own CPU per stored event: the floor under Parley's CPU per token.

One process publishes token-delta-shaped events at a fixed rate into the chat stream, acks
pipelined as generation's are, and reads them back through Parley's live consumer set: the
edge's ordered push consumer on everything, the chat projection's pull consumer on everything,
the usage projection's on its four event types, generation's prompt queue and two generation
workers' session feeds. nats-server's CPU over the window, divided by the events stored, is
what every event costs before any Python process of Parley touches it. At one token per event
(a stream at 30 tok/s sends one every 33 ms) it bounds Parley's CPU per token from below.

``just bench-floor`` (``--rate``, ``--seconds``, ``--burst``: events per write, ``--procs``: the GOMAXPROCS values to compare,
run in turn ``--rounds`` times, ABAB). Runs its own nats-server in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from nats.js import api

from events import streams, subjects
from events.schema import GenerationDelta
from projections.usage import USAGE
from services import bus
from services.bench.usage import cpu_seconds
from services.embedded import EmbeddedNats
from services.generation.context import CONTEXT_TYPES

# A delta as generation stores it: one token, its answer, attempt and position.
DELTA = b'{"answer_id":"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0","attempt":1,"seq":17,"text":" token"}'


@dataclass(frozen=True, slots=True)
class Floor:
    procs: int  # GOMAXPROCS (0: Go's own choice)
    rate: float  # events/s offered
    burst: int  # events per write
    mem: bool  # the projections' consumers' state in memory
    acks: bool  # every event published with a reply subject, for its ack
    events: int
    acked: int
    delivered: dict[str, int]  # per reader
    seconds: float
    nats_cpu_s: float

    @property
    def us_per_event(self) -> float:
        return self.nats_cpu_s / max(self.events, 1) * 1e6

    @property
    def cores(self) -> float:
        return self.nats_cpu_s / self.seconds


async def _readers(js, delivered: Counter, stopping: asyncio.Event, mem: bool = False) -> list[asyncio.Task]:
    async def count(msg) -> None:
        delivered["edge"] += 1

    async def count_feed(msg) -> None:
        delivered["feed"] += 1

    await js.subscribe(
        subjects.ALL,
        stream=streams.CHAT_STREAM,
        cb=count,
        ordered_consumer=True,
        deliver_policy=api.DeliverPolicy.NEW,
        idle_heartbeat=2.0,
    )
    feed = api.ConsumerConfig(filter_subjects=[subjects.of_type(t) for t in CONTEXT_TYPES])
    for _ in range(2):
        await js.subscribe(
            "",
            stream=streams.CHAT_STREAM,
            cb=count_feed,
            ordered_consumer=True,
            deliver_policy=api.DeliverPolicy.NEW,
            idle_heartbeat=2.0,
            config=feed,
        )
    usage = list(USAGE.filter_subjects)  # the usage projection's own filters
    pulls = {
        "chat": await js.pull_subscribe(
            subjects.ALL,
            durable="floor-chat",
            stream=streams.CHAT_STREAM,
            config=api.ConsumerConfig(ack_policy=api.AckPolicy.ALL, mem_storage=mem or None),
        ),
        "usage": await js.pull_subscribe(
            "",
            durable="floor-usage",
            stream=streams.CHAT_STREAM,
            config=api.ConsumerConfig(ack_policy=api.AckPolicy.ALL, filter_subjects=usage, mem_storage=mem or None),
        ),
        "prompts": await js.pull_subscribe(subjects.PROMPTS, durable="floor-prompts", stream=streams.CHAT_STREAM),
    }

    async def pull(name: str, sub, batch: int) -> None:
        while not stopping.is_set():
            try:
                msgs = await sub.fetch(batch, timeout=1)
            except Exception:  # a timeout: nothing came (the prompt queue never gets any)
                continue
            delivered[name] += len(msgs)
            await msgs[-1].ack()  # AckAll: the last acks the batch, as the projection worker does

    return [asyncio.create_task(pull(n, s, 1 if n == "prompts" else 256)) for n, s in pulls.items()]


async def measure(
    rate: float,
    seconds: float,
    procs: int,
    sessions: int = 25,
    burst: int = 1,
    mem: bool = False,
    acks: bool = True,
) -> Floor:
    """``rate`` events/s for ``seconds`` over ``sessions`` subjects, against a fresh nats-server,
    ``burst`` events per write (what nats-server saves when several events share one write);
    ``mem``: the projections' durable consumers keep their state in memory, not in files;
    ``acks`` False: events are published without a reply subject, so JetStream stores them and
    sends no ack (what acking a batch of events, not each one, would save nats-server at most)."""
    with tempfile.TemporaryDirectory(prefix="parley-floor-") as root:
        server = await asyncio.to_thread(EmbeddedNats(Path(root) / "nats", procs=procs).start)
        try:
            return await _run(server, rate, seconds, procs, sessions, burst, mem, acks)
        finally:
            await asyncio.to_thread(server.stop)


async def _run(
    server: EmbeddedNats,
    rate: float,
    seconds: float,
    procs: int,
    sessions: int,
    burst: int,
    mem: bool,
    acks: bool,
) -> Floor:
    nc = await bus.connect(server.url, "parley-floor")
    stopping, delivered, acked = asyncio.Event(), Counter(), [0]
    tasks: list[asyncio.Task] = []
    try:
        js = nc.jetstream()
        await streams.ensure(js, streams.StreamSettings())
        tasks = await _readers(js, delivered, stopping, mem)
        inbox = nc.new_inbox()

        async def ack(msg) -> None:
            acked[0] += 1

        await nc.subscribe(f"{inbox}.*", cb=ack)
        names = [subjects.of_type(GenerationDelta, f"floor{i:04d}") for i in range(sessions)]
        await asyncio.sleep(0.5)  # consumers in place
        start, cpu0 = time.monotonic(), cpu_seconds(server.proc.pid)
        sent, due = 0, start
        while (now := time.monotonic()) - start < seconds:
            for _ in range(burst):  # in one step of the loop: nats-py writes them together
                await nc.publish(names[sent % sessions], DELTA, reply=f"{inbox}.{sent}" if acks else "")
                sent += 1
            due += burst / rate
            if due > now:
                await asyncio.sleep(due - now)
        for _ in range(40):  # the last acks and deliveries, at most 2 s
            if (acked[0] >= sent or not acks) and delivered["edge"] >= sent and delivered["chat"] >= sent:
                break
            await asyncio.sleep(0.05)
        elapsed, cpu = time.monotonic() - start, cpu_seconds(server.proc.pid) - cpu0
        return Floor(procs, rate, burst, mem, acks, sent, acked[0], dict(delivered), round(elapsed, 3), round(cpu, 4))
    finally:
        stopping.set()
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
        await nc.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench-floor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, action="append", help="events/s (repeatable; 750 and 3000)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--procs", default="0,1", help="GOMAXPROCS values, comma separated (0: every core)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--burst", default="1", help="events per write, comma separated values to compare")
    parser.add_argument(
        "--consumer-state",
        default="file",
        help="the projections' durable consumers' state: file, memory, or file,memory to compare",
    )
    parser.add_argument(
        "--acks", default="each", help="each (every event acked, as Parley's are), none, or each,none to compare"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per measurement")
    args = parser.parse_args(argv)
    procs = [int(p) for p in args.procs.split(",")]
    bursts = [int(b) for b in args.burst.split(",")]
    states = args.consumer_state.split(",")
    if not set(states) <= {"file", "memory"}:
        parser.error(f"--consumer-state: file or memory, got {args.consumer_state!r}")
    acking = args.acks.split(",")
    if not set(acking) <= {"each", "none"}:
        parser.error(f"--acks: each or none, got {args.acks!r}")
    print(
        "| events/s | events per write | GOMAXPROCS | consumer state | acks | nats-server µs per event | cores"
        " | events (acked, to the edge) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for rate in args.rate or [750.0, 3000.0]:
        for _ in range(args.rounds):
            for burst, p, state, ack in itertools.product(bursts, procs, states, acking):
                f = asyncio.run(measure(rate, args.seconds, p, burst=burst, mem=state == "memory", acks=ack == "each"))
                if args.json:
                    print(json.dumps({**asdict(f), "us_per_event": f.us_per_event}))
                else:
                    print(
                        f"| {rate:,.0f} | {burst} | {p or 'all'} | {state} | {ack} | {f.us_per_event:.0f} | {f.cores:.3f} | "
                        f"{f.events} ({f.acked}, {f.delivered.get('edge', 0)}) |"
                    )


if __name__ == "__main__":
    main()
