"""Joining what clients received with what the provider emitted. Pure functions.

The provider (services.scripted_llm) records per request the messages it got and one emit time
per token (``time.time()``); every prompt carries ``bench:<nonce>``, so a client's answer finds
its provider request, and token ``i`` of a chunk received at ``t`` has latency
``t - token_times[i]``. Both clocks are the same machine's wall clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from services.bench.plan import Answer

_NONCE = re.compile(r"bench:(\S+)")


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return message["content"]
    return ""


def nonce_of(record: dict[str, Any]) -> str | None:
    """The nonce of the prompt a provider request answered (its last user message)."""
    found = _NONCE.search(last_user_text(record.get("messages") or []))
    return found.group(1) if found else None


def by_nonce(records: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Provider requests that sent tokens, per nonce, oldest first (attempt 1, 2, ...)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(records, key=lambda r: r.get("received_at") or 0.0):
        nonce = nonce_of(record)
        if nonce is not None and record.get("token_times"):
            found.setdefault(nonce, []).append(record)
    return found


@dataclass
class Joined:
    latencies: list[float] = field(default_factory=list)  # seconds, one per token received in the window
    ttft: list[float] = field(default_factory=list)  # client: first token received - prompt sent
    provider_ttft: list[float] = field(default_factory=list)  # provider: first token emitted - request received
    ttft_overhead: list[float] = field(default_factory=list)  # ttft - provider_ttft
    request_path: list[float] = field(default_factory=list)  # prompt sent -> provider received the request
    socket_wait: list[float] = field(default_factory=list)  # open loop: due -> sent (no socket was free)
    tokens: int = 0  # tokens received in the window
    token_frames: int = 0  # token frames (chunks) received in the window
    answers: int = 0  # answers completed in the window
    unmatched: int = 0  # answers with tokens but no provider request carrying their nonce
    unknown_tokens: int = 0  # token indexes the provider never emitted


def join(answers: Iterable[Answer], records: dict[str, list[dict[str, Any]]], start: float, end: float) -> Joined:
    """Latencies of the tokens received in ``[start, end)``; TTFT of the prompts sent in it."""
    out = Joined()
    for answer in answers:
        if answer.outcome == "completed" and answer.done_at is not None and start <= answer.done_at < end:
            out.answers += 1
        if not answer.tokens:
            continue
        requests = records.get(answer.nonce)
        if not requests:
            out.unmatched += 1
            continue
        for token_index, count, received, attempt in answer.tokens:
            if not start <= received < end:
                continue
            emitted = requests[min(attempt, len(requests)) - 1]["token_times"]
            for i in range(token_index, token_index + count):
                if i < len(emitted):
                    out.latencies.append(received - emitted[i])
                else:
                    out.unknown_tokens += 1
            out.tokens += count
            out.token_frames += 1
        # Open loop: from when the prompt was due, so waiting for a free socket counts.
        asked = answer.scheduled_at or answer.sent_at
        if start <= asked < end:
            first = requests[0]
            first_received = min(t for _, _, t, _ in answer.tokens)
            ttft = first_received - asked
            if answer.scheduled_at:
                out.socket_wait.append(answer.sent_at - answer.scheduled_at)
            own = first["first_token_at"] - first["received_at"]
            out.ttft.append(ttft)
            out.provider_ttft.append(own)
            out.ttft_overhead.append(ttft - own)
            out.request_path.append(first["received_at"] - answer.sent_at)
    return out


def frames_in(buckets: dict[int, int], t0: float, start: float, end: float, bucket_s: float) -> int:
    """Frames received in ``[start, end)`` (to bucket precision) from per-bucket counts since ``t0``."""
    first, last = int((start - t0) // bucket_s), int((end - t0) // bucket_s)
    return sum(n for b, n in buckets.items() if first <= b < last)
