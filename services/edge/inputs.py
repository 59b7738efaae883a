"""What every value a client sends must be before anything else looks at it. Pure.

Python's ``json`` accepts what JSON does not (``NaN``, ``Infinity``, ``1e999`` as inf) and what
PostgreSQL and NATS cannot store (a lone surrogate cannot be encoded as UTF-8; PostgreSQL text
cannot hold NUL). Accepted, such a value fails later where it hurts: an error response that
cannot be encoded (500), a projection that dead-letters the session's events. So it is refused
at the door: ``problem`` names the first bad value and where it is.

Ids: sessions and messages have UUID ids, written in one form everywhere (lower case, hyphens),
whatever form the client used (Swift's ``uuidString`` is upper case).
"""

from __future__ import annotations

import math
import uuid
from typing import Any

# Integers beyond a signed 64-bit range fit no column and no stream field.
MAX_INT = 2**63 - 1
# Pages past this are refused (422): far beyond any real history, and far from int64 offsets.
MAX_PAGE = 1_000_000
# Nesting deeper than this is no request of ours (and would exhaust the recursion).
MAX_DEPTH = 32

Path = tuple[str | int, ...]


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None."""
    if "\x00" in value:
        return "NUL characters are not accepted"
    try:
        value.encode()
    except UnicodeEncodeError:
        return "lone UTF-16 surrogates are not accepted (not valid Unicode)"
    return None


def problem(value: Any, path: Path = (), depth: int = 0) -> tuple[Path, str] | None:
    """The first value of a decoded JSON document no part of Parley can take, and why."""
    if depth > MAX_DEPTH:
        return path, f"nested deeper than {MAX_DEPTH} levels"
    match value:
        case str():
            why = text_problem(value)
            return (path, why) if why else None
        case bool() | None:
            return None
        case int():
            return None if -MAX_INT - 1 <= value <= MAX_INT else (path, "integer out of the 64-bit range")
        case float():
            return None if math.isfinite(value) else (path, "NaN and infinite numbers are not JSON")
        case dict():
            for key, item in value.items():
                if found := problem(key, (*path, str(key)), depth + 1) or problem(item, (*path, key), depth + 1):
                    return found
            return None
        case list():
            for i, item in enumerate(value):
                if found := problem(item, (*path, i), depth + 1):
                    return found
            return None
        case _:
            return path, f"unexpected {type(value).__name__}"


def reject_constant(name: str) -> float:
    """``json.loads(parse_constant=...)``: ``NaN``/``Infinity`` are not JSON."""
    raise ValueError(f"{name} is not JSON")


def canonical_id(value: str) -> str | None:
    """A UUID in its one stored form (``8-4-4-4-12`` lower-case hex), or None if it is none."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None
