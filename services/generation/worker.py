"""One generation worker: NATS connection, live config, cancel listener, providers, consumer.

``Worker(settings, nats_url=..., local_base_url=...)`` with ``start()``/``stop()`` runs in any
event loop (tests run several in one); ``main.py`` runs one until SIGTERM/SIGINT.
"""

from __future__ import annotations

from typing import Any

from events import streams
from services import bus, logs
from services.generation import config, status
from services.generation.cancels import Cancels
from services.generation.consumer import Consumer
from services.generation.pressure import Pressure
from services.generation.providers import Providers, from_settings
from services.generation.responder import Responder, worker_id
from services.generation.sessions import Sessions
from services.generation.sweeper import Sweeper
from services.settings import Settings

log = logs.get("generation")


class Worker:
    def __init__(
        self,
        settings: Settings,
        *,
        nats_url: str,
        local_base_url: str | None = None,
        name: str | None = None,
        provider_overrides: dict[str, Any] | None = None,
    ) -> None:
        self.settings, self.nats_url, self.local_base_url = settings, nats_url, local_base_url
        self.id = name or worker_id()
        self.provider_overrides = provider_overrides or {}
        self.nc = None
        self.providers: Providers | None = None
        self.live: config.LiveConfig | None = None
        self.cancels: Cancels | None = None
        self.consumer: Consumer | None = None
        self.sweeper: Sweeper | None = None
        self.sessions: Sessions | None = None
        self.pressure: Pressure | None = None
        self.reporter: status.Reporter | None = None

    async def start(self) -> Worker:
        self.nc = await bus.connect(self.nats_url, f"parley-generation-{self.id}")
        js = self.nc.jetstream()
        # A worker started on its own (not by `parley up`) still finds its stream and bucket.
        await streams.ensure(js, bus.stream_settings(self.settings))
        self.providers = from_settings(self.settings, self.local_base_url, **self.provider_overrides)
        self.live = await config.LiveConfig(config.from_settings(self.settings)).start(js)
        self.cancels = await Cancels().start(self.nc)
        # The session feed starts before the first prompt is fetched (see sessions.py).
        self.sessions = await Sessions(js).start()
        self.pressure = Pressure(self.settings.chunk_flush_ms, self.settings.chunk_budget_ms).start()
        responder = Responder(
            js, self.nc, self.providers, self.live, self.settings, self.cancels, self.id, self.sessions, self.pressure
        )
        self.consumer = await Consumer(js, responder, self.settings).start()
        self.sweeper = Sweeper(self.nc, self.settings.delta_retention_s).start()
        # The edge's /llm/* read what this publishes (the first report is out before "ready").
        self.reporter = await status.Reporter(js, self.providers, self.id).start()
        log.info(
            "generation worker ready",
            worker_id=self.id,
            providers={p.name: p.base_url for p in self.providers.all()},
            unconfigured=self.providers.unconfigured,
            concurrency=self.settings.generation_concurrency,
            llm_config_revision=self.live.revision,
        )
        return self

    async def stop(self, grace_s: float = 5.0) -> None:
        if self.sweeper is not None:
            await self.sweeper.stop()
        if self.consumer is not None:
            await self.consumer.stop(grace_s)
        if self.reporter is not None:
            await self.reporter.stop()
        if self.sessions is not None:
            await self.sessions.stop()
        if self.pressure is not None:
            await self.pressure.stop()
        if self.cancels is not None:
            await self.cancels.stop()
        if self.live is not None:
            await self.live.stop()
        if self.providers is not None:
            await self.providers.aclose()
        if self.nc is not None:
            # close, not drain: every answer is settled by now, and draining a pull subscription
            # waits out nats-py's drain timeout.
            await self.nc.close()
        log.info("generation worker stopped", worker_id=self.id)

    async def __aenter__(self) -> Worker:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
