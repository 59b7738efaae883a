"""services.generation.status: workers publish provider health and models; the edge's /llm/* read them."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from services.generation import status
from services.generation.providers import Health
from services.generation.status import ProviderStatus, WorkerStatus
from services.generation.worker import Worker
from services.settings import load

API = "/api/v1"


def report(worker: str, at: float, *providers: ProviderStatus) -> WorkerStatus:
    return WorkerStatus(worker_id=worker, published_at=at, providers=list(providers))


def local(ok: bool, checked_at: float) -> ProviderStatus:
    health = Health(provider="local", base_url="http://x", ok=ok, checked_at=checked_at)
    return ProviderStatus(name="local", configured=True, base_url="http://x", health=health)


def test_merged_takes_the_freshest_configured_report_and_drops_stale_ones():
    now = 1_000.0
    unconfigured = ProviderStatus(name="local", configured=False, reason="unset")
    reports = [
        report("w1", now - 5, local(True, now - 5)),
        report("w2", now - 1, local(False, now - 1)),  # fresher: wins
        report("w3", now, unconfigured),  # fresher still, but not configured there
        report("w4", now - status.STALE_S - 1, local(True, now - 100)),  # a stopped worker
    ]
    (merged,) = status.merged(reports, now)
    assert merged.configured and merged.health.ok is False and merged.health.checked_at == now - 1
    assert status.merged([report("w3", now, unconfigured)], now) == [unconfigured]
    assert status.merged([reports[-1]], now) == []


@pytest.fixture
async def hanging_server():
    """An HTTP server that accepts connections and never answers (a provider that hangs)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader, writer):
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/v1"
    for writer in held:
        writer.close()
    server.close()


async def test_llm_routes_show_a_hanging_provider_unhealthy_not_500(
    nats, tmp_path, edge_factory, hanging_server, monkeypatch
):
    monkeypatch.setattr(status, "CHECK_TIMEOUT_S", 0.5)
    environ = {"NATS_URL": nats.url, "PARLEY_DATA_DIR": str(tmp_path / "data")}
    worker = await Worker(load(environ), nats_url=nats.url, local_base_url=hanging_server, name="w-hang").start()
    try:
        url = edge_factory()
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            providers = await client.get(f"{API}/llm/providers")
            assert providers.status_code == 200, providers.text
            by_name = {p["name"]: p for p in providers.json()}
            hung = by_name["local"]
            assert hung["configured"] and hung["health"]["ok"] is False
            assert "no answer within" in hung["health"]["error"] and hung["health"]["last_error"]
            assert by_name["openrouter"] == {**by_name["openrouter"], "configured": False, "health": None}
            health = (await client.get(f"{API}/llm/health")).json()
            assert health["ok"] is False and health["default_provider"] == "local"
            models = (await client.get(f"{API}/llm/models")).json()
            assert models == [
                {
                    "provider": "local",
                    "default_model": hung["default_model"],
                    "models": [],
                    "error": hung["health"]["error"],
                }
            ]
            # Readiness names the provider that is down, without taking the edge out of service.
            ready = (await client.get("/readyz")).json()
            assert ready["checks"]["providers"] == {"local": False}, ready
            # The OpenAPI document describes these responses.
            paths = (await client.get("/openapi.json")).json()["paths"]
            schema = paths[f"{API}/llm/providers"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
            assert schema["items"]["$ref"].endswith("/ProviderStatus")
    finally:
        await worker.stop(grace_s=0.5)
    # A stopped worker takes its report with it.
