"""Fitting a conversation into a context window (pure)."""

from __future__ import annotations

from services.generation import window
from services.generation.window import PER_MESSAGE, budget, estimate, fit


def turns(*texts: str) -> list[dict]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(texts)]


def words(text: str) -> int:
    return len(text.split())


def test_everything_fits_untouched():
    messages = [{"role": "system", "content": "be brief"}, *turns("a b", "c", "d e f")]
    fitted = fit(messages, 1000, words)
    assert fitted.messages == messages and fitted.dropped == 0
    assert fitted.tokens == 2 + 2 + 1 + 3 + 4 * PER_MESSAGE


def test_oldest_turns_go_first_system_and_newest_stay():
    system = {"role": "system", "content": "rules " * 10}
    messages = [system, *turns("one " * 50, "two " * 50, "three " * 50, "four " * 50, "five " * 50)]
    fitted = fit(messages, 10 + 50 * 3 + 4 * PER_MESSAGE, words)
    # The kept part starts on a user turn: "three" (user), "four", "five".
    assert [m["content"].split()[0] for m in fitted.messages] == ["rules", "three", "four", "five"]
    assert fitted.dropped == 2 and fitted.tokens <= 10 + 150 + 4 * PER_MESSAGE


def test_never_starts_on_an_answer():
    messages = turns("q1 " * 10, "a1 " * 10, "q2 " * 10)
    # Room for a1 and q2 but not q1: a1 alone would be an answer without its question.
    fitted = fit(messages, 20 + 2 * PER_MESSAGE, words)
    assert [m["content"].split()[0] for m in fitted.messages] == ["q2"]
    assert fitted.dropped == 2


def test_newest_message_stays_even_when_it_alone_overruns():
    system = {"role": "system", "content": "keep me"}
    fitted = fit([system, *turns("old", "older answer", "huge " * 500)], 50, words)
    assert fitted.messages[0] == system and fitted.messages[-1]["content"].startswith("huge")
    assert len(fitted.messages) == 2 and fitted.dropped == 2


def test_estimate_errs_towards_more_tokens():
    assert estimate("") == 0
    assert estimate("hello world, how are you today?") >= 7  # ~8 real tokens in most BPEs
    assert estimate("日本語のテキスト") == 8  # one token a character, near enough
    assert estimate("\ud800") == 1  # a lone surrogate counts, never raises


def test_budget_keeps_room_for_the_answer():
    assert budget(4096, 512) == 4096 - 512
    assert budget(4096, None) == 4096 - 1024
    assert budget(1000, None) == 750
    assert budget(100, 500) == 0
    assert window.DEFAULT_ANSWER_RESERVE == 1024
