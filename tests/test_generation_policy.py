"""services.generation.policy: provider/model choice, failover order, call parameters, what each provider stream's end
means, usage when none is reported, the error that ends an answer no provider gave. Pure, so
tested with plain values."""

from __future__ import annotations

import pytest

from events import codec
from events.schema import GenerationRequested, MessageSubmitted, SessionCreated, SessionSettings, Timings, Usage
from services.generation import policy
from services.generation.answer import Cancel, Complete, Fail
from services.generation.config import Limits, LlmConfig
from services.generation.context import fold
from services.generation.errors import NotConfigured, ProviderError, ProviderUnavailable, RateLimited
from services.generation.policy import estimate_tokens


def test_estimate_tokens_counts_words_and_marks():  # moved from test_generation_providers
    assert estimate_tokens("Hello, world!") == 4
    assert estimate_tokens("") == 0


def ev(kind, **fields):
    return codec.make(kind, session_id="s1", user_id="u1", **fields)


CREATED = ev(SessionCreated, title="t", llm_provider="local", llm_model="m1")
ASKED = ev(MessageSubmitted, message_id="q1", content="hi")


@pytest.mark.parametrize(
    ("request_fields", "session", "cfg", "expected"),
    [
        ({}, CREATED, LlmConfig(), ("local", "m1")),
        ({"llm_model": "m2"}, CREATED, LlmConfig(), ("local", "m2")),
        ({"llm_provider": "openrouter"}, CREATED, LlmConfig(), ("openrouter", None)),
        ({"llm_provider": "openrouter", "llm_model": "x/y"}, CREATED, LlmConfig(), ("openrouter", "x/y")),
        ({}, None, LlmConfig(default_provider="openrouter", default_model="d/m"), ("openrouter", "d/m")),
        ({}, None, LlmConfig(), ("local", None)),
    ],
)
def test_choice_prefers_request_then_session_then_config(
    request_fields, session, cfg, expected
):  # from test_generation_answer
    request = ev(GenerationRequested, message_id="a1", prompt_message_id="q1", **request_fields)
    history = fold("s1", list(enumerate((e for e in (session, ASKED, request) if e is not None), 1)))
    assert policy.choice(history, request, cfg) == expected


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


def test_params_cap_the_sessions_max_tokens_by_the_limits():
    assert policy.params(SessionSettings(temperature=0.2, max_tokens=500), Limits(max_tokens=100)) == {
        "temperature": 0.2,
        "top_p": SessionSettings().top_p,
        "max_tokens": 100,
    }
    assert policy.params(SessionSettings(max_tokens=50), Limits(max_tokens=100))["max_tokens"] == 50
    assert policy.params(SessionSettings(), Limits(max_tokens=None))["max_tokens"] is None


def tried(ending, streamed=False, model="m"):
    return policy.Tried("local", model, "small", ending, streamed, Timings(total_ms=5), "marks", 3)


PROMPT = [{"role": "user", "content": "a b"}]


def test_a_finished_stream_completes_with_the_reported_or_estimated_usage():
    reported = Usage(prompt_tokens=1, completion_tokens=3)
    done = policy.verdict(tried(policy.Finished(reported, "stop"), streamed=True), PROMPT)
    assert done == Complete("local", "m", reported, Timings(total_ms=5), "stop", "marks")
    # no model asked for: the provider's default; no usage reported: our estimate
    done = policy.verdict(tried(policy.Finished(None, None), model=None), PROMPT)
    assert (done.model, done.usage) == ("small", Usage(prompt_tokens=2, completion_tokens=3, reported=False))


def test_a_provider_failing_before_the_first_token_fails_over_and_after_it_ends_the_answer():
    failure = ProviderError("boom", provider="local", model="m")
    assert policy.verdict(tried(policy.Broke(failure)), PROMPT) is None  # try the next candidate
    assert policy.verdict(tried(policy.Broke(failure), streamed=True), PROMPT) == Fail(
        "provider_error", "boom", Timings(total_ms=5), "local", "m", "marks"
    )


def test_stop_cancels_and_a_crash_fails_as_internal_even_before_the_first_token():
    assert policy.verdict(tried(policy.Stopped()), PROMPT) == Cancel(Timings(total_ms=5), "marks")
    crash = policy.verdict(tried(policy.Crashed(KeyError("x"))), PROMPT)
    assert (crash.kind, crash.message, crash.provider) == ("internal", "internal error: KeyError: 'x'", "local")
    with pytest.raises(TypeError):
        policy.verdict(tried("not an ending"), PROMPT)


def test_an_answer_no_stream_ended_is_cancelled_or_fails_with_the_chosen_error():
    timings = Timings(total_ms=9)
    assert policy.unanswered(True, [], timings, "marks") == Cancel(timings, "marks")
    down = ProviderUnavailable("local: connection refused", provider="local", model="m")
    assert policy.unanswered(False, [down], timings, "marks") == Fail(
        "provider_unavailable", "local: connection refused", timings, "local", "m"
    )
