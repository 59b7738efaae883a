"""The business rules of one answer, pure (beside ``answer.py``): which provider and model it asks
for, which providers to try and in what order, the call's parameters, what the end of each
provider stream means for the answer (``verdict``: failing over only before the first token), the
usage recorded when a provider reports none, and which error ends an answer that no provider gave.
The responder asks these and publishes what ``answer.decide`` makes of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from events.schema import ErrorKind, GenerationRequested, SessionSettings, Timings, Usage
from services.generation.answer import Cancel, Command, Complete, Fail
from services.generation.config import Limits, LlmConfig
from services.generation.context import History
from services.generation.errors import ProviderFailure

_WORD = re.compile(r"\w+|[^\w\s]")


def estimate_tokens(text: str) -> int:
    """Our own count when a provider reports no usage: words and punctuation marks."""
    return len(_WORD.findall(text))


def choice(history: History, request: GenerationRequested, cfg: LlmConfig) -> tuple[str, str | None]:
    """``(provider, model)`` for an answer: the request's override, else the session's choice, else
    the live config's default. ``None`` model: that provider's default."""
    if request.llm_provider:
        provider = request.llm_provider
        model = request.llm_model
    elif request.llm_model:
        provider, model = history.llm_provider or cfg.default_provider, request.llm_model
    elif history.llm_provider:
        provider, model = history.llm_provider, history.llm_model
    else:
        provider, model = cfg.default_provider, None
    if model is None and provider == cfg.default_provider:
        model = cfg.default_model
    return provider, model


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


def params(settings: SessionSettings, limits: Limits) -> dict[str, Any]:
    """The provider call's sampling parameters: the session's, its max_tokens capped by the limits."""
    caps = [v for v in (settings.max_tokens, limits.max_tokens) if v is not None]
    return {"temperature": settings.temperature, "top_p": settings.top_p, "max_tokens": min(caps) if caps else None}


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


# -- how one provider stream ended, and what that means ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Finished:
    usage: Usage | None  # None when the provider did not report it
    finish_reason: str | None


@dataclass(frozen=True, slots=True)
class Broke:
    failure: ProviderFailure


@dataclass(frozen=True, slots=True)
class Stopped:
    """The user pressed stop."""


@dataclass(frozen=True, slots=True)
class Crashed:
    error: BaseException


Ending = Finished | Broke | Stopped | Crashed


@dataclass(frozen=True, slots=True)
class Tried:
    """One candidate's stream as it ended, with what an end event of the answer records."""

    provider: str
    model: str | None  # the candidate's (None: the provider's default)
    default_model: str
    ending: Ending
    streamed: bool  # a token arrived (on any candidate): too late to fail over
    timings: Timings
    tokens: str  # events.tokens encoding of the streamed tokens
    received: int  # tokens received


def verdict(tried: Tried, messages: Sequence[Mapping[str, Any]]) -> Command | None:
    """The command that ends the answer after ``tried``, or ``None``: try the next candidate
    (a provider that failed before the first token)."""
    match tried.ending:
        case Finished(usage=reported, finish_reason=reason):
            model = tried.model or tried.default_model
            used = usage(reported, messages, tried.received)
            return Complete(tried.provider, model, used, tried.timings, reason, tried.tokens)
        case Stopped():
            return Cancel(tried.timings, tried.tokens)
        case Broke() if not tried.streamed:
            return None
        case Broke(failure=failure):
            return Fail(failure.kind, str(failure), tried.timings, tried.provider, tried.model, tried.tokens)
        case Crashed(error=error):
            message = f"internal error: {type(error).__name__}: {error}"
            return Fail("internal", message, tried.timings, tried.provider, tried.model, tried.tokens)
        case _:
            raise TypeError(f"not a stream ending: {tried.ending!r}")


def unanswered(cancelled: bool, failures: Sequence[Any], timings: Timings, tokens: str) -> Command:
    """How an answer ends when no candidate's stream ended it: cancelled, or ``no_answer``."""
    if cancelled:
        return Cancel(timings, tokens)
    end = no_answer(failures)
    return Fail(end.kind, end.message, timings, end.provider, end.model)
