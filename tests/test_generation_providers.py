"""The configured providers: built from the settings, failover candidates, all checked at once."""

from __future__ import annotations

import pytest

from services.generation.errors import NotConfigured
from services.generation.providers import Provider, Providers, from_settings
from services.scripted_llm import ScriptedLLM
from services.settings import load
from tests.support.generation import collect


@pytest.fixture
async def llm():
    async with ScriptedLLM(rate=0) as server:
        yield server


async def test_openrouter_sends_key_and_attribution_headers(llm):
    settings = load({"OPENROUTER_API_KEY": "sk-test", "PARLEY_OPENROUTER_BASE_URL": llm.base_url})
    providers = from_settings(settings, None)
    assert [p.name for p in providers.all()] == ["openrouter"]
    await collect(providers.get("openrouter"), "[[tokens:1]]")
    headers = llm.records[0].headers
    assert headers["authorization"] == "Bearer sk-test"
    assert headers["x-title"] == "Parley" and headers["http-referer"].startswith("http://")
    assert llm.records[0].model == "openai/gpt-4o-mini"
    with pytest.raises(NotConfigured, match="PARLEY_LOCAL_BASE_URL"):
        providers.get("local")
    await providers.aclose()


def test_candidates_follow_the_failover_order_without_duplicates():
    providers = Providers(
        {"local": Provider("local", "http://a/v1", "small"), "openrouter": Provider("openrouter", "http://b/v1", "big")}
    )
    assert providers.candidates("local", None, ["local", "openrouter", "local:other", "openrouter:big"]) == [
        ("local", "small"),
        ("openrouter", "big"),
        ("local", "other"),
    ]
    only_local = Providers({"local": Provider("local", "http://a/v1", "small")}, {"openrouter": "no key"})
    assert only_local.candidates("openrouter", None, ["local"]) == [("openrouter", None), ("local", "small")]
    with pytest.raises(NotConfigured, match="no key"):
        only_local.get("openrouter")
    with pytest.raises(NotConfigured, match="unknown provider"):
        only_local.get("anthropic")


async def test_all_providers_health_and_models_at_once(llm):
    async with ScriptedLLM(rate=0) as down:
        down.script(status=503)
        settings = load(
            {
                "PARLEY_LOCAL_BASE_URL": llm.base_url,
                "OPENROUTER_API_KEY": "k",
                "PARLEY_OPENROUTER_BASE_URL": down.base_url,
            }
        )
        providers = from_settings(settings)
        try:
            health = {h.provider: h for h in await providers.health()}
            assert health["local"].ok is True and health["openrouter"].ok is False
            models = await providers.models()
            assert models["local"] == ["scripted"] and "503" in models["openrouter"]
        finally:
            await providers.aclose()
