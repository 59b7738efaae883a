"""The edge's own errors. Each maps to one HTTP status and one WebSocket error code or close code."""

from __future__ import annotations

from services.errors import ParleyError


class EdgeError(ParleyError):
    """Base of the edge's errors: ``status`` on REST, ``code`` in an ``error`` frame."""

    status = 500
    code = "internal"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Unauthorized(EdgeError):
    """Missing, malformed, expired or wrongly signed token (REST 401, socket close 4401)."""

    status = 401
    code = "unauthorized"


class Forbidden(EdgeError):
    """Known caller, not allowed (REST 403): changing the LLM configuration needs an admin."""

    status = 403
    code = "forbidden"


class NotFound(EdgeError):
    """No such session or message, or not the caller's: never says which (REST 404, close 4404)."""

    status = 404
    code = "not_found"


class TooLarge(EdgeError):
    """Content over ``PARLEY_MAX_MESSAGE_BYTES`` (REST 413, error frame ``too_large``)."""

    status = 413
    code = "too_large"


class Invalid(EdgeError):
    """A value of the right type that still cannot be accepted (REST 422, frame ``invalid_frame``)."""

    status = 422
    code = "invalid_frame"

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field


class RateLimited(EdgeError):
    """Past a fair-use limit (REST 429 with ``Retry-After`` when known, frame ``rate_limited``,
    close 4429 for sockets)."""

    status = 429
    code = "rate_limited"

    def __init__(self, detail: str, retry_after_s: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class Unavailable(EdgeError):
    """NATS or PostgreSQL did not answer in time (REST 503, frame ``unavailable``)."""

    status = 503
    code = "unavailable"


class BadFrame(EdgeError):
    """A client frame that cannot be understood; ``code`` is one of the protocol's error codes."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
