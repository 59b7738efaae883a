"""Reading the chat-completions wire (pure): streamed chunks into deltas and the end, statuses
into typed failures. The same paths over real HTTP are in test_generation_provider."""

from __future__ import annotations

import json

import pytest

from events.schema import Usage
from services.generation.completions import Delta, Done, Reader, failure
from services.generation.errors import ProviderError, ProviderUnavailable, RateLimited


def chunk(**fields) -> str:
    return json.dumps(fields)


def test_deltas_then_done_with_the_finish_reason_and_usage():
    reader = Reader("local", "m")
    assert reader.read("  ") == []
    assert reader.read(chunk(choices=[{"delta": {"role": "assistant"}}])) == []
    assert not reader.got_token
    assert reader.read(chunk(choices=[{"delta": {"reasoning": "hm"}}])) == [Delta("hm", reasoning=True)]
    assert reader.read(chunk(choices=[{"delta": {"content": "hi"}, "finish_reason": "stop"}])) == [Delta("hi")]
    assert reader.got_token
    assert reader.read(chunk(choices=[], usage={"prompt_tokens": 3, "completion_tokens": 1})) == []
    assert reader.read("[DONE]") == [Done("stop", Usage(prompt_tokens=3, completion_tokens=1, reported=True))]


def test_a_body_ended_without_done_is_complete_only_when_the_provider_finished():
    reader = Reader("local", "m")
    reader.read(chunk(choices=[{"delta": {"content": "hi"}}]))
    with pytest.raises(ProviderError, match="closed the stream before the answer ended"):
        reader.end()
    reader.read(chunk(choices=[{"delta": {}, "finish_reason": "length"}]))
    assert reader.end() == Done("length", None)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ("{not json", "malformed chunk"),
        ("[1, 2]", "malformed chunk"),
        (chunk(error={"message": "overloaded"}), "failed mid-stream: overloaded"),
        (chunk(choices=[{"delta": {}, "finish_reason": "error"}]), "ended the stream with an error"),
    ],
)
def test_a_bad_chunk_is_a_provider_error_naming_the_provider_and_model(data, match):
    with pytest.raises(ProviderError, match=match) as raised:
        Reader("openrouter", "big").read(data)
    assert (raised.value.provider, raised.value.model) == ("openrouter", "big")


def test_statuses_become_typed_failures():
    limited = failure("openrouter", 429, b'{"error": {"message": "slow down"}}', "Too Many", "2.5", "big")
    assert isinstance(limited, RateLimited) and limited.retry_after == 2.5 and limited.retryable
    assert str(limited) == "openrouter:big answered 429: slow down"
    assert failure("local", 429, b"", "Too Many", "Wed, 21 Oct 2026 07:28:00 GMT", "").retry_after is None
    down = failure("local", 503, b"", "Service Unavailable", None, "")
    assert isinstance(down, ProviderUnavailable) and str(down) == "local answered 503: Service Unavailable"
    refused = failure("local", 400, b'{"error": "bad model"}', "Bad Request", None, "m")
    assert type(refused) is ProviderError and not refused.retryable and refused.status == 400
