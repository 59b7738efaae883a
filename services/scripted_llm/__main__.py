"""``python -m services.scripted_llm --port P [--reply TEXT] [--tokens N] [--tokens-per-s R]
[--first-token-delay-ms D] [--model NAME]``: serve until SIGTERM / Ctrl-C."""

from __future__ import annotations

import argparse

import uvicorn

from services.scripted_llm.app import build
from services.scripted_llm.script import Script
from services.scripted_llm.server import config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.scripted_llm", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--reply", default=None, help="fixed reply text, sent as word tokens")
    parser.add_argument("--tokens", type=int, default=None, help="tokens per answer (default 16, or the reply's)")
    parser.add_argument("--tokens-per-s", type=float, default=200.0, help="token rate; 0 = as fast as possible")
    parser.add_argument("--first-token-delay-ms", type=float, default=0.0)
    parser.add_argument("--model", default="scripted")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    if args.tokens is not None and args.tokens < 0:
        parser.error("--tokens must be >= 0")
    if args.tokens_per_s < 0 or args.first_token_delay_ms < 0:
        parser.error("--tokens-per-s and --first-token-delay-ms must be >= 0")
    defaults = Script(
        reply=args.reply,
        tokens=args.tokens,
        rate=args.tokens_per_s,
        first_token_delay_ms=args.first_token_delay_ms,
        model=args.model,
    )
    uvicorn.Server(config(build(defaults), args.host, args.port, args.log_level)).run()


if __name__ == "__main__":
    main()
