"""What the providers look like from the generation workers, published for the edge.

Generation owns the providers (and their keys). Each worker checks its providers every
``REPORT_S`` (health, latency, model list; the latest error from an answer too) and puts the
result under ``providers.<worker id>`` in the KV bucket it already watches for the live config.
The edge's ``/llm/*`` routes read those entries (``read``) and merge them (``merged``): the edge
never calls a provider and holds no provider key.
"""

from __future__ import annotations

import asyncio
import time

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import KeyDeletedError, KeyNotFoundError

from events.streams import CONFIG_BUCKET
from services import logs
from services.generation.providers import Health, Provider, Providers

log = logs.get("generation.status")

PREFIX = "providers."
REPORT_S = 15.0  # how often a worker checks and publishes
CHECK_TIMEOUT_S = 5.0  # a provider that does not answer within this is unhealthy, not waited for
STALE_S = 4 * REPORT_S  # older reports are from workers that stopped


class ProviderStatus(msgspec.Struct, kw_only=True):
    name: str
    configured: bool
    reason: str | None = None  # why it is not configured
    base_url: str | None = None
    default_model: str | None = None
    health: Health | None = None
    models: list[str] = msgspec.field(default_factory=list)
    models_error: str | None = None  # listing the models failed


class WorkerStatus(msgspec.Struct, kw_only=True):
    worker_id: str
    published_at: float  # unix seconds
    providers: list[ProviderStatus]


def key(worker_id: str) -> str:
    return PREFIX + "".join(c if c.isalnum() or c in "-_" else "_" for c in worker_id)


async def _check(provider: Provider) -> ProviderStatus:
    try:
        health = await asyncio.wait_for(provider.health(), CHECK_TIMEOUT_S)
    except TimeoutError:
        provider.note_error(f"{provider.name}: no answer within {CHECK_TIMEOUT_S:g}s")
        health = msgspec.structs.replace(
            provider.last_health, ok=False, error=f"no answer within {CHECK_TIMEOUT_S:g}s", checked_at=time.time()
        )
    models, models_error = (list(provider.models), None) if health.ok else ([], health.error)
    return ProviderStatus(
        name=provider.name,
        configured=True,
        base_url=provider.base_url,
        default_model=provider.default_model,
        health=health,
        models=models,
        models_error=models_error,
    )


async def check(providers: Providers, worker_id: str) -> WorkerStatus:
    """Every provider's status, checked now (configured ones concurrently)."""
    checked = await asyncio.gather(*(_check(p) for p in providers.all()))
    missing = [ProviderStatus(name=n, configured=False, reason=why) for n, why in providers.unconfigured.items()]
    return WorkerStatus(worker_id=worker_id, published_at=time.time(), providers=[*checked, *missing])


def merged(reports: list[WorkerStatus], now: float | None = None) -> list[ProviderStatus]:
    """One status per provider: from the freshest report that has it configured, else any."""
    now = time.time() if now is None else now
    fresh = sorted((r for r in reports if now - r.published_at <= STALE_S), key=lambda r: r.published_at)
    best: dict[str, ProviderStatus] = {}
    for report in fresh:  # later (fresher) reports win; a configured one beats an unconfigured one
        for status in report.providers:
            known = best.get(status.name)
            if known is None or status.configured or not known.configured:
                best[status.name] = status
    return sorted(best.values(), key=lambda s: s.name)


async def publish(js: JetStreamContext, status: WorkerStatus) -> None:
    kv = await js.key_value(CONFIG_BUCKET)
    await kv.put(key(status.worker_id), msgspec.json.encode(status))


async def read(js: JetStreamContext) -> list[WorkerStatus]:
    """Every worker's latest report (undecodable ones are skipped)."""
    kv = await js.key_value(CONFIG_BUCKET)
    # The report keys from the bucket's stream, not ``kv.keys()``: nats-py's key watcher can say
    # "no more keys" before the ones the server already sent are counted (seen under load).
    subjects = f"$KV.{CONFIG_BUCKET}.{PREFIX}>"
    info = await js.stream_info(f"KV_{CONFIG_BUCKET}", subjects_filter=subjects)
    keys = sorted(subject.removeprefix(f"$KV.{CONFIG_BUCKET}.") for subject in info.state.subjects or {})
    reports = []
    for name in keys:
        try:
            entry = await kv.get(name)
            reports.append(msgspec.json.decode(entry.value or b"", type=WorkerStatus))
        except (KeyNotFoundError, KeyDeletedError, msgspec.DecodeError, msgspec.ValidationError):
            continue
    return reports


class Reporter:
    """A worker's periodic check-and-publish; the first report is published before ``start`` returns."""

    def __init__(self, js: JetStreamContext, providers: Providers, worker_id: str, every_s: float = REPORT_S):
        self.js, self.providers, self.worker_id, self.every_s = js, providers, worker_id, every_s
        self._task: asyncio.Task | None = None

    async def report(self) -> WorkerStatus:
        status = await check(self.providers, self.worker_id)
        await publish(self.js, status)
        return status

    async def start(self) -> Reporter:
        try:
            await self.report()
        except Exception as exc:  # the edge shows the provider as unknown until the next report
            log.warning("provider status not published", error=str(exc) or type(exc).__name__)
        self._task = asyncio.create_task(self._loop(), name="provider-status")
        return self

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            try:
                await self.report()
            except Exception as exc:  # NATS away for a moment: the next round publishes again
                log.warning("provider status not published", error=str(exc) or type(exc).__name__)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            kv = await self.js.key_value(CONFIG_BUCKET)
            await kv.delete(key(self.worker_id))
        except Exception:  # the connection may be gone; the report goes stale on its own
            pass
