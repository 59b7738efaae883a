"""The business rules of one answer, pure (beside ``answer.py``): which providers to try and in
what order, the usage recorded when a provider reports none, and which error ends an answer that
no provider gave. The responder asks these and publishes what ``answer.decide`` makes of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from events.schema import ErrorKind, Usage

_WORD = re.compile(r"\w+|[^\w\s]")


def estimate_tokens(text: str) -> int:
    """Our own count when a provider reports no usage: words and punctuation marks."""
    return len(_WORD.findall(text))


def candidates(
    provider: str, model: str | None, failover: Iterable[str], defaults: Mapping[str, str]
) -> list[tuple[str, str | None]]:
    """``(provider, model)`` to try in order: the choice, then the failover list (``provider`` or
    ``provider:model``). ``defaults``: each configured provider's default model. Duplicates and
    unconfigured failover entries are left out; the choice itself stays (it fails clearly)."""
    out = [(provider, model or defaults.get(provider))]
    for item in failover:
        name, _, alt = item.partition(":")
        if name not in defaults:
            continue
        pair = (name, alt or defaults[name])
        if pair not in out:
            out.append(pair)
    return out


def usage(reported: Usage | None, messages: Sequence[Mapping[str, Any]], completion_tokens: int) -> Usage:
    """The provider's numbers when it reported them, else our estimate (``reported=False``)."""
    if reported is not None:
        return reported
    prompt = sum(estimate_tokens(str(m["content"])) for m in messages)
    return Usage(prompt_tokens=prompt, completion_tokens=completion_tokens, reported=False)


@dataclass(frozen=True, slots=True)
class NoAnswer:
    kind: ErrorKind
    message: str
    provider: str | None
    model: str | None


def no_answer(failures: Sequence[Any]) -> NoAnswer:
    """How an answer ends when every candidate failed before its first token. ``failures``:
    ``ProviderFailure``s in the order tried. One failure keeps its kind; several that were all
    worth a retry (down, 5xx, 429) mean the providers are unavailable; else the last one's kind."""
    if not failures:
        return NoAnswer("bad_request", "no provider to try", None, None)
    last = failures[-1]
    if len(failures) == 1 or not all(f.retryable for f in failures):
        kind = last.kind
    else:
        kind = "provider_unavailable"
    return NoAnswer(kind, "; ".join(str(f) for f in failures), last.provider or None, last.model or None)
