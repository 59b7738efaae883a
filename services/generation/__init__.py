"""The generation service: prompt events in, streamed answer events out.

main.py        ``parley generation``: one worker until SIGTERM/SIGINT
worker.py      a worker's parts wired together (``Worker``; tests run several in one loop)
consumer.py    the durable pull consumer ``generation`` shared by every worker
responder.py   one delivered prompt: load, decide, publish (the I/O shell around answer and policy)
attempt.py     one attempt's commands decided, evolved, published; a provider stream relayed as chunks
context.py     the conversation, built from the session's own events on JetStream
sessions.py    each session's history kept current in the worker
answer.py      one answer as pure decide/evolve; the opening of a delivery
policy.py      pure rules: provider choice, failover, call parameters, what a stream's end means, usage
window.py      fitting a conversation into the model's context window (pure)
tokenizer.py   what a provider says about sizes (context window, token counts)
admission.py   how many prompts a worker takes at once
coalescer.py   tokens into chunk events (pure)
providers.py   the configured providers by name (local, openrouter), from the settings
provider.py    one provider: the OpenAI-compatible streaming client (retries), health, models
completions.py the chat-completions wire read: chunks into deltas and the end, statuses into failures (pure)
sse.py         server-sent events from a streamed response's bytes (pure)
status.py      provider health and models, published to the KV bucket for the edge's /llm/*
sweeper.py     removes token deltas past their retention
publisher.py   pipelined publishes, settled before the terminal event
cancels.py     cancel requests over core NATS, reaching the answer in flight
config.py      the live LLM configuration in the NATS KV bucket (the edge imports it)
llama.py       the embedded llama.cpp server with SmolLM2 (``parley up``)
errors.py      this package's errors
"""
