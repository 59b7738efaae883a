"""Fixtures: every test gets a real NATS server with JetStream (its own, unless NATS_URL is set)
and its own database on a real PostgreSQL (one server per run). See tests/support/servers.py."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from events import streams
from projections import migrate
from services import bus
from services.settings import Settings, load
from tests.support.servers import NatsUnderTest, PostgresUnderTest, nats_server, postgres_server


@pytest.fixture
def nats(tmp_path) -> NatsUnderTest:
    """A NATS server with JetStream, for this test only; ``kill()``/``restart()`` for fault tests."""
    with nats_server(tmp_path) as server:
        yield server


@pytest.fixture
async def nc(nats):
    """A connected client, with Parley's streams created (and emptied first, on a shared server)."""
    client = await bus.connect(nats.url, "test")
    js = client.jetstream()
    if nats.embedded is None:  # a shared server: start from an empty stream
        try:
            await js.delete_stream(streams.CHAT_STREAM)
        except Exception:
            pass
    await streams.ensure(js, streams.StreamSettings())
    yield client
    await client.close()


@pytest.fixture
def js(nc):
    return nc.jetstream()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory) -> PostgresUnderTest:
    with postgres_server(tmp_path_factory.mktemp("pg")) as server:
        yield server


@pytest.fixture
async def database_url(postgres):
    """A fresh, migrated database for this test; dropped afterwards."""
    name = await _create_database(postgres)
    dsn = postgres.dsn_for(name)
    await migrate.migrate(dsn)
    yield dsn
    await _drop_database(postgres.admin_dsn, name)


async def _create_database(postgres) -> str:
    """A new, empty database on the test server (not migrated); its name."""
    name = postgres.new_database_name()
    admin = await asyncpg.connect(postgres.admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name


async def _drop_database(admin_dsn: str, name: str) -> None:
    # FORCE ends the test's leftover connections; on a loaded machine the server may drop ours
    # while it does, so try again before giving up (an own server's data dies with the run anyway).
    for attempt in range(3):
        try:
            admin = await asyncpg.connect(admin_dsn)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            finally:
                await admin.close()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            if attempt == 2:
                raise
            await asyncio.sleep(0.5)


@pytest.fixture
async def db(database_url):
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
def settings(nats, tmp_path) -> Settings:
    """Settings a service under test would read from its environment."""
    return load({"NATS_URL": nats.url, "PARLEY_DATA_DIR": str(tmp_path / "data"), "PARLEY_LOG_FORMAT": "json"})


@pytest.fixture
def make_system(nats, database_url, tmp_path):
    """Factory for the whole system as real processes (tests/support/system.py), stopped afterwards.

    ``make_system(generation_workers=2, edges=2, llm_args=["--tokens-per-s", "50"])``
    """
    from tests.support.system import System

    started = []

    def make(**kwargs) -> System:
        system = System(nats.url, database_url, tmp_path / f"system-{len(started)}", **kwargs)
        started.append(system)
        return system.start()

    yield make
    for system in started:
        system.stop()


@pytest.fixture
def edge_factory(nats, database_url, tmp_path):
    """Factory for `parley edge` processes (real subprocesses) on this test's NATS and database,
    without generation or projections: ``url = edge_factory(PARLEY_JWT_SECRET="s")``.
    ``edge_factory.processes`` holds the started ``Process`` objects (kill/stop for fault tests)."""
    import os
    import sys

    from services.embedded import free_port
    from tests.support.system import Process

    processes = []

    def start(**extra: str) -> str:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "NATS_URL", "DATABASE_URL"))}
        env |= {
            "NATS_URL": nats.url,
            "DATABASE_URL": database_url,
            "PARLEY_DATA_DIR": str(tmp_path / "edge-data"),
            "PARLEY_LOG_FORMAT": "json",
            "PARLEY_PORT": str(port),
            # No generation runs here: answers never end, so the in-flight limit would fill up.
            "PARLEY_SENDS_PER_MINUTE": "0",
            "PARLEY_ANSWERS_IN_FLIGHT": "0",
        } | extra
        index = len(processes)
        proc = Process(
            f"edge-{index}",
            [sys.executable, "-m", "services.cli", "edge"],
            env,
            tmp_path / f"edge-{index}.log",
            f"{url}/healthz",
        ).start()
        processes.append(proc)
        return url

    start.processes = processes
    yield start
    for proc in reversed(processes):
        proc.stop()
