"""The answer lifecycle's rules (``events.lifecycle.RULES``: data) compiled to code, so the fold is
written once and runs the same on both sides of the socket:

- ``python``: straight-line functions built once at import (as ``dataclasses`` builds ``__init__``),
  as fast as hand-written ones (the projection folds every token);
- ``typescript``: the same functions for the web UI, written by ``just wire`` to
  ``services/edge/web/src/wire/lifecycle.ts`` (``conversation.ts`` calls them on the frames).

A rule folds one answer event into the message held, given the values the event says: for the
streaming events the event's own fields (their frames carry them under the same names); for an end,
the message ``lifecycle.ended`` builds from the event alone (its frame carries it as ``message``).
"""

from __future__ import annotations

import json
import linecache
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from events.model import LIVE, TERMINAL

How = Literal["set", "or", "max", "merge", "add", "append"]


@dataclass(frozen=True)
class Field:
    """A message field's new value from the one held (``mine``) and the given value (``source``):
    set = given; or = given unless empty, else mine; max; merge = mine's keys updated by the given's;
    add = mine (none: 0) + given; append = mine + given. ``when``: a flag of the given values the
    change depends on ("!flag": only when it is unset)."""

    name: str
    how: How = "set"
    source: str = ""
    when: str = ""


@dataclass(frozen=True)
class Rule:
    frame: str  # the TypeScript type of the frame's data (services/edge/wire.py)
    status: str
    fields: tuple[Field, ...]
    ignore: Literal["", "older", "not newer"] = ""  # the event's attempt against the message's
    fresh: bool = False  # a newer attempt starts from nothing (``RESET``)
    ended: bool = False  # the given values are the ended message (the frame's ``message``)


# What a newer attempt starts from: its text and token count (the older attempt's are void).
RESET: Mapping[str, Any] = {"content": "", "reasoning": "", "completion_tokens": None}
_GUARD = {"older": "<", "not newer": "<="}

Fold = Callable[[Any, Any, "int | None", Any], Any]


# Each way a field changes, as (Python, TypeScript); ``{m}``: the held value, ``{g}``: the given one.
_HOW: Mapping[str, tuple[str, str]] = {
    "set": ("{g}", "{g}"),
    "or": ("{g} or {m}", "{g} || {m}"),
    "max": ("max({m}, {g})", "Math.max({m}, {g})"),
    "merge": ("{{**{m}, **{g}}}", "{{ ...{m}, ...{g} }}"),
    "add": ("({m} or 0) + {g}", "({m} ?? 0) + {g}"),
    # A message cached by an older build of the UI may lack a newer text field (reasoning).
    "append": ("{m} + {g}", '({m} ?? "") + {g}'),
}
_IF = ("{yes} if {flag} else {no}", "{flag} ? {yes} : {no}")


def _value(field: Field, rule: Rule, given_in: str, ts: bool) -> str:
    # A newer attempt's reset values are locals named as the fields.
    mine = field.name if rule.fresh and field.name in RESET else f"m.{field.name}"
    value = _HOW[field.how][ts].format(m=mine, g=f"{given_in}.{field.source or field.name}")
    if not field.when:
        return value
    flag, unset = f"{given_in}.{field.when.lstrip('!')}", field.when.startswith("!")
    return _IF[ts].format(flag=flag, yes=mine if unset else value, no=value if unset else mine)


def _python_source(kind: str, rule: Rule) -> str:
    lines = [f"def {kind}(m, d, seq, at):", "    if m.status in TERMINAL:", "        return None"]
    if rule.ignore:
        lines += [f"    if d.attempt {_GUARD[rule.ignore]} m.attempt:", "        return None"]
    changes = {"status": repr(rule.status), "is_streaming": repr(rule.status in LIVE), "updated_at": "at"}
    changes["last_seq"] = "seq"
    if rule.fresh:
        lines.append("    fresh = d.attempt > m.attempt")
        for name, start in RESET.items():
            lines.append(f"    {name} = {start!r} if fresh else m.{name}")
            changes[name] = name
    changes.update((field.name, _value(field, rule, "d", ts=False)) for field in rule.fields)
    lines.append("    return replace(m, " + ", ".join(f"{k}={v}" for k, v in changes.items()) + ")")
    return "\n".join(lines)


def python(rules: Mapping[str, Rule]) -> dict[str, Fold]:
    """Each rule as ``fold(message, given, seq, at) -> message | None`` (None: the event changes nothing)."""
    source = "\n\n".join(_python_source(k, r) for k, r in rules.items()) + "\n"
    name = "<lifecycle rules>"
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)  # tracebacks show the code
    scope: dict[str, Any] = {"replace": msgspec.structs.replace, "TERMINAL": TERMINAL}
    exec(compile(source, name, "exec"), scope)
    return {kind: scope[kind] for kind in rules}


# -- TypeScript ---------------------------------------------------------------------------------------


def _typescript_function(kind: str, rule: Rule) -> list[str]:
    given = "f.message" if rule.ended else "d"
    argument = "f" if rule.ended else "d"
    lines = [
        f"export function {kind}<M extends ChatMessage>(m: M, {argument}: {rule.frame}, seq: number | null): M | null {{",
        f"  if ({' || '.join(f'm.status === {json.dumps(t)}' for t in sorted(TERMINAL))}) return null;",
    ]
    if rule.ignore:
        lines.append(f"  if (d.attempt {_GUARD[rule.ignore]} m.attempt) return null;")
    changes = {"status": json.dumps(rule.status), "is_streaming": json.dumps(rule.status in LIVE), "last_seq": "seq"}
    if rule.ended:  # streaming frames carry no time: the UI moves updated_at at the end only
        changes["updated_at"] = f"{given}.updated_at"
    if rule.fresh:
        lines.append("  const fresh = d.attempt > m.attempt;")
        for name, start in RESET.items():
            lines.append(f"  const {name} = fresh ? {json.dumps(start)} : m.{name};")
            changes[name] = name
    changes.update((field.name, _value(field, rule, given, ts=True)) for field in rule.fields)
    lines.append("  return {")
    lines += ["    ...m,"] + [f"    {k}: {v}," if k != v else f"    {k}," for k, v in changes.items()]
    lines += ["  };", "}"]
    return lines


def typescript(rules: Mapping[str, Rule], source: str) -> str:
    """The rules as a TypeScript module: one ``kind(message, frameData, seq)`` per rule."""
    frames = sorted({r.frame for r in rules.values()} | {"ChatMessage"})
    lines = [
        f"// Generated from {source} by events/compiler.py (`just wire`): do not edit.",
        "// The answer lifecycle as the server folds it: each function folds one frame into the message",
        "// held; null when the frame changes nothing (after the end, an older attempt).",
        f'import type {{ {", ".join(frames)} }} from "./wire";',
    ]
    for kind, rule in rules.items():
        lines += ["", *_typescript_function(kind, rule)]
    return "\n".join(lines) + "\n"
