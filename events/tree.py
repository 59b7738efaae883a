"""Where a message sits in a conversation's tree (branches), from the events alone.

A user message follows its ``parent_id`` (usually the answer it replies to); an edit
(``edit_of``) is a sibling of the message it rewrites, so it gets that message's parent; an
answer's parent is its prompt (``GenerationRequested.prompt_message_id``), so a regeneration is a
sibling answer. Events written before branches carry neither field: such a message follows the
session's newest message when it was stored (the ``head``), which is exactly the linear
conversation they described. A parent that is not a message of the session is ignored the same
way, so a bad or early reference can never detach a message.

Every reader that folds a session (the projection, generation's context, replay) calls
``parent_of`` and so agrees on the tree.
"""

from __future__ import annotations

from collections.abc import Mapping

from events.schema import MessageSubmitted


def parent_of(event: MessageSubmitted, parents: Mapping[str, str | None], head: str | None) -> str | None:
    """The parent of the message ``event`` stores. ``parents`` maps every known message of the
    session to its own parent; ``head`` is the session's newest message before this one."""
    if event.edit_of is not None and event.edit_of in parents:
        return parents[event.edit_of]
    if event.parent_id is not None and event.parent_id in parents:
        return event.parent_id
    return head
