"""Audit and analytics tools that read the event log itself (docs/audit.md).

conversation  the pure fold: a session's stored events -> messages (the chat projection's own
              evolve) plus each answer's attempts, restarts, cancels, ends and token timing
render        that conversation as JSON, text or Markdown
reader        stored events straight from JetStream, in stream order, with their raw bytes
replay        `parley replay` and `parley export`
exchange      export document and import (pure: a document -> the events of a new session)
chain         the SHA-256 hash chain and Ed25519-signed checkpoints (pure)
verification  stored events against checkpoints -> the first bad sequence (pure)
seal          `parley audit seal`: the sealer
verify        `parley audit verify` and `parley audit pubkey`
keys          the signing key: from settings, or generated once in the data folder (0600)
"""
