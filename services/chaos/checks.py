"""What must hold after every fault, checked on a system at rest: the projections equal a fresh
rebuild from the stream, no JetStream consumer is left over, no process of the run is orphaned."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
from nats.js import JetStreamContext

from events.streams import CHAT_STREAM
from projections import migrate

# Every process the chaos run starts carries this variable (children inherit it): how orphans are found.
MARKER = "CHAOS_RUN_ID"  # not PARLEY_*: the harness passes those on only when asked


async def tables_of(dsn: str) -> dict[str, list[dict]]:
    """Every row of every table, in primary-key order; columns a server clock fills (DEFAULT
    now(), serials) are left out: they say when a row was written, which a rebuild changes."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = [r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")]
        out = {}
        for table in sorted(tables):
            clock = {
                r[0]
                for r in await conn.fetch(
                    "SELECT column_name FROM information_schema.columns WHERE table_name=$1"
                    " AND (column_default LIKE '%now()%' OR column_default LIKE 'nextval%')",
                    table,
                )
            }
            rows = await conn.fetch(f'SELECT * FROM "{table}" ORDER BY 1')
            out[table] = [{k: v for k, v in dict(r).items() if k not in clock} for r in rows]
        return out
    finally:
        await conn.close()


async def caught_up(js: JetStreamContext, dsn: str, within_s: float = 60.0) -> int:
    """Wait until the projection checkpoint reaches the stream's last sequence; return it."""
    last = (await js.stream_info(CHAT_STREAM)).state.last_seq
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + within_s
        while True:
            seq = await conn.fetchval("SELECT min(last_stream_seq) FROM projection_checkpoints") or 0
            if seq >= last:
                return last
            if time.monotonic() > deadline:
                raise TimeoutError(f"projections at {seq} of {last} after {within_s:.0f} s")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def differs_from_rebuild(nats_url: str, admin_dsn: str, live_dsn: str, env: dict[str, str]) -> list[str]:
    """Rebuild the projections into a scratch database and compare every row with the live one."""
    name = f"chaos_rebuild_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    scratch = admin_dsn.rsplit("/", 1)[0] + f"/{name}"
    try:
        await migrate.migrate(scratch)
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "services.cli", "projections", "rebuild"],
            env=env | {"NATS_URL": nats_url, "DATABASE_URL": scratch},
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            return [f"rebuild failed: {done.stderr[-500:]}"]
        live, fresh = await tables_of(live_dsn), await tables_of(scratch)
        problems = []
        for table in sorted(set(live) | set(fresh)):
            if live.get(table) != fresh.get(table):
                problems.append(
                    f"table {table}: {len(live.get(table, []))} live rows differ from {len(fresh.get(table, []))} rebuilt"
                )
        return problems
    finally:
        admin = await asyncpg.connect(admin_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def consumer_names(js: JetStreamContext) -> list[str]:
    return sorted(c.name for c in await js.consumers_info(CHAT_STREAM))


async def consumers_settle(js: JetStreamContext, allowed: int, within_s: float) -> tuple[int, float]:
    """Wait until at most ``allowed`` consumers remain (a dead client's ephemeral ones expire on
    the server); return (count, seconds waited). More than ``allowed`` after ``within_s``: leaked."""
    started = time.monotonic()
    while True:
        count = len(await consumer_names(js))
        if count <= allowed or time.monotonic() - started > within_s:
            return count, time.monotonic() - started
        await asyncio.sleep(0.5)


def marked_processes(run: str) -> dict[int, int]:
    """pid -> parent pid of every live process carrying ``MARKER=run`` in its environment."""
    needle = f"{MARKER}={run}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            stat = (entry / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":  # a zombie is dead, only not yet reaped
                continue
            found[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return found


def orphans(run: str) -> list[int]:
    """Marked processes whose parent is neither this process nor another marked one."""
    procs = marked_processes(run)
    return sorted(pid for pid, parent in procs.items() if parent != os.getpid() and parent not in procs)


async def stored_chunks(js: JetStreamContext, session_id: str, message_id: str) -> dict[int, list[int]]:
    """attempt -> chunk indexes of one answer as the stream holds them (to tell a delivery gap
    from an event that was never stored)."""
    from events import codec, subjects
    from events.schema import GenerationChunk

    sub = await js.subscribe(subjects.session(session_id), ordered_consumer=True)
    found: dict[int, list[int]] = {}
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=1.0)
            except TimeoutError:
                return found
            event = codec.decode(msg.data, msg.subject)
            if isinstance(event, GenerationChunk) and event.message_id == message_id:
                found.setdefault(event.attempt, []).append(event.index)
            if msg.metadata.num_pending == 0:
                return found
    finally:
        await sub.unsubscribe()
