"""events.compiler: each way a rule changes a field, as the compiled Python runs it (the TypeScript
twin is checked against the same fold by web/test/lifecycle.test.ts)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from events import compiler
from events.compiler import Field, Rule
from events.model import ChatMessage

T = "2026-11-30T12:00:00Z"


def message(**fields) -> ChatMessage:
    fields = {"status": "streaming", **fields}
    return ChatMessage(id="a", session_id="s", role="assistant", created_at=T, updated_at=T, **fields)


RULES = {
    "toy": Rule(
        "Toy",
        "failed",
        (
            Field("content", "append", "delta", when="!flag"),
            Field("reasoning", "append", "delta", when="flag"),
            Field("completion_tokens", "add", "count"),
            Field("attempt", "max"),
            Field("llm_model", "or"),
            Field("error_kind"),
            Field("metadata", "merge"),
        ),
        "older",
        fresh=True,
    ),
    "strict": Rule("Strict", "streaming", (Field("attempt"),), "not newer"),
}
FOLD = compiler.python(RULES)


def given(**values):
    base = {"delta": "x", "flag": False, "count": 2, "attempt": 1, "llm_model": "", "error_kind": "e", "metadata": {}}
    return SimpleNamespace(**{**base, **values})


def test_each_way_a_field_changes():
    held = message(content="ab", reasoning="r", completion_tokens=None, llm_model="m", metadata={"k": 1, "j": 1})
    out = FOLD["toy"](held, given(metadata={"j": 2}), 7, "later")
    assert (out.content, out.reasoning) == ("abx", "r")  # appended where the flag says
    assert out.completion_tokens == 2  # none held counts as 0
    assert out.llm_model == "m"  # an empty given value keeps the held one
    assert (out.error_kind, out.metadata) == ("e", {"k": 1, "j": 2})
    assert (out.status, out.is_streaming, out.last_seq, out.updated_at) == ("failed", False, 7, "later")
    flagged = FOLD["toy"](held, given(flag=True, llm_model="n"), 8, T)
    assert (flagged.content, flagged.reasoning, flagged.llm_model) == ("ab", "rx", "n")


def test_a_newer_attempt_starts_afresh_and_an_older_one_changes_nothing():
    held = message(content="old", reasoning="r", completion_tokens=5, attempt=2)
    newer = FOLD["toy"](held, given(attempt=3), 1, T)
    assert (newer.content, newer.reasoning, newer.completion_tokens, newer.attempt) == ("x", "", 2, 3)
    assert FOLD["toy"](held, given(attempt=1), 1, T) is None
    assert FOLD["strict"](held, given(attempt=2), 1, T) is None  # "not newer": the same attempt too


@pytest.mark.parametrize("status", ["complete", "failed", "cancelled"])
def test_nothing_changes_an_ended_message(status):
    assert FOLD["toy"](message(status=status), given(attempt=9), 1, T) is None


def test_the_typescript_twin_has_the_same_steps():
    ts = compiler.typescript(RULES, "here")
    assert "export function toy<M extends ChatMessage>(m: M, d: Toy, seq: number | null): M | null {" in ts
    assert '    content: d.flag ? content : (content ?? "") + d.delta,' in ts
    assert '    reasoning: d.flag ? (reasoning ?? "") + d.delta : reasoning,' in ts
    assert "    llm_model: d.llm_model || m.llm_model," in ts
    assert "    metadata: { ...m.metadata, ...d.metadata }," in ts
    assert "  if (d.attempt <= m.attempt) return null;" in ts
