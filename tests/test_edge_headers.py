"""Browser-facing headers (services.edge.headers), and the settings that close /docs and /metrics."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx

from services.edge import headers
from services.edge.web import DEFAULT_DIST

METRICS_TOKEN = "scraper-secret-0123456789"


class Scripts(HTMLParser):
    """Every <script> with its attributes and body, and every inline event handler attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict, str]] = []
        self.handlers: list[str] = []
        self._in_script: dict | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.handlers += [name for name in attributes if name.startswith("on")]
        if tag == "script":
            self._in_script = attributes
            self.scripts.append((attributes, ""))

    def handle_data(self, data):
        if self._in_script is not None:
            attributes, body = self.scripts[-1]
            self.scripts[-1] = (attributes, body + data)

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None


def test_the_built_ui_has_no_inline_script():
    index = DEFAULT_DIST / "index.html"
    assert index.is_file(), "build the UI first (./dev does)"
    parser = Scripts()
    parser.feed(index.read_text())
    assert parser.scripts, "the UI loads its code from a script file"
    for attributes, body in parser.scripts:
        assert attributes.get("src", "").startswith("./assets/") and not body.strip(), attributes
    assert parser.handlers == []
    assert (
        "script-src 'self'" in headers.UI_POLICY
        and "unsafe-inline" not in headers.UI_POLICY.split("script-src")[1].split(";")[0]
    )


async def test_security_headers_and_closed_docs_and_metrics(edge_factory):
    url = edge_factory(PARLEY_PUBLIC_DOCS="0", PARLEY_METRICS_TOKEN=METRICS_TOKEN)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for path in ("/", "/index.html", "/some/client/route", "/api/v1/chat/sessions", "/api/v1/nothing", "/healthz"):
            response = await client.get(path)
            assert response.status_code < 500, (path, response.status_code)
            policy = response.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, path
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
        assert "<script" in (await client.get("/")).text
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert (await client.get(path)).status_code == 404, path
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
        scraped = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert scraped.status_code == 200 and "parley_" in scraped.text


async def test_docs_are_public_by_default_and_cannot_be_framed(edge_factory):
    url = edge_factory()
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        docs = await client.get("/docs")
        assert docs.status_code == 200
        assert docs.headers["content-security-policy"] == headers.DOCS_POLICY
        assert (await client.get("/openapi.json")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200
