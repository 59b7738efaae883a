"""services.edge.web: the built UI at /, single-page-app fallback, API paths untouched.
In-process (no lifespan: static files and routing only)."""

from __future__ import annotations

import httpx

from services.edge.app import create_app
from services.settings import load


def app_with_dist(tmp_path):
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>Parley</title>")
    (dist / "assets" / "app.js").write_text("console.log('parley')")
    settings = load(
        {"NATS_URL": "nats://127.0.0.1:1", "DATABASE_URL": "postgresql://x@127.0.0.1:1/x", "PARLEY_WEB_DIST": str(dist)}
    )
    return create_app(settings)


async def test_ui_files_and_fallback(tmp_path):
    transport = httpx.ASGITransport(app=app_with_dist(tmp_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
        index = await client.get("/")
        assert index.status_code == 200 and "Parley" in index.text
        asset = await client.get("/assets/app.js")
        assert asset.status_code == 200 and "parley" in asset.text
        # Hashed assets are cached for good; the shell is revalidated so a deploy reaches browsers.
        assert "immutable" in asset.headers["cache-control"]
        assert index.headers["cache-control"] == "no-cache"
        # A client-side route survives a reload.
        route = await client.get("/chat/3f1c")
        assert route.status_code == 200 and "Parley" in route.text
        # Unknown API paths stay JSON 404s; the probes and docs are the API's.
        for path in ("/api/v1/nothing", "/api/v1/chat/nothing/else"):
            missing = await client.get(path)
            assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert "openapi" in (await client.get("/openapi.json")).json()


async def test_no_dist_no_ui(tmp_path):
    settings = load(
        {
            "NATS_URL": "nats://127.0.0.1:1",
            "DATABASE_URL": "postgresql://x@127.0.0.1:1/x",
            "PARLEY_WEB_DIST": str(tmp_path / "missing"),
        }
    )
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
        assert (await client.get("/")).status_code == 404
