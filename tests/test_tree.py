"""The conversation tree: where each message hangs (events/tree.py), as the projection stores it,
and the migration that fills it in for rows written before branches."""

from __future__ import annotations

import uuid
from importlib import resources

from events.tree import parent_of
from tests.test_batch import apply, envelopes
from tests.test_chat import Conversation


def test_parent_rules():
    c = Conversation()
    parents = {"q1": None, "a1": "q1", "q2": "a1"}
    assert parent_of(c.submitted("x"), parents, head="q2") == "q2"  # older events: after the newest
    assert parent_of(c.submitted("x", parent_id="a1"), parents, head="q2") == "a1"
    assert parent_of(c.submitted("x", edit_of="q2"), parents, head="q2") == "a1"  # a sibling of q2
    assert parent_of(c.submitted("x", edit_of="q1"), parents, head="q2") is None  # a new root
    assert parent_of(c.submitted("x", edit_of="q1", parent_id="a1"), parents, head="q2") is None  # edit wins
    assert parent_of(c.submitted("x", parent_id="elsewhere"), parents, head="q2") == "q2"  # unknown: head
    assert parent_of(c.submitted("x", edit_of="elsewhere"), parents, head=None) is None


async def _tree(db):
    c = Conversation()
    q1 = c.submitted("first")
    a1 = c.requested(q1.message_id)
    a1b = c.requested(q1.message_id, regenerate=True)  # a sibling answer
    q2 = c.submitted("second")  # no parent: follows the newest message, a1b
    a2 = c.requested(q2.message_id)
    q2e = c.submitted("second, edited", edit_of=q2.message_id.upper())  # non-canonical ids still work
    a2e = c.requested(q2e.message_id)
    q3 = c.submitted("back on the first branch", parent_id=a1.message_id)
    other = Conversation()
    foreign = other.submitted("not yours")
    q4 = c.submitted("hangs from another session's message", parent_id=foreign.message_id)
    events = [c.created(), q1, a1, a1b, q2, a2, q2e, a2e, q3, other.created(), foreign, q4]
    await apply(db, envelopes(events))
    return c, dict(q1=q1, a1=a1, a1b=a1b, q2=q2, a2=a2, q2e=q2e, a2e=a2e, q3=q3, q4=q4)


async def test_the_projection_stores_the_tree(db):
    c, m = await _tree(db)
    rows = {str(r["id"]): r["parent_id"] for r in await db.fetch("SELECT id, parent_id FROM messages")}
    parent = {name: (str(rows[e.message_id]) if rows[e.message_id] else None) for name, e in m.items()}
    ids = {name: e.message_id for name, e in m.items()}
    assert parent == {
        "q1": None,
        "a1": ids["q1"],
        "a1b": ids["q1"],
        "q2": ids["a1b"],
        "a2": ids["q2"],
        "q2e": ids["a1b"],
        "a2e": ids["q2e"],
        "q3": ids["a1"],
        "q4": ids["q3"],  # a foreign parent is ignored: after the newest message
    }
    head = await db.fetchval("SELECT head_id FROM chat_sessions WHERE id = $1", uuid.UUID(c.sid))
    assert str(head) == ids["q4"]


async def test_the_migration_fills_in_rows_written_before_branches(db):
    # Rows from events without parents, as the projection stores them...
    c = Conversation()
    q1, q2 = c.submitted("one"), c.submitted("two")
    a1 = c.requested(q1.message_id)
    a1b = c.requested(q1.message_id, regenerate=True)
    q3 = c.submitted("three")
    await apply(db, envelopes([c.created(), q1, q2, a1, a1b, q3]))
    projected = await db.fetch("SELECT id, parent_id FROM messages ORDER BY id")
    head = await db.fetchval("SELECT head_id FROM chat_sessions")
    # ...are what the migration computes for rows that had none.
    await db.execute("UPDATE messages SET parent_id = NULL; UPDATE chat_sessions SET head_id = NULL")
    sql = resources.files("projections").joinpath("migrations/071_branches.sql").read_text()
    backfill = sql[sql.index("UPDATE messages") : sql.index('-- "the newest child')]
    await db.execute(backfill)
    assert await db.fetch("SELECT id, parent_id FROM messages ORDER BY id") == projected
    assert await db.fetchval("SELECT head_id FROM chat_sessions") == head
