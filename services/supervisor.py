"""``parley up``: the whole system on one machine.

Starts what is not configured from outside (NATS, PostgreSQL, the local model), creates the
streams, applies migrations, then runs each service as its own child process (the same
``parley <service>`` commands an operator would scale out), restarting any that dies. Ctrl-C
stops everything in reverse order; the data stays in ``PARLEY_DATA_DIR`` for the next start.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from events import streams
from projections import migrate
from services import bus, credentials, logs, runtime
from services.embedded import EmbeddedLlama, EmbeddedNats, EmbeddedPostgres
from services.settings import Settings

log = logs.get("supervisor")

# service name -> module whose ``main(settings)`` runs it; started only where the module exists.
SERVICES = {
    "projections": "projections.main",
    "generation": "services.generation.main",
    "edge": "services.edge.main",
    "audit": "services.audit.seal",  # the sealer: `parley audit seal`
}
# The command line of a service whose name is not its `parley` command.
COMMANDS = {"audit": ["audit", "seal"]}


@dataclass
class Child:
    name: str
    index: int
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = 0.0

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", *COMMANDS.get(self.name, [self.name])], env=self.env
        )
        self.started_at = time.monotonic()
        log.info("service started", service=self.name, replica=self.index, pid=self.proc.pid)


async def _prepare(settings: Settings, rt: runtime.Runtime) -> None:
    nc = await bus.connect(rt.nats_url, "parley-up")
    try:
        await streams.ensure(nc.jetstream(), bus.stream_settings(settings))
    finally:
        await nc.close()
    applied = await migrate.migrate(rt.database_url)
    log.info("database ready", migrations_applied=[f"{m.version:03d}_{m.name}" for m in applied])


def available_services() -> list[str]:
    return [name for name, module in SERVICES.items() if importlib.util.find_spec(module) is not None]


def up(settings: Settings) -> None:
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    stoppers: list[tuple[str, Callable[[], None]]] = []
    children: list[Child] = []

    def on_term(*_):  # SIGTERM and SIGINT both mean: stop everything, in order
        raise KeyboardInterrupt

    # Installed explicitly: a shell that starts us in the background hands SIGINT over ignored.
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        nats_url = settings.nats_url
        database_url = settings.database_url
        if not (nats_url and database_url):
            keys, created = credentials.load_or_create(data_dir)
            log.info(
                "generated credentials for the embedded servers" if created else "credentials of the embedded servers",
                file=str(credentials.path(data_dir)),
                mode="0600",
                store_key="PARLEY_NATS_STORE_KEY" if settings.nats_store_key else "from the file",
            )
        if not nats_url:
            nats = EmbeddedNats(
                data_dir / "nats",
                port=settings.nats_port,
                store_key=settings.nats_store_key or keys.nats_store_key,
                user=credentials.NATS_USER,
                password=keys.nats_password,
            ).start()
            stoppers.append(("nats", nats.stop))
            nats_url = nats.url
            log.info("embedded NATS listening", url=credentials.redact(nats_url), store=str(nats.store_dir))
        if not database_url:
            pg = EmbeddedPostgres(data_dir / "postgres", port=settings.pg_port, password=keys.pg_password).start()
            stoppers.append(("postgres", pg.stop))
            database_url = pg.dsn
            log.info("embedded PostgreSQL listening", dsn=credentials.redact(database_url), data=str(pg.data_dir))
        local_base_url = settings.local_base_url
        if not local_base_url:
            llama = EmbeddedLlama().start()
            stoppers.append(("local model", llama.stop))
            local_base_url = llama.base_url
            log.info("embedded local model listening", base_url=local_base_url, model=settings.local_model)
        rt = runtime.Runtime(nats_url=nats_url, database_url=database_url, local_base_url=local_base_url)
        asyncio.run(_prepare(settings, rt))
        rt.write(data_dir)
        stoppers.append(("runtime file", lambda: runtime.clear(data_dir)))

        env = {
            **os.environ,
            "NATS_URL": nats_url,
            "DATABASE_URL": database_url,
            "PARLEY_LOCAL_BASE_URL": local_base_url,
            "PARLEY_DATA_DIR": str(data_dir),
        }
        replicas = {"generation": settings.generation_workers, "projections": 1, "edge": 1, "audit": 1}
        names = available_services()
        for name in names:
            for i in range(replicas[name]):
                child = Child(name, i, env)
                child.start()
                children.append(child)
        if "edge" in names:
            log.info("Parley is up", url=f"http://{settings.host}:{settings.port}", auth=settings.auth_enabled)
        else:
            log.info("Parley is up (no edge service yet)", services=names)

        while True:
            time.sleep(0.5)
            now = time.monotonic()
            for child in children:
                if child.proc is not None and child.proc.poll() is not None:
                    code = child.proc.returncode
                    # Back off 1 s, 2 s, 4 s ... (max 30 s); a child that ran a minute starts afresh.
                    if now - child.started_at > 60:
                        child.restarts = 0
                    delay = min(30.0, 2.0**child.restarts)
                    log.warning("service exited; restarting", service=child.name, code=code, in_s=delay)
                    child.proc = None
                    child.restarts += 1
                    child.next_start = now + delay
                elif child.proc is None and now >= child.next_start:
                    child.start()
    except KeyboardInterrupt:
        pass  # Ctrl-C / SIGTERM: the normal way to stop
    finally:
        if children or stoppers:
            log.info("stopping Parley")
        for child in reversed(children):
            if child.proc is not None and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        for child in reversed(children):
            if child.proc is not None:
                try:
                    child.proc.wait(15)
                except subprocess.TimeoutExpired:
                    child.proc.kill()
        for name, stop in reversed(stoppers):
            stop()
            log.info("stopped", part=name)
