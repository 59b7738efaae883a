"""What one request is scripted to do: defaults, per-request directives, and the token plan.

Pure functions only; the HTTP side lives in ``app.py``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

from services.scripted_llm.errors import ScriptError

DEFAULT_TOKENS = 16
REASONING_FIELDS = ("reasoning_content", "reasoning")


class Script(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How to answer. Server-wide defaults come from the command line and ``POST /_script``;
    directives in the last user message override them for one request."""

    reply: str | None = None  # None: "tok0 tok1 tok2 ..."
    tokens: int | None = None  # None: the reply's own length (16 without a reply); else cycle/cut to N
    rate: float = 200.0  # tokens per second; 0 sends as fast as possible
    first_token_delay_ms: float = 0.0
    fail_after: int | None = None  # SSE error event after N tokens, then the stream ends
    drop_after: int | None = None  # connection dropped (no error event) after N tokens
    status: int | None = None  # answer with this HTTP status instead of a completion
    status_times: int | None = None  # only the first N requests of the same prompt get ``status``
    hang: bool = False  # send headers, then nothing until the client leaves
    echo: bool = False  # reply with the JSON of the messages received
    usage: bool = True  # report usage in the final chunk when the client asks for it
    model: str = "scripted"
    context_window: int | None = None  # reported as the model's ``context_length`` in /v1/models
    # Reasoning streamed before the answer, as reasoning models do, in the delta field
    # ``reasoning_field``: "reasoning_content" (llama.cpp, vLLM, DeepSeek) or "reasoning" (OpenRouter).
    reasoning: str | None = None
    reasoning_field: str = "reasoning_content"


_DIRECTIVE = re.compile(r"\[\[\s*([a-z_]+)\s*(?::(.*?))?\]\]", re.DOTALL)
_STATUS = re.compile(r"^\s*(\d{3})\s*(?:x\s*(\d+))?\s*$")


def _int(name: str, value: str | None, minimum: int = 0) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ScriptError(f"[[{name}:N]] wants an integer >= {minimum}, got {value!r}") from None
    if number < minimum:
        raise ScriptError(f"[[{name}:N]] wants an integer >= {minimum}, got {value!r}")
    return number


def _float(name: str, value: str | None) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ScriptError(f"[[{name}:X]] wants a number >= 0, got {value!r}") from None
    if number < 0 or number != number:
        raise ScriptError(f"[[{name}:X]] wants a number >= 0, got {value!r}")
    return number


def directives(text: str) -> dict[str, Any]:
    """The overrides written as ``[[name]]`` / ``[[name:value]]`` in ``text``."""
    found: dict[str, Any] = {}
    for name, value in _DIRECTIVE.findall(text):
        match name:
            case "tokens":
                found["tokens"] = _int(name, value)
            case "rate":
                found["rate"] = _float(name, value)
            case "reply":
                found["reply"] = value
            case "fail_after":
                found["fail_after"] = _int(name, value)
            case "drop_after":
                found["drop_after"] = _int(name, value)
            case "first_token_delay_ms":
                found["first_token_delay_ms"] = _float(name, value)
            case "status":
                m = _STATUS.match(value)
                if not m or not 400 <= int(m.group(1)) <= 599:
                    raise ScriptError(f"[[status:CODE]] or [[status:CODExN]] wants a 4xx/5xx code, got {value!r}")
                found["status"] = int(m.group(1))
                found["status_times"] = int(m.group(2)) if m.group(2) else None
            case "hang":
                found["hang"] = True
            case "echo":
                found["echo"] = True
            case "no_usage":
                found["usage"] = False
            case "reasoning":
                found["reasoning"] = value or ""
            case "reasoning_field":
                if value not in REASONING_FIELDS:
                    raise ScriptError(
                        f"[[reasoning_field:F]] wants one of {', '.join(REASONING_FIELDS)}, got {value!r}"
                    )
                found["reasoning_field"] = value
            case _:
                raise ScriptError(
                    f"unknown directive [[{name}]]; known: tokens, rate, reply, fail_after, drop_after, "
                    "first_token_delay_ms, status, hang, echo, no_usage, reasoning, reasoning_field"
                )
    return found


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):  # OpenAI content parts
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def for_request(defaults: Script, messages: list[dict[str, Any]]) -> Script:
    """The defaults with the last user message's directives applied."""
    return msgspec.structs.replace(defaults, **directives(last_user_text(messages)))


def updated(current: Script, changes: dict[str, Any]) -> Script:
    """``current`` with the fields of a ``POST /_script`` body replaced (validated)."""
    if not isinstance(changes, dict):
        raise ScriptError("the /_script body must be a JSON object of Script fields")
    try:
        return msgspec.convert({**msgspec.structs.asdict(current), **changes}, Script)
    except msgspec.ValidationError as exc:
        raise ScriptError(f"bad /_script body: {exc}") from None


def split(text: str) -> list[str]:
    """Word tokens that join back to ``text`` exactly (each carries its leading whitespace)."""
    parts = re.findall(r"\s*\S+", text)
    tail = text[len("".join(parts)) :]
    if tail:
        parts = [*parts[:-1], parts[-1] + tail] if parts else [tail]
    return parts


def plan(script: Script, messages: list[dict[str, Any]], max_tokens: int | None = None) -> tuple[list[str], str]:
    """The tokens to send and the finish reason."""
    if script.echo:
        tokens = split(json.dumps(messages, ensure_ascii=False))
    elif script.reply is not None:
        base = split(script.reply)
        count = len(base) if script.tokens is None else script.tokens
        tokens = [base[i % len(base)] for i in range(count)] if base else []
    else:
        count = DEFAULT_TOKENS if script.tokens is None else script.tokens
        tokens = [f"tok{i}" if i == 0 else f" tok{i}" for i in range(count)]
    if max_tokens is not None and max_tokens < len(tokens):
        return tokens[:max_tokens], "length"
    return tokens, "stop"


def count_words(messages: list[dict[str, Any]]) -> int:
    """A deterministic stand-in for prompt tokens."""
    return sum(len(str(m.get("content", "")).split()) for m in messages)
