"""``parley bench`` / ``just bench``: latency and throughput of the whole pipeline (edge,
JetStream, generation, projections, PostgreSQL) under WebSocket load, side by side with a direct
baseline (one FastAPI process streaming from the provider in-process). See ``main.py``."""
