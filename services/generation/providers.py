"""LLM providers: the configured ones by name, built from the settings.

Each is a ``provider.Provider``, one OpenAI-compatible streaming client (``completions`` reads
its wire):

- ``local``: any OpenAI-compatible server (llama.cpp, Ollama, vLLM, LM Studio) at
  ``PARLEY_LOCAL_BASE_URL`` (default: the embedded SmolLM2 that ``parley up`` starts).
- ``openrouter``: ``PARLEY_OPENROUTER_BASE_URL`` with ``OPENROUTER_API_KEY`` and OpenRouter's
  attribution headers (``HTTP-Referer``, ``X-Title``).

::

    providers = from_settings(settings, runtime.resolve(settings).local_base_url)
    await providers.health()     # [Health] of every configured provider, checked now
    await providers.models()     # {provider: [model ids] or the error text}
    providers.unconfigured       # {provider: why it is not configured}
    await providers.aclose()
"""

from __future__ import annotations

import asyncio
from typing import Any

from services.generation import policy
from services.generation.completions import Delta, Done
from services.generation.errors import NotConfigured, ProviderFailure
from services.generation.provider import Health, Provider
from services.settings import Settings

# What generation, the edge and the tools import from here.
__all__ = ["Delta", "Done", "Health", "Provider", "Providers", "attribution", "from_settings"]

TITLE = "Parley"


class Providers:
    """The configured providers by name, and the ordered candidates for one answer."""

    def __init__(self, providers: dict[str, Provider], unconfigured: dict[str, str] | None = None) -> None:
        self.by_name = providers
        self.unconfigured = unconfigured or {}  # name -> why it is missing

    def all(self) -> list[Provider]:
        return list(self.by_name.values())

    def get(self, name: str) -> Provider:
        if name in self.by_name:
            return self.by_name[name]
        why = self.unconfigured.get(name, "unknown provider; known: local, openrouter")
        raise NotConfigured(f"provider {name!r} is not available: {why}", provider=name)

    def candidates(
        self, provider: str, model: str | None, failover: tuple[str, ...] | list[str] = ()
    ) -> list[tuple[str, str | None]]:
        """``(provider, model)`` to try in order (``policy.candidates`` with these providers)."""
        return policy.candidates(provider, model, failover, {n: p.default_model for n, p in self.by_name.items()})

    async def health(self) -> list[Health]:
        """Check every configured provider at once."""
        return list(await asyncio.gather(*(p.health() for p in self.by_name.values())))

    async def models(self) -> dict[str, list[str] | str]:
        """Model ids per configured provider, or the error text where listing failed."""

        async def one(p: Provider) -> list[str] | str:
            try:
                return await p.list_models()
            except ProviderFailure as exc:
                return str(exc)

        names = list(self.by_name)
        return dict(zip(names, await asyncio.gather(*(one(self.by_name[n]) for n in names)), strict=True))

    async def aclose(self) -> None:
        await asyncio.gather(*(p.aclose() for p in self.by_name.values()), return_exceptions=True)


def attribution(settings: Settings) -> dict[str, str]:
    """OpenRouter's app attribution: the app's URL and name."""
    return {"HTTP-Referer": f"http://{settings.host}:{settings.port}", "X-Title": TITLE}


def from_settings(settings: Settings, local_base_url: str | None = None, **overrides: Any) -> Providers:
    """Every provider the settings configure. ``local_base_url``: the resolved local server
    (``PARLEY_LOCAL_BASE_URL`` or the one ``parley up`` started); ``overrides`` go to each
    ``Provider`` (tests: ``retry_base_s``, ``transport``)."""
    common = {
        "connect_timeout_s": settings.connect_timeout_s,
        "request_timeout_s": settings.request_timeout_s,
        "retries": settings.provider_retries,
        **overrides,
    }
    found: dict[str, Provider] = {}
    missing: dict[str, str] = {}
    local = local_base_url or settings.local_base_url
    if local:
        found["local"] = Provider("local", local, settings.local_model, api_key=settings.local_api_key, **common)
    else:
        missing["local"] = "PARLEY_LOCAL_BASE_URL is unset and no `parley up` runs"
    if settings.openrouter_api_key:
        found["openrouter"] = Provider(
            "openrouter",
            settings.openrouter_base_url,
            settings.openrouter_model,
            api_key=settings.openrouter_api_key,
            headers=attribution(settings),
            **common,
        )
    else:
        missing["openrouter"] = "OPENROUTER_API_KEY is unset"
    return Providers(found, missing)
