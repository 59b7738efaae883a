"""A replayed conversation as JSON, plain text or Markdown (pure: strings out)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from services.audit.conversation import Conversation, Lifecycle, TimelineEntry

FORMATS = ("text", "json", "markdown")


def document(conv: Conversation, as_of: datetime | None = None) -> dict[str, Any]:
    """The JSON document: ``messages`` are exactly the REST messages; ``answers`` and
    ``timeline`` add what the read model folds away."""
    session = conv.session_dict()
    return {
        "session_id": conv.session_id,
        "as_of": as_of,
        "through_seq": conv.last_seq,
        "deleted": bool(conv.session and not conv.session.is_active),
        "deleted_at": conv.session.deleted_at if conv.session else None,
        "imported_from": conv.imported_from,
        "session": session,
        "messages": conv.messages(),
        "answers": {mid: msgspec.to_builtins(life) for mid, life in conv.answers.items()},
        "timeline": [msgspec.to_builtins(t) for t in conv.timeline],
    }


def to_json(conv: Conversation, as_of: datetime | None = None) -> str:
    return msgspec.json.format(msgspec.json.encode(document(conv, as_of)), indent=2).decode()


def _t(at: datetime | None) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z") if at else "-"


def header(conv: Conversation) -> list[str]:
    s = conv.session
    if s is None:
        return [f"session {conv.session_id} (no session.created event)"]
    lines = [
        f'session {s.id} "{s.title or ""}" of {s.user_id}, {s.llm_provider}/{s.llm_model}, created {_t(s.created_at)}'
    ]
    if not s.is_active:
        lines.append(f"  DELETED at {_t(s.deleted_at)} (hidden from its user; its events stay)")
    if conv.imported_from:
        lines.append(f"  imported (from {conv.imported_from})")
    return lines


def answer_lines(life: Lifecycle | None, indent: str = "    ") -> list[str]:
    if life is None:
        return []
    lines = []
    if life.regenerate:
        lines.append(f"{indent}regenerated answer")
    for a in life.attempts:
        head = f"{indent}attempt {a.attempt}"
        if a.restart_reason:
            head += f" (restart: {a.restart_reason})"
        head += (
            f": {a.llm_provider or '?'}/{a.llm_model or '?'} on worker {a.worker_id or '?'}, started {_t(a.started_at)}"
        )
        lines.append(head)
        for c in a.chunks:
            lines.append(f"{indent}  +{c.offset_ms:>6} ms  #{c.seq}  {c.delta!r}")
        if a.tokens:
            lines.append(f"{indent}  token timing (from the terminal event): {len(a.tokens)} tokens")
            if not a.chunks:  # the short-lived deltas are gone: show the tokens instead
                lines += [f"{indent}  +{t.offset_ms:>6} ms  {t.text!r}" for t in a.tokens]
    if life.cancel_requested_at:
        lines.append(f"{indent}cancel requested at {_t(life.cancel_requested_at)}")
    if life.ended:
        end = f"{indent}{life.ended} at {_t(life.ended_at)} (#{life.ended_seq})"
        if life.error_kind:
            end += f": {life.error_kind}: {life.error_message}"
        lines.append(end)
    return lines


def to_text(conv: Conversation) -> str:
    lines = header(conv)
    for m in conv.messages():
        if m["role"] == "user":
            lines.append(f"[{_t(m['created_at'])}] user: {m['content']}")
            continue
        metrics = f"ttft {m['time_to_first_token_ms']} ms, total {m['response_time_ms']} ms, tokens {m['tokens_used']}"
        lines.append(
            f"[{_t(m['created_at'])}] assistant ({m['status']}, {m['llm_provider']}/{m['llm_model']}, {metrics}):"
        )
        lines.append(f"    {m['content']}")
        lines.extend(answer_lines(conv.answers.get(m["id"])))
    return "\n".join(lines)


def to_markdown(conv: Conversation) -> str:
    s = conv.session
    title = (s.title if s else None) or conv.session_id
    out = [f"# {title}", ""]
    out += [f"- {line.strip()}" for line in header(conv)]
    out.append("")
    for m in conv.messages():
        who = "User" if m["role"] == "user" else f"Assistant ({m['llm_provider']}/{m['llm_model']}, {m['status']})"
        out += [f"## {who} · {_t(m['created_at'])}", ""]
        if m.get("reasoning"):  # a reasoning model's thinking, before its answer as it came
            out += ["<details><summary>Thinking</summary>", "", m["reasoning"], "", "</details>", ""]
        out += [m["content"] or "_(empty)_", ""]
        life = conv.answers.get(m["id"])
        if life is not None:
            out += ["<details><summary>attempts and token timing</summary>", "", "```"]
            out += [line.removeprefix("    ") for line in answer_lines(life)]
            out += ["```", "", "</details>", ""]
    return "\n".join(out)


def timeline_line(entry: TimelineEntry) -> str:
    parts = [f"#{entry.seq}", _t(entry.occurred_at), entry.type]
    if entry.message_id:
        parts.append(f"message {entry.message_id}")
    if entry.attempt is not None:
        parts.append(f"attempt {entry.attempt}")
    if entry.worker_id:
        parts.append(f"worker {entry.worker_id}")
    if entry.note:
        parts.append(f"({entry.note})")
    return "  ".join(parts)


def render(conv: Conversation, fmt: str, as_of: datetime | None = None) -> str:
    match fmt:
        case "json":
            return to_json(conv, as_of)
        case "markdown":
            return to_markdown(conv)
        case "text":
            return to_text(conv)
        case _:
            raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
