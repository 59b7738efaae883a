"""The live LLM configuration: default provider and model, failover order, limits.

Stored as JSON under the key ``llm`` in the NATS KV bucket ``events.streams.CONFIG_BUCKET``; every
generation worker watches it (``LiveConfig``), so a ``PUT /llm/config`` applies to the next answer
without a restart. Without a stored value the configuration comes from the settings
(``PARLEY_DEFAULT_PROVIDER``, ``PARLEY_FAILOVER``). Importing this module has no side effects.

For the edge::

    cfg = config.convert(body)                 # validate a PUT body -> LlmConfig (ConfigError says why)
    revision = await config.put(js, cfg)
    cfg = await config.read(js, settings)      # stored value, else from the settings
    config.to_builtins(cfg)                    # JSON-ready dict
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any, Literal

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, KeyDeletedError, KeyNotFoundError
from nats.js.kv import KV_DEL, KV_PURGE

from events.streams import CONFIG_BUCKET
from services import logs
from services.generation.errors import ConfigError
from services.settings import Settings

KEY = "llm"
PROVIDERS = ("local", "openrouter")

log = logs.get("generation.config")

_FAILOVER_ITEM = re.compile(r"^(local|openrouter)(:\S+)?$")


class Limits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # Upper bound on completion tokens per answer (a session's max_tokens is capped by it).
    max_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    # Most recent conversation messages sent as context (the system prompt is always sent).
    max_context_messages: Annotated[int, msgspec.Meta(ge=1)] | None = None
    # Context window (tokens) of models whose provider does not report one; None: never trim by size.
    context_window: Annotated[int, msgspec.Meta(ge=1)] | None = None


class LlmConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    default_provider: Literal["local", "openrouter"] = "local"
    # None: the provider's own default (PARLEY_LOCAL_MODEL / PARLEY_OPENROUTER_MODEL).
    default_model: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    # Tried in order when the chosen provider/model fails before the first token:
    # "provider" (its default model) or "provider:model".
    failover: tuple[str, ...] = ()
    limits: Limits = Limits()
    # Allowlist per provider: the models sessions may name (a provider not listed: any model).
    models: dict[Literal["local", "openrouter"], tuple[Annotated[str, msgspec.Meta(min_length=1)], ...]] = {}


def allows(cfg: LlmConfig, provider: str, model: str | None) -> bool:
    """May ``model`` of ``provider`` be used? (None: the provider's default, always.)"""
    listed = cfg.models.get(provider)  # type: ignore[call-overload]
    return model is None or not listed or model in listed


def _checked(cfg: LlmConfig) -> LlmConfig:
    for i, item in enumerate(cfg.failover):
        if not _FAILOVER_ITEM.match(item):
            raise ConfigError(
                f"failover[{i}]: expected `local`, `openrouter`, `local:<model>` or `openrouter:<model>`, got {item!r}"
            )
        provider, _, model = item.partition(":")
        if not allows(cfg, provider, model or None):
            raise ConfigError(f"failover[{i}]: {item!r} is not in the models allowed for {provider}")
    if not allows(cfg, cfg.default_provider, cfg.default_model):
        raise ConfigError(
            f"invalid LLM config: default_model {cfg.default_model!r} is not in models.{cfg.default_provider}"
            " - at `$.default_model`"
        )
    return cfg


def convert(value: Any, current: LlmConfig | None = None) -> LlmConfig:
    """Validate a JSON-ready value (e.g. a PUT body) into an ``LlmConfig``. With ``current``, a
    body that leaves ``limits`` out (or ``limits.max_tokens``) keeps the current ones: a PUT that
    only changes the provider must not silently lift the token cap. ``null`` removes it."""
    if current is not None and isinstance(value, dict):
        limits = value.get("limits")
        if "limits" not in value:
            value = {**value, "limits": to_builtins(current.limits)}
        elif isinstance(limits, dict) and "max_tokens" not in limits:
            value = {**value, "limits": {**limits, "max_tokens": current.limits.max_tokens}}
    try:
        return _checked(msgspec.convert(value, LlmConfig))
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid LLM config: {exc}") from None


def decode(data: bytes) -> LlmConfig:
    try:
        return _checked(msgspec.json.decode(data, type=LlmConfig))
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid LLM config: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"LLM config is not JSON: {exc}") from None


def encode(cfg: LlmConfig) -> bytes:
    return msgspec.json.encode(_checked(cfg))


def to_builtins(cfg: LlmConfig) -> dict[str, Any]:
    """Plain JSON types (lists, not tuples)."""
    return msgspec.json.decode(msgspec.json.encode(cfg))


def from_settings(settings: Settings) -> LlmConfig:
    """The configuration in force while none is stored."""
    return _checked(
        LlmConfig(
            default_provider=settings.default_provider,
            failover=tuple(settings.failover),
            limits=Limits(max_tokens=settings.max_tokens or None),
        )
    )


async def _bucket(js: JetStreamContext):
    try:
        return await js.key_value(CONFIG_BUCKET)
    except BucketNotFoundError:
        raise ConfigError(
            f"the KV bucket {CONFIG_BUCKET} does not exist; run `parley up` or events.streams.ensure"
        ) from None


async def get(js: JetStreamContext) -> tuple[LlmConfig | None, int]:
    """The stored configuration and its revision; ``(None, 0)`` when none is stored."""
    kv = await _bucket(js)
    try:
        entry = await kv.get(KEY)
    except (KeyNotFoundError, KeyDeletedError):
        return None, 0
    return decode(entry.value or b""), entry.revision or 0


async def read(js: JetStreamContext, settings: Settings) -> LlmConfig:
    stored, _ = await get(js)
    return stored if stored is not None else from_settings(settings)


async def put(js: JetStreamContext, cfg: LlmConfig) -> int:
    """Store ``cfg`` (validated); returns the KV revision. Workers pick it up at once."""
    kv = await _bucket(js)
    return await kv.put(KEY, encode(cfg))


async def delete(js: JetStreamContext) -> None:
    """Forget the stored configuration: the settings apply again."""
    kv = await _bucket(js)
    await kv.delete(KEY)


class LiveConfig:
    """The configuration in force, kept current by a KV watch. ``current`` is always valid: a
    malformed stored value is logged and ignored (the previous one stays)."""

    def __init__(self, fallback: LlmConfig) -> None:
        self.fallback = fallback
        self.current = fallback
        self.revision = 0
        self._watcher = None
        self._task: asyncio.Task | None = None
        self.changed = asyncio.Event()  # set on every applied change (tests wait on it)

    async def start(self, js: JetStreamContext, first_value_s: float = 5.0) -> LiveConfig:
        kv = await _bucket(js)
        self._watcher = await kv.watch(KEY)
        # The first update is the stored value (or None when there is none): apply it before serving.
        try:
            first = await self._watcher.updates(first_value_s)
        except Exception:  # nats' TimeoutError: carry on with the fallback, the watch keeps running
            first = None
        if first is not None:
            self._apply(first)
        self._task = asyncio.create_task(self._follow(), name="llm-config-watch")
        return self

    def _apply(self, entry) -> None:
        if entry.operation in (KV_DEL, KV_PURGE):
            self.current, self.revision = self.fallback, entry.revision or 0
            log.info("llm config deleted; settings apply", revision=self.revision)
        else:
            try:
                self.current, self.revision = decode(entry.value or b""), entry.revision or 0
            except ConfigError as exc:
                log.error("llm config ignored", error=str(exc), revision=entry.revision)
                return
            log.info("llm config applied", revision=self.revision, config=to_builtins(self.current))
        self.changed.set()

    async def _follow(self) -> None:
        assert self._watcher is not None
        async for entry in self._watcher:
            if entry is not None:
                self._apply(entry)

    async def stop(self) -> None:
        if self._watcher is not None:
            try:
                await self._watcher.stop()
            except Exception:  # the connection may already be closed at shutdown
                pass
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
