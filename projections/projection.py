"""A projection is a value: its name, its tables, which rows an event touches, and a pure evolve.

Everything else derives from that value: the worker's durable consumer (``durable``, ``filter_subjects``),
the checkpoint row (``name``), loading and upserting rows (``tables``), ``reset`` (truncates exactly
``tables``), lag, rebuild and readiness (every projection in ``projections.registry.ALL``).

Adding one is a short module plus a migration creating its tables, e.g. ``projections/usage.py``::

    class DailyUsage(msgspec.Struct, frozen=True, kw_only=True):
        id: str                      # the primary key column is always ``id`` (here "user:day")
        user_id: str
        tokens: int = 0
        last_seq: int

    def keys(event: ChatEvent) -> dict[str, set[str]]:       # rows to load before a batch
        return {"usage_daily": {f"{event.user_id}:{event.occurred_at.date()}"}} if ... else {}

    def evolve(rows: Rows, seq: int, event: ChatEvent) -> list[msgspec.Struct]:
        match event:                                       # pure: new row values, never I/O
            case GenerationCompleted(): ...
            case _: return []

    USAGE = Projection("usage", (Table("usage_daily", DailyUsage),), keys, evolve)

and one line in ``projections/registry.py``. A projection that reads a few event types names their
subjects in ``filter_subjects``: JetStream then delivers it nothing else (no token deltas), and
its checkpoint still moves past what it skipped (``Worker.step``). ``evolve`` raises ``Unappliable`` for an event that
cannot apply (it becomes a dead letter); every value must come from events, never the clock, so a
rebuild yields identical rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from events import subjects
from events.schema import ChatEvent


@dataclass(frozen=True, slots=True, eq=False)  # compared and hashed by identity (statements are cached per table)
class Table:
    """One table of a projection: its rows are ``row`` Structs (field = column, ``id`` = key)."""

    name: str
    row: type[msgspec.Struct]
    key_type: str = "text"  # SQL type of ``id``
    uuid_fields: frozenset[str] = frozenset()  # str fields stored as UUID
    json_fields: frozenset[str] = frozenset()  # dict fields stored as JSONB
    text_fields: frozenset[str] = frozenset()  # free text: NUL (which PostgreSQL refuses) becomes U+FFFD
    columns: dict[str, str] = field(default_factory=dict)  # field -> column where they differ
    derived: frozenset[str] = frozenset()  # fields not stored: ``on_load`` computes them
    on_load: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(f for f in self.row.__struct_fields__ if f not in self.derived)

    def column(self, name: str) -> str:
        return self.columns.get(name, name)


class Rows:
    """The rows one batch reads and changes, per table and key; rows are immutable values."""

    def __init__(self, tables: dict[str, dict[str, Any]], types: dict[type, str]) -> None:
        self.tables = {name: dict(rows) for name, rows in tables.items()}
        self.changed: dict[str, set[str]] = {name: set() for name in tables}
        self.types = types  # row type -> table name

    def get(self, table: str, key: str) -> Any | None:
        return self.tables[table].get(key)

    def put(self, changed: Iterable[msgspec.Struct]) -> None:
        for row in changed:
            table = self.types.get(type(row))
            if table is None:
                raise TypeError(f"not a row: {row!r}")
            self.tables[table][row.id] = row  # type: ignore[attr-defined]
            self.changed[table].add(row.id)  # type: ignore[attr-defined]

    def copy(self) -> Rows:
        """A snapshot to go back to (rows are immutable, so the dicts are all that is copied)."""
        other = type(self).__new__(type(self))
        Rows.__init__(other, self.tables, self.types)
        other.changed = {name: set(keys) for name, keys in self.changed.items()}
        return other


@dataclass(frozen=True, slots=True)
class Projection:
    name: str
    tables: tuple[Table, ...]
    keys: Callable[[ChatEvent], dict[str, set[str]]]  # table -> keys of the rows ``event`` reads
    evolve: Callable[[Rows, int, ChatEvent], list[msgspec.Struct]]  # pure; raises Unappliable
    rows: type[Rows] = Rows  # a subclass may add typed accessors
    filter_subjects: tuple[str, ...] = (subjects.ALL,)  # what its consumer delivers
    # Someone waits for its rows (the edge's read-your-writes): a batch with anything but token
    # deltas is written within the settle interval. False: every batch waits up to the flush
    # interval (analytics: fewer, bigger transactions).
    awaited: bool = True

    @property
    def filtered(self) -> bool:
        """Reads only some events: the stream holds others it never sees."""
        return self.filter_subjects != (subjects.ALL,)

    @property
    def durable(self) -> str:
        return f"projection-{self.name}"

    @property
    def lock_key(self) -> str:
        return f"parley.projection.{self.name}"

    def empty(self) -> Rows:
        return self.new_rows({t.name: {} for t in self.tables})

    def new_rows(self, tables: dict[str, dict[str, Any]]) -> Rows:
        rows = self.rows.__new__(self.rows)
        Rows.__init__(rows, tables, {t.row: t.name for t in self.tables})
        return rows

    def apply(self, rows: Rows, seq: int, event: ChatEvent) -> None:
        rows.put(self.evolve(rows, seq, event))
