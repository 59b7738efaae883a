"""Security headers on every HTTP response (issue 11, "the browser").

The UI is one module script and one stylesheet from ``/assets`` (checked by
tests/test_edge_headers.py against the built ``index.html``), so its policy allows no inline
script at all. Swagger UI and ReDoc (``/docs``, ``/redoc``) load from a CDN with an inline
bootstrap script: they get no script policy, only the framing and sniffing rules, and
``PARLEY_PUBLIC_DOCS=0`` turns them off.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UI_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        # Preact sets style attributes from code; styles cannot run script.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",  # CSP 3: 'self' covers ws(s):// to the same host
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
DOCS_POLICY = "frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
DOCS_PATHS = ("/docs", "/redoc")

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Cross-Origin-Opener-Policy": "same-origin",
}


def for_path(path: str) -> dict[str, str]:
    policy = DOCS_POLICY if path.startswith(DOCS_PATHS) else UI_POLICY
    return COMMON | {"Content-Security-Policy": policy}


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        extra = for_path(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
