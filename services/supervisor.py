"""``parley up``: the whole system on one machine.

Checks first that every port it will bind is free and the data folder usable (one line naming
the setting to change, nothing started). Then starts what is not configured from outside (NATS,
PostgreSQL, the local model), creates the streams, applies migrations, and runs each service as
its own child process (the same ``parley <service>`` commands an operator scales out).

Everything it started is supervised (services/supervision.py): an embedded server or service
that exits is restarted on the same port and data, with backoff; one that keeps failing the same
way is reported once and everything stops (exit 1). Ctrl-C or SIGTERM stops everything in
reverse order; another one during that stop kills what is left. Children die with ``parley up``
even on ``kill -9`` (services/lifeline.py). The data stays in ``PARLEY_DATA_DIR``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
import time
import webbrowser
from dataclasses import dataclass

from events import streams
from projections import migrate
from services import bus, credentials, logs, preflight, runtime
from services.embedded import EmbeddedLlama, EmbeddedNats, EmbeddedPostgres, port_open
from services.errors import StartupError
from services.progress import Progress
from services.settings import Settings
from services.supervision import Server, Service, Unit, tick

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
TICK_S = 0.1
SERVICE_STOP_S = 15.0


class Stop(Exception):
    """Raised at a safe point once a stop was asked for."""


@dataclass
class Stopping:
    """What the signal handler tells the main loop: stop (first signal), then hurry (any more).

    The handler only sets flags: an exception raised from a signal handler can land anywhere,
    for instance in logging's fork hook inside ``Popen``, where Python swallows it."""

    requested: bool = False
    forced: bool = False

    def on_signal(self, *_) -> None:
        if self.requested:
            self.forced = True
        self.requested = True

    def check(self) -> None:
        if self.requested:
            raise Stop


async def _prepare(settings: Settings, rt: runtime.Runtime) -> list[str]:
    nc = await bus.connect(rt.nats_url, "parley-up")
    try:
        await streams.ensure(nc.jetstream(), bus.stream_settings(settings))
    finally:
        await nc.close()
    applied = await migrate.migrate(rt.database_url)
    return [f"{m.version:03d}_{m.name}" for m in applied]


def available_services() -> list[str]:
    return [name for name, module in SERVICES.items() if importlib.util.find_spec(module) is not None]


def _console(settings: Settings) -> bool:
    return settings.log_format == "console" or (settings.log_format == "auto" and sys.stderr.isatty())


def up(settings: Settings, open_browser: bool = False) -> int:
    """Run until stopped; the exit code: 0 after Ctrl-C/SIGTERM, 1 when a part kept failing."""
    data_dir = settings.data_dir.resolve()
    if problems := preflight.problems(settings):
        raise StartupError("\n".join(problems))  # nothing started yet: nothing to stop
    console = _console(settings)
    progress = Progress(console)
    servers: list[Server] = []
    services: list[Service] = []
    stopping = Stopping()

    # SIGTERM and SIGINT both mean: stop everything, in order. Installed explicitly: a shell
    # that starts us in the background hands SIGINT over ignored.
    signal.signal(signal.SIGTERM, stopping.on_signal)
    signal.signal(signal.SIGINT, stopping.on_signal)
    code = 0
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
                die_with_parent=True,
                sync=settings.nats_sync,
                procs=settings.nats_procs,
            )
            with progress.step("NATS (JetStream)") as detail:
                servers.append(Server("nats", nats))  # before start: a Ctrl-C meanwhile still stops it
                nats.start()
                servers[-1].started(time.monotonic())
                nats_url = nats.url
                detail["url"] = credentials.redact(nats_url)
                detail["store"] = str(nats.store_dir)
            stopping.check()
        if not database_url:
            pg = EmbeddedPostgres(
                data_dir / "postgres", port=settings.pg_port, password=keys.pg_password, die_with_parent=True
            )
            with progress.step("PostgreSQL") as detail:
                servers.append(Server("postgres", pg))
                pg.start()
                servers[-1].started(time.monotonic())
                database_url = pg.dsn
                detail["dsn"] = credentials.redact(database_url)
            stopping.check()
        local_base_url = settings.local_base_url
        if not local_base_url:
            llama = EmbeddedLlama(port=settings.model_port, die_with_parent=True)
            with progress.step("local model") as detail:
                servers.append(Server("model", llama))
                llama.start()
                servers[-1].started(time.monotonic())
                detail["url"] = local_base_url = llama.base_url
                detail["model"] = settings.local_model
            stopping.check()
        rt = runtime.Runtime(nats_url=nats_url, database_url=database_url, local_base_url=local_base_url)
        with progress.step("streams and migrations") as detail:
            applied = asyncio.run(_prepare(settings, rt))
            detail["applied"] = f"{len(applied)} migration(s) applied" if applied else "database up to date"
        rt.write(data_dir)

        env = {
            **os.environ,
            "NATS_URL": nats_url,
            "DATABASE_URL": database_url,
            "PARLEY_LOCAL_BASE_URL": local_base_url,
            "PARLEY_DATA_DIR": str(data_dir),
        }
        if console:  # children write through a pipe: keep their logs readable
            env["PARLEY_LOG_FORMAT"] = "console"
        replicas = {"generation": settings.generation_workers, "projections": 1, "edge": 1, "audit": 1}
        names = available_services()
        for name in names:
            for i in range(replicas[name]):
                services.append(Service(name, i, env, COMMANDS.get(name, [name])))
        code = _run(settings, progress, servers, services, "edge" in names, open_browser, stopping)
    except Stop:
        pass  # Ctrl-C / SIGTERM: the normal way to stop
    finally:
        stopping.requested = True  # from here on, a signal only hurries the stop
        _stop_all(progress, servers, services, stopping)
        runtime.clear(data_dir)
        # Everything is stopped: a late Ctrl-C must not turn a clean exit into "killed by SIGINT"
        # (Python restores the default handlers while it shuts down).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


def _run(
    settings: Settings,
    progress: Progress,
    servers: list[Server],
    services: list[Service],
    has_edge: bool,
    open_browser: bool,
    stopping: Stopping,
) -> int:
    host = "127.0.0.1" if settings.host in {"0.0.0.0", "::", ""} else settings.host
    url = f"http://{settings.host}:{settings.port}"
    with progress.step("services") as detail:
        for service in services:
            stopping.check()
            service.start()
            service.started(time.monotonic())
        detail["started"] = ", ".join(s.name for s in services) or "none"
        while has_edge and settings.port and not port_open(host, settings.port):
            stopping.check()
            if (failed := tick(servers, services)) is not None:
                return _give_up(progress, failed)
            time.sleep(TICK_S)
    if has_edge:
        progress.say(
            f"Parley is up at {url} (started in {progress.elapsed():.1f} s). Press Ctrl-C to stop.",
            url=url,
            seconds=round(progress.elapsed(), 3),
            auth=settings.auth_enabled,
        )
        if open_browser:
            webbrowser.open(url)
    else:
        progress.say("Parley is up (no edge service in this build)", services=[s.name for s in services])
    while True:
        stopping.check()
        if (failed := tick(servers, services)) is not None:
            return _give_up(progress, failed)
        time.sleep(TICK_S)


def _give_up(progress: Progress, unit: Unit) -> int:
    last = unit.failures[-1]
    how = "could not start" if last.code is None else f"exited with code {last.code}"
    progress.say(
        f"parley up: error: {unit.name} {how} {len(unit.failures)} times in a row: {last.error or 'no error output'}",
        part=unit.name,
        code=last.code,
        error=last.error,
        times=len(unit.failures),
    )
    return 1


def _stop_all(progress: Progress, servers: list[Server], services: list[Service], stopping: Stopping) -> None:
    running = [s.proc for s in services if s.proc is not None and s.proc.poll() is None]
    if not (running or servers):
        return
    progress.say("stopping Parley (Ctrl-C again to kill what is left)")
    for proc in reversed(running):
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + SERVICE_STOP_S
    told = False
    for proc in reversed(running):
        while proc.poll() is None and not stopping.forced and time.monotonic() < deadline:
            time.sleep(0.05)
        if stopping.forced and not told:
            told = True
            progress.say("stopping now: killing what is left")
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    for server in reversed(servers):
        try:
            server.stop(lambda: stopping.forced)
        except Exception as exc:  # one part failing to stop must not leave the others running
            log.error("could not stop", part=server.name, error=str(exc) or type(exc).__name__)
        else:
            log.info("stopped", part=server.name)
