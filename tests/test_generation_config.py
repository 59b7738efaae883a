"""The live LLM configuration in the NATS KV bucket: validation, read/put/delete, live watch."""

from __future__ import annotations

import asyncio

import pytest

from events.streams import CONFIG_BUCKET
from services.generation import config
from services.generation.config import Limits, LiveConfig, LlmConfig
from services.generation.errors import ConfigError
from services.settings import load


def test_convert_validates_and_names_the_field():
    cfg = config.convert(
        {
            "default_provider": "openrouter",
            "default_model": "a/b",
            "failover": ["local", "local:qwen"],
            "limits": {"max_tokens": 256},
        }
    )
    assert cfg == LlmConfig(
        default_provider="openrouter",
        default_model="a/b",
        failover=("local", "local:qwen"),
        limits=Limits(max_tokens=256),
    )
    assert config.to_builtins(cfg)["failover"] == ["local", "local:qwen"]


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"default_provider": "anthropic"}, "$.default_provider"),
        ({"limits": {"max_tokens": 0}}, "$.limits.max_tokens"),
        ({"limits": {"max_context_messages": "many"}}, "$.limits.max_context_messages"),
        ({"failover": ["local", "azure:gpt"]}, "failover[1]"),
        ({"default_model": ""}, "$.default_model"),
        ({"surprise": 1}, "unknown field `surprise`"),
        ([], "Expected `object`"),
    ],
)
def test_bad_configs_are_refused_with_the_field_named(value, says):
    with pytest.raises(ConfigError) as err:
        config.convert(value)
    assert says in str(err.value)


def test_decode_refuses_non_json():
    with pytest.raises(ConfigError, match="not JSON"):
        config.decode(b"{nope")


def test_from_settings_uses_default_provider_and_failover():
    settings = load({"PARLEY_DEFAULT_PROVIDER": "openrouter", "PARLEY_FAILOVER": "local,openrouter:x/y"})
    assert config.from_settings(settings) == LlmConfig(
        default_provider="openrouter", failover=("local", "openrouter:x/y"), limits=Limits(max_tokens=1024)
    )


def test_from_settings_caps_answers_unless_told_not_to():
    # A small local model can loop forever; answers end by default, and 0 lifts the cap.
    assert config.from_settings(load({"PARLEY_MAX_TOKENS": "200"})).limits.max_tokens == 200
    assert config.from_settings(load({"PARLEY_MAX_TOKENS": "0"})).limits.max_tokens is None


async def test_put_read_delete_round_trip(js):
    settings = load({})
    assert await config.get(js) == (None, 0)
    assert await config.read(js, settings) == config.from_settings(settings)
    cfg = LlmConfig(default_model="m2", limits=Limits(max_context_messages=6))
    revision = await config.put(js, cfg)
    assert revision > 0
    assert await config.get(js) == (cfg, revision)
    await config.delete(js)
    assert await config.read(js, settings) == config.from_settings(settings)


async def until(live: LiveConfig, predicate, within_s: float = 5.0) -> None:
    async with asyncio.timeout(within_s):
        while True:
            live.changed.clear()
            if predicate():
                return
            await live.changed.wait()


async def test_live_config_follows_changes_and_ignores_malformed_values(js):
    await config.put(js, LlmConfig(default_model="first"))
    live = await LiveConfig(LlmConfig()).start(js)
    try:
        assert live.current.default_model == "first"
        await config.put(js, LlmConfig(default_model="second"))
        await until(live, lambda: live.current.default_model == "second")
        # a value written around our validation is logged and ignored: the last good one stays
        kv = await js.key_value(CONFIG_BUCKET)
        bad = await kv.put(config.KEY, b'{"default_provider": "nope"}')
        await asyncio.sleep(0.2)
        assert live.current.default_model == "second" and live.revision < bad
        await config.put(js, LlmConfig(default_model="third"))
        await until(live, lambda: live.current.default_model == "third")
        await config.delete(js)
        await until(live, lambda: live.current == LlmConfig())
    finally:
        await live.stop()


async def test_missing_bucket_is_a_clear_error(js):
    await js.delete_key_value(CONFIG_BUCKET)
    with pytest.raises(ConfigError, match="does not exist"):
        await config.get(js)


def test_a_put_without_limits_keeps_the_token_cap():
    current = LlmConfig(limits=Limits(max_tokens=512, max_context_messages=40))
    assert config.convert({"default_provider": "openrouter"}, current).limits == current.limits
    kept = config.convert({"limits": {"max_context_messages": 10}}, current).limits
    assert kept.max_tokens == 512 and kept.max_context_messages == 10
    assert config.convert({"limits": {"max_tokens": None}}, current).limits.max_tokens is None  # lifted on purpose
    assert config.convert({"default_provider": "local"}).limits.max_tokens is None  # no current: as given


def test_models_allowlist_per_provider():
    cfg = config.convert({"models": {"openrouter": ["openai/gpt-4o-mini", "meta/llama"]}})
    assert config.allows(cfg, "openrouter", "meta/llama") and not config.allows(cfg, "openrouter", "x/y")
    assert config.allows(cfg, "local", "anything") and config.allows(cfg, "openrouter", None)
    for bad, says in [
        ({"models": {"elsewhere": ["m"]}}, "models"),
        ({"models": {"local": [""]}}, "models"),
        ({"models": {"local": ["a"]}, "default_model": "b"}, "default_model"),
        ({"models": {"openrouter": ["a"]}, "failover": ["openrouter:b"]}, "failover"),
    ]:
        with pytest.raises(ConfigError, match=says):
            config.convert(bad)
