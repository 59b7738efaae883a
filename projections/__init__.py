"""Read models of the stream in PostgreSQL: projections as values, one worker applying each.

projection.py  ``Projection`` (name, tables, keys, pure evolve) and ``Table``: everything below derives from it
registry.py    every projection the workers apply, rebuild replays and readiness watches
chat.py        the chat projection: ``chat_sessions`` and ``messages`` rows (``CHAT``)
usage.py       the usage projection: answers and tokens per user, provider, model and hour
batch.py       one batch of events in one transaction with the checkpoint; dead letters
store.py       loading and upserting a projection's rows, checkpoints, reset
worker.py      a durable pull consumer per projection, re-synced from its checkpoint
replay.py      a replay from nothing: one unfiltered read, what a projection does not read skipped (rebuilds, fresh workers)
priority.py    the worker's CPU priority (``PARLEY_PROJECTION_NICE``)
fault.py       a test-only crash point of the worker (``PARLEY_PROJECTION_FAULT``)
main.py        ``parley projections`` and ``parley projections rebuild``
lag.py         how far each projection is behind the stream (/readyz, /metrics)
queries.py     the edge's reads of the chat read model, and read-your-writes (``wait_for_seq``)
branches.py    reading the conversation tree out of ``messages.parent_id``
search.py      full-text search over a user's conversations
usage_report.py  reading the usage projection
migrate.py     plain versioned SQL migrations (``migrations/``)
errors.py      this package's errors
"""
