"""The whole system as real processes, for end-to-end tests and benchmarks.

Each part runs through its public command, exactly as an operator runs it:

- the scriptable OpenAI-compatible server: ``python -m services.scripted_llm --port P ...``
- ``parley projections``, ``parley generation`` (any number), ``parley edge`` (any number)

against given NATS and PostgreSQL (``Infra`` starts both embedded, with durable settings, for a
benchmark). Processes can be killed and restarted. ``tests/support/system.py`` re-exports
``Process`` and ``System`` for the tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from events import streams
from projections import migrate
from services import bus
from services.embedded import EmbeddedNats, EmbeddedPostgres, free_port, port_open


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready within {timeout}s:\n{log.read_text()[-3000:]}")


@dataclass
class Process:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    ready_url: str | None = None
    proc: subprocess.Popen | None = None

    def start(self) -> Process:
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        out.close()
        if self.ready_url:
            _wait_http(self.ready_url, self.proc, self.log)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


@dataclass
class System:
    """Start with ``System(...).start()``; stop with ``.stop()`` (fixtures do both)."""

    nats_url: str
    database_url: str
    workdir: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    generation_workers: int = 1
    edges: int = 1
    llm_args: list[str] = field(default_factory=list)
    llm: Process | None = None
    processes: list[Process] = field(default_factory=list)
    edge_urls: list[str] = field(default_factory=list)

    @property
    def llm_url(self) -> str:
        assert self.llm is not None
        return self.llm.ready_url.removesuffix("/_health")

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "NATS_URL", "DATABASE_URL"))}
        env |= {
            "NATS_URL": self.nats_url,
            "DATABASE_URL": self.database_url,
            "PARLEY_DATA_DIR": str(self.workdir / "data"),
            "PARLEY_LOG_FORMAT": "json",
            "PARLEY_LOG_LEVEL": "info",
            "PARLEY_CHUNK_FLUSH_MS": "5",
            "PARLEY_PROJECTION_FLUSH_MS": "100",
            # Load and tests drive many answers as one user: per-user send limits off unless a test sets them.
            "PARLEY_SENDS_PER_MINUTE": "0",
            "PARLEY_ANSWERS_IN_FLIGHT": "0",
            "PARLEY_GENERATION_USER_SHARE": "1",
        }
        if self.llm is not None:
            env["PARLEY_LOCAL_BASE_URL"] = f"{self.llm_url}/v1"
        return env | self.env_extra | extra

    def _parley(self, name: str, index: int, ready_url: str | None = None, **extra: str) -> Process:
        return Process(
            f"{name}-{index}",
            [sys.executable, "-m", "services.cli", name],
            self.env(**extra),
            self.workdir / f"{name}-{index}.log",
            ready_url,
        )

    def start(self) -> System:
        self.workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.llm = Process(
            "scripted-llm",
            [sys.executable, "-m", "services.scripted_llm", "--port", str(port), *self.llm_args],
            dict(os.environ),
            self.workdir / "scripted-llm.log",
            f"http://127.0.0.1:{port}/_health",
        ).start()
        self.processes.append(self._parley("projections", 0).start())
        for i in range(self.generation_workers):
            self.add_generation_worker(i)
        for i in range(self.edges):
            self.add_edge(i)
        return self

    def add_generation_worker(self, index: int | None = None) -> Process:
        index = len([p for p in self.processes if p.name.startswith("generation")]) if index is None else index
        proc = self._parley("generation", index).start()
        self.processes.append(proc)
        return proc

    def add_edge(self, index: int | None = None) -> str:
        index = len(self.edge_urls) if index is None else index
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        self.processes.append(self._parley("edge", index, f"{url}/healthz", PARLEY_PORT=str(port)).start())
        self.edge_urls.append(url)
        return url

    def process(self, name: str) -> Process:
        return next(p for p in self.processes if p.name == name)

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()
        if self.llm is not None:
            self.llm.stop()

    def logs(self) -> str:
        return "\n".join(f"==== {p.name}\n{p.log.read_text()[-4000:]}" for p in [self.llm, *self.processes] if p)


@dataclass
class Infra:
    """Embedded NATS (JetStream, file store) and PostgreSQL (fsync on, like production) under
    ``root``, with the migrations and the stream applied: ``await Infra(root).start()``."""

    root: Path
    nats_sync: str | None = None  # PARLEY_NATS_SYNC for the embedded NATS (None: nats-server's 2 min)
    nats_procs: int = 0  # PARLEY_NATS_PROCS (GOMAXPROCS; 0: every core)
    nats: EmbeddedNats | None = None
    postgres: EmbeddedPostgres | None = None

    @property
    def nats_url(self) -> str:
        assert self.nats is not None
        return self.nats.url

    @property
    def database_url(self) -> str:
        assert self.postgres is not None
        return self.postgres.dsn

    async def start(self) -> Infra:
        self.root.mkdir(parents=True, exist_ok=True)
        # With its profiling port open: the benchmark reads nats-server's own CPU profile.
        self.nats = EmbeddedNats(
            self.root / "nats", prof_port=free_port(), sync=self.nats_sync, procs=self.nats_procs
        ).start()
        self.postgres = EmbeddedPostgres(self.root / "postgres", durable=True).start()
        await migrate.migrate(self.database_url)
        nc = await bus.connect(self.nats_url, "parley-bench-setup")
        try:
            await streams.ensure(nc.jetstream(), streams.StreamSettings())
        finally:
            await nc.close()
        return self

    def restart_nats(self, sync: str | None) -> None:
        """Stop nats-server and start it again on the same port and store with fsync policy
        ``sync`` (None: nats-server's default). Clients reconnect on their own."""
        assert self.nats is not None
        self.nats.stop()
        self.nats.sync = sync
        self.nats.start()

    def stop(self) -> None:
        if self.postgres is not None:
            self.postgres.stop()
        if self.nats is not None:
            self.nats.stop()


__all__ = ["Infra", "Process", "System", "port_open"]
