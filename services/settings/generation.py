"""Settings of generation: workers, providers and their failover, chunking, redelivery."""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from services.settings.area import Area, CommaList, env, http_url

Provider = Literal["local", "openrouter"]


class Generation(Area):
    generation_workers: int = env(
        "PARLEY_GENERATION_WORKERS", "Generation processes `parley up` starts.", default=1, ge=0, le=64
    )
    generation_concurrency: int = env(
        "PARLEY_GENERATION_CONCURRENCY", "Answers one generation process streams at once.", default=64, ge=1
    )
    generation_user_share: float = env(
        "PARLEY_GENERATION_USER_SHARE",
        "Share of a generation process's answers one user may stream at once (1: no cap; at least one answer).",
        default=0.5,
        gt=0,
        le=1,
    )
    default_provider: Provider = env(
        "PARLEY_DEFAULT_PROVIDER", "Provider for sessions that name none: local or openrouter.", default="local"
    )
    failover: CommaList = env(
        "PARLEY_FAILOVER", "Ordered fallbacks, comma separated `provider` or `provider:model`.", default_factory=list
    )
    local_base_url: str | None = env(
        "PARLEY_LOCAL_BASE_URL",
        "OpenAI-compatible server (llama.cpp, Ollama, vLLM). Unset: embedded SmolLM2.",
        default=None,
    )
    local_model: str = env(
        "PARLEY_LOCAL_MODEL", "Default model name on the local provider.", default="smollm2-135m-instruct"
    )
    local_api_key: str | None = env(
        "PARLEY_LOCAL_API_KEY", "Bearer key for the local server, if it wants one.", default=None
    )
    openrouter_base_url: str = env(
        "PARLEY_OPENROUTER_BASE_URL", "OpenRouter API base URL.", default="https://openrouter.ai/api/v1"
    )
    openrouter_api_key: str | None = env(
        "OPENROUTER_API_KEY", "OpenRouter key. Unset: the openrouter provider is not configured.", default=None
    )
    openrouter_model: str = env("PARLEY_OPENROUTER_MODEL", "Default model on OpenRouter.", default="openai/gpt-4o-mini")
    max_tokens: int = env(
        "PARLEY_MAX_TOKENS",
        "Cap on completion tokens per answer until /llm/config sets one (0: no cap).",
        default=1024,
        ge=0,
    )
    connect_timeout_s: float = env("PARLEY_CONNECT_TIMEOUT_S", "Provider connect timeout.", default=5.0, gt=0)
    request_timeout_s: float = env(
        "PARLEY_REQUEST_TIMEOUT_S", "Longest wait for the next token from a provider.", default=60.0, gt=0
    )
    provider_retries: int = env(
        "PARLEY_PROVIDER_RETRIES", "Retries before the first token on connect errors, 429, 5xx.", default=2, ge=0, le=10
    )
    chunk_flush_ms: float = env(
        "PARLEY_CHUNK_FLUSH_MS",
        "Tokens arriving within this window share one chunk event, on an idle worker (the first token"
        " after a pause goes out at once).",
        default=5.0,
        ge=0,
    )
    chunk_budget_ms: float = env(
        "PARLEY_CHUNK_BUDGET_MS",
        "Under load (event-loop lag) the chunk window grows up to this: the most coalescing adds.",
        default=20.0,
        ge=0,
    )
    chunk_max_tokens: int = env("PARLEY_CHUNK_MAX_TOKENS", "Most tokens in one chunk event.", default=32, ge=1)
    ack_wait_s: float = env(
        "PARLEY_ACK_WAIT_S",
        "Seconds before a dead worker's prompt goes to another worker (live ones send progress acks).",
        default=10.0,
        gt=0,
    )
    max_deliver: int = env(
        "PARLEY_MAX_DELIVER", "Deliveries of one prompt before it is given up as failed.", default=5, ge=1
    )

    @field_validator("local_base_url", "openrouter_base_url")
    @classmethod
    def _provider_urls(cls, value: str | None) -> str | None:
        return http_url(value)

    @field_validator("failover")
    @classmethod
    def _failover_providers(cls, value: list[str]) -> list[str]:
        for item in value:
            if item.split(":", 1)[0] not in {"local", "openrouter"}:
                raise ValueError(f"unknown provider in {item!r}; expected local or openrouter")
        return value
