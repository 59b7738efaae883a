"""A scriptable OpenAI-compatible server for tests and benchmarks (real HTTP, real SSE).

Run it: ``python -m services.scripted_llm --port P [--reply TEXT] [--tokens N] [--tokens-per-s R]
[--first-token-delay-ms D] [--model NAME]`` (serves until SIGTERM), or in-process:
``async with ScriptedLLM(rate=50) as llm: ... llm.base_url ... llm.records``.

Endpoints
---------
``GET /v1/models``, ``POST /v1/chat/completions`` (``stream: true``: ``data: {chunk}`` lines in
OpenAI's format, a role chunk with the first token, a final chunk with ``finish_reason``, a usage
chunk (``choices: []``) when ``stream_options.include_usage``, then ``data: [DONE]``;
``stream: false``: one ``chat.completion`` JSON). ``max_tokens`` cuts the reply (finish ``length``).

``GET /_health`` (200), ``GET|POST|DELETE /_script`` (read / change / reset the server-wide
defaults; the POST body is a JSON object of ``Script`` fields: reply, tokens, rate,
first_token_delay_ms, fail_after, drop_after, status, status_times, hang, echo, usage, model),
``GET /_record`` (the request records), ``DELETE /_record`` (forget them and the status counters).

Default reply: ``tok0 tok1 ... tok15`` at 200 tokens/s, or ``--reply`` split into word tokens
(each token carries its leading whitespace, so the tokens join back to the text exactly).

Directives (in the LAST user message; any number, anywhere in the text)
-----------------------------------------------------------------------
===============================  ==============================================================
``[[tokens:N]]``                 N tokens (with a reply: the reply's tokens cycled / cut to N)
``[[rate:R]]``                   R tokens per second (0: as fast as possible)
``[[reply:TEXT]]``               reply TEXT (up to the closing ``]]``; may span lines)
``[[first_token_delay_ms:D]]``   wait D ms before the first token (headers go out at once)
``[[fail_after:N]]``             after N tokens send ``data: {"error": {...}}`` and end the stream
                                 (no ``[DONE]``); non-streaming: HTTP 500
``[[drop_after:N]]``             after N tokens drop the connection (incomplete chunked body)
``[[status:CODE]]``              answer HTTP CODE (4xx/5xx) with an OpenAI error body, always
``[[status:CODExN]]``            the first N requests whose last user message has this same text
                                 get CODE, later ones succeed (retry tests), e.g. ``[[status:500x2]]``
``[[hang]]``                     send the headers, then nothing until the client leaves
``[[echo]]``                     reply with ``json.dumps(messages)`` as received (context tests)
``[[no_usage]]``                 omit the usage chunk (the client must count itself)
===============================  ==============================================================

An unknown directive or a bad value gets HTTP 400 with a message that says what is expected.

Record (``GET /_record``: a JSON list, oldest first; times are unix seconds, ``time.time()``)
---------------------------------------------------------------------------------------------
``id`` (1, 2, ...), ``received_at``, ``path``, ``messages`` (as received), ``model``, ``stream``,
``params`` (temperature, top_p, max_tokens, stream_options when sent), ``headers`` (authorization,
http-referer, x-title, user-agent, content-type when sent), ``status`` (HTTP status sent),
``outcome`` (in_progress | completed | failed_mid_stream | dropped | status | hang | disconnected |
bad_request), ``error``, ``tokens_sent``, ``token_times`` (one emit time per token),
``first_token_at``, ``finished_at`` (the server ended the response), ``disconnected_at`` (the client
closed the connection before the end; noticed at once, also while hanging).
"""

from services.scripted_llm.app import Record, build
from services.scripted_llm.script import Script
from services.scripted_llm.server import ScriptedLLM, fetch_records

__all__ = ["Record", "Script", "ScriptedLLM", "build", "fetch_records"]
