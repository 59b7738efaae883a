"""A load-generator process: ``python -m services.bench.loadgen PLAN.json``.

Runs in its own process (uvloop) so it never shares an event loop with a server. It talks to
the coordinator by lines: it prints ``sessions`` once its sessions exist, waits for
``connect``, prints ``ready`` once every socket is live, then waits for ``go T0`` (chat: send
prompts from T0 until T0 + duration) or ``close`` (idle: just hold the sockets), writes its
``Result`` (msgpack) to ``plan.result_path`` and prints ``done``.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from pathlib import Path

import httpx
import msgspec
import uvloop

from services.bench.client import Client, Tally
from services.bench.plan import Plan, Replay, Result


def say(word: str) -> None:
    print(word, flush=True)


async def _stdin() -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def _expect(reader: asyncio.StreamReader, word: str) -> list[str]:
    line = (await reader.readline()).decode().split()
    if not line or line[0] != word:
        raise SystemExit(f"loadgen: expected {word!r} from the coordinator, got {line!r}")
    return line[1:]


async def _sessions(plan: Plan) -> list[str]:
    limit = asyncio.Semaphore(plan.connect_concurrency)
    async with httpx.AsyncClient(base_url=plan.base_url, timeout=60.0) as http:

        async def one(i: int) -> str:
            async with limit:
                response = await http.post("/api/v1/chat/sessions", json={"title": f"bench {plan.run} {i}"})
                response.raise_for_status()
                return response.json()["id"]

        return await asyncio.gather(*(one(plan.first_client + i) for i in range(plan.clients)))


async def _open_all(plan: Plan, clients: list[Client], tally: Tally) -> int:
    limit = asyncio.Semaphore(plan.connect_concurrency)

    async def one(client: Client) -> bool:
        async with limit:
            try:
                await client.open(0)
                return True
            except Exception as exc:
                tally.errors.append(f"client {client.number}: connect failed: {type(exc).__name__}: {exc}")
                return False

    return sum(await asyncio.gather(*(one(c) for c in clients)))


async def _replay_all(plan: Plan, clients: list[Client], tally: Tally) -> list[Replay]:
    limit = asyncio.Semaphore(plan.connect_concurrency)

    async def one(client: Client) -> Replay | None:
        async with limit:
            try:
                return await client.replay()
            except Exception as exc:
                tally.errors.append(f"replay of {client.session_id} failed: {type(exc).__name__}: {exc}")
                return None

    return [r for r in await asyncio.gather(*(one(c) for c in clients)) if r is not None]


async def _open_loop(plan: Plan, clients: list[Client], t0: float, tally: Tally) -> None:
    """Prompts at the scheduled times, each on a free socket; one arriving while every socket is
    busy waits for one (its time to first token counts from the schedule, so the wait shows)."""
    free: asyncio.Queue[Client] = asyncio.Queue()
    for client in clients:
        free.put_nowait(client)
    asking: set[asyncio.Task] = set()

    async def one(client: Client, nonce: str, due: float) -> None:
        try:
            await client.ask(nonce, scheduled_at=due)
        except asyncio.CancelledError:
            await client.stop_unfinished()
            raise
        except Exception as exc:
            tally.errors.append(f"client {client.number}: {type(exc).__name__}: {exc}")
        else:
            free.put_nowait(client)

    try:
        for n, offset in enumerate(plan.arrivals):
            due = t0 + offset
            await asyncio.sleep(max(0.0, due - time.time()))
            client = await free.get()
            task = asyncio.create_task(one(client, f"{plan.run}.{plan.first_client}.{n}", due))
            asking.add(task)
            task.add_done_callback(asking.discard)
        await asyncio.gather(*asking)
    finally:
        for task in asking:
            task.cancel()
        await asyncio.gather(*asking, return_exceptions=True)


async def run(plan: Plan) -> Result:
    reader = await _stdin()
    sessions = plan.sessions if plan.kind == "replay" else await _sessions(plan)
    say("sessions")
    await _expect(reader, "connect")
    tally = Tally()
    clients = [Client(plan, plan.first_client + i, sid, tally) for i, sid in enumerate(sessions)]
    connected = 0 if plan.kind == "replay" else await _open_all(plan, clients, tally)
    say("ready")
    result = Result(kind=plan.kind, clients=plan.clients, connected=connected, sessions=sessions)
    if plan.kind == "replay":
        t0 = float((await _expect(reader, "go"))[0])
        tally.t0 = result.t0 = t0
        await asyncio.sleep(max(0.0, t0 - time.time()))
        result.replays = await _replay_all(plan, clients, tally)
    elif plan.kind == "chat":
        t0 = float((await _expect(reader, "go"))[0])
        tally.t0 = result.t0 = t0
        deadline = t0 + plan.duration_s
        live = [c for c in clients if c.ws is not None]
        if plan.arrivals:
            tasks = [asyncio.create_task(_open_loop(plan, live, t0, tally))]
        else:
            tasks = [asyncio.create_task(c.run(t0, deadline)) for c in live]
        done, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - time.time()) + plan.drain_s)
        for task in pending:
            task.cancel()
        for task in done:
            if task.exception() is not None:
                tally.errors.append(f"client failed: {type(task.exception()).__name__}: {task.exception()}")
        await asyncio.gather(*pending, return_exceptions=True)
        result.answers = [a for c in clients for a in c.answers]
    else:
        tally.t0 = result.t0 = time.time()
        await _expect(reader, "close")
    result.ended_at = time.time()
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_user_s, result.cpu_system_s = usage.ru_utime, usage.ru_stime
    result.errors, result.anomalies = tally.errors, tally.checker.anomalies
    result.frames, result.frames_by_type = tally.frames, dict(tally.by_type)
    result.frame_buckets, result.reconnects = dict(tally.buckets), dict(tally.reconnects)
    result.restarts = tally.restarts
    return result


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m services.bench.loadgen PLAN.json")
    plan = msgspec.json.decode(Path(args[0]).read_bytes(), type=Plan)
    result = uvloop.run(run(plan))
    Path(plan.result_path).write_bytes(msgspec.msgpack.encode(result))
    say("done")


if __name__ == "__main__":
    main()
