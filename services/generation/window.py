"""Fit a conversation into the model's context window (pure).

The oldest turns go first; the system prompt and the newest message always stay (if those alone
overrun the window, the provider says so and the answer fails as ``bad_request``). The token
count is the provider's own tokenizer where it offers one, else ``estimate``: UTF-8 bytes / 3,
rounded up, which over-counts English (~4.5 bytes a token) and matches CJK text (~1 token a
3-byte character), so an estimate errs towards trimming, never towards overrunning. Each message
costs ``PER_MESSAGE`` more tokens for the chat template's role markers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

PER_MESSAGE = 4
# Room kept for the answer when the session sets no max_tokens: a quarter of the window, at most this.
DEFAULT_ANSWER_RESERVE = 1024


def estimate(text: str) -> int:
    return math.ceil(len(text.encode("utf-8", "surrogatepass")) / 3)


def budget(context_window: int, max_tokens: int | None) -> int:
    """Tokens the prompt may use: the window less the room kept for the answer."""
    reserve = max_tokens if max_tokens is not None else min(DEFAULT_ANSWER_RESERVE, context_window // 4)
    return max(0, context_window - reserve)


@dataclass(frozen=True, slots=True)
class Fitted:
    messages: list[dict[str, Any]]
    dropped: int  # messages left out (oldest first)
    tokens: int  # the prompt's size as counted


def fit(messages: Sequence[dict[str, Any]], limit: int, count: Callable[[str], int] = estimate) -> Fitted:
    """The newest messages that fit in ``limit`` tokens, after the system prompt if any.

    The kept part starts on a user turn, so the model never sees an answer without its question.
    """
    system = [m for m in messages[:1] if m.get("role") == "system"]
    turns = list(messages[len(system) :])
    sizes = [count(str(m.get("content") or "")) + PER_MESSAGE for m in turns]
    used = sum(count(str(m.get("content") or "")) + PER_MESSAGE for m in system)
    if not turns:
        return Fitted(list(messages), 0, used)
    keep = len(turns) - 1  # the newest message stays whatever it costs
    used += sizes[keep]
    while keep > 0 and used + sizes[keep - 1] <= limit:
        keep -= 1
        used += sizes[keep]
    while keep < len(turns) - 1 and turns[keep].get("role") != "user":
        used -= sizes[keep]
        keep += 1
    return Fitted(system + turns[keep:], keep, used)
