"""Liveness, readiness and metrics (served at the root for probes, and under /api/v1)."""

from __future__ import annotations

import asyncio
import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from projections import lag as projection_lag
from services.edge import metrics
from services.edge.auth import bearer
from services.edge.errors import Unauthorized
from services.edge.route import CheckedRoute
from services.generation import status

router = APIRouter(tags=["health"], route_class=CheckedRoute)


@router.get("/healthz")
async def healthz() -> dict:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """200 when NATS is connected, PostgreSQL answers and every projection's lag is within
    ``PARLEY_READY_MAX_LAG`` events; 503 otherwise, saying which check failed.

    ``checks.providers`` tells each configured LLM provider's health as the generation workers last
    checked it (every 15 s; ``None``: not checked yet). It does not make the edge unready: with the
    model down, history, sessions and resume still work, and answers fail visibly."""
    state = request.app.state
    checks: dict[str, object] = {"nats": state.nc.is_connected}
    try:
        await asyncio.wait_for(state.pool.fetchval("SELECT 1"), 2.0)
        checks["postgres"] = True
    except Exception as exc:
        checks["postgres"] = False
        checks["postgres_error"] = str(exc) or type(exc).__name__
    lag = None
    if checks["nats"] and checks["postgres"]:
        try:
            measured = await asyncio.wait_for(projection_lag.measure_all(state.js, state.pool), 2.0)
            lag = max(m.events for m in measured)
            ages = [m.age_s for m in measured if m.age_s is not None]
            checks["projection_age_s"] = max(ages) if ages else None
            checks["projections"] = {m.projection: m.events for m in measured}
        except Exception as exc:
            checks["lag_error"] = str(exc) or type(exc).__name__
    if checks["nats"]:
        try:
            reports = status.merged(await asyncio.wait_for(status.read(state.js), 2.0))
            checks["providers"] = {p.name: p.health.ok if p.health else None for p in reports if p.configured}
        except Exception as exc:
            checks["providers_error"] = str(exc) or type(exc).__name__
    checks["projection_lag"] = lag
    checks["projection_lag_ok"] = lag is not None and lag <= state.settings.ready_max_lag
    ready = bool(checks["nats"] and checks["postgres"] and checks["projection_lag_ok"])
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics")
async def prometheus(request: Request) -> Response:
    """Prometheus metrics; with ``PARLEY_METRICS_TOKEN`` set, only for ``Authorization: Bearer <it>``."""
    expected = request.app.state.settings.metrics_token
    if expected:
        given = bearer(request.headers.get("authorization")) or ""
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise Unauthorized("/metrics needs the scraper's token (PARLEY_METRICS_TOKEN)")
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
