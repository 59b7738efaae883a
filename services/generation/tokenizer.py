"""What a provider says about sizes: its model's context window and its own token counts.

- Context window: ``GET /models`` where the entry reports one (OpenRouter's ``context_length``,
  vLLM's ``max_model_len``), else llama.cpp's ``GET /props`` (``n_ctx`` of a slot). Remembered per
  model for ``TTL_S``; ``None`` when the provider does not say (then ``/llm/config`` decides).
- Token counts: llama.cpp's ``POST /tokenize``. A provider without it (404/405) is remembered as
  such and ``window.estimate`` is used instead. Only asked when the estimate comes near the
  budget, so a short conversation costs no extra request.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from services import logs
from services.generation import window
from services.generation.providers import Provider

log = logs.get("generation.tokenizer")

TTL_S = 300.0
TIMEOUT_S = 2.0


def _root(base_url: str) -> str:
    """llama.cpp serves /props and /tokenize beside /v1, not under it."""
    return base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url


def window_of(models: list[dict[str, Any]], model: str) -> int | None:
    """The context window a ``GET /models`` listing reports for ``model``, if any."""
    for entry in models:
        if isinstance(entry, dict) and entry.get("id") == model:
            for key in ("context_length", "max_model_len", "context_window"):
                value = entry.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    return value
            top = entry.get("top_provider")
            if isinstance(top, dict) and isinstance(top.get("context_length"), int):
                return top["context_length"]
    return None


class Sizes:
    """Per-provider knowledge of windows and tokenizers, shared by one worker's answers."""

    def __init__(self) -> None:
        self._windows: dict[tuple[str, str], tuple[float, int | None]] = {}
        self._no_tokenizer: set[str] = set()

    async def window(self, provider: Provider, model: str) -> int | None:
        key = (provider.name, model)
        cached = self._windows.get(key)
        if cached is not None and time.monotonic() - cached[0] < TTL_S:
            return cached[1]
        found = await self._ask_window(provider, model)
        self._windows[key] = (time.monotonic(), found)
        return found

    async def _ask_window(self, provider: Provider, model: str) -> int | None:
        try:
            response = await provider.client.get("/models", timeout=TIMEOUT_S)
            if response.status_code == 200:
                found = window_of(response.json().get("data") or [], model)
                if found:
                    return found
            props = await provider.client.get(f"{_root(provider.base_url)}/props", timeout=TIMEOUT_S)
            if props.status_code == 200:
                settings = props.json().get("default_generation_settings") or {}
                n_ctx = settings.get("n_ctx")
                if isinstance(n_ctx, int) and n_ctx > 0:
                    return n_ctx
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            log.info("context window unknown", provider=provider.name, model=model, error=str(exc))
        return None

    async def count(self, provider: Provider, texts: list[str]) -> list[int] | None:
        """The provider's own token count of each text; None when it offers no tokenizer."""
        if provider.name in self._no_tokenizer:
            return None
        url = f"{_root(provider.base_url)}/tokenize"

        async def one(text: str) -> int:
            response = await provider.client.post(url, json={"content": text}, timeout=TIMEOUT_S)
            if response.status_code in (404, 405, 501):
                raise LookupError(response.status_code)
            response.raise_for_status()
            return len(response.json()["tokens"])

        try:
            return list(await asyncio.gather(*(one(t) for t in texts)))
        except LookupError:
            self._no_tokenizer.add(provider.name)
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            log.info("tokenizer failed, estimating", provider=provider.name, error=str(exc))
        return None


async def fit(
    sizes: Sizes,
    provider: Provider,
    model: str,
    messages: list[dict[str, Any]],
    *,
    max_tokens: int | None,
    fallback_window: int | None,
) -> window.Fitted:
    """``messages`` trimmed to the model's window (the provider's, else ``fallback_window``)."""
    size = await sizes.window(provider, model) or fallback_window
    if size is None:
        return window.Fitted(messages, 0, 0)
    limit = window.budget(size, max_tokens)
    texts = [str(m.get("content") or "") for m in messages]
    estimated = sum(window.estimate(t) + window.PER_MESSAGE for t in texts)
    if estimated <= limit * 0.8:  # clearly fits: no tokenizer round trip
        return window.Fitted(messages, 0, estimated)
    counted = await sizes.count(provider, texts)
    if counted is None:
        return window.fit(messages, limit)
    by_text = dict(zip(texts, counted, strict=True))
    return window.fit(messages, limit, lambda text: by_text.get(text, window.estimate(text)))
