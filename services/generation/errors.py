"""Errors of the generation service. A provider failure carries the ``ErrorKind`` it ends as."""

from __future__ import annotations

from services.errors import ParleyError


class GenerationError(ParleyError):
    """Base of the generation service's errors."""


class ConfigError(GenerationError):
    """The live LLM configuration is malformed; ``str()`` names the field."""


class PoisonMessage(GenerationError):
    """A prompt message that can never be answered (undecodable, wrong type): terminated, not retried."""


class ProviderFailure(GenerationError):
    """A provider could not give (the rest of) an answer.

    ``kind`` is the ``ErrorKind`` of the failed event; ``retryable`` says whether trying the same
    request again (before the first token) may help; ``status`` is the HTTP status when there was one.
    """

    kind = "provider_error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.provider, self.model, self.status, self.retry_after = provider, model, status, retry_after


class ProviderUnavailable(ProviderFailure):
    """Connect error, connection lost before the first token, or a 5xx."""

    kind = "provider_unavailable"
    retryable = True


class RateLimited(ProviderFailure):
    """429."""

    kind = "rate_limited"
    retryable = True


class ProviderTimeout(ProviderFailure):
    """No token within the request timeout."""

    kind = "timeout"


class ProviderError(ProviderFailure):
    """The provider answered with an error: 4xx, an error event mid-stream, a malformed or cut stream."""

    kind = "provider_error"


class NotConfigured(ProviderFailure):
    """The provider asked for is not configured (no base URL or key)."""

    kind = "bad_request"
