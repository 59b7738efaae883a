"""``parley projections`` (a worker per projection of ``registry.ALL``, blocking until
SIGTERM/SIGINT) and ``parley projections rebuild`` (empty each one's tables, replay the stream)."""

from __future__ import annotations

import asyncio
import signal
import sys
import time

import asyncpg
from tqdm import tqdm

from events import streams
from projections import migrate, priority, registry, replay, store
from projections.errors import ProjectionError
from projections.fault import Fault
from projections.projection import Projection
from projections.worker import Worker, catch_up, stream_last_seq
from services import bus, eventloop, logs, runtime
from services.errors import StartupError
from services.settings import Settings

log = logs.get("projections")

RETRY_S = 1.0
STALL_S = 60.0  # rebuild, watching a running worker replay: give up after this long without progress


REBUILD_BATCH = 2000  # a replay has no one waiting for the next row: bigger transactions go faster


def _selected(settings: Settings) -> tuple[Projection, ...]:
    try:
        return registry.selected(settings.projections)
    except KeyError as exc:
        raise StartupError(f"PARLEY_PROJECTIONS: {exc.args[0]}") from None


def _worker(
    settings: Settings, js, conn: asyncpg.Connection, projection: Projection, batch_size: int | None = None
) -> Worker:
    return Worker(
        js,
        conn,
        projection=projection,
        batch_size=batch_size or settings.projection_batch,
        flush_s=settings.projection_flush_ms / 1000.0,
        settle_s=settings.projection_settle_ms / 1000.0,
        fault=Fault.parse(settings.projection_fault),
    )


async def _connect(settings: Settings):
    rt = runtime.resolve(settings)
    nc = await bus.connect(rt.nats_url, "parley-projections")
    js = nc.jetstream()
    await streams.ensure(js, bus.stream_settings(settings))
    try:
        await migrate.migrate(rt.database_url)
    except (OSError, asyncpg.PostgresError) as exc:
        await nc.close()
        raise StartupError(f"cannot reach PostgreSQL at DATABASE_URL: {exc}") from exc
    return rt, nc, js


async def serve(settings: Settings, stop: asyncio.Event, *, nice: int = 0) -> None:
    """Run a worker per projection until ``stop`` is set; ``nice``: their PostgreSQL backends'
    CPU priority, when local (``projections.priority``)."""
    rt, nc, js = await _connect(settings)
    tasks = [asyncio.create_task(_serve_one(settings, rt, js, p, stop, nice)) for p in _selected(settings)]
    try:
        await asyncio.gather(*tasks)
    finally:
        # One projection failing ends the others before the connection closes under them (they
        # would retry on a closed connection and keep the process from exiting). The stop event
        # too, and the cancel repeated: Python 3.11's wait_for (in nats-py and asyncpg) swallows
        # a cancel that comes as the result it awaits arrives, and the worker would go on.
        stop.set()
        pending = set(tasks)
        while pending:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=1.0)
        await asyncio.gather(*tasks, return_exceptions=True)  # retrieved: the first one is raised above
        await nc.close()


async def _serve_one(settings: Settings, rt, js, projection: Projection, stop: asyncio.Event, nice: int) -> None:
    """One projection's worker; survive database and NATS outages by re-syncing."""
    while not stop.is_set():
        conn = None
        try:
            conn = await asyncpg.connect(rt.database_url)
            await priority.lower_backend(conn, nice)
            worker = _worker(settings, js, conn, projection)
            if not await worker.acquire_lock(stop):
                break
            log.info("projection worker started", projection=projection.name, batch=settings.projection_batch)
            await worker.run(stop)
        except ProjectionError:
            raise
        # InternalClientError: asyncpg's word for a connection the server closed while idle.
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError) as exc:
            log.warning("database unavailable; retrying", error=str(exc) or type(exc).__name__)
            await _sleep(stop, RETRY_S)
        except Exception as exc:  # NATS outages and anything unforeseen: start over from the checkpoint
            log.exception("projection worker error; re-syncing", error=str(exc) or type(exc).__name__)
            await _sleep(stop, RETRY_S)
        finally:
            if conn is not None:
                await conn.close(timeout=5)
    log.info("projection worker stopped", projection=projection.name)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


async def _main(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(settings, stop, nice=settings.projection_nice)


def main(settings: Settings) -> None:
    priority.lower(0, settings.projection_nice)  # the live worker only: a rebuild has someone waiting
    try:
        eventloop.run(_main(settings))
    except ProjectionError as exc:
        raise StartupError(str(exc)) from exc


async def _rebuild(settings: Settings, full: bool = False) -> str:
    rt, nc, js = await _connect(settings)
    conn = await asyncpg.connect(rt.database_url)
    try:
        return "\n".join([await _rebuild_one(settings, js, conn, p, full) for p in _selected(settings)])
    finally:
        await conn.close()
        await nc.close()


async def _rebuild_one(settings: Settings, js, conn: asyncpg.Connection, projection: Projection, full: bool) -> str:
    name = projection.name
    worker = _worker(settings, js, conn, projection, max(settings.projection_batch, REBUILD_BATCH))
    # Nothing streams in during a rebuild: an empty fetch is the stream's end, so it waits briefly
    # (a filtered projection's last fetch waited the live flush interval for nothing).
    worker.flush_s = min(worker.flush_s, 0.02)
    worker.replay_from = None  # replayed here, with a progress bar, or every event when ``full``
    target = await stream_last_seq(js)
    leader = await worker.acquire_lock(wait=False)
    await store.reset(conn, projection)
    bar = tqdm(total=target, unit="ev", desc=f"rebuild {name}", file=sys.stderr, dynamic_ncols=True)
    with bar:
        if leader:
            started = time.perf_counter()
            done = None
            if not full:
                done = await replay.replay(js, conn, projection, target, bar)
            if done is None:
                await worker.sync()
                read, _ = await catch_up(worker, target, bar)
                if projection.filtered:  # over the events it never reads, to the stream's end
                    await worker.skip_unread()
                events = min(worker.checkpoint, target)
                seconds = time.perf_counter() - started
            else:
                read, events, seconds = done.applied, target, time.perf_counter() - started
                await worker.sync()  # the durable consumer from where the replay ended, for the live worker
        else:
            # A running worker holds the projection: it notices the reset and replays; we watch.
            started, seen, moved = time.perf_counter(), 0, time.monotonic()
            while seen < target:
                await asyncio.sleep(0.2)
                # the checkpoint, or the progress of the worker's replay (the checkpoint moves at its end)
                now = await store.read_checkpoint(conn, name) or await store.read_checkpoint(
                    conn, store.replay_row(name)
                )
                now = min(now, target)
                if now > seen:
                    bar.update(now - seen)
                    seen, moved = now, time.monotonic()
                elif time.monotonic() - moved > STALL_S:
                    raise ProjectionError(
                        f"the running projection worker applied nothing for {STALL_S:.0f} s"
                        f" (checkpoint {seen} of {target}); see its log"
                    )
            events, read, seconds = seen, None, time.perf_counter() - started
    if leader:  # the session lock must not outlive this projection's rebuild (the next one takes its own)
        if worker.sub is not None:
            await worker.sub.stop()
        await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", projection.lock_key)
    dead = await conn.fetchval("SELECT count(*) FROM projection_dead_letters WHERE projection = $1", name)
    return _said(name, events, read, seconds, dead, leader)


def _said(name: str, events: int, read: int | None, seconds: float, dead: int, leader: bool) -> str:
    """The rate of stream positions covered (what ``parley bench`` reads) and of events applied
    (the others: events the projection never reads, such as token deltas)."""
    rate = events / seconds if seconds > 0 else 0.0
    line = f"rebuilt {name}: {events} events in {seconds:.2f} s ({rate:,.0f} events/s), {dead} dead letters"
    if not leader:
        return line + " (replayed by the running worker)"
    return line + f"; {read:,} of them applied ({read / seconds if seconds > 0 else 0.0:,.0f}/s)"


def rebuild(settings: Settings) -> None:
    try:
        print(eventloop.run(_rebuild(settings)))
    except ProjectionError as exc:
        raise StartupError(str(exc)) from exc
