"""A conversation longer than the model's context window is trimmed, oldest turns first, and
still answered; the answer records it. Real NATS, in-process workers, the scripted LLM over HTTP
(which reports the model's window and counts tokens at /tokenize, as llama.cpp does)."""

from __future__ import annotations

import asyncio

import msgspec

from services.generation import config
from services.generation.config import Limits, LlmConfig
from tests.support.generation import new_session, send, wait_ended
from tests.test_generation_worker import ended, llm, workers  # noqa: F401 (fixtures)

WORDS = 60  # a long turn: 60 tokens by the scripted tokenizer


async def test_a_long_conversation_is_trimmed_to_the_window_and_answered(js, workers, llm):  # noqa: F811
    llm.state.script = msgspec.structs.replace(llm.state.script, context_window=300, tokens=4)
    await workers()
    sid = await new_session(js, system_prompt="be kind", max_tokens=20)
    for i in range(6):
        _, aid = await send(js, sid, f"turn{i} " + "word " * WORDS)
        done = ended(await wait_ended(js, sid, aid))
        assert type(done).__name__ == "GenerationCompleted"
    # The window holds 300 - 20 tokens: the system prompt, the newest turn and a few before it.
    sent = llm.records[-1].messages
    assert sent[0] == {"role": "system", "content": "be kind"}
    assert sent[-1]["content"].startswith("turn5 ")
    assert sent[1]["role"] == "user"  # never starts on an answer
    kept = [m["content"].split()[0] for m in sent if m["role"] == "user"]
    assert kept[-1] == "turn5" and "turn0" not in kept and len(kept) < 6
    assert done.context_dropped == 11 - (len(sent) - 1) and done.context_dropped > 0
    # Short conversations are sent whole and record nothing.
    sid2 = await new_session(js)
    _, aid = await send(js, sid2, "hello")
    assert ended(await wait_ended(js, sid2, aid)).context_dropped == 0


async def test_the_config_gives_a_window_when_the_provider_reports_none(js, workers, llm):  # noqa: F811
    await config.put(js, LlmConfig(limits=Limits(context_window=200)))
    await workers()
    await asyncio.sleep(0.2)
    sid = await new_session(js, max_tokens=20)
    for i in range(4):
        _, aid = await send(js, sid, f"turn{i} " + "word " * WORDS)
        done = ended(await wait_ended(js, sid, aid))
    sent = llm.records[-1].messages
    assert sent[0]["content"].startswith("turn") and len(sent) < 7 and done.context_dropped == 7 - len(sent)
