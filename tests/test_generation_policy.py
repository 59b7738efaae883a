"""services.generation.policy: failover order, usage when none is reported, the error that ends an
answer no provider gave. Pure, so tested with plain values."""

from __future__ import annotations

from events.schema import Usage
from services.generation import policy
from services.generation.errors import NotConfigured, ProviderError, ProviderUnavailable, RateLimited
from services.generation.policy import estimate_tokens


def test_estimate_tokens_counts_words_and_marks():  # moved from test_generation_providers
    assert estimate_tokens("Hello, world!") == 4
    assert estimate_tokens("") == 0


def test_candidates_follow_the_failover_order_without_duplicates():
    defaults = {"local": "small", "openrouter": "gpt"}
    assert policy.candidates("local", None, ["local", "openrouter", "local:other", "openrouter:gpt"], defaults) == [
        ("local", "small"),
        ("openrouter", "gpt"),
        ("local", "other"),
    ]
    # The choice stays even when it is not configured (it fails clearly); unconfigured fallbacks go.
    assert policy.candidates("openrouter", "x", ["openrouter", "local"], {"local": "small"}) == [
        ("openrouter", "x"),
        ("local", "small"),
    ]


def test_usage_is_the_reported_one_else_an_estimate():
    reported = Usage(prompt_tokens=3, completion_tokens=2, reported=True)
    assert policy.usage(reported, [{"role": "user", "content": "a b c d"}], 9) is reported
    estimated = policy.usage(None, [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}], 7)
    assert estimated == Usage(prompt_tokens=4, completion_tokens=7, reported=False)


def test_the_error_that_ends_an_answer_nobody_gave():
    down = ProviderUnavailable("local: connection refused", provider="local", model="m")
    limited = RateLimited("openrouter answered 429", provider="openrouter", model="g")
    bad = ProviderError("openrouter answered 400: no such model", provider="openrouter", model="g")
    missing = NotConfigured("provider 'openrouter' is not available", provider="openrouter")
    assert policy.no_answer([bad]).kind == "provider_error"  # one failure keeps its kind
    both = policy.no_answer([down, limited])  # all worth a retry: the providers are unavailable
    assert (both.kind, both.provider, both.model) == ("provider_unavailable", "openrouter", "g")
    assert both.message == "local: connection refused; openrouter answered 429"
    assert policy.no_answer([down, bad]).kind == "provider_error"  # else the last one's kind
    assert policy.no_answer([down, missing]).kind == "bad_request"
    assert policy.no_answer([]).kind == "bad_request"
