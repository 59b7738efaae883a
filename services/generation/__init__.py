"""The generation service: prompt events in, streamed answer events out.

main.py        ``parley generation``: one worker until SIGTERM/SIGINT
worker.py      a worker's parts wired together (``Worker``; tests run several in one loop)
consumer.py    the durable pull consumer ``generation`` shared by every worker
responder.py   one delivered prompt: context, provider, chunks, terminal event
context.py     the conversation, built from the session's own events on JetStream
answer.py      one answer as pure decide/evolve; the opening of a delivery; provider choice
coalescer.py   tokens into chunk events (pure)
providers.py   the OpenAI-compatible streaming client: local and openrouter, health, models
publisher.py   pipelined publishes, settled before the terminal event
cancels.py     cancel requests over core NATS, reaching the answer in flight
config.py      the live LLM configuration in the NATS KV bucket (the edge imports it)
llama.py       the embedded llama.cpp server with SmolLM2 (``parley up``)
errors.py      this package's errors
"""
