"""Steady load for the chaos run: N chat clients (the benchmark's client, which checks every token
frame for gaps and duplicates), each on its own session, spread over the edges. A client whose
edge goes away resumes on another one with ``after_seq``, as a real client with a list of
addresses would. The load can be paused (each client finishes its answer, then waits) so the
checks see a system at rest."""

from __future__ import annotations

import asyncio
import time

import httpx
from websockets.exceptions import ConnectionClosed

from services.bench.client import Client, Tally
from services.bench.plan import Answer, Plan

# Outcomes a user can see: a whole answer, or one that ended with an error (keeping its partial
# text), or a send refused with an error frame. Anything else was lost.
VISIBLE = {"completed", "failed", "cancelled", "error"}


class FailoverClient(Client):
    """The benchmark client, with several edge addresses: a connection that fails moves on."""

    def __init__(self, plan: Plan, number: int, session_id: str, tally: Tally, edges: list[str]) -> None:
        super().__init__(plan, number, session_id, tally)
        self.edges = edges
        self.edge = number % len(edges)
        self.moves = 0

    async def connect(self, after_seq: int | None = 0) -> None:
        deadline = time.monotonic() + 60
        while True:
            self.plan = Plan(**{**_fields(self.plan), "base_url": self.edges[self.edge]})
            try:
                await super().connect(after_seq)
                return
            except (OSError, TimeoutError, ConnectionClosed, Exception) as exc:  # refused, reset, 5xx on upgrade
                if time.monotonic() > deadline:
                    raise ConnectionError(f"no edge answered for 60 s: {exc}") from exc
                self.edge = (self.edge + 1) % len(self.edges)
                self.moves += 1
                await asyncio.sleep(0.2)

    async def _next(self):
        """As the benchmark client's, but a resumed socket's replayed frames go through the
        answer's accounting too (the benchmark's ``open`` reads past them to ``live``)."""
        try:
            return await self._read()
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else 1006
            self.tally.reconnects[str(code)] += 1
            await self.connect(self.last_seq)
            return None


def _fields(plan: Plan) -> dict:
    return {f: getattr(plan, f) for f in plan.__struct_fields__}


class Load:
    def __init__(self, edges: list[str], clients: int, tokens: int, rate: float, answer_timeout_s: float) -> None:
        self.edges = edges
        self.plan = Plan(
            kind="chat",
            base_url=edges[0],
            run=f"chaos{int(time.time())}",
            clients=clients,
            tokens=tokens,
            rate=rate,
            answer_timeout_s=answer_timeout_s,
        )
        self.tally = Tally(time.time())
        self.clients: list[FailoverClient] = []
        self.running = asyncio.Event()
        self.idle: list[asyncio.Event] = []
        self.tasks: list[asyncio.Task] = []
        self.failures: list[str] = []

    async def start(self) -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            for i in range(self.plan.clients):
                edge = self.edges[i % len(self.edges)]
                created = await http.post(f"{edge}/api/v1/chat/sessions", json={"title": f"chaos {i}"})
                created.raise_for_status()
                client = FailoverClient(self.plan, i, created.json()["id"], self.tally, self.edges)
                await client.open(0)
                self.clients.append(client)
                self.idle.append(asyncio.Event())
        self.running.set()
        self.tasks = [asyncio.create_task(self._loop(i)) for i in range(len(self.clients))]

    async def _loop(self, i: int) -> None:
        client, n = self.clients[i], 0
        while True:
            if not self.running.is_set():
                self.idle[i].set()
                await self.running.wait()
                self.idle[i].clear()
            try:
                await client.ask(f"{self.plan.run}.{i}.{n}")
            except Exception as exc:  # a client that cannot go on is a finding, not a crash of the run
                self.failures.append(f"client {i}: {type(exc).__name__}: {exc}")
                await asyncio.sleep(0.5)
                try:
                    await client.open(client.last_seq)
                except Exception as again:
                    self.failures.append(f"client {i}: cannot reopen: {again}")
            n += 1

    async def pause(self, within_s: float = 60.0) -> None:
        self.running.clear()
        async with asyncio.timeout(within_s):
            await asyncio.gather(*(event.wait() for event in self.idle))

    def resume(self) -> None:
        self.running.set()

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for client in self.clients:
            await client.close()

    def answers(self) -> list[Answer]:
        return [a for c in self.clients for a in c.answers]

    def anomalies(self) -> list[str]:
        return list(self.tally.checker.anomalies)
