"""The event contract and the read model every reader shares.

schema.py      every stored event (msgspec Structs, tagged by ``type``); evolve only by adding fields
codec.py       the one codec: JSON on the bus, ids, headers, the events' JSON Schema
subjects.py    the subject taxonomy (``parley.chat.<session>.<type>``)
streams.py     stream and bucket definitions, created or updated in one place
model.py       ``ChatSession`` and ``ChatMessage``, defined once; one status vocabulary
lifecycle.py   the one fold from events to the read model (sessions, messages, an answer's lifecycle:
               its rules as data)
compiler.py    an answer's rules compiled to Python (at import) and TypeScript (the web UI's, ``just wire``)
tree.py        where a message sits in a conversation's tree (branches)
tokens.py      token timing of an answer, compact, on its terminal event
errors.py      this package's errors
"""
