"""Serve the built web UI at ``/``: files as they are, and ``index.html`` for any other
non-API path, so a client-side route survives a reload (single-page app fallback)."""

from __future__ import annotations

from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from services.settings import Settings

# Paths that belong to the API: an unknown one is a JSON 404, never the UI's index.html.
API_PREFIXES = ("api/", "docs", "redoc", "openapi.json", "metrics", "healthz", "readyz")

DEFAULT_DIST = Path(__file__).parent / "web" / "dist"


def dist_dir(settings: Settings) -> Path | None:
    path = settings.web_dist or DEFAULT_DIST
    return path if (path / "index.html").is_file() else None


class SinglePageApp(StaticFiles):
    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, html=True)

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404 or path.startswith(API_PREFIXES):
                raise
            response = await super().get_response("index.html", scope)
        if response.status_code == 404 and not path.startswith(API_PREFIXES):
            response = await super().get_response("index.html", scope)
        response.headers["Cache-Control"] = cache_control(path)
        return response


def cache_control(path: str) -> str:
    # Vite names built assets by content hash: they never change. Everything else (the HTML
    # shell, the service worker) must be revalidated, or a deploy would not reach browsers.
    return "public, max-age=31536000, immutable" if path.startswith("assets/") else "no-cache"
